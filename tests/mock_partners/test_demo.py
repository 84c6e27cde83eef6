"""The README's first command, `prum-exchange demo --once`, run as a user would."""

from __future__ import annotations

import subprocess
import sys


def test_demo_once_prints_the_expected_hits_and_exits_0() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "demo", "--once"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert out.count("as expected") == 7 and "UNEXPECTED" not in out
    assert "DNA: crime-scene stain                 DE       hit       dna:full" in out
    face_rows = [line for line in out.splitlines() if line.startswith("Face: new photograph")]
    assert any(" FR " in row and "face:candidate" in row for row in face_rows)
    assert "Follow-up before confirmation: HTTP 409 not_confirmed" in out
    assert "core data from FR" in out
    assert "DE searched the UK gallery (Prüm XML, DNA stain): full GB-" in out
    assert (
        "INTERPOL searched the UK gallery (INT-I CPS, traditional): SRE hit GB-" in out
        and "the person not named (step 2)" in out
    )
    real = [line for line in out.splitlines() if "NIST's plain impressions" in line]
    assert len(real) == 1 and "hit GB-" in real[0] and real[0].endswith("as expected")


def test_demo_covers_fingerprints_and_interpol_nominal_checks() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "demo", "--once"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    rows = proc.stdout.splitlines()
    prints = [r for r in rows if r.startswith("Fingerprints: re-rolled ten-print") and " NL " in r]
    assert prints and "fingerprint:candidate NL-" in prints[0]
    interpol = [r for r in rows if r.startswith("Nominal + prints: Interpol") and "INTERPOL" in r]
    assert interpol and "nominal:candidate N-2026-" in interpol[0]
    assert "fingerprint:candidate INTERPOL-" in interpol[0]
    assert "Follow-up of Interpol's INT-I fingerprint hit (SRE subject): core data from " in (
        proc.stdout
    )
