"""INT-I v6 in, INT-I out: a partner's CPS/MPS/NPS searched against this node's gallery.

Interpol's INT-I v6.00 profile of ANSI/NIST-ITL 1-2011, in either encoding, detected by the
first byte (`<`: XML, `exchange.codecs.int_i_xml`; else traditional, `int_i_traditional`); the
answer goes in the encoding the transaction came in. A CPS (ten-print) or MPS (latent) is
searched by the node's shared `Responder` like any partner's Prüm search (membership,
capacities, gallery, released hits); an NPS, a non-criminal print-to-print search, as a CPS.
The answer is an SRE: 2.064 RLS `I` with the candidate count and the best candidate's
reference as 2.010 CRN, or `N`. Whether the SRE names the person (2.030 NAM and the rest of
the subject) is the caller's choice (`with_subject`): Interpol's does; this gateway's does not,
since the person's data is step-2 data, given only to a confirmed hit's follow-up.

What the node does not do (ATP, adding prints to a collection; an SRE or ERR sent to it) is
refused with ERR 116, "invalid type of transaction"; the responder's refusals travel as their
INT-I codes (`int_i_codes.int_i_error_code`), except those INT-I has no code for (quota:
HTTP 429, internal: 503, both with Retry-After). A transaction that cannot be read gets ERR
101 (116 for an unknown TOT) naming the XML path or the record and field, with HTTP 400, to
the TCN and sender it names where they can be read at all. Under mutual TLS the sender the
transaction names (1.008 ORI) must be the node the client certificate names (ERR 003, 403;
audited with the claimed sender as partner and the certificate's node as actor, `cert:FR`).
Every transaction is claimed against (sender, TCN), so a retry gets the same answer and no
second search, and audited on receipt and on supply, in one commit; a TCN its sender used
for a transaction that asked something else (`replays`) gets ERR 201 with HTTP 409.

Prints that come as images alone (a CPS of Type-14 images, as Interpol's are) get mindtct's
minutiae in the node's extraction pool (`receive`, as the Prüm partner API does:
`exchange.gateway.finger_extraction`), before the writer thread claims and answers: the
seconds of mindtct a ten-print costs hold up neither the event loop nor every other write. A
full pool is INT-I's temporary refusal, at the transport level (HTTP 503 with Retry-After,
nothing claimed, so the retry is searched); prints with no usable finger are an ERR 501
(insufficient fingerprint quality) naming the records, claimed and audited like any answer.
INT-I searches are fingerprint searches (`int_i_envelope` reads no Type-10), so there is no
face image to extract.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from exchange.codecs import ansi_nist_records, int_i_traditional, int_i_xml
from exchange.codecs import int_i_codes as codes
from exchange.codecs.errors import CodecError
from exchange.codecs.int_i_envelope import (
    envelope_from_transaction,
    int_i_tcn,
    node_of,
    subject_of_core_data,
)
from exchange.codecs.int_i_model import (
    Agency,
    Candidates,
    CountryReference,
    ErrorMessage,
    IntiTransaction,
    Type1,
    Type2,
)
from exchange.codecs.xml_safety import parse_xml
from exchange.gateway.errors import InboundExtractionBusy, InboundPrintsUnusable, MessageIdReused
from exchange.gateway.finger_extraction import envelope_with_minutiae
from exchange.gateway.inbound.replays import transaction_digest
from exchange.gateway.node import Node
from exchange.gateway.state.audit import AuditEntry, Direction, Outcome, certificate_actor
from exchange.model import Envelope, ErrorBody, ErrorCode, MessageType, Purpose, SearchReply
from exchange.pki import peer_node_id

UNKNOWN_TCN = "00000000000000Z"  # the TCR of an ERR to a message whose TCN cannot be read
OFF_LOOP_BYTES = 64 * 1024  # a transaction this large is decoded in a thread (as partner_api)
PRINT_RECORDS = "Type-4/13/14"  # where an ERR about the prints' images points
_MARKS = (codes.NS_INTI.encode(), codes.NS_ITL.encode())
_TOKEN = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass(frozen=True, slots=True)
class Encoding:
    """One of INT-I's two encodings: how its bytes are read and written, and their MIME type."""

    name: str
    decode: Callable[[bytes], IntiTransaction]
    encode: Callable[[IntiTransaction], bytes]
    content_type: str


XML = Encoding("xml", int_i_xml.decode, int_i_xml.encode, "application/xml")
TRADITIONAL = Encoding(
    "traditional", int_i_traditional.decode, int_i_traditional.encode, "application/octet-stream"
)


def _is_xml(raw: bytes) -> bool:
    return raw[:64].lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<"


def encoding_of(raw: bytes) -> Encoding:
    """XML if the body starts (after a BOM and blanks) with `<`, else traditional."""
    return XML if _is_xml(raw) else TRADITIONAL


def is_int_i(raw: bytes) -> bool:
    """Whether a body is an INT-I v6 transaction: XML naming INT-I's or NIST's ITL namespace
    near its start, or a traditional transaction whose 1.013 DOM names INT-I 6."""
    if _is_xml(raw):
        return any(m in raw[:4096] for m in _MARKS)
    try:
        return int_i_traditional.is_int_i(ansi_nist_records.decode_transaction(raw))
    except CodecError:
        return False


def _response(data: bytes, encoding: Encoding, status: int = 200) -> web.Response:
    return web.Response(body=data, status=status, content_type=encoding.content_type)


def _certified(request: web.Request | None) -> str | None:
    if request is None or request.transport is None:
        return None
    ssl_object = request.transport.get_extra_info("ssl_object")
    return peer_node_id(ssl_object.getpeercert() if ssl_object is not None else None)


Searched = Envelope | IntiTransaction  # a search ready for the responder, or an ERR instead


async def receive(
    node: Node,
    raw: bytes,
    own: Agency,
    *,
    with_subject: bool,
    request: web.Request | None = None,
) -> web.Response:
    """`answer`, with the transaction decoded off the writer (in a thread when large) and the
    minutiae of image-only prints extracted in the node's pool; then claimed and answered on
    the writer (`node.writes`)."""
    encoding = encoding_of(raw)
    decoded: IntiTransaction | CodecError
    try:
        if len(raw) < OFF_LOOP_BYTES:
            decoded = encoding.decode(raw)
        else:
            decoded = await asyncio.to_thread(encoding.decode, raw)
    except CodecError as exc:
        decoded = exc
    searched: Searched | None = None
    if isinstance(decoded, IntiTransaction) and _sender_certified(node, decoded, request):
        try:
            searched = await _extracted(node, decoded, own)
        except InboundExtractionBusy as exc:  # before the claim: a retry is searched
            node.metrics.inc("prum_inbound_total", type="int_i", outcome="extraction_busy")
            node.log.warning("extraction_busy", sender=node_of(decoded.type1.origin))
            headers = {"Retry-After": str(exc.retry_after)}
            return web.Response(status=503, text=exc.message, headers=headers)
    return await node.writes.run(
        lambda: answer(
            node,
            raw,
            own,
            with_subject=with_subject,
            request=request,
            decoded=decoded,
            searched=searched,
        )
    )


def _sender_certified(node: Node, tx: IntiTransaction, request: web.Request | None) -> bool:
    """Whether `answer` will search it as far as the sender goes (no extraction for a
    transaction whose certificate names another node: `answer` refuses it)."""
    sender = _token_or(node_of(tx.type1.origin), "UNKNOWN")
    return node.config.tls is None or _certified(request) == sender


def _search_envelope(node: Node, tx: IntiTransaction, own: Agency, sender: str) -> Searched:
    """The Prüm search a readable transaction asks (an NPS as a CPS), or the ERR instead."""
    if tx.tot not in codes.SEARCH_TOTS:
        return _err(node, tx, own, "116", f"this node does not take {tx.tot} transactions", "TOT")
    searched = tx
    if tx.tot == codes.TOT_NPS:  # a print-to-print search outside CPS's scope: as a CPS
        searched = dataclasses.replace(tx, type1=dataclasses.replace(tx.type1, tot=codes.TOT_CPS))
    try:
        envelope = envelope_from_transaction(searched)
    except CodecError as exc:
        return _err(node, tx, own, "101", exc.reason, exc.field)
    return dataclasses.replace(envelope, header=dataclasses.replace(envelope.header, sender=sender))


async def _extracted(node: Node, tx: IntiTransaction, own: Agency) -> Searched | None:
    """The transaction's search with minutiae for its image-only prints (extracted in the
    pool), an ERR 501 when no finger is usable, or None when `answer` has nothing to add
    (not a search, or nothing to extract). InboundExtractionBusy when the pool is full."""
    sender = _token_or(node_of(tx.type1.origin), "UNKNOWN")
    searched = _search_envelope(node, tx, own, sender)
    if not isinstance(searched, Envelope):
        return None
    try:
        ready = await envelope_with_minutiae(node.extraction, searched)
    except InboundPrintsUnusable as exc:
        code = codes.int_i_error_code(ErrorCode.PROFILE_REJECTED)
        return _err(node, tx, own, code, exc.message, PRINT_RECORDS)
    return ready if ready is not searched else None


def answer(
    node: Node,
    raw: bytes,
    own: Agency,
    *,
    with_subject: bool,
    request: web.Request | None = None,
    decoded: IntiTransaction | CodecError | None = None,
    searched: Searched | None = None,
) -> web.Response:
    """The node's INT-I answer to one received transaction (`own`: this node as an agency).
    `decoded`: the transaction (or why it could not be read) when the caller decoded it;
    `searched`: its search made ready (`receive`: prints extracted) or the ERR to send
    instead. Without them, the gallery extracts what the search needs where it runs."""
    encoding = encoding_of(raw)
    try:
        if isinstance(decoded, CodecError):
            raise decoded
        tx = decoded if decoded is not None else encoding.decode(raw)
    except CodecError as exc:
        node.metrics.inc("prum_inbound_total", type="unreadable", outcome="schema_invalid")
        unreadable = _unreadable(node, raw, exc, own, encoding)
        return _response(encoding.encode(unreadable), encoding, 400)
    t1 = tx.type1
    sender = _token_or(node_of(t1.origin), "UNKNOWN")
    certified = _certified(request)
    if node.config.tls is not None and certified != sender:
        node.metrics.inc("prum_inbound_total", type="int_i", outcome="unauthorised_sender")
        receipt = _receipt(node, sender, tx, ErrorCode.UNAUTHORISED_SENDER)
        # the claimed sender as partner, the certificate's node as actor: both named
        node.audit.append(dataclasses.replace(receipt, actor=certificate_actor(certified)))
        node.log.warning("sender_mismatch", sender=sender, certificate=certified, message_id=t1.tcn)
        refusal = _err(
            node,
            tx,
            own,
            codes.int_i_error_code(ErrorCode.UNAUTHORISED_SENDER),
            "the client certificate names another sender",
            "ORI",
        )
        return _response(encoding.encode(refusal), encoding, 403)
    digest = transaction_digest(tx, encoding.name)
    claim = node.store.claim_message(sender, t1.tcn, now=node.clock(), digest=digest)
    if claim.conflict:  # the TCN of another transaction: ERR 201, not that one's answer
        node.audit.append(_receipt(node, sender, tx, Outcome.REFUSED))
        node.metrics.inc("prum_inbound_total", type="int_i", outcome="message_id_reused")
        node.log.warning("message_id_reused", sender=sender, message_id=t1.tcn)
        text = f"TCN {t1.tcn} was used for another transaction; a retry must ask the same"
        reused = _err(node, tx, own, "201", text, "TCN")
        return _response(encoding.encode(reused), encoding, MessageIdReused.status_hint)
    if not claim.first:
        node.audit.append(_receipt(node, sender, tx, Outcome.DUPLICATE))
        if claim.reply is None:
            return web.Response(status=503, headers={"Retry-After": "1"})
        return _response(claim.reply, encoding)
    reply = _reply(node, tx, own, sender, with_subject, searched)
    if isinstance(reply, web.Response):
        # Not remembered: a retry meanwhile is told to wait (503) until the claim is stale.
        return reply
    data = node.store.remember_reply(sender, t1.tcn, encoding.encode(reply), now=node.clock())
    node.audit.append_many(
        [_receipt(node, sender, tx, Outcome.ACCEPTED), _supply(node, sender, reply)]
    )
    node.metrics.inc("prum_inbound_total", type="int_i", outcome=reply.tot.lower())
    node.log.info("partner_message", sender=sender, message_id=t1.tcn, outcome=reply.tot)
    return _response(data, encoding)


def _token_or(value: str, default: str) -> str:
    return value if _TOKEN.fullmatch(value) else default


def _receipt(
    node: Node, sender: str, tx: IntiTransaction, outcome: Outcome | ErrorCode
) -> AuditEntry:
    return AuditEntry(
        at=node.clock(),
        direction=Direction.RECEIVED,
        message_type=MessageType.DACTY_SEARCH_REQUEST,
        outcome=outcome,
        actor=node.config.node_id,
        partner=sender,
        message_id=_token_or(tx.type1.tcn, UNKNOWN_TCN),
        purpose=Purpose.INVESTIGATION,
    )


def _supply(node: Node, sender: str, reply: IntiTransaction) -> AuditEntry:
    t2 = reply.type2
    if reply.tot == codes.TOT_ERR:
        kind, outcome = MessageType.ERROR, Outcome.REFUSED
    elif t2 is not None and t2.candidates is not None and t2.candidates.result == "I":
        kind, outcome = MessageType.SEARCH_REPLY, Outcome.HIT
    else:
        kind, outcome = MessageType.SEARCH_REPLY, Outcome.NO_HIT
    person = t2.person.value if t2 is not None and t2.person is not None else None
    return AuditEntry(
        at=node.clock(),
        direction=Direction.SENT,
        message_type=kind,
        outcome=outcome,
        actor=node.config.node_id,
        partner=sender,
        message_id=reply.type1.tcn,
        references=(person,) if person is not None else (),
        purpose=Purpose.INVESTIGATION,
    )


def _reply(
    node: Node,
    tx: IntiTransaction,
    own: Agency,
    sender: str,
    with_subject: bool,
    searched: Searched | None = None,
) -> IntiTransaction | web.Response:
    """An SRE or ERR for a readable transaction, or a transport-level refusal."""
    ready = searched if searched is not None else _search_envelope(node, tx, own, sender)
    if isinstance(ready, IntiTransaction):  # an ERR: not a search, or no usable print
        return ready
    envelope = ready
    outcome = node.responder.respond(envelope, str(uuid.uuid4()), node.clock())
    body = outcome.reply.body
    if isinstance(body, ErrorBody):
        if body.code in codes.NO_INT_I_CODE:
            status = 429 if body.code is ErrorCode.QUOTA_EXCEEDED else 503
            return web.Response(status=status, text=body.message, headers={"Retry-After": "60"})
        return _err(node, tx, own, codes.int_i_error_code(body.code), body.message, body.field)
    if not isinstance(body, SearchReply):
        return _err(node, tx, own, "116", "not a search", "TOT")
    return _search_result(node, tx, own, body, with_subject)


def _search_result(
    node: Node, tx: IntiTransaction, own: Agency, body: SearchReply, with_subject: bool
) -> IntiTransaction:
    candidates = [c for r in body.results for c in r.candidates]
    if not candidates:
        type2 = Type2(candidates=Candidates(tx.tot, codes.RESULT_NO_HIT, 0))
    else:
        best = candidates[0].reference
        core = node.core_data(best) if with_subject else None
        type2 = Type2(
            person=CountryReference(best, own.country),
            candidates=Candidates(tx.tot, codes.RESULT_HIT, min(len(candidates), 99)),
            subject=subject_of_core_data(core) if core is not None else None,
        )
    return _transaction(node, own, codes.TOT_SRE, tx.type1.tcn, tx.type1.origin, type2)


def _transaction(
    node: Node, own: Agency, tot: str, tcr: str, to: Agency, type2: Type2
) -> IntiTransaction:
    now = node.clock().astimezone(dt.UTC)
    type1 = Type1(
        tot=tot,
        tcn=int_i_tcn(str(uuid.uuid4()), now.year),
        date=now.date(),
        destination=to,
        origin=own,
        gmt=now.replace(microsecond=0),
        tcr=tcr,
    )
    return IntiTransaction(type1, type2)


def _err(
    node: Node, tx: IntiTransaction, own: Agency, code: str, text: str, field: str | None
) -> IntiTransaction:
    error = ErrorMessage(code, text[:255] or codes.ERROR_TEXTS.get(code), field and field[:255])
    to = tx.type1.origin
    return _transaction(node, own, codes.TOT_ERR, tx.type1.tcn, to, Type2(errors=(error,)))


def _unreadable(
    node: Node, raw: bytes, exc: CodecError, own: Agency, encoding: Encoding
) -> IntiTransaction:
    """ERR 101 (or 116 for an unknown TOT) naming where the transaction could not be read,
    to the sender and TCN it names, where they can be read at all."""
    tcn, origin = _who_xml(raw) if encoding is XML else _who_traditional(raw)
    unknown_tot = exc.field.endswith(("TransactionCategoryCode", "1.004"))
    code = "116" if unknown_tot else "101"
    error = ErrorMessage(code, exc.reason[:255], exc.field[:255])
    return _transaction(node, own, codes.TOT_ERR, tcn, origin, Type2(errors=(error,)))


_UNKNOWN = Agency("UNKNOWN", "XPO", "UNKNOWN")


def _who(tcn: str, code: str) -> tuple[str, Agency]:
    tcn, code = tcn.strip(), code.strip()[:40]
    if not codes.TCN_PATTERN.fullmatch(tcn):
        tcn = UNKNOWN_TCN
    code = _token_or(code, "UNKNOWN")
    return tcn, Agency(code, "XPO", code)


def _who_xml(raw: bytes) -> tuple[str, Agency]:
    """The TCN and originating agency of unreadable INT-I XML, as far as they can be read."""
    try:
        root = parse_xml(raw)
    except CodecError:
        return UNKNOWN_TCN, _UNKNOWN
    ns = {"biom": codes.NS_BIOM, "nc": codes.NS_NC, "int-i": codes.NS_INTI}
    tcn = root.xpath(
        "string(.//biom:TransactionControlIdentification/nc:IdentificationID)", namespaces=ns
    )
    code = root.xpath(
        "string(.//int-i:TransactionOriginatingOrganization"
        "/nc:OrganizationIdentification/nc:IdentificationID)",
        namespaces=ns,
    )
    return _who(str(tcn), str(code))


def _who_traditional(raw: bytes) -> tuple[str, Agency]:
    """The 1.009 TCN and 1.008 ORI of an unreadable traditional transaction, if they parse."""
    try:
        header = ansi_nist_records.decode_transaction(raw).header
    except CodecError:
        return UNKNOWN_TCN, _UNKNOWN
    tcn, ori = header.get(9), header.get(8)
    return _who(tcn[0][0] if tcn else "", ori[0][0] if ori else "")
