"""Real prints in a drill: NIST's public-domain transactions from shared/thirdparty.

The prints half of the `real-samples` scenario (`[[real_samples.prints]]` and
`[[real_samples.print_probes]]`, the tables `mock_partners.real_samples` reserves for them):
a planted mate is enrolled at a partner as its node would enrol it (the transaction's images,
mindtct minutiae extracted by that node's gallery); a probe is searched through the UK
gateway's client API as a UK service would send it (the transaction, images only: the gateway
extracts minutiae in its pool and sends images and minutiae), and scored against its ground
truth: `hit` at the partner holding its mate under the planted reference, or `no_hit`
everywhere.

```toml
[[real_samples.prints]]
plant = "wct097-eft-viewer/nist-type-14-tpcard.eft"   # a path under thirdparty/
positions = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]            # which fingers (default: all)
at = "DE"
reference = "DE-REAL-PRINTS-1"
[[real_samples.print_probes]]
probe = "wct097-eft-viewer/nist-type-4-14-flats.eft"   # a transaction, or a bare image
expect = "hit"
mate = "DE-REAL-PRINTS-1"
```

A bare image (WSQ, JPEG 2000, PNG) is searched as one finger of unknown position 0 in the
position `position` names (default 2, right index).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

from exchange.codecs import uk_json
from exchange.codecs.ansi_nist import fingerprints_from_bytes
from exchange.finger_samples import read_prints, with_extracted_minutiae
from exchange.gateway.node import Node
from exchange.model import FingerprintSet, PersonRecord
from mock_partners import population


class RealPrintsError(ValueError):
    """A prints table that cannot be run; the message starts with the key."""


@dataclass(frozen=True, slots=True)
class PlantedPrints:
    path: str
    at: str
    reference: str
    positions: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class PrintProbe:
    path: str
    expect: str  # "hit" or "no_hit"
    mate: str | None = None
    position: int = 2


def parse(
    doc: Mapping[str, Any], partners: Sequence[str]
) -> tuple[tuple[PlantedPrints, ...], tuple[PrintProbe, ...]]:
    """The two tables of `[real_samples]`, checked; `partners` are the scenario's ids."""
    plants = []
    for i, t in enumerate(_tables(doc, "prints")):
        where = f"real_samples.prints[{i}]"
        unknown = sorted(set(t) - {"plant", "at", "reference", "positions"})
        if unknown:
            raise RealPrintsError(f"{where}.{unknown[0]}: unknown key")
        if t.get("at") not in partners:
            raise RealPrintsError(f"{where}.at: {t.get('at')!r} is not a partner of the scenario")
        for key in ("plant", "reference"):
            if not isinstance(t.get(key), str) or not t[key]:
                raise RealPrintsError(f"{where}.{key}: expected a non-empty string")
        positions = t.get("positions", [])
        if not isinstance(positions, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 15 for n in positions
        ):
            raise RealPrintsError(f"{where}.positions: expected a list of finger positions 1-15")
        plants.append(PlantedPrints(t["plant"], t["at"], t["reference"], tuple(positions)))
    refs = {p.reference for p in plants}
    probes = []
    for i, t in enumerate(_tables(doc, "print_probes")):
        where = f"real_samples.print_probes[{i}]"
        unknown = sorted(set(t) - {"probe", "expect", "mate", "position"})
        if unknown:
            raise RealPrintsError(f"{where}.{unknown[0]}: unknown key")
        if t.get("expect") not in ("hit", "no_hit"):
            raise RealPrintsError(f"{where}.expect: must be hit or no_hit")
        if t["expect"] == "hit" and t.get("mate") not in refs:
            raise RealPrintsError(f"{where}.mate: must name a planted reference")
        if not isinstance(t.get("probe"), str) or not t["probe"]:
            raise RealPrintsError(f"{where}.probe: must be a path under thirdparty/")
        position = t.get("position", 2)
        if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= 10:
            raise RealPrintsError(f"{where}.position: expected a finger position 0-10")
        probes.append(PrintProbe(t["probe"], t["expect"], t.get("mate"), position))
    return tuple(plants), tuple(probes)


def _tables(doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    tables = doc.get(key, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise RealPrintsError(f"real_samples.{key}: expected an array of tables")
    return tables


def _prints(thirdparty: Path, path: str, positions: Sequence[int] = ()) -> FingerprintSet:
    prints = read_prints(str(thirdparty / path))
    if positions:
        prints = replace(
            prints, fingers=tuple(f for f in prints.fingers if f.position in positions)
        )
    return prints


async def plant(node: Node, planted: PlantedPrints, thirdparty: Path) -> str:
    """Enrol the planted prints at a partner's node, under the planted reference: mindtct's
    minutiae extracted in a thread (a drill's set-up, before the clock, off the loop that
    serves the partners), then enrolled on the loop as the node's own API would; the
    reference."""
    prints = await asyncio.to_thread(
        with_extracted_minutiae, _prints(thirdparty, planted.path, planted.positions)
    )
    record = PersonRecord(reference=planted.reference, fingerprints=prints)
    reference, _ = node.enrol(planted.reference, record)
    return reference


def probe_body(probe: PrintProbe, thirdparty: Path, seed: int, case: str) -> dict[str, Any]:
    """The client API search of one probe: a UK record whose prints are the file's images."""
    data = (thirdparty / probe.path).read_bytes()
    person = population.people(seed, [0], "GB", with_fingerprints=False)[0].record
    doc = uk_json.record_to_json(replace(person, dna=None, face=None))
    try:
        fingerprints_from_bytes(data)
        doc["fingerprints"] = {"ansi_nist": base64.b64encode(data).decode("ascii")}
    except ValueError:  # a bare image: one finger at `position`
        (finger,) = read_prints(str(thirdparty / probe.path)).fingers
        image = finger.image
        assert image is not None
        width, height = _size(image.data)
        doc["fingerprints"] = {
            "fingers": [
                {
                    "position": probe.position,
                    "image": {
                        "compression": image.compression,
                        "data": base64.b64encode(image.data).decode("ascii"),
                        "width": width,
                        "height": height,
                    },
                }
            ]
        }
    return {
        "purpose": "investigation",
        "case_reference": case,
        "record": doc,
        "modalities": ["fingerprint"],
        "partners": "all",
        "max_candidates": 5,
    }


def _size(data: bytes) -> tuple[int, int]:
    import io

    import wsq  # noqa: F401  (registers WSQ with Pillow)
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return im.size


def score(probe: PrintProbe, status: int, search: Mapping[str, Any]) -> dict[str, Any]:
    """One probe's entry in the drill report, scored against its ground truth: a hit names
    the planted mate first among the fingerprint hits; a no_hit is a complete search (every
    partner answered) with no fingerprint hit anywhere. Partner, reference and score only: no
    biometric data."""
    entry: dict[str, Any] = {"probe": probe.path, "expect": probe.expect, "http_status": status}
    if status not in (200, 202):
        entry.update(ok=False, error=search.get("error"))
        return entry
    hits = sorted(
        (
            {"partner": p["partner"], "reference": h["reference"], "score": h["score"]}
            for p in search.get("partners", [])
            for h in p.get("hits", [])
            if h.get("modality") == "fingerprint"
        ),
        key=lambda h: -float(h["score"]),
    )
    entry.update(
        hits=hits,
        search_status=search.get("status"),
        partners={p["partner"]: p["status"] for p in search.get("partners", [])},
    )
    if probe.expect == "hit":
        entry["ok"] = bool(hits) and hits[0]["reference"] == probe.mate
    else:
        entry["ok"] = search.get("status") == "complete" and not hits
    return entry


async def run_probes(
    session: aiohttp.ClientSession,
    client_url: str,
    probes: Sequence[PrintProbe],
    thirdparty: Path,
    seed: int,
    wait_s: float = 60.0,
) -> list[dict[str, Any]]:
    """Search every probe through the client API (the session carries its credentials) and
    score it."""
    out = []
    for i, probe in enumerate(probes):
        body = probe_body(probe, thirdparty, seed, f"DRILL-REAL-PRINTS-{i}")
        async with session.post(f"{client_url}/v1/searches?wait={wait_s:g}", json=body) as r:
            search = await r.json()
            status = r.status
        out.append(score(probe, status, search))
    return out
