"""No secret in any log line, and no log flood from requests nobody authenticated.

A real gateway on 127.0.0.1 with a client token, logs configured as in service
(`logs.configure`, JSON to stderr, captured by pytest). Malformed requests quote their
offending header line in aiohttp's parser error; what reaches the log must be one short
warning without it, rate-limited; a peer that resets mid-body is a debug line; our own
exceptions carry their text and traceback in JSON.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
import structlog

from exchange.gateway import logs
from exchange.gateway.app import Gateway
from exchange.gateway.auth import SCOPES, ClientConfig
from exchange.gateway.config import GatewayConfig, Listener, PartnerConfig

TOKEN = "s3cr3t-T0KEN-do-not-log-4f9a"

# Each of these has the token in, or next to, the line aiohttp's parser refuses.
MALFORMED = [
    f"Authorization: Bearer {TOKEN}\x01\r\n",  # an invalid character in the value
    f"Authorization : Bearer {TOKEN}\r\n",  # a space before the colon
    f"Authorization: Bearer {TOKEN}\r\n folded\r\n",  # obsolete line folding
    f"Authorization: Bearer {TOKEN}\r\nContent-Length: 12x\r\n",
]


def _config(tmp_path: Path) -> GatewayConfig:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    return GatewayConfig(
        data_dir=tmp_path / "GB",
        client=Listener(port=0),
        partner_listener=Listener(port=0),
        clients=(ClientConfig("ops", digest, frozenset(SCOPES)),),
        partners=(PartnerConfig(id="DE", url="http://127.0.0.1:9/prum/v1/messages"),),
    )


async def _send(port: int, head: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST /v1/searches HTTP/1.1\r\nHost: gb\r\n{head}\r\n".encode("latin-1"))
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(200), 5)
    writer.close()
    return answer


async def _reset_mid_body(port: int, path: str) -> None:
    """Headers and part of the body, then a TCP reset (SO_LINGER 0)."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: gb\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/xml\r\nContent-Length: 100000\r\n\r\n<a>".encode()
    )
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
    )
    writer.close()
    await asyncio.sleep(0.1)


def _with_gateway(tmp_path: Path, body: Callable[[Gateway], Awaitable[None]]) -> None:
    async def main() -> None:
        gw = Gateway(_config(tmp_path))
        await gw.start()
        try:
            await body(gw)
        finally:
            await gw.stop()

    asyncio.run(main())


def _lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_a_malformed_request_logs_one_short_line_without_its_headers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure(fmt="json")

    async def body(gw: Gateway) -> None:
        for head in MALFORMED:
            assert (await _send(gw.client_port, head)).startswith(b"HTTP/1.")
            assert (await _send(gw.partner_port, head)).startswith(b"HTTP/1.")

    _with_gateway(tmp_path, body)
    err = capsys.readouterr().err
    assert TOKEN not in err and "Bearer" not in err and "Traceback" not in err
    refused = [e for e in _lines(err) if e["event"] == "http_refused"]
    assert len(refused) == 2 * len(MALFORMED)
    assert all(e["level"] == "warning" and e["status"] == 400 for e in refused)
    assert {e["error"] for e in refused} <= {"BadHttpMessage", "InvalidHeader", "LineTooLong"}
    assert all(line.startswith("{") for line in err.splitlines())  # every line structured


def test_a_flood_of_malformed_requests_is_a_bounded_few_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure(fmt="json")
    capsys.readouterr()

    async def body(gw: Gateway) -> None:
        for i in range(1000):  # the figure: 512 KB of tracebacks before
            await _send(gw.client_port, MALFORMED[i % len(MALFORMED)])

    _with_gateway(tmp_path, body)
    err = capsys.readouterr().err
    refused = [e for e in _lines(err) if e["event"] == "http_refused"]
    assert len(refused) == logs.REFUSED_PER_WINDOW  # the rest left out in this window
    assert len(err.encode()) < 8 * 1024  # start-up lines included
    assert max(len(line) for line in err.splitlines()) < 400


def test_the_rate_limit_says_how_many_it_left_out() -> None:
    now = [0.0]
    hygiene = logs.WireHygiene(per_window=2, window_s=10.0, clock=lambda: now[0])

    def refused() -> logging.LogRecord:
        from aiohttp.http_exceptions import BadHttpMessage

        try:
            raise BadHttpMessage(f"b'Authorization: Bearer {TOKEN}'")
        except BadHttpMessage as exc:
            return logging.LogRecord(
                "aiohttp.server",
                logging.ERROR,
                __file__,
                1,
                "Error handling request from %s",
                ("10.0.0.9",),
                (type(exc), exc, exc.__traceback__),
            )

    passed = [hygiene.filter(r) for r in (refused() for _ in range(5))]
    assert passed == [True, True, False, False, False] and hygiene.suppressed == 3
    now[0] = 10.0
    record = refused()
    assert hygiene.filter(record)
    assert record.getMessage() == "http_refused" and record.exc_info is None
    assert record.prum_fields == {  # type: ignore[attr-defined]
        "error": "BadHttpMessage",
        "status": 400,
        "peer": "10.0.0.9",
        "suppressed": 3,
    }


def test_a_peer_reset_mid_body_is_a_debug_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure(fmt="json")

    async def body(gw: Gateway) -> None:
        await _reset_mid_body(gw.partner_port, "/prum/v1/messages")
        await _reset_mid_body(gw.partner_port, "/int-i/v1/transactions")
        await _reset_mid_body(gw.client_port, "/v1/records")

    _with_gateway(tmp_path, body)
    err = capsys.readouterr().err
    assert "Traceback" not in err and TOKEN not in err
    assert [e["event"] for e in _lines(err) if e["level"] != "info"] == []

    logs.configure(level=logging.DEBUG, fmt="json")
    _with_gateway(tmp_path, lambda gw: _reset_mid_body(gw.partner_port, "/prum/v1/messages"))
    err = capsys.readouterr().err
    resets = [e for e in _lines(err) if e["event"] == "http_peer_reset"]
    assert len(resets) == 1 and resets[0]["level"] == "debug"
    assert "Traceback" not in err and TOKEN not in err


def test_json_lines_carry_exception_text_with_credentials_blanked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure(fmt="json")
    structlog.contextvars.bind_contextvars(correlation_id="corr-7")
    try:
        try:
            raise ValueError(f"stored record refused; header was Authorization: Bearer {TOKEN}")
        except ValueError:
            structlog.get_logger().exception("unhandled_error", path="/v1/searches")
    finally:
        structlog.contextvars.unbind_contextvars("correlation_id")
    (line,) = _lines(capsys.readouterr().err)
    assert line["correlation_id"] == "corr-7" and "exc_info" not in line
    text = str(line["exception"])
    assert "Traceback" in text and "ValueError: stored record refused" in text
    assert TOKEN not in text and "Bearer [redacted]" in text


def test_configure_twice_routes_aiohttp_once(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(fmt="json")
    logs.configure(fmt="json")
    logging.getLogger("aiohttp.web").warning("something %s", "odd")
    logging.getLogger("aiohttp.access").info('127.0.0.1 "GET /?token=%s HTTP/1.1" 200', TOKEN)
    lines = _lines(capsys.readouterr().err)
    assert [(e["event"], e["logger"]) for e in lines] == [("something odd", "aiohttp.web")]


def test_a_gateway_starts_and_stops_with_its_loggers_routed(tmp_path: Path) -> None:
    # the routed loggers do not break a normal start and stop
    logs.configure(fmt="json")
    cfg = replace(_config(tmp_path), client=None)

    async def main() -> None:
        gw = Gateway(cfg)
        await gw.start()
        await gw.stop()

    asyncio.run(main())


def test_console_lines_blank_credentials_in_exceptions_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure(fmt="console")
    try:
        raise ValueError(f"Authorization: Bearer {TOKEN}")
    except ValueError:
        structlog.get_logger().exception("unhandled_error")
    err = capsys.readouterr().err
    assert "ValueError" in err and "Traceback" in err and TOKEN not in err
