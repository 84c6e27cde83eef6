"""The bound on searches fanning out at once: the others wait their turn, first come first
served; without a bound, none waits."""

from __future__ import annotations

import asyncio

from exchange.gateway.search_tasks import SearchTasks


async def _hold(tasks: SearchTasks, name: str, order: list[str], release: asyncio.Event) -> None:
    async with tasks.fanning_out():
        order.append(name)
        await release.wait()


def test_searches_beyond_the_bound_wait_their_turn_in_order() -> None:
    async def main() -> None:
        tasks = SearchTasks(max_fanning_out=2)
        order: list[str] = []
        gates = {n: asyncio.Event() for n in "abcd"}
        running = [asyncio.create_task(_hold(tasks, n, order, gates[n])) for n in "abcd"]
        for _ in range(5):
            await asyncio.sleep(0)
        assert order == ["a", "b"] and tasks.fanning_out_now == 2
        gates["b"].set()
        for _ in range(5):
            await asyncio.sleep(0)
        assert order == ["a", "b", "c"] and tasks.fanning_out_now == 2
        for gate in gates.values():
            gate.set()
        await asyncio.gather(*running)
        assert order == ["a", "b", "c", "d"] and tasks.fanning_out_now == 0

    asyncio.run(main())


def test_without_a_bound_every_search_fans_out_at_once() -> None:
    async def main() -> None:
        tasks = SearchTasks()
        order: list[str] = []
        gate = asyncio.Event()
        running = [asyncio.create_task(_hold(tasks, str(i), order, gate)) for i in range(50)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(order) == 50 and tasks.fanning_out_now == 50
        gate.set()
        await asyncio.gather(*running)

    asyncio.run(main())
