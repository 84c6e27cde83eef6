"""Idempotent submissions: `Idempotency-Key` on `POST /v1/searches` and `POST /v1/records`.

A real UK gateway and partner nodes on loopback, real SQLite; every JSON answer is checked
against the OpenAPI document (`_call`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from exchange import event_loop
from exchange.codecs import uk_json
from exchange.gateway import housekeeping
from exchange.gateway.auth import ClientConfig, token_hash
from exchange.gateway.client.idempotency import KEY_RETENTION, request_digest
from exchange.gateway.node import Node
from exchange.gateway.resources import store_path
from exchange.gateway.state.store import KeptResponse, Store
from mock_partners import population
from mock_partners.cluster import PARTNER_SUBJECTS, Cluster, running_cluster
from tests.gateway.test_gateway_e2e import SEED, _call, _probe, _search_body, run

SEARCHES = "/v1/searches"
RECORDS = "/v1/records"


def _key(key: str, **headers: str) -> dict[str, str]:
    return {"Idempotency-Key": key, **headers}


def _searches(node: Node | None) -> int:
    assert node is not None
    return int(node.store.connection.execute("SELECT count(*) FROM searches").fetchone()[0])


def _keys(node: Node | None) -> int:
    assert node is not None
    conn = node.store.connection
    return int(conn.execute("SELECT count(*) FROM idempotency_keys").fetchone()[0])


def test_the_same_key_and_body_replay_the_first_answer_and_make_one_search(
    tmp_path: Path,
) -> None:
    body = _search_body(_probe(PARTNER_SUBJECTS + 1), ["dna"], ["DE"])
    reordered = dict(reversed(list(body.items())))  # the same request, keys in another order

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        url = f"{c.client_url}{SEARCHES}"
        async with s.post(url, json=body, headers=_key("k-1")) as r:
            first_status, first = r.status, await r.json()
            assert "Idempotent-Replayed" not in r.headers
        assert first_status == 202 and first["status"] == "pending"
        async with s.post(url, json=reordered, headers=_key("k-1")) as r:
            assert r.headers.get("Idempotent-Replayed") == "true"
            assert (r.status, await r.json()) == (first_status, first)  # verbatim
        assert _searches(c.gateway.node) == 1
        status, other = await _call(s, "POST", url, SEARCHES, json=body, headers=_key("k-2"))
        assert status == 202 and other["search_id"] != first["search_id"]
        status, _ = await _call(s, "POST", url, SEARCHES, json=body)  # no key: a new search
        assert status == 202 and _searches(c.gateway.node) == 3

    run(tmp_path, scenario)


def test_the_same_key_with_another_body_or_operation_is_422(tmp_path: Path) -> None:
    body = _search_body(_probe(PARTNER_SUBJECTS + 1), ["dna"], ["DE"])

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        url = f"{c.client_url}{SEARCHES}"
        status, _ = await _call(s, "POST", url, SEARCHES, json=body, headers=_key("k-1"))
        assert status == 202
        other = {**body, "case_reference": "OP-TEST-2"}
        status, err = await _call(s, "POST", url, SEARCHES, json=other, headers=_key("k-1"))
        assert status == 422, err
        assert err["error"]["code"] == "idempotency_key_reused"
        assert err["error"]["field"] == "Idempotency-Key"
        record = body["record"]  # the same key on the other operation asks something else
        status, err = await _call(
            s, "POST", f"{c.client_url}{RECORDS}", RECORDS, json=record, headers=_key("k-1")
        )
        assert status == 422 and err["error"]["code"] == "idempotency_key_reused"
        assert _searches(c.gateway.node) == 1

    run(tmp_path, scenario)


def test_a_bad_header_is_400_naming_it(tmp_path: Path) -> None:
    body = _search_body(_probe(PARTNER_SUBJECTS + 1), ["dna"], ["DE"])

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        for path in (SEARCHES, RECORDS):
            for key in ("", "k" * 256, "clé"):
                status, err = await _call(
                    s,
                    "POST",
                    f"{c.client_url}{path}",
                    path,
                    json=body if path == SEARCHES else body["record"],
                    headers={"Idempotency-Key": key},
                )
                assert status == 400, (path, key, err)
                assert err["error"]["field"] == "Idempotency-Key"
        status, _ = await _call(
            s, "POST", f"{c.client_url}{SEARCHES}", SEARCHES, json=body, headers=_key("k" * 255)
        )
        assert status == 202
        assert _searches(c.gateway.node) == 1

    run(tmp_path, scenario)


def test_two_clients_keys_are_their_own(tmp_path: Path) -> None:
    clients = tuple(
        ClientConfig(cid, token_hash(f"tok-{cid}"), frozenset({"search"}))
        for cid in ("kent", "essex")
    )
    body = _search_body(_probe(PARTNER_SUBJECTS + 1), ["dna"], ["DE"])

    async def main() -> None:
        async with (
            running_cluster(
                tmp_path, ("DE",), seed=SEED, gallery_size=4, uk_overrides={"clients": clients}
            ) as c,
            aiohttp.ClientSession() as s,
        ):
            url = f"{c.client_url}{SEARCHES}"
            ids = []
            for cid in ("kent", "essex"):
                auth = _key("shared-key", Authorization=f"Bearer tok-{cid}")
                status, doc = await _call(s, "POST", url, SEARCHES, json=body, headers=auth)
                assert status == 202
                ids.append(doc["search_id"])
            assert ids[0] != ids[1] and _searches(c.gateway.node) == 2
            other = {**body, "case_reference": "ESSEX-2"}  # essex's key, not kent's
            auth = _key("shared-key", Authorization="Bearer tok-essex")
            status, err = await _call(s, "POST", url, SEARCHES, json=other, headers=auth)
            assert status == 422 and err["error"]["code"] == "idempotency_key_reused"
            auth = _key("shared-key", Authorization="Bearer tok-kent")
            status, again = await _call(s, "POST", url, SEARCHES, json=body, headers=auth)
            assert status == 202 and again["search_id"] == ids[0]

    event_loop.run(main())


def test_an_enrolment_under_a_key_is_made_once(tmp_path: Path) -> None:
    record = uk_json.record_to_json(population.person(SEED, 11).record)
    other = uk_json.record_to_json(population.person(SEED, 12).record)

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        url = f"{c.client_url}{RECORDS}"
        node = c.gateway.node
        assert node is not None
        status, first = await _call(s, "POST", url, RECORDS, json=record, headers=_key("e-1"))
        assert status == 201
        version = node.store.gallery_version()
        async with s.post(url, json=record, headers=_key("e-1")) as r:
            assert r.headers.get("Idempotent-Replayed") == "true"
            assert (r.status, await r.json()) == (201, first)
        assert node.store.gallery_version() == version  # not enrolled a second time
        status, err = await _call(s, "POST", url, RECORDS, json=other, headers=_key("e-1"))
        assert status == 422 and err["error"]["code"] == "idempotency_key_reused"
        assert node.store.get_record(other["identifiers"]["pnc_id"]) is None
        status, _ = await _call(s, "POST", url, RECORDS, json=other, headers=_key("e-2"))
        assert status == 201 and node.store.gallery_version() == version + 1

    run(tmp_path, scenario)


def test_a_duplicate_while_the_first_waits_is_409_then_gets_its_answer(tmp_path: Path) -> None:
    held = asyncio.Event()

    @web.middleware
    async def slow(request: web.Request, handler: Any) -> web.StreamResponse:
        await held.wait()  # DE answers only once the test lets it
        return await handler(request)

    body = _search_body(_probe(PARTNER_SUBJECTS + 1), ["dna"], ["DE"])

    async def main() -> None:
        async with (
            running_cluster(
                tmp_path,
                ("DE",),
                seed=SEED,
                gallery_size=4,
                partner_middlewares={"DE": [slow]},
            ) as c,
            aiohttp.ClientSession() as s,
        ):
            url = f"{c.client_url}{SEARCHES}"
            first = asyncio.create_task(
                _call(s, "POST", f"{url}?wait=10", SEARCHES, json=body, headers=_key("w-1"))
            )
            for _ in range(200):  # until the first is stored and waiting
                if _keys(c.gateway.node) == 1:
                    break
                await asyncio.sleep(0.01)
            async with s.post(url, json=body, headers=_key("w-1")) as r:
                assert r.status == 409
                assert r.headers["Retry-After"] == "1"
                err = await r.json()
            assert err["error"]["code"] == "idempotency_key_in_progress"
            held.set()
            status, answer = await first
            assert status == 200 and answer["status"] == "complete"
            status, again = await _call(s, "POST", url, SEARCHES, json=body, headers=_key("w-1"))
            assert (status, again) == (200, answer)  # what the first request got
            assert _searches(c.gateway.node) == 1

    event_loop.run(main())


def test_a_key_survives_a_restart_on_the_same_data(tmp_path: Path) -> None:
    body = _search_body(_probe(PARTNER_SUBJECTS + 1), ["dna"], ["DE"])
    record = uk_json.record_to_json(population.person(SEED, 11).record)

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        status, search = await _call(
            s, "POST", f"{c.client_url}{SEARCHES}", SEARCHES, json=body, headers=_key("r-1")
        )
        assert status == 202
        status, enrolled = await _call(
            s, "POST", f"{c.client_url}{RECORDS}", RECORDS, json=record, headers=_key("r-2")
        )
        assert status == 201
        await c.gateway.stop()
        await c.gateway.start()  # the same data directory, a new process's state
        status, again = await _call(
            s, "POST", f"{c.client_url}{SEARCHES}", SEARCHES, json=body, headers=_key("r-1")
        )
        assert (status, again) == (202, search)
        status, again = await _call(
            s, "POST", f"{c.client_url}{RECORDS}", RECORDS, json=record, headers=_key("r-2")
        )
        assert (status, again) == (201, enrolled)
        assert _searches(c.gateway.node) == 1

    run(tmp_path, scenario)


def test_keys_past_24_hours_are_forgotten_by_housekeeping(tmp_path: Path) -> None:
    body = _search_body(_probe(PARTNER_SUBJECTS + 1), ["dna"], ["DE"])

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        node = c.gateway.node
        assert node is not None
        url = f"{c.client_url}{SEARCHES}"
        start = node.clock()
        node.clock = lambda: start
        status, first = await _call(s, "POST", url, SEARCHES, json=body, headers=_key("x-1"))
        assert status == 202
        node.clock = lambda: start + KEY_RETENTION - dt.timedelta(seconds=1)
        assert (await housekeeping.housekeep(node))["idempotency_keys"] == 0
        node.clock = lambda: start + KEY_RETENTION + dt.timedelta(seconds=1)
        assert (await housekeeping.housekeep(node))["idempotency_keys"] == 1
        assert _keys(node) == 0
        status, second = await _call(s, "POST", url, SEARCHES, json=body, headers=_key("x-1"))
        assert status == 202 and second["search_id"] != first["search_id"]  # a new search

    run(tmp_path, scenario)


def test_a_key_another_process_stored_first_rolls_the_search_back(tmp_path: Path) -> None:
    """Two gateway processes on one file: this one found the key unused, but the other
    committed it before this one's commit. The search made here goes back with the key,
    and the answer is the other process's."""
    body = _search_body(_probe(PARTNER_SUBJECTS + 1), ["dna"], ["DE"])
    theirs = '{"search_id": "theirs", "status": "pending"}'

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        node = c.gateway.node
        assert node is not None
        looked_up = node.store.kept_response

        def racing(client_id: str, key: str, *, since: dt.datetime) -> KeptResponse | None:
            found = looked_up(client_id, key, since=since)
            if found is None:  # the other process commits just after this look-up
                digest = request_digest("POST /v1/searches", body)
                kept = KeptResponse(digest, "theirs", 202, theirs, True, node.clock())
                with Store.open(store_path(c.gateway.config)) as other:
                    other.keep_response(client_id, key, kept, expired_before=since)
            return found

        node.store.kept_response = racing  # type: ignore[method-assign]
        async with s.post(f"{c.client_url}{SEARCHES}", json=body, headers=_key("k-1")) as r:
            assert r.status == 202 and r.headers.get("Idempotent-Replayed") == "true"
            assert await r.text() == theirs
        assert _searches(node) == 0
        assert not node.keys_in_flight

    run(tmp_path, scenario)
