"""The ANSI/NIST-ITL record layer: round trips per record type, malformed input, limits, fuzz."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.codecs.ansi_nist import (
    FS,
    GS,
    BinaryRecord,
    Limits,
    TaggedRecord,
    Transaction,
    Type4Record,
    decode_transaction,
    encode_transaction,
    text,
)
from exchange.codecs.errors import CodecError, HostileInputError

HEADER = {
    2: text("0300"),
    4: text("CPS"),
    5: text("20261127"),
    7: text("DE/BKA"),
    8: text("GB/UKFP"),
    9: text("GB-0001"),
    10: text("GB-0000"),
    11: text("19.68"),
    12: text("19.68"),
    13: (("INT-I", "4.22"),),
    14: text("20261127120000Z"),
}


def record_of_each_type() -> tuple[TaggedRecord | Type4Record, ...]:
    return (
        TaggedRecord(
            2,
            0,
            {10: text("REF-1"), 11: text("TP/TP"), 64: (("A", "0.5", "candidate"), ("B", "", "x"))},
        ),
        Type4Record(1, 1, (1,), 4, 3, 1, b"\x00\x1c\x1d\x1e\x1fWSQ"),
        TaggedRecord(
            9,
            1,
            {
                3: text("1"),
                4: text("S"),
                6: text("1"),
                10: text("2"),
                12: (("1", "01000200090", "2", "A"), ("2", "03000400180", "63", "B")),
            },
        ),
        TaggedRecord(
            10,
            2,
            {3: text("FACE"), 6: text("480"), 7: text("600"), 11: text("JPEGB")},
            b"\xff\xd8\x1c\x1d jpeg",
        ),
        TaggedRecord(13, 3, {3: text("4"), 11: text("PNG"), 13: text("0")}, b"\x89PNG"),
        TaggedRecord(14, 1, {3: text("1"), 11: text("WSQ20"), 13: text("1")}, b"\x1c" * 10),
        TaggedRecord(15, 4, {3: text("10"), 11: text("JP2"), 13: text("21")}, b""),
    )


def sample() -> Transaction:
    return Transaction(HEADER, record_of_each_type())


def test_round_trip_every_record_type() -> None:
    tx = sample()
    data = encode_transaction(tx)
    assert decode_transaction(data) == tx
    assert encode_transaction(decode_transaction(data)) == data


@pytest.mark.parametrize("record", record_of_each_type(), ids=lambda r: f"type{r.type}")
def test_round_trip_each_record_alone(record: TaggedRecord | Type4Record) -> None:
    tx = Transaction(HEADER, (record,))
    assert decode_transaction(encode_transaction(tx)) == tx


def records_of_the_other_types() -> tuple[TaggedRecord | Type4Record | BinaryRecord, ...]:
    """One record of each type 1-2011 (Updates 2013, 2015) defines that we do not interpret."""
    return (
        Type4Record(5, 0, (2,), 8, 8, 0, b"\x00" * 8),  # binary bi-level image (deprecated)
        Type4Record(6, 0, (3,), 8, 8, 1, b"\xff" * 8),
        BinaryRecord(7, 3, b"user-defined \x1c\x1d bytes"),
        BinaryRecord(8, 4, b"\x00\x00\x00\x00\x00\x00\x00\x00signature"),
        TaggedRecord(11, 5, {3: text("1"), 4: text("WAV")}, b"RIFF\x1c\x00audio"),  # voice
        TaggedRecord(12, 6, {3: text("0")}),  # forensic dental, no DATA
        TaggedRecord(16, 7, {3: text("TEST"), 11: text("PNG")}, b"\x89PNG\r\n"),
        TaggedRecord(17, 8, {3: text("1"), 11: text("RAW")}, b"iris\x1d\x1c"),
        TaggedRecord(18, 9, {3: (("NIST", "1"),), 19: text("23S1")}),  # DNA: text only
        TaggedRecord(19, 10, {3: text("0"), 11: text("WSQ20")}, b"\xff\xa0plantar"),
        TaggedRecord(20, 11, {3: text("1"), 21: text("ORIG")}),  # DATA optional
        TaggedRecord(21, 12, {3: text("1")}, b"context photo"),
        TaggedRecord(22, 13, {3: text("1")}, b"\x00\x01imagery"),
        TaggedRecord(98, 14, {3: text("SIG"), 4: text("1")}),  # information assurance
        TaggedRecord(99, 15, {4: text("1"), 100: text("3"), 101: text("4")}, b"cbeff"),
    )


def test_every_record_type_of_the_standard_round_trips() -> None:
    # Records a search does not use still travel: the reader takes any type the standard has.
    tx = Transaction(HEADER, record_of_each_type() + records_of_the_other_types())
    data = encode_transaction(tx)
    assert decode_transaction(data) == tx
    assert encode_transaction(decode_transaction(data)) == data


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (TaggedRecord(18, 1, {3: text("1")}, b"x"), "carries no DATA"),
        (TaggedRecord(98, 1, {3: text("1")}, b"x"), "carries no DATA"),
        (BinaryRecord(4, 1, b"x"), "no opaque binary record"),
    ],
)
def test_writer_refuses_data_where_the_standard_has_none(
    record: TaggedRecord | BinaryRecord, message: str
) -> None:
    with pytest.raises(CodecError, match=message):
        encode_transaction(Transaction(HEADER, (record,)))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"\x00\x00\x00\x03\x01", "Type-7[1].7.001"),  # LEN shorter than LEN + IDC
        (b"\x00\x00\x00\x09\x01", "Type-7[1].7.001"),  # LEN beyond the input
        (b"\x00\x00\x00\x05\x64", "Type-7[1].7.002"),  # IDC 100
        (b"\x00\x00", "Type-7[1].7.001"),  # truncated header
    ],
)
def test_opaque_binary_record_faults_name_the_field(body: bytes, field: str) -> None:
    good = encode_transaction(Transaction(HEADER, (BinaryRecord(7, 1, b""),)))
    data = good[:-5] + body
    with pytest.raises(CodecError) as info:
        decode_transaction(data)
    assert info.value.field == field


def test_header_only_transaction() -> None:
    tx = Transaction(HEADER, ())
    data = encode_transaction(tx)
    assert b"1.003:1\x1f0" in data
    assert decode_transaction(data) == tx


def test_cnt_and_len_are_computed() -> None:
    data = encode_transaction(sample())
    cnt = b"1\x1f7\x1e2\x1f0\x1e4\x1f1\x1e9\x1f1\x1e10\x1f2\x1e13\x1f3\x1e14\x1f1\x1e15\x1f4"
    assert b"1.003:" + cnt + GS in data
    first_len = int(data[6 : data.index(GS)])
    assert data[first_len - 1 : first_len] == FS
    # Type-4 LEN is a 4-byte big-endian count that includes its own header.
    rest = data[first_len:]
    second_len = int(rest[6 : rest.index(GS)])
    type4 = rest[second_len:]
    assert int.from_bytes(type4[:4], "big") == 18 + len(b"\x00\x1c\x1d\x1e\x1fWSQ")


@pytest.mark.parametrize("size", [80, 89, 90, 91, 95, 985, 990, 995, 9985, 9995])
def test_len_digit_rollover(size: int) -> None:
    # LEN counts its own digits; lengths around 100/1000/10000 must still be exact.
    for pad in range(size - 60, size - 40):
        tx = Transaction(HEADER, (TaggedRecord(2, 0, {3: text("x" * pad)}),))
        data = encode_transaction(tx)
        assert decode_transaction(data) == tx


# --- malformed input ---------------------------------------------------------------------------


def valid() -> bytes:
    return encode_transaction(sample())


def test_every_truncation_is_a_codec_error() -> None:
    data = valid()
    for cut in range(len(data)):
        with pytest.raises(CodecError):
            decode_transaction(data[:cut])


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(CodecError, match="after the last record") as info:
        decode_transaction(valid() + b"x")
    assert info.value.offset == len(valid())


def test_wrong_len_names_record_and_offset() -> None:
    data = valid()
    first_len = int(data[6 : data.index(GS)])
    bad = data.replace(f"1.001:{first_len}".encode(), f"1.001:{first_len + 1}".encode(), 1)
    with pytest.raises(CodecError) as info:
        decode_transaction(bad)
    assert info.value.field.startswith("Type-1")
    assert info.value.offset is not None


def test_bad_separator_at_record_end() -> None:
    tx = Transaction(HEADER, (TaggedRecord(2, 0, {3: text("abc")}),))
    data = encode_transaction(tx)
    with pytest.raises(CodecError, match="FS") as info:
        decode_transaction(data[:-1] + GS)
    assert info.value.field == "Type-2[1].2.001"
    assert info.value.offset == len(data) - 1


def test_fs_inside_text_record_is_refused() -> None:
    tx = Transaction(HEADER, (TaggedRecord(2, 0, {3: text("abcdef")}),))
    data = encode_transaction(tx).replace(b"abcdef", b"abc\x1cef")
    with pytest.raises(CodecError, match="FS inside a field"):
        decode_transaction(data)


def _with_cnt(cnt: bytes, records: bytes = b"") -> bytes:
    body = (
        b"1.002:0300\x1d1.003:" + cnt + b"\x1d1.004:CPS\x1d1.005:20261127\x1d1.007:A\x1d"
        b"1.008:B\x1d1.009:T\x1d1.011:19.68\x1d1.012:19.68\x1c"
    )
    for digits in range(2, 6):
        total = len(b"1.001:") + digits + 1 + len(body)
        if len(str(total)) == digits:
            return b"1.001:%d\x1d" % total + body + records
    raise AssertionError


def _tagged(rtype: int, body: bytes) -> bytes:
    """A tagged record with a correct LEN around `body` (the fields after LEN, without FS)."""
    head = b"%d.001:" % rtype
    for digits in range(1, 6):
        total = len(head) + digits + 1 + len(body) + 1
        if len(str(total)) == digits:
            return head + b"%d\x1d" % total + body + FS
    raise AssertionError


@pytest.mark.parametrize(
    ("cnt", "message"),
    [
        (b"1\x1f1\x1e23\x1f0", "unknown record type 23"),  # 23-97 are reserved
        (b"1\x1f1\x1e97\x1f0", "unknown record type 97"),
        (b"1\x1f1\x1e1\x1f0", "unknown record type 1"),
        (b"1\x1f2\x1e2\x1f0", "says 2 records but lists 1"),
        (b"2\x1f1\x1e2\x1f0", "first subfield"),
        (b"1\x1f1\x1e2", "subfield must be"),
        (b"1\x1f1\x1e2\x1f100", "IDC 100 outside"),
        (b"1\x1fx", "unsigned integer"),
    ],
)
def test_bad_cnt(cnt: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message) as info:
        decode_transaction(_with_cnt(cnt))
    assert info.value.field.startswith("Type-1.1.003")


def test_cnt_lists_more_records_than_present() -> None:
    with pytest.raises(CodecError, match="truncated: CNT lists 1 records, found 0"):
        decode_transaction(_with_cnt(b"1\x1f1\x1e2\x1f0"))


def test_idc_must_match_cnt() -> None:
    record = _tagged(2, b"2.002:05\x1d2.003:x")
    with pytest.raises(CodecError, match="IDC 5 does not match CNT entry") as info:
        decode_transaction(_with_cnt(b"1\x1f1\x1e2\x1f0", record))
    assert info.value.field == "Type-2[1].2.002"


def test_duplicate_record_refused() -> None:
    record = _tagged(2, b"2.002:0\x1d2.003:x")
    with pytest.raises(CodecError, match="duplicate record"):
        decode_transaction(_with_cnt(b"1\x1f2\x1e2\x1f0\x1e2\x1f0", record + record))


def test_fields_out_of_order_are_read_and_sorted() -> None:
    record = _tagged(2, b"2.002:0\x1d2.005:x\x1d2.004:y")
    tx = decode_transaction(_with_cnt(b"1\x1f1\x1e2\x1f0", record))
    fields = tx.records[0].fields  # type: ignore[union-attr]
    assert list(fields) == [4, 5] and fields[4] == (("y",),)


def test_repeated_field_refused_naming_record_and_field() -> None:
    record = _tagged(2, b"2.002:0\x1d2.005:x\x1d2.004:y\x1d2.005:z")
    with pytest.raises(CodecError, match="repeated") as info:
        decode_transaction(_with_cnt(b"1\x1f1\x1e2\x1f0", record))
    assert info.value.field == "Type-2[1].2.005"


def test_idc_must_come_second() -> None:
    record = _tagged(2, b"2.004:y\x1d2.002:0")
    with pytest.raises(CodecError, match="must come second") as info:
        decode_transaction(_with_cnt(b"1\x1f1\x1e2\x1f0", record))
    assert info.value.field == "Type-2[1].2.002"


def test_wrong_record_number_in_tag() -> None:
    record = _tagged(2, b"2.002:0\x1d9.005:xyz")
    with pytest.raises(CodecError, match="expected a field tag") as info:
        decode_transaction(_with_cnt(b"1\x1f1\x1e2\x1f0", record))
    assert info.value.field == "Type-2[1].9.005"


def test_type4_too_short_len() -> None:
    record = (10).to_bytes(4, "big") + bytes(14)
    with pytest.raises(CodecError, match="shorter than the header") as info:
        decode_transaction(_with_cnt(b"1\x1f1\x1e4\x1f0", record))
    assert info.value.field == "Type-4[1].4.001"


def test_type4_len_past_end() -> None:
    record = (1000).to_bytes(4, "big") + bytes([0, 1, 1, 255, 255, 255, 255, 255, 0, 0, 1, 0, 1, 1])
    with pytest.raises(CodecError, match="runs past the end"):
        decode_transaction(_with_cnt(b"1\x1f1\x1e4\x1f0", record))


def test_missing_mandatory_type1_field() -> None:
    header = dict(HEADER)
    del header[9]
    data = encode_transaction(Transaction(HEADER, ())).replace(b"\x1d1.009:GB-0001", b"")
    fixed = data.replace(b"1.001:%d" % len(data + b"\x1d1.009:GB-0001"), b"1.001:%d" % len(data))
    with pytest.raises(CodecError, match="mandatory field missing") as info:
        decode_transaction(fixed)
    assert info.value.field == "Type-1.1.009"


def test_non_bytes_and_empty_input() -> None:
    with pytest.raises(CodecError):
        decode_transaction(b"")
    with pytest.raises(CodecError):
        decode_transaction("1.001:")  # type: ignore[arg-type]


def test_limits_refuse_quickly() -> None:
    data = valid()
    with pytest.raises(HostileInputError):
        decode_transaction(data, limits=Limits(max_bytes=len(data) - 1))
    with pytest.raises(HostileInputError):
        decode_transaction(data, limits=Limits(max_records=3))
    with pytest.raises(HostileInputError):
        decode_transaction(data, limits=Limits(max_fields=3))
    huge = b"1.001:999999999999\x1d" + b"\x1d" * 5_000_000
    with pytest.raises(CodecError) as info:
        decode_transaction(huge)
    # Refused at the first LEN, before the body is scanned (speed: bench.fuzz_ansi_nist).
    assert (info.value.field, info.value.offset) == ("Type-1.1.001", 6)


def test_many_fields_round_trip() -> None:
    # 20 000 fields; how long it takes is measured by `prum-exchange bench codec`, not here.
    fields = {tag: text("v") for tag in range(3, 999)}
    tx = Transaction(HEADER, tuple(TaggedRecord(2, i, fields) for i in range(20)))
    data = encode_transaction(tx)
    assert decode_transaction(data) == tx


# --- writer refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (TaggedRecord(2, 0, {3: text("a\x1db")}), "separator"),
        (TaggedRecord(2, 0, {3: (("a\x1fb",),)}), "separator"),
        (TaggedRecord(2, 0, {3: text("snow ☃")}), "outside ISO 8859-1"),
        (TaggedRecord(2, 0, {3: ()}), "at least one subfield"),
        (TaggedRecord(2, 100, {}), "IDC 100 outside"),
        (TaggedRecord(2, 0, {1: text("9")}), "reserved"),
        (TaggedRecord(14, 1, {3: text("1")}), "without DATA"),
        (TaggedRecord(9, 1, {3: text("1")}, b"x"), "carries no DATA"),
        (TaggedRecord(14, 1, {999: text("x")}, b"x"), "reserved"),
        (TaggedRecord(7, 1, {}), "not supported"),
        (Type4Record(1, 1, (), 1, 1, 0, b""), "FGP"),
        (Type4Record(1, 1, (1,), 70000, 1, 0, b""), "outside 0-65535"),
    ],
)
def test_writer_refuses(record: TaggedRecord | Type4Record, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        encode_transaction(Transaction(HEADER, (record,)))


def test_writer_refuses_duplicates_and_reserved_header_fields() -> None:
    rec = TaggedRecord(2, 0, {})
    with pytest.raises(CodecError, match="duplicate"):
        encode_transaction(Transaction(HEADER, (rec, rec)))
    with pytest.raises(CodecError, match="computed by the writer"):
        encode_transaction(Transaction({**HEADER, 3: text("1")}, ()))
    header = dict(HEADER)
    del header[4]
    with pytest.raises(CodecError, match="mandatory"):
        encode_transaction(Transaction(header, ()))


# --- fuzz (bounded; the long run is bench/fuzz_ansi_nist.py) ----------------------------------

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decode_or_codec_error(data: bytes) -> None:
    try:
        tx = decode_transaction(data)
    except CodecError:
        return
    assert decode_transaction(encode_transaction(tx)) == tx


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_or_codec_error(data)
    _decode_or_codec_error(b"1.001:" + data)


@FUZZ
@given(st.data())
def test_fuzz_mutated_valid(draw: st.DataObject) -> None:
    buf = bytearray(valid())
    for _ in range(draw.draw(st.integers(1, 4))):
        i = draw.draw(st.integers(0, len(buf) - 1))
        op = draw.draw(st.sampled_from(["set", "delete", "insert", "digit"]))
        if op == "set":
            buf[i] = draw.draw(st.sampled_from(list(b"\x1c\x1d\x1e\x1f0129.:\x00\xff")))
        elif op == "delete":
            del buf[i : i + draw.draw(st.integers(1, 20))]
        elif op == "insert":
            buf[i:i] = draw.draw(st.binary(min_size=1, max_size=10))
        else:
            buf[i:i] = str(draw.draw(st.integers(0, 10**10))).encode()
        if not buf:
            break
    _decode_or_codec_error(bytes(buf))


items = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=12)


@FUZZ
@given(
    st.dictionaries(
        st.integers(3, 998),
        st.lists(st.lists(items, min_size=1, max_size=3).map(tuple), min_size=1, max_size=3).map(
            tuple
        ),
        max_size=8,
    ),
    st.integers(0, 99),
    st.binary(max_size=200),
)
def test_fuzz_round_trip_of_any_record(
    fields: dict[int, tuple[tuple[str, ...], ...]], idc: int, image: bytes
) -> None:
    tx = Transaction(HEADER, (TaggedRecord(2, idc, fields), TaggedRecord(14, idc, fields, image)))
    assert decode_transaction(encode_transaction(tx)) == tx


@pytest.mark.parametrize("version", ["0300", "0400", "0500", "0501", "0502", "0600"])
def test_every_version_from_2000_to_int_i_6_is_read(version: str) -> None:
    tx = Transaction({**HEADER, 2: text(version)}, record_of_each_type())
    assert decode_transaction(encode_transaction(tx)) == tx


@pytest.mark.parametrize("version", ["0200", "0700", "05.0", "500"])
def test_other_versions_are_refused_naming_ver(version: str) -> None:
    data = encode_transaction(Transaction({**HEADER, 2: text(version)}, ()))
    with pytest.raises(CodecError) as info:
        decode_transaction(data)
    assert info.value.field == "Type-1.1.002"


def _utf8_tx(name: str) -> Transaction:
    header = {**HEADER, 15: (("3", "UTF-8"),)}
    return Transaction(header, (TaggedRecord(2, 0, {18: text(name)}),))


def test_text_is_utf8_where_dcs_says_so() -> None:
    # 1-2011 Table 4: character encoding index 3 is UTF-8 (Type-1 itself stays ASCII).
    tx = _utf8_tx("Дмитрий Łukasz 白")
    data = encode_transaction(tx)
    assert "Дмитрий Łukasz 白".encode() in data
    assert decode_transaction(data) == tx


def test_without_dcs_text_is_latin1_and_other_scripts_are_refused() -> None:
    tx = Transaction(HEADER, (TaggedRecord(2, 0, {18: text("Müller")}),))
    assert b"M\xfcller" in encode_transaction(tx)
    with pytest.raises(CodecError, match="DCS 3 allows UTF-8") as info:
        encode_transaction(Transaction(HEADER, (TaggedRecord(2, 0, {18: text("Дмитрий")}),)))
    assert info.value.field == "Type-2[1].2.018"


def test_bytes_that_are_not_the_declared_utf8_name_the_field() -> None:
    data = encode_transaction(_utf8_tx("Muller")).replace(b"Muller", b"M\xfcller")  # same LEN
    with pytest.raises(CodecError) as info:
        decode_transaction(data)
    assert info.value.field == "Type-2[1].2.018"


@pytest.mark.parametrize(("dcs", "message"), [("2", "UTF-16"), ("4", "UTF-32"), ("77", "reserved")])
def test_encodings_traditional_cannot_carry_are_refused(dcs: str, message: str) -> None:
    tx = Transaction({**HEADER, 15: ((dcs, "X"),)}, ())
    with pytest.raises(CodecError, match=message) as info:
        encode_transaction(tx)
    assert info.value.field == "Type-1.1.015"


# --- found by bench.fuzz_ansi_nist ------------------------------------------------------


@pytest.mark.parametrize(("scale", "hps"), [("2", "999999999"), ("1", "123456")])
def test_what_the_prints_writer_writes_its_reader_reads(scale: str, hps: str) -> None:
    """14.009 HPS of 9 digits in pixels per cm read as a 10-digit ppi, which the writer wrote
    back as 14.009 and its reader refused; the writer now refuses a ppi that 14.009's five
    digits cannot hold."""
    import dataclasses
    import datetime as dt

    from exchange.codecs.ansi_nist import (
        decode_transaction,
        encode_transaction,
        fingerprints_from_bytes,
        fingerprints_to_bytes,
    )
    from exchange.model import BiometricImage, Finger, FingerprintSet

    stamp = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)

    def write(prints: FingerprintSet) -> bytes:
        return fingerprints_to_bytes(
            prints, timestamp=stamp, originator="GB", destination="DE", tcn="T-1"
        )

    image = BiometricImage(b"\xff\xa0wsq", "WSQ20", 400, 500, 500)
    tx = decode_transaction(write(FingerprintSet((Finger(1, (), image),))))
    (rec,) = tx.records
    assert isinstance(rec, TaggedRecord) and rec.type == 14
    fields = {**rec.fields, 8: ((scale,),), 9: ((hps,),)}
    odd = encode_transaction(
        dataclasses.replace(tx, records=(dataclasses.replace(rec, fields=fields),))
    )
    prints = fingerprints_from_bytes(odd)
    try:
        written = write(prints)
    except CodecError:
        return
    assert fingerprints_from_bytes(written) == prints
