"""The Interpol dialect: XML round trips for DNA, face, follow-ups and nominal checks; ANSI/NIST
for prints."""

from __future__ import annotations

import contextlib
import datetime as dt
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from exchange.codecs import ansi_nist, interpol
from exchange.codecs.errors import CodecError, HostileInputError
from exchange.codecs.interpol import (
    DocumentStatus,
    DocumentType,
    InterpolMessage,
    NominalCheck,
    NominalPerson,
    NominalReply,
    Notice,
    NoticeColour,
    TravelDocument,
)
from exchange.model import (
    BiometricImage,
    Candidate,
    CoreData,
    DactySearchRequest,
    DnaProbe,
    DnaProfile,
    DnaSearchRequest,
    Envelope,
    ErrorBody,
    ErrorCode,
    FaceSearchRequest,
    FaceTemplate,
    Finger,
    FingerprintSet,
    FollowUpReply,
    FollowUpRequest,
    Header,
    Identifiers,
    MatchType,
    MessageType,
    Minutia,
    Modality,
    PartialDate,
    PersonName,
    ProbeResult,
    Purpose,
    SampleType,
    SearchReply,
    Sex,
)
from tests.strategies import identifiers, partial_dates, references

STAMP = dt.datetime(2026, 11, 27, 18, 0, tzinfo=dt.UTC)
NS = "{urn:prum-exchange:interpol:1.0}"


def message(body: interpol.InterpolBody) -> InterpolMessage:
    return InterpolMessage("GB-100", "GB-100", STAMP, "GB", "INTERPOL", Purpose.DETECTION, body)


PERSON = NominalPerson(
    name=PersonName("Иванов", ("Пётр",)),
    aliases=(PersonName("Müller", ("Hans", "Jörg")),),
    date_of_birth=PartialDate(1980, 2),
    sex=Sex.MALE,
    nationalities=("RU", "DE"),
)

BODIES: list[interpol.InterpolBody] = [
    DnaSearchRequest(
        (
            DnaProbe(
                "GB-DNA-1",
                DnaProfile(SampleType.STAIN, {"D3S1358": ("15", "16"), "AMEL": ("X", "Y")}, "NGM"),
            ),
        ),
        max_candidates=5,
    ),
    FaceSearchRequest(
        "GB-FACE-1",
        FaceTemplate(
            "arcface-r100:1",
            struct.pack("<4f", 0.5, -1.0, 0.25, 2.0),
            BiometricImage(b"\xff\xd8jpeg", "JPEGB", 480, 600, 300),
        ),
    ),
    SearchReply(
        "GB-99",
        Modality.DNA,
        (
            ProbeResult("GB-DNA-1", (Candidate("IP-7", 1.0, MatchType.NEAR, True, 12, 1),)),
            ProbeResult("GB-DNA-2"),
        ),
    ),
    SearchReply(
        "GB-98",
        Modality.FACE,
        (ProbeResult("GB-FACE-1", (Candidate("IP-8", 0.8125, MatchType.CANDIDATE),)),),
    ),
    NominalCheck("GB-NOM-1", PERSON),
    NominalReply(
        "GB-NOM-1",
        tuple(
            Notice(
                f"2026-{i}", colour, PERSON, "FR" if i % 2 else None, "wanted" if i == 0 else None
            )
            for i, colour in enumerate(NoticeColour)
        ),
        (
            TravelDocument(
                "P1234567",
                DocumentType.PASSPORT,
                "RU",
                DocumentStatus.STOLEN,
                PersonName("Иванов", ("Пётр",)),
            ),
            TravelDocument("ID-99", DocumentType.IDENTITY_CARD, "DE", DocumentStatus.LOST),
        ),
    ),
    NominalReply("GB-NOM-2"),
    ErrorBody(ErrorCode.UNSUPPORTED_MODALITY, "no kinship search", "/Message/Body", "GB-1"),
]

# Follow-ups, appended so that the indexes above stay put; encoding verifies that the
# identifiers carry their check letters.
CORE = CoreData(
    name=PersonName("Παπαδόπουλος", ("Νίκος",)),
    aliases=(PersonName("Иванов", ("Пётр", "Ильич")), PersonName("عبد الله"), PersonName("王")),
    date_of_birth=PartialDate(1975, 6, 14),
    sex=Sex.MALE,
    nationalities=("GR", "RU"),
    place_of_birth="Θεσσαλονίκη",
    identifiers=Identifiers(pnc_id="99/0000001G", cro_number="12345/99N", asn=None),
)
FOLLOW_UPS: list[interpol.InterpolBody] = [
    FollowUpRequest("GB-DNA-MSG-1", "INTERPOL-0a1b2c"),
    FollowUpReply("GB-DNA-MSG-1", "INTERPOL-0a1b2c", CORE),
    # Absent optional parts: no aliases, date of birth, nationality, place or identifier.
    FollowUpReply("GB-FP-MSG-2", "IP/7", CoreData(PersonName("Doe"))),
    # Partial dates: a year alone, a year and a month.
    FollowUpReply("m", "r", CoreData(PersonName("Ng", ("Li",)), date_of_birth=PartialDate(1961))),
    FollowUpReply(
        "m",
        "r",
        CoreData(
            PersonName("Müller"),
            date_of_birth=PartialDate(1980, 2),
            identifiers=Identifiers(asn=None, cro_number="SF65/12345K"),
        ),
    ),
]
BODIES += FOLLOW_UPS


@pytest.mark.parametrize("body", BODIES, ids=lambda b: type(b).__name__)
def test_xml_round_trip(body: interpol.InterpolBody) -> None:
    data = interpol.encode(message(body))
    assert data.startswith(b"<?xml")
    assert interpol.decode(data) == message(body)


def test_names_carry_the_icao_latin_form() -> None:
    data = interpol.encode(message(NominalCheck("GB-NOM-1", PERSON)))
    root = etree.fromstring(data)
    latin = [e.text for e in root.iter("{urn:prum-exchange:interpol:1.0}Latin")]
    assert latin == ["PETR IVANOV", "HANS JOERG MUELLER"]


def test_nominal_reply_hit() -> None:
    assert NominalReply("x", travel_documents=(BODIES[5].travel_documents[0],)).hit  # type: ignore[union-attr]
    assert not NominalReply("x").hit


def test_fingerprints_travel_as_ansi_nist() -> None:
    header = Header(
        "GB-5",
        "GB-5",
        STAMP,
        "GB/UKFP",
        "INTERPOL",
        MessageType.DACTY_SEARCH_REQUEST,
        Purpose.INVESTIGATION,
    )
    prints = FingerprintSet((Finger(1, (Minutia(10, 20, 30),)),))
    envelope = Envelope(header, DactySearchRequest("GB-REF", "TP/TP", prints))
    data = interpol.encode(envelope)
    assert data.startswith(b"1.001:")
    assert data == ansi_nist.encode(envelope)
    assert interpol.decode(data) == envelope


def test_fingerprint_reply_refused_in_xml() -> None:
    reply = SearchReply("GB-1", Modality.FINGERPRINT, (ProbeResult("R"),))
    with pytest.raises(CodecError, match="ANSI/NIST SRE"):
        interpol.encode(message(reply))


def test_hostile_xml_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaa">]>'
        b'<Message xmlns="urn:prum-exchange:interpol:1.0">&a;</Message>'
    )
    with pytest.raises(HostileInputError):
        interpol.decode(bomb)


def _mutate(body: interpol.InterpolBody, old: bytes, new: bytes) -> bytes:
    data = interpol.encode(message(body))
    assert old in data
    return data.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        (b'colour="red"', b'colour="pink"', "/Message/Body/NominalReply/Notice[1]"),
        (
            b"<Nationality>DE</Nationality>",
            b"<Nationality>Germany</Nationality>",
            "/Message/Body/NominalReply/Notice[1]/Person/Nationality[2]",
        ),
        (
            b"<MessageType>nominal_reply</MessageType>",
            b"<MessageType>nominal_check</MessageType>",
            "/Message/Header/MessageType",
        ),
        (
            b'month="2"',
            b'month="2" day="30"',
            "/Message/Body/NominalReply/Notice[1]/Person/DateOfBirth",
        ),
    ],
)
def test_invalid_xml_named_by_path(old: bytes, new: bytes, path: str) -> None:
    with pytest.raises(CodecError) as info:
        interpol.decode(_mutate(BODIES[5], old, new))
    assert info.value.field == path


def test_bad_face_template_refused() -> None:
    body = BODIES[1]
    data = interpol.encode(message(body))
    root = etree.fromstring(data)
    template = root.find(".//{urn:prum-exchange:interpol:1.0}Template")
    assert template is not None
    template.text = "AAAA"  # 3 bytes: not whole float32 values
    with pytest.raises(CodecError, match="float32"):
        interpol.decode(etree.tostring(root))


def test_naive_timestamp_and_foreign_body_refused() -> None:
    naive = InterpolMessage(
        "a", "a", dt.datetime(2026, 1, 1), "GB", "INTERPOL", Purpose.DETECTION, NominalReply("x")
    )
    with pytest.raises(CodecError, match="time zone"):
        interpol.encode(naive)
    with pytest.raises(CodecError, match="not an Interpol message"):
        interpol.encode(message(object()))  # type: ignore[arg-type]


names = st.text(
    alphabet=st.characters(whitelist_categories=("Lu", "Ll"), max_codepoint=0x4FF),
    min_size=1,
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(
    names,
    st.lists(names, max_size=3),
    st.sampled_from(list(Sex)),
    st.lists(st.sampled_from(["GB", "FR", "PL", "UA"]), max_size=3, unique=True),
    st.none()
    | st.builds(PartialDate, st.integers(1900, 2026), st.integers(1, 12), st.integers(1, 28)),
)
def test_any_nominal_check_round_trips(
    family: str,
    given_names: list[str],
    sex: Sex,
    nationalities: list[str],
    dob: PartialDate | None,
) -> None:
    person = NominalPerson(
        PersonName(family, tuple(given_names)), (), dob, sex, tuple(nationalities)
    )
    msg = message(NominalCheck("REF-1", person))
    assert interpol.decode(interpol.encode(msg)) == msg


@pytest.mark.parametrize("stamp", ["2026-11-27T24:00:00Z", "12026-11-27T18:00:00Z"])
def test_odd_but_schema_valid_timestamps_are_codec_errors(stamp: str) -> None:
    data = _mutate(BODIES[6], b"2026-11-27T18:00:00Z", stamp.encode())
    with pytest.raises(CodecError):
        interpol.decode(data)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fuzz_xml_reader_only_raises_codec_errors(draw: st.DataObject) -> None:
    data = bytearray(interpol.encode(message(draw.draw(st.sampled_from(BODIES)))))
    for _ in range(draw.draw(st.integers(1, 3))):
        i = draw.draw(st.integers(0, len(data) - 1))
        data[i : i + draw.draw(st.integers(0, 4))] = draw.draw(st.binary(max_size=4))
    with contextlib.suppress(CodecError):
        interpol.decode(bytes(data))


# --- follow-ups (step 2) -----------------------------------------------------------------


def test_follow_up_header_names_its_type() -> None:
    for body, kind in zip(FOLLOW_UPS[:2], ["follow_up_request", "follow_up_reply"], strict=True):
        root = etree.fromstring(interpol.encode(message(body)))
        assert root.findtext(f"{NS}Header/{NS}MessageType") == kind


def test_core_data_names_carry_the_latin_form_where_there_is_one() -> None:
    root = etree.fromstring(interpol.encode(message(FOLLOW_UPS[1])))
    core = root.find(f".//{NS}CoreData")
    assert core is not None
    latin = [n.findtext(f"{NS}Latin") for n in core if n.tag in (f"{NS}Name", f"{NS}Alias")]
    # Arabic and Chinese have no ICAO table: the name travels in its own script only.
    assert latin == ["NIKOS PAPADOPOYLOS", "PETR ILICH IVANOV", None, None]
    assert core.findtext(f"{NS}Identifiers/{NS}PncId") == "99/0000001G"
    assert core.find(f"{NS}Identifiers/{NS}Asn") is None


def test_absent_optional_parts_leave_no_elements() -> None:
    root = etree.fromstring(interpol.encode(message(FOLLOW_UPS[2])))
    core = root.find(f".//{NS}CoreData")
    assert core is not None
    assert [etree.QName(c).localname for c in core] == ["Name", "Sex"]
    assert core.findtext(f"{NS}Sex") == "U"


def test_blank_padded_follow_up_attributes_are_read_as_tokens() -> None:
    data = _mutate(
        FOLLOW_UPS[0], b'hitReference="INTERPOL-0a1b2c"', b'hitReference=" INTERPOL-0a1b2c "'
    )
    body = interpol.decode(data)
    assert isinstance(body, InterpolMessage)
    assert body.body == FOLLOW_UPS[0]


_REPLY = "/Message/Body/FollowUpReply"


@pytest.mark.parametrize(
    ("body", "old", "new", "path"),
    [
        (FOLLOW_UPS[0], b' hitReference="INTERPOL-0a1b2c"', b"", "/Message/Body/FollowUpRequest"),
        (
            FOLLOW_UPS[0],
            b'hitReference="INTERPOL-0a1b2c"',
            b'hitReference="two words"',
            "/Message/Body/FollowUpRequest",
        ),
        (
            FOLLOW_UPS[0],
            b"<MessageType>follow_up_request</MessageType>",
            b"<MessageType>follow_up_reply</MessageType>",
            "/Message/Header/MessageType",
        ),
        (
            FOLLOW_UPS[1],
            b"<PncId>99/0000001G</PncId>",
            b"<PncId>99/0000001H</PncId>",
            f"{_REPLY}/CoreData/Identifiers/PncId",
        ),
        (
            FOLLOW_UPS[1],
            b"<CroNumber>12345/99N</CroNumber>",
            b"<CroNumber>012345/99N</CroNumber>",  # the right letter, but not canonical
            f"{_REPLY}/CoreData/Identifiers/CroNumber",
        ),
        (
            FOLLOW_UPS[1],
            b"<Identifiers><PncId>99/0000001G</PncId><CroNumber>12345/99N</CroNumber>"
            b"</Identifiers>",
            b"<Identifiers/>",  # at least one identifier, or no element
            f"{_REPLY}/CoreData/Identifiers",
        ),
        (
            FOLLOW_UPS[1],
            b'month="6" day="14"',
            b'month="2" day="30"',
            f"{_REPLY}/CoreData/DateOfBirth",
        ),
        (
            FOLLOW_UPS[1],
            b"<Nationality>RU</Nationality>",
            b"<Nationality>Russia</Nationality>",
            f"{_REPLY}/CoreData/Nationality[2]",
        ),
        (
            FOLLOW_UPS[2],
            b"<Sex>U</Sex>",
            b"<Sex>U</Sex><Fingerprint/>",  # core data never carry biometrics
            f"{_REPLY}/CoreData/Fingerprint",
        ),
    ],
)
def test_invalid_follow_up_named_by_path(
    body: interpol.InterpolBody, old: bytes, new: bytes, path: str
) -> None:
    with pytest.raises(CodecError) as info:
        interpol.decode(_mutate(body, old, new))
    assert info.value.field == path


def test_follow_up_reply_without_core_data_refused() -> None:
    data = interpol.encode(message(FOLLOW_UPS[2]))
    root = etree.fromstring(data)
    reply = root.find(f".//{NS}FollowUpReply")
    assert reply is not None
    reply.remove(reply[0])
    with pytest.raises(CodecError) as info:
        interpol.decode(etree.tostring(root))
    assert info.value.field == _REPLY


@pytest.mark.parametrize(
    ("core", "path", "reason"),
    [
        (
            CoreData(PersonName("Doe"), identifiers=Identifiers(pnc_id="99/0000001H")),
            f"{_REPLY}/CoreData/Identifiers/PncId",
            "check letter",
        ),
        (
            CoreData(PersonName("Doe"), identifiers=Identifiers(pnc_id="99/1G")),
            f"{_REPLY}/CoreData/Identifiers/PncId",
            "canonical",
        ),
        (
            CoreData(PersonName("Doe"), identifiers=Identifiers(asn="")),
            f"{_REPLY}/CoreData/Identifiers/Asn",
            "not of the form",
        ),
        (
            CoreData(PersonName("Doe"), date_of_birth=PartialDate(1990, None, 4)),
            f"{_REPLY}/CoreData/DateOfBirth/@day",
            "needs a month",
        ),
        (
            CoreData(PersonName("Doe"), date_of_birth=PartialDate(1990, 2, 30)),
            f"{_REPLY}/CoreData/DateOfBirth",
            "calendar",
        ),
        (
            CoreData(PersonName("Doe"), place_of_birth=""),
            f"{_REPLY}/CoreData/PlaceOfBirth",
            "length",
        ),
        (
            CoreData(PersonName("Doe"), nationalities=("GBR",)),
            f"{_REPLY}/CoreData/Nationality",
            "pattern",
        ),
    ],
)
def test_bad_core_data_refused_on_encoding(core: CoreData, path: str, reason: str) -> None:
    with pytest.raises(CodecError, match=reason) as info:
        interpol.encode(message(FollowUpReply("m", "r", core)))
    assert info.value.field == path


def test_bad_follow_up_request_refused_on_encoding() -> None:
    with pytest.raises(CodecError) as info:
        interpol.encode(message(FollowUpRequest("GB-1", "has blanks")))
    assert info.value.field == "/Message/Body/FollowUpRequest"


def test_nominal_person_day_without_month_refused_on_encoding() -> None:
    person = NominalPerson(PersonName("Doe"), date_of_birth=PartialDate(1990, None, 4))
    with pytest.raises(CodecError) as info:
        interpol.encode(message(NominalCheck("GB-NOM-1", person)))
    assert info.value.field == "/Message/Body/NominalCheck/Person/DateOfBirth/@day"


# Names in several scripts (Latin, Greek, Cyrillic, Arabic, CJK, ...), short enough that
# their Latin form (up to four letters for one, Щ -> SHCH) stays within the 128 of a NamePart.
_script_names = st.text(
    alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Lo"), max_codepoint=0x9FFF),
    min_size=1,
    max_size=6,
)
_person_names = st.builds(PersonName, _script_names, st.lists(_script_names, max_size=3).map(tuple))
core_data = st.builds(
    CoreData,
    name=_person_names,
    aliases=st.lists(_person_names, max_size=3).map(tuple),
    date_of_birth=st.none() | partial_dates(),
    sex=st.sampled_from(list(Sex)),
    nationalities=st.lists(st.from_regex(r"\A[A-Z]{2}\Z"), max_size=3, unique=True).map(tuple),
    place_of_birth=st.none() | _script_names,
    identifiers=identifiers,
)


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:\-]{0,40}\Z"), references, core_data)
def test_any_follow_up_round_trips(search_id: str, reference: str, core: CoreData) -> None:
    request = message(FollowUpRequest(search_id, reference))
    assert interpol.decode(interpol.encode(request)) == request
    reply = message(FollowUpReply(search_id, reference, core))
    assert interpol.decode(interpol.encode(reply)) == reply
