"""The decoder's fast element lookups give what the ElementPath lookups they replaced gave.

`XmlParts.child`/`children`/`text_reader` walk children with `iterchildren`, `_dec_dna` and
`_dec_header` use them; the reference functions below are the decoders as they were
(`find`/`findall`), run on the same parsed trees over generated messages.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from exchange.codecs import prum_xml
from exchange.codecs.errors import CodecError, HostileInputError
from exchange.codecs.prum_xml import _X, NS
from exchange.codecs.xml_safety import parse_xml
from exchange.model import (
    DnaProbe,
    DnaProfile,
    DnaSearchRequest,
    Envelope,
    Header,
    MessageType,
    Purpose,
    SampleType,
)
from mock_partners import population
from tests.strategies import dna_profiles, references

Q = f"{{{NS}}}"
T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def old_text(e: etree._Element, tag: str) -> str:
    found = e.find(Q + tag)
    if found is None:
        raise CodecError(f"{etree.QName(e).localname}/{tag}", "missing")
    return (found.text or "").strip()


def old_dec_header(h: etree._Element) -> Header:
    ts_text = old_text(h, "Timestamp")
    try:
        ts = dt.datetime.fromisoformat(ts_text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CodecError("/Message/Header/Timestamp", f"not a date-time: {ts_text}") from exc
    return Header(
        message_id=old_text(h, "MessageId"),
        correlation_id=old_text(h, "CorrelationId"),
        timestamp=ts,
        sender=old_text(h, "Sender"),
        receiver=old_text(h, "Receiver"),
        message_type=MessageType(old_text(h, "MessageType")),
        purpose=Purpose(old_text(h, "Purpose")),
        schema_version=old_text(h, "SchemaVersion"),
    )


def old_dec_dna(e: etree._Element) -> DnaSearchRequest:
    probes = []
    for i, prof in enumerate(e.findall(Q + "Profile")):
        loci: dict[str, tuple[str, ...]] = {}
        for locus in prof.findall(Q + "Locus"):
            name = locus.get("name", "")
            if name in loci:
                raise CodecError(
                    f"/Message/Body/DnaSearchRequest/Profile[{i + 1}]", f"locus {name} twice"
                )
            alleles = tuple((a.text or "").strip() for a in locus.findall(Q + "Allele"))
            loci[name] = alleles * 2 if len(alleles) == 1 else alleles
        profile = DnaProfile(
            sample_type=SampleType(prof.get("type", "")), loci=loci, kit=prof.get("kit")
        )
        probes.append(DnaProbe(reference=prof.get("reference", ""), profile=profile))
    return DnaSearchRequest(probes=tuple(probes), max_candidates=int(e.get("maxCandidates", "10")))


def outcome(fn: object, *args: object) -> object:
    """A decoder's result, or its error as (type, field, reason)."""
    try:
        return fn(*args)  # type: ignore[operator]
    except (CodecError, ValueError) as exc:
        if isinstance(exc, CodecError):
            return (type(exc), exc.field, exc.reason)
        return (type(exc), str(exc))


dna_requests = st.builds(
    DnaSearchRequest,
    probes=st.lists(
        st.builds(DnaProbe, reference=references, profile=dna_profiles()), min_size=1, max_size=3
    ).map(tuple),
    max_candidates=st.integers(1, 100),
)


@settings(max_examples=150, deadline=None)
@given(body=dna_requests, drop=st.integers(0, 40), texts=st.sampled_from(["", " 9 ", "\n"]))
def test_dna_and_header_decode_as_before(body: DnaSearchRequest, drop: int, texts: str) -> None:
    header = Header(
        "msg-1", "corr-1", T0, "GB", "DE", MessageType.DNA_SEARCH_REQUEST, Purpose.INVESTIGATION
    )
    root = parse_xml(prum_xml.encode(Envelope(header, body)))
    assert prum_xml.decode(etree.tostring(root)) == Envelope(header, body)
    # Bend the parsed tree past what the schema allows (the decoders' defences): drop an
    # allele (a single one is read as a homozygote), duplicate a locus, blank a header text.
    alleles = list(root.iter(Q + "Allele"))
    alleles[drop % len(alleles)].getparent().remove(alleles[drop % len(alleles)])
    loci = list(root.iter(Q + "Locus"))
    if drop % 3 == 0:
        loci[0].addnext(etree.fromstring(etree.tostring(loci[0])))
    h = root.find(Q + "Header")
    h[drop % len(h)].text = texts
    if drop % 5 == 0:
        h.remove(h[drop % len(h)])
    dna = root.find(Q + "Body")[0]
    assert outcome(prum_xml._dec_dna, dna) == outcome(old_dec_dna, dna)
    assert outcome(prum_xml._dec_header, h) == outcome(old_dec_header, h)


def tree_with_noise() -> etree._Element:
    """Children of our namespace, another one, no namespace, comments and PIs, repeated."""
    root = etree.Element(Q + "Header")
    for i, tag in enumerate(["Sender", "{urn:other}Sender", "Sender", "Receiver", "Purpose"]):
        root.append(etree.Comment(f"c{i}"))
        e = etree.SubElement(root, tag if tag.startswith("{") else Q + tag)
        e.text = f" {tag}-{i} "
        root.append(etree.ProcessingInstruction("pi", str(i)))
    etree.SubElement(root, "Receiver").text = "no namespace"
    etree.SubElement(root[1], Q + "Sender").text = "grandchild, not a child"
    return root


@pytest.mark.parametrize("tag", ["Sender", "Receiver", "Purpose", "Missing", "Header"])
def test_child_children_and_text_reader_match_find(tag: str) -> None:
    root = tree_with_noise()
    assert _X.children(root, tag) == root.findall(Q + tag)
    read = _X.text_reader(root)
    if root.find(Q + tag) is None:
        for lookup in (lambda: _X.child(root, tag), lambda: read(tag)):
            with pytest.raises(CodecError) as info:
                lookup()
            assert (info.value.field, info.value.reason) == (f"Header/{tag}", "missing")
    else:
        assert _X.child(root, tag) is root.find(Q + tag)
        assert read(tag) == _X.text(root, tag) == old_text(root, tag)


@pytest.mark.parametrize("depth", [1, 5, 32])
def test_depth_limit_is_exact(depth: int) -> None:
    """The compiled depth checks refuse one element deeper than the limit, not at it."""
    at_limit = b"<a>" * depth + b"</a>" * depth  # the root counts as one level
    parse_xml(at_limit, max_depth=depth)
    deeper = b"<a>" * (depth + 1) + b"</a>" * (depth + 1)
    with pytest.raises(HostileInputError, match=f"deeper than {depth}"):
        parse_xml(deeper, max_depth=depth)


def test_element_count_limit_is_exact() -> None:
    doc = b"<a>" + b"<b/>" * 9 + b"</a>"
    parse_xml(doc, max_elements=10)
    with pytest.raises(HostileInputError, match="more than 9 elements"):
        parse_xml(doc, max_elements=9)


correlation_ids = st.none() | st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:\-]{0,40}\Z")
batch_probes = st.lists(
    st.builds(
        DnaProbe, reference=references, profile=dna_profiles(), correlation_id=correlation_ids
    ),
    min_size=1,
    max_size=4,
)


def profiles_in(message: bytes) -> bytes:
    """The bytes of the `Profile` elements of a DNA search request `encode` made."""
    start = message.index(b">", message.index(b"<DnaSearchRequest ")) + 1
    return message[start : message.rindex(b"</DnaSearchRequest>")]


identifiers = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}\Z")
party_codes = st.from_regex(r"\A[A-Z]{2}\Z") | st.sampled_from(["EUROPOL", "INTERPOL"])
batch_headers = st.builds(
    Header,
    message_id=identifiers,
    correlation_id=identifiers,
    timestamp=st.datetimes(
        timezones=st.just(dt.UTC)
        | st.builds(dt.timezone, st.timedeltas(dt.timedelta(hours=-23), dt.timedelta(hours=23)))
    ),
    sender=party_codes,
    receiver=party_codes,
    message_type=st.just(MessageType.DNA_SEARCH_REQUEST),
    purpose=st.sampled_from(Purpose),
)


@settings(max_examples=200, deadline=None)
@given(header=batch_headers, probes=batch_probes, k=st.integers(1, 100))
def test_any_batch_header_spliced_is_the_validated_message(
    header: Header, probes: list[DnaProbe], k: int
) -> None:
    """The splice skips validating the whole batch: over any header the schema admits, its
    bytes must still be exactly those `encode` validates."""
    envelope = Envelope(header, DnaSearchRequest(tuple(probes), k))
    profiles = [prum_xml.encoded_profile(p) for p in probes]
    try:
        expected = prum_xml.encode(envelope)
    except CodecError:  # a zone the schema refuses (seconds, or beyond 14 h): so must the splice
        with pytest.raises(CodecError, match="zone"):
            prum_xml.encode_dna_batch(header, profiles, k)
        return
    data = prum_xml.encode_dna_batch(header, profiles, k)
    assert data == expected
    # a message sent alone lends its profiles' bytes to batches: the same bytes
    assert profiles_in(prum_xml.encode(envelope)) == b"".join(profiles)


@pytest.mark.parametrize(
    ("change", "count", "k", "field"),
    [
        ({}, 0, 5, "DnaSearchRequest/Profile"),
        ({}, 101, 5, "DnaSearchRequest/Profile"),
        ({}, 1, 0, "DnaSearchRequest/@maxCandidates"),
        ({}, 1, 101, "DnaSearchRequest/@maxCandidates"),
        ({"receiver": "Germany"}, 1, 5, "Header/Receiver"),
        ({"sender": "gb"}, 1, 5, "Header/Sender"),
        ({"message_id": "-1"}, 1, 5, "Header/MessageId"),
        ({"correlation_id": "a b"}, 1, 5, "Header/CorrelationId"),
        ({"schema_version": "0.9"}, 1, 5, "Header.SchemaVersion"),
        ({"message_type": MessageType.SEARCH_REPLY}, 1, 5, "Header.MessageType"),
    ],
)
def test_a_batch_the_schema_would_refuse_is_refused_by_name(
    change: dict[str, str], count: int, k: int, field: str
) -> None:
    header = Header(
        "b-1", "b-1", T0, "GB", "DE", MessageType.DNA_SEARCH_REQUEST, Purpose.INVESTIGATION
    )
    header = dataclasses.replace(header, **change)  # type: ignore[arg-type]
    dna = population.person(7, 1, "GB").record.dna
    assert dna is not None
    probe = DnaProbe("S-1", dna)
    profile = prum_xml.encoded_profile(probe)
    with pytest.raises(CodecError) as err:
        prum_xml.encode_dna_batch(header, [profile] * count, k)
    assert err.value.field == field
    if count in (1, 101) and 1 <= k <= 100:  # what `encode` says of the same message
        with pytest.raises(CodecError):
            prum_xml.encode(Envelope(header, DnaSearchRequest((probe,) * count, k)))


@settings(max_examples=100, deadline=None)
@given(probes=batch_probes, k=st.integers(1, 100))
def test_a_batch_from_prebuilt_profiles_is_the_same_message(probes: list[DnaProbe], k: int) -> None:
    """`encode_dna_batch` splices `encoded_profile`s instead of building and validating each
    profile again (the gateway's DNA batches): the bytes must be `encode`'s (which validates),
    and they must decode back."""
    header = Header(
        "b-1", "b-1", T0, "GB", "DE", MessageType.DNA_SEARCH_REQUEST, Purpose.INVESTIGATION
    )
    envelope = Envelope(header, DnaSearchRequest(tuple(probes), k))
    elements = [prum_xml.encoded_profile(p) for p in probes]
    data = prum_xml.encode_dna_batch(header, elements, k)
    assert data == prum_xml.encode(envelope)
    assert prum_xml.decode(data) == envelope


@settings(max_examples=300, deadline=None)
@given(
    reference=references,
    profile=dna_profiles(),
    kit=st.none() | st.text(max_size=12) | st.sampled_from(['A&B <"kit">', "x\ty", "x\r\ny"]),
)
def test_a_profile_written_as_text_has_lxmls_bytes(
    reference: str, profile: DnaProfile, kit: str | None
) -> None:
    """`encoded_profile` writes the element as text and escapes as lxml does: over any kit
    text (and alleles such as `<8`), the same bytes as `encode`'s, or refused as it is."""
    probe = DnaProbe(reference, dataclasses.replace(profile, kit=kit), "c-1")
    header = Header(
        "p-1", "p-1", T0, "GB", "DE", MessageType.DNA_SEARCH_REQUEST, Purpose.INVESTIGATION
    )
    try:
        expected = profiles_in(prum_xml.encode(Envelope(header, DnaSearchRequest((probe,), 1))))
    except ValueError:  # lxml's own refusal of a character XML cannot hold, or the schema's
        with pytest.raises(CodecError):
            prum_xml.encoded_profile(probe)
        return
    assert prum_xml.encoded_profile(probe) == expected
