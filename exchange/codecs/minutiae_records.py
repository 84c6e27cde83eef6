"""Finger minutiae records ⇄ bytes ⇄ the model: INCITS 378-2004, INCITS 378-2009, ISO 19794-2:2005.

Sans-IO (STYLE.md §1): `decode(bytes) -> MinutiaeRecord`, `encode(record) -> bytes`, and the
conversions `to_fingerprint_set` / `from_fingerprint_set`. All integers are big-endian.

Layouts, as read by NIST libbiomeval (usnistgov/libbiomeval src/libbiomeval/
be_finger_incitsview.cpp `readFMRHeader`/`readFVMR`/`scanFMD`/`readExtendedDataBlock`,
be_finger_ansi2004view.cpp, be_finger_ansi2007view.cpp, be_finger_iso2005view.cpp) and
the INCITS 378-2009 view layout and quality ranges also as read by FingerprintIO
(robertvazan/fingerprintio-java ansi378v2009/Ansi378v2009Fingerprint.java, ValidateAnsi.java);
checked byte by byte on libbiomeval's test records fmr.ansi2004, fmr.ansi2007, fmr.iso2005:

- Record header. "FMR\\0", then the version: " 20\\0" (INCITS 378-2004 and ISO 19794-2:2005)
  or "030\\0" (INCITS 378-2009; ISO 19794-2:2011 also says "030" but is a different layout
  and is not read here). Record length: 2004 two bytes, or 0x0000 then four bytes when the
  record is longer than 65535; ISO 2005 and 2009 four bytes. CBEFF product id (owner u16,
  type u16): INCITS only. Capture equipment u16: compliance (top 4 bits) and scanner id (12
  bits). 2004 and ISO: image width, height, x and y resolution (u16 each, pixels per cm).
  Number of views u8, reserved u8. Header: 26 bytes (2004; 30 with the long length), 24
  (ISO), 20 (2009).
- Finger view. Finger position u8 (0-10, 11-14 plain thumbs/slaps); 2004 and ISO: view number
  (high 4 bits) and impression type (low 4 bits) in one byte; 2009: view number u8 and
  impression u8. Finger quality u8. 2009 only: quality algorithm owner u16 and id u16, then
  the view's own width, height, x and y resolution (u16 each). Number of minutiae u8.
- Minutia, 6 bytes: type (2 bits: 0 other, 1 ridge ending, 2 bifurcation) and x (14 bits);
  reserved (2 bits) and y (14 bits); angle u8; quality u8 (0-100, 0 = not reported).
  X and Y are pixels from the upper-left corner, Y downwards.
- Extended data: length u16, then that many bytes (ridge-count and core/delta blocks, each
  type u16, length u16 including those 4 bytes). Kept here as opaque bytes and written back
  as read; `minutiae_extended_data` splits them into blocks and reads the ridge counts.

Angles. INCITS 378 counts units of 2 degrees (0-179), ISO 19794-2:2005 units of 360/256
degrees (0-255); both counter-clockwise from the horizontal axis pointing right. The model
keeps the ANSI/NIST legacy 9.012 convention and, like `ansi_nist_prints._incits_minutiae`
(which reads the same INCITS units from Type-9 9.137), turns a record angle into
theta = degrees + 180 (mod 360), rounded to whole degrees; writing reverses it. Positions
are scaled from the record's pixels per cm to the set's ppi (197 px/cm is 500.38 ppi).
Minutia types: 0 other, 1 ridge ending, 2 bifurcation; the model's compound is written as
other. Impressions (the first view's decides the set's): 0, 2, 8, 9 plain, 1, 3 rolled, 4-7
latent, any other code plain; palms cannot be written. Finger and minutia quality are 0-100;
2009 adds 254 (not reported) and 255 (failed), which the model gets as 0. Minutia quality
0-100 maps to the model's unchanged.

Known faults in the samples: in fmr.ansi2004 and fmr.iso2005 the last view's extended-data
length disagrees with the record length (2 bytes short in the 2004 record, 1 byte beyond it
in the ISO one; their core/delta blocks miscount delta angles). `decode` refuses that unless
called with `lenient_tail=True`, which gives the last view the bytes up to the record end
and keeps the declared length so that `encode` writes the record back byte for byte.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from exchange.codecs.errors import CodecError
from exchange.model import Finger, FingerprintSet, Impression, Minutia, MinutiaKind

MAGIC = b"FMR\x00"
_VERSION_20 = b" 20\x00"
_VERSION_30 = b"030\x00"
_PPCM_PER_PPI = 2.54


class RecordFormat(StrEnum):
    ANSI_2004 = "incits-378-2004"
    ANSI_2009 = "incits-378-2009"
    ISO_2005 = "iso-19794-2-2005"


_KIND_OF_CODE: Mapping[int, MinutiaKind] = {
    0: MinutiaKind.OTHER,
    1: MinutiaKind.RIDGE_ENDING,
    2: MinutiaKind.BIFURCATION,
}
#: Compound minutiae have no code in these formats; they are written as "other".
_CODE_OF_KIND: Mapping[MinutiaKind, int] = {
    MinutiaKind.OTHER: 0,
    MinutiaKind.COMPOUND: 0,
    MinutiaKind.RIDGE_ENDING: 1,
    MinutiaKind.BIFURCATION: 2,
}
#: Impression codes (INCITS 378 / ISO 19794-2 and ANSI/NIST 1-2011 Table 7).
_IMPRESSION_OF_CODE: Mapping[int, Impression] = {
    **dict.fromkeys((0, 2, 8, 9), Impression.PLAIN),
    **dict.fromkeys((1, 3), Impression.ROLLED),
    **dict.fromkeys((4, 5, 6, 7), Impression.LATENT),
}
_CODE_OF_IMPRESSION: Mapping[Impression, int] = {
    Impression.PLAIN: 0,
    Impression.ROLLED: 1,
    Impression.LATENT: 4,
}


@dataclass(frozen=True, slots=True)
class RecordMinutia:
    """One minutia as stored: pixels, angle in the format's units, type code 0-2."""

    kind: int
    x: int
    y: int
    angle: int
    quality: int
    reserved: int = 0


@dataclass(frozen=True, slots=True)
class FingerView:
    """One finger view. Image size and resolution fields are used by the 2009 format only."""

    position: int
    view_number: int
    impression: int
    quality: int
    minutiae: tuple[RecordMinutia, ...] = ()
    extended_data: bytes = b""
    # The declared extended-data length when it disagreed with the bytes (lenient_tail).
    declared_extended_length: int | None = None
    quality_owner: int = 0
    quality_algorithm: int = 0
    width: int = 0
    height: int = 0
    x_resolution: int = 0
    y_resolution: int = 0


@dataclass(frozen=True, slots=True)
class MinutiaeRecord:
    """A whole record. Width to y_resolution (px/cm) are 0 in 2009 records (kept per view)."""

    format: RecordFormat
    views: tuple[FingerView, ...]
    width: int = 0
    height: int = 0
    x_resolution: int = 0
    y_resolution: int = 0
    cbeff_owner: int = 0
    cbeff_type: int = 0
    equipment_compliance: int = 0
    equipment_id: int = 0
    reserved: int = 0
    long_length: bool = False  # 2004 only: the 6-byte length form


class _Reader:
    """Bounds-checked big-endian reads; every failure is a CodecError naming field and offset."""

    def __init__(self, data: bytes, end: int) -> None:
        self.data = data
        self.end = end
        self.pos = 0

    def take(self, size: int, field: str) -> bytes:
        if self.pos + size > self.end:
            raise CodecError(field, f"truncated: needs {size} bytes", offset=self.pos)
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def u16(self, field: str) -> int:
        return int.from_bytes(self.take(2, field), "big")

    def u32(self, field: str) -> int:
        return int.from_bytes(self.take(4, field), "big")


# --- decoding ----------------------------------------------------------------------------


def decode(
    data: bytes, *, fmt: RecordFormat | None = None, lenient_tail: bool = False
) -> MinutiaeRecord:
    """Parse one record. " 20" records are told apart by their length field unless `fmt` says."""
    if not isinstance(data, bytes):
        raise CodecError("record", "input must be bytes")
    if data[:4] != MAGIC:
        raise CodecError("record.format_identifier", "expected 'FMR\\0'", offset=0)
    found = _detect(data, fmt)
    reader = _Reader(data, len(data))
    reader.pos = 8
    header, count = _read_header(reader, found)
    views = tuple(
        _read_view(reader, found, f"record.view[{n}]", lenient_tail and n == count - 1)
        for n in range(count)
    )
    if reader.pos != len(data):
        raise CodecError(
            "record.length",
            f"{len(data) - reader.pos} bytes after the last view",
            offset=reader.pos,
        )
    return replace(header, views=views)


def _detect(data: bytes, fmt: RecordFormat | None) -> RecordFormat:
    version = data[4:8]
    if version == _VERSION_30:
        found = RecordFormat.ANSI_2009
    elif version != _VERSION_20:
        raise CodecError("record.version", f"unknown version {version!r}", offset=4)
    elif fmt is not None:
        found = fmt
    elif data[8:10] == b"\x00\x00" and data[10:14] == len(data).to_bytes(4, "big"):
        found = RecordFormat.ANSI_2004  # the 6-byte length form
    elif data[8:12] == len(data).to_bytes(4, "big"):
        found = RecordFormat.ISO_2005
    elif data[8:10] != b"\x00\x00":
        found = RecordFormat.ANSI_2004  # the 2-byte form; _read_length checks its value
    else:
        raise CodecError(
            "record.length",
            f"matches neither the INCITS 378-2004 nor the ISO 19794-2 form for {len(data)} bytes",
            offset=8,
        )
    if fmt is not None and fmt != found:
        raise CodecError("record.version", f"version {version!r} is not {fmt}", offset=4)
    return found


def _read_length(reader: _Reader, fmt: RecordFormat) -> tuple[int, bool]:
    length = reader.u16("record.length") if fmt is RecordFormat.ANSI_2004 else 0
    long_form = length == 0
    if long_form:
        length = reader.u32("record.length")
    if length != len(reader.data):
        raise CodecError(
            "record.length", f"says {length} bytes, the record has {len(reader.data)}", offset=8
        )
    return length, long_form and fmt is RecordFormat.ANSI_2004


def _read_header(reader: _Reader, fmt: RecordFormat) -> tuple[MinutiaeRecord, int]:
    _, long_form = _read_length(reader, fmt)
    owner = kind = 0
    if fmt is not RecordFormat.ISO_2005:
        owner, kind = reader.u16("record.cbeff_owner"), reader.u16("record.cbeff_type")
    equipment = reader.u16("record.capture_equipment")
    size = {name: 0 for name in _SIZE_FIELDS}
    if fmt is not RecordFormat.ANSI_2009:
        size = {name: reader.u16(f"record.{name}") for name in _SIZE_FIELDS}
    count, reserved = reader.u8("record.views"), reader.u8("record.reserved")
    header = MinutiaeRecord(
        fmt,
        (),
        size["width"],
        size["height"],
        size["x_resolution"],
        size["y_resolution"],
        owner,
        kind,
        equipment >> 12,
        equipment & 0x0FFF,
        reserved,
        long_form,
    )
    return header, count


_SIZE_FIELDS = ("width", "height", "x_resolution", "y_resolution")


def _read_view(reader: _Reader, fmt: RecordFormat, where: str, lenient: bool) -> FingerView:
    position = reader.u8(f"{where}.position")
    if position > 14:
        raise CodecError(f"{where}.position", f"finger position {position}", offset=reader.pos - 1)
    if fmt is RecordFormat.ANSI_2009:
        number, impression = reader.u8(f"{where}.view_number"), reader.u8(f"{where}.impression")
    else:
        both = reader.u8(f"{where}.view_number")
        number, impression = both >> 4, both & 0x0F
    quality = reader.u8(f"{where}.quality")
    if not _quality_ok(fmt, quality):
        raise CodecError(f"{where}.quality", f"finger quality {quality}", offset=reader.pos - 1)
    extra: dict[str, int] = {}
    if fmt is RecordFormat.ANSI_2009:
        extra["quality_owner"] = reader.u16(f"{where}.quality_owner")
        extra["quality_algorithm"] = reader.u16(f"{where}.quality_algorithm")
        extra.update((name, reader.u16(f"{where}.{name}")) for name in _SIZE_FIELDS)
    count = reader.u8(f"{where}.minutiae_count")
    minutiae = tuple(_read_minutia(reader, fmt, f"{where}.minutiae[{i}]") for i in range(count))
    extended, declared = _read_extended(reader, f"{where}.extended_data", lenient)
    return FingerView(position, number, impression, quality, minutiae, extended, declared, **extra)


def _read_minutia(reader: _Reader, fmt: RecordFormat, where: str) -> RecordMinutia:
    start = reader.pos
    first, second = reader.u16(where), reader.u16(where)
    angle, quality = reader.u8(f"{where}.angle"), reader.u8(f"{where}.quality")
    if first >> 14 == 3:
        raise CodecError(f"{where}.type", "minutia type 3 is reserved", offset=start)
    if fmt is not RecordFormat.ISO_2005 and angle > 179:
        raise CodecError(f"{where}.angle", f"{angle} beyond 179 (2-degree units)", offset=start + 4)
    if not _quality_ok(fmt, quality):
        raise CodecError(f"{where}.quality", f"minutia quality {quality}", offset=start + 5)
    return RecordMinutia(first >> 14, first & 0x3FFF, second & 0x3FFF, angle, quality, second >> 14)


def _quality_ok(fmt: RecordFormat, quality: int) -> bool:
    """0-100; INCITS 378-2009 adds 254 (not reported) and 255 (failed)."""
    return 0 <= quality <= 100 or (fmt is RecordFormat.ANSI_2009 and quality in (254, 255))


def _read_extended(reader: _Reader, where: str, lenient: bool) -> tuple[bytes, int | None]:
    start = reader.pos
    length = reader.u16(f"{where}.length")
    if lenient and reader.pos + length != reader.end:
        return reader.take(reader.end - reader.pos, where), length
    if reader.pos + length > reader.end:
        raise CodecError(
            f"{where}.length", f"{length} bytes, only {reader.end - reader.pos} left", offset=start
        )
    return reader.take(length, where), None


# --- encoding ----------------------------------------------------------------------------


def encode(record: MinutiaeRecord) -> bytes:
    """Write `record` in its own format; lengths are computed, never taken from the record."""
    body = b"".join(
        _view_bytes(record.format, view, f"views[{n}]") for n, view in enumerate(record.views)
    )
    if len(record.views) > 255:
        raise CodecError("views", f"{len(record.views)} views, at most 255")
    fmt = record.format
    fields = b""
    if fmt is not RecordFormat.ISO_2005:
        fields += _u16s("cbeff", record.cbeff_owner, record.cbeff_type)
    elif record.cbeff_owner or record.cbeff_type:
        raise CodecError("cbeff", "ISO 19794-2:2005 records carry no CBEFF product id")
    if record.equipment_compliance > 15 or record.equipment_id > 0x0FFF:
        raise CodecError("equipment", "compliance beyond 4 bits or scanner id beyond 12 bits")
    fields += _u16s("equipment", record.equipment_compliance << 12 | record.equipment_id)
    size = (record.width, record.height, record.x_resolution, record.y_resolution)
    if fmt is not RecordFormat.ANSI_2009:
        fields += _u16s("size", *size)
    elif any(size):
        raise CodecError("size", "INCITS 378-2009 records keep image size and resolution per view")
    fields += bytes([len(record.views), _byte("reserved", record.reserved)])
    if fmt is RecordFormat.ANSI_2009:
        return _with_length(_VERSION_30, 4, fields + body)
    if fmt is RecordFormat.ISO_2005:
        return _with_length(_VERSION_20, 4, fields + body)
    total = 8 + 2 + len(fields) + len(body)
    if record.long_length or total > 0xFFFF:
        return _with_length(_VERSION_20, 6, fields + body)
    return _with_length(_VERSION_20, 2, fields + body)


def _with_length(version: bytes, size: int, rest: bytes) -> bytes:
    total = 8 + size + len(rest)
    if total > 0xFFFFFFFF:
        raise CodecError("record.length", "record longer than 4 GiB")
    return MAGIC + version + total.to_bytes(size, "big") + rest


def _u16s(field: str, *values: int) -> bytes:
    if any(not 0 <= v <= 0xFFFF for v in values):
        raise CodecError(field, "value outside 0-65535")
    return struct.pack(f">{len(values)}H", *values)


def _byte(field: str, value: int) -> int:
    if not 0 <= value <= 255:
        raise CodecError(field, f"{value} outside 0-255")
    return value


def _view_bytes(fmt: RecordFormat, view: FingerView, where: str) -> bytes:
    if not 0 <= view.position <= 14:
        raise CodecError(f"{where}.position", f"finger position {view.position} is not 0-14")
    out = bytes([view.position])
    number, impression = view.view_number, view.impression
    if fmt is RecordFormat.ANSI_2009:
        out += bytes(
            [_byte(f"{where}.view_number", number), _byte(f"{where}.impression", impression)]
        )
    elif not (0 <= number <= 15 and 0 <= impression <= 15):
        raise CodecError(f"{where}.view_number", "view number and impression must fit 4 bits")
    else:
        out += bytes([number << 4 | impression])
    if not _quality_ok(fmt, view.quality):
        raise CodecError(f"{where}.quality", f"finger quality {view.quality} out of range")
    out += bytes([view.quality])
    if fmt is RecordFormat.ANSI_2009:
        out += _u16s(f"{where}.quality_algorithm", view.quality_owner, view.quality_algorithm)
        out += _u16s(f"{where}.size", view.width, view.height, view.x_resolution, view.y_resolution)
    if len(view.minutiae) > 255:
        raise CodecError(f"{where}.minutiae", f"{len(view.minutiae)} minutiae, at most 255")
    out += bytes([len(view.minutiae)])
    out += b"".join(
        _minutia_bytes(fmt, m, f"{where}.minutiae[{i}]") for i, m in enumerate(view.minutiae)
    )
    declared = (
        len(view.extended_data)
        if view.declared_extended_length is None
        else view.declared_extended_length
    )
    return out + _u16s(f"{where}.extended_data", declared) + view.extended_data


def _minutia_bytes(fmt: RecordFormat, m: RecordMinutia, where: str) -> bytes:
    top_angle = 255 if fmt is RecordFormat.ISO_2005 else 179
    if not (0 <= m.kind <= 2 and 0 <= m.reserved <= 3):
        raise CodecError(f"{where}.type", "type must be 0-2 and reserved bits 0-3")
    if not (0 <= m.x <= 0x3FFF and 0 <= m.y <= 0x3FFF):
        raise CodecError(f"{where}.x", "x and y must fit 14 bits")
    if not (0 <= m.angle <= top_angle and _quality_ok(fmt, m.quality)):
        raise CodecError(f"{where}.angle", f"angle beyond 0-{top_angle} or quality out of range")
    return struct.pack(">HHBB", m.kind << 14 | m.x, m.reserved << 14 | m.y, m.angle, m.quality)


# --- the model ---------------------------------------------------------------------------


def _angle_unit(fmt: RecordFormat) -> float:
    return 360 / 256 if fmt is RecordFormat.ISO_2005 else 2.0


def _ppcm(record: MinutiaeRecord, view: FingerView) -> tuple[int, int]:
    if record.format is RecordFormat.ANSI_2009:
        return view.x_resolution, view.y_resolution
    return record.x_resolution, record.y_resolution


def to_fingerprint_set(record: MinutiaeRecord, *, ppi: int | None = None) -> FingerprintSet:
    """The record's minutiae at `ppi` (default: the first view's resolution, rounded)."""
    if not record.views:
        raise CodecError("record.views", "a record without views holds no fingers")
    first_x, _ = _ppcm(record, record.views[0])
    target = ppi if ppi is not None else round(first_x * _PPCM_PER_PPI)
    if target <= 0:
        raise CodecError("record.x_resolution", "resolution must be positive")
    fingers = tuple(
        _finger(record, view, target, f"record.view[{n}]") for n, view in enumerate(record.views)
    )
    impression = _IMPRESSION_OF_CODE.get(record.views[0].impression, Impression.PLAIN)
    return FingerprintSet(fingers, impression, target)


def _finger(record: MinutiaeRecord, view: FingerView, ppi: int, where: str) -> Finger:
    x_ppcm, y_ppcm = _ppcm(record, view)
    if x_ppcm <= 0 or y_ppcm <= 0:
        raise CodecError(f"{where}.x_resolution", "resolution must be positive")
    sx, sy = ppi / (x_ppcm * _PPCM_PER_PPI), ppi / (y_ppcm * _PPCM_PER_PPI)
    unit = _angle_unit(record.format)
    minutiae = tuple(
        Minutia(
            round(m.x * sx),
            round(m.y * sy),
            round(m.angle * unit + 180) % 360,
            _kind(m.kind, where),
            m.quality if m.quality <= 100 else 0,  # 2009's 254/255 are "no quality"
        )
        for m in view.minutiae
    )
    return Finger(view.position, minutiae)


def _kind(code: int, where: str) -> MinutiaKind:
    kind = _KIND_OF_CODE.get(code)
    if kind is None:
        raise CodecError(f"{where}.minutiae", f"minutia type {code} is not 0-2")
    return kind


def from_fingerprint_set(
    fs: FingerprintSet,
    fmt: RecordFormat = RecordFormat.ISO_2005,
    *,
    ppcm: int = 197,
    width: int = 0,
    height: int = 0,
) -> MinutiaeRecord:
    """A record of `fs` in `fmt` at `ppcm` pixels per cm; fingers become views in order."""
    if ppcm <= 0 or fs.ppi <= 0:
        raise CodecError("ppcm", "resolutions must be positive")
    impression = _CODE_OF_IMPRESSION.get(fs.impression)
    if impression is None:
        raise CodecError("fingerprints.impression", f"{fs.impression} prints are not fingers")
    numbers: dict[int, int] = {}
    views = []
    for finger in fs.fingers:
        number = numbers.get(finger.position, 0)
        numbers[finger.position] = number + 1
        minutiae = tuple(_record_minutia(m, fs.ppi, ppcm, fmt) for m in finger.minutiae)
        views.append(FingerView(finger.position, number, impression, 0, minutiae))
    if fmt is RecordFormat.ANSI_2009:
        sized = (
            replace(v, width=width, height=height, x_resolution=ppcm, y_resolution=ppcm)
            for v in views
        )
        return MinutiaeRecord(fmt, tuple(sized))
    return MinutiaeRecord(fmt, tuple(views), width, height, ppcm, ppcm)


def _record_minutia(m: Minutia, ppi: int, ppcm: int, fmt: RecordFormat) -> RecordMinutia:
    scale = ppcm * _PPCM_PER_PPI / ppi
    unit = _angle_unit(fmt)
    steps = round(360 / unit)
    angle = round(((m.angle - 180) % 360) / unit) % steps
    return RecordMinutia(
        _CODE_OF_KIND[m.kind], round(m.x * scale), round(m.y * scale), angle, m.quality
    )
