"""`prum-exchange extract fingerprint` and `compare fingerprint`: output and exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from exchange.cli import main
from exchange.codecs.ansi_nist import fingerprints_from_bytes
from tests.shared_data import THIRDPARTY, needs_shared

TPCARD = THIRDPARTY / "wct097-eft-viewer" / "nist-type-14-tpcard.eft"
BIOMEVAL = THIRDPARTY / "usnistgov-libbiomeval"


def _finger_file(tmp_path: Path, position: int) -> Path:
    (finger,) = [
        f for f in fingerprints_from_bytes(TPCARD.read_bytes()).fingers if f.position == position
    ]
    assert finger.image is not None
    path = tmp_path / f"finger{position}.wsq"
    path.write_bytes(finger.image.data)
    return path


@needs_shared
def test_extract_reports_each_finger_with_nfiq2_and_the_extractor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wsq = _finger_file(tmp_path, 4)
    assert main(["extract", "fingerprint", "--json", str(wsq), str(BIOMEVAL / "fmr.iso2005")]) == 0
    rows = json.loads(capsys.readouterr().out)["fingers"]
    image, *carried = rows
    assert image["position"] == 0 and image["extractor"] == "nbis-mindtct-5"
    assert image["minutiae"] >= 100 and 0 <= image["nfiq2"] <= 100
    assert [(r["position"], r["source"]) for r in carried] == [(2, "minutiae"), (7, "minutiae")]


@needs_shared
def test_extract_position_picks_a_finger_of_a_transaction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["extract", "fingerprint", "--position", "2", str(BIOMEVAL / "type3.an2k")]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "position 2" in line and "nbis-mindtct-5" in line
    assert main(["extract", "fingerprint", "--position", "7", str(BIOMEVAL / "type3.an2k")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no finger at position 7" in err


@needs_shared
def test_compare_says_same_for_plain_and_rolled_thumb_and_different_across_thumbs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rolled, plain, other = (_finger_file(tmp_path, p) for p in (1, 11, 12))
    assert main(["compare", "fingerprint", str(rolled), str(plain), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["decision"] == "same" and same["score"] >= same["threshold"]
    assert main(["compare", "fingerprint", str(rolled), str(other)]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("different") and "threshold" in out


def test_no_usable_print_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blank = tmp_path / "blank.png"
    out = io.BytesIO()
    Image.new("L", (300, 300), 230).save(out, format="PNG")
    blank.write_bytes(out.getvalue())
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(out.getvalue()[:60])
    for args in (
        ["extract", "fingerprint", str(blank)],
        ["extract", "fingerprint", str(truncated)],
        ["extract", "fingerprint", str(tmp_path / "missing.wsq")],
        ["compare", "fingerprint", str(blank), str(blank)],
    ):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("prum-exchange "), err
