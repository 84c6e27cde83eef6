"""The partner API (Prüm XML): `POST /prum/v1/messages`, one envelope in, one envelope out.

Beside it, `POST /int-i/v1/transactions` takes Interpol's INT-I v6 (either encoding) and
answers SRE or ERR in the same encoding (`exchange.gateway.inbound.int_i_api`), within the
same size, time and load bounds, claimed and audited the same way.

Each message is parsed safely and validated (`prum_xml.decode`), answered by the shared
`Responder` from the UK gallery, audited on receipt and on supply, and its reply kept
against (sender, message id), so a partner retrying a message gets the same reply and no
second search; a retry that arrives while the first copy is still being answered gets a
503 with Retry-After (transient for the sender), never a second search. A message under an
id its sender already used for a message that asked something else (`replays`) gets a 409
`MessageIdReused`, audited refused, not the other message's reply. A message whose envelope
names another sender than its client certificate is refused (403) and audited with the
claimed sender as partner and the certificate's node as actor (`cert:FR`). Every refusal is an
XML error message with a 4xx status; nothing from
outside can produce a 500 or a traceback.

With a gallery sharded over Ray (`Gallery.remote`), a search's shard calls are made in a
worker thread before the message is claimed (`Responder.search_ahead`), so the event loop
never waits on the cluster; if a shard is down the message is refused with a typed
`temporarily_unavailable` error (503, Retry-After), audited, and not remembered, so the
sender's retry is searched afresh: never a no-hit from part of the gallery.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from exchange.codecs import prum_xml
from exchange.codecs.errors import CodecError, OversizeInputError
from exchange.codecs.int_i_envelope import country_of
from exchange.codecs.int_i_model import Agency
from exchange.extraction_pool import PoolFull
from exchange.face_probes import needs_extraction, ready_face
from exchange.gallery import GalleryUnavailable
from exchange.gateway.errors import (
    PRUM_STATUS,
    InboundBusy,
    InboundExtractionBusy,
    InboundFaceRefused,
    InboundGalleryIncomplete,
    InboundRefusal,
    MessageIdReused,
    MessageTooLarge,
    MessageTooSlow,
    MessageUnreadable,
)
from exchange.gateway.finger_extraction import envelope_with_minutiae
from exchange.gateway.inbound import int_i_api
from exchange.gateway.inbound.capped_body import BodyTooLarge, read_capped
from exchange.gateway.inbound.replays import envelope_digest
from exchange.gateway.node import NODE, Node
from exchange.gateway.state.audit import AuditEntry, Direction, Outcome, certificate_actor
from exchange.gateway.state.store import InboundClaim
from exchange.model import (
    Envelope,
    ErrorBody,
    ErrorCode,
    FaceSearchRequest,
    FollowUpRequest,
    Header,
    MessageType,
    Purpose,
)
from exchange.pki import peer_node_id
from exchange.responder import Response, Searched, error_reply
from matchers.face_image import FaceImageError

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
BODY_TIMEOUT_S = 10.0  # the whole body must arrive within this
XML = "application/xml"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def reply_status(reply: Envelope) -> int:
    """The HTTP status a reply goes out with: 200, or its error code's."""
    return PRUM_STATUS[reply.body.code] if isinstance(reply.body, ErrorBody) else 200


def bare_error(
    node_id: str, code: ErrorCode, message: str, field: str | None, now: dt.datetime
) -> bytes:
    """An error for a message we could not read: no header of the request to answer to."""
    header = Header(
        str(uuid.uuid4()),
        str(uuid.uuid4()),
        now,
        node_id,
        "XX",
        MessageType.ERROR,
        Purpose.INVESTIGATION,
    )
    body = ErrorBody(code, message[:500], field[:500] if field else None)
    return prum_xml.encode(Envelope(header, body))


# Partner messages read or answered at once on the partner listener when its config says
# 0 (`exchange.gateway.admission`): beyond them a sender is told to come back (503).
MAX_MESSAGES_IN_PROGRESS = 256


@web.middleware
async def xml_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every refusal of a partner's message into a Prüm XML error message, in one place.

    The error's class gives the HTTP status and the Prüm error code (`exchange.gateway.errors`).
    """
    try:
        return await handler(request)
    except InboundRefusal as exc:
        return refusal_response(request.app[NODE], exc)


def refusal_response(node: Node, exc: InboundRefusal) -> web.Response:
    """A refusal as a Prüm XML error message, with its status and headers."""
    data = bare_error(node.config.node_id, exc.prum_code, exc.message, exc.field, node.clock())
    return web.Response(body=data, status=exc.status_hint, content_type=XML, headers=exc.headers())


def shed(request: web.Request) -> web.Response:
    """The partner listener's refusal of a message over its in-flight bound (admission)."""
    return refusal_response(request.app[NODE], InboundBusy("busy; retry shortly"))


def shed_connection(node: Node) -> bytes:
    """The same refusal, as a whole HTTP response, to a connection over the listener's bound."""
    refusal = InboundBusy("too many connections; retry shortly")
    return bare_error(node.config.node_id, refusal.prum_code, refusal.message, None, node.clock())


async def receive_message(request: web.Request) -> web.Response:
    """One Prüm message (admitted within the listener's bound, `exchange.gateway.admission`)."""
    return await _receive_message(request, request.app[NODE])


async def read_message(request: web.Request) -> bytes:
    """The whole body, within its size and time limits (`MessageTooLarge`, `MessageTooSlow`)."""
    if request.content_length is not None and request.content_length > MAX_MESSAGE_BYTES:
        raise MessageTooLarge("message too large")
    try:  # a sender trickling its body gets a 408, not a held connection
        # asyncio.timeout, not wait_for: the same TimeoutError when the body is late, without
        # wrapping the read in a task of its own (~6 us a message under uvloop).
        async with asyncio.timeout(BODY_TIMEOUT_S):
            return await read_capped(request.content, MAX_MESSAGE_BYTES)
    except BodyTooLarge as exc:
        raise MessageTooLarge("message too large") from exc
    except TimeoutError as exc:
        raise MessageTooSlow("body too slow") from exc


def decode_message(node: Node, raw: bytes) -> Envelope:
    """The envelope, or the codec's refusal as the partner's (413 for size alone, else 400)."""
    try:
        return prum_xml.decode(raw)
    except CodecError as exc:
        raise _unreadable(node, exc) from exc


# A message this large carries an image (a face search: hundreds of kB of base64).
OFF_LOOP_BYTES = 64 * 1024


async def read_envelope(node: Node, raw: bytes) -> Envelope:
    """`decode_message`, in a thread for a message carrying an image: lxml parses and
    validates with the GIL released (measured here: pure-Python work on the loop ran 8%
    slower beside a thread decoding face-image messages in a loop), so partner I/O and light
    searches are not held up behind a large message."""
    if len(raw) < OFF_LOOP_BYTES:
        return decode_message(node, raw)
    try:
        return await asyncio.to_thread(prum_xml.decode, raw)
    except CodecError as exc:
        raise _unreadable(node, exc) from exc


def _unreadable(node: Node, exc: CodecError) -> InboundRefusal:
    node.metrics.inc("prum_inbound_total", type="unreadable", outcome="schema_invalid")
    refusal = MessageTooLarge if isinstance(exc, OversizeInputError) else MessageUnreadable
    return refusal(exc.reason, exc.field)


async def _receive_message(request: web.Request, node: Node) -> web.Response:
    started = time.perf_counter()
    raw = await read_message(request)
    envelope = await read_envelope(node, raw)
    h = envelope.header
    refusal = _check_sender(request, node, envelope)
    if refusal is not None:
        return refusal
    digest = envelope_digest(envelope)  # of the message as sent, before any extraction
    envelope = await face_probe_ready(node, envelope)
    # Prints that came as images get their minutiae in the pool, off the loop and off the
    # writer that answers below (a retry of the message keeps the digest of what was sent).
    envelope = await envelope_with_minutiae(node.extraction, envelope)
    searched = None
    if node.gallery.remote:
        try:
            searched = await asyncio.to_thread(node.responder.search_ahead, envelope)
        except GalleryUnavailable as exc:
            return _gallery_incomplete(node, envelope, exc)

    def answer() -> tuple[InboundClaim, Response | None, bytes | None]:
        """Claim, receipt, search, reply and supply: in one commit, all of them or none."""
        claim = node.store.claim_message(h.sender, h.message_id, now=node.clock(), digest=digest)
        if not claim.first:
            duplicate = Outcome.REFUSED if claim.conflict else Outcome.DUPLICATE
            _audit(node, Direction.RECEIVED, envelope, duplicate, ())
            return claim, None, None
        receipt = _entry(node, Direction.RECEIVED, envelope, Outcome.ACCEPTED, ())
        outcome, encoded = respond(node, envelope, searched)
        data = node.store.remember_reply(h.sender, h.message_id, encoded, now=node.clock())
        audit_outcome = {
            "hit": Outcome.HIT,
            "no_hit": Outcome.NO_HIT,
            "supplied": Outcome.SUPPLIED,
        }.get(outcome.outcome, Outcome.REFUSED)
        supply = _entry(node, Direction.SENT, outcome.reply, audit_outcome, outcome.references)
        # Receipt and supply appended together: the same entries, seqs and hashes as two
        # appends (nothing between them writes the audit table, and all of this commits or
        # rolls back as one), for one read and one update of the chain head, not two.
        node.audit.append_many([receipt, supply])
        return claim, outcome, data

    claim, outcome, reply_data = await node.writes.run(answer)
    if outcome is None or reply_data is None:
        if claim.conflict:
            return _reused(node, envelope)
        node.metrics.inc("prum_inbound_total", type=h.message_type.value, outcome="duplicate")
        if claim.reply is None:  # the first copy is still being answered: try again shortly
            return web.Response(status=503, headers={"Retry-After": "1"})
        reply_env = prum_xml.decode(claim.reply)
        return web.Response(body=claim.reply, status=reply_status(reply_env), content_type=XML)
    node.metrics.inc("prum_inbound_total", type=h.message_type.value, outcome=outcome.outcome)
    node.metrics.observe(
        "prum_matcher_seconds", time.perf_counter() - started, type=h.message_type.value
    )
    node.log.info(
        "partner_message",
        sender=h.sender,
        message_id=h.message_id,
        correlation_id=h.correlation_id,
        outcome=outcome.outcome,
    )
    return web.Response(body=reply_data, status=reply_status(outcome.reply), content_type=XML)


async def face_probe_ready(node: Node, envelope: Envelope) -> Envelope:
    """A face search whose template this node cannot use gets one extracted from its image,
    in the extraction pool (`exchange.face_probes`). Without an image the responder answers
    `unsupported_feature_model`; a full pool is a temporary refusal (503, Retry-After)."""
    body = envelope.body
    if not isinstance(body, FaceSearchRequest) or body.template.image is None:
        return envelope
    if not needs_extraction(body.template, node.gallery):
        return envelope
    where = "/Message/Body/FaceSearchRequest/Image"
    try:
        template = await ready_face(body.template, node.gallery, node.extract_face)
    except PoolFull as exc:
        raise InboundExtractionBusy(str(exc), exc.retry_after_s) from exc
    except FaceImageError as exc:  # no face, or an image that cannot be decoded
        raise InboundFaceRefused(exc.reason, where) from exc
    return dataclasses.replace(envelope, body=dataclasses.replace(body, template=template))


def _reused(node: Node, envelope: Envelope) -> web.Response:
    """409 to a message under an id its sender used for another message (audited refused)."""
    h = envelope.header
    node.metrics.inc("prum_inbound_total", type=h.message_type.value, outcome="message_id_reused")
    node.log.warning(
        "message_id_reused",
        sender=h.sender,
        message_id=h.message_id,
        correlation_id=h.correlation_id,
    )
    refusal = MessageIdReused(
        f"message id {h.message_id} was used for another message; a retry must ask the same",
        MessageIdReused.field_path,
    )
    data = prum_xml.encode(
        error_reply(
            h,
            node.responder.rules,
            refusal.prum_code,
            refusal.message,
            refusal.field,
            str(uuid.uuid4()),
            node.clock(),
        )
    )
    return web.Response(body=data, status=refusal.status_hint, content_type=XML)


def _gallery_incomplete(node: Node, envelope: Envelope, exc: GalleryUnavailable) -> web.Response:
    """503 `temporarily_unavailable` for a search a shard could not answer (audited)."""
    h = envelope.header
    node.metrics.inc("prum_inbound_total", type=h.message_type.value, outcome="gallery_unavailable")
    node.log.warning(
        "gallery_unavailable",
        sender=h.sender,
        message_id=h.message_id,
        correlation_id=h.correlation_id,
        shards=[f"{s.shard}:{s.status}" for s in exc.shards],
    )
    node.audit.append(
        _entry(node, Direction.RECEIVED, envelope, ErrorCode.TEMPORARILY_UNAVAILABLE, ())
    )
    refusal = InboundGalleryIncomplete(exc.message)
    data = prum_xml.encode(
        error_reply(
            h,
            node.responder.rules,
            refusal.prum_code,
            refusal.message,
            None,
            str(uuid.uuid4()),
            node.clock(),
        )
    )
    return web.Response(
        body=data, status=refusal.status_hint, content_type=XML, headers=refusal.headers()
    )


def respond(
    node: Node, envelope: Envelope, searched: Searched | None = None
) -> tuple[Response, bytes]:
    """The responder's reply and its bytes; or, for a reply that cannot be made or encoded,
    a typed `internal` Prüm error, so that the sender is answered and the refusal audited.

    A reply fails when what it would carry cannot be read back or put into XML: a record
    enrolled before the client API refused characters XML 1.0 cannot carry (a lone
    surrogate, U+FFFE), for one. lxml says so with a ValueError, our codecs with a
    CodecError (one of them).
    """
    message_id = str(uuid.uuid4())
    try:
        outcome = node.responder.respond(envelope, message_id, node.clock(), searched)
        return outcome, prum_xml.encode(outcome.reply)
    except ValueError as exc:
        h = envelope.header
        node.log.warning(
            "reply_not_encodable",
            sender=h.sender,
            message_id=h.message_id,
            message_type=h.message_type.value,
            reason=str(exc)[:200],
        )
        body = envelope.body
        refs = (body.hit_reference,) if isinstance(body, FollowUpRequest) else ()
        rules = node.responder.rules
        reason = "this node cannot answer this request; its operator has been told"
        reply = error_reply(h, rules, ErrorCode.INTERNAL, reason, None, message_id, node.clock())
        return Response(reply, ErrorCode.INTERNAL.value, refs), prum_xml.encode(reply)


def _check_sender(request: web.Request, node: Node, envelope: Envelope) -> web.Response | None:
    """Under mutual TLS the envelope's sender must be the node the client certificate names."""
    if node.config.tls is None:
        return None
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    certified = peer_node_id(ssl_object.getpeercert() if ssl_object is not None else None)
    h = envelope.header
    if certified == h.sender and node.config.partner(certified) is not None:
        return None
    node.metrics.inc("prum_inbound_total", type=h.message_type.value, outcome="unauthorised_sender")
    node.audit.append(impersonation_entry(node, envelope, certified))
    node.log.warning(
        "sender_mismatch", sender=h.sender, certificate=certified, message_id=h.message_id
    )
    reason = f"the client certificate names {certified}, the envelope says {h.sender}"
    data = prum_xml.encode(
        error_reply(
            h,
            node.responder.rules,
            ErrorCode.UNAUTHORISED_SENDER,
            reason,
            "/Message/Header/Sender",
            str(uuid.uuid4()),
            node.clock(),
        )
    )
    return web.Response(body=data, status=403, content_type=XML)


def _entry(
    node: Node,
    direction: Direction,
    env: Envelope,
    outcome: Outcome | ErrorCode,
    refs: tuple[str, ...],
) -> AuditEntry:
    h = env.header
    return AuditEntry(
        at=node.clock(),
        direction=direction,
        message_type=h.message_type,
        outcome=outcome,
        actor=node.config.node_id,
        partner=h.sender if direction is Direction.RECEIVED else h.receiver,
        message_id=h.message_id,
        references=refs[:100],
        purpose=h.purpose,
    )


def impersonation_entry(node: Node, env: Envelope, certified: str | None) -> AuditEntry:
    """A message whose envelope names another sender than its client certificate: the entry
    names the claimed sender as partner and the certificate's node as actor (`cert:FR`)."""
    entry = _entry(node, Direction.RECEIVED, env, ErrorCode.UNAUTHORISED_SENDER, ())
    return dataclasses.replace(entry, actor=certificate_actor(certified))


def _audit(
    node: Node, direction: Direction, env: Envelope, outcome: Outcome, refs: tuple[str, ...]
) -> None:
    node.audit.append(_entry(node, direction, env, outcome, refs))


async def receive_int_i(request: web.Request) -> web.Response:
    """An INT-I transaction from a partner, answered in INT-I (admitted as `receive_message`;
    image-only prints extracted in the pool before the writer answers, `int_i_api.receive`)."""
    node = request.app[NODE]
    raw = await read_message(request)
    own = own_agency(node.config.node_id)
    return await int_i_api.receive(node, raw, own, with_subject=False, request=request)


def own_agency(node_id: str) -> Agency:
    """This node as an INT-I agency: its id as code and name, its ISO 3166 alpha-3 country."""
    return Agency(node_id, country_of(node_id, "GBR"), node_id)


INT_I_PATH = "/int-i/v1/transactions"


def routes() -> list[web.RouteDef]:
    return [web.post("/prum/v1/messages", receive_message), web.post(INT_I_PATH, receive_int_i)]
