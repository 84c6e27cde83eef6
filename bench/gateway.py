"""Gateway benchmark: complete searches per second through the UK gateway, fanned out to four
mock partners on loopback, with latency percentiles, errors and gateway CPU time per search.

Set-up, all on this machine: four partner nodes (`prum-exchange partner`, DE FR NL EUROPOL,
each its own process with a seeded DNA gallery; with `--partner-processes 1`, the four on one
event loop, `bench.partner_group`) and the gateway (`prum-exchange serve`, its own process,
JSON logs to a file). The load client (this process) posts DNA searches of
second captures (stains) of partner-held subjects with `?wait=`, `concurrency` at a time,
for at most `searches` searches or `seconds` seconds, whichever ends first. A search counts
as complete when it ends `complete` with all four partners answered. A second, light run
(`LIGHT_CONCURRENCY` at a time) gives the latency of a search when nothing queues (with the
gateway's DNA batching linger: up to `dna_batch_linger_s` of it waiting for its batch). Closed-loop
runs at `CLOSED_SWEEP` searches in flight give throughput and p99 as a pool of that many
client workers sees them, and the report names the highest throughput whose p99 stayed
under `P99_TARGET_MS`. A closed loop slows its senders whenever the gateway stalls, so the
searches that would have queued behind a stall are never timed (coordinated omission) and its
p99 flatters the gateway. So open-loop runs follow: they send searches at fixed rates
(`PACED_SHARES` of the saturated throughput) whether or not earlier ones have answered,
timing each from the moment it was due; up to `REFINE_STEPS` more runs bisect between the
best rate within the target and the lowest that missed it (`next_rate`), and the report
names the highest rate whose p99 stayed under the target: the throughput the gateway
sustains within the latency target whatever its clients' pacing.

Baseline, same run: the same client posts the same DNA search messages straight to one
partner node's Prüm API (one partner exchange per request, no gateway). The ratio says what
a whole fan-out (4 partner exchanges, SQLite writes, audit chain) costs against one bare
exchange. CPU time per search is the gateway process's user+system time over the run,
divided by the searches it completed; the partners' and the load client's CPU are measured
the same way, and their sum says how many searches/s this machine's cores could complete
at all at that cost (every process shares them). Each open-loop row has its own CPU per
search: at moderate load a process sleeps between messages and pays a wake-up penalty
(cold caches on a shared host), which the report measures in this process
(`_wake_penalty`: partner message decodes back to back, and each after an idle gap).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from bench import gateway_wan, processes
from bench.report import Plot, Report, Series, format_table, write_report
from exchange import event_loop
from exchange.codecs import prum_xml, uk_json
from exchange.gateway.config import DNA_BATCH_LINGER_S, DNA_BATCH_MAX
from exchange.gateway.outbound.http_client import Endpoint, HttpClient, HttpClientError
from exchange.option_types import OneLineParser, int_in
from exchange.outputs import BENCH_OUT
from exchange.translate import Outbound, record_to_envelope
from mock_partners import population

PARTNERS = ("DE", "FR", "NL", "EUROPOL")
LIGHT_CONCURRENCY = 2  # the latency of a search when the gateway is not queueing work
CLOSED_SWEEP = (4, 8, 12)  # closed-loop runs at these many searches in flight
PACED_SHARES = (0.5, 0.7, 0.85)  # open-loop rates, as shares of the saturated throughput
REFINE_STEPS = 3  # then bisect between the best rate within the target and the worst missing it
MIN_PACED_RATE = 2.0  # searches/s: below this a bisection step is not worth its time
PACED_IN_FLIGHT = 512
P99_TARGET_MS = 50.0  # the latency target at its throughput target
SEED = 11
PARTNER_OFFSET = 1_000_000  # subjects between one partner's gallery and the next
WAKE_GAP_S = 0.02  # the idle gap of the wake-up penalty measurement
WAKE_SAMPLES = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


@contextlib.asynccontextmanager
async def _processes(
    root: Path,
    gallery: int,
    simple: bool,
    batch_max: int | None = None,
    one_process: bool = False,
    linger_s: float | None = None,
    client_keys: str = "",  # more lines of the gateway's [client] table (bench.gateway_overload)
) -> AsyncIterator[tuple[str, dict[str, int], int, list[int]]]:
    procs: list[subprocess.Popen[bytes]] = []
    cmd = [sys.executable, "-m", "exchange.cli"]
    env = {**os.environ, "PRUM_EXCHANGE_LOG_FORMAT": "json"}
    try:
        ports: dict[str, int] = {}
        if one_process:  # the four nodes on one event loop (bench.partner_group)
            group = [
                *("--ids", ",".join(PARTNERS), "--seed", str(SEED)),
                *("--gallery-size", str(gallery), "--offset-step", str(PARTNER_OFFSET)),
                *("--root", str(root), *(["--simple"] if simple else [])),
            ]
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.partner_group", *group],
                    stdout=subprocess.PIPE,
                    stderr=(root / "partners.log").open("wb"),
                    env=env,
                )
            )
        for i, pid in enumerate([] if one_process else PARTNERS):
            p = subprocess.Popen(
                [
                    *cmd,
                    "partner",
                    "--id",
                    pid,
                    "--port",
                    "0",
                    "--seed",
                    str(SEED),
                    "--gallery-size",
                    str(gallery),
                    "--offset",
                    str(i * PARTNER_OFFSET),
                    "--daily-capacity",
                    "100000000",
                    "--data-dir",
                    str(root / pid),
                    "--no-fingerprints",
                    *(["--simple"] if simple else []),
                ],
                stdout=subprocess.PIPE,
                stderr=(root / f"{pid}.log").open("wb"),
                env=env,
            )
            procs.append(p)
        for p in procs:
            assert p.stdout is not None
            for _ in PARTNERS if one_process else [None]:
                line = json.loads(p.stdout.readline())
                ports[line["partner"]] = line["port"]
        client_port = _free_port()
        partners = "".join(
            f'\n[[partners]]\nid = "{pid}"\nurl = "http://127.0.0.1:{port}/prum/v1/messages"\n'
            f'modalities = ["dna", "face"]\ntimeout_s = 5.0\n'
            + (f"dna_batch_max = {batch_max}\n" if batch_max is not None else "")
            + (f"dna_batch_linger_s = {linger_s!r}\n" if linger_s is not None else "")
            + "[partners.capacities]\nDNA = 100000000\nFACE = 100000000\n"
            for pid, port in ports.items()
        )
        config = root / "gateway.toml"
        config.write_text(
            f'node_id = "GB"\nopen_client_api = true\ndata_dir = "gb"\n'
            f'feature_model = "{population.FEATURE_MODEL}"\n'
            f"search_deadline_s = 10.0\n[client]\nport = {client_port}\n{client_keys}"
            f"[partner_listener]\nport = {_free_port()}\n{partners}",
            encoding="utf-8",
        )
        gw = subprocess.Popen(
            [*cmd, "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=(root / "gateway.log").open("wb"),
            env=env,
        )
        procs.append(gw)
        url = f"http://127.0.0.1:{client_port}"
        async with aiohttp.ClientSession() as s:
            for _ in range(300):
                with contextlib.suppress(aiohttp.ClientError):
                    async with s.get(f"{url}/readyz") as r:
                        if r.status == 200:
                            break
                await asyncio.sleep(0.1)
        yield url, ports, gw.pid, [p.pid for p in procs if p is not gw]
    finally:
        processes.stop(procs)


async def _load(
    client: HttpClient,
    requests: list[tuple[str, bytes, dict[str, str]]],
    concurrency: int,
    seconds: float,
    ok: Any,
) -> tuple[list[float], int, float]:
    """Send requests `concurrency` at a time; latencies of the good ones, errors, elapsed.

    The load client uses the gateway's own lean HTTP client (exchange.gateway.outbound.http_client),
    so that the CPU it takes from the shared cores is small beside what it measures.
    """
    latencies: list[float] = []
    errors = 0
    queue = iter(requests)
    started = time.perf_counter()
    stop_at = started + seconds

    async def worker() -> None:
        nonlocal errors
        for url, body, headers in queue:
            if time.perf_counter() > stop_at:
                return
            t0 = time.perf_counter()
            if await _post(client, url, body, headers, ok):
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - started


@functools.cache
def _endpoint(url: str) -> Endpoint:
    return Endpoint.parse(url)


async def _post(
    client: HttpClient, url: str, body: bytes, headers: dict[str, str], ok: Any
) -> bool:
    """Send one request; whether its answer was good by `ok(status, body)`."""
    try:
        reply = await client.post(_endpoint(url), body, headers["Content-Type"], 1 << 24)
    except HttpClientError:
        return False
    return bool(ok(reply.status, reply.body))


async def _paced(
    client: HttpClient,
    requests: list[tuple[str, bytes, dict[str, str]]],
    rate: float,
    seconds: float,
    ok: Any,
) -> tuple[list[float], int, float]:
    """Open loop: request i leaves at start + i/rate, whether or not earlier ones answered.

    A latency counts from the moment its request was due, so a gateway that falls behind
    shows it in the percentiles (no coordinated omission). At most PACED_IN_FLIGHT wait at
    once; a request beyond that counts as an error. Returns latencies, errors, elapsed.
    """
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors = 0
    in_flight: set[asyncio.Task[None]] = set()

    async def one(url: str, body: bytes, headers: dict[str, str], due: float) -> None:
        nonlocal errors
        if await _post(client, url, body, headers, ok):
            latencies.append(loop.time() - due)
        else:
            errors += 1

    start = loop.time()
    for i, (url, body, headers) in enumerate(requests[: int(rate * seconds)]):
        due = start + i / rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        if len(in_flight) >= PACED_IN_FLIGHT:
            errors += 1
            continue
        task = asyncio.create_task(one(url, body, headers, due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight, timeout=30)
    return latencies, errors + len(in_flight), loop.time() - start


def _search_requests(url: str, n: int, gallery: int) -> list[tuple[str, bytes, dict[str, str]]]:
    subjects = [(i % len(PARTNERS)) * 1_000_000 + (i * 7919) % gallery for i in range(n)]
    out = []
    probes = population.people(SEED, sorted(set(subjects)), capture=1, with_fingerprints=False)
    by_subject = {p.subject: p.record for p in probes}
    for i, subject in enumerate(subjects):
        rec = uk_json.record_to_json(by_subject[subject])
        rec["reference"] = f"GB-BENCH-{i}"
        body = {
            "purpose": "investigation",
            "case_reference": f"BENCH-{i}",
            "record": rec,
            "modalities": ["dna"],
            "partners": "all",
            "max_candidates": 5,
        }
        out.append(
            (
                f"{url}/v1/searches?wait=10",
                json.dumps(body).encode(),
                {"Content-Type": "application/json"},
            )
        )
    return out


def _partner_requests(url: str, n: int, gallery: int) -> list[tuple[str, bytes, dict[str, str]]]:
    probes = population.people(
        SEED,
        [(i * 7919) % gallery for i in range(min(n, gallery))],
        capture=1,
        with_fingerprints=False,
    )
    out = []
    now = dt.datetime.now(dt.UTC)
    for i in range(n):
        rec = probes[i % len(probes)].record
        env = record_to_envelope(
            rec,
            Outbound(
                message_id=f"base-{i}",
                correlation_id=f"c-{i}",
                timestamp=now,
                sender="GB",
                receiver="DE",
                message="dna-search",
            ),
        )
        out.append((url, prum_xml.encode(env), {"Content-Type": "application/xml"}))
    return out


def _complete(status: int, data: bytes) -> bool:
    if status != 200:
        return False
    body = json.loads(data)
    return bool(body["status"] == "complete" and len(body["partners"]) == len(PARTNERS))


@dataclass(frozen=True, slots=True)
class Plan:
    """How big a run is: searches, time cap, searches at a time, profiles per partner."""

    searches: int
    seconds: float
    concurrency: int
    gallery: int


FULL = Plan(searches=3000, seconds=60.0, concurrency=32, gallery=2000)
QUICK = Plan(searches=300, seconds=20.0, concurrency=16, gallery=200)


async def run(
    plan: Plan,
    partners: str = "node",
    batch_max: int | None = None,
    partner_processes: int = 4,
    linger_s: float | None = None,
    pin: bool = False,
) -> Report:
    """One bench run; `partners` is "node" (the full node code) or "simple" (state in memory).

    `batch_max` sets the gateway's `dna_batch_max` for every partner (1: no DNA batching),
    `linger_s` its `dna_batch_linger_s` (0: batch only while a message is in flight); None
    leaves the gateway's default. `partner_processes` is 4 (one process a partner) or 1
    (the four on one event loop, `bench.partner_group`). `pin` puts the gateway on one CPU
    and the partners and this load client on the others (`_pin`).
    """
    if partner_processes not in (1, len(PARTNERS)):
        raise ValueError(f"partner_processes: 1 or {len(PARTNERS)}, not {partner_processes}")
    n, seconds, concurrency, gallery = plan.searches, plan.seconds, plan.concurrency, plan.gallery
    quick = plan == QUICK
    own_cpus = os.sched_getaffinity(0)
    with tempfile.TemporaryDirectory(prefix="prum-bench-") as tmp:
        root = Path(tmp)
        s = HttpClient()
        try:
            simple = partners == "simple"
            one = partner_processes == 1
            async with _processes(root, gallery, simple, batch_max, one, linger_s) as (
                url,
                ports,
                gw_pid,
                partner_pids,
            ):
                pinned = _pin(gw_pid, partner_pids) if pin else None
                baseline_reqs = _partner_requests(
                    f"http://127.0.0.1:{ports['DE']}/prum/v1/messages", n, gallery
                )
                warm = _search_requests(url, 40, gallery)
                await _load(s, warm, 8, 30, _complete)
                base_lat, base_err, base_elapsed = await _load(
                    s, baseline_reqs, concurrency, seconds, lambda st, _d: st == 200
                )
                wake = _wake_penalty([body for _, body, _ in baseline_reqs])
                reqs = _search_requests(url, n, gallery)
                cpu0 = _cpu_seconds(gw_pid)
                partner_cpu0 = sum(_cpu_seconds(p) for p in partner_pids)
                client_cpu0 = time.process_time()
                batched0 = _batch_counters(url)
                lat, errors, elapsed = await _load(s, reqs, concurrency, seconds, _complete)
                batched = [b - a for a, b in zip(batched0, _batch_counters(url), strict=True)]
                cpu = _cpu_seconds(gw_pid) - cpu0
                partner_cpu = sum(_cpu_seconds(p) for p in partner_pids) - partner_cpu0
                client_cpu = time.process_time() - client_cpu0
                light_reqs = _search_requests(url, n // 3, gallery)
                light_lat, light_err, light_elapsed = await _load(
                    s, light_reqs, LIGHT_CONCURRENCY, seconds / 2, _complete
                )
                closed: list[tuple[int, tuple[list[float], int, float]]] = []
                for in_flight in CLOSED_SWEEP:
                    sweep_reqs = _search_requests(url, n // 3, gallery)
                    closed.append(
                        (in_flight, await _load(s, sweep_reqs, in_flight, seconds / 6, _complete))
                    )
                paced: list[tuple[float, tuple[list[float], int, float]]] = []
                paced_cpu: dict[float, list[float]] = {}

                async def paced_run(r: float) -> None:
                    paced_reqs = _search_requests(url, int(r * seconds / 6) + 1, gallery)
                    before = _cpu_now(gw_pid, partner_pids)
                    result = await _paced(s, paced_reqs, r, seconds / 6, _complete)
                    spent = [
                        b - a for a, b in zip(before, _cpu_now(gw_pid, partner_pids), strict=True)
                    ]
                    done = max(1, len(result[0]))
                    paced_cpu[r] = [round(x / done * 1000, 3) for x in spent]
                    paced.append((r, result))

                for share in PACED_SHARES:
                    await paced_run(share * len(lat) / elapsed)
                for _ in range(REFINE_STEPS):
                    r = next_rate([(r, _within(res)) for r, res in paced])
                    if r is None:
                        break
                    await paced_run(r)
                audit = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "exchange.cli",
                        "audit",
                        "verify",
                        str(root / "gb" / "gateway.sqlite3"),
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
        finally:
            os.sched_setaffinity(0, own_cpus)  # this process is the caller's again
            await s.close()
    rate = len(lat) / elapsed
    base_rate = len(base_lat) / base_elapsed
    ms = np.array(lat) * 1000
    base_ms = np.array(base_lat) * 1000
    per_search = [round(x / max(1, len(lat)) * 1000, 3) for x in (cpu, partner_cpu, client_cpu)]
    rows = [
        _row("gateway search, 4-partner fan-out", lat, errors, elapsed, per_search),
        _row(
            f"gateway search, light load ({LIGHT_CONCURRENCY} at a time)",
            light_lat,
            light_err,
            light_elapsed,
        ),
        _row("baseline: one partner exchange, no gateway", base_lat, base_err, base_elapsed),
        *(
            _row(f"gateway search, closed loop, {c} in flight", c_lat, c_err, c_elapsed)
            for c, (c_lat, c_err, c_elapsed) in closed
        ),
        *(
            _row(f"gateway search, open loop at {r:.0f}/s", p_lat, p_err, p_elapsed, paced_cpu[r])
            for r, (p_lat, p_err, p_elapsed) in sorted(paced, key=lambda run: run[0])
        ),
    ]
    closed_within = [(len(res[0]) / res[2], c) for c, res in closed if _within(res)]
    within = [r for r, res in paced if _within(res)]
    missed = [r for r, res in paced if not _within(res)]
    done = max(1, len(lat))
    gw_ms, partners_ms, client_ms = (x / done * 1000 for x in (cpu, partner_cpu, client_cpu))
    total_cpu_ms = gw_ms + partners_ms + client_ms
    cores = os.cpu_count() or 1
    ceiling = cores * 1000 / total_cpu_ms if total_cpu_ms else float("inf")
    edges = np.linspace(0, max(float(ms.max()), float(base_ms.max())), 40)
    hist = np.histogram(ms, edges)[0].tolist()
    base_hist = np.histogram(base_ms, edges)[0].tolist()
    return Report(
        name="gateway",
        measured="complete searches/s through the gateway (each fanned out to 4 partners), "
        "latency percentiles, errors, gateway CPU per search",
        data="DNA stain probes of partner-held subjects; 4 partners x "
        + f"{gallery} profiles, in {partner_processes} process(es)"
        + (
            " (simple partner nodes: state in memory, no SQLite or audit)"
            if partners == "simple"
            else " (full partner nodes: the gateway's node code, SQLite, audit chain)"
        ),
        baseline="the same client posting DNA search messages straight to one partner node",
        params={
            "searches": n,
            "seconds_cap": seconds,
            "concurrency": concurrency,
            "partners": len(PARTNERS),
            "quick": quick,
            "partner_nodes": partners,
            "partner_processes": partner_processes,
            "dna_batch_max": batch_max if batch_max is not None else DNA_BATCH_MAX,
            "dna_batch_linger_s": linger_s if linger_s is not None else DNA_BATCH_LINGER_S,
            "event_loop": event_loop.name(),
            "pinned": pinned or "no",
            "closed_loop_in_flight": ",".join(map(str, CLOSED_SWEEP)),
            "closed_loop_seconds": round(seconds / 6, 1),
            "open_loop_shares": ",".join(f"{x:g}" for x in PACED_SHARES),
            "open_loop_refine_steps": REFINE_STEPS,
            "open_loop_seconds": round(seconds / 6, 1),
        },
        rows=rows,
        plots=[
            Plot(
                "search latency",
                "ms",
                "requests",
                [
                    Series("gateway", edges[1:].tolist(), hist),
                    Series("baseline", edges[1:].tolist(), base_hist),
                ],
            )
        ],
        notes=[
            f"gateway / baseline throughput: {rate / base_rate:.2f}x "
            f"(one search = {len(PARTNERS)} partner exchanges)",
            f"audit verify after the run: {audit.stdout.strip() or audit.stderr.strip()}",
            "All processes share this machine's cores: the partners' work is on the same CPUs"
            + (f" (pinned: {pinned})." if pinned else ", wherever the scheduler puts it."),
            "open loop (requests sent at a fixed rate whatever the answers; latency from the "
            f"moment each was due): highest rate tried with p99 < {P99_TARGET_MS:g} ms and no "
            f"errors: {f'{max(within):.0f}/s' if within else 'none'}"
            + (f"; lowest rate that missed: {min(missed):.0f}/s" if missed else ""),
            "closed loop (each of N clients sends its next search when the last is answered, "
            f"as a pool of N workers does): highest throughput with p99 < {P99_TARGET_MS:g} ms "
            "and no errors: "
            + (
                "{:.0f}/s with {} in flight".format(*max(closed_within))
                if closed_within
                else f"none of {', '.join(map(str, CLOSED_SWEEP))} in flight"
            ),
            _batch_note(batched, len(lat) * len(PARTNERS)),
            f"CPU per search, all processes: {total_cpu_ms:.2f} ms (gateway {gw_ms:.2f}, "
            f"partners {partners_ms:.2f}, load client {client_ms:.2f}); with {cores} cores "
            f"the machine cannot complete more than {ceiling:.0f} searches/s at this cost, "
            f"and the gateway's one process (one event loop, one core at most) not more than "
            f"{1000 / gw_ms if gw_ms else float('inf'):.0f}/s",
            f"wake-up penalty of this machine: decoding a partner message costs "
            f"{wake[0]:.3f} ms of CPU back to back and {wake[1]:.3f} ms after a "
            f"{WAKE_GAP_S * 1000:g} ms idle gap ({wake[1] / wake[0]:.1f}x), in the load "
            "client's process; a process woken for each message pays it, which is why CPU "
            "per search in the open-loop rows (moderate load, little batching) exceeds the "
            "saturated run's",
        ],
    )


def _pin(gw_pid: int, partner_pids: list[int]) -> str | None:
    """The gateway alone on the first CPU this process may use; the partners and this load
    client on the rest. Returns what it did, or None with fewer than two CPUs.

    In service the partners are other machines: here they share this one, and the
    scheduler may wake a partner or the load client on the gateway's CPU (Linux tends to
    wake a process next to the one that woke it), where it takes the gateway's turn and
    its caches. Pinning keeps their
    work on the other CPUs; what all of them cost is measured the same either way. (A pid
    names a process's main thread, the gateway's event loop: its WAL checkpoint thread,
    started before, still runs wherever the scheduler puts it.)
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    rest = set(cpus[1:])
    os.sched_setaffinity(gw_pid, {cpus[0]})
    for pid in [*partner_pids, os.getpid()]:
        os.sched_setaffinity(pid, rest)
    return f"gateway on CPU {cpus[0]}, partners and load client on {sorted(rest)}"


def _cpu_now(gw_pid: int, partner_pids: list[int]) -> tuple[float, float, float]:
    """CPU seconds so far: the gateway, the partners together, and this process."""
    partners = sum(_cpu_seconds(p) for p in partner_pids)
    return _cpu_seconds(gw_pid), partners, time.process_time()


def _wake_penalty(messages: list[bytes]) -> tuple[float, float]:
    """CPU ms of a message decode (a different message each time), back to back and after
    a WAKE_GAP_S sleep each.

    On a virtual machine shared with others, a process that sleeps between messages comes
    back to cold caches (and, on some hosts, a slower core), so the same work costs more
    at moderate load than at saturation. Measured here because it explains the open-loop
    CPU figures, and it differs between machines.
    """
    costs = []
    for gap in (0.0, WAKE_GAP_S):
        spent = 0.0
        for body in messages[:WAKE_SAMPLES]:
            if gap:
                time.sleep(gap)
            started = time.thread_time()
            prum_xml.decode(body)
            spent += time.thread_time() - started
        costs.append(spent / min(len(messages), WAKE_SAMPLES) * 1000)
    return costs[0], costs[1]


def _within(result: tuple[list[float], int, float]) -> bool:
    """An open-loop run that answered every search, with p99 under the target."""
    latencies, errors, _ = result
    return bool(latencies and not errors and np.percentile(latencies, 99) * 1000 < P99_TARGET_MS)


def next_rate(tried: list[tuple[float, bool]]) -> float | None:
    """The next open-loop rate to try, from the (rate, within target) pairs so far.

    Halfway between the highest rate within the target and the lowest above it that missed
    (from 0 when none was within); None when nothing missed above the best rate (the best
    is the highest tried), or when the gap is under a tenth of the best rate or the next
    rate would be below MIN_PACED_RATE.
    """
    best = max((r for r, ok in tried if ok), default=0.0)
    above = [r for r, ok in tried if not ok and r > best]
    if not above:
        return None
    worst = min(above)
    if worst - best < max(MIN_PACED_RATE, best / 10):
        return None
    mid = (best + worst) / 2
    return mid if mid >= MIN_PACED_RATE else None


def _batch_counters(url: str) -> tuple[float, float]:
    """The gateway's DNA batches so far and the probes they carried, over all partners."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:  # loopback only
        text = resp.read().decode()
    totals = {"prum_dna_batches_total": 0.0, "prum_dna_batched_probes_total": 0.0}
    for line in text.splitlines():
        name = line.partition("{")[0]
        if name in totals:
            totals[name] += float(line.rpartition(" ")[2])
    return totals["prum_dna_batches_total"], totals["prum_dna_batched_probes_total"]


def _batch_note(batched: list[float], probes: int) -> str:
    batches, carried = batched
    mean = f", {carried / batches:.1f} probes a batch on average" if batches else ""
    return (
        f"DNA batching in the fan-out run: {carried:.0f} of the {probes} partner probes of its "
        f"complete searches went in {batches:.0f} batch messages{mean}; the rest went alone"
    )


def _row(
    name: str,
    latencies: list[float],
    errors: int,
    elapsed: float,
    cpu_ms: list[float] | None = None,
) -> dict[str, float | int | str | bool | None]:
    """One table row: counts, rate, percentiles and (for the measured run) CPU per search."""
    ms = np.array(latencies) * 1000
    gateway, partners, client = cpu_ms if cpu_ms is not None else (None, None, None)
    return {
        "run": name,
        "requests_ok": len(latencies),
        "errors": errors,
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else None,
        "gateway_cpu_ms_per_search": gateway,
        "partners_cpu_ms_per_search": partners,
        "client_cpu_ms_per_search": client,
    }


def _partners_arg(value: str) -> str | int:
    """`node`, `simple`, or (with --wan) a partner count."""
    if value in ("node", "simple"):
        return value
    try:
        return int_in(1, gateway_wan.MAX_PARTNERS)(value)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"node, simple or a partner count: {exc}") from None


def _wan(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if not args.wan:
        parser.error("--partners N (a count): only with --wan")
    if args.partners == "node":  # the default
        args.partners = gateway_wan.MAX_PARTNERS
    if not isinstance(args.partners, int):
        parser.error("--partners: with --wan, a count (the WAN partners are simple nodes)")
    given = {
        "--dna-batch-max": args.dna_batch_max is not None,
        "--dna-batch-linger-s": args.dna_batch_linger_s is not None,
        "--partner-processes": args.partner_processes != len(PARTNERS),
        "--pin": args.pin,
    }
    for option in (o for o, on in given.items() if on):
        parser.error(f"{option}: not with --wan")
    plan = gateway_wan.QUICK if args.quick else gateway_wan.FULL
    plan = dataclasses.replace(
        plan,
        partners=args.partners,
        in_flight=args.in_flight if args.in_flight is not None else plan.in_flight,
    )
    return gateway_wan.main(plan, args.out)


def main(argv: list[str]) -> int:
    parser = OneLineParser(prog="prum-exchange bench gateway", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument(
        "--partners",
        type=_partners_arg,
        default="node",
        help="partner processes: the full node code (default) or simple nodes with their "
        "state in memory (mock_partners.simple_node), which take less of the shared CPU; "
        "with --wan, how many partners (1 to 30; default 30)",
    )
    parser.add_argument(
        "--wan",
        action="store_true",
        help="partners behind a WAN's latency, searches kept in flight (bench.gateway_wan)",
    )
    parser.add_argument(
        "--in-flight", type=int_in(1, 2000), default=None, help="with --wan: searches in flight"
    )
    parser.add_argument(
        "--dna-batch-max",
        type=int_in(1, 100),
        default=None,
        help="the gateway's dna_batch_max for every partner (1: no batching; default: the "
        "gateway's default)",
    )
    parser.add_argument(
        "--dna-batch-linger-s",
        type=float,
        default=None,
        help="the gateway's dna_batch_linger_s for every partner (0: batch only while a "
        "message is in flight; default: the gateway's default)",
    )
    parser.add_argument(
        "--partner-processes",
        type=int,
        choices=(1, len(PARTNERS)),
        default=len(PARTNERS),
        help="one process per partner (default), or the four partners on one event loop, "
        "which takes less of the CPU the gateway shares with them",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the gateway alone on one CPU, the partners and the load client on the others "
        "(as when the partners are other machines); default: wherever the scheduler puts them",
    )
    parser.add_argument(
        "--overload",
        action="store_true",
        help="the shedding run instead (bench.gateway_overload): saturation, then 10x that rate",
    )
    parser.add_argument(
        "--out", type=Path, default=BENCH_OUT, help=f"report directory (default: {BENCH_OUT})"
    )
    args = parser.parse_args(argv)
    if args.overload:
        if args.wan or isinstance(args.partners, int) or args.in_flight is not None:
            parser.error("--overload: not with --wan, a partner count or --in-flight")
        from bench import gateway_overload

        return gateway_overload.main(
            args.quick, args.partners, args.partner_processes, args.pin, args.out
        )
    if args.wan or isinstance(args.partners, int):
        return _wan(parser, args)
    if args.in_flight is not None:
        parser.error("--in-flight: only with --wan")
    plan = QUICK if args.quick else FULL
    report = event_loop.run(
        run(
            plan,
            args.partners,
            args.dna_batch_max,
            args.partner_processes,
            args.dna_batch_linger_s,
            args.pin,
        )
    )
    print(report.measured)
    print(format_table(report.rows))
    for note in report.notes:
        print(note)
    json_path, png_path = write_report(report, args.out)
    print(f"wrote {json_path}" + (f" and {png_path}" if png_path else ""))
    return 0
