"""The partner a message goes to must be the node its server certificate names.

Every member node holds a certificate of the same network CA, so the CA alone would let FR
answer at a URL configured for DE. These run real gateways on loopback over mutual TLS with
certificates made by `exchange.pki` in tmp_path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
import structlog
from aiohttp import web

from exchange.cli import main as cli
from exchange.codecs import uk_json
from exchange.gateway.app import Gateway, Handler
from exchange.gateway.config import (
    ConfigError,
    GatewayConfig,
    Listener,
    PartnerConfig,
    from_mapping,
)
from exchange.pki import NodeFiles, init_pki, ssl_client_context
from mock_partners import population
from mock_partners.cluster import partner_node_config, seed_partner
from mock_partners.node import running_partner

SEED = 9


def _uk_config(
    tmp_path: Path, tls: NodeFiles, partners: tuple[PartnerConfig, ...]
) -> GatewayConfig:
    return GatewayConfig(
        node_id="GB",
        open_client_api=True,
        data_dir=tmp_path / "GB",
        feature_model=population.FEATURE_MODEL,
        client=Listener(port=0),
        partner_listener=Listener(port=0),
        tls=tls,
        partners=partners,
    )


def test_a_partner_url_answered_by_another_node_gets_no_probe(tmp_path: Path) -> None:
    pki = init_pki(tmp_path / "pki", ["GB", "DE", "FR"], dt.datetime.now(dt.UTC))
    probe = population.person(SEED, 4, "GB", capture=1).record
    seen: list[str] = []

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        seen.append(request.path)
        return await handler(request)

    async def main() -> tuple[dict[str, object], list[tuple[object, ...]]]:
        # FR's genuine node, holding the probe's subject, listening where DE is configured
        fr = Gateway(replace(partner_node_config("FR", tmp_path / "FR"), tls=pki["FR"]), [count])
        await seed_partner(await fr.start(), "FR", SEED, [4])
        url = f"https://127.0.0.1:{fr.partner_port}/prum/v1/messages"
        uk = Gateway(
            _uk_config(
                tmp_path, pki["GB"], (PartnerConfig(id="DE", url=url, timeout_s=2.0, retries=2),)
            )
        )
        node = await uk.start()
        try:
            body = {
                "purpose": "investigation",
                "case_reference": "ID-1",
                "record": uk_json.record_to_json(probe),
                "modalities": ["dna"],
                "partners": ["DE"],
            }
            with structlog.testing.capture_logs() as logs:
                async with aiohttp.ClientSession() as s:
                    search = f"http://127.0.0.1:{uk.client_port}/v1/searches?wait=10"
                    async with s.post(search, json=body) as r:
                        result = await r.json()
            refused = [e for e in logs if e["event"] == "partner_identity_refused"]
            assert refused and refused[0]["partner"] == "DE"
            assert refused[0]["certificate"] == "FR"
            rows = node.store.connection.execute(
                "SELECT direction, partner, outcome FROM audit WHERE partner = 'DE' ORDER BY seq"
            ).fetchall()
        finally:
            await uk.stop()
            await fr.stop()
        return result, rows

    result, rows = asyncio.run(main())
    (de,) = result["partners"]  # type: ignore[misc]
    assert de["status"] == "error", de
    assert "names FR, not DE" in de["error"]
    assert seen == []  # not one request reached FR, not even on a retry
    assert ("received", "DE", "error") in rows


def test_a_partner_with_its_own_certificate_is_searched(tmp_path: Path) -> None:
    pki = init_pki(tmp_path / "pki", ["GB", "DE"], dt.datetime.now(dt.UTC))
    probe = population.person(SEED, 4, "GB", capture=1).record

    async def main() -> dict[str, object]:
        de = Gateway(replace(partner_node_config("DE", tmp_path / "DE"), tls=pki["DE"]))
        await seed_partner(await de.start(), "DE", SEED, [4])
        url = f"https://127.0.0.1:{de.partner_port}/prum/v1/messages"
        uk = Gateway(_uk_config(tmp_path, pki["GB"], (PartnerConfig(id="DE", url=url),)))
        await uk.start()
        try:
            body = {
                "purpose": "investigation",
                "case_reference": "ID-2",
                "record": uk_json.record_to_json(probe),
                "modalities": ["dna"],
                "partners": ["DE"],
            }
            async with aiohttp.ClientSession() as s:
                search = f"http://127.0.0.1:{uk.client_port}/v1/searches?wait=10"
                async with s.post(search, json=body) as r:
                    return dict(await r.json())
        finally:
            await uk.stop()
            await de.stop()

    result = asyncio.run(main())
    assert result["partners"][0]["status"] == "hit", result  # type: ignore[index]


def _toml(tmp_path: Path, insecure: bool) -> dict[str, object]:
    if not (tmp_path / "pki" / "ca.pem").exists():  # the config checks its TLS files exist
        init_pki(tmp_path / "pki", ["GB"], dt.datetime.now(dt.UTC))
    return {
        "open_client_api": True,
        "tls": {"ca": "pki/ca.pem", "cert": "pki/GB.pem", "key": "pki/GB.key"},
        "partners": [
            {"id": "DE", "url": "https://127.0.0.1:9001/prum/v1/messages"},
            {"id": "FR", "url": "http://127.0.0.1:9002/prum/v1/messages", "insecure": insecure},
        ],
    }


def test_plain_http_partners_are_refused_under_tls_unless_marked_insecure(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match=r"partners\[1\]\.url: FR is http://"):
        from_mapping(_toml(tmp_path, insecure=False), tmp_path)
    cfg = from_mapping(_toml(tmp_path, insecure=True), tmp_path)
    assert cfg.partners[1].insecure
    no_tls = _toml(tmp_path, insecure=False)
    del no_tls["tls"]
    assert from_mapping(no_tls, tmp_path).tls is None  # without [tls], http is the only way


def test_a_node_built_in_code_with_a_plain_http_partner_does_not_start(tmp_path: Path) -> None:
    pki = init_pki(tmp_path / "pki", ["GB"], dt.datetime.now(dt.UTC))
    plain = PartnerConfig(id="DE", url="http://127.0.0.1:9/prum/v1/messages")

    async def start(partner: PartnerConfig) -> list[dict[str, object]]:
        uk = Gateway(replace(_uk_config(tmp_path, pki["GB"], (partner,)), client=None))
        with structlog.testing.capture_logs() as logs:
            try:
                await uk.start()
            finally:
                await uk.stop()
        return [dict(e) for e in logs]

    with pytest.raises(ConfigError, match="http://"):
        asyncio.run(start(plain))
    logs = asyncio.run(start(replace(plain, insecure=True)))
    warned = [e for e in logs if e["event"] == "partner_insecure"]
    assert warned and warned[0]["log_level"] == "warning" and warned[0]["partner"] == "DE"


def test_a_standalone_mock_partner_speaks_mutual_tls(tmp_path: Path) -> None:
    assert cli(["pki", "init", str(tmp_path / "pki"), "--nodes", "GB,DE"]) == 0
    files = NodeFiles(tmp_path / "pki/ca.pem", tmp_path / "pki/DE.pem", tmp_path / "pki/DE.key")
    gb = NodeFiles(files.ca, tmp_path / "pki/GB.pem", tmp_path / "pki/GB.key")

    async def main() -> None:
        async with running_partner(
            "DE", 0, seed=SEED, gallery_size=3, data_dir=tmp_path / "DE", tls=files
        ) as ready:
            assert ready["tls"] is True
            url = f"https://localhost:{ready['port']}/healthz"
            connector = aiohttp.TCPConnector(ssl=ssl_client_context(gb))
            async with aiohttp.ClientSession(connector=connector) as s, s.get(url) as r:
                assert r.status == 200
            async with aiohttp.ClientSession() as s:  # no client certificate: refused
                with pytest.raises(aiohttp.ClientError):
                    async with s.get(url, ssl=False) as r:
                        await r.read()

    asyncio.run(main())


def test_partner_tls_needs_the_nodes_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["pki", "init", str(tmp_path), "--nodes", "GB"]) == 0
    assert cli(["partner", "--id", "DE", "--tls", str(tmp_path)]) == 2
    assert "DE.pem" in capsys.readouterr().err
    assert cli(["partner", "--id", "GB", "--simple", "--tls", str(tmp_path)]) == 2
    assert "--simple has no TLS" in capsys.readouterr().err
