"""The follow-up of a confirmed hit goes out in its partner's dialect, end to end.

A real UK gateway, a Prüm partner (DE) and the mock Interpol node on loopback. Interpol's
node reads only its own dialect (XML in `urn:prum-exchange:interpol:1.0`, or INT-I XML and
ANSI/NIST for fingerprint searches): a follow-up sent to it in Prüm XML is refused as
`schema_invalid`, which is what the gateway did before its follow-ups went through the dialects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exchange.codecs import uk_json
from exchange.gateway.state.audit import Direction
from exchange.model import MessageType
from mock_partners import population
from mock_partners.cluster import PARTNER_SUBJECTS, Cluster
from tests.gateway.test_gateway_e2e import SEED, _call, _search_body, run

FOLLOW_UP = "/v1/searches/{search_id}/hits/{hit_id}/follow-up"
CONFIRM = "/v1/searches/{search_id}/hits/{hit_id}/confirm"


async def _confirm_and_follow_up(
    c: Cluster, s: aiohttp.ClientSession, search_id: str, hit: dict[str, Any]
) -> tuple[int, Any]:
    base = f"{c.client_url}/v1/searches/{search_id}/hits/{hit['hit_id']}"
    status, _ = await _call(s, "POST", f"{base}/confirm", CONFIRM)
    assert status == 200
    return await _call(s, "POST", f"{base}/follow-up", FOLLOW_UP)


@pytest.mark.parametrize("profile", ["prum-2008", "int-i-6"])
def test_an_interpol_hit_is_followed_up_in_interpol_xml_for_dna_and_fingerprints(
    tmp_path: Path, profile: str
) -> None:
    """prum-2008: both follow-ups travel as Interpol XML. int-i-6: the fingerprint hit came
    in an INT-I SRE with its subject, and its follow-up is answered from that, unsent."""
    subject = 2 * PARTNER_SUBJECTS + 1  # held by INTERPOL, the second partner

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        probe = uk_json.record_to_json(population.person(SEED, subject, "GB", capture=1).record)
        body = _search_body(probe, ["dna", "fingerprint"], ["INTERPOL"])
        _, result = await _call(
            s, "POST", f"{c.client_url}/v1/searches?wait=20", "/v1/searches", json=body
        )
        (interpol,) = result["partners"]
        expected = population.reference_of(SEED, subject, "INTERPOL")
        truth = population.person(SEED, subject, owner="INTERPOL").record
        assert truth.name is not None
        for modality in ("dna", "fingerprint"):
            hit = next(
                h
                for h in interpol["hits"]
                if h["modality"] == modality and h["reference"] == expected
            )
            status, core = await _confirm_and_follow_up(c, s, result["search_id"], hit)
            assert status == 200, core
            assert core["partner"] == "INTERPOL" and core["reference"] == expected
            assert core["core_data"]["name"]["family"] == truth.name.family
            assert not {"dna", "face", "fingerprints"} & set(core["core_data"])
        uk = c.gateway.node
        assert uk is not None
        replies = uk.store.connection.execute(
            "SELECT partner FROM audit WHERE message_type = ? AND direction = ?",
            (MessageType.FOLLOW_UP_REPLY.value, Direction.RECEIVED.value),
        ).fetchall()
        sent = 2 if profile == "prum-2008" else 1
        assert replies == [("INTERPOL",)] * sent
        supplied = uk.store.connection.execute(
            "SELECT count(*) FROM audit WHERE message_type = 'core_data'"
        ).fetchone()
        assert supplied == (2,)  # each handed to the client, audited either way

    run(
        tmp_path,
        scenario,
        partner_ids=("DE", "INTERPOL"),
        partner_overrides={"INTERPOL": {"profile": profile}},
    )


def test_a_refused_interpol_follow_up_is_the_partners_typed_refusal(tmp_path: Path) -> None:
    """Past the follow-up window Interpol answers `unknown_reference`, in its dialect; the
    client gets 404 with that code, not a 502 for a reply the gateway could not read."""
    subject = 2 * PARTNER_SUBJECTS + 2

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        probe = uk_json.record_to_json(population.person(SEED, subject, "GB", capture=1).record)
        body = _search_body(probe, ["dna"], ["INTERPOL"])
        _, result = await _call(
            s, "POST", f"{c.client_url}/v1/searches?wait=20", "/v1/searches", json=body
        )
        hit = result["partners"][0]["hits"][0]
        interpol = c.partners["INTERPOL"]
        interpol.store.connection.execute("DELETE FROM released_hits")  # as after 48 h
        status, err = await _confirm_and_follow_up(c, s, result["search_id"], hit)
        assert status == 404, err
        assert err["error"]["code"] == "unknown_reference"

    run(tmp_path, scenario, partner_ids=("DE", "INTERPOL"))
