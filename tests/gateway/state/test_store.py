"""The gateway store on real SQLite files: every method, atomicity, concurrency, kill -9."""

from __future__ import annotations

import datetime as dt
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exchange.gateway.state import schema as store_module  # where the migrations run
from exchange.gateway.state.store import (
    MIGRATIONS,
    ConflictError,
    KeptResponse,
    NewHit,
    NotFoundError,
    PartnerStatus,
    QuotaDirection,
    SchemaTooNewError,
    SearchRow,
    SearchStatus,
    Store,
    timestamp,
)
from exchange.model import MatchType, Modality, Purpose

ROOT = Path(__file__).resolve().parents[3]  # the checkout, whose code the kill -9 child must import
T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
DAY = T0.date()
RECORD = '{"identifiers": {"pnc_id": "12/1234567C"}}'


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "gateway.sqlite"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    s = Store.open(db)
    yield s
    s.close()


def new_search(
    store: Store, partners: tuple[str, ...] = ("DE", "FR"), record_json: str = RECORD
) -> SearchRow:
    return store.create_search(
        client_id="leds-client-1",
        purpose=Purpose.INVESTIGATION,
        case_reference="CASE-42",
        modalities=[Modality.DNA, Modality.FACE],
        partners=partners,
        max_candidates=5,
        record_json=record_json,
        correlation_id="corr-1",
        now=T0,
        deadline_at=T0 + dt.timedelta(seconds=30),
    )


def dna_hit(reference: str = "DE-REF-1", score: float = 1.0) -> NewHit:
    return NewHit(Modality.DNA, reference, score, MatchType.FULL)


def stored_reply(store: Store, sender: str, message_id: str) -> bytes | None:
    """The reply kept for a message, read with SQL (the gateway reads it by claiming)."""
    row = store.connection.execute(
        "SELECT reply FROM inbound_messages WHERE sender = ? AND message_id = ?",
        (sender, message_id),
    ).fetchone()
    return None if row is None or row[0] is None else bytes(row[0])


def finish(store: Store, search_id: str, status: SearchStatus, now: dt.datetime) -> SearchRow:
    """Close a search and read it back, as the fan-out does."""
    store.close_search(search_id, status, now=now)
    row = store.get_search(search_id)
    assert row is not None
    return row


def fail_inserts(store: Store, table: str, when: str) -> None:
    """Make the next matching INSERT fail inside SQLite, mid-transaction."""
    store.connection.execute(
        f"CREATE TEMP TRIGGER injected_failure BEFORE INSERT ON main.{table}"
        f" WHEN {when} BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )


# --- opening ------------------------------------------------------------------------------


def test_open_sets_wal_foreign_keys_and_schema_version(store: Store, db: Path) -> None:
    conn = store.connection
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    version = conn.execute("SELECT version FROM schema_version").fetchone()[0]
    assert version == len(MIGRATIONS)
    store.enrol_record("12/1234567C", "REF-1", RECORD, now=T0)
    again = Store.open(db)  # reopening migrates nothing and keeps the data
    assert again.gallery_version() == 1
    again.close()


def test_store_closes_as_a_context_manager(db: Path) -> None:
    with Store.open(db) as s:
        s.enrol_record("12/1234567C", "REF-1", RECORD, now=T0)
    with pytest.raises(sqlite3.ProgrammingError):
        s.gallery_version()
    assert not Path(f"{db}-wal").exists()  # the last connection out checkpointed the WAL


def test_forward_migrations_apply_once_and_keep_data(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(db) as s:
        s.enrol_record("12/1234567C", "REF-1", RECORD, now=T0)
    extra = """
        CREATE TABLE partner_notes (partner TEXT PRIMARY KEY, note TEXT NOT NULL) STRICT;
        CREATE TRIGGER records_touch AFTER DELETE ON records BEGIN
            INSERT INTO partner_notes VALUES ('deleted:' || OLD.pnc_id, 'gone');
        END;
    """
    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, extra])
    with Store.open(db) as s:
        conn = s.connection
        version = conn.execute("SELECT version FROM schema_version").fetchone()[0]
        assert version == len(MIGRATIONS) + 1
        assert s.get_record("12/1234567C") is not None
        s.delete_record("12/1234567C")
        assert conn.execute("SELECT count(*) FROM partner_notes").fetchone()[0] == 1
    with Store.open(db) as s:  # not applied twice
        assert s.connection.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 1


def test_a_database_of_the_first_schema_is_brought_up_to_date(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:1])
    with Store.open(db) as s:
        s.remember_reply("DE", "msg-1", b"<r/>", now=T0)
        # a pending search as the first schema's code wrote it, its record in its row
        created = timestamp(T0)
        s.connection.execute(
            "INSERT INTO searches (search_id, client_id, purpose, case_reference, modalities,"
            " partners, max_candidates, record_json, correlation_id, status, created_at,"
            " deadline_at) VALUES ('s-1', 'leds-client-1', 'investigation', 'CASE-42',"
            " '[\"dna\", \"face\"]', '[\"DE\", \"FR\"]', 5, ?, 'corr-1', 'pending', ?, ?)",
            (RECORD, created, timestamp(T0 + dt.timedelta(seconds=30))),
        )
        s.connection.executemany(
            "INSERT INTO partner_results (search_id, partner, status, message_id, updated_at)"
            " VALUES ('s-1', ?, 'pending', ?, ?)",
            [("DE", "m-de", created), ("FR", "m-fr", created)],
        )
    monkeypatch.undo()
    with Store.open(db) as s:
        conn = s.connection
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == len(MIGRATIONS)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"inbound_messages_by_time", "released_hits_by_time", "searches_by_end"} <= names
        assert stored_reply(s, "DE", "msg-1") == b"<r/>"
        upgraded = s.get_search("s-1")
        assert upgraded is not None and upgraded.status == "pending"
        assert upgraded.record_json == RECORD  # moved to its own table, still there to resume
        assert "record_json" not in columns(conn, "searches")  # and its old column gone
        assert [(r.partner, r.message_id, r.dna_batch_id) for r in upgraded.results] == [
            ("DE", "m-de", None),
            ("FR", "m-fr", None),
        ]
        old = upgraded
        s.mark_batched("DE", "batch-1", [old.search_id])
        again = s.get_search(old.search_id)
        assert again is not None
        assert [r.dna_batch_id for r in again.results] == ["batch-1", None]  # DE, FR
        assert again.fanned_out_at is None
        s.mark_fanned_out(old.search_id, now=T0)
        s.mark_fanned_out(old.search_id, now=T0 + dt.timedelta(seconds=5))  # the first stays
        marked = s.get_search(old.search_id)
        assert marked is not None and marked.fanned_out_at == T0
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT rowid FROM inbound_messages WHERE claimed_at < ?"
            " ORDER BY claimed_at LIMIT 5",
            ("2030",),
        ).fetchall()
        assert "inbound_messages_by_time" in " ".join(str(r[-1]) for r in plan)


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def table_shape(conn: sqlite3.Connection, table: str) -> tuple[list[Any], ...]:
    """A table's columns (but their positions), indexes and foreign keys, to compare."""
    return (
        [r[1:] for r in conn.execute(f"PRAGMA table_info({table})")],
        conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE tbl_name = ? AND type != 'table'"
            " ORDER BY name",
            (table,),
        ).fetchall(),
        conn.execute(f"PRAGMA foreign_key_list({table})").fetchall(),
    )


DROPPED_IN_7_TO_8 = {"searches": "record_json", "inbound_messages": "answered_at"}
ADDED_IN_8_TO_9 = {"core_data_json"}
ADDED_IN_9_TO_10 = {"body_digest"}  # inbound_messages
ADDED_IN_11_TO_12 = {"outcomes_json"}  # partner_results


def test_a_database_of_the_previous_schema_loses_only_the_unread_columns(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:7])
    with Store.open(db) as s:
        s.enrol_record("12/1234567C", "REF-1", RECORD, now=T0)
        pending = new_search(s)  # as schema 7 keeps it: its record in `search_records`
        at = timestamp(T0)
        s.connection.executemany(  # as schema 7's code answered, with `answered_at`
            "INSERT INTO inbound_messages (sender, message_id, claimed_at, reply, answered_at)"
            " VALUES ('DE', ?, ?, ?, ?)",
            [("msg-1", at, b"<r/>", at), ("msg-2", at, None, None)],  # answered, claimed
        )
        tables = ("searches", "inbound_messages", "search_records", "partner_results", "hits")
        before = {t: table_shape(s.connection, t) for t in tables}
    monkeypatch.undo()
    with Store.open(db) as s:
        conn = s.connection
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == len(MIGRATIONS)
        for table, column in DROPPED_IN_7_TO_8.items():
            assert column not in columns(conn, table)
            info, others, keys = before[table]
            kept = [c for c in info if c[0] != column]
            now_info, *now_rest = table_shape(conn, table)
            now_info = [c for c in now_info if c[0] not in ADDED_IN_9_TO_10]
            assert (now_info, *now_rest) == (kept, others, keys)  # indexes, keys as they were
        assert table_shape(conn, "search_records") == before["search_records"]
        info, others, keys = table_shape(conn, "partner_results")  # 11 -> 12 adds one column
        assert [c for c in info if c[0] not in ADDED_IN_11_TO_12] == before["partner_results"][0]
        assert (others, keys) == before["partner_results"][1:]  # the keys to `searches` kept
        info, others, keys = table_shape(conn, "hits")  # 8 -> 9 adds one column, keys kept
        assert [c for c in info if c[0] not in ADDED_IN_8_TO_9] == before["hits"][0]
        assert (others, keys) == before["hits"][1:]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert s.pending_searches() == [pending]  # with its record and partners, to resume
        assert s.claim_message("DE", "msg-1", now=T0).reply == b"<r/>"
        assert s.claim_message("DE", "msg-1", now=T0, digest="x").reply == b"<r/>"  # no digest
        assert s.claim_message("DE", "msg-2", now=T0 + dt.timedelta(seconds=1)).in_progress
        assert s.remember_reply("DE", "msg-2", b"<r2/>", now=T0) == b"<r2/>"
        assert s.gallery_version() == 1 and s.get_record("12/1234567C") is not None
        s.close_search(pending.search_id, SearchStatus.PARTIAL, now=T0)
        assert conn.execute("SELECT count(*) FROM search_records").fetchone() == (0,)


def test_a_database_of_schema_10_gets_the_idempotency_keys_and_keeps_its_data(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:10])
    with Store.open(db) as s:
        pending = new_search(s)
        s.claim_message("DE", "msg-1", now=T0, digest="a")
        assert "idempotency_keys" not in tables(s.connection)
    monkeypatch.undo()
    with Store.open(db) as s:
        conn = s.connection
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == len(MIGRATIONS)
        assert columns(conn, "idempotency_keys") == [
            *("client_id", "key", "digest", "resource", "status", "body", "finished"),
            "created_at",
        ]
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(idempotency_keys)")}
        assert "idempotency_keys_by_time" in indexes
        assert s.pending_searches() == [pending]
        assert s.claim_message("DE", "msg-1", now=T0, digest="b").conflict
        kept = KeptResponse("d", pending.search_id, 202, "{}", True, T0)
        s.keep_response("kent", "k", kept, expired_before=T0 - dt.timedelta(days=1))
        assert s.kept_response("kent", "k", since=T0) == kept
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_failing_migration_changes_nothing(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store.open(db).close()
    broken = "CREATE TABLE half_done (x INTEGER) STRICT;\nSELECT no_such_function();"
    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(sqlite3.OperationalError):
        Store.open(db)
    monkeypatch.undo()
    with Store.open(db) as s:
        conn = s.connection
        version = conn.execute("SELECT version FROM schema_version").fetchone()[0]
        assert version == len(MIGRATIONS)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "half_done" not in names


def test_open_refuses_a_newer_schema(db: Path) -> None:
    Store.open(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS) + 1,))
    with pytest.raises(SchemaTooNewError):
        Store.open(db)


def test_store_is_bound_to_its_thread(store: Store) -> None:
    errors: list[BaseException] = []

    def use() -> None:
        try:
            store.gallery_version()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=use)
    t.start()
    t.join()
    assert len(errors) == 1
    assert isinstance(errors[0], sqlite3.ProgrammingError)


def test_naive_times_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.enrol_record("12/1234567C", "REF-1", RECORD, now=dt.datetime(2026, 1, 1))


# --- searches -----------------------------------------------------------------------------


def test_create_and_get_search(store: Store) -> None:
    created = new_search(store)
    got = store.get_search(created.search_id)
    assert got == created
    assert got.status is SearchStatus.PENDING
    assert got.modalities == (Modality.DNA, Modality.FACE)
    assert got.partners == ("DE", "FR")
    assert got.record_json == RECORD
    assert got.created_at == T0
    assert got.deadline_at == T0 + dt.timedelta(seconds=30)
    assert got.completed_at is None
    assert [r.partner for r in got.results] == ["DE", "FR"]
    assert all(r.status is PartnerStatus.PENDING and r.hits == () for r in got.results)
    assert len({r.message_id for r in got.results}) == 2
    de = got.results[0]
    assert de.message_id_for(Modality.FACE) == f"{de.message_id}.face"
    assert de.message_id_for(Modality.DNA) != de.message_id_for(Modality.FACE)
    assert store.get_search("no-such-search") is None


def test_a_search_reads_back_as_it_was_returned(store: Store) -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    created = store.create_search(
        client_id="c-1",
        purpose=Purpose.MISSING_PERSON,
        case_reference="MP-1",
        modalities=[Modality.FACE],
        partners=["NL", "EUROPOL", "DE"],
        max_candidates=1,
        record_json="{}",
        correlation_id="corr-2",
        now=T0.astimezone(paris),
        deadline_at=T0.astimezone(paris),
    )
    got = store.get_search(created.search_id)
    assert got == created and repr(got) == repr(created)
    assert got.partners == ("NL", "EUROPOL", "DE")  # as asked
    assert [r.partner for r in got.results] == ["DE", "EUROPOL", "NL"]


def test_create_search_refuses_bad_partner_lists(store: Store) -> None:
    with pytest.raises(ValueError):
        new_search(store, partners=())
    with pytest.raises(ValueError):
        new_search(store, partners=("DE", "DE"))


def test_pending_searches_lists_unfinished_oldest_first(store: Store) -> None:
    first, second, done = new_search(store), new_search(store), new_search(store)
    finish(store, done.search_id, SearchStatus.FAILED, T0)
    assert [s.search_id for s in store.pending_searches()] == [
        first.search_id,
        second.search_id,
    ]


def test_set_partner_result_with_hits(store: Store) -> None:
    search = new_search(store)
    later = T0 + dt.timedelta(seconds=1)
    hits = [dna_hit("DE-REF-2", 0.5), dna_hit("DE-REF-1", 1.0)]
    assert store.set_partner_result(search.search_id, "DE", PartnerStatus.HIT, now=later, hits=hits)
    assert store.set_partner_result(
        search.search_id, "FR", PartnerStatus.ERROR, now=later, error="HTTP 503"
    )
    got = store.get_search(search.search_id)
    assert got is not None
    de, fr = got.results
    assert de.status is PartnerStatus.HIT and de.updated_at == later
    assert [h.reference for h in de.hits] == ["DE-REF-1", "DE-REF-2"]  # best first
    assert de.hits[0].match_type is MatchType.FULL and de.hits[0].partner == "DE"
    assert de.message_id == search.results[0].message_id  # kept for retries
    assert fr.status is PartnerStatus.ERROR and fr.error == "HTTP 503" and fr.hits == ()


def test_step2_data_of_a_hit_is_kept_apart_from_the_search(store: Store) -> None:
    search = new_search(store)
    core = '{"name": {"family": "Doe"}}'
    hits = [
        NewHit(Modality.FINGERPRINT, "XPO-1", 1.0, MatchType.CANDIDATE, core_data_json=core),
        dna_hit("DE-REF-1"),
    ]
    assert core not in repr(hits[0])  # never in a log line by way of a repr
    store.set_partner_result(search.search_id, "DE", PartnerStatus.HIT, now=T0, hits=hits)
    got = store.get_search(search.search_id)
    assert got is not None
    by_ref = {h.reference: h for h in got.results[0].hits}
    assert "Doe" not in repr(got)  # the search's rows do not carry it
    assert store.hit_core_data_json(search.search_id, by_ref["XPO-1"].hit_id) == core
    assert store.hit_core_data_json(search.search_id, by_ref["DE-REF-1"].hit_id) is None
    assert store.hit_core_data_json(search.search_id, "no-such-hit") is None


def test_partner_result_is_written_once(store: Store) -> None:
    search = new_search(store)
    sid = search.search_id
    assert store.set_partner_result(sid, "DE", PartnerStatus.NO_HIT, now=T0)
    late = store.set_partner_result(sid, "DE", PartnerStatus.HIT, now=T0, hits=[dna_hit()])
    assert late is False
    got = store.get_search(sid)
    assert got is not None and got.results[0].status is PartnerStatus.NO_HIT
    assert got.results[0].hits == ()


def test_set_partner_result_checks_its_input(store: Store) -> None:
    sid = new_search(store).search_id
    with pytest.raises(ValueError):
        store.set_partner_result(sid, "DE", PartnerStatus.HIT, now=T0)  # hit without hits
    with pytest.raises(ValueError):
        store.set_partner_result(sid, "DE", PartnerStatus.NO_HIT, now=T0, hits=[dna_hit()])
    with pytest.raises(ValueError):
        store.set_partner_result(sid, "DE", PartnerStatus.PENDING, now=T0)
    with pytest.raises(NotFoundError):
        store.set_partner_result(sid, "NL", PartnerStatus.NO_HIT, now=T0)


def test_an_ended_search_keeps_no_record_and_its_space_is_used_again(db: Path) -> None:
    """The record as received goes with the search's end, and the pages it took are reused:
    300 searches of 3.5 kB records, 20 in flight at a time, each ended, grow the file by far
    less than a page each (with the record in the search's row, each search kept a page of
    its own, 92% empty: 349 pages here)."""
    record = json.dumps({"record": "x" * 3500})
    with Store.open(db) as s:
        conn = s.connection
        before = conn.execute("PRAGMA page_count").fetchone()[0]
        in_flight: list[str] = []
        for i in range(320):
            if i < 300:
                in_flight.append(new_search(s, record_json=record).search_id)
            if len(in_flight) > 20 or i >= 300:
                oldest = in_flight.pop(0)
                assert s.get_search(oldest).record_json == record  # type: ignore[union-attr]
                s.close_search(oldest, SearchStatus.PARTIAL, now=T0)
        assert not in_flight
        ended = s.get_search(oldest)
        assert ended is not None and ended.record_json is None
        assert conn.execute("SELECT count(*) FROM search_records").fetchone() == (0,)
        grown = conn.execute("PRAGMA page_count").fetchone()[0] - before
        assert grown < 300 // 2, grown  # 89 pages on SQLite 3.40


def test_closing_a_search_times_out_the_late_partners(store: Store) -> None:
    sid = new_search(store).search_id
    store.set_partner_result(sid, "DE", PartnerStatus.NO_HIT, now=T0)
    end = T0 + dt.timedelta(seconds=30)
    finished = finish(store, sid, SearchStatus.PARTIAL, end)
    assert finished.status is SearchStatus.PARTIAL and finished.completed_at == end
    assert finished.record_json is None  # the probe is not kept past its search
    de, fr = finished.results
    assert de.status is PartnerStatus.NO_HIT
    assert fr.status is PartnerStatus.TIMEOUT and fr.updated_at == end and fr.error
    # Closing again changes nothing; a late answer is not taken either.
    again = finish(store, sid, SearchStatus.COMPLETE, end + dt.timedelta(hours=1))
    assert again == finished
    assert not store.set_partner_result(sid, "FR", PartnerStatus.NO_HIT, now=end)
    store.close_search("no-such-search", SearchStatus.FAILED, now=end)  # nothing to close
    assert store.get_search("no-such-search") is None
    with pytest.raises(ValueError):
        store.close_search(sid, SearchStatus.PENDING, now=end)


def test_complete_only_when_every_partner_answered(store: Store) -> None:
    sid = new_search(store).search_id
    store.set_partner_result(sid, "DE", PartnerStatus.NO_HIT, now=T0)
    with pytest.raises(ConflictError):
        store.close_search(sid, SearchStatus.COMPLETE, now=T0)
    store.set_partner_result(sid, "FR", PartnerStatus.REJECTED, now=T0, error="schema_invalid")
    done = finish(store, sid, SearchStatus.COMPLETE, T0)
    assert done.status is SearchStatus.COMPLETE
    assert [r.status for r in done.results] == [PartnerStatus.NO_HIT, PartnerStatus.REJECTED]


# --- hits ---------------------------------------------------------------------------------


def stored_hit(store: Store, modality: Modality) -> tuple[str, str]:
    sid = new_search(store).search_id
    hit = NewHit(modality, "DE-REF-9", 0.93, MatchType.CANDIDATE)
    store.set_partner_result(sid, "DE", PartnerStatus.HIT, now=T0, hits=[hit])
    got = store.get_search(sid)
    assert got is not None
    return sid, got.results[0].hits[0].hit_id


def test_confirm_hit_is_idempotent(store: Store) -> None:
    sid, hit_id = stored_hit(store, Modality.FACE)
    first = store.confirm_hit(sid, hit_id, "officer-7", now=T0)
    assert first.confirmed_by == "officer-7" and first.confirmed_at == T0
    again = store.confirm_hit(sid, hit_id, "officer-8", now=T0 + dt.timedelta(minutes=5))
    assert again == first
    assert store.get_hit(sid, hit_id) == first
    with pytest.raises(NotFoundError):
        store.confirm_hit(sid, "no-such-hit", "officer-7", now=T0)
    other = new_search(store).search_id
    with pytest.raises(NotFoundError):  # a hit of another search is not this search's
        store.confirm_hit(other, hit_id, "officer-7", now=T0)


def test_follow_up_needs_a_person_for_faces_and_fingerprints(store: Store) -> None:
    sid, hit_id = stored_hit(store, Modality.FINGERPRINT)
    with pytest.raises(ConflictError):
        store.record_follow_up(sid, hit_id, now=T0)
    store.confirm_hit(sid, hit_id, "officer-7", now=T0)
    asked = T0 + dt.timedelta(minutes=1)
    assert store.record_follow_up(sid, hit_id, now=asked).follow_up_at == asked
    again = store.record_follow_up(sid, hit_id, now=asked + dt.timedelta(hours=1))
    assert again.follow_up_at == asked  # the first request is the one kept
    with pytest.raises(NotFoundError):
        store.record_follow_up(sid, "no-such-hit", now=T0)


def test_dna_follow_up_without_confirmation(store: Store) -> None:
    sid, hit_id = stored_hit(store, Modality.DNA)
    assert store.record_follow_up(sid, hit_id, now=T0).follow_up_at == T0


# --- atomicity ----------------------------------------------------------------------------


def test_create_search_failing_midway_leaves_nothing(store: Store) -> None:
    fail_inserts(store, "partner_results", "NEW.partner = 'FR'")
    with pytest.raises(sqlite3.IntegrityError, match="injected"):
        new_search(store)
    conn = store.connection
    assert conn.execute("SELECT count(*) FROM searches").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM partner_results").fetchone()[0] == 0
    assert not conn.in_transaction


def test_partner_result_failing_midway_leaves_it_pending(store: Store) -> None:
    sid = new_search(store).search_id
    fail_inserts(store, "hits", "NEW.reference = 'BOOM'")
    with pytest.raises(sqlite3.IntegrityError):
        store.set_partner_result(
            sid, "DE", PartnerStatus.HIT, now=T0, hits=[dna_hit("DE-REF-1"), dna_hit("BOOM")]
        )
    got = store.get_search(sid)
    assert got is not None
    assert got.results[0].status is PartnerStatus.PENDING and got.results[0].hits == ()


def test_enrol_failing_leaves_the_gallery_version(store: Store) -> None:
    store.enrol_record("12/1234567C", "REF-1", RECORD, now=T0)
    fail_inserts(store, "records", "1")
    with pytest.raises(sqlite3.IntegrityError):
        store.enrol_record("13/7654321D", "REF-2", RECORD, now=T0)
    assert store.gallery_version() == 1
    assert store.get_record("13/7654321D") is None


def test_transaction_groups_calls_and_rolls_back_together(store: Store) -> None:
    sid = new_search(store).search_id
    with pytest.raises(RuntimeError), store.transaction():
        store.set_partner_result(sid, "DE", PartnerStatus.NO_HIT, now=T0)
        store.enrol_record("12/1234567C", "REF-1", RECORD, now=T0)
        raise RuntimeError("crash before commit")
    got = store.get_search(sid)
    assert got is not None and got.results[0].status is PartnerStatus.PENDING
    assert store.gallery_version() == 0
    # A failed inner step caught by the caller rolls back only itself.
    with store.transaction():
        store.set_partner_result(sid, "DE", PartnerStatus.NO_HIT, now=T0)
        store.enrol_record("12/1234567C", "REF-1", RECORD, now=T0)
        with pytest.raises(ConflictError):
            store.enrol_record("13/7654321D", "REF-1", RECORD, now=T0)  # reference taken
    assert store.gallery_version() == 1
    assert store.get_record("12/1234567C") is not None
    assert store.get_record("13/7654321D") is None
    got = store.get_search(sid)
    assert got is not None and got.results[0].status is PartnerStatus.NO_HIT


def test_a_failed_commit_leaves_no_transaction_open(store: Store, db: Path) -> None:
    # Deferred foreign keys make COMMIT itself fail; afterwards writes must commit again.
    store.connection.execute("PRAGMA defer_foreign_keys = ON")
    with pytest.raises(sqlite3.IntegrityError), store.transaction():
        store.enrol_record("12/1234567C", "REF-1", RECORD, now=T0)
        store.connection.execute(
            "INSERT INTO hits VALUES ('h', 'no-search', 'DE', 'dna', 'R', 1.0, 'full', 0,"
            " NULL, NULL, NULL, NULL)"
        )
    assert not store.connection.in_transaction
    store.enrol_record("13/7654321D", "REF-2", RECORD, now=T0)
    other = Store.open(db)  # what another connection sees is what was committed
    assert other.get_record("12/1234567C") is None
    assert other.get_record("13/7654321D") is not None
    other.close()


# --- gallery ------------------------------------------------------------------------------


def test_enrol_replace_delete_and_version(store: Store) -> None:
    assert store.gallery_version() == 0
    assert store.enrol_record("12/1234567C", "REF-1", RECORD, now=T0) == 1
    assert store.enrol_record("13/7654321D", "REF-2", "{}", now=T0) == 2
    later = T0 + dt.timedelta(days=1)
    assert store.enrol_record("12/1234567C", "REF-1B", '{"v": 2}', now=later) == 3
    rec = store.get_record("12/1234567C")
    assert rec is not None
    assert (rec.reference, rec.record_json, rec.enrolled_at) == ("REF-1B", '{"v": 2}', later)
    assert store.record_by_reference("REF-1") is None
    by_ref = store.record_by_reference("REF-1B")
    assert by_ref is not None and by_ref.pnc_id == "12/1234567C"
    assert [r.pnc_id for r in store.iter_records()] == ["12/1234567C", "13/7654321D"]
    assert store.delete_record("13/7654321D") is True
    assert store.gallery_version() == 4
    assert store.delete_record("13/7654321D") is False
    assert store.gallery_version() == 4
    assert store.get_record("13/7654321D") is None


def test_a_reference_belongs_to_one_record(store: Store) -> None:
    store.enrol_record("12/1234567C", "REF-1", RECORD, now=T0)
    with pytest.raises(ConflictError):
        store.enrol_record("13/7654321D", "REF-1", RECORD, now=T0)
    assert store.gallery_version() == 1


def test_iter_records_in_batches(store: Store) -> None:
    ids = [f"{n:02d}/0000000X" for n in range(7)]
    for i, pnc in enumerate(reversed(ids)):
        store.enrol_record(pnc, f"REF-{i}", RECORD, now=T0)
    assert [r.pnc_id for r in store.iter_records(batch=3)] == ids
    assert [r.pnc_id for r in store.iter_records(batch=7)] == ids


# --- quotas -------------------------------------------------------------------------------


def test_take_quota_up_to_the_limit(store: Store) -> None:
    out = QuotaDirection.OUTBOUND
    assert [store.take_quota(out, "DE", "TP/TP", DAY, 3) for _ in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert store.quota_used(out, "DE", "TP/TP", DAY) == 3
    assert store.take_quota(out, "DE", "LT/TP", DAY, 3)  # another search type
    assert store.take_quota(out, "FR", "TP/TP", DAY, 3)  # another partner
    assert store.take_quota(QuotaDirection.INBOUND, "DE", "TP/TP", DAY, 3)  # other way
    assert store.take_quota(out, "DE", "TP/TP", DAY + dt.timedelta(days=1), 3)  # next day
    late_evening_in_paris = dt.datetime(
        2026, 11, 27, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )
    assert store.take_quota(out, "DE", "LT/TP", late_evening_in_paris, 3)  # 22:30 UTC: same day
    assert store.quota_used(out, "DE", "LT/TP", DAY) == 2
    assert not store.take_quota(out, "NL", "TP/TP", DAY, 0)
    assert store.quota_used(out, "NL", "TP/TP", DAY) == 0
    assert store.quota_used(out, "DE", "TP/TP", DAY) == 3


def test_take_quota_for_several_searches_takes_all_or_none(store: Store) -> None:
    inbound = QuotaDirection.INBOUND  # a partner's DNA message carrying several profiles
    assert store.count_quota(inbound, "DE", "DNA", DAY, 5, 3) == 3
    assert store.count_quota(inbound, "DE", "DNA", DAY, 5, 3) is None  # 3 of the 2 left
    assert store.quota_used(inbound, "DE", "DNA", DAY) == 3
    assert store.count_quota(inbound, "DE", "DNA", DAY, 5, 2) == 5
    assert not store.take_quota(inbound, "FR", "DNA", DAY, 2, 3)  # more than a whole day
    assert store.quota_used(inbound, "FR", "DNA", DAY) == 0


def test_take_quota_from_two_threads_never_exceeds(db: Path) -> None:
    # Many counters with a limit of 1 give the two writers many chances to collide; a
    # read-then-write version of take_quota overshoots here on every run (checked by hand).
    Store.open(db).close()
    inbound, keys, shared_limit = QuotaDirection.INBOUND, 300, 150
    taken: list[int] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        s = Store.open(db)
        barrier.wait()
        n = 0
        for k in range(keys):
            n += s.take_quota(inbound, "DE", f"type-{k}", DAY, 1)
            n += s.take_quota(inbound, "DE", "dna", DAY, shared_limit)
        taken.append(n)
        s.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(taken) == keys + shared_limit
    check = Store.open(db)
    assert check.quota_used(inbound, "DE", "dna", DAY) == shared_limit
    assert all(check.quota_used(inbound, "DE", f"type-{k}", DAY) == 1 for k in range(keys))
    check.close()


# --- inbound replies ----------------------------------------------------------------------


def test_ended_searches_are_forgotten_oldest_first_in_chunks_with_their_rows(
    store: Store,
) -> None:
    ids = []
    for i in range(4):  # ended at T0 + 1 h, + 2 h, ...
        row = new_search(store)
        store.set_partner_result(row.search_id, "DE", PartnerStatus.HIT, now=T0, hits=[dna_hit()])
        store.close_search(row.search_id, SearchStatus.PARTIAL, now=T0 + dt.timedelta(hours=i + 1))
        ids.append(row.search_id)
    pending = new_search(store).search_id  # created at T0, never ended: never forgotten
    cutoff = T0 + dt.timedelta(hours=3, minutes=30)  # the first three ended before it
    assert store.forget_searches(cutoff, limit=2) == 2
    assert [store.get_search(i) is None for i in ids] == [True, True, False, False]
    assert store.forget_searches(cutoff, limit=2) == 1 and store.forget_searches(cutoff) == 0
    assert store.get_search(ids[3]) is not None and store.get_search(pending) is not None
    conn = store.connection
    left = {ids[3], pending}
    for table in ("partner_results", "hits"):
        rows = {r[0] for r in conn.execute(f"SELECT search_id FROM {table}")}
        assert rows <= left and ids[3] in rows  # the others' rows went with them
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT rowid FROM searches WHERE completed_at < ?"
        " ORDER BY completed_at LIMIT 5",
        ("2030",),
    ).fetchall()
    assert "searches_by_end" in " ".join(str(r[-1]) for r in plan)


def test_duplicate_message_gets_the_same_reply(store: Store) -> None:
    assert stored_reply(store, "DE", "msg-1") is None
    assert store.remember_reply("DE", "msg-1", b"<reply>1</reply>", now=T0) == b"<reply>1</reply>"
    assert stored_reply(store, "DE", "msg-1") == b"<reply>1</reply>"
    # A racing second answer is not stored; the first one is what every duplicate gets.
    assert store.remember_reply("DE", "msg-1", b"<reply>2</reply>", now=T0) == b"<reply>1</reply>"
    assert stored_reply(store, "FR", "msg-1") is None  # message ids are per sender
    store.remember_reply("FR", "msg-1", b"<fr/>", now=T0 + dt.timedelta(days=2))
    assert store.forget_replies(T0 + dt.timedelta(days=1)) == 1
    assert stored_reply(store, "DE", "msg-1") is None
    assert stored_reply(store, "FR", "msg-1") == b"<fr/>"


def test_old_replies_and_release_notes_are_forgotten_oldest_first_in_chunks(
    store: Store,
) -> None:
    for i in range(5):
        store.remember_reply("DE", f"msg-{i}", b"<r/>", now=T0 + dt.timedelta(hours=i))
        store.record_released("DE", f"search-{i}", [f"REF-{i}"], at=T0 + dt.timedelta(hours=i))
    cutoff = T0 + dt.timedelta(hours=3, minutes=30)  # msg-0..3 and their notes are older
    assert store.forget_replies(cutoff, limit=3) == 3
    assert [stored_reply(store, "DE", f"msg-{i}") is None for i in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert store.forget_replies(cutoff, limit=3) == 1 and store.forget_replies(cutoff) == 0
    assert stored_reply(store, "DE", "msg-4") == b"<r/>"
    now = T0 + dt.timedelta(hours=4)
    assert store.forget_released(cutoff, limit=2) == 2
    assert store.forget_released(cutoff, limit=2) == 2
    assert store.forget_released(cutoff, limit=2) == 0
    assert store.released_to("DE", "REF-4", now=now)
    assert not store.released_to("DE", "REF-3", now=now)


def test_a_retry_while_the_first_is_at_work_does_not_search_again(store: Store) -> None:
    first = store.claim_message("DE", "msg-7", now=T0)
    assert first.first and first.reply is None and not first.in_progress
    retry = store.claim_message("DE", "msg-7", now=T0 + dt.timedelta(seconds=5))
    assert retry.in_progress and not retry.first
    assert store.claim_message("FR", "msg-7", now=T0).first  # another sender's message
    store.remember_reply("DE", "msg-7", b"<reply/>", now=T0 + dt.timedelta(seconds=6))
    again = store.claim_message("DE", "msg-7", now=T0 + dt.timedelta(hours=5))
    assert again.reply == b"<reply/>" and not again.first and not again.in_progress


def test_a_claim_whose_process_died_is_taken_over(store: Store) -> None:
    assert store.claim_message("DE", "msg-8", now=T0).first
    just_before = T0 + dt.timedelta(seconds=59)
    assert store.claim_message("DE", "msg-8", now=just_before).in_progress
    taken = store.claim_message("DE", "msg-8", now=T0 + dt.timedelta(seconds=61))
    assert taken.first
    # The new claim is fresh: the next duplicate waits for it.
    assert store.claim_message("DE", "msg-8", now=T0 + dt.timedelta(seconds=62)).in_progress


def test_a_message_id_claimed_for_one_question_refuses_another(store: Store) -> None:
    assert store.claim_message("DE", "msg-9", now=T0, digest="a b").first
    waiting = store.claim_message("DE", "msg-9", now=T0, digest="c")
    assert waiting.conflict and not waiting.in_progress and waiting.reply is None
    assert store.claim_message("DE", "msg-9", now=T0, digest="b").in_progress  # one of its own
    store.remember_reply("DE", "msg-9", b"<r/>", now=T0)
    assert store.claim_message("DE", "msg-9", now=T0, digest="a").reply == b"<r/>"
    assert store.claim_message("DE", "msg-9", now=T0, digest="a c").conflict
    assert store.claim_message("FR", "msg-9", now=T0, digest="c").first  # another sender's id
    # a claim taken over after its process died keeps what the first claim asked
    assert store.claim_message("DE", "msg-10", now=T0, digest="a b").first
    later = T0 + dt.timedelta(hours=1)
    assert store.claim_message("DE", "msg-10", now=later, digest="a").first
    assert store.claim_message("DE", "msg-10", now=later, digest="b").in_progress


def test_a_claim_from_before_digests_answers_any_copy(store: Store) -> None:
    store.claim_message("DE", "msg-11", now=T0)  # as claimed before migration 10
    store.remember_reply("DE", "msg-11", b"<old/>", now=T0)
    assert store.claim_message("DE", "msg-11", now=T0, digest="z").reply == b"<old/>"


# --- released hits (the 48 h follow-up rule) ----------------------------------------------


def test_follow_up_only_for_own_hits_to_that_partner_within_48h(store: Store) -> None:
    store.record_released("DE", "search-msg-1", ["UK-REF-1", "UK-REF-2"], at=T0)
    h48 = dt.timedelta(hours=48)
    assert store.released_to("DE", "UK-REF-1", now=T0)
    assert store.released_to("DE", "UK-REF-2", now=T0 + dt.timedelta(hours=47))
    assert store.released_to("DE", "UK-REF-1", now=T0 + h48)  # the boundary is inside
    assert not store.released_to("DE", "UK-REF-1", now=T0 + h48 + dt.timedelta(microseconds=1))
    assert not store.released_to("FR", "UK-REF-1", now=T0)  # another partner
    assert not store.released_to("DE", "UK-REF-3", now=T0)  # never returned
    assert not store.released_to("DE", "UK-REF-1", now=T0 - dt.timedelta(seconds=1))
    assert store.released_to("DE", "UK-REF-1", now=T0, search_message_id="search-msg-1")
    assert not store.released_to("DE", "UK-REF-1", now=T0, search_message_id="search-msg-2")
    # Returned again in a later search: the window runs from the latest release.
    store.record_released("DE", "search-msg-2", ["UK-REF-1"], at=T0 + h48)
    assert store.released_to("DE", "UK-REF-1", now=T0 + 2 * h48)
    store.record_released("DE", "search-msg-2", ["UK-REF-1"], at=T0 + 3 * h48)  # duplicate
    assert not store.released_to("DE", "UK-REF-1", now=T0 + 3 * h48)
    assert store.released_to("DE", "UK-REF-1", now=T0 + dt.timedelta(hours=60), within=h48 / 2)
    assert store.forget_released(T0 + h48) == 2  # the two notes of search-msg-1
    assert not store.released_to("DE", "UK-REF-2", now=T0 + dt.timedelta(hours=1))
    assert store.released_to("DE", "UK-REF-1", now=T0 + 2 * h48)  # search-msg-2 stays


# --- durability ---------------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import datetime as dt, sys, time
    from exchange.gateway.state.audit import AuditEntry, AuditLog, ClientEvent, Direction, Outcome
    from exchange.gateway.state.store import Store
    from exchange.model import Modality, Purpose

    now = dt.datetime.now(dt.UTC)
    store = Store.open(sys.argv[1])
    store.enrol_record("12/1234567C", "UK-REF-1", '{"acked": true}', now=now)
    with store.transaction():
        search = store.create_search(
            client_id="client-1", purpose=Purpose.DETECTION, case_reference="C-1",
            modalities=[Modality.DNA], partners=["DE", "NL"], max_candidates=3,
            record_json="{}", correlation_id="corr-9", now=now,
            deadline_at=now + dt.timedelta(seconds=30),
        )
        AuditLog(store).append(AuditEntry(
            at=now, direction=Direction.RECEIVED, message_type=ClientEvent.SEARCH_SUBMITTED,
            outcome=Outcome.ACCEPTED, actor="client-1", purpose=Purpose.DETECTION,
        ))
    print("acked", search.search_id, flush=True)
    time.sleep(60)
    """
)


def test_acknowledged_writes_survive_kill_9(db: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 15)  # never hang the suite
        assert ready, "the child did not acknowledge within 15 s"
        line = child.stdout.readline()
        assert line.startswith("acked "), child.stderr.read() if child.stderr else ""
        search_id = line.split()[1]
        assert Path(f"{db}-wal").exists()  # the commit lives in the WAL, not yet checkpointed
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout and child.stdout.close()
        child.stderr and child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    from exchange.gateway.state.audit_verify import verify

    store = Store.open(db)
    record = store.get_record("12/1234567C")
    assert record is not None and json.loads(record.record_json) == {"acked": True}
    assert store.gallery_version() == 1
    search = store.get_search(search_id)
    assert search is not None and [r.partner for r in search.results] == ["DE", "NL"]
    assert [s.search_id for s in store.pending_searches()] == [search_id]
    store.close()
    result = verify(str(db))
    assert result.ok and result.checked == 1
