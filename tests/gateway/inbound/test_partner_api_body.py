"""The partner API's body deadline: a message trickled too slowly gets a 408 XML error."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from exchange.codecs import prum_xml
from exchange.gateway.app import Gateway
from exchange.gateway.config import Listener
from exchange.gateway.inbound import partner_api
from exchange.model import ErrorBody
from mock_partners.cluster import partner_node_config


def test_a_slowly_trickled_message_is_cut_off_with_408(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partner_api, "BODY_TIMEOUT_S", 0.3)

    async def main() -> tuple[bytes, bytes]:
        cfg = partner_node_config("DE", tmp_path / "DE")
        gw = Gateway(replace(cfg, partner_listener=Listener("127.0.0.1", 0)), [])
        await gw.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", gw.partner_port)
            writer.write(
                b"POST /prum/v1/messages HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/xml\r\nContent-Length: 1000\r\n\r\n<Message"
            )
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 10)
            rest = await asyncio.wait_for(reader.read(65536), 10)
            writer.close()
            await writer.wait_closed()
        finally:
            await gw.stop()
        return status, rest

    status, rest = asyncio.run(main())
    assert b" 408 " in status
    body = prum_xml.decode(rest.split(b"\r\n\r\n", 1)[1])
    assert isinstance(body.body, ErrorBody) and body.body.message == "body too slow"
