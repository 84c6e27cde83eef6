"""HTTP/1.1 POSTs to partner nodes over kept-alive connections: the fan-out's transport.

Every search sends one small message to each chosen partner, so the cost of one request in
the HTTP client is paid four or five times per search. aiohttp's client does much more per
request than this one job needs (URL objects, cookie jar, tracing, header multidicts,
stream readers and several tasks and futures per request); `bench gateway` profiled it at
about a fifth of the gateway's CPU. This client does only what partner exchanges need:

- one `asyncio.Protocol` per connection, the response parsed by httptools (bindings to
  llhttp, the parser of Node.js) so chunked bodies, `Content-Length`, `Connection: close`
  and HTTP/1.0 answers are read as RFC 9112 says, not by our own parsing;
- connections kept alive and reused per origin (scheme, host, port, and the node the
  server's certificate was checked to be: `Endpoint.origin`), the most recently used
  first, and closed after `IDLE_TIMEOUT_S` unused; TLS (mutual, with the node's
  certificate) from the `ssl.SSLContext` the caller gives;
- on TLS, the server's certificate must name the node the endpoint is for (`Endpoint.node_id`,
  its subject common name as `exchange.pki.peer_node_id` reads it, the rule the partner API
  applies to client certificates): every member node holds a certificate of the same CA, so
  the CA alone would let any of them stand in for another. A connection to the wrong node is
  closed before a byte of the request is written (`PeerIdentityError`);
- a reply body capped at `max_body` bytes;
- a connection that dies before any byte of its response arrived, after being reused from
  the pool, is retried once on a new connection: the partner may have closed it while it was
  idle (RFC 9112 §9.3.1 allows retrying then). Partner messages are idempotent by message id
  anyway (a partner answers a repeated id from its duplicate cache).

Deadlines are the caller's (`asyncio.timeout` around `post`); a request cancelled half-way
closes its connection rather than returning it to the pool.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

from exchange.pki import peer_node_id

USER_AGENT = b"prum-exchange"
MAX_IDLE_PER_ORIGIN = 64
# An idle connection older than this is closed instead of reused: a firewall or NAT between
# the nodes may drop it silently, and a request on it would wait for its whole timeout.
# (aiohttp's client used 15 s too.)
IDLE_TIMEOUT_S = 15.0


class HttpClientError(Exception):
    """The request failed on the wire: refused, reset, closed early or a malformed answer."""


class ReplyTooLarge(HttpClientError):
    """The answer's body grew past the cap; the connection is dropped."""


class PeerIdentityError(HttpClientError):
    """The server's certificate names another node than the one the endpoint is for."""

    def __init__(self, expected: str, presented: str | None) -> None:
        super().__init__(f"the server's certificate names {presented or 'no node'}, not {expected}")
        self.expected = expected
        self.presented = presented


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a partner listens, parsed once: `https://host:port/path`; with `node_id`, the
    node whose certificate a TLS connection to it must present."""

    scheme: str
    host: str
    port: int
    target: bytes  # the request target: path and query
    host_header: bytes
    node_id: str | None = None

    @classmethod
    def parse(cls, url: str, node_id: str | None = None) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL with a host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        return cls(
            scheme=parts.scheme,
            host=host,
            port=port,
            target=target.encode("ascii"),
            host_header=f"{shown}:{port}".encode("ascii"),
            node_id=node_id,
        )

    @property
    def origin(self) -> tuple[str, str, int, str | None]:
        """What a kept-alive connection may be reused for: the same server, the same node."""
        return (self.scheme, self.host, self.port, self.node_id)


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    content_type: str  # the media type alone, lower case, without parameters
    body: bytes


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; answers one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.completed = 0  # answers read whole on this connection
        self.idle_since = 0.0  # loop time it went back to the pool
        self._parser = httptools.HttpResponseParser(self)
        self._reply: asyncio.Future[HttpReply] | None = None
        self._body: list[bytes] = []
        self._size = 0
        self._limit = 0
        self._content_type = ""
        self._received = False
        self._keep_alive = False
        self._headers_done = False
        self._framed = False  # a Content-Length or Transfer-Encoding says where the body ends

    # --- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have a Transport's methods without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self._size > self._limit:  # on_body stopped the parser
                self._fail(ReplyTooLarge(f"answer larger than {self._limit} bytes"))
            else:
                self._fail(HttpClientError(f"malformed HTTP answer: {exc}"))

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._headers_done and not self._framed and self._reply is not None:
            # neither a length nor chunks: the end of the connection ends the answer
            self.on_message_complete()  # (RFC 9112 §6.3, point 8)
        self._fail(HttpClientError("connection closed before the whole answer arrived"))

    # --- httptools callbacks ------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-type":
            self._content_type = value.split(b";", 1)[0].strip().lower().decode("latin-1")
        elif name in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            raise ReplyTooLarge  # stops the parser; data_received reports it
        self._body.append(chunk)

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (RFC 9110 §15.2): the real one follows
            self._body, self._size, self._content_type = [], 0, ""
            self._headers_done = self._framed = False
            return
        self._keep_alive = self._parser.should_keep_alive()
        self.completed += 1
        reply = HttpReply(status, self._content_type, b"".join(self._body))
        if self._reply is not None and not self._reply.done():
            self._reply.set_result(reply)

    # --- use ----------------------------------------------------------------------------
    def _fail(self, exc: HttpClientError) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    @property
    def answered_nothing(self) -> bool:
        return not self._received

    def reusable(self) -> bool:
        return not self.closed and self._keep_alive

    async def request(self, data: bytes, limit: int) -> HttpReply:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._reply = loop.create_future()
        self._body = []
        self._size = 0
        self._limit = limit
        self._content_type = ""
        self._received = False
        self._keep_alive = False
        self._headers_done = self._framed = False
        self.transport.write(data)
        return await self._reply


class HttpClient:
    """Kept-alive HTTP/1.1 connections to partner origins; one request per connection at once."""

    def __init__(
        self,
        tls: ssl.SSLContext | None = None,
        limit: int = 256,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        self._tls = tls  # None: the system's trust store, loaded at the first https connection
        self._idle_timeout_s = idle_timeout_s
        self._slots = asyncio.Semaphore(limit)  # requests in flight, all origins together
        self._idle: dict[tuple[str, str, int, str | None], collections.deque[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._opened: collections.Counter[tuple[str, str, int, str | None]] = collections.Counter()

    async def post(
        self, endpoint: Endpoint, body: bytes, content_type: str, max_body: int
    ) -> HttpReply:
        """POST `body`, return the answer whole; raises HttpClientError on wire failures."""
        head = b"".join(
            (
                b"POST ",
                endpoint.target,
                b" HTTP/1.1\r\nHost: ",
                endpoint.host_header,
                b"\r\nUser-Agent: ",
                USER_AGENT,
                b"\r\nAccept: application/xml\r\nContent-Type: ",
                content_type.encode("latin-1"),
                b"\r\nContent-Length: ",
                str(len(body)).encode("ascii"),
                b"\r\n\r\n",
            )
        )
        async with self._slots:
            return await self._exchange(endpoint, head + body, max_body)

    async def _exchange(self, endpoint: Endpoint, data: bytes, max_body: int) -> HttpReply:
        conn = await self._acquire(endpoint)
        try:
            reused = conn.completed > 0
            try:
                reply = await conn.request(data, max_body)
            except HttpClientError:
                if not (reused and conn.answered_nothing):
                    raise
                # the partner closed it while it sat idle: once more on a fresh connection
                self._forget(conn)
                conn = await self._connect(endpoint)
                reply = await conn.request(data, max_body)
        except BaseException:
            # failed, cancelled or timed out half-way: the connection's state is unknown
            self._forget(conn)
            raise
        self._release(endpoint, conn)
        return reply

    async def _acquire(self, endpoint: Endpoint) -> _Connection:
        idle = self._idle.get(endpoint.origin)
        if idle:
            self._drop_stale(idle)
        while idle:
            conn = idle.pop()  # the most recently used first: the oldest age out
            if not conn.closed:
                return conn
            self._open.discard(conn)
        return await self._connect(endpoint)

    def _drop_stale(self, idle: collections.deque[_Connection]) -> None:
        """Close the idle connections past the idle timeout (the oldest are on the left)."""
        oldest_allowed = asyncio.get_running_loop().time() - self._idle_timeout_s
        while idle and idle[0].idle_since < oldest_allowed:
            self._forget(idle.popleft())

    async def _connect(self, endpoint: Endpoint) -> _Connection:
        loop = asyncio.get_running_loop()
        tls = None
        if endpoint.scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = self._tls
        try:
            _, conn = await loop.create_connection(
                _Connection,
                endpoint.host,
                endpoint.port,
                ssl=tls,
                server_hostname=endpoint.host if tls is not None else None,
            )
        except (OSError, ssl.SSLError) as exc:
            raise HttpClientError(f"cannot connect: {type(exc).__name__}: {exc}") from exc
        if tls is not None and endpoint.node_id is not None:
            assert conn.transport is not None
            presented = peer_node_id(conn.transport.get_extra_info("peercert"))
            if presented != endpoint.node_id:
                conn.close()  # nothing was written on it
                raise PeerIdentityError(endpoint.node_id, presented)
        self._open.add(conn)
        self._opened[endpoint.origin] += 1
        return conn

    def _forget(self, conn: _Connection) -> None:
        conn.close()
        self._open.discard(conn)

    def _release(self, endpoint: Endpoint, conn: _Connection) -> None:
        key = endpoint.origin
        idle = self._idle.setdefault(key, collections.deque())
        if not conn.reusable() or len(idle) >= MAX_IDLE_PER_ORIGIN:
            self._forget(conn)
        else:
            conn.idle_since = asyncio.get_running_loop().time()
            idle.append(conn)

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def connections_opened(self, endpoint: Endpoint) -> int:
        """Connections opened to `endpoint`'s origin so far (each a TCP, maybe TLS, handshake).

        Against the messages sent, this says whether keep-alive works with that partner.
        """
        return self._opened[endpoint.origin]

    async def close(self) -> None:
        """Close every connection, idle or busy."""
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports run their close callbacks
