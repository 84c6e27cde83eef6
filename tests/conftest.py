"""Hypothesis profiles: no deadlines (machines differ); derandomised under CI so runs repeat.

And structlog's configuration restored after every test: a test that runs the CLI (which
configures logging, e.g. `drill --quiet` at warning level) must not leave later tests'
`capture_logs` blind to info lines; nor leave aiohttp's and asyncio's stdlib loggers routed
into it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(autouse=True)
def _structlog_as_it_was() -> Iterator[None]:
    saved = structlog.get_config()
    routed = {name: logging.getLogger(name) for name in ("aiohttp", "asyncio")}
    stdlib = {n: (list(lg.handlers), lg.level, lg.propagate) for n, lg in routed.items()}
    yield
    structlog.configure(**saved)
    for name, logger in routed.items():  # `logs.configure` routes these into structlog
        handlers, level, logger.propagate = stdlib[name]
        logger.handlers[:] = handlers
        logger.setLevel(level)
