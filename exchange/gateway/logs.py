"""Structured logs (structlog): JSON when not on a terminal, pretty on one.

Every line of a search carries its correlation id through structlog's context variables,
bound once where the search starts. Log lines name references, partners and statuses; they
never carry biometric data or personal records: callers pass ids, never payloads.
Format override: `PRUM_EXCHANGE_LOG_FORMAT=json|console` (STYLE.md allows this one).
"""

from __future__ import annotations

import logging
import os
import sys

import structlog


class _StderrLogger:
    """Writes each line to whatever `sys.stderr` is at the time (test runners swap it)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _stderr_logger(*args: object) -> _StderrLogger:
    return _StderrLogger()


def configure(level: int = logging.INFO, fmt: str | None = None) -> None:
    fmt = fmt or os.environ.get("PRUM_EXCHANGE_LOG_FORMAT")
    if fmt is None:
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if fmt == "console" else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
