"""Prüm-rule DNA matching over a columnar, blocked gallery (DESIGN.md §4, matchers API).

Matching rules (Council Decision 2008/616/JHA, Annex ch. 1 §1.1-1.2; the full and near match
classes are confirmed by §3.2, their exact wording was not found, see prum-facts.md §1):

- only loci typed in both profiles are compared, amelogenin excluded (`compared_loci`);
- at least 6 of the compared loci must be full designated (no wildcard) in both profiles;
- at a locus the alleles are paired as unordered pairs (both orderings are tried, as the
  annex asks for wildcards), `*` pairs with any value; the number of alleles left unpaired,
  summed over the compared loci, is `mismatched_alleles`;
- **full** match: no allele differs; **near** match: exactly one allele differs;
- a match that used a wildcard on either side is flagged `wildcard=True`.

Profile rules (wildcards, micro-variants, inclusion) live in `matchers.dna_profile`.

Why it is fast: over the q loci the query holds full, a match holds the query's exact genotype
at all but at most one (it compares >= 6 full loci, and differs by one allele at most), or is
blank or wildcard-bearing there; so it sits in all but at most one of the per-locus blocks
(exact genotype, blank, wildcard) of any set of query loci (pigeonhole). When only six loci can
be compared at all, a match is exact at five of them, so blocks shrink to the exact postings.
The gallery keeps, per locus, its rows sorted by genotype code (an inverted index, the blocking
of record-linkage practice), and a bitmap of the rows of each genotype held by >= 1/128 of
them (UK DNA-17: ~370 bitmaps, 47 bytes per profile beside the 288 of the rest). A search
shortlists sealed rows in one of two ways:

- short blocks (rare genotypes, the usual stain): the three smallest postings vote in a
  byte-per-row scratch array, rows in two of them survive;
- long blocks (common genotypes; a six-locus stain of the commonest ones hits blocks of 20 %
  of the gallery): an "all but at most one" count over the bitmaps of the k smallest blocks,
  two at a time with AND/OR word operations, k growing until ~N/1024 rows are expected.

Counting postings costs per entry (a scatter into an N-byte array that stops fitting in cache
at millions of rows), counting bitmaps per word (N/64); the switch point was measured (see
`_Postings.vote_max`). Then every shortlisted row, and every row of the small unsorted tail of
recent additions, goes through the int32 code matrix (<= 1 differing full locus, >= 5 exact
ones), and the few left through the full allele rule, vectorised in numpy. Recent additions
are sealed into the postings in batches; erased rows are zeroed at once and dropped at the next
seal. References live in a numpy object array, which the garbage collector does not walk.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from matchers.dna_profile import (
    BLANK,
    LOCI,
    MIN_FULL_LOCI,
    WILDCARD,
    EncodedProfile,
    MicrovariantRule,
    ProfileType,
    encode_profile,
)
from matchers.errors import ProfileError, StaleIndexError, UnknownReferenceError

MatchType = Literal["full", "near"]
Keys = npt.NDArray[np.int16]

_MATCH_TYPES = np.array(["full", "near"], dtype=object)  # by mismatched alleles (0 or 1)
_CODE_BLANK = 0
_CODE_WILD = 1
_CODE_BASE = 4096  # allele keys stay below 1000 (allele <= 99.9), so k1 * 4096 + k2 is unique
_VOTING_BLOCKS = 3  # the smallest postings that vote; a candidate sits in all but one
# Genotypes held by >= this share of the sealed rows get a bitmap (UK DNA-17: ~370 of them,
# 47 bytes per profile). At 1/64 (33 bytes) stains at 7M rows took twice as long: more of
# their blocks had to be turned into bitmaps on the fly.
_BITMAP_SHARE = 1 / 128
_SHORTLIST_SHARE = 1024  # the bitmap count adds blocks until ~N/1024 rows are expected


class DnaMatch(NamedTuple):
    """One gallery profile that matches the searched profile under the Prüm rules.

    A named tuple: a search may return thousands (a six-locus stain of common genotypes in a
    national database), and these are built at C speed.
    """

    reference: str
    match_type: MatchType
    wildcard: bool
    compared_loci: int
    mismatched_alleles: int


# Builds a DnaMatch from a 5-tuple at C speed (NamedTuple._make goes through Python code).
_new_match: Callable[[tuple[str, str, bool, int, int]], DnaMatch] = partial(tuple.__new__, DnaMatch)


@dataclass(frozen=True, slots=True)
class RowVerdicts:
    """The rule applied to many gallery rows against one query (arrays aligned with the rows)."""

    is_match: npt.NDArray[np.bool_]
    compared: npt.NDArray[np.int64]
    mismatched: npt.NDArray[np.int64]
    wildcard: npt.NDArray[np.bool_]


def genotype_codes(keys: Keys) -> npt.NDArray[np.int32]:
    """One int32 code per (row, locus): 0 blank, 1 wildcard-bearing, else the exact genotype."""
    a = keys[..., 0].astype(np.int32)
    b = keys[..., 1].astype(np.int32)
    codes = a * _CODE_BASE + b
    codes[(a == WILDCARD) & (b != BLANK)] = _CODE_WILD
    codes[(a == BLANK) & (b == BLANK)] = _CODE_BLANK
    return codes


def verify_rows(rows: Keys, query: Keys) -> RowVerdicts:
    """Apply the matching rule to `rows` (m, n_loci, 2) against `query` (n_loci, 2).

    This is also the naive full-scan matcher when `rows` is the whole gallery.
    """
    qt = np.flatnonzero(query[:, 1] != BLANK)
    q = query[qt]
    sub = rows[:, qt, :]
    a1, a2 = sub[..., 0], sub[..., 1]
    b1, b2 = q[:, 0], q[:, 1]
    a1w, a2w = a1 == WILDCARD, a2 == WILDCARD
    b1w, b2w = b1 == WILDCARD, b2 == WILDCARD
    straight = ((a1 == b1) | a1w | b1w).astype(np.int8) + ((a2 == b2) | a2w | b2w)
    crossed = ((a1 == b2) | a1w | b2w).astype(np.int8) + ((a2 == b1) | a2w | b1w)
    typed = a2 != BLANK
    mism = np.where(typed, 2 - np.maximum(straight, crossed), 0)
    q_full = b1 != WILDCARD  # sorted pairs: a wildcard, if any, is the first value
    full_both = typed & ~a1w & q_full
    wild = typed & (a1w | ~q_full)
    compared = typed.sum(axis=1)
    mismatched = mism.sum(axis=1)
    is_match = (full_both.sum(axis=1) >= MIN_FULL_LOCI) & (mismatched <= 1)
    return RowVerdicts(is_match, compared, mismatched, wild.any(axis=1))


_WORD = np.dtype("<u8")  # bitmap words: bit r of word w is row 64 * w + r
_ONE = np.uint64(1)


def _or_sorted_rows(bitmap: npt.NDArray[np.uint64], rows: npt.NDArray[np.int32]) -> None:
    """Set the bits of `rows` (ascending, distinct) in `bitmap`, a whole word at a time."""
    if not len(rows):
        return
    r = rows.astype(np.int64)
    words = r >> 6
    first = np.flatnonzero(np.concatenate(([True], words[1:] != words[:-1])))
    bits = np.left_shift(_ONE, (r & 63).astype(np.uint64))
    bitmap[words[first]] |= np.bitwise_or.reduceat(bits, first)


def _bitmap_rows(bitmap: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    """The rows whose bits are set, ascending."""
    nz = np.flatnonzero(bitmap != 0)  # (nonzero on bool arrays is the fast one)
    bits = np.unpackbits(bitmap[nz].view(np.uint8), bitorder="little").view(np.bool_)
    at = np.flatnonzero(bits)
    rows: npt.NDArray[np.int64] = nz[at >> 6] * 64 + (at & 63)
    return rows


@dataclass(frozen=True, slots=True)
class _Block:
    """The sealed rows that do not rule a match out at one query locus: rows holding the
    query's genotype there, plus (unless `exact_only`) rows blank or wildcard-bearing there."""

    col: int
    code: int
    size: int
    segments: tuple[npt.NDArray[np.int32], ...]  # each ascending
    exact_only: bool


class _Postings:
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
            n_open = int(bounds[np.searchsorted(distinct, _CODE_BASE)])
            n_blank = int(bounds[1]) if distinct[0] == _CODE_BLANK else 0
            self.n_open.append(n_open)
            self.n_blank.append(n_blank)
            if n_open:
                bitmap = np.zeros(self.nwords, dtype=_WORD)
                _or_sorted_rows(bitmap, order[:n_blank])
                _or_sorted_rows(bitmap, order[n_blank:n_open])
                self.open_bitmaps[col] = bitmap
            sizes = np.diff(bounds)
            for i in np.flatnonzero((sizes >= self.bitmap_min) & (distinct >= _CODE_BASE)):
                bitmap = np.zeros(self.nwords, dtype=_WORD)
                _or_sorted_rows(bitmap, order[bounds[i] : bounds[i + 1]])
                self.exact_bitmaps[col][int(distinct[i])] = bitmap

    def nbytes(self) -> int:
        postings = sum(o.nbytes for o in self.order if o is not None)
        bitmaps = sum(b.nbytes for d in self.exact_bitmaps for b in d.values())
        bitmaps += sum(b.nbytes for b in self.open_bitmaps if b is not None)
        return int(postings + bitmaps + self.scratch.nbytes)

    def block(self, col: int, code: int, exact_only: bool) -> _Block | None:
        """The block of query genotype `code` at `col`; None if no sealed row typed the locus."""
        order = self.order[col]
        if order is None:
            return None
        n_open, n_blank = self.n_open[col], self.n_blank[col]
        i = int(np.searchsorted(self.codes[col], code))
        if i < len(self.codes[col]) and self.codes[col][i] == code:
            lo, hi = int(self.starts[col][i]), int(self.starts[col][i + 1])
        else:
            lo = hi = n_open
        exact = order[lo:hi]
        if exact_only:
            return _Block(col, code, hi - lo, (exact,), True)
        segments = (order[:n_blank], order[n_blank:n_open], exact)
        return _Block(col, code, n_open + hi - lo, segments, False)

    def bitmap(self, block: _Block, out: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        """The rows of `block` as a bitmap: a stored one (read only) or one written to `out`."""
        stored = self.exact_bitmaps[block.col].get(block.code)
        open_rows = None if block.exact_only else self.open_bitmaps[block.col]
        if stored is not None and open_rows is None:
            return stored
        if stored is not None and open_rows is not None:
            return np.bitwise_or(stored, open_rows, out=out)
        if open_rows is not None:
            np.copyto(out, open_rows)
        else:
            out.fill(0)
        _or_sorted_rows(out, block.segments[-1])
        return out

    def words(self, count: int) -> list[npt.NDArray[np.uint64]]:
        """`count` scratch bitmaps of the sealed size (contents undefined)."""
        while len(self._words) < count:
            self._words.append(np.empty(self.nwords, dtype=_WORD))
        return self._words[:count]


def _share_at_most_one_miss(shares: Sequence[float]) -> float:
    """Chance that a random row sits in all but at most one of blocks of these row shares
    (blocks taken as independent), the expected shortlist share of the bitmap count."""
    all_in = math.prod(shares)
    one_out = sum(
        (1.0 - f) * math.prod(g for j, g in enumerate(shares) if j != i)
        for i, f in enumerate(shares)
    )
    return all_in + one_out


DNA_FORMAT = "prum-exchange/dna-gallery/1"


class DnaGallery:
    """A gallery of DNA profiles searched under the Prüm rules.

    `add` replaces a profile already held under the same reference. `microvariants` selects
    the micro-variant reading (see `matchers.dna_profile`). Thread-safe: one lock guards
    every read and write (searches are short).
    """

    def __init__(
        self,
        microvariants: MicrovariantRule = "repeat",
        seal_every: int = 16384,
        bitmap_share: float = _BITMAP_SHARE,
    ) -> None:
        self._rule: MicrovariantRule = microvariants
        self._seal_every = seal_every
        self._bitmap_share = bitmap_share
        self._keys: Keys = np.zeros((1024, len(LOCI), 2), dtype=np.int16)
        self._codes: npt.NDArray[np.int32] = np.zeros((len(LOCI), 1024), dtype=np.int32)
        # References by row, None once erased. A numpy object array, not a list: the garbage
        # collector does not walk it (a list of millions of slots made each full collection
        # cost tens of ms, and building thousands of matches triggers collections).
        self._refs: npt.NDArray[np.object_] = np.full(1024, None, dtype=object)
        self._n = 0  # rows in use (live and erased)
        self._row_of: dict[str, int] = {}
        self._postings = _Postings(self._codes, 0, 1)
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, reference: object) -> bool:
        return reference in self._row_of

    @property
    def microvariants(self) -> MicrovariantRule:
        return self._rule

    def nbytes(self) -> int:
        """Bytes held by the profile arrays, postings and bitmaps (not the reference strings)."""
        with self._lock:
            n = self._n
            postings = self._postings.nbytes()
            return int(self._keys[:n].nbytes + self._codes[:, :n].nbytes + postings)

    def encode(
        self, loci: Mapping[str, Sequence[str] | str], profile_type: ProfileType = "reference"
    ) -> EncodedProfile:
        """The profile as this gallery stores it; raises `ProfileError` if it breaks a rule."""
        return encode_profile(loci, profile_type=profile_type, rule=self._rule)

    def add(
        self,
        reference: str,
        loci: Mapping[str, Sequence[str] | str],
        profile_type: ProfileType = "reference",
    ) -> None:
        """Store a profile (a reference profile by default: 6 of the 7 ESS loci required)."""
        encoded = self.encode(loci, profile_type)
        self.add_keys([reference], encoded.keys[None, :, :])

    def add_keys(self, references: Sequence[str], keys: Keys) -> None:
        """Bulk path: store profiles already encoded as an (n, len(LOCI), 2) int16 array.

        The caller vouches that each row passed `encode_profile` (the synthetic generator's
        rows do); only the shape and the 6-full-loci rule are re-checked here.
        """
        keys = np.asarray(keys, dtype=np.int16)
        n = len(references)
        if keys.ndim != 3 or keys.shape[1:] != (len(LOCI), 2) or keys.shape[0] != n:
            raise ProfileError(f"expected ({n}, {len(LOCI)}, 2) keys, got {keys.shape}")
        full = ((keys[..., 0] > 0) & (keys[..., 1] > 0)).sum(axis=1)
        if (full < MIN_FULL_LOCI).any():
            bad = references[int(np.argmax(full < MIN_FULL_LOCI))]
            raise ProfileError(f"profile {bad!r} has fewer than {MIN_FULL_LOCI} full loci")
        if len(set(references)) != n:
            raise ProfileError("a reference is given twice in one batch")
        codes = genotype_codes(keys).T
        with self._lock:
            for ref in references:
                if ref in self._row_of:
                    self._erase(ref)
            start = self._n
            self._reserve(start + n)
            self._keys[start : start + n] = keys
            self._codes[:, start : start + n] = codes
            for i, ref in enumerate(references):
                self._row_of[ref] = start + i
            self._refs[start : start + n] = references
            self._n = start + n
            if self._n - self._postings.n >= max(self._seal_every, self._postings.n // 32):
                self._seal()

    def remove(self, reference: str) -> None:
        """Erase a profile: its alleles are zeroed at once, its row dropped at the next seal."""
        with self._lock:
            if reference not in self._row_of:
                raise UnknownReferenceError(f"no DNA profile under reference {reference!r}")
            self._erase(reference)

    def search(
        self,
        loci: Mapping[str, Sequence[str] | str],
        limit: int | None = None,
        profile_type: ProfileType = "reference",
    ) -> list[DnaMatch]:
        """Full and near matches of a profile, best first (full, exact, most loci compared)."""
        return self.search_keys(self.encode(loci, profile_type).keys, limit)

    def search_keys(self, query: Keys, limit: int | None = None) -> list[DnaMatch]:
        """`search` for a profile already encoded by `encode_profile` ((len(LOCI), 2) int16)."""
        with self._lock:
            rows = self._candidate_rows(query)
            verdicts = verify_rows(self._keys[rows], query)
            hit = np.flatnonzero(verdicts.is_match)  # erased rows compare nothing: never hit
            mism, wild = verdicts.mismatched[hit], verdicts.wildcard[hit]
            compared = verdicts.compared[hit]
            # Best first: full before near, exact before wildcard, most loci compared; ties
            # in the order the profiles were added (rows keep that order).
            rank = (mism * 2 + wild) * 64 + (63 - compared)
            best = np.argsort(rank, kind="stable")[:limit]
            found = self._refs[rows[hit[best]]].tolist()
            return list(
                map(
                    _new_match,
                    zip(
                        found,
                        _MATCH_TYPES[mism[best]].tolist(),
                        wild[best].tolist(),
                        compared[best].tolist(),
                        mism[best].tolist(),
                        strict=True,
                    ),
                )
            )

    def save(self, path: str | os.PathLike[str], version: str) -> None:
        """Write the live profiles to one `.npz` file (no pickles), stamped with `version`.

        Written next to `path` and renamed, so a reader never sees half a file.
        """
        target = Path(path)
        with self._lock:
            refs = list(self._row_of)
            rows = np.array([self._row_of[r] for r in refs], dtype=np.int64)
            keys = self._keys[rows] if len(rows) else np.zeros((0, len(LOCI), 2), np.int16)
        tmp = target.with_name(target.name + ".part")
        with tmp.open("wb") as f:
            np.savez(
                f,
                format=np.array(DNA_FORMAT),
                version=np.array(version),
                rule=np.array(self._rule),
                refs=np.array(refs, dtype=str),
                keys=keys,
            )
        tmp.replace(target)

    @classmethod
    def load(cls, path: str | os.PathLike[str], expected_version: str) -> DnaGallery:
        """Read a saved gallery; `StaleIndexError` if missing, unreadable or of another stamp."""
        target = Path(path)
        try:
            with np.load(target, allow_pickle=False) as data:
                fmt, version = str(data["format"]), str(data["version"])
                rule, refs, keys = str(data["rule"]), [str(r) for r in data["refs"]], data["keys"]
        except (OSError, KeyError, ValueError) as exc:
            raise StaleIndexError(str(target), "unreadable", expected_version) from exc
        if fmt != DNA_FORMAT or version != expected_version:
            raise StaleIndexError(str(target), f"{fmt} {version}", expected_version)
        if rule not in ("repeat", "exact"):
            raise StaleIndexError(str(target), f"rule {rule}", expected_version)
        gallery = cls(microvariants=rule)  # type: ignore[arg-type]
        gallery.add_keys(refs, keys)
        gallery.seal()
        return gallery

    def seal(self) -> None:
        """Fold recent additions into the sorted postings and drop erased rows now."""
        with self._lock:
            self._seal()

    # -- internals -------------------------------------------------------------------------

    def _candidate_rows(self, query: Keys) -> npt.NDArray[np.int64]:
        """Rows that may match: a superset of the matches, ascending, for `verify_rows`.

        Over the q loci the query holds full (two numeric alleles), a match holds the query's
        exact genotype at >= MIN_FULL_LOCI - 1 of them and a different full genotype at <= 1
        (it compares >= MIN_FULL_LOCI full loci with <= 1 allele differing). So it sits in the
        block (exact genotype, blank or wildcard) of all but at most one of any set of query
        loci, and when only MIN_FULL_LOCI loci can be compared at all, in the exact genotype
        postings of all but one of them. The sealed rows come from the smallest blocks (a
        count over their postings when those are short, an "all but one" count over bitmaps
        when they are long); then every row, sealed or recent, is checked on the code matrix.
        """
        n = self._n
        qcodes = genotype_codes(query[None, :, :])[0]
        cols = [int(c) for c in np.flatnonzero(qcodes >= _CODE_BASE)]
        if len(cols) < MIN_FULL_LOCI:
            return np.zeros(0, dtype=np.int64)  # fewer than six full loci to compare
        post = self._postings
        sealed = post.n
        typed = [c for c in cols if post.order[c] is not None]
        # With exactly six comparable loci none may be open (blank or wildcard) in a match.
        exact_only = len(typed) == MIN_FULL_LOCI
        blocks = [b for c in typed if (b := post.block(c, int(qcodes[c]), exact_only))]
        blocks.sort(key=lambda b: b.size)
        if len(blocks) < MIN_FULL_LOCI:
            head = np.zeros(0, dtype=np.int64)  # sealed rows compare too few loci
        elif sum(b.size for b in blocks[:_VOTING_BLOCKS]) <= post.vote_max:
            head = self._vote([b.segments for b in blocks[:_VOTING_BLOCKS]])
        else:
            head = self._bitmap_count(blocks)
        rows = np.concatenate((head, np.arange(sealed, n, dtype=np.int64)))
        return self._code_filter(rows, qcodes, [b.col for b in blocks], cols)

    def _code_filter(
        self,
        rows: npt.NDArray[np.int64],
        qcodes: npt.NDArray[np.int32],
        ordered: list[int],
        cols: list[int],
    ) -> npt.NDArray[np.int64]:
        """Keep the rows with a different full genotype at <= 1 of the query's full loci and
        its exact genotype at enough of them to reach MIN_FULL_LOCI - 1 (most selective
        loci first, so the rows thin out fast)."""
        seen = set(ordered)
        order = ordered + [c for c in cols if c not in seen]
        fails = np.zeros(len(rows), dtype=np.int8)
        exact = np.zeros(len(rows), dtype=np.int8)
        for i, col in enumerate(order):
            if not len(rows):
                break
            got = self._codes[col][rows]
            same = got == qcodes[col]
            fails += (got >= _CODE_BASE) & ~same
            exact += same
            if i % 3 == 2 or i == len(order) - 1:
                left = len(order) - 1 - i
                keep = (fails <= 1) & (exact + left >= MIN_FULL_LOCI - 1)
                rows, fails, exact = rows[keep], fails[keep], exact[keep]
        return rows

    def _vote(self, blocks: list[tuple[npt.NDArray[np.int32], ...]]) -> npt.NDArray[np.int64]:
        """Rows found in all but at most one of `blocks` (each a tuple of disjoint segments).
        Counts go into a scratch array the size of the sealed gallery, then reset."""
        counts = self._postings.scratch
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

    def _bitmap_count(self, blocks: list[_Block]) -> npt.NDArray[np.int64]:
        """Rows in all but at most one of the k smallest blocks, counted over bitmaps; k grows
        from 2 until the expected shortlist is small (or every block is used).

        Blocks are taken two at a time: with `both` = rows in both and `either` = rows in
        either, `none_out` (rows in every block so far) and `one_out` (rows missing at most
        one) update as one_out = (one_out & both) | (none_out & either), none_out &= both.
        """
        post = self._postings
        shares = [b.size / max(post.n, 1) for b in blocks]
        k = 2
        target = max(post.n / _SHORTLIST_SHARE, 64.0)
        while k < len(blocks) and post.n * _share_at_most_one_miss(shares[:k]) > target:
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
        return _bitmap_rows(one_out)

    def _erase(self, reference: str) -> None:
        row = self._row_of.pop(reference)
        self._keys[row] = BLANK
        self._codes[:, row] = _CODE_BLANK
        self._refs[row] = None

    def _reserve(self, n: int) -> None:
        if n <= self._keys.shape[0]:
            return
        size = max(n, 2 * self._keys.shape[0])
        used = self._n
        keys = np.zeros((size, len(LOCI), 2), dtype=np.int16)
        keys[:used] = self._keys[:used]
        codes = np.zeros((len(LOCI), size), dtype=np.int32)
        codes[:, :used] = self._codes[:, :used]
        refs = np.full(size, None, dtype=object)
        refs[:used] = self._refs[:used]
        self._keys, self._codes, self._refs = keys, codes, refs

    def _seal(self) -> None:
        used = self._n
        if self._postings.n == used and len(self._row_of) == used:
            return  # nothing added or erased since the last seal
        if len(self._row_of) != used:  # drop the erased rows, keeping the order of the rest
            alive = np.not_equal(self._refs[:used], np.array(None, dtype=object))
            kept = int(alive.sum())
            size = max(1024, 2 * kept)
            keys = np.zeros((size, len(LOCI), 2), np.int16)
            keys[:kept] = self._keys[:used][alive]
            codes = np.zeros((len(LOCI), size), np.int32)
            codes[:, :kept] = self._codes[:, :used][:, alive]
            refs = np.full(size, None, dtype=object)
            refs[:kept] = self._refs[:used][alive]
            self._keys, self._codes, self._refs, self._n = keys, codes, refs, kept
            self._row_of = {r: i for i, r in enumerate(refs[:kept].tolist())}
        n = self._n
        self._postings = _Postings(self._codes, n, int(n * self._bitmap_share))


def naive_search(gallery_keys: Keys, query: Keys) -> RowVerdicts:
    """The baseline: the rule over every row of an (N, loci, 2) array, no blocking."""
    return verify_rows(gallery_keys, query)


__all__ = [
    "DnaGallery",
    "DnaMatch",
    "ProfileError",
    "naive_search",
    "verify_rows",
]
