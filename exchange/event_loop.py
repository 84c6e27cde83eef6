"""The event loop the long-running commands run on: uvloop where it is installed.

uvloop (MagicStack, libuv underneath) is a drop-in asyncio event loop whose scheduling and
socket transports are written in C; the gateway, the mock partners and the load client of
`bench gateway` spend much of each partner exchange in that machinery (measured in
`bench gateway`, see the README). Where uvloop is not available (it does not support Windows)
the standard asyncio loop runs the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.metadata
import json
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
GEN0_THRESHOLD = 20_000  # `settle_heap`: CPython's default is 700


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a new event loop, as `asyncio.run` does."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it is supported
        return asyncio.run(main)
    return uvloop.run(main)


def name() -> str:
    """Which event loop `run` uses here, for benchmark reports."""
    try:
        return f"uvloop {importlib.metadata.version('uvloop')}"
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return "asyncio"


def settle_heap() -> None:
    """Call once a long-running process has built what it keeps (galleries, config, caches).

    Collects once, then freezes every object alive (`gc.freeze`, Python 3.7+): the cyclic
    collector no longer walks them, so its full collections, which otherwise walk the whole
    heap, cost only what was made since. Measured with `gc.callbacks` in the processes of
    `bench gateway`, a full collection of an unfrozen heap took 25-80 ms: a stall of every
    search in flight whenever one falls in service. Frozen objects are still freed by
    reference counting; only cycles among them wait (there are none to speak of).

    Then it raises the youngest generation's threshold from CPython's 700 to
    `GEN0_THRESHOLD` container allocations (net of deallocations). At 700 a server making
    thousands of short-lived objects a second collects generation 0 several dozen times a
    second, promotes whatever is in flight at each collection, and so also collects the
    older generations often. Measured with `gc.callbacks` in the gateway at 300 searches/s
    (simple partners, 20 s runs, other work sharing the machine, counts net of start-up): at
    700, 1,100-1,400 young, 100-130 middle and 9-12 full collections a run, 1.7-2.5 s of
    collector time against 15 s of CPU; at 20,000, about 10 young ones and no full one, under
    0.2 s, each young one a 4-17 ms pause (a few a minute, not dozens a second). Gateway CPU
    per search, one same-run pair: 2.19 -> 2.01 ms. Most objects are freed by reference
    counting long before a threshold is reached; the collector is only for cycles, which
    these processes hardly make.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, middle, old)


async def until_signalled() -> None:
    """Return on SIGINT or SIGTERM: how a long-running command waits to be stopped.

    The handlers stay in place after it returns, so a second signal during the graceful
    stop that follows does not cut it short (a stop that must be forced is a SIGKILL).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve_ready(starting: contextlib.AbstractAsyncContextManager[dict[str, object]]) -> None:
    """Start a server (`starting` yields its ready line's fields), settle the heap, print
    the ready line as JSON on stdout (scripts starting several servers read it), and serve
    until SIGINT or SIGTERM; leaving `starting` stops it."""
    async with starting as ready:
        settle_heap()
        print(json.dumps(ready), flush=True)
        await until_signalled()
