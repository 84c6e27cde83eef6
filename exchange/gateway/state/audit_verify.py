"""Checking the audit log's hash chain: `prum-exchange audit verify DB` (DESIGN.md §5).

Walks table `audit` in seq order, recomputing each entry's hash (`audit.entry_hash`, the
chain's canonical form, see `exchange/gateway/state/audit.py`) and its link to the one before, and
compares the end with table `audit_head`. The first entry that does not fit is diagnosed:
altered (its content no longer matches its hash), inserted (the next entry links past it),
removed (a gap in seq, or a tail shorter than the recorded head), or reordered (it links to
an entry that now comes later).

Entries moved out to archive files (`audit_archive`) leave an anchor (`audit_anchor`: the
last archived seq and hash); the walk starts from it. Given the archive files too, oldest
first, `verify_with_archives` checks each file's chain, that each links to the one before
(the first to the start of the log), and that the last ends where the database's anchor is.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from exchange.gateway.state.audit import COLUMNS, GENESIS, entry_hash

ARCHIVE_KIND = "prum-exchange audit archive"
# An archived entry's fields, in `entry_hash` order (each line also has seq and both hashes).
ARCHIVE_FIELDS = (
    "at",
    "direction",
    "partner",
    "message_type",
    "message_id",
    "references",
    "purpose",
    "outcome",
    "actor",
)
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
    checked: int  # the last seq found good before the first bad one (the head's when ok)
    head_hash: str
    first_bad_seq: int | None = None
    problem: Tamper | None = None
    detail: str = ""
    archived: int = 0  # entries 1..archived are in archive files, not in the database
    anchor_hash: str = GENESIS  # the hash of entry `archived`


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


def anchor_of(conn: sqlite3.Connection) -> tuple[int, str]:
    """The last archived entry's seq and hash; (0, GENESIS) when nothing was archived."""
    table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_anchor'"
    ).fetchone()
    row = None if table is None else conn.execute("SELECT seq, hash FROM audit_anchor").fetchone()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


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
    """Walk the chain from the archive anchor (or seq 1) and compare its end with the head."""
    anchor_seq, anchor_hash = anchor_of(conn)
    result = _walk(conn, anchor_seq, anchor_hash)
    return replace(result, archived=anchor_seq, anchor_hash=anchor_hash)


def _walk(conn: sqlite3.Connection, anchor_seq: int, anchor_hash: str) -> VerifyResult:
    head_row = conn.execute("SELECT seq, hash FROM audit_head").fetchone()
    head_seq, head_hash = (0, GENESIS) if head_row is None else (int(head_row[0]), head_row[1])
    if head_row is None and conn.execute("SELECT 1 FROM audit LIMIT 1").fetchone():
        return _fail(0, GENESIS, None, Tamper.REMOVED, "the audit head record is missing")
    stale = conn.execute("SELECT min(seq) FROM audit WHERE seq <= ?", (anchor_seq,)).fetchone()
    if stale[0] is not None:
        return _fail(
            anchor_seq,
            head_hash,
            int(stale[0]),
            Tamper.INSERTED,
            f"an entry at or before the archive anchor (entry {anchor_seq})",
        )
    prev, prev_prev, checked = anchor_hash, None, anchor_seq
    for raw in conn.execute(
        f"SELECT {COLUMNS} FROM audit WHERE seq > ? ORDER BY seq", (anchor_seq,)
    ):
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


@dataclass(frozen=True, slots=True)
class ArchiveCheck:
    """One archive file as read: its chain and where it starts and ends."""

    ok: bool
    first_seq: int
    last_seq: int
    prev_hash: str  # the hash of the entry before its first (GENESIS for the first archive)
    last_hash: str
    detail: str = ""
    bad_seq: int | None = None


# --- archive files (`audit_archive`) ------------------------------------------------------


def _lines(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                yield number, json.loads(line)
            except ValueError:
                yield number, None


def check_archive(path: Path) -> ArchiveCheck:
    """Walk one archive file's chain: header, seq run, links and hashes."""
    lines = _lines(path)
    _, header = next(lines, (1, None))
    if not isinstance(header, dict) or header.get("kind") != ARCHIVE_KIND:
        return ArchiveCheck(False, 0, 0, GENESIS, GENESIS, f"{path}: not an audit archive")
    first, last = int(header["first_seq"]), int(header["last_seq"])
    prev, seq = str(header["prev_hash"]), first - 1
    bad = ArchiveCheck(False, first, last, str(header["prev_hash"]), str(header["last_hash"]))
    for number, entry in lines:
        seq += 1
        if not isinstance(entry, dict) or entry.get("seq") != seq:
            return _bad(bad, seq, f"line {number}: not entry {seq} ({Tamper.REMOVED.value}?)")
        if entry.get("prev_hash") != prev:
            return _bad(bad, seq, f"entry {seq} does not link to the one before")
        try:
            fields = tuple(entry[name] for name in ARCHIVE_FIELDS)
            good = entry_hash(prev, seq, fields) == entry.get("hash")
        except (KeyError, TypeError, ValueError):
            good = False
        if not good:
            return _bad(bad, seq, f"entry {seq}: content does not match its hash")
        prev = str(entry["hash"])
    if seq != last or prev != header["last_hash"]:
        return _bad(bad, seq + 1, f"the file ends at entry {seq}, its header says {last}")
    return ArchiveCheck(True, first, last, str(header["prev_hash"]), prev)


def _bad(check: ArchiveCheck, seq: int, detail: str) -> ArchiveCheck:
    return ArchiveCheck(
        False, check.first_seq, check.last_seq, check.prev_hash, check.last_hash, detail, seq
    )


def check_archives(paths: Sequence[Path], result: VerifyResult) -> str | None:
    """Why the archives (oldest first) and the database's chain do not join (None: they do)."""
    prev_seq, prev_hash = 0, GENESIS
    for path in paths:
        check = check_archive(path)
        if not check.ok:
            return f"{path}: {check.detail}"
        if check.first_seq != prev_seq + 1 or check.prev_hash != prev_hash:
            return (
                f"{path} starts at entry {check.first_seq} and does not link to entry "
                f"{prev_seq} (archives oldest first, none missing)"
            )
        prev_seq, prev_hash = check.last_seq, check.last_hash
    if (prev_seq, prev_hash) != (result.archived, result.anchor_hash):
        return (
            f"the archives end at entry {prev_seq}, the database's chain starts after entry "
            f"{result.archived}, or their hashes differ"
        )
    return None


def audit_verify_main(db_path: str, archives: Sequence[Path] = ()) -> int:
    """`prum-exchange audit verify DB [ARCHIVE...]`: one line, exit 0 when the chain (and the
    archives, oldest first, joined to it) is intact, else 1."""
    try:
        result = verify(db_path)
    except sqlite3.Error as exc:
        print(f"audit verify: cannot read {db_path}: {exc}", file=sys.stderr)
        return 1
    if result.ok and archives:
        try:
            broken = check_archives(archives, result)
        except (OSError, KeyError, TypeError, ValueError) as exc:
            broken = f"cannot read the archives: {exc}"
        if broken is not None:
            print(f"audit FAILED: {broken}", file=sys.stderr)
            return 1
    if result.ok:
        moved = (
            ""
            if not result.archived
            else f" (1..{result.archived} in archives"
            + (", checked" if archives else ", not checked: name them after DB")
            + ")"
        )
        print(f"audit OK: {result.checked} entries{moved}, head {result.head_hash}")
        return 0
    assert result.problem is not None
    where = "" if result.first_bad_seq is None else f" at entry {result.first_bad_seq}"
    print(
        f"audit FAILED{where}: {result.problem.value}"
        f" ({result.detail}); {result.checked} entries good before it",
        file=sys.stderr,
    )
    return 1
