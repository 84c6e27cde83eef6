"""Fan-out: one search sent to its partners concurrently, their answers gathered into one.

A pipeline of small steps (STYLE.md §2), each a function:
`build_bodies` (one body per modality, `search_bodies`) → `plan_messages` (every partner's
messages in its dialect) → `reserve_and_audit_sends` and `apply_capacity` (outbound daily
capacity, every send audited, one commit; `search_plan`) → `exchange_one` (the one way
out, `send.send_and_read`: batch, send with retries and breaker, read) → `partner_status`
(one status per partner) → `search_status` (one status per search).

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
from exchange.gateway.node import Node
from exchange.gateway.outbound.messages import Answer, Outgoing
from exchange.gateway.outbound.partner_client import PartnerError
from exchange.gateway.outbound.search_bodies import build_bodies
from exchange.gateway.outbound.search_plan import (
    PartnerPlan,
    apply_capacity,
    busy_partners,
    plan_messages,
    reserve_and_audit_sends,
    sent_entry,
)
from exchange.gateway.outbound.send import send_and_read
from exchange.gateway.state.audit import AuditEntry, Direction, Outcome
from exchange.gateway.state.rows import ModalityOutcome, PartnerStatus, SearchRow, SearchStatus
from exchange.model import PersonRecord


def carries_images(record: PersonRecord) -> bool:
    """Whether the record's messages carry images (a face picture, prints as images): each
    Prüm message is then hundreds of kB to build, validate and serialise, which lxml does with
    the GIL released, so the gateway does it in a thread and light searches are not held up."""
    if record.face is not None and record.face.image is not None:
        return True
    prints = record.fingerprints
    return prints is not None and any(f.image is not None for f in prints.fingers)


ANSWERED = frozenset({PartnerStatus.HIT, PartnerStatus.NO_HIT})
REFUSED = frozenset({PartnerStatus.REJECTED, PartnerStatus.QUOTA_EXCEEDED})
# The order in which a partner's per-modality answers tell its one status: the first found.
# A hit in any modality is `hit`; then a modality not answered (`timeout`, `error`); then an
# answer (`no_hit`), which a refusal of another modality does not hide; a partner that
# refused everything asked of it is `quota_exceeded` or `rejected`. (The OpenAPI document
# states this rule; each modality's own answer is in the result's `modalities`.)
TELLING = (
    PartnerStatus.HIT,
    PartnerStatus.TIMEOUT,
    PartnerStatus.ERROR,
    PartnerStatus.NO_HIT,
    PartnerStatus.QUOTA_EXCEEDED,
    PartnerStatus.REJECTED,
)
AUDIT_OUTCOME = {
    PartnerStatus.HIT: Outcome.HIT,
    PartnerStatus.NO_HIT: Outcome.NO_HIT,
    PartnerStatus.TIMEOUT: Outcome.TIMEOUT,
    PartnerStatus.REJECTED: Outcome.REFUSED,
    PartnerStatus.QUOTA_EXCEEDED: Outcome.REFUSED,
}


def _failed(msg: Outgoing, status: PartnerStatus, error: str) -> Answer:
    return Answer(modality=msg.modality, status=status, error=error)


async def exchange_one(
    node: Node, partner: str, msg: Outgoing, deadline: float, search_id: str
) -> Answer:
    """Send one message to one partner (or its probe in a batch) and read the answer.

    Never raises: a partner that cannot be reached, an unreadable reply, even a bug of ours
    is this partner's answer, not the search's end.
    """

    async def audit_alone() -> None:  # planned for a batch, goes alone: audited now
        entry = sent_entry(node, Direction.SENT, partner, msg, Outcome.ACCEPTED)
        await node.writes.run(lambda: node.audit.append_many([entry]))

    before_alone = audit_alone if msg.resend_in is not None else None
    try:
        answer = await send_and_read(node.links[partner], msg, deadline, search_id, before_alone)
    except PartnerError as exc:
        status = PartnerStatus.TIMEOUT if exc.timeout else PartnerStatus.ERROR
        answer = _failed(msg, status, exc.reason)
    except CodecError as exc:
        answer = _failed(msg, PartnerStatus.ERROR, f"invalid reply: {exc}")
    except Exception as exc:  # a bug of ours: this partner's answer is lost, not the search
        node.log.error("partner_exchange_failed", partner=partner, error=type(exc).__name__)
        answer = _failed(msg, PartnerStatus.ERROR, f"internal error: {type(exc).__name__}")
    if answer.status not in ANSWERED:  # answers are summed up in `search_finished`'s line
        node.log.info(
            "partner_answer",
            partner=partner,
            modality=msg.modality.value,
            message_id=answer.via or msg.message_id,
            status=answer.status,
            error=answer.error,
        )
    return answer


def partner_status(answers: Sequence[Answer]) -> tuple[PartnerStatus, str | None]:
    """One status for a partner from its per-modality answers: the most telling wins."""
    if not answers:
        return PartnerStatus.REJECTED, "the partner searches none of the requested modalities"
    for status in TELLING:
        if any(a.status == status for a in answers):
            # A `no_hit` beside refused modalities says why those were refused.
            telling = REFUSED if status is PartnerStatus.NO_HIT else {status}
            errors = [a.error for a in answers if a.status in telling and a.error]
            return status, "; ".join(errors) or None
    return PartnerStatus.NO_HIT, None


def outcomes_of(answers: Sequence[Answer]) -> tuple[ModalityOutcome, ...]:
    """Each modality's answer, in the order the answers came."""
    return tuple(ModalityOutcome(a.modality, a.status, a.error) for a in answers)


def search_status(statuses: Sequence[PartnerStatus]) -> SearchStatus:
    """Complete when every partner answered; partial when some did; failed when none did."""
    if all(s in ANSWERED or s in REFUSED for s in statuses):
        return SearchStatus.COMPLETE
    if any(s in ANSWERED for s in statuses):
        return SearchStatus.PARTIAL
    return SearchStatus.FAILED


async def serve_partner(
    node: Node, search: SearchRow, plan: PartnerPlan, deadline: float
) -> PartnerStatus:
    """Send one partner its messages (capacity already taken); record and return its status."""
    partner = plan.partner
    answers = list(plan.answers)
    received: list[AuditEntry] = []
    status: PartnerStatus
    error: str | None
    if plan.cfg is None:
        status, error = PartnerStatus.REJECTED, "unknown partner"
    else:
        to_send, sid = plan.to_send, search.search_id
        if len(to_send) == 1:  # the common case: no gather, no extra task per partner
            replies = [await exchange_one(node, partner, to_send[0], deadline, sid)]
        else:
            replies = await asyncio.gather(
                *(exchange_one(node, partner, m, deadline, sid) for m in to_send)
            )
        answers.extend(replies)
        received = [
            sent_entry(
                node,
                Direction.RECEIVED,
                partner,
                m,
                AUDIT_OUTCOME.get(r.status, Outcome.ERROR),
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
            search.search_id,
            partner,
            status,
            now=node.clock(),
            error=error,
            hits=hits,
            outcomes=outcomes_of(answers),
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
    pending = PartnerStatus.PENDING
    final = search_status(
        [PartnerStatus.ERROR if r.status is pending else r.status for r in search.results]
    )

    def finish() -> None:
        for r in search.results:
            if r.status is pending:
                node.store.set_partner_result(
                    search.search_id, r.partner, PartnerStatus.ERROR, now=node.clock(), error=reason
                )
        node.store.close_search(search.search_id, final, now=node.clock())

    await node.writes.run(finish)
    node.log.error("resumed_search_unreadable", field=field)  # the field, never the value
    node.searches.ended(search.search_id)
    structlog.contextvars.unbind_contextvars("correlation_id", "search_id")


async def _gather(
    node: Node, search: SearchRow, plans: Sequence[PartnerPlan], deadline: float
) -> tuple[dict[str, PartnerStatus], list[tuple[str, str]]]:
    """Serve every partner at once until the deadline: each one's status, and the partners
    whose answer could not be recorded (they end `error` with the search)."""
    loop = asyncio.get_running_loop()
    tasks = {
        asyncio.create_task(serve_partner(node, search, p, deadline)): p.partner for p in plans
    }
    statuses: dict[str, PartnerStatus] = {
        r.partner: r.status for r in search.results if r.status is not PartnerStatus.PENDING
    }
    unrecorded: list[tuple[str, str]] = []
    if not tasks:
        return statuses, unrecorded
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
        statuses[partner] = PartnerStatus.ERROR
        unrecorded.append((partner, f"internal error: {type(exc).__name__}"))
    for task in late:
        task.cancel()
        partner = tasks[task]
        statuses[partner] = PartnerStatus.TIMEOUT
        node.store.set_partner_result(
            search.search_id,
            partner,
            PartnerStatus.TIMEOUT,
            now=node.clock(),
            error="no answer by the search deadline",
        )
    return statuses, unrecorded


async def _finish(
    node: Node,
    search_id: str,
    statuses: dict[str, PartnerStatus],
    unrecorded: Sequence[tuple[str, str]],
    started: float,
) -> None:
    final = search_status(list(statuses.values()))

    def finish() -> None:
        for partner, error in unrecorded:
            node.store.set_partner_result(
                search_id, partner, PartnerStatus.ERROR, now=node.clock(), error=error
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
    node.searches.ended(search_id)
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
    remaining = (search.deadline_at - node.clock()).total_seconds()
    deadline = asyncio.get_running_loop().time() + max(0.0, remaining)
    resumed = record is None
    if record is None:  # resumed after a restart: the stored record is the source
        try:
            record = uk_json.record_from_json(json.loads(search.record_json))
        except (CodecError, ValueError) as refused:
            await _end_unreadable(node, search, refused)
            return
    bodies = build_bodies(record, search.modalities, search.max_candidates)
    async with node.searches.fanning_out():  # its turn (config max_searches_fanning_out)
        # A resumed search resends its messages alone, under the ids they had
        # (partner_client), or its DNA probe under the id of the batch it went in
        # (`DnaBatcher.resend`).
        busy = frozenset() if resumed else busy_partners(node)
        pending = [r for r in search.results if r.status == "pending"]
        if carries_images(record):  # hundreds of kB to encode and validate: off the loop
            plans = await asyncio.to_thread(
                plan_messages, node, search, record, bodies, pending, busy
            )
        else:
            plans = plan_messages(node, search, record, bodies, pending, busy)
        granted = await node.writes.run(lambda: reserve_and_audit_sends(node, search, plans))
        apply_capacity(plans, granted)
        statuses, unrecorded = await _gather(node, search, plans, deadline)
        await _finish(node, search_id, statuses, unrecorded, started)
