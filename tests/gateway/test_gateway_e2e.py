"""End to end: a real UK gateway and real partner nodes on loopback, real SQLite and FAISS.

Every JSON response of the client API is checked against the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema

import schemas
from exchange.codecs import uk_json
from exchange.gateway.store import QuotaDirection
from mock_partners import population
from mock_partners.cluster import PARTNER_SUBJECTS, Cluster, running_cluster

SEED = 7


def _validate(path: str, method: str, status: int, body: Any) -> None:
    doc = schemas.json_schema(schemas.OPENAPI)
    op = doc["paths"][path][method]
    response = op["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(body)


async def _call(
    session: aiohttp.ClientSession, method: str, url: str, template: str, **kw: Any
) -> tuple[int, Any]:
    async with session.request(method, url, **kw) as resp:
        body = await resp.json() if resp.content_type == "application/json" else None
        if body is not None:
            _validate(template, method.lower(), resp.status, body)
        return resp.status, body


def _search_body(
    record_json: dict[str, Any], modalities: list[str], partners: Any = "all"
) -> dict[str, Any]:
    return {
        "purpose": "investigation",
        "case_reference": "OP-TEST-1",
        "record": record_json,
        "modalities": modalities,
        "partners": partners,
        "max_candidates": 5,
    }


def _probe(subject: int) -> dict[str, Any]:
    """A second capture of a subject, as the UK would search it (a stain, a new photo)."""
    rec = population.person(SEED, subject, owner="GB", capture=1).record
    return uk_json.record_to_json(rec)


def run(
    tmp_path: Path, scenario: Callable[[Cluster, aiohttp.ClientSession], Awaitable[None]], **kw: Any
) -> None:
    async def main() -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            running_cluster(tmp_path, seed=SEED, gallery_size=8, **kw) as cluster,
            aiohttp.ClientSession(timeout=timeout) as session,
        ):
            await scenario(cluster, session)

    asyncio.run(main())


def test_dna_and_face_hits_come_back_from_the_partner_that_holds_the_person(tmp_path: Path) -> None:
    subject = 1 * PARTNER_SUBJECTS + 3  # held by DE (the first partner)

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        status, body = await _call(
            s,
            "POST",
            f"{c.client_url}/v1/searches?wait=10",
            "/v1/searches",
            json=_search_body(_probe(subject), ["dna", "face"]),
        )
        assert status == 200, body
        assert body["status"] == "complete"
        by_partner = {p["partner"]: p for p in body["partners"]}
        assert by_partner["FR"]["status"] == "no_hit"
        de = by_partner["DE"]
        assert de["status"] == "hit"
        expected = population.reference_of(SEED, subject, "DE")
        modalities = {h["modality"] for h in de["hits"] if h["reference"] == expected}
        assert modalities == {"dna", "face"}
        face_hits = [h for h in de["hits"] if h["modality"] == "face"]
        assert face_hits[0]["reference"] == expected  # the mate ranks first
        status, again = await _call(
            s, "GET", f"{c.client_url}/v1/searches/{body['search_id']}", "/v1/searches/{search_id}"
        )
        assert status == 200 and again["partners"] == body["partners"]

    run(tmp_path, scenario)


def test_follow_up_needs_confirmation_then_returns_core_data_only(tmp_path: Path) -> None:
    subject = 1 * PARTNER_SUBJECTS + 5

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        _, body = await _call(
            s,
            "POST",
            f"{c.client_url}/v1/searches?wait=10",
            "/v1/searches",
            json=_search_body(_probe(subject), ["face"], ["DE"]),
        )
        hit = body["partners"][0]["hits"][0]
        base = f"{c.client_url}/v1/searches/{body['search_id']}/hits/{hit['hit_id']}"
        status, err = await _call(
            s, "POST", f"{base}/follow-up", "/v1/searches/{search_id}/hits/{hit_id}/follow-up"
        )
        assert status == 409 and err["error"]["code"] == "not_confirmed"
        status, confirmed = await _call(
            s, "POST", f"{base}/confirm", "/v1/searches/{search_id}/hits/{hit_id}/confirm"
        )
        assert status == 200 and confirmed["confirmed"]
        status, core = await _call(
            s, "POST", f"{base}/follow-up", "/v1/searches/{search_id}/hits/{hit_id}/follow-up"
        )
        assert status == 200, core
        truth = population.person(SEED, subject, owner="DE").record
        assert truth.name is not None
        assert core["core_data"]["name"]["family"] == truth.name.family
        assert not {"dna", "face", "fingerprints"} & set(core["core_data"])

    run(tmp_path, scenario)


def test_a_partner_that_never_answers_makes_the_search_partial(tmp_path: Path) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        _, body = await _call(
            s,
            "POST",
            f"{c.client_url}/v1/searches?wait=15",
            "/v1/searches",
            json=_search_body(_probe(PARTNER_SUBJECTS + 1), ["dna"]),
        )
        assert body["status"] == "partial"
        by_partner = {p["partner"]: p["status"] for p in body["partners"]}
        assert by_partner == {"DE": "hit", "FR": "timeout"}

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(60)  # accepts the connection and never answers

    async def main() -> None:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        overrides = {"FR": {"url": f"http://127.0.0.1:{port}/prum/v1/messages", "timeout_s": 0.5}}
        async with (
            server,
            running_cluster(
                tmp_path,
                seed=SEED,
                gallery_size=8,
                partner_overrides=overrides,
                uk_overrides={"search_deadline_s": 2.0},
            ) as cluster,
            aiohttp.ClientSession() as session,
        ):
            await scenario(cluster, session)

    asyncio.run(main())


def test_outbound_capacity_is_refused_without_sending(tmp_path: Path) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        statuses = []
        for _ in range(2):
            _, body = await _call(
                s,
                "POST",
                f"{c.client_url}/v1/searches?wait=10",
                "/v1/searches",
                json=_search_body(_probe(PARTNER_SUBJECTS + 2), ["dna"], ["DE"]),
            )
            statuses.append(body["partners"][0]["status"])
        assert statuses == ["hit", "quota_exceeded"]
        de = c.partners["DE"].node
        assert de is not None
        today = de.clock().date()
        assert de.store.quota_used(QuotaDirection.INBOUND, "GB", "DNA", today) == 1  # never sent

    run(tmp_path, scenario, partner_overrides={"DE": {"capacities": {"DNA": 1}}})


def test_bad_requests_get_typed_json_errors(tmp_path: Path) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        url = f"{c.client_url}/v1/searches"
        bad_record = _probe(PARTNER_SUBJECTS + 1)
        bad_record["identifiers"] = {"pnc_id": "12/1234567D"}
        cases = [
            (b"not json", 400, None),
            (json.dumps({"purpose": "investigation"}).encode(), 400, "case_reference"),
            (
                json.dumps(_search_body(bad_record, ["dna"])).encode(),
                422,
                "record.identifiers.pnc_id",
            ),
            (json.dumps(_search_body(_probe(1), ["dna"], ["XX"])).encode(), 400, "partners"),
            (
                json.dumps({**_search_body(_probe(1), ["dna"]), "max_candidates": 0}).encode(),
                400,
                "max_candidates",
            ),
        ]
        for data, status, field in cases:
            got, body = await _call(
                s,
                "POST",
                url,
                "/v1/searches",
                data=data,
                headers={"Content-Type": "application/json"},
            )
            assert got == status, body
            assert body["error"]["field"] == field
        got, body = await _call(s, "GET", f"{url}/nope", "/v1/searches/{search_id}")
        assert got == 404

    run(tmp_path, scenario)
