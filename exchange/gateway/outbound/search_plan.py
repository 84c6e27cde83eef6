"""A search's plan: each partner's messages, and the outbound capacity they take.

The first steps of the fan-out (`outbound.fanout`), each a function:
`plan_messages` (every partner's messages, in the dialect it speaks; each Prüm body encoded
once per search, only the header differs per partner) → `reserve_and_audit_sends` (outbound
daily capacity per partner and search type, taken with `take_capacity`; every send audited;
one commit for the whole search) → `apply_capacity` (a message refused for capacity is
`quota_exceeded` without sending).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from exchange.gateway.config import PartnerConfig
from exchange.gateway.node import Node
from exchange.gateway.outbound.dialects import interpol, prum
from exchange.gateway.outbound.messages import Answer, Outgoing
from exchange.gateway.outbound.search_bodies import SearchBodies
from exchange.gateway.state.audit import AuditEntry, Direction, Outcome
from exchange.gateway.state.rows import PartnerResultRow, PartnerStatus, SearchRow
from exchange.gateway.state.store import QuotaDirection
from exchange.model import Modality, PersonRecord


@dataclass(slots=True)
class PartnerPlan:
    """One partner's part of a search: what to send, and answers known before sending."""

    partner: str
    cfg: PartnerConfig | None
    to_send: list[Outgoing] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)


def busy_partners(node: Node) -> frozenset[str]:
    """Partners whose new DNA searches wait for a batch (`dna_batch`): we have a message in
    flight to them, or searches already waiting.

    Decided before a search is planned, so its batched messages are never encoded alone,
    and its commit audits only the messages that go alone (a batch is audited when it goes).
    """
    return frozenset(
        p for p, link in node.links.items() if link.batcher is not None and link.batcher.congested()
    )


def plan_messages(
    node: Node,
    search: SearchRow,
    record: PersonRecord,
    bodies: SearchBodies,
    pending: Sequence[PartnerResultRow],
    busy: frozenset[str] = frozenset(),
) -> list[PartnerPlan]:
    """Every partner's messages in its dialect; the Prüm ones share one body per modality.

    DNA searches to the `busy` partners are left for their batch, not encoded alone.
    """
    now = node.clock()
    node_id = node.config.node_id
    plans = [PartnerPlan(r.partner, node.config.partner(r.partner)) for r in pending]
    by_partner = {r.partner: r for r in pending}
    speaks_prum = [
        by_partner[p.partner] for p in plans if p.cfg is not None and p.cfg.dialect == "prum"
    ]
    shared = (
        prum.search_messages(node_id, now, search, speaks_prum, bodies, busy) if speaks_prum else {}
    )
    nominal = Modality.NOMINAL in search.modalities
    for plan in plans:
        if plan.cfg is None:
            continue
        if plan.cfg.dialect == "interpol":
            result = by_partner[plan.partner]
            outgoing = interpol.search_messages(
                node_id, now, search, result, record, bodies, nominal, plan.cfg.profile
            )
            if Modality.FINGERPRINT in plan.cfg.modalities:
                plan.answers.extend(interpol.unsent_answers(bodies, plan.cfg.profile))
        else:
            outgoing = shared[plan.partner]
        plan.to_send = [m for m in outgoing if m.modality in plan.cfg.modalities]
    return plans


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


def sent_entry(
    node: Node,
    direction: Direction,
    partner: str,
    msg: Outgoing,
    outcome: Outcome,
    refs: tuple[str, ...] = (),
    message_id: str | None = None,
) -> AuditEntry:
    """The audit entry of a message to a partner (`sent`) or of its answer (`received`)."""
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
                sent_entry(node, Direction.SENT, plan.partner, m, Outcome.ACCEPTED)
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
            Answer(
                modality=m.modality,
                status=PartnerStatus.QUOTA_EXCEEDED,
                error="outbound daily capacity used up",
            )
            for m in refused
        )
        plan.to_send = [m for m, yes in zip(plan.to_send, ok, strict=True) if yes]
