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

import structlog

from exchange.codecs import uk_json
from exchange.codecs.errors import CodecError
from exchange.gateway.audit import AuditEntry, Direction, Outcome
from exchange.gateway.config import PartnerConfig
from exchange.gateway.dialects import (
    Answer,
    Bodies,
    Outgoing,
    SearchBody,
    interpol_outgoing,
    prum_outgoing,
)
from exchange.gateway.node import Node
from exchange.gateway.partner_client import PartnerError
from exchange.gateway.store import (
    PartnerResultRow,
    PartnerStatus,
    QuotaDirection,
    SearchRow,
    SearchStatus,
)
from exchange.model import (
    DactySearchRequest,
    DnaProbe,
    DnaSearchRequest,
    FaceSearchRequest,
    Modality,
    PersonRecord,
)
from exchange.responder import MAX_CANDIDATES
from exchange.translate import SEARCH_TYPE_BY_IMPRESSION, step1_reference

P = PartnerStatus
ANSWERED = frozenset({P.HIT, P.NO_HIT})
REFUSED = frozenset({P.REJECTED, P.QUOTA_EXCEEDED})


def build_bodies(
    record: PersonRecord, modalities: Sequence[Modality], max_candidates: int
) -> dict[Modality, SearchBody]:
    """The Prüm body for each requested modality the record can be searched with."""
    reference = step1_reference(record)
    bodies: dict[Modality, SearchBody] = {}
    if Modality.DNA in modalities and record.dna is not None:
        bodies[Modality.DNA] = DnaSearchRequest((DnaProbe(reference, record.dna),), max_candidates)
    if Modality.FINGERPRINT in modalities and record.fingerprints is not None:
        stype = SEARCH_TYPE_BY_IMPRESSION[record.fingerprints.impression]
        k = min(max_candidates, MAX_CANDIDATES[stype])
        bodies[Modality.FINGERPRINT] = DactySearchRequest(reference, stype, record.fingerprints, k)
    if Modality.FACE in modalities and record.face is not None:
        bodies[Modality.FACE] = FaceSearchRequest(reference, record.face, max_candidates)
    return bodies


def take_capacity(node: Node, cfg: PartnerConfig, search_type: str) -> bool:
    limit = cfg.capacities.get(search_type, 0)
    today = node.clock().date()
    ok = node.store.take_quota(QuotaDirection.OUTBOUND, cfg.id, search_type, today, limit)
    used = node.store.quota_used(QuotaDirection.OUTBOUND, cfg.id, search_type, today)
    node.metrics.set(
        "prum_quota_used", used, direction="outbound", partner=cfg.id, search_type=search_type
    )
    return ok


async def exchange_one(node: Node, cfg: PartnerConfig, msg: Outgoing, deadline: float) -> Answer:
    """Send one message to one partner and read its answer; never raises."""
    try:
        reply = await node.clients[cfg.id].send(msg.data, msg.content_type, deadline)
        answer = msg.read(reply.body)
    except PartnerError as exc:
        answer = Answer(msg.modality, P.TIMEOUT if exc.timeout else P.ERROR, exc.reason)
    except CodecError as exc:
        answer = Answer(msg.modality, P.ERROR, f"invalid reply: {exc}")
    node.log.info(
        "partner_answer",
        partner=cfg.id,
        modality=msg.modality.value,
        message_id=msg.message_id,
        status=answer.status,
        hits=len(answer.hits),
        error=answer.error,
    )
    return answer


def _outcome(answer: Answer) -> Outcome:
    if answer.status in REFUSED:
        return Outcome.REFUSED
    return {P.HIT: Outcome.HIT, P.NO_HIT: Outcome.NO_HIT, P.TIMEOUT: Outcome.TIMEOUT}.get(
        answer.status, Outcome.ERROR
    )


def _audit_entry(
    node: Node,
    direction: Direction,
    partner: str,
    msg: Outgoing,
    outcome: Outcome,
    refs: tuple[str, ...],
) -> AuditEntry:
    return AuditEntry(
        at=node.clock(),
        direction=direction,
        message_type=msg.message_type,
        outcome=outcome,
        actor=node.config.node_id,
        partner=partner,
        message_id=msg.message_id,
        references=refs[:100],
        purpose=msg.purpose,
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
    record: PersonRecord,
    bodies: Bodies,
    result: PartnerResultRow,
    deadline: float,
) -> PartnerStatus:
    """All of one search's messages to one partner; records and returns the partner status."""
    partner = result.partner
    cfg = node.config.partner(partner)
    answers: list[Answer] = []
    received: list[AuditEntry] = []
    status: PartnerStatus
    error: str | None
    if cfg is None:
        status, error = P.REJECTED, "unknown partner"
    else:
        now = node.clock()
        if cfg.dialect == "interpol":
            nominal = Modality.NOMINAL in search.modalities
            outgoing = interpol_outgoing(
                node.config.node_id, now, search, result, record, bodies, nominal
            )
        else:
            outgoing = prum_outgoing(node.config.node_id, now, search, result, bodies)
        to_send: list[Outgoing] = []
        with node.store.transaction():  # capacity taken and sends audited in one commit
            for msg in outgoing:
                if msg.modality not in cfg.modalities:
                    continue
                if not take_capacity(node, cfg, msg.search_type):
                    answers.append(
                        Answer(msg.modality, P.QUOTA_EXCEEDED, "outbound daily capacity used up")
                    )
                    continue
                to_send.append(msg)
            node.audit.append_many(
                [
                    _audit_entry(node, Direction.SENT, partner, m, Outcome.ACCEPTED, ())
                    for m in to_send
                ]
            )
        replies = await asyncio.gather(*(exchange_one(node, cfg, m, deadline) for m in to_send))
        answers.extend(replies)
        received = [
            _audit_entry(
                node,
                Direction.RECEIVED,
                partner,
                m,
                _outcome(r),
                tuple(h.reference for h in r.hits),
            )
            for m, r in zip(to_send, replies, strict=True)
        ]
        status, error = partner_status(answers)
    hits = [h for a in answers for h in a.hits]
    with node.store.transaction():  # the answer and its receipt in the audit log, one commit
        node.audit.append_many(received)
        node.store.set_partner_result(
            search.search_id, partner, status, now=node.clock(), error=error, hits=hits
        )
    for a in answers:
        node.metrics.inc(
            "prum_searches_total", modality=a.modality.value, partner=partner, status=a.status.value
        )
    return status


async def run_search(node: Node, search_id: str, record: PersonRecord | None = None) -> None:
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
    if record is None:  # resumed after a restart: the stored record is the source
        record = uk_json.record_from_json(json.loads(search.record_json))
    bodies = build_bodies(record, search.modalities, search.max_candidates)
    pending = {r.partner: r for r in search.results if r.status == "pending"}
    tasks = {
        asyncio.create_task(serve_partner(node, search, record, bodies, r, deadline)): p
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
