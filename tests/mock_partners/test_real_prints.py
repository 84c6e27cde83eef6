"""The prints half of the real-samples drill: the shipped scenario's `[[real_samples.prints]]`
and `[[real_samples.print_probes]]` tables, read by `mock_partners.real_prints`. The drill
itself (NIST's prints planted at DE and searched as images through a real UK gateway, scored
against ground truth, beside the photographs) runs in tests/mock_partners/test_drill.py
(`test_real_samples`)."""

from __future__ import annotations

import tomllib

import pytest

from mock_partners import real_prints
from mock_partners.scenario import SCENARIOS, load
from tests.shared_data import THIRDPARTY, needs_shared

SCENARIO = SCENARIOS / "real-samples.toml"


def test_the_scenario_tables_parse_and_bad_ones_are_named() -> None:
    doc = tomllib.loads(SCENARIO.read_text())["real_samples"]
    plants, probes = real_prints.parse(doc, ["DE"])
    assert [p.reference for p in plants] == ["DE-REAL-PRINTS-1"]
    assert plants[0].positions == tuple(range(1, 11))
    assert [p.expect for p in probes] == ["hit", "hit", "hit", "no_hit"]
    with pytest.raises(real_prints.RealPrintsError, match=r"prints\[0\]\.at"):
        real_prints.parse(doc, ["FR"])
    bad = {"print_probes": [{"probe": "x", "expect": "hit", "mate": "NOBODY"}]}
    with pytest.raises(real_prints.RealPrintsError, match="mate"):
        real_prints.parse(bad, ["DE"])
    bad = {"print_probes": [{"probe": "x", "expect": "no_hit", "position": "2"}]}
    with pytest.raises(real_prints.RealPrintsError, match=r"print_probes\[0\]\.position"):
        real_prints.parse(bad, ["DE"])


def test_one_scenario_holds_the_faces_and_the_prints() -> None:
    s = load(SCENARIO)
    assert s.real_samples is not None
    assert [f.reference for f in s.real_samples.faces] == ["DE-REAL-FACE-1"]
    assert len(s.real_samples.face_probes) == 2
    assert [p.reference for p in s.real_samples.prints] == ["DE-REAL-PRINTS-1"]
    assert [p.mate for p in s.real_samples.print_probes] == [
        "DE-REAL-PRINTS-1",
        "DE-REAL-PRINTS-1",
        "DE-REAL-PRINTS-1",
        None,
    ]
    assert not (SCENARIOS.parent / "real-samples.prints.toml").exists()  # merged into it


def test_probes_are_scored_against_their_ground_truth() -> None:
    hit = real_prints.PrintProbe("a.eft", "hit", mate="DE-1")
    search = {
        "status": "complete",
        "partners": [
            {"partner": "FR", "status": "hit", "hits": [
                {"modality": "fingerprint", "reference": "FR-9", "score": 0.2}]},
            {"partner": "DE", "status": "hit", "hits": [
                {"modality": "fingerprint", "reference": "DE-1", "score": 0.5}]},
        ],
    }  # fmt: skip
    assert real_prints.score(hit, 200, search)["ok"]  # the mate is the best of all partners'
    search["partners"][1]["hits"][0]["score"] = 0.1
    assert not real_prints.score(hit, 200, search)["ok"]
    probe = real_prints.PrintProbe("usnistgov-libbiomeval/img.jp2", "no_hit", position=7)
    search = {"status": "complete", "partners": [{"partner": "DE", "status": "no_hit", "hits": []}]}
    entry = real_prints.score(probe, 200, search)
    assert entry["ok"] and entry["hits"] == [] and entry["partners"] == {"DE": "no_hit"}
    partial = {**search, "status": "partial"}  # a partner that did not answer: not a no_hit
    assert not real_prints.score(probe, 200, partial)["ok"]
    assert not real_prints.score(probe, 503, {"error": {"code": "extraction_busy"}})["ok"]


@needs_shared
def test_a_bare_image_probe_is_searched_as_one_finger_at_its_position() -> None:
    probe = real_prints.PrintProbe("usnistgov-libbiomeval/img.jp2", "no_hit", position=7)
    body = real_prints.probe_body(probe, THIRDPARTY, 7, "CASE-1")
    (finger,) = body["record"]["fingerprints"]["fingers"]
    assert finger["position"] == 7 and finger["image"]["width"] > 0
    assert body["modalities"] == ["fingerprint"] and "face" not in body["record"]
