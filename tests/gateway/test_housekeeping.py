"""Housekeeping on a running gateway: partner-side rows past their retention are dropped.

A real UK gateway and partner nodes on loopback, real SQLite. The old rows are written
straight into the UK node's store with past times, as months of partner traffic would
have left them; rows still inside their retention stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exchange import event_loop
from exchange.gateway import app as gateway_app
from exchange.gateway.node import Node
from mock_partners.cluster import running_cluster

SEED = 7
HOUR = dt.timedelta(hours=1)


def _fill(node: Node, now: dt.datetime, old: int) -> None:
    """`old` replies 8 days old and release notes 49 h old, plus one fresh of each."""
    for i in range(old):
        node.store.remember_reply("DE", f"old-{i}", b"<r/>", now=now - 8 * 24 * HOUR)
        node.store.record_released("DE", f"old-search-{i}", [f"REF-OLD-{i}"], at=now - 49 * HOUR)
    node.store.remember_reply("DE", "fresh", b"<r/>", now=now - HOUR)
    node.store.record_released("DE", "fresh-search", ["REF-FRESH"], at=now - HOUR)


@contextlib.asynccontextmanager
async def _uk_node(tmp_path: Path, interval_s: float) -> AsyncIterator[Node]:
    """The UK node of a running cluster, housekeeping every `interval_s` (0: never)."""
    overrides = {"housekeeping_interval_s": interval_s}
    async with running_cluster(tmp_path, seed=SEED, gallery_size=4, uk_overrides=overrides) as c:
        assert c.gateway.node is not None
        yield c.gateway.node


def _kept(node: Node, now: dt.datetime, old: int) -> tuple[int, bool, bool]:
    olds = sum(node.store.cached_reply("DE", f"old-{i}") is not None for i in range(old))
    olds += sum(node.store.released_to("DE", f"REF-OLD-{i}", now=now) for i in range(old))
    fresh_reply = node.store.cached_reply("DE", "fresh") == b"<r/>"
    fresh_note = node.store.released_to("DE", "REF-FRESH", now=now)
    return olds, fresh_reply, fresh_note


def test_a_running_gateway_forgets_old_replies_and_release_notes(tmp_path: Path) -> None:
    async def main() -> None:
        async with _uk_node(tmp_path, 0.05) as uk:
            now = uk.clock()
            _fill(uk, now, 3)
            for _ in range(100):  # the task runs every 0.05 s; bounded wait
                if uk.metrics.counter_value("prum_rows_forgotten_total", table="released_hits"):
                    break
                await asyncio.sleep(0.05)
            assert _kept(uk, now, 3) == (0, True, True)
            for table in ("inbound_messages", "released_hits"):
                assert uk.metrics.counter_value("prum_rows_forgotten_total", table=table) == 3
            assert "prum_rows_forgotten_total" in uk.metrics.render()

    event_loop.run(main())


def test_a_backlog_goes_in_chunks_each_its_own_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gateway_app, "HOUSEKEEPING_CHUNK", 4)

    async def main() -> None:
        async with _uk_node(tmp_path, 0.0) as uk:
            now = uk.clock()
            _fill(uk, now, 10)
            commits = uk.writes.transactions
            forgotten = await gateway_app.housekeep(uk)
            assert forgotten == {"inbound_messages": 10, "released_hits": 10}
            assert uk.writes.transactions - commits == 2 * 3  # 4 + 4 + 2 rows, per table
            assert _kept(uk, now, 10) == (0, True, True)
            assert await gateway_app.housekeep(uk) == {"inbound_messages": 0, "released_hits": 0}
            _fill(uk, now, 10)
            stop = asyncio.Event()
            stop.set()  # shutting down: one chunk per table, the rest left for next time
            assert await gateway_app.housekeep(uk, stop) == {
                "inbound_messages": 4,
                "released_hits": 4,
            }

    event_loop.run(main())
