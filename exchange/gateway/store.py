"""The gateway's durable state: one SQLite file, the source of truth (DESIGN.md §5).

Holds searches and their per-partner results and hits (client side), the enrolled UK gallery
that answers partners (the FAISS indexes are a cache stamped with `gallery_version`), daily
quota counters per partner and search type, inbound message claims and replies (a repeated
message id gets the same reply, never a second search), and the hit references released to
each partner (the 48 h follow-up rule of DESIGN.md §1). The audit log lives in the same file
(`audit.py`); its tables are created by the migrations here so there is one schema version.

Threading: a `Store` wraps one `sqlite3.Connection` and may be used only from the thread that
opened it (sqlite3's `check_same_thread` enforces this). Every method is one short
transaction, well under a millisecond, so the gateway calls them directly from its event loop
thread. Work that reads for long (an index rebuild) opens a `Store` of its own in its worker
thread; WAL mode lets it read while the loop's `Store` writes. Several processes may share the
file: every write transaction starts with `BEGIN IMMEDIATE`, so writers queue on the
`busy_timeout` instead of failing on a lock upgrade.

Times are aware `datetime`s passed in by the caller (so tests control the clock) and stored as
fixed-width UTC ISO-8601 text, which sorts in time order.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from exchange.model import MatchType, Modality, Purpose

BUSY_TIMEOUT_MS = 5000
FOLLOW_UP_WINDOW = dt.timedelta(hours=48)
CLAIM_STALE_AFTER = dt.timedelta(seconds=60)


class SearchStatus(StrEnum):
    """DESIGN.md §4, client API: the status of a whole search."""

    PENDING = "pending"
    COMPLETE = "complete"
    PARTIAL = "partial"
    FAILED = "failed"


class PartnerStatus(StrEnum):
    """DESIGN.md §4, client API: the status of one partner's part of a search."""

    PENDING = "pending"
    HIT = "hit"
    NO_HIT = "no_hit"
    ERROR = "error"
    TIMEOUT = "timeout"
    QUOTA_EXCEEDED = "quota_exceeded"
    REJECTED = "rejected"


class QuotaDirection(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


# --- errors -------------------------------------------------------------------------------


class StoreError(Exception):
    """Base of the store's errors."""


class NotFoundError(StoreError):
    """A search, hit or record that the caller named does not exist."""

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} not found")
        self.what = what
        self.key = key


class ConflictError(StoreError):
    """The write contradicts what is stored (a duplicate key, a follow-up before confirmation)."""


class SchemaTooNewError(StoreError):
    """The file was written by a newer version of this program; refusing to touch it."""


# --- rows ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewHit:
    """A candidate a partner returned, to be stored with its partner result."""

    modality: Modality
    reference: str
    score: float
    match_type: MatchType
    wildcard: bool = False


@dataclass(frozen=True, slots=True)
class HitRow:
    hit_id: str
    search_id: str
    partner: str
    modality: Modality
    reference: str
    score: float
    match_type: MatchType
    wildcard: bool
    confirmed_at: dt.datetime | None
    confirmed_by: str | None
    follow_up_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class PartnerResultRow:
    partner: str
    status: PartnerStatus
    error: str | None
    message_id: str
    updated_at: dt.datetime
    hits: tuple[HitRow, ...]

    def message_id_for(self, modality: Modality) -> str:
        """The outbound message id for one modality's request to this partner.

        Each modality travels in its own request envelope; deriving its id from the stored
        one keeps it the same on every retry and after a restart.
        """
        return f"{self.message_id}.{Modality(modality).value}"


@dataclass(frozen=True, slots=True)
class SearchRow:
    search_id: str
    client_id: str
    purpose: Purpose
    case_reference: str
    modalities: tuple[Modality, ...]
    partners: tuple[str, ...]
    max_candidates: int
    record_json: str | None  # None once finished: the probe is not kept beyond its search
    correlation_id: str
    status: SearchStatus
    created_at: dt.datetime
    deadline_at: dt.datetime
    completed_at: dt.datetime | None
    results: tuple[PartnerResultRow, ...]


@dataclass(frozen=True, slots=True)
class InboundClaim:
    """What `claim_message` found: answer it (`first`), resend `reply`, or wait."""

    first: bool
    reply: bytes | None

    @property
    def in_progress(self) -> bool:
        return not self.first and self.reply is None


@dataclass(frozen=True, slots=True)
class RecordRow:
    pnc_id: str
    reference: str
    record_json: str
    enrolled_at: dt.datetime


# --- schema -------------------------------------------------------------------------------

# Forward migrations: MIGRATIONS[i] takes the schema from version i to i + 1. Append only;
# never edit a script that has shipped.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT;
    INSERT INTO meta (key, value) VALUES ('gallery_version', 0);

    CREATE TABLE searches (
        search_id TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        purpose TEXT NOT NULL,
        case_reference TEXT NOT NULL,
        modalities TEXT NOT NULL,
        partners TEXT NOT NULL,
        max_candidates INTEGER NOT NULL,
        record_json TEXT,
        correlation_id TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('pending', 'complete', 'partial', 'failed')),
        created_at TEXT NOT NULL,
        deadline_at TEXT NOT NULL,
        completed_at TEXT
    ) STRICT;
    CREATE INDEX searches_pending ON searches (created_at) WHERE status = 'pending';

    CREATE TABLE partner_results (
        search_id TEXT NOT NULL REFERENCES searches (search_id) ON DELETE CASCADE,
        partner TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN
            ('pending', 'hit', 'no_hit', 'error', 'timeout', 'quota_exceeded', 'rejected')),
        error TEXT,
        message_id TEXT NOT NULL UNIQUE,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (search_id, partner)
    ) STRICT;

    CREATE TABLE hits (
        hit_id TEXT PRIMARY KEY,
        search_id TEXT NOT NULL,
        partner TEXT NOT NULL,
        modality TEXT NOT NULL CHECK (modality IN ('dna', 'fingerprint', 'face', 'nominal')),
        reference TEXT NOT NULL,
        score REAL NOT NULL,
        match_type TEXT NOT NULL CHECK (match_type IN ('full', 'near', 'candidate')),
        wildcard INTEGER NOT NULL CHECK (wildcard IN (0, 1)),
        confirmed_at TEXT,
        confirmed_by TEXT,
        follow_up_at TEXT,
        FOREIGN KEY (search_id, partner)
            REFERENCES partner_results (search_id, partner) ON DELETE CASCADE
    ) STRICT;
    CREATE INDEX hits_by_partner ON hits (search_id, partner);

    CREATE TABLE records (
        pnc_id TEXT PRIMARY KEY,
        reference TEXT NOT NULL UNIQUE,
        record_json TEXT NOT NULL,
        enrolled_at TEXT NOT NULL
    ) STRICT;

    CREATE TABLE quotas (
        direction TEXT NOT NULL CHECK (direction IN ('outbound', 'inbound')),
        partner TEXT NOT NULL,
        search_type TEXT NOT NULL,
        day TEXT NOT NULL,
        used INTEGER NOT NULL,
        PRIMARY KEY (direction, partner, search_type, day)
    ) STRICT;

    CREATE TABLE inbound_messages (
        sender TEXT NOT NULL,
        message_id TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        reply BLOB,
        answered_at TEXT,
        PRIMARY KEY (sender, message_id)
    ) STRICT;

    CREATE TABLE released_hits (
        sender TEXT NOT NULL,
        reference TEXT NOT NULL,
        search_message_id TEXT NOT NULL,
        released_at TEXT NOT NULL,
        PRIMARY KEY (sender, reference, search_message_id)
    ) STRICT;

    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        direction TEXT NOT NULL,
        partner TEXT,
        message_type TEXT NOT NULL,
        message_id TEXT,
        refs TEXT NOT NULL,
        purpose TEXT,
        outcome TEXT NOT NULL,
        actor TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    ) STRICT;
    CREATE TABLE audit_head (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    ) STRICT;
    """,
]


def _statements(script: str) -> Iterator[str]:
    """Split a script into statements; executescript() would commit the open transaction."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:60]!r}")


def _migrate(conn: sqlite3.Connection) -> None:
    with write_transaction(conn):
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        version = 0 if row is None else int(row[0])
        if version > len(MIGRATIONS):
            raise SchemaTooNewError(
                f"database schema version {version} is newer than this program's {len(MIGRATIONS)}"
            )
        for script in MIGRATIONS[version:]:
            for statement in _statements(script):
                conn.execute(statement)
        if row is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (len(MIGRATIONS),))
        else:
            conn.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))


# --- transactions and time ----------------------------------------------------------------


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One atomic write: `BEGIN IMMEDIATE` at the top level, a savepoint when nested.

    Nesting lets a caller wrap several store calls and an audit entry in one transaction
    (`Store.transaction()`), while a failed inner step still rolls back only itself if the
    caller catches its error. The connection must be in autocommit mode
    (`isolation_level=None`) and not inside a read transaction of its own.
    """
    if conn.in_transaction:
        conn.execute("SAVEPOINT nested")
        try:
            yield
        except BaseException:
            if conn.in_transaction:  # some errors make SQLite roll back by itself
                conn.execute("ROLLBACK TO nested")
                conn.execute("RELEASE nested")
            raise
        conn.execute("RELEASE nested")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # Also after a failed COMMIT: a transaction left open would swallow every later
        # write into a savepoint that is never committed.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextmanager
def _read_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Several SELECTs that see one snapshot."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def timestamp(moment: dt.datetime) -> str:
    """Fixed-width UTC ISO-8601 (sorts as text in time order); naive datetimes are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware UTC time")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _day(day: dt.date) -> str:
    """A quota day as `YYYY-MM-DD`; an aware datetime counts on its UTC day."""
    if isinstance(day, dt.datetime):
        return timestamp(day)[:10]
    return day.isoformat()


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _maybe_time(text: str | None) -> dt.datetime | None:
    return None if text is None else _time(text)


# --- the store ----------------------------------------------------------------------------


class Store:
    """The gateway's SQLite state; one thread only (see the module docstring)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._snapshot_open = False

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

    @contextmanager
    def _write(self) -> Iterator[None]:
        if self._snapshot_open:
            raise StoreError("a gallery snapshot is open on this Store; write through another")
        with write_transaction(self._conn):
            yield

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
            search_id=str(uuid.uuid4()),
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
                PartnerResultRow(p, PartnerStatus.PENDING, None, str(uuid.uuid4()), created_at, ())
                for p in sorted(partners)
            ),
        )
        with self._write():
            self._conn.execute(
                "INSERT INTO searches (search_id, client_id, purpose, case_reference,"
                " modalities, partners, max_candidates, record_json, correlation_id, status,"
                " created_at, deadline_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (
                    row.search_id,
                    client_id,
                    row.purpose.value,
                    case_reference,
                    json.dumps([m.value for m in row.modalities]),
                    json.dumps(list(partners)),
                    max_candidates,
                    record_json,
                    correlation_id,
                    created,
                    timestamp(deadline_at),
                ),
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
    ) -> bool:
        """Record a partner's answer and its hits in one transaction.

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
                "UPDATE partner_results SET status = ?, error = ?, updated_at = ?"
                " WHERE search_id = ? AND partner = ? AND status = 'pending'",
                (status.value, error, timestamp(now), search_id, partner),
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
                " match_type, wildcard) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        str(uuid.uuid4()),
                        search_id,
                        partner,
                        Modality(h.modality).value,
                        h.reference,
                        float(h.score),
                        MatchType(h.match_type).value,
                        int(h.wildcard),
                    )
                    for h in hits
                ],
            )
        return True

    def finish_search(self, search_id: str, status: SearchStatus, *, now: dt.datetime) -> SearchRow:
        """Close a search; partners still `pending` become `timeout` in the same transaction.

        `complete` is refused while a partner is still pending (use `partial` at the
        deadline). The record as received (with its biometrics) is dropped here: it was kept
        only to resume the fan-out after a crash, and a finished search has no use for it.
        Finishing an already finished search changes nothing and returns it as stored.
        """
        status = SearchStatus(status)
        if status is SearchStatus.PENDING:
            raise ValueError("finish_search needs a final status")
        stamp = timestamp(now)
        with self._write():
            waiting = self._conn.execute(
                "SELECT 1 FROM partner_results WHERE search_id = ? AND status = 'pending'",
                (search_id,),
            ).fetchone()
            if status is SearchStatus.COMPLETE and waiting:
                raise ConflictError(f"search {search_id} is not complete: partners are pending")
            cur = self._conn.execute(
                "UPDATE searches SET status = ?, completed_at = ?, record_json = NULL"
                " WHERE search_id = ? AND status = 'pending'",
                (status.value, stamp, search_id),
            )
            if cur.rowcount:
                self._conn.execute(
                    "UPDATE partner_results SET status = 'timeout',"
                    " error = 'no answer before the search ended', updated_at = ?"
                    " WHERE search_id = ? AND status = 'pending'",
                    (stamp, search_id),
                )
            row = self._search(search_id)
        if row is None:
            raise NotFoundError("search", search_id)
        return row

    # --- hits -----------------------------------------------------------------------------

    def get_hit(self, search_id: str, hit_id: str) -> HitRow | None:
        row = self._conn.execute(
            f"SELECT {_HIT_COLUMNS} FROM hits WHERE search_id = ? AND hit_id = ?",
            (search_id, hit_id),
        ).fetchone()
        return None if row is None else _hit(row)

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

    # --- the UK gallery -------------------------------------------------------------------

    def enrol_record(
        self, pnc_id: str, reference: str, record_json: str, *, now: dt.datetime
    ) -> int:
        """Enrol or replace a record; returns the new gallery version."""
        with self._write():
            try:
                self._conn.execute(
                    "INSERT INTO records (pnc_id, reference, record_json, enrolled_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (pnc_id) DO UPDATE SET"
                    " reference = excluded.reference, record_json = excluded.record_json,"
                    " enrolled_at = excluded.enrolled_at",
                    (pnc_id, reference, record_json, timestamp(now)),
                )
            except sqlite3.IntegrityError as exc:
                if "records.reference" not in str(exc):
                    raise
                raise ConflictError(
                    f"reference {reference!r} already belongs to another record"
                ) from exc
            return self._bump_gallery_version()

    def delete_record(self, pnc_id: str) -> bool:
        """Remove a record; True if there was one (the gallery version moves only then)."""
        with self._write():
            cur = self._conn.execute("DELETE FROM records WHERE pnc_id = ?", (pnc_id,))
            if cur.rowcount == 0:
                return False
            self._bump_gallery_version()
        return True

    def get_record(self, pnc_id: str) -> RecordRow | None:
        row = self._conn.execute(
            f"SELECT {_RECORD_COLUMNS} FROM records WHERE pnc_id = ?", (pnc_id,)
        ).fetchone()
        return None if row is None else _record(row)

    def record_by_reference(self, reference: str) -> RecordRow | None:
        row = self._conn.execute(
            f"SELECT {_RECORD_COLUMNS} FROM records WHERE reference = ?", (reference,)
        ).fetchone()
        return None if row is None else _record(row)

    def gallery_version(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'gallery_version'").fetchone()
        return int(row[0])

    @contextmanager
    def gallery_snapshot(self) -> Iterator[tuple[int, Iterator[RecordRow]]]:
        """The gallery version and every record at that version, read in one snapshot.

        For rebuilding the FAISS indexes: stamp them with the version yielded here. Holds a
        read transaction until the block ends, and this Store refuses writes meanwhile, so
        use a `Store` of its own (in the worker thread that rebuilds), not the event loop's.
        """
        if self._conn.in_transaction:
            raise StoreError("gallery_snapshot inside a transaction")
        self._snapshot_open = True
        try:
            with _read_transaction(self._conn):
                version = self.gallery_version()
                cursor = self._conn.execute(
                    f"SELECT {_RECORD_COLUMNS} FROM records ORDER BY pnc_id"
                )
                yield version, (_record(r) for r in cursor)
                cursor.close()
        finally:
            self._snapshot_open = False

    def iter_records(self, batch: int = 1000) -> Iterator[RecordRow]:
        """Every enrolled record by PNC ID, read in short batches that hold no transaction.

        Records enrolled or deleted while iterating may or may not be seen; for a
        consistent read stamped with a version, use `gallery_snapshot`.
        """
        after = ""
        while True:
            rows = self._conn.execute(
                f"SELECT {_RECORD_COLUMNS} FROM records WHERE pnc_id > ? ORDER BY pnc_id LIMIT ?",
                (after, batch),
            ).fetchall()
            for row in rows:
                yield _record(row)
            if len(rows) < batch:
                return
            after = rows[-1][0]

    def _bump_gallery_version(self) -> int:
        row = self._conn.execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'gallery_version' RETURNING value"
        ).fetchone()
        return int(row[0])

    # --- quotas ---------------------------------------------------------------------------

    def take_quota(
        self,
        direction: QuotaDirection,
        partner: str,
        search_type: str,
        day: dt.date,
        limit: int,
    ) -> bool:
        """Count one search against the day's capacity; False (and no count) when it is spent.

        One statement inside `BEGIN IMMEDIATE`, so processes sharing the file never overshoot.
        """
        if limit <= 0:
            return False
        with self._write():
            cur = self._conn.execute(
                "INSERT INTO quotas (direction, partner, search_type, day, used)"
                " VALUES (?, ?, ?, ?, 1) ON CONFLICT DO UPDATE SET used = used + 1"
                " WHERE used < ?",
                (QuotaDirection(direction).value, partner, search_type, _day(day), limit),
            )
            return cur.rowcount == 1

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
    ) -> InboundClaim:
        """Say whether this (sender, message id) is new, answered, or being answered.

        The first caller gets `first=True`, runs the search and calls `remember_reply`. A
        duplicate gets the stored reply, or, while the first is still at work (a sender
        that retried on its own timeout), `in_progress`: answer with a transient error or
        poll `cached_reply`, but do not search again. A claim older than `stale_after`
        without a reply (its process died) is handed to the next caller.
        """
        with self._write():
            row = self._conn.execute(
                "SELECT claimed_at, reply FROM inbound_messages"
                " WHERE sender = ? AND message_id = ?",
                (sender, message_id),
            ).fetchone()
            if row is not None and row[1] is not None:
                return InboundClaim(first=False, reply=bytes(row[1]))
            if row is not None and _time(row[0]) > now - stale_after:
                return InboundClaim(first=False, reply=None)
            self._conn.execute(
                "INSERT INTO inbound_messages (sender, message_id, claimed_at)"
                " VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET claimed_at = excluded.claimed_at",
                (sender, message_id, timestamp(now)),
            )
        return InboundClaim(first=True, reply=None)

    def remember_reply(
        self, sender: str, message_id: str, reply: bytes, *, now: dt.datetime
    ) -> bytes:
        """Keep the reply sent for (sender, message id); returns the reply that is stored.

        If a reply was stored first (another process answered the same message), that one
        wins and is returned, so every duplicate gets one and the same reply.
        """
        stamp = timestamp(now)
        with self._write():
            self._conn.execute(
                "INSERT INTO inbound_messages (sender, message_id, claimed_at, reply,"
                " answered_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
                " reply = excluded.reply, answered_at = excluded.answered_at"
                " WHERE reply IS NULL",
                (sender, message_id, stamp, reply, stamp),
            )
            stored = self.cached_reply(sender, message_id)
        assert stored is not None
        return stored

    def cached_reply(self, sender: str, message_id: str) -> bytes | None:
        """The reply already given to this message, if any."""
        row = self._conn.execute(
            "SELECT reply FROM inbound_messages WHERE sender = ? AND message_id = ?",
            (sender, message_id),
        ).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def forget_replies(self, before: dt.datetime) -> int:
        """Drop messages claimed before `before` and their replies (retention); how many."""
        with self._write():
            cur = self._conn.execute(
                "DELETE FROM inbound_messages WHERE claimed_at < ?", (timestamp(before),)
            )
            return cur.rowcount

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

    def forget_released(self, before: dt.datetime) -> int:
        """Drop release notes older than `before` (past every follow-up window); how many."""
        with self._write():
            cur = self._conn.execute(
                "DELETE FROM released_hits WHERE released_at < ?", (timestamp(before),)
            )
            return cur.rowcount

    # --- reading rows ---------------------------------------------------------------------

    def _search(self, search_id: str) -> SearchRow | None:
        conn = self._conn
        conn_row = conn.execute(
            "SELECT search_id, client_id, purpose, case_reference, modalities, partners,"
            " max_candidates, record_json, correlation_id, status, created_at, deadline_at,"
            " completed_at FROM searches WHERE search_id = ?",
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
            )
            for p, status, error, message_id, updated in conn.execute(
                "SELECT partner, status, error, message_id, updated_at FROM partner_results"
                " WHERE search_id = ? ORDER BY partner",
                (search_id,),
            )
        )
        (sid, client, purpose, case, mods, partners, max_c, rec, corr, st, cr, dl, done) = conn_row
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
        )


_HIT_COLUMNS = (
    "hit_id, search_id, partner, modality, reference, score, match_type, wildcard,"
    " confirmed_at, confirmed_by, follow_up_at"
)
_RECORD_COLUMNS = "pnc_id, reference, record_json, enrolled_at"


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


def _record(row: tuple[Any, ...]) -> RecordRow:
    pnc_id, reference, record_json, enrolled_at = row
    return RecordRow(
        pnc_id=pnc_id,
        reference=reference,
        record_json=record_json,
        enrolled_at=_time(enrolled_at),
    )
