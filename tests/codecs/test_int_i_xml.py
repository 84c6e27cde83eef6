"""INT-I v6.00 XML: Interpol's samples and schema (read from ../shared) and our own output."""

from __future__ import annotations

import copy
import csv
import dataclasses
import datetime as dt
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from exchange.codecs import int_i_codes as codes
from exchange.codecs import uk_json
from exchange.codecs.errors import CodecError, HostileInputError
from exchange.codecs.int_i_envelope import (
    core_data_of_subject,
    decode_envelope,
    degrees_of_theta,
    encode_envelope,
    envelope_from_transaction,
    int_i_tcn,
    node_of,
    subject_of_core_data,
    tcn_check_character,
    theta_of_degrees,
    transaction_from_envelope,
)
from exchange.codecs.int_i_prints import BiometricRecord, IncitsMinutia
from exchange.codecs.int_i_xml import (
    Agency,
    Candidates,
    CountryReference,
    ErrorMessage,
    IntiTransaction,
    Offence,
    SubjectData,
    Type1,
    Type2,
    decode,
    encode,
)
from exchange.model import (
    BiometricImage,
    Candidate,
    CoreData,
    DactySearchRequest,
    Envelope,
    ErrorBody,
    ErrorCode,
    Finger,
    FingerprintSet,
    Header,
    Impression,
    MatchType,
    MessageType,
    Minutia,
    MinutiaKind,
    Modality,
    PartialDate,
    PersonName,
    ProbeResult,
    Purpose,
    SearchReply,
    Sex,
)
from tests.shared_data import THIRDPARTY, needs_shared

INTI = THIRDPARTY / "interpol-int-i"
SAMPLES = {
    "ERR": "Sample-ERR-INT-ITransaction.xml",
    "MPS": "Sample-MPS-INT-ITransaction.xml",
    "SRE-HIT": "Sample-SRE-HIT_CPS-INT-ITransaction.xml",
    "SRE-NOHIT": "Sample-SRE-NOHIT-INT-ITransaction.xml",
}


@cache
def schema() -> etree.XMLSchema:
    # int-i.xsd imports itl.xsd and the NIEM subset by relative paths; no catalog needed.
    return etree.XMLSchema(etree.parse(str(INTI / "XMLschemas/int-i/1.0/int-i.xsd")))


def sample(name: str) -> bytes:
    return (INTI / "XMLsamples" / SAMPLES[name]).read_bytes()


def assert_valid(data: bytes) -> None:
    xsd = schema()
    ok = xsd.validate(etree.fromstring(data))
    assert ok, xsd.error_log.last_error


# --- Interpol's samples ------------------------------------------------------------------


@needs_shared
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_validate_against_the_int_i_schema(name: str) -> None:
    assert_valid(sample(name))


@needs_shared
def test_err_sample() -> None:
    tx = decode(sample("ERR"))
    assert (tx.tot, tx.type1.tcn, tx.type1.tcr) == ("ERR", "19125458357684J", "19125458357683H")
    assert (tx.type1.domain_name, tx.type1.domain_version, tx.type1.version) == (
        "INT-I",
        "06.00",
        "0502",
    )
    assert tx.type1.origin == Agency("Bundeskriminalamt", "DEU", "BKA")
    assert tx.type1.destination == Agency("INTERPOL", "XPO", "INT")
    assert tx.type1.gmt == dt.datetime(
        2016, 4, 10, 10, 46, 32, tzinfo=dt.timezone(dt.timedelta(hours=-5))
    )
    assert tx.type2 is not None
    assert tx.type2.errors == (ErrorMessage("112", "ERROR: INVALID DATE", "DOB"),)
    body = envelope_from_transaction(tx).body
    assert body == ErrorBody(
        ErrorCode.SCHEMA_INVALID, "ERROR: INVALID DATE", "DOB", "19125458357683H"
    )


@needs_shared
def test_sre_hit_sample() -> None:
    tx = decode(sample("SRE-HIT"))
    assert tx.type2 is not None and tx.type2.subject is not None
    assert tx.type2.candidates == Candidates("CPS", "I", 3, "1", True)
    assert tx.type2.person is not None and tx.type2.person.value == "1234567890"
    subject = tx.type2.subject
    assert (subject.surname, subject.given_name, subject.sex) == ("Mustermann", "Renate", "X")
    assert subject.birth_date == dt.date(1950, 12, 1) and subject.citizenship == ("DEU",)
    envelope = envelope_from_transaction(tx)
    assert isinstance(envelope.body, SearchReply) and envelope.body.hit
    assert len(envelope.body.results[0].candidates) == 3
    assert envelope.header.correlation_id == "19125458357683H"


@needs_shared
def test_sre_hit_identity_never_shows_in_repr() -> None:
    tx = decode(sample("SRE-HIT"))
    for text in (repr(tx), str(tx), repr(tx.type2), f"{tx.type2}"):
        assert "Mustermann" not in text and "Renate" not in text and "1950" not in text
        assert "Wiesbaden" not in text  # the birthplace, kept unmodelled inside the subject


@needs_shared
def test_sre_nohit_sample() -> None:
    tx = decode(sample("SRE-NOHIT"))
    assert tx.tot == "SRE" and tx.type2 is not None
    assert tx.type2.candidates == Candidates("CPS", "N", 0, "1", False)
    assert tx.type2.subject is None
    body = envelope_from_transaction(tx).body
    assert isinstance(body, SearchReply) and not body.hit


@needs_shared
def test_mps_sample() -> None:
    tx = decode(sample("MPS"))
    assert tx.tot == "MPS" and tx.type1.tcr is None and tx.type2 is not None
    assert tx.type2.case is not None and tx.type2.case.value == "47110815"
    assert (tx.type2.evidence_id, tx.type2.latent_id) == ("Evidence001", "0001")
    assert [(r.value, r.country) for r in tx.type2.business] == [("AZERTY", "DEU")]
    assert tx.type2.offence == Offence(
        "NLC", "Kidnapped Perry The Platypus", dt.datetime(2016, 12, 17, 15, 0)
    )
    minutiae, latent, source = tx.records
    assert minutiae.record_type == 9 and minutiae.minutiae[1] == IncitsMinutia(2, 2, 2, 1, 50)
    assert (latent.record_type, latent.compression, latent.width, latent.height) == (
        13,
        "WSQ20",
        680,
        416,
    )
    assert latent.image is not None and latent.image.startswith(b"\xff\xa0")  # WSQ SOI marker
    assert source.record_type == 20 and source.image is not None
    assert source.image.startswith(b"\x89PNG")
    body = envelope_from_transaction(tx).body
    assert isinstance(body, DactySearchRequest) and body.search_type == "LT/TP"
    assert body.reference == "AZERTY"
    (finger,) = body.fingerprints.fingers
    assert finger.position == 0 and len(finger.minutiae) == 3 and finger.image is not None


@needs_shared
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_round_trip_through_our_encoder(name: str) -> None:
    tx = decode(sample(name))
    out = encode(tx)
    assert_valid(out)
    assert decode(out) == tx


@needs_shared
@pytest.mark.parametrize(
    "offence",
    [
        Offence(code="ICM", when=dt.date(2026, 11, 30)),
        Offence(description="Theft", between=(dt.date(2026, 1, 1), dt.date(2026, 1, 31))),
        Offence(
            code="NLC",
            description="Fraud",
            between=(dt.datetime(2026, 1, 1, 8, 0), dt.datetime(2026, 1, 2, 9, 30)),
        ),
    ],
)
def test_offence_built_from_scratch_validates_and_comes_back(offence: Offence) -> None:
    tx = decode(sample("MPS"))
    assert tx.type2 is not None
    built = dataclasses.replace(tx, type2=dataclasses.replace(tx.type2, offence=offence))
    out = encode(built)
    assert_valid(out)
    assert decode(out) == built


def test_offence_with_a_date_and_a_range_is_refused() -> None:
    day = dt.date(2026, 1, 1)
    offence = Offence(when=day, between=(day, day))
    agency = Agency("INTERPOL", "XPO", "INT")
    t1 = Type1("MPS", "26000000000001A", day, agency, agency)
    with pytest.raises(CodecError, match="not both"):
        encode(IntiTransaction(t1, Type2(offence=offence)))


# --- our own transactions ------------------------------------------------------------------

NOW = dt.datetime(2026, 12, 7, 17, 0, tzinfo=dt.UTC)


def header(message_type: MessageType, message_id: str = "26000000000001A") -> Header:
    return Header(
        message_id, "26000000000000Z", NOW, "GBR-NCA", "INT", message_type, Purpose.INVESTIGATION
    )


def cps_envelope() -> Envelope:
    image = BiometricImage(b"\xff\xa0fake wsq", "WSQ20", 400, 500, 500)
    fingers = (
        Finger(1, (Minutia(10, 20, 90), Minutia(30, 40, 180, MinutiaKind.BIFURCATION, 80)), image),
        Finger(2, (Minutia(5, 6, 8),)),  # INT-I angles are of 2 degrees: even ones travel
    )
    body = DactySearchRequest("UK-REF-1", "TP/TP", FingerprintSet(fingers))
    return Envelope(header(MessageType.DACTY_SEARCH_REQUEST), body)


@needs_shared
def test_minutia_angles_travel_in_incits_units_of_two_degrees() -> None:
    """9.137 MAV is INCITS 378's angle (0-179, units of 2 degrees, pointing the other way
    from the model's legacy convention): 90 degrees is 135, 180 is 0, odd degrees round."""
    assert [theta_of_degrees(a) for a in (0, 90, 180, 270, 359, 7)] == [90, 135, 0, 45, 90, 94]
    assert [degrees_of_theta(t) for t in (90, 135, 0, 45, 179)] == [0, 90, 180, 270, 178]
    assert all(degrees_of_theta(theta_of_degrees(a)) == a for a in range(0, 360, 2))
    data = encode_envelope(cps_envelope())
    assert b"<biom:ImageLocationThetaAngleMeasure>135<" in data  # the 90-degree minutia
    too_wide = data.replace(b"ThetaAngleMeasure>135<", b"ThetaAngleMeasure>180<", 1)
    with pytest.raises(CodecError, match=r"INCITSMinutia.*2-degree units"):
        decode(too_wide)


def test_our_cps_validates_and_maps_back() -> None:
    envelope = cps_envelope()
    data = encode_envelope(envelope)
    assert_valid(data)
    tx = decode(data)
    assert tx.tot == "CPS" and tx.type1.tcr is None
    assert [r.record_type for r in tx.records] == [14, 9, 9]
    back = decode_envelope(data)
    assert back.body == envelope.body
    # The agency `GBR-NCA` of country GBR is node GB; Interpol's agency `INT` (XPO) INTERPOL.
    assert (back.header.message_id, back.header.sender, back.header.receiver) == (
        "26000000000001A",
        "GB",
        "INTERPOL",
    )
    assert back.header.timestamp == NOW
    assert (tx.type1.origin.country, tx.type1.destination.country) == ("GBR", "XPO")


@pytest.mark.parametrize(
    ("agency", "node"),
    [
        (Agency("Bundeskriminalamt", "DEU", "BKA"), "DE"),
        (Agency("INTERPOL", "XPO", "INT"), "INTERPOL"),
        (Agency("GB", "GBR", "GB"), "GB"),
        (Agency("INTERPOL", "XPO", "INTERPOL"), "INTERPOL"),
        (Agency("Somewhere", "ZZZ", "SW1"), "SW1"),
        (Agency("Somewhere", "ZZZ"), "Somewhere"),
    ],
)
def test_agencies_are_node_ids(agency: Agency, node: str) -> None:
    assert node_of(agency) == node


def test_node_ids_get_their_agency_country() -> None:
    envelope = cps_envelope()
    for sender, receiver, countries in [
        ("DE", "INTERPOL", ("DEU", "XPO")),
        ("FR", "GB", ("FRA", "GBR")),
        ("GBR-NCA", "INT", ("GBR", "XPO")),
    ]:
        head = dataclasses.replace(envelope.header, sender=sender, receiver=receiver)
        tx = transaction_from_envelope(Envelope(head, envelope.body))
        assert (tx.type1.origin.country, tx.type1.destination.country) == countries
        back = envelope_from_transaction(tx)
        assert (back.header.sender, back.header.receiver) == (
            sender if len(sender) == 2 else "GB",
            "INTERPOL" if receiver == "INT" else receiver,
        )


@needs_shared
def test_our_sre_validates() -> None:
    candidates = (
        Candidate("x", 1.0, MatchType.CANDIDATE),
        Candidate("y", 0.5, MatchType.CANDIDATE),
    )
    body = SearchReply("26000000000000Z", Modality.FINGERPRINT, (ProbeResult("p", candidates),))
    data = encode_envelope(Envelope(header(MessageType.SEARCH_REPLY), body))
    assert_valid(data)
    tx = decode(data)
    assert tx.type1.tcr == "26000000000000Z" and tx.type2 is not None
    assert tx.type2.candidates == Candidates("CPS", "I", 2)
    back = decode_envelope(data).body
    assert isinstance(back, SearchReply) and len(back.results[0].candidates) == 2


@needs_shared
def test_our_sre_no_hit_and_err_validate() -> None:
    no_hit = SearchReply("26000000000000Z", Modality.FINGERPRINT, (ProbeResult("p"),))
    data = encode_envelope(Envelope(header(MessageType.SEARCH_REPLY), no_hit))
    assert_valid(data)
    error = ErrorBody(
        ErrorCode.UNKNOWN_REFERENCE, "no such hit", request_message_id="26000000000000Z"
    )
    data = encode_envelope(Envelope(header(MessageType.ERROR), error))
    assert_valid(data)
    assert decode_envelope(data).body == ErrorBody(
        ErrorCode.UNKNOWN_REFERENCE, "no such hit", None, "26000000000000Z"
    )


@needs_shared
def test_sre_with_subject_built_from_scratch_validates() -> None:
    subject = SubjectData("Doe", "Jane", ("Q",), dt.date(1980, 2, 3), "F", ("GBR",))
    tx = IntiTransaction(
        Type1(
            "SRE",
            "26000000000002B",
            NOW.date(),
            Agency("INTERPOL", "XPO", "INT"),
            Agency("NCA", "GBR"),
            NOW,
            "26000000000001A",
        ),
        Type2(subject=subject, candidates=Candidates("CPS", "I", 1, manual_verification=True)),
    )
    data = encode(tx)
    assert_valid(data)
    assert decode(data) == tx


def test_a_subject_maps_to_core_data_and_back() -> None:
    subject = SubjectData("Doe", "Jane", ("Q",), dt.date(1980, 2, 3), "F", ("GBR", "IRL"))
    core = core_data_of_subject(subject)
    assert core == CoreData(
        name=PersonName("Doe", ("Jane", "Q")),
        date_of_birth=PartialDate(1980, 2, 3),
        sex=Sex.FEMALE,
        nationalities=("GB", "IE"),
    )
    assert subject_of_core_data(core) == subject
    partial = dataclasses.replace(core, date_of_birth=PartialDate(1980), sex=Sex.UNKNOWN)
    assert subject_of_core_data(partial).birth_date is None  # nc:Date has no partial form
    assert core_data_of_subject(SubjectData(given_name="Jane")) is None  # no family name
    with pytest.raises(CodecError, match=r"PersonCitizenshipISO3166Alpha3Code\[0\]"):
        core_data_of_subject(SubjectData("Doe", citizenship=("ZZZ",)))


def test_int_i_tcn_is_stable_and_int_i_shaped() -> None:
    assert int_i_tcn("26000000000001A", 2019) == "26000000000001A"  # already a TCN: kept
    message_id = "01a2524a-5a5c-7396-92bb-6ef8d871f95c.fingerprint"
    tcn = int_i_tcn(message_id, 2026)
    assert tcn == int_i_tcn(message_id, 2026)  # a retry carries the same TCN
    assert tcn != int_i_tcn("other.fingerprint", 2026)
    # YY, a twelve-digit serial and the check character of the MRT's procedure.
    assert codes.TCN_PATTERN.fullmatch(tcn) and tcn.startswith("26")
    assert tcn[-1] == "ZABCDEFGHJKLMNPQRTUVWXY"[int(tcn[:14]) % 23]
    assert int_i_tcn(message_id, 2031).startswith("31")


@needs_shared
def test_tcn_check_character_agrees_with_interpols_samples() -> None:
    """The MRT's check character (mod 23 over YY and the serial) gives the samples' TCNs."""
    for name in SAMPLES.values():
        t1 = decode((INTI / "XMLsamples" / name).read_bytes()).type1
        for tcn in filter(None, (t1.tcn, t1.tcr)):
            assert tcn_check_character(tcn[:14]) == tcn[-1], (name, tcn)


def test_tcn_must_be_int_i_shaped() -> None:
    envelope = dataclasses.replace(
        cps_envelope(), header=header(MessageType.DACTY_SEARCH_REQUEST, "not-a-tcn")
    )
    with pytest.raises(CodecError) as info:
        transaction_from_envelope(envelope)
    assert info.value.field == "header.message_id"


def test_built_minutiae_record_needs_minutiae() -> None:
    tx = IntiTransaction(
        Type1("CPS", "26000000000003C", NOW.date(), Agency("I", "XPO"), Agency("U", "GBR")),
        records=(BiometricRecord(9),),
    )
    with pytest.raises(CodecError):
        encode(tx)


# --- refusals -----------------------------------------------------------------------------


def minimal() -> bytes:
    tx = IntiTransaction(
        Type1(
            "ERR",
            "26000000000004D",
            NOW.date(),
            Agency("I", "XPO"),
            Agency("U", "GBR"),
            tcr="26000000000003C",
        ),
        Type2(errors=(ErrorMessage("999"),)),
    )
    return encode(tx)


def test_wrong_root_is_refused_naming_it() -> None:
    with pytest.raises(CodecError) as info:
        decode(b'<Envelope xmlns="urn:prum"/>')
    assert info.value.field == "/Envelope"


def test_wrong_namespace_is_refused() -> None:
    data = minimal().replace(codes.NS_ITL.encode(), b"http://example.org/not-itl")
    with pytest.raises(CodecError) as info:
        decode(data)
    assert "NISTBiometricInformationExchangePackage" in info.value.field


def test_missing_mandatory_element_names_its_path() -> None:
    root = etree.fromstring(minimal())
    tcn = root.find(f".//{{{codes.NS_BIOM}}}TransactionControlIdentification")
    assert tcn is not None
    tcn.getparent().remove(tcn)
    with pytest.raises(CodecError) as info:
        decode(etree.tostring(root))
    assert info.value.field == (
        "/itl:NISTBiometricInformationExchangePackage/itl:PackageInformationRecord"
        "/biom:Transaction/biom:TransactionControlIdentification"
    )


def test_more_than_one_business_reference_is_refused() -> None:
    tx = decode(minimal())
    refs = (CountryReference("A", "GBR"), CountryReference("B", "GBR"))
    with pytest.raises(CodecError) as info:
        encode(dataclasses.replace(tx, type2=Type2(business=refs)))
    assert info.value.field == "Type-2.2.011"


@needs_shared
@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"<biom:FingerPositionCode>0<", b"<biom:FingerPositionCode>x<"),
        (b"iVBORw0KGgo", b"iVBOR*0KGgo"),
    ],
)
def test_bad_biometric_content_is_a_codec_error(old: bytes, new: bytes) -> None:
    data = sample("MPS")
    assert old in data
    with pytest.raises(CodecError) as info:
        decode(data.replace(old, new, 1))
    assert info.value.field.startswith("/itl:NISTBiometricInformationExchangePackage/itl:Package")


def test_reply_without_tcr_is_refused() -> None:
    root = etree.fromstring(minimal())
    tcr = root.find(f".//{{{codes.NS_BIOM}}}TransactionControlReferenceIdentification")
    assert tcr is not None
    tcr.getparent().remove(tcr)
    with pytest.raises(CodecError) as info:
        decode(etree.tostring(root))
    assert info.value.field.endswith(
        "biom:Transaction/biom:TransactionControlReferenceIdentification"
    )


def test_non_numeric_priority_is_a_codec_error() -> None:
    tx = decode(minimal())
    data = encode(dataclasses.replace(tx, type1=dataclasses.replace(tx.type1, priority=2)))
    with pytest.raises(CodecError):
        decode(data.replace(b"PriorityValue>2<", b"PriorityValue>x<"))


def test_unknown_tot_is_refused() -> None:
    data = minimal().replace(b">ERR<", b">XYZ<")
    with pytest.raises(CodecError) as info:
        decode(data)
    assert info.value.field.endswith("int-i:TransactionCategoryCode")


def test_dtd_and_entities_are_refused() -> None:
    data = minimal()
    head, rest = data.split(b"?>", 1)
    hostile = head + b'?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + rest
    with pytest.raises(HostileInputError):
        decode(hostile)


def test_minimal_err_round_trips() -> None:
    assert encode(decode(minimal())) == minimal()


# --- our code table against Interpol's --------------------------------------------------


@needs_shared
def test_our_codes_agree_with_the_published_lookup_table() -> None:
    with open(INTI / "MRT/MRT_INT-I_LookupCodes.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    errors = {r["Code"]: r["Description"] for r in rows if r["CodeTable"] == "ERR"}
    tots = {r["Code"] for r in rows if r["CodeTable"] == "TOT"}
    assert tots == codes.TOTS
    for code, text in codes.ERROR_TEXTS.items():
        assert errors[code] == text
    assert set(codes.INT_I_ERROR_OF.values()) <= set(errors)
    # Every code INT-I defines reads as one of ours with its meaning: 999 is "record not
    # found" (never a failure of the partner's), as 001 is.
    assert errors["999"] == errors["001"]
    assert codes.error_code_of("999") is codes.error_code_of("001") is ErrorCode.UNKNOWN_REFERENCE


@pytest.mark.parametrize("code", sorted(codes.NO_INT_I_CODE))
def test_refusals_without_an_int_i_code_are_not_written_as_err(code: ErrorCode) -> None:
    # INT-I has no code for a quota or an internal failure; writing 999 would say "no record".
    envelope = Envelope(
        header(MessageType.ERROR), ErrorBody(code, "try later", None, "26000000000001A")
    )
    with pytest.raises(CodecError, match="transport level"):
        encode_envelope(envelope)


# --- generated transactions --------------------------------------------------------------

_tokens = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=12)
_tcns = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=15, max_size=15)
_countries = st.sampled_from(["GBR", "DEU", "FRA", "XPO"])
_references = st.builds(CountryReference, _tokens, _countries)
_results = st.builds(
    Candidates,
    st.sampled_from(["CPS", "MPS"]),
    st.sampled_from(["I", "N"]),
    st.integers(0, 99),
    st.just("1"),
    st.booleans(),
)
_errors = st.builds(
    ErrorMessage,
    st.sampled_from(sorted(codes.ERROR_TEXTS)),
    st.none() | _tokens,
    st.none() | st.sampled_from(["DOB", "TCN"]),
)
_type2s = st.builds(
    Type2,
    case=st.none() | _references,
    evidence_id=st.none() | _tokens,
    latent_id=st.none() | _tokens,
    person=st.none() | _references,
    business=st.lists(_references, max_size=1).map(tuple),
    candidates=st.none() | _results,
    errors=st.lists(_errors, max_size=2).map(tuple),
)


@given(tcn=_tcns, tcr=_tcns, type2=_type2s, priority=st.none() | st.integers(1, 9))
@settings(max_examples=60, deadline=None)
def test_generated_replies_round_trip(
    tcn: str, tcr: str, type2: Type2, priority: int | None
) -> None:
    type1 = Type1(
        "SRE",
        tcn,
        NOW.date(),
        Agency("INTERPOL", "XPO", "INT"),
        Agency("NCA", "GBR"),
        NOW,
        tcr,
        priority,
    )
    tx = IntiTransaction(type1, type2)
    data = encode(tx)
    assert decode(data) == tx
    if THIRDPARTY.is_dir():
        assert_valid(data)


@needs_shared
def test_translate_uk_record_to_int_i_xml_validates_and_comes_back() -> None:
    """`translate --to int-i-xml`: a UK record's prints as a CPS that int-i.xsd accepts."""
    from exchange.translate import Outbound, int_i_tcn, translate
    from mock_partners import population

    record = population.person(3, 17).record
    data = uk_json.encode(record)
    out = translate(data, "uk-json", "int-i-xml", Outbound(message_id="a-uuid-like-id"))
    assert_valid(out)
    assert int_i_tcn("a-uuid-like-id", 2000).encode() in out  # Outbound's default date
    back = uk_json.decode(translate(out, "int-i-xml", "uk-json"))
    assert back.fingerprints is not None and record.fingerprints is not None
    got = [(f.position, len(f.minutiae)) for f in back.fingerprints.fingers]
    assert got == [(f.position, len(f.minutiae)) for f in record.fingerprints.fingers]


@needs_shared
def test_translate_int_i_mps_sample_to_uk_record() -> None:
    from exchange.translate import translate

    back = uk_json.decode(translate(sample("MPS"), "int-i-xml", "uk-json"))
    assert back.fingerprints is not None and back.fingerprints.fingers


def test_plain_prints_in_their_own_order_come_back_as_sent() -> None:
    # Found translating NIST's fmr.ansi2004: fingers came back sorted and as `rolled`.
    fingers = tuple(Finger(p, (Minutia(10 + p, 20, 90),)) for p in (7, 2, 3))
    body = DactySearchRequest("UK-REF-2", "TP/TP", FingerprintSet(fingers, Impression.PLAIN))
    envelope = Envelope(header(MessageType.DACTY_SEARCH_REQUEST), body)
    assert decode_envelope(encode_envelope(envelope)).body == body


def test_a_ten_print_search_of_latent_records_is_refused() -> None:
    envelope = cps_envelope()
    tx = transaction_from_envelope(envelope)
    latent = tuple(dataclasses.replace(r, impression="4") for r in tx.records)
    with pytest.raises(CodecError, match="ten-print impressions"):
        envelope_from_transaction(dataclasses.replace(tx, records=latent))


# --- found by bench.fuzz_ansi_nist ------------------------------------------------------


def reply(total: int = 3) -> bytes:
    return encode(
        IntiTransaction(
            Type1(
                "SRE",
                "26000000000002B",
                NOW.date(),
                Agency("INTERPOL", "XPO", "INT"),
                Agency("NCA", "GBR"),
                NOW,
                "26000000000001A",
                priority=2,
            ),
            Type2(candidates=Candidates("CPS", "I", total)),
        )
    )


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (b"PriorityValue>2<", b"PriorityValue>10<", "biom:TransactionPriorityValue"),
        (b"PriorityValue>2<", b"PriorityValue>0<", "biom:TransactionPriorityValue"),
        (b"PriorityValue>2<", "PriorityValue>\u00b2<".encode(), "biom:TransactionPriorityValue"),
        (b"Quantity>3<", b"Quantity>100<", "int-i:TransactionCandidatesTotalQuantity"),
        (b"Quantity>3<", b"Quantity>-1<", "int-i:TransactionCandidatesTotalQuantity"),
    ],
)
def test_priority_and_candidate_total_outside_int_i_ranges_are_refused(
    old: bytes, new: bytes, field: str
) -> None:
    """INT-I's MRT: 1.006 PRY is one digit 1-9, 2.064 CTQ at most two digits."""
    data = reply()
    assert old in data
    with pytest.raises(CodecError) as info:
        decode(data.replace(old, new, 1))
    assert info.value.field.endswith(field)


def test_priority_and_candidate_total_outside_int_i_ranges_are_not_written() -> None:
    tx = decode(reply())
    assert tx.type2 is not None and tx.type2.candidates is not None
    with pytest.raises(CodecError):
        encode(dataclasses.replace(tx, type1=dataclasses.replace(tx.type1, priority=10)))
    many = dataclasses.replace(tx.type2.candidates, total=100)
    with pytest.raises(CodecError):
        encode(dataclasses.replace(tx, type2=dataclasses.replace(tx.type2, candidates=many)))


@pytest.mark.parametrize(
    "tag",
    [
        "TransactionDate",  # a modelled child of biom:Transaction
        "TransactionControlIdentification",
        "RespondentsList",  # int-i
        "TransactionCandidatesTotalQuantity",  # inside a modelled element
    ],
)
def test_a_repeated_single_valued_element_is_refused(tag: str) -> None:
    root = etree.fromstring(reply())
    (element,) = [e for e in root.iter() if etree.QName(e).localname == tag]
    element.addnext(copy.deepcopy(element))
    with pytest.raises(CodecError) as info:
        decode(etree.tostring(root))
    assert info.value.field.endswith(tag)
    assert "repeated" in info.value.reason


def test_more_than_one_business_reference_is_refused_on_reading() -> None:
    data = encode_envelope(cps_envelope())
    root = etree.fromstring(data)
    (ref,) = [e for e in root.iter() if etree.QName(e).localname == "NationalBusinessReference"]
    ref.addnext(copy.deepcopy(ref))
    with pytest.raises(CodecError) as info:
        decode(etree.tostring(root))
    assert info.value.field.endswith("int-i:NationalBusinessReference")


def test_content_summary_must_list_the_records_present() -> None:
    """1.003 CNT in XML: a summary naming a record that is not there is refused (it was
    ignored, and the re-encoded summary of no records was one int-i.xsd refuses)."""
    root = etree.fromstring(minimal())
    text_record = root.find(f"{{{codes.NS_ITL}}}PackageDescriptiveTextRecord")
    assert text_record is not None
    root.remove(text_record)
    with pytest.raises(CodecError) as info:
        decode(etree.tostring(root))
    assert info.value.field.endswith("biom:TransactionContentSummary")
    wrong_count = minimal().replace(b"RecordQuantity>1<", b"RecordQuantity>2<")
    assert wrong_count != minimal()
    with pytest.raises(CodecError):
        decode(wrong_count)


@pytest.mark.parametrize("text", ["a\x01b", "\x00", "x\ufffey", "\udc80"])
def test_text_that_xml_cannot_carry_is_refused_naming_the_field(text: str) -> None:
    tx = decode(minimal())
    assert tx.type2 is not None
    bad = dataclasses.replace(tx.type2, errors=(ErrorMessage("999", text),))
    with pytest.raises(CodecError) as info:
        encode(dataclasses.replace(tx, type2=bad))
    assert info.value.field.endswith("ErrorMessageText")


@pytest.mark.parametrize(
    "record",
    [
        BiometricRecord(9, "1", positions=(256,), minutiae=(IncitsMinutia(1, 2, 3),)),
        BiometricRecord(9, "1", positions=(1,), minutiae=(IncitsMinutia(1, 2, 360),)),
        BiometricRecord(9, "1", positions=(1,), minutiae=(IncitsMinutia(-1, 2, 3),)),
        BiometricRecord(9, "1", positions=(1,), minutiae=(IncitsMinutia(1, 2, 3, 3),)),
        BiometricRecord(14, "1", positions=(99,), image=b"x"),
    ],
)
def test_records_built_outside_the_schema_ranges_are_refused(record: BiometricRecord) -> None:
    """`build_record` promises schema-valid XML: finger position codes, theta 0-359,
    coordinates and quality non-negative, category 0-2."""
    tx = decode(minimal())
    with pytest.raises(CodecError) as info:
        encode(dataclasses.replace(tx, records=(record,)))
    assert info.value.field.startswith(f"Type-{record.record_type}")


@pytest.mark.parametrize(
    "record",
    [
        BiometricRecord(14, "1", positions=(1,), image=b"x", ppi=-1),
        BiometricRecord(9, "1", width=-5, minutiae=(IncitsMinutia(1, 2, 3),)),
    ],
)
def test_records_built_with_negative_sizes_are_refused(record: BiometricRecord) -> None:
    tx = decode(minimal())
    with pytest.raises(CodecError) as info:
        encode(dataclasses.replace(tx, records=(record,)))
    assert info.value.field.startswith(f"Type-{record.record_type}[1].")


@needs_shared
@pytest.mark.parametrize(
    "container", ["MiscellaneousIdentification", "RecordMetadata", "PersonName"]
)
def test_an_empty_container_comes_back_where_it_was(container: str) -> None:
    """int-i.xsd allows empty containers; the encoder dropped them, which moved the kept
    elements after them (a round trip that differed)."""
    root = etree.fromstring(sample("SRE-HIT"))
    (element,) = [e for e in root.iter(etree.Element) if etree.QName(e).localname == container]
    for c in list(element):
        element.remove(c)
    data = etree.tostring(root)
    assert_valid(data)
    tx = decode(data)
    out = encode(tx)
    assert_valid(out)
    assert decode(out) == tx
