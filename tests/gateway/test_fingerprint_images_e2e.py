"""Real prints through a real gateway on loopback: a ten-print enrolled as an ANSI/NIST
transaction of images only is extracted in the pool and found by a partner's search with the
same person's plain impressions (another transaction, slaps only); prints with no usable
finger are refused with the field; a client's image search goes out with our minutiae."""

from __future__ import annotations

import base64
import datetime as dt
import io
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from exchange import event_loop
from exchange.codecs import prum_xml, uk_json
from exchange.codecs.ansi_nist import fingerprints_from_bytes
from exchange.model import Envelope, PersonRecord, SearchReply
from exchange.translate import Outbound, record_to_envelope
from mock_partners import population
from mock_partners.cluster import Cluster, running_cluster
from tests.shared_data import THIRDPARTY, needs_shared

TPCARD = THIRDPARTY / "wct097-eft-viewer" / "nist-type-14-tpcard.eft"
FLATS = THIRDPARTY / "wct097-eft-viewer" / "nist-type-4-14-flats.eft"
SEED = 7


def _record_json(subject: int, fingerprints: dict[str, Any]) -> dict[str, Any]:
    doc = uk_json.record_to_json(population.person(SEED, subject, owner="GB").record)
    doc["fingerprints"] = fingerprints
    doc.pop("dna", None)
    doc.pop("face", None)
    return doc


def _blank_png_b64() -> str:
    out = io.BytesIO()
    Image.new("L", (300, 300), 230).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


async def _partner_search(c: Cluster, s: aiohttp.ClientSession, probe: PersonRecord) -> Any:
    envelope = record_to_envelope(
        probe,
        Outbound(
            message_id="de-img-1",
            correlation_id="de-img-c1",
            timestamp=dt.datetime.now(dt.UTC),
            sender="DE",
            receiver="GB",
            message="dacty-search",
        ),
    )
    url = f"http://127.0.0.1:{c.gateway.partner_port}/prum/v1/messages"
    data = prum_xml.encode(envelope)
    async with s.post(url, data=data, headers={"Content-Type": "application/xml"}) as r:
        reply: Envelope = prum_xml.decode(await r.read())
        return r.status, reply


@needs_shared
def test_an_image_only_ten_print_is_enrolled_and_found_by_plain_impressions(
    tmp_path: Path,
) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        tpcard = base64.b64encode(TPCARD.read_bytes()).decode()
        async with s.post(
            f"{c.client_url}/v1/records", json=_record_json(61, {"ansi_nist": tpcard})
        ) as r:
            assert r.status == 201, await r.text()
            enrolled = await r.json()
        flats = fingerprints_from_bytes(FLATS.read_bytes())
        assert all(not f.minutiae for f in flats.fingers)  # images only, slaps only
        probe = PersonRecord(reference="DE-PROBE-1", fingerprints=flats)
        status, reply = await _partner_search(c, s, probe)
        assert status == 200
        assert isinstance(reply.body, SearchReply)
        refs = [cand.reference for res in reply.body.results for cand in res.candidates]
        assert refs[:1] == [enrolled["reference"]]

        image = {"compression": "PNG", "data": _blank_png_b64(), "width": 300, "height": 300}
        blank = {"impression": "rolled", "fingers": [{"position": 2, "image": image}]}
        async with s.post(f"{c.client_url}/v1/records", json=_record_json(62, blank)) as r:
            body = await r.json()
            assert r.status == 422, body
            assert "no usable finger" in body["error"]["message"]
            assert body["error"]["field"].startswith("record.fingerprints")

        plain = _record_json(61, {"ansi_nist": base64.b64encode(FLATS.read_bytes()).decode()})
        search = {
            "purpose": "investigation",
            "case_reference": "OP-IMG-1",
            "record": plain,
            "modalities": ["fingerprint"],
            "partners": ["DE"],
            "max_candidates": 5,
        }
        async with s.post(f"{c.client_url}/v1/searches?wait=60", json=search) as r:
            done = await r.json()
            assert r.status == 200, done
        assert done["status"] == "complete"
        assert [p["status"] for p in done["partners"]] == ["no_hit"]  # DE holds no such person

    async def main() -> None:
        timeout = aiohttp.ClientTimeout(total=120)
        async with (
            running_cluster(
                tmp_path,
                ("DE",),
                seed=SEED,
                gallery_size=6,
                # DE shares this process: under a loaded test run its answer may take seconds
                uk_overrides={"search_deadline_s": 60.0},
                partner_overrides={"DE": {"timeout_s": 30.0}},
            ) as cluster,
            aiohttp.ClientSession(timeout=timeout) as session,
        ):
            await scenario(cluster, session)

    event_loop.run(main())
