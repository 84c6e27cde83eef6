"""WAL checkpoints in a thread of their own, off the event loop.

In WAL mode every commit appends the pages it changed to the `-wal` file; a checkpoint copies
them back into the database file, syncing both files (with `synchronous = NORMAL` the syncs
happen only there). By default SQLite checkpoints inside the commit that takes the WAL past
1000 pages: on the gateway that is a commit on the event loop thread, so every search in
flight waits for 4 MB of copying and two `fdatasync`s. Measured in `bench gateway`'s set-up
(12 searches in flight, simple partners, 15 s runs, two of each, 2026-11-29), a group commit
took 4.1-4.2 ms at p99 with the default, with 107-109 of about 7,500 over 3 ms; with the
checkpoints in this thread, 1.1-1.3 ms, and 9-10 over 3 ms.

So the gateway's connection checkpoints only past `SAFETY_NET_PAGES`, and a `WalCheckpointer`
thread runs a PASSIVE checkpoint every `interval_s` on a connection of its own. Python's
sqlite3 releases the GIL while SQLite works, so the copying and syncing run beside the loop; a
PASSIVE checkpoint never waits for or blocks a writer (SQLite, "PRAGMA wal_checkpoint",
https://www.sqlite.org/pragma.html#pragma_wal_checkpoint). The WAL file starts again from its
beginning only when a writer finds every frame copied back, which a loop committing every few
milliseconds may seldom let the thread achieve: the safety net is what bounds the file then.
When the WAL passes it, the loop's next commit checkpoints what the thread has not yet copied
(little), after which the WAL restarts (https://www.sqlite.org/wal.html, "Checkpointing").
No checkpoint, in any thread, can finish while a reader holds an old snapshot (a long export,
or `audit verify` of the live file): the WAL grows until it lets go, as it would without this
thread, and the loop's `journal_size_limit` cuts the file back to the net at the next restart.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import structlog

INTERVAL_S = 0.1  # between the thread's checkpoints
SAFETY_NET_PAGES = 16_000  # 64 MB of 4 kB pages: where the writer's own checkpoint steps in


@dataclass
class CheckpointStats:
    passes: int = 0  # checkpoints run
    failures: int = 0  # passes that raised (a full disk, say); the next one tries again
    wal_frames: int = 0  # frames in the WAL at the end of the last pass
    copied: int = 0  # of which copied back into the database file


class WalCheckpointer:
    """A thread that checkpoints one SQLite database's WAL every `interval_s` seconds."""

    def __init__(
        self, path: Path, interval_s: float = INTERVAL_S, stats: CheckpointStats | None = None
    ) -> None:
        self._path = path
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = CheckpointStats() if stats is None else stats

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("checkpointer already started")
        # Open here, so a database that cannot be opened fails the caller, not the thread.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        self._thread = threading.Thread(
            target=self._run, args=(conn,), name="wal-checkpoint", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after its current pass; safe to call more than once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, conn: sqlite3.Connection) -> None:
        log = structlog.get_logger()
        try:
            while not self._stop.wait(self._interval_s):
                try:
                    _busy, frames, copied = conn.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    ).fetchone()
                except sqlite3.Error as exc:
                    self.stats.failures += 1
                    log.warning("wal_checkpoint_failed", error=str(exc))
                    continue
                self.stats.passes += 1
                self.stats.wal_frames, self.stats.copied = frames, copied
        finally:
            conn.close()
