"""`bench extract`'s pieces on the real photographs and prints, and its dispatch (the whole run
is minutes: bench/ only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import extract, extract_fingerprint
from exchange import cli
from exchange.codecs.ansi_nist import fingerprints_from_bytes
from tests.shared_data import THIRDPARTY, needs_shared


@needs_shared
def test_images_per_second_counts_real_extractions() -> None:
    data = [(THIRDPARTY / "ageitgey-face_recognition" / "obama2.jpg").read_bytes()]
    rate = extract.images_per_second(data, rounds=1, long_side=1000)
    assert 0 < rate < 1000


def test_rows_share_one_shape_so_other_modalities_can_add_theirs() -> None:
    row = extract._row("images/s per worker", "full", 2.0, "images/s", True)
    assert set(row) == {"modality", "measure", "setting", "value", "unit", "baseline"}
    assert extract._percentile([3.0, 1.0, 2.0], 0.5) == 2.0


def test_fingerprint_rows_have_the_face_rows_shape() -> None:
    face = extract._row("images/s per worker", "full", 2.0, "images/s", True)
    finger = extract_fingerprint._row("seconds per finger", "mindtct", 0.5, "s", False)
    assert set(finger) == set(face) and finger["modality"] == "fingerprint"


@needs_shared
def test_the_real_pairs_rows_set_bozorth3_beside_the_pairing_baseline() -> None:
    tpcard = fingerprints_from_bytes(
        (THIRDPARTY / "wct097-eft-viewer" / "nist-type-14-tpcard.eft").read_bytes()
    )
    rows, notes = extract_fingerprint._real_pairs(tpcard)
    by = {(r["measure"], r["baseline"]): r["value"] for r in rows}
    pairs = "10 mated, 90 non-mated pairs"
    for baseline in (True, False):  # our pairing (the baseline) and Bozorth3, the same pairs
        assert 0 <= by[(f"equal error rate ({pairs})", baseline)] <= 1
        assert by[("ms per comparison (median)", baseline)] > 0
    assert len(notes) == 2 and "mated scores" in notes[0]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--only", "fingerprint"], "NIST's prints"),
        (["--only", "face"], "photographs"),
        ([], "photographs of shared/thirdparty/ageitgey-face_recognition and NIST's prints"),
    ],
)
def test_bench_extract_without_its_samples_exits_2_naming_them(
    argv: list[str],
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(extract, "_shared_photos", lambda: None)  # as on a bare clone
    monkeypatch.setattr(extract_fingerprint, "_shared", lambda: None)
    assert cli.main(["bench", "extract", *argv, "--quick", "--out", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("prum-exchange bench extract: ") and says in line
    assert not list(tmp_path.iterdir())


def test_bench_extract_refuses_an_unknown_modality(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "extract", "--only", "palm"])
    assert exc.value.code == 2
    assert "--only" in capsys.readouterr().err
