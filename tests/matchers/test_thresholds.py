"""Thresholds for a target false-match rate."""

from __future__ import annotations

import numpy as np
import pytest

from matchers.thresholds import Threshold, false_match_rate, threshold_for_fmr


def test_empirical_threshold_meets_target() -> None:
    rng = np.random.default_rng(1)
    impostor = rng.normal(0.0, 0.1, 200_000)
    genuine = rng.normal(0.8, 0.05, 2_000)
    t = threshold_for_fmr(genuine, impostor, target_fmr=1e-4)
    assert t.method == "empirical"
    assert false_match_rate(impostor, t.score) <= 1e-4
    assert false_match_rate(impostor, np.nextafter(t.score, -1)) > 0 or t.score > impostor.max()
    assert 0.0 <= t.fnmr < 0.01


def test_extrapolated_threshold_is_conservative_for_light_tails() -> None:
    rng = np.random.default_rng(2)
    impostor = rng.normal(0.0, 0.1, 100_000)  # 1e-6 needs 10 million for 10 tail points
    t = threshold_for_fmr(rng.normal(0.8, 0.05, 1000), impostor, target_fmr=1e-6)
    assert t.method == "pot-exponential"
    # Gaussian 1e-6 upper quantile is 4.75 sigma; the exponential tail lands above it.
    assert t.score > 0.475


def test_roundtrip_dict() -> None:
    t = Threshold("face", 0.5, 1e-6, 0.01, 10, 100, "empirical")
    assert Threshold.from_dict(t.to_dict()) == t


def test_rejects_empty_and_bad_target() -> None:
    with pytest.raises(ValueError):
        threshold_for_fmr([], [0.1])
    with pytest.raises(ValueError):
        threshold_for_fmr([0.9], [0.1], target_fmr=0)
