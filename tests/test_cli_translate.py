"""`prum-exchange translate`: real files and a real subprocess; exit codes 0, 2 and 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.cli import main
from exchange.codecs import prum_xml

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "uk-record.json"


def _run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "exchange.cli", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_uk_json_to_prum_xml_and_back_through_files(tmp_path: Path) -> None:
    xml_path = tmp_path / "out.xml"
    assert main(["translate", "--from", "uk-json", "--to", "prum-xml",
                 "--message", "core-data", str(EXAMPLE), str(xml_path)]) == 0  # fmt: skip
    env = prum_xml.decode(xml_path.read_bytes())
    assert env.header.sender == "GB" and env.header.receiver == "DE"
    json_path = tmp_path / "back.json"
    assert (
        main(["translate", "--from", "prum-xml", "--to", "uk-json", str(xml_path), str(json_path)])
        == 0
    )
    back = json.loads(json_path.read_text(encoding="utf-8"))
    original = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    for key in ("identifiers", "name", "aliases", "date_of_birth", "sex", "place_of_birth"):
        assert back[key] == original[key], key
    assert back["nationalities"] == ["GB", "PL"]
    assert "dna" not in back and "face" not in back  # core data never carries biometrics


def test_stdin_to_stdout_in_a_subprocess() -> None:
    proc = _run("translate", "--from", "uk-json", "--to", "prum-xml", "--receiver", "FR", "-",
                stdin=EXAMPLE.read_bytes())  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    env = prum_xml.decode(proc.stdout)
    assert env.header.receiver == "FR"
    assert env.header.message_type == "dna_search_request"  # auto: DNA first


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [
        (b'{"identifiers": {"pnc_id": "12/1234567D"}}', "identifiers.pnc_id"),
        (
            b'{"reference": "r1", "dna": {"sample_type": "stain", "loci": {"vWA": ["x1"]}}}',
            "dna.loci.vWA[0]",
        ),
        (b"not json", "invalid JSON"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_field(stdin: bytes, expected: str) -> None:
    proc = _run("translate", "--from", "uk-json", "--to", "prum-xml", "-", stdin=stdin)
    assert proc.returncode == 2
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]
    assert proc.stdout == b""


def test_a_message_without_a_person_record_exits_2(tmp_path: Path) -> None:
    from exchange.model import Envelope, FollowUpRequest, MessageType
    from tests.codecs.test_prum_xml import _header

    env = Envelope(_header(MessageType.FOLLOW_UP_REQUEST), FollowUpRequest("m", "r"))
    src = tmp_path / "req.xml"
    src.write_bytes(prum_xml.encode(env))
    proc = _run("translate", "--from", "prum-xml", "--to", "uk-json", str(src))
    assert proc.returncode == 2 and b"no person record" in proc.stderr


def test_usage_errors_exit_2_and_unwritable_output_exits_1(tmp_path: Path) -> None:
    assert _run("translate", "--from", "nope", "--to", "prum-xml", "-").returncode == 2
    assert (
        _run(
            "translate", "--from", "uk-json", "--to", "prum-xml", str(tmp_path / "missing.json")
        ).returncode
        == 2
    )
    out = tmp_path / "no-such-dir" / "out.xml"
    proc = _run("translate", "--from", "uk-json", "--to", "prum-xml", str(EXAMPLE), str(out))
    assert proc.returncode == 1 and not out.exists()
