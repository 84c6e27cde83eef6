"""The client API refuses what it cannot carry at the door, with a typed JSON error naming
the field: real gateway and partners on loopback (`tests.gateway.test_gateway_e2e.run`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import schemas
from exchange.gateway.client.requests import MAX_PARTNERS
from exchange.model import Modality
from mock_partners.cluster import PARTNER_SUBJECTS, Cluster
from tests.gateway.test_gateway_e2e import _call, _probe, _search_body, run

LONG = "1" * 5000  # more digits than Python's int() converts by default (4300)


async def _post(s: aiohttp.ClientSession, url: str, template: str, data: bytes) -> Any:
    return await _call(
        s, "POST", url, template, data=data, headers={"Content-Type": "application/json"}
    )


def test_an_integer_too_long_to_convert_is_400_naming_its_field(tmp_path: Path) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        body = json.dumps(_search_body(_probe(PARTNER_SUBJECTS + 1), ["dna"]))
        data = body.replace('"max_candidates": 5', f'"max_candidates": {LONG}').encode()
        status, doc = await _post(s, f"{c.client_url}/v1/searches", "/v1/searches", data)
        assert status == 400, doc
        assert doc["error"]["code"] == "invalid_json"
        assert doc["error"]["field"] == "max_candidates"
        record = json.dumps(_probe(1)).replace('"sex": "', f'"x": {LONG}, "sex": "').encode()
        status, doc = await _post(s, f"{c.client_url}/v1/records", "/v1/records", record)
        assert (status, doc["error"]["field"]) == (400, "x"), doc

    run(tmp_path, scenario)


@pytest.mark.parametrize("bad", ["\ud800", "\ufffe", "\uffff", "\x00", "\x1b"])
def test_strings_xml_cannot_carry_are_refused_at_the_door_naming_the_field(
    tmp_path: Path, bad: str
) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        record = _probe(PARTNER_SUBJECTS + 1)
        record["name"] = {"family": f"Smith{bad}", "given": ["Ann"]}
        url = f"{c.client_url}/v1/records"
        status, doc = await _post(s, url, "/v1/records", json.dumps(record).encode())
        assert (status, doc["error"]["field"]) == (422, "name.family"), doc
        searches = f"{c.client_url}/v1/searches"
        body = _search_body(_probe(1), ["dna"])
        body["record"]["name"] = {"family": "Smith", "given": [f"A{bad}nn"]}
        status, doc = await _post(s, searches, "/v1/searches", json.dumps(body).encode())
        assert (status, doc["error"]["field"]) == (422, "record.name.given[0]"), doc
        body = {**_search_body(_probe(1), ["dna"]), "case_reference": f"OP-{bad}-1"}
        status, doc = await _post(s, searches, "/v1/searches", json.dumps(body).encode())
        assert (status, doc["error"]["field"]) == (422, "case_reference"), doc
        assert doc["error"]["code"] == "invalid_text"

    run(tmp_path, scenario)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("modalities", ["dna"] * 5),
        ("modalities", ["dna"] * 1_500_000),
        ("partners", ["DE"] * 65),
    ],
)
def test_arrays_longer_than_their_bound_are_refused_naming_the_field(
    tmp_path: Path, key: str, value: list[str]
) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        body = {**_search_body(_probe(PARTNER_SUBJECTS + 1), ["dna"]), key: value}
        url = f"{c.client_url}/v1/searches"
        status, doc = await _post(s, url, "/v1/searches", json.dumps(body).encode())
        assert (status, doc["error"]["field"]) == (400, key), doc
        assert doc["error"]["message"].startswith("at most")

    run(tmp_path, scenario)


def test_the_openapi_document_bounds_every_request_array() -> None:
    doc = schemas.json_schema(schemas.OPENAPI)
    props = doc["components"]["schemas"]["SearchRequest"]["properties"]
    assert props["modalities"]["maxItems"] == len(Modality)
    assert props["partners"]["oneOf"][1]["maxItems"] == MAX_PARTNERS
