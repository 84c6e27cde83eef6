"""The partner side of the gateway store: quotas, inbound message claims and replies, and the
hit references released to each partner (the 48 h follow-up rule, DESIGN.md §1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from exchange.gateway.state.rows import (
    CLAIM_STALE_AFTER,
    FOLLOW_UP_WINDOW,
    InboundClaim,
    QuotaDirection,
)
from exchange.gateway.state.schema import (
    Connected,
    _day,
    _time,
    timestamp,
)


class PartnerSideState(Connected):
    """Quotas, message claims, cached replies and released hits (mixed into `Store`)."""

    # --- quotas ---------------------------------------------------------------------------

    def take_quota(
        self,
        direction: QuotaDirection,
        partner: str,
        search_type: str,
        day: dt.date,
        limit: int,
        count: int = 1,
    ) -> bool:
        """Count `count` searches against the day's capacity; False (and no count) when they
        do not all fit.

        One statement inside `BEGIN IMMEDIATE`, so processes sharing the file never overshoot.
        """
        return self.count_quota(direction, partner, search_type, day, limit, count) is not None

    def count_quota(
        self,
        direction: QuotaDirection,
        partner: str,
        search_type: str,
        day: dt.date,
        limit: int,
        count: int = 1,
    ) -> int | None:
        """As `take_quota`, returning the day's count after these searches (None when spent)."""
        if count < 1 or count > limit:
            return None
        with self._write():
            row = self._conn.execute(
                "INSERT INTO quotas (direction, partner, search_type, day, used)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET used = used + excluded.used"
                " WHERE used + excluded.used <= ? RETURNING used",
                (QuotaDirection(direction).value, partner, search_type, _day(day), count, limit),
            ).fetchone()
            return None if row is None else int(row[0])

    def quota_used(
        self, direction: QuotaDirection, partner: str, search_type: str, day: dt.date
    ) -> int:
        row = self._conn.execute(
            "SELECT used FROM quotas WHERE direction = ? AND partner = ? AND search_type = ?"
            " AND day = ?",
            (QuotaDirection(direction).value, partner, search_type, _day(day)),
        ).fetchone()
        return 0 if row is None else int(row[0])

    # --- inbound de-duplication -----------------------------------------------------------

    def claim_message(
        self,
        sender: str,
        message_id: str,
        *,
        now: dt.datetime,
        stale_after: dt.timedelta = CLAIM_STALE_AFTER,
        digest: str | None = None,
    ) -> InboundClaim:
        """Say whether this (sender, message id) is new, answered, being answered, or taken.

        The first caller gets `first=True`, runs the search and calls `remember_reply`. A
        duplicate gets the stored reply, or, while the first is still at work (a sender
        that retried on its own timeout), `in_progress`: answer with a transient error (a
        later claim gets the reply once stored), but do not search again. A claim older
        than `stale_after` without a reply (its process died) is handed to the next caller.

        `digest` says what the message asks (`inbound.replays`: space-separated digests,
        one per question). A message whose digests are not all among the claim's asks
        something its reply does not answer: `conflict`, whatever the claim's state (a
        claim stored without digests, before migration 10, answers any copy as before).
        """
        with self._write():
            row = self._conn.execute(
                "SELECT claimed_at, reply, body_digest FROM inbound_messages"
                " WHERE sender = ? AND message_id = ?",
                (sender, message_id),
            ).fetchone()
            known = None if row is None or row[2] is None else set(str(row[2]).split())
            if known is not None and digest is not None and not set(digest.split()) <= known:
                return InboundClaim(first=False, reply=None, conflict=True)
            if row is not None and row[1] is not None:
                return InboundClaim(first=False, reply=bytes(row[1]))
            if row is not None and _time(row[0]) > now - stale_after:
                return InboundClaim(first=False, reply=None)
            self._conn.execute(
                "INSERT INTO inbound_messages (sender, message_id, claimed_at, body_digest)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET claimed_at = excluded.claimed_at,"
                " body_digest = coalesce(body_digest, excluded.body_digest)",
                (sender, message_id, timestamp(now), digest),
            )
        return InboundClaim(first=True, reply=None)

    def remember_reply(
        self, sender: str, message_id: str, reply: bytes, *, now: dt.datetime
    ) -> bytes:
        """Keep the reply sent for (sender, message id); returns the reply that is stored.

        If a reply was stored first (another process answered the same message), that one
        wins and is returned, so every duplicate gets one and the same reply.
        """
        with self._write():
            self._conn.execute(
                "INSERT INTO inbound_messages (sender, message_id, claimed_at, reply)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET reply = excluded.reply"
                " WHERE reply IS NULL",
                (sender, message_id, timestamp(now), reply),
            )
            (stored,) = self._conn.execute(
                "SELECT reply FROM inbound_messages WHERE sender = ? AND message_id = ?",
                (sender, message_id),
            ).fetchone()
        return bytes(stored)

    def forget_replies(self, before: dt.datetime, limit: int | None = None) -> int:
        """Drop messages claimed before `before` and their replies (retention); how many.

        `limit`: at most that many (oldest first), so that a large backlog goes in short
        transactions rather than one that holds the writer for seconds.
        """
        return self._forget_oldest("inbound_messages", "claimed_at", before, limit)

    # --- released hits (partner side, for follow-ups) -------------------------------------

    def record_released(
        self,
        sender: str,
        search_message_id: str,
        references: Iterable[str],
        *,
        at: dt.datetime,
    ) -> None:
        """Note the hit references this node returned to `sender` for one search message."""
        stamp = timestamp(at)
        with self._write():
            self._conn.executemany(
                "INSERT INTO released_hits (sender, reference, search_message_id, released_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(sender, ref, search_message_id, stamp) for ref in references],
            )

    def released_to(
        self,
        sender: str,
        reference: str,
        *,
        now: dt.datetime,
        within: dt.timedelta = FOLLOW_UP_WINDOW,
        search_message_id: str | None = None,
    ) -> bool:
        """Was `reference` returned as a hit to `sender` no longer than `within` before `now`?

        The follow-up rule (DESIGN.md §1): answer only for our own hits, to the partner they
        were given to, inside the window (the boundary counts as inside). With
        `search_message_id`, the hit must also come from that search.
        """
        sql = (
            "SELECT 1 FROM released_hits WHERE sender = ? AND reference = ?"
            " AND released_at >= ? AND released_at <= ?"
        )
        args: list[str] = [sender, reference, timestamp(now - within), timestamp(now)]
        if search_message_id is not None:
            sql += " AND search_message_id = ?"
            args.append(search_message_id)
        return self._conn.execute(sql + " LIMIT 1", args).fetchone() is not None

    def forget_released(self, before: dt.datetime, limit: int | None = None) -> int:
        """Drop release notes older than `before` (past every follow-up window); how many.

        `limit` as in `forget_replies`."""
        return self._forget_oldest("released_hits", "released_at", before, limit)
