"""Fault injection in front of a partner node: named, composable profiles and expectations.

A `FaultInjector` is an aiohttp middleware put in front of a partner node's API (through
`running_cluster(partner_middlewares=...)` or `prum-exchange partner --faults`). It breaks
the node on purpose, the way Toxiproxy breaks a TCP link and WireMock breaks an HTTP reply,
but knowing the Prüm and Interpol messages it carries:

- transport faults, applied before the node sees the message: fixed and random latency,
  no answer (hang until the client gives up), HTTP 5xx at a rate, connection reset,
  flapping down and up on a schedule;
- reply faults, applied to what the node (or an expectation) answered: capacity exhausted
  (the node's own `quota_exceeded` error, HTTP 429), malformed XML, schema-invalid XML,
  another correlation id, another sender, a body trickled out slowly.

Profiles are named (`PROFILES`) and compose with `+` (`slow+flaky`); a term may also set one
knob, `latency=0.3+5xx=0.5` (see `KNOBS`). A schedule says which profile holds from which
second after `restart_clock()`. Every random decision is drawn from a generator seeded with
(seed, the probe's digest or the message bytes, how often that key was seen), so a drill
repeated with the same seed and workload makes the same decisions whatever the arrival order.
The counts are kept for the `SEEN_KEYS` keys seen most recently (a node that runs for weeks
of drills must not grow without limit); a key forgotten and seen again counts from 0.

**Expectations** (`mock_partners.forged_replies.Expectation`, after MOSIP's mock ABIS): a
search whose probe reference or digest (`forged_replies.probe_digest`) matches is answered
with a forced reply without asking the node's gallery. Transport faults still apply first;
reply faults after.

The injector also keeps the requests it saw (time, message id, type, sender, outcome, the
fault applied; never a biometric payload), which `mock_partners.fault_admin` serves.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import hashlib
import random
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from exchange.gateway.errors import PRUM_STATUS
from exchange.gateway.inbound.partner_api import MAX_MESSAGE_BYTES
from exchange.model import ErrorBody, ErrorCode
from mock_partners.forged_replies import (
    Expectation,
    Incoming,
    ReplyBody,
    encode_reply,
    forge_in_batch,
    parse_request,
    reply_outcome,
    rewrite_reply,
    schema_invalid,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_HANG_S = 600.0  # a hung request gives up on its own after this, so a node always stops
TRICKLE_CHUNKS = 10
REQUEST_LOG = 10_000
SEEN_KEYS = 100_000  # probe digests whose counts are kept: ~200 bytes each, ~20 MB at most


class FaultProfileError(ValueError):
    """A fault profile or expectation that cannot be used; says which term."""


@dataclass(frozen=True, slots=True)
class Profile:
    """What to break. Rates are probabilities per request; times are seconds."""

    name: str = "healthy"
    latency_s: float = 0.0  # added before the node answers
    jitter_s: float = 0.0  # plus uniform(0, jitter_s)
    hang: bool = False  # never answer; hold the connection until the client gives up
    error_rate: float = 0.0  # HTTP `error_status` with no body
    error_status: int = 503
    reset_rate: float = 0.0  # close the connection without an answer
    trickle_s: float = 0.0  # send the reply in pieces over this long
    malformed_rate: float = 0.0  # reply cut in half: not well-formed
    invalid_rate: float = 0.0  # well-formed XML the schema refuses
    wrong_correlation_rate: float = 0.0
    wrong_sender_rate: float = 0.0
    exhausted_rate: float = 0.0  # the node's quota_exceeded error
    flap_period_s: float = 0.0  # up, then down for the last `flap_down_s` of every period
    flap_down_s: float = 0.0


HEALTHY = Profile()
PROFILES: dict[str, Profile] = {
    "healthy": HEALTHY,
    "slow": Profile("slow", latency_s=0.2, jitter_s=0.3),
    "flaky": Profile("flaky", error_rate=0.3, reset_rate=0.1),
    "errors": Profile("errors", error_rate=1.0, error_status=500),
    "down": Profile("down", reset_rate=1.0),
    "timeout": Profile("timeout", hang=True),
    "trickle": Profile("trickle", trickle_s=3.0),
    "malformed": Profile("malformed", malformed_rate=1.0),
    "invalid": Profile("invalid", invalid_rate=1.0),
    "wrong-correlation": Profile("wrong-correlation", wrong_correlation_rate=1.0),
    "wrong-sender": Profile("wrong-sender", wrong_sender_rate=1.0),
    "exhausted": Profile("exhausted", exhausted_rate=1.0),
    "flapping": Profile("flapping", flap_period_s=4.0, flap_down_s=2.0),
}

# knob=value terms of a profile spec, and the Profile field each sets
KNOBS: dict[str, str] = {
    "latency": "latency_s",
    "jitter": "jitter_s",
    "5xx": "error_rate",
    "status": "error_status",
    "reset": "reset_rate",
    "trickle": "trickle_s",
    "malformed": "malformed_rate",
    "invalid": "invalid_rate",
    "wrong-correlation": "wrong_correlation_rate",
    "wrong-sender": "wrong_sender_rate",
    "exhausted": "exhausted_rate",
    "flap-period": "flap_period_s",
    "flap-down": "flap_down_s",
}


def _either(a: float, b: float) -> float:
    return round(1.0 - (1.0 - a) * (1.0 - b), 9)


def compose(a: Profile, b: Profile) -> Profile:
    """Both at once: latencies add, rates combine as independent events, `b`'s flapping wins."""
    return Profile(
        name="+".join(n for n in (a.name, b.name) if n != "healthy") or "healthy",
        latency_s=a.latency_s + b.latency_s,
        jitter_s=a.jitter_s + b.jitter_s,
        hang=a.hang or b.hang,
        error_rate=_either(a.error_rate, b.error_rate),
        # a status set on either side wins over the default 503
        error_status=b.error_status if b.error_status != HEALTHY.error_status else a.error_status,
        reset_rate=_either(a.reset_rate, b.reset_rate),
        trickle_s=max(a.trickle_s, b.trickle_s),
        malformed_rate=_either(a.malformed_rate, b.malformed_rate),
        invalid_rate=_either(a.invalid_rate, b.invalid_rate),
        wrong_correlation_rate=_either(a.wrong_correlation_rate, b.wrong_correlation_rate),
        wrong_sender_rate=_either(a.wrong_sender_rate, b.wrong_sender_rate),
        exhausted_rate=_either(a.exhausted_rate, b.exhausted_rate),
        flap_period_s=b.flap_period_s or a.flap_period_s,
        flap_down_s=b.flap_down_s or a.flap_down_s,
    )


def _knob(term: str) -> Profile:
    key, _, raw = term.partition("=")
    attr = KNOBS.get(key.strip())
    if attr is None:
        raise FaultProfileError(f"{term}: unknown knob (one of {', '.join(KNOBS)})")
    try:
        value = float(raw)
    except ValueError as exc:
        raise FaultProfileError(f"{term}: expected a number") from exc
    if value < 0 or (attr.endswith("_rate") and value > 1):
        raise FaultProfileError(f"{term}: out of range")
    typed: float | int = int(value) if attr == "error_status" else value
    if attr == "error_status" and not 500 <= typed <= 599:
        raise FaultProfileError(f"{term}: status must be 5xx")
    return dataclasses.replace(HEALTHY, name=term.strip(), **{attr: typed})  # type: ignore[arg-type]


def parse_profile(spec: str) -> Profile:
    """`slow+flaky`, `timeout`, `latency=0.5+5xx=0.2`: named profiles and knobs, composed."""
    result = HEALTHY
    for term in spec.split("+"):
        term = term.strip()
        if not term:
            raise FaultProfileError(f"{spec!r}: empty term")
        if "=" in term:
            part = _knob(term)
        elif term in PROFILES:
            part = PROFILES[term]
        else:
            raise FaultProfileError(f"{term}: unknown profile (one of {', '.join(PROFILES)})")
        result = compose(result, part)
    return dataclasses.replace(result, name=spec.strip())


# --- the middleware -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestRecord:
    at: str
    message_id: str | None
    type: str | None
    sender: str | None
    probe_reference: str | None  # the first probe's (the only one, unless a batch)
    probe_references: tuple[str, ...]  # every probe's: a DNA batch carries several searches
    profile: str
    fault: str | None
    outcome: str
    status: int | None


def _references(inc: Incoming | None) -> tuple[str, ...]:
    if inc is None:
        return ()
    if inc.probes:
        return tuple(ref for ref, _ in inc.probes)
    return () if inc.probe_reference is None else (inc.probe_reference,)


class Reset(Exception):
    """The connection was closed on purpose."""


class FaultInjector:
    """An aiohttp middleware that applies the active profile and expectations to each POST."""

    def __init__(self, seed: int = 0, schedule: Sequence[tuple[float, str]] = ((0.0, "healthy"),)):
        self.seed = seed
        self.schedule: list[tuple[float, Profile]] = []
        self.set_schedule(schedule)
        self.override: Profile | None = None
        self.expectations: list[Expectation] = []
        self.requests: collections.deque[RequestRecord] = collections.deque(maxlen=REQUEST_LOG)
        self.started = time.monotonic()
        self.closing = asyncio.Event()
        self._seen: collections.OrderedDict[str, int] = collections.OrderedDict()

    # configuration, also reached through the admin app

    def set_schedule(self, schedule: Sequence[tuple[float, str]]) -> None:
        parsed = sorted((float(at), parse_profile(spec)) for at, spec in schedule)
        if not parsed or parsed[0][0] > 0:
            parsed.insert(0, (0.0, HEALTHY))
        self.schedule = parsed
        self.override = None

    def set_profile(self, spec: str) -> Profile:
        self.override = parse_profile(spec)
        return self.override

    def restart_clock(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def active(self) -> Profile:
        if self.override is not None:
            return self.override
        now = self.elapsed()
        current = self.schedule[0][1]
        for at, profile in self.schedule:
            if at <= now:
                current = profile
        return current

    def flapping_down(self, profile: Profile) -> bool:
        if profile.flap_period_s <= 0 or profile.flap_down_s <= 0:
            return False
        phase = self.elapsed() % profile.flap_period_s
        return phase >= profile.flap_period_s - profile.flap_down_s

    def _rng(self, inc: Incoming | None, raw: bytes) -> random.Random:
        key = inc.digest if inc is not None and inc.digest else hashlib.sha256(raw).hexdigest()
        seen = self._seen
        n = seen.pop(key, 0)
        seen[key] = n + 1  # the most recent last
        if len(seen) > SEEN_KEYS:
            seen.popitem(last=False)
        return random.Random(f"{self.seed}:{key}:{n}")

    # the middleware

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "POST":
            return await handler(request)
        raw = await _read_all(request)
        with warnings.catch_warnings():
            # aiohttp deprecates unread_data, but a middleware has no other public way to
            # read a body and still hand the same body to the node's handler.
            warnings.simplefilter("ignore", DeprecationWarning)
            request.content.unread_data(raw)
        inc = parse_request(raw, request.content_type, request.path)
        profile = self.active()
        rng = self._rng(inc, raw)
        record: dict[str, Any] = {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "message_id": inc.message_id if inc else None,
            "type": inc.message_type if inc else None,
            "sender": inc.sender if inc else None,
            "probe_reference": inc.probe_reference if inc else None,
            "probe_references": _references(inc),
            "profile": profile.name,
            "fault": None,
            "outcome": "unreadable" if inc is None else "pending",
            "status": None,
        }
        try:
            response = await self._apply(request, handler, inc, profile, rng, record)
            record["status"] = response.status
            return response
        except Reset:
            if record["outcome"] == "pending":
                record["outcome"] = "reset"
            raise web.HTTPServiceUnavailable() from None  # never written: transport is closed
        finally:
            self.requests.append(RequestRecord(**record))

    async def _apply(
        self,
        request: web.Request,
        handler: Handler,
        inc: Incoming | None,
        profile: Profile,
        rng: random.Random,
        record: dict[str, Any],
    ) -> web.StreamResponse:
        draws = [rng.random() for _ in range(8)]  # fixed order: the same key, the same choices
        if self.flapping_down(profile):
            record["fault"] = "flap-down"
            self._reset(request)
        if profile.hang:
            record["fault"] = "hang"
            await self._hang(request)
            record["outcome"] = "no_answer"
            self._reset(request)
        delay = profile.latency_s + profile.jitter_s * draws[0]
        if delay > 0:
            record["fault"] = "latency"
            await asyncio.sleep(delay)
        if draws[1] < profile.reset_rate:
            record["fault"] = "reset"
            self._reset(request)
        if draws[2] < profile.error_rate:
            record["fault"] = f"http-{profile.error_status}"
            record["outcome"] = "http_error"
            return web.Response(status=profile.error_status, text="injected fault")
        expectation = next((e for e in self.expectations if inc and e.matches(inc)), None)
        if (
            inc is not None
            and expectation is not None
            and inc.batch
            and expectation.reply != "error"
        ):
            # Probes of several searches in one message: the node answers them all, then
            # the expected probes' results are forged in its reply.
            record["fault"] = f"expectation:{expectation.id}"
            got = await handler(request)
            if not isinstance(got, web.Response):
                return got
            response = got
            data = bytes(response.body) if isinstance(response.body, bytes | bytearray) else b""
            forged = forge_in_batch(inc, data, self.expectations)
            if forged is not None:
                response = _with_body(response, forged)
        elif inc is not None and expectation is not None:
            record["fault"] = f"expectation:{expectation.id}"
            body = expectation.body(inc)
            response = _xml(inc, encode_reply(inc, body), _status(inc, body))
        elif inc is not None and draws[3] < profile.exhausted_rate:
            record["fault"] = "exhausted"
            body = ErrorBody(
                ErrorCode.QUOTA_EXCEEDED, "daily capacity used up (injected)", None, inc.message_id
            )
            response = _xml(inc, encode_reply(inc, body), _status(inc, body))
        else:
            got = await handler(request)
            if not isinstance(got, web.Response) or inc is None:
                return got
            response = got
        data = bytes(response.body) if isinstance(response.body, bytes | bytearray) else b""
        if inc is not None and data:
            record["outcome"] = reply_outcome(inc, data)
            data = self._corrupt(inc, data, profile, draws, record)
        if profile.trickle_s > 0 and data:
            record["fault"] = record["fault"] or "trickle"
            return await _trickle(request, response, data, profile.trickle_s)
        return _with_body(response, data)

    def _corrupt(
        self, inc: Incoming, data: bytes, p: Profile, draws: list[float], record: dict[str, Any]
    ) -> bytes:
        if draws[4] < p.wrong_correlation_rate:
            changed = rewrite_reply(inc, data, correlation_id=str(uuid.uuid4()))
            if changed is not None:
                record["fault"], data = "wrong-correlation", changed
        if draws[5] < p.wrong_sender_rate:
            changed = rewrite_reply(inc, data, sender="XX")
            if changed is not None:
                record["fault"], data = "wrong-sender", changed
        if draws[6] < p.invalid_rate:
            record["fault"] = "invalid"
            data = schema_invalid(data) if inc.dialect != "ansi-nist" else data[: len(data) // 2]
        if draws[7] < p.malformed_rate:
            record["fault"] = "malformed"
            data = data[: len(data) // 2] + b"<<not xml"
        return data

    def _reset(self, request: web.Request) -> None:
        transport = request.transport
        if transport is not None:
            transport.abort() if hasattr(transport, "abort") else transport.close()
        raise Reset()

    async def _hang(self, request: web.Request) -> None:
        """Hold the request until the client closes the connection or the node stops."""
        deadline = time.monotonic() + MAX_HANG_S
        while time.monotonic() < deadline and not self.closing.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            await asyncio.sleep(0.05)

    def close(self) -> None:
        """Release hung requests (call when the node stops)."""
        self.closing.set()


async def _read_all(request: web.Request) -> bytes:
    """The whole body (a StreamReader's read(n) returns what has arrived so far), capped."""
    data = bytearray()
    async for chunk in request.content.iter_any():
        data += chunk
        if len(data) > MAX_MESSAGE_BYTES:
            break
    return bytes(data)


def _status(inc: Incoming, body: ReplyBody) -> int:
    """The HTTP status the node itself would use: Prüm maps error codes, Interpol always 200
    but in INT-I for what INT-I has no error code for (quota 429, internal 503)."""
    if inc.dialect == "prum" and isinstance(body, ErrorBody):
        return PRUM_STATUS[body.code]
    if inc.dialect == "int-i-xml" and isinstance(body, ErrorBody):
        return INT_I_TRANSPORT_STATUS.get(body.code, 200)
    return 200


INT_I_TRANSPORT_STATUS = {ErrorCode.QUOTA_EXCEEDED: 429, ErrorCode.INTERNAL: 503}


def _xml(inc: Incoming, data: bytes, status: int) -> web.Response:
    if status != 200 and inc.dialect == "int-i-xml":
        return web.Response(body=data, status=status, content_type="text/plain")
    kind = "application/octet-stream" if inc.dialect == "ansi-nist" else "application/xml"
    return web.Response(body=data, status=status, content_type=kind)


def _with_body(response: web.Response, data: bytes) -> web.Response:
    if isinstance(response.body, bytes | bytearray) and bytes(response.body) == data:
        return response
    return web.Response(
        body=data, status=response.status, content_type=response.content_type,
        headers={k: v for k, v in response.headers.items()
                 if k.lower() not in ("content-type", "content-length")},
    )  # fmt: skip


async def _trickle(
    request: web.Request, response: web.Response, data: bytes, seconds: float
) -> web.StreamResponse:
    """Send `data` in TRICKLE_CHUNKS pieces spread over `seconds`."""
    out = web.StreamResponse(status=response.status)
    out.content_type = response.content_type
    out.content_length = len(data)
    await out.prepare(request)
    step = max(1, -(-len(data) // TRICKLE_CHUNKS))
    try:
        for i in range(0, len(data), step):
            await out.write(data[i : i + step])
            await asyncio.sleep(seconds / TRICKLE_CHUNKS)
        await out.write_eof()
    except (ConnectionResetError, RuntimeError):
        pass  # the client gave up while we were trickling: what this fault provokes
    return out
