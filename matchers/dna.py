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

Why it is fast: a full or near match differs at no more than one locus, so among the query's
full designated loci a candidate holds, at every locus but at most one, either the query's
exact genotype, a blank, or a wildcard: it sits in all but at most one of the per-locus
postings (pigeonhole). The gallery keeps, per locus, its rows sorted by genotype code (an
inverted index, the blocking of record-linkage practice); a search lets the three smallest
postings vote (rows in at least two of them survive; measured faster than two or four at
1M), drops rows whose int32 locus codes differ from the query at two or more loci, and
verifies the few left with the full allele rule, vectorised in numpy. Recent additions sit
in a small unsorted tail that goes through the same code filter, and are sealed into the
postings in batches. Erased rows are zeroed at once and dropped at the next seal.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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

_CODE_BLANK = 0
_CODE_WILD = 1
_CODE_BASE = 4096  # allele keys stay below 1000 (allele <= 99.9), so k1 * 4096 + k2 is unique
_VOTING_BLOCKS = 3  # the smallest postings that vote; a candidate sits in all but one


@dataclass(frozen=True, slots=True)
class DnaMatch:
    """One gallery profile that matches the searched profile under the Prüm rules."""

    reference: str
    match_type: MatchType
    wildcard: bool
    compared_loci: int
    mismatched_alleles: int


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


class _Postings:
    """Per-locus inverted index over the sealed rows [0, n): rows sorted by genotype code.

    `codes` is the gallery's (n_loci, capacity) code matrix; only its first `n` rows are read.
    """

    def __init__(self, codes: npt.NDArray[np.int32], n: int) -> None:
        self.n = n
        self.order: list[npt.NDArray[np.int32] | None] = []
        self.codes: list[npt.NDArray[np.int32]] = []  # distinct codes per locus, ascending
        self.starts: list[npt.NDArray[np.int64]] = []  # their first position in `order`
        self.n_open: list[int] = []  # rows that are blank or wildcard-bearing at the locus
        self.scratch = np.zeros(n, dtype=np.uint8)  # vote counts, all zero between searches
        for col in range(codes.shape[0]):
            column = codes[col, :n]
            if not column.any():
                self.order.append(None)
                self.codes.append(np.zeros(0, np.int32))
                self.starts.append(np.zeros(1, np.int64))
                self.n_open.append(n)
                continue
            order = np.argsort(column, kind="stable").astype(np.int32)
            distinct, starts = np.unique(column[order], return_index=True)
            self.order.append(order)
            self.codes.append(distinct.astype(np.int32))
            self.starts.append(np.append(starts, n).astype(np.int64))
            self.n_open.append(
                int(starts[np.searchsorted(distinct, _CODE_BASE)])
                if (distinct[-1] >= _CODE_BASE)
                else n
            )

    def block(self, col: int, code: int) -> tuple[int, list[npt.NDArray[np.int32]]] | None:
        """Rows open at `col` or holding exactly `code` there, as two disjoint sorted-order
        segments; None if nobody typed the locus."""
        order = self.order[col]
        if order is None:
            return None
        n_open = self.n_open[col]
        i = int(np.searchsorted(self.codes[col], code))
        if i < len(self.codes[col]) and self.codes[col][i] == code:
            lo, hi = int(self.starts[col][i]), int(self.starts[col][i + 1])
        else:
            lo = hi = n_open
        return n_open + hi - lo, [order[:n_open], order[lo:hi]]


DNA_FORMAT = "prum-exchange/dna-gallery/1"


class DnaGallery:
    """A gallery of DNA profiles searched under the Prüm rules.

    `add` replaces a profile already held under the same reference. `microvariants` selects
    the micro-variant reading (see `matchers.dna_profile`). Thread-safe: one lock guards
    every read and write (searches are short).
    """

    def __init__(self, microvariants: MicrovariantRule = "repeat", seal_every: int = 16384) -> None:
        self._rule: MicrovariantRule = microvariants
        self._seal_every = seal_every
        self._keys: Keys = np.zeros((1024, len(LOCI), 2), dtype=np.int16)
        self._codes: npt.NDArray[np.int32] = np.zeros((len(LOCI), 1024), dtype=np.int32)
        self._refs: list[str | None] = []
        self._row_of: dict[str, int] = {}
        self._postings = _Postings(self._codes, 0)
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, reference: object) -> bool:
        return reference in self._row_of

    @property
    def microvariants(self) -> MicrovariantRule:
        return self._rule

    def nbytes(self) -> int:
        """Bytes held by the profile arrays and the postings (not the reference strings)."""
        with self._lock:
            n = len(self._refs)
            postings = sum(o.nbytes for o in self._postings.order if o is not None)
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
            start = len(self._refs)
            self._reserve(start + n)
            self._keys[start : start + n] = keys
            self._codes[:, start : start + n] = codes
            for i, ref in enumerate(references):
                self._row_of[ref] = start + i
            self._refs.extend(references)
            if len(self._refs) - self._postings.n >= max(self._seal_every, self._postings.n // 32):
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
            hit = np.flatnonzero(verdicts.is_match)
            matches = [
                DnaMatch(
                    reference=ref,
                    match_type="full" if verdicts.mismatched[i] == 0 else "near",
                    wildcard=bool(verdicts.wildcard[i]),
                    compared_loci=int(verdicts.compared[i]),
                    mismatched_alleles=int(verdicts.mismatched[i]),
                )
                for i in hit
                if (ref := self._refs[int(rows[i])]) is not None
            ]
        matches.sort(
            key=lambda m: (m.mismatched_alleles, m.wildcard, -m.compared_loci, m.reference)
        )
        return matches if limit is None else matches[:limit]

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
        """Rows that differ from the query's genotype at no more than one full locus."""
        n = len(self._refs)
        qcodes = genotype_codes(query[None, :, :])[0]
        cols = [int(c) for c in np.flatnonzero(qcodes >= _CODE_BASE)]
        blocks = [(b, c) for c in cols if (b := self._postings.block(c, int(qcodes[c])))]
        blocks.sort(key=lambda bc: bc[0][0])
        sealed = self._postings.n
        used = blocks[:_VOTING_BLOCKS]
        if len(used) >= 2 and sum(b[0][0] for b in used) <= sealed:
            head = self._vote([segments for (_, segments), _ in used])
        else:
            head = np.arange(sealed, dtype=np.int64)
        rows = np.concatenate((head, np.arange(sealed, n, dtype=np.int64)))
        # Most selective loci first, so the candidate set shrinks fast.
        by_size = [c for _, c in blocks] + [c for c in cols if c not in {c for _, c in blocks}]
        fails = np.zeros(len(rows), dtype=np.int8)
        for i, col in enumerate(by_size):
            got = self._codes[col][rows]
            fails += (got >= _CODE_BASE) & (got != qcodes[col])
            if i % 3 == 2 or i == len(by_size) - 1:
                keep = fails <= 1
                rows, fails = rows[keep], fails[keep]
        return np.unique(rows)

    def _vote(self, blocks: list[list[npt.NDArray[np.int32]]]) -> npt.NDArray[np.int64]:
        """Rows found in all but at most one of `blocks` (pigeonhole: a match fails one locus
        at most). Counts go into a scratch array the size of the sealed gallery, then reset."""
        counts = self._postings.scratch
        need = len(blocks) - 1
        segments = [seg for block in blocks for seg in block if len(seg)]
        if not segments:
            return np.zeros(0, dtype=np.int64)
        for seg in segments:
            counts[seg] += 1
        found = [seg[counts[seg] >= need] for seg in segments]
        for seg in segments:
            counts[seg] = 0
        return np.unique(np.concatenate(found)).astype(np.int64)

    def _erase(self, reference: str) -> None:
        row = self._row_of.pop(reference)
        self._keys[row] = BLANK
        self._codes[:, row] = _CODE_BLANK
        self._refs[row] = None

    def _reserve(self, n: int) -> None:
        if n <= self._keys.shape[0]:
            return
        size = max(n, 2 * self._keys.shape[0])
        used = len(self._refs)
        keys = np.zeros((size, len(LOCI), 2), dtype=np.int16)
        keys[:used] = self._keys[:used]
        codes = np.zeros((len(LOCI), size), dtype=np.int32)
        codes[:, :used] = self._codes[:, :used]
        self._keys, self._codes = keys, codes

    def _seal(self) -> None:
        if self._postings.n == len(self._refs) and len(self._row_of) == len(self._refs):
            return  # nothing added or erased since the last seal
        alive = np.array([r is not None for r in self._refs], dtype=bool)
        if not alive.all():
            kept_keys = self._keys[: len(self._refs)][alive]
            kept_codes = self._codes[:, : len(self._refs)][:, alive]
            refs = [r for r in self._refs if r is not None]
            self._refs = list(refs)
            self._keys = np.zeros((max(1024, 2 * len(refs)), len(LOCI), 2), np.int16)
            self._keys[: len(refs)] = kept_keys
            self._codes = np.zeros((len(LOCI), self._keys.shape[0]), np.int32)
            self._codes[:, : len(refs)] = kept_codes
            self._row_of = {r: i for i, r in enumerate(refs)}
        self._postings = _Postings(self._codes, len(self._refs))


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
