"""`prum-exchange translate`: real files and a real subprocess; exit codes 0, 2 and 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.cli import main
from exchange.codecs import prum_xml
from exchange.model import FingerprintSet
from tests.shared_data import THIRDPARTY, needs_shared

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
    assert (
        main(
            [
                "translate",
                "--from",
                "uk-json",
                "--to",
                "prum-xml",
                "--message",
                "core-data",
                str(EXAMPLE),
                str(xml_path),
            ]
        )
        == 0
    )
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
    proc = _run(
        "translate",
        "--from",
        "uk-json",
        "--to",
        "prum-xml",
        "--receiver",
        "FR",
        "-",
        stdin=EXAMPLE.read_bytes(),
    )
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


def _same_prints(a: FingerprintSet | None, b: FingerprintSet | None) -> bool:
    """Equal but for minutia quality, which Type-9 holds on 0-63 (the model on 0-100)."""
    assert a is not None and b is not None
    if [f.position for f in a.fingers] != [f.position for f in b.fingers]:
        return False
    for fa, fb in zip(a.fingers, b.fingers, strict=True):
        if len(fa.minutiae) != len(fb.minutiae):
            return False
        for ma, mb in zip(fa.minutiae, fb.minutiae, strict=True):
            if (ma.x, ma.y, ma.angle, ma.kind) != (mb.x, mb.y, mb.angle, mb.kind):
                return False
            if abs(ma.quality - mb.quality) > 1:
                return False
    return True


def test_uk_json_to_ansi_nist_and_on_to_prum_xml_and_back(tmp_path: Path) -> None:
    """A record's prints become a CPS transaction, which translates to the same Prüm search."""
    from exchange.codecs import ansi_nist, uk_json

    cps = tmp_path / "search.an2"
    assert (
        main(["translate", "--from", "uk-json", "--to", "ansi-nist", str(EXAMPLE), str(cps)]) == 0
    )
    env = ansi_nist.decode(cps.read_bytes())
    assert env.header.message_type == "dacty_search_request"
    original = uk_json.decode(EXAMPLE.read_bytes())
    assert _same_prints(env.body.fingerprints, original.fingerprints)  # type: ignore[union-attr]
    xml = tmp_path / "search.xml"
    assert main(["translate", "--from", "ansi-nist", "--to", "prum-xml", str(cps), str(xml)]) == 0
    assert prum_xml.decode(xml.read_bytes()).body == env.body
    back = tmp_path / "back.an2"
    assert main(["translate", "--from", "prum-xml", "--to", "ansi-nist", str(xml), str(back)]) == 0
    assert ansi_nist.decode(back.read_bytes()).body == env.body
    rec = tmp_path / "rec.json"
    assert main(["translate", "--from", "ansi-nist", "--to", "uk-json", str(cps), str(rec)]) == 0
    assert _same_prints(uk_json.decode(rec.read_bytes()).fingerprints, original.fingerprints)


def test_a_uk_record_may_carry_its_prints_as_an_ansi_nist_transaction(tmp_path: Path) -> None:
    import base64

    from exchange.codecs import ansi_nist, uk_json

    original = uk_json.decode(EXAMPLE.read_bytes())
    assert original.fingerprints is not None
    import datetime as dt

    tx = ansi_nist.fingerprints_to_bytes(
        original.fingerprints,
        timestamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        originator="GB/IDENT1",
        destination="GB/PRUM",
        tcn="T1",
    )
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["fingerprints"] = {"ansi_nist": base64.b64encode(tx).decode()}
    rec = uk_json.decode(json.dumps(doc).encode())
    assert _same_prints(rec.fingerprints, original.fingerprints)
    doc["fingerprints"] = {"ansi_nist": base64.b64encode(tx[:-7]).decode()}
    proc = _run(
        "translate", "--from", "uk-json", "--to", "prum-xml", "-", stdin=json.dumps(doc).encode()
    )
    assert proc.returncode == 2 and b"fingerprints.ansi_nist/" in proc.stderr


# --- nothing dropped silently --------------------------------------------------------------


def test_what_a_conversion_drops_is_one_line_on_stderr_without_values(tmp_path: Path) -> None:
    out = tmp_path / "search.xml"
    proc = _run(
        "translate",
        "--from",
        "uk-json",
        "--to",
        "prum-xml",
        "--message",
        "dacty-search",
        str(EXAMPLE),
        str(out),
    )
    assert proc.returncode == 0
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1
    # A step-1 search carries no personal data (2008/616/JHA Art. 8(1)): all of it is named.
    for name in ("identifiers.pnc_id", "name", "date_of_birth", "dna", "face"):
        assert name in lines[0]
    original = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert original["name"]["family"] not in lines[0]
    assert original["identifiers"]["pnc_id"] not in lines[0]


def test_a_lossless_conversion_prints_nothing(tmp_path: Path) -> None:
    xml = tmp_path / "search.xml"
    assert main(["translate", "--from", "uk-json", "--to", "prum-xml", str(EXAMPLE), str(xml)]) == 0
    proc = _run("translate", "--from", "prum-xml", "--to", "prum-xml", str(xml))
    assert proc.returncode == 2  # same format: refused
    an2 = tmp_path / "search.an2"
    proc = _run("translate", "--from", "prum-xml", "--to", "ansi-nist", str(xml), str(an2))
    assert proc.returncode == 2  # a DNA search has no ANSI/NIST form
    dacty = tmp_path / "dacty.xml"
    assert (
        main(
            [
                "translate",
                "--from",
                "uk-json",
                "--to",
                "prum-xml",
                "--message",
                "dacty-search",
                str(EXAMPLE),
                str(dacty),
            ]
        )
        == 0
    )
    back = tmp_path / "dacty2.xml"
    an2 = tmp_path / "dacty.an2"
    assert main(["translate", "--from", "prum-xml", "--to", "ansi-nist", str(dacty), str(an2)]) == 0
    proc = _run("translate", "--from", "ansi-nist", "--to", "prum-xml", str(an2), str(back))
    assert proc.returncode == 0 and proc.stderr == b""


@needs_shared
def test_records_a_real_transaction_holds_beyond_its_prints_are_named(tmp_path: Path) -> None:
    proc = _run(
        "translate",
        "--from",
        "ansi-nist",
        "--to",
        "uk-json",
        str(THIRDPARTY / "usnistgov-libbiomeval" / "type4-slaps.an2k"),
        str(tmp_path / "r.json"),
    )
    assert proc.returncode == 0
    assert proc.stderr.decode().splitlines() == [
        "prum-exchange translate: uk-json dropped: Type-2 records (1)"
    ]


@needs_shared
def test_ansi_nist_in_its_xml_encoding_is_read_by_detection(tmp_path: Path) -> None:
    # ANSI/NIST-ITL has two encodings; --from ansi-nist reads either (XML as INT-I v6).
    sample = THIRDPARTY / "interpol-int-i" / "XMLsamples" / "Sample-MPS-INT-ITransaction.xml"
    proc = _run("translate", "--from", "ansi-nist", "--to", "uk-json", str(sample))
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["fingerprints"]["impression"] == "latent"
    line = proc.stderr.decode()
    assert line.count("\n") == 1 and "message.header" in line
    # What INT-I holds and a UK record cannot: the case and evidence ids, the image records.
    assert "int-i.type2.case" in line and "int-i.type2.evidence_id" in line


@needs_shared
@pytest.mark.parametrize(
    "name",
    [
        "Sample-ERR-INT-ITransaction.xml",
        "Sample-MPS-INT-ITransaction.xml",
        "Sample-SRE-HIT_CPS-INT-ITransaction.xml",
        "Sample-SRE-NOHIT-INT-ITransaction.xml",
    ],
)
def test_interpol_samples_become_prum_messages_between_node_ids(name: str) -> None:
    # The samples' agencies are BKA (DEU) and INT (XPO): Prüm names nodes, so DE and INTERPOL.
    sample = THIRDPARTY / "interpol-int-i" / "XMLsamples" / name
    proc = _run("translate", "--from", "int-i-xml", "--to", "prum-xml", str(sample))
    assert proc.returncode == 0, proc.stderr
    envelope = prum_xml.decode(proc.stdout)
    assert (envelope.header.sender, envelope.header.receiver) == ("DE", "INTERPOL")
    assert proc.stderr.decode().count("\n") == 1  # the agencies' own names and codes, at least


@needs_shared
@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("wct097-eft-viewer/nist-type-14-tpcard.eft", "ansi-nist"),
        ("usnistgov-libbiomeval/fmr.ansi2004", "incits-378-2004"),
    ],
)
def test_prints_that_are_no_search_go_on_as_a_records_search(path: str, source: str) -> None:
    # An AMN transaction or a minutiae record is a UK record's prints: to Prüm, their search.
    proc = _run("translate", "--from", source, "--to", "prum-xml", str(THIRDPARTY / path))
    assert proc.returncode == 0, proc.stderr
    envelope = prum_xml.decode(proc.stdout)
    assert envelope.header.message_type == "dacty_search_request"
    assert envelope.body.reference.startswith(("AMN:", "FMR:"))  # type: ignore[union-attr]


INT_I_SAMPLES = [
    "Sample-ERR-INT-ITransaction.xml",
    "Sample-MPS-INT-ITransaction.xml",
    "Sample-SRE-HIT_CPS-INT-ITransaction.xml",
    "Sample-SRE-NOHIT-INT-ITransaction.xml",
]


@needs_shared
@pytest.mark.parametrize("name", INT_I_SAMPLES)
def test_int_i_xml_to_its_traditional_encoding_and_back_by_detection(
    name: str, tmp_path: Path
) -> None:
    """`--to int-i` writes INT-I's traditional encoding, model to model (every TOT, SRE and
    ERR too); `--from ansi-nist` knows it by its 1.013 DOM and reads it as INT-I again."""
    from exchange.codecs import int_i_codes, int_i_traditional, int_i_xml
    from exchange.codecs.int_i_traditional import untransportable
    from tests.codecs.test_int_i_xml import assert_valid

    sample = THIRDPARTY / "interpol-int-i" / "XMLsamples" / name
    traditional = tmp_path / "t.an2"
    proc = _run("translate", "--from", "int-i-xml", "--to", "int-i", str(sample), str(traditional))
    assert proc.returncode == 0, proc.stderr
    original = int_i_xml.decode(sample.read_bytes())
    read = int_i_traditional.decode(traditional.read_bytes())
    assert read.tot == original.tot and read.type1.tcn == original.type1.tcn
    assert int_i_codes.TCN_PATTERN.fullmatch(read.type1.tcn)
    # What the traditional encoding cannot carry is said, and nothing else was lost.
    named = proc.stderr.decode()
    for path in untransportable(original):
        assert f"int-i.{path}" in named
    assert named.count("\n") == (1 if untransportable(original) else 0)

    back = _run("translate", "--from", "ansi-nist", "--to", "int-i-xml", str(traditional))
    assert back.returncode == 0, back.stderr
    assert_valid(back.stdout)
    again = int_i_xml.decode(back.stdout)
    assert again.tot == original.tot and again.type1.tcn == original.type1.tcn
    assert again.type2 == read.type2
    assert [r.image for r in again.records] == [r.image for r in original.records]


def test_a_uk_record_becomes_an_int_i_traditional_cps_and_comes_back(tmp_path: Path) -> None:
    from exchange.codecs import int_i_codes, int_i_traditional

    proc = _run("translate", "--from", "uk-json", "--to", "int-i", str(EXAMPLE))
    assert proc.returncode == 0, proc.stderr
    tx = int_i_traditional.decode(proc.stdout)
    assert tx.tot == int_i_codes.TOT_CPS and tx.type1.tcr is None
    assert int_i_codes.TCN_PATTERN.fullmatch(tx.type1.tcn)
    source = tmp_path / "cps.an2"
    source.write_bytes(proc.stdout)
    back = _run("translate", "--from", "int-i", "--to", "uk-json", str(source))
    assert back.returncode == 0, back.stderr
    record = json.loads(back.stdout)
    original = json.loads(EXAMPLE.read_bytes())
    assert record["reference"] == original["reference"]
    assert [f["position"] for f in record["fingerprints"]["fingers"]] == [
        f["position"] for f in original["fingerprints"]["fingers"]
    ]


def test_an_int_i_atp_is_a_record_of_its_prints_under_its_tot_and_tcn(tmp_path: Path) -> None:
    """ATP (add to print collection) is no exchange message: a record of its prints."""
    import dataclasses

    from exchange.codecs import int_i_traditional

    cps = _run("translate", "--from", "uk-json", "--to", "int-i", str(EXAMPLE))
    assert cps.returncode == 0, cps.stderr
    tx = int_i_traditional.decode(cps.stdout)
    atp = dataclasses.replace(tx, type1=dataclasses.replace(tx.type1, tot="ATP"))
    source = tmp_path / "atp.an2"
    source.write_bytes(int_i_traditional.encode(atp))
    proc = _run("translate", "--from", "ansi-nist", "--to", "uk-json", str(source))
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["reference"] == f"ATP:{tx.type1.tcn}"
    assert len(record["fingerprints"]["fingers"]) == len(tx.records)
    assert "int-i.type1" in proc.stderr.decode()
    # To Prüm, those prints go on as a record's search.
    on = _run("translate", "--from", "int-i", "--to", "prum-xml", str(source))
    assert on.returncode == 0, on.stderr
    assert prum_xml.decode(on.stdout).header.message_type == "dacty_search_request"


@needs_shared
def test_int_i_in_the_encoding_it_is_already_is_refused_with_one_line() -> None:
    sample = THIRDPARTY / "interpol-int-i" / "XMLsamples" / INT_I_SAMPLES[1]
    proc = _run("translate", "--from", "int-i", "--to", "int-i-xml", str(sample))
    assert proc.returncode == 2
    assert proc.stderr.decode() == "prum-exchange translate: the input is int-i-xml already\n"


def test_traditional_ansi_nist_that_is_not_int_i_is_refused_as_int_i() -> None:
    ours = _run("translate", "--from", "uk-json", "--to", "ansi-nist", str(EXAMPLE))
    assert ours.returncode == 0, ours.stderr
    proc = _run("translate", "--from", "int-i", "--to", "uk-json", "-", stdin=ours.stdout)
    assert proc.returncode == 2
    assert proc.stderr.decode().count("\n") == 1 and "1.013" in proc.stderr.decode()


def test_an_integer_too_long_to_convert_exits_2_naming_its_field() -> None:
    stdin = b'{"reference": "r1", "sex": ' + b"1" * 5000 + b"}"
    proc = _run("translate", "--from", "uk-json", "--to", "prum-xml", "-", stdin=stdin)
    assert proc.returncode == 2
    lines = proc.stderr.decode().strip().splitlines()
    assert lines == ["prum-exchange translate: sex: an integer of more than 4300 digits"]
    assert proc.stdout == b""
