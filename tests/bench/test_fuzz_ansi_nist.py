"""The codec fuzzer (`bench.fuzz_ansi_nist`): short bounded runs, its seeds, replay, and that a
failure is reported (a fuzzer that cannot fail tests nothing)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench import fuzz_ansi_nist as fuzz
from bench import fuzz_seeds
from bench.fuzz_mutations import mutate_bytes, mutate_fields, mutate_xml
from bench.fuzz_targets import run_check, targets
from exchange.codecs import ansi_nist_messages, int_i_xml
from tests.codecs.test_ansi_nist_real_files import REFUSED
from tests.shared_data import needs_shared


@pytest.mark.parametrize("target", fuzz.TARGETS)
def test_a_short_run_of_each_target_finds_nothing(target: str, tmp_path: Path) -> None:
    report = fuzz.fuzz(1.0, 7, tmp_path, 5.0, (target,), max_inputs=200)
    per = report["per_target"]
    assert isinstance(per, dict)
    assert per[target]["inputs"] == 200
    assert report["failures"] == 0, report["first_failures"]
    assert per[target]["decoded"] > 0  # the mutations leave some inputs readable


# Targets that take every seed of theirs: the others read one kind of input out of several
# (`messages` only message TOTs, `prints` only transactions with prints, `translate` each
# seed to every other format, of which some pairs are no translation).
_EVERY_SEED = ("minutiae", "int-i-xml", "int-i-traditional", "int-i-envelope")


def test_our_seeds_and_the_real_files_decode() -> None:
    """Every seed decodes (the two real files with known faults are refused as
    tests/codecs/test_ansi_nist_real_files.py says), and passes its target's checks."""
    all_targets = targets()
    for name in _EVERY_SEED:
        target = all_targets[name]
        for fmt, pool in target.pools.items():
            for data in pool:
                outcome = run_check(target, data, fmt, random.Random(0))
                assert not outcome.startswith("refused"), (name, outcome)
    for data in fuzz_seeds.ansi_nist_seeds():
        for name in ("records", "messages"):
            outcome = run_check(all_targets[name], data, "ansi-nist", random.Random(0))
            assert outcome == "decoded", (name, outcome)
    refused = [
        run_check(all_targets["records"], data, "ansi-nist", random.Random(0))
        for data in fuzz_seeds.real_ansi_nist()
    ]
    if refused:  # ../shared is there
        assert refused.count("decoded") == len(refused) - len(REFUSED)
        assert sorted(o for o in refused if o != "decoded") == ["refused:Type-2", "refused:Type-9"]


@needs_shared
def test_the_real_files_are_among_the_seeds() -> None:
    assert len(fuzz_seeds.real_ansi_nist()) >= 8
    assert len(fuzz_seeds.int_i_xml_seeds()) > len(fuzz_seeds.int_i_envelopes())
    assert fuzz_seeds.int_i_schema() is not None


def test_inputs_are_a_function_of_seed_and_number() -> None:
    all_targets = targets()
    for n in (0, 5, 13):
        a = fuzz.make_input(all_targets, fuzz.TARGETS, 11, n)
        b = fuzz.make_input(all_targets, fuzz.TARGETS, 11, n)
        assert (a[0].name, a[1], a[2]) == (b[0].name, b[1], b[2])
        assert a[0].name == fuzz.TARGETS[n % len(fuzz.TARGETS)]


def test_mutations_keep_to_bytes() -> None:
    rnd = random.Random(3)
    ansi = fuzz_seeds.ansi_nist_seeds()
    xml = fuzz_seeds.int_i_xml_seeds()
    for _ in range(200):
        assert isinstance(mutate_bytes(rnd, rnd.choice(ansi), ansi), bytes)
        assert isinstance(mutate_fields(rnd, rnd.choice(ansi), ansi), bytes)
        assert isinstance(mutate_xml(rnd, rnd.choice(xml), xml), bytes)


def test_replay_rebuilds_an_input_and_prints_its_outcome(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert fuzz.main(["--seed", "7", "--target", "int-i-xml", "--replay", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("input 3: target int-i-xml")
    assert "outcome:" in out


def test_a_target_that_raises_a_non_codec_error_is_a_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(data: bytes) -> object:
        raise KeyError("a decoder bug")

    monkeypatch.setattr(ansi_nist_messages, "decode", broken)
    report = fuzz.fuzz(1.0, 7, tmp_path, 5.0, ("messages",), max_inputs=20)
    assert report["crashes"] == 20 and report["failures"] == 20
    assert report["failure_kinds"] == {"messages:KeyError": 20}
    saved = sorted(tmp_path.glob("messages-KeyError-*.txt"))
    assert len(saved) == 20
    command = saved[0].read_text().splitlines()[0]
    assert command.startswith("python -m bench.fuzz_ansi_nist --seed 7 --target messages")
    # the replay of a failing input shows its traceback and exits 1
    assert fuzz.main(["--seed", "7", "--target", "messages", "--replay", "4"]) == 1
    assert "KeyError: 'a decoder bug'" in capsys.readouterr().out


def test_a_round_trip_that_differs_is_a_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = int_i_xml.decode
    calls = iter(range(10**6))

    def forgetful(data: bytes) -> int_i_xml.IntiTransaction:
        tx = real(data)
        if next(calls) % 2:  # the re-read of what was written comes back without its records
            return int_i_xml.IntiTransaction(tx.type1, tx.type2, ())
        return tx

    seeds = [s for s in fuzz_seeds.int_i_xml_seeds() if real(s).records]
    target = targets()["int-i-xml"]  # built first: making seeds decodes too
    monkeypatch.setattr(int_i_xml, "decode", forgetful)
    with pytest.raises(AssertionError, match="changed in an encode/decode round trip"):
        run_check(target, seeds[0], "int-i-xml", random.Random(0))


def test_a_hang_is_a_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def slow(data: bytes) -> object:
        while True:
            pass

    monkeypatch.setattr(ansi_nist_messages, "decode", slow)
    report = fuzz.fuzz(1.0, 7, tmp_path, 0.05, ("messages",), max_inputs=2)
    assert report["hangs"] == 2 and report["failures"] == 2


def test_the_command_line_writes_a_json_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = fuzz.main(
        ["--inputs", "40", "--seed", "2", "--out", str(tmp_path), "--target", "records,minutiae"]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["inputs_tried"] == 40 and report["targets"] == ["records", "minutiae"]
    assert set(report["per_target"]) == {"records", "minutiae"}
    for figures in report["per_target"].values():
        assert {"inputs", "crashes", "hangs", "inputs_per_s"} <= set(figures)
