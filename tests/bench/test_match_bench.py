"""`bench match --face-index/--face-search` measures exactly the strings the config takes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import match as bench_match


def test_a_given_face_index_string_is_what_is_measured_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["--quick", "--sizes", "2000", "--queries", "40", "--datasets", "realistic"]
    argv += ["--skip-fingerprint", "--out", str(out)]
    assert bench_match.main([*argv, "--face-index", "IVF16,Flat", "--face-search", "nprobe=8"]) == 0
    report = json.loads((out / "match.json").read_text())
    assert (report["params"]["face_index"], report["params"]["face_search"]) == (
        "IVF16,Flat",
        "nprobe=8",
    )
    baseline, measured = report["rows"]  # no nprobe sweep, no other index: only that string
    assert baseline["index"].startswith("numpy")
    assert (measured["face_index"], measured["face_search"]) == ("IVF16,Flat", "nprobe=8")
    assert measured["index"] == "IVF16,Flat nprobe=8"  # what ran: trained, as configured
    assert measured["rank1"] >= 0.95 and measured["batch_qps"] > 0
    assert "(face_index 'IVF16,Flat', face_search 'nprobe=8')" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--face-index", "HNSW32x"], "--face-index: 'HNSW32x' at dim 512: could not parse"),
        (["--face-index", "HNSW32", "--face-search", "nprobe=8"], "--face-search: 'nprobe=8'"),
        (["--face-search", "nprobe=8"], "--face-search: needs --face-index"),
    ],
)
def test_strings_the_config_would_refuse_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_match.main(["--quick", "--out", str(tmp_path), *extra])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # refused before anything was measured


def test_a_streaming_run_reports_exact_search_on_a_subset(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["--sizes", "3000", "--queries", "60", "--exact-queries", "20", "--streaming"]
    argv += ["--skip-fingerprint", "--out", str(out), "--face-index", "IVF16,Flat"]
    assert bench_match.main([*argv, "--face-search", "nprobe=8"]) == 0
    rows = json.loads((out / "match.json").read_text())["rows"]
    assert [r["face_search"] for r in rows] == ["nprobe=2", "nprobe=4", "nprobe=8", "nprobe=16"]
    row = rows[-1]  # nprobe 16 of 16 lists: every list probed, exact
    assert (row["build"], row["exact_queries"], row["N"]) == ("streaming", 20, 3000)
    assert row["exact_rank1_on_subset"] >= 0.95
    assert row["rank1_on_exact_subset"] == row["exact_rank1_on_subset"]
    assert row["bytes_per_template"] > 4 * 512  # IVF,Flat keeps the float32 rows
