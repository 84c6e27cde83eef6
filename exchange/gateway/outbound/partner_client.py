"""Sending one message to one partner node over HTTP, with retries and a circuit breaker.

The same bytes (so the same message id) go out on every retry, so a partner that saw the
first attempt answers the retry from its duplicate cache instead of searching twice.
Retries happen on transient failures only: connection errors, a timed-out attempt, HTTP 502,
503 and 504, and a 429 without a Prüm error body (a 429 carrying a `quota_exceeded` message
is the partner's final word for the day and is read, not retried). Backoff is exponential
with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"), and never past
the caller's deadline. A server whose TLS certificate names another node than the partner
(`http_client.PeerIdentityError`) is refused before anything is sent, and not retried.
"""

from __future__ import annotations

import asyncio
import random
import time

import structlog

from exchange.gateway.config import PartnerConfig
from exchange.gateway.metrics import Metrics
from exchange.gateway.outbound.breaker import Breaker
from exchange.gateway.outbound.http_client import (
    Endpoint,
    HttpClient,
    HttpClientError,
    HttpReply,
    PeerIdentityError,
    ReplyTooLarge,
)

TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
MAX_REPLY_BYTES = 8 * 1024 * 1024
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 2.0


class PartnerError(Exception):
    """A partner could not be reached or did not answer usefully."""

    def __init__(
        self, partner: str, reason: str, *, transient: bool, timeout: bool = False
    ) -> None:
        super().__init__(f"{partner}: {reason}")
        self.partner = partner
        self.reason = reason
        self.transient = transient
        self.timeout = timeout


class PartnerClient:
    """One partner's outbound channel: bounded concurrency, retries, breaker."""

    def __init__(self, config: PartnerConfig, http: HttpClient, metrics: Metrics) -> None:
        self.config = config
        self.http = http
        self.endpoint = Endpoint.parse(config.url, node_id=config.id)
        self.metrics = metrics
        self.breaker = Breaker(config.breaker_failures, config.breaker_reset_s)
        self._slots = asyncio.Semaphore(config.max_in_flight)

    async def _attempt(self, body: bytes, content_type: str, timeout_s: float) -> HttpReply:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                reply = await self.http.post(self.endpoint, body, content_type, MAX_REPLY_BYTES)
        except TimeoutError as exc:
            raise PartnerError(
                self.config.id, "no answer in time", transient=True, timeout=True
            ) from exc
        except ReplyTooLarge as exc:
            raise PartnerError(self.config.id, "reply too large", transient=False) from exc
        except PeerIdentityError as exc:  # another member node answers at this URL: not retried
            structlog.get_logger().warning(
                "partner_identity_refused", partner=self.config.id, certificate=exc.presented
            )
            raise PartnerError(self.config.id, str(exc), transient=False) from exc
        except HttpClientError as exc:
            raise PartnerError(self.config.id, f"connection failed: {exc}", transient=True) from exc
        finally:
            self.metrics.observe(
                "prum_partner_seconds", time.perf_counter() - started, partner=self.config.id
            )
        if reply.status == 429 and reply.content_type == "application/xml":
            return reply  # a typed refusal (capacity used up): final, the caller reads it
        if reply.status in TRANSIENT_STATUS:
            raise PartnerError(self.config.id, f"HTTP {reply.status}", transient=True)
        if reply.status >= 500:
            raise PartnerError(self.config.id, f"HTTP {reply.status}", transient=False)
        return reply

    async def send(self, body: bytes, content_type: str, deadline: float) -> HttpReply:
        """Send `body`, retrying transient failures until `deadline` (a loop.time() value)."""
        loop = asyncio.get_running_loop()
        attempt = 0
        last: PartnerError | None = None  # this send's last failed attempt
        while True:
            if not self.breaker.allow(loop.time()):
                if last is not None:
                    # The breaker opened on this send's own failures: the partner's answer
                    # is what those were (a partner that hangs is `timeout`); the breaker's
                    # state goes in the reason, and in the prum_breaker_open metric.
                    raise PartnerError(
                        self.config.id,
                        f"{last.reason}; circuit now open",
                        transient=False,
                        timeout=last.timeout,
                    )
                raise PartnerError(self.config.id, "circuit open", transient=False)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise PartnerError(self.config.id, "deadline passed", transient=True, timeout=True)
            try:
                async with self._slots:
                    reply = await self._attempt(
                        body, content_type, min(self.config.timeout_s, remaining)
                    )
            except PartnerError as exc:
                last = exc
                if exc.transient:
                    self.breaker.failure(loop.time())
                else:
                    self.breaker.success()
                self._publish_breaker()
                if exc.transient and self.breaker.state != "closed":
                    raise PartnerError(
                        self.config.id,
                        f"{exc.reason}; circuit now open",
                        transient=False,
                        timeout=exc.timeout,
                    ) from exc
                if not exc.transient or attempt >= self.config.retries:
                    raise
                attempt += 1
                self.metrics.inc("prum_retries_total", partner=self.config.id)
                delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))
                if loop.time() + delay >= deadline:
                    raise
                await asyncio.sleep(delay)
                continue
            self.breaker.success()
            self._publish_breaker()
            return reply

    def _publish_breaker(self) -> None:
        self.metrics.set(
            "prum_breaker_open",
            0.0 if self.breaker.state == "closed" else 1.0,
            partner=self.config.id,
        )
