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

Minutiae arrays are (n, 3..5) float arrays, columns x, y (pixels at 500 ppi), angle in
degrees, type, quality, as in ANSI/NIST-ITL Type-9; no `exchange` types (DESIGN.md §2).
Persistence: a directory with one index per position, the subject index and the reduction
once fitted, the minutiae, and a JSON file with the version stamp and thresholds; `load` with
another expected stamp raises `StaleIndexError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from matchers.errors import MatcherError, StaleIndexError, TemplateError, UnknownReferenceError
from matchers.fingerprint_shortlist import SubjectShortlist
from matchers.fusion import ranked, sum_rule
from matchers.minutiae_encoding import DIM, Reduction, check_minutiae, core_view, encode_checked
from matchers.minutiae_pairing import pairing_scores
from matchers.rwlock import ReadWriteLock
from matchers.thresholds import Threshold
from matchers.vector_gallery import Candidate, VectorGallery

POSITIONS = tuple(range(1, 11))
FORMAT = "prum-exchange/fingerprint-gallery/1"
_PAIR_BATCH = 64  # minutiae comparisons per vectorised pairing call
FIT_FROM = 2000  # subjects held before the reduction is learned and the subject index built
FIT_SAMPLE = 20_000  # subjects the reduction is learned from, at most
REDUCED_DIM = 32  # PCA components kept per finger position
SUBJECT_INDEX = "auto"  # "PQ{10 d / 4}x4fs": 4-bit fast-scan PQ, 4 dimensions per half-byte

F32 = npt.NDArray[np.float32]
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


class FingerprintGallery:
    """Ten-print and latent 1:N search over minutiae (see the module docstring)."""

    def __init__(
        self,
        index: str = "Flat",
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
    ) -> None:
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
        self._subjects: SubjectShortlist | None = None  # fused subject vectors, once fitted
        self.threshold: Threshold | None = None  # ten-print, mean pairing score
        self.latent_threshold: Threshold | None = None  # single finger pairing score
        self._index = index
        self._params = params
        self._positions = {p: VectorGallery(DIM, index, params, version) for p in POSITIONS}
        self._minutiae: dict[str, dict[int, F32]] = {}
        self._lock = ReadWriteLock()

    def __len__(self) -> int:
        return len(self._minutiae)

    def __contains__(self, reference: object) -> bool:
        return reference in self._minutiae

    def memory_bytes(self) -> dict[str, int]:
        """Bytes held: the position indexes (serialised), the subject index (vectors and
        codes) and the minutiae arrays; Python object overhead is not counted."""
        with self._lock.read():
            return {
                "positions": sum(g.memory_bytes() for g in self._positions.values()),
                "subjects": 0 if self._subjects is None else self._subjects.memory_bytes(),
                "minutiae": sum(m.nbytes for fs in self._minutiae.values() for m in fs.values()),
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
        flat = [(r, p, m) for r, fs in zip(references, checked, strict=True) for p, m in fs.items()]
        codes = _encode([m for _, _, m in flat])
        positions = np.array([p for _, p, _ in flat], dtype=np.int64)
        owners = np.repeat(np.arange(len(checked)), [len(fs) for fs in checked])
        with self._lock.write():
            for ref in references:
                if ref in self._minutiae:
                    self._drop(ref, subjects=False)  # the subject index replaces in `add`
            for pos in POSITIONS:
                rows = [i for i, (_, p, _) in enumerate(flat) if p == pos]
                if rows:
                    self._positions[pos].add([flat[i][0] for i in rows], codes[rows])
            for ref, fs in zip(references, checked, strict=True):
                self._minutiae[ref] = fs
            if self._subjects is not None:
                vectors = self._subject_vectors(codes, positions, owners, len(references))
                self._subjects.add(list(references), vectors)
            elif len(self._minutiae) >= self.fit_from:
                self._fit(list(references), codes, positions, owners)

    def _fit(
        self,
        references: list[str],
        codes: F32,
        positions: npt.NDArray[np.int64],
        owners: npt.NDArray[np.int64],
    ) -> None:
        """Learn the reduction from the held codes (those of the batch being added, the others
        encoded again from their minutiae) and build the subject index over every subject."""
        batch = set(references)
        others = [r for r in self._minutiae if r not in batch]
        if others:
            sets = [self._minutiae[r] for r in others]
            codes = np.concatenate((codes, _encode([m for fs in sets for m in fs.values()])))
            positions = np.concatenate(
                (positions, np.array([p for fs in sets for p in fs], dtype=np.int64))
            )
            more = np.repeat(np.arange(len(sets)), [len(fs) for fs in sets]) + len(references)
            owners = np.concatenate((owners, more))
            references = references + others
        rng = np.random.default_rng(0)
        n = len(references)
        sample = np.isin(owners, rng.choice(n, min(n, FIT_SAMPLE), replace=False))
        self._reduction = Reduction.fit(codes[sample], positions[sample], self.reduced_dim)
        subjects = SubjectShortlist(10 * self.reduced_dim, self._subject_index, self.k_factor)
        subjects.add(references, self._subject_vectors(codes, positions, owners, n))
        self._subjects = subjects

    def _subject_vectors(
        self,
        codes: F32,
        positions: npt.NDArray[np.int64],
        owners: npt.NDArray[np.int64],
        n: int,
    ) -> F32:
        """One row per subject: its fingers' reduced unit codes side by side, by position."""
        assert self._reduction is not None
        d = self._reduction.dim
        out = np.zeros((n, 10, d), np.float32)
        out[owners, positions - 1] = self._reduction.apply(codes, positions)
        return out.reshape(n, 10 * d)

    def reindex(self, index: str, params: str = "") -> None:
        """Rebuild every position index under another factory string from the held codes."""
        with self._lock.write():
            for gallery in self._positions.values():
                gallery.reindex(index, params)  # an empty one builds it at its first add
            self._index, self._params = index, params

    def remove(self, reference: str) -> None:
        """Erase a subject: its codes leave every position index and its minutiae are dropped."""
        with self._lock.write():
            if reference not in self._minutiae:
                raise UnknownReferenceError(f"no fingerprints under reference {reference!r}")
            self._drop(reference)

    def _drop(self, reference: str, subjects: bool = True) -> None:
        for pos in self._minutiae.pop(reference):
            self._positions[pos].remove([reference])
        if subjects and self._subjects is not None:
            self._subjects.remove([reference])

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

        `method`: "subjects" (the subject index), "positions" (per-position exact shortlists,
        the reference path) or "auto" (the subject index once fitted). `scorer`: the
        re-ranking score per finger pair (the minutiae pairing; Bozorth3 for minutiae
        extracted from images, `matchers.fingerprint_image.bozorth_scores`)."""
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
            pairs: list[tuple[F32, F32]] = []
            owners: list[tuple[int, str]] = []
            for qi, (q, refs) in enumerate(zip(checked, shortlists, strict=True)):
                for ref in refs:
                    held = self._minutiae.get(ref, {})
                    for p, m in q.items():
                        if p in held:
                            pairs.append((m, held[p]))
                            owners.append((qi, ref))
        totals: dict[tuple[int, str], float] = {}
        for start in range(0, len(pairs), _PAIR_BATCH):
            scores = scorer(pairs[start : start + _PAIR_BATCH])
            for owner, score in zip(owners[start : start + _PAIR_BATCH], scores, strict=True):
                totals[owner] = totals.get(owner, 0.0) + float(score)
        out: list[list[Candidate]] = []
        for qi, (q, refs) in enumerate(zip(checked, shortlists, strict=True)):
            cands = [Candidate(ref, totals.get((qi, ref), 0.0) / len(q)) for ref in refs]
            cands.sort(key=lambda c: (-c.score, c.reference))
            if threshold is not None:
                cands = [c for c in cands if c.score >= threshold]
            out.append(cands[:k])
        return out

    def _subject_shortlists(
        self,
        checked: list[dict[int, F32]],
        flat: list[tuple[int, int, F32]],
        codes: F32,
        k: int,
    ) -> list[list[str]]:
        """Subjects to re-rank per query: one subject-index search, then the ambiguous head."""
        assert self._subjects is not None
        if not flat:
            return [[] for _ in checked]
        positions = np.array([p for _, p, _ in flat], dtype=np.int64)
        owners = np.array([qi for qi, _, _ in flat], dtype=np.int64)
        vectors = self._subject_vectors(codes, positions, owners, len(checked))
        scores, refs = self._subjects.search(vectors, max(k, self.subject_shortlist))
        if not scores.shape[1]:
            return [[] for _ in checked]
        # The ambiguous head: within `margin` of the way from the best score to the last one.
        cut = scores[:, :1] - self.margin * (scores[:, :1] - scores[:, -1:])
        ambiguous = np.count_nonzero(scores >= cut, axis=1)
        take = np.maximum(k, np.minimum(ambiguous, self.rerank))
        return [r[:n] if q else [] for q, r, n in zip(checked, refs, take.tolist(), strict=True)]

    def _position_shortlists(
        self,
        checked: list[dict[int, F32]],
        flat: list[tuple[int, int, F32]],
        codes: F32,
        k: int,
    ) -> list[list[str]]:
        """Subjects to re-rank per query: per-position shortlists fused by the sum rule."""
        per_query: list[dict[int, dict[str, float]]] = [{} for _ in checked]
        for pos in POSITIONS:
            rows = [i for i, (_, p, _) in enumerate(flat) if p == pos]
            if not rows or not len(self._positions[pos]):
                continue
            hits = self._positions[pos].search(codes[rows], self.shortlist)
            for i, cands in zip(rows, hits, strict=True):
                per_query[flat[i][0]][pos] = {c.reference: c.score for c in cands}
        return [
            [ref for ref, _ in ranked(sum_rule(scores))[: max(k, self.rerank)]]
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
        pool: list[tuple[float, str, int]] = []
        with self._lock.read():
            for pos in wanted:
                if len(self._positions[pos]):
                    for c in self._positions[pos].search(code, self.shortlist)[0]:
                        pool.append((c.score, c.reference, pos))
            pool.sort(key=lambda t: (-t[0], t[1], t[2]))
            chosen = [
                (ref, pos, held)
                for _, ref, pos in pool[: max(k, self.latent_rerank)]
                if (held := self._minutiae.get(ref, {}).get(pos)) is not None
            ]
        scores = scorer([(mark, held) for _, _, held in chosen])
        out = [
            FingerCandidate(ref, pos, float(sc))
            for (ref, pos, _), sc in zip(chosen, scores, strict=True)
        ]
        out.sort(key=lambda c: (-c.score, c.reference, c.position))
        if threshold is not None:
            out = [c for c in out if c.score >= threshold]
        return out[:k]

    # -- persistence ---------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str], version: str | None = None) -> None:
        """Write the gallery into `directory` (created); the JSON file is written last."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        stamp = self.version if version is None else version
        with self._lock.read():
            for pos, gallery in self._positions.items():
                if len(gallery):
                    gallery.save(target / f"position{pos:02d}.index", version=stamp)
            refs, pos_col, offsets, arrays = [], [], [0], []
            for ref, fs in self._minutiae.items():
                for pos, m in fs.items():
                    refs.append(ref)
                    pos_col.append(pos)
                    arrays.append(m)
                    offsets.append(offsets[-1] + len(m))
            if self._subjects is not None and self._reduction is not None:
                self._subjects.save(target / "subjects", version=stamp)
                np.savez(
                    target / "reduction.npz",
                    mean=self._reduction.mean,
                    basis=self._reduction.basis,
                )
            np.savez(
                target / "minutiae.npz",
                minutiae=np.concatenate(arrays) if arrays else np.zeros((0, 5), np.float32),
                offsets=np.array(offsets, dtype=np.int64),
                positions=np.array(pos_col, dtype=np.int8),
            )
            meta = {
                "format": FORMAT,
                "version": stamp,
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
                "references": refs,
                "threshold": None if self.threshold is None else self.threshold.to_dict(),
                "latent_threshold": None
                if self.latent_threshold is None
                else self.latent_threshold.to_dict(),
            }
        part = target / "gallery.json.part"
        part.write_text(json.dumps(meta))
        part.replace(target / "gallery.json")
        self.version = stamp

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        expected_version: str | None = None,
        mmap: bool = False,
    ) -> FingerprintGallery:
        target = Path(directory)
        try:
            meta = json.loads((target / "gallery.json").read_text())
        except (OSError, ValueError) as exc:
            raise StaleIndexError(str(target), "unreadable", expected_version or "?") from exc
        if meta.get("format") != FORMAT:
            raise StaleIndexError(str(target), str(meta.get("format")), FORMAT)
        if expected_version is not None and meta["version"] != expected_version:
            raise StaleIndexError(str(target), str(meta["version"]), expected_version)
        g = cls(
            meta["index"],
            meta["params"],
            meta["version"],
            meta["shortlist"],
            meta["rerank"],
            **{
                key: meta[key]
                for key in (
                    "subject_index",
                    "k_factor",
                    "subject_shortlist",
                    "margin",
                    "latent_rerank",
                    "reduced_dim",
                    "fit_from",
                )
                if key in meta
            },
        )
        for pos in POSITIONS:
            path = target / f"position{pos:02d}.index"
            if path.exists():
                g._positions[pos] = VectorGallery.load(path, meta["version"], mmap=mmap)
        if meta.get("fitted"):
            with np.load(target / "reduction.npz") as data:
                g._reduction = Reduction(data["mean"], data["basis"])
            g._subjects = SubjectShortlist.load(target / "subjects", meta["version"])
        with np.load(target / "minutiae.npz") as data:
            allm, offsets, positions = data["minutiae"], data["offsets"], data["positions"]
        for i, ref in enumerate(meta["references"]):
            g._minutiae.setdefault(ref, {})[int(positions[i])] = allm[offsets[i] : offsets[i + 1]]
        held = sum(len(v) for v in g._positions.values())
        if held != len(meta["references"]) or (
            g._subjects is not None and len(g._subjects) != len(g._minutiae)
        ):
            raise StaleIndexError(str(target), "indexes and minutiae disagree", meta["version"])
        if meta["threshold"] is not None:
            g.threshold = Threshold.from_dict(meta["threshold"])
        if meta["latent_threshold"] is not None:
            g.latent_threshold = Threshold.from_dict(meta["latent_threshold"])
        return g
