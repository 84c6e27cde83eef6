"""Fault profiles and expectations, seen from a real client: the UK gateway in front of real nodes.

One cluster (DE as a Prüm node, INTERPOL in its own dialect), each behind a FaultInjector whose
profile is switched at run time through the loopback admin API; every profile is checked by
the partner status and error the gateway records for a real search. Timing is never asserted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from exchange.codecs import prum_xml, uk_json
from exchange.gateway.app import Gateway
from exchange.gateway.config import Listener
from exchange.gateway.inbound.partner_api import XML
from exchange.gateway.outbound.dialects.prum import batch_request
from exchange.model import DnaProbe, Modality, Purpose, SearchReply
from mock_partners import faults, population
from mock_partners.cluster import (
    PARTNER_SUBJECTS,
    Cluster,
    partner_node_config,
    running_cluster,
    seed_partner,
)
from mock_partners.fault_admin import loopback_only, running_admin
from mock_partners.faults import PROFILES, FaultInjector, FaultProfileError, parse_profile
from mock_partners.forged_replies import expectation_from_json, probe_digest_of
from mock_partners.node import fault_middlewares

SEED = 11
HELD_BY_DE = 1 * PARTNER_SUBJECTS + 2
HELD_BY_INTERPOL = 2 * PARTNER_SUBJECTS + 1
NOBODY = 77 * PARTNER_SUBJECTS


def test_profiles_compose_and_knobs_set_one_field() -> None:
    p = parse_profile("slow+flaky")
    assert p.latency_s == PROFILES["slow"].latency_s
    assert p.error_rate == PROFILES["flaky"].error_rate
    assert p.reset_rate == PROFILES["flaky"].reset_rate
    both = parse_profile("5xx=0.5+5xx=0.5")
    assert both.error_rate == 0.75  # independent events
    assert parse_profile("timeout+latency=0.25").hang
    assert parse_profile("status=502+5xx=1").error_status == 502
    for bad in ("nonsense", "5xx=2", "latency=abc", "slow+", "status=404"):
        with pytest.raises(FaultProfileError):
            parse_profile(bad)


def test_decisions_are_reproducible_from_the_seed() -> None:
    def draws(seed: int) -> list[float]:
        inj = FaultInjector(seed)
        return [inj._rng(None, f"body {i % 3}".encode()).random() for i in range(9)]

    assert draws(5) == draws(5)
    assert draws(5) != draws(6)


def test_the_counts_behind_decisions_are_kept_for_the_most_recent_keys_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(faults, "SEEN_KEYS", 3)
    inj = FaultInjector(5)
    fresh = FaultInjector(5)

    def draw(i: FaultInjector, body: str) -> float:
        return i._rng(None, body.encode()).random()

    first = draw(inj, "a")
    assert draw(inj, "a") != first  # seen again: the next draw of that key
    for body in ("b", "c", "d", "e"):  # four newer keys push "a" out
        draw(inj, body)
    assert len(inj._seen) == 3
    assert draw(inj, "a") == first == draw(fresh, "a")  # forgotten: counted from 0 again
    for _ in range(10):  # a key in use stays, however many others come and go
        draw(inj, "a")
        draw(inj, "x")
        draw(inj, "y")
    assert list(inj._seen.values()) == [11, 10, 10]  # a, x, y (keyed by the bodies' hashes)


def test_flapping_is_down_for_the_end_of_each_period() -> None:
    inj = FaultInjector(1, [(0.0, "flapping")])
    profile = inj.active()
    inj.started = time.monotonic() - 0.5  # early in the period: up
    assert not inj.flapping_down(profile)
    inj.started = time.monotonic() - (profile.flap_period_s - 0.5)  # late: down
    assert inj.flapping_down(profile)


def test_the_schedule_picks_the_profile_of_the_current_second() -> None:
    inj = FaultInjector(1, [(0.0, "healthy"), (5.0, "down"), (10.0, "slow")])
    assert inj.active().name == "healthy"
    inj.started = time.monotonic() - 6
    assert inj.active().name == "down"
    inj.started = time.monotonic() - 11
    assert inj.active().name == "slow"
    inj.set_profile("exhausted")  # an override holds whatever the clock says
    assert inj.active().name == "exhausted"


def _search(subject: int, modalities: list[str], partner: str) -> dict[str, Any]:
    rec = population.people(SEED, [subject], "GB", 1, with_fingerprints="fingerprint" in modalities)
    return {
        "purpose": "investigation",
        "case_reference": "FAULTS-1",
        "record": uk_json.record_to_json(rec[0].record),
        "modalities": modalities,
        "partners": [partner],
        "max_candidates": 3,
    }


async def _partner_result(
    c: Cluster, s: aiohttp.ClientSession, subject: int, partner: str, modalities: list[str]
) -> dict[str, Any]:
    node = c.gateway.node
    assert node is not None
    node.links[partner].client.breaker.success()  # each check starts with a closed breaker
    body = _search(subject, modalities, partner)
    async with s.post(f"{c.client_url}/v1/searches?wait=20", json=body) as r:
        doc = await r.json()
    result: dict[str, Any] = doc["partners"][0]
    return result


async def _put_profile(s: aiohttp.ClientSession, admin: str, spec: str) -> None:
    async with s.put(f"{admin}/admin/faults", json={"profile": spec}) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["active"]["name"] == spec


# profile -> (partner status, a piece of its error) for a DNA search of someone DE holds
PRUM_CASES = [
    ("healthy", "hit", None),
    ("slow", "hit", None),
    ("trickle=0.2", "hit", None),  # a slow body still arrives whole
    ("5xx=1", "error", "HTTP 503"),
    ("errors", "error", "HTTP 500"),
    ("down", "error", "connection failed"),
    ("flap-period=100+flap-down=100", "error", "connection failed"),
    ("timeout", "timeout", "no answer"),
    ("trickle", "timeout", "no answer"),  # 3 s of trickle against a 1 s attempt timeout
    ("malformed", "error", "not well-formed"),
    ("invalid", "error", "not expected"),
    ("wrong-correlation", "error", "another correlation id"),
    ("wrong-sender", "error", "reply from XX"),
    ("exhausted", "quota_exceeded", "capacity used up"),
]


def test_every_profile_as_the_gateway_sees_it_and_expectations(tmp_path: Path) -> None:
    de, ip = FaultInjector(SEED), FaultInjector(SEED + 1)

    async def main() -> None:
        async with (
            running_cluster(
                tmp_path,
                ("DE", "INTERPOL"),
                seed=SEED,
                gallery_size=4,
                uk_overrides={"search_deadline_s": 3.0},
                partner_overrides={
                    "DE": {"timeout_s": 1.0, "retries": 0},
                    "INTERPOL": {"timeout_s": 2.0, "retries": 0},
                },
                partner_middlewares={"DE": [de.middleware], "INTERPOL": [ip.middleware]},
            ) as c,
            running_admin(de) as de_port,
            running_admin(ip) as ip_port,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s,
        ):
            admin = f"http://127.0.0.1:{de_port}"
            for spec, status, error in PRUM_CASES:
                await _put_profile(s, admin, spec)
                got = await _partner_result(c, s, HELD_BY_DE, "DE", ["dna"])
                assert got["status"] == status, (spec, got)
                if error is not None:
                    assert error in (got["error"] or ""), (spec, got)
                if status == "hit":
                    want = population.reference_of(SEED, HELD_BY_DE, "DE")
                    assert [h["reference"] for h in got["hits"]] == [want]
            await _put_profile(s, admin, "healthy")
            await _expectations(c, s, admin)
            await _requests_listed(s, admin)
            await _interpol(c, s, f"http://127.0.0.1:{ip_port}")
            async with s.get(f"{c.urls['DE'].rsplit('/prum', 1)[0]}/admin/faults") as r:
                assert r.status == 404  # the admin API is not on the partner port

    asyncio.run(main())


async def _expectations(c: Cluster, s: aiohttp.ClientSession, admin: str) -> None:
    nobody = population.people(SEED, [NOBODY], "GB", 1)[0].record
    forced_hit = {
        "probe_reference": nobody.reference,
        "reply": "hit",
        "candidates": [{"reference": "DE-FORCED-1", "score": 0.99, "match_type": "full"}],
    }
    held = population.people(SEED, [HELD_BY_DE], "GB", 1)[0].record
    forced_no_hit = {"probe_digest": probe_digest_of(held, Modality.DNA), "reply": "no_hit"}
    for doc in (forced_hit, forced_no_hit):
        async with s.post(f"{admin}/admin/expectations", json=doc) as r:
            assert r.status == 201, await r.text()
    got = await _partner_result(c, s, NOBODY, "DE", ["dna"])
    assert got["status"] == "hit"
    assert [(h["reference"], h["score"], h["match_type"]) for h in got["hits"]] == [
        ("DE-FORCED-1", 0.99, "full")
    ]
    got = await _partner_result(c, s, HELD_BY_DE, "DE", ["dna"])
    assert got["status"] == "no_hit"  # the gallery holds them; the expectation wins
    async with s.delete(f"{admin}/admin/expectations") as r:
        assert (await r.json())["expectations"] == []
    forced_error = {"probe_reference": held.reference, "reply": "error", "error": "quota_exceeded"}
    async with s.post(f"{admin}/admin/expectations", json=forced_error) as r:
        assert r.status == 201
    got = await _partner_result(c, s, HELD_BY_DE, "DE", ["dna"])
    assert got["status"] == "quota_exceeded"
    async with s.get(f"{admin}/admin/expectations") as r:
        listed = (await r.json())["expectations"]
    assert [e["reply"] for e in listed] == ["error"]
    async with s.post(f"{admin}/admin/expectations", json={"reply": "hit"}) as r:
        assert r.status == 400
    async with s.delete(f"{admin}/admin/expectations"):
        pass


async def _requests_listed(s: aiohttp.ClientSession, admin: str) -> None:
    async with s.get(f"{admin}/admin/requests") as r:
        requests = (await r.json())["requests"]
    assert len(requests) >= len(PRUM_CASES)
    assert {r["sender"] for r in requests if r["sender"]} == {"GB"}
    assert {r["type"] for r in requests} == {"dna_search_request"}
    faults = {r["fault"] for r in requests}
    assert {"hang", "reset", "malformed", "invalid", "exhausted", "http-503"} <= faults
    assert any(str(r["fault"]).startswith("expectation:") for r in requests)
    assert all(r["message_id"] for r in requests)
    assert all(r["probe_references"][0] == r["probe_reference"] for r in requests)
    text = json.dumps(requests)
    assert "Locus" not in text and "loci" not in text and "Template" not in text
    async with s.put(f"{admin}/admin/faults", json={"profile": "no-such"}) as r:
        assert r.status == 400
        assert "no-such" in (await r.json())["error"]


async def _interpol(c: Cluster, s: aiohttp.ClientSession, admin: str) -> None:
    """The same injector in front of the Interpol node: its XML and its INT-I replies."""
    got = await _partner_result(c, s, HELD_BY_INTERPOL, "INTERPOL", ["dna"])
    assert got["status"] == "hit"
    await _put_profile(s, admin, "wrong-sender")
    got = await _partner_result(c, s, HELD_BY_INTERPOL, "INTERPOL", ["dna"])
    assert got["status"] == "error" and "reply from XX" in got["error"]
    await _put_profile(s, admin, "wrong-correlation")
    got = await _partner_result(c, s, HELD_BY_INTERPOL, "INTERPOL", ["dna"])
    assert got["status"] == "error" and "correlation" in got["error"]
    # INT-I's correlation is the reply's TCR: another one answers another request.
    got = await _partner_result(c, s, HELD_BY_INTERPOL, "INTERPOL", ["fingerprint"])
    assert got["status"] == "error" and "does not answer this request" in got["error"]
    await _put_profile(s, admin, "exhausted")
    got = await _partner_result(c, s, HELD_BY_INTERPOL, "INTERPOL", ["dna"])
    assert got["status"] == "quota_exceeded"
    # INT-I has no error code for a quota: HTTP 429, retried, then given up as an error.
    got = await _partner_result(c, s, HELD_BY_INTERPOL, "INTERPOL", ["fingerprint"])
    assert got["status"] == "error" and "HTTP 429" in got["error"]


def test_admin_listens_on_loopback_only() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="loopback"):
            async with running_admin(FaultInjector(), host="0.0.0.0"):
                pass

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(text="ok")

        outside = make_mocked_request("GET", "/admin/faults").clone(remote="192.0.2.7")
        assert (await loopback_only(outside, handler)).status == 403
        inside = make_mocked_request("GET", "/admin/faults").clone(remote="127.0.0.1")
        assert (await loopback_only(inside, handler)).status == 200

    asyncio.run(main())


def test_partner_command_takes_faults_and_an_admin_port(tmp_path: Path) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "partner", "--id", "DE", "--faults", "bogus"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "bogus" in bad.stderr and len(bad.stderr.splitlines()) == 1
    cmd = [
        sys.executable, "-m", "exchange.cli", "partner", "--id", "DE", "--gallery-size", "2",
        "--data-dir", str(tmp_path / "DE"), "--faults", "slow+exhausted", "--admin-port", "0",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["faults"] == "slow+exhausted" and ready["admin_port"]

        async def check() -> None:
            async with aiohttp.ClientSession() as s:
                url = f"http://127.0.0.1:{ready['admin_port']}/admin/faults"
                async with s.get(url) as r:
                    active = (await r.json())["active"]
                assert active["exhausted_rate"] == 1.0 and active["latency_s"] > 0

        asyncio.run(check())
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_an_injector_that_can_never_inject_is_left_out_of_the_node() -> None:
    healthy = FaultInjector(1, [(0.0, "healthy")])
    assert fault_middlewares(healthy, admin_port=None) == []
    # an admin API could set a profile or an expectation at any time: it stays in front
    assert fault_middlewares(healthy, admin_port=9999) == [healthy.middleware]
    later = FaultInjector(1, [(0.0, "healthy"), (30.0, "slow")])
    assert fault_middlewares(later, admin_port=None) == [later.middleware]
    flaky = FaultInjector(1, [(0.0, "flaky")])
    assert fault_middlewares(flaky, admin_port=None) == [flaky.middleware]


def test_expectations_forge_only_their_probes_in_a_batch_of_several_searches(
    tmp_path: Path,
) -> None:
    """The UK gateway may send the DNA probes of several searches in one message; an
    expectation then forges its probe's result and the node answers the others."""
    held = [PARTNER_SUBJECTS + 1, PARTNER_SUBJECTS + 2]
    people = population.people(SEED, [held[0], NOBODY, held[1]], "GB", 1)
    profiles = [p.record.dna for p in people if p.record.dna is not None]
    probes = [DnaProbe(f"GB-{i}", profile, f"c-{i}") for i, profile in enumerate(profiles)]
    injector = FaultInjector(SEED)
    injector.expectations = [
        expectation_from_json(
            {
                "probe_reference": "GB-1",
                "reply": "hit",
                "candidates": [{"reference": "DE-FORCED-1", "score": 0.99, "match_type": "full"}],
            }
        ),
        expectation_from_json(
            {"probe_digest": probe_digest_of(people[2].record, Modality.DNA), "reply": "no_hit"}
        ),
    ]

    async def main() -> dict[str, list[str]]:
        cfg = replace(partner_node_config("DE", tmp_path / "DE"), partner_listener=Listener())
        gw = Gateway(cfg, [injector.middleware])
        node = await gw.start()
        try:
            await seed_partner(node, "DE", SEED, held)
            now = dt.datetime.now(dt.UTC)
            request = batch_request("GB", "DE", "b-1", now, Purpose.INVESTIGATION, probes, 5)
            url = f"http://127.0.0.1:{gw.partner_port}/prum/v1/messages"
            async with (
                aiohttp.ClientSession() as s,
                s.post(url, data=prum_xml.encode(request), headers={"Content-Type": XML}) as r,
            ):
                assert r.status == 200
                reply = prum_xml.decode(await r.read())
        finally:
            await gw.stop()
        assert isinstance(reply.body, SearchReply)
        return {
            res.probe_reference: [c.reference for c in res.candidates] for res in reply.body.results
        }

    got = asyncio.run(main())
    assert got["GB-0"][0] == population.reference_of(SEED, held[0], "DE")  # the node's own
    assert got["GB-1"] == ["DE-FORCED-1"]
    assert got["GB-2"] == []  # held, but the expectation says no hit
    (logged,) = injector.requests
    assert str(logged.fault).startswith("expectation:")
    assert logged.probe_references == ("GB-0", "GB-1", "GB-2")  # what test teams look up
