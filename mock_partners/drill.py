"""`prum-exchange drill SCENARIO --report DIR`: rehearse an exchange against broken partners.

A drill starts the partners of a scenario (`mock_partners.scenario`) as real nodes on
loopback, each behind a `FaultInjector` running its fault schedule, and the UK gateway
configured as the scenario says. It then drives the gateway's client API (HTTP, as a UK
service would) with a seeded workload of second-capture probes, some of people a partner
holds and some of people nobody holds, follows up confirmed hits, and checks the outcome
against the ground truth of the synthetic population (`mock_partners.population`).

Steps, each a function: `plan` (which subject, modalities, holder per search) → `probes`
(the UK records to search) → `run_workload` (bounded concurrency and time) → `follow_ups`
→ `verify_audits` → `measure` (figures) → `evaluate` (one result per expectation) →
`drill_report.write` (report.json, junit.xml, summary.md, PNG charts).

Exit codes: 0 when every expectation holds, 1 when one does not (named on stderr), 2 for a
scenario file that cannot be run (one line naming the key).
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import numpy as np

from exchange.codecs import uk_json
from exchange.gateway.audit import verify
from exchange.gateway.config import DEFAULT_CAPACITIES
from mock_partners import population
from mock_partners.cluster import PARTNER_SUBJECTS, Cluster, running_cluster
from mock_partners.faults import FaultInjector
from mock_partners.interpol_node import DOCUMENT_EVERY, NOTICE_EVERY
from mock_partners.interpol_node import NODE_ID as INTERPOL
from mock_partners.scenario import Scenario, ScenarioError, load, resolve

UNHELD_BASE = 90 * PARTNER_SUBJECTS  # subjects nobody holds
FINAL = frozenset({"complete", "partial", "failed"})
ANSWERED = frozenset({"hit", "no_hit"})
BIOMETRIC = frozenset({"dna", "face", "fingerprint"})
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Planned:
    index: int
    subject: int
    modalities: tuple[str, ...]
    holder: str | None  # ground truth: the partner that holds this subject


@dataclass
class Result:
    planned: Planned
    accepted: bool = False
    search_id: str | None = None
    status: str = "not_run"
    latency_s: float | None = None
    partners: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None

    @property
    def lost(self) -> bool:
        return self.accepted and self.status not in FINAL

    def to_json(self) -> dict[str, Any]:
        p = self.planned
        return {
            "index": p.index,
            "subject": p.subject,
            "modalities": list(p.modalities),
            "holder": p.holder,
            "search_id": self.search_id,
            "accepted": self.accepted,
            "status": self.status,
            "latency_s": self.latency_s,
            "error": self.error,
            "partners": {
                pid: {"status": r["status"], "error": r["error"], "hits": len(r["hits"])}
                for pid, r in self.partners.items()
            },
        }


def injector_seed(seed: int, partner: str) -> int:
    return zlib.crc32(f"{seed}:{partner}".encode())


def watchlisted(index: int) -> bool:
    """Whether the Interpol node's `index`-th subject has a notice or a stolen document."""
    return index % NOTICE_EVERY == 0 or index % DOCUMENT_EVERY == 0


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


def truth_references(seed: int, subject: int, holder: str) -> set[str]:
    refs = {population.reference_of(seed, subject, holder)}
    if holder == INTERPOL:
        refs |= {f"N-2026-{subject:08d}", f"P{subject:08d}"}
    return refs


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

    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def bounded(p: Planned) -> Result:
            async with slots:
                result = await one_search(session, cluster, p, records[p.index], s, end)
            progress.tick(result)
            return result

        return list(await asyncio.gather(*(bounded(p) for p in planned)))


def found_by_holder(seed: int, r: Result) -> dict[str, Any] | None:
    """The holder's hit on the true reference, if it made one."""
    p = r.planned
    if p.holder is None or p.holder not in r.partners:
        return None
    truth = truth_references(seed, p.subject, p.holder)
    return next((h for h in r.partners[p.holder]["hits"] if h["reference"] in truth), None)


async def follow_ups(
    cluster: Cluster, s: Scenario, results: Sequence[Result]
) -> list[dict[str, Any]]:
    """Confirm true hits of Prüm partners (a person's decision) and ask for their core data."""
    chosen: list[tuple[Result, dict[str, Any]]] = []
    for r in results:
        hit = found_by_holder(s.seed, r)
        if hit is not None and r.planned.holder != INTERPOL and hit["modality"] in BIOMETRIC:
            chosen.append((r, hit))
        if len(chosen) >= s.workload.follow_ups:
            break
    out = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for r, hit in chosen:
            base = f"{cluster.client_url}/v1/searches/{r.search_id}/hits/{hit['hit_id']}"
            entry: dict[str, Any] = {"search_id": r.search_id, "partner": r.planned.holder}
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


def _percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def measure(
    s: Scenario,
    results: Sequence[Result],
    follow: Sequence[dict[str, Any]],
    audits: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The drill's figures: what the expectations are checked against, and what the report shows."""
    latencies = [r.latency_s for r in results if r.latency_s is not None]
    eligible = found = 0
    by_partner: dict[str, Counter[str]] = {p.id: Counter() for p in s.partners}
    per_holder: dict[str, list[int]] = {p.id: [0, 0] for p in s.partners}
    unheld = unheld_hit = 0
    for r in results:
        for pid, pr in r.partners.items():
            by_partner.setdefault(pid, Counter())[pr["status"]] += 1
        h = r.planned.holder
        if h is None and r.status in FINAL:
            unheld += 1
            unheld_hit += int(any(pr["hits"] for pr in r.partners.values()))
        if h is not None and r.partners.get(h, {}).get("status") in ANSWERED:
            eligible += 1
            per_holder[h][0] += 1
            if found_by_holder(s.seed, r) is not None:
                found += 1
                per_holder[h][1] += 1
    statuses = Counter(r.status for r in results)
    return {
        "searches": len(results),
        "accepted": sum(r.accepted for r in results),
        "final": sum(r.status in FINAL for r in results),
        "lost": sum(r.lost for r in results),
        "not_run": statuses.get("not_run", 0),
        "search_status": dict(statuses),
        "latency_s": {
            "count": len(latencies),
            "p50": _percentile(latencies, 50),
            "p90": _percentile(latencies, 90),
            "p99": _percentile(latencies, 99),
            "max": max(latencies) if latencies else None,
            "mean": float(np.mean(latencies)) if latencies else None,
            "values": [round(v, 4) for v in latencies],
        },
        "hit_rate": {
            "eligible": eligible,
            "found": found,
            "rate": found / eligible if eligible else None,
            "by_holder": {
                pid: {"eligible": e, "found": f, "rate": f / e if e else None}
                for pid, (e, f) in per_holder.items()
            },
        },
        "unheld": {
            "searches": unheld,
            "with_hits": unheld_hit,
            "rate": unheld_hit / unheld if unheld else None,
        },
        "partner_status": {pid: dict(c) for pid, c in by_partner.items()},
        "follow_ups": {
            "attempted": len(follow),
            "ok": sum(f["ok"] for f in follow),
            "rate": sum(f["ok"] for f in follow) / len(follow) if follow else None,
            "details": list(follow),
        },
        "audit": audits,
    }


@dataclass(frozen=True, slots=True)
class Verdict:
    name: str
    passed: bool
    measured: str
    bound: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "measured": self.measured,
                "bound": self.bound}  # fmt: skip


def _fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def evaluate(s: Scenario, m: dict[str, Any]) -> list[Verdict]:
    """One verdict per expectation of the scenario; a figure that could not be measured fails."""
    e = s.expect
    out = []
    if e.hit_rate_min is not None:
        hr = m["hit_rate"]
        measured = f"{_fmt(hr['rate'])} ({hr['found']}/{hr['eligible']} where the holder answered)"
        ok = hr["rate"] is not None and hr["rate"] >= e.hit_rate_min
        out.append(Verdict("hit_rate", ok, measured, f">= {e.hit_rate_min}"))
    if e.lost_searches_max is not None:
        lost = m["lost"] + m["not_run"]
        measured = f"{m['lost']} lost, {m['not_run']} not run, of {m['searches']}"
        out.append(Verdict("lost_searches", lost <= e.lost_searches_max, measured,
                           f"<= {e.lost_searches_max}"))  # fmt: skip
    for pid, allowed in e.partner_status.items():
        counts = m["partner_status"].get(pid, {})
        total = sum(counts.values())
        bad = sum(n for st, n in counts.items() if st not in allowed)
        measured = ", ".join(f"{st} {n}" for st, n in sorted(counts.items())) or "no searches"
        out.append(Verdict(f"partner_status.{pid}", total > 0 and bad == 0, measured,
                           f"all in {{{', '.join(allowed)}}}"))  # fmt: skip
    if e.p99_s_max is not None:
        p99 = m["latency_s"]["p99"]
        ok = p99 is not None and p99 <= e.p99_s_max
        out.append(Verdict("p99_latency", ok, f"{_fmt(p99)} s", f"<= {e.p99_s_max} s"))
    if e.false_hit_rate_max is not None:
        u = m["unheld"]
        ok = u["rate"] is not None and u["rate"] <= e.false_hit_rate_max
        measured = (
            f"{_fmt(u['rate'])} ({u['with_hits']}/{u['searches']} searches of nobody's subjects)"
        )
        out.append(Verdict("false_hit_rate", ok, measured, f"<= {e.false_hit_rate_max}"))
    if e.follow_ups_ok_min is not None:
        f = m["follow_ups"]
        ok = f["rate"] is not None and f["rate"] >= e.follow_ups_ok_min
        measured = f"{_fmt(f['rate'])} ({f['ok']}/{f['attempted']} answered with core data)"
        out.append(Verdict("follow_ups", ok, measured, f">= {e.follow_ups_ok_min}"))
    if e.audit_verifies:
        bad = [n for n, a in m["audit"].items() if not a["ok"]]
        measured = ", ".join(
            f"{n} {'ok' if a['ok'] else 'BROKEN: ' + a['detail']} ({a['checked']})"
            for n, a in m["audit"].items()
        )
        out.append(Verdict("audit_verifies", not bad, measured, "every node's chain verifies"))
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
    ) as cluster:
        for inj in injectors.values():
            inj.restart_clock()  # fault schedules count from the first search
        progress_bar = Progress(s.name, len(planned), progress)
        workload_started = time.monotonic()
        results = await run_workload(cluster, s, planned, records, progress_bar)
        workload_s = time.monotonic() - workload_started
        follow = await follow_ups(cluster, s, results) if s.workload.follow_ups else []
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
    progress = None if quiet else sys.stderr
    with tempfile.TemporaryDirectory(prefix=f"prum-drill-{s.name}-") as tmp:
        figures, verdicts = asyncio.run(run(s, Path(tmp), searches, progress))
    written = drill_report.write(s, figures, verdicts, report_dir)
    failed = [v for v in verdicts if not v.passed]
    lat = figures["latency_s"]
    hr = figures["hit_rate"]
    print(
        f"drill {s.name}: {figures['searches']} searches, hit rate {_fmt(hr['rate'])} "
        f"({hr['found']}/{hr['eligible']}), p50 {_fmt(lat['p50'])} s, p99 {_fmt(lat['p99'])} s; "
        f"{len(verdicts) - len(failed)}/{len(verdicts)} expectations hold; "
        f"report in {written.parent}",
        file=sys.stderr,
    )
    if failed:
        names = ", ".join(f"{v.name} (measured {v.measured}; wanted {v.bound})" for v in failed)
        print(f"prum-exchange drill: {s.name}: failed: {names}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
