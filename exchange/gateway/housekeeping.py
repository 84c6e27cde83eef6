"""Housekeeping: the rows past their use dropped, oldest first, in short commits.

Every `housekeeping_interval_s` (README, "State"): replies to partner messages older than
`reply_retention_s`, notes of released hits past the follow-up window, and searches that
ended more than `search_retention_s` ago with their partner results and hits, and the client
API's idempotency keys after their 24 h (`client.idempotency`). A gateway
runs for months: its tables must not grow without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from functools import partial

from exchange.gateway.client.idempotency import KEY_RETENTION
from exchange.gateway.node import Node

HOUSEKEEPING_CHUNK = 1000  # rows per transaction: a backlog never holds the writer long
# Searches per transaction: each goes with its partner results and hits (about 6 rows for a
# 4-partner search); 1000 of them took 38 ms to delete here, 100 took 7 ms.
SEARCHES_CHUNK = 200


async def housekeep(node: Node, stop: asyncio.Event | None = None) -> dict[str, int]:
    """Drop the rows past their retention now; how many, by table.

    Replies to partner messages older than `reply_retention_s` (a retry of such a message
    would be answered afresh), notes of released hits older than the follow-up window
    (no follow-up may name them any more), idempotency keys older than 24 h (a retry under
    one makes a new search), and searches that ended more than
    `search_retention_s` ago, with their partner results and hits. In chunks, each its own
    commit through the group commit, so searches keep flowing while a large backlog goes;
    once `stop` is set no further chunk starts (a first round after an upgrade may face
    months of rows), and the next round carries on.
    """
    now = node.clock()
    cutoffs = {
        "inbound_messages": (
            node.store.forget_replies,
            now - dt.timedelta(seconds=node.config.reply_retention_s),
            HOUSEKEEPING_CHUNK,
        ),
        "released_hits": (
            node.store.forget_released,
            now - node.responder.rules.follow_up_window,
            HOUSEKEEPING_CHUNK,
        ),
        "idempotency_keys": (
            node.store.forget_idempotency_keys,
            now - KEY_RETENTION,
            HOUSEKEEPING_CHUNK,
        ),
    }
    if node.config.search_retention_s:
        before = now - dt.timedelta(seconds=node.config.search_retention_s)
        cutoffs["searches"] = (node.store.forget_searches, before, SEARCHES_CHUNK)
    forgotten: dict[str, int] = {}
    for table, (forget, before, chunk) in cutoffs.items():
        total = 0
        while True:
            n = await node.writes.run(partial(forget, before, chunk))
            total += n
            if n < chunk or (stop is not None and stop.is_set()):
                break
        forgotten[table] = total
        node.metrics.inc("prum_rows_forgotten_total", total, table=table)
    return forgotten


async def housekeep_periodically(node: Node, interval_s: float, stop: asyncio.Event) -> None:
    """`housekeep` every `interval_s` until `stop` is set; a failed round is logged and the
    next one tries again (a gateway runs for months: its tables must not grow without end)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
        if stop.is_set():
            return
        try:
            forgotten = await housekeep(node, stop)
        except Exception as exc:  # e.g. a locked or full disk; the next round retries
            node.log.warning("housekeeping_failed", error=type(exc).__name__)
            continue
        if any(forgotten.values()):
            node.log.info("housekeeping", **forgotten)
