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
    """
    gc.collect()
    gc.freeze()


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
