"""The gateway's shared state: one `Node` per running gateway, held by both web apps.

What the client API, the partner API and the fan-out all need, and nothing each one holds
alone: the store with its group commit and audit log, the UK gallery and the responder over
it, the outbound link to each partner, metrics, client authentication, and the searches
running in the background. It is made by the `node` cleanup context
(`exchange.gateway.resources`) out of resources that each have a cleanup context and an
`AppKey` of their own, and reached through the `NODE` AppKey (STYLE.md §7).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from exchange.codecs import uk_json
from exchange.extraction_pool import ExtractionPool, JobCrashed, PoolFull
from exchange.face_models import DLIB_MODEL, extract_job
from exchange.gallery import Gallery
from exchange.gateway.auth import Authenticator
from exchange.gateway.config import GatewayConfig
from exchange.gateway.metrics import Metrics
from exchange.gateway.outbound.send import PartnerLink
from exchange.gateway.search_tasks import SearchTasks
from exchange.gateway.state.audit import AuditLog
from exchange.gateway.state.group_commit import GroupCommit
from exchange.gateway.state.store import RecordRow, Store
from exchange.model import CoreData, PersonRecord
from exchange.records import core_data_of, step1_reference
from exchange.responder import Responder
from matchers.face_image import FaceExtraction, FaceImageError


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(kw_only=True)
class Node:
    """One gateway's shared state (the parts both listeners and the fan-out use)."""

    config: GatewayConfig
    store: Store
    writes: GroupCommit  # hot-path writes, many per commit
    audit: AuditLog
    gallery: Gallery  # embedded, or sharded over Ray (`exchange.gallery_ray`)
    responder: Responder
    metrics: Metrics
    links: Mapping[str, PartnerLink]  # partner id -> its client (and DNA batcher)
    auth: Authenticator
    clock: Callable[[], dt.datetime] = utc_now
    log: structlog.typing.FilteringBoundLogger = field(default_factory=structlog.get_logger)
    searches: SearchTasks = field(default_factory=SearchTasks)
    gallery_writes: asyncio.Lock = field(default_factory=asyncio.Lock)  # held by index saves
    ready: bool = False  # set once searches are resumed, cleared when stopping
    # (client id, Idempotency-Key) of client requests being answered (`client.idempotency`)
    keys_in_flight: set[tuple[str, str]] = field(default_factory=set)
    # Where face templates are extracted from images, off the event loop (None: not here).
    extraction: ExtractionPool | None = None

    async def extract_face(self, data: bytes) -> FaceExtraction:
        """Extract the node's face template from an encoded image, in the process pool."""
        if self.extraction is None:
            raise PoolFull(60.0, "this node has no extraction pool")
        model = self.config.face_models[DLIB_MODEL]
        try:
            return await self.extraction.run(extract_job, data, model)
        except JobCrashed as exc:  # a damaged image the native decoder cannot survive
            raise FaceImageError("the image crashed the decoder (damaged?)") from exc

    def core_data(self, reference: str) -> CoreData | None:
        row = self.store.record_by_reference(reference)
        if row is None:
            return None
        return core_data_of(uk_json.record_from_json(json.loads(row.record_json)))

    def enrol(
        self,
        key: str,
        record: PersonRecord,
        in_same_commit: Callable[[str, int], None] | None = None,
        *,
        in_gallery: bool = False,
    ) -> tuple[str, int]:
        """Enrol a record into SQLite and the gallery; returns its reference and the version.

        The gallery is written first (it refuses unsearchable profiles); if SQLite then
        refuses, the gallery entry is taken back, so the two never disagree.
        `in_same_commit(reference, version)` writes more in the enrolment's transaction
        (the request's idempotency key); if it fails, nothing is enrolled. `in_gallery`: the
        caller has added the record to the gallery already (a remote gallery, called off
        the event loop).
        """
        reference = step1_reference(record)
        old = self.store.get_record(key)
        if not in_gallery:
            self.gallery.add(reference, record)
        try:
            doc = json.dumps(uk_json.record_to_json(record))
            with self.store.transaction():
                version = self.store.enrol_record(key, reference, doc, now=self.clock())
                if in_same_commit is not None:
                    in_same_commit(reference, version)
        except Exception:
            self.gallery.remove(reference)
            raise
        if old is not None and old.reference != reference:
            self.gallery.remove(old.reference)
        return reference, version

    def erase(self, key: str, *, in_gallery: bool = True) -> RecordRow | None:
        """Erase a record from the gallery and SQLite; a later follow-up finds nothing.

        The gallery first: if it cannot take the record out now (a shard is down:
        `GalleryUnavailable`), nothing is erased and the caller may try again, so a
        partner is never answered from a record the store no longer holds. If SQLite then
        refuses, the record goes back into the gallery. `in_gallery=False`: the caller has
        taken it out of the gallery already (a remote gallery, called off the event loop).
        """
        row = self.store.get_record(key)
        if row is None:
            return None
        if in_gallery:
            self.gallery.remove(row.reference)
        try:
            deleted = self.store.delete_record(key)
        except Exception:
            self.gallery.add(row.reference, uk_json.record_from_json(json.loads(row.record_json)))
            raise
        return row if deleted else None


NODE: web.AppKey[Node] = web.AppKey("node", Node)
