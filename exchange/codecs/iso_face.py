"""ISO/IEC 19794-5:2005 face image data records ("FAC\\0", version "010\\0"): read and write.

Layout (ISO/IEC 19794-5:2005 §5; big-endian): a 14-byte general header (format identifier
`FAC\\0`, version `010\\0`, record length in 4 bytes, number of facial images in 2), then per
image a facial information block of 20 bytes (block length 4, number of feature points 2,
gender, eye colour, hair colour, feature mask 3, expression 2, pose angles 3, their
uncertainties 3), its feature points (8 bytes each: type, code, x 2, y 2, reserved 2), a
12-byte image information block (face image type, image data type 0 JPEG / 1 JPEG 2000, width
2, height 2, colour space, source type, device type 2, quality 2) and the image data, which
runs to the end of the block. Checked against NIST libbiomeval's `face01.iso2005`.

Sans-IO (STYLE.md §1): bytes in, `FaceRecord` out; every inconsistency is a `CodecError`
naming the field and its byte offset.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from exchange.codecs.errors import CodecError
from exchange.model import BiometricImage

MAGIC = b"FAC\x00"
VERSION = b"010\x00"
_HEADER = struct.Struct(">4s4sIH")
_FACIAL = struct.Struct(">IHBBB3sH3s3s")
_POINT_SIZE = 8
_IMAGE_INFO = struct.Struct(">BBHHBBHH")
MAX_IMAGES = 16
_DATA_TYPES = {0: "JPEGB", 1: "JP2"}


@dataclass(frozen=True, slots=True)
class FaceImageRecord:
    """One facial image of the record: the picture and what the record says of it."""

    image: BiometricImage
    image_type: int
    feature_points: int
    pose: tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class FaceRecord:
    images: tuple[FaceImageRecord, ...]


def is_iso_face(data: bytes) -> bool:
    return data[:4] == MAGIC


def decode(data: bytes, path: str = "iso-19794-5") -> FaceRecord:
    if len(data) < _HEADER.size:
        raise CodecError(f"{path}.header", f"{len(data)} bytes, shorter than its 14-byte header")
    magic, version, length, count = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise CodecError(f"{path}.format_identifier", "is not 'FAC\\0'", offset=0)
    if version != VERSION:
        raise CodecError(f"{path}.version", f"{version!r}: only '010' (2005) is read", offset=4)
    if length != len(data):
        raise CodecError(
            f"{path}.record_length", f"says {length}, record has {len(data)}", offset=8
        )
    if not 1 <= count <= MAX_IMAGES:
        raise CodecError(f"{path}.number_of_images", f"{count}: 1 to {MAX_IMAGES}", offset=12)
    images, at = [], _HEADER.size
    for i in range(count):
        images.append(_facial(data, at, f"{path}.images[{i}]"))
        at += _FACIAL.unpack_from(data, at)[0]
    if at != len(data):
        raise CodecError(f"{path}", f"{len(data) - at} bytes after the last image", offset=at)
    return FaceRecord(tuple(images))


def _facial(data: bytes, at: int, path: str) -> FaceImageRecord:
    if at + _FACIAL.size > len(data):
        raise CodecError(f"{path}.facial_information", "runs past the end", offset=at)
    block, points, _g, _e, _h, _mask, _x, pose, _u = _FACIAL.unpack_from(data, at)
    info_at = at + _FACIAL.size + points * _POINT_SIZE
    if block < info_at + _IMAGE_INFO.size - at or at + block > len(data):
        raise CodecError(f"{path}.block_length", f"{block} does not fit the record", offset=at)
    image_type, data_type, width, height, *_ = _IMAGE_INFO.unpack_from(data, info_at)
    compression = _DATA_TYPES.get(data_type)
    if compression is None:
        raise CodecError(
            f"{path}.image_data_type", f"{data_type}: 0 (JPEG) or 1 (JPEG 2000)", offset=info_at + 1
        )
    picture = data[info_at + _IMAGE_INFO.size : at + block]
    if not picture:
        raise CodecError(f"{path}.image_data", "is empty", offset=info_at + _IMAGE_INFO.size)
    image = BiometricImage(picture, compression, width, height)
    return FaceImageRecord(image, image_type, points, (pose[0], pose[1], pose[2]))


def encode(images: list[BiometricImage]) -> bytes:
    """A record of basic face images without feature points (for tests and tools)."""
    blocks = []
    for img in images:
        kind = {"JPEGB": 0, "JPEGL": 0, "JP2": 1, "JP2L": 1}.get(img.compression)
        if kind is None:
            raise CodecError("iso-19794-5.image_data_type", f"{img.compression}: JPEG or JP2 only")
        info = _IMAGE_INFO.pack(0, kind, img.width, img.height, 1, 0, 0, 0)
        size = _FACIAL.size + len(info) + len(img.data)
        blocks.append(_FACIAL.pack(size, 0, 0, 0, 0, b"\0\0\0", 0, b"\0\0\0", b"\0\0\0"))
        blocks.append(info + img.data)
    body = b"".join(blocks)
    return _HEADER.pack(MAGIC, VERSION, _HEADER.size + len(body), len(images)) + body
