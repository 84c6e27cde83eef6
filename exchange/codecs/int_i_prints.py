"""Biometric records of INT-I XML: Type-4/10/13/14 images, Type-9 minutiae, Type-20 sources.

Format: the ANSI/NIST-ITL 1-2011 XML encoding (NIST `itl` schema over the NIEM 2.0 biometrics
domain) as INT-I v6.00 uses it. Images travel as `nc:BinaryBase64Object`; Type-9 minutiae in
the INCITS 378 block (`biom:INCITSMinutiae`), whose category codes are 0 other, 1 ridge ending,
2 bifurcation. A decoded record keeps its original XML and is written back from it; a record
built here (`xml=None`) is written from its typed fields, minimally but schema-valid: fields
outside the schema's ranges (finger position codes, theta 0-359, ...) are refused.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from lxml import etree

from exchange.codecs.errors import CodecError
from exchange.codecs.int_i_tree import (
    canonical,
    child,
    el,
    id_el,
    need,
    need_text,
    opt_text,
    path_of,
    q,
    text_el,
)


@dataclass(frozen=True, slots=True)
class IncitsMinutia:
    x: int
    y: int
    theta: int
    category: int = 1  # 0 other, 1 ridge ending, 2 bifurcation
    quality: int = 50


@dataclass(frozen=True, slots=True)
class TraditionalField:
    """A field of the traditional encoding that the model does not hold, kept to be written back.

    `subfields` are the field's subfields of information items, as
    `exchange.codecs.ansi_nist_records` reads them.
    """

    tag: int
    subfields: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class BiometricRecord:
    """One Type-4/9/10/13/14/20 record: its main fields, and the original XML when decoded."""

    record_type: int
    idc: str = "0"
    positions: tuple[int, ...] = ()
    impression: str | None = None  # FingerprintImageImpressionCaptureCategoryCode / 9.003
    compression: str | None = None  # e.g. WSQ20, JP2, NONE; for Type-20 the file format
    width: int | None = None
    height: int | None = None
    ppi: int | None = None
    image: bytes | None = None
    minutiae: tuple[IncitsMinutia, ...] = ()
    xml: bytes | None = None
    fields: tuple[TraditionalField, ...] = ()  # traditional fields beyond the typed ones


#: biom:FingerPositionCodeSimpleType: 0-19, 33, 36, 40-54, 255 (unknown).
FINGER_POSITIONS = frozenset({*range(20), 33, 36, *range(40, 55), 255})

RECORD_TAGS = {
    4: "PackageHighResolutionGrayscaleImageRecord",
    9: "PackageMinutiaeRecord",
    10: "PackageFacialAndSMTImageRecord",
    13: "PackageLatentImageRecord",
    14: "PackageFingerprintImageRecord",
    20: "PackageSourceRepresentationRecord",
}


def _int(parent: etree._Element | None, prefix: str, name: str) -> int | None:
    text = opt_text(parent, prefix, name)
    if text is None or parent is None:
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise CodecError(path_of(parent, f"{prefix}:{name}"), f"not a number: {text!r}") from exc


def _positions(image: etree._Element) -> tuple[int, ...]:
    found = []
    for element in image.iterchildren(q("biom", "FingerPositionCode")):
        text = (element.text or "").strip()
        if not text.isdigit():
            raise CodecError(path_of(element), f"not a finger position: {text[:10]!r}")
        found.append(int(text))
    return tuple(found)


def _image_data(parent: etree._Element | None) -> bytes | None:
    found = child(parent, "nc", "BinaryBase64Object") if parent is not None else None
    if found is None:
        return None
    try:
        return base64.b64decode("".join((found.text or "").split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CodecError(path_of(found), "not base64") from exc


def _read_image(record: etree._Element, record_type: int, idc: str) -> BiometricRecord:
    image = child(record, "biom", "FingerImpressionImage")
    if image is None:
        image = child(record, "biom", "FaceImage")
    return BiometricRecord(
        record_type=record_type,
        idc=idc,
        positions=_positions(image) if image is not None else (),
        impression=opt_text(image, "biom", "FingerprintImageImpressionCaptureCategoryCode"),
        compression=opt_text(image, "biom", "ImageCompressionAlgorithmText"),
        width=_int(image, "biom", "ImageHorizontalLineLengthPixelQuantity"),
        height=_int(image, "biom", "ImageVerticalLineLengthPixelQuantity"),
        ppi=_int(image, "biom", "ImageHorizontalPixelDensityValue"),
        image=_image_data(image),
        xml=canonical(record),
    )


def _read_minutia(element: etree._Element) -> IncitsMinutia:
    location = need(element, "biom", "INCITSMinutiaLocation")
    values = [
        _int(location, "biom", "PositionHorizontalCoordinateValue"),
        _int(location, "biom", "PositionVerticalCoordinateValue"),
        _int(location, "biom", "ImageLocationThetaAngleMeasure"),
        _int(element, "biom", "INCITSMinutiaCategoryCode"),
        _int(element, "biom", "MinutiaQualityValue"),
    ]
    if any(v is None for v in values):
        raise CodecError(path_of(element), "a minutia needs x, y, theta, category and quality")
    x, y, theta, category, quality = (v or 0 for v in values)
    return IncitsMinutia(x, y, theta, category, quality)


def _read_minutiae(record: etree._Element, idc: str) -> BiometricRecord:
    incits = child(record, "biom", "INCITSMinutiae")
    image = child(incits, "biom", "FingerImpressionImage") if incits is not None else None
    positions = () if image is None else _positions(image)
    minutiae = (
        ()
        if incits is None
        else tuple(_read_minutia(m) for m in incits.iterchildren(q("biom", "INCITSMinutia")))
    )
    return BiometricRecord(
        record_type=9,
        idc=idc,
        positions=positions,
        impression=opt_text(record, "biom", "MinutiaeImpressionCaptureCategoryCode"),
        width=_int(image, "biom", "ImageHorizontalLineLengthPixelQuantity"),
        height=_int(image, "biom", "ImageVerticalLineLengthPixelQuantity"),
        ppi=_int(image, "biom", "ImageHorizontalPixelDensityValue"),
        minutiae=minutiae,
        xml=canonical(record),
    )


def _read_source(record: etree._Element, idc: str) -> BiometricRecord:
    file_format = child(record, "biom", "SourceFileFormat")
    return BiometricRecord(
        record_type=20,
        idc=idc,
        compression=opt_text(file_format, "biom", "SourceFileCategoryText"),
        image=_image_data(child(record, "biom", "SourceImage")),
        xml=canonical(record),
    )


def read_record(record: etree._Element, record_type: int) -> BiometricRecord:
    idc = need_text(need(record, "biom", "ImageReferenceIdentification"), "nc", "IdentificationID")
    if record_type == 9:
        return _read_minutiae(record, idc)
    if record_type == 20:
        return _read_source(record, idc)
    return _read_image(record, record_type, idc)


# --- building ---------------------------------------------------------------------------


def build_record(record: BiometricRecord) -> etree._Element:
    """The record's element: its original XML if it was decoded, else built from its fields."""
    if record.xml is not None:
        return etree.fromstring(record.xml)
    if record.record_type == 9:
        return _build_minutiae(record)
    if record.record_type in {4, 13, 14}:
        return _build_finger_image(record)
    raise CodecError(f"Type-{record.record_type}", "only Type-4/9/13/14 records can be built new")


def _check_positions(record: BiometricRecord) -> None:
    for p in record.positions:
        if p not in FINGER_POSITIONS:
            raise CodecError(
                f"Type-{record.record_type}[{record.idc}].positions", f"{p} is no finger position"
            )


def _check_minutia(record: BiometricRecord, index: int, m: IncitsMinutia) -> None:
    """The facets of int-i.xsd's INCITS minutia: what it refuses is not built."""
    where = f"Type-9[{record.idc}].minutiae[{index}]"
    if min(m.x, m.y, m.quality) < 0:
        raise CodecError(where, "x, y and quality must not be negative")
    if not 0 <= m.theta <= 359:
        raise CodecError(f"{where}.theta", f"{m.theta} is not 0-359")
    if m.category not in (0, 1, 2):
        raise CodecError(f"{where}.category", f"{m.category} is not 0, 1 or 2")


def _header(record: BiometricRecord) -> etree._Element:
    return el(
        "itl",
        RECORD_TAGS[record.record_type],
        text_el("biom", "RecordCategoryCode", f"{record.record_type:02d}"),
        id_el("biom", "ImageReferenceIdentification", record.idc),
    )


def _image_dimensions(record: BiometricRecord) -> list[etree._Element]:
    for name in ("width", "height", "ppi"):
        value = getattr(record, name)
        if value is not None and value < 0:
            raise CodecError(f"Type-{record.record_type}[{record.idc}].{name}", "is negative")
    ppi = str(record.ppi or 500)
    return [
        text_el("biom", "ImageHorizontalLineLengthPixelQuantity", str(record.width or 0)),
        text_el("biom", "ImageHorizontalPixelDensityValue", ppi),
        text_el("biom", "ImageScaleUnitsCode", "1"),  # pixels per inch
        text_el("biom", "ImageVerticalLineLengthPixelQuantity", str(record.height or 0)),
        text_el("biom", "ImageVerticalPixelDensityValue", ppi),
    ]


def _build_finger_image(record: BiometricRecord) -> etree._Element:
    if record.image is None:
        raise CodecError(
            f"Type-{record.record_type}[{record.idc}]", "an image record needs image data"
        )
    _check_positions(record)
    image = el("biom", "FingerImpressionImage")
    image.append(
        text_el("nc", "BinaryBase64Object", base64.b64encode(record.image).decode("ascii"))
    )
    image.append(text_el("biom", "ImageBitsPerPixelQuantity", "8"))
    image.append(text_el("biom", "ImageCompressionAlgorithmText", record.compression or "NONE"))
    image.extend(_image_dimensions(record))
    image.append(
        text_el("biom", "FingerprintImageImpressionCaptureCategoryCode", record.impression or "1")
    )
    image.extend(text_el("biom", "FingerPositionCode", str(p)) for p in record.positions or (0,))
    root = _header(record)
    root.append(image)
    return root


def _build_minutia(index: int, m: IncitsMinutia) -> etree._Element:
    return el(
        "biom",
        "INCITSMinutia",
        id_el("biom", "MinutiaIdentification", str(index)),
        el(
            "biom",
            "INCITSMinutiaLocation",
            text_el("biom", "PositionHorizontalCoordinateValue", str(m.x)),
            text_el("biom", "PositionVerticalCoordinateValue", str(m.y)),
            text_el("biom", "ImageLocationThetaAngleMeasure", str(m.theta)),
        ),
        text_el("biom", "INCITSMinutiaCategoryCode", str(m.category)),
        text_el("biom", "MinutiaQualityValue", str(m.quality)),
    )


def _build_minutiae(record: BiometricRecord) -> etree._Element:
    if not record.minutiae:
        raise CodecError(f"Type-9[{record.idc}]", "a minutiae record needs at least one minutia")
    _check_positions(record)
    for index, m in enumerate(record.minutiae):
        _check_minutia(record, index, m)
    image = el("biom", "FingerImpressionImage", *_image_dimensions(record))
    image.extend(text_el("biom", "FingerPositionCode", str(p)) for p in record.positions or (0,))
    incits = el(
        "biom",
        "INCITSMinutiae",
        id_el("biom", "CBEFFFormatOwnerIdentification", "27"),  # INCITS technical committee M1
        id_el("biom", "CBEFFFormatCategoryIdentification", "513"),  # INCITS 378 finger minutiae
        id_el("biom", "CBEFFProductIdentification", "0"),
        el("biom", "ImageCaptureDetail", id_el("biom", "CaptureDeviceIdentification", "0")),
        image,
        text_el("biom", "FingerViewNumeric", "0"),
        el(
            "biom",
            "MinutiaeQuality",
            id_el("biom", "QualityAlgorithmProductIdentification", "0"),
            text_el("biom", "QualityValue", "255"),  # 255: not computed
            id_el("biom", "QualityAlgorithmVendorIdentification", "0"),
        ),
        text_el("biom", "MinutiaeQuantity", str(len(record.minutiae))),
    )
    incits.extend(_build_minutia(i, m) for i, m in enumerate(record.minutiae))
    root = _header(record)
    root.append(text_el("biom", "MinutiaeImpressionCaptureCategoryCode", record.impression or "0"))
    root.append(text_el("biom", "MinutiaeFormatNISTStandardIndicator", "false"))
    root.append(incits)
    return root
