"""`bench gateway` end to end on a tiny plan: real gateway and partner processes on loopback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.gateway import CLOSED_SWEEP, REFINE_STEPS, Plan, _pin, next_rate, run
from exchange import event_loop
from exchange.gateway.config import DNA_BATCH_MAX


@pytest.mark.parametrize(
    ("partners", "batch_max", "processes", "pin"),
    [("node", None, 4, False), ("simple", 1, 4, True), ("node", None, 1, False)],
)
def test_a_tiny_gateway_bench_completes_every_search_and_reports_its_costs(
    partners: str, batch_max: int | None, processes: int, pin: bool
) -> None:
    plan = Plan(searches=24, seconds=12.0, concurrency=4, gallery=40)
    cpus = os.sched_getaffinity(0)
    report = event_loop.run(run(plan, partners, batch_max, processes, pin=pin))
    assert os.sched_getaffinity(0) == cpus  # the load client's CPUs given back
    if pin and len(cpus) > 1:
        first, *rest = sorted(cpus)
        assert report.params["pinned"] == (
            f"gateway on CPU {first}, partners and load client on {rest}"
        )
    else:
        assert report.params["pinned"] == "no"
    assert report.params["partner_nodes"] == partners
    assert report.params["partner_processes"] == processes
    assert f"in {processes} process(es)" in report.data
    assert report.params["dna_batch_max"] == (batch_max or DNA_BATCH_MAX)
    fanout, light, baseline, *rest = report.rows
    closed, paced = rest[: len(CLOSED_SWEEP)], rest[len(CLOSED_SWEEP) :]
    assert fanout["requests_ok"] == 24 and fanout["errors"] == 0
    assert light["requests_ok"] == 8 and light["errors"] == 0
    assert baseline["requests_ok"] == 24 and baseline["errors"] == 0
    for row in (fanout, light, baseline):
        assert isinstance(row["p50_ms"], float) and isinstance(row["p99_ms"], float)
        assert 0 < row["p50_ms"] <= row["p99_ms"]
    for key in ("gateway_cpu_ms_per_search", "partners_cpu_ms_per_search"):
        assert isinstance(fanout[key], float) and fanout[key] > 0
    # closed loop at each of CLOSED_SWEEP in flight: every search answered, none lost
    for row, in_flight in zip(closed, CLOSED_SWEEP, strict=True):
        assert row["run"] == f"gateway search, closed loop, {in_flight} in flight"
        assert row["errors"] == 0 and row["requests_ok"] == 8
    assert any(note.startswith("closed loop (each of N clients") for note in report.notes)
    # open loop at fixed shares of the saturated rate, then at most REFINE_STEPS bisections
    assert 3 <= len(paced) <= 3 + REFINE_STEPS
    for row in paced:
        assert row["errors"] == 0 and row["requests_ok"] > 0
        for key in ("gateway_cpu_ms_per_search", "partners_cpu_ms_per_search"):
            assert isinstance(row[key], float) and row[key] > 0  # the cost at that rate
    assert any(note.startswith("audit verify after the run: audit OK") for note in report.notes)
    assert any("highest rate tried with p99 <" in note for note in report.notes)
    (cpu,) = [n for n in report.notes if n.startswith("CPU per search, all processes")]
    assert "the gateway's one process" in cpu
    (wake,) = [n for n in report.notes if n.startswith("wake-up penalty of this machine")]
    assert "back to back" in wake and "after a 20 ms idle gap" in wake
    (batching,) = [n for n in report.notes if n.startswith("DNA batching in the fan-out run")]
    assert "of the 96 partner probes" in batching  # 24 searches x 4 partners
    if batch_max == 1:
        assert batching.startswith("DNA batching in the fan-out run: 0 of")
    assert report.params["event_loop"] == event_loop.name()


def test_open_loop_rates_bisect_towards_the_highest_rate_within_the_target() -> None:
    # nothing within the target: halve towards 0 from the lowest miss
    assert next_rate([(100.0, False), (140.0, False), (170.0, False)]) == 50.0
    # within at 50, missed at 100: try 75
    assert next_rate([(100.0, False), (140.0, False), (50.0, True)]) == 75.0
    # every rate within: the highest tried is the answer, nothing to refine
    assert next_rate([(100.0, True), (140.0, True), (170.0, True)]) is None
    # a miss below a rate within (noise) does not pull the search down
    assert next_rate([(100.0, True), (90.0, False), (140.0, False)]) == 120.0
    # the gap is already under a tenth of the best rate
    assert next_rate([(100.0, True), (108.0, False)]) is None
    # too slow to be worth a run
    assert next_rate([(3.0, False)]) is None


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two CPUs")
def test_pinning_puts_the_gateway_alone_on_one_cpu_and_the_rest_on_the_others() -> None:
    cpus = os.sched_getaffinity(0)
    first, *rest = sorted(cpus)
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) for _ in "ab"]
    try:
        gateway, partner = procs
        assert _pin(gateway.pid, [partner.pid]) is not None
        assert os.sched_getaffinity(gateway.pid) == {first}
        assert os.sched_getaffinity(partner.pid) == set(rest)
        assert os.sched_getaffinity(0) == set(rest)  # the load client too
    finally:
        os.sched_setaffinity(0, cpus)
        for p in procs:
            p.kill()
            p.wait()


def test_a_tiny_overload_bench_sheds_on_the_bounded_gateway_and_reports_every_figure() -> None:
    from bench import gateway_overload

    plan = gateway_overload.Plan(
        idle_s=0.5, saturation_s=2.0, overload_s=2.0, after_s=1.0, concurrency=4, gallery=40
    )
    report = event_loop.run(gateway_overload.run(plan, "simple", 1))
    runs = {str(row["run"]): row for row in report.rows}
    assert runs["saturation: closed loop, 4 in flight"]["answers"]
    assert runs["after: closed loop, 4 in flight"]["answers"]  # admitted again after it
    for label in ("overload", "overload, no admission bound"):
        assert f"{label}: /healthz (quiet probe)" in runs
        assert f"{label}: 503/429 answers (load client, from send)" in runs
    assert report.params["gateway_client_max_in_flight"] == 256
    assert float(str(report.params["achieved_per_s"])) > 0
    targets = [n for n in report.notes if "target" in n]
    assert len(targets) == 2 and all(("met" in n) for n in targets)
    assert any(n.startswith("gateway RSS max") for n in report.notes)
    assert any(n.startswith("one shed search costs") for n in report.notes)
