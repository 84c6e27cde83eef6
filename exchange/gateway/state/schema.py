"""The gateway store's schema, its forward migrations, and its transaction rules.

`MIGRATIONS[i]` takes the schema from version i to i + 1 (append only). Writes run in
`BEGIN IMMEDIATE` transactions, nested ones as savepoints; reads in deferred transactions
for a consistent snapshot. Times are stored as fixed-width UTC ISO-8601 text.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from exchange.gateway.state.rows import (
    SchemaTooNewError,
    StoreError,
)

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
    # 1 -> 2: housekeeping finds old partner-side rows by time without a table scan.
    """
    CREATE INDEX inbound_messages_by_time ON inbound_messages (claimed_at);
    CREATE INDEX released_hits_by_time ON released_hits (released_at);
    """,
    # 2 -> 3: housekeeping finds ended searches by their end without a table scan (a pending
    # search has no end, so it is not in the index).
    """
    CREATE INDEX searches_by_end ON searches (completed_at) WHERE completed_at IS NOT NULL;
    """,
    # 3 -> 4: the DNA batch message that carried a search's probe to a partner (`dna_batch`),
    # so a search resumed after a restart asks again under that id, not under its own.
    """
    ALTER TABLE partner_results ADD COLUMN dna_batch_id TEXT;
    """,
    # 4 -> 5: when a search's outbound capacity was taken and its sends audited, so a search
    # resumed after a restart does not count its partners' capacity a second time.
    """
    ALTER TABLE searches ADD COLUMN fanned_out_at TEXT;
    """,
    # 5 -> 6: the last audit entry moved out to an archive file (`audit_archive`); the chain
    # left in `audit` links to it.
    """
    CREATE TABLE audit_anchor (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        archived_at TEXT NOT NULL
    ) STRICT;
    """,
    # 6 -> 7: a pending search's record (kept only to resume its fan-out after a restart) in
    # a table of its own, deleted when the search ends. In `searches` a 3-4 kB record filled
    # a page per search, and a page emptied by its end was never filled again (new keys land
    # on the rightmost leaf): 92% of the table's pages stood unused, 4 kB a search for the
    # whole retention. `searches.record_json` stays, always NULL (dropping a column needs
    # SQLite 3.35 and rewrites the table).
    """
    CREATE TABLE search_records (
        search_id TEXT PRIMARY KEY REFERENCES searches (search_id) ON DELETE CASCADE,
        record_json TEXT NOT NULL
    ) STRICT;
    INSERT INTO search_records (search_id, record_json)
        SELECT search_id, record_json FROM searches WHERE record_json IS NOT NULL;
    UPDATE searches SET record_json = NULL WHERE record_json IS NOT NULL;
    """,
    # 7 -> 8: the two columns nothing reads go: `searches.record_json` (always NULL since
    # 6 -> 7) and `inbound_messages.answered_at` (written with each reply, never read).
    # Neither is indexed or named by a constraint, trigger or view, so DROP COLUMN (SQLite
    # 3.35; STRICT tables already need 3.37) can take them. It rewrites each table's rows
    # once, inside the migration's transaction. A rebuild (new table, copy, DROP, RENAME)
    # is not an option here: with foreign keys on (they cannot be turned off inside a
    # transaction), dropping `searches` would cascade-delete every partner result, hit and
    # search record.
    """
    ALTER TABLE searches DROP COLUMN record_json;
    ALTER TABLE inbound_messages DROP COLUMN answered_at;
    """,
    # 8 -> 9: the step-2 data a partner sent with a hit (an INT-I SRE names the person it
    # identified), as a UK record's JSON like `records.record_json`; read only by the hit's
    # follow-up (`outbound.follow_up`), dropped with its search.
    """
    ALTER TABLE hits ADD COLUMN core_data_json TEXT;
    """,
    # 9 -> 10: what a claimed partner message asked (`inbound.replays`: digests of its
    # content, space-separated), so a later message under the same (sender, message id)
    # that asks something else is refused, not answered with the first one's reply. Rows
    # claimed before have none and are answered as before.
    """
    ALTER TABLE inbound_messages ADD COLUMN body_digest TEXT;
    """,
    # 10 -> 11: the client API's idempotency keys (`idempotency`): per client, the digest of
    # what the first request asked and the response it got, written in the commit that
    # created its search or record, so a retry is answered with that response and nothing
    # is made twice. `finished` is 0 while the first request still waits (`?wait=`) for
    # its search. Housekeeping drops them by `created_at` after 24 h.
    """
    CREATE TABLE idempotency_keys (
        client_id TEXT NOT NULL,
        key TEXT NOT NULL,
        digest TEXT NOT NULL,
        resource TEXT NOT NULL,
        status INTEGER NOT NULL,
        body TEXT NOT NULL,
        finished INTEGER NOT NULL CHECK (finished IN (0, 1)),
        created_at TEXT NOT NULL,
        PRIMARY KEY (client_id, key)
    ) STRICT;
    CREATE INDEX idempotency_keys_by_time ON idempotency_keys (created_at);
    """,
    # 11 -> 12: a partner's answer per modality (`rows.ModalityOutcome`, a JSON list of
    # modality, status and error), beside the one status derived from them. Results written
    # before have none; the client API shows an empty list for them.
    """
    ALTER TABLE partner_results ADD COLUMN outcomes_json TEXT;
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
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")  # 3x strftime


def _day(day: dt.date) -> str:
    """A quota day as `YYYY-MM-DD`; an aware datetime counts on its UTC day."""
    if isinstance(day, dt.datetime):
        return timestamp(day)[:10]
    return day.isoformat()


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _maybe_time(text: str | None) -> dt.datetime | None:
    return None if text is None else _time(text)


class FlatStepFailed(StoreError):
    """A step failed inside `flat_transaction`; everything in it was rolled back."""


# Tables whose old rows housekeeping deletes, each with its indexed time column.
FORGETTABLE = frozenset(
    {
        ("searches", "completed_at"),
        ("inbound_messages", "claimed_at"),
        ("released_hits", "released_at"),
        ("idempotency_keys", "created_at"),
    }
)


class Connected:
    """What every part of the store shares: the connection and the write transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._flat = False  # inside `flat_transaction`: steps join it without savepoints
        self._flat_failed = False

    @contextmanager
    def _write(self) -> Iterator[None]:
        if self._flat:
            try:
                yield
            except BaseException:
                self._flat_failed = True  # even if a caller catches it: see flat_transaction
                raise
            return
        with write_transaction(self._conn):
            yield

    def _forget_oldest(
        self, table: str, column: str, before: dt.datetime, limit: int | None
    ) -> int:
        """Delete `table`'s rows whose time `column` is before `before`, oldest first, at
        most `limit` (None: all) in this transaction; how many (housekeeping).

        Only the pairs in `FORGETTABLE` (names in SQL text, never input); each `column` is
        indexed (migrations 2, 3 and 11), so a chunk is a range scan."""
        if (table, column) not in FORGETTABLE:
            raise ValueError(f"not a housekept table and time column: {table}.{column}")
        with self._write():
            cur = self._conn.execute(
                f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table}"
                f" WHERE {column} < ? ORDER BY {column} LIMIT ?)",
                (timestamp(before), -1 if limit is None else limit),
            )
            return cur.rowcount

    @contextmanager
    def flat_transaction(self) -> Iterator[None]:
        """One transaction in which every store step joins without a savepoint of its own.

        For group commit (`group_commit.GroupCommit`): many writers' steps, one `COMMIT`.
        Savepoints would let a failed step undo only itself; here a failed step, even one
        whose caller caught the error, fails the whole transaction (it is rolled back and
        `FlatStepFailed` raised), and the caller replays each writer's work on its own.
        """
        if self._flat or self._conn.in_transaction:
            raise StoreError("a flat transaction must be the outermost one")
        self._flat, self._flat_failed = True, False
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                if self._flat_failed:
                    raise FlatStepFailed("a step failed inside the flat transaction")
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        finally:
            self._flat = False
