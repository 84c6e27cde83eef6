"""Long-running fuzzer of the biometric codecs: every input must decode or raise a typed error.

Targets (`--target`, default all, taken in turn): `records` (ANSI/NIST-ITL records of every
type), `messages` (ANSI/NIST transactions as envelopes), `prints` (a transaction's prints),
`minutiae` (INCITS 378 / ISO 19794-2 records), `int-i-xml`, `int-i-traditional`,
`int-i-envelope` (INT-I v6) and `translate` (`prum-exchange translate`'s conversions, every
format to every other); what each checks is in `bench.fuzz_targets`, the seeds in
`bench.fuzz_seeds` (our encoders' output and, when `shared/thirdparty` exists, NIST's and
Interpol's sample files), the mutations in `bench.fuzz_mutations` (byte mutations, and tree
mutations for XML).

A failure is any exception other than the typed codec error (`CodecError`, and translate's
`TranslateError`), a round trip that differs after the first normalising trip, or an input
that takes longer than `--hang` seconds (SIGALRM). Input number N of a run is made from
`random.Random(f"{seed}/{N}")` alone and goes to target N mod (number of targets), so
`--replay N` (with the same `--seed` and `--target`) rebuilds it and prints its outcome or
traceback. Failing inputs are saved under `--out` with their traceback and replay command.
The report (JSON on stdout) gives per target the inputs, outcomes, crashes, hangs and
inputs/s.

    python -m bench.fuzz_ansi_nist --minutes 20 --seed 101 --out /tmp/fuzz-out
    python -m bench.fuzz_ansi_nist --inputs 200 --target int-i-xml
    python -m bench.fuzz_ansi_nist --seed 101 --replay 123456
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from bench.fuzz_targets import Target, run_check, targets

TARGETS = (
    "records",
    "messages",
    "prints",
    "minutiae",
    "int-i-xml",
    "int-i-traditional",
    "int-i-envelope",
    "translate",
)


class Hang(Exception):
    """Raised by SIGALRM when one input takes too long."""


@dataclass
class Tally:
    inputs: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    crashes: int = 0
    hangs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def report(self) -> dict[str, object]:
        return {
            "inputs": self.inputs,
            "crashes": self.crashes,
            "hangs": self.hangs,
            "inputs_per_s": round(self.inputs / self.seconds, 1) if self.seconds else 0.0,
            "slowest_input_ms": round(self.slowest * 1000, 2),
            "decoded": sum(n for k, n in self.outcomes.items() if not k.startswith("refused")),
            "outcomes_top": dict(self.outcomes.most_common(10)),
        }


def chosen(target: str) -> tuple[str, ...]:
    if target == "all":
        return TARGETS
    names = tuple(target.split(","))
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        raise SystemExit(f"unknown target {unknown[0]!r}; one of all, {', '.join(TARGETS)}")
    return names


def make_input(
    all_targets: dict[str, Target], names: tuple[str, ...], seed: int, n: int
) -> tuple[Target, bytes, str, random.Random]:
    """Input number `n` of a run: its target, bytes, format and the rng its check uses."""
    rnd = random.Random(f"{seed}/{n}")
    target = all_targets[names[n % len(names)]]
    data, fmt = target.make_input(rnd)
    return target, data, fmt, rnd


def fuzz(
    minutes: float,
    seed: int,
    out: Path,
    hang: float,
    names: tuple[str, ...] = TARGETS,
    max_inputs: int | None = None,
) -> dict[str, object]:
    all_targets = targets()
    out.mkdir(parents=True, exist_ok=True)

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang()

    signal.signal(signal.SIGALRM, alarm)
    tallies = {name: Tally() for name in names}
    joined = "all" if names == TARGETS else ",".join(names)
    failures: list[dict[str, object]] = []
    n = 0
    start = time.monotonic()
    deadline = start + minutes * 60
    while time.monotonic() < deadline and (max_inputs is None or n < max_inputs):
        target, data, fmt, rnd = make_input(all_targets, names, seed, n)
        tally = tallies[target.name]
        tally.inputs += 1
        t0 = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, hang)
        try:
            tally.outcomes[run_check(target, data, fmt, rnd)] += 1
        except Hang:
            tally.hangs += 1
            failures.append(
                _save(out, n, target.name, data, "hang", f"over {hang} s", seed, joined)
            )
        except Exception as exc:  # a finding, recorded below
            tally.crashes += 1
            failures.append(
                _save(
                    out,
                    n,
                    target.name,
                    data,
                    type(exc).__name__,
                    traceback.format_exc(),
                    seed,
                    joined,
                )
            )
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        spent = time.perf_counter() - t0
        tally.seconds += spent
        tally.slowest = max(tally.slowest, spent)
        n += 1
    elapsed = time.monotonic() - start
    return {
        "fuzzer": "bench.fuzz_ansi_nist",
        "seed": seed,
        "targets": list(names),
        "seeds": {name: sum(map(len, all_targets[name].pools.values())) for name in names},
        "duration_s": round(elapsed, 1),
        "inputs_tried": n,
        "inputs_per_s": round(n / elapsed, 1) if elapsed else 0.0,
        "crashes": sum(t.crashes for t in tallies.values()),
        "hangs": sum(t.hangs for t in tallies.values()),
        "failures": len(failures),
        "failure_kinds": dict(Counter(f"{f['target']}:{f['kind']}" for f in failures)),
        "first_failures": failures[:20],
        "per_target": {name: t.report() for name, t in tallies.items()},
    }


def _save(
    out: Path, n: int, target: str, data: bytes, kind: str, detail: str, seed: int, names: str
) -> dict[str, object]:
    name = f"{target}-{kind}-{n}"
    (out / f"{name}.bin").write_bytes(data)
    command = f"python -m bench.fuzz_ansi_nist --seed {seed} --target {names} --replay {n}"
    (out / f"{name}.txt").write_text(f"{command}\n\n{detail}")
    return {"input": n, "target": target, "kind": kind, "file": name}


def replay(seed: int, names: tuple[str, ...], n: int, hang: float) -> int:
    """Rebuild input `n` of a run and check it again, printing its outcome or traceback."""
    target, data, fmt, rnd = make_input(targets(), names, seed, n)
    print(f"input {n}: target {target.name}, format {fmt}, {len(data)} bytes")
    print(repr(data[:400]) + (" ..." if len(data) > 400 else ""))
    try:
        print("outcome:", run_check(target, data, fmt, rnd))
    except Exception:  # the finding being replayed
        traceback.print_exc(file=sys.stdout)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz the biometric codecs and translate.")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    default_out = Path(tempfile.gettempdir()) / "fuzz-ansi-nist-findings"
    parser.add_argument("--out", type=Path, default=default_out, help="where failing inputs go")
    parser.add_argument("--hang", type=float, default=2.0, help="seconds before an input hangs")
    parser.add_argument("--target", default="all", help=f"all, or some of {', '.join(TARGETS)}")
    parser.add_argument("--inputs", type=int, default=None, help="stop after this many inputs")
    parser.add_argument("--replay", type=int, default=None, help="re-run input N of the run")
    args = parser.parse_args(argv)
    names = chosen(args.target)
    if args.replay is not None:
        return replay(args.seed, names, args.replay, args.hang)
    report = fuzz(args.minutes, args.seed, args.out, args.hang, names, args.inputs)
    print(json.dumps(report, indent=2))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
