"""Reading a partner's requests and forging its replies, in the dialect it speaks.

What a fault injector needs to know about the messages it breaks (`mock_partners.faults`):
the header and probe of a request (`parse_request`, for Prüm XML, Interpol XML and ANSI/NIST-
ITL transactions, via the project's own codecs), a stable digest of a probe's biometric part
(`probe_digest`), replies this node could have sent (`encode_reply`), the same reply with
another sender or correlation id (`rewrite_reply`), and XML the schema refuses
(`schema_invalid`). **Expectations** (after MOSIP's mock ABIS) are kept here too: for a
search whose probe reference or digest matches, the reply to send instead of asking the
gallery: a hit with given candidates, a no-hit, or a given error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lxml import etree

from exchange.codecs import ansi_nist, interpol, prum_xml
from exchange.codecs import int_i_codes as codes
from exchange.codecs.errors import CodecError
from exchange.codecs.int_i_envelope import (
    envelope_from_transaction,
    int_i_tcn,
    transaction_from_envelope,
)
from exchange.gateway.outbound.dialects.int_i import country_of
from exchange.gateway.outbound.search_bodies import build_bodies
from exchange.model import (
    Candidate,
    DactySearchRequest,
    DnaSearchRequest,
    Envelope,
    ErrorBody,
    ErrorCode,
    FaceSearchRequest,
    Header,
    MatchType,
    Modality,
    PersonRecord,
    ProbeResult,
    Purpose,
    SearchReply,
)
from mock_partners.interpol_int_i import decode_inti, encode_inti, is_int_i

Dialect = Literal["prum", "interpol-xml", "ansi-nist", "int-i-xml"]
FORCED = "forced by a drill expectation"


class ExpectationError(ValueError):
    """An expectation that cannot be used; says which field."""


# --- requests and replies -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Incoming:
    """The parts of a request the injector needs; never the biometric payload itself."""

    dialect: Dialect
    message_id: str
    correlation_id: str
    sender: str
    receiver: str
    message_type: str
    purpose: Purpose
    modality: Modality | None
    probe_reference: str | None
    digest: str | None
    # A DNA request's probes, each as (reference, digest): one message may carry the probes
    # of several searches (the UK gateway's batches, `exchange.gateway.outbound.dna_batch`).
    probes: tuple[tuple[str, str], ...] = ()

    @property
    def batch(self) -> bool:
        return len(self.probes) > 1


def _probes(body: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(body, DnaSearchRequest):
        return ()
    one = [DnaSearchRequest((p,), body.max_candidates) for p in body.probes]
    return tuple(
        (p.reference, probe_digest(b) or "") for p, b in zip(body.probes, one, strict=True)
    )


def probe_digest(body: object) -> str | None:
    """A stable hash of a search body's biometric part (same probe, same digest)."""
    if isinstance(body, DnaSearchRequest):
        parts: Any = [sorted((k, list(v)) for k, v in p.profile.loci.items()) for p in body.probes]
    elif isinstance(body, DactySearchRequest):
        parts = [
            [f.position, [[m.x, m.y, m.angle, m.kind.value] for m in f.minutiae]]
            for f in body.fingerprints.fingers
        ]
    elif isinstance(body, FaceSearchRequest):
        return hashlib.sha256(body.template.vector).hexdigest()
    else:
        return None
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def probe_digest_of(record: PersonRecord, modality: Modality) -> str | None:
    """The digest a search of `record` with `modality` will carry, for setting expectations."""
    body = build_bodies(record, [modality], 1).get(modality)
    return probe_digest(body) if body is not None else None


def _search_parts(body: object) -> tuple[Modality | None, str | None]:
    if isinstance(body, DnaSearchRequest):
        return Modality.DNA, body.probes[0].reference if body.probes else None
    if isinstance(body, DactySearchRequest):
        return Modality.FINGERPRINT, body.reference
    if isinstance(body, FaceSearchRequest):
        return Modality.FACE, body.reference
    if isinstance(body, interpol.NominalCheck):
        return Modality.NOMINAL, body.reference
    return None, None


def parse_request(raw: bytes, content_type: str, path: str) -> Incoming | None:
    """Read a request as the node will; None when it cannot be read (the node refuses it)."""
    try:
        if content_type == "application/octet-stream":
            env = ansi_nist.decode(raw)
            dialect: Dialect = "ansi-nist"
        elif path.startswith("/interpol/") and is_int_i(raw):
            tx = decode_inti(raw)
            if tx.tot == codes.TOT_NPS:  # searched as a CPS, as the node does
                tx = dataclasses.replace(tx, type1=dataclasses.replace(tx.type1, tot="CPS"))
            env = envelope_from_transaction(tx)
            dialect = "int-i-xml"
        elif path.startswith("/interpol/"):
            msg = interpol.decode_xml(raw)
            modality, ref = _search_parts(msg.body)
            kind = type(msg.body).__name__
            return Incoming(
                "interpol-xml", msg.message_id, msg.correlation_id, msg.sender, msg.receiver,
                kind, msg.purpose, modality, ref, probe_digest(msg.body),
            )  # fmt: skip
        else:
            env = prum_xml.decode(raw)
            dialect = "prum"
    except CodecError:
        return None
    h = env.header
    modality, ref = _search_parts(env.body)
    return Incoming(
        dialect, h.message_id, h.correlation_id, h.sender, h.receiver, h.message_type.value,
        h.purpose, modality, ref, probe_digest(env.body), _probes(env.body),
    )  # fmt: skip


ReplyBody = SearchReply | ErrorBody


def encode_reply(inc: Incoming, body: ReplyBody) -> bytes:
    """A reply from this node (the request's receiver) to the request's sender.

    In INT-I, a refusal INT-I has no code for (quota, internal) is only its text: the node
    answers those at the transport level (`_status`: 429, 503)."""
    now = dt.datetime.now(dt.UTC)
    if inc.dialect == "int-i-xml":
        if isinstance(body, ErrorBody) and body.code in codes.NO_INT_I_CODE:
            return body.message.encode()
        header = Header(
            int_i_tcn(str(uuid.uuid4()), now.year), inc.message_id, now, inc.receiver, inc.sender,
            prum_xml.message_type_of(body), inc.purpose,
        )  # fmt: skip
        tx = transaction_from_envelope(
            Envelope(header, body), origin_country="XPO", destination_country=country_of(inc.sender)
        )
        return encode_inti(tx)
    if inc.dialect == "interpol-xml":
        return interpol.encode_xml(
            interpol.InterpolMessage(
                str(uuid.uuid4()), inc.correlation_id, now, inc.receiver, inc.sender,
                inc.purpose, body,
            )
        )  # fmt: skip
    header = Header(
        str(uuid.uuid4()), inc.correlation_id, now, inc.receiver, inc.sender,
        prum_xml.message_type_of(body), inc.purpose,
    )  # fmt: skip
    env = Envelope(header, body)
    return ansi_nist.encode(env) if inc.dialect == "ansi-nist" else prum_xml.encode(env)


def rewrite_reply(
    inc: Incoming, data: bytes, *, sender: str | None = None, correlation_id: str | None = None
) -> bytes | None:
    """The reply with another sender or correlation id; None if it cannot be read."""
    changes = {
        k: v for k, v in (("sender", sender), ("correlation_id", correlation_id)) if v is not None
    }
    try:
        if inc.dialect == "int-i-xml":  # INT-I's correlation is the reply's TCR
            tx = decode_inti(data)
            t1 = tx.type1
            origin = t1.origin
            if sender is not None:
                origin = dataclasses.replace(origin, code=sender, name=sender)
            tcr = int_i_tcn(correlation_id, t1.date.year) if correlation_id is not None else t1.tcr
            t1 = dataclasses.replace(t1, origin=origin, tcr=tcr)
            return encode_inti(dataclasses.replace(tx, type1=t1))
        if inc.dialect == "interpol-xml":
            msg = interpol.decode_xml(data)
            return interpol.encode_xml(dataclasses.replace(msg, **changes))  # type: ignore[arg-type]
        if inc.dialect == "ansi-nist":
            env = ansi_nist.decode(data)
            return ansi_nist.encode(Envelope(dataclasses.replace(env.header, **changes), env.body))  # type: ignore[arg-type]
        env = prum_xml.decode(data)
        return prum_xml.encode(Envelope(dataclasses.replace(env.header, **changes), env.body))  # type: ignore[arg-type]
    except CodecError:
        return None


def schema_invalid(data: bytes) -> bytes:
    """Well-formed XML that the schema refuses: an element it does not know, in its namespace."""
    try:
        root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError:
        return data[: len(data) // 2]
    ns = etree.QName(root).namespace
    etree.SubElement(root, f"{{{ns}}}Unexpected" if ns else "Unexpected").text = "injected"
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out


def forge_in_batch(inc: Incoming, data: bytes, expectations: Sequence[Expectation]) -> bytes | None:
    """The node's own reply to a batch, with the results of the probes `expectations` match
    forged (each by the first that matches it); None when the reply is not a search reply.

    An `error` expectation cannot answer one probe of a batch alone; the caller answers the
    whole message with it instead.
    """
    try:
        env = prum_xml.decode(data)
    except CodecError:
        return None
    if not isinstance(env.body, SearchReply):
        return None
    digests = dict(inc.probes)
    results = []
    for result in env.body.results:
        ref = result.probe_reference
        chosen = next((e for e in expectations if e.matches_probe(ref, digests.get(ref, ""))), None)
        if chosen is not None:
            result = ProbeResult(ref, chosen.candidates if chosen.reply == "hit" else ())
        results.append(result)
    body = dataclasses.replace(env.body, results=tuple(results))
    return prum_xml.encode(Envelope(env.header, body))


def reply_outcome(inc: Incoming, data: bytes) -> str:
    """hit, no_hit, or the error code of a reply, for the request log."""
    try:
        if inc.dialect == "int-i-xml":
            body: object = envelope_from_transaction(decode_inti(data)).body
        elif inc.dialect == "interpol-xml":
            body = interpol.decode_xml(data).body
        elif inc.dialect == "ansi-nist":
            body = ansi_nist.decode(data).body
        else:
            body = prum_xml.decode(data).body
    except CodecError:
        return "unreadable"
    if isinstance(body, ErrorBody):
        return body.code.value
    if isinstance(body, SearchReply):
        return "hit" if body.hit else "no_hit"
    if isinstance(body, interpol.NominalReply):
        return "hit" if body.notices or body.travel_documents else "no_hit"
    return type(body).__name__


# --- expectations ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expectation:
    """Force the reply to a search whose probe reference or digest matches."""

    reply: Literal["hit", "no_hit", "error"]
    probe_reference: str | None = None
    probe_digest: str | None = None
    candidates: tuple[Candidate, ...] = ()
    error: ErrorCode = ErrorCode.INTERNAL
    message: str = FORCED
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def matches(self, inc: Incoming) -> bool:
        """True for a search of the probe; a batch matches when any of its probes does."""
        if inc.batch:
            return any(self.matches_probe(ref, digest) for ref, digest in inc.probes)
        if self.probe_reference is not None and self.probe_reference != inc.probe_reference:
            return False
        return self.probe_digest is None or self.probe_digest == inc.digest

    def matches_probe(self, reference: str, digest: str) -> bool:
        if self.probe_reference is not None and self.probe_reference != reference:
            return False
        return self.probe_digest is None or self.probe_digest == digest

    def body(self, inc: Incoming) -> ReplyBody:
        if self.reply == "error":
            return ErrorBody(self.error, self.message, None, inc.message_id)
        candidates = self.candidates if self.reply == "hit" else ()
        modality = inc.modality or Modality.DNA
        result = ProbeResult(inc.probe_reference or "", candidates)
        return SearchReply(inc.message_id, modality, (result,))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reply": self.reply,
            "probe_reference": self.probe_reference,
            "probe_digest": self.probe_digest,
            "candidates": [
                {"reference": c.reference, "score": c.score, "match_type": c.match_type.value}
                for c in self.candidates
            ],
            "error": self.error.value if self.reply == "error" else None,
            "message": self.message,
        }


def expectation_from_json(doc: Mapping[str, Any]) -> Expectation:
    """`{probe_reference | probe_digest, reply: hit|no_hit|error, candidates, error}`."""
    reply = doc.get("reply")
    if reply not in ("hit", "no_hit", "error"):
        raise ExpectationError("reply: one of hit, no_hit, error")
    ref, digest = doc.get("probe_reference"), doc.get("probe_digest")
    if ref is None and digest is None:
        raise ExpectationError("probe_reference or probe_digest: one is required")
    try:
        candidates = tuple(
            Candidate(str(c["reference"]), float(c.get("score", 1.0)),
                      MatchType(c.get("match_type", "candidate")))
            for c in doc.get("candidates", [])
        )  # fmt: skip
        error = ErrorCode(doc.get("error", "internal"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ExpectationError(f"candidates or error: {exc}") from exc
    if reply == "hit" and not candidates:
        raise ExpectationError("candidates: a forced hit needs at least one")
    return Expectation(reply, ref, digest, candidates, error, str(doc.get("message", FORCED)))
