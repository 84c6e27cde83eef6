"""The benchmarks' report writer: one JSON document and one PNG figure per run.

Every benchmark says what it measured, on what data, with which parameters and against which
baseline measured in the same run (STYLE.md §5, after FAISS `benchs/`). This module keeps that
shape for all of them: a `Report` holds the context, a table of result rows (each row a flat
mapping, the baseline rows beside the measured ones) and the plots to draw; `write_report`
writes `<out>/<name>.json` and `<out>/<name>.png` and `format_table` prints the table.
"""

from __future__ import annotations

import json
import os
import platform
import textwrap
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

Value = float | int | str | bool | None
Row = Mapping[str, Value]


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float]


@dataclass(frozen=True, slots=True)
class Plot:
    title: str
    xlabel: str
    ylabel: str
    series: Sequence[Series]
    kind: Literal["line", "bar"] = "line"
    log_x: bool = False
    log_y: bool = False


@dataclass(frozen=True, slots=True)
class Report:
    """A benchmark run: what, on what data, with which parameters, against which baseline."""

    name: str
    measured: str
    data: str
    baseline: str
    params: Mapping[str, Value]
    rows: Sequence[Row]
    plots: Sequence[Plot] = ()
    notes: Sequence[str] = ()
    environment: Mapping[str, Value] = field(default_factory=lambda: environment())


def environment() -> dict[str, Value]:
    """The machine and library versions a figure was measured with."""
    env: dict[str, Value] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        # other work on the machine moves every figure; 1-minute load average when written
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    try:
        import numpy

        env["numpy"] = numpy.__version__
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    try:
        import faiss

        env["faiss"] = str(faiss.__version__)
        env["faiss_threads"] = int(faiss.omp_get_max_threads())
    except ImportError:
        pass
    return env


def format_table(rows: Sequence[Row], columns: Sequence[str] | None = None) -> str:
    """A plain-text table of `rows`, numbers given 4 significant digits."""
    if not rows:
        return "(no rows)"
    cols = list(columns) if columns else list(dict.fromkeys(k for r in rows for k in r))

    def cell(v: Value) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v)

    table = [cols] + [[cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(cols))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True)) for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def describe(report: Report) -> str:
    """The text a benchmark prints: context first, then the table, then the notes."""
    params = ", ".join(f"{k}={v}" for k, v in report.params.items())
    head = [
        f"== {report.name}",
        f"measured: {report.measured}",
        f"data:     {report.data}",
        f"baseline: {report.baseline}",
        f"params:   {params}",
        "",
        format_table(report.rows),
    ]
    return "\n".join(head + [f"note: {n}" for n in report.notes])


def write_report(report: Report, out_dir: Path) -> tuple[Path, Path | None]:
    """Write `<name>.json` (always) and `<name>.png` (when there are plots); return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{report.name}.json"
    json_path.write_text(json.dumps(asdict(report), indent=2, default=str) + "\n")
    if not report.plots:
        return json_path, None
    png_path = out_dir / f"{report.name}.png"
    _draw(report, png_path)
    return json_path, png_path


def _draw(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(report.plots)
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 4.2), squeeze=False)
    for ax, plot in zip(axes[0], report.plots, strict=True):
        if plot.kind == "bar":
            labels = [s.label for s in plot.series]
            values = [s.y[0] if s.y else 0.0 for s in plot.series]
            ax.bar(range(len(labels)), values, tick_label=labels)
            ax.tick_params(axis="x", labelrotation=30)
        else:
            for s in plot.series:
                ax.plot(list(s.x), list(s.y), marker="o", label=s.label)
            ax.legend(fontsize=8)
        if plot.log_x:
            ax.set_xscale("log")
        if plot.log_y:
            ax.set_yscale("log")
        ax.set_title(plot.title, fontsize=10)
        ax.set_xlabel(plot.xlabel)
        ax.set_ylabel(plot.ylabel)
        ax.grid(True, alpha=0.3)
    title = textwrap.fill(f"{report.name}: {report.measured}", width=110)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
