"""Real biometric samples in a drill: photographs and NIST prints from shared/thirdparty.

A scenario's `[real_samples]` names planted mates, enrolled at a partner before the workload
as that partner's node would enrol them (its own template, extracted from the image), and
probes, searched through the UK gateway's client API as a UK service would send them (the
image alone: the gateway extracts its template in its pool and sends both). Each probe is
scored against its ground truth: `hit` at the partner holding its planted mate, under the
planted reference, or `no_hit` everywhere.

```toml
[[real_samples.faces]]
plant = "ageitgey-face_recognition/obama.jpg"   # a planted mate (a path under thirdparty/)
at = "DE"
reference = "DE-REAL-FACE-1"
[[real_samples.face_probes]]
probe = "ageitgey-face_recognition/obama2.jpg"
expect = "hit"
mate = "DE-REAL-FACE-1"
```

Fingerprints: `[[real_samples.prints]]` and `[[real_samples.print_probes]]`, the same way
(a transaction planted at a partner, its fingers' minutiae extracted as that node would; a
probe searched as images alone, the gateway extracting in its pool): their tables, planting
and search are `mock_partners.real_prints`'.

The files are read from `shared/thirdparty/` beside the checkout (never copied into the
project: photographs of real people stay out of examples/ and logs); where it is absent the
drill says so and skips.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from exchange.face_models import FaceModelConfig, extract, template_of
from exchange.face_samples import image_of
from exchange.model import PersonRecord
from mock_partners import population, real_prints
from mock_partners.real_prints import PlantedPrints, PrintProbe

PRINT_TABLES = frozenset({"prints", "print_probes"})  # read by `mock_partners.real_prints`


class RealSamplesError(ValueError):
    """A `[real_samples]` table that cannot be run; the message starts with the key."""


@dataclass(frozen=True, slots=True)
class PlantedFace:
    path: str
    at: str
    reference: str


@dataclass(frozen=True, slots=True)
class FaceProbe:
    path: str
    expect: str  # "hit" or "no_hit"
    mate: str | None = None  # the planted reference a hit must name


@dataclass(frozen=True, slots=True)
class RealSamples:
    faces: tuple[PlantedFace, ...] = ()
    face_probes: tuple[FaceProbe, ...] = ()
    prints: tuple[PlantedPrints, ...] = ()
    print_probes: tuple[PrintProbe, ...] = ()


def thirdparty() -> Path | None:
    """`shared/thirdparty` beside the checkout (or above it), where the real samples are."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "thirdparty"
        if candidate.is_dir():
            return candidate
    return None


def _str(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise RealSamplesError(f"{where}{key}: expected a non-empty string")
    return value


def parse(doc: Any, partner_ids: Sequence[str]) -> RealSamples:
    if not isinstance(doc, dict):
        raise RealSamplesError("real_samples: expected a table")
    for key in doc:
        if key not in {"faces", "face_probes"} | PRINT_TABLES:
            raise RealSamplesError(f"real_samples.{key}: unknown key")
    faces = []
    for i, f in enumerate(doc.get("faces", [])):
        where = f"real_samples.faces[{i}]."
        if not isinstance(f, dict) or set(f) - {"plant", "at", "reference"}:
            raise RealSamplesError(f"{where[:-1]}: expected plant, at and reference")
        at = _str(f, "at", where)
        if at not in partner_ids:
            raise RealSamplesError(f"{where}at: {at!r} is not a partner of this scenario")
        faces.append(PlantedFace(_str(f, "plant", where), at, _str(f, "reference", where)))
    planted = {f.reference for f in faces}
    probes = []
    for i, p in enumerate(doc.get("face_probes", [])):
        where = f"real_samples.face_probes[{i}]."
        if not isinstance(p, dict) or set(p) - {"probe", "expect", "mate"}:
            raise RealSamplesError(f"{where[:-1]}: expected probe, expect and mate")
        expect = _str(p, "expect", where)
        if expect not in ("hit", "no_hit"):
            raise RealSamplesError(f"{where}expect: 'hit' or 'no_hit'")
        mate = p.get("mate")
        if expect == "hit" and mate not in planted:
            raise RealSamplesError(f"{where}mate: a hit names a planted reference")
        probes.append(FaceProbe(_str(p, "probe", where), expect, mate))
    try:
        prints, print_probes = real_prints.parse(doc, partner_ids)
    except real_prints.RealPrintsError as exc:
        raise RealSamplesError(str(exc)) from exc
    if not (faces or probes or prints or print_probes):
        raise RealSamplesError("real_samples: expected faces, face_probes, prints or print_probes")
    return RealSamples(tuple(faces), tuple(probes), prints, print_probes)


def missing(samples: RealSamples, root: Path | None) -> list[str]:
    """The sample files not found under `root` (all of them when it is None)."""
    paths = [f.path for f in samples.faces] + [p.path for p in samples.face_probes]
    paths += [p.path for p in samples.prints] + [p.path for p in samples.print_probes]
    return [p for p in paths if root is None or not (root / p).is_file()]


async def plant(nodes: Mapping[str, Any], samples: RealSamples, root: Path) -> None:
    """Enrol each planted photograph and print set at its partner, under its reference
    (extracted off the loop, in a thread: a drill's set-up, before the clock)."""
    model = FaceModelConfig()
    for f in samples.faces:
        image = image_of((root / f.path).read_bytes(), f.path)
        found = await asyncio.to_thread(extract, image.data, model)
        record = PersonRecord(reference=f.reference, face=template_of(found, image))
        nodes[f.at].enrol(f.reference, record)
    for planted in samples.prints:
        await real_prints.plant(nodes[planted.at], planted, root)


def _probe_record(seed: int, index: int, data: bytes) -> dict[str, Any]:
    """A UK record whose only biometric is the photograph (identifiers from the population)."""
    from exchange.codecs import uk_json

    doc = uk_json.record_to_json(population.person(seed, 95_000 + index, owner="GB").record)
    for key in ("dna", "fingerprints", "face"):
        doc.pop(key, None)
    doc["face"] = {"image": {"data": base64.b64encode(data).decode("ascii")}}
    return doc


async def search_faces(
    client_url: str,
    headers: Mapping[str, str],
    samples: RealSamples,
    root: Path,
    seed: int,
    wait_s: float,
) -> list[dict[str, Any]]:
    """Each face probe searched through the gateway and scored against its ground truth."""
    out = []
    timeout = aiohttp.ClientTimeout(total=wait_s + 30)
    async with aiohttp.ClientSession(timeout=timeout, headers=dict(headers)) as session:
        for i, p in enumerate(samples.face_probes):
            body = {
                "purpose": "investigation",
                "case_reference": f"DRILL-REAL-{i}",
                "record": _probe_record(seed, i, (root / p.path).read_bytes()),
                "modalities": ["face"],
                "partners": "all",
                "max_candidates": 5,
            }
            url = f"{client_url}/v1/searches?wait={wait_s:g}"
            async with session.post(url, json=body) as r:
                doc = await r.json()
                status = r.status
            out.append(_score(p, status, doc))
    return out


def _score(p: FaceProbe, status: int, doc: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"probe": p.path, "expect": p.expect, "http_status": status}
    if status not in (200, 202):
        entry.update(ok=False, error=doc.get("error"))
        return entry
    hits = [
        {"partner": r["partner"], "reference": h["reference"], "score": h["score"]}
        for r in doc.get("partners", [])
        for h in r.get("hits", [])
        if h.get("modality") == "face"
    ]
    entry["hits"] = hits
    entry["search_status"] = doc.get("status")
    if p.expect == "hit":
        entry["ok"] = bool(hits) and hits[0]["reference"] == p.mate
    else:
        entry["ok"] = doc.get("status") == "complete" and not hits
    return entry


async def search_prints(
    client_url: str,
    headers: Mapping[str, str],
    samples: RealSamples,
    root: Path,
    seed: int,
    wait_s: float,
) -> list[dict[str, Any]]:
    """Each print probe searched through the gateway and scored against its ground truth."""
    timeout = aiohttp.ClientTimeout(total=wait_s + 30)
    async with aiohttp.ClientSession(timeout=timeout, headers=dict(headers)) as session:
        return await real_prints.run_probes(
            session, client_url, samples.print_probes, root, seed, wait_s
        )
