"""Idempotent submissions: the client API's `Idempotency-Key` header (README, "Client API").

A client whose response was lost (a dropped connection, a gateway killed mid-answer) sends
the same request again under the same key and gets the first response again, status and
body verbatim, with no second search or enrolment. As Stripe's API does
(https://docs.stripe.com/api/idempotent_requests): keys belong to a client and live 24 h;
what a request asks is compared by the SHA-256 of its canonical form (the operation and the
parsed JSON body re-serialised with sorted keys), so the same key with another body is
refused (422); while the first request is still being answered a duplicate gets 409 with
`Retry-After`. The key is stored in the commit that makes the search or record
(`state.idempotency`), so a crash never leaves one without the other.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from exchange.gateway.client.requests import MAX_WAIT_S
from exchange.gateway.errors import IdempotencyKeyInProgress, IdempotencyKeyReused, InvalidRequest
from exchange.gateway.node import Node
from exchange.gateway.state.store import KeptResponse

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"  # on a replayed response, as Stripe marks it
MAX_KEY_LENGTH = 255
KEY_RETENTION = dt.timedelta(hours=24)
# A first request still unanswered after this long died with its process (the longest it
# can take is its `?wait=`): a duplicate then gets the 202 that was stored with the search.
IN_PROGRESS_FOR = dt.timedelta(seconds=MAX_WAIT_S + 5)


def idempotency_key(request: web.Request) -> str | None:
    """The request's `Idempotency-Key`: 1 to 255 printable ASCII characters, or None."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise InvalidRequest(f"1 to {MAX_KEY_LENGTH} printable ASCII characters", HEADER)
    return key


def request_digest(operation: str, doc: Any) -> str:
    """SHA-256 of the request's canonical form: its operation and its parsed JSON body
    re-serialised with sorted keys and no spaces (so key order and layout do not count)."""
    canonical = json.dumps(
        {"operation": operation, "body": doc}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def json_text(status: int, body: str, *, replayed: bool = False) -> web.Response:
    """A JSON response from its stored text, byte for byte."""
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request under an idempotency key: who sent it, under which key, asking what."""

    client_id: str
    key: str
    digest: str

    def begin(self, node: Node) -> web.Response | None:
        """The stored response to replay, or None (this request goes ahead, and holds the
        key until `end`). Raises 422 if the key asked something else, 409 while the first
        request under it is still being answered."""
        replay = self.replay(node)
        if replay is not None:
            return replay
        if (self.client_id, self.key) in node.keys_in_flight:
            raise IdempotencyKeyInProgress("a request under this key is being answered", HEADER)
        node.keys_in_flight.add((self.client_id, self.key))
        return None

    def replay(self, node: Node) -> web.Response | None:
        """The stored response under this key, or None if there is none; as `begin`."""
        now = node.clock()
        kept = node.store.kept_response(self.client_id, self.key, since=now - KEY_RETENTION)
        if kept is None:
            return None
        if kept.digest != self.digest:
            raise IdempotencyKeyReused("this key was sent with another request", HEADER)
        if not kept.finished and now - kept.created_at < IN_PROGRESS_FOR:
            raise IdempotencyKeyInProgress("a request under this key is being answered", HEADER)
        node.log.info("idempotent_replay", resource=kept.resource, status=kept.status)
        return json_text(kept.status, kept.body, replayed=True)

    def taken(self, node: Node) -> web.Response:
        """The answer when another process stored the key first (`KeyTakenError`)."""
        replay = self.replay(node)
        if replay is None:  # (it expired in between)
            raise IdempotencyKeyInProgress("a request under this key is being answered", HEADER)
        return replay

    def keep(
        self, node: Node, resource: str, status: int, body: str, *, finished: bool = True
    ) -> None:
        """Store the response in the current transaction (`KeyTakenError` if the key went
        to another process meanwhile: the transaction must roll back)."""
        now = node.clock()
        kept = KeptResponse(self.digest, resource, status, body, finished, now)
        node.store.keep_response(self.client_id, self.key, kept, expired_before=now - KEY_RETENTION)

    def end(self, node: Node) -> None:
        node.keys_in_flight.discard((self.client_id, self.key))


def attempt_of(client_id: str, key: str | None, operation: str, doc: Any) -> Attempt | None:
    """The request's attempt under its `Idempotency-Key` (None: it sent none)."""
    return None if key is None else Attempt(client_id, key, request_digest(operation, doc))
