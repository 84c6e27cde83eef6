"""Admission control per listener: admit or refuse a request before its body is read.

Under load beyond what the node completes, requests that are read, parsed and then refused
still cost their whole body and JSON parse, and queue behind one another on the event loop:
before this, at about ten times the rate the gateway holds, its 503s took seconds to arrive
and `/healthz` with them. So each listener (client and partner separately) counts the
requests it has admitted and not yet answered, and refuses one more beyond `max_in_flight`
at once: 503 with `Retry-After`, in the listener's error format, without reading the body.

The check is an aiohttp middleware, the first of the app's: aiohttp calls middlewares once
the request line and headers are parsed, before the handler runs, and the body is a stream
(`request.content`, https://docs.aiohttp.org/en/stable/streams.html) that nothing reads
until a handler asks (`tests/gateway/test_admission.py` sends a search that declares 10 MB
and sends none of it: its 503 arrives). After an answer whose body the handler did not read,
aiohttp reads and discards the rest of it before the next request on the connection (its
"lingering" close, `RequestHandler(lingering_time=10.0)` in aiohttp/web_protocol.py, 3.14),
so a kept-alive connection is not poisoned; a refusal whose body has not all arrived says
`Connection: close`, so that the connection ends after that rather than waiting for more.

The probes (`/healthz`, `/readyz`, `/metrics`) are neither counted nor refused: an operator
must be able to see an overloaded node. Beyond the in-flight bound, `ConnectionCap` bounds
the listener's open connections (`exchange.gateway.app.PartnerSite`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import cast

from aiohttp import typedefs, web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Refusal = Callable[[web.Request], web.StreamResponse]
Middleware = typedefs.Middleware

# Paths the shedder never counts nor refuses (the probes an operator and a balancer use).
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
RETRY_AFTER_S = 1
# When a listener's config leaves max_connections at 0: this many per request it admits
# (idle kept-alive connections of clients' pools, beside those being answered).
CONNECTIONS_PER_ADMITTED = 4

IN_FLIGHT = "in_flight"  # a shed reason: the listener's admitted requests were at their bound
CONNECTIONS = "connections"  # a shed reason: its open connections were at their bound


class Admission:
    """One listener's admitted requests: how many are being answered, and what was shed."""

    def __init__(self, listener: str, limit: int, refuse: Refusal) -> None:
        if limit < 1:
            raise ValueError(f"{listener}: max_in_flight must be at least 1, not {limit}")
        self.listener = listener
        self.limit = limit
        self.in_flight = 0
        self.admitted = 0
        self.shed = {IN_FLIGHT: 0, CONNECTIONS: 0}
        self._refuse = refuse

    def middleware(self) -> Middleware:
        """The app's first middleware: admit within the bound, else refuse now; nothing of
        the body is read here."""

        @web.middleware
        async def admit(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path in PROBES:
                return await handler(request)
            if self.in_flight >= self.limit:
                self.shed[IN_FLIGHT] += 1
                response = self._refuse(request)
                if not request.content.is_eof():  # the body is still coming: end after it
                    response.force_close()
                return response
            self.in_flight += 1
            self.admitted += 1
            try:
                return await handler(request)
            finally:
                self.in_flight -= 1

        return admit


def shed_headers() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_S)}


class ConnectionCap:
    """A protocol factory over a listener's aiohttp server that keeps at most `limit`
    connections open: one beyond it is answered `answer()` (a whole HTTP/1.1 503 response,
    `Connection: close`) at its first bytes, and closed.

    The count is aiohttp's own (`web.Server` keeps each open connection's handler until it
    is lost); asyncio calls the factory for each accepted socket, so a burst accepted in one
    go may overshoot the bound by the connections accepted but not yet made.
    """

    def __init__(
        self,
        server: web.Server,
        limit: int,
        answer: Callable[[], bytes],
        admission: Admission,
        idle_timeout_s: float,
    ) -> None:
        self.server = server
        self.limit = limit
        self.answer = answer
        self.admission = admission
        self.idle_timeout_s = idle_timeout_s

    def open_connections(self) -> int:
        return len(self.server._connections)  # aiohttp's live handlers (web_server.Server)

    def __call__(self) -> asyncio.Protocol:
        if self.open_connections() < self.limit:
            return self.server()
        self.admission.shed[CONNECTIONS] += 1
        return _Refused(self.answer, self.idle_timeout_s)


class _Refused(asyncio.Protocol):
    """A connection over the bound: the canned 503 once its request starts, then closed;
    one that sends nothing is closed after the listener's idle timeout."""

    def __init__(self, answer: Callable[[], bytes], idle_timeout_s: float) -> None:
        self._answer = answer
        self._idle_timeout_s = idle_timeout_s
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._timer = asyncio.get_running_loop().call_later(self._idle_timeout_s, transport.close)

    def data_received(self, data: bytes) -> None:
        # Answered at the request's first bytes; what is already read is discarded, so the
        # close is a FIN after the answer, not a reset that could destroy it in flight.
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(self._answer())
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._transport = None


def canned_response(body: bytes, content_type: str) -> bytes:
    """A whole HTTP/1.1 503 with `Retry-After` and `Connection: close`, around `body`."""
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Retry-After: {RETRY_AFTER_S}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body
