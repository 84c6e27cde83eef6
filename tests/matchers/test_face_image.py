"""Face images to dlib templates: the real photographs, bad images, exact Euclidean ranking."""

from __future__ import annotations

import io
import itertools
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from exchange.gallery import DEFAULT_FACE_MODELS
from matchers import face_distance, face_image
from matchers.face import FaceGallery
from tests.shared_data import THIRDPARTY, needs_shared

PHOTOS = THIRDPARTY / "ageitgey-face_recognition"
THRESHOLD = DEFAULT_FACE_MODELS[face_image.MODEL_ID]  # a score: 1 - distance
MATED = [("obama.jpg", "obama2.jpg")]
NON_MATED = [("obama.jpg", "biden.jpg"), ("obama2.jpg", "biden.jpg")]


@pytest.fixture(scope="module")
def descriptors() -> dict[str, np.ndarray]:
    return {
        name: face_image.extract((PHOTOS / name).read_bytes()).vector
        for name in ("obama.jpg", "obama2.jpg", "biden.jpg")
    }


@needs_shared
def test_the_threshold_is_dlibs_published_distance_as_a_score() -> None:
    assert pytest.approx(1 - face_image.DLIB_DISTANCE) == THRESHOLD


@needs_shared
@pytest.mark.parametrize(("a", "b"), MATED)
def test_every_mated_pair_scores_above_the_threshold(
    descriptors: dict[str, np.ndarray], a: str, b: str
) -> None:
    d = face_image.distance(descriptors[a], descriptors[b])
    assert face_distance.score_of(d) >= THRESHOLD, d
    assert d < 0.45  # dlib measures 0.346 at full resolution (shared README); a margin, not 0.6


@needs_shared
@pytest.mark.parametrize(("a", "b"), NON_MATED)
def test_every_non_mated_pair_scores_below_the_threshold(
    descriptors: dict[str, np.ndarray], a: str, b: str
) -> None:
    d = face_image.distance(descriptors[a], descriptors[b])
    assert face_distance.score_of(d) < THRESHOLD, d
    assert d > 0.75  # 0.840 and 0.816 in the shared README


@needs_shared
def test_one_face_with_its_box_and_quality_in_each_photograph() -> None:
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg"):
        data = (PHOTOS / name).read_bytes()
        e = face_image.extract(data)
        assert e.model_id == "dlib-resnet-v1" and e.vector.shape == (128,)
        assert e.faces_found == 1 and e.quality > 0
        w, h = Image.open(io.BytesIO(data)).size
        assert (e.width, e.height) == (w, h)
        assert 0 <= e.box.left < e.box.right < w and 0 <= e.box.top < e.box.bottom < h


@needs_shared
def test_full_resolution_detection_finds_the_same_face(descriptors: dict[str, np.ndarray]) -> None:
    full = face_image.extract((PHOTOS / "obama.jpg").read_bytes(), detect_long_side=0)
    assert face_image.distance(full.vector, descriptors["obama.jpg"]) < 0.1


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (120, 100, 90)).save(out, "PNG")
    return out.getvalue()


def _jpeg(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (120, 100, 90)).save(out, "JPEG")
    return out.getvalue()


def _png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR says `width` x `height` (CRC right), over a tiny picture's data."""
    data = bytearray(_png(4, 4))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def _png_bomb(side: int) -> bytes:
    """A `side` x `side` grey PNG of zeros: a few kB that decompress to side^2 bytes."""
    raw = zlib.compress(b"\0" * (side + 1) * side, 9)  # filter byte + row, per row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _noisy(fmt: str) -> bytes:
    out = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(out, fmt)
    return out.getvalue()


def _jpeg_sof_claiming(width: int, height: int) -> bytes:
    data = bytearray(_jpeg())
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: b"", "zero bytes"),
        (lambda: b"GIF89a....", "unknown signature"),
        (lambda: _noisy("JPEG")[: len(_noisy("JPEG")) // 2], "cannot be decoded"),
        (lambda: _noisy("PNG")[: len(_noisy("PNG")) // 2], "cannot be decoded"),
        (lambda: _png_header_claiming(30000, 30000), "pixels"),
        (lambda: _jpeg_sof_claiming(30000, 30000), "pixels"),
        (lambda: _png_bomb(6000), "pixels"),
        (lambda: _png_header_claiming(0, 10), "unreadable image header"),
    ],
    ids=[
        "empty",
        "gif",
        "truncated-jpeg",
        "truncated-png",
        "huge-png",
        "huge-jpeg",
        "bomb",
        "zero",
    ],
)
def test_bad_images_are_typed_errors_before_any_pixel_is_decoded(make, says) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(face_image.FaceImageError) as caught:
        face_image.extract(make())
    assert says in caught.value.reason


def test_a_picture_without_a_face_is_no_face_found(tmp_path: Path) -> None:
    with pytest.raises(face_image.NoFaceError, match="no face found"):
        face_image.extract(_jpeg(300, 300))


def test_grey_and_16_bit_pictures_are_read_as_rgb() -> None:
    out = io.BytesIO()
    Image.fromarray(np.full((40, 30), 40000, dtype=np.uint16)).save(out, "PNG")
    rgb = face_image.decode_rgb(out.getvalue())
    assert rgb.shape == (40, 30, 3) and rgb.dtype == np.uint8


def test_the_lifted_cosine_gallery_ranks_by_euclidean_distance_exactly() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(scale=0.12, size=(400, 128))  # dlib-like norms (~1.36)
    gallery = FaceGallery(face_distance.lifted_dim(128))
    gallery.add([str(i) for i in range(400)], face_distance.lift_gallery(x))
    for q in rng.normal(scale=0.12, size=(5, 128)):
        (found,) = gallery.search(face_distance.lift_probe(q), 400)
        truth = np.linalg.norm(x - q, axis=1)
        order = [int(c.reference) for c in found]
        assert order[:20] == list(np.argsort(truth)[:20])
        back = face_distance.distances(q, [c.score for c in found])
        assert np.allclose(back, truth[order], atol=1e-5)
        # the threshold's cosine sits exactly at the distance it converts
        at = q + 0.6 / np.sqrt(128)  # a gallery row 0.6 away
        lifted_q, lifted_at = face_distance.lift_probe(q)[0], face_distance.lift_gallery(at)[0]
        cos = float(lifted_q @ lifted_at) / np.linalg.norm(lifted_q) / np.linalg.norm(lifted_at)
        assert face_distance.cosine_at(q, 0.6) == pytest.approx(cos, abs=1e-6)


def test_a_template_longer_than_the_lift_allows_is_refused() -> None:
    from matchers.errors import TemplateError

    with pytest.raises(TemplateError):
        face_distance.lift_gallery(np.full((1, 128), 1.0))  # norm 11.3 > 4


def test_pairs_are_all_pairs() -> None:  # the mated/non-mated lists cover the three photos
    names = {"obama.jpg", "obama2.jpg", "biden.jpg"}
    assert {frozenset(p) for p in MATED + NON_MATED} == {
        frozenset(p) for p in itertools.combinations(names, 2)
    }
