"""Mutual TLS between nodes: certificates from `prum-exchange pki init`, a partner listener
that refuses unknown certificates at the handshake, and a sender that must be the node its
client certificate names."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from exchange.cli import main as cli
from exchange.codecs import prum_xml, uk_json
from exchange.gateway.app import Gateway
from exchange.gateway.config import GatewayConfig, Listener, PartnerConfig
from exchange.pki import NodeFiles, init_pki, ssl_client_context
from exchange.translate import Outbound, record_to_envelope
from mock_partners import population
from mock_partners.cluster import partner_node_config, seed_partner

SEED = 9


def _files(d: Path, node: str) -> NodeFiles:
    return NodeFiles(d / "ca.pem", d / f"{node}.pem", d / f"{node}.key")


def test_pki_init_writes_a_ca_and_node_certificates(tmp_path: Path) -> None:
    assert cli(["pki", "init", str(tmp_path), "--nodes", "GB,DE"]) == 0
    for name in ("ca.pem", "GB.pem", "GB.key", "DE.pem", "DE.key"):
        assert (tmp_path / name).is_file()
    assert (tmp_path / "GB.key").stat().st_mode & 0o077 == 0


def test_searches_over_mutual_tls_and_refusals(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    init_pki(pki, ["GB", "DE", "FR"], dt.datetime.now(dt.UTC))
    rogue = tmp_path / "rogue"
    init_pki(rogue, ["GB"], dt.datetime.now(dt.UTC))  # a GB certificate from another CA
    probe_rec = population.person(SEED, 4, "GB", capture=1).record

    async def main() -> None:
        de_cfg = partner_node_config("DE", tmp_path / "DE")
        fr = PartnerConfig(id="FR", url="https://127.0.0.1:9/unused")
        de_cfg = replace(de_cfg, tls=_files(pki, "DE"), partners=(*de_cfg.partners, fr))
        de = Gateway(de_cfg)
        node = await de.start()
        await seed_partner(node, "DE", SEED, [4, 5, 6])
        de_url = f"https://127.0.0.1:{de.partner_port}/prum/v1/messages"
        uk = Gateway(
            GatewayConfig(
                node_id="GB",
                open_client_api=True,
                data_dir=tmp_path / "GB",
                feature_model=population.FEATURE_MODEL,
                client=Listener(port=0),
                partner_listener=Listener(port=0),
                tls=_files(pki, "GB"),
                partners=(PartnerConfig(id="DE", url=de_url, timeout_s=2.0, retries=0),),
            )
        )
        await uk.start()
        try:
            body = {
                "purpose": "investigation",
                "case_reference": "TLS-1",
                "record": uk_json.record_to_json(probe_rec),
                "modalities": ["dna"],
                "partners": ["DE"],
            }
            async with aiohttp.ClientSession() as s:
                url = f"http://127.0.0.1:{uk.client_port}/v1/searches?wait=10"
                async with s.post(url, json=body) as r:
                    result = await r.json()
            assert result["partners"][0]["status"] == "hit", result

            msg = record_to_envelope(
                probe_rec,
                Outbound(
                    message_id="m-tls-2",
                    correlation_id="c2",
                    timestamp=dt.datetime.now(dt.UTC),
                    sender="GB",
                    receiver="DE",
                    message="dna-search",
                ),
            )
            data = prum_xml.encode(msg)
            headers = {"Content-Type": "application/xml"}

            # A certificate the network CA did not sign is refused in the TLS handshake.
            connector = aiohttp.TCPConnector(
                ssl=ssl_client_context(
                    NodeFiles(pki / "ca.pem", rogue / "GB.pem", rogue / "GB.key")
                )
            )
            async with aiohttp.ClientSession(connector=connector) as s:
                with pytest.raises(aiohttp.ClientError):
                    async with s.post(de_url, data=data, headers=headers) as r:
                        await r.read()

            # FR's genuine certificate with an envelope that claims to come from GB.
            connector = aiohttp.TCPConnector(ssl=ssl_client_context(_files(pki, "FR")))
            async with (
                aiohttp.ClientSession(connector=connector) as s,
                s.post(de_url, data=data, headers=headers) as r,
            ):
                assert r.status == 403
                reply = prum_xml.decode(await r.read())
            assert reply.body.code.value == "unauthorised_sender"  # type: ignore[union-attr]
        finally:
            await uk.stop()
            await de.stop()

    asyncio.run(main())
