"""The audit log: what an entry may hold, the chain, and tamper detection on the real file."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exchange.gateway.state.audit import (
    GENESIS,
    AuditEntry,
    AuditEntryError,
    AuditLog,
    ClientEvent,
    Direction,
    Outcome,
    entry_hash,
)
from exchange.gateway.state.audit_verify import Tamper, audit_verify_main, verify
from exchange.gateway.state.store import PartnerStatus, Store, timestamp
from exchange.model import ErrorCode, MessageType, Modality, Purpose

T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
COLUMNS = "at, direction, partner, message_type, message_id, refs, purpose, outcome, actor"


def entry(i: int = 0, **changes: Any) -> AuditEntry:
    base = AuditEntry(
        at=T0 + dt.timedelta(seconds=i),
        direction=Direction.SENT,
        message_type=MessageType.SEARCH_REPLY,
        outcome=Outcome.HIT,
        actor="node-GB",
        partner="DE",
        message_id=f"msg-{i}",
        references=(f"UK-REF-{i}",),
        purpose=Purpose.INVESTIGATION,
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "gateway.sqlite"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    s = Store.open(db)
    yield s
    s.close()


@pytest.fixture
def five(db: Path) -> Path:
    """A database whose audit log holds entries 1..5, closed so a test can tamper with it."""
    s = Store.open(db)
    log = AuditLog(s)
    for i in range(1, 6):
        assert log.append(entry(i)) == i
    s.close()
    return db


def tamper(db: Path, *statements: str) -> None:
    with sqlite3.connect(db) as conn:
        for sql in statements:
            conn.execute(sql)
    conn.close()


def row(db: Path, seq: int) -> tuple[Any, ...]:
    conn = sqlite3.connect(db)
    found = conn.execute(f"SELECT {COLUMNS}, prev_hash FROM audit WHERE seq = ?", (seq,))
    result: tuple[Any, ...] = found.fetchone()
    conn.close()
    return result


def rehash(fields: tuple[Any, ...], prev_hash: str, seq: int) -> str:
    at, direction, partner, mtype, mid, refs, purpose, outcome, actor = fields
    values = (at, direction, partner, mtype, mid, json.loads(refs), purpose, outcome, actor)
    return entry_hash(prev_hash, seq, values)


def assert_bad(db: Path, seq: int, problem: Tamper) -> None:
    result = verify(str(db))
    assert not result.ok
    assert (result.first_bad_seq, result.problem) == (seq, problem), result.detail
    assert result.checked == seq - 1


# --- what an entry may hold ---------------------------------------------------------------


def test_entries_hold_codes_and_references_only() -> None:
    entry()  # the normal case is accepted
    entry(message_type=ClientEvent.CORE_DATA, outcome=ErrorCode.UNKNOWN_REFERENCE)
    entry(partner=None, message_id=None, purpose=None, references=())
    entry(actor="operator@leds.example", references=("UK/REF/0001", "DE:REF.9-1"))
    bad: list[dict[str, Any]] = [
        {"references": ("John Smith",)},  # a name is not a reference
        {"references": ("A" * 129,)},  # nor is a blob
        {"references": ["UK-REF-1"]},  # a tuple, so the entry stays frozen
        {"references": tuple(f"R{i}" for i in range(1001))},
        {"actor": "officer 7"},
        {"message_id": "msg/1"},  # not a Prüm Identifier
        {"actor": ""},
        {"partner": "DE\n"},
        {"message_id": "x" * 200},
        {"message_type": "search_reply"},  # a plain str could be anything: enums only
        {"outcome": "hit, DOB 1980-01-01"},
        {"direction": "sent"},
        {"purpose": "investigation"},
        {"at": dt.datetime(2026, 11, 27, 12, 0)},  # naive
    ]
    for change in bad:
        with pytest.raises(AuditEntryError):
            entry(**change)


def test_append_refuses_anything_but_an_entry(store: Store) -> None:
    with pytest.raises(AuditEntryError):
        AuditLog(store).append({"record": "biometrics"})  # type: ignore[arg-type]


# --- the chain ----------------------------------------------------------------------------


def test_append_chains_entries_and_moves_the_head(store: Store, db: Path) -> None:
    log = AuditLog(store)
    assert log.head() == (0, GENESIS)
    assert verify(str(db)).ok
    assert log.append(entry(1)) == 1
    assert log.append(entry(2, references=("UK-REF-1", "UK-REF-2"))) == 2
    seq, head = log.head()
    assert seq == 2
    stored = store.connection.execute("SELECT seq, prev_hash, hash, refs FROM audit").fetchall()
    assert stored[0][1] == GENESIS and stored[1][1] == stored[0][2] and stored[1][2] == head
    assert json.loads(stored[1][3]) == ["UK-REF-1", "UK-REF-2"]
    at = store.connection.execute("SELECT at FROM audit WHERE seq = 1").fetchone()[0]
    assert at == timestamp(T0 + dt.timedelta(seconds=1))
    result = verify(str(db))
    assert result.ok and result.checked == 2 and result.head_hash == head


def test_append_works_on_a_plain_connection(five: Path) -> None:
    conn = sqlite3.connect(five, isolation_level=None)
    assert AuditLog(conn).append(entry(6)) == 6
    conn.close()
    assert verify(str(five)).checked == 6


def test_entry_commits_and_rolls_back_with_the_callers_writes(store: Store, db: Path) -> None:
    log = AuditLog(store)
    sid = store.create_search(
        client_id="client-1",
        purpose=Purpose.DETECTION,
        case_reference="C-1",
        modalities=[Modality.DNA],
        partners=["DE"],
        max_candidates=1,
        record_json="{}",
        correlation_id="corr-1",
        now=T0,
        deadline_at=T0 + dt.timedelta(seconds=5),
    ).search_id
    with pytest.raises(RuntimeError), store.transaction():
        store.set_partner_result(sid, "DE", PartnerStatus.NO_HIT, now=T0)
        log.append(entry(1, outcome=Outcome.NO_HIT, direction=Direction.RECEIVED))
        raise RuntimeError("crash before commit")
    assert log.head() == (0, GENESIS)
    assert store.connection.execute("SELECT count(*) FROM audit").fetchone()[0] == 0
    with store.transaction():
        store.set_partner_result(sid, "DE", PartnerStatus.NO_HIT, now=T0)
        log.append(entry(1, outcome=Outcome.NO_HIT, direction=Direction.RECEIVED))
    assert log.head()[0] == 1
    assert verify(str(db)).ok


def test_two_writers_keep_one_chain(db: Path) -> None:
    Store.open(db).close()

    def writer(name: str) -> None:
        s = Store.open(db)
        log = AuditLog(s)
        for i in range(50):
            log.append(entry(i, actor=name))
        s.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("gw-1", "gw-2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = verify(str(db))
    assert result.ok and result.checked == 100


# --- tamper detection ---------------------------------------------------------------------


def test_altered_field(five: Path) -> None:
    tamper(five, "UPDATE audit SET outcome = 'no_hit' WHERE seq = 3")
    assert_bad(five, 3, Tamper.ALTERED)


def test_altered_reference_list(five: Path) -> None:
    tamper(five, """UPDATE audit SET refs = '["UK-REF-99"]' WHERE seq = 4""")
    assert_bad(five, 4, Tamper.ALTERED)
    tamper(five, "UPDATE audit SET refs = 'not json' WHERE seq = 2")
    assert_bad(five, 2, Tamper.ALTERED)


def test_altered_and_rehashed(five: Path) -> None:
    *fields, prev = row(five, 3)
    fields[7] = "no_hit"
    digest = rehash(tuple(fields), prev, 3)
    with sqlite3.connect(five) as conn:
        conn.execute("UPDATE audit SET outcome = 'no_hit', hash = ? WHERE seq = 3", (digest,))
    conn.close()
    assert_bad(five, 3, Tamper.ALTERED)


def test_altered_last_entry_rehashed(five: Path) -> None:
    *fields, prev = row(five, 5)
    fields[8] = "someone-else"
    digest = rehash(tuple(fields), prev, 5)
    with sqlite3.connect(five) as conn:
        conn.execute("UPDATE audit SET actor = 'someone-else', hash = ? WHERE seq = 5", (digest,))
    conn.close()
    assert_bad(five, 5, Tamper.ALTERED)  # caught by the head


def test_removed_entry(five: Path) -> None:
    tamper(five, "DELETE FROM audit WHERE seq = 3")
    assert_bad(five, 3, Tamper.REMOVED)


def test_removed_entry_and_renumbered(five: Path) -> None:
    tamper(
        five,
        "DELETE FROM audit WHERE seq = 2",
        "UPDATE audit SET seq = 2 WHERE seq = 3",
        "UPDATE audit SET seq = 3 WHERE seq = 4",
        "UPDATE audit SET seq = 4 WHERE seq = 5",
        "UPDATE audit_head SET seq = 4",
    )
    assert_bad(five, 2, Tamper.REMOVED)


def test_removed_tail(five: Path) -> None:
    tamper(five, "DELETE FROM audit WHERE seq >= 4")
    assert_bad(five, 4, Tamper.REMOVED)


def test_removed_head(five: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tamper(five, "DELETE FROM audit_head")
    result = verify(str(five))
    assert not result.ok and result.problem is Tamper.REMOVED and result.first_bad_seq is None
    assert audit_verify_main(str(five)) == 1
    assert capsys.readouterr().err.startswith("audit FAILED: removed (the audit head")


def test_inserted_entry(five: Path) -> None:
    # Make room at seq 3 and insert a well-formed entry that links to entry 2.
    tamper(five, *(f"UPDATE audit SET seq = {s + 1} WHERE seq = {s}" for s in (5, 4, 3)))
    *fields, prev = row(five, 4)  # the real entry 3, now at 4; its prev is entry 2's hash
    fake = list(fields)
    fake[7] = "no_hit"
    digest = rehash(tuple(fake), prev, 3)
    with sqlite3.connect(five) as conn:
        conn.execute(
            f"INSERT INTO audit (seq, {COLUMNS}, prev_hash, hash)"
            " VALUES (3, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*fake, prev, digest),
        )
    conn.close()
    assert_bad(five, 3, Tamper.INSERTED)


def test_inserted_entry_with_a_made_up_hash(five: Path) -> None:
    tamper(five, *(f"UPDATE audit SET seq = {s + 1} WHERE seq = {s}" for s in (5, 4, 3)))
    *fields, prev = row(five, 4)
    with sqlite3.connect(five) as conn:
        conn.execute(
            f"INSERT INTO audit (seq, {COLUMNS}, prev_hash, hash)"
            " VALUES (3, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*fields, prev, "f" * 64),
        )
    conn.close()
    assert_bad(five, 3, Tamper.INSERTED)


def test_inserted_after_the_head(five: Path) -> None:
    *fields, _ = row(five, 5)
    conn = sqlite3.connect(five)
    last = conn.execute("SELECT hash FROM audit WHERE seq = 5").fetchone()[0]
    digest = rehash(tuple(fields), last, 6)
    with conn:
        conn.execute(
            f"INSERT INTO audit (seq, {COLUMNS}, prev_hash, hash)"
            " VALUES (6, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*fields, last, digest),
        )
    conn.close()
    assert_bad(five, 6, Tamper.INSERTED)


def test_reordered_entries(five: Path) -> None:
    tamper(
        five,
        "UPDATE audit SET seq = -1 WHERE seq = 2",
        "UPDATE audit SET seq = 2 WHERE seq = 3",
        "UPDATE audit SET seq = 3 WHERE seq = -1",
    )
    assert_bad(five, 2, Tamper.REORDERED)


# --- the command --------------------------------------------------------------------------


def test_audit_verify_main_ok(five: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert audit_verify_main(str(five)) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("audit OK: 5 entries, head ") and "\n" not in out


def test_audit_verify_main_names_the_first_bad_entry(
    five: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tamper(five, "UPDATE audit SET purpose = 'prevention' WHERE seq = 2")
    assert audit_verify_main(str(five)) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("audit FAILED at entry 2: altered") and "\n" not in err


def test_audit_verify_main_on_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.sqlite"
    assert audit_verify_main(str(missing)) == 1
    assert "cannot read" in capsys.readouterr().err
    assert not missing.exists()
