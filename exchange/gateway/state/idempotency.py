"""The client API's idempotency keys in the gateway store (`gateway.client.idempotency`).

One row per (client, key): the digest of what the first request asked, the search or record
it made, and the response it was answered with. The row is written inside the transaction
that creates the search or record, so a crash never leaves one without the other; a key
older than its retention is as good as unused, and housekeeping deletes it. Mixed into
`Store`, like the partner side (`partner_side`).
"""

from __future__ import annotations

import datetime as dt

from exchange.gateway.state.rows import KeptResponse, KeyTakenError
from exchange.gateway.state.schema import Connected, _time, timestamp


class IdempotencyKeys(Connected):
    """Idempotency keys and their stored responses (mixed into `Store`)."""

    def kept_response(self, client_id: str, key: str, *, since: dt.datetime) -> KeptResponse | None:
        """The response stored under `key` for this client, if it was stored after `since`."""
        row = self._conn.execute(
            "SELECT digest, resource, status, body, finished, created_at FROM idempotency_keys"
            " WHERE client_id = ? AND key = ? AND created_at >= ?",
            (client_id, key, timestamp(since)),
        ).fetchone()
        if row is None:
            return None
        digest, resource, status, body, finished, created = row
        return KeptResponse(digest, resource, int(status), body, bool(finished), _time(created))

    def keep_response(
        self,
        client_id: str,
        key: str,
        response: KeptResponse,
        *,
        expired_before: dt.datetime,
    ) -> None:
        """Store `response` under a key this client has not used since `expired_before`.

        Raises `KeyTakenError` (and writes nothing) when the key is in use: the caller's
        transaction, which made the search or record, must then roll back with it.
        """
        with self._write():
            cur = self._conn.execute(
                "INSERT INTO idempotency_keys (client_id, key, digest, resource, status, body,"
                " finished, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (client_id, key) DO UPDATE SET digest = excluded.digest,"
                " resource = excluded.resource, status = excluded.status,"
                " body = excluded.body, finished = excluded.finished,"
                " created_at = excluded.created_at WHERE idempotency_keys.created_at < ?",
                (
                    client_id,
                    key,
                    response.digest,
                    response.resource,
                    response.status,
                    response.body,
                    int(response.finished),
                    timestamp(response.created_at),
                    timestamp(expired_before),
                ),
            )
            if cur.rowcount == 0:
                raise KeyTakenError(f"idempotency key {key!r} of {client_id!r} is in use")

    def finish_response(self, client_id: str, key: str, status: int, body: str) -> None:
        """The first request is answered (after its `?wait=`): replays now get this."""
        with self._write():
            self._conn.execute(
                "UPDATE idempotency_keys SET status = ?, body = ?, finished = 1"
                " WHERE client_id = ? AND key = ? AND finished = 0",
                (status, body, client_id, key),
            )

    def forget_idempotency_keys(self, before: dt.datetime, limit: int | None = None) -> int:
        """Drop keys stored before `before` (past their retention); how many.

        `limit` as in `forget_replies`."""
        return self._forget_oldest("idempotency_keys", "created_at", before, limit)
