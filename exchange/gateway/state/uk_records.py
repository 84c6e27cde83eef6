"""The UK gallery's records in the gateway store: the source of truth the matchers load from.

Each enrolled UK record (by PNC ID, under its step-1 reference) and the gallery version, which
moves with every enrolment and erasure and stamps the index files (`gateway.index_files`).
Mixed into `Store`, like the partner side (`partner_side`).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from typing import Any

from exchange.gateway.state.rows import ConflictError, RecordRow
from exchange.gateway.state.schema import Connected, _time, timestamp


class UkRecords(Connected):
    """Enrolled UK records and the gallery version (mixed into `Store`)."""

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

    def iter_records(self, batch: int = 1000) -> Iterator[RecordRow]:
        """Every enrolled record by PNC ID, read in short batches that hold no transaction.

        Records enrolled or deleted while iterating may or may not be seen.
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


_RECORD_COLUMNS = "pnc_id, reference, record_json, enrolled_at"


def _record(row: tuple[Any, ...]) -> RecordRow:
    pnc_id, reference, record_json, enrolled_at = row
    return RecordRow(
        pnc_id=pnc_id,
        reference=reference,
        record_json=record_json,
        enrolled_at=_time(enrolled_at),
    )
