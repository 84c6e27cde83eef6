"""Partner dialects: how a search or a follow-up becomes messages to one partner.

Each partner's config names the dialect it speaks (`dialect = "prum" | "interpol"`):
`prum` (Prüm XML envelopes, `dialects.prum`) or `interpol` (Interpol's dialect,
`dialects.interpol`). `follow_up_message` picks the partner's; the fan-out's planner picks
for searches (`outbound.search_plan`), since Prüm partners share one encoded body.
"""

from __future__ import annotations

import datetime as dt

from exchange.gateway.config import PartnerConfig
from exchange.gateway.outbound.dialects import interpol, prum
from exchange.gateway.outbound.messages import Outgoing
from exchange.gateway.state.rows import HitRow, PartnerResultRow, SearchRow


def follow_up_message(
    cfg: PartnerConfig,
    node_id: str,
    now: dt.datetime,
    search: SearchRow,
    result: PartnerResultRow,
    hit: HitRow,
    message_id: str,
) -> Outgoing:
    """The follow-up request for a confirmed hit, in the dialect its partner speaks."""
    if cfg.dialect == "interpol":
        return interpol.follow_up_message(node_id, now, search, result, hit, message_id)
    return prum.follow_up_message(node_id, now, search, result, hit, message_id)
