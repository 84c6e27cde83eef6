"""The extraction pool: admission bounded at workers + queue, a dead worker replaced."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from exchange.extraction_pool import ExtractionPool, JobCrashed, PoolFull


def test_a_job_beyond_workers_plus_queue_is_refused_at_once_with_retry_after() -> None:
    async def main() -> None:
        pool = ExtractionPool(workers=1, queue=1)
        try:
            first = asyncio.create_task(pool.run(time.sleep, 1.0))
            second = asyncio.create_task(pool.run(abs, -3))
            await asyncio.sleep(0)  # both admitted
            assert pool.in_use == 2
            with pytest.raises(PoolFull) as caught:
                await pool.run(abs, -1)
            assert caught.value.retry_after_s >= 1
            assert await second == 3
            await first
            assert await pool.run(abs, -4) == 4  # room again
        finally:
            pool.close()

    asyncio.run(main())


def test_a_job_that_kills_its_worker_is_refused_as_crashing_and_the_pool_recovers() -> None:
    async def main() -> None:
        pool = ExtractionPool(workers=1, queue=0)
        try:
            with pytest.raises(JobCrashed):  # it dies in the pool, then again alone
                await pool.run(os._exit, 3)
            assert await pool.run(abs, -5) == 5
        finally:
            pool.close()

    asyncio.run(main())


def test_a_job_in_a_worker_another_job_killed_is_answered() -> None:
    """The worker dies under one job while another waits in the same pool: the other is run
    again alone and answered; only the crashing one is refused."""

    async def main() -> None:
        pool = ExtractionPool(workers=1, queue=1)
        try:
            crashing = asyncio.create_task(pool.run(os._exit, 3))
            innocent = asyncio.create_task(pool.run(abs, -7))
            results = await asyncio.gather(crashing, innocent, return_exceptions=True)
            assert isinstance(results[0], JobCrashed)
            assert results[1] == 7
            assert pool.in_use == 0
        finally:
            pool.close()

    asyncio.run(main())


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        ExtractionPool(workers=0, queue=1)
