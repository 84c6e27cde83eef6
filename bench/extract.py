"""`prum-exchange bench extract`: template extraction from biometric samples, and what it does
to the gateway.

Face rows (this module) and fingerprint rows (`bench.extract_fingerprint`, the same row
shape: modality, measure, setting, value, unit, baseline), in one table and one `extract.json`;
`--only face|fingerprint` runs one modality's. Face rows:

1. images per second per worker (one process, in-process calls of `matchers.face_image.extract`
   over the shipped photographs): the detector at full resolution (the baseline) against the
   detector on a copy scaled to `detect_long_side` pixels (the configured default);
2. one face-image search through a real UK gateway to 4 mock partners on loopback (DE holding
   the mate as a dlib template), p50 and p95 of `POST /v1/searches?wait`: with the image only
   (the gateway extracts in its pool) against the same search carrying the template already
   (baseline: no extraction). The partners run in a child process of their own by default
   (`--partners apart`), so the gateway's event loop is the UK's alone, as in service;
   `--partners together` puts all five nodes on one loop;
3. a light DNA search's p99, idle (baseline) and while face-image searches keep the extraction
   pool at capacity (`workers + queue` + 1 in flight, the one too many answered 503
   extraction_busy and retried after Retry-After); beside it the same load with each search
   carrying its template too (the same bytes on the wire and through the partners, no
   extraction), which separates what the pool costs from what moving images costs.

Data: the ageitgey/face_recognition test photographs in ../shared (0.7-2.1 megapixels, JPEG);
the synthetic population (`mock_partners.population`) for the partners' galleries and the DNA
probes. Fingerprint rows: see `bench.extract_fingerprint` (seconds per finger, Bozorth3
against our pairing on NIST's real pairs, one ten-print image search through the gateway).
The machine is shared and noisy: figures are from one run, beside their baselines.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import multiprocessing
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bench import extract_fingerprint
from bench.report import Plot, Report, Row, Series, describe, write_report
from exchange import event_loop
from exchange.codecs import uk_json
from exchange.face_models import FaceModelConfig, extract, template_of
from exchange.face_samples import image_of
from exchange.gateway import logs
from exchange.gateway.app import Gateway
from exchange.gateway.config import GatewayConfig, Listener, PartnerConfig
from exchange.gateway.node import Node
from exchange.model import PersonRecord
from exchange.option_types import OneLineParser
from exchange.outputs import BENCH_OUT
from matchers import face_image
from mock_partners import population
from mock_partners.cluster import ALL_MODALITIES, running_cluster

PHOTOS = ("obama.jpg", "obama2.jpg", "biden.jpg")
MODALITIES = ("face", "fingerprint")
PARTNERS = ("DE", "FR", "NL", "EUROPOL")
SEED = 7


def _shared_photos() -> Path | None:
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "thirdparty" / "ageitgey-face_recognition"
        if all((candidate / p).is_file() for p in PHOTOS):
            return candidate
    return None


def _partners_process(root: str, photos: str, conn: Any) -> None:
    """In a child process: the 4 partner nodes (DE holding the mate), until told to stop."""
    from exchange.gateway.app import Gateway
    from mock_partners.cluster import PARTNER_SUBJECTS, partner_node_config, seed_partner

    async def serve() -> None:
        gateways, urls = [], {}
        for j, pid in enumerate(PARTNERS, start=1):
            gw = Gateway(partner_node_config(pid, Path(root) / pid))
            node = await gw.start()
            gateways.append(gw)
            await seed_partner(node, pid, SEED, [j * PARTNER_SUBJECTS + i for i in range(50)])
            urls[pid] = f"http://127.0.0.1:{gw.partner_port}/prum/v1/messages"
            if pid == "DE":
                mate = image_of((Path(photos) / "obama.jpg").read_bytes())
                template = template_of(extract(mate.data, FaceModelConfig()), mate)
                node.enrol("DE-PHOTO", PersonRecord(reference="DE-PHOTO", face=template))
        conn.send(urls)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # the stop word
        for gw in gateways:
            await gw.stop()

    event_loop.run(serve())


def _row(measure: str, setting: str, value: float, unit: str, baseline: bool) -> Row:
    return {
        "modality": "face",
        "measure": measure,
        "setting": setting,
        "value": round(value, 4),
        "unit": unit,
        "baseline": baseline,
    }


def images_per_second(photos: list[bytes], rounds: int, long_side: int) -> float:
    face_image.warm_up()
    extract_one = FaceModelConfig(detect_long_side=long_side)
    started = time.perf_counter()
    n = 0
    for _ in range(rounds):
        for data in photos:
            extract(data, extract_one)
            n += 1
    return n / (time.perf_counter() - started)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _search(record: dict[str, Any], modalities: list[str]) -> dict[str, Any]:
    return {
        "purpose": "investigation",
        "case_reference": "BENCH-EXTRACT",
        "record": record,
        "modalities": modalities,
        "partners": "all",
        "max_candidates": 5,
    }


def _face_record(face: dict[str, Any]) -> dict[str, Any]:
    doc = uk_json.record_to_json(population.person(SEED, 5, owner="GB").record)
    for key in ("dna", "fingerprints"):
        doc.pop(key, None)
    doc["face"] = face
    return doc


async def _timed(s: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[float, int]:
    started = time.perf_counter()
    async with s.post(url, json=body) as r:
        await r.read()
        return time.perf_counter() - started, r.status


async def _gateway_rows(
    photos: Path, root: Path, searches: int, dna_searches: int, apart: bool
) -> list[Row]:
    """The gateway rows, with the 4 partners in this process (one event loop for all five
    nodes) or, `apart`, in a child process of their own (the UK gateway's loop alone here,
    as in service, where partners are other machines)."""
    probe = (photos / "obama2.jpg").read_bytes()
    image_face: dict[str, Any] = {
        "image": {"format": "jpeg", "data": base64.b64encode(probe).decode()}
    }
    model = FaceModelConfig()
    probe_template = template_of(extract(probe, model), None)
    template_face: dict[str, Any] = {
        "feature_model": probe_template.feature_model,
        "template": base64.b64encode(probe_template.vector).decode(),
    }
    if not apart:
        async with running_cluster(root, PARTNERS, seed=SEED, gallery_size=50) as c:
            mate = image_of((photos / "obama.jpg").read_bytes())
            face = template_of(extract(mate.data, model), mate)
            c.partners["DE"].enrol("DE-PHOTO", PersonRecord(reference="DE-PHOTO", face=face))
            assert c.gateway.node is not None
            faces = (image_face, template_face)
            return await _search_rows(c.client_url, c.gateway.node, *faces, searches, dna_searches)
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    child = ctx.Process(target=_partners_process, args=(str(root), str(photos), there))
    child.start()
    try:
        urls: dict[str, str] = await asyncio.get_running_loop().run_in_executor(None, here.recv)
        uk = Gateway(_uk_config(root, urls))
        node = await uk.start()
        try:
            client_url = f"http://127.0.0.1:{uk.client_port}"
            faces = (image_face, template_face)
            return await _search_rows(client_url, node, *faces, searches, dna_searches)
        finally:
            await uk.stop()
    finally:
        here.send("stop")
        child.join(timeout=60)


def _uk_config(root: Path, urls: dict[str, str]) -> GatewayConfig:
    partners = tuple(
        PartnerConfig(id=pid, url=url, modalities=ALL_MODALITIES, timeout_s=5.0)
        for pid, url in urls.items()
    )
    return GatewayConfig(
        node_id="GB",
        data_dir=root / "GB",
        feature_model=population.FEATURE_MODEL,
        face_dim=population.FACE_DIM,
        search_deadline_s=10.0,
        client=Listener(port=0),
        partner_listener=Listener(port=0),
        partners=partners,
        open_client_api=True,
    )


async def _search_rows(
    client_url: str,
    node: Node,
    image_face: dict[str, Any],
    template_face: dict[str, Any],
    searches: int,
    dna_searches: int,
) -> list[Row]:
    rows: list[Row] = []
    url = f"{client_url}/v1/searches?wait=30"
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as s:
        await _timed(s, url, _search(_face_record(image_face), ["face"]))  # worker warm-up
        for label, face, baseline in (
            ("template supplied (no extraction)", template_face, True),
            ("image only (extracted in the pool)", image_face, False),
        ):
            took = [
                (await _timed(s, url, _search(_face_record(face), ["face"])))[0]
                for _ in range(searches)
            ]
            rows.append(
                _row("face search via gateway p50", label, _percentile(took, 0.5), "s", baseline)
            )
            rows.append(
                _row("face search via gateway p95", label, _percentile(took, 0.95), "s", baseline)
            )
        both: dict[str, Any] = {**template_face, **image_face}
        loads: dict[str, dict[str, Any]] = {
            "image + template (no extraction)": both,
            "image only (pool full)": image_face,
        }
        rows += await _dna_under_load(node, s, url, loads, dna_searches)
    return rows


async def _dna_under_load(
    node: Node,
    s: aiohttp.ClientSession,
    url: str,
    loads: dict[str, dict[str, Any]],
    n: int,
) -> list[Row]:
    """DNA p99 idle, then under each load: face searches at the pool's capacity + 1 in flight
    (a refused one retried after its Retry-After), with the image only (extracted) and with
    the image and its template (the same bytes on the wire, no extraction)."""
    dna_body = [
        _search(
            uk_json.record_to_json(population.person(SEED, 100 + i % 50, "GB", capture=1).record),
            ["dna"],
        )
        for i in range(n)
    ]
    idle = [(await _timed(s, url, b))[0] for b in dna_body]
    p_idle = _percentile(idle, 0.99)
    rows = [_row("DNA search p99", "idle", p_idle, "s", True)]
    assert node.extraction is not None
    capacity = node.extraction.capacity
    for label, face in loads.items():
        busy, refused = await _dna_while_loaded(s, url, face, capacity + 1, dna_body)
        p_busy = _percentile(busy, 0.99)
        setting = f"{capacity + 1} face searches in flight, {label}"
        rows.append(_row("DNA search p99", setting, p_busy, "s", False))
        rows.append(_row("DNA search p99 / idle", setting, p_busy / p_idle, "x", False))
        rows.append(_row("face searches refused 503", setting, refused, "searches", False))
    return rows


async def _dna_while_loaded(
    s: aiohttp.ClientSession,
    url: str,
    face: dict[str, Any],
    in_flight: int,
    dna_body: list[dict[str, Any]],
) -> tuple[list[float], int]:
    """DNA search times while `in_flight` clients keep face searches going; and the 503s."""
    stop = asyncio.Event()
    refused = 0

    async def keep_busy() -> None:
        nonlocal refused
        while not stop.is_set():
            _, status = await _timed(s, url, _search(_face_record(face), ["face"]))
            if status == 503:  # as a client honouring Retry-After (1 s) would
                refused += 1
                await asyncio.sleep(1.0)

    load = [asyncio.create_task(keep_busy()) for _ in range(in_flight)]
    await asyncio.sleep(1.0)
    busy = [(await _timed(s, url, b))[0] for b in dna_body]
    stop.set()
    await asyncio.gather(*load)
    return busy, refused


def _face_rows(photos: Path, quick: bool, partners: str) -> tuple[list[Row], dict[str, Any]]:
    """The face rows (extraction per worker, the gateway search, DNA under load); params."""
    import tempfile

    data = [(photos / p).read_bytes() for p in PHOTOS]
    rounds, searches, dna = (2, 8, 40) if quick else (8, 30, 200)
    rows: list[Row] = [
        _row(
            "images/s per worker",
            "detector at full resolution",
            images_per_second(data, rounds, 0),
            "images/s",
            True,
        ),
        _row(
            "images/s per worker",
            f"detector on a {face_image.DETECT_LONG_SIDE} px copy",
            images_per_second(data, rounds, face_image.DETECT_LONG_SIDE),
            "images/s",
            False,
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        apart = partners == "apart"
        rows += event_loop.run(_gateway_rows(photos, Path(tmp), searches, dna, apart))
    params = {
        "partners_process": partners,
        "rounds": rounds,
        "searches": searches,
        "dna_searches": dna,
        "partners": len(PARTNERS),
    }
    return rows, params


def main(argv: Sequence[str]) -> int:
    parser = OneLineParser(prog="prum-exchange bench extract", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds, a minute or so")
    parser.add_argument(
        "--only",
        choices=MODALITIES,
        help="one modality's rows (default: the face rows, then the fingerprint rows)",
    )
    parser.add_argument(
        "--partners",
        choices=("apart", "together"),
        default="apart",
        help="the face search's 4 partner nodes in a process of their own (default) or on the"
        " gateway's loop",
    )
    parser.add_argument(
        "--out", type=Path, default=BENCH_OUT, help=f"report directory (default: {BENCH_OUT})"
    )
    args = parser.parse_args(list(argv))
    # The gateways this bench starts in-process would log every search at info, burying the
    # table; warnings and errors still show.
    logs.configure(level=logging.WARNING)
    chosen = (args.only,) if args.only else MODALITIES
    photos = _shared_photos()
    prints_here = extract_fingerprint._shared() is not None
    absent = [
        m for m, here in (("face", photos is not None), ("fingerprint", prints_here)) if not here
    ]
    if set(chosen) <= set(absent):
        where = {
            "face": "the photographs of shared/thirdparty/ageitgey-face_recognition",
            "fingerprint": "NIST's prints of shared/thirdparty/wct097-eft-viewer",
        }
        missing = " and ".join(where[m] for m in chosen)
        print(
            f"prum-exchange bench extract: {missing} are not beside this checkout", file=sys.stderr
        )
        return 2
    rows: list[Row] = []
    params: dict[str, Any] = {"modalities": ",".join(chosen)}
    notes = ["shared 2-core machine, other jobs running: one run's figures, baselines beside them"]
    measured, data, baselines = [], [], []
    if "face" in chosen and photos is not None:
        face, face_params = _face_rows(photos, args.quick, args.partners)
        rows += face
        params.update({f"face_{k}": v for k, v in face_params.items()})
        measured.append(
            "face template extraction (dlib-resnet-v1) per worker, one face-image search "
            "through the gateway to 4 partners, and a DNA search's p99 while the pool is full"
        )
        data.append(
            "the 3 ageitgey/face_recognition test photographs (0.7-2.1 MP JPEG); synthetic "
            "population for galleries and DNA probes; nodes on loopback, the face search's "
            "partners "
            + ("in a process of their own" if args.partners == "apart" else "on the gateway's loop")
        )
        baselines.append(
            "detector at full resolution; the search with its template supplied; DNA idle"
        )
    elif "face" in chosen:
        notes.append("face rows skipped: the photographs of shared/thirdparty are absent")
    if "fingerprint" in chosen:
        prints, print_notes = extract_fingerprint.rows(args.quick)
        rows += prints
        notes += print_notes
        if prints:
            params["fingerprint_repeats"] = 1 if args.quick else 3
            params["fingerprint_searches"] = 3 if args.quick else 10
            measured.append(extract_fingerprint.MEASURED)
            data.append(extract_fingerprint.DATA)
            baselines.append(extract_fingerprint.BASELINE)
    face_rates = [r for r in rows if r["modality"] == "face" and r["unit"] == "images/s"]
    report = Report(
        name="extract",
        measured="; ".join(measured),
        data="; ".join(data),
        baseline="; ".join(baselines),
        params=params,
        rows=rows,
        plots=[
            Plot(
                "face extraction, images/s per worker",
                "setting",
                "images/s",
                [
                    Series(str(r["setting"]), [float(i)], [_float(r["value"])])
                    for i, r in enumerate(face_rates)
                ],
                kind="bar",
            )
        ]
        if face_rates
        else [],
        notes=notes,
    )
    print(describe(report))
    json_path, png_path = write_report(report, args.out)
    print(f"wrote {json_path}" + (f" and {png_path}" if png_path else ""))
    return 0


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
