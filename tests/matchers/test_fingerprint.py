"""Fingerprint encoding, pairing, ten-print and latent search, erasure and persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matchers.errors import MatcherError, StaleIndexError, TemplateError, UnknownReferenceError
from matchers.fingerprint import FingerprintGallery
from matchers.fusion import ranked, sum_rule
from matchers.minutiae_encoding import DIM, Reduction, encode
from matchers.minutiae_pairing import pairing_score
from matchers.synthetic import minutiae, minutiae_recapture, tenprint

SEED = 5
N = 300
N_FITTED = 700  # enough for the default 4-bit PQ subject index to train (16 x 39 codes)


@pytest.fixture(scope="module")
def gallery() -> FingerprintGallery:
    g = FingerprintGallery()
    g.add_many([f"S{i}" for i in range(N)], [tenprint(SEED, i) for i in range(N)])
    return g


@pytest.fixture(scope="module")
def fitted() -> FingerprintGallery:
    """A gallery that crosses `fit_from` on its second batch: the first batch is encoded again
    for the reduction, the default subject index is built over both."""
    g = FingerprintGallery(fit_from=600)
    g.add_many([f"S{i}" for i in range(500)], [tenprint(SEED, i) for i in range(500)])
    assert not g.fitted
    g.add_many(
        [f"S{i}" for i in range(500, N_FITTED)], [tenprint(SEED, i) for i in range(500, N_FITTED)]
    )
    assert g.fitted
    return g


def test_encoding_is_translation_and_rotation_tolerant() -> None:
    m = minutiae(SEED, 1, 2)
    moved = m.copy()
    moved[:, 0] += 37.0
    moved[:, 1] -= 12.0
    phi = np.radians(11.25)  # one angular bin of the polar grid
    x, y = m[:, 0] - 200, m[:, 1] - 250
    turned = m.copy()
    turned[:, 0] = np.cos(phi) * x - np.sin(phi) * y
    turned[:, 1] = np.sin(phi) * x + np.cos(phi) * y
    turned[:, 2] = (m[:, 2] + np.degrees(phi)) % 360
    codes = encode([m, moved, turned, minutiae(SEED, 2, 2)])
    assert codes.shape == (4, DIM)
    assert codes[0] @ codes[1] > 0.999
    assert codes[0] @ codes[2] > 0.99
    assert codes[0] @ codes[3] < codes[0] @ codes[2]


def test_pairing_separates_mates_from_strangers() -> None:
    genuine = [
        pairing_score(minutiae_recapture(SEED, i, 1), minutiae(SEED, i, 1)) for i in range(30)
    ]
    impostor = [
        pairing_score(minutiae_recapture(SEED, i, 1), minutiae(SEED, i + 1, 1)) for i in range(30)
    ]
    assert min(genuine) > max(impostor)
    assert pairing_score(minutiae(SEED, 3, 3), minutiae(SEED, 3, 3)) == 1.0


def test_tenprint_rank_one(gallery: FingerprintGallery) -> None:
    ids = list(range(0, N, 15))
    results = gallery.search([tenprint(SEED, i, capture=1) for i in ids], k=3)
    assert all(r[0].reference == f"S{i}" for r, i in zip(results, ids, strict=True))
    assert all(r[0].score > 0.2 for r in results)


def test_subject_index_ranks_like_the_exact_path(fitted: FingerprintGallery) -> None:
    ids = list(range(3, N_FITTED, 37))
    queries = [tenprint(SEED, i, capture=1) for i in ids]
    fast = fitted.search(queries, k=1)
    exact = fitted.search(queries, k=1, method="positions")
    assert [r[0].reference for r in fast] == [f"S{i}" for i in ids]
    assert [r[0].reference for r in exact] == [f"S{i}" for i in ids]
    # The pairing score of the same candidate does not depend on the path to it.
    assert [r[0].score for r in fast] == pytest.approx([r[0].score for r in exact])
    partial = {p: m for p, m in tenprint(SEED, 650, capture=2).items() if p in (1, 6, 9)}
    assert fitted.search([partial], k=1)[0][0].reference == "S650"
    # k above the ambiguous head: k candidates, scored and sorted.
    five = fitted.search(queries[:1], k=5)[0]
    assert len(five) == 5 and five[0].reference == f"S{ids[0]}"
    assert [c.score for c in five] == sorted((c.score for c in five), reverse=True)


def test_subject_index_needs_fitting(gallery: FingerprintGallery) -> None:
    assert not gallery.fitted
    with pytest.raises(MatcherError):
        gallery.search([tenprint(SEED, 1, capture=1)], method="subjects")
    with pytest.raises(MatcherError):
        gallery.search([tenprint(SEED, 1, capture=1)], method="fastest")


def test_reduction_gives_unit_codes_per_position() -> None:
    sets = [minutiae(SEED, i, p) for i in range(40) for p in range(1, 11)]
    positions = np.tile(np.arange(1, 11), 40)
    codes = encode(sets)
    red = Reduction.fit(codes, positions, 8)
    out = red.apply(codes, positions)
    assert out.shape == (400, 8)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    with pytest.raises(TemplateError):
        Reduction.fit(codes[:50], positions[:50], 8)


def test_partial_tenprint_and_threshold(gallery: FingerprintGallery) -> None:
    q = {p: m for p, m in tenprint(SEED, 7, capture=2).items() if p in (2, 7)}
    assert gallery.search([q], k=1)[0][0].reference == "S7"
    assert gallery.search([q], k=1, threshold=1.01) == [[]]


def test_latent_search_finds_finger_and_position(gallery: FingerprintGallery) -> None:
    found = gallery.search_latent(minutiae_recapture(SEED, 11, 4, capture=3, keep=0.9), k=5)
    assert (found[0].reference, found[0].position) == ("S11", 4)


def test_bad_input_rejected() -> None:
    g = FingerprintGallery()
    with pytest.raises(TemplateError):
        g.add("x", {11: minutiae(SEED, 0, 1)})
    with pytest.raises(TemplateError):
        g.add("x", {1: np.zeros((2, 5), np.float32)})
    with pytest.raises(TemplateError):
        g.add("x", {1: np.zeros((10,), np.float32)})


def test_erasure_and_persistence(tmp_path: Path) -> None:
    g = FingerprintGallery(version="1")
    g.add_many([f"S{i}" for i in range(40)], [tenprint(SEED, i) for i in range(40)])
    g.remove("S4")
    assert "S4" not in g and len(g) == 39
    assert all(c.reference != "S4" for c in g.search([tenprint(SEED, 4, capture=1)], k=5)[0])
    with pytest.raises(UnknownReferenceError):
        g.remove("S4")
    g.save(tmp_path / "fp")
    loaded = FingerprintGallery.load(tmp_path / "fp", expected_version="1")
    assert len(loaded) == 39 and "S4" not in loaded
    assert loaded.search([tenprint(SEED, 9, capture=1)], k=1)[0][0].reference == "S9"
    with pytest.raises(StaleIndexError):
        FingerprintGallery.load(tmp_path / "fp", expected_version="2")


def test_fitted_erasure_and_persistence(fitted: FingerprintGallery, tmp_path: Path) -> None:
    fitted.save(tmp_path / "fp", version="7")
    loaded = FingerprintGallery.load(tmp_path / "fp", expected_version="7")
    assert loaded.fitted and len(loaded) == N_FITTED
    q = tenprint(SEED, 444, capture=1)
    assert loaded.search([q], k=1) == fitted.search([q], k=1)
    loaded.remove("S444")
    assert all(c.reference != "S444" for c in loaded.search([q], k=5)[0])
    loaded.add("S444", tenprint(SEED, 444))
    assert loaded.search([q], k=1)[0][0].reference == "S444"


def test_sum_rule_floor_for_missing_fingers() -> None:
    fused = sum_rule({1: {"a": 0.9, "b": 0.5}, 2: {"a": 0.8, "c": 0.7}})
    assert fused == pytest.approx({"a": 1.7, "b": 0.5 + 0.7, "c": 0.5 + 0.7})
    assert [r for r, _ in ranked(fused)] == ["a", "b", "c"]
