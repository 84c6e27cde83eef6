"""The extended data of a finger minutiae view: its blocks, and ridge counts read from them.

`minutiae_records` keeps a view's extended data as opaque bytes so that records re-encode byte
for byte; this module reads those bytes when a caller wants their content. Layout as read by
NIST libbiomeval (usnistgov/libbiomeval src/libbiomeval/be_finger_incitsview.cpp
`readExtendedDataBlock`, `readRidgeCountData`; type and method codes from
src/include/be_feature_incitsminutiae.h), the same in INCITS 378-2004/2009 and ISO
19794-2:2005:

- a sequence of blocks, each type u16 (1 ridge counts, 2 cores and deltas, 0 reserved, others
  vendor-defined), length u16 counting the 4 header bytes, then the block's data;
- ridge-count data: extraction method u8 (0 non-specific, 1 four-neighbour, 2 eight-neighbour),
  then items of 3 bytes: first minutia index, second minutia index, ridge count.

Core/delta data differ between the formats (INCITS: one type-and-count byte per group; ISO
2005: a type per point) and are left as bytes in their `ExtendedBlock`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from exchange.codecs.errors import CodecError

RIDGE_COUNT = 0x0001
CORE_AND_DELTA = 0x0002
_HEADER = 4


@dataclass(frozen=True, slots=True)
class ExtendedBlock:
    """One block; `data` excludes the 4-byte type and length header."""

    type_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class RidgeCount:
    first: int
    second: int
    count: int


@dataclass(frozen=True, slots=True)
class RidgeCounts:
    method: int
    counts: tuple[RidgeCount, ...]


def split_blocks(data: bytes, where: str = "extended_data") -> tuple[ExtendedBlock, ...]:
    """The blocks of a view's extended data; offsets in errors count from its first byte."""
    blocks: list[ExtendedBlock] = []
    pos = 0
    while pos < len(data):
        if pos + _HEADER > len(data):
            raise CodecError(f"{where}[{len(blocks)}]", "truncated block header", offset=pos)
        type_id, length = struct.unpack_from(">HH", data, pos)
        if length < _HEADER or pos + length > len(data):
            raise CodecError(
                f"{where}[{len(blocks)}].length",
                f"{length} bytes, {len(data) - pos} left (at least 4)",
                offset=pos + 2,
            )
        blocks.append(ExtendedBlock(type_id, data[pos + _HEADER : pos + length]))
        pos += length
    return tuple(blocks)


def join_blocks(blocks: tuple[ExtendedBlock, ...]) -> bytes:
    """The inverse of `split_blocks`."""
    out = b""
    for n, block in enumerate(blocks):
        length = _HEADER + len(block.data)
        if not 0 <= block.type_id <= 0xFFFF or length > 0xFFFF:
            raise CodecError(f"extended_data[{n}]", "type beyond 16 bits or block too long")
        out += struct.pack(">HH", block.type_id, length) + block.data
    return out


def ridge_counts(block: ExtendedBlock, where: str = "extended_data") -> RidgeCounts:
    """Read a ridge-count block (type 1)."""
    if block.type_id != RIDGE_COUNT:
        raise CodecError(f"{where}.type", f"block type {block.type_id} is not ridge counts")
    if not block.data or (len(block.data) - 1) % 3:
        raise CodecError(f"{where}.length", "must be a method byte and 3-byte items")
    if block.data[0] > 2:
        raise CodecError(f"{where}.method", f"extraction method {block.data[0]} is not 0-2")
    items = block.data[1:]
    counts = tuple(RidgeCount(*items[i : i + 3]) for i in range(0, len(items), 3))
    return RidgeCounts(block.data[0], counts)


def ridge_count_block(counts: RidgeCounts) -> ExtendedBlock:
    """Write a ridge-count block (type 1)."""
    values = [counts.method] + [v for c in counts.counts for v in (c.first, c.second, c.count)]
    if counts.method > 2 or any(not 0 <= v <= 255 for v in values):
        raise CodecError("extended_data.ridge_counts", "method 0-2 and items of 0-255")
    return ExtendedBlock(RIDGE_COUNT, bytes(values))
