"""Step 2: the follow-up of a confirmed hit, sent to its partner in the partner's dialect.

Once a person has confirmed a hit (mandatory for fingerprints and faces, Council Decision
2008/615/JHA Art. 9-10 and 2024/982 second step), the requester asks the partner that
returned it for the core data behind its reference. The request goes out through the one
way out (`send.send_and_read`) in the dialect the partner speaks (`dialects`), audited when
sent; the reply's core data is audited when received and when handed to the client, in one
commit with the hit's follow-up mark.

A hit that brought its core data with it (an INT-I SRE names the person it identified:
`dialects.int_i`) is followed up from the store, without a second round trip: the data was
received (and audited) with the search's reply; handing it to the client is audited here,
in the same commit as the follow-up mark, as for any other follow-up.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from exchange.codecs import uk_json
from exchange.codecs.errors import CodecError
from exchange.gateway.errors import (
    Conflict,
    PartnerFailure,
    PartnerGone,
    PartnerInvalidReply,
    PartnerRefused,
    PartnerTimedOut,
)
from exchange.gateway.node import Node
from exchange.gateway.outbound.dialects import follow_up_message
from exchange.gateway.outbound.partner_client import PartnerError
from exchange.gateway.outbound.send import send_and_read
from exchange.gateway.state.audit import AuditEntry, ClientEvent, Direction, Outcome
from exchange.gateway.state.ids import uuid7
from exchange.gateway.state.rows import HitRow, PartnerStatus, SearchRow
from exchange.gateway.state.store import ConflictError, NotFoundError
from exchange.model import CoreData, MessageType
from exchange.records import core_data_of


@dataclass(frozen=True, slots=True)
class FollowUp:
    """Who asks what of whom: the client, the search, the confirmed hit."""

    client_id: str
    search: SearchRow
    hit: HitRow

    def entry(
        self,
        node: Node,
        event: ClientEvent | MessageType,
        outcome: Outcome,
        direction: Direction,
        message_id: str,
        partner: str | None,
    ) -> AuditEntry:
        return AuditEntry(
            at=node.clock(),
            direction=direction,
            message_type=event,
            outcome=outcome,
            actor=self.client_id,
            partner=partner,
            message_id=message_id,
            references=(self.hit.reference,),
            purpose=self.search.purpose,
        )


async def follow_up(node: Node, asked: FollowUp) -> CoreData:
    """The core data behind a confirmed hit, from the partner that returned it.

    Raises the client's errors: `PartnerGone` (no longer configured), `PartnerFailure` /
    `PartnerTimedOut` (not reached), `PartnerInvalidReply`, `PartnerRefused` (its typed
    refusal, e.g. `unknown_reference` past the 48 h window), `Conflict` (the hit changed).
    """
    search, hit = asked.search, asked.hit
    link = node.links.get(hit.partner)
    result = next((r for r in search.results if r.partner == hit.partner), None)
    if link is None or result is None:
        raise PartnerGone("the partner of this hit is no longer configured", "hit_id")
    stored = _stored_core_data(node, asked)
    if stored is not None:
        _record(node, asked, None)
        return stored
    message_id = uuid7()
    msg = follow_up_message(
        link.cfg, node.config.node_id, node.clock(), search, result, hit, message_id
    )
    sent = asked.entry(
        node,
        MessageType.FOLLOW_UP_REQUEST,
        Outcome.ACCEPTED,
        Direction.SENT,
        message_id,
        hit.partner,
    )
    node.audit.append(sent)
    deadline = asyncio.get_running_loop().time() + link.cfg.timeout_s * (link.cfg.retries + 1)
    try:
        answer = await send_and_read(link, msg, deadline)
    except PartnerError as exc:
        failure = PartnerTimedOut if exc.timeout else PartnerFailure
        raise failure(exc.reason) from exc
    except CodecError as exc:
        raise PartnerInvalidReply(str(exc)) from exc
    if answer.refusal is not None:
        raise PartnerRefused(answer.refusal, "hit_id")
    if answer.status is not PartnerStatus.HIT or answer.core_data is None:
        raise PartnerInvalidReply(answer.error or "the reply does not answer this follow-up")
    _record(node, asked, message_id)
    return answer.core_data


def _stored_core_data(node: Node, asked: FollowUp) -> CoreData | None:
    """The core data that came with the hit (`NewHit.core_data_json`), if any."""
    text = node.store.hit_core_data_json(asked.search.search_id, asked.hit.hit_id)
    if text is None:
        return None
    try:
        return core_data_of(uk_json.record_from_json(json.loads(text)))
    except (CodecError, ValueError) as exc:  # what we stored ourselves: should not happen
        raise PartnerInvalidReply(f"stored core data unreadable: {type(exc).__name__}") from exc


def _record(node: Node, asked: FollowUp, message_id: str | None) -> None:
    """The hit's follow-up mark, then its receipt (when a reply brought it: `message_id`)
    and supply to the client, audited."""
    search, hit = asked.search, asked.hit
    try:
        node.store.record_follow_up(search.search_id, hit.hit_id, now=node.clock())
    except (ConflictError, NotFoundError) as exc:
        raise Conflict(str(exc), "hit_id") from exc
    entries = []
    if message_id is not None:
        entries.append(
            asked.entry(
                node,
                MessageType.FOLLOW_UP_REPLY,
                Outcome.SUPPLIED,
                Direction.RECEIVED,
                message_id,
                hit.partner,
            )
        )
    entries.append(
        asked.entry(
            node, ClientEvent.CORE_DATA, Outcome.SUPPLIED, Direction.SENT, search.search_id, None
        )
    )
    with node.store.transaction():
        node.audit.append_many(entries)
