"""Fingerprint gallery: FAISS shortlist per finger position, minutiae re-ranking, fusion.

Pipeline of a ten-print search (Prüm TP/TP; DESIGN.md §4 "fingerprint galleries follow the
same shape, taking minutiae per finger position"):

1. encode each query finger into a fixed-length vector (`matchers.minutiae_encoding`, spectral
   minutiae with a line DFT, Xu & Veldhuis);
2. per finger position (ANSI/NIST codes 1-10), a FAISS gallery (`VectorGallery`, the factory
   string as data) returns a shortlist of `shortlist` subjects with their correlation scores;
3. the sum rule fuses those scores per subject (`matchers.fusion`);
4. the best `rerank` subjects are compared finger by finger with the minutiae pairing score
   (`matchers.minutiae_pairing`, Hough alignment then pairing) and ranked by its mean over the
   query's fingers, a score in [0, 1].

A latent (single-finger, unknown position) search encodes the mark once, searches every
position (or those given), and re-ranks the best (subject, position) pairs by pairing score.

Minutiae arrays are (n, 3..5) float arrays, columns x, y (pixels at 500 ppi), angle in
degrees, type, quality, as in ANSI/NIST-ITL Type-9; no `exchange` types (DESIGN.md §2).
Persistence: a directory with one index per position, the minutiae, and a JSON file with the
version stamp and thresholds; `load` with another expected stamp raises `StaleIndexError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from matchers.errors import StaleIndexError, TemplateError, UnknownReferenceError
from matchers.fusion import ranked, sum_rule
from matchers.minutiae_encoding import DIM, check_minutiae, encode
from matchers.minutiae_pairing import pairing_scores
from matchers.rwlock import ReadWriteLock
from matchers.thresholds import Threshold
from matchers.vector_gallery import Candidate, VectorGallery

POSITIONS = tuple(range(1, 11))
FORMAT = "prum-exchange/fingerprint-gallery/1"
_PAIR_BATCH = 64  # minutiae comparisons per vectorised pairing call

F32 = npt.NDArray[np.float32]
Fingers = Mapping[int, npt.ArrayLike]


@dataclass(frozen=True, slots=True)
class FingerCandidate:
    """A latent search candidate: which subject, which finger, how similar."""

    reference: str
    position: int
    score: float


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
    ) -> None:
        self.version = version
        self.shortlist = shortlist
        self.rerank = rerank
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
        codes = encode([m for _, _, m in flat])
        with self._lock.write():
            for ref in references:
                if ref in self._minutiae:
                    self._drop(ref)
            for pos in POSITIONS:
                rows = [i for i, (_, p, _) in enumerate(flat) if p == pos]
                if rows:
                    self._positions[pos].add([flat[i][0] for i in rows], codes[rows])
            for ref, fs in zip(references, checked, strict=True):
                self._minutiae[ref] = fs

    def reindex(self, index: str, params: str = "") -> None:
        """Rebuild every position index under another factory string from the held codes."""
        with self._lock.write():
            for gallery in self._positions.values():
                if len(gallery):
                    gallery.reindex(index, params)
                else:
                    gallery._spec, gallery._factory, gallery._params = index, index, params
            self._index, self._params = index, params

    def remove(self, reference: str) -> None:
        """Erase a subject: its codes leave every position index and its minutiae are dropped."""
        with self._lock.write():
            if reference not in self._minutiae:
                raise UnknownReferenceError(f"no fingerprints under reference {reference!r}")
            self._drop(reference)

    def _drop(self, reference: str) -> None:
        for pos in self._minutiae.pop(reference):
            self._positions[pos].remove([reference])

    # -- reads ---------------------------------------------------------------------------

    def search(
        self, queries: Sequence[Fingers], k: int = 1, threshold: float | None = None
    ) -> list[list[Candidate]]:
        """Ten-print searches, one candidate list per query, best first (mean pairing score)."""
        checked = [
            {_check_position(int(p)): check_minutiae(m) for p, m in q.items()} for q in queries
        ]
        flat = [(qi, p, m) for qi, q in enumerate(checked) for p, m in q.items()]
        codes = encode([m for _, _, m in flat]) if flat else np.zeros((0, DIM), np.float32)
        per_query: list[dict[int, dict[str, float]]] = [{} for _ in checked]
        with self._lock.read():
            for pos in POSITIONS:
                rows = [i for i, (_, p, _) in enumerate(flat) if p == pos]
                if not rows or not len(self._positions[pos]):
                    continue
                hits = self._positions[pos].search(codes[rows], self.shortlist)
                for i, cands in zip(rows, hits, strict=True):
                    per_query[flat[i][0]][pos] = {c.reference: c.score for c in cands}
            shortlists = [
                [ref for ref, _ in ranked(sum_rule(scores))[: max(k, self.rerank)]]
                for scores in per_query
            ]
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
            scores = pairing_scores(pairs[start : start + _PAIR_BATCH])
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

    def search_latent(
        self,
        minutiae: npt.ArrayLike,
        k: int = 10,
        positions: Iterable[int] | None = None,
        threshold: float | None = None,
    ) -> list[FingerCandidate]:
        """A single mark against every position (or `positions`), best first by pairing."""
        mark = check_minutiae(minutiae)
        code = encode([mark])
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
                for _, ref, pos in pool[: max(k, self.rerank * 4)]
                if (held := self._minutiae.get(ref, {}).get(pos)) is not None
            ]
        scores = pairing_scores([(mark, held) for _, _, held in chosen])
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
        g = cls(meta["index"], meta["params"], meta["version"], meta["shortlist"], meta["rerank"])
        for pos in POSITIONS:
            path = target / f"position{pos:02d}.index"
            if path.exists():
                g._positions[pos] = VectorGallery.load(path, meta["version"], mmap=mmap)
        with np.load(target / "minutiae.npz") as data:
            allm, offsets, positions = data["minutiae"], data["offsets"], data["positions"]
        for i, ref in enumerate(meta["references"]):
            g._minutiae.setdefault(ref, {})[int(positions[i])] = allm[offsets[i] : offsets[i + 1]]
        held = sum(len(v) for v in g._positions.values())
        if held != len(meta["references"]):
            raise StaleIndexError(str(target), "indexes and minutiae disagree", meta["version"])
        if meta["threshold"] is not None:
            g.threshold = Threshold.from_dict(meta["threshold"])
        if meta["latent_threshold"] is not None:
            g.latent_threshold = Threshold.from_dict(meta["latent_threshold"])
        return g
