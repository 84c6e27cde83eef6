"""The UK gallery sharded over Ray actors answers as the embedded gallery, and never a false
no-hit while a shard is down (DESIGN.md §6, `exchange.gallery_ray`).

On a real local Ray cluster (`ray.init(num_cpus=2)`, started once for the module), with the
synthetic population of `mock_partners.population` (DNA drawn from allele frequencies, faces
of low intrinsic dimension, ten-prints with re-captures), some subjects enrolled twice under
two references so that ties in score and rank occur.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.codecs import prum_xml, uk_json
from exchange.gallery import GalleryUnavailable, NodeGallery, Thresholds
from exchange.gallery_ray import GallerySettings, RayGallery, shard_of
from exchange.gateway.app import Gateway
from exchange.gateway.config import GalleryConfig, Listener
from exchange.gateway.index_files import StoreShardSource
from exchange.model import (
    ErrorBody,
    ErrorCode,
    FingerprintSet,
    Impression,
    PersonRecord,
    SearchReply,
)
from exchange.records import step1_reference
from exchange.translate import Outbound, record_to_envelope
from mock_partners import population
from mock_partners.cluster import partner_node_config

ray = pytest.importorskip("ray", reason="Ray is the optional [cluster] extra; CI installs it")

SEED = 31
SUBJECTS = list(range(40))
TWINS = (3, 7, 11)  # enrolled a second time under another reference: exact ties
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """One local Ray cluster for the module; its workers import this checkout."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), saved) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="tests")
    try:
        yield
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def _settings() -> GallerySettings:
    return GallerySettings(population.FEATURE_MODEL, population.FACE_DIM, Thresholds())


def _records() -> list[tuple[str, PersonRecord]]:
    people = population.people(SEED, SUBJECTS)
    out = [(p.record.reference or "", p.record) for p in people]
    out += [(f"GB-twin-{s}", people[s].record) for s in TWINS]
    return out


def _latent(prints: FingerprintSet, position: int) -> FingerprintSet:
    """One finger of a re-capture as a latent mark of unknown position (position 0)."""
    finger = next(f for f in prints.fingers if f.position == position)
    return FingerprintSet((replace(finger, position=0),), Impression.LATENT, 500)


def _probes() -> list[PersonRecord]:
    """Second captures of enrolled subjects and of subjects nobody holds."""
    return [p.record for p in population.people(SEED, [*SUBJECTS[::3], 500, 501], capture=1)]


@pytest.fixture(scope="module")
def galleries(cluster: None) -> Iterator[tuple[NodeGallery, RayGallery]]:
    local = _settings().build()
    sharded = RayGallery(_settings(), shards=3, name="equality", timeout_s=30.0)
    for reference, record in _records():
        local.add(reference, record)
        sharded.add(reference, record)
    try:
        yield local, sharded
    finally:
        sharded.close()


def _assert_same(local: Any, sharded: Any, probe: PersonRecord, limit: int) -> None:
    assert probe.dna is not None and probe.face is not None and probe.fingerprints is not None
    assert sharded.search_dna(probe.dna, limit) == local.search_dna(probe.dna, limit)
    assert sharded.search_face(probe.face, limit) == local.search_face(probe.face, limit)
    found = sharded.search_fingerprints(probe.fingerprints, limit)
    assert found == local.search_fingerprints(probe.fingerprints, limit)
    mark = _latent(probe.fingerprints, 2)
    assert sharded.search_fingerprints(mark, limit) == local.search_fingerprints(mark, limit)


PROBES = _probes()


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(probe=st.sampled_from(PROBES), limit=st.integers(1, 12))
def test_sharded_searches_equal_the_local_gallery(
    galleries: tuple[NodeGallery, RayGallery], probe: PersonRecord, limit: int
) -> None:
    local, sharded = galleries
    _assert_same(local, sharded, probe, limit)


def test_ties_are_merged_in_the_local_order(galleries: tuple[NodeGallery, RayGallery]) -> None:
    local, sharded = galleries
    twin = population.people(SEED, [TWINS[0]])[0].record
    assert twin.dna is not None and twin.face is not None
    dna = sharded.search_dna(twin.dna, 5)
    # the subject and its twin: one profile under two references, on different shards or not
    assert [c.reference for c in dna[:2]] == sorted([twin.reference or "", f"GB-twin-{TWINS[0]}"])
    assert dna == local.search_dna(twin.dna, 5)
    face = sharded.search_face(twin.face, 2)
    assert face[0].score == face[1].score and face == local.search_face(twin.face, 2)


def test_a_dna_batch_is_one_call_per_shard_and_equal(
    galleries: tuple[NodeGallery, RayGallery],
) -> None:
    local, sharded = galleries
    profiles = [p.dna for p in PROBES if p.dna is not None]
    assert sharded.search_dna_many(profiles, 10) == local.search_dna_many(profiles, 10)


def test_writes_go_to_the_owning_shard_and_searches_follow(cluster: None) -> None:
    records = _records()[:12]
    local = _settings().build()
    sharded = RayGallery(_settings(), shards=2, name="routing", timeout_s=30.0)
    try:
        for reference, record in records:
            local.add(reference, record)
            sharded.add(reference, record)
        held = [ray.get([a.contains.remote(r) for a in sharded.actors]) for r, _ in records]
        assert held == [[shard_of(r, 2) == i for i in range(2)] for r, _ in records]
        assert len(sharded) == len(local) == 12
        # update: subject 1's reference now holds subject 2's biometrics; remove subject 3's
        (ref1, _), (_, rec2), (ref3, _) = records[1], records[2], records[3]
        for gallery in (local, sharded):
            gallery.add(ref1, rec2)
            assert gallery.remove(ref3) and not gallery.remove(ref3)
        assert ref3 not in sharded and ref1 in sharded and len(sharded) == 11
        for probe in population.people(SEED, [1, 2, 3], capture=1):
            _assert_same(local, sharded, probe.record, 5)
    finally:
        sharded.close()


def _store_with(path: Path, records: list[tuple[str, PersonRecord]]) -> None:
    from exchange.gateway.state.store import Store

    store = Store.open(path)
    now = dt.datetime.now(dt.UTC)
    for reference, record in records:
        doc = json.dumps(uk_json.record_to_json(record))
        store.enrol_record(f"key-{reference}", reference, doc, now=now)
    store.close()


def test_a_killed_shard_gives_a_typed_error_never_a_no_hit_then_recovers(
    cluster: None, tmp_path: Path
) -> None:
    records = _records()[:20]
    db = tmp_path / "gateway.sqlite3"
    _store_with(db, records)
    local = _settings().build()
    for reference, record in records:
        local.add(reference, record)
    source = StoreShardSource(str(db))
    sharded = RayGallery(_settings(), shards=2, name="failure", source=source, timeout_s=30.0)
    probes = [p.record for p in population.people(SEED, [0, 1, 2, 5, 8, 13], capture=1)]
    try:
        sharded.fill(tmp_path / "indexes", source.version())  # each shard rebuilt its share
        for probe in probes:
            _assert_same(local, sharded, probe, 5)
        # A restarting shard (a new worker process importing numpy and FAISS, then its
        # rebuild) takes far longer than this; a loaded machine may make the live one late
        # too, which must equally give the typed error.
        sharded.timeout_s = 0.05
        ray.kill(sharded.actors[0], no_restart=False)
        outages, answers = 0, 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (outages == 0 or answers < len(probes)):
            probe = probes[answers % len(probes)]
            assert probe.dna is not None
            try:
                found = sharded.search_dna(probe.dna, 5)
            except GalleryUnavailable as exc:
                outages += 1
                down = [s.shard for s in exc.shards if s.status == "down"]
                assert down and all(f"shard {i} of 2" in exc.message for i in down)
                continue
            assert found == local.search_dna(probe.dna, 5)  # a full answer, never a partial one
            answers += 1
        assert outages > 0, "the killed shard was never seen down"
        assert answers == len(probes), "the shard did not come back within 60 s"
        sharded.timeout_s = 30.0
        statuses = sharded.shard_statuses()
        assert [(s.status, s.records) for s in statuses] == [
            ("up", sum(shard_of(r, 2) == i for r, _ in records)) for i in range(2)
        ]
        for probe in probes:  # the restarted shard rebuilt its share from SQLite
            _assert_same(local, sharded, probe, 5)
    finally:
        sharded.close()


def _dna_search(sender: str, receiver: str, probe: PersonRecord, message_id: str) -> bytes:
    out = Outbound(
        message_id=message_id,
        correlation_id=f"c-{message_id}",
        timestamp=dt.datetime.now(dt.UTC),
        sender=sender,
        receiver=receiver,
        message="dna-search",
    )
    return prum_xml.encode(record_to_envelope(probe, out))


def test_a_gateway_on_ray_answers_partners_and_refuses_typed_while_a_shard_is_down(
    cluster: None, tmp_path: Path
) -> None:
    gallery = GalleryConfig(backend="ray", address="local", shards=2, shard_timeout_s=30.0)
    cfg = replace(
        partner_node_config("DE", tmp_path / "DE"),
        gallery=gallery,
        partner_listener=Listener("127.0.0.1", 0),
        client=Listener("127.0.0.1", 0),
        open_client_api=True,
    )
    people = population.people(SEED, list(range(8)), "DE", with_fingerprints=False)
    (probe,) = population.people(SEED, [4], "DE", capture=1, with_fingerprints=False)

    async def main() -> None:
        gw = Gateway(cfg, [])
        node = await gw.start()
        try:
            assert node.gallery.remote
            for person in people:
                node.enrol(person.record.identifiers.pnc_id or "", person.record)
            url = f"http://127.0.0.1:{gw.partner_port}/prum/v1/messages"
            ready = f"http://127.0.0.1:{gw.client_port}/readyz"
            xml = {"Content-Type": "application/xml"}
            async with aiohttp.ClientSession() as s:
                async with s.post(url, data=_dna_search("GB", "DE", probe.record, "m-1")) as r:
                    assert r.status == 200
                    reply = prum_xml.decode(await r.read()).body
                assert isinstance(reply, SearchReply) and reply.hit
                assert reply.results[0].candidates[0].reference == people[4].record.reference

                owner = shard_of(people[4].record.reference or "", 2)
                assert isinstance(node.gallery, RayGallery)
                newcomer = next(
                    p.record
                    for p in population.people(SEED, list(range(100, 140)), "DE")
                    if shard_of(step1_reference(p.record), 2) == owner
                )
                newcomer_json = uk_json.record_to_json(newcomer)
                newcomer_pnc = newcomer.identifiers.pnc_id or ""
                records = f"http://127.0.0.1:{gw.client_port}/v1/records"
                node.gallery.timeout_s = 0.2  # far less than a restart takes (see above)
                ray.kill(node.gallery.actors[owner], no_restart=False)
                # Until the shard is back: typed 503s, or full answers (a hit), never a no-hit.
                outages, recovered, n = 0, False, 1
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not (outages and recovered):
                    n += 1
                    data = _dna_search("GB", "DE", probe.record, f"m-{n}")
                    async with s.post(url, data=data, headers=xml) as r:
                        status, body = r.status, prum_xml.decode(await r.read()).body
                    if status == 503:
                        assert r.headers["Retry-After"] == "5"
                        assert isinstance(body, ErrorBody)
                        assert body.code is ErrorCode.TEMPORARILY_UNAVAILABLE
                        assert "shard" in body.message and "of 2" in body.message
                        outages += 1
                        if outages == 1:  # an enrolment meanwhile: refused, nothing stored
                            async with s.post(records, json=newcomer_json) as r:
                                refused = await r.json()
                                enrol_status = r.status
                            if enrol_status == 503:
                                assert refused["error"]["code"] == "gallery_unavailable"
                                assert "of 2" in refused["error"]["message"]
                                assert node.store.get_record(newcomer_pnc) is None
                            else:  # the shard was back already
                                assert enrol_status == 201
                        async with s.get(ready) as r:
                            shards = (await r.json())["gallery_shards"]
                        assert {x["status"] for x in shards} <= {"up", "down"}
                        await asyncio.sleep(0.2)
                        continue
                    assert status == 200 and isinstance(body, SearchReply) and body.hit
                    recovered = outages > 0
                assert outages and recovered, (outages, recovered)
                node.gallery.timeout_s = 30.0
                async with s.get(ready) as r:
                    ready_now = await r.json()
                assert ready_now["status"] == "ready"
                enrolled = node.store.get_record(newcomer_pnc) is not None
                assert ready_now["gallery_records"] == len(people) + enrolled
                assert [x["status"] for x in ready_now["gallery_shards"]] == ["up", "up"]
        finally:
            await gw.stop()

    asyncio.run(main())


def test_bench_match_on_ray_reports_each_shard_count_beside_local(
    cluster: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import match as bench_match

    argv = ["--backend", "ray", "--shards", "1,2", "--ray-size", "30", "--queries", "5"]
    assert bench_match.main([*argv, "--clients", "2", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "match-ray.json").read_text())
    rows = report["rows"]
    runs = [(r["backend"], r["shards"]) for r in rows[::3]]
    assert runs == [("local", 0), ("ray", 1), ("ray", 2)]
    assert {r["modality"] for r in rows} == {"dna", "face", "fingerprint"}
    for row in rows[3:]:
        assert row["identical"] == "yes" and row["differing_probes"] == 0
        assert row["qps"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0 and row["merge_us"] > 0
        assert row["bytes_per_template"] > 0
    assert capsys.readouterr().out.rstrip().endswith("identical: yes")


def test_a_gateway_on_ray_saves_each_shard_and_starts_again_from_the_files(
    cluster: None, tmp_path: Path
) -> None:
    import structlog

    from exchange.gateway.app import running_node
    from exchange.gateway.state.store import Store

    cfg = replace(
        partner_node_config("DE", tmp_path / "DE"),
        gallery=GalleryConfig(backend="ray", address="local", shards=2, shard_timeout_s=30.0),
    )
    people = population.people(SEED, list(range(6)), "DE", with_fingerprints=False)
    (probe,) = population.people(SEED, [2], "DE", capture=1, with_fingerprints=False)

    async def run(enrol: bool) -> tuple[list[str], list[str]]:
        with structlog.testing.capture_logs() as logs:
            async with running_node(cfg) as node:
                if enrol:
                    for person in people:
                        node.enrol(person.record.identifiers.pnc_id or "", person.record)
                assert probe.record.face is not None
                found = await asyncio.to_thread(node.gallery.search_face, probe.record.face, 3)
        sources = [str(e["source"]) for e in logs if e["event"] == "gallery_loaded"]
        return sources, [c.reference for c in found]

    asyncio.run(run(enrol=True))  # a clean stop: every shard writes its files
    store = Store.open(tmp_path / "DE" / "gateway.sqlite3")
    version = str(store.gallery_version())
    store.close()
    for shard in range(2):
        stamp = tmp_path / "DE" / "indexes" / f"shard-{shard}" / "references.json"
        assert json.loads(stamp.read_text())["version"] == version
    sources, found = asyncio.run(run(enrol=False))  # new shard actors, from the files
    assert sources == ["index files"]
    assert found[0] == people[2].record.reference
