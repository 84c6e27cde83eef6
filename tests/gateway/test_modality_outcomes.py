"""A partner's answer per modality (issue 23 item 12): one modality refused does not hide the
others' answers. A real gateway and partners on 127.0.0.1; DE's face capacity set to 0 in the
UK's config, so every face search to DE is refused (`quota_exceeded`) while DNA goes and is
answered. Responses are checked against the OpenAPI document by `_call`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from exchange import event_loop
from exchange.gateway.config import DEFAULT_CAPACITIES
from mock_partners.cluster import PARTNER_SUBJECTS, Cluster, running_cluster
from tests.gateway.test_gateway_e2e import SEED, _call, _probe, _search_body

DE_HELD = PARTNER_SUBJECTS + 1
NOBODY = 9 * PARTNER_SUBJECTS


async def _de_result(c: Cluster, s: aiohttp.ClientSession, subject: int) -> dict[str, Any]:
    body = _search_body(_probe(subject), ["dna", "face"], ["DE"])
    status, result = await _call(
        s, "POST", f"{c.client_url}/v1/searches?wait=15", "/v1/searches", json=body
    )
    assert status == 200 and result["status"] == "complete", result
    (de,) = result["partners"]
    return dict(de)


def test_a_refused_modality_does_not_hide_the_answers_of_the_others(tmp_path: Path) -> None:
    no_face = {"capacities": {**DEFAULT_CAPACITIES, "FACE": 0}}

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with (
            running_cluster(
                tmp_path, ("DE",), seed=SEED, gallery_size=4, partner_overrides={"DE": no_face}
            ) as c,
            aiohttp.ClientSession() as s,
        ):
            return await _de_result(c, s, NOBODY), await _de_result(c, s, DE_HELD)

    missed, held = event_loop.run(main())
    # DNA answered no hit; face refused: the partner is `no_hit` (was `rejected`/
    # `quota_exceeded`, hiding the DNA answer), the refusal in its modalities and error.
    assert missed["status"] == "no_hit", missed
    by_modality = {o["modality"]: o for o in missed["modalities"]}
    assert by_modality["dna"] == {"modality": "dna", "status": "no_hit", "error": None}
    assert by_modality["face"]["status"] == "quota_exceeded"
    assert "capacity" in by_modality["face"]["error"] and "capacity" in missed["error"]
    # A DNA hit: `hit`, the hit naming its modality, the face refusal still listed.
    assert held["status"] == "hit", held
    assert {h["modality"] for h in held["hits"]} == {"dna"}
    statuses = {o["modality"]: o["status"] for o in held["modalities"]}
    assert statuses == {"dna": "hit", "face": "quota_exceeded"}
