"""Fingerprint images to minutiae: decode, NIST mindtct, NFIQ 2, Bozorth3, slap segmentation.

What it reads: the image of one ANSI/NIST-ITL finger record (1-2011 Table 15 compression
codes: NONE uncompressed 8-bit grey, WSQ20, JPEGB, JPEGL, JP2, JP2L, PNG) with the record's
width, height and resolution. Decoding goes through Pillow; WSQ through the `wsq` package,
NBIS's WSQ codec registered as a Pillow plugin (importing it registers the plugin). Pixels
are capped before any decoding: the record's declared size first, then the size in the image
header that Pillow reads on `Image.open` without decoding the data (Pillow's
DecompressionBomb checks are turned into errors as well). Resolution: mindtct is tuned for
500 ppi (NBIS User's Guide, NISTIR 7392, mindtct), so other resolutions from 250 to 1200 ppi
are resampled to 500 (Lanczos), others refused.

Extraction: NIST's mindtct (NBIS 5.0) through `nbis-py` 0.1.3 (github.com/Seventh-Sense-
Artificial-Intelligence/nbis-rs, src/extractor.rs), which takes an encoded image, keeps the
150 most reliable minutiae (Bozorth's default) and reports for each x, y in pixels from the
top-left corner (mindtct's own image coordinates, Y down), `angle()` = 90 - 11.25 * direction
degrees (src/api.rs), which is NBIS's M1/INCITS 378 rule (lfs2m1_minutia_XYT in NBIS
mindtct), and a reliability in [0, 1]. Our arrays keep the ANSI/NIST legacy 9.012 theta
(`exchange.codecs.ansi_nist_prints`, `exchange.codecs.minutiae_records`: INCITS + 180), which
is NBIS's NIST rule (lfs2nist_minutia_XYT: 270 - 11.25 * direction), so theta =
angle() + 180 (mod 360), X and Y unchanged; reliability becomes quality 0-100.

NFIQ 2 (NIST Fingerprint Image Quality 2, 0-100) comes from the same call when asked; the
NFIQ 2 build in nbis-py refuses images wider than 800 pixels (measured: 800 works, 801 fails),
so a finger image up to 820 pixels wide is centre-cropped to 800 for it (a rolled-print box is
1.6 inch, 800 px at 500 ppi) and a wider one gets no NFIQ 2.

Comparison: Bozorth3 through nbis-py (`Minutiae.compare`); our arrays go to it through
nbis-py's own template loader (`load_iso_19794_2_2005`, whose layout is nbis-py's: a 26-byte
header and 6-byte minutiae with the angle in ISO 360/256-degree units and quality 0-63, see
its src/encoding.rs), which quantises angles back to mindtct's 11.25-degree directions.

Slaps (FGP 13, 14 four fingers, 15 two thumbs): segmented by a projection of the fingertip
band (`segment_slap`), see its docstring; the finger order in the image is 1-2011 §8.14's
impression order (as an inked card reads: right hand index to little, left hand little to
index, thumbs left then right).

No `exchange` types here (DESIGN.md §2): bytes, codes and numpy arrays in, arrays out.
"""

from __future__ import annotations

import io
import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import wsq  # noqa: F401  (registers the WSQ plugin with Pillow)
from PIL import Image

from matchers.errors import MatcherError

EXTRACTOR_ID = "nbis-mindtct-5"  # NBIS 5.0 mindtct, through nbis-py 0.1.3
TARGET_PPI = 500
MIN_PPI, MAX_PPI = 250, 1200
MAX_PIXELS = 16_000_000  # a 2750 x 2750 palm at 500 ppi is 7.6 M; a ten-print finger 0.6 M
NFIQ2_MAX_WIDTH = 800
NFIQ2_CROP_MAX = 820
BOZORTH_MAX = 255  # nbis-py's template holds at most 255 minutiae

COMPRESSIONS = ("NONE", "WSQ20", "JPEGB", "JPEGL", "JP2", "JP2L", "PNG")
_PILLOW_FORMATS = {
    "WSQ20": ("WSQ",),
    "JPEGB": ("JPEG",),
    "JPEGL": ("JPEG",),
    "JP2": ("JPEG2000",),
    "JP2L": ("JPEG2000",),
    "PNG": ("PNG",),
}
#: which fingers a slap holds, left to right in the image (1-2011 §8.14, Table 8 codes)
SLAP_FINGERS: dict[int, tuple[int, ...]] = {13: (2, 3, 4, 5), 14: (10, 9, 8, 7), 15: (6, 1)}

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


class FingerprintImageError(MatcherError):
    """An image that cannot be decoded or yields no usable print; `reason` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Extraction:
    """Minutiae of one image: (n, 5) float32 x, y (500 ppi), theta (9.012), type, quality."""

    minutiae: F32
    nfiq2: int | None
    width: int
    height: int
    extractor: str = EXTRACTOR_ID


# -- decoding ------------------------------------------------------------------------------


def decode_grey(
    data: bytes,
    compression: str,
    width: int,
    height: int,
    ppi: int,
    *,
    max_pixels: int = MAX_PIXELS,
) -> U8:
    """The image as 8-bit grey at 500 ppi, pixels capped before decoding."""
    if compression not in COMPRESSIONS:
        raise FingerprintImageError(f"compression {compression!r} is not one of {COMPRESSIONS}")
    if not data:
        raise FingerprintImageError("the image is empty (zero bytes)")
    if width < 0 or height < 0 or width * height > max_pixels:
        raise FingerprintImageError(f"declared size {width} x {height} exceeds {max_pixels} pixels")
    if not MIN_PPI <= ppi <= MAX_PPI:
        raise FingerprintImageError(
            f"resolution {ppi} ppi is outside {MIN_PPI}-{MAX_PPI}, which can be resampled"
            f" to {TARGET_PPI}"
        )
    if compression == "NONE":
        grey = _raw_grey(data, width, height)
    else:
        grey = _pillow_grey(data, compression, width, height, max_pixels)
    if grey.shape[0] < 32 or grey.shape[1] < 32:
        raise FingerprintImageError(f"image of {grey.shape[1]} x {grey.shape[0]} is too small")
    if ppi != TARGET_PPI:
        grey = _resample(grey, TARGET_PPI / ppi, max_pixels)
    return grey


def _raw_grey(data: bytes, width: int, height: int) -> U8:
    if width * height == 0:
        raise FingerprintImageError("uncompressed image with zero width or height")
    if len(data) != width * height:
        raise FingerprintImageError(
            f"uncompressed image holds {len(data)} bytes, not {width} x {height} at 8 bits"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width).copy()


def _pillow_grey(data: bytes, compression: str, width: int, height: int, max_pixels: int) -> U8:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS[compression])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise FingerprintImageError(f"image header: {exc}") from exc
        except Exception as exc:  # any header Pillow cannot read is a bad image
            raise FingerprintImageError(
                f"not a readable {compression} image ({type(exc).__name__})"
            ) from exc
        with image:
            w, h = image.size
            if w * h > max_pixels or w == 0 or h == 0:
                raise FingerprintImageError(
                    f"image header says {w} x {h} pixels (cap {max_pixels})"
                )
            if (width, height) != (0, 0) and (w, h) != (width, height):
                raise FingerprintImageError(
                    f"image is {w} x {h} pixels; the record says {width} x {height}"
                )
            try:
                image.load()
                grey = image if image.mode == "L" else image.convert("L")
                return np.asarray(grey, dtype=np.uint8).copy()
            except Exception as exc:  # truncated or corrupt data
                raise FingerprintImageError(
                    f"{compression} data cannot be decoded ({type(exc).__name__}: {exc})"
                ) from exc


def _resample(grey: U8, factor: float, max_pixels: int) -> U8:
    h, w = grey.shape
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    if size[0] * size[1] > max_pixels:
        raise FingerprintImageError(f"resampled to 500 ppi the image exceeds {max_pixels} pixels")
    out = Image.fromarray(grey).resize(size, Image.Resampling.LANCZOS)
    return np.asarray(out, dtype=np.uint8).copy()


# -- mindtct and NFIQ 2 --------------------------------------------------------------------


@lru_cache(maxsize=2)
def _extractor(nfiq2: bool) -> Any:
    """One nbis-py extractor per process (a pool worker keeps its own)."""
    import nbis

    settings = nbis.NbisExtractorSettings(
        min_quality=0.0, get_center=False, check_fingerprint=False, compute_nfiq2=nfiq2, ppi=None
    )
    return nbis.new_nbis_extractor(settings)


def _png(grey: U8) -> bytes:
    out = io.BytesIO()
    Image.fromarray(grey).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def extract(grey: U8, *, nfiq2: bool = True) -> Extraction:
    """mindtct minutiae (and NFIQ 2 where it can be computed) of a 500 ppi grey image."""
    import nbis

    h, w = grey.shape
    offset, score = 0, None
    if nfiq2 and w <= NFIQ2_CROP_MAX:
        offset = max(0, (w - NFIQ2_MAX_WIDTH) // 2)
        cropped = grey[:, offset : offset + NFIQ2_MAX_WIDTH]
        try:
            found = _extractor(True).extract_minutiae(_png(np.ascontiguousarray(cropped)))
            score = int(found.quality().score)
        except nbis.NbisError as exc:
            if type(exc).__name__ != "Nfiq2ComputeFailed":
                raise FingerprintImageError(f"mindtct failed ({type(exc).__name__})") from exc
            found, offset = None, 0
    else:
        found = None
    if found is None:
        try:
            found = _extractor(False).extract_minutiae(_png(grey))
        except nbis.NbisError as exc:
            raise FingerprintImageError(f"mindtct failed ({type(exc).__name__})") from exc
    return Extraction(_minutiae_array(found.get(), offset), score, w, h)


def _minutiae_array(found: Sequence[Any], x_offset: int) -> F32:
    import nbis

    rows = [
        (
            m.x() + x_offset,
            m.y(),
            (m.angle() + 180.0) % 360.0,
            1.0 if m.kind() == nbis.MinutiaKind.BIFURCATION else 0.0,
            round(100 * m.reliability()),
        )
        for m in found
    ]
    return np.array(rows, dtype=np.float32).reshape(-1, 5)


def extract_image(
    data: bytes, compression: str, width: int, height: int, ppi: int, nfiq2: bool = True
) -> Extraction:
    """Decode and extract one finger image (a top-level function, for a process pool)."""
    return extract(decode_grey(data, compression, width, height, ppi), nfiq2=nfiq2)


def extract_slap(
    data: bytes,
    compression: str,
    width: int,
    height: int,
    ppi: int,
    position: int,
    nfiq2: bool = True,
) -> list[tuple[int, Extraction]]:
    """Segment a slap (FGP 13, 14, 15) and extract each finger: (finger position, minutiae),
    coordinates in the finger's own crop."""
    grey = decode_grey(data, compression, width, height, ppi)
    fingers = SLAP_FINGERS.get(position)
    if fingers is None:
        raise FingerprintImageError(f"position {position} is not a slap (13, 14, 15)")
    crops = segment_slap(grey, len(fingers))
    return [(p, extract(crop, nfiq2=nfiq2)) for p, crop in zip(fingers, crops, strict=True)]


# -- slap segmentation ---------------------------------------------------------------------


def segment_slap(grey: U8, count: int) -> list[U8]:
    """`count` finger crops of a slap image, left to right.

    A projection method: pixels darker than the image's background (its median minus a
    margin) are ridge; the fingertips are the top band where ridges start (from the first
    row with ridge to 40% of the image height below it); the column profile of ridge pixels
    in that band is smoothed over 1/12 of the width, and the `count - 1` cuts are its lowest
    points, one in each of the windows around the equal-width split points (fingers of one
    hand lie side by side, each about 1/count of the slap). Each finger is then cropped from
    its first ridge row down to 1.5 times its width (the distal phalanx, whose print a rolled
    impression holds). Refused when the image has no ridge or a segment is empty.
    """
    h, w = grey.shape
    ridge = grey < (np.median(grey) - 30)
    rows = np.flatnonzero(ridge.mean(axis=1) > 0.02)
    if not len(rows):
        raise FingerprintImageError("slap segmentation found no ridges in the image")
    top = int(rows[0])
    band = ridge[top : top + max(32, int(0.4 * h))]
    profile = band.mean(axis=0)
    win = max(3, w // 12)
    smooth = np.convolve(profile, np.ones(win) / win, mode="same")
    cuts = [0]
    for i in range(1, count):
        centre = i * w // count
        lo, hi = max(cuts[-1] + 1, centre - w // (2 * count)), min(w - 1, centre + w // (2 * count))
        cuts.append(lo + int(np.argmin(smooth[lo:hi])))
    cuts.append(w)
    crops: list[U8] = []
    for left, right in itertools.pairwise(cuts):
        part = ridge[:, left:right]
        prow = np.flatnonzero(part.mean(axis=1) > 0.02)
        if right - left < 32 or not len(prow):
            raise FingerprintImageError("slap segmentation found an empty finger segment")
        start = int(prow[0])
        stop = min(h, start + int(1.5 * (right - left)))
        crops.append(np.ascontiguousarray(grey[max(0, start - 8) : stop, left:right]))
    return crops


# -- Bozorth3 ------------------------------------------------------------------------------


def _template(minutiae: npt.ArrayLike) -> bytes:
    """nbis-py's own template bytes for an (n, 3+) array (its src/encoding.rs layout)."""
    m = np.asarray(minutiae, dtype=np.float64).reshape(-1, np.shape(minutiae)[-1])
    if len(m) > BOZORTH_MAX:
        order = np.argsort(-m[:, 4], kind="stable") if m.shape[1] > 4 else np.arange(len(m))
        m = m[order[:BOZORTH_MAX]]
    # In x, then y order, as nbis-py's extractor hands its minutiae over: Bozorth's result
    # depends on the order of its input (measured: 33 in this order, 5 in quality order).
    m = m[np.lexsort((m[:, 1], m[:, 0]))]
    xs = np.clip(np.round(m[:, 0]), 0, 0x3FFF).astype(np.int64)
    ys = np.clip(np.round(m[:, 1]), 0, 0xFFFF).astype(np.int64)
    nbis_angle = (m[:, 2] - 180.0) % 360.0
    codes = np.round(nbis_angle / (360.0 / 256)).astype(np.int64) & 0xFF
    kinds = np.where(m[:, 3] > 0.5, 2, 1) if m.shape[1] > 3 else np.ones(len(m), np.int64)
    quality = np.clip(m[:, 4] * 63 / 100, 0, 63).astype(np.int64) if m.shape[1] > 4 else 63
    body = bytearray()
    for x, y, c, k, q in zip(xs, ys, codes, kinds, np.broadcast_to(quality, xs.shape), strict=True):
        body += bytes(((int(k) << 6) | (int(x) >> 8), int(x) & 0xFF, int(y) >> 8, int(y) & 0xFF))
        body += bytes((int(c), int(q)))
    width = int(min(0xFFFF, xs.max() + 1 if len(xs) else 1))
    height = int(min(0xFFFF, ys.max() + 1 if len(ys) else 1))
    total = 26 + len(body)
    head = b"FMR\0 20\0" + total.to_bytes(4, "big") + b"\0\0"
    head += width.to_bytes(2, "big") + height.to_bytes(2, "big")
    head += bytes((0, 0, 0, 0, 0, 0, 0, len(m)))
    return head + bytes(body)


def bozorth_set(minutiae: npt.ArrayLike) -> Any:
    """An nbis-py `Minutiae` for an (n, 3+) array in our convention."""
    return _extractor(False).load_iso_19794_2_2005(_template(minutiae))


def bozorth_score(a: npt.ArrayLike, b: npt.ArrayLike) -> int:
    """Bozorth3's match score of two minutiae arrays (higher is more similar)."""
    if not len(np.asarray(a)) or not len(np.asarray(b)):
        return 0
    return int(bozorth_set(a).compare(bozorth_set(b)))


#: Bozorth3 score that maps to 1.0: NBIS's guide puts a true match above about 40
#: (NISTIR 7392, bozorth3); measured on NIST's tpcard, rolled against plain impressions of
#: the same finger score 17-47, different fingers at most 15 (bench.extract_fingerprint).
BOZORTH_FULL = 40.0


def bozorth_scores(pairs: Sequence[tuple[F32, F32]]) -> npt.NDArray[np.float64]:
    """Re-ranking scores in [0, 1] of many (query, held) pairs: min(1, Bozorth3 / 40), each
    query set converted once (`matchers.fingerprint.PairScorer`)."""
    cache: dict[int, Any] = {}

    def as_set(m: F32) -> Any:
        key = id(m)
        if key not in cache:
            cache[key] = bozorth_set(m) if len(m) else None
        return cache[key]

    out = np.zeros(len(pairs))
    for i, (a, b) in enumerate(pairs):
        sa, sb = as_set(a), as_set(b)
        if sa is not None and sb is not None:
            out[i] = min(1.0, sa.compare(sb) / BOZORTH_FULL)
    return out
