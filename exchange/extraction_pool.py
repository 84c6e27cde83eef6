"""A bounded process pool for CPU-heavy feature extraction (faces, fingerprints), off the loop.

Extracting a template from a photograph takes 0.2-1 s of CPU, a finger 0.1-0.7 s: run on the
event loop, it would stall every partner exchange and light (DNA) search behind it, and in a
thread it would hold the GIL for much of that time. So it runs in `workers` processes
(`concurrent.futures.ProcessPoolExecutor`), and admission is bounded: at most `workers +
queue` jobs are in the pool at once (running or waiting), and one more is refused at once
with `PoolFull`, which the APIs answer as 503 with Retry-After (client) or a temporary Prüm
error (partners), rather than queueing without bound.

The processes are started with the "forkserver" method where the platform has it ("spawn"
elsewhere): forking a process that runs an event loop and threads (the WAL checkpointer, FAISS
threads) copies locks held by other threads (Python docs, multiprocessing, "Contexts and start
methods": fork "is problematic" in a multithreaded process; 3.14 changes the POSIX default
away from it). A worker that dies (killed, out of memory, a crash in native code) breaks the
executor (`BrokenProcessPool`): the pool replaces the executor and raises `PoolBroken` for the
jobs that were in it, a typed temporary failure, never an unhandled error.

The workers run at a lower CPU priority (`nice`, default 10): extraction is bulk work, and on
a small machine the event loop's process (partner I/O, DNA searches) must get the CPU first
when both want it; measured by `bench extract` (DNA p99 while the pool is full).

`fn` must be a top-level function (picklable by reference) and its arguments picklable.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_QUEUE = 2


def default_workers() -> int:
    """One process per core but one, at least one (1 on this 2-core machine)."""
    return max(1, (os.cpu_count() or 1) - 1)


class PoolFull(Exception):
    """The pool holds `workers + queue` jobs already; try again after `retry_after_s`."""

    def __init__(self, retry_after_s: float, message: str = "") -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message or f"the extraction pool is busy; retry after {retry_after_s} s")


class PoolBroken(PoolFull):
    """A worker died during the job (the pool has been restarted); a retry may succeed."""


class JobCrashed(Exception):
    """The job killed its worker, and killed it again when run alone in a fresh process: the
    input itself crashes native code (the gateway fuzzer found a damaged WSQ image that makes
    NBIS's decoder segfault). A refusal of that input, not a reason for its sender to retry."""


def _start_worker(nice: int, initializer: Callable[[], None] | None) -> None:
    """In each new worker: lower its priority, then the caller's initializer (model loads)."""
    if nice and hasattr(os, "nice"):
        with contextlib.suppress(OSError):  # not permitted here: run at normal priority
            os.nice(nice)
    if initializer is not None:
        initializer()


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class ExtractionPool:
    """`await pool.run(fn, *args)` in a worker process; `PoolFull` when full."""

    def __init__(
        self,
        workers: int,
        queue: int,
        initializer: Callable[[], None] | None = None,
        nice: int = 10,
    ) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("workers must be 1 or more and queue 0 or more")
        self.workers = workers
        self.queue = queue
        self.capacity = workers + queue
        self._initializer = initializer
        self._nice = nice
        self._lock = threading.Lock()
        self._admitted = 0
        self._closed = False
        self._executor = self._new_executor()
        # Seconds a job takes, smoothed: what Retry-After says (a queue's worth of jobs).
        self._job_s = 1.0

    def _new_executor(self, workers: int | None = None) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers or self.workers,
            mp_context=_context(),
            initializer=_start_worker,
            initargs=(self._nice, self._initializer),
        )

    async def _alone(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        """`fn(*args)` in a fresh process of its own; `JobCrashed` if it dies there too."""
        solo = self._new_executor(workers=1)
        try:
            return await asyncio.wrap_future(solo.submit(fn, *args))
        except BrokenProcessPool as exc:
            raise JobCrashed("the input crashed the extraction worker (twice)") from exc
        finally:
            solo.shutdown(wait=False, cancel_futures=True)

    @property
    def in_use(self) -> int:
        return self._admitted

    def retry_after_s(self) -> float:
        return max(1.0, round(self._job_s * self.capacity / self.workers, 1))

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        """Run `fn(*args)` in a worker; PoolFull at once when `workers + queue` are in."""
        with self._lock:
            if self._closed:
                raise PoolFull(self.retry_after_s(), "the extraction pool is closed")
            if self._admitted >= self.capacity:
                raise PoolFull(self.retry_after_s())
            self._admitted += 1
            executor = self._executor
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            try:
                result = await asyncio.wrap_future(executor.submit(fn, *args))
            except BrokenProcessPool:
                self._restart(executor)
                # Which job killed the worker is unknown (others may have been running in
                # it): each job of a broken pool runs again alone, so that only the one
                # whose input crashes is refused and the others are answered.
                return await self._alone(fn, args)
            except RuntimeError as exc:  # submitted to an executor being shut down
                if executor is self._executor:
                    raise
                raise PoolBroken(self.retry_after_s(), "the pool was restarted") from exc
            self._job_s = 0.8 * self._job_s + 0.2 * (loop.time() - started)
            return result
        finally:
            with self._lock:
                self._admitted -= 1

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._closed or broken is not self._executor:
                return  # another job already replaced it
            self._executor = self._new_executor()
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            executor = self._executor
        executor.shutdown(wait=True, cancel_futures=True)
