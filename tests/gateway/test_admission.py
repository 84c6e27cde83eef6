"""Admission control on a real gateway (issue 23 item 10): over a listener's bound a request is
refused 503 with Retry-After before its body is read; the probes are never counted nor
refused; once the load drains, requests are admitted again.

The bound is held full by requests whose bodies have not all arrived (their handlers wait
on them). The refused request declares a large body and sends none of it: its 503 can only
arrive if nothing waited for that body. Every wait is bounded (`BOUND_S`); nothing times
the gateway.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from exchange import event_loop
from exchange.codecs import prum_xml, uk_json
from exchange.gateway.config import Listener
from exchange.model import ErrorCode
from mock_partners import population
from mock_partners.cluster import PARTNER_SUBJECTS, Cluster, running_cluster

SEED = 7
BOUND_S = 8.0  # no answer here should take near this: a hang fails the test, not the run
BIG = 10_000_000  # a declared body under the client API's 16 MB cap, never sent
BIG_XML = 4_000_000  # and under the partner API's 8 MB

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _open(port: int, head: bytes) -> Streams:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    await writer.drain()
    return reader, writer


def _post(path: str, length: int, content_type: str = "application/json") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body: status, headers (lower case), body."""
    async with asyncio.timeout(BOUND_S):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


async def _in_flight(c: Cluster, s: aiohttp.ClientSession, listener: str) -> float:
    async with s.get(f"{c.client_url}/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith(f'prum_requests_in_flight{{listener="{listener}"}}'):
            return float(line.rpartition(" ")[2])
    raise AssertionError(f"no in-flight gauge for {listener}")


async def _until_admitted(c: Cluster, s: aiohttp.ClientSession, listener: str, n: int) -> None:
    """Wait (bounded in count) until the listener counts `n` requests in flight."""
    for _ in range(200):
        if await _in_flight(c, s, listener) == n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{listener}: never {n} in flight")


def _search(subject: int) -> dict[str, Any]:
    record = uk_json.record_to_json(population.person(SEED, subject, owner="GB", capture=1).record)
    return {
        "purpose": "investigation",
        "case_reference": "OP-SHED-1",
        "record": record,
        "modalities": ["dna"],
        "partners": ["DE"],
        "max_candidates": 5,
    }


ONE_SLOT = Listener(port=0, max_in_flight=1, max_connections=16)


def run(
    tmp_path: Path, scenario: Callable[[Cluster, aiohttp.ClientSession], Awaitable[None]], **kw: Any
) -> None:
    async def main() -> None:
        async with (
            running_cluster(tmp_path, ("DE",), seed=SEED, gallery_size=4, **kw) as cluster,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        ):
            await scenario(cluster, session)

    event_loop.run(main())


def test_a_search_over_the_bound_is_refused_before_its_body_and_admitted_after(
    tmp_path: Path,
) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        port = c.gateway.client_port
        held_r, held_w = await _open(port, _post("/v1/searches", 100) + b"{")
        await _until_admitted(c, s, "client", 1)  # it holds the only slot, reading its body
        reader, writer = await _open(port, _post("/v1/searches?wait=5", BIG))
        status, headers, body = await _response(reader)  # arrives with no byte of its body
        assert status == 503, body
        assert headers["retry-after"] == "1"
        assert headers["connection"] == "close"  # its body is still due: not kept alive
        error = json.loads(body)["error"]
        assert error["code"] == "busy" and error["field"] is None
        await _close(writer)
        async with s.get(f"{c.client_url}/healthz") as r:  # never counted, never refused
            assert r.status == 200
        async with s.get(f"{c.client_url}/metrics") as r:
            text = await r.text()
        assert 'prum_shed_total{listener="client",reason="in_flight"} 1' in text
        assert 'prum_requests_in_flight_limit{listener="client"} 1' in text
        held_w.write(b"x" * 99)  # the held request ends (400: not JSON) and frees its slot
        status, _, body = await _response(held_r)
        assert status == 400 and json.loads(body)["error"]["code"] == "invalid_json"
        await _close(held_w)
        url = f"{c.client_url}/v1/searches?wait=10"
        async with s.post(url, json=_search(PARTNER_SUBJECTS + 1)) as r:
            assert r.status == 200
            done = await r.json()
        assert done["status"] == "complete" and done["partners"][0]["status"] == "hit"

    run(
        tmp_path,
        scenario,
        uk_overrides={"client": ONE_SLOT},
    )


def test_a_refused_request_leaves_its_kept_alive_connection_usable(tmp_path: Path) -> None:
    """A 503 whose body had all arrived keeps the connection: the next request on it is read
    from the right place (aiohttp discards the unread body)."""

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        port = c.gateway.client_port
        _held_r, held_w = await _open(port, _post("/v1/searches", 100) + b"{")
        await _until_admitted(c, s, "client", 1)
        body = json.dumps(_search(PARTNER_SUBJECTS + 1)).encode()
        reader, writer = await _open(port, _post("/v1/searches", len(body)) + body)
        status, headers, _ = await _response(reader)
        assert status == 503 and headers.get("connection") != "close"
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, probe = await _response(reader)
        assert status == 200 and json.loads(probe) == {"status": "ok"}
        await _close(writer)
        await _close(held_w)

    run(
        tmp_path,
        scenario,
        uk_overrides={"client": ONE_SLOT},
    )


def test_a_partner_message_over_the_bound_gets_a_prum_xml_busy_error(tmp_path: Path) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        port = c.gateway.partner_port
        held = _post("/prum/v1/messages", 100, "application/xml") + b"<a"
        _held_r, held_w = await _open(port, held)
        await _until_admitted(c, s, "partner", 1)
        reader, writer = await _open(port, _post("/prum/v1/messages", BIG_XML, "application/xml"))
        status, headers, body = await _response(reader)
        assert status == 503 and headers["retry-after"] == "1"
        assert headers["content-type"].startswith("application/xml")
        error = prum_xml.decode(body).body
        assert getattr(error, "code", None) is ErrorCode.QUOTA_EXCEEDED
        await _close(writer)
        async with s.get(f"http://127.0.0.1:{port}/healthz") as r:  # the partner port's probe
            assert r.status == 200
        await _close(held_w)

    run(
        tmp_path,
        scenario,
        uk_overrides={"partner_listener": ONE_SLOT},
    )


def test_a_connection_over_the_listener_bound_is_answered_503_and_closed(tmp_path: Path) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        port = c.gateway.client_port
        probe = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        kept = [await _open(port, probe) for _ in range(2)]
        for reader, _ in kept:  # both connections are open and known to the server
            assert (await _response(reader))[0] == 200
        reader, writer = await _open(port, probe)
        status, headers, body = await _response(reader)
        assert status == 503 and headers["connection"] == "close"
        assert headers["retry-after"] == "1" and json.loads(body)["error"]["code"] == "busy"
        async with asyncio.timeout(BOUND_S):
            assert await reader.read() == b""  # closed by the gateway
        await _close(writer)
        await _close(kept[0][1])
        for _ in range(200):  # once the server has seen one go, a new connection is served
            reader, writer = await _open(port, probe)
            status = (await _response(reader))[0]
            await _close(writer)
            if status == 200:
                break
            await asyncio.sleep(0.02)
        assert status == 200
        await _close(kept[1][1])

    listener = Listener(port=0, max_in_flight=1, max_connections=2)
    run(tmp_path, scenario, uk_overrides={"client": listener})
