"""The simple partner node: a partner's Prüm API holding its state in memory, for load runs.

`bench gateway` measures the UK gateway, and its four partners share the gateway's cores on
one machine. The full mock partner (`mock_partners.node`) is the gateway's own node code,
with SQLite, the audit chain, group commit and on-disk quotas: right for drills, where a
partner must behave as a real node does across restarts, but each of its answers costs
about a millisecond of CPU, which a load run then takes from the gateway it measures.
Issue 5 allows a lighter one ("the simple partner node is enough here").

This node reads and answers the same messages with the same parts: the Prüm codec
(libxml2 validation of every message, both ways), the same `Responder` rules (its own
receiver, known senders, daily capacities, candidate limits, follow-ups only for references
it released to that sender within 48 h) and the same matchers on a seeded gallery. What it
leaves out: durability (its ledger, reply cache and gallery live in memory and die with it),
the audit log, mutual TLS and fault injection. A repeated message id gets the first reply.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence

from aiohttp import web

from exchange.codecs import prum_xml
from exchange.codecs.errors import CodecError
from exchange.gallery import NodeGallery, Thresholds
from exchange.gateway.config import DEFAULT_CAPACITIES
from exchange.gateway.inbound.partner_api import MAX_MESSAGE_BYTES, XML, bare_error, reply_status
from exchange.model import (
    CoreData,
    DnaSearchRequest,
    Envelope,
    ErrorCode,
    Modality,
    PersonRecord,
)
from exchange.records import core_data_of, step1_reference
from exchange.responder import NodeRules, Responder
from mock_partners import population
from mock_partners.wan import Answered, AnswerLog, LatencyModel, delayed

MAX_REMEMBERED_REPLIES = 100_000  # duplicate-id cache, oldest forgotten first


class MemoryLedger:
    """The responder's ledger (quota counts, references released) in dictionaries."""

    def __init__(self) -> None:
        self._used: collections.Counter[tuple[str, str, dt.date]] = collections.Counter()
        self._released: dict[tuple[str, str], dt.datetime] = {}

    def take_quota(
        self, partner: str, search_type: str, day: dt.date, limit: int, count: int = 1
    ) -> bool:
        key = (partner, search_type, day)
        if self._used[key] + count > limit:
            return False
        self._used[key] += count
        return True

    def record_released(
        self, sender: str, search_message_id: str, references: Sequence[str], *, at: dt.datetime
    ) -> None:
        for reference in references:
            self._released[(sender, reference)] = at

    def released_to(
        self, sender: str, reference: str, *, now: dt.datetime, within: dt.timedelta
    ) -> bool:
        at = self._released.get((sender, reference))
        return at is not None and now - at <= within


def probe_references(envelope: Envelope) -> tuple[str, ...]:
    """The references a search message asks about: each DNA probe's, or the body's one."""
    body = envelope.body
    if isinstance(body, DnaSearchRequest):
        return tuple(p.reference for p in body.probes)
    reference = getattr(body, "reference", None)
    return (reference,) if isinstance(reference, str) else ()


class SimplePartner:
    """One partner node's gallery, rules and memory; `app()` serves its Prüm API."""

    def __init__(
        self,
        node_id: str,
        records: Iterable[PersonRecord],
        *,
        senders: Sequence[str] = ("GB",),
        daily_capacity: int | None = None,
    ) -> None:
        self.node_id = node_id
        self.gallery = NodeGallery(
            feature_model=population.FEATURE_MODEL,
            face_dim=population.FACE_DIM,
            thresholds=Thresholds(),
        )
        self.records: dict[str, PersonRecord] = {}
        for record in records:
            reference = step1_reference(record)
            self.gallery.add(reference, record)
            self.records[reference] = record
        capacities = (
            dict(DEFAULT_CAPACITIES)
            if daily_capacity is None
            else dict.fromkeys(DEFAULT_CAPACITIES, daily_capacity)
        )
        known = frozenset(senders)
        rules = NodeRules(
            node_id=node_id,
            modalities=frozenset({Modality.DNA, Modality.FACE, Modality.FINGERPRINT}),
            capacities=lambda sender: capacities if sender in known else None,
            core_data=self._core_data,
        )
        self.responder = Responder(rules, self.gallery, MemoryLedger())
        self._replies: collections.OrderedDict[tuple[str, str], tuple[int, bytes]] = (
            collections.OrderedDict()
        )
        self.answered = 0  # messages answered (not from the duplicate cache)
        self.log = AnswerLog()  # with a latency model (`app`): every message's times

    def _core_data(self, reference: str) -> CoreData | None:
        record = self.records.get(reference)
        return None if record is None else core_data_of(record)

    def answer(self, raw: bytes, now: dt.datetime) -> tuple[int, bytes]:
        """The HTTP status and body for one message's bytes."""
        status, body, _ = self.answer_with_references(raw, now)
        return status, body

    def answer_with_references(
        self, raw: bytes, now: dt.datetime
    ) -> tuple[int, bytes, tuple[str, ...]]:
        """`answer`, with the probe references the message asked about (none if unreadable)."""
        try:
            envelope = prum_xml.decode(raw)
        except CodecError as exc:
            error = bare_error(self.node_id, ErrorCode.SCHEMA_INVALID, exc.reason, exc.field, now)
            return 400, error, ()
        references = probe_references(envelope)
        h = envelope.header
        key = (h.sender, h.message_id)
        cached = self._replies.get(key)
        if cached is not None:
            return (*cached, references)
        outcome = self.responder.respond(envelope, str(uuid.uuid4()), now)
        result = (reply_status(outcome.reply), prum_xml.encode(outcome.reply))
        self._replies[key] = result
        if len(self._replies) > MAX_REMEMBERED_REPLIES:
            self._replies.popitem(last=False)
        self.answered += 1
        return (*result, references)

    def app(self, latency: LatencyModel | None = None) -> web.Application:
        """The Prüm API; with `latency`, each answer held back by a draw from it, and every
        message logged (`self.log`, served at GET /wan/answers: references and times only;
        `?scale=X` multiplies every later delay by X)."""

        async def receive(request: web.Request) -> web.Response:
            try:
                raw = await request.read()
            except web.HTTPRequestEntityTooLarge:
                data = bare_error(
                    self.node_id,
                    ErrorCode.SCHEMA_INVALID,
                    "message too large",
                    None,
                    dt.datetime.now(dt.UTC),
                )
                return web.Response(body=data, status=413, content_type=XML)
            if latency is None:
                status, data = self.answer(raw, dt.datetime.now(dt.UTC))
                return web.Response(body=data, status=status, content_type=XML)
            received = time.monotonic()
            status, data, refs = self.answer_with_references(raw, dt.datetime.now(dt.UTC))
            delay = await delayed(latency, received)
            self.log.add(Answered(refs, received, delay, time.monotonic(), status))
            return web.Response(body=data, status=status, content_type=XML)

        async def answers(request: web.Request) -> web.Response:
            assert latency is not None
            scale = request.query.get("scale")
            if scale is not None:  # a bench fixture's switch: 0 for answers without latency
                try:
                    latency.scale = max(0.0, float(scale))
                except ValueError:
                    return web.json_response({"error": "scale: a number"}, status=400)
            return web.json_response(
                {"partner": self.node_id, "answers": [a.as_json() for a in self.log.entries]}
            )

        app = web.Application(client_max_size=MAX_MESSAGE_BYTES)
        app.router.add_post("/prum/v1/messages", receive)
        if latency is not None:
            app.router.add_get("/wan/answers", answers)
        return app


def seeded(
    node_id: str,
    seed: int,
    subjects: Sequence[int],
    *,
    with_fingerprints: bool = True,
    daily_capacity: int | None = None,
) -> SimplePartner:
    """A simple partner holding `subjects` of the synthetic population, as `node` seeds one."""
    people = population.people(seed, list(subjects), node_id, with_fingerprints=with_fingerprints)
    return SimplePartner(node_id, (p.record for p in people), daily_capacity=daily_capacity)


@contextlib.asynccontextmanager
async def running_simple_partner(
    partner_id: str,
    port: int,
    *,
    seed: int,
    gallery_size: int,
    offset: int = 0,
    daily_capacity: int | None = None,
    with_fingerprints: bool = True,
    latency: LatencyModel | None = None,
) -> AsyncIterator[dict[str, object]]:
    """A seeded simple partner listening on loopback; yields its ready line's fields.

    With `latency`, every answer is held back by a draw from it (`SimplePartner.app`)."""
    subjects = range(offset, offset + gallery_size)
    partner = seeded(
        partner_id,
        seed,
        subjects,
        with_fingerprints=with_fingerprints,
        daily_capacity=daily_capacity,
    )
    runner = web.AppRunner(partner.app(latency), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        bound = int(runner.addresses[0][1])
        yield {
            "partner": partner_id,
            "port": bound,
            "records": len(partner.gallery),
            "simple": True,
            **({} if latency is None else {"median_ms": round(latency.median_s * 1000, 3)}),
        }
    finally:
        await runner.cleanup()
