"""Prüm-rule DNA matching over a columnar, blocked gallery (DESIGN.md §4, matchers API).

The matching rule (Council Decision 2008/616/JHA, Annex ch. 1 §1.1-1.2: full and near
matches, at least 6 full loci compared, wildcards) is applied in `matchers.dna_rule`.

Profile rules (wildcards, micro-variants, inclusion) live in `matchers.dna_profile`.

Why it is fast: a match differs from the query at one full locus at most, so an inverted
index per locus (rows sorted by genotype code, plus bitmaps of the common genotypes) gives a
short list of rows that can still match; see `matchers.dna_index`. Only those go through the
full allele rule, vectorised in numpy. Recent additions sit in a small unsorted tail and are
sealed into the index in batches; erased rows are zeroed at once and dropped at the next seal.
References live in a numpy object array, which the garbage collector does not walk (a list of
millions made each full collection cost tens of ms; building thousands of matches triggers
collections).
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from matchers.dna_index import (
    BITMAP_SHARE,
    CODE_BLANK,
    Postings,
    alleles_present,
    compatible_codes,
    genotype_codes,
    shortlist,
)
from matchers.dna_profile import (
    BLANK,
    LOCI,
    MICROVARIANT_RULES,
    MIN_FULL_LOCI,
    EncodedProfile,
    MicrovariantRule,
    ProfileType,
    encode_profile,
)
from matchers.dna_rule import Keys, naive_search, verify_few, verify_rows
from matchers.errors import ProfileError, StaleIndexError, UnknownReferenceError
from matchers.microvariants import KEYS

MatchType = Literal["full", "near"]

_MATCH_NAMES: tuple[MatchType, MatchType] = ("full", "near")  # by mismatched alleles (0 or 1)
_MATCH_TYPES = np.array(_MATCH_NAMES, dtype=object)


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


@contextmanager
def _collector_paused(count: int) -> Iterator[None]:
    """Build `count` result tuples without the cyclic garbage collector running meanwhile.

    A six-locus stain of common genotypes has ~12k matches in a 7M gallery. Built with the
    collector on, they set off ~17 young and ~2 middle collections per search and, every few
    searches, a full one, whose cost grows with everything the process holds (measured at 7M:
    90-190 ms each, 14 in 400 such searches). Paused, they cost one young collection at the
    next allocation, which also untracks them (tuples of str/bool/int). Small batches skip it.
    """
    if count < 1000 or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# Up to this many shortlisted rows the rule runs in plain Python (`verify_few`): the ~40
# numpy calls of `verify_rows` and the ranking cost ~100 us whatever the row count (most
# searches shortlist 0-2 rows), the Python rule ~15 us a row.
_FEW_ROWS = 4

DNA_FORMAT = "prum-exchange/dna-gallery/1"


class DnaGallery:
    """A gallery of DNA profiles searched under the Prüm rules.

    `add` replaces a profile already held under the same reference. `microvariants` selects
    the micro-variant reading (see `matchers.dna_profile`; the annex's tables by default), in
    every path a search takes. Thread-safe: one lock guards every read and write (searches
    are short).
    """

    def __init__(
        self,
        microvariants: MicrovariantRule = "annex",
        seal_every: int = 16384,
        bitmap_share: float = BITMAP_SHARE,
    ) -> None:
        if microvariants not in MICROVARIANT_RULES:
            raise ValueError(
                f"micro-variant rule {microvariants!r}: one of {', '.join(MICROVARIANT_RULES)}"
            )
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
        self._postings = Postings(self._codes, 0, 1)
        # Alleles ever stored per locus (key + 1; never cleared on erasure, so a superset):
        # which micro-variant neighbours of a query's alleles are worth looking up.
        self._present = np.zeros((len(LOCI), KEYS), dtype=np.bool_)
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
        present = alleles_present(keys) if self._rule == "annex" else None
        with self._lock:
            if present is not None:
                self._present |= present
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
            if len(rows) <= _FEW_ROWS:
                return self._search_few(rows, query, limit)
            verdicts = verify_rows(self._keys[rows], query, self._rule)
            hit = np.flatnonzero(verdicts.is_match)  # erased rows compare nothing: never hit
            mism, wild = verdicts.mismatched[hit], verdicts.wildcard[hit]
            compared = verdicts.compared[hit]
            # Best first: full before near, exact before wildcard, most loci compared; ties
            # in the order the profiles were added (rows keep that order).
            rank = (mism * 2 + wild) * 64 + (63 - compared)
            best = np.argsort(rank, kind="stable")[:limit]
            found = self._refs[rows[hit[best]]].tolist()
            fields = zip(
                found,
                _MATCH_TYPES[mism[best]].tolist(),
                wild[best].tolist(),
                compared[best].tolist(),
                mism[best].tolist(),
                strict=True,
            )
            with _collector_paused(len(found)):
                return list(map(_new_match, fields))

    def _search_few(
        self, rows: npt.NDArray[np.int64], query: Keys, limit: int | None
    ) -> list[DnaMatch]:
        """`search_keys` past the shortlist for a few rows, in plain Python: the same
        verdicts (`verify_few`), rank and stable order (ties in row order), and `limit`
        sliced the same way."""
        typed = [(i, b1, b2) for i, (b1, b2) in enumerate(query.tolist()) if b2 != BLANK]
        ranked = []
        for row, keys in zip(rows.tolist(), self._keys[rows].tolist(), strict=True):
            is_match, compared, mismatched, wildcard = verify_few(keys, typed, self._rule)
            if is_match:
                rank = (mismatched * 2 + wildcard) * 64 + (63 - compared)
                ranked.append((rank, row, compared, mismatched, wildcard))
        ranked.sort(key=lambda r: r[0])  # stable, as the argsort of `search_keys`
        return [
            _new_match((self._refs[row], _MATCH_NAMES[mism], wild, compared, mism))
            for _rank, row, compared, mism, wild in ranked[:limit]
        ]

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
        if rule not in MICROVARIANT_RULES:
            raise StaleIndexError(str(target), f"rule {rule}", expected_version)
        gallery = cls(microvariants=rule)
        gallery.add_keys(refs, keys)
        gallery.seal()
        return gallery

    def seal(self) -> None:
        """Fold recent additions into the sorted postings and drop erased rows now."""
        with self._lock:
            self._seal()

    # -- internals -------------------------------------------------------------------------

    def _candidate_rows(self, query: Keys) -> npt.NDArray[np.int64]:
        """Rows that may match (a superset of the matches, ascending): see `dna_index`."""
        extra = compatible_codes(query, self._present, self._rule)
        return shortlist(self._postings, self._codes, self._n, query, extra)

    def _erase(self, reference: str) -> None:
        row = self._row_of.pop(reference)
        self._keys[row] = BLANK
        self._codes[:, row] = CODE_BLANK
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
        self._postings = Postings(self._codes, n, int(n * self._bitmap_share))


__all__ = [
    "DnaGallery",
    "DnaMatch",
    "ProfileError",
    "naive_search",
    "verify_rows",
]
