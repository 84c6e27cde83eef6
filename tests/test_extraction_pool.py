"""The extraction pool: admission bounded at workers + queue, a dead worker replaced."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from exchange.extraction_pool import ExtractionPool, PoolBroken, PoolFull


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


def test_a_worker_that_dies_is_a_typed_temporary_error_and_the_pool_recovers() -> None:
    async def main() -> None:
        pool = ExtractionPool(workers=1, queue=0)
        try:
            with pytest.raises(PoolBroken):
                await pool.run(os._exit, 3)  # the worker process dies mid-job
            assert await pool.run(abs, -5) == 5
        finally:
            pool.close()

    asyncio.run(main())


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        ExtractionPool(workers=0, queue=1)
