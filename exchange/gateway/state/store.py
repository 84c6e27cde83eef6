"""The gateway's durable state: one SQLite file, the source of truth (DESIGN.md §5).

Holds searches and their per-partner results and hits (client side), the enrolled UK gallery
that answers partners (the FAISS indexes are a cache stamped with `gallery_version`), daily
quota counters per partner and search type, inbound message claims and replies (a repeated
message id gets the same reply, never a second search), the client API's idempotency keys
with their responses (`idempotency`), and the hit references released to
each partner (the 48 h follow-up rule of DESIGN.md §1). The audit log lives in the same file
(`audit.py`); its tables are created by the same migrations so there is one schema version.

Split by concern: `store_rows` (statuses, errors, rows), `store_schema` (migrations,
transactions, time), `store_partner_side` (quotas, message claims, released hits, mixed
into `Store`); this module holds the searches, hits and the UK gallery, and is where
callers import everything from.

Threading: a `Store` wraps one `sqlite3.Connection` and may be used only from the thread that
opened it (sqlite3's `check_same_thread` enforces this). Every method is one short
transaction, well under a millisecond, so the gateway calls them directly from its event loop
thread. Work that reads for long (an index rebuild) opens a `Store` of its own in its worker
thread; WAL mode lets it read while the loop's `Store` writes. The gateway's WAL checkpoints
run the same way, in a thread on a connection of their own (`checkpoint`). Several processes
may share the file: every write transaction starts with `BEGIN IMMEDIATE`, so writers queue
on the `busy_timeout` instead of failing on a lock upgrade. On the hot path the gateway
batches the transactions of concurrent requests into one commit (`group_commit.GroupCommit`
with `flat_transaction`).

Times are aware `datetime`s passed in by the caller (so tests control the clock) and stored as
fixed-width UTC ISO-8601 text, which sorts in time order.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from exchange.gateway.state.idempotency import IdempotencyKeys
from exchange.gateway.state.ids import uuid7
from exchange.gateway.state.partner_side import PartnerSideState
from exchange.gateway.state.rows import (
    BUSY_TIMEOUT_MS,
    ConflictError,
    HitRow,
    InboundClaim,
    KeptResponse,
    KeyTakenError,
    ModalityOutcome,
    NewHit,
    NotFoundError,
    PartnerResultRow,
    PartnerStatus,
    QuotaDirection,
    RecordRow,
    SchemaTooNewError,
    SearchRow,
    SearchStatus,
    StoreError,
)
from exchange.gateway.state.schema import (
    MIGRATIONS,
    _maybe_time,
    _migrate,
    _read_transaction,
    _time,
    timestamp,
    write_transaction,
)
from exchange.gateway.state.uk_records import UkRecords
from exchange.model import MatchType, Modality, Purpose

# The store's vocabulary is exported from here too, so callers import from one module.
__all__ = [
    "MIGRATIONS",
    "ConflictError",
    "HitRow",
    "InboundClaim",
    "KeptResponse",
    "KeyTakenError",
    "NewHit",
    "NotFoundError",
    "PartnerResultRow",
    "PartnerStatus",
    "QuotaDirection",
    "RecordRow",
    "SchemaTooNewError",
    "SearchRow",
    "SearchStatus",
    "Store",
    "StoreError",
    "timestamp",
    "write_transaction",
]

# --- the store ----------------------------------------------------------------------------


class Store(PartnerSideState, UkRecords, IdempotencyKeys):
    """The gateway's SQLite state; one thread only (see the module docstring)."""

    # Makes the search ids, partner message ids and hit ids: time-ordered, so that each new
    # key lands on the rightmost leaf of its index (`ids`); `bench store` swaps in random
    # UUIDs on an instance for its same-run baseline.
    new_id: Callable[[], str] = staticmethod(uuid7)

    @classmethod
    def open(cls, path: str | Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Store:
        """Open (creating if need be) and migrate the database at `path`."""
        conn = sqlite3.connect(
            path, isolation_level=None, timeout=busy_timeout_ms / 1000, check_same_thread=True
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"could not put {path} in WAL mode (got {mode})")
            # In WAL mode a commit has been written to the WAL file, through the OS page
            # cache, before COMMIT returns; NORMAL only skips the fsync on each commit. A
            # killed process (kill -9) therefore loses nothing: the kernel still holds and
            # writes its pages. Only an OS crash or power cut can lose the last commits
            # (never corrupt the file); surviving those would need synchronous=FULL.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
        return cls(conn)

    def close(self) -> None:
        self._conn.close()

    def checkpoint_past(self, pages: int) -> None:
        """Let a commit checkpoint the WAL only once it holds `pages` pages (SQLite's
        default is 1000), for a process that checkpoints in a thread (`checkpoint`); a WAL
        that grew past that (a long reader held it) is cut back to it when it restarts."""
        (page_size,) = self._conn.execute("PRAGMA page_size").fetchone()
        self._conn.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")
        self._conn.execute(f"PRAGMA journal_size_limit = {int(pages) * int(page_size)}")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The underlying connection, for `AuditLog` and tests; same one-thread rule."""
        return self._conn

    def transaction(self) -> AbstractContextManager[None]:
        """Group several store calls (and audit entries) into one atomic transaction."""
        return self._write()

    # --- searches -------------------------------------------------------------------------

    def create_search(
        self,
        *,
        client_id: str,
        purpose: Purpose,
        case_reference: str,
        modalities: Sequence[Modality],
        partners: Sequence[str],
        max_candidates: int,
        record_json: str,
        correlation_id: str,
        now: dt.datetime,
        deadline_at: dt.datetime,
    ) -> SearchRow:
        """Store a new `pending` search with one `pending` result per partner, atomically.

        Each partner result gets its outbound message id here, so a retry or a resume after
        a crash sends the same id and the partner can recognise the duplicate.
        """
        if not partners:
            raise ValueError("a search needs at least one partner")
        if len(set(partners)) != len(partners):
            raise ValueError(f"partners repeated: {list(partners)}")
        created = timestamp(now)
        created_at = _time(created)  # as it reads back: UTC, to the microsecond
        row = SearchRow(
            search_id=self.new_id(),
            client_id=client_id,
            purpose=Purpose(purpose),
            case_reference=case_reference,
            modalities=tuple(Modality(m) for m in modalities),
            partners=tuple(partners),
            max_candidates=max_candidates,
            record_json=record_json,
            correlation_id=correlation_id,
            status=SearchStatus.PENDING,
            created_at=created_at,
            deadline_at=_time(timestamp(deadline_at)),
            completed_at=None,
            results=tuple(
                PartnerResultRow(p, PartnerStatus.PENDING, None, self.new_id(), created_at, ())
                for p in sorted(partners)
            ),
        )
        with self._write():
            self._conn.execute(
                "INSERT INTO searches (search_id, client_id, purpose, case_reference,"
                " modalities, partners, max_candidates, correlation_id, status,"
                " created_at, deadline_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (
                    row.search_id,
                    client_id,
                    row.purpose.value,
                    case_reference,
                    json.dumps([m.value for m in row.modalities]),
                    json.dumps(list(partners)),
                    max_candidates,
                    correlation_id,
                    created,
                    timestamp(deadline_at),
                ),
            )
            self._conn.execute(  # its own table: see migration 6 -> 7
                "INSERT INTO search_records (search_id, record_json) VALUES (?, ?)",
                (row.search_id, record_json),
            )
            self._conn.executemany(
                "INSERT INTO partner_results (search_id, partner, status, message_id,"
                " updated_at) VALUES (?, ?, 'pending', ?, ?)",
                [(row.search_id, r.partner, r.message_id, created) for r in row.results],
            )
        return row

    def get_search(self, search_id: str) -> SearchRow | None:
        with _read_transaction(self._conn):
            return self._search(search_id)

    def pending_searches(self) -> list[SearchRow]:
        """Searches not yet finished, oldest first: what to resume after a restart."""
        with _read_transaction(self._conn):
            ids = [
                r[0]
                for r in self._conn.execute(
                    "SELECT search_id FROM searches WHERE status = 'pending'"
                    " ORDER BY created_at, rowid"
                )
            ]
            rows = [self._search(i) for i in ids]
        return [r for r in rows if r is not None]

    def set_partner_result(
        self,
        search_id: str,
        partner: str,
        status: PartnerStatus,
        *,
        now: dt.datetime,
        error: str | None = None,
        hits: Sequence[NewHit] = (),
        outcomes: Sequence[ModalityOutcome] = (),
    ) -> bool:
        """Record a partner's answer, its answer per modality and its hits in one transaction.

        A partner result is written once: if it is no longer `pending` (a late reply after
        the search timed it out, or a duplicate) nothing changes and False is returned, so
        confirmed hits are never replaced. `hit` needs at least one hit; other statuses none.
        """
        status = PartnerStatus(status)
        if status is PartnerStatus.PENDING:
            raise ValueError("a partner result cannot be set back to pending")
        if (status is PartnerStatus.HIT) != bool(hits):
            raise ValueError(f"status {status.value} with {len(hits)} hits")
        with self._write():
            cur = self._conn.execute(
                "UPDATE partner_results SET status = ?, error = ?, updated_at = ?,"
                " outcomes_json = ? WHERE search_id = ? AND partner = ? AND status = 'pending'",
                (
                    status.value,
                    error,
                    timestamp(now),
                    _outcomes_json(outcomes),
                    search_id,
                    partner,
                ),
            )
            if cur.rowcount == 0:
                exists = self._conn.execute(
                    "SELECT 1 FROM partner_results WHERE search_id = ? AND partner = ?",
                    (search_id, partner),
                ).fetchone()
                if exists is None:
                    raise NotFoundError("partner result", f"{search_id}/{partner}")
                return False
            self._conn.executemany(
                "INSERT INTO hits (hit_id, search_id, partner, modality, reference, score,"
                " match_type, wildcard, core_data_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        self.new_id(),
                        search_id,
                        partner,
                        Modality(h.modality).value,
                        h.reference,
                        float(h.score),
                        MatchType(h.match_type).value,
                        int(h.wildcard),
                        h.core_data_json,
                    )
                    for h in hits
                ],
            )
        return True

    def mark_fanned_out(self, search_id: str, *, now: dt.datetime) -> None:
        """Note that this search's outbound capacity is taken and its sends audited.

        Written in that same commit: a search resumed after a restart resends its messages
        (the same ids) without counting them against its partners' capacity again.
        """
        with self._write():
            self._conn.execute(
                "UPDATE searches SET fanned_out_at = ? WHERE search_id = ?"
                " AND fanned_out_at IS NULL",
                (timestamp(now), search_id),
            )

    def mark_batched(self, partner: str, batch_id: str, search_ids: Sequence[str]) -> None:
        """Note that these searches' DNA probes went to `partner` in batch `batch_id`.

        Written in the commit that audits the batch, before a byte of it leaves: a search
        resumed after a restart then asks again under the batch's id (`dna_batch`).
        """
        with self._write():
            self._conn.executemany(
                "UPDATE partner_results SET dna_batch_id = ? WHERE search_id = ? AND partner = ?",
                [(batch_id, search_id, partner) for search_id in search_ids],
            )

    def close_search(self, search_id: str, status: SearchStatus, *, now: dt.datetime) -> None:
        """Close a search; partners still `pending` become `timeout` in the same transaction.

        `complete` is refused while a partner is still pending (use `partial` at the
        deadline). The record as received (with its biometrics) is dropped here: it was kept
        only to resume the fan-out after a crash, and a finished search has no use for it.
        Closing an already closed search (or one that does not exist) changes nothing. The
        search is not read back: this is the fan-out's hot path.
        """
        status = SearchStatus(status)
        if status is SearchStatus.PENDING:
            raise ValueError("close_search needs a final status")
        stamp = timestamp(now)
        with self._write():
            if status is SearchStatus.COMPLETE:
                waiting = self._conn.execute(
                    "SELECT 1 FROM partner_results WHERE search_id = ? AND status = 'pending'",
                    (search_id,),
                ).fetchone()
                if waiting:
                    raise ConflictError(f"search {search_id} is not complete: partners pending")
            cur = self._conn.execute(
                "UPDATE searches SET status = ?, completed_at = ?"
                " WHERE search_id = ? AND status = 'pending'",
                (status.value, stamp, search_id),
            )
            if cur.rowcount:  # the record as received goes with the search's end
                self._conn.execute("DELETE FROM search_records WHERE search_id = ?", (search_id,))
            if cur.rowcount and status is not SearchStatus.COMPLETE:
                self._conn.execute(
                    "UPDATE partner_results SET status = 'timeout',"
                    " error = 'no answer before the search ended', updated_at = ?"
                    " WHERE search_id = ? AND status = 'pending'",
                    (stamp, search_id),
                )

    def forget_searches(self, before: dt.datetime, limit: int | None = None) -> int:
        """Drop searches that ended before `before`, with their partner results and hits
        (retention); how many searches. Pending searches are never dropped.

        `limit`: at most that many searches (the oldest ended first), so that a large
        backlog goes in short transactions rather than one that holds the writer.
        """
        return self._forget_oldest("searches", "completed_at", before, limit)

    # --- hits -----------------------------------------------------------------------------

    def get_hit(self, search_id: str, hit_id: str) -> HitRow | None:
        row = self._conn.execute(
            f"SELECT {_HIT_COLUMNS} FROM hits WHERE search_id = ? AND hit_id = ?",
            (search_id, hit_id),
        ).fetchone()
        return None if row is None else _hit(row)

    def hit_core_data_json(self, search_id: str, hit_id: str) -> str | None:
        """The step-2 data that came with a hit (`NewHit.core_data_json`), or None.

        For the hit's follow-up only: search results never read this column.
        """
        row = self._conn.execute(
            "SELECT core_data_json FROM hits WHERE search_id = ? AND hit_id = ?",
            (search_id, hit_id),
        ).fetchone()
        return None if row is None else row[0]

    def confirm_hit(
        self, search_id: str, hit_id: str, operator: str, *, now: dt.datetime
    ) -> HitRow:
        """A person has verified the hit. Idempotent: the first confirmation is kept."""
        with self._write():
            self._conn.execute(
                "UPDATE hits SET confirmed_at = ?, confirmed_by = ?"
                " WHERE search_id = ? AND hit_id = ? AND confirmed_at IS NULL",
                (timestamp(now), operator, search_id, hit_id),
            )
            hit = self.get_hit(search_id, hit_id)
        if hit is None:
            raise NotFoundError("hit", f"{search_id}/{hit_id}")
        return hit

    def record_follow_up(self, search_id: str, hit_id: str, *, now: dt.datetime) -> HitRow:
        """Note that core data were asked for behind this hit (the first time is kept).

        Fingerprint and face hits must be confirmed by a person first (DESIGN.md §1); the
        store refuses otherwise, as a second line behind the gateway's own check.
        """
        with self._write():
            hit = self.get_hit(search_id, hit_id)
            if hit is None:
                raise NotFoundError("hit", f"{search_id}/{hit_id}")
            needs_person = hit.modality in (Modality.FINGERPRINT, Modality.FACE)
            if needs_person and hit.confirmed_at is None:
                raise ConflictError(f"hit {hit_id} ({hit.modality.value}) is not confirmed")
            self._conn.execute(
                "UPDATE hits SET follow_up_at = ? WHERE hit_id = ? AND follow_up_at IS NULL",
                (timestamp(now), hit_id),
            )
            hit = self.get_hit(search_id, hit_id)
        assert hit is not None
        return hit

    # --- reading rows ---------------------------------------------------------------------

    def _search(self, search_id: str) -> SearchRow | None:
        conn = self._conn
        conn_row = conn.execute(
            "SELECT s.search_id, client_id, purpose, case_reference, modalities, partners,"
            " max_candidates, r.record_json, correlation_id, status, created_at, deadline_at,"
            " completed_at, fanned_out_at FROM searches AS s"
            " LEFT JOIN search_records AS r ON r.search_id = s.search_id"
            " WHERE s.search_id = ?",
            (search_id,),
        ).fetchone()
        if conn_row is None:
            return None
        hits: dict[str, list[HitRow]] = {}
        for h in conn.execute(
            f"SELECT {_HIT_COLUMNS} FROM hits WHERE search_id = ?"
            " ORDER BY partner, score DESC, hit_id",
            (search_id,),
        ):
            hit = _hit(h)
            hits.setdefault(hit.partner, []).append(hit)
        results = tuple(
            PartnerResultRow(
                partner=p,
                status=PartnerStatus(status),
                error=error,
                message_id=message_id,
                updated_at=_time(updated),
                hits=tuple(hits.get(p, ())),
                dna_batch_id=batch,
                outcomes=_outcomes(outcomes),
            )
            for p, status, error, message_id, updated, batch, outcomes in conn.execute(
                "SELECT partner, status, error, message_id, updated_at, dna_batch_id,"
                " outcomes_json FROM partner_results WHERE search_id = ? ORDER BY partner",
                (search_id,),
            )
        )
        (sid, client, purpose, case, mods, partners, max_c, rec, corr, st, cr, dl, done, out) = (
            conn_row
        )
        return SearchRow(
            search_id=sid,
            client_id=client,
            purpose=Purpose(purpose),
            case_reference=case,
            modalities=tuple(Modality(m) for m in json.loads(mods)),
            partners=tuple(json.loads(partners)),
            max_candidates=max_c,
            record_json=rec,
            correlation_id=corr,
            status=SearchStatus(st),
            created_at=_time(cr),
            deadline_at=_time(dl),
            completed_at=_maybe_time(done),
            results=results,
            fanned_out_at=_maybe_time(out),
        )


_HIT_COLUMNS = (
    "hit_id, search_id, partner, modality, reference, score, match_type, wildcard,"
    " confirmed_at, confirmed_by, follow_up_at"
)


def _hit(row: tuple[Any, ...]) -> HitRow:
    (hit_id, search_id, partner, modality, ref, score, match_type, wildcard, c_at, c_by, f_at) = row
    return HitRow(
        hit_id=hit_id,
        search_id=search_id,
        partner=partner,
        modality=Modality(modality),
        reference=ref,
        score=score,
        match_type=MatchType(match_type),
        wildcard=bool(wildcard),
        confirmed_at=_maybe_time(c_at),
        confirmed_by=c_by,
        follow_up_at=_maybe_time(f_at),
    )


def _outcomes_json(outcomes: Sequence[ModalityOutcome]) -> str | None:
    if not outcomes:
        return None
    return json.dumps(
        [
            {"modality": o.modality.value, "status": o.status.value, "error": o.error}
            for o in outcomes
        ]
    )


def _outcomes(text: str | None) -> tuple[ModalityOutcome, ...]:
    if not text:
        return ()
    return tuple(
        ModalityOutcome(Modality(o["modality"]), PartnerStatus(o["status"]), o["error"])
        for o in json.loads(text)
    )
