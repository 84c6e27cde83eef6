"""Every command writes under one git-ignored place, `out/`, unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.cli import main
from exchange.gateway.config import load
from exchange.outputs import BENCH_OUT, OUT, PARTNER_DATA

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "bench", ["match", "dna", "codec", "gateway", "store", "interop", "extract"]
)
def test_every_benchmark_writes_under_out_by_default(
    bench: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["bench", bench, "--help"])
    assert f"(default: {BENCH_OUT})" in " ".join(capsys.readouterr().out.split())


def test_partner_state_and_the_example_gateway_go_under_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["partner", "--help"])
    assert f"(default: {PARTNER_DATA}/ID)" in " ".join(capsys.readouterr().out.split())
    config = load(ROOT / "examples" / "gateway.toml")
    assert (config.data_dir.resolve()).is_relative_to((ROOT / OUT).resolve())
    assert PARTNER_DATA.is_relative_to(OUT) and BENCH_OUT.is_relative_to(OUT)


def test_out_is_git_ignored() -> None:
    """The repository's .gitignore names `out/` (read directly: no git needed to check it)."""
    lines = {line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()}
    assert {f"/{OUT}/", f"{OUT}/"} & lines
