"""Face images out of whatever a face sample arrives in: an image file, an ANSI/NIST-ITL
transaction (Type-10 face records, traditional encoding; INT-I v6 in either encoding) or an
ISO/IEC 19794-5 face record.

What each container calls its pictures (ANSI/NIST-ITL 1-2011 §8.10: Type-10 10.003 IMT
"FACE", 10.011 CGA the compression, 10.999 the image; ISO/IEC 19794-5:2005 §5.7 image data
type JPEG / JPEG 2000) is read by the codecs; this module picks the face images out and names
each by where it came from, so an error says which picture was bad. Sans-IO: bytes in.
"""

from __future__ import annotations

from dataclasses import dataclass

from exchange.codecs import ansi_nist, int_i_xml, iso_face
from exchange.codecs.ansi_nist_records import TaggedRecord
from exchange.codecs.errors import CodecError
from exchange.model import BiometricImage
from matchers import face_image

# Compressions a face picture may carry here (ANSI/NIST-ITL CGA codes, Table 15).
FACE_COMPRESSIONS = frozenset({"JPEGB", "JPEGL", "JP2", "JP2L", "PNG"})
_OF_FORMAT = {"jpeg": "JPEGB", "jp2": "JP2", "png": "PNG"}


@dataclass(frozen=True, slots=True)
class FaceSample:
    where: str  # e.g. "Type-10[2]", "iso-19794-5.images[0]", "image"
    image: BiometricImage


def image_of(data: bytes, where: str = "image") -> BiometricImage:
    """A bare JPEG / JPEG 2000 / PNG as a `BiometricImage`, its size from the header."""
    try:
        header = face_image.read_header(data)
    except face_image.FaceImageError as exc:
        raise CodecError(where, exc.reason) from exc
    return BiometricImage(data, _OF_FORMAT[header.format], header.width, header.height)


def face_samples(data: bytes, where: str = "file") -> list[FaceSample]:
    """Every face picture in `data`; CodecError when there is none or the container is bad."""
    if face_image.sniff_format(data) is not None:
        return [FaceSample("image", image_of(data, where))]
    if iso_face.is_iso_face(data):
        record = iso_face.decode(data)
        return [
            FaceSample(f"iso-19794-5.images[{i}]", img.image) for i, img in enumerate(record.images)
        ]
    if data[:1] == b"<":
        return _int_i_xml(data)
    if data[:2] == b"1.":
        return _ansi_nist(data)
    raise CodecError(
        where, "not an image (JPEG, JPEG 2000, PNG), ANSI/NIST-ITL transaction or ISO 19794-5"
    )


def _ansi_nist(data: bytes) -> list[FaceSample]:
    tx = ansi_nist.decode_transaction(data)
    found = []
    for i, rec in enumerate(tx.records):
        if not isinstance(rec, TaggedRecord) or rec.type != 10:
            continue
        where = f"Type-10[{i + 1}]"
        if (rec.text(3) or "FACE").upper() != "FACE":
            continue  # a Type-10 may hold a scar, mark or tattoo (IMT SMT)
        cga = (rec.text(11) or "").upper()
        if cga not in FACE_COMPRESSIONS:
            raise CodecError(f"{where}.10.011", f"compression {cga!r}: JPEG, JPEG 2000 or PNG")
        if not rec.data:
            raise CodecError(f"{where}.10.999", "holds no image")
        found.append(FaceSample(where, _sized(rec.data, cga, f"{where}.10.999")))
    if not found:
        raise CodecError("Type-10", "the transaction holds no face image (Type-10, IMT FACE)")
    return found


def _int_i_xml(data: bytes) -> list[FaceSample]:
    tx = int_i_xml.decode(data)
    found = []
    for i, rec in enumerate(tx.records):
        if rec.record_type != 10 or rec.image is None:
            continue
        where = f"PackageFacialAndSMTImageRecord[{i}]"
        cga = (rec.compression or "").upper()
        if cga not in FACE_COMPRESSIONS:
            raise CodecError(f"{where}.ImageCompressionAlgorithmText", f"{cga!r}: JPEG/JP2/PNG")
        found.append(FaceSample(where, _sized(rec.image, cga, where)))
    if not found:
        raise CodecError("Type-10", "the INT-I transaction holds no face image")
    return found


def _sized(data: bytes, compression: str, where: str) -> BiometricImage:
    img = image_of(data, where)
    return BiometricImage(data, compression, img.width, img.height)
