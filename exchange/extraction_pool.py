"""TEMPORARY minimal extraction pool (the face helper's exchange/extraction_pool.py replaces
this on merge): a bounded process pool for CPU-heavy extraction, off the event loop.

At most `workers + queue` jobs are admitted at once; one more raises `PoolFull` at once.
`fn` must be a top-level (picklable) function. Processes start with "forkserver" where the
platform has it: forking a process with running threads copies their held locks (Python
docs, multiprocessing, "Contexts and start methods").
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class PoolFull(Exception):
    """The pool is at capacity; try again after `retry_after_s` seconds."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"the extraction pool is busy; retry after {retry_after_s} s")


class ExtractionPool:
    """`await pool.run(fn, *args)` in a worker process; `PoolFull` when full."""

    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("workers must be 1 or more and queue 0 or more")
        self.capacity = workers + queue
        self._admitted = 0
        self._lock = threading.Lock()
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=context)

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        with self._lock:
            if self._admitted >= self.capacity:
                raise PoolFull(1.0)
            self._admitted += 1
        try:
            return await asyncio.wrap_future(self._executor.submit(fn, *args))
        finally:
            with self._lock:
                self._admitted -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
