"""Checking the audit log's hash chain: `prum-exchange audit verify DB` (DESIGN.md §5).

Walks table `audit` in seq order, recomputing each entry's hash (`audit.entry_hash`, the
chain's canonical form, see `exchange/gateway/audit.py`) and its link to the one before, and
compares the end with table `audit_head`. The first entry that does not fit is diagnosed:
altered (its content no longer matches its hash), inserted (the next entry links past it),
removed (a gap in seq, or a tail shorter than the recorded head), or reordered (it links to
an entry that now comes later).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from exchange.gateway.audit import COLUMNS, GENESIS, entry_hash

# How far a renumbered entry's original seq is searched for when telling "removed" apart.
_RENUMBER_SEARCH = 1000


class Tamper(StrEnum):
    ALTERED = "altered"
    INSERTED = "inserted"
    REMOVED = "removed"
    REORDERED = "reordered"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int  # entries found good before the first bad one (all of them when ok)
    head_hash: str
    first_bad_seq: int | None = None
    problem: Tamper | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class _Row:
    seq: int
    fields: tuple[Any, ...] | None  # None when the stored references are not a JSON list
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> _Row:
        seq, at, direction, partner, mtype, mid, refs, purpose, outcome, actor, prev, digest = row
        try:
            ref_list = json.loads(refs)
        except (TypeError, ValueError):
            ref_list = None
        fields = (
            None
            if not isinstance(ref_list, list)
            else (at, direction, partner, mtype, mid, ref_list, purpose, outcome, actor)
        )
        return cls(int(seq), fields, str(prev), str(digest))

    def hashes_as(self, seq: int) -> bool:
        if self.fields is None:
            return False
        try:
            return entry_hash(self.prev_hash, seq, self.fields) == self.hash
        except (TypeError, ValueError):  # a column edited to a non-JSON-able or odd value
            return False


def _fail(checked: int, head: str, seq: int | None, problem: Tamper, detail: str) -> VerifyResult:
    return VerifyResult(False, checked, head, seq, problem, detail)


def _diagnose(
    conn: sqlite3.Connection, row: _Row, checked: int, prev: str, prev_prev: str | None, head: str
) -> VerifyResult | None:
    """Why does `row`, the first entry after `checked` good ones, not fit (None if it fits)?"""
    expected = checked + 1
    if row.seq != expected:
        return _fail(
            checked, head, expected, Tamper.REMOVED, f"entries {expected}..{row.seq - 1} missing"
        )
    if row.prev_hash == prev:
        if row.hashes_as(row.seq):
            return None
        after = conn.execute("SELECT prev_hash FROM audit WHERE seq = ?", (row.seq + 1,))
        following = after.fetchone()
        if following is not None and following[0] == prev:
            return _fail(
                checked, head, row.seq, Tamper.INSERTED, "the next entry links past this one"
            )
        return _fail(checked, head, row.seq, Tamper.ALTERED, "content does not match its hash")
    if prev_prev is not None and row.prev_hash == prev_prev:
        return _fail(
            checked - 1,
            head,
            row.seq - 1,
            Tamper.INSERTED,
            f"entry {row.seq} links past entry {row.seq - 1}",
        )
    later = conn.execute(
        "SELECT seq FROM audit WHERE hash = ? AND seq > ? LIMIT 1", (row.prev_hash, row.seq)
    ).fetchone()
    if later is not None:
        return _fail(
            checked,
            head,
            row.seq,
            Tamper.REORDERED,
            f"links to the entry now at seq {later[0]}, which should precede it",
        )
    if row.hashes_as(row.seq):
        return _fail(
            checked - 1,
            head,
            row.seq - 1,
            Tamper.ALTERED,
            f"changed and re-hashed: entry {row.seq} links to a different hash",
        )
    for gap in range(1, _RENUMBER_SEARCH + 1):
        if row.hashes_as(row.seq + gap):
            return _fail(
                checked,
                head,
                row.seq,
                Tamper.REMOVED,
                f"{gap} entries removed before it (it was entry {row.seq + gap}, renumbered)",
            )
    return _fail(checked, head, row.seq, Tamper.ALTERED, "neither its link nor its hash match")


def verify_connection(conn: sqlite3.Connection) -> VerifyResult:
    """Walk the chain from seq 1 and compare its end with the recorded head."""
    head_row = conn.execute("SELECT seq, hash FROM audit_head").fetchone()
    head_seq, head_hash = (0, GENESIS) if head_row is None else (int(head_row[0]), head_row[1])
    if head_row is None and conn.execute("SELECT 1 FROM audit LIMIT 1").fetchone():
        return _fail(0, GENESIS, None, Tamper.REMOVED, "the audit head record is missing")
    prev, prev_prev, checked = GENESIS, None, 0
    for raw in conn.execute(f"SELECT {COLUMNS} FROM audit ORDER BY seq"):
        row = _Row.of(raw)
        bad = _diagnose(conn, row, checked, prev, prev_prev, head_hash)
        if bad is not None:
            return bad
        prev_prev, prev = prev, row.hash
        checked += 1
    if checked < head_seq:
        return _fail(
            checked,
            head_hash,
            checked + 1,
            Tamper.REMOVED,
            f"the log ends at {checked} but its head records {head_seq} entries",
        )
    if checked > head_seq:
        return _fail(
            head_seq,
            head_hash,
            head_seq + 1,
            Tamper.INSERTED,
            f"entries after the recorded head (seq {head_seq})",
        )
    if prev != head_hash:
        return _fail(
            checked - 1,
            head_hash,
            checked,
            Tamper.ALTERED,
            "the last entry does not match the recorded head hash",
        )
    return VerifyResult(True, checked, head_hash)


def verify(db_path: str) -> VerifyResult:
    """Check the audit chain of the database at `db_path`, opened read-only."""
    uri = Path(db_path).resolve().as_uri() + "?mode=ro"  # never creates a missing file
    conn = sqlite3.connect(uri, uri=True)
    try:
        conn.execute("BEGIN")  # one snapshot, even while the gateway keeps appending
        return verify_connection(conn)
    finally:
        conn.close()


def audit_verify_main(db_path: str) -> int:
    """`prum-exchange audit verify DB`: one line, exit 0 when the chain is intact, else 1."""
    try:
        result = verify(db_path)
    except sqlite3.Error as exc:
        print(f"audit verify: cannot read {db_path}: {exc}", file=sys.stderr)
        return 1
    if result.ok:
        print(f"audit OK: {result.checked} entries, head {result.head_hash}")
        return 0
    assert result.problem is not None
    where = "" if result.first_bad_seq is None else f" at entry {result.first_bad_seq}"
    print(
        f"audit FAILED{where}: {result.problem.value}"
        f" ({result.detail}); {result.checked} entries good before it",
        file=sys.stderr,
    )
    return 1
