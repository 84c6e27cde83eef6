"""The shipped examples fit each other: the example record is enrolled by the example
gateway and searched by the demo's partners; the example config can scrape /metrics."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from exchange import event_loop
from exchange.gateway.app import Gateway
from exchange.gateway.config import GatewayConfig, Listener, load
from mock_partners.cluster import running_cluster

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RECORD = json.loads((EXAMPLES / "uk-record.json").read_text(encoding="utf-8"))
FORCE = {"Authorization": "Bearer example-token-change-me"}
METRICS = {"Authorization": "Bearer example-metrics-token-change-me"}


def test_the_example_gateway_enrols_the_example_record_and_serves_metrics(tmp_path: Path) -> None:
    async def main() -> list[int]:
        config = replace(
            load(EXAMPLES / "gateway.toml"),
            data_dir=tmp_path / "gb",
            client=Listener("127.0.0.1", 0),
            partner_listener=Listener("127.0.0.1", 0),
        )
        gw = Gateway(config)
        await gw.start()
        url = f"http://127.0.0.1:{gw.client_port}"
        try:
            async with aiohttp.ClientSession() as s:
                statuses = []
                async with s.post(f"{url}/v1/records", json=RECORD, headers=FORCE) as r:
                    statuses.append(r.status)
                for headers in (METRICS, FORCE):
                    async with s.get(f"{url}/metrics", headers=headers) as r:
                        statuses.append(r.status)
        finally:
            await gw.stop()
        return statuses

    assert event_loop.run(main()) == [201, 200, 403]  # the force's token may not scrape


def test_the_demo_partners_search_the_example_records_face(tmp_path: Path) -> None:
    async def main() -> Any:
        body = {
            "purpose": "investigation",
            "case_reference": "EXAMPLE-1",
            "record": RECORD,
            "modalities": ["face"],
        }
        async with (
            running_cluster(tmp_path, gallery_size=4) as c,
            aiohttp.ClientSession() as s,
            s.post(f"{c.client_url}/v1/searches?wait=15", json=body) as r,
        ):
            assert r.status == 200, await r.text()
            return await r.json()

    search = event_loop.run(main())
    statuses = {p["partner"]: p["status"] for p in search["partners"]}
    assert statuses and "rejected" not in statuses.values(), statuses


def test_the_example_config_shows_the_extraction_sections_at_their_defaults() -> None:
    text = (EXAMPLES / "gateway.toml").read_text(encoding="utf-8")
    assert '\n[face_models."dlib-resnet-v1"]\n' in text and "\n[extraction]\n" in text
    config = load(EXAMPLES / "gateway.toml")
    defaults = GatewayConfig(node_id="GB", data_dir=EXAMPLES)
    assert config.face_models == defaults.face_models  # the example shows the defaults
    assert config.extraction.queue == defaults.extraction.queue
