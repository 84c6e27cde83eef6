"""A node's face galleries, one per feature model: routing, scores, index files per model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exchange.gallery import GalleryError, NodeGallery, Thresholds, UnsupportedFeatureModel
from exchange.model import FaceTemplate, PersonRecord
from matchers.synthetic import face_templates

SYNTHETIC = "synthetic-face-512-v1"
DLIB = "dlib-resnet-v1"


def _gallery() -> NodeGallery:
    return NodeGallery(feature_model=SYNTHETIC, face_dim=512, thresholds=Thresholds())


def _dlib(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(scale=0.12, size=128).astype(np.float32)  # dlib-like norms (~1.36)


def _record(ref: str, model: str, vector: np.ndarray) -> PersonRecord:
    return PersonRecord(reference=ref, face=FaceTemplate(model, vector.astype("<f4").tobytes()))


def test_each_probe_goes_to_the_gallery_of_its_model_and_dlib_scores_are_1_minus_distance(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(5)
    g = _gallery()
    mates = {f"D{i}": _dlib(rng) for i in range(20)}
    for ref, v in mates.items():
        g.add(ref, _record(ref, DLIB, v))
    synthetic = np.asarray(face_templates(11, range(5)), dtype=np.float32)
    for i, v in enumerate(synthetic):
        g.add(f"S{i}", _record(f"S{i}", SYNTHETIC, v))
    probe = mates["D3"] + rng.normal(scale=0.02, size=128).astype(np.float32)
    (top, *rest) = g.search_face(FaceTemplate(DLIB, probe.astype("<f4").tobytes()), 5)
    assert top.reference == "D3"
    assert top.score == pytest.approx(1 - np.linalg.norm(probe - mates["D3"]), abs=1e-4)
    assert all(c.reference.startswith("D") and c.score >= 0.4 for c in rest)
    found = g.search_face(FaceTemplate(SYNTHETIC, synthetic[2].astype("<f4").tobytes()), 3)
    assert found[0].reference == "S2"
    # the index files hold each model's gallery; a reload answers the same
    g.save(tmp_path / "idx", "v1")
    assert (tmp_path / "idx" / "face.faiss").exists()
    assert (tmp_path / "idx" / f"face-{DLIB}.faiss").exists()
    again = _gallery()
    assert again.load_files(tmp_path / "idx", "v1")
    assert again.search_face(FaceTemplate(DLIB, probe.astype("<f4").tobytes()), 1)[0] == top
    assert again.remove("D3")
    after = again.search_face(FaceTemplate(DLIB, probe.astype("<f4").tobytes()), 5)
    assert "D3" not in {c.reference for c in after}


def test_a_far_dlib_probe_finds_nothing_above_the_threshold() -> None:
    rng = np.random.default_rng(6)
    g = _gallery()
    g.add("D0", _record("D0", DLIB, _dlib(rng)))
    far = _dlib(rng)  # another random face: ~1.9 away
    assert g.search_face(FaceTemplate(DLIB, far.astype("<f4").tobytes()), 5) == []


def test_an_unheld_model_and_a_template_less_probe_are_refused() -> None:
    g = _gallery()
    with pytest.raises(UnsupportedFeatureModel):
        g.search_face(FaceTemplate("vendor-x", b"\0\0\x80?" * 8), 1)
    with pytest.raises(UnsupportedFeatureModel):
        g.add("X", PersonRecord(reference="X", face=FaceTemplate("", b"")))
    with pytest.raises(GalleryError, match="128"):
        g.search_face(FaceTemplate(DLIB, b"\0\0\x80?" * 8), 1)
    assert len(g) == 0
