"""Face pictures out of their containers: bare images, ANSI/NIST-ITL Type-10, ISO 19794-5."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from exchange.codecs import iso_face
from exchange.codecs.ansi_nist import TaggedRecord, Transaction, encode_transaction, text
from exchange.codecs.errors import CodecError
from exchange.face_samples import face_samples, image_of

HEADER = {
    2: text("0500"),
    4: text("AMN"),
    5: text("20261208"),
    7: text("GB/UKFP"),
    8: text("DE/BKA"),
    9: text("GB-0002"),
    11: text("19.68"),
    12: text("19.68"),
}


def _picture(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 64), (30, 60, 90)).save(out, fmt)
    return out.getvalue()


def _type10(data: bytes, cga: str, imt: str = "FACE", idc: int = 1) -> TaggedRecord:
    fields = {3: text(imt), 6: text("48"), 7: text("64"), 11: text(cga)}
    return TaggedRecord(10, idc, fields, data)


@pytest.mark.parametrize(("fmt", "code"), [("JPEG", "JPEGB"), ("PNG", "PNG"), ("JPEG2000", "JP2")])
def test_a_bare_image_is_one_sample_sized_from_its_header(fmt: str, code: str) -> None:
    (sample,) = face_samples(_picture(fmt))
    assert (sample.where, sample.image.compression) == ("image", code)
    assert (sample.image.width, sample.image.height) == (48, 64)


def test_type_10_face_records_are_read_and_other_images_skipped() -> None:
    face = _picture("JPEG")
    records = (_type10(face, "JPEGB"), _type10(_picture("PNG"), "PNG", imt="SMT", idc=2))
    data = encode_transaction(Transaction(HEADER, records))
    (sample,) = face_samples(data)
    assert sample.where == "Type-10[1]" and sample.image.data == face


def test_a_type_10_of_an_unusable_compression_names_its_field() -> None:
    data = encode_transaction(Transaction(HEADER, (_type10(_picture("PNG"), "WSQ20"),)))
    with pytest.raises(CodecError) as caught:
        face_samples(data)
    assert caught.value.field == "Type-10[1].10.011"


def test_a_transaction_without_a_face_says_so() -> None:
    data = encode_transaction(Transaction(HEADER, ()))
    with pytest.raises(CodecError, match="no face image"):
        face_samples(data)


def test_iso_records_give_each_of_their_images() -> None:
    img = image_of(_picture("JPEG"))
    samples = face_samples(iso_face.encode([img, img]))
    assert [s.where for s in samples] == ["iso-19794-5.images[0]", "iso-19794-5.images[1]"]


def test_anything_else_is_refused() -> None:
    with pytest.raises(CodecError, match="not an image"):
        face_samples(b"%PDF-1.7")


def test_int_i_xml_face_records_are_read() -> None:
    import datetime as dt

    from exchange.codecs import int_i_xml
    from exchange.codecs.int_i_model import Agency, IntiTransaction, Type1, Type2
    from exchange.codecs.int_i_prints import BiometricRecord

    now = dt.datetime(2026, 12, 8, 12, tzinfo=dt.UTC)
    face = _picture("JPEG")
    record = BiometricRecord(10, "1", compression="JPEGB", width=48, height=64, image=face)
    tx = IntiTransaction(
        Type1(
            "CPS",
            "26000000000002B",
            now.date(),
            Agency("NCA", "GBR"),
            Agency("INTERPOL", "XPO", "INT"),
            now,
        ),
        Type2(),
        (record,),
    )
    (sample,) = face_samples(int_i_xml.encode(tx))
    assert sample.image.data == face and sample.image.compression == "JPEGB"
