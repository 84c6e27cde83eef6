"""`bench gateway --wan` end to end on a tiny plan: a real gateway and partner processes with
WAN latency on loopback; and its command line's refusals."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.gateway_wan import PARTNER_IDS, WanPlan, baseline_partners, gateway_toml, run
from exchange import event_loop
from exchange.gateway.config import from_mapping


def test_a_tiny_wan_run_ends_every_search_and_matches_each_to_its_partners_answers() -> None:
    plan = WanPlan(
        partners=6, in_flight=8, searches=16, seconds=30.0, gallery=10, processes=2, fanning_out=4
    )
    report = event_loop.run(run(plan))
    names = [row["run"] for row in report.rows]
    assert names == [
        "6 partners, WAN, fan-out limit 4",
        "baseline: 5 partners, WAN, fan-out limit 4",
        "baseline: 6 partners, no latency, fan-out limit 4",
        "baseline: 6 partners, WAN, no limit",
    ]
    for row, partners, limit in zip(report.rows, (6, 5, 6, 6), (4, 4, 4, 0), strict=True):
        assert row["partners"] == partners
        assert row["max_searches_fanning_out"] == limit
        assert row["submitted"] == 16 and row["accepted"] == 16
        assert row["lost"] == 0 and row["final_state"] == 16
        assert row["complete"] == 16 and row["all_partners_answered"] == 16
        assert row["not_matched_to_partner_logs"] == 0  # every search found in every log
        assert row["max_in_flight"] == 8
        for key in ("after_last_answer_p99_ms", "above_slowest_p99_ms", "e2e_p50_ms"):
            assert isinstance(row[key], float)
        # the gateway's time above the slowest partner includes its time after that answer
        assert row["above_slowest_p50_ms"] >= row["after_last_answer_p50_ms"]  # type: ignore[operator]
        assert row["gateway_rss_peak_mib"] >= row["gateway_rss_idle_mib"]  # type: ignore[operator]
    wan = report.rows[0]
    # a search waits for its slowest partner: at least the fastest partner's median
    assert wan["e2e_p50_ms"] >= 20.0  # type: ignore[operator]
    assert report.params["medians_ms"] == "20.0,29.9,44.8,67.0,100.2,150.0"
    assert report.params["partner_processes"] == 2


def test_thirty_partners_are_a_config_the_gateway_accepts() -> None:
    import tomllib

    ports = {pid: 9000 + i for i, pid in enumerate(PARTNER_IDS)}
    config = from_mapping(tomllib.loads(gateway_toml(WanPlan(), ports, 8080, 64)))
    assert config.max_searches_fanning_out == 64
    assert [p.id for p in config.partners] == list(PARTNER_IDS)
    assert len(config.partners) == 30
    assert all(p.dna_batch_lanes == 4 for p in config.partners)
    assert config.search_deadline_s > 10 * max(p.timeout_s for p in config.partners) / 2


def test_the_baseline_partners_span_the_medians() -> None:
    assert baseline_partners(PARTNER_IDS) == ["AT", "EE", "IE", "PT", "EUROPOL"]
    assert baseline_partners(PARTNER_IDS[:3]) == list(PARTNER_IDS[:3])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--partners", "30"], "--partners N (a count): only with --wan"),
        (["--wan", "--partners", "simple"], "--partners: with --wan, a count"),
        (["--partners", "31", "--wan"], "31 is not from 1 to 30"),
        (["--in-flight", "10"], "--in-flight: only with --wan"),
        (["--wan", "--in-flight", "0"], "0 is not from 1 to 2000"),
        (["--wan", "--pin"], "--pin: not with --wan"),
        (["--wan", "--dna-batch-max", "4"], "--dna-batch-max: not with --wan"),
    ],
)
def test_the_wan_options_are_refused_in_one_line_with_exit_2(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "bench", "gateway", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
