"""End to end: a real UK gateway and real partner nodes on loopback, real SQLite and FAISS.

Every JSON response of the client API is checked against the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import structlog

import schemas
from exchange import event_loop
from exchange.codecs import uk_json
from exchange.gateway.config import Listener
from exchange.gateway.state.store import QuotaDirection
from mock_partners import population
from mock_partners.cluster import PARTNER_SUBJECTS, Cluster, running_cluster

SEED = 7


def _validate(path: str, method: str, status: int, body: Any) -> None:
    doc = schemas.json_schema(schemas.OPENAPI)
    op = doc["paths"][path][method]
    response = op["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(body)


async def _call(
    session: aiohttp.ClientSession, method: str, url: str, template: str, **kw: Any
) -> tuple[int, Any]:
    async with session.request(method, url, **kw) as resp:
        body = await resp.json() if resp.content_type == "application/json" else None
        if body is not None:
            _validate(template, method.lower(), resp.status, body)
        return resp.status, body


def _search_body(
    record_json: dict[str, Any], modalities: list[str], partners: Any = "all"
) -> dict[str, Any]:
    return {
        "purpose": "investigation",
        "case_reference": "OP-TEST-1",
        "record": record_json,
        "modalities": modalities,
        "partners": partners,
        "max_candidates": 5,
    }


def _probe(subject: int) -> dict[str, Any]:
    """A second capture of a subject, as the UK would search it (a stain, a new photo)."""
    rec = population.person(SEED, subject, owner="GB", capture=1).record
    return uk_json.record_to_json(rec)


async def _search_de_held_dna(c: Cluster, s: aiohttp.ClientSession) -> Any:
    """A DNA search, waited for, of a subject only DE holds; the search's JSON."""
    _, body = await _call(
        s,
        "POST",
        f"{c.client_url}/v1/searches?wait=15",
        "/v1/searches",
        json=_search_body(_probe(PARTNER_SUBJECTS + 1), ["dna"]),
    )
    return body


def run(
    tmp_path: Path, scenario: Callable[[Cluster, aiohttp.ClientSession], Awaitable[None]], **kw: Any
) -> None:
    async def main() -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            running_cluster(tmp_path, seed=SEED, gallery_size=8, **kw) as cluster,
            aiohttp.ClientSession(timeout=timeout) as session,
        ):
            await scenario(cluster, session)

    event_loop.run(main())  # the loop the gateway runs on in service (uvloop)


def test_dna_and_face_hits_come_back_from_the_partner_that_holds_the_person(tmp_path: Path) -> None:
    subject = 1 * PARTNER_SUBJECTS + 3  # held by DE (the first partner)

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        status, body = await _call(
            s,
            "POST",
            f"{c.client_url}/v1/searches?wait=10",
            "/v1/searches",
            json=_search_body(_probe(subject), ["dna", "face"]),
        )
        assert status == 200, body
        assert body["status"] == "complete"
        by_partner = {p["partner"]: p for p in body["partners"]}
        assert by_partner["FR"]["status"] == "no_hit"
        de = by_partner["DE"]
        assert de["status"] == "hit"
        expected = population.reference_of(SEED, subject, "DE")
        modalities = {h["modality"] for h in de["hits"] if h["reference"] == expected}
        assert modalities == {"dna", "face"}
        face_hits = [h for h in de["hits"] if h["modality"] == "face"]
        assert face_hits[0]["reference"] == expected  # the mate ranks first
        status, again = await _call(
            s, "GET", f"{c.client_url}/v1/searches/{body['search_id']}", "/v1/searches/{search_id}"
        )
        assert status == 200 and again["partners"] == body["partners"]

    run(tmp_path, scenario)


def test_follow_up_needs_confirmation_then_returns_core_data_only(tmp_path: Path) -> None:
    subject = 1 * PARTNER_SUBJECTS + 5

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        _, body = await _call(
            s,
            "POST",
            f"{c.client_url}/v1/searches?wait=10",
            "/v1/searches",
            json=_search_body(_probe(subject), ["face"], ["DE"]),
        )
        hit = body["partners"][0]["hits"][0]
        base = f"{c.client_url}/v1/searches/{body['search_id']}/hits/{hit['hit_id']}"
        status, err = await _call(
            s, "POST", f"{base}/follow-up", "/v1/searches/{search_id}/hits/{hit_id}/follow-up"
        )
        assert status == 409 and err["error"]["code"] == "not_confirmed"
        status, confirmed = await _call(
            s, "POST", f"{base}/confirm", "/v1/searches/{search_id}/hits/{hit_id}/confirm"
        )
        assert status == 200 and confirmed["confirmed"]
        status, core = await _call(
            s, "POST", f"{base}/follow-up", "/v1/searches/{search_id}/hits/{hit_id}/follow-up"
        )
        assert status == 200, core
        truth = population.person(SEED, subject, owner="DE").record
        assert truth.name is not None
        assert core["core_data"]["name"]["family"] == truth.name.family
        assert not {"dna", "face", "fingerprints"} & set(core["core_data"])

    run(tmp_path, scenario)


def test_a_finished_search_leaves_nothing_behind_for_waiters(tmp_path: Path) -> None:
    """The gateway runs for months: what `?wait=` waits on is dropped when a search ends."""

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        node = c.gateway.node
        assert node is not None
        url = f"{c.client_url}/v1/searches"
        record = _probe(PARTNER_SUBJECTS + 1)
        started = [
            await _call(s, "POST", url, "/v1/searches", json=_search_body(record, ["dna"]))
            for _ in range(3)
        ]
        assert all(status == 202 for status, _ in started)
        assert len(node.searches.done) == 3  # each pending search has its event
        waited = await asyncio.gather(
            *(
                _call(s, "GET", f"{url}/{b['search_id']}?wait=15", "/v1/searches/{search_id}")
                for _, b in started
            )
        )
        assert [b["status"] for _, b in waited] == ["complete"] * 3
        body = await _search_de_held_dna(c, s)
        assert body["status"] == "complete"
        assert node.searches.done == {}
        again = await _call(
            s, "GET", f"{url}/{body['search_id']}?wait=15", "/v1/searches/{search_id}"
        )
        assert again[1]["status"] == "complete" and node.searches.done == {}

    run(tmp_path, scenario)


def test_a_partner_that_never_answers_makes_the_search_partial(tmp_path: Path) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        body = await _search_de_held_dna(c, s)
        assert body["status"] == "partial"
        by_partner = {p["partner"]: p["status"] for p in body["partners"]}
        assert by_partner == {"DE": "hit", "FR": "timeout"}

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(60)  # accepts the connection and never answers

    async def main() -> None:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        overrides = {"FR": {"url": f"http://127.0.0.1:{port}/prum/v1/messages", "timeout_s": 0.5}}
        async with (
            server,
            running_cluster(
                tmp_path,
                seed=SEED,
                gallery_size=8,
                partner_overrides=overrides,
                uk_overrides={"search_deadline_s": 10.0},
            ) as cluster,
            aiohttp.ClientSession() as session,
        ):
            await scenario(cluster, session)

    merge = structlog.contextvars.merge_contextvars
    with structlog.testing.capture_logs(processors=[merge]) as logs:
        asyncio.run(main())
    # The failure has a line of its own, with the reason and the search's correlation id;
    # the answer that came is only in the search's summary line.
    (finished,) = [e for e in logs if e["event"] == "search_finished"]
    assert finished["partners"] == {"DE": "hit", "FR": "timeout"}
    (late,) = [e for e in logs if e["event"] == "partner_answer"]
    assert (late["partner"], late["status"]) == ("FR", "timeout") and late["error"]
    assert late["correlation_id"] == finished["correlation_id"]


def test_an_unexpected_failure_in_one_exchange_ends_that_partner_not_the_search(
    tmp_path: Path,
) -> None:
    async def broken_send(body: bytes, content_type: str, deadline: float) -> Any:
        raise RuntimeError("a bug in the outbound path")  # stands in for a programming error

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        assert c.gateway.node is not None
        c.gateway.node.links["FR"].client.send = broken_send  # type: ignore[method-assign]
        body = await _search_de_held_dna(c, s)
        assert body["status"] == "partial"
        by_partner = {p["partner"]: (p["status"], p["error"]) for p in body["partners"]}
        assert by_partner == {"DE": ("hit", None), "FR": ("error", "internal error: RuntimeError")}

    run(tmp_path, scenario)


def test_a_partner_answer_that_cannot_be_recorded_ends_that_partner_not_the_search(
    tmp_path: Path,
) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        node = c.gateway.node
        assert node is not None
        real = node.store.set_partner_result

        def failing(search_id: str, partner: str, status: Any, **kw: Any) -> Any:
            if partner == "FR" and status != "error":  # stands in for a write that fails
                raise sqlite3.OperationalError("disk I/O error")
            return real(search_id, partner, status, **kw)

        node.store.set_partner_result = failing  # type: ignore[method-assign]
        body = await _search_de_held_dna(c, s)
        assert body["status"] == "partial"  # ended, not left pending
        by_partner = {p["partner"]: (p["status"], p["error"]) for p in body["partners"]}
        assert by_partner == {
            "DE": ("hit", None),
            "FR": ("error", "internal error: OperationalError"),
        }

    run(tmp_path, scenario)


def test_outbound_capacity_is_refused_without_sending(tmp_path: Path) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        statuses = []
        for _ in range(2):
            _, body = await _call(
                s,
                "POST",
                f"{c.client_url}/v1/searches?wait=10",
                "/v1/searches",
                json=_search_body(_probe(PARTNER_SUBJECTS + 2), ["dna"], ["DE"]),
            )
            statuses.append(body["partners"][0]["status"])
        assert statuses == ["hit", "quota_exceeded"]
        de = c.partners["DE"]
        assert de is not None
        today = de.clock().date()
        assert de.store.quota_used(QuotaDirection.INBOUND, "GB", "DNA", today) == 1  # never sent

    run(tmp_path, scenario, partner_overrides={"DE": {"capacities": {"DNA": 1}}})


def test_bad_requests_get_typed_json_errors(tmp_path: Path) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        url = f"{c.client_url}/v1/searches"
        bad_record = _probe(PARTNER_SUBJECTS + 1)
        bad_record["identifiers"] = {"pnc_id": "12/1234567D"}
        cases = [
            (b"not json", 400, None),
            (json.dumps({"purpose": "investigation"}).encode(), 400, "case_reference"),
            (
                json.dumps(_search_body(bad_record, ["dna"])).encode(),
                422,
                "record.identifiers.pnc_id",
            ),
            (json.dumps(_search_body(_probe(1), ["dna"], ["XX"])).encode(), 400, "partners"),
            (
                json.dumps({**_search_body(_probe(1), ["dna"]), "max_candidates": 0}).encode(),
                400,
                "max_candidates",
            ),
        ]
        for data, status, field in cases:
            got, body = await _call(
                s,
                "POST",
                url,
                "/v1/searches",
                data=data,
                headers={"Content-Type": "application/json"},
            )
            assert got == status, body
            assert body["error"]["field"] == field
        got, body = await _call(s, "GET", f"{url}/nope", "/v1/searches/{search_id}")
        assert got == 404

    run(tmp_path, scenario)


def test_a_retried_message_is_answered_from_the_cache_not_searched_twice(tmp_path: Path) -> None:
    """A proxy passes the first attempt to DE but answers the UK gateway 503, as a load
    balancer might after the partner has already searched; the retry carries the same
    message id, and DE answers it from its duplicate cache."""
    from aiohttp import web

    async def main() -> None:
        seen: list[str] = []
        target: dict[str, str] = {}

        async def proxy(request: web.Request) -> web.Response:
            body = await request.read()
            async with (
                aiohttp.ClientSession() as s,
                s.post(target["url"], data=body, headers={"Content-Type": "application/xml"}) as r,
            ):
                reply = await r.read()
            seen.append("attempt")
            if len(seen) == 1:
                return web.Response(status=503)
            return web.Response(body=reply, status=r.status, content_type="application/xml")

        app = web.Application()
        app.router.add_post("/prum/v1/messages", proxy)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        overrides = {"DE": {"url": f"http://127.0.0.1:{port}/prum/v1/messages"}}
        try:
            async with (
                running_cluster(
                    tmp_path, seed=SEED, gallery_size=8, partner_overrides=overrides
                ) as c,
                aiohttp.ClientSession() as s,
            ):
                target["url"] = c.partner_url("DE")
                _, body = await _call(
                    s,
                    "POST",
                    f"{c.client_url}/v1/searches?wait=10",
                    "/v1/searches",
                    json=_search_body(_probe(PARTNER_SUBJECTS + 4), ["dna"], ["DE"]),
                )
                assert body["partners"][0]["status"] == "hit"
                assert len(seen) == 2
                de = c.partners["DE"]
                assert de is not None
                assert (
                    de.store.quota_used(QuotaDirection.INBOUND, "GB", "DNA", de.clock().date()) == 1
                )
                assert (
                    de.metrics.counter_value(
                        "prum_inbound_total", type="dna_search_request", outcome="duplicate"
                    )
                    == 1
                )
                uk = c.gateway.node
                assert (
                    uk is not None
                    and uk.metrics.counter_value("prum_retries_total", partner="DE") == 1
                )
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_inbound_capacity_and_candidate_limits_are_enforced_by_the_partner(tmp_path: Path) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        statuses = []
        for _ in range(2):
            _, body = await _call(
                s,
                "POST",
                f"{c.client_url}/v1/searches?wait=10",
                "/v1/searches",
                json=_search_body(_probe(PARTNER_SUBJECTS + 2), ["face"], ["DE"]),
            )
            statuses.append((body["partners"][0]["status"], len(body["partners"][0]["hits"])))
        assert statuses[0][0] == "hit" and 1 <= statuses[0][1] <= 5
        assert statuses[1] == ("quota_exceeded", 0)  # DE declared 1 face search a day for GB

    async def main() -> None:
        from dataclasses import replace

        import mock_partners.cluster as cl

        original = cl.partner_node_config

        def tight(partner_id: str, data_dir: Path, uk: str = "GB") -> Any:
            cfg = original(partner_id, data_dir, uk)
            gb = replace(
                cfg.partners[0],
                inbound_capacities={**cfg.partners[0].inbound_capacities, "FACE": 1},
            )
            return replace(cfg, partners=(gb,))

        cl.partner_node_config = tight
        try:
            async with (
                running_cluster(tmp_path, seed=SEED, gallery_size=8) as c,
                aiohttp.ClientSession() as s,
            ):
                await scenario(c, s)
        finally:
            cl.partner_node_config = original

    asyncio.run(main())


def test_erased_uk_record_is_gone_for_partners_too(tmp_path: Path) -> None:
    """Partners search the UK gallery through the partner API; after erasure the record no
    longer hits, and a follow-up for the hit it gave before answers unknown reference."""
    import datetime as dt

    from exchange.codecs import prum_xml
    from exchange.model import Envelope, FollowUpRequest, Header, MessageType, Purpose
    from exchange.translate import Outbound, record_to_envelope

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        person = population.person(SEED, 55, owner="GB").record
        status, enrolled = await _call(
            s,
            "POST",
            f"{c.client_url}/v1/records",
            "/v1/records",
            json=uk_json.record_to_json(person),
        )
        assert status == 201
        probe = population.person(SEED, 55, owner="GB", capture=1).record
        partner_url = f"http://127.0.0.1:{c.gateway.partner_port}/prum/v1/messages"
        now = dt.datetime.now(dt.UTC)

        async def ask(env: Envelope) -> Envelope:
            async with s.post(
                partner_url, data=prum_xml.encode(env), headers={"Content-Type": "application/xml"}
            ) as r:
                return prum_xml.decode(await r.read())

        search = record_to_envelope(
            probe,
            Outbound(
                message_id="de-1",
                correlation_id="de-c1",
                timestamp=now,
                sender="DE",
                receiver="GB",
                message="face-search",
            ),
        )
        reply = await ask(search)
        refs = [cand.reference for res in reply.body.results for cand in res.candidates]  # type: ignore[union-attr]
        assert refs[0] == enrolled["reference"]
        follow = Envelope(
            Header(
                "de-2",
                "de-c1",
                now,
                "DE",
                "GB",
                MessageType.FOLLOW_UP_REQUEST,
                Purpose.INVESTIGATION,
            ),
            FollowUpRequest("de-1", refs[0]),
        )
        assert (await ask(follow)).header.message_type == MessageType.FOLLOW_UP_REPLY
        fr_follow = Envelope(
            Header(
                "fr-2",
                "fr-c1",
                now,
                "FR",
                "GB",
                MessageType.FOLLOW_UP_REQUEST,
                Purpose.INVESTIGATION,
            ),
            FollowUpRequest("de-1", refs[0]),
        )
        assert (await ask(fr_follow)).body.code.value == "unknown_reference"  # type: ignore[union-attr]
        pnc = person.identifiers.pnc_id
        async with s.delete(f"{c.client_url}/v1/records/{pnc}") as r:
            assert r.status == 204
        again = record_to_envelope(
            probe,
            Outbound(
                message_id="de-3",
                correlation_id="de-c3",
                timestamp=now,
                sender="DE",
                receiver="GB",
                message="face-search",
            ),
        )
        reply = await ask(again)
        assert not reply.body.hit  # type: ignore[union-attr]
        follow2 = Envelope(
            Header(
                "de-4",
                "de-c1",
                now,
                "DE",
                "GB",
                MessageType.FOLLOW_UP_REQUEST,
                Purpose.INVESTIGATION,
            ),
            FollowUpRequest("de-1", refs[0]),
        )
        assert (await ask(follow2)).body.code.value == "unknown_reference"  # type: ignore[union-attr]

    run(tmp_path, scenario)


def test_interpol_dialect_prints_as_ansi_nist_dna_face_and_nominal_as_xml(tmp_path: Path) -> None:
    """Interpol (the second partner) holds subjects 2*PARTNER_SUBJECTS onwards; the first of
    them has a notice and a stolen passport, so a nominal check of their name hits too."""
    subject = 2 * PARTNER_SUBJECTS

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        probe = uk_json.record_to_json(population.person(SEED, subject, "GB", capture=1).record)
        body = _search_body(probe, ["dna", "fingerprint", "face", "nominal"], ["INTERPOL"])
        _, result = await _call(
            s, "POST", f"{c.client_url}/v1/searches?wait=20", "/v1/searches", json=body
        )
        assert result["status"] == "complete", result
        (interpol,) = result["partners"]
        assert interpol["status"] == "hit"
        expected = population.reference_of(SEED, subject, "INTERPOL")
        by_modality: dict[str, list[str]] = {}
        for h in interpol["hits"]:
            by_modality.setdefault(h["modality"], []).append(h["reference"])
        assert expected in by_modality["dna"]
        assert by_modality["fingerprint"][0] == expected
        assert by_modality["face"][0] == expected
        assert set(by_modality["nominal"]) == {f"N-2026-{subject:08d}", f"P{subject:08d}"}
        node = c.partners["INTERPOL"]
        from exchange.gateway.state.store import QuotaDirection

        assert (
            node.store.quota_used(QuotaDirection.INBOUND, "GB", "TP/TP", node.clock().date()) == 1
        )

    run(tmp_path, scenario, partner_ids=("DE", "INTERPOL"))


def test_a_slowly_trickled_body_is_cut_off_with_408(tmp_path: Path) -> None:
    """Slow loris: a client that sends headers, then the body a byte at a time, too slowly."""
    import exchange.gateway.client.requests as client_requests

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        port = c.gateway.client_port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /v1/searches HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        assert b" 408 " in status_line
        writer.close()
        await writer.wait_closed()

    original = client_requests.BODY_READ_TIMEOUT_S
    client_requests.BODY_READ_TIMEOUT_S = 0.5
    try:
        run(tmp_path, scenario)
    finally:
        client_requests.BODY_READ_TIMEOUT_S = original


def test_a_message_sent_in_pieces_is_read_whole(tmp_path: Path) -> None:
    """A valid partner message arriving in 500-byte chunks is one message, not a bad one."""
    import datetime as dt

    from exchange.codecs import prum_xml
    from exchange.translate import Outbound, record_to_envelope

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        probe = population.person(SEED, 3, "GB", capture=1).record
        env = record_to_envelope(
            probe,
            Outbound(
                message_id="pieces-1",
                correlation_id="p",
                timestamp=dt.datetime.now(dt.UTC),
                sender="DE",
                receiver="GB",
                message="dna-search",
            ),
        )
        data = prum_xml.encode(env)

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(data), 500):
                yield data[i : i + 500]
                await asyncio.sleep(0.01)

        url = f"http://127.0.0.1:{c.gateway.partner_port}/prum/v1/messages"
        async with s.post(url, data=chunks(), headers={"Content-Type": "application/xml"}) as r:
            reply = prum_xml.decode(await r.read())
            assert r.status == 200, reply
        assert reply.header.message_type == "search_reply"

    run(tmp_path, scenario)


def test_a_connection_trickling_its_headers_is_closed(tmp_path: Path) -> None:
    """Slow loris in the header phase: half a request line, then nothing."""

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        for port in (c.gateway.client_port, c.gateway.partner_port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /v1/searches HTTP/1.1\r\nHost: x\r\n")
            await writer.drain()
            assert await asyncio.wait_for(reader.read(100), 10) == b""  # closed by the server
            writer.close()
            await writer.wait_closed()

    run(tmp_path, scenario, uk_overrides={"idle_timeout_s": 1.0})


def test_partner_messages_beyond_the_bound_get_503_with_retry_after(tmp_path: Path) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        port = c.gateway.partner_port
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /prum/v1/messages HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/xml\r\nContent-Length: 100\r\n\r\n<a"
        )
        await writer.drain()  # this message holds the only slot while its body trickles
        await asyncio.sleep(0.3)
        url = f"http://127.0.0.1:{port}/prum/v1/messages"
        async with s.post(url, data=b"<x/>", headers={"Content-Type": "application/xml"}) as r:
            assert r.status == 503 and r.headers["Retry-After"] == "1"
            assert b"<Error" in await r.read()
        writer.close()
        await writer.wait_closed()

    listener = Listener(port=0, max_in_flight=1)  # [partner_listener] max_in_flight = 1
    run(tmp_path, scenario, uk_overrides={"partner_listener": listener})
