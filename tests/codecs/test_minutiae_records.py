"""Finger minutiae records (INCITS 378-2004/2009, ISO 19794-2:2005) on libbiomeval's samples.

The three samples hold the same fingers (finger 7 with 27 minutiae, finger 2 with 22; the 2004
record adds finger 3 with 28), which lets each reading check the others: the positions, types
and qualities agree byte for byte and the ISO angles agree with the INCITS ones within the
quantisation of the two units. No FMR reader is installed in the venv to check against.
"""

from __future__ import annotations

import contextlib
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.codecs.errors import CodecError
from exchange.codecs.minutiae_records import (
    FingerView,
    MinutiaeRecord,
    RecordFormat,
    RecordMinutia,
    decode,
    encode,
    from_fingerprint_set,
    to_fingerprint_set,
)
from exchange.model import Finger, FingerprintSet, Impression, Minutia, MinutiaKind
from tests.shared_data import THIRDPARTY, needs_shared

SAMPLES = THIRDPARTY / "usnistgov-libbiomeval"
NAMES = ("fmr.ansi2004", "fmr.ansi2007", "fmr.iso2005")


def _read(name: str) -> bytes:
    return Path(SAMPLES / name).read_bytes()


def _sample(name: str) -> MinutiaeRecord:
    return decode(_read(name), lenient_tail=True)


def _circular(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


# --- the samples -------------------------------------------------------------------------


@needs_shared
def test_ansi_2004_header_and_views() -> None:
    record = _sample("fmr.ansi2004")
    assert record.format is RecordFormat.ANSI_2004
    assert (record.width, record.height, record.x_resolution, record.y_resolution) == (
        512,
        512,
        197,
        197,
    )
    assert (record.cbeff_owner, record.cbeff_type) == (0x42, 0x11)
    assert (record.equipment_compliance, record.equipment_id) == (0, 0xB5)
    assert not record.long_length
    assert [(v.position, v.view_number, v.impression, v.quality) for v in record.views] == [
        (7, 0, 0, 90),
        (2, 0, 0, 70),
        (3, 0, 1, 69),
    ]
    assert [len(v.minutiae) for v in record.views] == [27, 22, 28]
    assert [len(v.extended_data) for v in record.views] == [0, 11, 721]
    assert record.views[2].declared_extended_length == 719
    assert record.views[0].minutiae[0] == RecordMinutia(1, 100, 14, 56, 90)


@needs_shared
def test_ansi_2009_header_and_views() -> None:
    record = decode(_read("fmr.ansi2007"))  # consistent, so strict reading works
    assert record.format is RecordFormat.ANSI_2009
    assert (record.cbeff_owner, record.cbeff_type, record.equipment_id) == (0x42, 0x11, 0xB5)
    assert record.width == record.x_resolution == 0  # per view in 2009
    first, second = record.views
    assert (first.position, first.view_number, first.impression, first.quality) == (7, 0, 0, 90)
    assert (first.quality_owner, first.quality_algorithm) == (6, 0x37)
    assert (first.width, first.height, first.x_resolution, first.y_resolution) == (
        512,
        512,
        197,
        197,
    )
    assert (second.position, second.quality, second.quality_owner) == (2, 70, 0x42)
    assert [len(v.minutiae) for v in record.views] == [27, 22]
    assert [len(v.extended_data) for v in record.views] == [0, 11]


@needs_shared
def test_iso_2005_header_and_views() -> None:
    record = _sample("fmr.iso2005")
    assert record.format is RecordFormat.ISO_2005
    assert (record.width, record.height, record.x_resolution, record.y_resolution) == (
        512,
        512,
        197,
        197,
    )
    assert (record.cbeff_owner, record.cbeff_type, record.equipment_id) == (0, 0, 0xB5)
    assert [(v.position, v.quality, len(v.minutiae)) for v in record.views] == [
        (7, 90, 27),
        (2, 70, 22),
    ]
    assert record.views[1].declared_extended_length == 42
    assert len(record.views[1].extended_data) == 41


@needs_shared
def test_strict_reading_names_the_samples_faults() -> None:
    with pytest.raises(CodecError) as ansi:
        decode(_read("fmr.ansi2004"))
    assert ansi.value.field == "record.length" and ansi.value.offset == 1236
    with pytest.raises(CodecError) as iso:
        decode(_read("fmr.iso2005"))
    assert iso.value.field == "record.view[1].extended_data.length"
    assert iso.value.offset == 328


@needs_shared
def test_the_three_samples_hold_the_same_minutiae() -> None:
    ansi, ansi9, iso = (_sample(name) for name in NAMES)
    for n in range(2):
        a, b, c = ansi.views[n].minutiae, ansi9.views[n].minutiae, iso.views[n].minutiae
        assert a == b
        assert [(m.kind, m.x, m.y, m.quality) for m in a] == [
            (m.kind, m.x, m.y, m.quality) for m in c
        ]
        for m_ansi, m_iso in zip(a, c, strict=True):
            assert _circular(m_ansi.angle * 2, m_iso.angle * 360 / 256) <= 1.5


@needs_shared
@pytest.mark.parametrize("name", NAMES)
def test_bytes_round_trip(name: str) -> None:
    assert encode(_sample(name)) == _read(name)


@needs_shared
@pytest.mark.parametrize("name", NAMES)
def test_model_round_trip(name: str) -> None:
    record = _sample(name)
    fs = to_fingerprint_set(record)
    assert fs.ppi == 500 and fs.impression is Impression.PLAIN
    assert [f.position for f in fs.fingers] == [v.position for v in record.views]
    back = from_fingerprint_set(fs, record.format, ppcm=197, width=512, height=512)
    for view, again in zip(record.views, back.views, strict=True):
        assert again.minutiae == view.minutiae


@needs_shared
def test_model_values_follow_the_type9_convention() -> None:
    minutia = to_fingerprint_set(_sample("fmr.ansi2004")).fingers[0].minutiae[0]
    # INCITS angle 56 units = 112 degrees; the model (9.012 convention) adds 180.
    assert minutia == Minutia(100, 14, 292, MinutiaKind.RIDGE_ENDING, 90)
    iso = to_fingerprint_set(_sample("fmr.iso2005")).fingers[0].minutiae[0]
    assert iso == Minutia(100, 14, 292, MinutiaKind.RIDGE_ENDING, 90)  # 80 * 1.40625 = 112.5


@needs_shared
def test_2004_to_iso_to_model_within_quantisation() -> None:
    ansi_fs = to_fingerprint_set(_sample("fmr.ansi2004"))
    iso = decode(encode(from_fingerprint_set(ansi_fs, RecordFormat.ISO_2005)))
    iso_fs = to_fingerprint_set(iso)
    for f_ansi, f_iso in zip(ansi_fs.fingers, iso_fs.fingers, strict=True):
        assert f_ansi.position == f_iso.position
        for a, b in zip(f_ansi.minutiae, f_iso.minutiae, strict=True):
            assert (a.x, a.y, a.kind, a.quality) == (b.x, b.y, b.kind, b.quality)
            assert _circular(a.angle, b.angle) <= 1


@needs_shared
def test_2004_to_2009_keeps_the_minutiae() -> None:
    ansi = _sample("fmr.ansi2004")
    as_2009 = decode(encode(from_fingerprint_set(to_fingerprint_set(ansi), RecordFormat.ANSI_2009)))
    assert [v.minutiae for v in as_2009.views] == [v.minutiae for v in ansi.views]
    assert all(v.x_resolution == 197 for v in as_2009.views)


# --- built records -------------------------------------------------------------------------


def _record(fmt: RecordFormat = RecordFormat.ANSI_2004, **changes: object) -> MinutiaeRecord:
    view = FingerView(1, 0, 1, 80, (RecordMinutia(2, 10, 20, 45, 60),))
    if fmt is RecordFormat.ANSI_2009:
        view = replace(view, width=400, height=500, x_resolution=197, y_resolution=197)
        return replace(MinutiaeRecord(fmt, (view,)), **changes)  # type: ignore[arg-type]
    product = (0, 0) if fmt is RecordFormat.ISO_2005 else (0x1B, 0x2)
    record = MinutiaeRecord(fmt, (view,), 400, 500, 197, 197, *product)
    return replace(record, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", list(RecordFormat))
def test_built_records_round_trip(fmt: RecordFormat) -> None:
    record = _record(fmt)
    assert decode(encode(record), fmt=fmt) == record


def test_2004_long_length_form() -> None:
    record = _record(long_length=True)
    data = encode(record)
    assert data[8:10] == b"\x00\x00" and int.from_bytes(data[10:14], "big") == len(data)
    assert decode(data) == record


def test_compound_minutiae_are_written_as_other() -> None:
    fs = FingerprintSet((Finger(3, (Minutia(5, 5, 180, MinutiaKind.COMPOUND, 50),)),))
    (minutia,) = from_fingerprint_set(fs, RecordFormat.ANSI_2004).views[0].minutiae
    assert (minutia.kind, minutia.angle) == (0, 0)


# --- malformed input ---------------------------------------------------------------------


def _ansi() -> bytes:
    return encode(_record())


def _minutia_at() -> int:
    return 26 + 4  # header, then the view header


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"FIR\x00 20\x00" + bytes(20), "record.format_identifier"),
        (b"FMR\x00 21\x00" + bytes(20), "record.version"),
        (_ansi()[:-1], "record.length"),
        (_ansi() + b"\x00", "record.length"),
        (b"FMR\x00 20\x00\x00\x10", "record.length"),
    ],
)
def test_header_errors(data: bytes, field: str) -> None:
    with pytest.raises(CodecError) as err:
        decode(data)
    assert err.value.field == field


def _patched(offset: int, value: bytes, *, length_delta: int = 0) -> bytes:
    data = bytearray(_ansi())
    data[offset : offset + len(value)] = value
    data[8:10] = struct.pack(">H", len(data) + length_delta)
    return bytes(data)


def test_minutiae_count_beyond_the_data() -> None:
    with pytest.raises(CodecError) as err:
        decode(_patched(26 + 3, b"\x05"))
    assert err.value.field.startswith("record.view[0].minutiae[1]")
    assert err.value.offset is not None


def test_views_beyond_the_data() -> None:
    with pytest.raises(CodecError) as err:
        decode(_patched(24, b"\x02"))
    assert err.value.field.startswith("record.view[1]")


@pytest.mark.parametrize(
    ("offset", "value", "field"),
    [
        (_minutia_at() + 4, b"\xb4", "record.view[0].minutiae[0].angle"),
        (_minutia_at() + 5, b"\x65", "record.view[0].minutiae[0].quality"),
        (_minutia_at(), b"\xc0", "record.view[0].minutiae[0].type"),
        (26, b"\x10", "record.view[0].position"),
        (28, b"\x65", "record.view[0].quality"),
        (_minutia_at() + 6, b"\x00\x09", "record.view[0].extended_data.length"),
    ],
)
def test_field_errors(offset: int, value: bytes, field: str) -> None:
    with pytest.raises(CodecError) as err:
        decode(_patched(offset, value))
    assert err.value.field == field
    assert err.value.offset is not None


def test_iso_angles_use_the_whole_byte() -> None:
    record = _record(RecordFormat.ISO_2005)
    view = replace(record.views[0], minutiae=(RecordMinutia(1, 1, 1, 255, 0),))
    assert decode(encode(replace(record, views=(view,)))).views[0].minutiae[0].angle == 255


def test_declared_format_must_match() -> None:
    with pytest.raises(CodecError):
        decode(encode(_record(RecordFormat.ANSI_2009)), fmt=RecordFormat.ISO_2005)
    with pytest.raises(CodecError):
        decode(_ansi(), fmt=RecordFormat.ISO_2005)


def test_not_bytes() -> None:
    with pytest.raises(CodecError):
        decode("FMR")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "minutia",
    [
        RecordMinutia(1, 0x4000, 0, 0, 0),
        RecordMinutia(1, 0, 0, 180, 0),
        RecordMinutia(3, 0, 0, 0, 0),
        RecordMinutia(1, 0, 0, 0, 101),
    ],
)
def test_encode_refuses_values_the_format_cannot_hold(minutia: RecordMinutia) -> None:
    record = _record()
    view = replace(record.views[0], minutiae=(minutia,))
    with pytest.raises(CodecError):
        encode(replace(record, views=(view,)))


def test_iso_records_carry_no_cbeff_product_id() -> None:
    with pytest.raises(CodecError) as err:
        encode(_record(RecordFormat.ISO_2005, cbeff_owner=0x1B))
    assert err.value.field == "cbeff"


def test_2009_records_keep_size_per_view() -> None:
    with pytest.raises(CodecError) as err:
        encode(_record(RecordFormat.ANSI_2009, width=512))
    assert err.value.field == "size"


def test_2009_special_qualities_read_as_no_quality() -> None:
    record = _record(RecordFormat.ANSI_2009)
    view = replace(record.views[0], quality=254, minutiae=(RecordMinutia(1, 1, 1, 0, 255),))
    again = decode(encode(replace(record, views=(view,))))
    assert again.views[0].quality == 254 and again.views[0].minutiae[0].quality == 255
    assert to_fingerprint_set(again).fingers[0].minutiae[0].quality == 0
    with pytest.raises(CodecError):
        encode(_record(views=(view,)))  # 2004 has no such values


def test_palms_are_not_finger_records() -> None:
    fs = FingerprintSet((Finger(1, ()),), Impression.PALM)
    with pytest.raises(CodecError) as err:
        from_fingerprint_set(fs)
    assert err.value.field == "fingerprints.impression"


def test_a_built_record_with_a_reserved_type_has_no_model() -> None:
    record = _record()
    view = replace(record.views[0], minutiae=(RecordMinutia(3, 1, 1, 0, 0),))
    with pytest.raises(CodecError):
        to_fingerprint_set(replace(record, views=(view,)))


def test_an_impossible_length_is_named() -> None:
    with pytest.raises(CodecError) as err:
        decode(b"FMR\x00 20\x00\x00\x00\x00\x01" + bytes(20))
    assert err.value.field == "record.length" and err.value.offset == 8


def test_a_record_without_resolution_has_no_model() -> None:
    with pytest.raises(CodecError):
        to_fingerprint_set(_record(x_resolution=0))


# --- fuzz --------------------------------------------------------------------------------


def _samples() -> list[bytes]:
    found = [_read(name) for name in NAMES if (SAMPLES / name).is_file()]
    return found + [encode(_record(fmt)) for fmt in RecordFormat]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_samples()),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=4),
    st.integers(0, 2000),
    st.booleans(),
)
def test_fuzz_only_codec_errors(
    data: bytes, flips: list[tuple[int, int]], cut: int, lenient: bool
) -> None:
    mutated = bytearray(data)
    for offset, value in flips:
        if mutated:
            mutated[offset % len(mutated)] = value
    mutated = mutated[: max(0, len(mutated) - cut % 40)] if cut % 3 == 0 else mutated
    try:
        record = decode(bytes(mutated), lenient_tail=lenient)
    except CodecError:
        return
    assert encode(record) == bytes(mutated)
    with contextlib.suppress(CodecError):
        to_fingerprint_set(record)


_small = st.integers(-2, 300)
_minutiae = st.builds(
    RecordMinutia,
    st.integers(-1, 4),
    st.integers(-1, 0x4001),
    st.integers(-1, 0x4001),
    _small,
    _small,
    st.integers(-1, 4),
)
_views = st.builds(
    FingerView,
    _small,
    st.integers(-1, 17),
    st.integers(-1, 17),
    _small,
    st.lists(_minutiae, max_size=3).map(tuple),
    st.binary(max_size=8),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list(RecordFormat)), st.lists(_views, max_size=3), st.integers(-1, 20))
def test_fuzz_encode_only_codec_errors(
    fmt: RecordFormat, views: list[FingerView], equipment: int
) -> None:
    if fmt is RecordFormat.ANSI_2009:
        views = [replace(v, x_resolution=197, y_resolution=197) for v in views]
    size = (0, 0, 0, 0) if fmt is RecordFormat.ANSI_2009 else (512, 512, 197, 197)
    record = MinutiaeRecord(fmt, tuple(views), *size, equipment_id=equipment)
    try:
        data = encode(record)
    except CodecError:
        return
    assert decode(data, fmt=fmt) == record


_model_minutiae = st.builds(
    Minutia,
    st.integers(0, 1500),
    st.integers(0, 1500),
    st.integers(0, 359),
    st.sampled_from([MinutiaKind.RIDGE_ENDING, MinutiaKind.BIFURCATION, MinutiaKind.OTHER]),
    st.integers(0, 100),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(list(RecordFormat)),
    st.lists(st.lists(_model_minutiae, max_size=5).map(tuple), min_size=1, max_size=3),
)
def test_model_through_each_format(fmt: RecordFormat, fingers: list[tuple[Minutia, ...]]) -> None:
    fs = FingerprintSet(tuple(Finger(n + 1, m) for n, m in enumerate(fingers)), Impression.ROLLED)
    back = to_fingerprint_set(decode(encode(from_fingerprint_set(fs, fmt))), ppi=500)
    assert back.impression is Impression.ROLLED
    for finger, again in zip(fs.fingers, back.fingers, strict=True):
        assert finger.position == again.position
        for a, b in zip(finger.minutiae, again.minutiae, strict=True):
            assert (a.kind, a.quality) == (b.kind, b.quality)
            assert abs(a.x - b.x) <= 1 and abs(a.y - b.y) <= 1
            # Half a unit (1 or 0.70 degrees) plus rounding to whole degrees, in integers.
            assert _circular(a.angle, b.angle) <= 1


def test_a_set_without_resolution_has_no_record() -> None:
    with pytest.raises(CodecError):
        from_fingerprint_set(FingerprintSet((Finger(1, ()),), ppi=0))


@needs_shared
@pytest.mark.parametrize("target", ["incits-378-2004", "incits-378-2009", "iso-19794-2-2005"])
@pytest.mark.parametrize("name", ["fmr.ansi2004", "fmr.ansi2007", "fmr.iso2005"])
def test_translate_minutiae_record_through_uk_record(name: str, target: str) -> None:
    """`translate`: a real record -> UK record -> another format -> UK record, minutiae kept."""
    from exchange.codecs import uk_json
    from exchange.translate import translate

    first = uk_json.decode(translate(_read(name), "incits-378-2004", "uk-json"))
    written = translate(uk_json.encode(first), "uk-json", target)
    again = uk_json.decode(translate(written, target, "uk-json"))
    assert first.fingerprints is not None and again.fingerprints is not None
    assert first.reference and first.reference.startswith("FMR:")
    pairs = list(zip(first.fingerprints.fingers, again.fingerprints.fingers, strict=True))
    for a, b in pairs:
        assert a.position == b.position and len(a.minutiae) == len(b.minutiae)
        for m, n in zip(a.minutiae, b.minutiae, strict=True):
            assert abs(m.x - n.x) <= 1 and abs(m.y - n.y) <= 1 and m.kind == n.kind
            assert min(abs(m.angle - n.angle), 360 - abs(m.angle - n.angle)) <= 2
