"""Every shipped drill scenario in a short form (small galleries, a dozen searches), read back
from its report; a scenario whose expectation cannot hold exits 1 and names it; a bad file
exits 2 with one line naming the key. Timing is never asserted (p99 bounds are generous)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from exchange import cli
from mock_partners import drill
from mock_partners.scenario import SCENARIOS, ScenarioError, from_mapping, load
from tests.shared_data import needs_shared

SHIPPED = sorted(p.stem for p in SCENARIOS.glob("*.toml"))
SHORT = 12


def test_the_eight_scenarios_ship() -> None:
    assert (
        sorted(
            [
                "baseline",
                "real-samples",
                "partner-timeout",
                "flaky-network",
                "capacity-exhaustion",
                "malformed-replies",
                "interpol-nominal",
                "follow-ups",
            ]
        )
        == SHIPPED
    )


def _run_short(name: str, tmp_path: Path) -> dict[str, Any]:
    """Run a shipped scenario with a small gallery through the drill's own report writer."""
    import asyncio

    from mock_partners import drill_report

    s = load(SCENARIOS / f"{name}.toml")
    s = dataclasses.replace(s, gallery_size=10)
    figures, verdicts = asyncio.run(drill.run(s, tmp_path / "data", SHORT))
    drill_report.write(s, figures, verdicts, tmp_path / "report")
    report: dict[str, Any] = json.loads((tmp_path / "report" / "report.json").read_text())
    for artefact in ("junit.xml", "summary.md", "latency.png", "outcomes.png"):
        assert (tmp_path / "report" / artefact).stat().st_size > 0
    suite = ET.parse(tmp_path / "report" / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert len(suite.findall("testcase")) == len(report["expectations"])
    return report


def _statuses(report: dict[str, Any], partner: str) -> dict[str, int]:
    counts: dict[str, int] = report["figures"]["partner_status"][partner]
    return counts


def _failed(report: dict[str, Any]) -> list[str]:
    return [e["name"] for e in report["expectations"] if not e["passed"]]


def test_baseline(tmp_path: Path) -> None:
    r = _run_short("baseline", tmp_path)
    assert r["passed"] and not _failed(r)
    f = r["figures"]
    assert f["searches"] == SHORT and f["final"] == SHORT and f["lost"] == 0
    assert f["hit_rate"]["eligible"] > 0 and f["hit_rate"]["rate"] >= 0.95
    for pid in ("DE", "FR", "NL", "EUROPOL", "INTERPOL"):
        assert set(_statuses(r, pid)) <= {"hit", "no_hit"}
    assert all(a["ok"] for a in f["audit"].values())
    assert (
        f["follow_ups"]["attempted"] > 0 and f["follow_ups"]["ok"] == f["follow_ups"]["attempted"]
    )
    assert f["latency_s"]["p50"] is not None and f["latency_s"]["p99"] >= f["latency_s"]["p50"]
    assert {e["name"] for e in r["expectations"]} >= {"hit_rate", "lost_searches", "p99_latency"}


def test_partner_timeout(tmp_path: Path) -> None:
    r = _run_short("partner-timeout", tmp_path)
    assert not _failed(r)
    fr = _statuses(r, "FR")
    assert fr.get("timeout", 0) > 0 and set(fr) <= {"timeout", "error"}
    assert set(r["figures"]["search_status"]) == {"partial"}
    assert r["figures"]["faults_applied"]["FR"].get("hang", 0) > 0
    assert r["figures"]["lost"] == 0


def test_flaky_network(tmp_path: Path) -> None:
    r = _run_short("flaky-network", tmp_path)
    assert not _failed(r)
    applied = r["figures"]["faults_applied"]
    injected = {k for pid in ("DE", "FR") for k in applied[pid]} - {"none", "latency"}
    assert injected & {"reset", "http-503"}  # the network really was lossy
    assert r["figures"]["lost"] == 0 and r["figures"]["hit_rate"]["rate"] >= 0.95


def test_capacity_exhaustion(tmp_path: Path) -> None:
    r = _run_short("capacity-exhaustion", tmp_path)
    assert not _failed(r)
    assert set(_statuses(r, "FR")) == {"quota_exceeded"}
    assert _statuses(r, "DE").get("quota_exceeded", 0) > 0  # more than 5 DNA searches asked
    assert set(r["figures"]["search_status"]) == {"complete"}  # a refusal is a final answer


def test_malformed_replies(tmp_path: Path) -> None:
    r = _run_short("malformed-replies", tmp_path)
    assert not _failed(r)
    for pid, fault in (
        ("DE", "malformed"),
        ("FR", "invalid"),
        ("NL", "wrong-correlation"),
        ("EUROPOL", "wrong-sender"),
    ):
        assert set(_statuses(r, pid)) == {"error"}
        assert r["figures"]["faults_applied"][pid] == {fault: SHORT}
    assert _statuses(r, "PL").get("hit", 0) > 0


def test_interpol_nominal(tmp_path: Path) -> None:
    r = _run_short("interpol-nominal", tmp_path)
    assert not _failed(r)
    assert _statuses(r, "INTERPOL").get("hit", 0) > 0
    # DE cannot search names: the gateway asks it only the searches that carry prints
    with_prints = sum("fingerprint" in x["modalities"] for x in r["figures"]["results"])
    assert 0 < sum(_statuses(r, "DE").values()) == with_prints < SHORT
    assert r["figures"]["hit_rate"]["by_holder"]["INTERPOL"]["eligible"] > 0
    # Interpol's fingerprint hits came as INT-I SREs; their follow-ups give the core data.
    fu = r["figures"]["follow_ups"]["details"]
    via_int_i = [d for d in fu if (d["partner"], d["modality"]) == ("INTERPOL", "fingerprint")]
    assert via_int_i and all(d["ok"] for d in via_int_i)


def test_follow_ups(tmp_path: Path) -> None:
    r = _run_short("follow-ups", tmp_path)
    assert not _failed(r)
    fu = r["figures"]["follow_ups"]
    assert fu["attempted"] > 0 and fu["ok"] == fu["attempted"]
    assert all(d["status"] == 200 and d["core_data"] for d in fu["details"])


IMPOSSIBLE = """
name = "impossible"
seed = 5
gallery_size = 6
[[partners]]
id = "DE"
[workload]
searches = 4
concurrency = 2
modalities = { dna = 1 }
[expect]
lost_searches_max = 0
[expect.partner_status]
DE = ["timeout"]
"""


def test_an_expectation_that_cannot_hold_fails_with_exit_1_and_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "impossible.toml"
    path.write_text(IMPOSSIBLE)
    report = tmp_path / "report"
    code = cli.main(["drill", str(path), "--report", str(report), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "failed: partner_status.DE" in err and "wanted all in {timeout}" in err
    doc = json.loads((report / "report.json").read_text())
    assert not doc["passed"]
    assert _failed(doc) == ["partner_status.DE"]
    suite = ET.parse(report / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failing = [c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None]
    assert failing == ["partner_status.DE"]
    assert "| partner_status.DE | **FAIL** |" in (report / "summary.md").read_text()


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ("[workload]\nconcurency = 3\n", "workload.concurency: unknown key"),
        ('[[partners]]\nid = "FR"\nfaults = "sloow"\n', "partners[1].faults: sloow"),
        ("[expect]\nhit_rate_min = 2\n", "expect.hit_rate_min"),
    ],
)
def test_a_bad_scenario_file_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str, key: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\n[[partners]]\nid = "DE"\n' + change)
    code = cli.main(["drill", str(path), "--report", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and key in err
    assert not (tmp_path / "r").exists()


def test_scenario_errors_name_the_key() -> None:
    with pytest.raises(ScenarioError, match=r"^partners: expected at least one"):
        from_mapping({"name": "x"})
    with pytest.raises(ScenarioError, match=r"^expect.partner_status.FR: not a partner"):
        from_mapping(
            {
                "name": "x",
                "partners": [{"id": "DE"}],
                "expect": {"partner_status": {"FR": "timeout"}},
            }
        )


@needs_shared
def test_real_samples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`prum-exchange drill real-samples` end to end: obama2 hits the planted obama at DE and
    biden hits nothing; NIST's flats, Type-4 slaps and Type-3 finger hit the planted tpcard
    person's rolled prints at DE, and libbiomeval's JPEG 2000 print of another hits nothing."""
    code = cli.main(["drill", "real-samples", "--report", str(tmp_path / "r"),
                     "--searches", str(SHORT), "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    r = json.loads((tmp_path / "r" / "report.json").read_text())
    assert not _failed(r), r["expectations"]
    faces = {Path(f["probe"]).name: f for f in r["figures"]["real_samples"]["faces"]}
    assert faces["obama2.jpg"]["ok"] and faces["obama2.jpg"]["hits"][0]["partner"] == "DE"
    assert faces["obama2.jpg"]["hits"][0]["reference"] == "DE-REAL-FACE-1"
    assert faces["obama2.jpg"]["hits"][0]["score"] >= 0.4  # 1 - dlib's 0.6
    assert faces["biden.jpg"]["ok"] and faces["biden.jpg"]["hits"] == []
    prints = {Path(f["probe"]).name: f for f in r["figures"]["real_samples"]["prints"]}
    assert set(prints) == {"nist-type-4-14-flats.eft", "type4-slaps.an2k", "type3.an2k", "img.jp2"}
    for name in ("nist-type-4-14-flats.eft", "type4-slaps.an2k", "type3.an2k"):
        top = prints[name]["hits"][0]
        assert prints[name]["ok"] and (top["partner"], top["reference"]) == (
            "DE",
            "DE-REAL-PRINTS-1",
        )
    assert prints["img.jp2"]["ok"] and prints["img.jp2"]["hits"] == []
    assert prints["img.jp2"]["search_status"] == "complete"
    names = {e["name"] for e in r["expectations"]}
    assert {"real_samples.faces", "real_samples.prints"} <= names


def test_real_samples_are_skipped_with_a_message_without_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mock_partners import real_samples

    monkeypatch.setattr(real_samples, "thirdparty", lambda: None)  # as on a bare clone
    assert drill.main("real-samples", tmp_path / "report") == 0
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("drill real-samples: skipped: its real samples are not here")
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"faces": [{"plant": "a.jpg", "at": "XX", "reference": "R"}]}, "faces[0].at"),
        ({"face_probes": [{"probe": "b.jpg", "expect": "maybe"}]}, "face_probes[0].expect"),
        ({"face_probes": [{"probe": "b.jpg", "expect": "hit", "mate": "R"}]}, "mate"),
        ({"palms": []}, "real_samples.palms"),
        ({"prints": [{"plant": "a.eft", "at": "XX", "reference": "R"}]}, "prints[0].at"),
        (
            {"prints": [{"plant": "a.eft", "at": "DE", "reference": "R", "positions": [16]}]},
            "prints[0].positions",
        ),
        (
            {"print_probes": [{"probe": "b.eft", "expect": "hit", "mate": "R"}]},
            "print_probes[0].mate",
        ),
        (
            {"print_probes": [{"probe": "b.eft", "expect": "no_hit", "pos": 2}]},
            "print_probes[0].pos",
        ),
        ({"prints": "tpcard.eft"}, "real_samples.prints: expected an array"),
        ({}, "real_samples: expected faces"),
    ],
)
def test_bad_real_samples_tables_name_the_key(table: dict[str, Any], says: str) -> None:
    doc = {"name": "x", "partners": [{"id": "DE"}], "real_samples": table}
    with pytest.raises(ScenarioError, match=says.replace("[", r"\[").replace("]", r"\]")):
        from_mapping(doc)
