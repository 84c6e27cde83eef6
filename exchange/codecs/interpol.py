"""The Interpol dialect: fingerprints as ANSI/NIST-ITL, DNA, face and nominal checks as XML.

- Fingerprint searches go to Interpol's AFIS as ANSI/NIST-ITL transactions in the INT-I
  profile (CPS out, SRE back; shared/reference/prum-facts.md §2 and §5): `encode` and
  `decode` hand them to `exchange.codecs.ansi_nist` unchanged.
- DNA (DNA Gateway) and face searches, their replies, nominal checks and errors travel as
  Interpol-style XML in `schemas/interpol-1.0.xsd` (namespace `urn:prum-exchange:interpol:1.0`;
  Interpol's own XML is not public, so the schema is ours, see its header comment).
- A nominal check carries a person's names (in their own script, with the ICAO 9303 Latin
  form from `exchange.transliteration`), date of birth, sex and nationalities; the reply lists
  matching notices (Red, Yellow, Blue, Black, Green, Orange, Purple, Silver and the
  INTERPOL-UN Security Council Special Notice, after Interpol's notice system) and stolen or
  lost travel documents (SLTD).

Sans-IO like every codec: XML from outside is parsed by `xml_safety.parse_xml` (no DTDs, no
entities, bounded size and depth) and validated with libxml2 before it is read; what we emit
is validated too. The nominal and notice types live here because `exchange.model` has no
nominal message yet (they belong there; see the branch report).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from lxml import etree

import schemas
from exchange.codecs import ansi_nist
from exchange.codecs.errors import CodecError
from exchange.codecs.face_template import check_template
from exchange.codecs.xml_safety import parse_xml
from exchange.model import (
    BiometricImage,
    Candidate,
    DnaProbe,
    DnaProfile,
    DnaSearchRequest,
    Envelope,
    ErrorBody,
    ErrorCode,
    FaceSearchRequest,
    FaceTemplate,
    MatchType,
    Modality,
    PartialDate,
    PersonName,
    ProbeResult,
    Purpose,
    SampleType,
    SearchReply,
    Sex,
)
from exchange.transliteration import transliterate

SCHEMA = "interpol-1.0.xsd"
NS = "urn:prum-exchange:interpol:1.0"
_Q = f"{{{NS}}}"
SCHEMA_VERSION = "1.0"


class NoticeColour(StrEnum):
    RED = "red"  # locate and provisionally arrest with a view to extradition
    YELLOW = "yellow"  # missing persons
    BLUE = "blue"  # information on identity, location or activities
    BLACK = "black"  # unidentified bodies
    GREEN = "green"  # warning about a likely repeat offender
    ORANGE = "orange"  # imminent threat
    PURPLE = "purple"  # modus operandi
    SILVER = "silver"  # assets
    UN_SPECIAL = "un_special"  # INTERPOL-UN Security Council Special Notice


class DocumentStatus(StrEnum):
    STOLEN = "stolen"
    LOST = "lost"
    REVOKED = "revoked"
    INVALID = "invalid"


class DocumentType(StrEnum):
    PASSPORT = "passport"
    IDENTITY_CARD = "identity_card"
    VISA = "visa"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class NominalPerson:
    """Who is checked, or who a notice is about: names, date of birth, sex, nationalities."""

    name: PersonName
    aliases: tuple[PersonName, ...] = ()
    date_of_birth: PartialDate | None = None
    sex: Sex = Sex.UNKNOWN
    nationalities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NominalCheck:
    reference: str
    person: NominalPerson


@dataclass(frozen=True, slots=True)
class Notice:
    notice_id: str
    colour: NoticeColour
    person: NominalPerson
    issued_by: str | None = None
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class TravelDocument:
    number: str
    document_type: DocumentType
    issuing_country: str
    status: DocumentStatus
    holder: PersonName | None = None


@dataclass(frozen=True, slots=True)
class NominalReply:
    query_reference: str
    notices: tuple[Notice, ...] = ()
    travel_documents: tuple[TravelDocument, ...] = ()

    @property
    def hit(self) -> bool:
        return bool(self.notices or self.travel_documents)


InterpolBody = (
    DnaSearchRequest | FaceSearchRequest | SearchReply | NominalCheck | NominalReply | ErrorBody
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
    _validate(root)
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out


def decode_xml(data: bytes) -> InterpolMessage:
    root = parse_xml(data)
    if root.tag != _Q + "Message":
        raise CodecError("/", f"root element is not Message in {NS}")
    _validate(root)
    header = root[0]
    body_el = root[1][0]
    tag = etree.QName(body_el).localname
    body = _DECODERS[tag](body_el)
    expected = _BODY_TAG[type(body)][1]
    if _text(header, "MessageType") != expected:
        raise CodecError("/Message/Header/MessageType", f"does not match the {tag} body")
    try:
        stamp = dt.datetime.fromisoformat(_text(header, "Timestamp").replace("Z", "+00:00"))
    except ValueError:
        raise CodecError("/Message/Header/Timestamp", "not a date-time Python can hold") from None
    return InterpolMessage(
        message_id=_text(header, "MessageId"),
        correlation_id=_text(header, "CorrelationId"),
        timestamp=stamp,
        sender=_text(header, "Sender"),
        receiver=_text(header, "Receiver"),
        purpose=Purpose(_text(header, "Purpose")),
        body=body,
    )


# --- encoding -----------------------------------------------------------------------------


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    e = etree.SubElement(parent, _Q + tag, {k: v for k, v in attrs.items()})
    if text is not None:
        e.text = text
    return e


def _to_element(m: InterpolMessage) -> etree._Element:
    if m.timestamp.tzinfo is None:
        raise CodecError("/Message/Header/Timestamp", "must carry a time zone")
    kind = _BODY_TAG.get(type(m.body))
    if kind is None:
        raise CodecError("/Message/Body", f"{type(m.body).__name__} is not an Interpol message")
    root = etree.Element(_Q + "Message", nsmap={None: NS})
    h = _el(root, "Header")
    _el(h, "MessageId", m.message_id)
    _el(h, "CorrelationId", m.correlation_id)
    _el(h, "Timestamp", m.timestamp.isoformat().replace("+00:00", "Z"))
    _el(h, "Sender", m.sender)
    _el(h, "Receiver", m.receiver)
    _el(h, "MessageType", kind[1])
    _el(h, "Purpose", m.purpose.value)
    _el(h, "SchemaVersion", SCHEMA_VERSION)
    body = _el(_el(root, "Body"), kind[0])
    b = m.body
    if isinstance(b, DnaSearchRequest):
        body.set("maxCandidates", str(b.max_candidates))
        for probe in b.probes:
            p = _el(
                body,
                "Profile",
                reference=probe.reference,
                sampleType=probe.profile.sample_type.value,
            )
            if probe.profile.kit is not None:
                p.set("kit", probe.profile.kit)
            for locus, alleles in probe.profile.loci.items():
                loc = _el(p, "Locus", name=locus)
                for allele in alleles:
                    _el(loc, "Allele", allele)
    elif isinstance(b, FaceSearchRequest):
        body.set("reference", b.reference)
        body.set("maxCandidates", str(b.max_candidates))
        _el(
            body,
            "Template",
            base64.b64encode(b.template.vector).decode(),
            featureModel=b.template.feature_model,
        )
        if b.template.image is not None:
            _image(body, b.template.image)
    elif isinstance(b, SearchReply):
        _reply(body, b)
    elif isinstance(b, NominalCheck):
        body.set("reference", b.reference)
        _person(body, b.person)
    elif isinstance(b, NominalReply):
        body.set("queryReference", b.query_reference)
        for n in b.notices:
            e = _el(body, "Notice", id=n.notice_id, colour=n.colour.value)
            if n.issued_by is not None:
                e.set("issuedBy", n.issued_by)
            _person(e, n.person)
            if n.summary is not None:
                _el(e, "Summary", n.summary)
        for d in b.travel_documents:
            e = _el(
                body,
                "TravelDocument",
                number=d.number,
                type=d.document_type.value,
                issuingCountry=d.issuing_country,
                status=d.status.value,
            )
            if d.holder is not None:
                _name(e, "Holder", d.holder)
    else:
        body.text = b.message
        body.set("code", b.code.value)
        if b.field is not None:
            body.set("field", b.field)
        if b.request_message_id is not None:
            body.set("requestMessageId", b.request_message_id)
    return root


def _reply(body: etree._Element, b: SearchReply) -> None:
    if b.modality not in (Modality.DNA, Modality.FACE):
        raise CodecError(
            "/Message/Body/SearchReply/@modality",
            "fingerprint replies to Interpol travel as ANSI/NIST SRE",
        )
    body.set("requestMessageId", b.request_message_id)
    body.set("modality", b.modality.value)
    for r in b.results:
        e = _el(body, "Result", probeReference=r.probe_reference)
        for c in r.candidates:
            attrs = {
                "reference": c.reference,
                "score": repr(float(c.score)),
                "matchType": c.match_type.value,
            }
            if c.wildcard:
                attrs["wildcard"] = "true"
            if c.compared_loci is not None:
                attrs["comparedLoci"] = str(c.compared_loci)
            if c.mismatched_alleles is not None:
                attrs["mismatchedAlleles"] = str(c.mismatched_alleles)
            _el(e, "Candidate", **attrs)


def _image(parent: etree._Element, img: BiometricImage) -> None:
    _el(
        parent,
        "Image",
        base64.b64encode(img.data).decode(),
        compression=img.compression,
        width=str(img.width),
        height=str(img.height),
        ppi=str(img.ppi),
    )


def _name(parent: etree._Element, tag: str, name: PersonName) -> None:
    n = _el(parent, tag)
    _el(n, "Family", name.family)
    for g in name.given:
        _el(n, "Given", g)
    latin = transliterate(" ".join((*name.given, name.family))).text
    if latin:
        _el(n, "Latin", latin)


def _person(parent: etree._Element, p: NominalPerson) -> None:
    e = _el(parent, "Person")
    _name(e, "Name", p.name)
    for alias in p.aliases:
        _name(e, "Alias", alias)
    if p.date_of_birth is not None:
        d = p.date_of_birth
        attrs = {"year": str(d.year)}
        if d.month is not None:
            attrs["month"] = str(d.month)
            if d.day is not None:
                attrs["day"] = str(d.day)
        _el(e, "DateOfBirth", **attrs)
    _el(e, "Sex", p.sex.value)
    for nationality in p.nationalities:
        _el(e, "Nationality", nationality)


def _validate(root: etree._Element) -> None:
    schema = schemas.xsd(SCHEMA)
    if schema.validate(root):
        return
    err = schema.error_log.last_error
    where = err.path if err is not None and err.path else "document"
    message = err.message if err is not None else "invalid"
    raise CodecError(_readable_path(root, where), message.replace(_Q, ""))


def _readable_path(root: etree._Element, xpath: str) -> str:
    """`/Message/Body/NominalCheck/Person/Nationality[2]` for libxml2's `/*/*[2]/*/*/*[5]`."""
    try:
        found = root.getroottree().xpath(xpath)
    except etree.XPathError:
        return xpath
    if not found or not isinstance(found[0], etree._Element):
        return xpath
    steps = []
    node: etree._Element | None = found[0]
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        same = [s for s in parent if s.tag == node.tag] if parent is not None else [node]
        steps.append(f"{name}[{same.index(node) + 1}]" if len(same) > 1 else name)
        node = parent
    return "/" + "/".join(reversed(steps))


# --- decoding (after validation, so shapes and enumerations are known good) ----------------


def _children(e: etree._Element, tag: str) -> list[etree._Element]:
    return e.findall(_Q + tag)


def _text(e: etree._Element, tag: str) -> str:
    child = e.find(_Q + tag)
    return (child.text or "").strip() if child is not None else ""


def _b64(text: str | None, path: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise CodecError(path, "not base64") from None


def _dec_dna(e: etree._Element) -> DnaSearchRequest:
    probes = []
    for i, prof in enumerate(_children(e, "Profile")):
        loci: dict[str, tuple[str, ...]] = {}
        for locus in _children(prof, "Locus"):
            name = locus.get("name", "")
            if name in loci:
                path = f"/Message/Body/DnaSearchRequest/Profile[{i + 1}]"
                raise CodecError(path, f"locus {name} appears twice")
            loci[name] = tuple((a.text or "").strip() for a in _children(locus, "Allele"))
        profile = DnaProfile(SampleType(prof.get("sampleType", "")), loci, prof.get("kit"))
        probes.append(DnaProbe(prof.get("reference", ""), profile))
    return DnaSearchRequest(tuple(probes), int(e.get("maxCandidates", "10")))


def _dec_face(e: etree._Element) -> FaceSearchRequest:
    path = "/Message/Body/FaceSearchRequest"
    t = e.find(_Q + "Template")
    assert t is not None
    vector = check_template(_b64(t.text, f"{path}/Template"), f"{path}/Template")
    image = None
    i = e.find(_Q + "Image")
    if i is not None:
        image = BiometricImage(
            _b64(i.text, f"{path}/Image"),
            i.get("compression", ""),
            int(i.get("width", "0")),
            int(i.get("height", "0")),
            int(i.get("ppi", "0")),
        )
    template = FaceTemplate(t.get("featureModel", ""), vector, image)
    return FaceSearchRequest(e.get("reference", ""), template, int(e.get("maxCandidates", "10")))


def _dec_reply(e: etree._Element) -> SearchReply:
    results = []
    for r in _children(e, "Result"):
        candidates = tuple(
            Candidate(
                c.get("reference", ""),
                float(c.get("score", "0")),
                MatchType(c.get("matchType", "")),
                wildcard=c.get("wildcard", "false") in ("true", "1"),
                compared_loci=_opt_int(c.get("comparedLoci")),
                mismatched_alleles=_opt_int(c.get("mismatchedAlleles")),
            )
            for c in _children(r, "Candidate")
        )
        results.append(ProbeResult(r.get("probeReference", ""), candidates))
    modality = Modality(e.get("modality", ""))
    return SearchReply(e.get("requestMessageId", ""), modality, tuple(results))


def _opt_int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _dec_name(e: etree._Element) -> PersonName:
    return PersonName(
        _text(e, "Family"), tuple((g.text or "").strip() for g in _children(e, "Given"))
    )


def _dec_person(e: etree._Element, path: str) -> NominalPerson:
    name = e.find(_Q + "Name")
    assert name is not None
    dob = None
    d = e.find(_Q + "DateOfBirth")
    if d is not None:
        year, month, day = int(d.get("year", "0")), _opt_int(d.get("month")), _opt_int(d.get("day"))
        if day is not None and month is None:
            raise CodecError(f"{path}/DateOfBirth/@day", "a day needs a month")
        try:
            dt.date(year, month or 1, day or 1)
        except ValueError:
            raise CodecError(f"{path}/DateOfBirth", "not a real date") from None
        dob = PartialDate(year, month, day)
    return NominalPerson(
        name=_dec_name(name),
        aliases=tuple(_dec_name(a) for a in _children(e, "Alias")),
        date_of_birth=dob,
        sex=Sex(_text(e, "Sex")),
        nationalities=tuple((n.text or "").strip() for n in _children(e, "Nationality")),
    )


def _dec_nominal_check(e: etree._Element) -> NominalCheck:
    person = e.find(_Q + "Person")
    assert person is not None
    return NominalCheck(
        e.get("reference", ""), _dec_person(person, "/Message/Body/NominalCheck/Person")
    )


def _dec_nominal_reply(e: etree._Element) -> NominalReply:
    notices = []
    for i, n in enumerate(_children(e, "Notice")):
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
    for d in _children(e, "TravelDocument"):
        holder = d.find(_Q + "Holder")
        documents.append(
            TravelDocument(
                d.get("number", ""),
                DocumentType(d.get("type", "")),
                d.get("issuingCountry", ""),
                DocumentStatus(d.get("status", "")),
                _dec_name(holder) if holder is not None else None,
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
    "NominalCheck": _dec_nominal_check,
    "NominalReply": _dec_nominal_reply,
    "Error": _dec_error,
}
