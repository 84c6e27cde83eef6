"""The blocking index of a DNA gallery: which sealed rows can still match a query.

A Prüm match (2008/616/JHA Annex ch. 1; rules in `matchers.dna`) compares >= 6 full loci and
differs by one allele at most. Over the q loci the query holds full, a match therefore holds
the query's exact genotype at all but at most one, or is blank or wildcard-bearing there: it
sits in all but at most one of the per-locus blocks (exact genotype, blank, wildcard) of any
set of query loci (pigeonhole). When only six loci can be compared at all, a match is exact at
five of them, so blocks shrink to the exact postings.

Under the annex's micro-variant tables (`matchers.microvariants`) "the query's exact genotype"
is a small set: every genotype whose alleles each match one of the query's (9.3,12 also finds
9.2,12 and 10,12). `compatible_codes` lists, per query locus, the ones the gallery can hold
(alleles it has seen at that locus), and a block is the union of their postings; the rest of
the index is unchanged. Under the other readings the set is the one genotype.

`Postings` keeps, per locus, the sealed rows sorted by genotype code (an inverted index, the
blocking of record-linkage practice), and a bitmap of the rows of each genotype held by at
least `bitmap_min` of them. `shortlist` picks the sealed rows in one of two ways:

- short blocks (rare genotypes, the usual stain): the three smallest postings vote in a
  byte-per-row scratch array, rows in two of them survive;
- long blocks (common genotypes; a six-locus stain of the commonest ones hits blocks of 20 %
  of the gallery): an "all but at most one" count over the bitmaps of the k smallest blocks,
  two at a time with AND/OR word operations, k growing until ~N/1024 rows are expected.

Counting postings costs per entry (a scatter into an N-byte array that stops fitting in cache
at millions of rows), counting bitmaps per word (N/64); the switch point was measured (see
`Postings.vote_max`). Then every shortlisted row, and every row of the unsorted tail of recent
additions, is checked on the int32 code matrix: <= 1 differing full locus, >= 5 exact ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matchers.dna_profile import BLANK, MIN_FULL_LOCI, WILDCARD, MicrovariantRule
from matchers.dna_rule import PENTA_COLUMNS
from matchers.microvariants import KEYS, neighbours

Keys = npt.NDArray[np.int16]

CODE_BLANK = 0
CODE_WILD = 1
CODE_BASE = 4096  # allele keys stay below 1000 (allele <= 99.9), so k1 * 4096 + k2 is unique
_VOTING_BLOCKS = 3  # the smallest postings that vote; a candidate sits in all but one
# Genotypes held by >= this share of the sealed rows get a bitmap (UK DNA-17: ~370 of them,
# 47 bytes per profile). At 1/64 (33 bytes) stains at 7M rows took twice as long: more of
# their blocks had to be turned into bitmaps on the fly.
BITMAP_SHARE = 1 / 128
_SHORTLIST_SHARE = 1024  # the bitmap count adds blocks until ~N/1024 rows are expected
# Up to this many (row span, locus) cells the code filter checks all loci in one pass; above, it
# thins the rows locus by locus (measured: one pass on 2000 rows x 16 loci ~20 us, staged
# ~115 us; staged wins once most rows drop out at the first loci of a large shortlist).
_ONE_PASS_CELLS = 65536


def genotype_codes(keys: Keys) -> npt.NDArray[np.int32]:
    """One int32 code per (row, locus): 0 blank, 1 wildcard-bearing, else the exact genotype."""
    a = keys[..., 0].astype(np.int32)
    b = keys[..., 1].astype(np.int32)
    codes = a * CODE_BASE + b
    codes[(a == WILDCARD) & (b != BLANK)] = CODE_WILD
    codes[(a == BLANK) & (b == BLANK)] = CODE_BLANK
    return codes


def query_codes(query: Keys) -> list[int]:
    """`genotype_codes` of one (n_loci, 2) profile, in Python: for the one query of a
    search, the ~10 numpy calls on 28 pairs cost more than a loop over them."""
    out = []
    for a, b in query.tolist():
        if a == WILDCARD and b != BLANK:
            out.append(CODE_WILD)
        elif a == BLANK and b == BLANK:
            out.append(CODE_BLANK)
        else:
            out.append(a * CODE_BASE + b)
    return out


#: Per query locus, the genotype codes besides its own that count as the same genotype.
Extra = dict[int, tuple[int, ...]]


def compatible_codes(query: Keys, present: npt.NDArray[np.bool_], rule: MicrovariantRule) -> Extra:
    """Per full query locus, the other genotype codes that pair both its alleles under `rule`
    and whose alleles the gallery holds at that locus (`present`: (n_loci, KEYS) bool over
    key + 1). Empty when the rule relates equal keys only."""
    if rule != "annex":
        return {}
    extra: Extra = {}
    for col, (a, b) in enumerate(query.tolist()):
        if a <= BLANK:  # blank, or wildcard-bearing (sorted pairs: a wildcard comes first)
            continue
        held = present[col]
        penta = bool(PENTA_COLUMNS[col])
        side_a = [k for k in neighbours(a, penta) if held[k + 1]]
        side_b = [k for k in neighbours(b, penta) if held[k + 1]]
        own = a * CODE_BASE + b
        codes = {min(x, y) * CODE_BASE + max(x, y) for x in side_a for y in side_b} - {own}
        if codes:
            extra[col] = tuple(sorted(codes))
    return extra


def alleles_present(keys: Keys) -> npt.NDArray[np.bool_]:
    """(n_loci, KEYS) bool: which allele keys (index key + 1) occur at each locus of `keys`."""
    present = np.zeros((keys.shape[1], KEYS), dtype=np.bool_)
    for col in range(keys.shape[1]):  # a count per column: linear, where np.unique sorts
        counts = np.bincount(keys[:, col, :].reshape(-1).astype(np.intp) + 1, minlength=KEYS)
        present[col] = counts[:KEYS] > 0
    return present


_WORD = np.dtype("<u8")  # bitmap words: bit r of word w is row 64 * w + r
_ONE = np.uint64(1)


def or_sorted_rows(bitmap: npt.NDArray[np.uint64], rows: npt.NDArray[np.int32]) -> None:
    """Set the bits of `rows` (ascending, distinct) in `bitmap`, a whole word at a time."""
    if not len(rows):
        return
    r = rows.astype(np.int64)
    words = r >> 6
    first = np.flatnonzero(np.concatenate(([True], words[1:] != words[:-1])))
    bits = np.left_shift(_ONE, (r & 63).astype(np.uint64))
    bitmap[words[first]] |= np.bitwise_or.reduceat(bits, first)


def bitmap_rows(bitmap: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    """The rows whose bits are set, ascending."""
    nz = np.flatnonzero(bitmap != 0)  # (nonzero on bool arrays is the fast one)
    bits = np.unpackbits(bitmap[nz].view(np.uint8), bitorder="little").view(np.bool_)
    at = np.flatnonzero(bits)
    rows: npt.NDArray[np.int64] = nz[at >> 6] * 64 + (at & 63)
    return rows


@dataclass(frozen=True, slots=True)
class Block:
    """The sealed rows that do not rule a match out at one query locus: rows holding the
    query's genotype there (or one of `codes`, those counting as the same), plus (unless
    `exact_only`) rows blank or wildcard-bearing there."""

    col: int
    codes: tuple[int, ...]
    size: int
    segments: tuple[npt.NDArray[np.int32], ...]  # each ascending
    exact_only: bool


class Postings:
    """Per-locus inverted index over the sealed rows [0, n): rows sorted by genotype code.

    `codes` is the gallery's (n_loci, capacity) code matrix; only its first `n` rows are read.
    Genotypes held by at least `bitmap_min` rows also get a bitmap of their rows (one bit per
    sealed row), and so do the open (blank or wildcard-bearing) rows of a locus, for the
    searches whose postings are all large.
    """

    def __init__(self, codes: npt.NDArray[np.int32], n: int, bitmap_min: int) -> None:
        self.n = n
        self.nwords = (n + 63) // 64
        self.bitmap_min = max(1, bitmap_min)
        # Counting postings costs per entry (a scatter into an n-byte array, which stops
        # fitting in cache as n grows); counting bitmaps costs per bitmap word (n / 64). On a
        # 2-core EPYC the two cross near 33k entries at 1M rows and 67k at 7M.
        self.vote_max = min(_VOTING_BLOCKS * self.bitmap_min, 32768 + n // 256)
        self.order: list[npt.NDArray[np.int32] | None] = []
        self.codes: list[npt.NDArray[np.int32]] = []  # distinct codes per locus, ascending
        self.starts: list[npt.NDArray[np.int64]] = []  # their first position in `order`
        self.n_blank: list[int] = []  # rows blank at the locus (first in `order`)
        self.n_open: list[int] = []  # rows blank or wildcard-bearing at the locus
        self.exact_bitmaps: list[dict[int, npt.NDArray[np.uint64]]] = []
        self.open_bitmaps: list[npt.NDArray[np.uint64] | None] = []
        self.scratch = np.zeros(n, dtype=np.uint8)  # vote counts, all zero between searches
        self._words: list[npt.NDArray[np.uint64]] = []  # bitmap scratch, made on first use
        for col in range(codes.shape[0]):
            column = codes[col, :n]
            self.exact_bitmaps.append({})
            self.open_bitmaps.append(None)
            if not column.any():
                self.order.append(None)
                self.codes.append(np.zeros(0, np.int32))
                self.starts.append(np.zeros(1, np.int64))
                self.n_blank.append(n)
                self.n_open.append(n)
                continue
            order = np.argsort(column, kind="stable").astype(np.int32)
            distinct, starts = np.unique(column[order], return_index=True)
            bounds = np.append(starts, n).astype(np.int64)
            self.order.append(order)
            self.codes.append(distinct.astype(np.int32))
            self.starts.append(bounds)
            n_open = int(bounds[np.searchsorted(distinct, CODE_BASE)])
            n_blank = int(bounds[1]) if distinct[0] == CODE_BLANK else 0
            self.n_open.append(n_open)
            self.n_blank.append(n_blank)
            if n_open:
                bitmap = np.zeros(self.nwords, dtype=_WORD)
                or_sorted_rows(bitmap, order[:n_blank])
                or_sorted_rows(bitmap, order[n_blank:n_open])
                self.open_bitmaps[col] = bitmap
            sizes = np.diff(bounds)
            for i in np.flatnonzero((sizes >= self.bitmap_min) & (distinct >= CODE_BASE)):
                bitmap = np.zeros(self.nwords, dtype=_WORD)
                or_sorted_rows(bitmap, order[bounds[i] : bounds[i + 1]])
                self.exact_bitmaps[col][int(distinct[i])] = bitmap

    def nbytes(self) -> int:
        postings = sum(o.nbytes for o in self.order if o is not None)
        bitmaps = sum(b.nbytes for d in self.exact_bitmaps for b in d.values())
        bitmaps += sum(b.nbytes for b in self.open_bitmaps if b is not None)
        return int(postings + bitmaps + self.scratch.nbytes)

    def block(self, col: int, codes: Sequence[int], exact_only: bool) -> Block | None:
        """The block of the query genotype `codes[0]` at `col`, with the genotypes `codes[1:]`
        counting as the same; None if no sealed row typed the locus."""
        order = self.order[col]
        if order is None:
            return None
        n_open, n_blank = self.n_open[col], self.n_blank[col]
        exact: list[npt.NDArray[np.int32]] = []
        held: list[int] = []
        for code in codes:
            i = int(np.searchsorted(self.codes[col], code))
            if i < len(self.codes[col]) and self.codes[col][i] == code:
                lo, hi = int(self.starts[col][i]), int(self.starts[col][i + 1])
                exact.append(order[lo:hi])
                held.append(code)
        if not exact:
            exact.append(order[n_open:n_open])
        size = sum(len(e) for e in exact)
        if exact_only:
            return Block(col, tuple(held), size, tuple(exact), True)
        segments = (order[:n_blank], order[n_blank:n_open], *exact)
        return Block(col, tuple(held), n_open + size, segments, False)

    def bitmap(self, block: Block, out: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        """The rows of `block` as a bitmap: a stored one (read only) or one written to `out`."""
        stored = [self.exact_bitmaps[block.col].get(code) for code in block.codes]
        open_rows = None if block.exact_only else self.open_bitmaps[block.col]
        if len(stored) == 1 and stored[0] is not None:
            if open_rows is None:
                return stored[0]
            return np.bitwise_or(stored[0], open_rows, out=out)
        if open_rows is not None:
            np.copyto(out, open_rows)
        else:
            out.fill(0)
        exact = block.segments[-len(block.codes) :] if block.codes else ()
        for bitmap, rows in zip(stored, exact, strict=True):
            if bitmap is not None:
                np.bitwise_or(out, bitmap, out=out)
            else:
                or_sorted_rows(out, rows)
        return out

    def words(self, count: int) -> list[npt.NDArray[np.uint64]]:
        """`count` scratch bitmaps of the sealed size (contents undefined)."""
        while len(self._words) < count:
            self._words.append(np.empty(self.nwords, dtype=_WORD))
        return self._words[:count]


def share_at_most_one_miss(shares: Sequence[float]) -> float:
    """Chance that a random row sits in all but at most one of blocks of these row shares
    (blocks taken as independent), the expected shortlist share of the bitmap count."""
    all_in = math.prod(shares)
    one_out = sum(
        (1.0 - f) * math.prod(g for j, g in enumerate(shares) if j != i)
        for i, f in enumerate(shares)
    )
    return all_in + one_out


def shortlist(
    post: Postings,
    codes: npt.NDArray[np.int32],
    n: int,
    query: Keys,
    extra: Extra | None = None,
) -> npt.NDArray[np.int64]:
    """Rows that may match `query`: a superset of the matches, ascending.

    `codes` is the gallery's (n_loci, capacity) code matrix, `n` its rows in use; rows from
    `post.n` on are the unsorted tail of recent additions, checked on the matrix directly.
    `extra` (`compatible_codes`) names the genotypes that count as the query's own.
    """
    extra = extra or {}
    codes_of_query = query_codes(query)
    qcodes = np.array(codes_of_query, dtype=np.int32)
    cols = [c for c, code in enumerate(codes_of_query) if code >= CODE_BASE]
    if len(cols) < MIN_FULL_LOCI:
        return np.zeros(0, dtype=np.int64)  # fewer than six full loci to compare
    sealed = post.n
    typed = [c for c in cols if post.order[c] is not None]
    # With exactly six comparable loci none may be open (blank or wildcard) in a match.
    exact_only = len(typed) == MIN_FULL_LOCI
    blocks = [
        b for c in typed if (b := post.block(c, (int(qcodes[c]), *extra.get(c, ())), exact_only))
    ]
    blocks.sort(key=lambda b: b.size)
    if len(blocks) < MIN_FULL_LOCI:
        head = np.zeros(0, dtype=np.int64)  # sealed rows compare too few loci
    elif sum(b.size for b in blocks[:_VOTING_BLOCKS]) <= post.vote_max:
        head = _vote(post, [b.segments for b in blocks[:_VOTING_BLOCKS]])
    else:
        head = _bitmap_count(post, blocks)
    rows = np.concatenate((head, np.arange(sealed, n, dtype=np.int64)))
    return _code_filter(codes, rows, qcodes, [b.col for b in blocks], cols, extra)


def _code_filter(
    codes: npt.NDArray[np.int32],
    rows: npt.NDArray[np.int64],
    qcodes: npt.NDArray[np.int32],
    ordered: list[int],
    cols: list[int],
    extra: Extra,
) -> npt.NDArray[np.int64]:
    """Keep the rows with a different full genotype at <= 1 of the query's full loci and
    its exact genotype at enough of them to reach MIN_FULL_LOCI - 1 (most selective
    loci first, so the rows thin out fast).

    Few rows (a small gallery, or its unsorted tail): one pass over all the loci at once.
    Thinning in stages costs ~8 numpy calls per locus, whose fixed cost dominates below a few
    thousand rows (2000 unsealed rows, 16 loci: ~0.2 ms staged); both keep the same rows.
    """
    if not len(rows):
        return rows
    span = int(rows[-1]) - int(rows[0]) + 1  # rows ascend: the columns one pass would copy
    if span * len(cols) <= _ONE_PASS_CELLS:
        return code_filter_one_pass(codes, rows, qcodes, cols, extra)
    return code_filter_staged(codes, rows, qcodes, ordered, cols, extra)


def code_filter_one_pass(
    codes: npt.NDArray[np.int32],
    rows: npt.NDArray[np.int64],
    qcodes: npt.NDArray[np.int32],
    cols: list[int],
    extra: Extra | None = None,
) -> npt.NDArray[np.int64]:
    """`_code_filter` as one (loci, rows) comparison, for ascending `rows`.

    The staged filter's early checks are implied by its last one (fails only grow, exact +
    loci left only shrink), so checking only the totals keeps exactly the same rows, in the
    same order. The rows' columns are sliced out as one block and picked with `take` (2-D
    fancy indexing cost ~80 us for 2000 rows x 16 loci, slice and take ~5-25 us). `extra`:
    the genotypes counting as the query's own, per locus (`compatible_codes`).
    """
    if not len(rows):
        return rows
    at = np.asarray(cols, dtype=np.intp)
    lo, hi = int(rows[0]), int(rows[-1]) + 1
    got = codes[at, lo:hi]
    if hi - lo != len(rows):
        got = np.take(got, rows - lo, axis=1)
    same = got == qcodes[at][:, None]
    if extra:
        width = max(len(e) for e in extra.values())
        more = np.full((len(cols), width), -1, dtype=np.int32)  # -1: no code
        for i, col in enumerate(cols):
            alt = extra.get(col, ())
            more[i, : len(alt)] = alt
        for j in range(width):
            same |= got == more[:, j, None]
    # Counts fit in int8 (at most len(LOCI) loci); summing as int8 is ~5x faster than int64.
    fails = ((got >= CODE_BASE) & ~same).view(np.int8).sum(axis=0, dtype=np.int8)
    exact = same.view(np.int8).sum(axis=0, dtype=np.int8)
    kept: npt.NDArray[np.int64] = rows[(fails <= 1) & (exact >= MIN_FULL_LOCI - 1)]
    return kept


def code_filter_staged(
    codes: npt.NDArray[np.int32],
    rows: npt.NDArray[np.int64],
    qcodes: npt.NDArray[np.int32],
    ordered: list[int],
    cols: list[int],
    extra: Extra | None = None,
) -> npt.NDArray[np.int64]:
    """`_code_filter` locus by locus in `ordered` order, dropping rows every three loci."""
    extra = extra or {}
    seen = set(ordered)
    order = ordered + [c for c in cols if c not in seen]
    fails = np.zeros(len(rows), dtype=np.int8)
    exact = np.zeros(len(rows), dtype=np.int8)
    for i, col in enumerate(order):
        if not len(rows):
            break
        got = codes[col][rows]
        same = got == qcodes[col]
        for alt in extra.get(col, ()):
            same |= got == alt
        fails += (got >= CODE_BASE) & ~same
        exact += same
        if i % 3 == 2 or i == len(order) - 1:
            left = len(order) - 1 - i
            keep = (fails <= 1) & (exact + left >= MIN_FULL_LOCI - 1)
            rows, fails, exact = rows[keep], fails[keep], exact[keep]
    return rows


def _vote(post: Postings, blocks: list[tuple[npt.NDArray[np.int32], ...]]) -> npt.NDArray[np.int64]:
    """Rows found in all but at most one of `blocks` (each a tuple of disjoint segments).
    Counts go into a scratch array the size of the sealed gallery, then reset."""
    counts = post.scratch
    need = len(blocks) - 1
    segments = [seg for block in blocks for seg in block if len(seg)]
    if not segments:
        return np.zeros(0, dtype=np.int64)
    for seg in segments:
        counts[seg] += 1
    found = []
    for seg in segments:
        hit = seg[counts[seg] >= need]
        counts[hit] = 0  # found once only
        found.append(hit)
    for seg in segments:
        counts[seg] = 0
    return np.sort(np.concatenate(found)).astype(np.int64)


def _bitmap_count(post: Postings, blocks: list[Block]) -> npt.NDArray[np.int64]:
    """Rows in all but at most one of the k smallest blocks, counted over bitmaps; k grows
    from 2 until the expected shortlist is small (or every block is used).

    Blocks are taken two at a time: with `both` = rows in both and `either` = rows in
    either, `none_out` (rows in every block so far) and `one_out` (rows missing at most
    one) update as one_out = (one_out & both) | (none_out & either), none_out &= both.
    """
    shares = [b.size / max(post.n, 1) for b in blocks]
    k = 2
    target = max(post.n / _SHORTLIST_SHARE, 64.0)
    while k < len(blocks) and post.n * share_at_most_one_miss(shares[:k]) > target:
        k += 1
    none_out, one_out, both, either, spare_a, spare_b = post.words(6)
    first = post.bitmap(blocks[0], spare_a)
    second = post.bitmap(blocks[1], spare_b)
    np.bitwise_and(first, second, out=none_out)
    np.bitwise_or(first, second, out=one_out)
    i = 2
    while i + 1 < k:
        a = post.bitmap(blocks[i], spare_a)
        b = post.bitmap(blocks[i + 1], spare_b)
        np.bitwise_and(a, b, out=both)
        np.bitwise_or(a, b, out=either)
        np.bitwise_and(one_out, both, out=one_out)
        np.bitwise_and(either, none_out, out=either)
        np.bitwise_or(one_out, either, out=one_out)
        np.bitwise_and(none_out, both, out=none_out)
        i += 2
    if i < k:
        a = post.bitmap(blocks[i], spare_a)
        np.bitwise_and(one_out, a, out=one_out)
        np.bitwise_or(one_out, none_out, out=one_out)
    return bitmap_rows(one_out)
