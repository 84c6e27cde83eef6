"""The one way out: every message to a partner, search or follow-up, is sent and read here.

`send_and_read` is a pipeline of three steps (STYLE.md §2):

1. **batch** (`dna_batch`): a one-profile Prüm DNA search to a partner that batches may go
   in a batch with other searches' probes (`DnaBatcher.carry`), which answers it; otherwise
   it goes alone, holding one of the batcher's lanes;
2. **send** (`partner_client`): with retries of transient failures and the partner's breaker,
   the same bytes (the same message id) on every attempt;
3. **read**: the reader the message's dialect gave it (`Outgoing.read`) checks the reply and
   turns it into an `Answer`.

It raises `PartnerError` (not reached, or no useful answer) and `CodecError` (an unreadable
reply); the fan-out (`fanout.exchange_one`) and the follow-up (`follow_up`) each turn those
into what their caller needs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from exchange.gateway.config import PartnerConfig
from exchange.gateway.outbound.dna_batch import DnaBatcher
from exchange.gateway.outbound.messages import Answer, Outgoing
from exchange.gateway.outbound.partner_client import PartnerClient


@dataclass(frozen=True, slots=True)
class PartnerLink:
    """Everything the gateway sends one partner through: its config, client and batcher."""

    cfg: PartnerConfig
    client: PartnerClient
    batcher: DnaBatcher | None = None  # Prüm partners searched for DNA, batching on


async def send_and_read(
    link: PartnerLink,
    msg: Outgoing,
    deadline: float,
    search_id: str = "",
    before_alone: Callable[[], Awaitable[None]] | None = None,
) -> Answer:
    """Send `msg` to its partner by `deadline` (a loop.time() value) and read the answer.

    `before_alone` runs just before a message that was planned for a batch goes alone after
    all (a resumed search whose batch the partner never saw): its audit entry is written
    then, not when it was planned.
    """
    batcher = link.batcher if msg.probe is not None else None
    if batcher is not None:
        carried = await batcher.carry(msg, deadline, search_id)
        if carried is not None:
            return carried
    if before_alone is not None:
        await before_alone()
    with batcher.lane() if batcher is not None else contextlib.nullcontext():
        reply = await link.client.send(msg.data, msg.content_type, deadline)
    return msg.read(reply.body)
