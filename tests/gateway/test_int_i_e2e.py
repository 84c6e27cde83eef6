"""An Interpol fingerprint hit over INT-I v6, end to end, and where its subject may show.

A real UK gateway and the mock Interpol node on 127.0.0.1 (ephemeral ports). The search goes
as an INT-I CPS; the node's SRE names the person hit; the gateway keeps that identity with the
hit and hands it out only as the confirmed hit's follow-up: never in the search result, never
in a log line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from exchange.codecs import int_i_codes as codes
from exchange.codecs.int_i_envelope import int_i_tcn
from exchange.codecs.uk_json import format_partial_date
from exchange.gateway.state.audit import Direction
from exchange.model import MessageType, Modality
from mock_partners import population
from mock_partners.cluster import PARTNER_SUBJECTS, Cluster
from tests.gateway.test_gateway_e2e import SEED, _call, _probe, _search_body, run

SUBJECT = 2 * PARTNER_SUBJECTS + 4  # held by INTERPOL, the second partner
FOLLOW_UP = "/v1/searches/{search_id}/hits/{hit_id}/follow-up"
CONFIRM = "/v1/searches/{search_id}/hits/{hit_id}/confirm"


def _secrets() -> list[str]:
    """What Interpol's record says of the person: names and date of birth."""
    truth = population.person(SEED, SUBJECT, owner="INTERPOL").record
    assert truth.name is not None and truth.date_of_birth is not None
    return [truth.name.family, *truth.name.given, format_partial_date(truth.date_of_birth)]


def test_an_int_i_fingerprint_hit_gives_its_subject_only_through_the_follow_up(
    tmp_path: Path,
) -> None:
    seen: dict[str, Any] = {}

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        body = _search_body(_probe(SUBJECT), ["fingerprint"], ["INTERPOL"])
        status, result = await _call(
            s, "POST", f"{c.client_url}/v1/searches?wait=20", "/v1/searches", json=body
        )
        assert status == 200 and result["status"] == "complete", result
        (interpol,) = result["partners"]
        assert interpol["status"] == "hit", interpol
        (hit,) = interpol["hits"]
        assert hit["reference"] == population.reference_of(SEED, SUBJECT, "INTERPOL")
        seen["result"] = json.dumps(result)

        # It went as INT-I: the node got a CPS under the TCN of the stable message id.
        uk = c.gateway.node
        assert uk is not None
        row = uk.store.get_search(result["search_id"])
        assert row is not None
        tcn = int_i_tcn(row.results[0].message_id_for(Modality.FINGERPRINT), row.created_at.year)
        node = c.partners["INTERPOL"]
        stored = node.store.connection.execute(
            "SELECT reply FROM inbound_messages WHERE sender = 'GB' AND message_id = ?", (tcn,)
        ).fetchone()
        assert stored is not None and codes.NS_INTI.encode() in stored[0]
        assert b"RecordSubject" in stored[0]  # the SRE named the person

        base = f"{c.client_url}/v1/searches/{result['search_id']}/hits/{hit['hit_id']}"
        status, err = await _call(s, "POST", f"{base}/follow-up", FOLLOW_UP)
        assert status == 409 and err["error"]["code"] == "not_confirmed"
        status, _ = await _call(s, "POST", f"{base}/confirm", CONFIRM)
        assert status == 200
        status, core = await _call(s, "POST", f"{base}/follow-up", FOLLOW_UP)
        assert status == 200, core
        truth = population.person(SEED, SUBJECT, owner="INTERPOL").record
        assert truth.name is not None and truth.date_of_birth is not None
        got = core["core_data"]
        assert got["name"]["family"] == truth.name.family
        assert got["name"]["given"] == list(truth.name.given)
        assert got["date_of_birth"] == format_partial_date(truth.date_of_birth)
        assert got["sex"] == truth.sex.value
        assert got["nationalities"] == list(truth.nationalities)
        assert not {"dna", "face", "fingerprints"} & set(got)
        # No second round trip: nothing was sent to Interpol for the follow-up.
        sent = uk.store.connection.execute(
            "SELECT count(*) FROM audit WHERE message_type = ? AND direction = ?",
            (MessageType.FOLLOW_UP_REQUEST.value, Direction.SENT.value),
        ).fetchone()
        assert sent == (0,)
        _, again = await _call(
            s,
            "GET",
            f"{c.client_url}/v1/searches/{result['search_id']}",
            "/v1/searches/{search_id}",
        )
        seen["after"] = json.dumps(again)

    merge = structlog.contextvars.merge_contextvars
    with structlog.testing.capture_logs(processors=[merge]) as logs:
        run(tmp_path, scenario, partner_ids=("DE", "INTERPOL"))
    assert any(e["event"] == "search_finished" for e in logs)  # the capture saw the gateway
    lines = [json.dumps(e, default=str) for e in logs]
    for secret in _secrets():
        assert secret not in seen["result"] and secret not in seen["after"]
        assert not [line for line in lines if secret in line], secret
