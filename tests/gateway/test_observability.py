"""Metrics, correlation ids in logs, and log hygiene (no biometric or personal data)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from exchange.codecs import uk_json
from mock_partners import population
from mock_partners.cluster import PARTNER_SUBJECTS, running_cluster

SEED = 5


def test_metrics_logs_and_correlation(tmp_path: Path) -> None:
    subject = PARTNER_SUBJECTS + 1
    person = population.person(SEED, subject, "GB", capture=1).record
    record = uk_json.record_to_json(person)

    async def main() -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
        merge = structlog.contextvars.merge_contextvars
        with structlog.testing.capture_logs(processors=[merge]) as logs:
            async with (
                running_cluster(tmp_path, ("DE", "FR"), seed=SEED, gallery_size=6) as c,
                aiohttp.ClientSession() as s,
            ):
                body = {
                    "purpose": "detection",
                    "case_reference": "OBS-1",
                    "record": record,
                    "modalities": ["dna", "face", "fingerprint"],
                    "partners": "all",
                }
                async with s.post(f"{c.client_url}/v1/searches?wait=15", json=body) as r:
                    search = await r.json()
                enrol = uk_json.record_to_json(population.person(SEED, 3, "GB").record)
                async with s.post(f"{c.client_url}/v1/records", json=enrol) as r:
                    assert r.status == 201
                async with s.get(f"{c.client_url}/metrics") as r:
                    assert r.content_type == "text/plain"
                    metrics = await r.text()
        return search, metrics, logs

    search, metrics, logs = asyncio.run(main())
    assert search["status"] == "complete"
    # Prometheus text: searches by modality/partner/status, latency histograms, quota, breaker.
    assert 'prum_searches_total{modality="dna",partner="DE",status="hit"} 1' in metrics
    assert 'prum_searches_total{modality="face",partner="FR",status="no_hit"} 1' in metrics
    assert 'prum_partner_seconds_bucket{partner="DE",le="+Inf"}' in metrics
    assert "prum_search_seconds_count 1" in metrics
    assert 'prum_quota_used{direction="outbound",partner="FR",search_type="TP/TP"} 1' in metrics
    assert 'prum_breaker_open{partner="DE"} 0' in metrics
    opened = {
        line.split()[0]: float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("prum_partner_connections_opened_total")
    }
    # three messages to each partner at once (dna, face, prints): at most one connection each
    for partner in ("DE", "FR"):
        assert 1 <= opened[f'prum_partner_connections_opened_total{{partner="{partner}"}}'] <= 3
    db = {
        line.split()[0]: float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("prum_db_")
    }
    # the search's creation, sends, two answers and end: 5 writers, in at most 5 commits
    assert db["prum_db_writers_total"] >= 5
    assert 1 <= db["prum_db_commits_total"] <= db["prum_db_writers_total"]
    # the WAL checkpoint thread's counters (its passes depend on how long the test took)
    assert "prum_wal_checkpoints_total " in metrics and "prum_wal_frames " in metrics
    assert "prum_wal_checkpoint_failures_total 0" in metrics

    # One correlation id per search, on every line of it, on both sides of the exchange.
    corr = {e["correlation_id"] for e in logs if e.get("search_id") == search["search_id"]}
    assert len(corr) == 1
    (cid,) = corr
    (finished,) = [e for e in logs if e["event"] == "search_finished"]
    assert finished["correlation_id"] == cid
    assert finished["partners"] == {"DE": "hit", "FR": "no_hit"}
    assert not [e for e in logs if e["event"] == "partner_answer"]  # only failures get one
    received = [e for e in logs if e["event"] == "partner_message"]
    assert {e["correlation_id"] for e in received} == {cid}

    # Nothing personal or biometric in any log line.
    text = json.dumps(logs, default=str)
    assert person.name is not None and person.dna is not None and person.face is not None
    forbidden = [
        person.name.family,
        *person.name.given,
        person.identifiers.pnc_id or "",
        record["face"]["template"][:24],
        record["date_of_birth"],
    ]
    for value in forbidden:
        assert value and value not in text, value
    assert '"alleles"' not in text and "minutiae" not in text


def test_no_personal_data_or_token_in_logs_on_any_route(tmp_path: Path) -> None:
    """Search, confirm, follow-up (core data), enrol and erase, with a bearer token: the log
    holds ids and references, never the names, template, alleles or the token."""
    token = "secret-token-for-log-test"
    subject = PARTNER_SUBJECTS + 2
    probe = population.person(SEED, subject, "GB", capture=1).record
    held = population.person(SEED, subject, "DE").record
    enrol = population.person(SEED, 9, "GB").record

    async def main() -> list[dict[str, Any]]:
        merge = structlog.contextvars.merge_contextvars
        with structlog.testing.capture_logs(processors=[merge]) as logs:
            async with (
                running_cluster(
                    tmp_path, ("DE",), seed=SEED, gallery_size=4, tls=True, client_token=token
                ) as c,
                aiohttp.ClientSession(headers=c.headers) as s,
            ):
                body = {
                    "purpose": "detection",
                    "case_reference": "OBS-2",
                    "record": uk_json.record_to_json(probe),
                    "modalities": ["face"],
                    "partners": ["DE"],
                }
                async with s.post(f"{c.client_url}/v1/searches?wait=15", json=body) as r:
                    search = await r.json()
                hit = search["partners"][0]["hits"][0]
                base = f"{c.client_url}/v1/searches/{search['search_id']}/hits/{hit['hit_id']}"
                async with s.post(f"{base}/confirm") as r:
                    assert r.status == 200
                async with s.post(f"{base}/follow-up") as r:
                    core = await r.json()
                    assert core["core_data"]["name"]["family"]
                async with s.post(
                    f"{c.client_url}/v1/records", json=uk_json.record_to_json(enrol)
                ) as r:
                    assert r.status == 201
                async with s.delete(f"{c.client_url}/v1/records/{enrol.identifiers.pnc_id}") as r:
                    assert r.status == 204
        return logs

    logs = asyncio.run(main())
    text = json.dumps(logs, default=str)
    assert held.name is not None and enrol.name is not None and probe.face is not None
    for value in [
        token,
        held.name.family,
        *held.name.given,
        enrol.name.family,
        enrol.identifiers.pnc_id or "",
        uk_json.record_to_json(probe)["face"]["template"][:24],
    ]:
        assert value and value not in text, value
