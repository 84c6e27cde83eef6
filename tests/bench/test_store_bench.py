"""`bench store` end to end on a tiny store: real SQLite files, both kinds of keys."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from bench import store as bench_store


def test_a_tiny_store_bench_times_both_kinds_of_keys_and_reports_the_ratio(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    assert (
        bench_store.main(["--quick", "--sizes", "96", "--out", str(out), "--dir", str(tmp_path)])
        == 0
    )
    report = json.loads((out / "store.json").read_text())
    assert [r["keys"] for r in report["rows"]] == list(bench_store.KEYS)
    for row in report["rows"]:
        assert row["searches_in_store"] == 96
        for key in ("cpu_us_per_search", "wall_us_per_search", "wal_kb_per_search", "db_mb"):
            assert row[key] > 0
    (note,) = report["notes"]
    assert note.startswith("96 searches in store: random ids cost")
    assert (out / "store.png").stat().st_size > 0
    assert list(tmp_path.glob("prum-bench-store-*")) == []  # its stores are cleaned up


def test_the_store_is_aged_with_the_keys_it_is_measured_with(tmp_path: Path) -> None:
    made: list[str] = []

    def recording() -> str:
        made.append(str(uuid.uuid4()))
        return made[-1]

    bench_store.KEYS["recording"] = recording
    try:
        row = bench_store.run_size(13, "recording", 5, tmp_path)
    finally:
        del bench_store.KEYS["recording"]
    # every search: its id, 4 partner message ids and one hit id, aged, timed and sampled
    assert len(made) == (13 + 5 + bench_store.WAL_SAMPLE) * 6
    assert row["keys"] == "recording"
