"""A mock Interpol node speaking the Interpol dialect (`exchange.codecs.interpol`).

`POST /interpol/v1/messages` takes an INT-I v6 XML transaction (CPS, MPS or NPS fingerprint
search, answered with an INT-I SRE or ERR: `mock_partners.interpol_int_i`), an ANSI/NIST-ITL
transaction in our own profile (a CPS fingerprint search, answered with an SRE or ERR
transaction: partners configured `profile = "prum-2008"`) or Interpol XML (DNA or face
search, follow-up request, nominal check). Biometric searches and follow-ups are answered
by the same node code as every partner (gallery, responder, capacities, duplicate cache):
the responder notes each hit it returns, in any encoding, so a follow-up for it from the
same sender within the window gets the core data as a `FollowUpReply`, and any other reference an
`unknown_reference` error, both as Interpol XML. Replies and the errors of the rules go out
with 200; an unreadable message gets 400, an oversized one 413, and a retry while its first
copy is still being answered 503 with Retry-After. Unlike the partner API, it writes no
audit entries. Nominal checks are matched against notices and stolen or lost travel
documents generated for some of the node's subjects:

- every `NOTICE_EVERY`-th subject has a notice, its colour cycling through Interpol's notice
  types (Red, Yellow, Blue, Black, Green, Orange, Purple, Silver, UN Special Notice);
- every `DOCUMENT_EVERY`-th subject has a passport reported stolen.

A nominal check matches a notice when the ICAO 9303 Latin forms of the family names are
equal, the given names share their first Latin letter, and the years of birth agree when both
are known. Deliberately simple: a name check finds candidates for a person to review.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from exchange.codecs import ansi_nist, interpol
from exchange.codecs.errors import CodecError
from exchange.gateway.app import Middleware, PartnerSite, running_node
from exchange.gateway.config import GatewayConfig
from exchange.gateway.inbound.capped_body import BodyTooLarge, read_capped
from exchange.gateway.node import Node
from exchange.model import (
    DnaSearchRequest,
    Envelope,
    ErrorBody,
    ErrorCode,
    FaceSearchRequest,
    FollowUpReply,
    FollowUpRequest,
    Header,
    MessageType,
    PersonName,
    Purpose,
    SearchReply,
)
from exchange.pki import ssl_server_context
from exchange.transliteration import transliterate
from mock_partners import interpol_int_i, population

NOTICE_EVERY = 5
DOCUMENT_EVERY = 7
COLOURS = tuple(interpol.NoticeColour)
NODE_ID = interpol_int_i.NODE_ID


@dataclass(frozen=True, slots=True)
class Watchlist:
    notices: tuple[interpol.Notice, ...]
    documents: tuple[interpol.TravelDocument, ...]


def watchlist(seed: int, subjects: Sequence[int]) -> Watchlist:
    people = population.people(seed, list(subjects), NODE_ID, with_fingerprints=False)
    notices, documents = [], []
    for i, p in enumerate(people):
        rec = p.record
        assert rec.name is not None
        person = interpol.NominalPerson(
            rec.name, rec.aliases, rec.date_of_birth, rec.sex, rec.nationalities
        )
        if i % NOTICE_EVERY == 0:
            colour = COLOURS[(i // NOTICE_EVERY) % len(COLOURS)]
            notices.append(interpol.Notice(f"N-2026-{p.subject:08d}", colour, person, "INTERPOL"))
        if i % DOCUMENT_EVERY == 0:
            documents.append(
                interpol.TravelDocument(
                    f"P{p.subject:08d}",
                    interpol.DocumentType.PASSPORT,
                    p.nationality,
                    interpol.DocumentStatus.STOLEN,
                    rec.name,
                )
            )
    return Watchlist(tuple(notices), tuple(documents))


def _latin(name: PersonName) -> tuple[str, str]:
    family = transliterate(name.family).text
    given = transliterate(" ".join(name.given)).text
    return family, given[:1]


def nominal_matches(check: interpol.NominalCheck, lists: Watchlist) -> interpol.NominalReply:
    family, initial = _latin(check.person.name)
    year = check.person.date_of_birth.year if check.person.date_of_birth else None

    def same(name: PersonName | None, born: int | None) -> bool:
        if name is None:
            return False
        f, i = _latin(name)
        return (
            f == family
            and (not i or not initial or i == initial)
            and (year is None or born is None or born == year)
        )

    notices = tuple(
        n
        for n in lists.notices
        if same(n.person.name, n.person.date_of_birth.year if n.person.date_of_birth else None)
    )
    documents = tuple(d for d in lists.documents if same(d.holder, None))
    return interpol.NominalReply(check.reference, notices, documents)


# The Interpol requests the shared responder answers, and their Prüm message types.
_RESPONDER_TYPES: dict[type, MessageType] = {
    DnaSearchRequest: MessageType.DNA_SEARCH_REQUEST,
    FaceSearchRequest: MessageType.FACE_SEARCH_REQUEST,
    FollowUpRequest: MessageType.FOLLOW_UP_REQUEST,
}


def _envelope_of(msg: interpol.InterpolMessage) -> Envelope:
    """The request as the responder takes it: the same header fields, a Prüm message type."""
    body = msg.body
    assert isinstance(body, DnaSearchRequest | FaceSearchRequest | FollowUpRequest)
    kind = _RESPONDER_TYPES[type(body)]
    header = Header(
        msg.message_id,
        msg.correlation_id,
        msg.timestamp,
        msg.sender,
        msg.receiver,
        kind,
        msg.purpose,
    )
    return Envelope(header, body)


def _xml_error(
    node: Node,
    code: ErrorCode,
    text: str,
    field: str | None,
    to: str = "XX",
    correlation: str | None = None,
    purpose: Purpose = Purpose.INVESTIGATION,
) -> bytes:
    body = ErrorBody(code, text[:500], field[:500] if field else None)
    msg = interpol.InterpolMessage(
        str(uuid.uuid4()),
        correlation or str(uuid.uuid4()),
        node.clock(),
        NODE_ID,
        to,
        purpose,
        body,
    )
    return interpol.encode_xml(msg)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_handler(node: Node, lists: Watchlist) -> Handler:
    async def receive(request: web.Request) -> web.Response:
        try:
            raw = await read_capped(request.content, 8 * 1024 * 1024)
        except BodyTooLarge as exc:
            return web.Response(
                body=_xml_error(node, ErrorCode.SCHEMA_INVALID, str(exc), None),
                status=413,
                content_type="application/xml",
            )
        if interpol_int_i.is_int_i(raw):
            return interpol_int_i.answer(node, raw, request)
        try:
            message = interpol.decode(raw)
        except CodecError as exc:
            return web.Response(
                body=_xml_error(node, ErrorCode.SCHEMA_INVALID, exc.reason, exc.field),
                status=400,
                content_type="application/xml",
            )
        if isinstance(message, Envelope):  # ANSI/NIST: a fingerprint search
            return _answer_envelope(node, message)
        sender = message.sender
        claim = node.store.claim_message(sender, message.message_id, now=node.clock())
        if not claim.first:
            if claim.reply is None:
                return web.Response(status=503, headers={"Retry-After": "1"})
            return web.Response(body=claim.reply, content_type="application/xml")
        if isinstance(message.body, interpol.NominalCheck):
            if node.config.partner(sender) is None:
                data = _xml_error(
                    node,
                    ErrorCode.UNAUTHORISED_SENDER,
                    f"{sender} is not a member here",
                    "/Message/Header/Sender",
                    sender,
                    message.correlation_id,
                    message.purpose,
                )
            else:
                reply = nominal_matches(message.body, lists)
                data = interpol.encode_xml(
                    interpol.InterpolMessage(
                        str(uuid.uuid4()),
                        message.correlation_id,
                        node.clock(),
                        NODE_ID,
                        sender,
                        message.purpose,
                        reply,
                    )
                )
        elif isinstance(message.body, DnaSearchRequest | FaceSearchRequest | FollowUpRequest):
            outcome = node.responder.respond(_envelope_of(message), str(uuid.uuid4()), node.clock())
            r = outcome.reply
            assert isinstance(r.body, SearchReply | FollowUpReply | ErrorBody)  # respond() gives
            data = interpol.encode_xml(
                interpol.InterpolMessage(
                    r.header.message_id,
                    r.header.correlation_id,
                    r.header.timestamp,
                    NODE_ID,
                    r.header.receiver,
                    r.header.purpose,
                    r.body,
                )
            )
        else:
            data = _xml_error(
                node,
                ErrorCode.SCHEMA_INVALID,
                "not a request",
                "/Message/Body",
                sender,
                message.correlation_id,
                message.purpose,
            )
        stored = node.store.remember_reply(sender, message.message_id, data, now=node.clock())
        return web.Response(body=stored, content_type="application/xml")

    return receive


def _answer_envelope(node: Node, envelope: Envelope) -> web.Response:
    h = envelope.header
    claim = node.store.claim_message(h.sender, h.message_id, now=node.clock())
    if not claim.first:
        if claim.reply is None:
            return web.Response(status=503, headers={"Retry-After": "1"})
        return web.Response(body=claim.reply, content_type="application/octet-stream")
    outcome = node.responder.respond(envelope, str(uuid.uuid4()), node.clock())
    data = node.store.remember_reply(
        h.sender, h.message_id, ansi_nist.encode(outcome.reply), now=node.clock()
    )
    return web.Response(body=data, content_type="application/octet-stream")


@dataclass
class InterpolNode:
    node: Node
    port: int
    lists: Watchlist
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/interpol/v1/messages"


@contextlib.asynccontextmanager
async def running_interpol_node(
    config: GatewayConfig,
    seed: int,
    subjects: Sequence[int],
    port: int = 0,
    middlewares: Sequence[Middleware] = (),
) -> AsyncIterator[InterpolNode]:
    async with running_node(config) as node:
        if len(node.gallery) == 0:
            for person in population.people(seed, list(subjects), NODE_ID):
                node.enrol(person.record.reference or str(person.subject), person.record)
        lists = watchlist(seed, subjects)
        app = web.Application(client_max_size=8 * 1024 * 1024 + 1, middlewares=list(middlewares))
        app.router.add_post("/interpol/v1/messages", make_handler(node, lists))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        tls = ssl_server_context(config.tls) if config.tls is not None else None
        site = PartnerSite(
            runner, "127.0.0.1", port, ssl_context=tls, handshake_timeout_s=config.idle_timeout_s
        )
        await site.start()
        try:
            scheme = "https" if config.tls is not None else "http"
            yield InterpolNode(node, int(runner.addresses[0][1]), lists, scheme)
        finally:
            await runner.cleanup()
