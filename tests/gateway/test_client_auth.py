"""Client authentication: bearer tokens with scopes, per-client visibility, rate limits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from exchange.codecs import uk_json
from exchange.gateway.auth import ClientConfig, token_hash
from mock_partners import population
from mock_partners.cluster import PARTNER_SUBJECTS, running_cluster
from tests.gateway.test_gateway_e2e import _call

SEED = 13
CLIENTS = (
    ClientConfig("west-midlands", token_hash("tok-wm"), frozenset({"search", "follow-up"})),
    ClientConfig("kent", token_hash("tok-kent"), frozenset({"search"}), rate_per_minute=3),
)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_scopes_visibility_and_rate_limits(tmp_path: Path) -> None:
    probe = uk_json.record_to_json(population.person(SEED, PARTNER_SUBJECTS + 1, capture=1).record)
    body: dict[str, Any] = {
        "purpose": "investigation",
        "case_reference": "AUTH-1",
        "record": probe,
        "modalities": ["dna"],
        "partners": ["DE"],
    }

    async def main() -> None:
        async with (
            running_cluster(
                tmp_path, ("DE",), seed=SEED, gallery_size=4, uk_overrides={"clients": CLIENTS}
            ) as c,
            aiohttp.ClientSession() as s,
        ):
            url = f"{c.client_url}/v1/searches"
            status, err = await _call(s, "POST", url, "/v1/searches", json=body)
            assert status == 401 and err["error"]["code"] == "unauthenticated"
            status, _ = await _call(
                s, "POST", url, "/v1/searches", json=body, headers=_auth("nope")
            )
            assert status == 401
            status, wm = await _call(
                s, "POST", f"{url}?wait=10", "/v1/searches", json=body, headers=_auth("tok-wm")
            )
            assert status == 200 and wm["partners"][0]["status"] == "hit"
            # Another client does not see this search: as unknown as a missing one.
            status, _ = await _call(
                s,
                "GET",
                f"{url}/{wm['search_id']}",
                "/v1/searches/{search_id}",
                headers=_auth("tok-kent"),
            )
            assert status == 404
            hit = wm["partners"][0]["hits"][0]
            confirm = f"{url}/{wm['search_id']}/hits/{hit['hit_id']}/confirm"
            template = "/v1/searches/{search_id}/hits/{hit_id}/confirm"
            status, _ = await _call(s, "POST", confirm, template, headers=_auth("tok-wm"))
            assert status == 200
            # Kent may search but holds no follow-up scope.
            status, kent = await _call(
                s, "POST", url, "/v1/searches", json=body, headers=_auth("tok-kent")
            )
            assert status == 202
            status, err = await _call(
                s,
                "POST",
                f"{url}/{kent['search_id']}/hits/x/confirm",
                template,
                headers=_auth("tok-kent"),
            )
            assert status == 403 and err["error"]["code"] == "forbidden"
            # Kent's third request within the minute (of 3 allowed) ... the fourth is refused.
            status, _ = await _call(
                s,
                "GET",
                f"{url}/{kent['search_id']}",
                "/v1/searches/{search_id}",
                headers=_auth("tok-kent"),
            )
            async with s.get(f"{url}/{kent['search_id']}", headers=_auth("tok-kent")) as r:
                assert r.status == 429
                assert int(r.headers["Retry-After"]) >= 1
                assert (await r.json())["error"]["code"] == "rate_limited"
            async with s.get(f"{c.client_url}/metrics", headers=_auth("tok-wm")) as r:
                assert r.status == 403  # metrics need the admin scope
            async with s.get(f"{c.client_url}/healthz") as r:
                assert r.status == 200  # health needs no token

    asyncio.run(main())
