"""The UK gallery's index files: a cache of the matchers' indexes, rebuilt from SQLite at will.

SQLite is the source of truth (DESIGN.md §5); the FAISS and DNA index files in
`data_dir/indexes` only save a rebuild at start. They are stamped with the store's gallery
version and loaded only when the stamp is current; missing, broken or stale files mean a
rebuild from SQLite. They are written at a clean stop and, while running, every
`index_save_interval_s` when the gallery changed, aside and then swapped in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

from exchange.codecs import uk_json
from exchange.codecs.errors import CodecError
from exchange.gallery import Gallery, GalleryError, GalleryUnavailable
from exchange.gallery_ray import shard_of
from exchange.gateway.node import Node
from exchange.gateway.state.store import Store
from exchange.model import PersonRecord
from matchers.errors import MatcherError

# What a save may meet: a disk error, an index that cannot be written, a shard that is down.
SAVE_FAILURES = (OSError, MatcherError, GalleryUnavailable)


@dataclass(frozen=True, slots=True)
class StoreShardSource:
    """A Ray shard's share of the UK records, read from the gateway's SQLite file by path
    (`exchange.gallery_ray.ShardSource`): what a restarted shard rebuilds itself from. The
    shard's node must reach the file (the gateway's machine, or storage shared with it)."""

    path: str

    def version(self) -> str:
        store = Store.open(self.path)
        try:
            return str(store.gallery_version())
        finally:
            store.close()

    def records(self, shard: int, shards: int) -> Iterator[tuple[str, PersonRecord]]:
        store = Store.open(self.path)
        log = structlog.get_logger()
        try:
            for row in store.iter_records():
                if shard_of(row.reference, shards) != shard:
                    continue
                try:
                    yield row.reference, uk_json.record_from_json(json.loads(row.record_json))
                except CodecError as exc:  # stored before a codec check, as `rebuild_gallery`
                    log.warning("gallery_record_skipped", reference=row.reference, reason=str(exc))
        finally:
            store.close()


def rebuild_gallery(store: Store, gallery: Gallery) -> int:
    """Load every enrolled record into the matchers (SQLite is the source of truth)."""
    n = 0
    log = structlog.get_logger()
    for row in store.iter_records():
        try:
            gallery.add(row.reference, uk_json.record_from_json(json.loads(row.record_json)))
            n += 1
        except (GalleryError, CodecError) as exc:  # CodecError: stored before a codec check
            log.warning("gallery_record_skipped", reference=row.reference, reason=str(exc))
    return n


def write_index_files(gallery: Gallery, directory: Path, version: str) -> None:
    """Write the galleries' files beside `directory`, then swap them in.

    A save that dies half-way leaves the previous complete set in place (or, for the instant
    between the two renames, none: a rebuild from SQLite at the next start, never a mix).
    """
    fresh = directory.with_name(directory.name + ".new")
    old = directory.with_name(directory.name + ".old")
    for leftover in (fresh, old):
        shutil.rmtree(leftover, ignore_errors=True)
    gallery.save(fresh, version)
    if directory.exists():
        directory.rename(old)
    fresh.rename(directory)
    shutil.rmtree(old, ignore_errors=True)


def save_gallery(gallery: Gallery, store: Store, directory: Path) -> None:
    """Write the index files for a fast next start, stamped with the current version."""
    try:
        write_index_files(gallery, directory, str(store.gallery_version()))
    except SAVE_FAILURES as exc:  # a cache: losing it costs a rebuild, nothing else
        structlog.get_logger().warning("gallery_not_saved", reason=str(exc))


def save_ray_gallery(gallery: Gallery, directory: Path, version: str) -> None:
    """`save_gallery` for a sharded gallery, run off the event loop (the store's version is
    read by the caller, on the thread that owns the store)."""
    try:
        write_index_files(gallery, directory, version)
    except SAVE_FAILURES as exc:
        structlog.get_logger().warning("gallery_not_saved", reason=str(exc))


async def save_indexes_periodically(
    node: Node, directory: Path, interval_s: float, stop: asyncio.Event, saved: str | None
) -> None:
    """Every `interval_s`, save the index files if the gallery changed since the last save.

    So that a gateway killed after months (OOM, kill -9, power) restarts from recent files
    rather than rebuilding every record from SQLite. The files are written by a worker
    thread while searches go on (they only read the galleries); enrolments and erasures
    wait on `node.gallery_writes` meanwhile, so the files and their version stamp agree.
    Setting `stop` ends it after any save under way has finished (a thread cannot be
    cancelled half-way through a file). `saved`: the version of the files on disk (None when
    the gallery was rebuilt from SQLite: the first tick saves it).
    """
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
        if stop.is_set():
            return
        async with node.gallery_writes:
            version = str(node.store.gallery_version())
            if version == saved:
                continue
            try:
                await asyncio.to_thread(write_index_files, node.gallery, directory, version)
            except SAVE_FAILURES as exc:
                node.log.warning("gallery_not_saved", reason=str(exc))
                continue
        saved = version
        if node.gallery.remote:  # counting asks every shard: not from the event loop
            node.log.info("gallery_saved", version=version)
        else:
            node.log.info("gallery_saved", version=version, records=len(node.gallery))
