"""Fingerprint gallery: a subject-level shortlist, minutiae pairing re-rank, fusion.

Pipeline of a ten-print search (Prüm TP/TP; DESIGN.md §4 "fingerprint galleries follow the
same shape, taking minutiae per finger position"):

1. encode each query finger into a fixed-length vector (`matchers.minutiae_encoding`, spectral
   minutiae with a line DFT, Xu & Veldhuis);
2. reduce each code with its finger position's PCA (`Reduction`, Xu et al. 2009) to a unit
   vector and concatenate the ten into one subject vector (zeros for a missing finger), so
   one inner product is the sum rule of the per-finger correlations (`matchers.fusion`'s rule,
   over all fingers rather than per-finger shortlists); one FAISS search per ten-print
   (`VectorGallery`, the factory string as data, by default 4-bit fast-scan PQ with its
   shortlist re-scored on SQ8 codes) returns `subject_shortlist` subjects;
3. the shortlist's fused scores decide how many subjects the minutiae pairing re-ranks: those
   within `margin` of the way from the best score down to the last one (at least `k`, at most
   `max(k, rerank)`); a clear leader is re-ranked alone, an ambiguous head in full;
4. the re-ranked subjects are compared finger by finger with the minutiae pairing score
   (`matchers.minutiae_pairing`, Hough alignment then pairing) and ranked by its mean over
   the query's fingers, a score in [0, 1].

The reduction is learned from the gallery's own codes once it holds `fit_from` subjects.
Until then, and with `method="positions"` (the exact reference path), step 2-3 is the former
per-position one: per finger position (ANSI/NIST codes 1-10) an exact FAISS gallery of the
full codes returns `shortlist` subjects, the sum rule fuses those scores per subject with a
floor for absent ones, and the best `max(k, rerank)` are re-ranked.

A latent (single-finger, unknown position) search encodes the mark once, searches every
position's gallery of full codes (or those given), and re-ranks the best `latent_rerank`
(subject, position) pairs by pairing score.

Memory (issue 24 item 4): only codes are resident. The subject index's 4-bit PQ codes, each
position's compact codes (by default `POSITION_INDEX`, 4-bit scalar quantisation of the full
spectral code, 144 bytes a finger), a row table per subject slot and finger, and one
reference -> slot map. What the re-ranking reads, the minutiae, the full codes that re-score a
position shortlist exactly and the float32 subject vectors that re-score the subject
shortlist exactly, is in memory-mapped files (`matchers.fingerprint_store`) in the gallery's
directory (`directory=`, by default a private temporary one removed with the gallery), read
for the shortlist only. A removal erases the subject's rows in the files (zeros) and leaves a
tombstone slot; an update is a removal and an add.

Minutiae arrays are (n, 3..5) float arrays, columns x, y (pixels at 500 ppi), angle in
degrees, type, quality, as in ANSI/NIST-ITL Type-9; no `exchange` types (DESIGN.md §2).
Persistence: a directory with the store's row files, one index per position, the subject
index and the reduction once fitted, the row tables, and a JSON file with the version stamp,
the store's id and row counts and the thresholds; `load` with another expected stamp, or
row files that do not match (another store, truncated), raises `StaleIndexError`. Saving into
the gallery's own directory writes only the indexes and the JSON file; a loaded gallery lives
in the directory it was loaded from and appends there, and its first change after a save or
load removes that directory's JSON file, so the directory no longer loads as a snapshot it
has stopped being (the caller saves again, or rebuilds from its source of truth).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from matchers.errors import MatcherError, StaleIndexError, TemplateError, UnknownReferenceError
from matchers.fingerprint_shortlist import PositionShortlist, SubjectShortlist
from matchers.fingerprint_store import RowFile
from matchers.fusion import ranked, sum_rule
from matchers.minutiae_encoding import DIM, Reduction, check_minutiae, core_view, encode_checked
from matchers.minutiae_pairing import pairing_scores
from matchers.rwlock import ReadWriteLock
from matchers.thresholds import Threshold
from matchers.vector_gallery import Candidate

POSITIONS = tuple(range(1, 11))
FORMAT = "prum-exchange/fingerprint-gallery/2"
_PAIR_BATCH = 64  # minutiae comparisons per vectorised pairing call
FIT_FROM = 2000  # subjects held before the reduction is learned and the subject index built
FIT_SAMPLE = 20_000  # subjects the reduction is learned from, at most
REDUCED_DIM = 32  # PCA components kept per finger position
SUBJECT_INDEX = "auto"  # "PQ{10 d / 4}x4fs": 4-bit fast-scan PQ, 4 dimensions per half-byte
POSITION_INDEX = "SQ4"  # measured: see `POSITION_INDEX_NOTE`
POSITION_INDEX_NOTE = (
    "20,000 fingers at position 2, 200 latent marks, candidates re-scored exactly: SQ4 with 4 x "
    "50 candidates kept every mate Flat's top 50 held and Flat's top 1 always; 4-bit PQ "
    "(PQ72x4fs, PQ144x4fs) kept 57-90% of Flat's top 1"
)
MINUTIA_COLUMNS = 5  # x, y, angle, type, quality; narrower arrays are padded in the store

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
T = TypeVar("T", bound=np.generic)
Fingers = Mapping[int, npt.ArrayLike]
#: a re-ranking score: many (query, held) minutiae pairs in, one score in [0, 1] each out
PairScorer = Callable[[Sequence[tuple[F32, F32]]], npt.NDArray[np.float64]]


@dataclass(frozen=True, slots=True)
class FingerCandidate:
    """A latent search candidate: which subject, which finger, how similar."""

    reference: str
    position: int
    score: float


def _encode(sets: Sequence[F32]) -> F32:
    """Codes of checked sets, each from its `core_view` (dense extractor output cut to the
    core; the synthetic population's sets whole)."""
    return encode_checked([core_view(m) for m in sets])


def _check_position(position: int) -> int:
    if position not in POSITIONS:
        raise TemplateError(f"finger position {position} is not an ANSI/NIST code 1-10")
    return position


def _grown(a: npt.NDArray[T], n: int) -> npt.NDArray[T]:
    """`a` itself if it holds `n` rows, else a copy with room for at least n (doubling, so that
    enrolling one subject at a time stays linear overall); new rows are zero."""
    if n <= len(a):
        return a
    out = np.zeros(max(n, 2 * len(a)), a.dtype)
    out[: len(a)] = a
    return out


class FingerprintGallery:
    """Ten-print and latent 1:N search over minutiae (see the module docstring)."""

    def __init__(
        self,
        index: str = POSITION_INDEX,
        params: str = "",
        version: str = "0",
        shortlist: int = 50,
        rerank: int = 3,
        *,
        subject_index: str = SUBJECT_INDEX,
        k_factor: int = 4,
        subject_shortlist: int = 10,
        margin: float = 0.5,
        reduced_dim: int = REDUCED_DIM,
        fit_from: int = FIT_FROM,
        latent_rerank: int = 50,
        directory: str | os.PathLike[str] | None = None,
    ) -> None:
        self._configure(
            index,
            params,
            version,
            shortlist,
            rerank,
            subject_index,
            k_factor,
            subject_shortlist,
            margin,
            reduced_dim,
            fit_from,
            latent_rerank,
        )
        if directory is None:
            self._dir = Path(tempfile.mkdtemp(prefix="prum-fingerprints-"))
            weakref.finalize(self, shutil.rmtree, self._dir, True)
        else:
            self._dir = Path(directory)
            self._dir.mkdir(parents=True, exist_ok=True)
        self._store_id = uuid.uuid4().bytes
        self._minutiae_file = RowFile.create(
            self._dir / "minutiae.f32", MINUTIA_COLUMNS, self._store_id
        )
        self._codes_file = RowFile.create(self._dir / "codes.f32", DIM, self._store_id)
        self._vectors_file: RowFile | None = None  # subject vectors, once fitted

    def _configure(
        self,
        index: str,
        params: str,
        version: str,
        shortlist: int,
        rerank: int,
        subject_index: str,
        k_factor: int,
        subject_shortlist: int,
        margin: float,
        reduced_dim: int,
        fit_from: int,
        latent_rerank: int,
    ) -> None:
        """Parameters and empty in-memory state (no files: `__init__` or `load` opens them)."""
        self.version = version
        self.shortlist = shortlist
        self.rerank = rerank
        self.latent_rerank = latent_rerank
        self.subject_shortlist = subject_shortlist
        self.margin = margin
        self.reduced_dim = reduced_dim
        self.fit_from = fit_from
        self.k_factor = k_factor
        self._subject_index = (
            f"PQ{10 * reduced_dim // 4}x4fs" if subject_index == "auto" else subject_index
        )
        self._reduction: Reduction | None = None
        self._subjects: SubjectShortlist | None = None  # fused subject codes, once fitted
        self.threshold: Threshold | None = None  # ten-print, mean pairing score
        self.latent_threshold: Threshold | None = None  # single finger pairing score
        self._index = index
        self._params = params
        self._positions = {p: PositionShortlist(DIM, index, k_factor) for p in POSITIONS}
        self._lock = ReadWriteLock()
        self._read_only = False
        self._snapshot = False  # the directory's JSON file describes this gallery as it is
        # Slots (one per enrolment, never reused) and fingers (rows of the store's files).
        self._slot_of: dict[str, int] = {}
        self._ref_at: list[str | None] = []
        self._finger_of = np.full((0, 10), -1, np.int32)  # slot, position - 1 -> finger
        self._finger_slot = np.zeros(0, np.int32)  # finger -> slot
        self._m_start = np.zeros(0, np.int64)  # finger -> first row in the minutiae file
        self._m_count = np.zeros(0, np.uint16)  # finger -> minutiae rows
        self._m_cols = np.zeros(0, np.uint8)  # finger -> columns of the array enrolled

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, reference: object) -> bool:
        return reference in self._slot_of

    @property
    def directory(self) -> Path:
        """Where the memory-mapped store lives."""
        return self._dir

    def memory_bytes(self) -> dict[str, int]:
        """Bytes resident: the position indexes and the subject index (serialised), the row
        tables (`tables`); and on disk, memory-mapped (`store_on_disk`: the row files). The
        reference map's Python objects are not counted (measure the process for those)."""
        with self._lock.read():
            vectors = 0 if self._vectors_file is None else self._vectors_file.rows
            return {
                "positions": sum(g.memory_bytes() for g in self._positions.values()),
                "subjects": 0 if self._subjects is None else self._subjects.memory_bytes(),
                "tables": sum(  # capacity: the arrays grow by doubling
                    int(a.nbytes)
                    for a in (
                        self._finger_of,
                        self._finger_slot,
                        self._m_start,
                        self._m_count,
                        self._m_cols,
                    )
                ),
                "store_on_disk": 4
                * (
                    self._minutiae_file.rows * MINUTIA_COLUMNS
                    + self._codes_file.rows * DIM
                    + vectors * 10 * self.reduced_dim
                ),
            }

    @property
    def subject_index(self) -> str:
        return self._subject_index

    @property
    def fitted(self) -> bool:
        """Whether the reduction is learned and ten-print searches use the subject index."""
        return self._subjects is not None

    # -- writes --------------------------------------------------------------------------

    def add(self, reference: str, fingers: Fingers) -> None:
        """Enrol (or replace) one subject's fingers, a position -> minutiae mapping."""
        self.add_many([reference], [fingers])

    def add_many(self, references: Sequence[str], fingersets: Sequence[Fingers]) -> None:
        if len(references) != len(fingersets) or len(set(references)) != len(references):
            raise TemplateError("references and finger sets must pair one to one, no repeats")
        checked = [
            {_check_position(int(p)): check_minutiae(m) for p, m in fs.items()} for fs in fingersets
        ]
        if any(not fs for fs in checked):
            raise TemplateError("a subject needs at least one finger")
        flat = [(p, m) for fs in checked for p, m in fs.items()]
        codes = _encode([m for _, m in flat])
        positions = np.array([p for p, _ in flat], dtype=np.int64)
        counts = [len(fs) for fs in checked]
        with self._lock.write():
            self._writable()
            stale = [r for r in references if r in self._slot_of]
            if stale:
                self._drop(stale)
            first_slot = len(self._ref_at)
            slots = np.arange(first_slot, first_slot + len(references), dtype=np.int64)
            owners = np.repeat(slots, counts)
            fingers = self._append_fingers(flat, codes, owners)
            self._ref_at.extend(references)
            for ref, slot in zip(references, slots.tolist(), strict=True):
                self._slot_of[ref] = slot
            for pos in POSITIONS:
                rows = np.flatnonzero(positions == pos)
                if len(rows):
                    self._positions[pos].add(fingers[rows], codes[rows], self._holder(pos))
            if self._subjects is not None:
                vectors = self._subject_vectors(codes, positions, owners - first_slot, len(slots))
                assert self._vectors_file is not None
                self._vectors_file.append(vectors)
                self._subjects.add(slots, vectors)
            elif len(self._slot_of) >= self.fit_from:
                self._fit()

    def _append_fingers(self, flat: list[tuple[int, F32]], codes: F32, owners: I64) -> I64:
        """Write the fingers' minutiae and codes to the store; their finger ids."""
        padded = np.zeros((sum(len(m) for _, m in flat), MINUTIA_COLUMNS), np.float32)
        at = 0
        for _, m in flat:
            padded[at : at + len(m), : m.shape[1]] = m
            at += len(m)
        starts = self._minutiae_file.append(padded)[0] if len(padded) else 0
        lengths = np.array([len(m) for _, m in flat], dtype=np.int64)
        n = self._codes_file.rows  # the finger count: code rows are finger ids
        self._codes_file.append(codes)
        end = n + len(flat)
        self._finger_slot = _grown(self._finger_slot, end)
        self._m_start = _grown(self._m_start, end)
        self._m_count = _grown(self._m_count, end)
        self._m_cols = _grown(self._m_cols, end)
        self._finger_slot[n:end] = owners
        self._m_start[n:end] = starts + np.concatenate(([0], np.cumsum(lengths)[:-1]))
        self._m_count[n:end] = lengths
        self._m_cols[n:end] = [m.shape[1] for _, m in flat]
        top = int(owners.max()) + 1 if len(owners) else len(self._ref_at)
        if top > len(self._finger_of):  # grow by doubling: appends stay cheap
            grown = np.full((max(top, 2 * len(self._finger_of)), 10), -1, np.int32)
            grown[: len(self._finger_of)] = self._finger_of
            self._finger_of = grown
        self._finger_of[owners, [p - 1 for p, _ in flat]] = np.arange(n, n + len(flat))
        return np.arange(n, n + len(flat), dtype=np.int64)

    def _holder(self, pos: int) -> Callable[[], tuple[I64, F32]]:
        return lambda: self._held_codes(pos)

    def _held_codes(self, pos: int) -> tuple[I64, F32]:
        """Finger ids and full codes of every live finger at `pos` (read from the store)."""
        ids = self._finger_of[: len(self._ref_at), pos - 1].astype(np.int64)
        ids = ids[ids >= 0]
        return ids, self._codes_file.read(ids)

    def _live(self) -> I64:
        return np.fromiter(self._slot_of.values(), dtype=np.int64, count=len(self._slot_of))

    def _fit(self) -> None:
        """Learn the reduction from the held codes (read from the store) and build the subject
        index over every subject; the subject vectors go to the store, slot by slot."""
        live = np.sort(self._live())
        fingers = self._finger_of[live].astype(np.int64)  # (n, 10)
        held = fingers >= 0
        owners = np.repeat(np.arange(len(live)), held.sum(axis=1))
        positions = np.nonzero(held)[1].astype(np.int64) + 1
        rng = np.random.default_rng(0)
        n = len(live)
        sample = np.isin(owners, rng.choice(n, min(n, FIT_SAMPLE), replace=False))
        ids = fingers[held]
        self._reduction = Reduction.fit(
            self._codes_file.read(ids[sample]), positions[sample], self.reduced_dim
        )
        d = 10 * self.reduced_dim
        vectors_file = RowFile.create(self._dir / "vectors.f32", d, self._store_id)
        subjects = SubjectShortlist(d, self._subject_index, self.k_factor)
        vectors = np.zeros((len(self._ref_at), d), np.float32)
        for s in range(0, len(ids), 100_000):  # fingers by owner: a subject may straddle two
            part = slice(s, s + 100_000)
            o0, o1 = int(owners[part][0]), int(owners[part][-1])
            vectors[live[o0 : o1 + 1]] += self._subject_vectors(
                self._codes_file.read(ids[part]), positions[part], owners[part] - o0, o1 - o0 + 1
            )
        vectors_file.append(vectors)
        subjects.add(live, vectors[live])
        self._vectors_file, self._subjects = vectors_file, subjects

    def _subject_vectors(self, codes: F32, positions: I64, owners: I64, n: int) -> F32:
        """One row per subject: its fingers' reduced unit codes side by side, by position."""
        assert self._reduction is not None
        d = self._reduction.dim
        out = np.zeros((n, 10, d), np.float32)
        out[owners, positions - 1] = self._reduction.apply(codes, positions)
        return out.reshape(n, 10 * d)

    def reindex(self, index: str, params: str = "") -> None:
        """Rebuild every position index under another factory string from the stored codes."""
        with self._lock.write():
            self._writable()
            for pos in POSITIONS:
                fresh = PositionShortlist(DIM, index, self.k_factor)
                ids, codes = self._held_codes(pos)
                if len(ids):
                    fresh.add(ids, codes, self._holder(pos))
                self._positions[pos] = fresh
            self._index, self._params = index, params

    def remove(self, reference: str) -> None:
        """Erase a subject: its codes leave every index, its rows in the store are zeroed."""
        with self._lock.write():
            self._writable()
            if reference not in self._slot_of:
                raise UnknownReferenceError(f"no fingerprints under reference {reference!r}")
            self._drop([reference])

    def _drop(self, references: list[str]) -> None:
        slots = np.array([self._slot_of.pop(r) for r in references], dtype=np.int64)
        for s in slots.tolist():
            self._ref_at[s] = None
        fingers = self._finger_of[slots]
        for pos in POSITIONS:
            column = fingers[:, pos - 1].astype(np.int64)
            gone = column[column >= 0]
            if len(gone):
                self._positions[pos].remove(gone)
        ids = fingers[fingers >= 0].astype(np.int64)
        self._codes_file.erase(ids)
        starts, counts = self._m_start[ids], self._m_count[ids]
        rows = [np.arange(a, a + c) for a, c in zip(starts, counts, strict=True)]
        self._minutiae_file.erase(np.concatenate(rows) if rows else [])
        self._m_count[ids] = 0
        self._finger_of[slots] = -1
        if self._subjects is not None and self._vectors_file is not None:
            self._vectors_file.erase(slots)
            self._subjects.remove(slots, self._vectors_file.read)

    def _writable(self) -> None:
        if self._read_only:
            raise MatcherError("this gallery is memory-mapped read-only; load it without mmap")
        if self._snapshot:  # the saved JSON file stops describing this gallery now
            (self._dir / "gallery.json").unlink(missing_ok=True)
            self._snapshot = False

    # -- reads ---------------------------------------------------------------------------

    def search(
        self,
        queries: Sequence[Fingers],
        k: int = 1,
        threshold: float | None = None,
        method: str = "auto",
        scorer: PairScorer = pairing_scores,
    ) -> list[list[Candidate]]:
        """Ten-print searches, one candidate list per query, best first (mean pairing score).

        `method`: "subjects" (the subject index), "positions" (per-position shortlists, each
        re-scored exactly on the full codes: the reference path) or "auto" (the subject index
        once fitted). `scorer`: the re-ranking score per finger pair (the minutiae pairing;
        Bozorth3 for minutiae extracted from images, `matchers.fingerprint_image.bozorth_scores`).
        """
        if method not in ("auto", "subjects", "positions"):
            raise MatcherError(f"unknown ten-print search method {method!r}")
        checked = [
            {_check_position(int(p)): check_minutiae(m) for p, m in q.items()} for q in queries
        ]
        flat = [(qi, p, m) for qi, q in enumerate(checked) for p, m in q.items()]
        codes = _encode([m for _, _, m in flat]) if flat else np.zeros((0, DIM), np.float32)
        with self._lock.read():
            if method == "subjects" and self._subjects is None:
                raise MatcherError("the subject index is not built yet (fewer than fit_from)")
            if method != "positions" and self._subjects is not None:
                shortlists = self._subject_shortlists(checked, flat, codes, k)
            else:
                shortlists = self._position_shortlists(checked, flat, codes, k)
            wanted: list[tuple[int, int, int]] = []  # query, slot, finger
            for qi, (q, slots) in enumerate(zip(checked, shortlists, strict=True)):
                for slot in slots:
                    for p in q:
                        finger = int(self._finger_of[slot, p - 1])
                        if finger >= 0:
                            wanted.append((qi, slot, finger))
            held = self._read_minutiae([f for _, _, f in wanted])
            refs = [[str(self._ref_at[s]) for s in slots] for slots in shortlists]
        pairs = [(checked[qi][p], m) for (qi, _, _), (p, m) in zip(wanted, held, strict=True)]
        totals: dict[tuple[int, int], float] = {}
        for start in range(0, len(pairs), _PAIR_BATCH):
            scores = scorer(pairs[start : start + _PAIR_BATCH])
            batch = wanted[start : start + _PAIR_BATCH]
            for (qi, slot, _), score in zip(batch, scores, strict=True):
                totals[qi, slot] = totals.get((qi, slot), 0.0) + float(score)
        out: list[list[Candidate]] = []
        for qi, (q, slots) in enumerate(zip(checked, shortlists, strict=True)):
            cands = [
                Candidate(ref, totals.get((qi, slot), 0.0) / len(q))
                for slot, ref in zip(slots, refs[qi], strict=True)
            ]
            cands.sort(key=lambda c: (-c.score, c.reference))
            if threshold is not None:
                cands = [c for c in cands if c.score >= threshold]
            out.append(cands[:k])
        return out

    def _read_minutiae(self, fingers: Sequence[int]) -> list[tuple[int, F32]]:
        """(position, minutiae) of fingers, read from the store in one gather."""
        if not fingers:
            return []
        ids = np.asarray(fingers, dtype=np.int64)
        starts, counts = self._m_start[ids], self._m_count[ids].astype(np.int64)
        rows = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        block = self._minutiae_file.read(rows)
        ends = np.cumsum(counts)
        cols = self._m_cols[ids]
        slots = self._finger_slot[ids]
        out = []
        for f, slot, e, c, w in zip(ids.tolist(), slots.tolist(), ends, counts, cols, strict=True):
            pos = int(np.flatnonzero(self._finger_of[slot] == f)[0]) + 1
            out.append((pos, block[e - c : e, :w]))
        return out

    def _subject_shortlists(
        self,
        checked: list[dict[int, F32]],
        flat: list[tuple[int, int, F32]],
        codes: F32,
        k: int,
    ) -> list[list[int]]:
        """Slots to re-rank per query: one subject-index search, then the ambiguous head."""
        assert self._subjects is not None and self._vectors_file is not None
        if not flat:
            return [[] for _ in checked]
        positions = np.array([p for _, p, _ in flat], dtype=np.int64)
        owners = np.array([qi for qi, _, _ in flat], dtype=np.int64)
        vectors = self._subject_vectors(codes, positions, owners, len(checked))
        scores, slots = self._subjects.search(
            vectors, max(k, self.subject_shortlist), self._vectors_file.read
        )
        if not scores.shape[1]:
            return [[] for _ in checked]
        # The ambiguous head: within `margin` of the way from the best score to the last one.
        cut = scores[:, :1] - self.margin * (scores[:, :1] - scores[:, -1:])
        ambiguous = np.count_nonzero(scores >= cut, axis=1)
        take = np.maximum(k, np.minimum(ambiguous, self.rerank))
        return [
            [s for s in row[:n] if s >= 0] if q else []
            for q, row, n in zip(checked, slots.tolist(), take.tolist(), strict=True)
        ]

    def _position_shortlists(
        self,
        checked: list[dict[int, F32]],
        flat: list[tuple[int, int, F32]],
        codes: F32,
        k: int,
    ) -> list[list[int]]:
        """Slots to re-rank per query: per-position shortlists fused by the sum rule."""
        per_query: list[dict[int, dict[str, float]]] = [{} for _ in checked]
        for pos in POSITIONS:
            rows = [i for i, (_, p, _) in enumerate(flat) if p == pos]
            if not rows or not len(self._positions[pos]):
                continue
            scores, fingers = self._positions[pos].search(
                codes[rows], self.shortlist, self._codes_file.read
            )
            for i, srow, frow in zip(rows, scores.tolist(), fingers.tolist(), strict=True):
                per_query[flat[i][0]][pos] = {
                    str(self._ref_at[self._finger_slot[f]]): s
                    for s, f in zip(srow, frow, strict=True)
                    if f >= 0
                }
        return [
            [self._slot_of[ref] for ref, _ in ranked(sum_rule(scores))[: max(k, self.rerank)]]
            for scores in per_query
        ]

    def search_latent(
        self,
        minutiae: npt.ArrayLike,
        k: int = 10,
        positions: Iterable[int] | None = None,
        threshold: float | None = None,
        scorer: PairScorer = pairing_scores,
    ) -> list[FingerCandidate]:
        """A single mark against every position (or `positions`), best first by `scorer`."""
        mark = check_minutiae(minutiae)
        code = _encode([mark])
        wanted = POSITIONS if positions is None else tuple(_check_position(p) for p in positions)
        pool: list[tuple[float, str, int, int]] = []
        with self._lock.read():
            for pos in wanted:
                if len(self._positions[pos]):
                    scores, fingers = self._positions[pos].search(
                        code, self.shortlist, self._codes_file.read
                    )
                    for s, f in zip(scores[0].tolist(), fingers[0].tolist(), strict=True):
                        if f >= 0:
                            ref = str(self._ref_at[self._finger_slot[f]])
                            pool.append((s, ref, pos, f))
            pool.sort(key=lambda t: (-t[0], t[1], t[2]))
            chosen = pool[: max(k, self.latent_rerank)]
            held = self._read_minutiae([f for *_, f in chosen])
        scores_ = scorer([(mark, m) for _, m in held])
        out = [
            FingerCandidate(ref, pos, float(sc))
            for (_, ref, pos, _), sc in zip(chosen, scores_, strict=True)
        ]
        out.sort(key=lambda c: (-c.score, c.reference, c.position))
        if threshold is not None:
            out = [c for c in out if c.score >= threshold]
        return out[:k]

    # -- persistence ---------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str], version: str | None = None) -> None:
        """Write the gallery into `directory` (created); the JSON file is written last. Into
        the gallery's own directory only the indexes and tables are written; elsewhere the
        row files are copied too."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        stamp = self.version if version is None else version
        own = target.resolve() == self._dir.resolve()
        with self._lock.read():
            files = [self._minutiae_file, self._codes_file]
            if self._vectors_file is not None:
                files.append(self._vectors_file)
            if not own:
                for f in files:
                    f.copy_to(target / f.path.name)
            for pos, gallery in self._positions.items():
                part = target / f"position{pos:02d}.faiss.part"
                gallery.save(part)
                part.replace(target / f"position{pos:02d}.faiss")
            if self._subjects is not None and self._reduction is not None:
                self._subjects.save(target / "subjects", version=stamp)
                np.savez(
                    target / "reduction.npz",
                    mean=self._reduction.mean,
                    basis=self._reduction.basis,
                )
            slots, fingers = len(self._ref_at), self._codes_file.rows
            with (target / "tables.npz.part").open("wb") as fh:
                np.savez(
                    fh,
                    finger_of=self._finger_of[:slots],
                    finger_slot=self._finger_slot[:fingers],
                    m_start=self._m_start[:fingers],
                    m_count=self._m_count[:fingers],
                    m_cols=self._m_cols[:fingers],
                )
            (target / "tables.npz.part").replace(target / "tables.npz")
            meta = {
                "format": FORMAT,
                "version": stamp,
                "store_id": self._store_id.hex(),
                "rows": {f.path.name: f.rows for f in files},
                "index": self._index,
                "params": self._params,
                "shortlist": self.shortlist,
                "rerank": self.rerank,
                "latent_rerank": self.latent_rerank,
                "subject_index": self._subject_index,
                "k_factor": self.k_factor,
                "subject_shortlist": self.subject_shortlist,
                "margin": self.margin,
                "reduced_dim": self.reduced_dim,
                "fit_from": self.fit_from,
                "fitted": self._subjects is not None,
                "references": self._ref_at,
                "threshold": None if self.threshold is None else self.threshold.to_dict(),
                "latent_threshold": None
                if self.latent_threshold is None
                else self.latent_threshold.to_dict(),
            }
        part = target / "gallery.json.part"
        part.write_text(json.dumps(meta))
        part.replace(target / "gallery.json")
        self.version = stamp
        if own:
            self._snapshot = True

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        expected_version: str | None = None,
        mmap: bool = False,
    ) -> FingerprintGallery:
        """The gallery saved in `directory`, which it then lives in (its store stays there);
        `mmap=True`: read-only. `StaleIndexError` for another stamp or files that disagree."""
        target = Path(directory)
        try:
            meta = json.loads((target / "gallery.json").read_text())
        except (OSError, ValueError) as exc:
            raise StaleIndexError(str(target), "unreadable", expected_version or "?") from exc
        if meta.get("format") != FORMAT:
            raise StaleIndexError(str(target), str(meta.get("format")), FORMAT)
        if expected_version is not None and meta["version"] != expected_version:
            raise StaleIndexError(str(target), str(meta["version"]), expected_version)
        g = cls.__new__(cls)
        try:
            g._load(target, meta)
        except (OSError, ValueError, KeyError) as exc:
            raise StaleIndexError(str(target), f"unreadable: {exc}", meta["version"]) from exc
        g._read_only = mmap
        return g

    def _load(self, target: Path, meta: dict[str, object]) -> None:
        keys_ = (
            "subject_index",
            "k_factor",
            "subject_shortlist",
            "margin",
            "reduced_dim",
            "fit_from",
            "latent_rerank",
        )
        self._configure(
            str(meta["index"]),
            str(meta["params"]),
            str(meta["version"]),
            *(meta[key] for key in ("shortlist", "rerank", *keys_)),  # type: ignore[arg-type]
        )
        self._dir = target
        self._vectors_file = None
        store_id = bytes.fromhex(str(meta["store_id"]))
        rows: dict[str, int] = meta["rows"]  # type: ignore[assignment]
        self._store_id = store_id
        self._minutiae_file = RowFile.open(
            target / "minutiae.f32", MINUTIA_COLUMNS, store_id, rows["minutiae.f32"]
        )
        self._codes_file = RowFile.open(target / "codes.f32", DIM, store_id, rows["codes.f32"])
        with np.load(target / "tables.npz") as t:
            self._finger_of = t["finger_of"].astype(np.int32)
            self._finger_slot = t["finger_slot"].astype(np.int32)
            self._m_start = t["m_start"].astype(np.int64)
            self._m_count = t["m_count"].astype(np.uint16)
            self._m_cols = t["m_cols"].astype(np.uint8)
        self._ref_at = list(meta["references"])  # type: ignore[call-overload]
        self._slot_of = {r: i for i, r in enumerate(self._ref_at) if r is not None}
        for pos in POSITIONS:
            self._positions[pos] = PositionShortlist.load(
                target / f"position{pos:02d}.faiss", DIM, self._index, self.k_factor
            )
        if meta.get("fitted"):
            with np.load(target / "reduction.npz") as data:
                self._reduction = Reduction(data["mean"], data["basis"])
            self._subjects = SubjectShortlist.load(target / "subjects", str(meta["version"]))
            self._vectors_file = RowFile.open(
                target / "vectors.f32", 10 * self.reduced_dim, store_id, rows["vectors.f32"]
            )
        live_fingers = int(np.count_nonzero(self._finger_of >= 0))
        if (
            len(self._finger_of) != len(self._ref_at)
            or len(self._finger_slot) != self._codes_file.rows
            or len(self._m_start) != self._codes_file.rows
            or sum(len(p) for p in self._positions.values()) != live_fingers
            or (self._subjects is not None and len(self._subjects) != len(self._slot_of))
            or (self._vectors_file is not None and self._vectors_file.rows != len(self._ref_at))
        ):
            raise StaleIndexError(str(target), "indexes, tables and store disagree", self.version)
        if meta["threshold"] is not None:
            self.threshold = Threshold.from_dict(meta["threshold"])  # type: ignore[arg-type]
        if meta["latent_threshold"] is not None:
            self.latent_threshold = Threshold.from_dict(meta["latent_threshold"])  # type: ignore[arg-type]
        self._snapshot = True
