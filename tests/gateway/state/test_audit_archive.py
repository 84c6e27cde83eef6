"""Moving old audit entries to archive files (`audit_archive`), and verifying what is left
with and without the archives: real databases and files in tmp_path, the real CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from exchange.gateway.state.audit import AuditEntry, AuditLog, Direction, Outcome
from exchange.gateway.state.audit_archive import ArchiveError, archive
from exchange.gateway.state.audit_verify import Tamper, audit_verify_main, check_archive, verify
from exchange.gateway.state.store import Store
from exchange.model import MessageType, Purpose

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def entry(i: int) -> AuditEntry:
    """Entry i is written i minutes after T0."""
    return AuditEntry(
        at=T0 + dt.timedelta(minutes=i),
        direction=Direction.RECEIVED,
        message_type=MessageType.DNA_SEARCH_REQUEST,
        outcome=Outcome.NO_HIT,
        actor="GB",
        partner="DE",
        message_id=f"m-{i}",
        references=(f"DE-REF-{i}",),
        purpose=Purpose.INVESTIGATION,
    )


def append(db: Path, first: int, last: int) -> None:
    with Store.open(db) as store:
        AuditLog(store).append_many([entry(i) for i in range(first, last + 1)])


def minutes(n: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.sqlite3"
    append(path, 1, 50)
    return path


def count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM audit").fetchone()[0])


def test_old_entries_move_to_a_file_and_both_halves_still_verify(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit-1.jsonl"
    done = archive(db, minutes(30.5), out, chunk=7)  # entries 1..30; chunks of 7
    assert (done.entries, done.first_seq, done.last_seq) == (30, 1, 30)
    assert count(db) == 20
    result = verify(str(db))
    assert result.ok and result.checked == 50 and result.archived == 30
    assert result.anchor_hash == done.last_hash
    check = check_archive(out)
    assert check.ok and (check.first_seq, check.last_seq) == (1, 30)
    lines = out.read_text().splitlines()
    assert len(lines) == 31 and json.loads(lines[0])["kind"] == "prum-exchange audit archive"
    assert json.loads(lines[5])["references"] == ["DE-REF-5"]  # entry 5, as it was logged

    # the gateway goes on appending after the head; a second archive links to the first
    append(db, 51, 60)
    second = tmp_path / "audit-2.jsonl"
    assert archive(db, minutes(55.5), second).entries == 25  # 31..55
    result = verify(str(db))
    assert result.ok and result.checked == 60 and result.archived == 55
    assert audit_verify_main(str(db), [out, second]) == 0
    assert audit_verify_main(str(db), [second, out]) == 1  # oldest first
    assert audit_verify_main(str(db), [second]) == 1  # one missing
    assert audit_verify_main(str(db), [out]) == 1  # does not reach the anchor


def test_entries_are_archived_only_as_a_run_from_the_start_of_the_log(tmp_path: Path) -> None:
    # entry 10 is stamped late (its time taken before a slow commit, say): the run of entries
    # before the cutoff ends at 9, although 11 is before it too
    db = tmp_path / "late.sqlite3"
    with Store.open(db) as store:
        late = dataclasses.replace(entry(10), at=minutes(100))
        AuditLog(store).append_many([*(entry(i) for i in range(1, 10)), late, entry(11)])
    done = archive(db, minutes(50), tmp_path / "a.jsonl")
    assert (done.first_seq, done.last_seq) == (1, 9)
    assert verify(str(db)).ok and count(db) == 2


def test_nothing_before_the_cutoff_writes_nothing(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "none.jsonl"
    done = archive(db, T0, out)
    assert done.entries == 0 and done.path is None and not out.exists()
    assert count(db) == 50


def test_everything_archived_leaves_a_chain_that_verifies_and_grows(
    db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "all.jsonl"
    assert archive(db, minutes(1000), out).entries == 50
    assert count(db) == 0
    assert verify(str(db)).ok
    append(db, 51, 52)
    result = verify(str(db))
    assert result.ok and result.checked == 52 and result.archived == 50
    assert audit_verify_main(str(db), [out]) == 0


def test_a_broken_chain_is_not_archived(db: Path, tmp_path: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit SET outcome = 'hit' WHERE seq = 12")
    out = tmp_path / "broken.jsonl"
    with pytest.raises(ArchiveError, match="entry 12: altered"):
        archive(db, minutes(30.5), out)
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()
    assert count(db) == 50


def test_an_existing_file_is_never_overwritten(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "kept.jsonl"
    out.write_text("an earlier archive\n")
    with pytest.raises(ArchiveError, match="exists"):
        archive(db, minutes(30.5), out)
    assert out.read_text() == "an earlier archive\n" and count(db) == 50


def test_tampering_after_archiving_is_found(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    archive(db, minutes(20.5), out)

    # an entry altered inside the archive file
    lines = out.read_text().splitlines()
    altered = json.loads(lines[7])
    altered["outcome"] = "hit"
    lines[7] = json.dumps(altered, sort_keys=True)
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(lines) + "\n")
    check = check_archive(forged)
    assert not check.ok and check.bad_seq == 7 and "does not match its hash" in check.detail
    # an entry removed from the file
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:3] + lines[4:]) + "\n")
    assert check_archive(cut).bad_seq == 3

    # the first entry after the anchor removed from the database
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM audit WHERE seq = 21")
    result = verify(str(db))
    assert not result.ok and result.problem is Tamper.REMOVED and result.first_bad_seq == 21


def test_a_removed_anchor_or_an_entry_put_back_before_it_is_found(db: Path, tmp_path: Path) -> None:
    archive(db, minutes(20.5), tmp_path / "a.jsonl")
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM audit_anchor")
    result = verify(str(db))
    assert not result.ok and result.problem is Tamper.REMOVED  # entries 1..20 missing
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO audit_anchor (one, seq, hash, archived_at) VALUES (1, 10, 'x', 'y')"
        )
    result = verify(str(db))
    assert not result.ok and result.first_bad_seq == 11  # entries 11..20 missing


def test_the_cli_archives_and_verifies_with_one_line_each(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.jsonl"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "exchange.cli", "audit", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    done = cli("archive", str(db), "--before", "2026-01-01T00:30:30Z", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "entries 1..30 (30) moved" in done.stdout
    checked = cli("verify", str(db), str(out))
    assert checked.returncode == 0 and "(1..30 in archives, checked)" in checked.stdout
    alone = cli("verify", str(db))
    assert alone.returncode == 0 and "not checked" in alone.stdout
    again = cli("archive", str(db), "--before", "2026-01-01T00:40:30Z", "--out", str(out))
    assert again.returncode == 2 and "exists" in again.stderr
    naive = cli("archive", str(db), "--before", "2026-01-01", "--out", str(tmp_path / "n"))
    assert naive.returncode == 2 and "--before" in naive.stderr


def test_archiving_while_a_gateway_runs_keeps_its_chain_whole(tmp_path: Path) -> None:
    """Searches through a running gateway, an archive of everything so far (in a thread,
    as the CLI would run beside the service), more searches: one chain, archives joined."""
    from exchange import event_loop
    from mock_partners.cluster import running_cluster
    from tests.gateway.test_gateway_e2e import _probe, _search_body

    out = tmp_path / "running.jsonl"

    async def main() -> None:
        async with (
            running_cluster(tmp_path, gallery_size=4) as c,
            aiohttp.ClientSession(headers=c.headers) as client,
        ):

            async def searches(n: int) -> None:
                for subject in range(n):
                    body = _search_body(_probe(subject), ["dna"])
                    async with client.post(f"{c.client_url}/v1/searches?wait=10", json=body) as r:
                        assert r.status == 200 and (await r.json())["status"] == "complete"

            await searches(3)
            cutoff = dt.datetime.now(dt.UTC)
            loop = asyncio.get_running_loop()
            done = await loop.run_in_executor(
                None, archive, tmp_path / "GB" / "gateway.sqlite3", cutoff, out
            )
            assert done.entries > 0
            await searches(3)

    event_loop.run(main())
    db = tmp_path / "GB" / "gateway.sqlite3"
    result = verify(str(db))
    assert result.ok and 0 < result.archived < result.checked
    assert audit_verify_main(str(db), [out]) == 0
