"""A drill's report: `report.json`, `junit.xml`, `summary.md` and two PNG charts.

- `report.json`: the scenario as read, the environment (`bench.report.environment`), every
  figure (latency percentiles, hit rate against ground truth, statuses by partner, follow-ups,
  audit verification, faults applied) and one entry per search (no biometric data).
- `junit.xml`: one testsuite, one testcase per expectation, a `<failure>` carrying the
  measured value when it does not hold (the JUnit XML shape CI systems read: Jenkins,
  GitLab, GitHub Actions test reporters).
- `summary.md`: pass/fail per expectation with the measured value, then the key figures.
- `latency.png`: distribution of search latency (client-side, submit to final status), p50
  and p99 marked. `outcomes.png`: each partner's statuses as a stacked bar.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from bench.report import environment
from mock_partners.scenario import STATUSES, Scenario

if TYPE_CHECKING:
    from mock_partners.drill_verdicts import Verdict

STATUS_COLOURS = {
    "hit": "#2e7d32",
    "no_hit": "#90caf9",
    "timeout": "#f9a825",
    "error": "#c62828",
    "quota_exceeded": "#6a1b9a",
    "rejected": "#8d6e63",
    "pending": "#9e9e9e",
}


def write(s: Scenario, figures: dict[str, Any], verdicts: list[Verdict], out_dir: Path) -> Path:
    """Write the four artefacts into `out_dir`; returns the path of report.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {
        "scenario": s.name,
        "description": s.description,
        "passed": all(v.passed for v in verdicts),
        "expectations": [v.to_json() for v in verdicts],
        "figures": figures,
        "scenario_source": s.source,
        "environment": environment(),
    }
    path = out_dir / "report.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    (out_dir / "junit.xml").write_bytes(junit(s, verdicts, figures))
    (out_dir / "summary.md").write_text(summary(s, figures, verdicts), encoding="utf-8")
    charts(s, figures, out_dir)
    return path


def junit(s: Scenario, verdicts: list[Verdict], figures: dict[str, Any]) -> bytes:
    failures = sum(not v.passed for v in verdicts)
    suite = ET.Element(
        "testsuite",
        name=f"drill.{s.name}",
        tests=str(len(verdicts)),
        failures=str(failures),
        errors="0",
        time=f"{figures.get('total_s', 0.0):.3f}",
    )
    for v in verdicts:
        case = ET.SubElement(suite, "testcase", classname=f"drill.{s.name}", name=v.name)
        ET.SubElement(case, "system-out").text = f"measured: {v.measured}; wanted: {v.bound}"
        if not v.passed:
            failure = ET.SubElement(
                case, "failure", message=f"{v.name}: measured {v.measured}, wanted {v.bound}"
            )
            failure.text = f"measured {v.measured}; wanted {v.bound}"
    suites = ET.Element("testsuites", name="prum-exchange drill")
    suites.append(suite)
    out: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return out


def _f(v: float | None, unit: str = "") -> str:
    return "n/a" if v is None else f"{v:.3f}{unit}"


def summary(s: Scenario, figures: dict[str, Any], verdicts: list[Verdict]) -> str:
    ok = all(v.passed for v in verdicts)
    lat, hr = figures["latency_s"], figures["hit_rate"]
    lines = [
        f"# Drill `{s.name}`: {'PASS' if ok else 'FAIL'}",
        "",
        s.description,
        "",
        "| expectation | result | measured | wanted |",
        "|---|---|---|---|",
    ]
    for v in verdicts:
        result = "pass" if v.passed else "**FAIL**"
        lines.append(f"| {v.name} | {result} | {v.measured} | {v.bound} |")
    lines += [
        "",
        "## Figures",
        "",
        f"- searches: {figures['searches']} ({figures['accepted']} accepted, "
        f"{figures['final']} final, {figures['lost']} lost, {figures['not_run']} not run "
        f"within the time limit)",
        f"- search status: {_counts(figures['search_status'])}",
        f"- hit rate against ground truth: {_f(hr['rate'])} ({hr['found']}/{hr['eligible']} "
        f"searches whose holder answered)",
        f"- latency (submit to final status): p50 {_f(lat['p50'], ' s')}, "
        f"p90 {_f(lat['p90'], ' s')}, p99 {_f(lat['p99'], ' s')}, max {_f(lat['max'], ' s')}",
        f"- throughput: {_f(figures.get('throughput_per_s'))} searches/s over "
        f"{_f(figures.get('workload_s'), ' s')}",
        f"- follow-ups: {figures['follow_ups']['ok']}/{figures['follow_ups']['attempted']} "
        f"answered with core data",
        "",
        "| partner | faults (schedule) | statuses | faults applied |",
        "|---|---|---|---|",
    ]
    for p in s.partners:
        schedule = ", ".join(f"{prof} from {at:g} s" for at, prof in p.schedule)
        statuses = _counts(figures["partner_status"].get(p.id, {}))
        applied = _counts(figures["faults_applied"].get(p.id, {}))
        lines.append(f"| {p.id} | {schedule} | {statuses} | {applied} |")
    lines += ["", "Charts: `latency.png`, `outcomes.png`. Every figure: `report.json`.", ""]
    return "\n".join(lines)


def _counts(c: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(c.items())) or "-"


def charts(s: Scenario, figures: dict[str, Any], out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lat = figures["latency_s"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    values = lat["values"]
    if values:
        ax.hist(values, bins=min(40, max(5, len(values) // 5)), color="#1565c0", alpha=0.8)
        for q, style in (("p50", "--"), ("p99", ":")):
            ax.axvline(lat[q], color="black", linestyle=style, label=f"{q} {lat[q]:.3f} s")
        ax.legend(fontsize=8)
    ax.set_title(f"drill {s.name}: search latency ({len(values)} final searches)", fontsize=10)
    ax.set_xlabel("seconds from submit to final status")
    ax.set_ylabel("searches")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / "latency.png", dpi=110)
    plt.close(fig)

    partners = list(figures["partner_status"])
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(partners) + 2), 4.2))
    bottom = [0] * len(partners)
    for status in STATUSES:
        heights = [figures["partner_status"][p].get(status, 0) for p in partners]
        if any(heights):
            ax.bar(partners, heights, bottom=bottom, label=status,
                   color=STATUS_COLOURS.get(status, "#607d8b"))  # fmt: skip
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_title(f"drill {s.name}: outcome by partner", fontsize=10)
    ax.set_ylabel("searches")
    if partners:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(out_dir / "outcomes.png", dpi=110)
    plt.close(fig)
