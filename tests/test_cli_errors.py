"""The command line's refusals: one line on stderr, exit 2, never a traceback (issue 23).

Busy ports and missing TLS files through a real subprocess; the rest through `main`.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from exchange.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "uk-record.json"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _refusal(proc: subprocess.CompletedProcess[str], command: str) -> str:
    """The one refusal line (the last on stderr: log lines may come before it)."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"prum-exchange {command}: "), proc.stderr
    return last


@pytest.fixture()
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text('open_client_api = true\ndata_dir = "gb"\n' + text, encoding="utf-8")
    return path


def test_serve_on_a_busy_port_is_one_line(tmp_path: Path, busy_port: int) -> None:
    cfg = _config(tmp_path, f"[client]\nport = {busy_port}\n[partner_listener]\nport = 0\n")
    line = _refusal(_run("serve", "--config", str(cfg)), "serve")
    assert "address already in use" in line and str(busy_port) in line


def test_partner_on_a_busy_port_is_one_line(tmp_path: Path, busy_port: int) -> None:
    proc = _run(
        "partner", "--id", "DE", "--port", str(busy_port), "--gallery-size", "3",
        "--no-fingerprints", "--data-dir", str(tmp_path / "DE"),
    )  # fmt: skip
    assert "address already in use" in _refusal(proc, "partner")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[tls]\nca = "pki/ca.pem"\ncert = "pki/GB.pem"\nkey = "pki/GB.key"\n', "tls.ca: no file"),
        ("search_dedline_s = 5.0\n", "search_dedline_s: unknown key"),
    ],
)
def test_serve_with_a_config_it_cannot_use_is_one_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    proc = _run("serve", "--config", str(_config(tmp_path, text)))
    assert expected in _refusal(proc, "serve")


def test_pki_init_refuses_to_replace_a_ca_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pki = tmp_path / "pki"
    assert main(["pki", "init", str(pki), "--nodes", "GB,DE"]) == 0
    ca = (pki / "ca.pem").read_bytes()
    capsys.readouterr()
    assert main(["pki", "init", str(pki), "--nodes", "GB,DE"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ca.pem exists; --force" in err[0]
    assert (pki / "ca.pem").read_bytes() == ca
    assert main(["pki", "init", str(pki), "--nodes", "GB,DE", "--force"]) == 0
    assert (pki / "ca.pem").read_bytes() != ca


@pytest.mark.parametrize(
    ("nodes", "expected"), [("GB,X1", "'X1' is not a node id"), (",", "no node id")]
)
def test_pki_init_validates_node_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], nodes: str, expected: str
) -> None:
    assert main(["pki", "init", str(tmp_path / "pki"), "--nodes", nodes]) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "pki").exists()


def test_pki_init_onto_a_file_or_an_unwritable_path_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    for target in (afile, afile / "pki"):
        assert main(["pki", "init", str(target), "--nodes", "GB"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("prum-exchange pki init: "), err


def test_a_drill_report_path_that_is_a_file_is_refused_before_the_drill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report"
    report.write_text("x")
    for target in (report, report / "under"):
        assert main(["drill", "baseline", "--report", str(target), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"prum-exchange drill: --report: {report} is not a directory"]


@pytest.mark.parametrize(
    "argv",
    [
        ["partner", "--id", "DE", "--port", "99999"],
        ["partner", "--id", "DE", "--port", "-1"],
        ["partner", "--id", "DE", "--admin-port", "70000"],
        ["partner", "--id", "DE", "--gallery-size", "-5"],
        ["partner", "--id", "DE", "--offset", "-1"],
        ["partner", "--id", "DE", "--daily-capacity", "-1"],
        ["partner", "--id", "DE", "--seed", "x"],
        ["drill", "baseline", "--report", "r", "--searches", "0"],
    ],
)
def test_numeric_options_out_of_range_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("prum-exchange"), err


def test_translate_into_a_directory_leaves_no_part_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    argv = ["translate", "--from", "uk-json", "--to", "prum-xml", str(EXAMPLE), str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()  # the losses line, then this one
    assert err[-1] == f"prum-exchange translate: cannot write {out}: is a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert list(out.iterdir()) == []


HELP = [
    [], ["demo"], ["translate"], ["serve"], ["partner"], ["pki", "init"], ["drill"],
    ["audit", "verify"], ["audit", "archive"], ["bench"], ["extract"], ["compare"],
    *(["bench", b] for b in ("match", "dna", "codec", "gateway", "store", "interop", "extract")),
]  # fmt: skip


@pytest.mark.parametrize("argv", HELP, ids=lambda a: " ".join(a) or "prum-exchange")
def test_help_names_only_files_a_clone_has(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for absent in ("../shared", "issue ", "DESIGN.md", "STYLE.md"):
        assert absent not in text, absent


def test_drill_help_lists_every_shipped_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["drill", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    shipped = Path(__file__).resolve().parents[1] / "mock_partners" / "scenarios"
    names = sorted(p.stem for p in shipped.glob("*.toml"))
    assert names and all(name in text.replace("- ", "-") for name in names), text


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "dna", "--sizes", "1000,-5"],
        ["bench", "dna", "--queries", "0"],
        ["bench", "match", "--threads", "0"],
        ["bench", "match", "--fp-size", "-1"],
        ["bench", "store", "--sizes", "x"],
        ["bench", "gateway", "--dna-batch-max", "0"],
    ],
)
def test_benchmark_sizes_out_of_range_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "is not" in err
    # One line, naming the benchmark; no usage block above it.
    assert err.count("\n") == 1 and err.startswith(f"prum-exchange bench {argv[1]}: "), err
