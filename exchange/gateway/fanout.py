"""Fan-out: one search sent to its partners concurrently, their answers gathered into one.

A pipeline of small steps (STYLE.md §2), each a function:
`plan` (which messages, per partner and modality, with which search type) →
`build_bodies` (each Prüm body built once per search; only the header differs per partner) →
`take_capacity` (outbound daily capacity per partner and search type; `quota_exceeded`
without sending) → `exchange_one` (send with retries and breaker, decode, check) →
`partner_status` (one status per partner) → `search_status` (one status per search).

The search has one deadline. A partner still unanswered then is `timeout`, and the search
ends `partial`; it never hangs. Every message is audited when sent and when its answer is
received.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from exchange.codecs import prum_xml, uk_json
from exchange.codecs.errors import CodecError
from exchange.gateway.audit import AuditEntry, Direction, Outcome
from exchange.gateway.config import PartnerConfig
from exchange.gateway.node import Node
from exchange.gateway.partner_client import PartnerError
from exchange.gateway.store import (
    NewHit,
    PartnerResultRow,
    PartnerStatus,
    QuotaDirection,
    SearchRow,
    SearchStatus,
)
from exchange.model import (
    Body,
    DactySearchRequest,
    DnaProbe,
    DnaSearchRequest,
    Envelope,
    ErrorBody,
    ErrorCode,
    FaceSearchRequest,
    Header,
    Modality,
    PersonRecord,
    SearchReply,
)
from exchange.responder import MAX_CANDIDATES, search_type_of
from exchange.translate import SEARCH_TYPE_BY_IMPRESSION, step1_reference

P = PartnerStatus
ANSWERED = frozenset({P.HIT, P.NO_HIT})
REFUSED = frozenset({P.REJECTED, P.QUOTA_EXCEEDED})


@dataclass(frozen=True, slots=True)
class Answer:
    """What came back for one message (one partner, one modality)."""

    modality: Modality
    status: PartnerStatus
    error: str | None = None
    hits: tuple[NewHit, ...] = ()


def build_bodies(
    record: PersonRecord, modalities: Sequence[Modality], max_candidates: int
) -> dict[Modality, Body]:
    """The Prüm body for each requested modality the record can be searched with."""
    reference = step1_reference(record)
    bodies: dict[Modality, Body] = {}
    if Modality.DNA in modalities and record.dna is not None:
        bodies[Modality.DNA] = DnaSearchRequest((DnaProbe(reference, record.dna),), max_candidates)
    if Modality.FINGERPRINT in modalities and record.fingerprints is not None:
        stype = SEARCH_TYPE_BY_IMPRESSION[record.fingerprints.impression]
        k = min(max_candidates, MAX_CANDIDATES[stype])
        bodies[Modality.FINGERPRINT] = DactySearchRequest(reference, stype, record.fingerprints, k)
    if Modality.FACE in modalities and record.face is not None:
        bodies[Modality.FACE] = FaceSearchRequest(reference, record.face, max_candidates)
    return bodies


def _envelope(
    node: Node, search: SearchRow, result: PartnerResultRow, modality: Modality, body: Body
) -> Envelope:
    header = Header(
        message_id=result.message_id_for(modality),
        correlation_id=search.correlation_id,
        timestamp=node.clock(),
        sender=node.config.node_id,
        receiver=result.partner,
        message_type=prum_xml.message_type_of(body),
        purpose=search.purpose,
    )
    return Envelope(header, body)


def take_capacity(node: Node, cfg: PartnerConfig, body: Body) -> bool:
    assert isinstance(body, DnaSearchRequest | DactySearchRequest | FaceSearchRequest)
    stype = search_type_of(body)
    limit = cfg.capacities.get(stype, 0)
    today = node.clock().date()
    ok = node.store.take_quota(QuotaDirection.OUTBOUND, cfg.id, stype, today, limit)
    used = node.store.quota_used(QuotaDirection.OUTBOUND, cfg.id, stype, today)
    node.metrics.set(
        "prum_quota_used", used, direction="outbound", partner=cfg.id, search_type=stype
    )
    return ok


def read_reply(env: Envelope, request: Envelope, modality: Modality) -> Answer:
    """Check a partner's reply against the request and turn it into an Answer."""
    h, rh = env.header, request.header
    if h.sender != rh.receiver or h.receiver != rh.sender:
        return Answer(
            modality, P.ERROR, f"reply from {h.sender} to {h.receiver}, expected {rh.receiver}"
        )
    if h.correlation_id != rh.correlation_id:
        return Answer(modality, P.ERROR, "reply carries another correlation id")
    body = env.body
    if isinstance(body, ErrorBody):
        if body.code is ErrorCode.QUOTA_EXCEEDED:
            return Answer(modality, P.QUOTA_EXCEEDED, body.message)
        return Answer(modality, P.REJECTED, f"{body.code.value}: {body.message}")
    if not isinstance(body, SearchReply) or body.request_message_id != rh.message_id:
        return Answer(modality, P.ERROR, "reply does not answer this request")
    hits = tuple(
        NewHit(modality, c.reference, c.score, c.match_type, c.wildcard)
        for r in body.results
        for c in r.candidates
    )
    return Answer(modality, P.HIT if hits else P.NO_HIT, hits=hits)


async def exchange_one(
    node: Node, cfg: PartnerConfig, request: Envelope, modality: Modality, deadline: float
) -> Answer:
    """Send one request to one partner and read its answer; never raises."""
    log = node.log.bind(
        partner=cfg.id, modality=modality.value, message_id=request.header.message_id
    )
    data = prum_xml.encode(request)
    client = node.clients[cfg.id]
    _audit(node, Direction.SENT, cfg.id, request, Outcome.ACCEPTED, ())
    try:
        reply = await client.send(data, "application/xml", deadline)
        answer = read_reply(prum_xml.decode(reply.body), request, modality)
    except PartnerError as exc:
        answer = Answer(modality, P.TIMEOUT if exc.timeout else P.ERROR, exc.reason)
    except CodecError as exc:
        answer = Answer(modality, P.ERROR, f"invalid reply: {exc}")
    log.info("partner_answer", status=answer.status, hits=len(answer.hits), error=answer.error)
    outcome = {P.HIT: Outcome.HIT, P.NO_HIT: Outcome.NO_HIT, P.TIMEOUT: Outcome.TIMEOUT}.get(
        answer.status,
        Outcome.REFUSED if answer.status in REFUSED else Outcome.ERROR,
    )
    _audit(
        node, Direction.RECEIVED, cfg.id, request, outcome, tuple(h.reference for h in answer.hits)
    )
    return answer


def _audit(
    node: Node,
    direction: Direction,
    partner: str,
    request: Envelope,
    outcome: Outcome,
    refs: tuple[str, ...],
) -> None:
    node.record_audit(
        AuditEntry(
            at=node.clock(),
            direction=direction,
            message_type=request.header.message_type,
            outcome=outcome,
            actor=node.config.node_id,
            partner=partner,
            message_id=request.header.message_id,
            references=refs[:100],
            purpose=request.header.purpose,
        )
    )


def partner_status(answers: Sequence[Answer]) -> tuple[PartnerStatus, str | None]:
    """One status for a partner from its per-modality answers: the most telling wins."""
    if not answers:
        return P.REJECTED, "the partner searches none of the requested modalities"
    for status in (P.HIT, P.TIMEOUT, P.ERROR, P.QUOTA_EXCEEDED, P.REJECTED):
        errors = [a.error for a in answers if a.status == status and a.error]
        if any(a.status == status for a in answers):
            return status, "; ".join(errors) or None
    return P.NO_HIT, None


def search_status(statuses: Sequence[PartnerStatus]) -> SearchStatus:
    """Complete when every partner answered; partial when some did; failed when none did."""
    if all(s in ANSWERED or s in REFUSED for s in statuses):
        return SearchStatus.COMPLETE
    if any(s in ANSWERED for s in statuses):
        return SearchStatus.PARTIAL
    return SearchStatus.FAILED


async def serve_partner(
    node: Node,
    search: SearchRow,
    bodies: dict[Modality, Body],
    result: PartnerResultRow,
    deadline: float,
) -> PartnerStatus:
    """All of one search's messages to one partner; records and returns the partner status."""
    partner = result.partner
    cfg = node.config.partner(partner)
    answers: list[Answer] = []
    status: PartnerStatus
    error: str | None
    if cfg is None or cfg.dialect != "prum":
        reason = "unknown partner" if cfg is None else f"dialect {cfg.dialect} not wired yet"
        status, error = P.REJECTED, reason
    else:
        sends = []
        for modality, body in bodies.items():
            if modality not in cfg.modalities:
                continue
            if not take_capacity(node, cfg, body):
                answers.append(
                    Answer(modality, P.QUOTA_EXCEEDED, "outbound daily capacity used up")
                )
                continue
            request = _envelope(node, search, result, modality, body)
            sends.append(exchange_one(node, cfg, request, modality, deadline))
        answers.extend(await asyncio.gather(*sends))
        status, error = partner_status(answers)
    hits = [h for a in answers for h in a.hits]
    node.store.set_partner_result(
        search.search_id, partner, status, now=node.clock(), error=error, hits=hits
    )
    for modality in bodies:
        node.metrics.inc(
            "prum_searches_total", modality=modality.value, partner=partner, status=status
        )
    return status


async def run_search(node: Node, search_id: str) -> None:
    """Fan a stored search out to its partners and record how it ended."""
    search = node.store.get_search(search_id)
    if search is None or search.status != "pending" or search.record_json is None:
        return
    structlog.contextvars.bind_contextvars(
        correlation_id=search.correlation_id, search_id=search_id
    )
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    remaining = (search.deadline_at - node.clock()).total_seconds()
    deadline = loop.time() + max(0.0, remaining)
    record = uk_json.record_from_json(json.loads(search.record_json))
    bodies = build_bodies(record, search.modalities, search.max_candidates)
    pending = {r.partner: r for r in search.results if r.status == "pending"}
    tasks = {
        asyncio.create_task(serve_partner(node, search, bodies, r, deadline)): p
        for p, r in pending.items()
    }
    statuses: dict[str, PartnerStatus] = {
        r.partner: r.status for r in search.results if r.status is not P.PENDING
    }
    if tasks:
        done, late = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()) + 0.05)
        for task in done:
            statuses[tasks[task]] = task.result()
        for task in late:
            task.cancel()
            partner = tasks[task]
            statuses[partner] = P.TIMEOUT
            node.store.set_partner_result(
                search_id,
                partner,
                P.TIMEOUT,
                now=node.clock(),
                error="no answer by the search deadline",
            )
    final = search_status(list(statuses.values()))
    node.store.finish_search(search_id, final, now=node.clock())
    node.metrics.observe("prum_search_seconds", time.perf_counter() - started)
    node.log.info("search_finished", status=final, partners=len(statuses))
    node.search_event(search_id).set()
    structlog.contextvars.unbind_contextvars("correlation_id", "search_id")
