"""Acknowledged writes survive `kill -9`: a real `prum-exchange serve` subprocess is killed
right after a 201 enrolment and a 202 search, restarted on the same data directory, and
still has both, with their idempotency keys (a retry gets the first answers); the pending
search is resumed. Then `audit verify` checks the chain, and
detects an entry altered in the file."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from exchange.codecs import uk_json
from exchange.gateway.state.store import Store
from mock_partners import population


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PRUM_EXCHANGE_LOG_FORMAT": "json"},
    )


async def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            try:
                async with s.get(f"{url}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("gateway did not become ready")


def test_acknowledged_enrolment_and_search_survive_kill_9(tmp_path: Path) -> None:
    client_port, partner_port = _free_port(), _free_port()
    config = tmp_path / "gateway.toml"

    async def main() -> None:
        silent = await asyncio.start_server(lambda r, w: asyncio.sleep(30), "127.0.0.1", 0)
        silent_port = silent.sockets[0].getsockname()[1]
        config.write_text(
            f"""
node_id = "GB"
open_client_api = true
data_dir = "data"
feature_model = "{population.FEATURE_MODEL}"
search_deadline_s = 3.0
[client]
port = {client_port}
[partner_listener]
port = {partner_port}
[[partners]]
id = "DE"
url = "http://127.0.0.1:{silent_port}/prum/v1/messages"
modalities = ["dna"]
timeout_s = 1.0
""",
            encoding="utf-8",
        )
        url = f"http://127.0.0.1:{client_port}"
        record = uk_json.record_to_json(population.person(3, 11).record)
        proc = _start(config)
        try:
            await _wait_ready(url, proc)
            async with aiohttp.ClientSession() as s:
                enrol_key = {"Idempotency-Key": "enrol-1"}
                async with s.post(f"{url}/v1/records", json=record, headers=enrol_key) as r:
                    assert r.status == 201
                    enrolled = await r.json()
                search = {
                    "purpose": "investigation",
                    "case_reference": "C1",
                    "record": record,
                    "modalities": ["dna"],
                    "partners": ["DE"],
                }
                search_key = {"Idempotency-Key": "search-1"}
                async with s.post(f"{url}/v1/searches", json=search, headers=search_key) as r:
                    assert r.status == 202
                    accepted = await r.json()
                    search_id = accepted["search_id"]
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        db = tmp_path / "data" / "gateway.sqlite3"
        store = Store.open(db)
        assert store.get_record(record["identifiers"]["pnc_id"]) is not None
        row = store.get_search(search_id)
        assert row is not None
        keys = store.connection.execute("SELECT key, resource FROM idempotency_keys").fetchall()
        assert sorted(keys) == [
            ("enrol-1", record["identifiers"]["pnc_id"]),
            ("search-1", search_id),
        ]
        store.close()

        proc = _start(config)
        try:
            await _wait_ready(url, proc)
            async with aiohttp.ClientSession() as s:
                async with s.get(f"{url}/readyz") as r:
                    assert (await r.json())["gallery_records"] == 1  # rebuilt from SQLite
                async with s.get(f"{url}/v1/searches/{search_id}?wait=10") as r:
                    body = await r.json()
                assert body["status"] == "failed"  # resumed, then ended at its deadline
                assert body["partners"][0]["status"] == "timeout"
                # a client whose answers were lost sends both again under their keys: the
                # first answers, and no second search or enrolment
                async with s.post(f"{url}/v1/searches", json=search, headers=search_key) as r:
                    assert (r.status, await r.json()) == (202, accepted)
                async with s.post(f"{url}/v1/records", json=record, headers=enrol_key) as r:
                    assert (r.status, await r.json()) == (201, enrolled)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
            silent.close()

        verify = subprocess.run(
            [sys.executable, "-m", "exchange.cli", "audit", "verify", str(db)],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE audit SET outcome = 'hit' WHERE seq = 2")
        verify = subprocess.run(
            [sys.executable, "-m", "exchange.cli", "audit", "verify", str(db)],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert verify.returncode == 1
        assert b"2" in verify.stdout + verify.stderr

    asyncio.run(main())


def test_sigterm_lets_in_flight_searches_finish(tmp_path: Path) -> None:
    """A search is waiting on a slow partner when the gateway is told to stop: it finishes
    the search (within the grace period) before exiting, so nothing is left pending."""
    from aiohttp import web

    from exchange.gateway.app import Gateway
    from mock_partners.cluster import partner_node_config, seed_partner

    @web.middleware
    async def slow(request: web.Request, handler: Any) -> web.StreamResponse:
        await asyncio.sleep(1.5)
        response: web.StreamResponse = await handler(request)
        return response

    client_port, partner_port = _free_port(), _free_port()
    config = tmp_path / "gateway.toml"

    async def main() -> None:
        de = Gateway(partner_node_config("DE", tmp_path / "DE"), [slow])
        node = await de.start()
        await seed_partner(node, "DE", 3, [11])
        config.write_text(
            f'node_id = "GB"\nopen_client_api = true\ndata_dir = "data"\n'
            f'feature_model = "{population.FEATURE_MODEL}"\n'
            f"[client]\nport = {client_port}\n[partner_listener]\nport = {partner_port}\n"
            f'[[partners]]\nid = "DE"\nurl = "http://127.0.0.1:{de.partner_port}/prum/v1/messages"\n'
            f'modalities = ["dna"]\n',
            encoding="utf-8",
        )
        url = f"http://127.0.0.1:{client_port}"
        probe = uk_json.record_to_json(population.person(3, 11, capture=1).record)
        proc = _start(config)
        try:
            await _wait_ready(url, proc)
            search = {
                "purpose": "investigation",
                "case_reference": "C2",
                "record": probe,
                "modalities": ["dna"],
                "partners": ["DE"],
            }
            async with aiohttp.ClientSession() as s, s.post(f"{url}/v1/searches", json=search) as r:
                assert r.status == 202
                search_id = (await r.json())["search_id"]
            await asyncio.sleep(0.3)  # the message is now at the slow partner
            proc.send_signal(signal.SIGTERM)
            loop = asyncio.get_running_loop()
            assert await loop.run_in_executor(None, proc.wait, 20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            await de.stop()
        store = Store.open(tmp_path / "data" / "gateway.sqlite3")
        row = store.get_search(search_id)
        store.close()
        assert row is not None and row.status == "complete"
        assert row.results[0].status == "hit"

    asyncio.run(main())


def test_a_search_resumed_after_its_batch_went_asks_again_under_the_batch_id(
    tmp_path: Path,
) -> None:
    """Two DNA searches wait behind a first one and go to DE in one batch; DE answers it,
    but the gateway is killed before the reply arrives. Restarted, the two resumed searches
    ask again under the batch's message id: DE answers from its duplicate cache, so it
    searched (and counted against its capacity) each probe once, and both searches get
    their hits."""
    from aiohttp import web

    from exchange.gateway.app import Gateway
    from exchange.gateway.state.store import QuotaDirection
    from mock_partners.cluster import partner_node_config, seed_partner

    seen: list[str] = []  # "held" or "passed", per message DE got
    batch_answered = asyncio.Event()
    release = asyncio.Event()

    @web.middleware
    async def hold(request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        seen.append("passed" if len(seen) >= 2 else "held")
        if len(seen) == 1:  # the first search, alone: DE keeps the lane busy a while
            await asyncio.sleep(1.0)
        elif len(seen) == 2:  # the batch: answered and remembered, the reply never sent
            batch_answered.set()
            await release.wait()
        return response

    client_port, partner_port = _free_port(), _free_port()
    config = tmp_path / "gateway.toml"
    subjects = [11, 12, 13]

    async def main() -> None:
        de = Gateway(partner_node_config("DE", tmp_path / "DE"), [hold])
        node = await de.start()
        await seed_partner(node, "DE", 3, subjects)
        config.write_text(
            f'node_id = "GB"\nopen_client_api = true\ndata_dir = "data"\n'
            f'feature_model = "{population.FEATURE_MODEL}"\nsearch_deadline_s = 30.0\n'
            f"[client]\nport = {client_port}\n[partner_listener]\nport = {partner_port}\n"
            f'[[partners]]\nid = "DE"\nurl = "http://127.0.0.1:{de.partner_port}/prum/v1/messages"\n'
            f'modalities = ["dna"]\ntimeout_s = 20.0\ndna_batch_lanes = 1\n',
            encoding="utf-8",
        )
        url = f"http://127.0.0.1:{client_port}"
        probes = [
            uk_json.record_to_json(population.person(3, x, capture=1).record) for x in subjects
        ]

        def search(record: dict[str, Any]) -> dict[str, Any]:
            return {
                "purpose": "investigation",
                "case_reference": "C3",
                "record": record,
                "modalities": ["dna"],
                "partners": ["DE"],
            }

        proc = _start(config)
        try:
            await _wait_ready(url, proc)
            async with aiohttp.ClientSession() as s:

                async def post(record: dict[str, Any]) -> str:
                    async with s.post(f"{url}/v1/searches", json=search(record)) as r:
                        assert r.status == 202
                        return str((await r.json())["search_id"])

                first = await post(probes[0])
                await asyncio.sleep(0.3)  # DE holds the first search's message
                resumed = await asyncio.gather(*(post(p) for p in probes[1:]))
                await asyncio.wait_for(batch_answered.wait(), 15)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        db = tmp_path / "data" / "gateway.sqlite3"
        with sqlite3.connect(db) as conn:
            batch_ids = dict(conn.execute("SELECT search_id, dna_batch_id FROM partner_results"))
        batch_id = batch_ids[resumed[0]]
        assert batch_id is not None and batch_ids[resumed[1]] == batch_id
        assert batch_ids[first] is None  # it went alone

        proc = _start(config)
        try:
            await _wait_ready(url, proc)
            async with aiohttp.ClientSession() as s:
                for search_id in [first, *resumed]:
                    async with s.get(f"{url}/v1/searches/{search_id}?wait=15") as r:
                        body = await r.json()
                    assert body["status"] == "complete", body
                    assert body["partners"][0]["status"] == "hit", body
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
            release.set()
            received = node.store.connection.execute(
                "SELECT message_id, outcome FROM audit WHERE direction = 'received'"
                " AND message_type = 'dna_search_request' ORDER BY seq"
            ).fetchall()
            used = node.store.quota_used(QuotaDirection.INBOUND, "GB", "DNA", node.clock().date())
            await de.stop()
        # DE searched the first search alone, then the batch once; the resumed searches'
        # message under the batch's id was a duplicate it answered from its cache.
        accepted = [m for m, outcome in received if outcome == "accepted"]
        assert len(accepted) == 2 and accepted[1] == batch_id
        assert [m for m, outcome in received if outcome == "duplicate"] == [batch_id]
        assert used == 3
        with sqlite3.connect(db) as conn:
            gb = conn.execute(
                "SELECT direction, message_id FROM audit WHERE partner = 'DE' ORDER BY seq"
            ).fetchall()
        # GB: the batch sent before the kill and again after it, and each answer received
        # under the batch's id.
        assert gb.count(("sent", batch_id)) == 4
        assert gb.count(("received", batch_id)) == 2
        # and counted each search once against DE's capacity, not again when resumed
        with Store.open(db) as store:
            day = dt.datetime.now(dt.UTC).date()
            assert store.quota_used(QuotaDirection.OUTBOUND, "DE", "DNA", day) == 3

    asyncio.run(main())


def test_a_resumed_search_whose_stored_record_is_now_refused_ends_instead_of_crashing(
    tmp_path: Path,
) -> None:
    """A search stored before a codec rule tightened (here: an all-zero face template) and
    resumed after a restart ends `failed`, each partner `error`, and sends nothing; it
    neither crashes its task nor stays pending for the next restart to trip on again."""
    from exchange.gateway.auth import OPEN_CLIENT
    from exchange.model import Modality, Purpose
    from mock_partners.cluster import running_cluster

    record = uk_json.record_to_json(population.person(7, 1, "GB", capture=1).record)
    record["face"]["template"] = base64.b64encode(bytes(4 * population.FACE_DIM)).decode()
    now = dt.datetime.now(dt.UTC)
    (tmp_path / "GB").mkdir()
    with Store.open(tmp_path / "GB" / "gateway.sqlite3") as store:
        row = store.create_search(
            client_id=OPEN_CLIENT,
            purpose=Purpose.INVESTIGATION,
            case_reference="OLD-1",
            modalities=[Modality.DNA, Modality.FACE],
            partners=["DE"],
            max_candidates=5,
            record_json=json.dumps(record),
            correlation_id="corr-old-1",
            now=now,
            deadline_at=now + dt.timedelta(seconds=30),
        )

    async def main() -> tuple[dict[str, Any], int]:
        async with (
            running_cluster(tmp_path, ("DE",), seed=7, gallery_size=4) as c,
            aiohttp.ClientSession() as s,
        ):
            async with s.get(f"{c.client_url}/v1/searches/{row.search_id}?wait=10") as r:
                assert r.status == 200
                found: dict[str, Any] = await r.json()
            (claims,) = (
                c.partners["DE"]
                .store.connection.execute("SELECT count(*) FROM inbound_messages")
                .fetchone()
            )
            return found, int(claims)

    found, received = asyncio.run(main())
    assert found["status"] == "failed"
    (de,) = found["partners"]
    assert de["status"] == "error" and "no longer accepted (face.template)" in de["error"]
    assert received == 0  # nothing went to the partner
