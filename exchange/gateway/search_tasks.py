"""The searches running in the background of one gateway, and what their waiters wait on.

A client's search is acknowledged once stored, then runs as a task of its own (the fan-out,
`outbound.fanout.run_search`); a `?wait=` waits on its event, set when its end is committed.
Searches a crash left pending are started here again at start-up; at a clean stop the
gateway lets them finish within a grace period, then cancels the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine


class SearchTasks:
    """The running searches' tasks and the events their waiters hold.

    `max_fanning_out` (config `max_searches_fanning_out`; 0: no limit) bounds the searches
    that fan out at once; the others wait their turn, stored and acknowledged, first come
    first served (`fanning_out`). Without a bound, a gateway given more searches than its
    CPU can fan out starts them all, and the answers of searches already out wait on the
    event loop behind the start of new ones: every search slows, and a partner's answer
    may sit unread past its attempt's timeout. With it, the searches out are served
    promptly and the rest queue before the fan-out, where waiting costs no partner
    anything (`bench gateway --wan` measures both).
    """

    def __init__(self, max_fanning_out: int = 0) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.done: dict[str, asyncio.Event] = {}
        self._slots = asyncio.Semaphore(max_fanning_out) if max_fanning_out > 0 else None
        self.fanning_out_now = 0  # searches between their turn and their end

    @contextlib.asynccontextmanager
    async def fanning_out(self) -> AsyncIterator[None]:
        """Hold one of the `max_fanning_out` turns (at once when there is no limit)."""
        async with self._slots if self._slots is not None else contextlib.nullcontext():
            self.fanning_out_now += 1
            try:
                yield
            finally:
                self.fanning_out_now -= 1

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
