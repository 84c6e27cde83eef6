"""`prum-exchange drill SCENARIO --report DIR`: rehearse an exchange against broken partners.

A drill starts the partners of a scenario (`mock_partners.scenario`) as real nodes on
loopback, each behind a `FaultInjector` running its fault schedule, and the UK gateway
configured as the scenario says. It then drives the gateway's client API (HTTP, as a UK
service would) with a seeded workload of second-capture probes, some of people a partner
holds and some of people nobody holds, follows up confirmed hits, and checks the outcome
against the ground truth of the synthetic population (`mock_partners.population`).

Steps, each a function: `plan` (which subject, modalities, holder per search) → `probes`
(the UK records to search) → `run_workload` (bounded concurrency and time) → `follow_ups`
→ `verify_audits` → `drill_verdicts.measure` (figures) → `drill_verdicts.evaluate` (one
verdict per expectation) → `drill_report.write` (report.json, junit.xml, summary.md, charts).

Exit codes: 0 when every expectation holds, 1 when one does not (named on stderr), 2 for a
scenario file that cannot be run (one line naming the key).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from exchange import event_loop
from exchange.codecs import uk_json
from exchange.gateway.config import DEFAULT_CAPACITIES
from exchange.gateway.state.audit_verify import verify
from mock_partners import population, real_samples
from mock_partners.cluster import PARTNER_SUBJECTS, Cluster, running_cluster
from mock_partners.drill_verdicts import (
    BIOMETRIC,
    FINAL,
    Planned,
    Result,
    Verdict,
    evaluate,
    fmt,
    found_by_holder,
    measure,
)
from mock_partners.faults import FaultInjector
from mock_partners.interpol_node import NODE_ID as INTERPOL
from mock_partners.interpol_node import NOTICE_EVERY
from mock_partners.scenario import Scenario, ScenarioError, load, resolve

UNHELD_BASE = 90 * PARTNER_SUBJECTS  # subjects nobody holds
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def injector_seed(seed: int, partner: str) -> int:
    return zlib.crc32(f"{seed}:{partner}".encode())


def plan(s: Scenario, searches: int) -> list[Planned]:
    """The workload, deterministic from the scenario's seed."""
    rng = random.Random(s.seed)
    mixes = list(s.workload.modalities)
    weights = [s.workload.modalities[m] for m in mixes]
    ids = [p.id for p in s.partners]
    out = []
    for i in range(searches):
        mix = tuple(rng.choices(mixes, weights)[0].split("+"))
        holder: str | None = None
        subject = UNHELD_BASE + i
        if rng.random() < s.workload.held_share:
            biometric = any(m in BIOMETRIC for m in mix)
            candidates = ids if biometric else [p for p in ids if p == INTERPOL]
            if candidates:
                holder = rng.choice(candidates)
                j = ids.index(holder) + 1
                pool = range(s.gallery_size)
                if not biometric:
                    pool = range(0, s.gallery_size, NOTICE_EVERY)
                subject = j * PARTNER_SUBJECTS + rng.choice(pool)
        out.append(Planned(i, subject, mix, holder))
    return out


def probes(seed: int, planned: Sequence[Planned]) -> dict[int, dict[str, Any]]:
    """Second captures of each planned subject, as UK JSON records (built before the clock)."""
    out: dict[int, dict[str, Any]] = {}
    for prints in (False, True):
        batch = [p for p in planned if ("fingerprint" in p.modalities) == prints]
        for chunk in range(0, len(batch), 200):
            part = batch[chunk : chunk + 200]
            people = population.people(
                seed, [p.subject for p in part], "GB", 1, with_fingerprints=prints
            )
            for p, person in zip(part, people, strict=True):
                out[p.index] = uk_json.record_to_json(person.record)
    return out


class Progress:
    def __init__(self, name: str, total: int, out: TextIO | None) -> None:
        self.name, self.total, self.out = name, total, out
        self.done = 0
        self.lost = 0
        self.started = time.monotonic()
        self.step = max(1, total // 20)

    def tick(self, result: Result) -> None:
        self.done += 1
        self.lost += int(result.lost)
        if self.out is None:
            return
        if self.done % self.step == 0 or self.done == self.total:
            elapsed = time.monotonic() - self.started
            print(
                f"drill {self.name}: {self.done}/{self.total} searches, "
                f"{self.lost} lost, {elapsed:.1f} s",
                file=self.out,
                flush=True,
            )


async def one_search(
    session: aiohttp.ClientSession,
    cluster: Cluster,
    p: Planned,
    record: dict[str, Any],
    s: Scenario,
    end: float,
) -> Result:
    result = Result(p)
    loop = asyncio.get_running_loop()
    if loop.time() >= end:
        return result
    body = {
        "purpose": "investigation",
        "case_reference": f"DRILL-{s.name}-{p.index}",
        "record": record,
        "modalities": list(p.modalities),
        "partners": "all",
        "max_candidates": 5,
    }
    wait = min(60.0, s.search_deadline_s + 5.0)
    started = loop.time()
    try:
        async with session.post(f"{cluster.client_url}/v1/searches?wait={wait:g}", json=body) as r:
            doc = await r.json()
            if r.status not in (200, 202):
                result.status = "refused"
                result.error = f"HTTP {r.status}: {doc.get('error', {}).get('code')}"
                return result
        result.accepted, result.search_id, result.status = True, doc["search_id"], doc["status"]
        url = f"{cluster.client_url}/v1/searches/{doc['search_id']}"
        while doc["status"] not in FINAL and loop.time() < end:
            poll = max(0.1, min(10.0, end - loop.time()))
            async with session.get(f"{url}?wait={poll:.1f}") as r:
                doc = await r.json()
    except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        if not result.accepted:
            result.status = "client_error"
        return result
    result.status = doc["status"]
    if result.status in FINAL:
        result.latency_s = loop.time() - started
    result.partners = {
        r["partner"]: {"status": r["status"], "error": r.get("error"), "hits": r["hits"]}
        for r in doc["partners"]
    }
    return result


async def run_workload(
    cluster: Cluster,
    s: Scenario,
    planned: Sequence[Planned],
    records: dict[int, dict[str, Any]],
    progress: Progress,
) -> list[Result]:
    loop = asyncio.get_running_loop()
    end = loop.time() + s.time_limit_s
    slots = asyncio.Semaphore(s.workload.concurrency)
    timeout = aiohttp.ClientTimeout(total=s.time_limit_s + 30)

    async with aiohttp.ClientSession(timeout=timeout, headers=cluster.headers) as session:

        async def bounded(p: Planned) -> Result:
            async with slots:
                result = await one_search(session, cluster, p, records[p.index], s, end)
            progress.tick(result)
            return result

        return list(await asyncio.gather(*(bounded(p) for p in planned)))


async def follow_ups(
    cluster: Cluster, s: Scenario, results: Sequence[Result]
) -> list[dict[str, Any]]:
    """Confirm true hits (a person's decision) and ask for their core data: the biometric
    hits of Prüm partners, and Interpol's fingerprint hits (INT-I SREs, whose subject came
    with the hit: the follow-up is answered from it)."""
    chosen: list[tuple[Result, dict[str, Any]]] = []
    for r in results:
        hit = found_by_holder(s.seed, r)
        if r.planned.holder == INTERPOL:
            hit = interpol_print_hit(s.seed, r)
        if hit is not None and hit["modality"] in BIOMETRIC:
            chosen.append((r, hit))
        if len(chosen) >= s.workload.follow_ups:
            break
    out = []
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, headers=cluster.headers) as session:
        for r, hit in chosen:
            base = f"{cluster.client_url}/v1/searches/{r.search_id}/hits/{hit['hit_id']}"
            entry: dict[str, Any] = {
                "search_id": r.search_id,
                "partner": r.planned.holder,
                "modality": hit["modality"],
            }
            try:
                async with session.post(f"{base}/confirm") as resp:
                    entry["confirm_status"] = resp.status
                async with session.post(f"{base}/follow-up") as resp:
                    entry["status"] = resp.status
                    doc = await resp.json()
                    entry["core_data"] = "core_data" in doc
                    if resp.status != 200:
                        entry["error"] = doc.get("error")
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                entry.update(status=None, core_data=False, error=str(exc))
            entry["ok"] = entry.get("status") == 200 and entry.get("core_data") is True
            out.append(entry)
    return out


def interpol_print_hit(seed: int, r: Result) -> dict[str, Any] | None:
    """Interpol's fingerprint hit on the person searched, if it made one."""
    if INTERPOL not in r.partners:
        return None
    truth = population.reference_of(seed, r.planned.subject, INTERPOL)
    hits = r.partners[INTERPOL]["hits"]
    return next(
        (h for h in hits if h["modality"] == "fingerprint" and h["reference"] == truth), None
    )


def verify_audits(root: Path, nodes: Sequence[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for node in nodes:
        db = root / node / "gateway.sqlite3"
        if not db.exists():
            out[node] = {"ok": False, "checked": 0, "detail": "no database"}
            continue
        v = verify(str(db))
        out[node] = {"ok": v.ok, "checked": v.checked, "detail": v.detail}
    return out


async def run(
    s: Scenario, root: Path, searches: int | None = None, progress: TextIO | None = None
) -> tuple[dict[str, Any], list[Verdict]]:
    """Run a scenario with its state under `root`; returns the figures and the verdicts."""
    planned = plan(s, searches or s.workload.searches)
    if progress is not None:
        print(f"drill {s.name}: building {len(planned)} probes ...", file=progress, flush=True)
    records = probes(s.seed, planned)
    injectors = {p.id: FaultInjector(injector_seed(s.seed, p.id), p.schedule) for p in s.partners}
    overrides: dict[str, dict[str, object]] = {
        p.id: {
            "timeout_s": p.timeout_s,
            "retries": p.retries,
            "capacities": {**DEFAULT_CAPACITIES, **p.capacities},
        }
        for p in s.partners
    }
    ids = [p.id for p in s.partners]
    if progress is not None:
        print(f"drill {s.name}: starting {', '.join(ids)} and the UK gateway ...", file=progress)
    started = time.monotonic()
    async with running_cluster(
        root,
        ids,
        seed=s.seed,
        gallery_size=s.gallery_size,
        uk_overrides={"search_deadline_s": s.search_deadline_s},
        partner_overrides=overrides,
        partner_middlewares={pid: [inj.middleware] for pid, inj in injectors.items()},
        tls=True,  # nodes talk mutual TLS, as in production
        client_token=secrets.token_urlsafe(24),
    ) as cluster:
        shared = real_samples.thirdparty()
        if s.real_samples is not None and shared is not None:  # main() checked the files
            await real_samples.plant(cluster.partners, s.real_samples, shared)
        for inj in injectors.values():
            inj.restart_clock()  # fault schedules count from the first search
        progress_bar = Progress(s.name, len(planned), progress)
        workload_started = time.monotonic()
        results = await run_workload(cluster, s, planned, records, progress_bar)
        workload_s = time.monotonic() - workload_started
        follow = await follow_ups(cluster, s, results) if s.workload.follow_ups else []
        real: dict[str, list[dict[str, Any]]] = {}
        if s.real_samples is not None and shared is not None:
            wait = min(60.0, s.search_deadline_s + 5.0)
            args = (cluster.client_url, cluster.headers, s.real_samples, shared, s.seed, wait)
            if s.real_samples.face_probes:
                real["faces"] = await real_samples.search_faces(*args)
            if s.real_samples.print_probes:
                real["prints"] = await real_samples.search_prints(*args)
        requests = {pid: [asdict(r) for r in inj.requests] for pid, inj in injectors.items()}
        for inj in injectors.values():
            inj.close()
    figures = measure(s, results, follow, verify_audits(root, ["GB", *ids]))
    figures.update(
        workload_s=workload_s,
        total_s=time.monotonic() - started,
        throughput_per_s=len(results) / workload_s if workload_s > 0 else None,
        faults_applied={
            pid: dict(Counter(r["fault"] or "none" for r in reqs)) for pid, reqs in requests.items()
        },
        results=[r.to_json() for r in results],
    )
    if s.real_samples is not None:
        figures["real_samples"] = real
    return figures, evaluate(s, figures)


def main(
    scenario_arg: str, report_dir: Path, searches: int | None = None, quiet: bool = False
) -> int:
    from mock_partners import drill_report

    path = resolve(scenario_arg)
    try:
        s = load(path)
    except ScenarioError as exc:
        print(f"prum-exchange drill: {path.name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if s.real_samples is not None:
        absent = real_samples.missing(s.real_samples, real_samples.thirdparty())
        if absent:
            print(
                f"drill {s.name}: skipped: its real samples are not here (shared/thirdparty/"
                f" beside the checkout; missing {absent[0]}"
                + (f" and {len(absent) - 1} more" if len(absent) > 1 else "")
                + ")",
                file=sys.stderr,
            )
            return EXIT_OK
    progress = None if quiet else sys.stderr
    with tempfile.TemporaryDirectory(prefix=f"prum-drill-{s.name}-") as tmp:
        figures, verdicts = event_loop.run(run(s, Path(tmp), searches, progress))
    written = drill_report.write(s, figures, verdicts, report_dir)
    failed = [v for v in verdicts if not v.passed]
    lat = figures["latency_s"]
    hr = figures["hit_rate"]
    print(
        f"drill {s.name}: {figures['searches']} searches, hit rate {fmt(hr['rate'])} "
        f"({hr['found']}/{hr['eligible']}), p50 {fmt(lat['p50'])} s, p99 {fmt(lat['p99'])} s; "
        f"{len(verdicts) - len(failed)}/{len(verdicts)} expectations hold; "
        f"report in {written.parent}",
        file=sys.stderr,
    )
    if failed:
        names = ", ".join(f"{v.name} (measured {v.measured}; wanted {v.bound})" for v in failed)
        print(f"prum-exchange drill: {s.name}: failed: {names}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
