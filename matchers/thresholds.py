"""Score thresholds for a target false-match rate, from genuine and impostor score samples.

The operating point of a biometric gallery is the lowest score whose false-match rate (share
of impostor comparisons scoring at or above it) stays within the target, 1 in 10^6 by default
for face and ten-print (issue 4). With enough impostor scores (at least 10 above the target
rank) the threshold is the empirical quantile. Otherwise the tail is extrapolated by peaks over
threshold with an exponential excess distribution (a generalised Pareto tail of shape 0; Coles,
"An Introduction to Statistical Modeling of Extreme Values", Springer 2001, ch. 4): above the
99th percentile u, P(S > t) = p_u exp(-(t - u) / beta), beta the mean excess. For the
light-tailed impostor scores of embeddings this overestimates the tail, so the threshold errs
on the safe side (fewer false matches than the target).

A `Threshold` is stored with the gallery (face metadata, fingerprint gallery) as a plain dict.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_TARGET_FMR = 1e-6
MIN_TAIL_COUNT = 10


@dataclass(frozen=True, slots=True)
class Threshold:
    modality: str
    score: float
    target_fmr: float
    fnmr: float  # share of genuine scores below `score`
    n_genuine: int
    n_impostor: int
    method: str  # "empirical" or "pot-exponential"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Threshold:
        return cls(
            modality=str(data["modality"]),
            score=float(data["score"]),
            target_fmr=float(data["target_fmr"]),
            fnmr=float(data["fnmr"]),
            n_genuine=int(data["n_genuine"]),
            n_impostor=int(data["n_impostor"]),
            method=str(data["method"]),
        )


def threshold_for_fmr(
    genuine: npt.ArrayLike,
    impostor: npt.ArrayLike,
    target_fmr: float = DEFAULT_TARGET_FMR,
    modality: str = "face",
    impostor_count: int | None = None,
) -> Threshold:
    """The threshold for `target_fmr` and the false non-match rate it costs.

    `impostor_count`: when `impostor` holds only the highest scores of a larger set of
    impostor comparisons (a top-k per probe), the size of that whole set.
    """
    gen = np.asarray(genuine, dtype=np.float64).ravel()
    imp = np.sort(np.asarray(impostor, dtype=np.float64).ravel())[::-1]
    if imp.size == 0 or gen.size == 0:
        raise ValueError("need genuine and impostor scores")
    if not 0.0 < target_fmr < 1.0:
        raise ValueError("target_fmr must be in (0, 1)")
    total = imp.size if impostor_count is None else max(impostor_count, imp.size)
    k = math.floor(target_fmr * total)
    if k >= MIN_TAIL_COUNT and k < imp.size:
        score = float(np.nextafter(imp[k], np.inf))
        method = "empirical"
    else:
        score = _pot_exponential(imp, target_fmr, total)
        method = "pot-exponential"
    fnmr = float(np.mean(gen < score))
    return Threshold(modality, score, target_fmr, fnmr, int(gen.size), int(total), method)


def _pot_exponential(desc: npt.NDArray[np.float64], target_fmr: float, total: int) -> float:
    n_tail = max(MIN_TAIL_COUNT, total // 100)
    n_tail = min(n_tail, desc.size - 1)
    u = float(desc[n_tail])
    excess = desc[:n_tail] - u
    beta = max(float(excess.mean()), 1e-12)
    p_u = n_tail / total
    return u + beta * math.log(p_u / target_fmr)


def false_match_rate(impostor: npt.ArrayLike, score: float) -> float:
    """Observed share of impostor scores at or above `score`."""
    imp = np.asarray(impostor, dtype=np.float64).ravel()
    return float(np.mean(imp >= score))
