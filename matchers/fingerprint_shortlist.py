"""The subject-level shortlist of the fingerprint gallery: one vector per subject, one search.

Each row is a subject's fused vector (`FingerprintGallery`: its fingers' reduced codes side by
side). A FAISS index built from a factory string (STYLE.md §4; by default "PQ{d/4}x4fs",
4-bit product quantisation scanned with SIMD lookups, André, Kermarrec, Le Scouarnec, "Cache
locality is not enough: high-performance nearest neighbor search with product quantization
fast scan", VLDB 2015; FAISS wiki "Fast accumulation of PQ and AQ codes") returns `k_factor * k`
rows per query, which are re-scored exactly on the float32 vectors held here, so the scores
handed back are exact inner products.

The FAISS index holds rows by position (no id map). Removal deletes the rows here and re-adds
the remaining rows to the emptied index (`reset`; the trained quantiser is kept): codes really
leave the index, and the fast-scan `remove_ids` of faiss 1.15 is avoided, since a vector added
after it lands on stale packed codes and is no longer found (reproduced with IndexPQFastScan
and IndexIVFPQFastScan: a removal, then an add, and the added vector's self-score drops from
0.68 to 0.15). A removal costs one encoding pass over the gallery (0.3 s at 100k rows).

Persistence: `save` writes the vectors (.npy), the FAISS index and a JSON list of references
with the version stamp; `load` checks them against each other.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from matchers.errors import StaleIndexError, TemplateError

F32 = npt.NDArray[np.float32]
TRAIN_SAMPLE = 20_000  # rows the quantiser is trained on, at most


class SubjectShortlist:
    """Rows of subject vectors with a FAISS index over them (see the module docstring)."""

    def __init__(self, dim: int, factory: str, k_factor: int = 4) -> None:
        self.dim = dim
        self.factory = factory
        self.k_factor = k_factor
        self._vectors = np.zeros((0, dim), np.float32)
        self._refs: list[str] = []
        self._row_of: dict[str, int] = {}
        self._index: Any = None

    def __len__(self) -> int:
        return len(self._refs)

    def __contains__(self, reference: object) -> bool:
        return reference in self._row_of

    def memory_bytes(self) -> int:
        """Bytes of the held vectors and the serialised FAISS index (not the reference map)."""
        held = int(self._vectors[: len(self)].nbytes)
        return held + (0 if self._index is None else int(faiss.serialize_index(self._index).nbytes))

    def add(self, references: Sequence[str], vectors: F32) -> None:
        """Add rows; a reference already held is replaced. The first add trains the index."""
        if vectors.shape != (len(references), self.dim):
            raise TemplateError(f"{len(references)} references for vectors {vectors.shape}")
        held = [r for r in references if r in self._row_of]
        if held:
            self.remove(held)
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        if self._index is None:
            self._index = faiss.index_factory(self.dim, self.factory, faiss.METRIC_INNER_PRODUCT)
            if not self._index.is_trained:
                rng = np.random.default_rng(0)
                rows = rng.choice(len(x), min(len(x), TRAIN_SAMPLE), replace=False)
                # One OpenMP thread: PQ training is thousands of tiny k-means steps, each an
                # OpenMP barrier; on a busy machine a second thread waits out a time slice at
                # each (measured 38 s against 2 s for 5,000 rows on two loaded cores).
                threads = faiss.omp_get_max_threads()
                faiss.omp_set_num_threads(1)
                try:
                    self._index.train(x[np.sort(rows)])
                finally:
                    faiss.omp_set_num_threads(threads)
        n = len(self._refs)
        if n + len(x) > len(self._vectors):  # grow by doubling: appends stay cheap
            grown = np.zeros((max(2 * len(self._vectors), n + len(x)), self.dim), np.float32)
            grown[:n] = self._vectors[:n]
            self._vectors = grown
        self._vectors[n : n + len(x)] = x
        for i, ref in enumerate(references):
            self._row_of[ref] = n + i
        self._refs.extend(references)
        self._index.add(x)

    def remove(self, references: Sequence[str]) -> None:
        """Delete rows; the index is emptied and given the remaining rows again."""
        gone = {self._row_of[r] for r in references}
        keep = np.array([i for i in range(len(self._refs)) if i not in gone], dtype=np.int64)
        self._vectors = np.ascontiguousarray(self._vectors[keep])
        self._refs = [self._refs[i] for i in keep.tolist()]
        self._row_of = {r: i for i, r in enumerate(self._refs)}
        if self._index is not None:
            self._index.reset()
            if len(self._refs):
                self._index.add(self._vectors)

    def search(self, queries: F32, k: int) -> tuple[F32, list[list[str]]]:
        """Exact scores (nq, k') and references of the best k' = min(k, len) rows per query."""
        n = len(self._refs)
        k = min(k, n)
        if k == 0 or self._index is None:
            return np.zeros((len(queries), 0), np.float32), [[] for _ in queries]
        x = np.ascontiguousarray(queries, dtype=np.float32)
        _, rows = self._index.search(x, min(n, k * self.k_factor))
        ok = rows >= 0
        exact = np.einsum("qkd,qd->qk", self._vectors[np.where(ok, rows, 0)], x)
        exact[~ok] = -np.inf
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        scores = np.take_along_axis(exact, order, axis=1)
        best = np.take_along_axis(rows, order, axis=1)
        refs = [
            [self._refs[r] for r, s in zip(row, srow, strict=True) if np.isfinite(s)]
            for row, srow in zip(best.tolist(), scores.tolist(), strict=True)
        ]
        return scores, refs

    def save(self, path: str | os.PathLike[str], version: str) -> None:
        target = Path(path)
        target.mkdir(parents=True, exist_ok=True)
        np.save(target / "vectors.npy", self._vectors[: len(self._refs)])
        if self._index is not None:
            faiss.write_index(self._index, str(target / "index.faiss"))
        meta = {
            "version": version,
            "dim": self.dim,
            "factory": self.factory,
            "k_factor": self.k_factor,
            "references": self._refs,
        }
        (target / "shortlist.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: str | os.PathLike[str], expected_version: str) -> SubjectShortlist:
        target = Path(path)
        meta = json.loads((target / "shortlist.json").read_text())
        if meta["version"] != expected_version:
            raise StaleIndexError(str(target), str(meta["version"]), expected_version)
        out = cls(meta["dim"], meta["factory"], meta["k_factor"])
        out._vectors = np.load(target / "vectors.npy")
        out._refs = list(meta["references"])
        out._row_of = {r: i for i, r in enumerate(out._refs)}
        if (target / "index.faiss").exists():
            out._index = faiss.read_index(str(target / "index.faiss"))
        if len(out._vectors) != len(out._refs) or (
            out._index is not None and out._index.ntotal != len(out._refs)
        ):
            raise StaleIndexError(
                str(target), "vectors, index and references disagree", meta["version"]
            )
        return out
