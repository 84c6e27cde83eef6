"""The shared benchmark report writer: JSON always, PNG when there are plots."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report import Plot, Report, Series, describe, format_table, write_report


def test_writes_json_and_png(tmp_path: Path) -> None:
    report = Report(
        name="demo",
        measured="x per second",
        data="synthetic",
        baseline="numpy, same run",
        params={"n": 3},
        rows=[{"N": 1, "qps": 10.0}, {"N": 2, "qps": 5.5, "note": "slow"}],
        plots=[
            Plot("line", "N", "qps", [Series("a", [1, 2], [10.0, 5.5])], log_y=True),
            Plot("bars", "", "qps", [Series("a", [0], [1.0]), Series("b", [0], [2.0])], kind="bar"),
        ],
    )
    json_path, png_path = write_report(report, tmp_path / "out")
    data = json.loads(json_path.read_text())
    assert data["baseline"] == "numpy, same run" and data["rows"][1]["note"] == "slow"
    assert "python" in data["environment"]
    assert png_path is not None and png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = describe(report)
    assert "baseline: numpy, same run" in text and "slow" in text


def test_table_formats_numbers_and_blanks() -> None:
    table = format_table([{"a": 1.23456789, "b": None}, {"a": 2}])
    assert "1.235" in table and table.splitlines()[1].startswith("-")
