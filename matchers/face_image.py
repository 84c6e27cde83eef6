"""Face images to templates: decode (JPEG, JPEG 2000, PNG), detect, align, describe.

The model is dlib's ResNet face descriptor (`dlib-resnet-v1`, 128 values): dlib's HOG frontal
face detector (`dlib.get_frontal_face_detector()`), the 5-point landmark model
`shape_predictor_5_face_landmarks.dat` to align the face, and
`dlib_face_recognition_resnet_model_v1.dat` (`dlib.face_recognition_model_v1`) for the
descriptor. The weights are those shipped by the `face-recognition-models` package (whose
functions give their paths); the 68-point landmark model in the same package is never loaded.

Licences of the two files loaded (dlib-models README, github.com/davisking/dlib-models, by
their author Davis King): "anyone can do whatever they want with these model files as I've
released them into the public domain"; the 5-point model was trained on images annotated by
him (his dlib 5-point landmark dataset, also released into the public domain, CC0) and the
ResNet model on face datasets under Creative Commons licences. The 68-point model's training
set (iBUG 300-W) restricts commercial use: one more reason it is not used here.

Descriptors are compared by Euclidean distance. dlib's published operating point: "When using
a distance threshold of 0.6, the dlib model obtains an accuracy of 99.38% on the standard LFW
face recognition benchmark" (dlib.net, python_examples/face_recognition.py). Measured here on
the ageitgey/face_recognition test photographs: same person 0.346, different people 0.82-0.84.

Decoding is bounded before any pixel is decompressed: Pillow reads only the header at
`Image.open`, so the size is checked against `MAX_PIXELS` before `load()`; Pillow's own
decompression-bomb guard is turned into an error too, and a truncated file is an error (not
the half-grey picture `LOAD_TRUNCATED_IMAGES` would give). Detection runs on a copy scaled to
`detect_long_side` pixels at most (the HOG detector's cost grows with the pixel count), the
landmarks and the descriptor on the original pixels, the box mapped back to them.
"""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from matchers.errors import MatcherError

MODEL_ID = "dlib-resnet-v1"
DIM = 128
DLIB_DISTANCE = 0.6  # dlib's operating point (module docstring)

# 25 megapixels: a 5,000 x 5,000 photograph; decoded to RGB, 75 MB. Passport and custody
# photographs are far smaller (ISO/IEC 19794-5 tokens are a few hundred pixels wide).
MAX_PIXELS = 25_000_000
MAX_BYTES = 20 * 1024 * 1024
DETECT_LONG_SIDE = 1000

ImageFormat = Literal["jpeg", "jp2", "png"]
# Pillow's format names, by ours.
_PIL_FORMATS: dict[str, ImageFormat] = {"JPEG": "jpeg", "JPEG2000": "jp2", "PNG": "png"}


class FaceImageError(MatcherError):
    """An image that cannot be read as a face photograph: bad, truncated, too large, ..."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class NoFaceError(FaceImageError):
    """A readable image in which the detector finds no face."""

    def __init__(self, reason: str = "no face found") -> None:  # (args round-trip a pickle)
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class ImageHeader:
    format: ImageFormat
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class FaceBox:
    """The detected face in the original image's pixels (left, top inclusive)."""

    left: int
    top: int
    right: int
    bottom: int


@dataclass(frozen=True, slots=True)
class FaceExtraction:
    """One face's template: `vector` (float32, `DIM` values), the detector's score as quality."""

    model_id: str
    vector: npt.NDArray[np.float32]
    quality: float
    box: FaceBox
    width: int
    height: int
    faces_found: int


def sniff_format(data: bytes) -> ImageFormat | None:
    """The format by its signature: JPEG SOI, JP2 signature box or J2K codestream, PNG."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or data[:4] == b"\xff\x4f\xff\x51":
        return "jp2"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None


@contextmanager
def _bounded() -> Iterator[None]:
    """Pillow's bomb warning is an error here (its threshold is half its error's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def read_header(data: bytes, max_pixels: int = MAX_PIXELS) -> ImageHeader:
    """Format and size from the header alone; nothing is decompressed."""
    if not data:
        raise FaceImageError("is empty (zero bytes)")
    if len(data) > MAX_BYTES:
        raise FaceImageError(f"{len(data)} bytes, more than {MAX_BYTES}")
    if sniff_format(data) is None:
        raise FaceImageError("is not a JPEG, JPEG 2000 or PNG image (unknown signature)")
    try:
        with _bounded(), Image.open(io.BytesIO(data)) as img:
            fmt = _PIL_FORMATS.get(img.format or "")
            width, height = img.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise FaceImageError(f"too many pixels: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise FaceImageError(f"unreadable image header: {exc}") from exc
    if fmt is None:
        raise FaceImageError("is not a JPEG, JPEG 2000 or PNG image")
    if width < 1 or height < 1:
        raise FaceImageError(f"has no pixels ({width} x {height})")
    if width * height > max_pixels:
        raise FaceImageError(f"{width} x {height} pixels, more than {max_pixels:,}")
    return ImageHeader(fmt, width, height)


def decode_rgb(data: bytes, max_pixels: int = MAX_PIXELS) -> npt.NDArray[np.uint8]:
    """(height, width, 3) uint8 RGB, upright (EXIF orientation applied); FaceImageError else."""
    read_header(data, max_pixels)
    try:
        with _bounded(), Image.open(io.BytesIO(data)) as img:
            img.load()
            upright = ImageOps.exif_transpose(img)
            rgb = _to_rgb(upright)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise FaceImageError(f"too many pixels: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated, corrupt
        raise FaceImageError(f"cannot be decoded: {exc}") from exc
    w, h = rgb.size
    if w * h > max_pixels:  # a header that lied about its size
        raise FaceImageError(f"{w} x {h} pixels, more than {max_pixels:,}")
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit or float grey: to 8 bits
        a = np.asarray(img, dtype=np.float64)
        top = float(a.max()) or 1.0
        img = Image.fromarray((a * (255.0 / top)).clip(0, 255).astype(np.uint8), mode="L")
    return img.convert("RGB")


@functools.cache
def _models() -> tuple[Any, Any, Any]:
    """Detector, 5-point shape predictor and ResNet, loaded once per process (~0.5 s)."""
    import dlib
    import face_recognition_models as weights

    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(weights.pose_predictor_five_point_model_location()),
        dlib.face_recognition_model_v1(weights.face_recognition_model_location()),
    )


def warm_up() -> None:
    """Load the models now (a worker process does it before its first job)."""
    _models()


def _detect(
    rgb: npt.NDArray[np.uint8], long_side: int, upsample: int
) -> tuple[list[tuple[float, FaceBox]], float]:
    """Faces found on a copy no longer than `long_side`, scaled back; and the scale used."""
    detector = _models()[0]
    h, w = rgb.shape[:2]
    scale = min(1.0, long_side / max(h, w)) if long_side > 0 else 1.0
    small = rgb
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
    rects, scores, _ = detector.run(small, upsample, 0.0)
    found = []
    for rect, score in zip(rects, scores, strict=True):
        box = FaceBox(
            max(0, int(rect.left() / scale)),
            max(0, int(rect.top() / scale)),
            min(w - 1, int(rect.right() / scale)),
            min(h - 1, int(rect.bottom() / scale)),
        )
        found.append((float(score), box))
    return found, scale


def extract(
    data: bytes,
    *,
    detect_long_side: int = DETECT_LONG_SIDE,
    upsample: int = 0,
    jitters: int = 0,
    max_pixels: int = MAX_PIXELS,
) -> FaceExtraction:
    """The template of the best-scoring face in an encoded image; NoFaceError if none.

    `detect_long_side` 0 runs the detector at full resolution (the baseline `bench extract`
    measures). A miss at `upsample` is tried once more at `upsample + 1` when the detection
    copy is small (faces under the HOG detector's 80-pixel window are found only upsampled).
    """
    import dlib

    rgb = decode_rgb(data, max_pixels)
    found, scale = _detect(rgb, detect_long_side, upsample)
    if not found and upsample < 2 and max(rgb.shape[:2]) * scale <= 1200:
        found, scale = _detect(rgb, detect_long_side, upsample + 1)
    if not found:
        raise NoFaceError()
    quality, box = max(found, key=lambda f: f[0])
    _, shapes, resnet = _models()
    rect = dlib.rectangle(box.left, box.top, box.right, box.bottom)
    shape = shapes(rgb, rect)
    vector = np.array(resnet.compute_face_descriptor(rgb, shape, jitters), dtype=np.float32)
    if vector.shape != (DIM,) or not np.isfinite(vector).all():
        raise FaceImageError("the descriptor came out malformed")
    h, w = rgb.shape[:2]
    return FaceExtraction(MODEL_ID, vector, round(quality, 4), box, w, h, len(found))


def distance(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Euclidean distance of two descriptors (dlib's comparison)."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))
