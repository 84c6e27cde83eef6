"""Prüm-style XML: every emitted message validates (by two validators), decoding gives back
what the XML carries, bad messages are refused naming the element, hostile XML is refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import schemas
from exchange.codecs import prum_xml
from exchange.codecs.errors import CodecError, HostileInputError
from exchange.model import (
    Candidate,
    CoreData,
    Envelope,
    ErrorBody,
    ErrorCode,
    FollowUpRequest,
    Header,
    MatchType,
    MessageType,
    Modality,
    PersonRecord,
    ProbeResult,
    Purpose,
    SearchReply,
)
from exchange.translate import (
    Outbound,
    TranslateError,
    envelope_to_records,
    record_to_envelope,
)
from tests.strategies import records, references

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def _header(kind: MessageType) -> Header:
    return Header("msg-1", "corr-1", T0, "GB", "DE", kind, Purpose.INVESTIGATION)


def _emit(env: Envelope) -> bytes:
    """Encode, and check the bytes with xmlschema too (an independent validator)."""
    data = prum_xml.encode(env)
    schemas.xsd_explainer(schemas.PRUM_ENVELOPE).validate(data.decode("utf-8"))
    return data


@pytest.mark.parametrize("message", ["dna-search", "dacty-search", "face-search", "core-data"])
@given(rec=records())
def test_record_messages_round_trip_every_field_they_carry(message: str, rec: PersonRecord) -> None:
    if (
        (message == "dna-search" and rec.dna is None)
        or (message == "dacty-search" and rec.fingerprints is None)
        or (message == "face-search" and rec.face is None)
        or (message == "core-data" and rec.name is None)
    ):
        return
    env = record_to_envelope(rec, Outbound(timestamp=T0, message=message))
    back = prum_xml.decode(_emit(env))
    assert back == env
    (got,) = envelope_to_records(back)
    if message == "dna-search":
        assert got.dna == rec.dna
    elif message == "dacty-search":
        assert got.fingerprints == rec.fingerprints
    elif message == "face-search":
        assert got.face == rec.face
    else:
        assert (got.name, got.aliases, got.date_of_birth, got.sex) == (
            rec.name,
            rec.aliases,
            rec.date_of_birth,
            rec.sex,
        )
        assert (got.nationalities, got.place_of_birth, got.identifiers) == (
            rec.nationalities,
            rec.place_of_birth,
            rec.identifiers,
        )


candidates = st.builds(
    Candidate,
    reference=references,
    score=st.floats(-1, 1000, allow_nan=False),
    match_type=st.sampled_from(MatchType),
    wildcard=st.booleans(),
    compared_loci=st.one_of(st.none(), st.integers(0, 24)),
    mismatched_alleles=st.one_of(st.none(), st.integers(0, 2)),
)
replies = st.builds(
    SearchReply,
    request_message_id=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:\-]{0,20}\Z"),
    modality=st.sampled_from(Modality),
    results=st.lists(
        st.builds(ProbeResult, references, st.lists(candidates, max_size=5).map(tuple)),
        min_size=1,
        max_size=3,
    ).map(tuple),
)


@given(replies)
def test_search_replies_round_trip(reply: SearchReply) -> None:
    env = Envelope(_header(MessageType.SEARCH_REPLY), reply)
    assert prum_xml.decode(_emit(env)) == env


@pytest.mark.parametrize(
    "body",
    [
        FollowUpRequest("msg-0", "DE-REF-77"),
        ErrorBody(ErrorCode.QUOTA_EXCEEDED, "daily capacity for TP/TP used", None, "msg-0"),
        ErrorBody(ErrorCode.SCHEMA_INVALID, "bad allele", "/Message/Body/X", None),
    ],
)
def test_follow_up_requests_and_errors_round_trip(body: FollowUpRequest | ErrorBody) -> None:
    env = Envelope(_header(prum_xml.message_type_of(body)), body)
    assert prum_xml.decode(_emit(env)) == env


def test_core_data_carries_an_icao_latin_name() -> None:
    from exchange.model import FollowUpReply, PersonName

    core = CoreData(PersonName("Müller", ("Jürgen",)))
    data = _emit(Envelope(_header(MessageType.FOLLOW_UP_REPLY), FollowUpReply("m", "r", core)))
    assert b"<Latin>JUERGEN MUELLER</Latin>" in data


def test_shipped_examples_decode() -> None:
    for path in sorted(EXAMPLES.glob("*.xml")):
        env = prum_xml.decode(path.read_bytes())
        assert env.header.sender == "GB", path


def test_header_type_must_match_the_body() -> None:
    env = Envelope(_header(MessageType.SEARCH_REPLY), FollowUpRequest("m", "r"))
    with pytest.raises(CodecError, match="MessageType"):
        prum_xml.encode(env)
    good = prum_xml.encode(
        Envelope(_header(MessageType.FOLLOW_UP_REQUEST), FollowUpRequest("m", "r"))
    )
    forged = good.replace(b">follow_up_request<", b">search_reply<")
    with pytest.raises(CodecError, match="MessageType"):
        prum_xml.decode(forged)


def test_model_values_the_schema_refuses_are_never_emitted() -> None:
    env = Envelope(_header(MessageType.FOLLOW_UP_REQUEST), FollowUpRequest("m", "bad reference"))
    with pytest.raises(CodecError) as info:
        prum_xml.encode(env)
    assert info.value.field == "/Message/Body/FollowUpRequest"


def _dna_example() -> bytes:
    return (EXAMPLES / "uk-record.dna-search.xml").read_bytes()


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (b"<Allele>17</Allele>", b"<Allele>seventeen</Allele>", "Allele"),
        (b'name="vWA"', b'name="VWA"', "Locus"),
        (b"<Sender>GB</Sender>", b"<Sender>Great Britain</Sender>", "/Message/Header/Sender"),
        (b'maxCandidates="10"', b'maxCandidates="0"', "/Message/Body/DnaSearchRequest"),
        (b"<Purpose>investigation</Purpose>", b"", "/Message/Header"),
    ],
)
def test_schema_invalid_messages_are_refused_naming_the_element(
    old: bytes, new: bytes, field: str
) -> None:
    data = _dna_example()
    assert old in data
    with pytest.raises(CodecError) as info:
        prum_xml.decode(data.replace(old, new, 1))
    assert field in info.value.field
    assert not isinstance(info.value, HostileInputError)


def test_wrong_namespace_or_root_is_refused() -> None:
    with pytest.raises(CodecError, match="root element"):
        prum_xml.decode(b"<Message xmlns='urn:other'/>")


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Message xmlns="urn:prum-exchange:prum:1.0">&xxe;</Message>"""
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Message xmlns="urn:prum-exchange:prum:1.0">&lol3;</Message>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Message SYSTEM "http://203.0.113.1/evil.dtd">
<Message xmlns="urn:prum-exchange:prum:1.0"/>"""
UTF16_DOCTYPE = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>'


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(XXE, id="xxe"),
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(EXTERNAL_DTD, id="external-dtd"),
        pytest.param(UTF16_DOCTYPE.encode("utf-16"), id="utf16-evasion"),
        pytest.param(b"<a>" * 10_000 + b"</a>" * 10_000, id="10000-deep"),
        pytest.param(b"<a>" * 40 + b"</a>" * 40, id="40-deep"),
        pytest.param(b"<a>" + b"x" * (100 * 1024 * 1024) + b"</a>", id="100MB"),
    ],
)
def test_hostile_xml_is_refused_with_a_typed_error(data: bytes) -> None:
    # How fast each is refused is measured by `prum-exchange bench codec`, not asserted here.
    with pytest.raises(HostileInputError):
        prum_xml.decode(data)


def test_malformed_xml_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="well-formed"):
        prum_xml.decode(b"<Message><Header></Message>")
    with pytest.raises(CodecError):
        prum_xml.decode(b"")


@pytest.mark.parametrize("message", ["dna-search", "dacty-search", "face-search"])
@given(rec=records())
def test_one_body_under_many_headers_is_byte_for_byte_what_encode_gives(
    message: str, rec: PersonRecord
) -> None:
    """The fan-out builds a search body once and sends it to each partner under its header."""
    try:
        env = record_to_envelope(rec, Outbound(timestamp=T0, message=message))
    except TranslateError:  # the record lacks this modality
        return
    headers = [
        Header(
            f"m-{p}",
            "corr-9",
            T0 + dt.timedelta(seconds=i),
            "GB",
            p,
            env.header.message_type,
            Purpose.INVESTIGATION if i % 2 else Purpose.PREVENTION,
        )
        for i, p in enumerate(("DE", "FR", "NL", "EUROPOL"))
    ]
    each = prum_xml.encode_each(env.body, headers)
    assert each == [prum_xml.encode(Envelope(h, env.body)) for h in headers]
    assert [prum_xml.decode(d).header for d in each] == headers


def test_one_body_under_many_headers_refuses_a_header_of_another_type() -> None:
    body = FollowUpRequest("msg-0", "DE-REF-77")
    ok = _header(MessageType.FOLLOW_UP_REQUEST)
    with pytest.raises(CodecError):
        prum_xml.encode_each(body, [ok, _header(MessageType.SEARCH_REPLY)])
    bad_receiver = Header("m", "c", T0, "GB", "not a country", ok.message_type, ok.purpose)
    with pytest.raises(CodecError):
        prum_xml.encode_each(body, [ok, bad_receiver])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (FollowUpRequest("m\x01", "r"), "FollowUpRequest/@searchMessageId"),
        (ErrorBody(ErrorCode.INTERNAL, "bad \x00 text"), "Error/Text"),
        (ErrorBody(ErrorCode.INTERNAL, "x", field="\udc80"), "Error/@field"),
    ],
)
def test_text_that_xml_cannot_carry_is_refused_naming_the_field(
    body: FollowUpRequest | ErrorBody, field: str
) -> None:
    """Found by bench.fuzz_ansi_nist (translate uk-json -> prum-xml): lxml's ValueError."""
    kind = MessageType.ERROR if isinstance(body, ErrorBody) else MessageType.FOLLOW_UP_REQUEST
    with pytest.raises(CodecError) as info:
        prum_xml.encode(Envelope(_header(kind), body))
    assert info.value.field == field


def test_a_header_text_that_xml_cannot_carry_is_refused() -> None:
    body = FollowUpRequest("m", "r")
    head = _header(MessageType.FOLLOW_UP_REQUEST)
    bad = Header("msg\x1f", "corr-1", T0, "GB", "DE", head.message_type, Purpose.INVESTIGATION)
    with pytest.raises(CodecError) as info:
        prum_xml.encode(Envelope(bad, body))
    assert info.value.field == "Header/MessageId"
    with pytest.raises(CodecError) as info:
        prum_xml.encode_each(body, [head, bad])
    assert info.value.field == "Header/MessageId"
