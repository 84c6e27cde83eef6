"""ISO/IEC 19794-5:2005 face records: NIST's face01.iso2005, round trips, malformed records."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from exchange.codecs import iso_face
from exchange.codecs.errors import CodecError
from exchange.face_samples import face_samples
from exchange.model import BiometricImage
from matchers import face_image
from tests.shared_data import THIRDPARTY, needs_shared

FACE01 = THIRDPARTY / "usnistgov-libbiomeval" / "face01.iso2005"


@needs_shared
def test_nists_face01_reads_as_one_jpeg_of_280_by_320() -> None:
    record = iso_face.decode(FACE01.read_bytes())
    (only,) = record.images
    assert (only.image.compression, only.image.width, only.image.height) == ("JPEGB", 280, 320)
    assert only.feature_points == 4
    assert only.image.data[:3] == b"\xff\xd8\xff"
    assert Image.open(io.BytesIO(only.image.data)).size == (280, 320)


@needs_shared
def test_face01_holds_a_dog_so_no_face_is_found() -> None:
    (sample,) = face_samples(FACE01.read_bytes())
    assert sample.where == "iso-19794-5.images[0]"
    with pytest.raises(face_image.NoFaceError, match="no face found"):
        face_image.extract(sample.image.data)


def _jpeg() -> BiometricImage:
    out = io.BytesIO()
    Image.new("RGB", (40, 50), (10, 20, 30)).save(out, "JPEG")
    return BiometricImage(out.getvalue(), "JPEGB", 40, 50)


def test_a_record_written_reads_back() -> None:
    img = _jpeg()
    record = iso_face.decode(iso_face.encode([img, img]))
    assert [i.image for i in record.images] == [img, img]


@pytest.mark.parametrize(
    ("corrupt", "field"),
    [
        (lambda b: b[:10], "iso-19794-5.header"),
        (lambda b: b"FAX\0" + b[4:], "iso-19794-5.format_identifier"),
        (lambda b: b[:4] + b"020\0" + b[8:], "iso-19794-5.version"),
        (lambda b: b + b"x", "iso-19794-5.record_length"),
        (lambda b: b[:12] + b"\0\0" + b[14:], "iso-19794-5.number_of_images"),
        (lambda b: b[:14] + b"\xff\xff\xff\xff" + b[18:], "iso-19794-5.images[0].block_length"),
        (lambda b: b[:35] + b"\x07" + b[36:], "iso-19794-5.images[0].image_data_type"),
    ],
)
def test_malformed_records_are_codec_errors_naming_the_field(corrupt, field) -> None:  # type: ignore[no-untyped-def]
    data = iso_face.encode([_jpeg()])
    with pytest.raises(CodecError) as caught:
        iso_face.decode(corrupt(data))
    assert caught.value.field == field
