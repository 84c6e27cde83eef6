"""The gateway's shared state: one `Node` per running gateway, held by both web apps.

Built and torn down by `app.node_context` (an aiohttp cleanup context); reached through the
`NODE` AppKey (STYLE.md §7). It owns the SQLite store and audit log, the UK gallery and the
responder over it, one outbound client per partner, metrics, and the running search tasks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from exchange.codecs import uk_json
from exchange.gallery import NodeGallery
from exchange.gateway.auth import Authenticator
from exchange.gateway.config import GatewayConfig
from exchange.gateway.metrics import Metrics
from exchange.gateway.outbound.dna_batch import DnaBatcher
from exchange.gateway.outbound.http_client import HttpClient
from exchange.gateway.outbound.partner_client import PartnerClient
from exchange.gateway.state.audit import AuditEntry, AuditLog
from exchange.gateway.state.checkpoint import CheckpointStats
from exchange.gateway.state.group_commit import GroupCommit
from exchange.gateway.state.store import QuotaDirection, RecordRow, Store
from exchange.model import CoreData, PersonRecord
from exchange.records import core_data_of, step1_reference
from exchange.responder import Responder


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class InboundLedger:
    """The responder's memory, kept in the gateway's SQLite store (inbound direction)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def take_quota(
        self, partner: str, search_type: str, day: dt.date, limit: int, count: int = 1
    ) -> bool:
        return self.store.take_quota(
            QuotaDirection.INBOUND, partner, search_type, day, limit, count
        )

    def record_released(
        self, sender: str, search_message_id: str, references: Sequence[str], *, at: dt.datetime
    ) -> None:
        self.store.record_released(sender, search_message_id, references, at=at)

    def released_to(
        self, sender: str, reference: str, *, now: dt.datetime, within: dt.timedelta
    ) -> bool:
        return self.store.released_to(sender, reference, now=now, within=within)


@dataclass
class Node:
    config: GatewayConfig
    store: Store
    audit: AuditLog
    gallery: NodeGallery
    responder: Responder
    metrics: Metrics
    http: HttpClient  # partner messages out
    clients: dict[str, PartnerClient]
    auth: Authenticator
    clock: Callable[[], dt.datetime] = utc_now
    log: structlog.typing.FilteringBoundLogger = field(default_factory=structlog.get_logger)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    done: dict[str, asyncio.Event] = field(default_factory=dict)
    ready: bool = False
    inbound_in_progress: int = 0  # partner messages being read or answered now
    writes: GroupCommit = field(init=False)  # hot-path writes, many per commit
    batchers: dict[str, DnaBatcher] = field(default_factory=dict)  # Prüm partners searched for DNA
    gallery_writes: asyncio.Lock = field(default_factory=asyncio.Lock)  # held by index saves
    checkpoints: CheckpointStats = field(default_factory=CheckpointStats)  # its WAL thread's

    def __post_init__(self) -> None:
        self.writes = GroupCommit(self.store)

    def record_audit(self, entry: AuditEntry) -> None:
        self.audit.append(entry)

    def core_data(self, reference: str) -> CoreData | None:
        row = self.store.record_by_reference(reference)
        if row is None:
            return None
        return core_data_of(uk_json.record_from_json(json.loads(row.record_json)))

    def enrol(self, key: str, record: PersonRecord) -> tuple[str, int]:
        """Enrol a record into SQLite and the gallery; returns its reference and the version.

        The gallery is written first (it refuses unsearchable profiles); if SQLite then
        refuses, the gallery entry is taken back, so the two never disagree.
        """
        reference = step1_reference(record)
        old = self.store.get_record(key)
        self.gallery.add(reference, record)
        try:
            doc = json.dumps(uk_json.record_to_json(record))
            version = self.store.enrol_record(key, reference, doc, now=self.clock())
        except Exception:
            self.gallery.remove(reference)
            raise
        if old is not None and old.reference != reference:
            self.gallery.remove(old.reference)
        return reference, version

    def erase(self, key: str) -> RecordRow | None:
        """Erase a record from SQLite and the gallery; a later follow-up finds nothing."""
        row = self.store.get_record(key)
        if row is None or not self.store.delete_record(key):
            return None
        self.gallery.remove(row.reference)
        return row

    def search_event(self, search_id: str) -> asyncio.Event:
        """What a `?wait=` waits on: set when the search has ended (`search_ended`)."""
        if search_id not in self.done:
            self.done[search_id] = asyncio.Event()
        return self.done[search_id]

    def search_ended(self, search_id: str) -> None:
        """Wake the search's waiters and forget its event, called after its end is committed.

        A waiter takes the event only after reading the search as pending, with no await in
        between, so none can take it after this (it would read the search as ended). Without
        the removal one event per search would stay for the life of the process.
        """
        event = self.done.pop(search_id, None)
        if event is not None:
            event.set()


NODE: web.AppKey[Node] = web.AppKey("node", Node)
