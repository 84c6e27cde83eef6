"""The gateway's app factory: two aiohttp applications over one shared `Node`.

The client API (JSON) and the partner API (Prüm XML) listen on separate ports, so the
network can expose each only where it belongs. `node_context` is the cleanup context that
opens and closes every resource (SQLite store, UK gallery rebuilt from it, HTTP session
for partners) and resumes searches a crash left pending; while it runs, the gallery's index
files are saved now and then (`save_indexes_periodically`). `Gateway` runs both apps and
shuts down gracefully: it stops accepting, lets in-flight searches finish within a grace
period, then closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path

import structlog
from aiohttp import typedefs, web

import schemas
from exchange import event_loop
from exchange.codecs import uk_json
from exchange.gallery import GalleryError, NodeGallery, Thresholds
from exchange.gateway.auth import Authenticator, AuthError
from exchange.gateway.client import api as client_api
from exchange.gateway.client.api import ApiError, start_search
from exchange.gateway.config import ConfigError, GatewayConfig, Listener
from exchange.gateway.inbound import partner_api
from exchange.gateway.metrics import standard_metrics
from exchange.gateway.node import NODE, InboundLedger, Node
from exchange.gateway.outbound.dna_batch import DnaBatcher
from exchange.gateway.outbound.http_client import HttpClient
from exchange.gateway.outbound.partner_client import PartnerClient
from exchange.gateway.state.audit import AuditLog
from exchange.gateway.state.checkpoint import SAFETY_NET_PAGES, WalCheckpointer
from exchange.gateway.state.store import Store
from exchange.model import Modality
from exchange.pki import NodeFiles, ssl_client_context, ssl_server_context
from exchange.responder import NodeRules, Responder
from matchers.errors import MatcherError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = typedefs.Middleware
MAX_CLIENT_BODY = 16 * 1024 * 1024
GRACE_S = 10.0


def _error(status: int, code: str, message: str, field: str | None) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message, "field": field}}, status=status
    )


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every refusal into `{error: {code, message, field}}`; never let a traceback out."""
    try:
        return await handler(request)
    except ApiError as exc:
        response = _error(exc.status, exc.code, exc.message, exc.field)
        if exc.status == 503:
            response.headers["Retry-After"] = "1"
        return response
    except AuthError as exc:
        response = _error(exc.status, exc.code, exc.message, None)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="prum-exchange"'
        return response
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "too_large", f"bodies are limited to {MAX_CLIENT_BODY} bytes", None)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason, None)
    except Exception:
        structlog.get_logger().exception("unhandled_error", path=request.path)
        return _error(500, "internal", "internal error; see the gateway log", None)


def rebuild_gallery(store: Store, gallery: NodeGallery) -> int:
    """Load every enrolled record into the matchers (SQLite is the source of truth)."""
    n = 0
    log = structlog.get_logger()
    for row in store.iter_records():
        try:
            gallery.add(row.reference, uk_json.record_from_json(json.loads(row.record_json)))
            n += 1
        except GalleryError as exc:
            log.warning("gallery_record_skipped", reference=row.reference, reason=str(exc))
    return n


def write_index_files(gallery: NodeGallery, directory: Path, version: str) -> None:
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


def save_gallery(node: Node, directory: Path) -> None:
    """Write the index files for a fast next start, stamped with the current version."""
    try:
        write_index_files(node.gallery, directory, str(node.store.gallery_version()))
    except (OSError, MatcherError) as exc:  # a cache: losing it costs a rebuild, nothing else
        node.log.warning("gallery_not_saved", reason=str(exc))


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
            except (OSError, MatcherError) as exc:
                node.log.warning("gallery_not_saved", reason=str(exc))
                continue
        saved = version
        node.log.info("gallery_saved", version=version, records=len(node.gallery))


HOUSEKEEPING_CHUNK = 1000  # rows per transaction: a backlog never holds the writer long
# Searches per transaction: each goes with its partner results and hits (about 6 rows for a
# 4-partner search); 1000 of them took 38 ms to delete here, 100 took 7 ms.
SEARCHES_CHUNK = 200


async def housekeep(node: Node, stop: asyncio.Event | None = None) -> dict[str, int]:
    """Drop the rows past their retention now; how many, by table.

    Replies to partner messages older than `reply_retention_s` (a retry of such a message
    would be answered afresh), notes of released hits older than the follow-up window
    (no follow-up may name them any more), and searches that ended more than
    `search_retention_s` ago, with their partner results and hits. In chunks, each its own
    commit through the group commit, so searches keep flowing while a large backlog goes;
    once `stop` is set no further chunk starts (a first round after an upgrade may face
    months of rows), and the next round carries on.
    """
    now = node.clock()
    cutoffs = {
        "inbound_messages": (
            node.store.forget_replies,
            now - dt.timedelta(seconds=node.config.reply_retention_s),
            HOUSEKEEPING_CHUNK,
        ),
        "released_hits": (
            node.store.forget_released,
            now - node.responder.rules.follow_up_window,
            HOUSEKEEPING_CHUNK,
        ),
    }
    if node.config.search_retention_s:
        before = now - dt.timedelta(seconds=node.config.search_retention_s)
        cutoffs["searches"] = (node.store.forget_searches, before, SEARCHES_CHUNK)
    forgotten: dict[str, int] = {}
    for table, (forget, before, chunk) in cutoffs.items():
        total = 0
        while True:
            n = await node.writes.run(partial(forget, before, chunk))
            total += n
            if n < chunk or (stop is not None and stop.is_set()):
                break
        forgotten[table] = total
        node.metrics.inc("prum_rows_forgotten_total", total, table=table)
    return forgotten


async def housekeep_periodically(node: Node, interval_s: float, stop: asyncio.Event) -> None:
    """`housekeep` every `interval_s` until `stop` is set; a failed round is logged and the
    next one tries again (a gateway runs for months: its tables must not grow without end)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
        if stop.is_set():
            return
        try:
            forgotten = await housekeep(node, stop)
        except Exception as exc:  # e.g. a locked or full disk; the next round retries
            node.log.warning("housekeeping_failed", error=type(exc).__name__)
            continue
        if any(forgotten.values()):
            node.log.info("housekeeping", **forgotten)


def store_path(config: GatewayConfig) -> Path:
    return config.data_dir / "gateway.sqlite3"


def build_node(config: GatewayConfig, http: HttpClient) -> Node:
    if config.client is not None and not config.clients and not config.open_client_api:
        raise ConfigError("no client tokens configured and open_client_api is not set")
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store.open(store_path(config))
    metrics = standard_metrics()
    gallery = NodeGallery(
        feature_model=config.feature_model,
        face_dim=config.face_dim,
        thresholds=Thresholds(
            **{k: v for k, v in config.thresholds.items() if k in {"face", "fingerprint"}}
        ),
        face_index=config.gallery.face_index,
        face_search=config.gallery.face_search,
    )
    node_ref: list[Node] = []

    def capacities(sender: str) -> dict[str, int] | None:
        p = config.partner(sender)
        return None if p is None else dict(p.inbound_capacities)

    rules = NodeRules(
        node_id=config.node_id,
        modalities=frozenset({Modality.DNA, Modality.FACE, Modality.FINGERPRINT}),
        capacities=capacities,
        core_data=lambda ref: node_ref[0].core_data(ref),
        follow_up_window=dt.timedelta(seconds=config.follow_up_window_s),
    )
    node = Node(
        config=config,
        store=store,
        audit=AuditLog(store),
        gallery=gallery,
        responder=Responder(rules, gallery, InboundLedger(store)),
        metrics=metrics,
        http=http,
        clients={p.id: PartnerClient(p, http, metrics) for p in config.partners},
        auth=Authenticator(config.clients),
    )
    node_ref.append(node)
    node.batchers = {
        p.id: DnaBatcher(node, p)
        for p in config.partners
        if p.dialect == "prum" and Modality.DNA in p.modalities and p.dna_batch_max > 1
    }
    return node


@contextlib.asynccontextmanager
async def running_node(config: GatewayConfig) -> AsyncIterator[Node]:
    """Open every resource of a node, resume pending searches, and close it all after."""
    client_ssl = ssl_client_context(config.tls) if config.tls is not None else None
    http = HttpClient(client_ssl, limit=config.max_in_flight)
    try:
        node = build_node(config, http)
        checkpointer = WalCheckpointer(store_path(config), stats=node.checkpoints)
        try:
            node.store.checkpoint_past(SAFETY_NET_PAGES)
            checkpointer.start()
            if node.auth.open and config.client is not None:
                node.log.warning(
                    "client_auth_off", reason="no [[clients]] configured: the client API is open"
                )
            index_dir = config.data_dir / "indexes"
            version = str(node.store.gallery_version())
            on_disk: str | None = version
            if node.gallery.load_files(index_dir, version):
                node.log.info(
                    "gallery_loaded",
                    source="index files",
                    records=len(node.gallery),
                    version=version,
                )
            else:
                loaded = rebuild_gallery(node.store, node.gallery)
                on_disk = None
                node.log.info("gallery_loaded", source="sqlite", records=loaded, version=version)
            for row in node.store.pending_searches():
                node.search_event(row.search_id)
                start_search(node, row.search_id)
            stop_background = asyncio.Event()
            saver = (
                asyncio.create_task(
                    save_indexes_periodically(
                        node, index_dir, config.index_save_interval_s, stop_background, on_disk
                    )
                )
                if config.index_save_interval_s > 0
                else None
            )
            keeper = (
                asyncio.create_task(
                    housekeep_periodically(node, config.housekeeping_interval_s, stop_background)
                )
                if config.housekeeping_interval_s > 0
                else None
            )
            node.ready = True
            yield node
            node.ready = False
            stop_background.set()
            if saver is not None:
                await saver
            if keeper is not None:
                await keeper
            if node.tasks:
                await asyncio.wait(list(node.tasks), timeout=GRACE_S)
            for task in list(node.tasks):
                task.cancel()
            for batcher in node.batchers.values():
                await batcher.close()
            save_gallery(node, index_dir)
        finally:
            checkpointer.stop()
            node.store.close()
    finally:
        await http.close()


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    node = request.app[NODE]
    if not node.ready:
        return _error(503, "not_ready", "starting or stopping", None)
    return web.json_response({"status": "ready", "gallery_records": len(node.gallery)})


async def metrics(request: web.Request) -> web.Response:
    node = request.app[NODE]
    node.auth.authenticate(request, "admin")
    node.metrics.set("prum_db_commits_total", node.writes.transactions)
    node.metrics.set("prum_db_writers_total", node.writes.writers)
    node.metrics.set("prum_wal_checkpoints_total", node.checkpoints.passes)
    node.metrics.set("prum_wal_checkpoint_failures_total", node.checkpoints.failures)
    node.metrics.set("prum_wal_frames", node.checkpoints.wal_frames)
    for partner, client in node.clients.items():
        opened = node.http.connections_opened(client.endpoint)
        node.metrics.set("prum_partner_connections_opened_total", opened, partner=partner)
    return web.Response(text=node.metrics.render(), content_type="text/plain", charset="utf-8")


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(schemas.json_schema(schemas.OPENAPI))


def client_app(node: Node) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=MAX_CLIENT_BODY)
    app[NODE] = node
    app.add_routes(client_api.routes())
    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/readyz", readyz),
            web.get("/metrics", metrics),
            web.get("/v1/openapi.json", openapi),
        ]
    )
    return app


def partner_app(node: Node, middlewares: Sequence[Middleware] = ()) -> web.Application:
    """The partner listener's app; `middlewares` lets drills put fault injection in front."""
    app = web.Application(
        client_max_size=partner_api.MAX_MESSAGE_BYTES + 1, middlewares=list(middlewares)
    )
    app[NODE] = node
    app.add_routes(partner_api.routes())
    app.add_routes([web.get("/healthz", healthz)])
    return app


class Gateway:
    """Both listeners of a running gateway; ports are known after `start` (0 = any free)."""

    def __init__(
        self, config: GatewayConfig, partner_middlewares: Sequence[Middleware] = ()
    ) -> None:
        self.partner_middlewares = tuple(partner_middlewares)
        self.config = config
        self._stack: contextlib.AsyncExitStack | None = None
        self.node: Node | None = None
        self.client_port = 0
        self.partner_port = 0
        self._runners: list[web.AppRunner] = []

    async def start(self) -> Node:
        self._stack = contextlib.AsyncExitStack()
        node = await self._stack.enter_async_context(running_node(self.config))
        self.node = node
        if self.config.client is not None:
            self.client_port = await self._listen(client_app(node), self.config.client, None)
        partner = partner_app(node, self.partner_middlewares)
        self.partner_port = await self._listen(
            partner, self.config.partner_listener, self.config.tls
        )
        return node

    async def _listen(self, app: web.Application, listener: Listener, tls: NodeFiles | None) -> int:
        # keepalive_timeout also closes a connection whose request never completes (slow loris)
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=self.config.idle_timeout_s)
        await runner.setup()
        server_ssl = ssl_server_context(tls) if tls is not None else None
        site = web.TCPSite(runner, listener.host, listener.port, ssl_context=server_ssl)
        await site.start()
        self._runners.append(runner)
        return int(runner.addresses[0][1])

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None


async def serve_forever(config: GatewayConfig) -> None:
    gateway = Gateway(config)
    await gateway.start()
    event_loop.settle_heap()
    log = structlog.get_logger()
    log.info(
        "gateway_started",
        client_port=gateway.client_port,
        partner_port=gateway.partner_port,
        node_id=config.node_id,
        data_dir=str(Path(config.data_dir)),
    )
    try:
        await event_loop.until_signalled()
        log.info("gateway_stopping", in_flight=len(gateway.node.tasks) if gateway.node else 0)
    finally:
        await gateway.stop()
