"""Every resource of a gateway node, each opened and closed by a cleanup context of its own.

aiohttp's own habit (STYLE.md §7): a resource that opens and closes is an async generator in
`app.cleanup_ctx`, set up before the first request and closed after the last, in reverse
order, and held under its own typed `AppKey`. `install(app, config)` appends them in the order
they depend on each other:

1. `HTTP`: the lean HTTP client partner messages go out through (closed last, so searches
   still draining at a stop can finish); a node with [tls] and a plain http:// partner URL
   not marked `insecure` does not start (`config.plain_http_problem`);
2. `STORE`: the SQLite store (WAL), its schema migrated;
3. `CHECKPOINTS`: the thread that checkpoints the WAL off the event loop, and its figures;
4. `GALLERY`: the UK gallery, from its index files when current, else rebuilt from SQLite;
   saved to its files at a clean stop (one face gallery per feature model); embedded, or
   with `[gallery] backend = "ray"` sharded over Ray actors (`exchange.gallery_ray`),
   each shard filling itself from its files or its share of SQLite;
   `POOL`: the process pool face (and fingerprint) templates are extracted in, `[extraction]`
   workers and queue (`exchange.extraction_pool`); its processes start at the first job;
5. `NODE`: the shared state over them (`exchange.gateway.node`), with a link per partner
   (client, breaker, DNA batcher; the batchers stopped at close);
6. the node's life: searches a crash left pending resumed, the periodic index saves and
   housekeeping, readiness; at close, readiness off, those stopped, running searches given
   `GRACE_S` to finish.

The partner listener's app carries them (every node has one); the client listener's app, and
other apps over the same node (the mock Interpol node), take the node from it.
`running_node` runs them without a listener, for tools and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from exchange.extraction_pool import ExtractionPool
from exchange.gallery import Gallery, NodeGallery, Thresholds
from exchange.gateway.auth import Authenticator
from exchange.gateway.config import ConfigError, GatewayConfig, PartnerConfig, plain_http_problem
from exchange.gateway.housekeeping import housekeep_periodically
from exchange.gateway.inbound.ledger import InboundLedger
from exchange.gateway.index_files import (
    StoreShardSource,
    rebuild_gallery,
    save_gallery,
    save_indexes_periodically,
    save_ray_gallery,
)
from exchange.gateway.metrics import Metrics, standard_metrics
from exchange.gateway.node import NODE, Node, utc_now
from exchange.gateway.outbound.dna_batch import DnaBatcher, NoteBatch
from exchange.gateway.outbound.fanout import run_search
from exchange.gateway.outbound.http_client import HttpClient
from exchange.gateway.outbound.partner_client import PartnerClient
from exchange.gateway.outbound.send import PartnerLink
from exchange.gateway.search_tasks import SearchTasks
from exchange.gateway.state.audit import AuditEntry, AuditLog
from exchange.gateway.state.checkpoint import SAFETY_NET_PAGES, CheckpointStats, WalCheckpointer
from exchange.gateway.state.group_commit import GroupCommit
from exchange.gateway.state.store import Store
from exchange.model import Modality
from exchange.pki import ssl_client_context
from exchange.responder import NodeRules, Responder
from matchers import face_image

if TYPE_CHECKING:
    from exchange.gallery_ray import RayGallery

GRACE_S = 10.0

CONFIG: web.AppKey[GatewayConfig] = web.AppKey("config", GatewayConfig)
HTTP: web.AppKey[HttpClient] = web.AppKey("http", HttpClient)
STORE: web.AppKey[Store] = web.AppKey("store", Store)
CHECKPOINTS: web.AppKey[CheckpointStats] = web.AppKey("checkpoints", CheckpointStats)
GALLERY: web.AppKey[Gallery] = web.AppKey("gallery")
POOL: web.AppKey[ExtractionPool] = web.AppKey("extraction_pool", ExtractionPool)


def store_path(config: GatewayConfig) -> Path:
    return config.data_dir / "gateway.sqlite3"


def index_dir(config: GatewayConfig) -> Path:
    return config.data_dir / "indexes"


async def http_client(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    problem = plain_http_problem(config)
    if problem is not None:
        raise ConfigError(problem)
    for p in config.partners:
        if config.tls is not None and p.insecure and p.url.lower().startswith("http://"):
            structlog.get_logger().warning(
                "partner_insecure", partner=p.id, reason="plain http under [tls]: local tests only"
            )
    client_ssl = ssl_client_context(config.tls) if config.tls is not None else None
    app[HTTP] = HttpClient(client_ssl, limit=config.max_in_flight)
    yield
    await app[HTTP].close()


async def store(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    if config.client is not None and not config.clients and not config.open_client_api:
        raise ConfigError("no client tokens configured and open_client_api is not set")
    config.data_dir.mkdir(parents=True, exist_ok=True)
    app[STORE] = Store.open(store_path(config))
    try:
        app[STORE].checkpoint_past(SAFETY_NET_PAGES)
        yield
    finally:
        app[STORE].close()


async def checkpoints(app: web.Application) -> AsyncIterator[None]:
    stats = CheckpointStats()
    checkpointer = WalCheckpointer(store_path(app[CONFIG]), stats=stats)
    app[CHECKPOINTS] = stats
    checkpointer.start()
    try:
        yield
    finally:
        checkpointer.stop()


async def gallery(app: web.Application) -> AsyncIterator[None]:
    """The UK gallery: from its index files when their stamp is current, else from SQLite."""
    config = app[CONFIG]
    thresholds = {
        k: v
        for k, v in config.thresholds.items()
        if k in {"face", "fingerprint", "fingerprint_bozorth3"}
    }
    if config.gallery.backend == "ray":
        ray_gallery = await asyncio.to_thread(_ray_gallery, config, Thresholds(**thresholds))
        app[GALLERY] = ray_gallery
        try:
            yield
            version = str(app[STORE].gallery_version())  # the store: this thread only
            await asyncio.to_thread(save_ray_gallery, ray_gallery, index_dir(config), version)
        finally:
            await asyncio.to_thread(ray_gallery.close)
        return
    uk = NodeGallery(
        feature_model=config.feature_model,
        face_dim=config.face_dim,
        thresholds=Thresholds(**thresholds),
        face_index=config.gallery.face_index,
        face_search=config.gallery.face_search,
        dna_microvariants=config.gallery.dna_microvariants,
        face_models={m: c.threshold for m, c in config.face_models.items()},
    )
    app[GALLERY] = uk
    yield
    save_gallery(uk, app[STORE], index_dir(config))


async def extraction_pool(app: web.Application) -> AsyncIterator[None]:
    """The extraction processes: started at the first job, each loading its models once."""
    config = app[CONFIG].extraction
    pool = ExtractionPool(config.workers, config.queue, initializer=face_image.warm_up)
    app[POOL] = pool
    try:
        yield
    finally:
        await asyncio.get_running_loop().run_in_executor(None, pool.close)


def shard_name(config: GatewayConfig) -> str:
    """The shard actors' name prefix: one set per store and gallery configuration, so that
    gateway processes over the same SQLite file with the same `[gallery]` share their
    shards, while another node, or the same one configured otherwise (more shards, another
    face index), gets shards of its own rather than ones built under other settings."""
    g = config.gallery
    what = (
        f"{store_path(config).resolve()}|{g.shards}|{g.face_index}|{g.face_search}"
        f"|{g.dna_microvariants}|{config.feature_model}|{config.face_dim}"
        f"|{sorted(config.thresholds.items())}"
        f"|{sorted((m, c.threshold) for m, c in config.face_models.items())}"
    )
    digest = hashlib.blake2b(what.encode(), digest_size=6).hexdigest()
    return f"gallery-{config.node_id}-{g.shards}x-{digest}"


def _ray_gallery(config: GatewayConfig, thresholds: Thresholds) -> RayGallery:
    """Join (or start) the Ray cluster and create or find this node's shard actors."""
    from exchange.gallery_ray import GallerySettings, RayGallery, connect  # Ray: optional

    try:
        connect(config.gallery.address)
    except (ConnectionError, RuntimeError, ValueError) as exc:  # ray.init's refusals
        raise ConfigError(
            f"gallery.address: cannot join the Ray cluster at {config.gallery.address!r}: {exc}"
        ) from exc
    settings = GallerySettings(
        feature_model=config.feature_model,
        face_dim=config.face_dim,
        thresholds=thresholds,
        face_index=config.gallery.face_index,
        face_search=config.gallery.face_search,
        dna_microvariants=config.gallery.dna_microvariants,
        face_models=tuple((m, c.threshold) for m, c in config.face_models.items()),
    )
    return RayGallery(
        settings,
        shards=config.gallery.shards,
        name=shard_name(config),
        index_dir=index_dir(config),
        source=StoreShardSource(str(store_path(config))),
        timeout_s=config.gallery.shard_timeout_s,
        # On a cluster of its own the shards outlive a gateway process (the others use
        # them); a local cluster ends with this process anyway.
        detached=config.gallery.address != "local",
    )


async def _load_gallery(node: Node) -> str | None:
    """Fill the gallery; the version of the index files on disk (None: rebuilt from SQLite)."""
    version = str(node.store.gallery_version())
    if node.gallery.remote:  # each shard fills itself, from its files or its share of SQLite
        sources = await asyncio.to_thread(node.gallery.load_files, index_dir(node.config), version)
        source = "index files" if sources else "index files or sqlite, by shard"
        node.log.info("gallery_loaded", source=source, version=version)
        return version if sources else None
    if node.gallery.load_files(index_dir(node.config), version):
        node.log.info(
            "gallery_loaded", source="index files", records=len(node.gallery), version=version
        )
        return version
    loaded = rebuild_gallery(node.store, node.gallery)
    node.log.info("gallery_loaded", source="sqlite", records=loaded, version=version)
    return None


def _links(
    config: GatewayConfig,
    http: HttpClient,
    metrics: Metrics,
    writes: GroupCommit,
    audit: AuditLog,
    db: Store,
) -> dict[str, PartnerLink]:
    """Each partner's outbound client, and its DNA batcher where it batches."""
    links: dict[str, PartnerLink] = {}
    for p in config.partners:
        client = PartnerClient(p, http, metrics)
        batcher = None
        if p.dialect == "prum" and Modality.DNA in p.modalities and p.dna_batch_max > 1:
            batcher = DnaBatcher(
                p,
                client,
                node_id=config.node_id,
                clock=utc_now,
                note_batch=_batch_noter(p, writes, audit, db),
                metrics=metrics,
            )
        links[p.id] = PartnerLink(p, client, batcher)
    return links


def _batch_noter(
    partner: PartnerConfig, writes: GroupCommit, audit: AuditLog, db: Store
) -> NoteBatch:
    """Audit a batch and note the batch of each search it carries, in one commit."""

    async def note(message_id: str, sent: Sequence[AuditEntry], search_ids: Sequence[str]) -> None:
        def record() -> None:
            audit.append_many(sent)
            db.mark_batched(partner.id, message_id, search_ids)

        await writes.run(record)

    return note


async def node(app: web.Application) -> AsyncIterator[None]:
    config, db, uk = app[CONFIG], app[STORE], app[GALLERY]
    metrics = standard_metrics()
    writes = GroupCommit(db)
    audit = AuditLog(db)
    shared: list[Node] = []

    def capacities(sender: str) -> dict[str, int] | None:
        p = config.partner(sender)
        return None if p is None else dict(p.inbound_capacities)

    rules = NodeRules(
        node_id=config.node_id,
        modalities=frozenset({Modality.DNA, Modality.FACE, Modality.FINGERPRINT}),
        capacities=capacities,
        core_data=lambda ref: shared[0].core_data(ref),
        follow_up_window=dt.timedelta(seconds=config.follow_up_window_s),
    )
    app[NODE] = Node(
        config=config,
        store=db,
        writes=writes,
        audit=audit,
        gallery=uk,
        responder=Responder(rules, uk, InboundLedger(db)),
        metrics=metrics,
        links=_links(config, app[HTTP], metrics, writes, audit, db),
        auth=Authenticator(config.clients),
        searches=SearchTasks(config.max_searches_fanning_out),
        extraction=app[POOL],
    )
    shared.append(app[NODE])
    yield
    for link in app[NODE].links.values():
        if link.batcher is not None:
            await link.batcher.close()


async def lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Resume pending searches, run the periodic saves and housekeeping; drain at a stop."""
    n, config = app[NODE], app[CONFIG]
    if n.auth.open and config.client is not None:
        n.log.warning("client_auth_off", reason="no [[clients]] configured: the client API is open")
    on_disk = await _load_gallery(n)
    for row in n.store.pending_searches():
        n.searches.event(row.search_id)
        n.searches.start(run_search(n, row.search_id))
    stop = asyncio.Event()
    background = []
    if config.index_save_interval_s > 0:
        saver = save_indexes_periodically(
            n, index_dir(config), config.index_save_interval_s, stop, on_disk
        )
        background.append(asyncio.create_task(saver))
    if config.housekeeping_interval_s > 0:
        keeper = housekeep_periodically(n, config.housekeeping_interval_s, stop)
        background.append(asyncio.create_task(keeper))
    n.ready = True
    yield
    n.ready = False
    stop.set()
    for task in background:
        await task
    await n.searches.drain(GRACE_S)


def install(app: web.Application, config: GatewayConfig) -> None:
    """Give `app` a node's resources: opened at its start-up, closed at its clean-up."""
    app[CONFIG] = config
    app.cleanup_ctx.extend(
        [http_client, store, checkpoints, gallery, extraction_pool, node, lifecycle]
    )


@contextlib.asynccontextmanager
async def running_node(config: GatewayConfig) -> AsyncIterator[Node]:
    """A node with every resource open and no listener (tools, tests, the Interpol mock)."""
    app = web.Application()
    install(app, config)
    app.on_startup.freeze()  # as `web.AppRunner.setup` does: the contexts may still set keys
    try:
        await app.startup()
        app.freeze()
        yield app[NODE]
    finally:
        await app.cleanup()
