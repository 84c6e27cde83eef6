"""Structured logs (structlog): JSON when not on a terminal, pretty on one.

Every line of a search carries its correlation id through structlog's context variables,
bound once where the search starts. Log lines name references, partners and statuses; they
never carry biometric data or personal records: callers pass ids, never payloads.
Format override: `PRUM_EXCHANGE_LOG_FORMAT=json|console` (STYLE.md allows this one).

The stdlib loggers of aiohttp and asyncio go through the same pipeline (structlog's
`ProcessorFormatter`, https://www.structlog.org/en/stable/standard-library.html), behind
`WireHygiene`, a filter that never lets raw request bytes or header values through: aiohttp's
parser errors quote the offending request line (`b'Authorization: Bearer ...'`) in their
message and traceback. A request aiohttp could not parse becomes one short `http_refused`
line at warning level, the error's class and status only, at most `REFUSED_PER_WINDOW` a
`WINDOW_S` per process (then one line saying how many were left out), so that a flood of
malformed requests cannot flood the log; a peer that reset its connection is one
`http_peer_reset` debug line. Every line is finally scrubbed of anything shaped like a
credential (`redact_credentials`). JSON lines carry an exception's text and traceback
(structlog's `format_exc_info`) instead of `"exc_info": true`.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog
from aiohttp import http_exceptions

ROUTED_LOGGERS = ("aiohttp", "asyncio")
ACCESS_LOGGER = "aiohttp.access"  # off in every runner of ours (`access_log=None`); never written
WINDOW_S = 10.0
REFUSED_PER_WINDOW = 20
_FIELDS = "prum_fields"  # where WireHygiene leaves a rewritten record's structured fields
# An Authorization header's value, a bearer token, or a token= / password= pair, in any text.
_CREDENTIAL = re.compile(
    r"(?i)((?:proxy-)?authorization\s*:\s*(?:[a-z]+\s+)?|bearer\s+|"
    r"(?:token|password|secret|api[_-]?key)\s*[=:]\s*)([^\s'\",;]+)"
)
_PEER_RESETS = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class _StderrLogger:
    """Writes each line to whatever `sys.stderr` is at the time (test runners swap it)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _stderr_logger(*args: object) -> _StderrLogger:
    return _StderrLogger()


class _StderrHandler(logging.Handler):
    """A stdlib handler writing to the `sys.stderr` of the moment, as `_StderrLogger`."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)


def redact_credentials(
    logger: object, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Blank anything shaped like a credential in every string of the line (a net: callers
    never log credentials, but an exception's text may quote a request)."""
    for key, value in event_dict.items():
        if isinstance(value, str) and _CREDENTIAL.search(value):
            event_dict[key] = _CREDENTIAL.sub(r"\1[redacted]", value)
    return event_dict


def _record_fields(
    logger: object, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The fields `WireHygiene` gave a stdlib record, and the logger's name, on the line."""
    record = event_dict.get("_record")
    if record is not None:
        event_dict.update(getattr(record, _FIELDS, {}))
        event_dict.setdefault("logger", record.name)
    return event_dict


def _caused_by(exc: BaseException | None, kinds: tuple[type[BaseException], ...]) -> bool:
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, kinds):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class WireHygiene(logging.Filter):
    """Rewrites aiohttp's and asyncio's records about what peers sent, before formatting.

    - a request aiohttp's parser refused (`HttpProcessingError` and its subclasses): one
      `http_refused` warning naming the error class and status, no message (it quotes the
      request's bytes) and no traceback; rate-limited per `window_s`;
    - a peer that reset or dropped its connection: one `http_peer_reset` debug line;
    - aiohttp's access log: dropped (our runners turn it off; a runner that did not would
      write request targets and header values);
    - anything else passes, its text scrubbed of credentials by `redact_credentials`.
    """

    def __init__(
        self,
        level: int = logging.INFO,
        per_window: int = REFUSED_PER_WINDOW,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.level = level
        self.per_window = per_window
        self.window_s = window_s
        self.clock = clock
        self._window_start = -float("inf")
        self._in_window = 0
        self.suppressed = 0  # refusals left out since the last line written

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(ACCESS_LOGGER):
            return False  # its lines quote request lines and header values (User-Agent, ...)
        exc = record.exc_info[1] if record.exc_info else None
        if _caused_by(exc, (http_exceptions.HttpProcessingError,)):
            return self._refused(record, exc)
        if _caused_by(exc, _PEER_RESETS):
            self._rewrite(record, logging.DEBUG, "http_peer_reset", error=_name(exc))
            return self.level <= logging.DEBUG
        return record.levelno >= self.level

    def _refused(self, record: logging.LogRecord, exc: BaseException | None) -> bool:
        now = self.clock()
        if now - self._window_start >= self.window_s:
            self._window_start, self._in_window = now, 0
        if self._in_window >= self.per_window:
            self.suppressed += 1
            return False
        self._in_window += 1
        fields: dict[str, object] = {"error": _name(exc)}
        status = getattr(exc, "code", None)
        if isinstance(status, int):
            fields["status"] = status
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if isinstance(peer, str):
            fields["peer"] = peer
        if self.suppressed:
            fields["suppressed"], self.suppressed = self.suppressed, 0
        self._rewrite(record, logging.WARNING, "http_refused", **fields)
        return self.level <= logging.WARNING

    @staticmethod
    def _rewrite(record: logging.LogRecord, level: int, event: str, **fields: object) -> None:
        record.levelno, record.levelname = level, logging.getLevelName(level)
        record.msg, record.args = event, ()
        record.exc_info = record.exc_text = None
        record.stack_info = None
        setattr(record, _FIELDS, fields)


def _name(exc: BaseException | None) -> str:
    return type(exc).__name__ if exc is not None else "none"


def _renderer(fmt: str) -> list[structlog.typing.Processor]:
    """The last steps: the exception as text (so that it is redacted too), then the line."""
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    return [structlog.processors.format_exc_info, redact_credentials, renderer]


def _route_stdlib(level: int, fmt: str) -> WireHygiene:
    """aiohttp's and asyncio's loggers into the pipeline, behind `WireHygiene`."""
    hygiene = WireHygiene(level)
    handler = _StderrHandler()
    handler.addFilter(hygiene)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                _record_fields,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *_renderer(fmt),
            ],
        )
    )
    for name in ROUTED_LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
            logger.removeHandler(old)  # configure() again replaces, never stacks
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    return hygiene


def configure(level: int = logging.INFO, fmt: str | None = None) -> WireHygiene:
    """Configure structlog and route aiohttp's and asyncio's loggers through it; returns the
    hygiene filter (its `suppressed` count is what the rate limit has left out)."""
    fmt = fmt or os.environ.get("PRUM_EXCHANGE_LOG_FORMAT")
    if fmt is None:
        fmt = "console" if sys.stderr.isatty() else "json"
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *_renderer(fmt),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    return _route_stdlib(level, fmt)
