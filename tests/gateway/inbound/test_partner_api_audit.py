"""A partner node's audit trail for one search message: receipt, then supply, then a retry.

The receipt and the supply are appended together (one chain-head update); this checks they
are still two entries in that order, with the fields and outcomes of two appends, chained
and verifiable, and that a retried message is audited as a duplicate after them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from pathlib import Path

import aiohttp

from exchange.codecs import prum_xml
from exchange.gateway.app import Gateway
from exchange.gateway.config import Listener
from exchange.gateway.state.audit_verify import verify
from exchange.translate import Outbound, record_to_envelope
from mock_partners import population
from mock_partners.cluster import partner_node_config

SEED = 11


def test_receipt_supply_and_retry_are_audited_in_order(tmp_path: Path) -> None:
    async def main() -> list[tuple[object, ...]]:
        cfg = partner_node_config("DE", tmp_path / "DE")
        cfg = replace(cfg, partner_listener=Listener("127.0.0.1", 0))
        gw = Gateway(cfg, [])
        node = await gw.start()
        try:
            for person in population.people(SEED, list(range(6)), "DE", with_fingerprints=False):
                node.enrol(person.record.reference or str(person.subject), person.record)
            (probe,) = population.people(SEED, [3], capture=1, with_fingerprints=False)
            out = Outbound(
                message_id="m-1",
                correlation_id="c-1",
                timestamp=dt.datetime.now(dt.UTC),
                sender="GB",
                receiver="DE",
                message="dna-search",
            )
            data = prum_xml.encode(record_to_envelope(probe.record, out))
            url = f"http://127.0.0.1:{gw.partner_port}/prum/v1/messages"
            async with aiohttp.ClientSession() as s:
                replies = []
                for _ in range(2):
                    async with s.post(
                        url, data=data, headers={"Content-Type": "application/xml"}
                    ) as r:
                        assert r.status == 200
                        replies.append(await r.read())
            assert replies[0] == replies[1]
            rows = node.store.connection.execute(
                "SELECT seq, direction, partner, message_type, message_id, refs, purpose,"
                " outcome, actor FROM audit ORDER BY seq"
            ).fetchall()
        finally:
            await gw.stop()
        return rows

    rows = asyncio.run(main())
    assert [r[:5] for r in rows] == [
        (1, "received", "GB", "dna_search_request", "m-1"),
        (2, "sent", "GB", "search_reply", rows[1][4]),
        (3, "received", "GB", "dna_search_request", "m-1"),
    ]
    assert [r[7] for r in rows] == ["accepted", "hit", "duplicate"]
    assert rows[0][5] == "[]" and rows[1][5] != "[]"
    assert {r[8] for r in rows} == {"DE"}
    assert verify(str(tmp_path / "DE" / "gateway.sqlite3")).ok
