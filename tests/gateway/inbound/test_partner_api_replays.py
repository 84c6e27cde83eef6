"""A message id reused for another message, and a sender that is not its certificate.

A real partner node (DE) on loopback with its SQLite store: a retry that asks the same (even
encoded again, with a new timestamp) is answered from the stored reply; a message under the
same id asking something else is refused with a 409 and audited, never given the first one's
reply. Under mutual TLS an envelope claiming another sender is audited naming both nodes.
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
from exchange.gateway.inbound.replays import envelope_digest
from exchange.gateway.state.audit_verify import verify
from exchange.model import DnaSearchRequest, ErrorBody
from exchange.pki import init_pki, ssl_client_context
from exchange.translate import Outbound, record_to_envelope
from mock_partners import population
from mock_partners.cluster import partner_node_config

SEED = 11
XML = {"Content-Type": "application/xml"}


def _search(subject: int, message_id: str, sender: str = "GB") -> bytes:
    (probe,) = population.people(SEED, [subject], capture=1, with_fingerprints=False)
    out = Outbound(
        message_id=message_id,
        correlation_id="c-1",
        timestamp=dt.datetime.now(dt.UTC),
        sender=sender,
        receiver="DE",
        message="dna-search",
    )
    return prum_xml.encode(record_to_envelope(probe.record, out))


def test_a_message_id_reused_for_another_probe_is_refused_not_answered(tmp_path: Path) -> None:
    async def main() -> tuple[list[tuple[int, bytes]], list[tuple[object, ...]]]:
        cfg = replace(partner_node_config("DE", tmp_path / "DE"), partner_listener=Listener())
        gw = Gateway(cfg, [])
        node = await gw.start()
        try:
            for person in population.people(SEED, list(range(6)), "DE", with_fingerprints=False):
                node.enrol(person.record.reference or str(person.subject), person.record)
            url = f"http://127.0.0.1:{gw.partner_port}/prum/v1/messages"
            answers = []
            async with aiohttp.ClientSession() as s:
                first = _search(3, "m-1")
                await asyncio.sleep(0.002)  # the copy's timestamp differs
                for data in (first, _search(3, "m-1"), _search(4, "m-1")):
                    async with s.post(url, data=data, headers=XML) as r:
                        answers.append((r.status, await r.read()))
            rows = node.store.connection.execute(
                "SELECT direction, message_id, outcome FROM audit ORDER BY seq"
            ).fetchall()
        finally:
            await gw.stop()
        return answers, rows

    answers, rows = asyncio.run(main())
    (s1, hit), (s2, again), (s3, refused) = answers
    assert (s1, s2) == (200, 200) and again == hit  # the same question encoded again
    assert s3 == 409
    error = prum_xml.decode(refused)
    assert isinstance(error.body, ErrorBody)
    assert error.body.field == "/Message/Header/MessageId"
    assert "m-1 was used for another message" in error.body.message
    assert refused != hit and error.header.correlation_id == "c-1"
    assert rows == [
        ("received", "m-1", "accepted"),
        ("sent", rows[1][1], "hit"),
        ("received", "m-1", "duplicate"),
        ("received", "m-1", "refused"),
    ]
    assert verify(str(tmp_path / "DE" / "gateway.sqlite3")).ok


def test_a_dna_batch_covers_a_resend_of_one_of_its_probes() -> None:
    batch = prum_xml.decode(_search(3, "b-1"))
    other = prum_xml.decode(_search(4, "b-1"))
    assert isinstance(batch.body, DnaSearchRequest) and isinstance(other.body, DnaSearchRequest)
    both = replace(batch, body=replace(batch.body, probes=batch.body.probes + other.body.probes))
    stored = set(envelope_digest(both).split())
    assert set(envelope_digest(batch).split()) <= stored  # a resumed search's own probe
    assert set(envelope_digest(other).split()) <= stored
    fewer = replace(batch, body=replace(batch.body, max_candidates=1))
    assert not set(envelope_digest(fewer).split()) <= stored  # another candidate limit


def test_an_impersonation_is_audited_naming_claimed_sender_and_certificate(
    tmp_path: Path,
) -> None:
    pki = init_pki(tmp_path / "pki", ["GB", "DE", "FR"], dt.datetime.now(dt.UTC))

    async def main() -> tuple[int, list[tuple[object, ...]]]:
        cfg = replace(partner_node_config("DE", tmp_path / "DE"), tls=pki["DE"])
        gw = Gateway(cfg, [])
        node = await gw.start()
        try:
            url = f"https://127.0.0.1:{gw.partner_port}/prum/v1/messages"
            connector = aiohttp.TCPConnector(ssl=ssl_client_context(pki["FR"]))
            async with (
                aiohttp.ClientSession(connector=connector) as s,
                s.post(url, data=_search(3, "m-9", sender="GB"), headers=XML) as r,
            ):
                status = r.status
            rows = node.store.connection.execute(
                "SELECT direction, partner, actor, outcome, message_id FROM audit"
            ).fetchall()
        finally:
            await gw.stop()
        return status, rows

    status, rows = asyncio.run(main())
    assert status == 403
    assert rows == [("received", "GB", "cert:FR", "unauthorised_sender", "m-9")]
