"""The fingerprint gallery's shortlists: one vector per subject, and per finger position.

`SubjectShortlist`: each row is a subject's fused vector (`FingerprintGallery`: its fingers'
reduced codes side by side). A FAISS index built from a factory string (STYLE.md §4; by
default "PQ{d/4}x4fs",
4-bit product quantisation scanned with SIMD lookups, André, Kermarrec, Le Scouarnec, "Cache
locality is not enough: high-performance nearest neighbor search with product quantization
fast scan", VLDB 2015; FAISS wiki "Fast accumulation of PQ and AQ codes") returns `k_factor * k`
rows per query, which are re-scored exactly on the float32 vectors read (`read`, the gallery's
memory-mapped store, `matchers.fingerprint_store`) for those rows only, so the scores handed
back are exact inner products and only the codes are resident. Rows are keyed by the
gallery's subject slot (an int), not by reference: no per-subject Python objects here.

`PositionShortlist`: one finger position's full spectral codes, keyed by finger row, in a
FAISS index (by default 4-bit fast-scan PQ, two dimensions a sub-quantizer), whose
`k_factor * k` candidates are re-scored exactly on the full codes read from the store; it is
an exact "IDMap,Flat" until it holds `train_from` codes to train the PQ on.

The subject FAISS index holds rows by position (no id map). Removal deletes the rows here and
re-adds the remaining rows (read from the store) to the emptied index (`reset`; the trained
quantiser is kept): codes really
leave the index, and the fast-scan `remove_ids` of faiss 1.15 is avoided, since a vector added
after it lands on stale packed codes and is no longer found (reproduced with IndexPQFastScan
and IndexIVFPQFastScan: a removal, then an add, and the added vector's self-score drops from
0.68 to 0.15). A removal costs one encoding pass over the gallery (0.3 s at 100k rows).

The position index has an id map; after a removal the fast-scan packing slots are cleared
(`vector_gallery._clear_packed_tails`, the same faiss 1.15 defect).

Persistence: `save` writes the FAISS index and the row -> slot (or id) table; `load` checks
them against each other.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from matchers.errors import StaleIndexError, TemplateError
from matchers.index_spec import train_from
from matchers.vector_gallery import _clear_packed_tails

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
Read = Callable[[I64], F32]  # rows of the store by slot or finger id
TRAIN_SAMPLE = 20_000  # rows the quantiser is trained on, at most


class SubjectShortlist:
    """Subject vectors' codes in a FAISS index, keyed by slot (see the module docstring)."""

    def __init__(self, dim: int, factory: str, k_factor: int = 4) -> None:
        self.dim = dim
        self.factory = factory
        self.k_factor = k_factor
        self._slots = np.zeros(0, np.int64)  # row -> slot, the first `_n` in use
        self._n = 0
        self._index: Any = None

    def __len__(self) -> int:
        return self._n

    def memory_bytes(self) -> int:
        """Bytes of the serialised FAISS index and the row -> slot table."""
        held = int(self._slots[: self._n].nbytes)
        return held + (0 if self._index is None else int(faiss.serialize_index(self._index).nbytes))

    def add(self, slots: I64, vectors: F32) -> None:
        """Add rows for new slots. The first add trains the index."""
        if vectors.shape != (len(slots), self.dim):
            raise TemplateError(f"{len(slots)} slots for vectors {vectors.shape}")
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
        n = self._n
        if n + len(x) > len(self._slots):  # grow by doubling: appends stay cheap
            grown = np.zeros(max(2 * len(self._slots), n + len(x)), np.int64)
            grown[:n] = self._slots[:n]
            self._slots = grown
        self._slots[n : n + len(x)] = slots
        self._n = n + len(x)
        self._index.add(x)

    def remove(self, slots: I64, read: Read) -> None:
        """Delete rows; the index is emptied and given the remaining rows again (`read`)."""
        live = self._slots[: self._n]
        keep = live[~np.isin(live, slots)]
        self._slots, self._n = keep, len(keep)
        if self._index is not None:
            self._index.reset()
            for s in range(0, len(keep), 65_536):
                self._index.add(read(keep[s : s + 65_536]))

    def search(self, queries: F32, k: int, read: Read) -> tuple[F32, I64]:
        """Exact scores (nq, k') and slots of the best k' = min(k, len) rows per query."""
        n = self._n
        k = min(k, n)
        if k == 0 or self._index is None:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        x = np.ascontiguousarray(queries, dtype=np.float32)
        _, rows = self._index.search(x, min(n, k * self.k_factor))
        ok = rows >= 0
        slots = self._slots[np.where(ok, rows, 0)]
        uniq, inverse = np.unique(slots, return_inverse=True)
        vectors = read(uniq)[inverse.reshape(slots.shape)]
        exact = np.einsum("qkd,qd->qk", vectors, x)
        exact[~ok] = -np.inf
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        scores = np.take_along_axis(exact, order, axis=1)
        best = np.take_along_axis(slots, order, axis=1)
        best[~np.isfinite(scores)] = -1
        return scores, best

    def save(self, path: str | os.PathLike[str], version: str) -> None:
        target = Path(path)
        target.mkdir(parents=True, exist_ok=True)
        np.save(target / "slots.npy", self._slots[: self._n])
        if self._index is not None:
            faiss.write_index(self._index, str(target / "index.faiss"))
        meta = {
            "version": version,
            "dim": self.dim,
            "factory": self.factory,
            "k_factor": self.k_factor,
        }
        (target / "shortlist.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: str | os.PathLike[str], expected_version: str) -> SubjectShortlist:
        target = Path(path)
        try:
            meta = json.loads((target / "shortlist.json").read_text())
            slots = np.load(target / "slots.npy")
        except (OSError, ValueError) as exc:
            raise StaleIndexError(str(target), "unreadable", expected_version) from exc
        if meta["version"] != expected_version:
            raise StaleIndexError(str(target), str(meta["version"]), expected_version)
        out = cls(meta["dim"], meta["factory"], meta["k_factor"])
        out._slots, out._n = slots.astype(np.int64), len(slots)
        if (target / "index.faiss").exists():
            out._index = faiss.read_index(str(target / "index.faiss"))
        if out._index is not None and out._index.ntotal != out._n:
            raise StaleIndexError(str(target), "index and slots disagree", meta["version"])
        return out


class PositionShortlist:
    """One finger position's codes keyed by finger id (see the module docstring)."""

    def __init__(self, dim: int, factory: str, k_factor: int = 4) -> None:
        self.dim = dim
        self.factory = factory
        self.k_factor = k_factor
        self._index: Any = faiss.index_factory(dim, "IDMap,Flat", faiss.METRIC_INNER_PRODUCT)
        self._staged = factory != "Flat"

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def memory_bytes(self) -> int:
        return int(faiss.serialize_index(self._index).nbytes)

    def add(self, ids: I64, codes: F32, held: Callable[[], tuple[I64, F32]]) -> None:
        """Add codes under finger ids; at `train_from` codes the staged Flat is replaced by
        the factory's index, trained on every code held (`held`: ids and codes, the new
        ones included)."""
        self._index.add_with_ids(np.ascontiguousarray(codes, np.float32), ids)
        if self._staged and len(self) >= train_from(self.factory, self.dim):
            all_ids, all_codes = held()
            index = faiss.index_factory(
                self.dim, f"IDMap,{self.factory}", faiss.METRIC_INNER_PRODUCT
            )
            threads = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)  # PQ training: see SubjectShortlist.add
            try:
                rng = np.random.default_rng(0)
                rows = rng.choice(len(all_codes), min(len(all_codes), TRAIN_SAMPLE), replace=False)
                index.train(all_codes[np.sort(rows)])
            finally:
                faiss.omp_set_num_threads(threads)
            index.add_with_ids(all_codes, all_ids)
            self._index, self._staged = index, False

    def remove(self, ids: I64) -> None:
        self._index.remove_ids(np.asarray(ids, np.int64))
        _clear_packed_tails(self._index)

    def search(self, queries: F32, k: int, read: Read) -> tuple[F32, I64]:
        """Exact scores and finger ids of the best min(k, len) codes per query (-1: none)."""
        n = len(self)
        k = min(k, n)
        if k == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        x = np.ascontiguousarray(queries, dtype=np.float32)
        if not self._staged and self.factory == "Flat":
            scores, ids = self._index.search(x, k)
            return scores, ids
        _, ids = self._index.search(x, min(n, k * self.k_factor))
        ok = ids >= 0
        uniq, inverse = np.unique(np.where(ok, ids, ids[ok].min(initial=0)), return_inverse=True)
        codes = read(uniq)[inverse.reshape(ids.shape)]
        exact = np.einsum("qkd,qd->qk", codes, x)
        exact[~ok] = -np.inf
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        scores = np.take_along_axis(exact, order, axis=1)
        best = np.take_along_axis(ids, order, axis=1)
        best[~np.isfinite(scores)] = -1
        return scores, best

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, dim: int, factory: str, k_factor: int) -> PositionShortlist:
        out = cls(dim, factory, k_factor)
        try:
            out._index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise StaleIndexError(str(path), "unreadable", "a FAISS index") from exc
        _clear_packed_tails(out._index)
        inner: Any = faiss.downcast_index(out._index)  # the IDMap
        out._staged = factory != "Flat" and isinstance(
            faiss.downcast_index(inner.index), faiss.IndexFlat
        )
        return out
