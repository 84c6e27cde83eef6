"""Fan-out: one search sent to its partners concurrently, their answers gathered into one.

A pipeline of small steps (STYLE.md §2), each a function:
`build_bodies` (one body per modality) → `plan_messages` (every partner's messages; each
Prüm body encoded once per search, only the header differs per partner) →
`reserve_and_audit_sends` (outbound daily capacity per partner and search type, taken with
`take_capacity`, `quota_exceeded` without sending; every send audited; one commit for the
whole search) → `exchange_one` (send with retries and breaker, decode, check) →
`partner_status` (one status per partner) → `search_status` (one status per search).

The search has one deadline. A partner still unanswered then is `timeout`, and the search
ends `partial`; it never hangs. Every message is audited when sent and when its answer is
received.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from exchange.capacities import MAX_CANDIDATES, SEARCH_TYPE_BY_IMPRESSION
from exchange.codecs import uk_json
from exchange.codecs.errors import CodecError
from exchange.gateway.config import PartnerConfig
from exchange.gateway.node import Node
from exchange.gateway.outbound.dialects import (
    Answer,
    Bodies,
    Outgoing,
    SearchBody,
    interpol_outgoing,
    prum_outgoing,
)
from exchange.gateway.outbound.partner_client import PartnerError
from exchange.gateway.state.audit import AuditEntry, Direction, Outcome
from exchange.gateway.state.store import (
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
from exchange.records import step1_reference

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
    """Count one outbound search against the partner's daily capacity; False when spent."""
    limit = cfg.capacities.get(search_type, 0)
    used = node.store.count_quota(
        QuotaDirection.OUTBOUND, cfg.id, search_type, node.clock().date(), limit
    )
    if used is not None:
        node.metrics.set(
            "prum_quota_used", used, direction="outbound", partner=cfg.id, search_type=search_type
        )
    return used is not None


def busy_partners(node: Node) -> frozenset[str]:
    """Partners whose new DNA searches wait for a batch (`dna_batch`): we have a message in
    flight to them, or searches already waiting.

    Decided before a search is planned, so its batched messages are never encoded alone,
    and its commit audits only the messages that go alone (a batch is audited when it goes).
    """
    return frozenset(p for p, b in node.batchers.items() if b.congested())


async def exchange_one(
    node: Node, cfg: PartnerConfig, msg: Outgoing, deadline: float, search_id: str
) -> Answer:
    """Send one message to one partner (or its probe in a batch) and read the answer.

    Never raises.
    """
    batcher = node.batchers.get(cfg.id) if msg.probe is not None else None
    try:
        if msg.batched and batcher is not None:
            answer = await batcher.join(msg, deadline, search_id)
        elif (
            msg.resend_in is not None
            and batcher is not None
            and (resent := await batcher.resend(msg, deadline, search_id)) is not None
        ):
            answer = resent
        else:
            if msg.resend_in is not None:  # goes alone after all: audited now, not when planned
                entry = _audit_entry(node, Direction.SENT, cfg.id, msg, Outcome.ACCEPTED, ())
                await node.writes.run(lambda: node.audit.append_many([entry]))
            with batcher.lane() if batcher is not None else contextlib.nullcontext():
                reply = await node.clients[cfg.id].send(msg.data, msg.content_type, deadline)
            answer = msg.read(reply.body)
    except PartnerError as exc:
        answer = Answer(msg.modality, P.TIMEOUT if exc.timeout else P.ERROR, exc.reason)
    except CodecError as exc:
        answer = Answer(msg.modality, P.ERROR, f"invalid reply: {exc}")
    except Exception as exc:  # a bug of ours: this partner's answer is lost, not the search
        node.log.error("partner_exchange_failed", partner=cfg.id, error=type(exc).__name__)
        answer = Answer(msg.modality, P.ERROR, f"internal error: {type(exc).__name__}")
    if answer.status not in ANSWERED:  # answers are summed up in `search_finished`'s line
        node.log.info(
            "partner_answer",
            partner=cfg.id,
            modality=msg.modality.value,
            message_id=answer.via or msg.message_id,
            status=answer.status,
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
    message_id: str | None = None,
) -> AuditEntry:
    return AuditEntry(
        at=node.clock(),
        direction=direction,
        message_type=msg.message_type,
        outcome=outcome,
        actor=node.config.node_id,
        partner=partner,
        message_id=message_id or msg.message_id,
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


@dataclass(slots=True)
class PartnerPlan:
    """One partner's part of a search: what to send, and answers known before sending."""

    partner: str
    cfg: PartnerConfig | None
    to_send: list[Outgoing] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)


def plan_messages(
    node: Node,
    search: SearchRow,
    record: PersonRecord,
    bodies: Bodies,
    pending: Sequence[PartnerResultRow],
    busy: frozenset[str] = frozenset(),
) -> list[PartnerPlan]:
    """Every partner's messages; the Prüm ones share one body per modality (built once).

    DNA searches to the `busy` partners are left for their batch, not encoded alone.
    """
    now = node.clock()
    plans = [PartnerPlan(r.partner, node.config.partner(r.partner)) for r in pending]
    by_partner = {r.partner: r for r in pending}
    prum = [
        by_partner[p.partner] for p in plans if p.cfg is not None and p.cfg.dialect != "interpol"
    ]
    messages = prum_outgoing(node.config.node_id, now, search, prum, bodies, busy) if prum else {}
    nominal = Modality.NOMINAL in search.modalities
    for plan in plans:
        if plan.cfg is None:
            continue
        if plan.cfg.dialect == "interpol":
            result = by_partner[plan.partner]
            outgoing = interpol_outgoing(
                node.config.node_id, now, search, result, record, bodies, nominal
            )
        else:
            outgoing = messages[plan.partner]
        plan.to_send = [m for m in outgoing if m.modality in plan.cfg.modalities]
    return plans


def reserve_and_audit_sends(
    node: Node, search: SearchRow, plans: Sequence[PartnerPlan]
) -> list[list[bool]]:
    """Take outbound capacity for every message and audit the ones sent, in one commit.

    Batched messages are audited by their batch instead, under its message id, when it goes
    (`dna_batch`); so are a resumed search's probes that ask again under their batch's id.
    A search resumed after this commit (`fanned_out_at`) resends under the same ids what the
    partners count once: its capacity is not taken again (a message refused the first time
    but not yet recorded as such then goes; the partner's own capacity still applies).

    Returns, per plan and message, whether it may be sent; changes nothing in `plans`, so
    group commit can run it again if its transaction has to be replayed.
    """
    counted = search.fanned_out_at is not None
    with node.store.transaction():
        sent: list[AuditEntry] = []
        granted: list[list[bool]] = []
        for plan in plans:
            cfg = plan.cfg
            ok = [
                cfg is not None and (counted or take_capacity(node, cfg, m.search_type))
                for m in plan.to_send
            ]
            granted.append(ok)
            sent.extend(
                _audit_entry(node, Direction.SENT, plan.partner, m, Outcome.ACCEPTED, ())
                for m, yes in zip(plan.to_send, ok, strict=True)
                if yes and not m.batched and m.resend_in is None
            )
        node.audit.append_many(sent)
        if not counted:
            node.store.mark_fanned_out(search.search_id, now=node.clock())
    return granted


def apply_capacity(plans: Sequence[PartnerPlan], granted: Sequence[Sequence[bool]]) -> None:
    """Messages refused for capacity become `quota_exceeded` answers and are not sent."""
    for plan, ok in zip(plans, granted, strict=True):
        refused = [m for m, yes in zip(plan.to_send, ok, strict=True) if not yes]
        plan.answers.extend(
            Answer(m.modality, P.QUOTA_EXCEEDED, "outbound daily capacity used up") for m in refused
        )
        plan.to_send = [m for m, yes in zip(plan.to_send, ok, strict=True) if yes]


async def serve_partner(
    node: Node,
    search: SearchRow,
    plan: PartnerPlan,
    deadline: float,
) -> PartnerStatus:
    """Send one partner its messages (capacity already taken); record and return its status."""
    partner = plan.partner
    answers = list(plan.answers)
    received: list[AuditEntry] = []
    status: PartnerStatus
    error: str | None
    if plan.cfg is None:
        status, error = P.REJECTED, "unknown partner"
    else:
        cfg = plan.cfg
        to_send = plan.to_send
        sid = search.search_id
        if len(to_send) == 1:  # the common case: no gather, no extra task per partner
            replies = [await exchange_one(node, cfg, to_send[0], deadline, sid)]
        else:
            replies = await asyncio.gather(
                *(exchange_one(node, cfg, m, deadline, sid) for m in to_send)
            )
        answers.extend(replies)
        received = [
            _audit_entry(
                node,
                Direction.RECEIVED,
                partner,
                m,
                _outcome(r),
                tuple(h.reference for h in r.hits),
                r.via,
            )
            for m, r in zip(to_send, replies, strict=True)
        ]
        status, error = partner_status(answers)
    hits = [h for a in answers for h in a.hits]

    def record() -> None:  # the answer and its receipt in the audit log, one commit
        node.audit.append_many(received)
        node.store.set_partner_result(
            search.search_id, partner, status, now=node.clock(), error=error, hits=hits
        )

    await node.writes.run(record)
    for a in answers:
        node.metrics.inc(
            "prum_searches_total", modality=a.modality.value, partner=partner, status=a.status.value
        )
    return status


async def _end_unreadable(node: Node, search: SearchRow, exc: Exception) -> None:
    """End a resumed search whose stored record this version no longer accepts (a rule
    tightened since it was stored): nothing is sent, every pending partner is `error`, and
    the search ends instead of failing again at every restart."""
    field = exc.field if isinstance(exc, CodecError) else "record"
    reason = f"stored record no longer accepted ({field}); nothing was sent"
    final = search_status([P.ERROR if r.status is P.PENDING else r.status for r in search.results])

    def finish() -> None:
        for r in search.results:
            if r.status is P.PENDING:
                node.store.set_partner_result(
                    search.search_id, r.partner, P.ERROR, now=node.clock(), error=reason
                )
        node.store.close_search(search.search_id, final, now=node.clock())

    await node.writes.run(finish)
    node.log.error("resumed_search_unreadable", field=field)  # the field, never the value
    node.search_ended(search.search_id)
    structlog.contextvars.unbind_contextvars("correlation_id", "search_id")


async def run_search(
    node: Node,
    search_id: str,
    record: PersonRecord | None = None,
    search: SearchRow | None = None,
) -> None:
    """Fan a stored search out to its partners and record how it ended.

    `record` and `search` save a decode and a read when the caller has just stored them.
    """
    if search is None or search.search_id != search_id:
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
    resumed = record is None
    if record is None:  # resumed after a restart: the stored record is the source
        try:
            record = uk_json.record_from_json(json.loads(search.record_json))
        except (CodecError, ValueError) as refused:
            await _end_unreadable(node, search, refused)
            return
    bodies = build_bodies(record, search.modalities, search.max_candidates)
    # A resumed search resends its messages alone, under the ids they had (partner_client),
    # or its DNA probe under the id of the batch it went in (`DnaBatcher.resend`).
    busy = frozenset() if resumed else busy_partners(node)
    pending = [r for r in search.results if r.status == "pending"]
    plans = plan_messages(node, search, record, bodies, pending, busy)
    granted = await node.writes.run(lambda: reserve_and_audit_sends(node, search, plans))
    apply_capacity(plans, granted)
    tasks = {
        asyncio.create_task(serve_partner(node, search, p, deadline)): p.partner for p in plans
    }
    statuses: dict[str, PartnerStatus] = {
        r.partner: r.status for r in search.results if r.status is not P.PENDING
    }
    unrecorded: list[tuple[str, str]] = []
    if tasks:
        done, late = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()) + 0.05)
        for task in done:
            partner = tasks[task]
            exc = task.exception()
            if exc is None:
                statuses[partner] = task.result()
                continue
            # Its answer could not be recorded (a failed write): that partner ends `error`
            # with the search's end, rather than the whole search staying pending.
            node.log.error("partner_result_not_recorded", partner=partner, error=type(exc).__name__)
            statuses[partner] = P.ERROR
            unrecorded.append((partner, f"internal error: {type(exc).__name__}"))
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

    def finish() -> None:
        for partner, error in unrecorded:
            node.store.set_partner_result(
                search_id, partner, P.ERROR, now=node.clock(), error=error
            )
        node.store.close_search(search_id, final, now=node.clock())

    await node.writes.run(finish)
    node.metrics.observe("prum_search_seconds", time.perf_counter() - started)
    # One line per search, not one per partner answer: a JSON log line costs about 15 µs of
    # the event loop. Failures keep their own `partner_answer` line with the reason; the
    # message ids of the answers are in the audit log.
    node.log.info(
        "search_finished", status=final, partners={p: s.value for p, s in statuses.items()}
    )
    node.search_ended(search_id)
    structlog.contextvars.unbind_contextvars("correlation_id", "search_id")
