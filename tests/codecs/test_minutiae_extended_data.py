"""Extended data of finger minutiae views: block framing and ridge counts, on the samples."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.codecs.errors import CodecError
from exchange.codecs.minutiae_extended_data import (
    CORE_AND_DELTA,
    RIDGE_COUNT,
    ExtendedBlock,
    RidgeCount,
    RidgeCounts,
    join_blocks,
    ridge_count_block,
    ridge_counts,
    split_blocks,
)
from exchange.codecs.minutiae_records import decode
from tests.shared_data import THIRDPARTY, needs_shared

SAMPLES = THIRDPARTY / "usnistgov-libbiomeval"


def _extended(name: str, view: int) -> bytes:
    data = Path(SAMPLES / name).read_bytes()
    return decode(data, lenient_tail=True).views[view].extended_data


@needs_shared
def test_ridge_counts_of_the_2004_and_2009_samples() -> None:
    for name, expected in [
        ("fmr.ansi2004", (RidgeCount(1, 20, 12), RidgeCount(5, 7, 5))),
        ("fmr.ansi2007", (RidgeCount(0x12, 0x14, 3), RidgeCount(0x15, 0x13, 1))),
    ]:
        data = _extended(name, 1)
        (block,) = split_blocks(data)
        assert ridge_counts(block) == RidgeCounts(1, expected)
        assert join_blocks((ridge_count_block(ridge_counts(block)),)) == data


@needs_shared
def test_the_samples_miscounted_core_delta_blocks_are_refused() -> None:
    # 2004 view 3: ridge counts (677 bytes), then a core/delta block saying 42 of 44 bytes.
    with pytest.raises(CodecError) as err:
        split_blocks(_extended("fmr.ansi2004", 2)[:-3])
    assert err.value.field == "extended_data[1].length"
    ridge, core_delta = split_blocks(_extended("fmr.ansi2004", 2)[:719])
    assert len(ridge_counts(ridge).counts) == 224
    assert core_delta.type_id == CORE_AND_DELTA and len(core_delta.data) == 38
    # ISO view 2: a core/delta block saying 42 bytes where the record holds 41.
    with pytest.raises(CodecError):
        split_blocks(_extended("fmr.iso2005", 1))


@pytest.mark.parametrize(
    "block",
    [
        ExtendedBlock(CORE_AND_DELTA, b"\x00"),
        ExtendedBlock(RIDGE_COUNT, b""),
        ExtendedBlock(RIDGE_COUNT, b"\x01\x02"),
        ExtendedBlock(RIDGE_COUNT, b"\x03\x01\x02\x03"),
    ],
)
def test_bad_ridge_count_blocks(block: ExtendedBlock) -> None:
    with pytest.raises(CodecError):
        ridge_counts(block)


def test_bad_framing() -> None:
    for data in (b"\x00\x01\x00", b"\x00\x01\x00\x02", b"\x00\x01\x00\x09\x00"):
        with pytest.raises(CodecError):
            split_blocks(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=4))
def test_blocks_round_trip(items: list[tuple[int, bytes]]) -> None:
    blocks = tuple(ExtendedBlock(t, d) for t, d in items)
    assert split_blocks(join_blocks(blocks)) == blocks


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60))
def test_fuzz_only_codec_errors(data: bytes) -> None:
    try:
        blocks = split_blocks(data)
    except CodecError:
        return
    assert join_blocks(blocks) == data
    for block in blocks:
        with contextlib.suppress(CodecError):
            ridge_counts(block)
