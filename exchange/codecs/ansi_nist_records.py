"""ANSI/NIST-ITL traditional encoding: logical records ⇄ bytes, sans-IO.

Format: ANSI/NIST-ITL 1-2011 (NIST Special Publication 500-290), Annex B "Traditional
encoding", as profiled for Prüm and Interpol by the Interpol Implementation (INT-I v4.22b,
based on ANSI/NIST-ITL 1-2000; the 2008/616/JHA appendix shows its Type-1 record).

- Tagged records (Types 1, 2, 9-22, 98, 99: every tagged type of 1-2011 with its Updates of
  2013 and 2015): fields `T.NNN:value` separated by GS, the record ended by FS; within a
  field, subfields by RS and information items by US. Field T.001 (LEN) is the record's
  length in bytes including the final FS; field T.002 (IDC) is the information designation
  character (0-99) that ties records of one sample together. Records of `DATA_TYPES` may end
  with binary field T.999 (DATA: an image, a voice recording, a CBEFF block), which may
  contain any byte, so their end is found only through LEN; the image records 10, 13, 14 and
  15 must. Types this codec does not interpret (11, 12, 16-22, 98, 99) are read and written
  field for field, so a transaction that carries them round-trips.
- Type-1 field 1.003 (CNT) lists every other record as (type, IDC); its first subfield is
  (1, number of other records). The reader checks the records against it; the writer
  computes it. Type-1 has no IDC.
- Type-4 (legacy high-resolution grey-scale fingerprint image) is binary: an 18-byte header
  of LEN (4 bytes, big-endian), IDC (1), IMP (1), FGP (6, unused positions 255), ISR (1),
  HLL (2), VLL (2), GCA (1), then the image bytes. Type-3 (legacy low-resolution grey-scale,
  deprecated since 1-2007 but still in old files such as libbiomeval's type3.an2k) has the
  same header (ANSI/NIST-ITL 1-2000 §11, "Type-3 through Type-6 ... binary records"), read
  and written as a `Type4Record` of `type` 3; Types 5 and 6 (binary bi-level images, also
  deprecated) have that header too. Types 7 (user-defined image) and 8 (signature) are binary
  with LEN (4) and IDC (1) and a body the codec keeps opaque (`BinaryRecord`).
- 1.002 VER: the versions of the standard whose traditional encoding this reader follows,
  `VERSIONS`: 1-2000 "0300", 1-2007 "0400", 1-2011 "0500", its Update 2013 "0501" (the
  Update's note to 1.002: "0501 indicates that the 2013 Updates have been included"), Update
  2015 "0502" (INT-I's MRT, 1.002 as XML: major 05, minor 02 "represents the 2015 Update"),
  and "0600", the value INT-I v6's MRT lists for the traditional 1.002; others are refused.
- Text is carried as ISO 8859-1 (Latin-1), the repertoire that 1.015 DCS "000"/"001" and
  the nistitl implementation use, unless 1.015 DCS names UTF-8 (index 3 in 1-2011 Table 4
  "Character encoding"): then the text of every record but Type-1 (always 7-bit ASCII) is
  UTF-8, read and written so. UTF-16 and UTF-32 (indexes 2 and 4) would put separator bytes
  inside characters, so a traditional transaction declaring them is refused, as are the
  reserved indexes 5-127; user-defined sets (128-999) are carried byte for byte as Latin-1.
  Images are carried opaque with their compression code.

This module knows records and fields, not what a transaction means; the mapping between
transactions (CPS, SRE, ERR, ...) and `exchange.model` lives in `ansi_nist_messages`, and
`ansi_nist` is the public entry point to both.
Every malformed input raises `CodecError` naming the record, the field and the byte
offset; the reader is linear in the input size and refuses oversize input up front.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from exchange.codecs.errors import CodecError, HostileInputError

FS = b"\x1c"
GS = b"\x1d"
RS = b"\x1e"
US = b"\x1f"
_SEPARATORS = "\x1c\x1d\x1e\x1f"

#: Record types this codec reads and writes (1-2011 Table 3, Updates 2013 and 2015).
TAGGED_TYPES = frozenset({1, 2, *range(9, 23), 98, 99})
BINARY_TYPES = frozenset({3, 4, 5, 6})  # the 18-byte header of `Type4Record`
OPAQUE_BINARY_TYPES = frozenset({7, 8})  # LEN and IDC, then a body kept as is
#: Tagged record types whose field T.999 may carry binary data (all but 9, 18 and 98).
DATA_TYPES = frozenset(TAGGED_TYPES - {1, 2, 9, 18, 98})
#: Tagged record types whose last field T.999 carries binary image data.
IMAGE_TYPES = frozenset({10, 13, 14, 15})
VERSIONS = frozenset({"0300", "0400", "0500", "0501", "0502", "0600"})

#: Type-1 fields that 1-2011 Table 13 makes mandatory (besides LEN and CNT).
TYPE1_MANDATORY = (2, 4, 5, 7, 8, 9, 11, 12)

TYPE4_HEADER = struct.Struct(">IBB6sBHHB")  # 18 bytes: LEN IDC IMP FGP ISR HLL VLL GCA

Items = tuple[str, ...]
Subfields = tuple[Items, ...]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that let the reader refuse hostile input before doing real work."""

    max_bytes: int = 64 * 1024 * 1024
    max_records: int = 1000
    max_fields: int = 1000


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class TaggedRecord:
    """A tagged record: `fields` maps field number to subfields of items.

    LEN (T.001) and IDC (T.002) are not in `fields`: LEN is computed on write and checked on
    read, IDC is `idc`. `data` is binary field T.999 (`DATA_TYPES`: images and other binary data).
    """

    type: int
    idc: int
    fields: Mapping[int, Subfields] = field(default_factory=dict)
    data: bytes | None = None

    def text(self, tag: int) -> str | None:
        """The first item of the first subfield of `tag`, or None if the field is absent."""
        value = self.fields.get(tag)
        return value[0][0] if value else None


@dataclass(frozen=True, slots=True)
class Type4Record:
    """A Type-4 (or Type-3) legacy fingerprint image (1-2011 §8.4): binary header, image."""

    idc: int
    impression: int
    positions: tuple[int, ...]
    width: int
    height: int
    compression: int
    data: bytes
    resolution: int = 0  # ISR: 0 = minimum scanning resolution (Type-4 500 ppi, Type-3 250)
    type: int = 4  # 3 for a Type-3 low-resolution record, 5 or 6 bi-level: same layout


@dataclass(frozen=True, slots=True)
class BinaryRecord:
    """A Type-7 (user-defined image) or Type-8 (signature) record: LEN, IDC, then `body`.

    The body's layout is the user's (Type-7) or a signature header and image (Type-8); this
    codec keeps it opaque and writes it back as read."""

    type: int
    idc: int
    body: bytes


Record = TaggedRecord | Type4Record | BinaryRecord


@dataclass(frozen=True, slots=True)
class Transaction:
    """A whole transaction: the Type-1 fields (without LEN and CNT) and the other records."""

    header: Mapping[int, Subfields]
    records: tuple[Record, ...] = ()

    def text(self, tag: int) -> str | None:
        value = self.header.get(tag)
        return value[0][0] if value else None


def text(value: str) -> Subfields:
    """A field holding one value (one subfield of one item)."""
    return ((value,),)


# --- reading ----------------------------------------------------------------------------------


def decode_transaction(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Transaction:
    """Parse a transaction in traditional encoding; raise `CodecError` for any fault."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CodecError("transaction", "input must be bytes")
    buf = bytes(data)
    if len(buf) > limits.max_bytes:
        raise HostileInputError(
            "transaction", f"{len(buf)} bytes exceeds the limit of {limits.max_bytes}"
        )
    if not buf:
        raise CodecError("Type-1", "empty input", offset=0)
    header_fields, _, end, _ = _read_tagged(buf, 0, 1, 0, limits)
    cnt = header_fields.pop(3, None)
    if cnt is None:
        raise CodecError("Type-1.1.003", "CNT field missing", offset=0)
    expected = _parse_cnt(cnt, limits)
    for tag in TYPE1_MANDATORY:
        if tag not in header_fields:
            raise CodecError(f"Type-1.1.{tag:03d}", "mandatory field missing", offset=0)
    encoding = text_encoding(header_fields)
    version = header_fields[2][0][0]
    if version not in VERSIONS:
        raise CodecError(
            "Type-1.1.002", f"version {version[:8]!r} is not one of {sorted(VERSIONS)}"
        )
    records: list[Record] = []
    offset = end
    seen: set[tuple[int, int]] = set()
    for index, (rtype, idc) in enumerate(expected, start=1):
        where = f"Type-{rtype}[{index}]"
        if offset >= len(buf):
            raise CodecError(
                where,
                f"truncated: CNT lists {len(expected)} records, found {index - 1}",
                offset=offset,
            )
        record: Record
        if rtype in BINARY_TYPES:
            record, offset = _read_type4(buf, offset, index, rtype)
        elif rtype in OPAQUE_BINARY_TYPES:
            record, offset = _read_opaque(buf, offset, index, rtype)
        else:
            fields, rec_idc, offset, image = _read_tagged(
                buf, offset, rtype, index, limits, encoding
            )
            record = TaggedRecord(rtype, rec_idc, fields, image)
            if rtype in IMAGE_TYPES and image is None:
                raise CodecError(f"{where}.{rtype}.999", "image record without DATA field")
        if record.idc != idc:
            raise CodecError(
                f"{where}.{rtype}.002",
                f"IDC {record.idc} does not match CNT entry ({rtype}, {idc})",
            )
        if (rtype, idc) in seen:
            raise CodecError(f"{where}.{rtype}.002", f"duplicate record ({rtype}, IDC {idc})")
        seen.add((rtype, idc))
        records.append(record)
    if offset != len(buf):
        raise CodecError(
            "transaction",
            f"{len(buf) - offset} bytes after the last record in CNT",
            offset=offset,
        )
    return Transaction(header_fields, tuple(records))


def _parse_cnt(cnt: Subfields, limits: Limits) -> list[tuple[int, int]]:
    path = "Type-1.1.003"
    first = cnt[0]
    if len(first) != 2 or first[0] != "1":
        raise CodecError(f"{path}[0]", "first subfield must be (1, number of records)")
    count = unsigned(first[1], f"{path}[0]")
    if count != len(cnt) - 1:
        raise CodecError(path, f"says {count} records but lists {len(cnt) - 1}")
    if count > limits.max_records:
        raise HostileInputError(path, f"{count} records exceeds the limit {limits.max_records}")
    out: list[tuple[int, int]] = []
    for i, sub in enumerate(cnt[1:], start=1):
        if len(sub) != 2:
            raise CodecError(f"{path}[{i}]", "subfield must be (record type, IDC)")
        rtype = unsigned(sub[0], f"{path}[{i}]")
        idc = unsigned(sub[1], f"{path}[{i}]")
        if rtype not in TAGGED_TYPES | BINARY_TYPES | OPAQUE_BINARY_TYPES or rtype == 1:
            raise CodecError(f"{path}[{i}]", f"unknown record type {rtype}")
        if idc > 99:
            raise CodecError(f"{path}[{i}]", f"IDC {idc} outside 0-99")
        out.append((rtype, idc))
    return out


def unsigned(value: str, path: str, *, digits: int = 9) -> int:
    """An unsigned decimal field value of at most `digits` digits, else a CodecError at `path`."""
    if not value or len(value) > digits or not value.isascii() or not value.isdigit():
        raise CodecError(path, f"expected an unsigned integer, got {value[:20]!r}")
    return int(value)


def _binary_frame(buf: bytes, offset: int, where: str, rtype: int, header: int) -> int:
    """Check a binary record's LEN (4 bytes) and IDC (1 byte) at `offset`; return LEN."""
    if len(buf) - offset < header:
        raise CodecError(f"{where}.{rtype}.001", "truncated binary header", offset=offset)
    length = int.from_bytes(buf[offset : offset + 4], "big")
    if length < header:
        raise CodecError(
            f"{where}.{rtype}.001", f"LEN {length} shorter than the header", offset=offset
        )
    if offset + length > len(buf):
        raise CodecError(
            f"{where}.{rtype}.001", f"LEN {length} runs past the end of the input", offset=offset
        )
    if buf[offset + 4] > 99:
        raise CodecError(
            f"{where}.{rtype}.002", f"IDC {buf[offset + 4]} outside 0-99", offset=offset + 4
        )
    return length


def _read_type4(buf: bytes, offset: int, index: int, rtype: int) -> tuple[Type4Record, int]:
    where = f"Type-{rtype}[{index}]"
    length = _binary_frame(buf, offset, where, rtype, TYPE4_HEADER.size)
    _, idc, imp, fgp, isr, hll, vll, gca = TYPE4_HEADER.unpack_from(buf, offset)
    if isr > 1:
        raise CodecError(
            f"{where}.{rtype}.005", f"ISR {isr} is neither 0 nor 1", offset=offset + 12
        )
    positions = tuple(b for b in fgp if b != 255)
    if not positions:
        raise CodecError(f"{where}.{rtype}.004", "no finger position given", offset=offset + 6)
    data = buf[offset + TYPE4_HEADER.size : offset + length]
    record = Type4Record(idc, imp, positions, hll, vll, gca, data, isr, rtype)
    return record, offset + length


_OPAQUE_HEADER = struct.Struct(">IB")  # LEN, IDC


def _read_opaque(buf: bytes, offset: int, index: int, rtype: int) -> tuple[BinaryRecord, int]:
    where = f"Type-{rtype}[{index}]"
    length = _binary_frame(buf, offset, where, rtype, _OPAQUE_HEADER.size)
    _, idc = _OPAQUE_HEADER.unpack_from(buf, offset)
    body = buf[offset + _OPAQUE_HEADER.size : offset + length]
    return BinaryRecord(rtype, idc, body), offset + length


def text_encoding(header: Mapping[int, Subfields]) -> str:
    """The codec of the text in records 2-99, from 1.015 DCS (1-2011 Table 4)."""
    dcs = header.get(15)
    if not dcs or not dcs[0] or not dcs[0][0]:
        return "latin-1"
    index = unsigned(dcs[0][0], "Type-1.1.015", digits=3)
    if index == 3:
        return "utf-8"
    if index in (2, 4):
        raise CodecError("Type-1.1.015", "UTF-16 and UTF-32 cannot travel in traditional encoding")
    if 4 < index < 128:
        raise CodecError("Type-1.1.015", f"character encoding {index} is reserved")
    return "latin-1"


def _read_tagged(
    buf: bytes,
    offset: int,
    rtype: int,
    index: int,
    limits: Limits,
    encoding: str = "latin-1",
) -> tuple[dict[int, Subfields], int, int, bytes | None]:
    """Read one tagged record at `offset`: its fields, IDC, end offset and T.999 data."""
    where = f"Type-{rtype}[{index}]" if rtype != 1 else "Type-1"
    prefix = f"{rtype}.001:".encode()
    if not buf.startswith(prefix, offset):
        if rtype == 1:
            raise CodecError(f"{where}.1.001", "does not start with 1.001:", offset=offset)
        got = buf[offset : offset + 8]
        raise CodecError(
            f"{where}.{rtype}.001", f"expected {prefix!r}, found {got!r}", offset=offset
        )
    start = offset + len(prefix)
    stop = min(len(buf), start + 11)
    i = start
    while i < stop and 48 <= buf[i] <= 57:
        i += 1
    if i == start or i - start > 10:
        raise CodecError(f"{where}.{rtype}.001", "LEN is not a number", offset=start)
    length = int(buf[start:i])
    end = offset + length
    if i >= len(buf) or buf[i] not in (0x1D, 0x1C):
        raise CodecError(f"{where}.{rtype}.001", "LEN not followed by a separator", offset=i)
    if length < i - offset + 1:
        raise CodecError(f"{where}.{rtype}.001", f"LEN {length} too small", offset=offset)
    if end > len(buf):
        raise CodecError(
            f"{where}.{rtype}.001",
            f"LEN {length} runs past the end of the input ({len(buf) - offset} bytes left)",
            offset=offset,
        )
    if buf[end - 1] != 0x1C:
        raise CodecError(
            f"{where}.{rtype}.001",
            f"LEN {length} does not end on a FS separator",
            offset=end - 1,
        )
    if buf[i] == 0x1C and i + 1 != end:
        raise CodecError(f"{where}.{rtype}.001", f"LEN {length} disagrees with the FS", offset=i)
    fields: dict[int, Subfields] = {}
    data: bytes | None = None
    pos = i + 1 if buf[i] == 0x1D else end
    body_end = end - 1
    tag_prefix = f"{rtype}.".encode()
    while pos < end:
        if len(fields) >= limits.max_fields:
            raise HostileInputError(where, f"more than {limits.max_fields} fields", offset=pos)
        if not buf.startswith(tag_prefix, pos, body_end):
            raise CodecError(
                _foreign_tag_path(buf, pos, where), _foreign(buf, pos, rtype), offset=pos
            )
        j = pos + len(tag_prefix)
        k = j
        while k < body_end and k - j < 4 and 48 <= buf[k] <= 57:
            k += 1
        if k == j or k >= body_end or buf[k] != 0x3A or k - j > 3:
            raise CodecError(where, "malformed field tag", offset=pos)
        tag = int(buf[j:k])
        path = f"{where}.{rtype}.{tag:03d}"
        # 1-2011 Annex B: LEN first, IDC (VER in Type-1) second; real transactions carry the
        # others in any order (type9-efs: 9.326 after 9.333), so they are sorted, once each.
        if tag == 0:
            raise CodecError(path, "field number reserved or out of range", offset=pos)
        if tag == 1 or tag in fields:
            raise CodecError(path, "field repeated", offset=pos)
        if tag == 2 and fields:
            raise CodecError(path, f"field {rtype}.002 must come second", offset=pos)
        vstart = k + 1
        if tag == 999 and rtype in DATA_TYPES:
            data = buf[vstart:body_end]
            pos = end
            break
        vend = buf.find(GS, vstart, body_end)
        if vend < 0:
            vend = body_end
        raw = buf[vstart:vend]
        if FS in raw:
            raise CodecError(
                path,
                "FS inside a field: LEN disagrees with the separators",
                offset=vstart + raw.index(FS),
            )
        try:
            value = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise CodecError(
                path, "not UTF-8 as 1.015 DCS declares", offset=vstart + exc.start
            ) from None
        fields[tag] = tuple(tuple(sub.split("\x1f")) for sub in value.split("\x1e"))
        pos = vend + 1
    fields = dict(sorted(fields.items()))
    idc = 0
    if rtype != 1:
        idc_field = fields.pop(2, None)
        if idc_field is None:
            raise CodecError(f"{where}.{rtype}.002", "IDC field missing", offset=offset)
        idc = unsigned(idc_field[0][0], f"{where}.{rtype}.002", digits=2)
    return fields, idc, end, data


def _foreign_tag_path(buf: bytes, pos: int, where: str) -> str:
    """`where` plus the tag found at `pos` (e.g. a `13.005` inside a Type-9), if it is one."""
    head = buf[pos : pos + 8].split(b":", 1)[0]
    number, dot, tag = head.partition(b".")
    if dot and number.isdigit() and tag.isdigit():
        return f"{where}.{int(number)}.{int(tag):03d}"
    return where


def _foreign(buf: bytes, pos: int, rtype: int) -> str:
    return f"expected a field tag {rtype}.NNN, found {buf[pos : pos + 8]!r}"


# --- writing ----------------------------------------------------------------------------------


def encode_transaction(tx: Transaction) -> bytes:
    """Write a transaction: CNT and every LEN are computed here, never taken from input."""
    for tag in TYPE1_MANDATORY:
        if tag not in tx.header:
            raise CodecError(f"Type-1.1.{tag:03d}", "mandatory field missing")
    encoding = text_encoding(tx.header)
    cnt: list[Items] = [("1", str(len(tx.records)))]
    seen: set[tuple[int, int]] = set()
    parts: list[bytes] = []
    for index, record in enumerate(tx.records, start=1):
        where = f"Type-{record.type}[{index}]"
        if not 0 <= record.idc <= 99:
            raise CodecError(f"{where}.{record.type}.002", f"IDC {record.idc} outside 0-99")
        if (record.type, record.idc) in seen:
            raise CodecError(where, f"duplicate record ({record.type}, IDC {record.idc})")
        seen.add((record.type, record.idc))
        cnt.append((str(record.type), str(record.idc)))
        if isinstance(record, Type4Record):
            parts.append(_encode_type4(record, where))
        elif isinstance(record, BinaryRecord):
            parts.append(_encode_opaque(record, where))
        else:
            parts.append(_encode_tagged(record, where, encoding))
    header = dict(tx.header)
    for reserved in (1, 3):
        if reserved in header:
            raise CodecError(f"Type-1.1.{reserved:03d}", "computed by the writer; do not set")
    header[3] = tuple(cnt)
    first = _encode_tagged(TaggedRecord(1, 0, header), "Type-1")
    return first + b"".join(parts)


def _encode_type4(record: Type4Record, where: str) -> bytes:
    positions = record.positions
    if not 1 <= len(positions) <= 6 or not all(0 <= p <= 254 for p in positions):
        raise CodecError(f"{where}.{record.type}.004", "FGP must be 1 to 6 positions in 0-254")
    for name, value, top in (
        (f"{record.type}.003", record.impression, 255),
        (f"{record.type}.005", record.resolution, 1),
        (f"{record.type}.006", record.width, 65535),
        (f"{record.type}.007", record.height, 65535),
        (f"{record.type}.008", record.compression, 255),
    ):
        if not 0 <= value <= top:
            raise CodecError(f"{where}.{name}", f"{value} outside 0-{top}")
    length = TYPE4_HEADER.size + len(record.data)
    if length > 0xFFFFFFFF:
        raise CodecError(f"{where}.{record.type}.001", "image too large for a Type-4 record")
    fgp = bytes(positions) + b"\xff" * (6 - len(positions))
    head = TYPE4_HEADER.pack(
        length,
        record.idc,
        record.impression,
        fgp,
        record.resolution,
        record.width,
        record.height,
        record.compression,
    )
    return head + record.data


def _encode_opaque(record: BinaryRecord, where: str) -> bytes:
    if record.type not in OPAQUE_BINARY_TYPES:
        raise CodecError(where, f"record type {record.type} is no opaque binary record")
    length = _OPAQUE_HEADER.size + len(record.body)
    if length > 0xFFFFFFFF:
        raise CodecError(f"{where}.{record.type}.001", "body too large for a binary record")
    return _OPAQUE_HEADER.pack(length, record.idc) + record.body


def _encode_value(subfields: Subfields, path: str, encoding: str = "latin-1") -> bytes:
    if not subfields:
        raise CodecError(path, "a field needs at least one subfield")
    try:
        out = "\x1e".join(["\x1f".join(items) for items in subfields])
    except TypeError:
        raise CodecError(path, "field values must be strings") from None
    # A separator inside a value would change the structure: count what the joins put in.
    if (
        "\x1c" in out
        or "\x1d" in out
        or out.count("\x1e") != len(subfields) - 1
        or out.count("\x1f") != sum(len(items) for items in subfields) - len(subfields)
    ):
        raise CodecError(path, "value contains a separator character")
    try:
        return out.encode(encoding)
    except UnicodeEncodeError as exc:
        if encoding == "utf-8":  # a lone surrogate
            raise CodecError(path, f"character without a UTF-8 form at {exc.start}") from exc
        raise CodecError(
            path, f"character outside ISO 8859-1 at {exc.start} (1.015 DCS 3 allows UTF-8)"
        ) from exc


def _encode_tagged(record: TaggedRecord, where: str, encoding: str = "latin-1") -> bytes:
    rtype = record.type
    if rtype not in TAGGED_TYPES:
        raise CodecError(where, f"record type {rtype} is not supported")
    chunks: list[bytes] = []
    if rtype != 1:
        chunks.append(f"{rtype}.002:{record.idc}".encode())
    for tag in sorted(record.fields):
        path = f"{where}.{rtype}.{tag:03d}"
        top = 998 if rtype in DATA_TYPES else 999
        if not 2 < tag <= top and not (rtype == 1 and tag == 2):
            raise CodecError(path, "field number reserved or out of range")
        value = _encode_value(record.fields[tag], path, encoding)
        chunks.append(f"{rtype}.{tag:03d}:".encode() + value)
    if rtype in IMAGE_TYPES and record.data is None:
        raise CodecError(f"{where}.{rtype}.999", "image record without DATA")
    if record.data is not None:
        if rtype not in DATA_TYPES:
            raise CodecError(f"{where}.{rtype}.999", f"a Type-{rtype} record carries no DATA")
        chunks.append(f"{rtype}.999:".encode() + record.data)
    body = GS.join(chunks)
    head = f"{rtype}.001:"
    fixed = len(head) + 1 + len(body) + 1  # GS after LEN, FS at the end
    digits = len(str(fixed))
    while len(str(fixed + digits)) != digits:
        digits += 1
    return f"{head}{fixed + digits}".encode() + GS + body + FS
