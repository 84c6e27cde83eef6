"""The long-running commands' event loop: uvloop where installed, asyncio's otherwise."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import sys

import pytest

from exchange import event_loop


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_run_returns_the_coroutine_result_on_uvloop_where_installed() -> None:
    module = event_loop.run(_loop_module())
    if importlib.util.find_spec("uvloop") is None:
        assert module.startswith("asyncio")
        assert event_loop.name() == "asyncio"
    else:
        assert module.startswith("uvloop")
        assert event_loop.name().startswith("uvloop ")


def test_uvloop_is_installed_where_it_is_a_dependency() -> None:
    # pyproject.toml requires it on every platform but Windows (which uvloop does not
    # support); a missing install would make the gateway silently ~1.5x slower per search.
    assert sys.platform == "win32" or importlib.util.find_spec("uvloop") is not None


def test_run_propagates_exceptions() -> None:
    async def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        event_loop.run(fail())


def test_settle_heap_freezes_the_heap_and_collects_the_young_generation_less_often() -> None:
    before = gc.get_threshold()
    try:
        event_loop.settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (event_loop.GEN0_THRESHOLD, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
