"""A plain TCP connection to the partner port that never starts TLS is closed after
`idle_timeout_s` (the event loop's default held it 60 s), on both event loops; a node that
does start TLS in time is served as before."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from exchange.gateway import logs
from exchange.gateway.app import Gateway
from exchange.pki import init_pki, ssl_client_context
from mock_partners.cluster import partner_node_config

Runner = Callable[[Coroutine[Any, Any, None]], None]
LOOPS = ["asyncio"] if sys.platform == "win32" else ["asyncio", "uvloop"]
IDLE_S = 0.5


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Runner:
    if request.param == "asyncio":
        return asyncio.run
    import uvloop

    return cast(Runner, uvloop.run)


def test_a_connection_that_never_starts_tls_is_closed_after_the_idle_timeout(
    run: Runner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure(fmt="json")
    pki = init_pki(tmp_path / "pki", ["GB", "DE"], dt.datetime.now(dt.UTC))
    cfg = replace(partner_node_config("DE", tmp_path / "DE"), tls=pki["DE"], idle_timeout_s=IDLE_S)
    held: list[float] = []

    async def main() -> None:
        de = Gateway(cfg)
        await de.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", de.partner_port)
            started = time.monotonic()
            assert await asyncio.wait_for(reader.read(100), 5 * IDLE_S + 2) == b""
            held.append(time.monotonic() - started)
            writer.close()
            # a node that handshakes at once is served
            url = f"https://127.0.0.1:{de.partner_port}/healthz"
            connector = aiohttp.TCPConnector(ssl=ssl_client_context(pki["GB"]))
            async with aiohttp.ClientSession(connector=connector) as s, s.get(url) as r:
                assert r.status == 200
        finally:
            await de.stop()

    run(main())
    assert IDLE_S * 0.8 <= held[0] < IDLE_S + 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and all(line.startswith("{") for line in err.splitlines())
