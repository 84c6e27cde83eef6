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
from collections.abc import Callable, Sequence

from lxml import etree

import schemas
from exchange.codecs.errors import CodecError
from exchange.codecs.face_template import check_template
from exchange.codecs.uk_json import FACE_COMPRESSIONS
from exchange.codecs.xml_parts import XmlParts, b64decode
from exchange.codecs.xml_safety import parse_xml
from exchange.model import (
    BiometricImage,
    Body,
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
    MessageType,
    Minutia,
    MinutiaKind,
    Modality,
    ProbeResult,
    Purpose,
    SampleType,
    SearchReply,
)
from matchers import face_image

NS = schemas.PRUM_NAMESPACE
_Q = f"{{{NS}}}"
SCHEMA_VERSION = "1.0"
_X = XmlParts(NS, schemas.PRUM_ENVELOPE)

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


def _enc_dna(parent: etree._Element, body: DnaSearchRequest) -> None:
    _X.set(parent, "maxCandidates", str(body.max_candidates))
    for probe in body.probes:
        _enc_profile(parent, probe)


def _enc_profile(parent: etree._Element, probe: DnaProbe) -> None:
    attrs = {"reference": probe.reference, "type": probe.profile.sample_type.value}
    if probe.profile.kit:
        attrs["kit"] = probe.profile.kit
    if probe.correlation_id is not None:
        attrs["correlationId"] = probe.correlation_id
    prof = _X.el(parent, "Profile", **attrs)
    for name, alleles in probe.profile.loci.items():
        locus = _X.el(prof, "Locus", name=name)
        for allele in alleles:
            _X.el(locus, "Allele", allele)


def _enc_fingerprints(parent: etree._Element, fps: FingerprintSet) -> None:
    node = _X.el(parent, "Fingerprints", impression=fps.impression.value, ppi=str(fps.ppi))
    for finger in fps.fingers:
        f = _X.el(node, "Finger", position=str(finger.position))
        for m in finger.minutiae:
            _X.el(
                f,
                "Minutia",
                x=str(m.x),
                y=str(m.y),
                angle=str(m.angle),
                type=m.kind.value,
                quality=str(m.quality),
            )
        if finger.image is not None:
            _X.image(f, finger.image)


def _enc_dacty(parent: etree._Element, body: DactySearchRequest) -> None:
    _X.set(parent, "reference", body.reference)
    _X.set(parent, "searchType", body.search_type)
    _X.set(parent, "maxCandidates", str(body.max_candidates))
    _enc_fingerprints(parent, body.fingerprints)


def _enc_face(parent: etree._Element, body: FaceSearchRequest) -> None:
    _X.set(parent, "reference", body.reference)
    _X.set(parent, "maxCandidates", str(body.max_candidates))
    t = body.template
    if t.vector:  # optional: a node extracts its own template from the image
        _X.el(
            parent,
            "Template",
            base64.b64encode(t.vector).decode("ascii"),
            featureModel=t.feature_model,
            dim=str(t.dim),
        )
    if t.image is not None:
        _X.image(parent, t.image)


def _enc_reply(parent: etree._Element, body: SearchReply) -> None:
    _X.set(parent, "requestMessageId", body.request_message_id)
    _X.set(parent, "modality", body.modality.value)
    for result in body.results:
        r = _X.el(
            parent,
            "Result",
            probeReference=result.probe_reference,
            outcome="hit" if result.hit else "no_hit",
        )
        _X.candidates(r, result.candidates)


def _enc_core(parent: etree._Element, core: CoreData) -> None:
    node = _X.el(parent, "CoreData")
    _X.identity(node, core.name, core.aliases, core.date_of_birth, core.sex, core.nationalities)
    if core.place_of_birth is not None:
        _X.el(node, "PlaceOfBirth", core.place_of_birth)
    ids = core.identifiers
    if ids.pnc_id or ids.cro_number or ids.asn:
        i = _X.el(node, "Identifiers")
        if ids.pnc_id:
            _X.el(i, "PncId", ids.pnc_id)
        if ids.cro_number:
            _X.el(i, "CroNumber", ids.cro_number)
        if ids.asn:
            _X.el(i, "Asn", ids.asn)


def _enc_follow_up_request(parent: etree._Element, body: FollowUpRequest) -> None:
    _X.set(parent, "searchMessageId", body.search_message_id)
    _X.set(parent, "hitReference", body.hit_reference)


def _enc_follow_up_reply(parent: etree._Element, body: FollowUpReply) -> None:
    _X.set(parent, "searchMessageId", body.search_message_id)
    _X.set(parent, "hitReference", body.hit_reference)
    _enc_core(parent, body.core_data)


def _enc_error(parent: etree._Element, body: ErrorBody) -> None:
    _X.set(parent, "code", body.code.value)
    if body.field:
        _X.set(parent, "field", body.field[:512])
    if body.request_message_id:
        _X.set(parent, "requestMessageId", body.request_message_id)
    _X.el(parent, "Text", body.message[:512] or body.code.value)


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
    header = _X.el(root, "Header")
    _X.el(header, "MessageId", h.message_id)
    _X.el(header, "CorrelationId", h.correlation_id)
    _X.el(header, "Timestamp", format_timestamp(h.timestamp))
    _X.el(header, "Sender", h.sender)
    _X.el(header, "Receiver", h.receiver)
    _X.el(header, "MessageType", h.message_type.value)
    _X.el(header, "Purpose", h.purpose.value)
    _X.el(header, "SchemaVersion", h.schema_version)
    body = _X.el(root, "Body")
    tag = _BODY_TAG[type(envelope.body)][0]
    _ENCODERS[type(envelope.body)](_X.el(body, tag), envelope.body)
    return root


def encode(envelope: Envelope, *, validate: bool = True, pretty: bool = False) -> bytes:
    """Serialise an envelope; with `validate`, raise CodecError rather than emit invalid XML."""
    root = to_element(envelope)
    if validate:
        _X.validate(root)
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=pretty)
    return out


# The header fields a batch's header takes from outside the type system, and the patterns the
# envelope schema gives them (prum-common-1.0.xsd: PartyCode, Identifier).


_PER_PARTNER_HEADER = ("MessageId", "CorrelationId", "Timestamp", "Sender", "Receiver", "Purpose")


def encode_each(body: Body, headers: Sequence[Header]) -> list[bytes]:
    """One body under several headers (a search fanned out to several partners).

    The body's elements are built once; for each header only the header's texts are set,
    then the whole document is validated and serialised, so every message is checked as
    `encode` checks it. Every header must name the body's message type. Building the body
    is most of the cost of `encode` (hundreds of elements for ten prints), validating and
    serialising the finished tree is cheap.
    """
    if not headers:
        return []
    root = to_element(Envelope(headers[0], body))
    header_el = _X.child(root, "Header")
    fields = {tag: _X.child(header_el, tag) for tag in _PER_PARTNER_HEADER}
    out: list[bytes] = []
    for h in headers:
        if h.message_type != headers[0].message_type or h.schema_version != SCHEMA_VERSION:
            raise CodecError("Header.MessageType", "every header must match the body's type")
        _X.set_text(fields["MessageId"], h.message_id)
        _X.set_text(fields["CorrelationId"], h.correlation_id)
        _X.set_text(fields["Timestamp"], format_timestamp(h.timestamp))
        _X.set_text(fields["Sender"], h.sender)
        _X.set_text(fields["Receiver"], h.receiver)
        _X.set_text(fields["Purpose"], h.purpose.value)
        _X.validate(root)
        out.append(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return out


# --- decoding -----------------------------------------------------------------------------


def _local(e: etree._Element) -> str:
    return etree.QName(e).localname


def _attr(e: etree._Element, name: str) -> str:
    """A required attribute (the schema has checked it is there; this is a defence only)."""
    value = e.get(name)
    if value is None:
        raise CodecError(f"{_local(e)}/@{name}", "missing")
    return value


_PROFILE, _LOCUS, _ALLELE = _Q + "Profile", _Q + "Locus", _Q + "Allele"


def _dec_dna(e: etree._Element) -> DnaSearchRequest:
    # The hot path of a partner node: direct `iterchildren` walks and list comprehensions
    # (a generator per locus cost ~40 generator calls a message).
    probes = []
    for i, prof in enumerate(e.iterchildren(_PROFILE)):
        loci: dict[str, tuple[str, ...]] = {}
        for locus in prof.iterchildren(_LOCUS):
            name = locus.get("name", "")
            if name in loci:
                raise CodecError(
                    f"/Message/Body/DnaSearchRequest/Profile[{i + 1}]", f"locus {name} twice"
                )
            alleles = tuple([(a.text or "").strip() for a in locus.iterchildren(_ALLELE)])
            loci[name] = alleles * 2 if len(alleles) == 1 else alleles
        profile = DnaProfile(
            sample_type=SampleType(_attr(prof, "type")), loci=loci, kit=prof.get("kit")
        )
        probes.append(DnaProbe(prof.get("reference", ""), profile, prof.get("correlationId")))
    return DnaSearchRequest(probes=tuple(probes), max_candidates=int(e.get("maxCandidates", "10")))


def decode_fingerprints(node: etree._Element, path: str) -> FingerprintSet:
    fingers = []
    for i, f in enumerate(_X.children(node, "Finger")):
        minutiae = tuple(
            Minutia(
                x=int(m.get("x", "0")),
                y=int(m.get("y", "0")),
                angle=int(m.get("angle", "0")),
                kind=MinutiaKind(m.get("type", "A")),
                quality=int(m.get("quality", "100")),
            )
            for m in _X.children(f, "Minutia")
        )
        image = _X.read_image(f.find(_Q + "Image"), f"{path}/Finger[{i + 1}]/Image")
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
        fingerprints=decode_fingerprints(_X.child(e, "Fingerprints"), path),
        max_candidates=int(e.get("maxCandidates", "1")),
    )


def _dec_face(e: etree._Element) -> FaceSearchRequest:
    t = e.find(_Q + "Template")
    path = "/Message/Body/FaceSearchRequest/Template"
    image_path = "/Message/Body/FaceSearchRequest/Image"
    image = _X.read_image(e.find(_Q + "Image"), image_path)
    if image is not None:
        _check_face_image(image, image_path)
    if t is None:
        if image is None:
            raise CodecError(path, "a face search carries a template, an image or both")
        vector, model = b"", ""
    else:
        vector = check_template(b64decode(t.text, path), path)
        if len(vector) // 4 != int(t.get("dim", "0")):
            raise CodecError(
                f"{path}/@dim", f"says {t.get('dim')}, template has {len(vector) // 4} values"
            )
        model = t.get("featureModel", "")
    template = FaceTemplate(feature_model=model, vector=vector, image=image)
    return FaceSearchRequest(
        reference=e.get("reference", ""),
        template=template,
        max_candidates=int(e.get("maxCandidates", "10")),
    )


def _check_face_image(image: BiometricImage, path: str) -> None:
    """A face picture is JPEG, JPEG 2000 or PNG within the pixel cap, by its own header."""
    if image.compression not in FACE_COMPRESSIONS:
        raise CodecError(f"{path}/@compression", f"{image.compression}: JPEGB, JP2 or PNG")
    try:
        header = face_image.read_header(image.data)
    except face_image.FaceImageError as exc:
        raise CodecError(path, exc.reason) from exc
    if FACE_COMPRESSIONS[image.compression] != header.format:
        raise CodecError(f"{path}/@compression", f"says {image.compression}, is {header.format}")


def _dec_reply(e: etree._Element) -> SearchReply:
    results = []
    for i, r in enumerate(_X.children(e, "Result")):
        candidates = _X.read_candidates(r)
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


_CORE = "/Message/Body/FollowUpReply/CoreData"


def _dec_core(e: etree._Element) -> CoreData:
    ids = e.find(_Q + "Identifiers")
    identifiers = Identifiers()
    if ids is not None:
        identifiers = Identifiers(
            pnc_id=ids.findtext(_Q + "PncId"),
            cro_number=ids.findtext(_Q + "CroNumber"),
            asn=ids.findtext(_Q + "Asn"),
        )
    who = _X.read_identity(e, _CORE)
    return CoreData(
        name=who.name,
        aliases=who.aliases,
        date_of_birth=who.date_of_birth,
        sex=who.sex,
        nationalities=who.nationalities,
        place_of_birth=e.findtext(_Q + "PlaceOfBirth"),
        identifiers=identifiers,
    )


def _dec_follow_up_request(e: etree._Element) -> FollowUpRequest:
    return FollowUpRequest(e.get("searchMessageId", ""), e.get("hitReference", ""))


def _dec_follow_up_reply(e: etree._Element) -> FollowUpReply:
    return FollowUpReply(
        e.get("searchMessageId", ""), e.get("hitReference", ""), _dec_core(_X.child(e, "CoreData"))
    )


def _dec_error(e: etree._Element) -> ErrorBody:
    return ErrorBody(
        code=ErrorCode(_attr(e, "code")),
        message=_X.text(e, "Text"),
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
    text = _X.text_reader(h)  # one walk, not eight `find`s
    ts_text = text("Timestamp")
    try:
        ts = dt.datetime.fromisoformat(ts_text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CodecError("/Message/Header/Timestamp", f"not a date-time: {ts_text}") from exc
    return Header(
        message_id=text("MessageId"),
        correlation_id=text("CorrelationId"),
        timestamp=ts,
        sender=text("Sender"),
        receiver=text("Receiver"),
        message_type=MessageType(text("MessageType")),
        purpose=Purpose(text("Purpose")),
        schema_version=text("SchemaVersion"),
    )


def from_element(root: etree._Element) -> Envelope:
    """An already parsed message: validate, then map to the model."""
    if root.tag != _Q + "Message":
        raise CodecError("/", f"root element is {_local(root)}, expected Message in {NS}")
    _X.validate(root)
    header = _dec_header(_X.child(root, "Header"))
    body_el = _X.child(root, "Body")[0]
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
