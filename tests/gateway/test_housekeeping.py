"""Housekeeping on a running gateway: rows past their retention are dropped.

A real UK gateway and partner nodes on loopback, real SQLite. The old rows are written
straight into the UK node's store with past times, as months of traffic would have left
them: partner messages and release notes (partner side), and ended searches with their
partner results and hits (client side). Rows still inside their retention stay, and so
does a search that has not ended, however old.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from exchange import event_loop
from exchange.gateway import housekeeping
from exchange.gateway.auth import OPEN_CLIENT
from exchange.gateway.node import Node
from exchange.gateway.state.store import (
    KeptResponse,
    KeyTakenError,
    NewHit,
    PartnerStatus,
    SearchStatus,
)
from exchange.model import MatchType, Modality, Purpose
from mock_partners.cluster import Cluster, running_cluster
from tests.gateway.state.test_store import stored_reply

SEED = 7
HOUR = dt.timedelta(hours=1)
DAY = 24 * HOUR
TABLES = ("inbound_messages", "released_hits", "idempotency_keys", "searches")


def _search(node: Node, created: dt.datetime, ended: dt.datetime | None) -> str:
    """A 2-partner search created at `created`: DE answered with a hit, FR none; ended at
    `ended` (None: still pending)."""
    row = node.store.create_search(
        client_id=OPEN_CLIENT,  # the open client API's client: it may read them back
        purpose=Purpose.INVESTIGATION,
        case_reference="CASE-1",
        modalities=[Modality.DNA],
        partners=["DE", "FR"],
        max_candidates=5,
        record_json="{}",
        correlation_id="corr-1",
        now=created,
        deadline_at=created + 10 * HOUR,
    )
    hit = NewHit(Modality.DNA, "DE-REF-1", 1.0, MatchType.FULL)
    node.store.set_partner_result(row.search_id, "DE", PartnerStatus.HIT, now=created, hits=[hit])
    node.store.set_partner_result(row.search_id, "FR", PartnerStatus.NO_HIT, now=created)
    if ended is not None:
        node.store.close_search(row.search_id, SearchStatus.COMPLETE, now=ended)
    return row.search_id


def _fill(node: Node, now: dt.datetime, old: int) -> dict[str, list[str]]:
    """`old` replies 8 days old, release notes 49 h old, idempotency keys 25 h old and
    searches ended 31 days ago, plus one fresh of each and one search pending for 40 days;
    the searches' ids."""
    searches: dict[str, list[str]] = {"old": [], "kept": []}
    for i in range(old):
        node.store.remember_reply("DE", f"old-{i}", b"<r/>", now=now - 8 * DAY)
        node.store.record_released("DE", f"old-search-{i}", [f"REF-OLD-{i}"], at=now - 49 * HOUR)
        searches["old"].append(_search(node, now - 32 * DAY, now - 31 * DAY))
        _key(node, f"old-{i}", now - 25 * HOUR)
    node.store.remember_reply("DE", "fresh", b"<r/>", now=now - HOUR)
    _key(node, "fresh", now - 23 * HOUR)
    node.store.record_released("DE", "fresh-search", ["REF-FRESH"], at=now - HOUR)
    searches["kept"].append(_search(node, now - 32 * DAY, now - 29 * DAY))
    searches["kept"].append(_search(node, now - 40 * DAY, None))
    return searches


def _key(node: Node, key: str, at: dt.datetime) -> None:
    """An idempotency key of the open client's, stored at `at` (kept if still there)."""
    kept = KeptResponse("digest", "search-id", 202, "{}", True, at)
    with contextlib.suppress(KeyTakenError):  # a second `_fill`'s fresh key
        node.store.keep_response(OPEN_CLIENT, key, kept, expired_before=at - DAY)


def _key_kept(node: Node, key: str, now: dt.datetime) -> bool:
    return node.store.kept_response(OPEN_CLIENT, key, since=now - 2 * DAY) is not None


@contextlib.asynccontextmanager
async def _cluster(
    tmp_path: Path, interval_s: float, **overrides: object
) -> AsyncIterator[Cluster]:
    """A running cluster whose UK node housekeeps every `interval_s` (0: never)."""
    uk = {"housekeeping_interval_s": interval_s, **overrides}
    async with running_cluster(tmp_path, seed=SEED, gallery_size=4, uk_overrides=uk) as c:
        assert c.gateway.node is not None
        yield c


@contextlib.asynccontextmanager
async def _uk_node(tmp_path: Path, interval_s: float, **overrides: object) -> AsyncIterator[Node]:
    async with _cluster(tmp_path, interval_s, **overrides) as c:
        assert c.gateway.node is not None
        yield c.gateway.node


def _kept(
    node: Node, now: dt.datetime, old: int, searches: dict[str, list[str]]
) -> tuple[int, bool, bool, bool]:
    """Old rows left (of every kind), and whether each kind of row to keep is all there."""
    olds = sum(stored_reply(node.store, "DE", f"old-{i}") is not None for i in range(old))
    olds += sum(node.store.released_to("DE", f"REF-OLD-{i}", now=now) for i in range(old))
    olds += sum(node.store.get_search(s) is not None for s in searches["old"])
    olds += sum(_key_kept(node, f"old-{i}", now) for i in range(old))
    # the fresh reply to a partner and the fresh key of a client
    fresh_reply = stored_reply(node.store, "DE", "fresh") == b"<r/>" and _key_kept(
        node, "fresh", now
    )
    fresh_note = node.store.released_to("DE", "REF-FRESH", now=now)
    kept = [node.store.get_search(s) for s in searches["kept"]]
    searches_kept = all(r is not None and len(r.results) == 2 for r in kept)
    return olds, fresh_reply, fresh_note, searches_kept


def _rows(node: Node, table: str) -> int:
    return int(node.store.connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_a_running_gateway_forgets_old_rows_and_keeps_the_rest(tmp_path: Path) -> None:
    async def main() -> None:
        async with _cluster(tmp_path, 0.05) as c, aiohttp.ClientSession() as http:
            uk = c.gateway.node
            assert uk is not None
            now = uk.clock()
            searches = _fill(uk, now, 3)
            assert _rows(uk, "hits") == 5 and _rows(uk, "partner_results") == 10
            for _ in range(100):  # the task runs every 0.05 s; bounded wait
                if uk.metrics.counter_value("prum_rows_forgotten_total", table="searches"):
                    break
                await asyncio.sleep(0.05)
            assert _kept(uk, now, 3, searches) == (0, True, True, True)
            for table in TABLES:
                assert uk.metrics.counter_value("prum_rows_forgotten_total", table=table) == 3
            assert "prum_rows_forgotten_total" in uk.metrics.render()
            # a search's partner results and hits went with it, the kept ones' stayed
            assert _rows(uk, "hits") == 2 and _rows(uk, "partner_results") == 4
            url = f"{c.client_url}/v1/searches/{searches['old'][0]}"
            async with http.get(url, headers=c.headers) as r:
                assert r.status == 404
                assert (await r.json())["error"]["code"] == "not_found"
            async with http.get(f"{c.client_url}/v1/searches/{searches['kept'][0]}") as r:
                assert r.status == 200
                assert (await r.json())["status"] == "complete"

    event_loop.run(main())


def test_searches_are_kept_for_ever_with_a_retention_of_0(tmp_path: Path) -> None:
    async def main() -> None:
        async with _uk_node(tmp_path, 0.0, search_retention_s=0.0) as uk:
            now = uk.clock()
            searches = _fill(uk, now, 2)
            forgotten = await housekeeping.housekeep(uk)
            assert forgotten == {"inbound_messages": 2, "released_hits": 2, "idempotency_keys": 2}
            assert _kept(uk, now, 2, searches) == (2, True, True, True)  # the 2 old searches

    event_loop.run(main())


def test_a_backlog_goes_in_chunks_each_its_own_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(housekeeping, "HOUSEKEEPING_CHUNK", 4)
    monkeypatch.setattr(housekeeping, "SEARCHES_CHUNK", 3)

    async def main() -> None:
        async with _uk_node(tmp_path, 0.0) as uk:
            now = uk.clock()
            searches = _fill(uk, now, 10)
            commits = uk.writes.transactions
            forgotten = await housekeeping.housekeep(uk)
            assert forgotten == dict.fromkeys(TABLES, 10)
            # 4 + 4 + 2 rows for each partner-side table and the keys, 3 + 3 + 3 + 1 searches
            assert uk.writes.transactions - commits == 3 + 3 + 3 + 4
            assert _kept(uk, now, 10, searches) == (0, True, True, True)
            assert await housekeeping.housekeep(uk) == dict.fromkeys(TABLES, 0)
            _fill(uk, now, 10)
            stop = asyncio.Event()
            stop.set()  # shutting down: one chunk per table, the rest left for next time
            assert await housekeeping.housekeep(uk, stop) == {
                "inbound_messages": 4,
                "released_hits": 4,
                "idempotency_keys": 4,
                "searches": 3,
            }

    event_loop.run(main())
