"""Prüm-style XML messages <-> `exchange.model.Envelope`.

The format is our own (no public Prüm XSD exists, see shared/reference/prum-facts.md §7),
defined by `schemas/prum-envelope-1.0.xsd` and the body schemas it includes, in the versioned
namespace `urn:prum-exchange:prum:1.0`. It carries exactly what Council Decision
2008/616/JHA Art. 8 lets a step-1 request and reply carry (profiles, references, hit/no-hit,
match types) and, in step 2, the core data of a confirmed hit (Regulation (EU) 2024/982).

Sans-IO: `decode(bytes) -> Envelope` parses safely (`xml_safety`), validates against the XSD
with libxml2 before anything is read, and checks what XSD 1.0 cannot (header type matches
the body, template values finite, dates real). `encode(Envelope) -> bytes` builds the
document and validates it too, so a message we emit is always valid or never leaves.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable

from lxml import etree

import schemas
from exchange.codecs.errors import CodecError
from exchange.codecs.face_template import check_template
from exchange.codecs.xml_safety import parse_xml
from exchange.model import (
    BiometricImage,
    Body,
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
    SampleType,
    SearchReply,
    Sex,
)
from exchange.transliteration import transliterate

NS = schemas.PRUM_NAMESPACE
_Q = f"{{{NS}}}"
SCHEMA_VERSION = "1.0"

_BODY_TAG: dict[type, tuple[str, MessageType]] = {
    DnaSearchRequest: ("DnaSearchRequest", MessageType.DNA_SEARCH_REQUEST),
    DactySearchRequest: ("DactySearchRequest", MessageType.DACTY_SEARCH_REQUEST),
    FaceSearchRequest: ("FaceSearchRequest", MessageType.FACE_SEARCH_REQUEST),
    SearchReply: ("SearchReply", MessageType.SEARCH_REPLY),
    FollowUpRequest: ("FollowUpRequest", MessageType.FOLLOW_UP_REQUEST),
    FollowUpReply: ("FollowUpReply", MessageType.FOLLOW_UP_REPLY),
    ErrorBody: ("Error", MessageType.ERROR),
}


def message_type_of(body: Body) -> MessageType:
    return _BODY_TAG[type(body)][1]


# --- encoding -----------------------------------------------------------------------------


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    e = etree.SubElement(parent, _Q + tag, {k: v for k, v in attrs.items()})
    if text is not None:
        e.text = text
    return e


def _image(parent: etree._Element, img: BiometricImage) -> None:
    _el(
        parent,
        "Image",
        base64.b64encode(img.data).decode("ascii"),
        compression=img.compression,
        width=str(img.width),
        height=str(img.height),
        ppi=str(img.ppi),
    )


def _enc_dna(parent: etree._Element, body: DnaSearchRequest) -> None:
    parent.set("maxCandidates", str(body.max_candidates))
    for probe in body.probes:
        attrs = {"reference": probe.reference, "type": probe.profile.sample_type.value}
        if probe.profile.kit:
            attrs["kit"] = probe.profile.kit
        prof = _el(parent, "Profile", **attrs)
        for name, alleles in probe.profile.loci.items():
            locus = _el(prof, "Locus", name=name)
            for allele in alleles:
                _el(locus, "Allele", allele)


def _enc_fingerprints(parent: etree._Element, fps: FingerprintSet) -> None:
    node = _el(parent, "Fingerprints", impression=fps.impression.value, ppi=str(fps.ppi))
    for finger in fps.fingers:
        f = _el(node, "Finger", position=str(finger.position))
        for m in finger.minutiae:
            _el(
                f,
                "Minutia",
                x=str(m.x),
                y=str(m.y),
                angle=str(m.angle),
                type=m.kind.value,
                quality=str(m.quality),
            )
        if finger.image is not None:
            _image(f, finger.image)


def _enc_dacty(parent: etree._Element, body: DactySearchRequest) -> None:
    parent.set("reference", body.reference)
    parent.set("searchType", body.search_type)
    parent.set("maxCandidates", str(body.max_candidates))
    _enc_fingerprints(parent, body.fingerprints)


def _enc_face(parent: etree._Element, body: FaceSearchRequest) -> None:
    parent.set("reference", body.reference)
    parent.set("maxCandidates", str(body.max_candidates))
    t = body.template
    _el(
        parent,
        "Template",
        base64.b64encode(t.vector).decode("ascii"),
        featureModel=t.feature_model,
        dim=str(t.dim),
    )
    if t.image is not None:
        _image(parent, t.image)


def _enc_reply(parent: etree._Element, body: SearchReply) -> None:
    parent.set("requestMessageId", body.request_message_id)
    parent.set("modality", body.modality.value)
    for result in body.results:
        r = _el(
            parent,
            "Result",
            probeReference=result.probe_reference,
            outcome="hit" if result.hit else "no_hit",
        )
        for c in result.candidates:
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
            _el(r, "Candidate", **attrs)


def _enc_name(parent: etree._Element, tag: str, name: PersonName) -> None:
    n = _el(parent, tag)
    _el(n, "Family", name.family)
    for g in name.given:
        _el(n, "Given", g)
    latin = transliterate(" ".join((*name.given, name.family))).text
    if latin:
        _el(n, "Latin", latin)


def _enc_date(parent: etree._Element, d: PartialDate) -> None:
    attrs = {"year": str(d.year)}
    if d.month is not None:
        attrs["month"] = str(d.month)
        if d.day is not None:
            attrs["day"] = str(d.day)
    _el(parent, "DateOfBirth", **attrs)


def _enc_core(parent: etree._Element, core: CoreData) -> None:
    node = _el(parent, "CoreData")
    _enc_name(node, "Name", core.name)
    for alias in core.aliases:
        _enc_name(node, "Alias", alias)
    if core.date_of_birth is not None:
        _enc_date(node, core.date_of_birth)
    _el(node, "Sex", core.sex.value)
    for nat in core.nationalities:
        _el(node, "Nationality", nat)
    if core.place_of_birth is not None:
        _el(node, "PlaceOfBirth", core.place_of_birth)
    ids = core.identifiers
    if ids.pnc_id or ids.cro_number or ids.asn:
        i = _el(node, "Identifiers")
        if ids.pnc_id:
            _el(i, "PncId", ids.pnc_id)
        if ids.cro_number:
            _el(i, "CroNumber", ids.cro_number)
        if ids.asn:
            _el(i, "Asn", ids.asn)


def _enc_follow_up_request(parent: etree._Element, body: FollowUpRequest) -> None:
    parent.set("searchMessageId", body.search_message_id)
    parent.set("hitReference", body.hit_reference)


def _enc_follow_up_reply(parent: etree._Element, body: FollowUpReply) -> None:
    parent.set("searchMessageId", body.search_message_id)
    parent.set("hitReference", body.hit_reference)
    _enc_core(parent, body.core_data)


def _enc_error(parent: etree._Element, body: ErrorBody) -> None:
    parent.set("code", body.code.value)
    if body.field:
        parent.set("field", body.field[:512])
    if body.request_message_id:
        parent.set("requestMessageId", body.request_message_id)
    _el(parent, "Text", body.message[:512] or body.code.value)


_ENCODERS: dict[type, Callable[[etree._Element, object], None]] = {
    DnaSearchRequest: _enc_dna,  # type: ignore[dict-item]
    DactySearchRequest: _enc_dacty,  # type: ignore[dict-item]
    FaceSearchRequest: _enc_face,  # type: ignore[dict-item]
    SearchReply: _enc_reply,  # type: ignore[dict-item]
    FollowUpRequest: _enc_follow_up_request,  # type: ignore[dict-item]
    FollowUpReply: _enc_follow_up_reply,  # type: ignore[dict-item]
    ErrorBody: _enc_error,  # type: ignore[dict-item]
}


def format_timestamp(ts: dt.datetime) -> str:
    if ts.tzinfo is None:
        raise CodecError("Header.Timestamp", "must carry a time zone")
    return ts.isoformat().replace("+00:00", "Z")


def to_element(envelope: Envelope) -> etree._Element:
    """The envelope as an lxml element (not yet validated)."""
    h = envelope.header
    expected = message_type_of(envelope.body)
    if h.message_type != expected:
        raise CodecError("Header.MessageType", f"is {h.message_type}, but the body is {expected}")
    root = etree.Element(_Q + "Message", nsmap={None: NS})
    header = _el(root, "Header")
    _el(header, "MessageId", h.message_id)
    _el(header, "CorrelationId", h.correlation_id)
    _el(header, "Timestamp", format_timestamp(h.timestamp))
    _el(header, "Sender", h.sender)
    _el(header, "Receiver", h.receiver)
    _el(header, "MessageType", h.message_type.value)
    _el(header, "Purpose", h.purpose.value)
    _el(header, "SchemaVersion", h.schema_version)
    body = _el(root, "Body")
    tag = _BODY_TAG[type(envelope.body)][0]
    _ENCODERS[type(envelope.body)](_el(body, tag), envelope.body)
    return root


def encode(envelope: Envelope, *, validate: bool = True, pretty: bool = False) -> bytes:
    """Serialise an envelope; with `validate`, raise CodecError rather than emit invalid XML."""
    root = to_element(envelope)
    if validate:
        _validate(root)
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=pretty)
    return out


# --- validation ---------------------------------------------------------------------------


def _validate(root: etree._Element) -> None:
    schema = schemas.xsd(schemas.PRUM_ENVELOPE)
    if schema.validate(root):
        return
    err = schema.error_log.last_error
    path = element_path(root, err.path) if err is not None and err.path else "document"
    message = err.message if err is not None else "invalid"
    raise CodecError(path, message.replace(_Q, ""))


def element_path(root: etree._Element, xpath: str) -> str:
    """`/Message/Body/DnaSearchRequest/Profile[1]/Locus[2]` for libxml2's `/*/*[2]/*/*[1]/*[2]`."""
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
        siblings = parent.findall(_Q + name) if parent is not None else []
        if len(siblings) > 1:
            index = siblings.index(node) + 1
            name += f"[{index}]"
        steps.append(name)
        node = parent
    return "/" + "/".join(reversed(steps))


# --- decoding -----------------------------------------------------------------------------


def _local(e: etree._Element) -> str:
    return etree.QName(e).localname


def _attr(e: etree._Element, name: str) -> str:
    """A required attribute (the schema has checked it is there; this is a defence only)."""
    value = e.get(name)
    if value is None:
        raise CodecError(f"{_local(e)}/@{name}", "missing")
    return value


def _child(e: etree._Element, tag: str) -> etree._Element:
    found = e.find(_Q + tag)
    if found is None:  # the schema guarantees required children; this is a defence only
        raise CodecError(f"{_local(e)}/{tag}", "missing")
    return found


def _text(e: etree._Element, tag: str) -> str:
    return (_child(e, tag).text or "").strip()


def _children(e: etree._Element, tag: str) -> list[etree._Element]:
    return list(e.iterfind(_Q + tag))


def _b64(text: str | None, path: str) -> bytes:
    try:
        return base64.b64decode((text or "").strip(), validate=False)
    except ValueError as exc:
        raise CodecError(path, "is not valid base64") from exc


def _dec_image(e: etree._Element | None, path: str) -> BiometricImage | None:
    if e is None:
        return None
    return BiometricImage(
        data=_b64(e.text, path),
        compression=e.get("compression", "NONE"),
        width=int(e.get("width", "1")),
        height=int(e.get("height", "1")),
        ppi=int(e.get("ppi", "500")),
    )


def _dec_dna(e: etree._Element) -> DnaSearchRequest:
    probes = []
    for i, prof in enumerate(_children(e, "Profile")):
        loci: dict[str, tuple[str, ...]] = {}
        for locus in _children(prof, "Locus"):
            name = locus.get("name", "")
            if name in loci:
                raise CodecError(
                    f"/Message/Body/DnaSearchRequest/Profile[{i + 1}]", f"locus {name} twice"
                )
            alleles = tuple((a.text or "").strip() for a in _children(locus, "Allele"))
            loci[name] = alleles * 2 if len(alleles) == 1 else alleles
        profile = DnaProfile(
            sample_type=SampleType(_attr(prof, "type")), loci=loci, kit=prof.get("kit")
        )
        probes.append(DnaProbe(reference=prof.get("reference", ""), profile=profile))
    return DnaSearchRequest(probes=tuple(probes), max_candidates=int(e.get("maxCandidates", "10")))


def decode_fingerprints(node: etree._Element, path: str) -> FingerprintSet:
    fingers = []
    for i, f in enumerate(_children(node, "Finger")):
        minutiae = tuple(
            Minutia(
                x=int(m.get("x", "0")),
                y=int(m.get("y", "0")),
                angle=int(m.get("angle", "0")),
                kind=MinutiaKind(m.get("type", "A")),
                quality=int(m.get("quality", "100")),
            )
            for m in _children(f, "Minutia")
        )
        image = _dec_image(f.find(_Q + "Image"), f"{path}/Finger[{i + 1}]/Image")
        fingers.append(Finger(int(f.get("position", "0")), minutiae, image))
    positions = [f.position for f in fingers if f.position]
    if len(positions) != len(set(positions)):
        raise CodecError(path, "a finger position appears twice")
    return FingerprintSet(
        fingers=tuple(fingers),
        impression=Impression(node.get("impression", "rolled")),
        ppi=int(node.get("ppi", "500")),
    )


def _dec_dacty(e: etree._Element) -> DactySearchRequest:
    path = "/Message/Body/DactySearchRequest/Fingerprints"
    return DactySearchRequest(
        reference=e.get("reference", ""),
        search_type=e.get("searchType", ""),
        fingerprints=decode_fingerprints(_child(e, "Fingerprints"), path),
        max_candidates=int(e.get("maxCandidates", "1")),
    )


def _dec_face(e: etree._Element) -> FaceSearchRequest:
    t = _child(e, "Template")
    path = "/Message/Body/FaceSearchRequest/Template"
    vector = check_template(_b64(t.text, path), path)
    if len(vector) // 4 != int(t.get("dim", "0")):
        raise CodecError(
            f"{path}/@dim", f"says {t.get('dim')}, template has {len(vector) // 4} values"
        )
    image = _dec_image(e.find(_Q + "Image"), "/Message/Body/FaceSearchRequest/Image")
    template = FaceTemplate(feature_model=t.get("featureModel", ""), vector=vector, image=image)
    return FaceSearchRequest(
        reference=e.get("reference", ""),
        template=template,
        max_candidates=int(e.get("maxCandidates", "10")),
    )


def _opt_int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _dec_reply(e: etree._Element) -> SearchReply:
    results = []
    for i, r in enumerate(_children(e, "Result")):
        candidates = tuple(
            Candidate(
                reference=c.get("reference", ""),
                score=float(c.get("score", "0")),
                match_type=MatchType(_attr(c, "matchType")),
                wildcard=c.get("wildcard", "false") in {"true", "1"},
                compared_loci=_opt_int(c.get("comparedLoci")),
                mismatched_alleles=_opt_int(c.get("mismatchedAlleles")),
            )
            for c in _children(r, "Candidate")
        )
        outcome = r.get("outcome")
        if (outcome == "hit") != bool(candidates):
            path = f"/Message/Body/SearchReply/Result[{i + 1}]/@outcome"
            raise CodecError(path, f"is {outcome} with {len(candidates)} candidates")
        results.append(ProbeResult(r.get("probeReference", ""), candidates))
    return SearchReply(
        request_message_id=e.get("requestMessageId", ""),
        modality=Modality(_attr(e, "modality")),
        results=tuple(results),
    )


def _dec_name(e: etree._Element) -> PersonName:
    return PersonName(
        family=_text(e, "Family"),
        given=tuple((g.text or "").strip() for g in _children(e, "Given")),
    )


def _dec_date(e: etree._Element | None) -> PartialDate | None:
    if e is None:
        return None
    year, month, day = int(e.get("year", "0")), _opt_int(e.get("month")), _opt_int(e.get("day"))
    if day is not None and month is None:
        raise CodecError("/Message/Body/FollowUpReply/CoreData/DateOfBirth", "day without month")
    try:
        dt.date(year, 1 if month is None else month, 1 if day is None else day)
    except ValueError as exc:
        raise CodecError("/Message/Body/FollowUpReply/CoreData/DateOfBirth", str(exc)) from exc
    return PartialDate(year, month, day)


def _dec_core(e: etree._Element) -> CoreData:
    ids = e.find(_Q + "Identifiers")
    identifiers = Identifiers()
    if ids is not None:
        identifiers = Identifiers(
            pnc_id=ids.findtext(_Q + "PncId"),
            cro_number=ids.findtext(_Q + "CroNumber"),
            asn=ids.findtext(_Q + "Asn"),
        )
    return CoreData(
        name=_dec_name(_child(e, "Name")),
        aliases=tuple(_dec_name(a) for a in _children(e, "Alias")),
        date_of_birth=_dec_date(e.find(_Q + "DateOfBirth")),
        sex=Sex(_text(e, "Sex")),
        nationalities=tuple((n.text or "").strip() for n in _children(e, "Nationality")),
        place_of_birth=e.findtext(_Q + "PlaceOfBirth"),
        identifiers=identifiers,
    )


def _dec_follow_up_request(e: etree._Element) -> FollowUpRequest:
    return FollowUpRequest(e.get("searchMessageId", ""), e.get("hitReference", ""))


def _dec_follow_up_reply(e: etree._Element) -> FollowUpReply:
    return FollowUpReply(
        e.get("searchMessageId", ""), e.get("hitReference", ""), _dec_core(_child(e, "CoreData"))
    )


def _dec_error(e: etree._Element) -> ErrorBody:
    return ErrorBody(
        code=ErrorCode(_attr(e, "code")),
        message=_text(e, "Text"),
        field=e.get("field"),
        request_message_id=e.get("requestMessageId"),
    )


_DECODERS: dict[str, Callable[[etree._Element], Body]] = {
    "DnaSearchRequest": _dec_dna,
    "DactySearchRequest": _dec_dacty,
    "FaceSearchRequest": _dec_face,
    "SearchReply": _dec_reply,
    "FollowUpRequest": _dec_follow_up_request,
    "FollowUpReply": _dec_follow_up_reply,
    "Error": _dec_error,
}


def _dec_header(h: etree._Element) -> Header:
    ts_text = _text(h, "Timestamp")
    try:
        ts = dt.datetime.fromisoformat(ts_text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CodecError("/Message/Header/Timestamp", f"not a date-time: {ts_text}") from exc
    return Header(
        message_id=_text(h, "MessageId"),
        correlation_id=_text(h, "CorrelationId"),
        timestamp=ts,
        sender=_text(h, "Sender"),
        receiver=_text(h, "Receiver"),
        message_type=MessageType(_text(h, "MessageType")),
        purpose=Purpose(_text(h, "Purpose")),
        schema_version=_text(h, "SchemaVersion"),
    )


def from_element(root: etree._Element) -> Envelope:
    """An already parsed message: validate, then map to the model."""
    if root.tag != _Q + "Message":
        raise CodecError("/", f"root element is {_local(root)}, expected Message in {NS}")
    _validate(root)
    header = _dec_header(_child(root, "Header"))
    body_el = _child(root, "Body")[0]
    tag = _local(body_el)
    body = _DECODERS[tag](body_el)
    if message_type_of(body) != header.message_type:
        raise CodecError(
            "/Message/Header/MessageType", f"is {header.message_type}, but the body is {tag}"
        )
    return Envelope(header=header, body=body)


def decode(data: bytes) -> Envelope:
    """Parse, validate and decode one message from outside."""
    return from_element(parse_xml(data))
