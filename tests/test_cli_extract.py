"""`prum-exchange extract face` and `compare face` on real files; one line and exit 2 else."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from exchange.cli import main
from tests.shared_data import THIRDPARTY, needs_shared

PHOTOS = THIRDPARTY / "ageitgey-face_recognition"
FACE01 = THIRDPARTY / "usnistgov-libbiomeval" / "face01.iso2005"


@needs_shared
def test_extract_face_reports_model_quality_and_box(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", "face", "--json", str(PHOTOS / "obama2.jpg")]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    doc = json.loads(line)
    assert doc["model"] == "dlib-resnet-v1" and doc["dim"] == 128
    assert doc["quality"] > 0 and doc["faces_found"] == 1
    assert doc["box"]["left"] < doc["box"]["right"] <= doc["width"]


@needs_shared
@pytest.mark.parametrize(
    ("a", "b", "verdict"),
    [("obama.jpg", "obama2.jpg", "same"), ("obama.jpg", "biden.jpg", "different")],
)
def test_compare_face_says_same_or_different(
    capsys: pytest.CaptureFixture[str], a: str, b: str, verdict: str
) -> None:
    assert main(["compare", "face", "--json", str(PHOTOS / a), str(PHOTOS / b)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == verdict
    assert doc["threshold_distance"] == pytest.approx(0.6)
    assert (doc["distance"] <= 0.6) == (verdict == "same")


@needs_shared
def test_a_record_without_a_face_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", "face", str(FACE01)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"prum-exchange extract face: {FACE01}: iso-19794-5.images[0]: no face found"]


def test_a_truncated_image_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (1, 2, 3)).save(out, "PNG")
    bad = tmp_path / "cut.png"
    bad.write_bytes(out.getvalue()[:70])
    assert main(["compare", "face", str(bad), str(bad)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"prum-exchange compare face: {bad}: ")


def test_not_an_image_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    assert main(["extract", "face", str(bad)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "not an image" in line


def test_fingerprints_go_to_the_fingerprint_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "x.png"
    junk.write_bytes(b"not a picture")
    assert main(["extract", "fingerprint", str(junk)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("prum-exchange extract fingerprint")
