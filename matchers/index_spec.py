"""What a gallery's index strings mean, and whether FAISS can use them (STYLE.md §4).

A vector gallery is described by two strings held as data: a FAISS `index_factory` string
("Flat", "HNSW32", "IVF1024,Flat", ... or "auto"; FAISS wiki, "The index factory") and its
search parameters in FAISS `ParameterSpace` syntax ("nprobe=16", "efSearch=64"; FAISS wiki,
"Index IO, cloning and hyper parameter tuning"), comma-separated `name=value` pairs, plus
`k_factor` for a `,Refine(SQ8)` index (re-scored here, `vector_gallery._RefinedIndex`).

`check_factory` and `check_search` build the empty index and apply the parameters, so a
string FAISS cannot parse, a dimension it does not divide, or a parameter the index does not
have is refused where it is configured, not at the first enrolment. What they cannot see
is whether the gallery's own templates train it well: `train_from` says how many a trained
index waits for (FAISS's k-means wants 39 training points per centroid,
`ClusteringParameters.min_points_per_centroid`); until then the gallery is exact.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import faiss

from matchers.errors import MatcherError

AUTO = "auto"
REFINE_SUFFIX = ",Refine(SQ8)"
MIN_POINTS_PER_CENTROID = 39  # faiss ClusteringParameters: fewer and k-means warns
TRAIN_FLOOR = 1000  # no index is trained on fewer templates (SQ ranges, PCA, OPQ rotations)
STAGING = "Flat"  # what a gallery runs until its configured index can be trained


class IndexSpecError(MatcherError):
    """A factory string or search parameter string that this gallery cannot use."""


def split_refine(factory: str) -> tuple[str, bool]:
    """The base factory string, and whether its shortlist is re-scored on SQ8 codes."""
    if factory.endswith(REFINE_SUFFIX):
        return factory[: -len(REFINE_SUFFIX)], True
    return factory, False


def with_ids(factory: str) -> str:
    """The string given to FAISS: IVF indexes take ids themselves, others go in an IDMap2."""
    return factory if "IVF" in factory or factory.startswith("IDMap") else f"IDMap2,{factory}"


def split_search(params: str) -> tuple[str, int | None]:
    """The FAISS ParameterSpace part of a search string, and its `k_factor` if given."""
    faiss_params: list[str] = []
    k_factor: int | None = None
    for item in filter(None, (i.strip() for i in params.split(","))):
        name, eq, value = item.partition("=")
        if not eq or not name or not _is_positive_number(value):
            raise IndexSpecError(f"{item!r}: expected name=value with a positive number")
        if name == "k_factor":
            if not value.isdigit():
                raise IndexSpecError(f"{item!r}: k_factor is a whole number")
            k_factor = int(value)
        else:
            faiss_params.append(f"{name}={value}")
    return ",".join(faiss_params), k_factor


def set_search(index: Any, params: str) -> None:
    """Apply the FAISS part of a search string to a FAISS index (ParameterSpace)."""
    if params:
        space: Any = faiss.ParameterSpace()  # its stubs miss the string overload
        try:
            space.set_index_parameters(index, params)
        except RuntimeError as exc:
            raise IndexSpecError(f"{params!r}: {_faiss_reason(exc)}") from exc


def check_factory(factory: str, dim: int) -> None:
    """Refuse a factory string FAISS cannot build at `dim` (inner product, with ids)."""
    if factory == AUTO:
        return
    _empty_index(factory, dim)


def check_search(factory: str, params: str, dim: int) -> None:
    """Refuse search parameters the index of `factory` does not have (after check_factory)."""
    faiss_params, k_factor = split_search(params)
    if factory == AUTO:
        if params.strip():
            raise IndexSpecError(
                f"{params!r}: search parameters need an explicit index;"
                " auto picks its own by gallery size"
            )
        return
    base, refined = split_refine(factory)
    if k_factor is not None and not refined:
        raise IndexSpecError(f"k_factor: only for a ...{REFINE_SUFFIX} index")
    set_search(_empty_index(base, dim), faiss_params)


@functools.lru_cache(maxsize=64)
def train_from(factory: str, dim: int) -> int:
    """Templates the gallery holds before the index of `factory` is trained on them.

    0 for an index that needs no training (Flat, HNSW32, ...); otherwise 39 per k-means
    centroid of its largest quantizer (nlist for IVF, 2^bits per PQ sub-quantizer), and at
    least `TRAIN_FLOOR`. A gallery enrolled one record at a time would otherwise train its
    coarse quantizer or scalar ranges on the first few templates, once and for good.
    """
    if factory == AUTO:
        return 0
    base, refined = split_refine(factory)
    if not refined and _empty_index(base, dim).is_trained:
        return 0
    centroids = [int(n) for n in re.findall(r"IVF(\d+)", base)]
    centroids += [2 ** int(bits or 8) for _, bits in re.findall(r"PQ(\d+)(?:x(\d+))?", base)]
    return max(TRAIN_FLOOR, MIN_POINTS_PER_CENTROID * max(centroids, default=1))


def nlist_of(factory: str) -> int:
    """The number of IVF lists of a factory string, 1 without an inverted file."""
    found = re.search(r"IVF(\d+)", factory)
    return int(found.group(1)) if found else 1


def _empty_index(factory: str, dim: int) -> Any:
    base, _ = split_refine(factory)
    if not base.strip():
        raise IndexSpecError("empty factory string")
    try:
        return faiss.index_factory(dim, with_ids(base), faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise IndexSpecError(f"{factory!r} at dim {dim}: {_faiss_reason(exc)}") from exc


def _faiss_reason(exc: RuntimeError) -> str:
    """The reason in a FAISS exception, without the C++ signature and source location."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    found = re.search(r" at \S+:\d+: (.*)$", text)
    reason = found.group(1) if found else text
    return reason.removeprefix("Error: ").removeprefix("ParameterSpace::set_index_parameter:")


def _is_positive_number(value: str) -> bool:
    try:
        number = float(value)
    except ValueError:
        return False
    return math.isfinite(number) and number > 0
