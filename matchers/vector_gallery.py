"""A FAISS gallery of fixed-length templates: cosine search over L2-normalised float32 rows.

It backs the face gallery (`matchers.face`) and each finger position of the fingerprint
gallery (`matchers.fingerprint`), whose encodings are fixed-length vectors too (DESIGN.md §4).

Which index runs is a FAISS `index_factory` string held as data (STYLE.md §4; FAISS wiki, "The
index factory"), with optional search parameters in `ParameterSpace` syntax ("nprobe=32",
"efSearch=128") plus `k_factor` for a refined index; `matchers.index_spec` says what they mean
and refuses, at construction, strings FAISS cannot use. `index="auto"` picks by gallery size
(see `auto_index`): exact "Flat" while it is small, then an inverted file over 4-bit fast-scan
PQ codes whose shortlist is re-scored on 8-bit scalar-quantised codes once it passes
`AUTO_IVF_FROM` templates; a Flat gallery that grows past it is re-indexed from its own exact
vectors. An explicit index that must be trained is held the same way: exact "Flat" until the
gallery has `index_spec.train_from` templates to train it on, then re-indexed into it, so a
gallery enrolled one record at a time is not trained on its first few. A gallery too large to
hold as float32 is built streaming: `train(sample, expected=n)` trains the index on a sample,
then `add` fills it chunk by chunk (`bench match --streaming`).

Exact search runs on FAISS's BLAS path with larger blocks than its defaults (`BLAS_*` below):
its 1,024-row database block left a quarter of the sgemm rate unused at 100k templates.

References are mapped to int64 ids (IDMap2 for indexes without their own ids). `remove`
really removes: `remove_ids` deletes the codes; graph indexes that cannot remove (HNSW) are
rebuilt without them. `save` writes the index and a JSON sidecar carrying the version stamp of
the source of truth (for example the SQLite data version); `load` with a different expected
stamp raises `StaleIndexError` so the caller rebuilds from SQLite (DESIGN.md §5). `load(...,
mmap=True)` memory-maps the codes (faiss IO_FLAG_MMAP_IFC) and the gallery is read-only.
A readers-writer lock lets searches run concurrently and never beside a write.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import faiss
import numpy as np
import numpy.typing as npt

from matchers import index_spec
from matchers.errors import MatcherError, StaleIndexError, TemplateError, UnknownReferenceError
from matchers.index_spec import REFINE_SUFFIX, STAGING
from matchers.rwlock import ReadWriteLock
from matchers.thresholds import Threshold

AUTO_IVF_FROM = 200_000
KMEANS_ITERATIONS = 10
FORMAT = "prum-exchange/vector-gallery/1"

# FAISS's exact search: sgemm on (query block x database block) tiles, then a top-k pass over
# each tile. faiss 1.15 defaults to 4096 x 1024 tiles and to BLAS only from nq * d >= 128,000
# (250 queries at d = 512). Measured here (2 threads, d = 512, 2,000 queries, numpy sgemm of
# the same shapes run just before): 2048 x 16384 tiles at 100-105% of that sgemm at 100k and
# 1M templates, the default tiles at 75-90%; `bench match` then saw 72% at 100k and 95-108% at
# 1M. BLAS beats the one-query-at-a-time loop from about 16 queries (at 200k templates, 32
# queries: 0.34 s against 1.45 s). The tile buffer is 128 MiB of address space, touched only
# as far as the batch fills it.
BLAS_QUERY_BLOCK = 2048
BLAS_DATABASE_BLOCK = 16384
BLAS_FROM_QUERIES = 32


def _tune_exact_search() -> None:
    """Process-wide FAISS settings (faiss.cvar); FAISS compares nq * d with the threshold."""
    faiss.cvar.distance_compute_blas_query_bs = BLAS_QUERY_BLOCK
    faiss.cvar.distance_compute_blas_database_bs = BLAS_DATABASE_BLOCK
    faiss.cvar.distance_compute_blas_threshold = BLAS_FROM_QUERIES * 512


_tune_exact_search()


@dataclass(frozen=True, slots=True)
class Candidate:
    reference: str
    score: float


def auto_index(n: int, dim: int = 512) -> tuple[str, str]:
    """The default (factory string, search parameters) for a gallery of `n` templates."""
    if n < AUTO_IVF_FROM:
        return "Flat", ""
    return ivf_index(n, dim)


def ivf_index(n: int, dim: int = 512) -> tuple[str, str]:
    """An inverted file sized for `n` templates, about 2 sqrt(n) lists (a power of two), over
    4-bit fast-scan PQ codes of 16 dimensions per sub-quantizer, its shortlist of `k_factor` x
    k re-scored on SQ8 codes (`,Refine(SQ8)`, done here, see `_RefinedIndex`); nprobe = 3/32 of
    the lists, at least 96.

    What sets nprobe is the coarse quantizer, not the codes: a probe's mate must sit in one of
    the lists probed. On 1M realistic 512-d templates (`matchers.synthetic.face_templates`,
    2,000 mated probes) the mate's list ranked below 192 of 2,048 for all but 2 probes (below
    128: all but 6, below 256: all but 1); with 4,096 lists nprobe 256 was needed for the same
    2 misses, and the centroid search then cost more than the shorter scan saved. 4-bit PQ
    codes score coarsely (16 bytes for 512-d) but keep each mate within its probe's first 10
    candidates; SQ8 gives back scores within 0.006 of exact.

    Measured by `prum-exchange bench match --sizes 1000000` (2 threads, load average 2.2 on 2
    cores, exact search rank-1 100%): IVF2048,PQ32x4fs,Refine(SQ8) nprobe=192,k_factor=2,
    rank-1 99.90%, 5,879 searches/s batched, single-search p99 1.07 ms, 549 bytes per
    template (serialised), built in 49 s; nprobe 96: 99.50%, 8,796/s; nprobe 384: 100%,
    3,759/s. Isotropic random templates (the worst case): 99.80% at 6,035/s. At 100k
    (512 lists) nprobe 48 lost 5 of 2,000 mates and 96 none, hence the floor of 96.
    """
    nlist = 2 ** round(math.log2(2 * math.sqrt(n)))
    nprobe = min(nlist, max(96, nlist * 3 // 32))
    if dim % 16:
        return f"IVF{nlist},SQ8", f"nprobe={nprobe}"
    return f"IVF{nlist},PQ{dim // 16}x4fs,Refine(SQ8)", f"nprobe={nprobe},k_factor=2"


def normalise(templates: npt.ArrayLike, dim: int) -> npt.NDArray[np.float32]:
    """An (n, dim) C-contiguous float32 copy with unit rows; rejects bad shapes and NaNs."""
    x = np.array(templates, dtype=np.float32, order="C", copy=True)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != dim:
        raise TemplateError(f"templates must be (n, {dim}) float32, got shape {x.shape}")
    with np.errstate(over="ignore", under="ignore"):  # an overflow is refused just below
        norms = np.linalg.norm(x, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise TemplateError("templates must be finite and non-zero")
    x /= norms
    return x


class VectorGallery:
    """A 1:N gallery of vectors: add, remove, search, save and load (see the module docstring)."""

    def __init__(self, dim: int, index: str = "auto", params: str = "", version: str = "0") -> None:
        index_spec.check_factory(index, dim)
        index_spec.check_search(index, params, dim)
        self.dim = dim
        self.version = version
        self.threshold: Threshold | None = None
        self._spec = index  # what was asked for: a factory string or "auto"
        self._spec_params = params  # its search parameters ("" for auto)
        self._params = params  # those of the index in use (auto's; "" while staged on Flat)
        self._factory = "" if index == "auto" else index
        self._index: Any = None
        self._ref_of: dict[int, str] = {}
        self._id_of: dict[str, int] = {}
        self._next_id = 0
        self._read_only = False
        self._lock = ReadWriteLock()

    # -- description ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._id_of)

    def __contains__(self, reference: object) -> bool:
        return reference in self._id_of

    @property
    def factory(self) -> str:
        """The factory string in use ("" while an "auto" gallery is still empty)."""
        return self._factory

    @property
    def search_params(self) -> str:
        """The search parameters in use."""
        return self._params

    @property
    def spec(self) -> str:
        """The factory string asked for, or "auto"; `factory` differs while it is staged."""
        return self._spec

    @property
    def spec_params(self) -> str:
        """The search parameters asked for with `spec`."""
        return self._spec_params

    def memory_bytes(self) -> int:
        """Bytes the index holds for its codes and ids (serialised size), excluding mappings."""
        with self._lock.read():
            if self._index is None:
                return 0
            if isinstance(self._index, _RefinedIndex):
                return self._index.nbytes()
            return int(faiss.serialize_index(self._index).nbytes)

    # -- writes --------------------------------------------------------------------------

    def add(self, references: Sequence[str], templates: npt.ArrayLike) -> None:
        """Add templates (n, dim); a reference already held is replaced (update)."""
        x = normalise(templates, self.dim)
        if len(references) != x.shape[0]:
            raise TemplateError(f"{len(references)} references for {x.shape[0]} templates")
        if len(set(references)) != len(references):
            raise TemplateError("a reference is given twice in one batch")
        with self._lock.write():
            self._writable()
            stale = [self._id_of[r] for r in references if r in self._id_of]
            if stale:
                self._remove_ids(np.array(stale, dtype=np.int64))
                for r in references:
                    self._ref_of.pop(self._id_of.pop(r, -1), None)
            self._ensure_index(len(self._id_of) + x.shape[0], x)
            ids = np.arange(self._next_id, self._next_id + x.shape[0], dtype=np.int64)
            self._index.add_with_ids(x, ids)
            self._next_id += x.shape[0]
            for ref, i in zip(references, ids.tolist(), strict=True):
                self._id_of[ref] = i
                self._ref_of[i] = ref

    def train(self, sample: npt.ArrayLike, expected: int | None = None) -> None:
        """Build and train the index on `sample` (n, dim) without enrolling it: the streaming
        build. A gallery too large to hold as float32 (10M x 512 is 20 GB) is trained on a
        sample of its population, then filled by `add` chunk by chunk, each chunk encoded and
        dropped. The index is the one asked for (`auto`: the one `auto_index` picks for
        `expected` templates, default the sample's size), not staged on Flat: the sample
        stands in for the templates a staged gallery would have waited for."""
        x = normalise(sample, self.dim)
        with self._lock.write():
            self._writable()
            if self._id_of:
                raise MatcherError("train: the gallery already holds templates; use reindex")
            n = x.shape[0] if expected is None else expected
            if self._spec == "auto":
                factory, params = auto_index(n, self.dim)
            else:
                factory, params = self._spec, self._spec_params
            if x.shape[0] < index_spec.train_from(factory, self.dim):
                raise TemplateError(
                    f"{factory} needs {index_spec.train_from(factory, self.dim)} sample "
                    f"templates to train, got {x.shape[0]}"
                )
            index = self._new_index(factory)
            if not index.is_trained:
                _train(index, x, factory)
            self._index, self._factory, self._params = index, factory, params
            self._apply_params()

    def remove(self, references: Sequence[str]) -> None:
        """Erase templates: their codes leave the index now, not at some later compaction."""
        with self._lock.write():
            self._writable()
            missing = [r for r in references if r not in self._id_of]
            if missing:
                raise UnknownReferenceError(f"no template under {missing[0]!r}")
            ids = np.array([self._id_of.pop(r) for r in references], dtype=np.int64)
            for i in ids.tolist():
                del self._ref_of[i]
            self._remove_ids(ids)

    def reindex(self, index: str, params: str = "") -> None:
        """Rebuild under another factory string (or "auto") from the vectors the index holds,
        as if the gallery had been built with it: staged on Flat while too small to train it,
        and an empty gallery builds it at its first add."""
        index_spec.check_factory(index, self.dim)
        index_spec.check_search(index, params, self.dim)
        with self._lock.write():
            self._writable()
            self._spec, self._spec_params = index, params
            if not self._id_of:
                self._index, self._params = None, params
                self._factory = "" if index == "auto" else index
                return
            if index == "auto":
                factory, params = auto_index(len(self._id_of), self.dim)
            elif len(self._id_of) < index_spec.train_from(index, self.dim):
                factory, params = STAGING, ""
            else:
                factory = index
            self._rebuild(factory, params)

    # -- reads ---------------------------------------------------------------------------

    def search(
        self, templates: npt.ArrayLike, k: int, threshold: float | None = None
    ) -> list[list[Candidate]]:
        """Top-`k` candidates per query, best first, scores >= `threshold` when given."""
        x = normalise(templates, self.dim)
        with self._lock.read():
            if self._index is None or not self._id_of:
                return [[] for _ in range(x.shape[0])]
            scores, ids = self._index.search(x, min(k, len(self._id_of)))
            out: list[list[Candidate]] = []
            for row_s, row_i in zip(scores.tolist(), ids.tolist(), strict=True):
                out.append(
                    [
                        Candidate(ref, float(s))
                        for s, i in zip(row_s, row_i, strict=True)
                        if i >= 0
                        and (threshold is None or s >= threshold)
                        and (ref := self._ref_of.get(i)) is not None
                    ]
                )
            return out

    # -- persistence ---------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], version: str | None = None) -> None:
        """Write `path` (the FAISS index) and `path.meta.json`; atomically, via renames."""
        target = Path(path)
        with self._lock.read():
            if self._index is None:
                raise MatcherError("nothing to save: the gallery has never held a template")
            meta = {
                "format": FORMAT,
                "dim": self.dim,
                "version": self.version if version is None else version,
                "factory": self._factory,
                "params": self._params,
                "spec": self._spec,
                "spec_params": self._spec_params,
                "next_id": self._next_id,
                "ids": list(self._ref_of.keys()),
                "references": list(self._ref_of.values()),
                "threshold": None if self.threshold is None else self.threshold.to_dict(),
            }
            tmp_index = target.with_name(target.name + ".part")
            _write(self._index, tmp_index)
        tmp_meta = _meta_path(target).with_name(_meta_path(target).name + ".part")
        tmp_meta.write_text(json.dumps(meta))
        if isinstance(self._index, _RefinedIndex):
            _refine_path(tmp_index).replace(_refine_path(target))
        tmp_index.replace(target)
        tmp_meta.replace(_meta_path(target))
        if version is not None:
            self.version = version

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        expected_version: str | None = None,
        mmap: bool = False,
    ) -> Self:
        """Read a saved gallery; `StaleIndexError` if its stamp is not `expected_version`."""
        target = Path(path)
        try:
            meta = json.loads(_meta_path(target).read_text())
        except (OSError, ValueError) as exc:
            raise StaleIndexError(str(target), "unreadable", expected_version or "?") from exc
        if meta.get("format") != FORMAT:
            raise StaleIndexError(str(target), str(meta.get("format")), FORMAT)
        if expected_version is not None and meta["version"] != expected_version:
            raise StaleIndexError(str(target), str(meta["version"]), expected_version)
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
        index = _read(target, flags, meta["factory"], meta["dim"])
        if index.ntotal != len(meta["ids"]) or index.d != meta["dim"]:
            raise StaleIndexError(str(target), "index and metadata disagree", meta["version"])
        spec = meta["spec"]
        spec_params = meta.get("spec_params", "" if spec == "auto" else meta["params"])
        try:
            gallery = cls(meta["dim"], index=spec, params=spec_params, version=meta["version"])
        except index_spec.IndexSpecError as exc:  # saved by another FAISS, say: rebuild
            raise StaleIndexError(str(target), f"{spec!r}: {exc}", "a usable index") from exc
        gallery._factory, gallery._params = meta["factory"], meta["params"]
        gallery._index = index
        if not mmap:  # files written before the fast-scan fix may hold stale slots
            _clear_packed_tails(index)
        gallery._apply_params()
        gallery._next_id = int(meta["next_id"])
        gallery._ref_of = dict(zip(meta["ids"], meta["references"], strict=True))
        gallery._id_of = {r: i for i, r in gallery._ref_of.items()}
        gallery._read_only = mmap
        if meta["threshold"] is not None:
            gallery.threshold = Threshold.from_dict(meta["threshold"])
        return gallery

    # -- internals -----------------------------------------------------------------------

    def _writable(self) -> None:
        if self._read_only:
            raise MatcherError("this gallery is memory-mapped read-only; load it without mmap")

    def _new_index(self, factory: str) -> Any:
        base, refined = index_spec.split_refine(factory)
        if refined:
            return _RefinedIndex(self._new_index(base), self.dim)
        return faiss.index_factory(
            self.dim, index_spec.with_ids(factory), faiss.METRIC_INNER_PRODUCT
        )

    def _apply_params(self) -> None:
        faiss_params, k_factor = index_spec.split_search(self._params)
        if k_factor is not None and isinstance(self._index, _RefinedIndex):
            self._index.k_factor = k_factor
        target = self._index.base if isinstance(self._index, _RefinedIndex) else self._index
        index_spec.set_search(target, faiss_params)

    def _ensure_index(self, n_after: int, batch: npt.NDArray[np.float32]) -> None:
        staged = self._spec != "auto" and self._factory != self._spec
        if self._index is None:
            if self._spec == "auto":
                self._factory, self._params = auto_index(n_after, self.dim)
            elif n_after < index_spec.train_from(self._spec, self.dim):
                self._factory, self._params = STAGING, ""
            else:
                self._factory, self._params = self._spec, self._spec_params
            self._index = self._new_index(self._factory)
            if not self._index.is_trained:
                _train(self._index, batch, self._factory)
            self._apply_params()
        elif self._spec == "auto" and self._factory == "Flat" and n_after >= AUTO_IVF_FROM:
            factory, params = auto_index(n_after, self.dim)
            self._rebuild(factory, params, extra=batch)
        elif staged and n_after >= index_spec.train_from(self._spec, self.dim):
            self._rebuild(self._spec, self._spec_params, extra=batch)

    def _rebuild(
        self, factory: str, params: str, extra: npt.NDArray[np.float32] | None = None
    ) -> None:
        ids = np.array(list(self._ref_of.keys()), dtype=np.int64)
        vectors = self._vectors(ids)
        index = self._new_index(factory)
        if not index.is_trained:
            pool = vectors if extra is None else np.concatenate((vectors, extra))
            _train(index, pool, factory)
        if len(ids):
            index.add_with_ids(vectors, ids)
        self._index, self._factory, self._params = index, factory, params
        self._apply_params()

    def _vectors(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        if self._index is None or len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        source = self._index.refine if isinstance(self._index, _RefinedIndex) else self._index
        if hasattr(source, "make_direct_map"):
            hashtable = getattr(faiss, "DirectMap").Hashtable  # noqa: B009 (untyped in stubs)
            faiss.extract_index_ivf(source).set_direct_map_type(hashtable)
        return np.vstack([source.reconstruct(int(i)) for i in ids]).astype(np.float32)

    def _remove_ids(self, ids: npt.NDArray[np.int64]) -> None:
        if self._index is None or len(ids) == 0:
            return
        try:
            removed = self._index.remove_ids(ids)
        except RuntimeError:  # graph indexes: rebuild without the erased vectors
            self._rebuild(self._factory, self._params)
            return
        _clear_packed_tails(self._index)
        if removed != len(ids):
            raise MatcherError(f"index removed {removed} of {len(ids)} templates")


def _train(index: Any, x: npt.NDArray[np.float32], factory: str) -> None:
    """Train on a sample; k-means with 10 iterations (FAISS's own default is 25), which is
    what makes a 4096-list IVF trainable in minutes on two cores."""
    if "IVF" in factory:
        ivf_host = index.base if isinstance(index, _RefinedIndex) else index
        faiss.extract_index_ivf(ivf_host).cp.niter = KMEANS_ITERATIONS
    index.train(_training_sample(x, factory))


def _training_sample(x: npt.NDArray[np.float32], factory: str) -> npt.NDArray[np.float32]:
    """Up to 40 vectors per IVF list (FAISS warns below 39), the whole batch otherwise."""
    nlist = index_spec.nlist_of(factory)  # "IVF1024_HNSW32": 1024 lists, not 102432
    if x.shape[0] < nlist:
        raise TemplateError(
            f"{factory} needs at least {nlist} templates to train, got {x.shape[0]}"
        )
    cap = 40 * nlist if nlist > 1 else x.shape[0]
    if x.shape[0] <= cap:
        return x
    rng = np.random.default_rng(0)
    return x[np.sort(rng.choice(x.shape[0], cap, replace=False))]


def _clear_packed_tails(index: Any) -> None:
    """Zero the unused slots of the last 32-code block of every fast-scan list.

    faiss 1.15 fast-scan (4-bit PQ) codes are stored in blocks of 32, interleaved. Removing ids
    moves the last codes into the holes but leaves their old copies in the now unused slots,
    and adding packs new codes into those slots by OR-ing nibbles into what is there
    (`pq4_pack_codes_range` expects zeroed space), so every template added after an erasure
    got a garbled code: measured, 5 of 10 new templates no longer found themselves first.
    Called after each removal and on load, for IVF and flat fast-scan; a no-op otherwise.
    """
    if isinstance(index, _RefinedIndex):
        index = index.base
    zero = np.zeros(64 * 1024, dtype=np.uint8)  # bigger than any code
    try:
        ivf = faiss.extract_index_ivf(index)
    except RuntimeError:
        inner: Any = faiss.downcast_index(getattr(index, "index", index))  # IDMap2 inside
        if isinstance(inner, faiss.IndexFastScan):
            flat: Any = inner  # get_CodePacker is missing from the stubs
            _zero_slots(flat.get_CodePacker(), flat.codes.get(), int(flat.ntotal), zero)
        return
    lists: Any = faiss.downcast_InvertedLists(ivf.invlists)  # type: ignore[arg-type]
    if isinstance(lists, getattr(faiss, "BlockInvertedLists")):  # noqa: B009 (not in stubs)
        packer = ivf.get_CodePacker()
        for list_no in range(ivf.nlist):
            _zero_slots(packer, lists.get_codes(list_no), int(lists.list_size(list_no)), zero)


def _zero_slots(packer: Any, codes: Any, n: int, zero: npt.NDArray[np.uint8]) -> None:
    """Zero slots n.. of the block holding code n (packer.pack_1 writes whole nibbles)."""
    end = -(-n // int(packer.nvec)) * int(packer.nvec)
    for slot in range(n, end):
        packer.pack_1_c(faiss.swig_ptr(zero), slot, codes)


def _meta_path(index_path: Path) -> Path:
    return index_path.with_name(index_path.name + ".meta.json")


class _RefinedIndex:
    """A FAISS index whose shortlist is re-scored on SQ8 codes kept in a second index.

    FAISS's own IndexRefine cannot remove ids (faiss 1.15: "remove_ids not implemented"), and
    erasure must really remove, so the two halves live side by side here: the base index
    (IVF + fast-scan PQ, which can remove) returns `k * k_factor` ids, an IDMap2 + SQ8 index
    (which can remove and reconstruct) re-scores them by inner product.

    Re-scoring reads the SQ8 codes in place: `_sync` (after every change, under the gallery's
    write lock) keeps a view of the codes and an id -> row table, so a search gathers its
    candidates' rows, decodes them in one `sa_decode` call and takes one batched dot product,
    a quarter of the time of `reconstruct_batch` through the IDMap2 hash map at 1M templates.
    """

    CHUNK = 256  # queries re-scored at a time: their candidates' decoded rows stay in cache

    def __init__(self, base: Any, dim: int, refine: Any = None, k_factor: int = 2) -> None:
        self.base = base
        self.refine = (
            refine
            if refine is not None
            else faiss.index_factory(dim, "IDMap2,SQ8", faiss.METRIC_INNER_PRODUCT)
        )
        self.k_factor = k_factor
        self.d = dim
        self._codes: npt.NDArray[np.uint8] = np.zeros((0, 0), dtype=np.uint8)
        self._row_of: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._sync()

    @property
    def ntotal(self) -> int:
        return int(self.base.ntotal)

    @property
    def is_trained(self) -> bool:
        return bool(self.base.is_trained and self.refine.is_trained)

    def train(self, x: npt.NDArray[np.float32]) -> None:
        self.base.train(x)
        self.refine.train(x)

    def add_with_ids(self, x: npt.NDArray[np.float32], ids: npt.NDArray[np.int64]) -> None:
        first = int(self.refine.ntotal)
        self.base.add_with_ids(x, ids)
        self.refine.add_with_ids(x, ids)  # IDMap2 appends: the new rows follow the old ones
        top = int(ids.max()) + 1 if len(ids) else 0
        if top > len(self._row_of):  # grow geometrically: enrolling one by one stays O(1)
            grown = np.full(max(top, 2 * len(self._row_of)), -1, dtype=np.int64)
            grown[: len(self._row_of)] = self._row_of
            self._row_of = grown
        self._row_of[ids] = np.arange(first, first + len(ids), dtype=np.int64)
        self._view_codes()

    def remove_ids(self, ids: npt.NDArray[np.int64]) -> int:
        base: Any = self.base
        refine: Any = self.refine
        removed = int(base.remove_ids(ids))  # the gallery then calls _clear_packed_tails
        refine.remove_ids(ids)
        self._sync()
        return removed

    def _sync(self) -> None:
        """Rebuild the id -> row table from the IDMap2 (rows move up when ids are removed)."""
        refine: Any = self.refine
        ids = faiss.vector_to_array(refine.id_map).astype(np.int64)
        row_of = np.full(int(ids.max()) + 1 if len(ids) else 0, -1, dtype=np.int64)
        row_of[ids] = np.arange(len(ids), dtype=np.int64)
        self._row_of = row_of
        self._view_codes()

    def _view_codes(self) -> None:
        """A view of the SQ8 rows (also of a memory-mapped file); adding may move them."""
        refine: Any = self.refine
        sq: Any = faiss.downcast_index(refine.index)
        n, size = int(sq.ntotal), int(sq.code_size)
        self._sq = sq
        self._codes = (
            faiss.rev_swig_ptr(sq.codes.data(), n * size).reshape(n, size)
            if n
            else np.zeros((0, size), dtype=np.uint8)
        )

    def reconstruct(self, i: int) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = self.refine.reconstruct(i)
        return out

    def search(
        self, x: npt.NDArray[np.float32], k: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        _, cand = self.base.search(x, k * self.k_factor)
        top_s = np.empty((x.shape[0], k), dtype=np.float32)
        top_i = np.empty((x.shape[0], k), dtype=np.int64)
        for s in range(0, x.shape[0], self.CHUNK):
            c = cand[s : s + self.CHUNK]
            rows = self._row_of[np.maximum(c, 0)]
            vecs = self._sq.sa_decode(self._codes[rows.ravel()]).reshape(*c.shape, self.d)
            scores = np.matmul(vecs, x[s : s + self.CHUNK, :, None])[..., 0]
            scores[c < 0] = -np.inf
            order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            top_s[s : s + self.CHUNK] = np.take_along_axis(scores, order, axis=1)
            top_i[s : s + self.CHUNK] = np.take_along_axis(c, order, axis=1)
        top_i[~np.isfinite(top_s)] = -1
        return top_s, top_i

    def nbytes(self) -> int:
        return int(
            faiss.serialize_index(self.base).nbytes + faiss.serialize_index(self.refine).nbytes
        )


def _refine_path(path: Path) -> Path:
    return path.with_name(path.name + ".refine")


def _write(index: Any, path: Path) -> None:
    if isinstance(index, _RefinedIndex):
        faiss.write_index(index.base, str(path))
        faiss.write_index(index.refine, str(_refine_path(path)))
    else:
        faiss.write_index(index, str(path))


def _read(path: Path, flags: int, factory: str, dim: int) -> Any:
    base = faiss.read_index(str(path), flags)
    if factory.endswith(REFINE_SUFFIX):
        return _RefinedIndex(base, dim, faiss.read_index(str(_refine_path(path)), flags))
    return base
