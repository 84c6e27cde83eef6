"""A partner's follow-up for a record whose reply cannot be encoded gets a typed Prüm error.

A record enrolled before the client API refused characters XML 1.0 cannot carry (a lone
surrogate, U+FFFE) is still in SQLite; a partner asking for its core data is answered with
an `internal` Prüm error message, audited, never a plain-text 500.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from exchange.codecs import prum_xml
from exchange.gateway.app import Gateway
from exchange.gateway.config import Listener
from exchange.gateway.state.audit_verify import verify
from exchange.model import (
    Envelope,
    ErrorBody,
    ErrorCode,
    FollowUpRequest,
    Header,
    MessageType,
    PersonName,
    Purpose,
)
from mock_partners import population
from mock_partners.cluster import partner_node_config


@pytest.mark.parametrize("family", ["Smith\ufffe", "Sm\ud800ith", "Smith\uffff"])
def test_a_follow_up_whose_reply_cannot_be_encoded_is_a_typed_error_and_audited(
    tmp_path: Path, family: str
) -> None:
    async def main() -> tuple[int, bytes, list[tuple[object, ...]]]:
        cfg = partner_node_config("DE", tmp_path / "DE")
        gw = Gateway(replace(cfg, partner_listener=Listener("127.0.0.1", 0)), [])
        node = await gw.start()
        try:
            (person,) = population.people(11, [0], "DE", with_fingerprints=False)
            record = replace(person.record, name=PersonName(family, ("Ann",)))
            reference, _ = node.enrol("key-0", record)  # as if enrolled before the check
            now = dt.datetime.now(dt.UTC)
            node.store.record_released("GB", "search-1", [reference], at=now)
            header = Header(
                "fu-1", "c-1", now, "GB", "DE", MessageType.FOLLOW_UP_REQUEST, Purpose.INVESTIGATION
            )
            data = prum_xml.encode(Envelope(header, FollowUpRequest("search-1", reference)))
            url = f"http://127.0.0.1:{gw.partner_port}/prum/v1/messages"
            async with (
                aiohttp.ClientSession() as s,
                s.post(url, data=data, headers={"Content-Type": "application/xml"}) as r,
            ):
                status, body = r.status, await r.read()
            rows = node.store.connection.execute(
                "SELECT direction, message_type, message_id, refs, outcome FROM audit ORDER BY seq"
            ).fetchall()
        finally:
            await gw.stop()
        return status, body, rows

    status, body, rows = asyncio.run(main())
    reply = prum_xml.decode(body)  # a schema-valid Prüm message
    assert isinstance(reply.body, ErrorBody) and reply.body.code is ErrorCode.INTERNAL
    assert reply.body.request_message_id == "fu-1"
    assert status == 400
    assert [(r[0], r[1], r[4]) for r in rows] == [
        ("received", "follow_up_request", "accepted"),
        ("sent", "error", "refused"),
    ]
    assert rows[1][3] != "[]"  # the reference asked for
    assert verify(str(tmp_path / "DE" / "gateway.sqlite3")).ok


def test_a_gateway_holding_such_a_record_still_starts_from_sqlite(tmp_path: Path) -> None:
    async def main() -> int:
        cfg = partner_node_config("DE", tmp_path / "DE")
        cfg = replace(cfg, partner_listener=Listener("127.0.0.1", 0))
        gw = Gateway(cfg, [])
        node = await gw.start()
        people = population.people(11, [0, 1], "DE", with_fingerprints=False)
        bad = replace(people[0].record, name=PersonName("Smith\ufffe"))
        node.enrol("key-0", bad)
        node.enrol("key-1", people[1].record)
        await gw.stop()
        shutil.rmtree(tmp_path / "DE" / "indexes", ignore_errors=True)  # rebuild from SQLite
        gw = Gateway(cfg, [])
        node = await gw.start()
        try:
            return len(node.gallery)
        finally:
            await gw.stop()

    assert asyncio.run(main()) == 1  # the record that cannot be read is skipped, logged
