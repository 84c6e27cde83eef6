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

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

from exchange.codecs import uk_json
from exchange.codecs.ansi_nist import fingerprints_from_bytes
from exchange.finger_samples import read_prints
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
    for i, t in enumerate(doc.get("prints", [])):
        where = f"real_samples.prints[{i}]"
        if set(t) - {"plant", "at", "reference", "positions"}:
            raise RealPrintsError(f"{where}: unknown key {sorted(set(t) - {'plant'})[0]}")
        if t.get("at") not in partners:
            raise RealPrintsError(f"{where}.at: {t.get('at')!r} is not a partner of the scenario")
        if not isinstance(t.get("plant"), str) or not isinstance(t.get("reference"), str):
            raise RealPrintsError(f"{where}: plant and reference must be strings")
        positions = tuple(int(p) for p in t.get("positions", ()))
        plants.append(PlantedPrints(t["plant"], t["at"], t["reference"], positions))
    refs = {p.reference for p in plants}
    probes = []
    for i, t in enumerate(doc.get("print_probes", [])):
        where = f"real_samples.print_probes[{i}]"
        if t.get("expect") not in ("hit", "no_hit"):
            raise RealPrintsError(f"{where}.expect: must be hit or no_hit")
        if t["expect"] == "hit" and t.get("mate") not in refs:
            raise RealPrintsError(f"{where}.mate: must name a planted reference")
        if not isinstance(t.get("probe"), str):
            raise RealPrintsError(f"{where}.probe: must be a path under thirdparty/")
        probes.append(PrintProbe(t["probe"], t["expect"], t.get("mate"), int(t.get("position", 2))))
    return tuple(plants), tuple(probes)


def _prints(thirdparty: Path, path: str, positions: Sequence[int] = ()) -> FingerprintSet:
    prints = read_prints(str(thirdparty / path))
    if positions:
        prints = replace(
            prints, fingers=tuple(f for f in prints.fingers if f.position in positions)
        )
    return prints


def plant(node: Node, planted: PlantedPrints, thirdparty: Path) -> str:
    """Enrol the planted prints at a partner's node (its gallery extracts); the reference."""
    record = PersonRecord(
        reference=planted.reference,
        fingerprints=_prints(thirdparty, planted.path, planted.positions),
    )
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


def verdict(probe: PrintProbe, search: Mapping[str, Any]) -> bool:
    """Whether a finished search meets the probe's ground truth."""
    hits = {
        (p["partner"], h["reference"])
        for p in search["partners"]
        for h in p["hits"]
        if h["modality"] == "fingerprint"
    }
    if probe.expect == "no_hit":
        return not hits
    return any(ref == probe.mate for _, ref in hits)


async def run_probes(
    session: aiohttp.ClientSession,
    client_url: str,
    probes: Sequence[PrintProbe],
    thirdparty: Path,
    seed: int,
) -> list[dict[str, Any]]:
    """Search every probe through the client API and score it (no biometric data kept)."""
    out = []
    for i, probe in enumerate(probes):
        body = probe_body(probe, thirdparty, seed, f"REAL-PRINTS-{i}")
        async with session.post(f"{client_url}/v1/searches?wait=60", json=body) as r:
            search = await r.json()
        ok = r.status == 200 and verdict(probe, search)
        statuses = {p["partner"]: p["status"] for p in search.get("partners", [])}
        out.append({"probe": probe.path, "expect": probe.expect, "ok": ok, "partners": statuses})
    return out
