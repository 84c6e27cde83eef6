"""Group commit: the writes of many concurrent requests in one SQLite transaction.

A gateway under load has dozens of searches in flight; each records its creation, its sends,
every partner's answer and its end, and each partner message it answers, every one a small
transaction. In WAL mode the cost of a transaction is mostly its `BEGIN IMMEDIATE` and
`COMMIT` (the commit appends every page it touched to the WAL), not its statements. So a
writer hands its work (a plain function of store calls, no awaits) to `GroupCommit.run` and
awaits it; the work queued during one turn of the event loop runs in one transaction,
committed once, and every writer resumes only after that commit, so what was acknowledged
is on disk exactly as before (the durability tests kill -9 the process to check).

Failure isolation is kept: if any writer's work fails, even a step whose error its own
caller caught, the whole transaction is rolled back (`Store.flat_transaction`) and each
writer's work is run again alone, in its own transaction, so only the failing one fails.
The work must therefore touch nothing but the store (and counters that may count twice).
This is the classic group commit of database logs (Gray and Reuter, *Transaction
Processing*, 1993, §9.4.7), here at the level of the application's transactions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from exchange.gateway.state.store import Store

T = TypeVar("T")
MAX_BATCH = 512  # writers per transaction: bounds how long one commit holds the loop


class GroupCommit:
    """Runs writers' store work in shared transactions, one per turn of the event loop."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._scheduled = False
        self.transactions = 0  # commits made, and writers served: for metrics and tests
        self.writers = 0

    async def run(self, work: Callable[[], T]) -> T:
        """Run `work()` in the next shared transaction; returns its result after the commit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append((work, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        if self._queue:
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._scheduled = False
        try:
            with self._store.flat_transaction():
                results = [work() for work, _ in batch]
        except Exception:
            self._replay_alone(batch)
            return
        self.transactions += 1
        self.writers += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    def _replay_alone(self, batch: list[tuple[Callable[[], Any], asyncio.Future[Any]]]) -> None:
        """Each writer's work in a transaction of its own: only the failing ones fail."""
        for work, future in batch:
            try:
                with self._store.transaction():
                    result = work()
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            self.transactions += 1
            self.writers += 1
            if not future.done():
                future.set_result(result)
