"""Euclidean-distance search (dlib's metric) in a cosine gallery, exactly.

`matchers.vector_gallery` scores by cosine over L2-normalised rows. dlib's descriptors are not
unit vectors (norms 1.36-1.39 on the shipped photographs) and are compared by Euclidean
distance; ranking by cosine on normalised copies is not the same order (it drops the norms),
so they are lifted into vectors whose cosine with a lifted probe ranks by distance:

    gallery x  ->  x' = (x, -|x|^2 / 2, sqrt(C - |x|^2 - |x|^4 / 4))   |x'| = sqrt(C)
    probe   q  ->  q' = (q, 1, 0)

x'.q' = x.q - |x|^2/2 = (|q|^2 - d^2) / 2, with d = |x - q|, and every x' has the same length,
so for one probe cos(x', q') = (|q|^2 - d^2) / (2 sqrt(C) |q'|): decreasing in d. The
normalisation is then harmless, the order is dlib's, and a distance is recovered exactly from
the cosine (`distances`). `C` bounds the norms a gallery takes: `MAX_NORM` 4, three times
dlib's; a larger vector is refused.

Scores reported for such a model are `1 - d` (1 identical, 0.4 at dlib's 0.6), so "higher is
better" holds as for every other gallery, and a threshold converts exactly: score >= 1 - 0.6.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from matchers.errors import TemplateError

MAX_NORM = 4.0
_C = MAX_NORM**2 + MAX_NORM**4 / 4


def lifted_dim(dim: int) -> int:
    return dim + 2


def lift_gallery(x: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """(n, dim) -> (n, dim + 2) rows of equal length sqrt(C)."""
    a = np.atleast_2d(np.asarray(x, dtype=np.float64))
    sq = np.einsum("ij,ij->i", a, a)
    if not np.all(np.isfinite(sq)) or np.any(sq > MAX_NORM**2):
        raise TemplateError(f"a template is longer than {MAX_NORM} (or not finite)")
    rest = np.sqrt(np.maximum(_C - sq - sq * sq / 4, 0.0))
    return np.hstack([a, (-sq / 2)[:, None], rest[:, None]]).astype(np.float32)


def lift_probe(q: npt.ArrayLike) -> npt.NDArray[np.float32]:
    a = np.atleast_2d(np.asarray(q, dtype=np.float64))
    if not np.all(np.isfinite(a)):
        raise TemplateError("the probe is not finite")
    ones = np.ones((a.shape[0], 1))
    return np.hstack([a, ones, np.zeros_like(ones)]).astype(np.float32)


def _scale(q: npt.NDArray[np.float64]) -> tuple[float, float]:
    sq = float(q @ q)
    return sq, 2.0 * math.sqrt(_C) * math.sqrt(sq + 1.0)


def cosine_at(q: npt.ArrayLike, distance: float) -> float:
    """The cosine a gallery row at Euclidean `distance` from probe `q` scores."""
    sq, k = _scale(np.asarray(q, dtype=np.float64).ravel())
    return (sq - distance * distance) / k


def distances(q: npt.ArrayLike, cosines: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Euclidean distances back from the cosines scored for probe `q`."""
    sq, k = _scale(np.asarray(q, dtype=np.float64).ravel())
    d2 = sq - np.asarray(cosines, dtype=np.float64) * k
    return np.sqrt(np.maximum(d2, 0.0))


def score_of(distance: float) -> float:
    """The similarity reported for a Euclidean model: 1 - distance."""
    return 1.0 - distance
