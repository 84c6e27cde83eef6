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
full designated loci a candidate holds, at every locus but at most one, either the query's exact
genotype, a blank, or a wildcard. Any two of those loci therefore cover every possible match
(pigeonhole): the gallery keeps, per locus, its rows sorted by genotype code (an inverted
index, the blocking of record-linkage practice), the search takes the union of the two
smallest postings and verifies only those rows with the full rule, vectorised in numpy. Recent
additions sit in a small unsorted tail that is verified whole, and are sealed into the sorted
postings in batches. Erased rows are zeroed at once and dropped at the next seal.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
from matchers.errors import ProfileError, UnknownReferenceError

MatchType = Literal["full", "near"]
Keys = npt.NDArray[np.int16]

_CODE_BLANK = 0
_CODE_WILD = 1
_CODE_BASE = 4096  # allele keys stay below 1000 (allele <= 99.9), so k1 * 4096 + k2 is unique


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
    """Per-locus rows sorted by genotype code, over the sealed rows [0, n)."""

    def __init__(self, keys: Keys) -> None:
        codes = genotype_codes(keys)
        self.n = keys.shape[0]
        self.order: list[npt.NDArray[np.int32] | None] = []
        self.sorted_codes: list[npt.NDArray[np.int32] | None] = []
        self.n_open: list[int] = []  # rows that are blank or wildcard-bearing at the locus
        for col in range(codes.shape[1]):
            column = codes[:, col]
            if not column.any():
                self.order.append(None)
                self.sorted_codes.append(None)
                self.n_open.append(self.n)
                continue
            order = np.argsort(column, kind="stable").astype(np.int32)
            ordered = column[order]
            self.order.append(order)
            self.sorted_codes.append(ordered)
            self.n_open.append(int(np.searchsorted(ordered, _CODE_BASE, side="left")))

    def shortlist(self, query: Keys) -> npt.NDArray[np.int32] | None:
        """Rows that can match `query`, or None when blocking cannot narrow the search."""
        qcodes = genotype_codes(query[None, :, :])[0]
        blocks: list[tuple[int, npt.NDArray[np.int32]]] = []
        for col in np.flatnonzero(qcodes >= _CODE_BASE):
            order, ordered = self.order[col], self.sorted_codes[col]
            if order is None or ordered is None:
                continue  # nobody typed this locus: every row is open here
            lo = int(np.searchsorted(ordered, qcodes[col], side="left"))
            hi = int(np.searchsorted(ordered, qcodes[col], side="right"))
            n_open = self.n_open[col]
            size = n_open + hi - lo
            blocks.append((size, np.concatenate((order[:n_open], order[lo:hi]))))
        if len(blocks) < 2:
            return None
        blocks.sort(key=lambda b: b[0])
        first, second = blocks[0][1], blocks[1][1]
        if blocks[0][0] + blocks[1][0] > self.n // 2:
            return None
        return np.unique(np.concatenate((first, second)))


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
        self._refs: list[str | None] = []
        self._row_of: dict[str, int] = {}
        self._postings = _Postings(self._keys[:0])
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, reference: object) -> bool:
        return reference in self._row_of

    @property
    def microvariants(self) -> MicrovariantRule:
        return self._rule

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
        if keys.ndim != 3 or keys.shape[1:] != (len(LOCI), 2) or keys.shape[0] != len(references):
            raise ProfileError(
                f"expected ({len(references)}, {len(LOCI)}, 2) keys, got {keys.shape}"
            )
        full = ((keys[..., 0] > 0) & (keys[..., 1] > 0)).sum(axis=1)
        if (full < MIN_FULL_LOCI).any():
            bad = references[int(np.argmax(full < MIN_FULL_LOCI))]
            raise ProfileError(f"profile {bad!r} has fewer than {MIN_FULL_LOCI} full loci")
        with self._lock:
            for ref in references:
                if ref in self._row_of:
                    self._erase(ref)
            start = len(self._refs)
            self._reserve(start + len(references))
            self._keys[start : start + len(references)] = keys
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
        query = self.encode(loci, profile_type).keys
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

    def seal(self) -> None:
        """Fold recent additions into the sorted postings and drop erased rows now."""
        with self._lock:
            self._seal()

    # -- internals -------------------------------------------------------------------------

    def _candidate_rows(self, query: Keys) -> npt.NDArray[np.int64]:
        sealed = self._postings.n
        tail = np.arange(sealed, len(self._refs), dtype=np.int64)
        short = self._postings.shortlist(query)
        head = np.arange(sealed, dtype=np.int64) if short is None else short.astype(np.int64)
        return np.concatenate((head, tail))

    def _erase(self, reference: str) -> None:
        row = self._row_of.pop(reference)
        self._keys[row] = BLANK
        self._refs[row] = None

    def _reserve(self, n: int) -> None:
        if n <= self._keys.shape[0]:
            return
        grown = np.zeros((max(n, 2 * self._keys.shape[0]), len(LOCI), 2), dtype=np.int16)
        grown[: len(self._refs)] = self._keys[: len(self._refs)]
        self._keys = grown

    def _seal(self) -> None:
        alive = np.array([r is not None for r in self._refs], dtype=bool)
        if not alive.all():
            kept = self._keys[: len(self._refs)][alive]
            refs = [r for r in self._refs if r is not None]
            self._refs = list(refs)
            self._keys = np.zeros((max(1024, 2 * len(refs)), len(LOCI), 2), np.int16)
            self._keys[: len(refs)] = kept
            self._row_of = {r: i for i, r in enumerate(refs)}
        self._postings = _Postings(self._keys[: len(self._refs)])


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
