"""The Interpol dialect: fingerprints as ANSI/NIST-ITL, DNA, face and nominal checks as XML.

- Fingerprint searches go to Interpol's AFIS as ANSI/NIST-ITL transactions in the INT-I
  profile (CPS out, SRE back; shared/reference/prum-facts.md §2 and §5): `encode` and
  `decode` hand them to `exchange.codecs.ansi_nist` unchanged.
- DNA (DNA Gateway) and face searches, their replies, nominal checks and errors travel as
  Interpol-style XML in `schemas/interpol-1.0.xsd` (namespace `urn:prum-exchange:interpol:1.0`;
  Interpol's own XML is not public, so the schema is ours, see its header comment).
- Follow-ups (step 2, DESIGN.md §1: the core data behind a hit a person has confirmed) travel
  as this XML for every hit, fingerprint hits included: a `FollowUpRequest` names the search
  message and the hit reference, a `FollowUpReply` carries `CoreData` (names with their ICAO
  9303 Latin form, aliases, date of birth, sex, nationalities, place of birth, and UK
  identifiers whose check letters `exchange.identifiers` verifies both ways), the same
  content as the Prüm follow-up (`exchange.codecs.prum_xml`).
- A nominal check carries a person's names (in their own script, with the ICAO 9303 Latin
  form from `exchange.transliteration`), date of birth, sex and nationalities; the reply lists
  matching notices (Red, Yellow, Blue, Black, Green, Orange, Purple, Silver and the
  INTERPOL-UN Security Council Special Notice, after Interpol's notice system) and stolen or
  lost travel documents (SLTD).

Sans-IO like every codec: XML from outside is parsed by `xml_safety.parse_xml` (no DTDs, no
entities, bounded size and depth) and validated with libxml2 before it is read; what we emit
is validated too. The nominal and notice types are in `exchange.codecs.interpol_nominal`
(re-exported here), since `exchange.model` has no nominal message yet.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from exchange.codecs import ansi_nist
from exchange.codecs.errors import CodecError
from exchange.codecs.face_template import check_template
from exchange.codecs.interpol_nominal import (
    DocumentStatus,
    DocumentType,
    NominalCheck,
    NominalPerson,
    NominalReply,
    Notice,
    NoticeColour,
    TravelDocument,
)
from exchange.codecs.xml_parts import XmlParts, b64decode
from exchange.codecs.xml_safety import parse_xml
from exchange.identifiers import IdentifierError, parse_asn, parse_cro, parse_pnc
from exchange.model import (
    CoreData,
    DnaProbe,
    DnaProfile,
    DnaSearchRequest,
    Envelope,
    ErrorBody,
    ErrorCode,
    FaceSearchRequest,
    FaceTemplate,
    FollowUpReply,
    FollowUpRequest,
    Identifiers,
    Modality,
    PartialDate,
    ProbeResult,
    Purpose,
    SampleType,
    SearchReply,
)

__all__ = [
    "DocumentStatus",
    "DocumentType",
    "InterpolMessage",
    "NominalCheck",
    "NominalPerson",
    "NominalReply",
    "Notice",
    "NoticeColour",
    "TravelDocument",
    "decode",
    "decode_xml",
    "encode",
    "encode_xml",
]

SCHEMA = "interpol-1.0.xsd"
NS = "urn:prum-exchange:interpol:1.0"
_Q = f"{{{NS}}}"
SCHEMA_VERSION = "1.0"
_X = XmlParts(NS, SCHEMA)


InterpolBody = (
    DnaSearchRequest
    | FaceSearchRequest
    | SearchReply
    | FollowUpRequest
    | FollowUpReply
    | NominalCheck
    | NominalReply
    | ErrorBody
)


@dataclass(frozen=True, slots=True)
class InterpolMessage:
    """One XML message; its type is the body's (no separate field to disagree with it)."""

    message_id: str
    correlation_id: str
    timestamp: dt.datetime
    sender: str
    receiver: str
    purpose: Purpose
    body: InterpolBody


_BODY_TAG: dict[type, tuple[str, str]] = {
    DnaSearchRequest: ("DnaSearchRequest", "dna_search_request"),
    FaceSearchRequest: ("FaceSearchRequest", "face_search_request"),
    SearchReply: ("SearchReply", "search_reply"),
    FollowUpRequest: ("FollowUpRequest", "follow_up_request"),
    FollowUpReply: ("FollowUpReply", "follow_up_reply"),
    NominalCheck: ("NominalCheck", "nominal_check"),
    NominalReply: ("NominalReply", "nominal_reply"),
    ErrorBody: ("Error", "error"),
}


# --- entry points --------------------------------------------------------------------------


def decode(data: bytes) -> InterpolMessage | Envelope:
    """XML (starts with `<`) is the Interpol dialect; a `1.001:` start is ANSI/NIST-ITL."""
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return decode_xml(data)
    return ansi_nist.decode(data)


def encode(message: InterpolMessage | Envelope) -> bytes:
    """An Envelope (fingerprint search, SRE, ERR) as ANSI/NIST-ITL; the rest as XML."""
    if isinstance(message, Envelope):
        return ansi_nist.encode(message)
    return encode_xml(message)


def encode_xml(message: InterpolMessage) -> bytes:
    root = _to_element(message)
    _X.validate(root)
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out


def decode_xml(data: bytes) -> InterpolMessage:
    root = parse_xml(data)
    if root.tag != _Q + "Message":
        raise CodecError("/", f"root element is not Message in {NS}")
    _X.validate(root)
    header = root[0]
    body_el = root[1][0]
    tag = etree.QName(body_el).localname
    body = _DECODERS[tag](body_el)
    expected = _BODY_TAG[type(body)][1]
    if _X.text(header, "MessageType") != expected:
        raise CodecError("/Message/Header/MessageType", f"does not match the {tag} body")
    try:
        stamp = dt.datetime.fromisoformat(_X.text(header, "Timestamp").replace("Z", "+00:00"))
    except ValueError:
        raise CodecError("/Message/Header/Timestamp", "not a date-time Python can hold") from None
    return InterpolMessage(
        message_id=_X.text(header, "MessageId"),
        correlation_id=_X.text(header, "CorrelationId"),
        timestamp=stamp,
        sender=_X.text(header, "Sender"),
        receiver=_X.text(header, "Receiver"),
        purpose=Purpose(_X.text(header, "Purpose")),
        body=body,
    )


# --- encoding -----------------------------------------------------------------------------


def _to_element(m: InterpolMessage) -> etree._Element:
    if m.timestamp.tzinfo is None:
        raise CodecError("/Message/Header/Timestamp", "must carry a time zone")
    kind = _BODY_TAG.get(type(m.body))
    if kind is None:
        raise CodecError("/Message/Body", f"{type(m.body).__name__} is not an Interpol message")
    root = etree.Element(_Q + "Message", nsmap={None: NS})
    h = _X.el(root, "Header")
    _X.el(h, "MessageId", m.message_id)
    _X.el(h, "CorrelationId", m.correlation_id)
    _X.el(h, "Timestamp", m.timestamp.isoformat().replace("+00:00", "Z"))
    _X.el(h, "Sender", m.sender)
    _X.el(h, "Receiver", m.receiver)
    _X.el(h, "MessageType", kind[1])
    _X.el(h, "Purpose", m.purpose.value)
    _X.el(h, "SchemaVersion", SCHEMA_VERSION)
    body = _X.el(_X.el(root, "Body"), kind[0])
    b = m.body
    if isinstance(b, DnaSearchRequest):
        _dna(body, b)
    elif isinstance(b, FaceSearchRequest):
        body.set("reference", b.reference)
        body.set("maxCandidates", str(b.max_candidates))
        _X.el(
            body,
            "Template",
            base64.b64encode(b.template.vector).decode(),
            featureModel=b.template.feature_model,
        )
        if b.template.image is not None:
            _X.image(body, b.template.image)
    elif isinstance(b, SearchReply):
        _reply(body, b)
    elif isinstance(b, FollowUpRequest):
        body.set("searchMessageId", b.search_message_id)
        body.set("hitReference", b.hit_reference)
    elif isinstance(b, FollowUpReply):
        body.set("searchMessageId", b.search_message_id)
        body.set("hitReference", b.hit_reference)
        _core(body, b.core_data)
    elif isinstance(b, NominalCheck):
        body.set("reference", b.reference)
        _person(body, b.person, "/Message/Body/NominalCheck/Person")
    elif isinstance(b, NominalReply):
        _nominal_reply(body, b)
    else:
        body.text = b.message
        body.set("code", b.code.value)
        if b.field is not None:
            body.set("field", b.field)
        if b.request_message_id is not None:
            body.set("requestMessageId", b.request_message_id)
    return root


def _dna(body: etree._Element, b: DnaSearchRequest) -> None:
    body.set("maxCandidates", str(b.max_candidates))
    for probe in b.probes:
        p = _X.el(
            body,
            "Profile",
            reference=probe.reference,
            sampleType=probe.profile.sample_type.value,
        )
        if probe.profile.kit is not None:
            p.set("kit", probe.profile.kit)
        for locus, alleles in probe.profile.loci.items():
            loc = _X.el(p, "Locus", name=locus)
            for allele in alleles:
                _X.el(loc, "Allele", allele)


def _nominal_reply(body: etree._Element, b: NominalReply) -> None:
    body.set("queryReference", b.query_reference)
    for i, n in enumerate(b.notices):
        e = _X.el(body, "Notice", id=n.notice_id, colour=n.colour.value)
        if n.issued_by is not None:
            e.set("issuedBy", n.issued_by)
        _person(e, n.person, f"/Message/Body/NominalReply/Notice[{i + 1}]/Person")
        if n.summary is not None:
            _X.el(e, "Summary", n.summary)
    for d in b.travel_documents:
        e = _X.el(
            body,
            "TravelDocument",
            number=d.number,
            type=d.document_type.value,
            issuingCountry=d.issuing_country,
            status=d.status.value,
        )
        if d.holder is not None:
            _X.name(e, "Holder", d.holder)


def _reply(body: etree._Element, b: SearchReply) -> None:
    if b.modality not in (Modality.DNA, Modality.FACE):
        raise CodecError(
            "/Message/Body/SearchReply/@modality",
            "fingerprint replies to Interpol travel as ANSI/NIST SRE",
        )
    body.set("requestMessageId", b.request_message_id)
    body.set("modality", b.modality.value)
    for r in b.results:
        e = _X.el(body, "Result", probeReference=r.probe_reference)
        _X.candidates(e, r.candidates)


def _person(parent: etree._Element, p: NominalPerson, path: str) -> None:
    _check_date(p.date_of_birth, f"{path}/DateOfBirth")
    e = _X.el(parent, "Person")
    _X.identity(e, p.name, p.aliases, p.date_of_birth, p.sex, p.nationalities)


def _check_date(d: PartialDate | None, path: str) -> None:
    """What `read_date` refuses is refused on the way out too (the schema checks ranges only;
    a day without a month would otherwise be dropped without a word)."""
    if d is None:
        return
    if d.day is not None and d.month is None:
        raise CodecError(f"{path}/@day", "a day needs a month")
    try:
        dt.date(d.year, 1 if d.month is None else d.month, 1 if d.day is None else d.day)
    except ValueError as exc:
        raise CodecError(path, f"not a calendar date: {exc}") from exc


_CORE = "/Message/Body/FollowUpReply/CoreData"

# Element, `Identifiers` field, and the check that gives the canonical form or raises.
_IDENTIFIERS: tuple[tuple[str, str, Callable[[str], str]], ...] = (
    ("PncId", "pnc_id", parse_pnc),
    ("CroNumber", "cro_number", parse_cro),
    ("Asn", "asn", parse_asn),
)


def _canonical_identifier(tag: str, value: str, check: Callable[[str], str]) -> str:
    """`value` if it is a verified identifier in canonical form; a CodecError otherwise."""
    path = f"{_CORE}/Identifiers/{tag}"
    try:
        canonical = check(value)
    except IdentifierError as exc:
        raise CodecError(path, str(exc)) from None
    if canonical != value:
        raise CodecError(path, f"{value!r} is not in canonical form ({canonical!r})")
    return value


def _core(parent: etree._Element, core: CoreData) -> None:
    _check_date(core.date_of_birth, f"{_CORE}/DateOfBirth")
    e = _X.el(parent, "CoreData")
    _X.identity(e, core.name, core.aliases, core.date_of_birth, core.sex, core.nationalities)
    if core.place_of_birth is not None:
        _X.el(e, "PlaceOfBirth", core.place_of_birth)
    present = [
        (tag, _canonical_identifier(tag, value, check))
        for tag, attr, check in _IDENTIFIERS
        if (value := getattr(core.identifiers, attr)) is not None
    ]
    if present:
        ids = _X.el(e, "Identifiers")
        for tag, value in present:
            _X.el(ids, tag, value)


# --- decoding (after validation, so shapes and enumerations are known good) ----------------


def _dec_dna(e: etree._Element) -> DnaSearchRequest:
    probes = []
    for i, prof in enumerate(_X.children(e, "Profile")):
        loci: dict[str, tuple[str, ...]] = {}
        for locus in _X.children(prof, "Locus"):
            name = locus.get("name", "")
            if name in loci:
                path = f"/Message/Body/DnaSearchRequest/Profile[{i + 1}]"
                raise CodecError(path, f"locus {name} appears twice")
            loci[name] = tuple((a.text or "").strip() for a in _X.children(locus, "Allele"))
        profile = DnaProfile(SampleType(prof.get("sampleType", "")), loci, prof.get("kit"))
        probes.append(DnaProbe(prof.get("reference", ""), profile))
    return DnaSearchRequest(tuple(probes), int(e.get("maxCandidates", "10")))


def _dec_face(e: etree._Element) -> FaceSearchRequest:
    path = "/Message/Body/FaceSearchRequest"
    t = e.find(_Q + "Template")
    assert t is not None
    vector = check_template(b64decode(t.text, f"{path}/Template"), f"{path}/Template")
    image = _X.read_image(e.find(_Q + "Image"), f"{path}/Image")
    template = FaceTemplate(t.get("featureModel", ""), vector, image)
    return FaceSearchRequest(e.get("reference", ""), template, int(e.get("maxCandidates", "10")))


def _dec_reply(e: etree._Element) -> SearchReply:
    results = []
    for r in _X.children(e, "Result"):
        candidates = _X.read_candidates(r)
        results.append(ProbeResult(r.get("probeReference", ""), candidates))
    modality = Modality(e.get("modality", ""))
    return SearchReply(e.get("requestMessageId", ""), modality, tuple(results))


def _dec_follow_up_request(e: etree._Element) -> FollowUpRequest:
    # Both attributes are xs:token: the schema has checked them with blanks collapsed.
    return FollowUpRequest(e.get("searchMessageId", "").strip(), e.get("hitReference", "").strip())


def _dec_follow_up_reply(e: etree._Element) -> FollowUpReply:
    return FollowUpReply(
        e.get("searchMessageId", "").strip(),
        e.get("hitReference", "").strip(),
        _dec_core(_X.child(e, "CoreData")),
    )


def _dec_core(e: etree._Element) -> CoreData:
    who = _X.read_identity(e, _CORE)
    place = e.find(_Q + "PlaceOfBirth")
    found: dict[str, str] = {}
    ids = e.find(_Q + "Identifiers")
    if ids is not None:
        for tag, attr, check in _IDENTIFIERS:
            node = ids.find(_Q + tag)
            if node is not None:
                found[attr] = _canonical_identifier(tag, (node.text or "").strip(), check)
    return CoreData(
        name=who.name,
        aliases=who.aliases,
        date_of_birth=who.date_of_birth,
        sex=who.sex,
        nationalities=who.nationalities,
        place_of_birth=None if place is None else place.text or "",
        identifiers=Identifiers(**found),
    )


def _dec_person(e: etree._Element, path: str) -> NominalPerson:
    return NominalPerson(*_X.read_identity(e, path))


def _dec_nominal_check(e: etree._Element) -> NominalCheck:
    person = e.find(_Q + "Person")
    assert person is not None
    return NominalCheck(
        e.get("reference", ""), _dec_person(person, "/Message/Body/NominalCheck/Person")
    )


def _dec_nominal_reply(e: etree._Element) -> NominalReply:
    notices = []
    for i, n in enumerate(_X.children(e, "Notice")):
        person = n.find(_Q + "Person")
        assert person is not None
        summary = n.find(_Q + "Summary")
        notices.append(
            Notice(
                n.get("id", ""),
                NoticeColour(n.get("colour", "")),
                _dec_person(person, f"/Message/Body/NominalReply/Notice[{i + 1}]/Person"),
                n.get("issuedBy"),
                summary.text if summary is not None else None,
            )
        )
    documents = []
    for d in _X.children(e, "TravelDocument"):
        holder = d.find(_Q + "Holder")
        documents.append(
            TravelDocument(
                d.get("number", ""),
                DocumentType(d.get("type", "")),
                d.get("issuingCountry", ""),
                DocumentStatus(d.get("status", "")),
                _X.read_name(holder) if holder is not None else None,
            )
        )
    return NominalReply(e.get("queryReference", ""), tuple(notices), tuple(documents))


def _dec_error(e: etree._Element) -> ErrorBody:
    return ErrorBody(
        ErrorCode(e.get("code", "")), e.text or "", e.get("field"), e.get("requestMessageId")
    )


_DECODERS: dict[str, Callable[[etree._Element], InterpolBody]] = {
    "DnaSearchRequest": _dec_dna,
    "FaceSearchRequest": _dec_face,
    "SearchReply": _dec_reply,
    "FollowUpRequest": _dec_follow_up_request,
    "FollowUpReply": _dec_follow_up_reply,
    "NominalCheck": _dec_nominal_check,
    "NominalReply": _dec_nominal_reply,
    "Error": _dec_error,
}
