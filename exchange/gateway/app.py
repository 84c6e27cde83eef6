"""The gateway's app factory: two aiohttp applications over one shared `Node`.

The client API (JSON) and the partner API (Prüm XML) listen on separate ports, so the
network can expose each only where it belongs. The partner listener's app carries the
node's resources as cleanup contexts (`exchange.gateway.resources`: HTTP client, store, WAL
checkpoints, gallery, node, its life); the client listener's app takes the node from it.
`Gateway` runs both and shuts down gracefully: it stops accepting, lets in-flight searches
finish within a grace period, then closes every resource in reverse order.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import structlog
from aiohttp import typedefs, web

import schemas
from exchange import event_loop
from exchange.gateway import resources
from exchange.gateway.client import api as client_api
from exchange.gateway.config import GatewayConfig, Listener
from exchange.gateway.errors import BodyTooLarge, ClientError, GatewayError, NotReady
from exchange.gateway.inbound import partner_api
from exchange.gateway.node import NODE, Node
from exchange.gateway.resources import CHECKPOINTS, POOL, running_node
from exchange.pki import NodeFiles, ssl_server_context

__all__ = [
    "Gateway",
    "Middleware",
    "PartnerSite",
    "client_app",
    "partner_app",
    "running_node",
    "serve_forever",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = typedefs.Middleware
MAX_CLIENT_BODY = 16 * 1024 * 1024


def error_response(exc: GatewayError) -> web.Response:
    """A client error as `{error: {code, message, field}}` with its status and headers."""
    body = {"error": {"code": exc.code, "message": exc.message, "field": exc.field}}
    return web.json_response(body, status=exc.status_hint, headers=exc.headers())


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every refusal into `{error: {code, message, field}}`; never let a traceback out."""
    try:
        return await handler(request)
    except GatewayError as exc:
        return error_response(exc)
    except web.HTTPRequestEntityTooLarge:
        return error_response(BodyTooLarge(f"bodies are limited to {MAX_CLIENT_BODY} bytes"))
    except web.HTTPException as exc:  # aiohttp's own (no route, wrong method)
        if exc.status < 400:
            raise
        refusal = ClientError(exc.reason)
        refusal.status_hint, refusal.code = exc.status, exc.reason.lower().replace(" ", "_")
        return error_response(refusal)
    except ConnectionError:  # the client went away mid-request: aiohttp logs it (debug)
        raise
    except Exception:
        structlog.get_logger().exception("unhandled_error", path=request.path)
        refusal = ClientError("internal error; see the gateway log")
        refusal.status_hint, refusal.code = 500, "internal"
        return error_response(refusal)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    node = request.app[NODE]
    if not node.ready:
        raise NotReady("starting or stopping")
    return web.json_response({"status": "ready", "gallery_records": len(node.gallery)})


async def metrics(request: web.Request) -> web.Response:
    node = request.app[NODE]
    node.auth.authenticate(request, "admin")
    checkpoints = request.app[CHECKPOINTS]
    node.metrics.set("prum_db_commits_total", node.writes.transactions)
    node.metrics.set("prum_db_writers_total", node.writes.writers)
    node.metrics.set("prum_wal_checkpoints_total", checkpoints.passes)
    node.metrics.set("prum_wal_checkpoint_failures_total", checkpoints.failures)
    node.metrics.set("prum_wal_frames", checkpoints.wal_frames)
    for partner, link in node.links.items():
        opened = link.client.http.connections_opened(link.client.endpoint)
        node.metrics.set("prum_partner_connections_opened_total", opened, partner=partner)
    return web.Response(text=node.metrics.render(), content_type="text/plain", charset="utf-8")


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(schemas.json_schema(schemas.OPENAPI))


def client_app(resources_app: web.Application) -> web.Application:
    """The client listener's app, over the node `resources_app` has opened."""
    app = web.Application(middlewares=[json_errors], client_max_size=MAX_CLIENT_BODY)
    app[NODE] = resources_app[NODE]
    app[CHECKPOINTS] = resources_app[CHECKPOINTS]
    app[POOL] = resources_app[POOL]
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


def partner_app(config: GatewayConfig, middlewares: Sequence[Middleware] = ()) -> web.Application:
    """The partner listener's app, carrying the node's resources; `middlewares` lets drills
    put fault injection in front."""
    app = web.Application(
        client_max_size=partner_api.MAX_MESSAGE_BYTES + 1,
        middlewares=[*middlewares, partner_api.xml_errors],
    )
    resources.install(app, config)
    app[partner_api.INBOUND_LOAD] = partner_api.InboundLoad()
    app.add_routes(partner_api.routes())
    app.add_routes([web.get("/healthz", healthz)])
    return app


class PartnerSite(web.TCPSite):
    """A `web.TCPSite` whose TLS handshakes must finish within `handshake_timeout_s`.

    aiohttp's site leaves the event loop's default (`ssl_handshake_timeout`, 60 s), so a
    plain TCP connection to the partner port that never starts TLS was held a minute, out
    of reach of `keepalive_timeout` (no HTTP has begun). `start` is `TCPSite.start` with
    that one argument added (both asyncio's and uvloop's `create_server` take it).
    """

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        handshake_timeout_s: float,
    ) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context)
        self._handshake_timeout_s = handshake_timeout_s

    async def start(self) -> None:
        if self._ssl_context is None:
            await super().start()
            return
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            server,
            self._host,
            self._port,
            ssl=self._ssl_context,
            ssl_handshake_timeout=self._handshake_timeout_s,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


class Gateway:
    """Both listeners of a running gateway; ports are known after `start` (0 = any free)."""

    def __init__(
        self, config: GatewayConfig, partner_middlewares: Sequence[Middleware] = ()
    ) -> None:
        self.partner_middlewares = tuple(partner_middlewares)
        self.config = config
        self.node: Node | None = None
        self.client_port = 0
        self.partner_port = 0
        self._runners: list[web.AppRunner] = []

    async def start(self) -> Node:
        """Open the node's resources (the partner app's start-up), then listen on both ports."""
        partner = partner_app(self.config, self.partner_middlewares)
        try:
            partner_runner = await self._setup(partner)
            node = self.node = partner[NODE]
            if self.config.client is not None:
                client_runner = await self._setup(client_app(partner))
                self.client_port = await self._listen(client_runner, self.config.client, None)
            self.partner_port = await self._listen(
                partner_runner, self.config.partner_listener, self.config.tls
            )
        except BaseException:
            await self.stop()
            raise
        return node

    async def _setup(self, app: web.Application) -> web.AppRunner:
        # keepalive_timeout also closes a connection whose request never completes (slow loris)
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=self.config.idle_timeout_s)
        self._runners.append(runner)
        await runner.setup()
        return runner

    async def _listen(
        self, runner: web.AppRunner, listener: Listener, tls: NodeFiles | None
    ) -> int:
        server_ssl = ssl_server_context(tls) if tls is not None else None
        site = PartnerSite(
            runner,
            listener.host,
            listener.port,
            ssl_context=server_ssl,
            handshake_timeout_s=self.config.idle_timeout_s,
        )
        await site.start()
        return int(runner.addresses[0][1])

    async def stop(self) -> None:
        """The client listener first, then the partner listener and with it the resources."""
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()


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
        log.info("gateway_stopping", in_flight=len(gateway.node.searches) if gateway.node else 0)
    finally:
        await gateway.stop()
