"""The searches running in the background of one gateway, and what their waiters wait on.

A client's search is acknowledged once stored, then runs as a task of its own (the fan-out,
`outbound.fanout.run_search`); a `?wait=` waits on its event, set when its end is committed.
Searches a crash left pending are started here again at start-up; at a clean stop the
gateway lets them finish within a grace period, then cancels the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine


class SearchTasks:
    """The running searches' tasks and the events their waiters hold."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.done: dict[str, asyncio.Event] = {}

    def __len__(self) -> int:
        return len(self.tasks)

    def start(self, run: Coroutine[object, object, None]) -> None:
        """Run a stored search in the background (`run`: its fan-out)."""
        task = asyncio.create_task(run)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def event(self, search_id: str) -> asyncio.Event:
        """What a `?wait=` waits on: set when the search has ended (`ended`)."""
        if search_id not in self.done:
            self.done[search_id] = asyncio.Event()
        return self.done[search_id]

    def ended(self, search_id: str) -> None:
        """Wake the search's waiters and forget its event, called after its end is committed.

        A waiter takes the event only after reading the search as pending, with no await in
        between, so none can take it after this (it would read the search as ended). Without
        the removal one event per search would stay for the life of the process.
        """
        event = self.done.pop(search_id, None)
        if event is not None:
            event.set()

    async def drain(self, grace_s: float) -> None:
        """Let the running searches finish within `grace_s`, then cancel the rest."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace_s)
        for task in list(self.tasks):
            task.cancel()
