"""INT-I v6 biometric records in the traditional encoding: `BiometricRecord` <-> ANSI/NIST records.

Format: ANSI/NIST-ITL 1-2011 Update 2015 traditional encoding as INT-I v6.00 profiles it
(`MRT_INT-I_FieldDefinition.csv`, record types 4, 9, 10, 13, 14, 20). The typed fields of
`BiometricRecord` travel in these fields:

- Type-4 (binary): IDC, IMP, FGP, HLL, VLL, GCA (compression code of 1-2011 Table 15) and the
  image. Its ISR says only the resolution class, so `ppi` does not travel.
- Type-9, INCITS 378 block (9.004 FMT `U`): 9.003 IMP, 9.128 HLL, 9.129 VLL, 9.130 SLC (1,
  pixels per inch), 9.131 THPS / 9.132 TVPS (the ppi), 9.134 FGP (one subfield a position),
  9.136 NOM and 9.137 FMD with items (index from 1, x, y, angle 0-179 in 2-degree units as
  `IncitsMinutia.theta` holds it, type 0-2, quality 0-100).
- Type-10/13/14: .003 IMP (13, 14), .006 HLL, .007 VLL, .008 SLC 1, .009 THPS, .010 TVPS,
  .011 CGA (the compression text), .013 FGP (13, 14), .999 DATA.
- Type-20: 20.003 CAR `D` and 20.021 SRN `1` (fixed by INT-I), 20.015 SFT item A (file type,
  `compression` in the model), 20.999 DATA.

Every other field of a record read here is kept in `BiometricRecord.fields` and written back,
so read -> write -> read gives the same model. Fields the writer fills because the format
needs them and the model has no value for (9.004 FMT, 20.003 CAR, 20.021 SRN) are not kept
when they hold exactly the filled value. A record decoded from XML keeps its XML
(`BiometricRecord.xml`); this encoding cannot carry it (`untransportable`).
"""

from __future__ import annotations

from collections.abc import Mapping

from exchange.codecs.ansi_nist_prints import COMPRESSION_CODES, fmd_minutia
from exchange.codecs.ansi_nist_records import (
    Record,
    Subfields,
    TaggedRecord,
    Type4Record,
    text,
    unsigned,
)
from exchange.codecs.errors import CodecError
from exchange.codecs.int_i_prints import BiometricRecord, IncitsMinutia, TraditionalField

RECORD_TYPES = frozenset({4, 9, 10, 13, 14, 20})
_CODE_OF_COMPRESSION = {name: code for code, name in COMPRESSION_CODES.items()}

#: Fields the writer fills when the model has none, dropped on reading when unchanged.
FILLED: Mapping[int, Mapping[int, Subfields]] = {
    9: {4: text("U")},
    20: {3: text("D"), 21: text("1")},
}
#: Fields each record type's typed attributes travel in (never kept in `fields`).
TYPED: Mapping[int, frozenset[int]] = {
    9: frozenset({3, 128, 129, 130, 131, 132, 134, 136, 137}),
    10: frozenset({6, 7, 8, 9, 10, 11}),
    13: frozenset({3, 6, 7, 8, 9, 10, 11, 13}),
    14: frozenset({3, 6, 7, 8, 9, 10, 11, 13}),
    20: frozenset({15}),
}


def _where(rtype: int, index: int) -> str:
    return f"Type-{rtype}[{index}]"


def idc_number(idc: str, path: str) -> int:
    """The model's IDC as the traditional encoding's number 0-99."""
    if not idc.isascii() or not idc.isdigit() or len(idc) > 2:
        raise CodecError(path, f"IDC must be a number 0-99, got {idc[:8]!r}")
    return int(idc)


def _single(rec: TaggedRecord, tag: int, where: str) -> str | None:
    value = rec.fields.get(tag)
    if value is None:
        return None
    if len(value) != 1 or len(value[0]) != 1:
        raise CodecError(f"{where}.{rec.type}.{tag:03d}", "expected one value")
    return value[0][0]


def _number(rec: TaggedRecord, tag: int, where: str) -> int | None:
    value = _single(rec, tag, where)
    return None if value is None else unsigned(value, f"{where}.{rec.type}.{tag:03d}", digits=5)


def _positions(rec: TaggedRecord, tag: int, where: str) -> tuple[int, ...]:
    path = f"{where}.{rec.type}.{tag:03d}"
    found = []
    for items in rec.fields.get(tag, ()):
        if len(items) != 1:
            raise CodecError(path, "one finger position a subfield")
        found.append(unsigned(items[0], path, digits=2))
    return tuple(found)


def _kept(rec: TaggedRecord, untyped: frozenset[int] = frozenset()) -> tuple[TraditionalField, ...]:
    """The record's fields that no typed attribute holds (`untyped`: typed ones left unread)."""
    typed = TYPED.get(rec.type, frozenset()) - untyped
    filled = FILLED.get(rec.type, {})
    return tuple(
        TraditionalField(tag, tuple(value))
        for tag, value in sorted(rec.fields.items())
        if tag not in typed and filled.get(tag) != value
    )


def _ppi(rec: TaggedRecord, where: str, tags: tuple[int, int, int]) -> int | None:
    """THPS as the model's ppi when SLC is 1 (ppi) and TVPS equals it, else None.

    Another scale (pixels per cm, non-square pixels) stays verbatim in the kept fields.
    """
    slc, thps, tvps = tags
    ppi = _number(rec, thps, where)
    if ppi is None or _single(rec, slc, where) != "1" or _number(rec, tvps, where) != ppi:
        return None
    return ppi


def read_record(record: Record, index: int) -> BiometricRecord:
    """One Type-4/9/10/13/14/20 record as the model's `BiometricRecord`."""
    where = _where(record.type, index)
    if record.type not in RECORD_TYPES:
        raise CodecError(where, f"record type {record.type} is not part of INT-I's model")
    if isinstance(record, Type4Record):
        compression = COMPRESSION_CODES.get(record.compression)
        if compression is None:
            raise CodecError(f"{where}.4.008", f"GCA {record.compression} is not a known code")
        return BiometricRecord(
            record_type=4,
            idc=str(record.idc),
            positions=record.positions,
            impression=str(record.impression),
            compression=compression,
            width=record.width,
            height=record.height,
            image=record.data,
        )
    if not isinstance(record, TaggedRecord):  # types 3, 5-8 are outside RECORD_TYPES
        raise CodecError(where, f"record type {record.type} is not part of INT-I's model")
    if record.type == 9:
        return _read_minutiae(record, where)
    if record.type == 20:
        sft = record.fields.get(15)
        if sft is not None and (len(sft) != 1 or not sft[0][0]):
            raise CodecError(f"{where}.20.015", "SFT must be one subfield naming the file type")
        rest = tuple(sft[0][1:]) if sft is not None else ()
        kept = _kept(record)
        if rest:  # decoding instructions (item B): keep the field whole, not the file type
            kept = tuple(sorted((*kept, TraditionalField(15, tuple(sft or ()))), key=_tag))
        return BiometricRecord(
            record_type=20,
            idc=str(record.idc),
            compression=None if rest or sft is None else sft[0][0],
            image=record.data,
            fields=kept,
        )
    return _read_image(record, where)


def _tag(f: TraditionalField) -> int:
    return f.tag


def _read_image(rec: TaggedRecord, where: str) -> BiometricRecord:
    finger = rec.type in {13, 14}
    ppi = _ppi(rec, where, (8, 9, 10))
    return BiometricRecord(
        record_type=rec.type,
        idc=str(rec.idc),
        positions=_positions(rec, 13, where) if finger else (),
        impression=_single(rec, 3, where) if finger else None,
        compression=_single(rec, 11, where),
        width=_number(rec, 6, where),
        height=_number(rec, 7, where),
        ppi=ppi,
        image=rec.data,
        fields=_kept(rec, frozenset({8, 9, 10}) if ppi is None else frozenset()),
    )


def _read_minutiae(rec: TaggedRecord, where: str) -> BiometricRecord:
    fmd = rec.fields.get(137, ())
    count = _number(rec, 136, where)
    if count is not None and count != len(fmd):
        raise CodecError(f"{where}.9.136", f"NOM {count} but 9.137 lists {len(fmd)} minutiae")
    if fmd and _single(rec, 4, where) != "U":
        raise CodecError(f"{where}.9.004", "INCITS 378 minutiae (9.137) need FMT U")
    minutiae = []
    for n, items in enumerate(fmd):
        minutiae.append(IncitsMinutia(*fmd_minutia(items, f"{where}.9.137[{n}]")))
    ppi = _ppi(rec, where, (130, 131, 132))
    return BiometricRecord(
        record_type=9,
        idc=str(rec.idc),
        positions=_positions(rec, 134, where),
        impression=_single(rec, 3, where),
        width=_number(rec, 128, where),
        height=_number(rec, 129, where),
        ppi=ppi,
        minutiae=tuple(minutiae),
        fields=_kept(rec, frozenset({130, 131, 132}) if ppi is None else frozenset()),
    )


# --- writing ----------------------------------------------------------------------------


def untransportable_record(record: BiometricRecord, path: str) -> list[str]:
    """Paths of the record's model fields that its traditional record cannot carry."""
    lost = [f"{path}.xml"] if record.xml is not None else []
    rtype = record.record_type
    unused = {
        4: ("ppi", "minutiae"),
        9: ("compression", "image"),
        10: ("positions", "impression", "minutiae"),
        13: ("minutiae",),
        14: ("minutiae",),
        20: ("positions", "impression", "width", "height", "ppi", "minutiae"),
    }.get(rtype, ())
    for name in unused:
        if getattr(record, name) not in (None, ()):
            lost.append(f"{path}.{name}")
    if rtype == 4:  # the binary header always has these: an absent value is written as 0
        lost += [
            f"{path}.{name}"
            for name in ("positions", "impression", "width", "height")
            if getattr(record, name) in (None, ())
        ]
    return lost


def write_record(record: BiometricRecord, index: int) -> Record:
    """The traditional record of one `BiometricRecord` (its XML, if any, does not travel)."""
    rtype = record.record_type
    where = _where(rtype, index)
    if rtype not in RECORD_TYPES:
        raise CodecError(where, f"record type {rtype} is not part of INT-I's model")
    idc = idc_number(record.idc, f"{where}.{rtype}.002")
    if rtype == 4:
        return _write_type4(record, idc, where)
    if rtype != 9 and record.image is None:
        raise CodecError(f"{where}.{rtype}.999", "an image record needs image data")
    built: dict[int, Subfields] = dict(FILLED.get(rtype, {}))
    if rtype == 9:
        built |= _minutiae_fields(record, where)
    elif rtype == 20:
        if record.compression is not None:
            built[15] = text(record.compression)
    else:
        built |= _image_fields(record)
    for extra in record.fields:
        path = f"{where}.{rtype}.{extra.tag:03d}"
        if extra.tag in built and extra.tag not in FILLED.get(rtype, {}):
            raise CodecError(path, "held both by the model and as a kept field")
        built[extra.tag] = extra.subfields
    return TaggedRecord(rtype, idc, built, None if rtype == 9 else record.image)


def _dimensions(record: BiometricRecord, tags: tuple[int, ...]) -> dict[int, Subfields]:
    hll, vll, slc, thps, tvps = tags
    out: dict[int, Subfields] = {}
    if record.width is not None:
        out[hll] = text(str(record.width))
    if record.height is not None:
        out[vll] = text(str(record.height))
    if record.ppi is not None:
        out |= {slc: text("1"), thps: text(str(record.ppi)), tvps: text(str(record.ppi))}
    return out


def _minutiae_fields(record: BiometricRecord, where: str) -> dict[int, Subfields]:
    for n, m in enumerate(record.minutiae):
        # what `_read_minutiae` takes: MRT 9.137 items of at most five digits, MAV {0..179}
        if not (0 <= m.x <= 99999 and 0 <= m.y <= 99999 and 0 <= m.quality <= 100):
            raise CodecError(f"{where}.9.137[{n}]", "x, y must be 0-99999, quality 0-100")
        if not (0 <= m.theta <= 179 and 0 <= m.category <= 2):
            raise CodecError(f"{where}.9.137[{n}]", "angle must be 0-179 and type 0-2")
    out = _dimensions(record, (128, 129, 130, 131, 132))
    if record.impression is not None:
        out[3] = text(record.impression)
    if record.positions:
        out[134] = tuple((str(p),) for p in record.positions)
    if record.minutiae:
        out[136] = text(str(len(record.minutiae)))
        out[137] = tuple(
            (str(n), str(m.x), str(m.y), str(m.theta), str(m.category), str(m.quality))
            for n, m in enumerate(record.minutiae, start=1)
        )
    return out


def _image_fields(record: BiometricRecord) -> dict[int, Subfields]:
    out = _dimensions(record, (6, 7, 8, 9, 10))
    if record.compression is not None:
        out[11] = text(record.compression)
    if record.record_type in {13, 14}:
        if record.impression is not None:
            out[3] = text(record.impression)
        if record.positions:
            out[13] = tuple((str(p),) for p in record.positions)
    return out


def _write_type4(record: BiometricRecord, idc: int, where: str) -> Type4Record:
    if record.image is None:
        raise CodecError(f"{where}.4.999", "an image record needs image data")
    code = _CODE_OF_COMPRESSION.get(record.compression or "NONE")
    if code is None:
        raise CodecError(f"{where}.4.008", f"no GCA code for compression {record.compression!r}")
    impression = unsigned(record.impression or "0", f"{where}.4.003", digits=3)
    if record.fields:
        raise CodecError(f"{where}.4", "a binary Type-4 record has no further fields")
    return Type4Record(
        idc=idc,
        impression=impression,
        positions=record.positions or (0,),
        width=record.width or 0,
        height=record.height or 0,
        compression=code,
        data=record.image,
    )
