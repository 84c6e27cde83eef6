"""The responder's memory in the gateway: inbound quotas and released hits, kept in SQLite.

`exchange.responder.Ledger` is what the responder must remember between partners' messages
(daily capacity used per sender and search type; which references it returned to whom, for
the follow-up rule); here it is the gateway store's inbound direction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from exchange.gateway.state.store import QuotaDirection, Store


class InboundLedger:
    """`exchange.responder.Ledger` over the gateway's SQLite store (inbound direction)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def take_quota(
        self, partner: str, search_type: str, day: dt.date, limit: int, count: int = 1
    ) -> bool:
        return self.store.take_quota(
            QuotaDirection.INBOUND, partner, search_type, day, limit, count
        )

    def record_released(
        self, sender: str, search_message_id: str, references: Sequence[str], *, at: dt.datetime
    ) -> None:
        self.store.record_released(sender, search_message_id, references, at=at)

    def released_to(
        self, sender: str, reference: str, *, now: dt.datetime, within: dt.timedelta
    ) -> bool:
        return self.store.released_to(sender, reference, now=now, within=within)
