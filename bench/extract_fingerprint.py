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

`prum-exchange bench extract [--quick] [--only fingerprint]` prints them (in one table with the
face rows, each beside its baseline) and writes them into `extract.json`; `rows(quick)` returns
them (the face rows' shape: modality, measure, setting, value, unit, baseline) and the notes.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.report import Row
from exchange.codecs import uk_json
from exchange.codecs.ansi_nist import fingerprints_from_bytes
from exchange.finger_samples import extract_fingers
from exchange.model import FingerprintSet
from matchers import fingerprint_image as fi
from matchers.minutiae_pairing import pairing_score


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
    unit, measure = "s", "seconds per finger (median)"
    return [
        _row(measure, "WSQ decode alone", statistics.median(decode), unit, True),
        _row(measure, "mindtct (after decoding)", statistics.median(alone), unit, False),
        _row(measure, "mindtct + NFIQ 2 (after decoding)", statistics.median(with_nfiq), unit,
             False),
    ]  # fmt: skip


def _row(measure: str, setting: str, value: float, unit: str, baseline: bool) -> Row:
    """One row in `bench extract`'s shape (the face rows' `bench.extract._row`)."""
    return {
        "modality": "fingerprint",
        "measure": measure,
        "setting": setting,
        "value": round(value, 4),
        "unit": unit,
        "baseline": baseline,
    }


def _eer(mated: list[float], non: list[float]) -> float:
    best = 1.0
    for t in sorted(set(mated + non)):
        frr = np.mean([m < t for m in mated])
        far = np.mean([n >= t for n in non])
        best = min(best, max(float(frr), float(far)))
    return round(best, 4)


def _real_pairs(tpcard: FingerprintSet) -> tuple[list[Row], list[str]]:
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
    separation: list[Row] = []
    notes = []
    for name, (mated, non) in scores.items():
        setting = "our minutiae pairing (the gallery's)" if name == "pairing" else "Bozorth3"
        baseline = name == "pairing"
        pairs = f"{len(mated)} mated, {len(non)} non-mated pairs"
        separation += [
            _row(f"min mated score, thumbs ({pairs})", setting, min(mated[:2]), "score", baseline),
            _row(f"min mated score ({pairs})", setting, min(mated), "score", baseline),
            _row(f"max non-mated score ({pairs})", setting, max(non), "score", baseline),
            _row(f"equal error rate ({pairs})", setting, _eer(mated, non), "rate", baseline),
        ]
        notes.append(f"{setting} mated scores: {[round(m, 4) for m in mated]}")
    separation += [
        _row(
            "ms per comparison (median)",
            "our minutiae pairing (the gallery's)" if name == "pairing" else "Bozorth3",
            1000 * statistics.median(t),
            "ms",
            name == "pairing",
        )
        for name, t in times.items()
    ]
    return separation, notes


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
            setting = f"{name}, 2 partners, {searches} searches"
            measure = "ten-print search via gateway"
            baseline = name.endswith("(baseline)")
            setting = setting.replace(" (baseline)", "")
            out.append(_row(f"{measure} p50", setting, statistics.median(walls), "s", baseline))
            p90 = walls[int(0.9 * (len(walls) - 1))]
            out.append(_row(f"{measure} p90", setting, p90, "s", baseline))
    return out


def rows(quick: bool = False, tmp: Path | None = None) -> tuple[list[Row], list[str]]:
    """The fingerprint rows of `bench extract` and their notes (the mated scores); no rows,
    and a note saying why, where NIST's prints are absent."""
    import tempfile

    from exchange import event_loop

    shared = _shared()
    if shared is None:
        return [], [SKIPPED]
    data = (shared / "nist-type-14-tpcard.eft").read_bytes()
    tpcard = fingerprints_from_bytes(data)
    out = _per_finger(tpcard, 1 if quick else 3)
    separation, notes = _real_pairs(tpcard)
    out += separation
    with tempfile.TemporaryDirectory() as where:
        root = tmp or Path(where)
        out += event_loop.run(_gateway_search(root, data, 3 if quick else 10))
    return out, notes


SKIPPED = "fingerprint rows skipped: NIST's prints (shared/thirdparty/wct097-eft-viewer) are absent"

MEASURED = (
    "fingerprint seconds per finger (WSQ decode, mindtct, NFIQ 2), Bozorth3 against our pairing "
    "on real pairs, and one ten-print image search through the gateway to 2 partners"
)
DATA = (
    "NIST's tpcard (10 rolled WSQ fingers, plain thumbs, slaps) of shared/thirdparty; the "
    "gateway search's partners on the gateway's loop, synthetic galleries of 200"
)
BASELINE = "WSQ decoding alone; our minutiae pairing; the ten-print search with minutiae supplied"


def main(argv: list[str]) -> int:
    """`python -m bench.extract_fingerprint`: the fingerprint rows alone (`prum-exchange bench
    extract --only fingerprint` is the same, through the dispatcher)."""
    from bench import extract

    return extract.main(["--only", "fingerprint", *argv])


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))
