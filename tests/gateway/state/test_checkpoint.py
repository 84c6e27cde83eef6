"""WAL checkpoints in their own thread (`checkpoint.WalCheckpointer`), on real SQLite files."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from exchange.gateway.state.checkpoint import WalCheckpointer
from exchange.gateway.state.store import Store
from tests.gateway.state.test_store import new_search

RECORD = '{"r": "' + "x" * 1500 + '"}'  # about a UK DNA record's JSON
PAGE = 4096
FRAME = PAGE + 24  # a WAL frame: its header and one page


def _searches(store: Store, n: int) -> list[str]:
    return [new_search(store, record_json=RECORD).search_id for _ in range(n)]


def _wait(condition: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_thread_copies_the_wal_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite3"
    with Store.open(path) as store:
        store.checkpoint_past(1_000_000)  # the writer never checkpoints: only the thread does
        checkpointer = WalCheckpointer(path, interval_s=0.01)
        checkpointer.start()
        try:
            ids = _searches(store, 200)
            written = checkpointer.stats.passes
            # a pass that began after the last write copies every frame back
            _wait(lambda: checkpointer.stats.passes >= written + 2)
            assert 0 < checkpointer.stats.copied == checkpointer.stats.wal_frames
        finally:
            checkpointer.stop()
        assert checkpointer.stats.passes > 0 and checkpointer.stats.failures == 0
        # the database file alone, without its WAL, now holds every search
        alone = tmp_path / "alone.sqlite3"
        shutil.copy(path, alone)
        with sqlite3.connect(alone) as conn:
            found = {r for (r,) in conn.execute("SELECT search_id FROM searches")}
        assert found == set(ids)


@pytest.mark.parametrize(("net", "bounded"), [(300, True), (1_000_000, False)])
def test_the_writers_safety_net_bounds_the_wal_even_if_the_thread_never_runs(
    tmp_path: Path, net: int, bounded: bool
) -> None:
    path = tmp_path / "g.sqlite3"
    with Store.open(path) as store:
        store.checkpoint_past(net)
        # and a WAL that grew past the net (a long reader) is cut back to it on restart
        assert store.connection.execute("PRAGMA journal_size_limit").fetchone() == (net * PAGE,)
        biggest = 0
        for _ in range(30):
            _searches(store, 40)
            biggest = max(biggest, Path(f"{path}-wal").stat().st_size)
        assert store.connection.execute("SELECT count(*) FROM searches").fetchone() == (1200,)
    # 1,200 searches with a 1.5 kB record each write well over 300 pages in all; with the
    # net at 300 the WAL never holds more than the net and one round of commits
    assert (biggest <= (300 + 40 * 8) * FRAME) is bounded


def test_a_failing_pass_is_counted_and_the_next_one_tries_again(tmp_path: Path) -> None:
    path = tmp_path / "not-a-database.sqlite3"
    path.write_bytes(b"this is not an SQLite file, " * 200)
    checkpointer = WalCheckpointer(path, interval_s=0.01)
    checkpointer.start()
    try:
        _wait(lambda: checkpointer.stats.failures >= 3)
    finally:
        checkpointer.stop()
        checkpointer.stop()  # stopping twice is harmless
    assert checkpointer.stats.passes == 0
