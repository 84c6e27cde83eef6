"""Moving old audit entries out of the database into archive files, chain intact.

The audit log (`audit`) grows by about nine entries a search and is kept until an operator
moves old entries out. We found no confirmed retention period for these logs (the Data
Protection Act 2018 s.62 requires logs of this kind but sets none; the 2 years of Council
Decision 2008/615 Art. 30 are marked unconfirmed in shared/reference/prum-facts.md §4), so
whatever period applies is the operator's to apply, with

    prum-exchange audit archive DB --before 2026-01-01T00:00:00Z --out audit-2025.jsonl

It verifies the whole chain first (a broken chain is never archived: the damage would leave
with it), writes the longest run of entries from the start of the log whose time is before
`--before` to a new JSON Lines file (a header line, then one line per entry with its seq,
fields and hashes; written aside, synced, then renamed into place), and then, in short
transactions of `CHUNK` entries, deletes them from the database while moving the anchor
(`audit_anchor`: the last archived seq and hash) forward. The chain left in the database
links to the anchor, so `audit verify DB` still checks it from there; `audit verify DB
ARCHIVE...` (oldest first) also checks every archive's own chain, that each links to the
one before, and that the last ends at the database's anchor. A gateway may run meanwhile:
it only ever appends after the head, which archiving never touches.

What the archive files are kept for, and for how long, and where (not beside the database,
so a single loss does not take both), is the operator's decision; deleting an archive file
deletes those entries.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exchange.gateway.state.audit import COLUMNS
from exchange.gateway.state.audit_verify import (
    ARCHIVE_FIELDS,
    ARCHIVE_KIND,
    VerifyResult,
    anchor_of,
    verify_connection,
)
from exchange.gateway.state.store import Store, timestamp

VERSION = 1
# Entries deleted per transaction, so a running gateway's writes wait briefly: measured on
# 60,000 entries, 2,000 a commit held the write lock 4.1 ms on average (20 ms at most),
# 10,000 a commit 21.5 ms (37 ms).
CHUNK = 2_000


class ArchiveError(Exception):
    """Archiving cannot go ahead (the chain is broken, the file exists, ...); says why."""


@dataclass(frozen=True, slots=True)
class Archived:
    entries: int  # moved out (0: nothing was before the cutoff)
    first_seq: int
    last_seq: int
    last_hash: str
    path: Path | None


def archive(db_path: str | Path, before: dt.datetime, out: Path, *, chunk: int = CHUNK) -> Archived:
    """Move the entries before `before` (a prefix of the chain) to a new file at `out`."""
    if out.exists():
        raise ArchiveError(f"{out}: exists; an archive is never overwritten")
    with Store.open(db_path) as store:
        conn = store.connection
        conn.execute("BEGIN")  # one snapshot to verify and copy, while the gateway appends
        try:
            result = verify_connection(conn)
            if not result.ok:
                raise ArchiveError(f"the audit chain is broken, nothing archived: {_why(result)}")
            first, last = result.archived + 1, _last_before(conn, result, before)
            if last < first:
                return Archived(0, first, result.archived, result.anchor_hash, None)
            boundaries = _write(conn, out, result, last, before, chunk)
        finally:
            conn.execute("ROLLBACK")
        _forget(store, result.archived, boundaries)
    return Archived(last - first + 1, first, last, boundaries[-1][1], out)


def _why(result: VerifyResult) -> str:
    problem = result.problem.value if result.problem is not None else "broken"
    return f"entry {result.first_bad_seq}: {problem} ({result.detail})"


def _last_before(conn: sqlite3.Connection, result: VerifyResult, before: dt.datetime) -> int:
    """The last seq of the run from the anchor whose entries are all before `before`."""
    row = conn.execute(
        "SELECT min(seq) FROM audit WHERE seq > ? AND at >= ?",
        (result.archived, timestamp(before)),
    ).fetchone()
    return result.checked if row[0] is None else int(row[0]) - 1


def _entry(row: tuple[Any, ...]) -> dict[str, Any]:
    seq, *fields, prev, digest = row
    entry: dict[str, Any] = {"seq": seq, **dict(zip(ARCHIVE_FIELDS, fields, strict=True))}
    entry["references"] = json.loads(entry["references"])
    return {**entry, "prev_hash": prev, "hash": digest}


def _write(
    conn: sqlite3.Connection,
    out: Path,
    result: VerifyResult,
    last: int,
    before: dt.datetime,
    chunk: int,
) -> list[tuple[int, str]]:
    """Write entries anchor+1..last to `out`; returns (seq, hash) at every chunk's end."""
    last_hash = conn.execute("SELECT hash FROM audit WHERE seq = ?", (last,)).fetchone()[0]
    header = {
        "kind": ARCHIVE_KIND,
        "version": VERSION,
        "first_seq": result.archived + 1,
        "last_seq": last,
        "prev_hash": result.anchor_hash,
        "last_hash": last_hash,
        "before": timestamp(before),
        "written_at": timestamp(dt.datetime.now(dt.UTC)),
    }
    boundaries: list[tuple[int, str]] = []
    partial = out.with_name(out.name + ".partial")
    with partial.open("w", encoding="utf-8") as f:
        f.write(json.dumps(header, sort_keys=True) + "\n")
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM audit WHERE seq > ? AND seq <= ? ORDER BY seq",
            (result.archived, last),
        )
        for row in rows:
            f.write(json.dumps(_entry(row), sort_keys=True) + "\n")
            seq, digest = int(row[0]), str(row[-1])
            if (seq - result.archived) % chunk == 0 or seq == last:
                boundaries.append((seq, digest))
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, out)
    directory = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)
    return boundaries


def _forget(store: Store, anchor: int, boundaries: Sequence[tuple[int, str]]) -> None:
    """Delete the archived entries chunk by chunk, moving the anchor with each chunk."""
    conn = store.connection
    for seq, digest in boundaries:
        with store.transaction():
            if anchor_of(conn)[0] != anchor:
                raise ArchiveError("another archive moved the anchor meanwhile; stopped")
            row = conn.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
            if row is None or row[0] != digest:
                raise ArchiveError(f"entry {seq} changed since it was archived; stopped")
            conn.execute(
                "INSERT INTO audit_anchor (one, seq, hash, archived_at) VALUES (1, ?, ?, ?)"
                " ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,"
                " archived_at = excluded.archived_at",
                (seq, digest, timestamp(dt.datetime.now(dt.UTC))),
            )
            conn.execute("DELETE FROM audit WHERE seq <= ?", (seq,))
        anchor = seq
