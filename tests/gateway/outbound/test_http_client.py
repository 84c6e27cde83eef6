"""The fan-out's HTTP client against real servers on loopback: aiohttp ones for well-behaved
partners, raw asyncio ones for answers an aiohttp server would never send."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web

from exchange.gateway.outbound.http_client import (
    Endpoint,
    HttpClient,
    HttpClientError,
    PeerIdentityError,
    ReplyTooLarge,
)
from exchange.pki import init_pki, ssl_client_context, ssl_server_context

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Runner = Callable[[Coroutine[Any, Any, None]], None]


# uvloop is a dependency everywhere but Windows (pyproject.toml), where it does not exist
LOOPS = ["asyncio"] if sys.platform == "win32" else ["asyncio", "uvloop"]


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Runner:
    """Each test on both event loops: the gateway runs on uvloop, whose transports differ."""
    if request.param == "asyncio":
        return asyncio.run
    import uvloop

    return cast(Runner, uvloop.run)


async def _aiohttp_server(
    app: web.Application, tls: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    return runner, int(runner.addresses[0][1])


async def _raw_server(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@contextlib.asynccontextmanager
async def _client_of(handler: Handler) -> AsyncIterator[tuple[HttpClient, Endpoint]]:
    """A raw partner serving `handler`, and a client with that partner's endpoint."""
    server, port = await _raw_server(handler)
    client = HttpClient()
    try:
        yield client, Endpoint.parse(f"http://127.0.0.1:{port}/m")
    finally:
        await client.close()
        server.close()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return await reader.readexactly(length)


def _echo_app(connections: list[object]) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        connections.append(request.transport)
        body = await request.read()
        return web.Response(body=body[::-1], content_type="application/xml")

    app = web.Application()
    app.router.add_post("/prum/v1/messages", echo)
    return app


def test_endpoint_parses_once_what_every_request_needs(run: Runner) -> None:
    e = Endpoint.parse("https://de.example:8443/prum/v1/messages?x=1")
    assert (e.scheme, e.host, e.port) == ("https", "de.example", 8443)
    assert e.target == b"/prum/v1/messages?x=1"
    assert e.host_header == b"de.example:8443"
    assert Endpoint.parse("http://[::1]/m").host_header == b"[::1]:80"
    with pytest.raises(ValueError, match="not an http"):
        Endpoint.parse("ftp://x/y")


def test_answers_come_back_whole_and_connections_are_reused(run: Runner) -> None:
    async def main() -> None:
        transports: list[object] = []
        runner, port = await _aiohttp_server(_echo_app(transports))
        client = HttpClient()
        endpoint = Endpoint.parse(f"http://127.0.0.1:{port}/prum/v1/messages")
        try:
            for i in range(5):
                body = f"<m>{i}</m>".encode() * (1 + i * 5000)  # up to ~160 kB
                reply = await client.post(endpoint, body, "application/xml", 1 << 20)
                assert (reply.status, reply.content_type) == (200, "application/xml")
                assert reply.body == body[::-1]
            assert client.connections_opened(endpoint) == 1  # sequential: one, kept alive
            replies = await asyncio.gather(
                *(client.post(endpoint, b"<a/>", "application/xml", 1024) for _ in range(8))
            )
            assert all(r.body == b">/a<" for r in replies)
        finally:
            await client.close()
            await runner.cleanup()
        assert len({id(t) for t in transports[:5]}) == 1  # one connection, kept alive
        assert len({id(t) for t in transports}) <= 8

    run(main())


def test_a_connection_idle_past_the_timeout_is_closed_not_reused(run: Runner) -> None:
    async def main() -> None:
        runner, port = await _aiohttp_server(_echo_app([]))
        client = HttpClient(idle_timeout_s=0.1)
        endpoint = Endpoint.parse(f"http://127.0.0.1:{port}/prum/v1/messages")
        try:
            await client.post(endpoint, b"<a/>", "application/xml", 1024)
            await client.post(endpoint, b"<a/>", "application/xml", 1024)
            assert client.connections_opened(endpoint) == 1  # reused while fresh
            await asyncio.sleep(0.2)
            await client.post(endpoint, b"<a/>", "application/xml", 1024)
            assert client.connections_opened(endpoint) == 2  # the stale one was not reused
            assert client.open_connections == 1  # and it was closed
        finally:
            await client.close()
            await runner.cleanup()

    run(main())


@pytest.mark.parametrize(
    "answer",
    [
        # chunked, split oddly, with a charset parameter on the media type
        b"HTTP/1.1 200 OK\r\nContent-Type: Application/XML; charset=utf-8\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3\r\n<ok\r\n2\r\n/>\r\n0\r\n\r\n",
        # an interim 100 answer first, then the real one
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
        b"Content-Length: 5\r\n\r\n<ok/>",
        # HTTP/1.0 style: the body ends with the connection
        b"HTTP/1.0 200 OK\r\nContent-Type: application/xml\r\n\r\n<ok/>",
    ],
    ids=["chunked", "interim 100", "ends with the connection"],
)
def test_answers_framed_every_way_http_allows_are_read(run: Runner, answer: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        for i in range(0, len(answer), 7):  # in pieces, as a slow link delivers them
            writer.write(answer[i : i + 7])
            await writer.drain()
            await asyncio.sleep(0)
        writer.close()

    async def main() -> None:
        server, port = await _raw_server(handler)
        client = HttpClient()
        try:
            endpoint = Endpoint.parse(f"http://127.0.0.1:{port}/m")
            reply = await client.post(endpoint, b"<q/>", "application/xml", 1024)
        finally:
            await client.close()
            server.close()
        assert (reply.status, reply.content_type, reply.body) == (200, "application/xml", b"<ok/>")

    run(main())


@pytest.mark.parametrize(
    ("answer", "error", "match"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", HttpClientError, "closed"),
        (b"garbage that is no HTTP\r\n\r\n", HttpClientError, "malformed"),
        (b"", HttpClientError, "closed"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000, ReplyTooLarge, "4096"),
    ],
    ids=["short body", "not http", "nothing", "too large"],
)
def test_broken_answers_raise_typed_errors_and_drop_the_connection(
    run: Runner, answer: bytes, error: type[Exception], match: str
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    async def main() -> None:
        server, port = await _raw_server(handler)
        client = HttpClient()
        try:
            with pytest.raises(error, match=match):
                await client.post(Endpoint.parse(f"http://127.0.0.1:{port}/m"), b"x", "a/b", 4096)
            await asyncio.sleep(0)
            assert client.open_connections == 0
        finally:
            await client.close()
            server.close()

    run(main())


def test_a_refused_connection_is_an_http_client_error(run: Runner) -> None:
    async def main() -> None:
        server, port = await _raw_server(lambda r, w: asyncio.sleep(0))
        server.close()
        await server.wait_closed()
        client = HttpClient()
        with pytest.raises(HttpClientError, match="cannot connect"):
            await client.post(Endpoint.parse(f"http://127.0.0.1:{port}/m"), b"x", "a/b", 10)
        await client.close()

    run(main())


def test_an_idle_connection_the_partner_closed_is_replaced_without_an_error(run: Runner) -> None:
    served: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        served.append(1)
        # answers as keep-alive, then closes the connection while the client holds it idle
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def main() -> None:
        async with _client_of(handler) as (client, endpoint):
            for _ in range(3):
                assert (await client.post(endpoint, b"x", "a/b", 10)).body == b"ok"
                await asyncio.sleep(0.05)  # the close reaches the idle connection

    run(main())
    assert len(served) == 3  # each request served once: no request was sent twice


def test_a_reused_connection_closed_as_the_request_arrives_is_retried_once_on_a_new_one(
    run: Runner,
) -> None:
    requests: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await _read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        # the next request on this connection is read, then dropped unanswered: the race of
        # a server closing an idle connection just as the client reuses it
        requests.append(await _read_request(reader))
        writer.close()

    async def main() -> None:
        async with _client_of(handler) as (client, endpoint):
            assert (await client.post(endpoint, b"1", "a/b", 10)).body == b"ok"
            assert (await client.post(endpoint, b"2", "a/b", 10)).body == b"ok"

    run(main())
    assert requests[:3] == [b"1", b"2", b"2"]  # dropped once, answered on a new connection


def test_a_fresh_connection_closed_without_an_answer_is_not_retried(run: Runner) -> None:
    requests: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await _read_request(reader))
        writer.close()

    async def main() -> None:
        server, port = await _raw_server(handler)
        client = HttpClient()
        try:
            with pytest.raises(HttpClientError, match="closed"):
                await client.post(Endpoint.parse(f"http://127.0.0.1:{port}/m"), b"1", "a/b", 10)
        finally:
            await client.close()
            server.close()

    run(main())
    assert requests == [b"1"]  # the partner client's retry policy decides, not the transport


def test_a_request_timed_out_half_way_does_not_leave_its_connection_in_the_pool(
    run: Runner,
) -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await _read_request(reader)
        if body == b"slow":
            await release.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n" + body[:4].ljust(4))
        await writer.drain()
        with pytest.raises(Exception):  # noqa: B017 - the client may have gone
            await _read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate")
        writer.close()

    async def main() -> None:
        async with _client_of(handler) as (client, endpoint):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await client.post(endpoint, b"slow", "a/b", 10)
            assert client.open_connections == 0
            release.set()
            reply = await client.post(endpoint, b"fast", "a/b", 10)
            assert reply.body == b"fast"  # not the slow request's late answer

    run(main())


def test_mutual_tls_with_the_nodes_certificates(run: Runner, tmp_path: Path) -> None:
    pki = init_pki(tmp_path / "pki", ["GB", "DE"], dt.datetime.now(dt.UTC))

    async def main() -> None:
        runner, port = await _aiohttp_server(_echo_app([]), ssl_server_context(pki["DE"]))
        client = HttpClient(ssl_client_context(pki["GB"]))
        try:
            endpoint = Endpoint.parse(f"https://localhost:{port}/prum/v1/messages")
            reply = await client.post(endpoint, b"<tls/>", "application/xml", 1024)
            assert reply.body == b">/slt<"
        finally:
            await client.close()
            await runner.cleanup()
        plain = HttpClient(ssl.create_default_context())  # no client certificate, wrong CA
        runner, port = await _aiohttp_server(_echo_app([]), ssl_server_context(pki["DE"]))
        try:
            with pytest.raises(HttpClientError, match="cannot connect"):
                await plain.post(
                    Endpoint.parse(f"https://localhost:{port}/prum/v1/messages"), b"x", "a/b", 9
                )
        finally:
            await plain.close()
            await runner.cleanup()

    run(main())


def test_a_server_certificate_of_another_node_is_refused_before_sending(
    run: Runner, tmp_path: Path
) -> None:
    pki = init_pki(tmp_path / "pki", ["GB", "DE", "FR"], dt.datetime.now(dt.UTC))
    bodies: list[object] = []

    async def main() -> None:
        runner, port = await _aiohttp_server(_echo_app(bodies), ssl_server_context(pki["FR"]))
        client = HttpClient(ssl_client_context(pki["GB"]))
        url = f"https://localhost:{port}/prum/v1/messages"
        try:
            with pytest.raises(PeerIdentityError, match="names FR, not DE") as caught:
                await client.post(Endpoint.parse(url, node_id="DE"), b"<p/>", "a/b", 1024)
            assert caught.value.presented == "FR"
            assert client.open_connections == 0
            reply = await client.post(Endpoint.parse(url, node_id="FR"), b"<p/>", "a/b", 1024)
            assert reply.body == b">/p<"
            # the FR connection in the pool is not lent to an endpoint for DE
            with pytest.raises(PeerIdentityError):
                await client.post(Endpoint.parse(url, node_id="DE"), b"<q/>", "a/b", 1024)
        finally:
            await client.close()
            await runner.cleanup()

    run(main())
    assert len(bodies) == 1  # only FR's own request was served
