"""Group commit: many writers share one transaction, each sees its own result after the
commit, and a failing writer (even one that caught its own error) fails alone."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from exchange.gateway.state.group_commit import GroupCommit
from exchange.gateway.state.schema import FlatStepFailed, StoreError
from exchange.gateway.state.store import QuotaDirection, Store

DAY = dt.date(2026, 11, 27)
IN = QuotaDirection.INBOUND


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "gw.db") as s:
        yield s


def _used_on_disk(db: Path, partner: str) -> int:
    """Read through another connection: only committed rows count."""
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            "SELECT used FROM quotas WHERE partner = ? AND direction = 'inbound'", (partner,)
        ).fetchone()
        return 0 if row is None else int(row[0])
    finally:
        conn.close()


def _failed_step_caught(store: Store, partner: str) -> None:
    """A store step that counts a quota, then fails; its caller catches the error."""
    try:
        with store.transaction():
            store.take_quota(IN, partner, "DNA", DAY, 10)
            raise ValueError("inner step refused")
    except ValueError:
        pass


def test_concurrent_writers_share_commits_and_all_land(store: Store, tmp_path: Path) -> None:
    writes = GroupCommit(store)

    async def main() -> list[int | None]:
        return await asyncio.gather(
            *(
                writes.run(lambda i=i: store.count_quota(IN, f"P{i % 4}", "DNA", DAY, 1000))
                for i in range(40)
            )
        )

    counts = asyncio.run(main())
    assert sorted(c for c in counts if c is not None) == sorted(
        n for _ in range(4) for n in range(1, 11)
    )
    assert writes.writers == 40
    assert writes.transactions < 40  # queued in one turn of the loop: shared commits
    assert [_used_on_disk(tmp_path / "gw.db", f"P{i}") for i in range(4)] == [10, 10, 10, 10]


def test_a_failing_writer_fails_alone_and_leaves_nothing(store: Store, tmp_path: Path) -> None:
    writes = GroupCommit(store)

    def bad() -> None:
        store.take_quota(IN, "BAD", "DNA", DAY, 10)
        raise RuntimeError("writer bug")

    async def main() -> list[object]:
        return await asyncio.gather(
            writes.run(lambda: store.take_quota(IN, "DE", "DNA", DAY, 10)),
            writes.run(bad),
            writes.run(lambda: store.take_quota(IN, "FR", "DNA", DAY, 10)),
            return_exceptions=True,
        )

    ok_de, failed, ok_fr = asyncio.run(main())
    assert ok_de is True and ok_fr is True
    assert isinstance(failed, RuntimeError)
    db = tmp_path / "gw.db"
    assert (_used_on_disk(db, "DE"), _used_on_disk(db, "BAD"), _used_on_disk(db, "FR")) == (1, 0, 1)


def test_a_step_failure_caught_by_its_writer_is_undone_as_with_savepoints(
    store: Store, tmp_path: Path
) -> None:
    """Inside a shared transaction a failed step cannot be undone alone, so the batch is
    replayed writer by writer, where the failed step's savepoint undoes just that step."""
    writes = GroupCommit(store)

    def careful() -> str:
        store.take_quota(IN, "KEPT", "DNA", DAY, 10)
        _failed_step_caught(store, "UNDONE")
        return "carried on"

    async def main() -> list[object]:
        return await asyncio.gather(
            writes.run(careful), writes.run(lambda: store.take_quota(IN, "DE", "DNA", DAY, 10))
        )

    assert asyncio.run(main()) == ["carried on", True]
    db = tmp_path / "gw.db"
    assert (_used_on_disk(db, "KEPT"), _used_on_disk(db, "UNDONE"), _used_on_disk(db, "DE")) == (
        1,
        0,
        1,
    )


def test_a_flat_transaction_must_be_outermost_and_reports_a_swallowed_failure(
    store: Store,
) -> None:
    with (
        store.transaction(),
        pytest.raises(StoreError, match="outermost"),
        store.flat_transaction(),
    ):
        pass
    with pytest.raises(FlatStepFailed), store.flat_transaction():
        _failed_step_caught(store, "X")
    assert store.quota_used(IN, "X", "DNA", DAY) == 0
    assert not store.connection.in_transaction
