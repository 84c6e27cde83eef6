"""Drill scenarios: one TOML file says who takes part, how they break, what runs, what must hold.

```toml
name = "partner-timeout"
description = "FR never answers; every other partner still hits"
seed = 2026
time_limit_s = 120.0             # the whole workload, bounded
gallery_size = 40                # subjects each partner holds (ground truth)

[gateway]                        # the UK gateway under test
search_deadline_s = 3.0

[[partners]]
id = "DE"
timeout_s = 5.0                  # the UK's per-attempt timeout for this partner
retries = 2
faults = "healthy"               # a profile spec (mock_partners.faults), or a schedule:
# schedule = [{from_s = 0, profile = "healthy"}, {from_s = 5, profile = "down"}]
# capacities = {DNA = 10}        # what the UK may send this partner per day

[workload]
searches = 100
concurrency = 8
held_share = 0.8                 # share of probes whose subject some partner holds
modalities = {dna = 3, face = 2, fingerprint = 1, "dna+face" = 1}   # weights
follow_ups = 5                   # confirmed hits followed up for core data

[expect]
hit_rate_min = 0.95              # against ground truth, where the holder answered
lost_searches_max = 0            # accepted but never final, plus any not run in time
p99_s_max = 4.0
audit_verifies = true
follow_ups_ok_min = 1.0          # share of follow-ups answered with core data
false_hit_rate_max = 0.05        # searches of people nobody holds that still hit
[expect.partner_status]          # every search's status for that partner is one of these
DE = ["hit", "no_hit"]           # e.g. FR = ["timeout"] for a partner that never answers
```

`load` checks every key and raises `ScenarioError` naming the first bad one.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchange.gateway.config import DEFAULT_CAPACITIES
from exchange.model import Modality
from mock_partners import real_samples
from mock_partners.faults import FaultProfileError, parse_profile
from mock_partners.real_samples import RealSamples

SCENARIOS = Path(__file__).parent / "scenarios"
STATUSES = ("pending", "hit", "no_hit", "error", "timeout", "quota_exceeded", "rejected")


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message starts with the key."""


@dataclass(frozen=True, slots=True)
class PartnerPlan:
    id: str
    timeout_s: float = 5.0
    retries: int = 2
    schedule: tuple[tuple[float, str], ...] = ((0.0, "healthy"),)
    capacities: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Workload:
    searches: int = 50
    concurrency: int = 8
    held_share: float = 0.8
    modalities: Mapping[str, float] = field(default_factory=lambda: {"dna": 1.0})
    follow_ups: int = 0


@dataclass(frozen=True, slots=True)
class Expect:
    hit_rate_min: float | None = None
    lost_searches_max: int | None = 0
    p99_s_max: float | None = None
    audit_verifies: bool = True
    follow_ups_ok_min: float | None = None
    false_hit_rate_max: float | None = None
    partner_status: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    partners: tuple[PartnerPlan, ...]
    workload: Workload
    expect: Expect
    description: str = ""
    seed: int = 2026
    time_limit_s: float = 300.0
    gallery_size: int = 40
    search_deadline_s: float = 5.0
    source: Mapping[str, Any] = field(default_factory=dict)
    real_samples: RealSamples | None = None  # `mock_partners.real_samples`


def _check_keys(doc: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in doc:
        if key not in allowed:
            raise ScenarioError(f"{where}{key}: unknown key")


def _num(doc: Mapping[str, Any], key: str, where: str, default: Any, *, integer: bool = False,
         lo: float = 0.0, hi: float | None = None) -> Any:  # fmt: skip
    value = doc.get(key, default)
    if value is None:
        return None
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type or value < lo or (hi is not None and value > hi):
        kind = "an integer" if integer else "a number"
        span = f" from {lo:g}" + (f" to {hi:g}" if hi is not None else "")
        raise ScenarioError(f"{where}{key}: expected {kind}{span}")
    return value if integer else float(value)


def _schedule(doc: Mapping[str, Any], where: str) -> tuple[tuple[float, str], ...]:
    if "schedule" in doc and "faults" in doc:
        raise ScenarioError(f"{where}schedule: give faults or schedule, not both")
    if "schedule" not in doc:
        steps: list[Any] = [{"from_s": 0, "profile": doc.get("faults", "healthy")}]
    else:
        steps = doc["schedule"]
        if not isinstance(steps, list) or not steps:
            raise ScenarioError(f"{where}schedule: expected a list of {{from_s, profile}}")
    out = []
    for i, step in enumerate(steps):
        at = f"{where}schedule[{i}]." if "schedule" in doc else where
        if not isinstance(step, dict):
            raise ScenarioError(f"{at.rstrip('.')}: expected a table")
        _check_keys(step, {"from_s", "profile"}, at)
        profile = step.get("profile")
        key = "profile" if "schedule" in doc else "faults"
        if not isinstance(profile, str):
            raise ScenarioError(f"{at}{key}: expected a profile such as slow+flaky")
        try:
            parse_profile(profile)
        except FaultProfileError as exc:
            raise ScenarioError(f"{at}{key}: {exc}") from exc
        out.append((_num(step, "from_s", at, 0.0), profile))
    return tuple(out)


def _partner(doc: Any, i: int) -> PartnerPlan:
    where = f"partners[{i}]."
    if not isinstance(doc, dict):
        raise ScenarioError(f"partners[{i}]: expected a table")
    allowed = {"id", "timeout_s", "retries", "faults", "schedule", "capacities"}
    _check_keys(doc, allowed, where)
    pid = doc.get("id")
    if not isinstance(pid, str) or not pid.isupper() or not pid.isalpha():
        raise ScenarioError(f"{where}id: expected a partner id such as DE or EUROPOL")
    caps = doc.get("capacities", {})
    if not isinstance(caps, dict):
        raise ScenarioError(f"{where}capacities: expected a table of search type = daily limit")
    for key in caps:
        if key not in DEFAULT_CAPACITIES:
            raise ScenarioError(f"{where}capacities.{key}: unknown search type")
        _num(caps, key, f"{where}capacities.", 0, integer=True)
    return PartnerPlan(
        id=pid,
        timeout_s=_num(doc, "timeout_s", where, 5.0, lo=0.01),
        retries=_num(doc, "retries", where, 2, integer=True),
        schedule=_schedule(doc, where),
        capacities=dict(caps),
    )


def _modalities(doc: Any) -> dict[str, float]:
    where = "workload.modalities"
    if not isinstance(doc, dict) or not doc:
        raise ScenarioError(f"{where}: expected a table of modality mix = weight")
    known = {m.value for m in Modality}
    for mix in doc:
        for m in mix.split("+"):
            if m not in known:
                raise ScenarioError(f"{where}.{mix}: unknown modality {m!r}")
        _num(doc, mix, f"{where}.", 0.0)
    if sum(doc.values()) <= 0:
        raise ScenarioError(f"{where}: the weights add up to nothing")
    return {k: float(v) for k, v in doc.items()}


def _workload(doc: Any) -> Workload:
    if not isinstance(doc, dict):
        raise ScenarioError("workload: expected a table")
    _check_keys(
        doc, {"searches", "concurrency", "held_share", "modalities", "follow_ups"}, "workload."
    )
    return Workload(
        searches=_num(doc, "searches", "workload.", 50, integer=True, lo=1),
        concurrency=_num(doc, "concurrency", "workload.", 8, integer=True, lo=1, hi=256),
        held_share=_num(doc, "held_share", "workload.", 0.8, hi=1.0),
        modalities=_modalities(doc.get("modalities", {"dna": 1})),
        follow_ups=_num(doc, "follow_ups", "workload.", 0, integer=True),
    )


def _expect(doc: Any, partner_ids: set[str]) -> Expect:
    if not isinstance(doc, dict):
        raise ScenarioError("expect: expected a table")
    keys = {f.name for f in Expect.__dataclass_fields__.values()}
    _check_keys(doc, keys, "expect.")
    statuses = doc.get("partner_status", {})
    if not isinstance(statuses, dict):
        raise ScenarioError("expect.partner_status: expected a table of partner = [statuses]")
    wanted: dict[str, tuple[str, ...]] = {}
    for pid, allowed in statuses.items():
        where = f"expect.partner_status.{pid}"
        if pid not in partner_ids:
            raise ScenarioError(f"{where}: not a partner of this scenario")
        allowed = [allowed] if isinstance(allowed, str) else allowed
        if not isinstance(allowed, list) or not all(s in STATUSES for s in allowed):
            raise ScenarioError(f"{where}: expected statuses from {', '.join(STATUSES)}")
        wanted[pid] = tuple(allowed)
    audit = doc.get("audit_verifies", True)
    if not isinstance(audit, bool):
        raise ScenarioError("expect.audit_verifies: expected true or false")
    return Expect(
        hit_rate_min=_num(doc, "hit_rate_min", "expect.", None, hi=1.0),
        lost_searches_max=_num(doc, "lost_searches_max", "expect.", 0, integer=True),
        p99_s_max=_num(doc, "p99_s_max", "expect.", None),
        audit_verifies=audit,
        follow_ups_ok_min=_num(doc, "follow_ups_ok_min", "expect.", None, hi=1.0),
        false_hit_rate_max=_num(doc, "false_hit_rate_max", "expect.", None, hi=1.0),
        partner_status=wanted,
    )


def from_mapping(doc: Mapping[str, Any]) -> Scenario:
    allowed = {
        "name", "description", "seed", "time_limit_s", "gallery_size",
        "gateway", "partners", "workload", "expect", "real_samples",
    }  # fmt: skip
    _check_keys(doc, allowed, "")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise ScenarioError("name: expected a non-empty string")
    gateway = doc.get("gateway", {})
    if not isinstance(gateway, dict):
        raise ScenarioError("gateway: expected a table")
    _check_keys(gateway, {"search_deadline_s"}, "gateway.")
    raw_partners = doc.get("partners")
    if not isinstance(raw_partners, list) or not raw_partners:
        raise ScenarioError("partners: expected at least one [[partners]] table")
    partners = tuple(_partner(p, i) for i, p in enumerate(raw_partners))
    ids = [p.id for p in partners]
    if len(set(ids)) != len(ids):
        raise ScenarioError("partners: a partner id appears twice")
    try:
        real = real_samples.parse(doc["real_samples"], ids) if "real_samples" in doc else None
    except real_samples.RealSamplesError as exc:
        raise ScenarioError(str(exc)) from exc
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError("description: expected a string")
    return Scenario(
        name=name,
        description=description,
        seed=_num(doc, "seed", "", 2026, integer=True),
        time_limit_s=_num(doc, "time_limit_s", "", 300.0, lo=1.0),
        gallery_size=_num(doc, "gallery_size", "", 40, integer=True, lo=1),
        search_deadline_s=_num(gateway, "search_deadline_s", "gateway.", 5.0, lo=0.1),
        partners=partners,
        workload=_workload(doc.get("workload", {})),
        expect=_expect(doc.get("expect", {}), set(ids)),
        source=dict(doc),
        real_samples=real,
    )


def resolve(name_or_path: str) -> Path:
    """A path, or the name of a shipped scenario (`baseline` -> scenarios/baseline.toml)."""
    path = Path(name_or_path)
    if path.exists() or path.suffix == ".toml":
        return path
    return SCENARIOS / f"{name_or_path}.toml"


def load(path: Path) -> Scenario:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not TOML: {exc}") from exc
    return from_mapping(doc)
