"""Prometheus metrics in the text exposition format, without a client library.

Counters and histograms keyed by label values; `render()` writes the text format of
https://prometheus.io/docs/instrumenting/exposition_formats/. Held by the app (an AppKey),
never as module globals.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

Labels = tuple[tuple[str, str], ...]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _fmt(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = labels + extra
    if not items:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in items
    )
    return "{" + inner + "}"


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.n += 1


class Metrics:
    def __init__(self) -> None:
        self._help: dict[str, tuple[str, str]] = {}
        self._counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._gauges: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._histograms: dict[str, dict[Labels, Histogram]] = defaultdict(dict)

    def describe(self, name: str, kind: str, text: str) -> None:
        self._help[name] = (kind, text)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = _labels(labels)
        series = self._counters[name]
        series[key] = series.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        self._gauges[name][_labels(labels)] = value

    def observe(self, name: str, value: float, **labels: str) -> None:
        series = self._histograms[name]
        key = _labels(labels)
        if key not in series:
            series[key] = Histogram()
        series[key].observe(value)

    def counter_value(self, name: str, **labels: str) -> float:
        return self._counters[name].get(_labels(labels), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted(set(self._counters) | set(self._gauges) | set(self._histograms)):
            kind, text = self._help.get(name, ("untyped", name))
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in sorted(self._counters.get(name, {}).items()):
                lines.append(f"{name}{_fmt(labels)} {value:g}")
            for labels, value in sorted(self._gauges.get(name, {}).items()):
                lines.append(f"{name}{_fmt(labels)} {value:g}")
            for labels, h in sorted(self._histograms.get(name, {}).items(), key=lambda kv: kv[0]):
                cumulative = 0
                for bound, count in zip((*h.buckets, float("inf")), h.counts, strict=True):
                    cumulative += count
                    le = "+Inf" if bound == float("inf") else f"{bound:g}"
                    lines.append(f"{name}_bucket{_fmt(labels, (('le', le),))} {cumulative}")
                lines.append(f"{name}_sum{_fmt(labels)} {h.total:g}")
                lines.append(f"{name}_count{_fmt(labels)} {h.n}")
        return "\n".join(lines) + "\n"


def standard_metrics() -> Metrics:
    m = Metrics()
    m.describe("prum_searches_total", "counter", "Searches by modality, partner and outcome")
    m.describe("prum_search_seconds", "histogram", "Time from acceptance to a search's end")
    m.describe("prum_partner_seconds", "histogram", "Round trip of one message to a partner")
    m.describe("prum_matcher_seconds", "histogram", "Time spent in a matcher per probe")
    m.describe(
        "prum_inbound_total", "counter", "Messages received from partners by type and outcome"
    )
    m.describe("prum_quota_used", "gauge", "Searches used today by direction, partner, search type")
    m.describe("prum_breaker_open", "gauge", "1 while a partner's circuit breaker is open")
    m.describe("prum_retries_total", "counter", "Retries of a message to a partner")
    m.describe("prum_db_commits_total", "counter", "SQLite commits made by group commit")
    m.describe("prum_db_writers_total", "counter", "Writers served by those commits")
    m.describe("prum_wal_checkpoints_total", "counter", "WAL checkpoints by the checkpoint thread")
    m.describe("prum_wal_checkpoint_failures_total", "counter", "Of those, the ones that failed")
    m.describe("prum_wal_frames", "gauge", "Pages in the SQLite WAL at the last checkpoint")
    m.describe(
        "prum_partner_connections_opened_total",
        "counter",
        "Connections opened to a partner (kept alive, far fewer than messages)",
    )
    m.describe("prum_dna_batches_total", "counter", "DNA messages carrying a batch of searches")
    m.describe("prum_dna_batched_probes_total", "counter", "DNA searches sent in those batches")
    m.describe(
        "prum_rows_forgotten_total",
        "counter",
        "Partner-side rows dropped by housekeeping, by table (past their retention)",
    )
    m.describe(
        "prum_requests_in_flight", "gauge", "Requests admitted and not yet answered, by listener"
    )
    m.describe(
        "prum_requests_in_flight_limit", "gauge", "The listener's bound on admitted requests"
    )
    m.describe("prum_requests_admitted_total", "counter", "Requests admitted, by listener")
    m.describe(
        "prum_shed_total",
        "counter",
        "Requests refused 503 before their body was read, by listener and reason "
        "(in_flight: its admitted requests at their bound; connections: its open connections)",
    )
    return m
