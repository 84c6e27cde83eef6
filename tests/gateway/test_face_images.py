"""Face images end to end through real gateways on loopback: image-only enrolment and search,
our dlib template beside the image on the wire, node-local templates, and the pool's limits.

The photographs are the ageitgey/face_recognition test images in ../shared (two of one
person, one of another); these tests skip where shared/ is absent.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from exchange.codecs import prum_xml, uk_json
from exchange.face_models import FaceModelConfig, extract, template_of
from exchange.face_samples import image_of
from exchange.gateway.config import ExtractionConfig
from exchange.model import (
    Envelope,
    ErrorBody,
    ErrorCode,
    FaceSearchRequest,
    FaceTemplate,
    Header,
    MessageType,
    PersonRecord,
    Purpose,
    SearchReply,
)
from mock_partners import population
from mock_partners.cluster import Cluster
from tests.gateway.test_gateway_e2e import SEED, _call, _search_body, run
from tests.pool_hold import hold_until
from tests.shared_data import THIRDPARTY, needs_shared

PHOTOS = THIRDPARTY / "ageitgey-face_recognition"


def _photo(name: str) -> dict[str, Any]:
    return {"format": "jpeg", "data": base64.b64encode((PHOTOS / name).read_bytes()).decode()}


def _uk_record(subject: int, face: dict[str, Any]) -> dict[str, Any]:
    """A UK record (valid identifiers) whose only biometric is `face`."""
    doc = uk_json.record_to_json(population.person(SEED, subject, owner="GB").record)
    for key in ("dna", "fingerprints", "face"):
        doc.pop(key, None)
    doc["face"] = face
    return doc


def _plant(c: Cluster, partner: str, reference: str, photo: str) -> None:
    """Enrol a photograph's dlib template at a partner (extracted here, as its node would)."""
    image = image_of((PHOTOS / photo).read_bytes())
    template = template_of(extract(image.data, FaceModelConfig()), image)
    c.partners[partner].enrol(reference, PersonRecord(reference=reference, face=template))


def _face_search(sender: str, message_id: str, template: FaceTemplate) -> bytes:
    header = Header(
        message_id,
        f"c-{message_id}",
        dt.datetime.now(dt.UTC),
        sender,
        "GB",
        MessageType.FACE_SEARCH_REQUEST,
        Purpose.INVESTIGATION,
    )
    return prum_xml.encode(Envelope(header, FaceSearchRequest(f"p-{message_id}", template)))


async def _ask_uk(c: Cluster, s: aiohttp.ClientSession, data: bytes) -> tuple[int, Envelope]:
    url = f"http://127.0.0.1:{c.gateway.partner_port}/prum/v1/messages"
    async with s.post(url, data=data, headers={"Content-Type": "application/xml"}) as r:
        return r.status, prum_xml.decode(await r.read())


def _image_only(photo: str) -> FaceTemplate:
    return FaceTemplate("", b"", image_of((PHOTOS / photo).read_bytes()))


@needs_shared
def test_an_image_only_enrolment_is_found_by_a_partners_image_only_search(tmp_path: Path) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        url = f"{c.client_url}/v1/records"
        status, enrolled = await _call(
            s, "POST", url, "/v1/records", json=_uk_record(41, {"image": _photo("obama.jpg")})
        )
        assert status == 201, enrolled
        # the stored record keeps the template extracted for it: a rebuild does not extract
        node = c.gateway.node
        assert node is not None
        row = node.store.get_record(enrolled["pnc_id"])
        assert row is not None
        stored = uk_json.record_from_json(json.loads(row.record_json)).face
        assert stored is not None and stored.feature_model == "dlib-resnet-v1"
        assert stored.dim == 128 and stored.image is not None
        status, reply = await _ask_uk(c, s, _face_search("DE", "f-1", _image_only("obama2.jpg")))
        assert status == 200 and isinstance(reply.body, SearchReply), reply
        (result,) = reply.body.results
        assert [x.reference for x in result.candidates] == [enrolled["reference"]]
        assert 0.4 <= result.candidates[0].score <= 1.0  # 1 - distance, above dlib's 0.6
        status, reply = await _ask_uk(c, s, _face_search("DE", "f-2", _image_only("biden.jpg")))
        assert status == 200 and isinstance(reply.body, SearchReply)
        assert not reply.body.results[0].candidates

    run(tmp_path, scenario)


@needs_shared
def test_a_client_image_search_hits_the_partner_holding_the_mate(tmp_path: Path) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        _plant(c, "DE", "DE-PHOTO-1", "obama.jpg")
        url = f"{c.client_url}/v1/searches?wait=20"
        for photo, de_status in (("obama2.jpg", "hit"), ("biden.jpg", "no_hit")):
            body = _search_body(_uk_record(42, {"image": _photo(photo)}), ["face"])
            status, search = await _call(s, "POST", url, "/v1/searches", json=body)
            assert status == 200, search
            by_partner = {p["partner"]: p for p in search["partners"]}
            assert by_partner["DE"]["status"] == de_status, by_partner["DE"]
            assert by_partner["FR"]["status"] == "no_hit"
            if de_status == "hit":
                assert [h["reference"] for h in by_partner["DE"]["hits"]] == ["DE-PHOTO-1"]

    run(tmp_path, scenario)


def test_a_foreign_template_without_an_image_is_unsupported_on_both_apis(tmp_path: Path) -> None:
    foreign = FaceTemplate("vendor-x-7", b"\x00\x00\x80\x3f" * 64)

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        face = {
            "feature_model": foreign.feature_model,
            "template": base64.b64encode(foreign.vector).decode(),
        }
        body = _search_body(_uk_record(43, face), ["face"])
        status, answer = await _call(
            s, "POST", f"{c.client_url}/v1/searches", "/v1/searches", json=body
        )
        assert status == 422, answer
        assert answer["error"]["code"] == "unsupported_feature_model"
        assert answer["error"]["field"] == "record.face.feature_model"
        status, reply = await _ask_uk(c, s, _face_search("DE", "u-1", foreign))
        assert status == 422 and isinstance(reply.body, ErrorBody)
        assert reply.body.code is ErrorCode.UNSUPPORTED_FEATURE_MODEL

    run(tmp_path, scenario)


def _blank_jpeg() -> str:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 120, 150)).save(out, "JPEG")
    return base64.b64encode(out.getvalue()).decode()


def _blank_image_only() -> FaceTemplate:
    return FaceTemplate("", b"", image_of(base64.b64decode(_blank_jpeg())))


def test_an_image_without_a_face_is_refused_and_nothing_is_enrolled(tmp_path: Path) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        doc = _uk_record(44, {"image": {"format": "jpeg", "data": _blank_jpeg()}})
        status, answer = await _call(
            s, "POST", f"{c.client_url}/v1/records", "/v1/records", json=doc
        )
        assert status == 422, answer
        assert answer["error"] == {
            "code": "no_face_found",
            "message": "no face found in the image",
            "field": "face.image",
        }
        node = c.gateway.node
        assert node is not None and len(node.gallery) == 0
        assert node.store.get_record(doc["identifiers"]["pnc_id"]) is None

    run(tmp_path, scenario)


def test_a_bad_image_is_refused_naming_the_field(tmp_path: Path) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        cut = base64.b64encode(base64.b64decode(_blank_jpeg())[:300]).decode()
        for data, field in ((cut, "face.image.data"), ("aGVsbG8=", "face.image.data")):
            doc = _uk_record(45, {"image": {"format": "jpeg", "data": data}})
            url = f"{c.client_url}/v1/records"
            status, answer = await _call(s, "POST", url, "/v1/records", json=doc)
            assert status == 422, answer
            assert answer["error"]["field"] == field

    run(tmp_path, scenario)


def test_a_full_extraction_pool_is_503_with_retry_after(tmp_path: Path) -> None:
    extraction = ExtractionConfig(workers=1, queue=0)

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        node = c.gateway.node
        assert node is not None and node.extraction is not None
        release = tmp_path / "release-the-pool"
        slow = asyncio.create_task(node.extraction.run(hold_until, str(release)))  # the one slot
        await asyncio.sleep(0)
        try:
            doc = _uk_record(46, {"image": {"format": "jpeg", "data": _blank_jpeg()}})
            async with s.post(f"{c.client_url}/v1/records", json=doc) as r:
                answer = await r.json()
                assert r.status == 503, answer
                assert int(r.headers["Retry-After"]) >= 1
            assert answer["error"]["code"] == "extraction_busy"
            # a partner's image-only face search: a typed temporary Prüm error, not a search
            data = _face_search("DE", "busy-1", _blank_image_only())
            url = f"http://127.0.0.1:{c.gateway.partner_port}/prum/v1/messages"
            async with s.post(url, data=data, headers={"Content-Type": "application/xml"}) as r:
                assert r.status == 503 and int(r.headers["Retry-After"]) >= 1
                refusal = prum_xml.decode(await r.read())
            assert isinstance(refusal.body, ErrorBody)
            assert refusal.body.field == "/Message/Body/FaceSearchRequest/Image"
            # a light search is not held up behind the pool
            dna = uk_json.record_to_json(population.person(SEED, 3, owner="GB", capture=1).record)
            status, _ = await _call(
                s,
                "POST",
                f"{c.client_url}/v1/searches",
                "/v1/searches",
                json=_search_body(dna, ["dna"]),
            )
            assert status == 202
        finally:
            release.touch()
            await slow

    run(tmp_path, scenario, uk_overrides={"extraction": extraction})


def test_an_image_only_search_message_round_trips_through_the_codec() -> None:
    out = io.BytesIO()
    Image.new("RGB", (30, 20)).save(out, "PNG")
    template = FaceTemplate("", b"", image_of(out.getvalue()))
    env = prum_xml.decode(_face_search("DE", "rt-1", template))
    assert isinstance(env.body, FaceSearchRequest)
    assert env.body.template == template
    assert dataclasses.replace(template, vector=b"").vector == b""


def test_a_large_unreadable_message_is_refused_like_a_small_one(tmp_path: Path) -> None:
    """Messages carrying images are decoded off the loop; their refusals are the same."""

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        url = f"http://127.0.0.1:{c.gateway.partner_port}/prum/v1/messages"
        for size in (100, 200_000):
            body = b"<Message>" + b"x" * size + b"</Massage>"
            async with s.post(url, data=body, headers={"Content-Type": "application/xml"}) as r:
                assert r.status == 400
                reply = prum_xml.decode(await r.read())
            assert isinstance(reply.body, ErrorBody)
            assert reply.body.code is ErrorCode.SCHEMA_INVALID

    run(tmp_path, scenario)
