"""Index files are a cache of SQLite: loaded when their stamp is the current gallery version,
rebuilt from SQLite when missing or stale."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import structlog

from exchange.codecs import uk_json
from exchange.gateway.app import running_node
from exchange.gateway.config import GalleryConfig, GatewayConfig, Listener
from exchange.gateway.state.store import Store
from exchange.records import step1_reference
from mock_partners import population

SEED = 21


def _config(tmp_path: Path) -> GatewayConfig:
    return GatewayConfig(
        data_dir=tmp_path,
        feature_model=population.FEATURE_MODEL,
        open_client_api=True,
        client=Listener(port=0),
        partner_listener=Listener(port=0),
    )


def _start(tmp_path: Path, gallery: GalleryConfig | None = None) -> tuple[str, int, list[str]]:
    """Start and stop a node; returns where its gallery came from, its size, and whether a
    second capture of subject 2 is found by face."""
    config = _config(tmp_path)
    if gallery is not None:
        config = replace(config, gallery=gallery)

    async def main() -> tuple[str, int, list[str]]:
        with structlog.testing.capture_logs() as logs:
            async with running_node(config) as node:
                assert (node.gallery.face.spec, node.gallery.face.spec_params) == (
                    config.gallery.face_index,
                    config.gallery.face_search,
                )
                assert node.gallery.dna.microvariants == config.gallery.dna_microvariants
                probe = population.person(SEED, 2, capture=1).record
                assert probe.face is not None
                found = [c.reference for c in node.gallery.search_face(probe.face, 3)]
                size = len(node.gallery)
        (event,) = [e for e in logs if e["event"] == "gallery_loaded"]
        return str(event["source"]), size, found

    return asyncio.run(main())


def test_index_files_are_used_when_current_and_rebuilt_when_stale(tmp_path: Path) -> None:
    people = population.people(SEED, list(range(6)))

    async def enrol() -> None:
        async with running_node(_config(tmp_path)) as node:
            for p in people[:5]:
                node.enrol(p.record.identifiers.pnc_id or "", p.record)

    asyncio.run(enrol())  # stops cleanly: index files written with the current version
    stamp = json.loads((tmp_path / "indexes" / "references.json").read_text())["version"]
    store = Store.open(tmp_path / "gateway.sqlite3")
    assert stamp == str(store.gallery_version())
    store.close()

    source, size, found = _start(tmp_path)
    assert (source, size) == ("index files", 5)
    assert found[0] == step1_reference(people[2].record)

    # The source of truth changes while the gateway is down (as after a crash): stale files.
    store = Store.open(tmp_path / "gateway.sqlite3")
    sixth = people[5].record
    store.enrol_record(
        sixth.identifiers.pnc_id or "",
        step1_reference(sixth),
        json.dumps(uk_json.record_to_json(sixth)),
        now=dt.datetime.now(dt.UTC),
    )
    store.close()
    source, size, found = _start(tmp_path)
    assert (source, size) == ("sqlite", 6)
    assert found[0] == step1_reference(people[2].record)

    # The rebuilt gallery was saved at the clean stop: the next start uses the files again.
    assert _start(tmp_path)[:2] == ("index files", 6)

    # A broken file under a current stamp is a cache miss, never a failure.
    (tmp_path / "indexes" / "dna.npz").write_bytes(b"not a numpy file")
    source, size, found = _start(tmp_path)
    assert (source, size) == ("sqlite", 6)
    assert found[0] == step1_reference(people[2].record)


def test_index_files_are_saved_while_running_after_the_gallery_changes(tmp_path: Path) -> None:
    """A gateway killed after a while restarts from recent files, not a full rebuild."""
    people = population.people(SEED, list(range(3)))
    stamp_file = tmp_path / "indexes" / "references.json"

    def stamp() -> str | None:
        try:
            return str(json.loads(stamp_file.read_text())["version"])
        except (OSError, ValueError):
            return None

    async def main() -> tuple[str | None, str]:
        config = replace(_config(tmp_path), index_save_interval_s=0.05)
        async with running_node(config) as node:
            for p in people:
                node.enrol(p.record.identifiers.pnc_id or "", p.record)
            current = str(node.store.gallery_version())
            for _ in range(200):  # bounded: at most ~10 s
                if stamp() == current:
                    break
                await asyncio.sleep(0.05)
            seen_while_running = stamp()
        return seen_while_running, current

    seen, current = asyncio.run(main())
    assert seen == current
    assert not (tmp_path / "indexes.new").exists() and not (tmp_path / "indexes.old").exists()
    assert _start(tmp_path)[:2] == ("index files", 3)


def test_index_files_saved_under_another_face_index_are_rebuilt_not_used(tmp_path: Path) -> None:
    """[gallery] face_index / face_search changed between runs: what runs is what is set."""
    people = population.people(SEED, list(range(4)))

    async def enrol() -> None:
        async with running_node(_config(tmp_path)) as node:  # face_index = "auto"
            for p in people:
                node.enrol(p.record.identifiers.pnc_id or "", p.record)

    asyncio.run(enrol())
    hnsw = GalleryConfig(face_index="HNSW32", face_search="efSearch=64")
    source, size, found = _start(tmp_path, hnsw)
    assert (source, size) == ("sqlite", 4)  # files of the auto (Flat) gallery: not used
    assert found[0] == step1_reference(people[2].record)
    assert _start(tmp_path, hnsw)[:2] == ("index files", 4)  # saved under HNSW32 at the stop
    assert _start(tmp_path, replace(hnsw, face_search="efSearch=128"))[:2] == ("sqlite", 4)
    assert _start(tmp_path)[:2] == ("sqlite", 4)  # and back to auto


def test_index_files_saved_under_another_dna_reading_are_rebuilt_not_used(
    tmp_path: Path,
) -> None:
    """[gallery] dna_microvariants changed between runs: the DNA keys are encoded again."""
    people = population.people(SEED, list(range(4)))

    async def enrol() -> None:
        async with running_node(_config(tmp_path)) as node:  # dna_microvariants = "annex"
            assert node.gallery.dna.microvariants == "annex"
            for p in people:
                node.enrol(p.record.identifiers.pnc_id or "", p.record)

    asyncio.run(enrol())
    repeat = GalleryConfig(dna_microvariants="repeat")
    assert _start(tmp_path, repeat)[:2] == ("sqlite", 4)
    assert _start(tmp_path, repeat)[:2] == ("index files", 4)
    assert _start(tmp_path)[:2] == ("sqlite", 4)  # and back to the annex
