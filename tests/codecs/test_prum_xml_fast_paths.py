"""The codec's fast paths give what the slower ways they replaced gave.

`XmlParts.child`/`children`/`text_reader` walk children with `iterchildren`, `_dec_dna` and
`_dec_header` use them; the reference functions below are the decoders as they were
(`find`/`findall`), run on the same parsed trees over generated messages. The DNA batch is
spliced from text and held to `encode`'s bytes; `encoded_profile` checks in Python what
parsing and the XSD refused, held to the old way (`old_encoded_profile`) over hostile probes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from enum import StrEnum

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from lxml import etree

import schemas
from exchange.codecs import prum_dna_batch, prum_xml
from exchange.codecs.errors import CodecError, HostileInputError
from exchange.codecs.prum_xml import _X, NS
from exchange.codecs.xml_safety import parse_xml
from exchange.loci import KNOWN_LOCI
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
from tests.strategies import alleles as known_alleles
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
    profiles = [prum_dna_batch.encoded_profile(p) for p in probes]
    try:
        expected = prum_xml.encode(envelope)
    except CodecError:  # a zone the schema refuses (seconds, or beyond 14 h): so must the splice
        with pytest.raises(CodecError, match="zone"):
            prum_dna_batch.encode_dna_batch(header, profiles, k)
        return
    data = prum_dna_batch.encode_dna_batch(header, profiles, k)
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
    profile = prum_dna_batch.encoded_profile(probe)
    with pytest.raises(CodecError) as err:
        prum_dna_batch.encode_dna_batch(header, [profile] * count, k)
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
    elements = [prum_dna_batch.encoded_profile(p) for p in probes]
    data = prum_dna_batch.encode_dna_batch(header, elements, k)
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
            prum_dna_batch.encoded_profile(probe)
        return
    assert prum_dna_batch.encoded_profile(probe) == expected


# --- `encoded_profile` checks in Python what parsing and the schema refused ----------------

OLD_PROFILE_HEAD = prum_dna_batch._BATCH_HEAD.format(
    "profile", "profile", "2000-01-01T00:00:00Z", "GB", "GB", Purpose.INVESTIGATION.value, 1
).encode("ascii")


def old_xml_text(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def old_xml_attr(value: str) -> str:
    return old_xml_text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def old_encoded_profile(probe: DnaProbe) -> bytes:
    """`encoded_profile` as it was: written as text, then parsed and validated against the
    XSD inside a one-profile request. The oracle of the Python checks that replaced it."""
    p = probe.profile
    attrs = [("reference", probe.reference), ("type", p.sample_type.value)]
    if p.kit:
        attrs.append(("kit", p.kit))
    if probe.correlation_id is not None:
        attrs.append(("correlationId", probe.correlation_id))
    parts = ["<Profile", *[f' {k}="{old_xml_attr(v)}"' for k, v in attrs], ">"]
    for name, alleles in p.loci.items():
        parts.append(f'<Locus name="{old_xml_attr(name)}">')
        parts.extend([f"<Allele>{old_xml_text(a)}</Allele>" for a in alleles])
        parts.append("</Locus>")
    parts.append("</Profile>")
    profile = "".join(parts).encode("utf-8")
    try:
        root = parse_xml(b"".join((OLD_PROFILE_HEAD, profile, prum_dna_batch._BATCH_TAIL)))
    except CodecError as exc:
        raise CodecError("DnaSearchRequest/Profile", exc.reason) from exc
    _X.validate(root)
    return profile


def profile_outcome(fn: Callable[[DnaProbe], bytes], probe: DnaProbe) -> tuple[str, object]:
    """The bytes, or the field a refusal names. The old way let a lone surrogate out as
    UnicodeEncodeError from `str.encode`; it is now a CodecError naming the profile, as a
    character XML cannot carry was (the one change of verdict's form, not of verdict)."""
    try:
        return "accepted", fn(probe)
    except UnicodeEncodeError:
        assert fn is old_encoded_profile, "the Python checks let a surrogate reach encode"
        return "refused", "DnaSearchRequest/Profile"
    except CodecError as exc:
        assert exc.reason
        return "refused", exc.field


class OddType(StrEnum):
    """Sample types the model would carry (it checks nothing) and the schema may not take."""

    PADDED = " stain\t"
    UPPER = "STAIN"
    OTHER = "unknown"
    EMPTY = ""
    ILLEGAL = "stain\x0b"


# Characters at the edges: XML whitespace, what XML 1.0 cannot carry (C0 controls, U+FFFE/F,
# surrogates), and what it can but Python calls space or odd (NEL, NBSP, U+2028, nonchars).
EDGE_CHARS = (
    " \t\n\r\x00\x0b\x0c\x1c\ufffe\uffff\ud800\udfff\x85\xa0\u2028\u3000\ufdd0\U0010ffff\x7f"
)
# Digits of Unicode's Nd that libxml2's `\d` does (U+0661, U+1369, U+1D7CF) and does not
# (U+1E951 Adlam, U+19DA, U+0BE6 Tamil zero) take.
ODD_DIGITS = "\u0661\u0663\u1369\U0001d7cf\uff11\U0001e951\u19da\u0be6"
any_chars = st.characters(codec=None, exclude_categories=()) | st.sampled_from(EDGE_CHARS)
xml_space = st.text(alphabet=" \t\n\r", max_size=3)


def padded(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(xml_space, values, xml_space).map("".join)


# Whitespace to Python's `str.strip` but not to xs:token's collapsing (some of it not even XML).
PYTHON_ONLY_SPACE = "\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2000\u2028\u2029\u3000"


def edged(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A value with whitespace XML does not collapse first or last."""
    return st.builds(
        lambda v, c, last: v + c if last else c + v,
        values,
        st.sampled_from(PYTHON_ONLY_SPACE),
        st.booleans(),
    )


def sprinkled(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A value with an edge character or an odd digit put in: first, last, or anywhere."""
    return st.builds(
        lambda v, c, i: v[: min(i, len(v))] + c + v[min(i, len(v)) :],
        values,
        st.sampled_from(EDGE_CHARS + ODD_DIGITS),
        st.sampled_from([0, 999]) | st.integers(0, 40),
    )


# Some of libxml2's `\d` (Unicode 4.0's Nd), ASCII or not, drawn apart from the code's own.
LIBXML2_DIGITS = "0123456789\u0661\u06f5\u0966\u1369\u17e5\uff11\U000104a3\U0001d7cf"
valid_alleles = (
    known_alleles
    | st.sampled_from(["*", "o", "f", "r", "na", "nr", "un", "ol", "X", "Y"])
    | st.builds(
        lambda sign, repeat, variant: sign + repeat + variant,
        st.sampled_from(["", "", "<", ">"]),
        st.text(alphabet=LIBXML2_DIGITS, min_size=1, max_size=3),
        st.just("") | st.sampled_from(LIBXML2_DIGITS).map(lambda d: "." + d),
    )
)
near_alleles = st.sampled_from(
    ["<8", ">12.3", "1234", "12.34", " 12", "12 ", "", " ", "1 2", "1.", ".1", "<>1", "**",
     "x", "y", "NA", "OL", "\u0661\u0662\u0663", "\U0001d7cf\U0001d7d0", "\u1369\u1370",
     "\U0001e951", "\u0be6", "\u19da", "1\x00", "\ufffe", "\ud800", "\t9\n", "\r9"]
)  # fmt: skip
odd_alleles = (
    near_alleles
    | edged(valid_alleles)
    | sprinkled(valid_alleles)
    | st.text(alphabet="0123456789.<>*XYxyonafrul \t\n\r" + ODD_DIGITS, max_size=6)
    | st.text(alphabet=any_chars, max_size=4)
)
valid_names = st.sampled_from(KNOWN_LOCI)
odd_names = (
    valid_names.map(str.upper)
    | valid_names.map(str.lower)
    | valid_names.map(lambda n: n[:1] + " " + n[1:])
    | st.sampled_from(["", " ", "Amelogenin", "THO1", "D2S1338\x00", "vWA\u2028"])
    | edged(valid_names)
    | sprinkled(valid_names)
    | st.text(alphabet=any_chars, max_size=8)
)
valid_identifiers = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}\Z")
odd_ids = (
    st.sampled_from(["", " ", "a b", "a/b", "-a", "A" * 128, "A" * 129, "\ud800", "id\x00"])
    | st.just(" " + "A" * 128 + "\n")
    | edged(references)
    | sprinkled(references)
    | st.text(alphabet=any_chars, max_size=12)
)
kits = (
    st.none()
    | st.sampled_from(["  ", "\x85", "a\tb\r\n", 'A&B <"kit">'])
    | st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
        | st.sampled_from(" \t\n\r"),
        max_size=12,
    )
)
# 87 names, all valid once collapsed: enough for 34 loci (a dict's keys differ)
NAME_POOL = [*KNOWN_LOCI, *[f" {n}" for n in KNOWN_LOCI], *[f"{n}\t\n" for n in KNOWN_LOCI]]
PARTS = ("loci", "alleles", "name", "allele", "reference", "type", "kit", "correlationId")


@st.composite
def hostile_probes(draw: st.DrawFn) -> DnaProbe:
    """Probes the model lets through (it checks nothing): valid ones (whitespace-padded or
    not), ones with a single odd part (one count, name, allele, reference, type, kit or
    correlation id the schema refuses or XML cannot carry, or not), and ones with each part
    odd by a drawn chance, up to all of them."""
    mode = draw(st.sampled_from(["valid", "one", "one", "one", "some", "all"]))
    chance = {"some": draw(st.sampled_from([3, 10, 30])), "all": 100}.get(mode, 0)
    target = draw(st.sampled_from(PARTS)) if mode == "one" else ""
    spot: tuple[int, ...] = ()  # the locus (and allele) where the one odd part is

    def odd(part: str, at: tuple[int, ...] = ()) -> bool:
        if part == target:
            return at == spot[: len(at)]
        return chance > 0 and draw(st.integers(0, 99)) < chance

    def pick(good: st.SearchStrategy[str], bad: st.SearchStrategy[str], odd: bool) -> str:
        return draw(bad if odd else padded(good) if draw(st.booleans()) else good)

    n = draw(st.sampled_from([0, 32, 33, 34]) if odd("loci") else st.integers(1, 20))
    spot = (draw(st.integers(0, max(n - 1, 0))), draw(st.integers(0, 2)))
    loci: dict[str, tuple[str, ...]] = {}
    for i, name in enumerate(draw(st.permutations(NAME_POOL))[:n]):
        count = draw(st.sampled_from([0, 4, 5]) if odd("alleles", (i,)) else st.integers(1, 3))
        name = draw(odd_names) if odd("name", (i,)) else name  # (a repeat: a locus fewer)
        loci[name] = tuple(
            pick(valid_alleles, odd_alleles, odd("allele", (i, j))) for j in range(count)
        )
    kit = draw(st.text(alphabet=any_chars, max_size=12) if odd("kit") else kits)
    sample_type = draw(st.sampled_from(OddType) if odd("type") else st.sampled_from(SampleType))
    cid = draw(st.none() | (odd_ids if odd("correlationId") else padded(valid_identifiers)))
    reference = pick(references, odd_ids, odd("reference"))
    return DnaProbe(reference, DnaProfile(sample_type, loci, kit), cid)  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(probe=hostile_probes())
def test_a_profile_is_accepted_exactly_as_the_schema_accepted_it(probe: DnaProbe) -> None:
    """The Python checks against the old parse and validation: the same verdict, the same
    bytes when accepted, the same element path (or `DnaSearchRequest/Profile` for what the
    parser refused) when refused."""
    new = profile_outcome(prum_dna_batch.encoded_profile, probe)
    event(new[0])
    assert new == profile_outcome(old_encoded_profile, probe)


P = "/Message/Body/DnaSearchRequest/Profile"
GOOD_LOCI = {"vWA": ("14", "17"), "TH01": ("6", "9.3")}
# 29 names and 4 of them again with a space before: 33 loci, each named well after collapsing
LOCI_33 = {**{n: ("9",) for n in KNOWN_LOCI}, **{f" {n}": ("9",) for n in KNOWN_LOCI[:4]}}


def probe_with(
    reference: str = "S-1",
    loci: dict[str, tuple[str, ...]] = GOOD_LOCI,
    kit: str | None = None,
    cid: str | None = None,
    sample_type: StrEnum = SampleType.STAIN,
) -> DnaProbe:
    return DnaProbe(reference, DnaProfile(sample_type, loci, kit), cid)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"reference": "S 1"}, P, "reference 'S 1'"),  # whitespace inside survives collapsing
        ({"reference": "A" * 129}, P, "is not a Reference"),
        ({"reference": "\xa0S-1"}, P, "reference '\\xa0S-1'"),  # NBSP is no XML whitespace
        ({"sample_type": OddType.OTHER}, P, "type 'unknown'"),
        ({"cid": "c/1"}, P, "correlationId 'c/1'"),  # a Reference, not an Identifier
        ({"loci": {"VWA": ("14",)}}, f"{P}/Locus", "locus name 'VWA'"),
        ({"loci": {"vWA": ("14", "12.34")}}, f"{P}/Locus/Allele[2]", "allele '12.34'"),
        ({"loci": {"vWA": ("1234",)}}, f"{P}/Locus/Allele", "allele '1234'"),
        ({"loci": {"vWA": ("\U0001e951",)}}, f"{P}/Locus/Allele", "is not an Allele"),  # Adlam 1
        ({"loci": {"vWA": ("12\xa0", "9")}}, f"{P}/Locus/Allele[1]", "allele '12\\xa0'"),
        ({"loci": {"vWA": (), "TH01": ("6",)}}, f"{P}/Locus[1]", "no allele of 'vWA'"),
        ({"loci": {"vWA": ("1", "2", "3", "4")}}, f"{P}/Locus/Allele[4]", "4 alleles of 'vWA'"),
        ({"loci": {}}, P, "no Locus"),
        ({"loci": LOCI_33}, f"{P}/Locus[33]", "33 loci, at most 32"),
        ({"kit": "NGM\x0bSElect"}, "DnaSearchRequest/Profile", "kit holds U+000B"),
        ({"kit": "\ufffe"}, "DnaSearchRequest/Profile", "kit holds U+FFFE"),
        ({"kit": "\ud800"}, "DnaSearchRequest/Profile", "kit holds U+D800"),
        ({"loci": {"vWA": ("14", "1\x00")}}, "DnaSearchRequest/Profile", "Allele 2 of Locus 1"),
        # where the schema and the parser both refuse, the parser spoke first
        ({"reference": "S\x001", "cid": "c/1"}, "DnaSearchRequest/Profile", "reference holds"),
        # libxml2 validates on past a fault and the last one is named
        ({"reference": "S 1", "loci": {"vWA": ("x",)}}, f"{P}/Locus/Allele", "allele 'x'"),
    ],
)
def test_each_rule_refuses_as_the_schema_did(
    change: dict[str, object], field: str, says: str
) -> None:
    probe = probe_with(**change)  # type: ignore[arg-type]
    with pytest.raises(CodecError) as err:
        prum_dna_batch.encoded_profile(probe)
    assert (err.value.field, says in err.value.reason) == (field, True), err.value.reason
    assert profile_outcome(old_encoded_profile, probe) == ("refused", field)


@pytest.mark.parametrize(
    "change",
    [
        # xs:token collapses whitespace (space, tab, LF, CR) before the pattern or the
        # enumeration is checked: what it strips at the ends is accepted, and kept in the bytes
        {"reference": " S-1\t\n"},
        {"reference": "\rS-1\r"},
        {"reference": " " + "A" * 128 + "\n"},
        {"cid": " c-1 "},
        {"loci": {"\tvWA\n": ("\r14 ", "\n<8\t"), "TH01": (" 6",)}},
        {"loci": {" vWA": ("14",), "vWA": ("14",)}},  # the schema does not ask names to differ
        {"kit": "  "},
        {"kit": 'a\tb\r\nc <&">'},
        {"kit": "\x85\xa0\u2028\ufdd0\U0010ffff\x7f"},  # XML carries them; none is a space
        # libxml2's `\d` is Unicode 4.0's Nd: Arabic-Indic, Ethiopic (Nd then), math digits
        {"loci": {"vWA": ("\u0661\u0662", "\u1369"), "FGA": ("\U0001d7cf\U0001d7d0.\uff11",)}},
        {"loci": dict(list(LOCI_33.items())[:32])},
    ],
)
def test_what_the_schema_took_is_taken_with_the_same_bytes(change: dict[str, object]) -> None:
    probe = probe_with(**change)  # type: ignore[arg-type]
    assert prum_dna_batch.encoded_profile(probe) == old_encoded_profile(probe)


def test_the_usual_alleles_are_taken_and_written_as_the_schema_and_lxml_did() -> None:
    """`_USUAL_ALLELES` are checked by a set lookup and written without escaping: every one,
    in profiles of 32 loci of 3, gives the old way's bytes."""
    usual = sorted(prum_dna_batch._USUAL_ALLELES)
    names = NAME_POOL[:32]
    for start in range(0, len(usual), 96):
        chunk = usual[start : start + 96]
        loci = {name: tuple(chunk[3 * i : 3 * i + 3]) for i, name in enumerate(names)}
        probe = probe_with(loci={n: a for n, a in loci.items() if a})
        assert prum_dna_batch.encoded_profile(probe) == old_encoded_profile(probe)


def test_a_profile_too_big_for_a_message_is_refused_at_the_same_byte() -> None:
    """`parse_xml`'s bound on the one-profile request the profile was once checked in."""
    base = len(prum_dna_batch.encoded_profile(probe_with(kit="k"))) - 1
    at_limit = probe_with(kit="k" * (prum_dna_batch._MAX_PROFILE_BYTES - base))
    assert prum_dna_batch.encoded_profile(at_limit) == old_encoded_profile(at_limit)
    over = probe_with(kit="k" * (prum_dna_batch._MAX_PROFILE_BYTES - base + 1))
    refused = ("refused", "DnaSearchRequest/Profile")
    assert profile_outcome(prum_dna_batch.encoded_profile, over) == refused
    assert profile_outcome(old_encoded_profile, over) == refused


XS = {"xs": "http://www.w3.org/2001/XMLSchema"}


def test_the_profile_rules_are_the_schemas() -> None:
    """The constants `encoded_profile` checks against are the XSD's facets, and the XSD is
    shaped as they assume (token types, whose collapsing reduces to stripping the ends)."""
    dna = etree.parse(str(schemas.path("prum-dna-1.0.xsd")))
    common = etree.parse(str(schemas.path("prum-common-1.0.xsd")))

    def facets(doc: etree._ElementTree, simple_type: str, facet: str) -> list[str]:
        path = f"//xs:simpleType[@name='{simple_type}']/xs:restriction[@base='xs:token']"
        return [str(v) for v in doc.xpath(f"{path}/xs:{facet}/@value", namespaces=XS)]

    assert sorted(facets(dna, "LocusName", "enumeration")) == sorted(prum_dna_batch._LOCUS_NAMES)
    assert facets(dna, "Allele", "pattern") == [prum_dna_batch._ALLELE_XSD]
    assert facets(common, "Reference", "pattern") == [prum_dna_batch._REFERENCE.pattern]
    assert facets(common, "Identifier", "pattern") == [prum_dna_batch._IDENTIFIER.pattern]

    def one(path: str) -> etree._Element:
        (found,) = dna.xpath(path, namespaces=XS)
        return found  # type: ignore[no-any-return]

    profile = one("//xs:complexType[@name='DnaProfile']")
    attrs = {a.get("name"): a for a in profile.findall("xs:attribute", XS)}
    assert {n: a.get("type") for n, a in attrs.items()} == {
        "reference": "Reference",
        "type": None,
        "kit": "xs:token",
        "correlationId": "Identifier",
    }
    sample_types = attrs["type"].xpath(
        "xs:simpleType/xs:restriction[@base='xs:token']/*/@value", namespaces=XS
    )
    assert tuple(sample_types) == prum_dna_batch._SAMPLE_TYPES
    locus = one("//xs:complexType[@name='DnaProfile']/xs:sequence/xs:element")
    allele = one("//xs:complexType[@name='Locus']/xs:sequence/xs:element")
    name = one("//xs:complexType[@name='Locus']/xs:attribute")
    assert (locus.get("type"), locus.get("minOccurs"), locus.get("maxOccurs")) == (
        "Locus",
        "1",
        str(prum_dna_batch._MAX_LOCI),
    )
    assert (allele.get("type"), allele.get("minOccurs"), allele.get("maxOccurs")) == (
        "Allele",
        "1",
        str(prum_dna_batch._MAX_ALLELES),
    )
    assert (name.get("name"), name.get("type")) == ("name", "LocusName")
    # No value the enumerations or the patterns (their texts pinned above) admit holds a
    # space, so collapsing a value's whitespace comes down to stripping its ends.
    for value in [*prum_dna_batch._LOCUS_NAMES, *prum_dna_batch._SAMPLE_TYPES]:
        assert value == value.strip() and " " not in value


NOT_A_DIGIT = b"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="r">
<xs:complexType><xs:sequence><xs:element name="c" maxOccurs="unbounded"><xs:simpleType>
<xs:restriction base="xs:string"><xs:pattern value="\\D"/></xs:restriction>
</xs:simpleType></xs:element></xs:sequence></xs:complexType></xs:element></xs:schema>"""


def test_the_digit_class_is_libxml2s_d_over_every_code_point() -> None:
    """XSD's `\\d` is Unicode's Nd, but libxml2's table is Unicode 4.0's (268 digits; Python's
    `\\d` knows 660): `_XSD_DIGIT` spells out libxml2's. Each character XML can carry is
    validated as the whole of an element typed `\\D`; the ones refused are libxml2's digits."""
    schema = etree.XMLSchema(etree.fromstring(NOT_A_DIGIT))
    digit = re.compile(prum_dna_batch._XSD_DIGIT)
    carried = re.compile(r"[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    for plane in range(17):
        chars = [chr(c) for c in range(plane << 16, (plane + 1) << 16) if carried.match(chr(c))]
        root = etree.Element("r")
        for c in chars:
            etree.SubElement(root, "c").text = c
        schema.validate(root)
        refused = {chars[int(e.path.rsplit("[", 1)[1][:-1]) - 1] for e in schema.error_log}
        assert refused == {c for c in chars if digit.fullmatch(c)}, f"plane {plane}"
