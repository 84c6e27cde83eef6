"""Property-based attack on both HTTP entry points: mutated valid inputs never get a 5xx,
a dropped connection, or an error without a typed body (the long run: bench/fuzz_gateway)."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import aiohttp
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.fuzz_gateway import mutate_bytes, mutate_json, seeds
from mock_partners.cluster import running_cluster


def test_mutated_inputs_get_typed_answers(tmp_path: Path) -> None:
    bodies, messages = seeds()
    results: list[tuple[str, int, bytes]] = []

    @settings(max_examples=150, database=None)
    @given(
        seed=st.integers(0, 2**32), entry=st.sampled_from(["client", "partner"]), raw=st.booleans()
    )
    def cases(seed: int, entry: str, raw: bool) -> None:
        rng = random.Random(seed)
        if entry == "client":
            data = json.dumps(mutate_json(rng.choice(bodies), rng)).encode()
            inputs.append(("client", mutate_bytes(data, rng) if raw else data))
        else:
            inputs.append(("partner", mutate_bytes(rng.choice(messages), rng)))

    inputs: list[tuple[str, bytes]] = []
    cases()

    async def main() -> None:
        async with running_cluster(
            tmp_path, ("DE",), seed=3, gallery_size=4, uk_overrides={"search_deadline_s": 2.0}
        ) as c:
            urls = {
                "client": f"{c.client_url}/v1/searches",
                "partner": f"http://127.0.0.1:{c.gateway.partner_port}/prum/v1/messages",
            }
            types = {"client": "application/json", "partner": "application/xml"}
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s:
                for entry, data in inputs:
                    async with s.post(
                        urls[entry], data=data, headers={"Content-Type": types[entry]}
                    ) as r:
                        results.append((entry, r.status, await r.read()))

    asyncio.run(main())
    assert len(results) == len(inputs) >= 100
    for entry, status, body in results:
        assert status < 500, (entry, status, body[:300])
        if status >= 400:
            if entry == "client":
                assert "error" in json.loads(body)
            else:
                assert b"<Error" in body and b"urn:prum-exchange:prum:1.0" in body
