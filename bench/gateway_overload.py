"""Gateway overload benchmark (`prum-exchange bench gateway --overload`): how quickly the
gateway sheds what it cannot take, at ten times the rate it completes.

Set-up as `bench gateway` (`bench.gateway._processes`: four partner nodes and the gateway,
each its own process on this machine, the gateway with its default admission bounds,
`exchange.gateway.admission`). The same run measures, in order:

1. idle: nothing but a quiet probe (below), for the probe's baseline;
2. saturation: the closed loop of `bench gateway` (`concurrency` DNA searches with `?wait=`
   in flight), whose completed searches/s is the rate the gateway holds;
3. overload: open loop at `FACTOR` times that rate (the same search requests, sent at their
   due times whatever the answers, from many kept-alive connections, `bench.gateway`'s lean
   HTTP client), for a bounded time; each answer's latency counts from the moment its
   request was due (no coordinated omission), so the load client's own lag is in it;
4. after: the closed loop again, to show the gateway admits and completes searches once
   the overload stops.

The quiet probe is a separate process (blocking sockets, two threads) that, during every
phase, sends `GET /healthz` every `PROBE_HEALTHZ_S` and one search every `PROBE_SEARCH_S`,
timing each from send to the end of its answer: a client the overload does not slow down,
so its figures are the gateway's. The gateway's memory (RSS from /proc) is sampled through
each phase, its CPU time per phase read from /proc, and its own count of what it shed from
`/metrics`. Targets (issue 23 item 10): 503 p99 under 50 ms, `/healthz` p99 under 100 ms,
memory flat, admitted searches/s during overload no worse than at saturation.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.gateway import (
    PARTNERS,
    _complete,
    _cpu_seconds,
    _endpoint,
    _load,
    _pin,
    _processes,
    _search_requests,
)
from bench.report import Plot, Report, Series, Value, write_report
from exchange import event_loop
from exchange.gateway.outbound.http_client import HttpClient, HttpClientError

FACTOR = 10.0  # offered rate during overload, times the saturated throughput
TICK_S = 0.002  # the open loop sends whatever fell due every tick
CONNECTIONS = 960  # the load client's kept-alive connections (the gateway allows 1024)
CLIENT_QUEUE = 20_000  # requests due and waiting for a connection; beyond: "not sent"
DRAIN_S = 20.0  # after the overload, answers still awaited for at most this long
PROBE_HEALTHZ_S = 0.02
PROBE_SEARCH_S = 0.05  # each of PROBE_SEARCH_THREADS (an admitted one holds its thread)
PROBE_SEARCH_THREADS = 4
RSS_EVERY_S = 0.25
SHED_P99_TARGET_MS = 50.0
HEALTHZ_P99_TARGET_MS = 100.0
BODIES = 400  # distinct search bodies, sent round robin
CLIENT_LIMIT = 'prum_requests_in_flight_limit{listener="client"}'


@dataclass(frozen=True, slots=True)
class Plan:
    idle_s: float
    saturation_s: float
    overload_s: float
    after_s: float
    concurrency: int
    gallery: int


FULL = Plan(
    idle_s=5.0, saturation_s=20.0, overload_s=30.0, after_s=10.0, concurrency=32, gallery=2000
)
QUICK = Plan(idle_s=3.0, saturation_s=8.0, overload_s=8.0, after_s=5.0, concurrency=16, gallery=200)


# --- the quiet probe (its own process) ------------------------------------------------------


def probe_main(argv: list[str]) -> int:
    """`python -m bench.gateway_overload probe URL BODY_FILE`: probe until stdin closes,
    then print `{"healthz": [[t, ms, status]...], "search": [...]}` (t: wall time sent)."""
    url, body_file = argv
    host, _, port = url.removeprefix("http://").partition(":")
    body = Path(body_file).read_bytes()
    stop = threading.Event()
    out: dict[str, list[tuple[float, float, int]]] = {"healthz": [], "search": []}
    lock = threading.Lock()

    def loop(kind: str, every: float) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        while not stop.is_set():
            started_wall, started = time.time(), time.perf_counter()
            try:
                if kind == "healthz":
                    conn.request("GET", "/healthz")
                else:
                    headers = {"Content-Type": "application/json"}
                    conn.request("POST", "/v1/searches?wait=10", body, headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                status = -1
                conn.close()
            elapsed = time.perf_counter() - started
            with lock:
                out[kind].append((started_wall, round(elapsed * 1000, 3), status))
            stop.wait(max(0.0, every - elapsed))
        conn.close()

    threads = [
        threading.Thread(target=loop, args=("healthz", PROBE_HEALTHZ_S), daemon=True),
        *(
            threading.Thread(target=loop, args=("search", PROBE_SEARCH_S), daemon=True)
            for _ in range(PROBE_SEARCH_THREADS)
        ),
    ]
    for t in threads:
        t.start()
    sys.stdin.read()  # the bench closes it when the run ends
    stop.set()
    for t in threads:
        t.join(35)
    json.dump(out, sys.stdout)
    return 0


# --- the load client -------------------------------------------------------------------------


@dataclass(slots=True)
class Offered:
    """What the open loop sent and got: per request (due, sent, answered, status; -1 a
    wire error), the requests it queued, and those it did not (its queue was full)."""

    answers: list[tuple[float, float, float, int]]  # due, sent, answered, status
    not_sent: int
    queued: int

    def sent_within(self) -> int:
        """Requests that actually left within the overload (a lane took them in time)."""
        start = min((due for due, *_ in self.answers), default=0.0)
        return sum(1 for _, sent, *_ in self.answers if sent - start < self.elapsed)

    send_lag: list[float]  # seconds from due to the request's start
    elapsed: float
    connections_opened: int  # by the lanes, over the run (CONNECTIONS if none was closed)
    loop_lag: list[float]  # the load client's own event loop: each tick's overshoot, s


async def _offer(url: str, reqs: list[bytes], rate: float, seconds: float) -> Offered:
    """Open loop over `CONNECTIONS` kept-alive connections (each lane its own lean client of
    one connection): every TICK_S the requests that fell due join a queue the lanes take
    from, so a request waits for a free connection, as in a client's pool, and that wait is
    in its latency (counted from its due time)."""
    loop = asyncio.get_running_loop()
    endpoint = _endpoint(url)
    answers: list[tuple[float, float, float, int]] = []
    lag: list[float] = []
    queue: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()
    opened = [0]

    ready = asyncio.Barrier(CONNECTIONS + 1)
    healthz = _endpoint(url.split("/v1/")[0] + "/healthz")

    async def lane() -> None:
        client = HttpClient(limit=1)
        try:
            # Its connection opened before the overload (a POST to /healthz: 405, never
            # shed): what is measured is steady overload, not a storm of connects.
            with contextlib.suppress(HttpClientError):
                await client.post(healthz, b"", "application/json", 1 << 16)
            await ready.wait()
            while True:
                body, due = await queue.get()
                sent = loop.time()
                lag.append(sent - due)
                try:
                    reply = await client.post(endpoint, body, "application/json", 1 << 24)
                    status = reply.status
                    if status == 200 and not _complete(status, reply.body):
                        status = 299  # answered, but not a complete search (a partner missing)
                except HttpClientError:
                    status = -1
                answers.append((due, sent, loop.time(), status))
                queue.task_done()
        finally:
            opened[0] += client.connections_opened(endpoint)
            await client.close()

    lanes = [asyncio.create_task(lane()) for _ in range(CONNECTIONS)]
    async with asyncio.timeout(DRAIN_S):
        await ready.wait()
    start = loop.time()
    end = start + seconds
    i = not_sent = 0
    ticks: list[float] = []
    while (now := loop.time()) < end:
        for _ in range(int((now - start) * rate) - i):
            due = start + i / rate
            i += 1
            if queue.qsize() >= CLIENT_QUEUE:
                not_sent += 1
                continue
            queue.put_nowait((reqs[i % len(reqs)], due))
        slept = loop.time()
        await asyncio.sleep(TICK_S)
        ticks.append(loop.time() - slept - TICK_S)
    queued = i - not_sent
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_S):
            await queue.join()
    for task in lanes:
        task.cancel()
    await asyncio.gather(*lanes, return_exceptions=True)
    return Offered(answers, not_sent, queued, lag, end - start, opened[0], ticks)


# --- what one shed costs ----------------------------------------------------------------------

SHED_COST_REQUESTS = 20_000
_PIPELINER = r"""
import socket, sys, threading
port, n, conns = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
req = sys.stdin.buffer.read()
def one():
    s = socket.create_connection(("127.0.0.1", port))
    k, seen = n // conns, 0
    def reader():
        nonlocal seen
        while seen < k:
            data = s.recv(1 << 16)
            if not data:
                break
            seen += data.count(b"HTTP/1.1 503")
    t = threading.Thread(target=reader)
    t.start()
    for i in range(0, k, 50):
        s.sendall(req * min(50, k - i))
    t.join()
    s.close()
ts = [threading.Thread(target=one) for _ in range(conns)]
[t.start() for t in ts]
[t.join() for t in ts]
"""


async def shed_cost_us(body: bytes) -> float:
    """CPU (us) the gateway's event loop spends on one shed search: the client app's own
    middlewares (`exchange.gateway.app`) with its admission bound held full, in this
    process, answering SHED_COST_REQUESTS pipelined searches of `body` from another."""
    from aiohttp import web

    from exchange.gateway.admission import Admission
    from exchange.gateway.app import client_shed, json_errors

    admission = Admission("client", 1, client_shed)
    admission.in_flight = 1  # held full: every search is shed

    async def never(request: web.Request) -> web.Response:
        raise AssertionError("admitted")

    app = web.Application(middlewares=[admission.middleware(), json_errors])
    app.router.add_post("/v1/searches", never)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    head = (
        "POST /v1/searches?wait=10 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    try:
        started = time.thread_time()  # this thread: the event loop's, not the client's
        client = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _PIPELINER, str(runner.addresses[0][1]),
            str(SHED_COST_REQUESTS), "8", stdin=subprocess.PIPE,
        )  # fmt: skip
        await client.communicate(head + body)
        spent = time.thread_time() - started
    finally:
        await runner.cleanup()
    shed = admission.shed["in_flight"]
    return spent / shed * 1e6 if shed else float("nan")


# --- measuring the gateway --------------------------------------------------------------------


def _runqueue_wait_s(pid: int) -> float:
    """Seconds the process's main thread (the gateway's event loop) has spent runnable but
    waiting for a CPU (/proc/PID/schedstat, second field, ns; Linux schedstats)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return float("nan")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Sampler:
    """The gateway's RSS every RSS_EVERY_S, by phase."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.phase = "idle"
        self.samples: dict[str, list[float]] = collections.defaultdict(list)

    async def run(self) -> None:
        while True:
            self.samples[self.phase].append(_rss_mb(self.pid))
            await asyncio.sleep(RSS_EVERY_S)


def _shed_counts(url: str) -> dict[str, float]:
    """The gateway's shed counters and in-flight limits, from its /metrics."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:  # loopback only
            text = resp.read().decode()
    except OSError as exc:  # e.g. a connection over its bound (503): say so in the report
        return {f"prum_shed_total (metrics unreadable: {exc})": float("nan")}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("prum_shed_total{", "prum_requests_in_flight_limit{")):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def _latency_row(name: str, ms: list[float], seconds: float | None) -> dict[str, Value]:
    return {
        "run": name,
        "answers": len(ms),
        "per_s": round(len(ms) / seconds, 1) if seconds else None,
        "p50_ms": _pct(ms, 50),
        "p99_ms": _pct(ms, 99),
        "max_ms": round(max(ms), 2) if ms else None,
    }


def _probe_phase(
    probe: dict[str, list[list[float]]], kind: str, window: tuple[float, float], status: int | None
) -> list[float]:
    """The quiet probe's answer times (ms) of `kind` sent in `window`, of `status` if given."""
    lo, hi = window
    return [ms for t, ms, st in probe[kind] if lo <= t < hi and (status is None or st == status)]


Closed = tuple[list[float], int, float]  # latencies (s), errors, elapsed (s)
UNBOUNDED = "max_in_flight = 100000\nmax_connections = 1000000\n"  # admission as good as off


@dataclass(slots=True)
class Measured:
    """One gateway's phases: the quiet probe's samples, each phase's wall-clock window, the
    gateway's CPU and run-queue wait per second and RSS samples, the closed loops (None
    when not run), the overload, and the gateway's shed counters over the overload."""

    probe: dict[str, Any]
    windows: dict[str, tuple[float, float]]
    cpu: dict[str, tuple[float, float]]
    rss: dict[str, list[float]]
    saturation: Closed | None
    after: Closed | None
    rate: float
    offered: Offered
    shed: dict[str, float]
    limits: dict[str, float]


async def run(
    plan: Plan,
    partners: str = "node",
    partner_processes: int = 4,
    pin: bool = False,
    max_in_flight: int = 0,
) -> Report:
    """The run with the gateway's admission bounds (its defaults, or `[client]
    max_in_flight`), then the same overload at the same offered rate on a gateway whose
    bounds are as good as off (`UNBOUNDED`), the behaviour before admission control; `pin`
    as `bench gateway --pin`."""
    keys = f"max_in_flight = {max_in_flight}\n" if max_in_flight else ""
    bounded = await _gateway_run(plan, partners, partner_processes, pin, keys, None)
    unbounded = await _gateway_run(plan, partners, partner_processes, pin, UNBOUNDED, bounded.rate)
    cost = await shed_cost_us(_search_requests("http://x", 1, plan.gallery)[0][1])
    report = _report(plan, partners, partner_processes, bounded, unbounded)
    note = (
        f"one shed search costs the gateway's event loop {cost:.0f} us of CPU (the client "
        f"app's middlewares held full, {SHED_COST_REQUESTS} pipelined searches, in this "
        f"process); at the offered {bounded.rate:.0f}/s, shedding every one would take "
        f"{cost * bounded.rate / 1e6:.2f} s of CPU a second"
    )
    return dataclasses.replace(report, notes=[*report.notes, note])


async def _gateway_run(
    plan: Plan,
    partners: str,
    partner_processes: int,
    pin: bool,
    client_keys: str,
    rate: float | None,
) -> Measured:
    own_cpus = os.sched_getaffinity(0)
    with tempfile.TemporaryDirectory(prefix="prum-bench-overload-") as tmp:
        root = Path(tmp)
        client = HttpClient(limit=plan.concurrency)
        one = partner_processes == 1
        simple = partners == "simple"
        try:
            async with _processes(
                root, plan.gallery, simple, None, one, client_keys=client_keys
            ) as (url, _ports, gw_pid, partner_pids):
                if pin:
                    _pin(gw_pid, partner_pids)
                return await _measure(plan, root, client, url, gw_pid, rate)
        finally:
            os.sched_setaffinity(0, own_cpus)
            await client.close()


async def _measure(
    plan: Plan, root: Path, client: HttpClient, url: str, gw_pid: int, rate: float | None
) -> Measured:
    """idle, saturation, overload, after; with `rate` given: idle and overload at it."""
    reqs = _search_requests(url, BODIES, plan.gallery)
    await _load(client, reqs[:40], 8, 30, _complete)  # warm: connections, caches, indexes
    body_file = root / "probe-body.json"
    body_file.write_bytes(reqs[0][1])
    host = url.removeprefix("http://")
    probe = subprocess.Popen(
        [sys.executable, "-m", "bench.gateway_overload", "probe", host, str(body_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    sampler = Sampler(gw_pid)
    sampling = asyncio.create_task(sampler.run())
    windows: dict[str, tuple[float, float]] = {}
    cpu: dict[str, tuple[float, float]] = {}  # per second of the phase: CPU, run-queue wait

    def begin(phase: str) -> tuple[float, float, float]:
        sampler.phase = phase
        return time.time(), _cpu_seconds(gw_pid), _runqueue_wait_s(gw_pid)

    def end(phase: str, began: tuple[float, float, float]) -> None:
        windows[phase] = (began[0], time.time())
        span = windows[phase][1] - began[0]
        cpu[phase] = (
            (_cpu_seconds(gw_pid) - began[1]) / span,
            (_runqueue_wait_s(gw_pid) - began[2]) / span,
        )

    async def closed(phase: str, seconds: float) -> Closed:
        began = begin(phase)
        many = reqs * (int(seconds * 2000) // BODIES + 1)
        result = await _load(client, many, plan.concurrency, seconds, _complete)
        end(phase, began)
        return result

    saturation = after = None
    try:
        began = begin("idle")
        await asyncio.sleep(plan.idle_s)
        end("idle", began)
        if rate is None:
            saturation = await closed("saturation", plan.saturation_s)
            rate = FACTOR * len(saturation[0]) / saturation[2]
        shed_before = _shed_counts(url)
        began = begin("overload")
        offered = await _offer(reqs[0][0], [body for _, body, _ in reqs], rate, plan.overload_s)
        end("overload", began)
        shed_after = _shed_counts(url)
        if saturation is not None:
            after = await closed("after", plan.after_s)
    finally:
        sampling.cancel()
        assert probe.stdin is not None and probe.stdout is not None
        probe.stdin.close()
        probe_out = json.loads(probe.stdout.read() or b"{}")
        probe.wait(40)
    shed = {k: v - shed_before.get(k, 0.0) for k, v in shed_after.items()}
    return Measured(
        probe_out, windows, cpu, sampler.samples, saturation, after, rate, offered, shed, shed_after
    )


def _closed_row(name: str, result: Closed) -> dict[str, Value]:
    latencies, errors, elapsed = result
    return {**_latency_row(name, [x * 1000 for x in latencies], elapsed), "errors": errors}


def _overload_rows(m: Measured, label: str) -> tuple[list[dict[str, Value]], dict[str, Any]]:
    """The overload's rows under `label`, and the figures the notes judge."""
    offered, over_end = m.offered, m.offered.elapsed
    by_status = collections.Counter(st for *_, st in offered.answers)
    refused = [(due, sent, done) for due, sent, done, st in offered.answers if st in (503, 429)]
    shed_ms = [(done - due) * 1000 for due, _, done in refused]
    shed_sent_ms = [(done - sent) * 1000 for _, sent, done in refused]
    t0 = min((due for due, *_ in offered.answers), default=0.0)
    within = [
        (done - due) * 1000
        for due, _, done, st in offered.answers
        if st == 200 and done - t0 <= over_end
    ]
    win = m.windows["overload"]
    span = win[1] - win[0]
    healthz = _probe_phase(m.probe, "healthz", win, None)
    probe_shed = _probe_phase(m.probe, "search", win, 503)
    rows = [
        {
            **_latency_row(f"{label}: admitted searches completed in it", within, over_end),
            "errors": by_status.get(-1, 0),
        },
        _latency_row(f"{label}: 503/429 answers (load client, from due)", shed_ms, over_end),
        _latency_row(f"{label}: 503/429 answers (load client, from send)", shed_sent_ms, over_end),
        _latency_row(f"{label}: probe searches answered 503 (quiet probe)", probe_shed, span),
        _latency_row(
            f"{label}: probe searches admitted (quiet probe)",
            _probe_phase(m.probe, "search", win, 200),
            span,
        ),
        _latency_row(f"{label}: /healthz (quiet probe)", healthz, span),
    ]
    during = m.rss.get("overload", [])
    halves = (during[: len(during) // 2], during[len(during) // 2 :])
    lag_ms = [x * 1000 for x in offered.send_lag]
    figures = {
        "by_status": by_status,
        "shed_ms": shed_ms,
        "shed_sent_ms": shed_sent_ms,
        "shed_p99": _pct(probe_shed, 99),
        "healthz_p99": _pct(healthz, 99),
        "admitted_rate": len(within) / over_end,
        "rss_halves": [round(max(h), 1) if h else None for h in halves],
        "lag_ms": lag_ms,
    }
    return rows, figures


def _report(
    plan: Plan, partners: str, partner_processes: int, bounded: Measured, unbounded: Measured
) -> Report:
    assert bounded.saturation is not None and bounded.after is not None
    sat_lat, _, sat_elapsed = bounded.saturation
    saturated = len(sat_lat) / sat_elapsed
    rate, offered, over_end = bounded.rate, bounded.offered, bounded.offered.elapsed
    over_rows, f = _overload_rows(bounded, "overload")
    base_rows, g = _overload_rows(unbounded, "overload, no admission bound")
    rows: list[dict[str, Value]] = [
        _closed_row(f"saturation: closed loop, {plan.concurrency} in flight", bounded.saturation),
        *over_rows,
        _closed_row(f"after: closed loop, {plan.concurrency} in flight", bounded.after),
    ]
    for phase in ("idle", "saturation", "after"):
        win = bounded.windows[phase]
        healthz = _probe_phase(bounded.probe, "healthz", win, None)
        rows.append(_latency_row(f"{phase}: /healthz (quiet probe)", healthz, win[1] - win[0]))
    rows += base_rows
    for row in rows:
        row.setdefault("errors", None)
    rss_mb = {p: (round(min(v), 1), round(max(v), 1)) for p, v in bounded.rss.items() if v}
    limit = bounded.limits.get(CLIENT_LIMIT)

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    def statuses(by_status: collections.Counter[int]) -> str:
        names = {-1: "wire error", 299: "incomplete 200"}
        return ", ".join(f"{names.get(k, k)}: {v}" for k, v in sorted(by_status.items()))

    def shed_counts(m: Measured) -> str:
        return ", ".join(
            f"{k.removeprefix('prum_shed_total')}: {v:.0f}"
            for k, v in m.shed.items()
            if k.startswith("prum_shed_total") and v
        )

    shed_p99, healthz_p99 = f["shed_p99"], f["healthz_p99"]
    achieved = offered.sent_within() / over_end
    ticks_ms = [x * 1000 for x in offered.loop_lag]
    notes = [
        f"saturated throughput: {saturated:.1f} complete searches/s; overload offered "
        f"{FACTOR:g}x = {rate:.0f}/s for {over_end:.0f} s; achieved: {achieved:.0f}/s sent "
        f"within it ({offered.queued} queued when due, {offered.not_sent} not queued, "
        f"{len(offered.answers)} answered by the end of the drain; {CONNECTIONS} kept-alive "
        f"connections, {offered.connections_opened} opened in all); a request's wait for a "
        f"free connection and the load client's loop, p50 {_pct(f['lag_ms'], 50)} ms, p99 "
        f"{_pct(f['lag_ms'], 99)} ms, is in its 'from due' figures; when the achieved rate "
        "is under the offered one, the load client (sharing the cores) could not send faster; "
        f"its own event loop's lag (tick overshoot) p50 {_pct(ticks_ms, 50)} ms, p99 "
        f"{_pct(ticks_ms, 99)} ms, max {max(ticks_ms, default=0):.0f} ms, is in every figure "
        "it measures (not the quiet probe's)",
        f"overload answers by status: {statuses(f['by_status'])}; the gateway's own shed "
        f"count: {shed_counts(bounded) or 'none'}; client listener max_in_flight: {limit}",
        f"503/429 p99 (the quiet probe's: the gateway's answer time, without the load "
        f"client's own queueing and lag): {shed_p99} ms, target {SHED_P99_TARGET_MS:g} ms: "
        + verdict(shed_p99 is not None and shed_p99 < SHED_P99_TARGET_MS)
        + f"; the load client's p99 from send: {_pct(f['shed_sent_ms'], 99)} ms, from due: "
        f"{_pct(f['shed_ms'], 99)} ms",
        f"/healthz p99 during overload (quiet probe): {healthz_p99} ms, target "
        f"{HEALTHZ_P99_TARGET_MS:g} ms: "
        + verdict(healthz_p99 is not None and healthz_p99 < HEALTHZ_P99_TARGET_MS),
        f"admitted searches/s during overload vs saturation: {f['admitted_rate']:.1f} vs "
        f"{saturated:.1f} ({f['admitted_rate'] / saturated:.2f}x): "
        + verdict(f["admitted_rate"] >= saturated),
        f"gateway RSS max in the overload's first and second half: {f['rss_halves'][0]} and "
        f"{f['rss_halves'][1]} MB; by phase (min-max): "
        + ", ".join(f"{phase} {lo}-{hi}" for phase, (lo, hi) in rss_mb.items())
        + " (Python keeps what it allocated: 'after' stays at the high-water mark)",
        "baseline, the same overload on a gateway with admission as good as off "
        f"({UNBOUNDED.strip().replace(chr(10), ', ')}; then only the 2000 running searches "
        f"bound refuses, after reading the body): by status {statuses(g['by_status'])}; "
        f"its shed count: {shed_counts(unbounded) or 'none'}; sent within the overload "
        f"{unbounded.offered.sent_within() / unbounded.offered.elapsed:.0f}/s; /healthz p99 "
        f"{g['healthz_p99']} ms; admitted searches/s {g['admitted_rate']:.1f}; RSS max "
        f"{max(unbounded.rss.get('overload', [float('nan')])):.1f} MB",
        "gateway event loop per second of each phase, CPU used / time runnable but waiting "
        "for a CPU taken by other processes: "
        + ", ".join(f"{p} {c:.2f} s / {w:.2f} s" for p, (c, w) in bounded.cpu.items())
        + "; no bound: "
        + ", ".join(f"{p} {c:.2f} s / {w:.2f} s" for p, (c, w) in unbounded.cpu.items()),
        f"All processes (4 partners, the gateway, the load client, the probe) share this "
        f"machine's {os.cpu_count()} cores with whatever else runs on it: the shedding and "
        "the admitted searches compete for the CPU with the load that causes them, and the "
        "gateway's answer times include its waits for a CPU.",
    ]
    shed_ms = f["shed_sent_ms"]
    edges = np.linspace(0, max([*shed_ms, *g["shed_sent_ms"], 1.0]), 30)
    return Report(
        name="gateway-overload",
        measured=f"shedding at {FACTOR:g}x the saturated rate: latency of 503/429 answers and "
        "of /healthz, admitted searches/s, gateway memory",
        data=f"DNA stain probes of partner-held subjects; {len(PARTNERS)} partners x "
        f"{plan.gallery} profiles, in {partner_processes} process(es) ({partners} nodes)",
        baseline="the same gateway in the same run idle (probe only), saturated (closed loop, "
        f"{plan.concurrency} in flight) and after the overload; and the same overload on a "
        "gateway without admission bounds",
        params={
            "factor": FACTOR,
            "idle_s": plan.idle_s,
            "saturation_s": plan.saturation_s,
            "overload_s": plan.overload_s,
            "after_s": plan.after_s,
            "concurrency": plan.concurrency,
            "quick": plan == QUICK,
            "partner_nodes": partners,
            "partner_processes": partner_processes,
            "event_loop": event_loop.name(),
            "offered_per_s": round(rate, 1),
            "achieved_per_s": round(achieved, 1),
            "load_connections": CONNECTIONS,
            "probe_healthz_every_s": PROBE_HEALTHZ_S,
            "probe_search_every_s": PROBE_SEARCH_S,
            "probe_search_threads": PROBE_SEARCH_THREADS,
            "gateway_client_max_in_flight": limit,
        },
        rows=rows,
        plots=[
            Plot(
                "503/429 answer time under overload (load client, from send)",
                "ms",
                "answers",
                [
                    Series(
                        "admission", edges[1:].tolist(), np.histogram(shed_ms, edges)[0].tolist()
                    ),
                    Series(
                        "no bound",
                        edges[1:].tolist(),
                        np.histogram(g["shed_sent_ms"], edges)[0].tolist(),
                    ),
                ],
            )
        ],
        notes=notes,
    )


def main(quick: bool, partners: str, partner_processes: int, pin: bool, out: Path) -> int:
    """`bench gateway --overload`: run, print and write the report."""
    from bench.report import describe

    report = event_loop.run(run(QUICK if quick else FULL, partners, partner_processes, pin))
    print(describe(report))
    json_path, png_path = write_report(report, out)
    print(f"wrote {json_path}" + (f" and {png_path}" if png_path else ""))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["probe"]:
        raise SystemExit(probe_main(sys.argv[2:]))
    raise SystemExit("usage: python -m bench.gateway_overload probe HOST:PORT BODY_FILE")
