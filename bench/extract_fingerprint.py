"""Fingerprint rows of `bench extract`: extraction cost, re-ranking scores on real pairs and
cost, and one ten-print image search through a gateway.

What it measures, on what data (NIST's public-domain prints in ../shared/thirdparty: the
tpcard transaction, 10 rolled WSQ fingers, plain thumbs 11/12 and slaps 13/14 of one person;
the flats transaction, slaps 13/14/15 of the same person):
- seconds per finger: WSQ decoding, mindtct alone and mindtct with NFIQ 2 (baseline: decoding
  alone), over the ten rolled fingers, single process;
- the re-ranking score on real pairs: Bozorth3 against our minutiae pairing (the baseline, the
  gallery's score for synthetic prints), mated = a plain impression (thumbs 11, 12; fingers cut
  from slaps 13, 14) against the rolled print of its finger, non-mated = against the other nine
  rolled fingers; min mated, max non-mated and the equal error rate over those pairs; and the
  cost of one comparison of each;
- one ten-print image search through the gateway's client API to partners (the tpcard's ten
  rolled fingers as images, extracted in the pool, then the fan-out), p50 and p90 over
  `--searches` searches, beside the same search with the minutiae already extracted (the
  baseline: what the image costs on top).
The machine is shared with other work (its load average is in the report): figures move.

`python -m bench.extract_fingerprint [--quick] [--out DIR]` prints the rows and writes
`extract_fingerprint.json`; `rows(quick)` returns them for `bench extract`.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import environment
from exchange.codecs import uk_json
from exchange.codecs.ansi_nist import fingerprints_from_bytes
from exchange.finger_samples import extract_fingers
from exchange.model import FingerprintSet
from exchange.option_types import OneLineParser
from exchange.outputs import BENCH_OUT
from matchers import fingerprint_image as fi
from matchers.minutiae_pairing import pairing_score

Row = dict[str, Any]


def _shared() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "thirdparty" / "wct097-eft-viewer"
        if candidate.is_dir():
            return candidate
    return None


def _per_finger(prints: FingerprintSet, repeat: int) -> list[Row]:
    rolled = [f for f in prints.fingers if 1 <= f.position <= 10 and f.image is not None]
    decode, alone, with_nfiq = [], [], []
    for _ in range(repeat):
        for f in rolled:
            im = f.image
            assert im is not None
            t0 = time.perf_counter()
            grey = fi.decode_grey(im.data, im.compression, im.width, im.height, im.ppi)
            t1 = time.perf_counter()
            fi.extract(grey, nfiq2=False)
            t2 = time.perf_counter()
            fi.extract(grey, nfiq2=True)
            t3 = time.perf_counter()
            decode.append(t1 - t0)
            alone.append(t2 - t1)
            with_nfiq.append(t3 - t2)
    return [
        {"row": "WSQ decode (baseline)", "s_per_finger": round(statistics.median(decode), 4)},
        {"row": "mindtct", "s_per_finger": round(statistics.median(alone), 4)},
        {"row": "mindtct + NFIQ 2", "s_per_finger": round(statistics.median(with_nfiq), 4)},
    ]


def _eer(mated: list[float], non: list[float]) -> float:
    best = 1.0
    for t in sorted(set(mated + non)):
        frr = np.mean([m < t for m in mated])
        far = np.mean([n >= t for n in non])
        best = min(best, max(float(frr), float(far)))
    return round(best, 4)


def _real_pairs(tpcard: FingerprintSet) -> tuple[list[Row], list[Row]]:
    arrays: dict[int, np.ndarray] = {}
    for f in tpcard.fingers:
        im = f.image
        if im is None:
            continue
        if f.position in (13, 14):
            cut = fi.extract_slap(
                im.data, im.compression, im.width, im.height, im.ppi, f.position, False
            )
            for p, got in cut:
                arrays[100 + p] = got.minutiae  # a plain finger cut from the slap
        else:
            arrays[f.position] = fi.extract_image(
                im.data, im.compression, im.width, im.height, im.ppi, False
            ).minutiae
    probes = {11: 1, 12: 6} | {100 + p: p for p in (2, 3, 4, 5, 7, 8, 9, 10)}
    scores: dict[str, tuple[list[float], list[float]]] = {"bozorth3": ([], []), "pairing": ([], [])}
    times: dict[str, list[float]] = {"bozorth3": [], "pairing": []}
    for probe, mate in probes.items():
        for p in range(1, 11):
            for name, fn in (("bozorth3", fi.bozorth_score), ("pairing", pairing_score)):
                t0 = time.perf_counter()
                s = float(fn(arrays[probe], arrays[p]))
                times[name].append(time.perf_counter() - t0)
                scores[name][0 if p == mate else 1].append(s)
    separation = []
    for name, (mated, non) in scores.items():
        thumbs = mated[:2]
        separation.append(
            {
                "row": f"{name} on real pairs" + (" (baseline)" if name == "pairing" else ""),
                "mated": [round(m, 4) for m in mated],
                "min_mated_thumbs": round(min(thumbs), 4),
                "min_mated": round(min(mated), 4),
                "max_non_mated": round(max(non), 4),
                "eer": _eer(mated, non),
                "pairs": f"{len(mated)} mated, {len(non)} non-mated",
            }
        )
    cost = [
        {"row": f"{name} per comparison", "ms": round(1000 * statistics.median(t), 3)}
        for name, t in times.items()
    ]
    return separation, cost


async def _gateway_search(tmp: Path, tpcard_bytes: bytes, searches: int) -> list[Row]:
    import aiohttp

    from mock_partners import population
    from mock_partners.cluster import running_cluster

    rolled = fingerprints_from_bytes(tpcard_bytes)
    rolled = replace(rolled, fingers=tuple(f for f in rolled.fingers if f.position <= 10))
    extracted = extract_fingers(rolled)[0]
    person = replace(population.person(7, 71, owner="GB").record, dna=None, face=None)
    images = uk_json.record_to_json(replace(person, fingerprints=rolled))
    bare = tuple(replace(f, image=None) for f in extracted.fingers)
    minutiae = uk_json.record_to_json(
        replace(person, fingerprints=replace(extracted, fingers=bare))
    )
    out: list[Row] = []
    async with (
        running_cluster(
            tmp,
            ("DE", "FR"),
            seed=7,
            gallery_size=200,
            # partners share this process and its cores here; real ones are elsewhere
            uk_overrides={"search_deadline_s": 60.0},
            partner_overrides={p: {"timeout_s": 30.0} for p in ("DE", "FR")},
        ) as c,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as s,
    ):
        for name, record in (("minutiae only (baseline)", minutiae), ("images", images)):
            walls = []
            for n in range(searches):
                body = {
                    "purpose": "investigation",
                    "case_reference": f"BENCH-{n}",
                    "record": record,
                    "modalities": ["fingerprint"],
                    "partners": "all",
                    "max_candidates": 5,
                }
                t0 = time.perf_counter()
                async with s.post(f"{c.client_url}/v1/searches?wait=60", json=body) as r:
                    done = await r.json()
                walls.append(time.perf_counter() - t0)
                assert r.status == 200 and done["status"] in ("complete", "partial"), done
            walls.sort()
            out.append(
                {
                    "row": f"ten-print search through the gateway, {name}",
                    "p50_s": round(statistics.median(walls), 3),
                    "p90_s": round(walls[int(0.9 * (len(walls) - 1))], 3),
                    "searches": searches,
                    "partners": 2,
                }
            )
    return out


def rows(quick: bool = False, tmp: Path | None = None) -> list[Row]:
    """The fingerprint rows of `bench extract`; empty where NIST's prints are absent."""
    import tempfile

    from exchange import event_loop

    shared = _shared()
    if shared is None:
        return [{"row": "fingerprints", "skipped": "../shared/thirdparty is absent"}]
    data = (shared / "nist-type-14-tpcard.eft").read_bytes()
    tpcard = fingerprints_from_bytes(data)
    out = _per_finger(tpcard, 1 if quick else 3)
    separation, cost = _real_pairs(tpcard)
    out += separation + cost
    with tempfile.TemporaryDirectory() as where:
        root = tmp or Path(where)
        out += event_loop.run(_gateway_search(root, data, 3 if quick else 10))
    return out


def main(argv: list[str]) -> int:
    parser = OneLineParser(prog="bench extract (fingerprints)", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and searches")
    parser.add_argument("--out", type=Path, default=BENCH_OUT, help="report directory")
    args = parser.parse_args(argv)
    got = rows(args.quick)
    for row in got:
        print(json.dumps(row))
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "extract_fingerprint.json"
    report = {"environment": environment(), "rows": got}
    target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))
