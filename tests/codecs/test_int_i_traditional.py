"""INT-I v6 traditional encoding: Interpol's samples through it, nistitl reading it, round
trips of generated transactions, and every malformed input refused with a path."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from typing import Any

import nistitl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.codecs import int_i_codes as codes
from exchange.codecs import int_i_traditional as trad
from exchange.codecs import int_i_xml
from exchange.codecs.ansi_nist_records import (
    Limits,
    TaggedRecord,
    Transaction,
    decode_transaction,
    encode_transaction,
    text,
)
from exchange.codecs.errors import CodecError
from exchange.codecs.int_i_model import (
    Agency,
    BiometricRecord,
    Candidates,
    ErrorMessage,
    IncitsMinutia,
    IntiTransaction,
    Offence,
    SubjectData,
    TraditionalField,
    Type1,
    Type2,
)
from tests.codecs.test_int_i_xml import INTI, SAMPLES
from tests.codecs.test_int_i_xml import sample as sample_bytes
from tests.shared_data import needs_shared
from tests.strategies import int_i_transactions


def sample(name: str) -> IntiTransaction:
    return int_i_xml.decode(sample_bytes(name))


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths where two model values differ, down to the first field or element that does."""
    if dataclasses.is_dataclass(a) and type(a) is type(b):
        found = []
        for f in dataclasses.fields(a):
            where = f"{path}.{f.name}" if path else f.name
            found += differences(getattr(a, f.name), getattr(b, f.name), where)
        return found
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [p for i, (x, y) in pairs for p in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]


# --- Interpol's samples -----------------------------------------------------------------


@needs_shared
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_round_trip_modulo_what_is_named_untransportable(name: str) -> None:
    tx = sample(name)
    data = trad.encode(tx)
    back = trad.decode(data)
    lost = trad.untransportable(tx)
    for path in differences(tx, back):
        assert any(path == p or path.startswith((f"{p}.", f"{p}[")) for p in lost), path
    assert trad.encode(back) == data  # a fixed point
    assert trad.untransportable(back) == []


@needs_shared
def test_mps_sample_carries_its_case_references_and_minutiae() -> None:
    back = trad.decode(trad.encode(sample("MPS")))
    assert back.type1.tot == "MPS" and back.type1.tcr is None
    assert back.type1.origin == Agency("Bundeskriminalamt", "DEU", "BKA")
    t2 = back.type2
    assert t2 is not None and t2.case is not None
    assert (t2.case.country, t2.case.value) == ("DEU", "47110815")
    assert (t2.evidence_id, t2.latent_id) == ("Evidence001", "0001")
    minutiae, latent, source = back.records
    assert minutiae.record_type == 9 and minutiae.minutiae == sample("MPS").records[0].minutiae
    assert (minutiae.width, minutiae.height, minutiae.ppi) == (680, 416, 500)
    assert latent.record_type == 13 and latent.compression == "WSQ20"
    assert latent.image == sample("MPS").records[1].image
    assert source.record_type == 20 and source.compression == "PNG"
    assert source.image == sample("MPS").records[2].image
    # The offence travels; its time of day (15:00) does not, and untransportable says so.
    assert t2.offence == Offence("NLC", "Kidnapped Perry The Platypus", dt.date(2016, 12, 17))
    assert "type2.offence.when" in trad.untransportable(sample("MPS"))


@needs_shared
def test_err_and_sre_samples_carry_their_reply_fields() -> None:
    err = trad.decode(trad.encode(sample("ERR")))
    assert err.type2 is not None
    assert err.type2.errors == (ErrorMessage("112", "ERROR: INVALID DATE", "DOB"),)
    hit = trad.decode(trad.encode(sample("SRE-HIT")))
    assert hit.type1.tcr == "19125458357683H"
    assert hit.type2 is not None
    assert hit.type2.candidates == Candidates("CPS", "I", 3, "1", manual_verification=True)
    subject = hit.type2.subject
    assert subject is not None
    assert (subject.surname, subject.given_name) == ("Mustermann", "Renate")
    assert subject.birth_date == dt.date(1950, 12, 1) and subject.citizenship == ("DEU",)
    # GMT travels as UTC: the sample's 10:46:32-05:00 is the same instant.
    assert hit.type1.gmt == dt.datetime(2016, 4, 10, 15, 46, 32, tzinfo=dt.UTC)


@needs_shared
def test_sre_hit_subject_never_shows_in_repr() -> None:
    tx = trad.decode(trad.encode(sample("SRE-HIT")))
    shown = repr(tx) + str(tx)
    for secret in ("Mustermann", "Renate", "1950", "DEU', 'X"):
        assert secret not in shown
    assert "SubjectData(<withheld>)" in shown


@needs_shared
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_nistitl_reads_our_traditional_samples(name: str) -> None:
    tx = sample(name)
    msg = nistitl.Message()
    msg.parse(trad.encode(tx))
    records = list(msg)
    header = {f.tag: f.value for f in records[0]._fields}
    assert tx.tot == msg.TOT
    assert header[9] == tx.type1.tcn
    assert header[13] == [["INT-I", "06.00"]]
    assert header[2] == "0600"
    assert header[17] == [["INTERPOL", "Bundeskriminalamt", "XPO", "DEU"]]
    assert (header.get(10)) == tx.type1.tcr
    assert [r.type for r in records[1:]] == [2] + [r.record_type for r in tx.records]
    t2 = tx.type2
    assert t2 is not None
    type2 = {f.tag: f.value for f in records[1]._fields}
    if t2.case is not None:
        assert type2[7] == [[t2.case.country, t2.case.value]]
    if t2.person is not None:
        assert type2[10] == [[t2.person.country, t2.person.value]]
    if t2.candidates is not None:
        c = t2.candidates
        flag = "true" if c.manual_verification else "false"
        assert type2[64] == [[c.sequence_id, flag, str(c.total), c.tot, c.result]]
    if t2.errors:
        e = t2.errors[0]
        assert type2[74] == [[e.code, e.field_mnemonic, e.text]]
    if t2.evidence_id is not None:
        assert type2[8] == t2.evidence_id
    for ours, theirs in zip(tx.records, records[2:], strict=True):
        got = {f.tag: f.value for f in theirs._fields}
        if ours.record_type == 9:
            assert got[137] == [
                [str(n), str(m.x), str(m.y), str(m.theta), str(m.category), str(m.quality)]
                for n, m in enumerate(ours.minutiae, start=1)
            ]
            assert got[131] == str(ours.ppi)
        else:
            assert bytes(got[999]) == ours.image


@needs_shared
def test_error_codes_are_interpols_table_err() -> None:
    with open(INTI / "MRT/MRT_INT-I_LookupCodes.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["Code"] for r in rows if r["CodeTable"] == "ERR"} == codes.ERROR_CODES


@needs_shared
def test_field_numbers_agree_with_the_mrt() -> None:
    """The Type-1/Type-2 numbers we read as typed fields are the MRT's for those mnemonics."""
    with open(INTI / "MRT/MRT_INT-I_FieldDefinition.csv", encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["TradXML"] in {"T", "TX"} and r["Mnemonic"]]
    number = {(r["FieldRef"].split("/")[0], r["Mnemonic"]): int(r["FieldID"][4:7]) for r in rows}
    ours = {
        ("1", "VER"): 2, ("1", "TOT"): 4, ("1", "DAT"): 5, ("1", "PRY"): 6, ("1", "DAI"): 7,
        ("1", "ORI"): 8, ("1", "TCN"): 9, ("1", "TCR"): 10, ("1", "NSR"): 11, ("1", "NTR"): 12,
        ("1", "DOM"): 13, ("1", "GMT"): 14, ("1", "ANM"): 17, ("2", "CNO"): 7, ("2", "SQN"): 8,
        ("2", "MID"): 9, ("2", "CRN"): 10, ("2", "ORN"): 11, ("2", "NAM"): 30, ("2", "DOB"): 35,
        ("2", "RFP"): 21, ("2", "OTY"): 54, ("2", "DOO"): 55, ("2", "DOR"): 56, ("2", "NAT"): 38,
        ("2", "SEX"): 39, ("2", "ERM"): 74,
    }  # fmt: skip
    for key, tag in ours.items():
        assert number[key] == tag, key
    assert set(trad.TYPE1_TYPED) == {t for (r, _), t in ours.items() if r == "1"}
    assert set(trad.TYPE2_TYPED) == {t for (r, _), t in ours.items() if r == "2"} | {64}


# --- generated transactions -------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(int_i_transactions())
def test_generated_transactions_round_trip_exactly(tx: IntiTransaction) -> None:
    assert trad.untransportable(tx) == []
    data = trad.encode(tx)
    back = trad.decode(data)
    assert back == tx, differences(tx, back)
    assert trad.encode(back) == data
    parsed = decode_transaction(data)
    assert trad.is_int_i(parsed)
    assert trad.transaction_from_records(parsed) == back
    assert encode_transaction(trad.records_from_transaction(tx)) == data


@settings(max_examples=200, deadline=None)
@given(int_i_transactions(), st.data())
def test_corrupted_bytes_give_codec_errors_only(tx: IntiTransaction, data: st.DataObject) -> None:
    buf = bytearray(trad.encode(tx))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    try:
        trad.decode(bytes(buf))
    except CodecError as exc:
        assert exc.field
    # Decoding may also succeed: a changed value can still be a valid one.


# --- malformed input --------------------------------------------------------------------

TCN = "26000000000001A"
TCR = "26000000000000B"


def header(**changes: Any) -> dict[int, Any]:
    base: dict[int, Any] = {
        2: text("0600"),
        4: text("SRE"),
        5: text("20261207"),
        7: text("INT"),
        8: text("UKFP"),
        9: text(TCN),
        10: text(TCR),
        11: text("00.00"),
        12: text("00.00"),
        13: (("INT-I", "06.00"),),
        17: (("INTERPOL", "UK NCB", "XPO", "GBR"),),
    }
    for key, value in changes.items():
        tag = int(key[1:])
        if value is None:
            base.pop(tag, None)
        else:
            base[tag] = value
    return base


def type2(**changes: Any) -> TaggedRecord:
    fields: dict[int, Any] = {64: (("1", "false", "0", "CPS", "N"),)}
    for key, value in changes.items():
        fields[int(key[1:])] = value
    return TaggedRecord(2, 0, fields)


def minutiae(**changes: Any) -> TaggedRecord:
    fields: dict[int, Any] = {
        4: text("U"),
        136: text("1"),
        137: (("1", "10", "20", "30", "1", "50"),),
    }
    for key, value in changes.items():
        fields[int(key[1:])] = value
    return TaggedRecord(9, 1, fields)


BROKEN = {
    "DOO not a date": (header(), [type2(f55=text("2016121"))], "Type-2.2.055"),
    "DOR without its dash": (header(), [type2(f56=text("20161201 20161231"))], "Type-2.2.056"),
    "DOR ending on no date": (header(), [type2(f56=text("20161201-20161232"))], "Type-2.2.056"),
    "DOO and DOR": (
        header(),
        [type2(f55=text("20161201"), f56=text("20161201-20161231"))],
        "Type-2.2.056",
    ),
    "DOM not INT-I": (header(f13=(("EU-PRUM", "1.0"),)), [type2()], "Type-1.1.013"),
    "DOM missing": (header(f13=None), [type2()], "Type-1.1.013"),
    "TCN of 14 characters": (header(f9=text(TCN[:14])), [type2()], "Type-1.1.009"),
    "TCN with a special character": (header(f9=text("2600000000000/A")), [type2()], "1.009"),
    "TCR on a request": (header(f4=text("CPS")), [type2()], "Type-1.1.010"),
    "reply without TCR": (header(f10=None), [type2()], "Type-1.1.010"),
    "TCR of 16 characters": (header(f10=text(TCR + "1")), [type2()], "Type-1.1.010"),
    "unknown TOT": (header(f4=text("XYZ")), [type2()], "Type-1.1.004"),
    "version 0700": (header(f2=text("0700")), [type2()], "Type-1.1.002"),
    "bad date": (header(f5=text("20261307")), [type2()], "Type-1.1.005"),
    # found by bench.fuzz_ansi_nist: read, but then refused by the writer
    "DAI empty": (header(f7=text("")), [type2()], "Type-1.1.007"),
    "ORI empty": (header(f8=text("")), [type2()], "Type-1.1.008"),
    "priority 0": (header(f6=text("0")), [type2()], "Type-1.1.006"),
    "bad GMT": (header(f14=text("20261207120000")), [type2()], "Type-1.1.014"),
    "NSR not NN.NN": (header(f11=text("500")), [type2()], "Type-1.1.011"),
    "ANM of three items": (header(f17=(("A", "B", "XPO"),)), [type2()], "Type-1.1.017"),
    "ANM missing": (header(f17=None), [type2()], "Type-1.1.017"),
    "RLS with letters in count": (
        header(),
        [type2(f64=(("1", "true", "x3", "CPS", "I"),))],
        "Type-2.2.064.C",
    ),
    "RLS flag neither true nor false": (
        header(),
        [type2(f64=(("1", "Y", "3", "CPS", "I"),))],
        "Type-2.2.064.B",
    ),
    "RLS unknown TOT searched": (
        header(),
        [type2(f64=(("1", "true", "3", "ABC", "I"),))],
        "Type-2.2.064.D",
    ),
    "RLS result neither I nor N": (
        header(),
        [type2(f64=(("1", "true", "3", "CPS", "Y"),))],
        "Type-2.2.064.E",
    ),
    "RLS of four items": (header(), [type2(f64=(("1", "true", "3", "CPS"),))], "Type-2.2.064"),
    "ERM code not in table ERR": (
        header(f4=text("ERR")),
        [type2(f74=(("998", "DOB", "X"),))],
        "Type-2.2.074[0].A",
    ),
    "ERM of two items": (header(f4=text("ERR")), [type2(f74=(("112", "DOB"),))], "Type-2.2.074[0]"),
    "CNO of one item": (header(), [type2(f7=text("DEU"))], "Type-2.2.007"),
    "eleven ORNs": (
        header(),
        [type2(f11=tuple(("DEU", str(n)) for n in range(11)))],
        "Type-2.2.011",
    ),
    "DOB not a date": (header(), [type2(f35=text("19501301"))], "Type-2.2.035"),
    "two SQN values": (header(), [type2(f8=(("a",), ("b",)))], "Type-2.2.008"),
    "two Type-2 records": (header(), [type2(), TaggedRecord(2, 1, {})], "Type-2[2]"),
    "Type-15 palm": (header(), [type2(), TaggedRecord(15, 1, {}, b"x")], "Type-15[2]"),
    "NOM mismatch": (header(), [type2(), minutiae(f136=text("2"))], "Type-9[2].9.136"),
    "minutia angle 180": (
        header(),
        [type2(), minutiae(f137=(("1", "1", "1", "180", "1", "5"),))],
        "Type-9[2].9.137[0]",
    ),
    "minutia of five items": (
        header(),
        [type2(), minutiae(f137=(("1", "1", "1", "1", "1"),))],
        "Type-9[2].9.137[0]",
    ),
    "INCITS minutiae without FMT U": (
        header(),
        [type2(), minutiae(f4=text("S"))],
        "Type-9[2].9.004",
    ),
    "finger position not a number": (
        header(),
        [type2(), minutiae(f134=text("R1"))],
        "Type-9[2].9.134",
    ),
    "HLL not a number": (
        header(),
        [type2(), TaggedRecord(14, 1, {6: text("wide")}, b"x")],
        "Type-14[2].14.006",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_transactions_are_refused_naming_the_field(case: str) -> None:
    fields, records, path = BROKEN[case]
    data = encode_transaction(Transaction(fields, tuple(records)))
    with pytest.raises(CodecError) as caught:
        trad.decode(data)
    assert path in caught.value.field, caught.value


def test_the_unbroken_base_decodes() -> None:
    tx = trad.decode(encode_transaction(Transaction(header(), (type2(), minutiae()))))
    assert tx.tot == "SRE" and tx.type1.tcr == TCR
    assert tx.records[0].minutiae == (IncitsMinutia(10, 20, 30, 1, 50),)


def valid_bytes() -> bytes:
    return encode_transaction(Transaction(header(), (type2(), minutiae())))


@pytest.mark.parametrize(
    ("mangle", "path"),
    [
        (lambda b: b[:-10], "Type-9"),  # truncated last record
        (lambda b: b[: len(b) // 2], "Type-"),
        (lambda b: b.replace(b"1.003:1\x1f2", b"1.003:1\x1f3", 1), "Type-1"),  # CNT mismatch
        (lambda b: b.replace(b"\x1e9\x1f1", b"\x1e9\x1f7", 1), "Type-9"),  # CNT's IDC wrong
        (lambda b: b"", "Type-1"),
        (lambda b: b"not ansi/nist at all", "Type-1"),
    ],
)
def test_broken_bytes_are_refused_naming_the_record(mangle: Any, path: str) -> None:
    with pytest.raises(CodecError) as caught:
        trad.decode(mangle(valid_bytes()))
    assert caught.value.field.startswith(path), caught.value


def model(**t1: Any) -> IntiTransaction:
    agency = Agency("INTERPOL", "XPO", "INT")
    base = Type1(tot="CPS", tcn=TCN, date=dt.date(2026, 12, 7), destination=agency, origin=agency)
    return IntiTransaction(dataclasses.replace(base, **t1), Type2())


@pytest.mark.parametrize(
    ("tx", "path"),
    [
        (model(tcr=TCR), "Type-1.1.010"),  # never a TCR on a request
        (model(tot="SRE"), "Type-1.1.010"),
        (model(tcn="26000000000001"), "Type-1.1.009"),
        (model(tot="XYZ"), "Type-1.1.004"),
        (model(domain_name="EU"), "Type-1.1.013"),
        (model(priority=10), "Type-1.1.006"),
        (model(version="0700"), "Type-1.1.002"),
        (model(destination=Agency("INTERPOL", "XPO")), "Type-1.1.007"),
        (
            model(fields=(TraditionalField(9, (("x",),)),)),
            "Type-1.1.009",
        ),  # a kept field may not shadow a typed one
        (
            dataclasses.replace(model(), type2=Type2(errors=(ErrorMessage("998"),))),
            "Type-2.2.074[0].A",
        ),
        (dataclasses.replace(model(), type2=Type2(idc="A")), "Type-2.2.002"),
        (
            dataclasses.replace(model(), records=(BiometricRecord(13, "1"),)),
            "Type-13[2].13.999",
        ),
        (
            dataclasses.replace(model(), records=(BiometricRecord(15, "1", image=b"x"),)),
            "Type-15[2]",
        ),
        (
            dataclasses.replace(
                model(), records=(BiometricRecord(4, "1", compression="XYZ", image=b"x"),)
            ),
            "Type-4[2].4.008",
        ),
        # found by bench.fuzz_ansi_nist: written, then refused by the reader (MRT 9.137-D
        # MAV {0..179}, INCITS 378's units of two degrees; type 0-2, quality 0-100)
        *(
            (
                dataclasses.replace(
                    model(),
                    records=(BiometricRecord(9, "1", positions=(1,), minutiae=(m,)),),
                ),
                "Type-9[2].9.137[0]",
            )
            for m in (
                IncitsMinutia(1, 2, 180),
                IncitsMinutia(1, 2, 3, 3),
                IncitsMinutia(1, 2, 3, 1, 101),
                IncitsMinutia(100000, 2, 3),
                IncitsMinutia(-1, 2, 3),
            )
        ),
    ],
)
def test_models_that_cannot_be_written_are_refused_naming_the_field(
    tx: IntiTransaction, path: str
) -> None:
    with pytest.raises(CodecError) as caught:
        trad.encode(tx)
    assert caught.value.field.startswith(path), caught.value


def test_is_int_i_looks_at_the_domain_name() -> None:
    assert trad.is_int_i(decode_transaction(valid_bytes()))
    other = encode_transaction(Transaction(header(f13=(("EU-PRUM", "1.0"),)), (type2(),)))
    assert not trad.is_int_i(decode_transaction(other))
    no_dom = encode_transaction(Transaction(header(f13=None), (type2(),)))
    assert not trad.is_int_i(decode_transaction(no_dom))
    for version, v6 in (("6.00", True), ("06.00.02", True), ("4.22", False), ("", False)):
        dom = encode_transaction(Transaction(header(f13=(("INT-I", version),)), (type2(),)))
        assert trad.is_int_i(decode_transaction(dom)) is v6, version


def test_untransportable_names_what_the_xml_side_holds() -> None:
    naive = model(gmt=dt.datetime(2026, 12, 7, 12, 0))
    assert trad.untransportable(naive) == ["type1.gmt"]
    subject = SubjectData(surname="X", middle_names=("A", "B"))
    two_middle = dataclasses.replace(model(), type2=Type2(subject=subject))
    assert trad.untransportable(two_middle) == ["type2.subject.middle_names"]
    xml_record = BiometricRecord(9, "1", minutiae=(IncitsMinutia(1, 1, 1),), xml=b"<x/>")
    assert trad.untransportable(dataclasses.replace(model(), records=(xml_record,))) == [
        "records[0].xml"
    ]


def test_an_offence_description_of_several_subfields_is_kept_whole() -> None:
    oty = (("ROBBERY",), ("ASSAULT",))
    data = encode_transaction(Transaction(header(), (type2(f54=oty, f21=text("NLC")),)))
    tx = trad.decode(data)
    assert tx.type2 is not None and tx.type2.offence == Offence(code="NLC")
    assert TraditionalField(54, oty) in tx.type2.fields
    assert trad.encode(tx) == data


def test_a_name_with_parts_the_model_lacks_is_kept_whole() -> None:
    name = (("Dr", "Renate", "", "Mustermann", "", "Schmidt"),)
    data = encode_transaction(Transaction(header(), (type2(f30=name, f39=text("F")),)))
    tx = trad.decode(data)
    assert tx.type2 is not None and tx.type2.subject is not None
    assert tx.type2.subject.surname is None and tx.type2.subject.sex == "F"
    assert TraditionalField(30, name) in tx.type2.fields
    assert trad.encode(tx) == data


def test_text_outside_latin1_is_refused_naming_its_field() -> None:
    subject = SubjectData(surname="Мустерман")
    with pytest.raises(CodecError) as caught:
        trad.encode(dataclasses.replace(model(), type2=Type2(subject=subject)))
    assert caught.value.field == "Type-2[1].2.030"


def test_limits_bound_the_reader() -> None:
    with pytest.raises(CodecError) as caught:
        trad.decode(valid_bytes(), limits=Limits(max_bytes=100))
    assert caught.value.field == "transaction"


def face_and_source() -> bytes:
    """A traditional CPS with a Type-14 print, a Type-10 face and a Type-20 source image, each
    with the fields INT-I makes mandatory (the MRT's `M` rows for 10 and 20)."""
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    finger = TaggedRecord(
        14,
        1,
        {
            3: text("0"),
            4: text("UKFP"),
            5: text("20261207"),
            6: text("400"),
            7: text("500"),
            8: text("1"),
            9: text("500"),
            10: text("500"),
            11: text("PNG"),
            12: text("8"),
            13: text("2"),
        },
        png,
    )
    face = TaggedRecord(
        10,
        2,
        {
            3: text("FACE"),
            4: text("UKFP"),
            5: text("20261201"),
            6: text("480"),
            7: text("600"),
            8: text("1"),
            9: text("300"),
            10: text("300"),
            11: text("PNG"),
            12: text("GRAY"),
        },
        png,
    )
    source = TaggedRecord(
        20,
        3,
        {
            3: text("D"),
            4: text("UKFP"),
            5: text("202612011200"),
            14: text("2"),
            15: text("PNG"),
            21: text("1"),
        },
        png,
    )
    head = header(f4=text("CPS"), f10=None)
    business = TaggedRecord(2, 0, {11: (("GBR", "UK-REF-1"),)})
    return encode_transaction(Transaction(head, (business, finger, face, source)))


@needs_shared
def test_face_and_source_records_read_traditionally_are_written_as_valid_int_i_xml() -> None:
    """Type-10 and Type-20 records read from the traditional encoding have an XML form
    (built from their typed and kept fields) that int-i.xsd accepts and that reads back."""
    from tests.codecs.test_int_i_xml import assert_valid

    tx = trad.decode(face_and_source())
    assert [r.record_type for r in tx.records] == [14, 10, 20]
    written = int_i_xml.encode(tx)
    assert_valid(written)
    back = int_i_xml.decode(written)
    for before, after in zip(tx.records, back.records, strict=True):
        assert (after.record_type, after.idc, after.image) == (
            before.record_type,
            before.idc,
            before.image,
        )
    face, source = back.records[1], back.records[2]
    assert (face.width, face.height, face.ppi, face.compression) == (480, 600, 300, "PNG")
    assert source.compression == "PNG"  # 20.015 SFT's file type
    assert b"<nc:Date>2026-12-01</nc:Date>" in written  # PHD and SRD as dates
    assert b"<biom:AcquisitionSourceCode>2</biom:AcquisitionSourceCode>" in written


def test_a_type10_that_is_no_face_has_no_xml_form_here() -> None:
    tx = trad.decode(face_and_source())
    face = dataclasses.replace(
        tx.records[1],
        fields=tuple(
            TraditionalField(3, (("SMT",),)) if f.tag == 3 else f for f in tx.records[1].fields
        ),
    )
    with pytest.raises(CodecError, match=r"Type-10\[2\]\.10\.003"):
        int_i_xml.encode(dataclasses.replace(tx, records=(tx.records[0], face, tx.records[2])))


def test_a_gmt_before_year_1000_comes_back_as_read() -> None:
    """Found by bench.fuzz_ansi_nist: strftime("%Y") wrote year 16 as "16", which the reader
    refused (1.014 GMT is YYYYMMDDHHMMSSZ)."""
    data = encode_transaction(Transaction(header(f14=text("00160410154632Z")), (type2(),)))
    tx = trad.decode(data)
    assert tx.type1.gmt == dt.datetime(16, 4, 10, 15, 46, 32, tzinfo=dt.UTC)
    assert b"1.014:00160410154632Z" in trad.encode(tx)
    assert trad.decode(trad.encode(tx)) == tx
