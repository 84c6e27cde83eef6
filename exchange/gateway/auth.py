"""Client authentication for the client API: bearer tokens with scopes, and rate limits.

Clients are configured in the gateway's TOML with the SHA-256 of their token (the token
itself is never stored or logged), the scopes they hold and a rate limit:

```toml
[[clients]]
id = "leds-west-midlands"
token_sha256 = "9f86d0..."        # sha256 of the bearer token, hex
scopes = ["search", "follow-up"]  # search | follow-up | enrol | admin
rate_per_minute = 600
```

Each route needs one scope; a missing or unknown token is 401, a missing scope 403, a client
over its rate 429 with `Retry-After`. A client sees only its own searches (the handlers
check the owner). With no `[[clients]]` the gateway refuses to start unless the config
says `open_client_api = true` (local tests only): then the API runs open, as one client
with every scope, and says so at start-up.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from exchange.gateway.errors import Forbidden, RateLimited, Unauthenticated

SCOPES = ("search", "follow-up", "enrol", "admin")
OPEN_CLIENT = "local"


@dataclass(frozen=True, slots=True)
class ClientConfig:
    id: str
    token_sha256: str
    scopes: frozenset[str]
    rate_per_minute: int = 600


@dataclass(frozen=True, slots=True)
class Client:
    id: str
    scopes: frozenset[str]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class _Bucket:
    """A token bucket: `rate` requests a minute, bursts up to one minute's worth."""

    rate_per_minute: int
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def take(self, now: float) -> float:
        """0 if a request may go now, else the seconds until one may."""
        capacity = float(self.rate_per_minute)
        if self.tokens < 0:
            self.tokens = capacity
        self.tokens = min(capacity, self.tokens + (now - self.stamp) * capacity / 60.0)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) * 60.0 / capacity


class Authenticator:
    def __init__(self, clients: Sequence[ClientConfig]) -> None:
        self.open = not clients
        self._by_hash: Mapping[str, ClientConfig] = {c.token_sha256.lower(): c for c in clients}
        self._buckets: dict[str, _Bucket] = {c.id: _Bucket(c.rate_per_minute) for c in clients}

    def authenticate(self, request: web.Request, scope: str) -> Client:
        if self.open:
            return Client(OPEN_CLIENT, frozenset(SCOPES))
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("a bearer token is required")
        digest = token_hash(token.strip())
        config = next((c for h, c in self._by_hash.items() if hmac.compare_digest(h, digest)), None)
        if config is None:
            raise Unauthenticated("unknown token")
        if scope not in config.scopes:
            raise Forbidden(f"this client lacks the {scope!r} scope")
        wait = self._buckets[config.id].take(time.monotonic())
        if wait > 0:
            raise RateLimited("too many requests", math.ceil(wait))
        return Client(config.id, config.scopes)
