"""What a drill is measured against: its searches, the ground truth, figures and verdicts.

A planned search knows which partner holds its subject (`mock_partners.population` places
partner j's subjects at j * PARTNER_SUBJECTS); `truth_references` says under which
references that partner (and, for Interpol, its notices and travel documents) must answer.
`measure` turns the results into figures: hit rate where the holder answered, searches of
people nobody holds that still hit, latency percentiles, statuses by partner, follow-ups and
audit verification. `evaluate` gives one `Verdict` per expectation of the scenario; a figure
that could not be measured (nothing eligible) fails its expectation rather than passing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mock_partners import population
from mock_partners.interpol_node import NODE_ID as INTERPOL
from mock_partners.scenario import Scenario

FINAL = frozenset({"complete", "partial", "failed"})
ANSWERED = frozenset({"hit", "no_hit"})
BIOMETRIC = frozenset({"dna", "face", "fingerprint"})


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


def truth_references(seed: int, subject: int, holder: str) -> set[str]:
    refs = {population.reference_of(seed, subject, holder)}
    if holder == INTERPOL:
        refs |= {f"N-2026-{subject:08d}", f"P{subject:08d}"}
    return refs


def found_by_holder(seed: int, r: Result) -> dict[str, Any] | None:
    """The holder's hit on the true reference, if it made one."""
    p = r.planned
    if p.holder is None or p.holder not in r.partners:
        return None
    truth = truth_references(seed, p.subject, p.holder)
    return next((h for h in r.partners[p.holder]["hits"] if h["reference"] in truth), None)


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


def fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _outcome(f: dict[str, Any]) -> str:
    if "hits" not in f:
        return f"HTTP {f['http_status']}"
    if not f["hits"]:
        return "no hit"
    top = f["hits"][0]
    return f"hit {top['reference']} at {top['partner']}, score {top['score']}"


def evaluate(s: Scenario, m: dict[str, Any]) -> list[Verdict]:
    """One verdict per expectation of the scenario; a figure that could not be measured fails."""
    e = s.expect
    out = []
    if e.hit_rate_min is not None:
        hr = m["hit_rate"]
        measured = f"{fmt(hr['rate'])} ({hr['found']}/{hr['eligible']} where the holder answered)"
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
        out.append(Verdict("p99_latency", ok, f"{fmt(p99)} s", f"<= {e.p99_s_max} s"))
    if e.false_hit_rate_max is not None:
        u = m["unheld"]
        ok = u["rate"] is not None and u["rate"] <= e.false_hit_rate_max
        measured = (
            f"{fmt(u['rate'])} ({u['with_hits']}/{u['searches']} searches of nobody's subjects)"
        )
        out.append(Verdict("false_hit_rate", ok, measured, f"<= {e.false_hit_rate_max}"))
    if e.follow_ups_ok_min is not None:
        f = m["follow_ups"]
        ok = f["rate"] is not None and f["rate"] >= e.follow_ups_ok_min
        measured = f"{fmt(f['rate'])} ({f['ok']}/{f['attempted']} answered with core data)"
        out.append(Verdict("follow_ups", ok, measured, f">= {e.follow_ups_ok_min}"))
    if s.real_samples is not None:
        tables = (
            ("faces", s.real_samples.face_probes, "face"),
            ("prints", s.real_samples.print_probes, "print"),
        )
        for key, expected, kind in tables:
            if not expected:
                continue
            entries = m.get("real_samples", {}).get(key, [])
            good = sum(1 for f in entries if f["ok"])
            measured = (
                "; ".join(
                    f"{Path(f['probe']).name} {'ok' if f['ok'] else 'WRONG'} ({_outcome(f)})"
                    for f in entries
                )
                or f"no {kind} probe searched"
            )
            ok = good == len(expected) == len(entries)
            bound = "every probe as its ground truth"
            out.append(Verdict(f"real_samples.{key}", ok, measured, bound))
    if e.audit_verifies:
        bad = [n for n, a in m["audit"].items() if not a["ok"]]
        measured = ", ".join(
            f"{n} {'ok' if a['ok'] else 'BROKEN: ' + a['detail']} ({a['checked']})"
            for n, a in m["audit"].items()
        )
        out.append(Verdict("audit_verifies", not bad, measured, "every node's chain verifies"))
    return out
