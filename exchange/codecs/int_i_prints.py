"""Biometric records of INT-I XML: Type-4/10/13/14 images, Type-9 minutiae, Type-20 sources.

Format: the ANSI/NIST-ITL 1-2011 XML encoding (NIST `itl` schema over the NIEM 2.0 biometrics
domain) as INT-I v6.00 uses it. Images travel as `nc:BinaryBase64Object`; Type-9 minutiae in
the INCITS 378 block (`biom:INCITSMinutiae`), whose category codes are 0 other, 1 ridge ending,
2 bifurcation. A decoded record keeps its original XML and is written back from it; a record
built here (`xml=None`) is written from its typed fields, minimally but schema-valid: fields
outside the schema's ranges (finger position codes, theta 0-179, ...) are refused. A Type-10
or Type-20 record read from the traditional encoding takes the fields INT-I makes mandatory
and the model does not type from its kept traditional fields (`fields`): 10.003 IMT (only
`FACE` has an XML form here), 10.004/20.004 SRC, 10.005 PHD / 20.005 SRD, 10.012/20.013 CSP,
20.003 CAR, 20.014 AQS, 20.015 SFT item B and 20.021 SRN, with INT-I's defaults where absent.
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

MAX_THETA = 179  # INCITS 378 angles: units of 2 degrees


@dataclass(frozen=True, slots=True)
class IncitsMinutia:
    """One 9.137 FMD minutia: pixels from the upper left, `theta` in units of 2 degrees."""

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
    if theta > MAX_THETA or category > 2 or quality > 100:
        # 9.137 MAV is one field of both encodings (the MRT's `TX` row): INCITS 378's angle
        # in units of 2 degrees, whatever the wider type the NIEM element has (0-359).
        raise CodecError(
            path_of(element),
            "angle beyond 179 (2-degree units), type beyond 2 or quality beyond 100",
        )
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
    if record.record_type == 10:
        return _build_face_image(record)
    if record.record_type == 20:
        return _build_source(record)
    raise CodecError(f"Type-{record.record_type}", "only Type-4/9/10/13/14/20 records are built")


def _kept(record: BiometricRecord, tag: int) -> tuple[str, ...] | None:
    """The first subfield's items of a kept traditional field, None when absent or empty."""
    for f in record.fields:
        if f.tag == tag and f.subfields and any(f.subfields[0]):
            return f.subfields[0]
    return None


def _kept_item(record: BiometricRecord, tag: int, item: int = 0) -> str | None:
    items = _kept(record, tag)
    return items[item] if items is not None and len(items) > item and items[item] else None


def _iso_date(value: str, where: str) -> str:
    """A traditional YYYYMMDD (or YYYYMMDDhhmm) as the XML's YYYY-MM-DD."""
    if len(value) < 8 or not value[:8].isascii() or not value[:8].isdigit():
        raise CodecError(where, f"date must start YYYYMMDD, got {value[:12]!r}")
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}"


def _capture_detail(record: BiometricRecord, date_tag: int) -> etree._Element | None:
    """ImageCaptureDetail: the capture date (PHD/SRD) and the source agency (SRC)."""
    where = f"Type-{record.record_type}[{record.idc}]"
    date = _kept_item(record, date_tag)
    agency = _kept_item(record, 4)
    parts = []
    if date is not None:
        day = _iso_date(date, f"{where}.{record.record_type}.{date_tag:03d}")
        parts.append(el("biom", "CaptureDate", text_el("nc", "Date", day)))
    if agency is not None:
        parts.append(
            el(
                "biom",
                "CaptureOrganization",
                el("nc", "OrganizationIdentification", text_el("nc", "IdentificationID", agency)),
            )
        )
    return el("biom", "ImageCaptureDetail", *parts) if parts else None


def _image_content(
    record: BiometricRecord,
    date_tag: int,
    color_tag: int,
    compression: str | None,
    dimensions: list[etree._Element],
) -> list[etree._Element]:
    """An image's data, capture detail, colour space, compression and dimensions, in order."""
    if record.image is None:
        raise CodecError(
            f"Type-{record.record_type}[{record.idc}]", "an image record needs image data"
        )
    parts = [text_el("nc", "BinaryBase64Object", base64.b64encode(record.image).decode("ascii"))]
    detail = _capture_detail(record, date_tag)
    if detail is not None:
        parts.append(detail)
    color = _kept_item(record, color_tag)
    if color is not None:
        parts.append(text_el("biom", "ImageColorSpaceCode", color))
    if compression is not None:
        parts.append(text_el("biom", "ImageCompressionAlgorithmText", compression))
    return parts + dimensions


#: Type-20's image dimensions: kept traditional fields (20.006-20.010), by element.
_SOURCE_DIMENSIONS = (
    (6, "ImageHorizontalLineLengthPixelQuantity"),
    (9, "ImageHorizontalPixelDensityValue"),
    (8, "ImageScaleUnitsCode"),
    (7, "ImageVerticalLineLengthPixelQuantity"),
    (10, "ImageVerticalPixelDensityValue"),
)


def _build_face_image(record: BiometricRecord) -> etree._Element:
    kind = _kept_item(record, 3) or "FACE"
    if kind != "FACE":
        raise CodecError(
            f"Type-10[{record.idc}].10.003", f"only FACE images are built, not {kind[:12]!r}"
        )
    root = _header(record)
    content = _image_content(record, 5, 12, record.compression or "NONE", _image_dimensions(record))
    root.append(el("biom", "FaceImage", *content))
    return root


def _build_source(record: BiometricRecord) -> etree._Element:
    root = _header(record)
    root.append(text_el("biom", "SourceRecordCardinalityCode", _kept_item(record, 3) or "D"))
    root.append(
        el(
            "biom",
            "SourceAcquisition",
            text_el("biom", "AcquisitionSourceCode", _kept_item(record, 14) or "0"),
        )
    )
    file_type = record.compression or _kept_item(record, 15)
    if file_type is None:
        raise CodecError(f"Type-20[{record.idc}].20.015", "SFT (the file type) is missing")
    file_format = el(
        "biom", "SourceFileFormat", text_el("biom", "SourceFileCategoryText", file_type)
    )
    instructions = _kept_item(record, 15, 1)
    if instructions is not None:
        file_format.append(text_el("biom", "SourceFileDecodingInstructionsText", instructions))
    root.append(file_format)
    root.append(id_el("biom", "SourceIdentification", _kept_item(record, 21) or "1"))
    dimensions = [
        text_el("biom", name, value)
        for tag, name in _SOURCE_DIMENSIONS
        if (value := _kept_item(record, tag)) is not None
    ]
    content = _image_content(record, 5, 13, _kept_item(record, 11), dimensions)
    root.append(el("biom", "SourceImage", *content))
    return root


def _check_positions(record: BiometricRecord) -> None:
    for p in record.positions:
        if p not in FINGER_POSITIONS:
            raise CodecError(
                f"Type-{record.record_type}[{record.idc}].positions", f"{p} is no finger position"
            )


def _check_minutia(record: BiometricRecord, index: int, m: IncitsMinutia) -> None:
    """The facets of int-i.xsd's INCITS minutia: what it refuses is not built."""
    where = f"Type-9[{record.idc}].minutiae[{index}]"
    if min(m.x, m.y, m.quality) < 0 or m.quality > 100:
        raise CodecError(where, "x and y must not be negative, quality must be 0-100")
    if not 0 <= m.theta <= MAX_THETA:
        raise CodecError(f"{where}.theta", f"{m.theta} is not 0-179 (units of 2 degrees)")
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
