"""A wide-area network's latency in front of a mock partner, and the record of what it did.

`bench gateway --partners 30 --wan` puts thirty partners behind a real network's delay: each
partner holds each answer back by a draw from its own lognormal distribution, the shape
round-trip and service times over the internet take (a body near the median and a heavy
right tail; Paxson, "End-to-end Internet packet dynamics", 1999, and the lognormal service
times of most measured web back-ends). One partner's median is one of `spread_medians`,
from 20 ms (a neighbour) to 150 ms (far away, or slow to search); `sigma` is the log-scale
spread: 0.7 puts a partner's p99 at exp(2.326 * 0.7) = 5.1 times its median.

Draws come from a generator seeded with (seed, the partner's index), taken in the order the
partner's messages arrive: the same seed gives each partner the same sequence of delays.

`AnswerLog` keeps, per message, its probe references, when the message was read, the delay
drawn and when its answer left: the bench lines these up with the searches it sent (each
search's record travels under its own reference) to tell the slowest partner's answer of a
search from the gateway's own time. Times are `time.monotonic()`: CLOCK_MONOTONIC on Linux,
one clock for every process of the machine (clock_gettime(2): "a nonsettable system-wide
clock"), so a partner process's times and the load client's compare.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_MEDIAN_S = 0.020
MAX_MEDIAN_S = 0.150
SIGMA = 0.7  # log-scale spread: p99 = 5.1 x median
MAX_DELAY_S = 30.0  # a draw is capped here so that a mock always answers
MAX_LOGGED = 1_000_000  # messages kept in an AnswerLog; older ones are dropped


def spread_medians(n: int, low: float = MIN_MEDIAN_S, high: float = MAX_MEDIAN_S) -> list[float]:
    """`n` medians spaced evenly on a log scale from `low` to `high` seconds (one: `low`)."""
    if n < 1:
        raise ValueError("n: at least 1")
    if n == 1:
        return [low]
    ratio = high / low
    return [low * ratio ** (i / (n - 1)) for i in range(n)]


class LatencyModel:
    """One partner's delays: lognormal with this median and sigma, from a seeded generator."""

    def __init__(self, median_s: float, sigma: float, seed: int, index: int) -> None:
        if median_s < 0 or sigma < 0:
            raise ValueError("median_s and sigma: not negative")
        self.median_s = median_s
        self.sigma = sigma
        self._mu = math.log(median_s) if median_s > 0 else -math.inf
        self._rng = np.random.default_rng([seed, index])
        # Every draw is multiplied by this: 0 gives a run without latency beside the WAN one,
        # from the same processes (`bench gateway --wan` sets it at GET /wan/answers?scale=).
        self.scale = 1.0

    def draw(self) -> float:
        """The next delay, in seconds (0 when the median is 0)."""
        if self._mu == -math.inf:
            return 0.0
        drawn = float(self._rng.lognormal(self._mu, self.sigma))
        return min(MAX_DELAY_S, drawn * self.scale)

    def quantile(self, q: float) -> float:
        """The model's own q-quantile (0 < q < 1), for the report beside the measured."""
        from statistics import NormalDist

        if self._mu == -math.inf:
            return 0.0
        return math.exp(self._mu + self.sigma * NormalDist().inv_cdf(q))


@dataclass(frozen=True, slots=True)
class Answered:
    """One message a partner answered: its probes, when it came, the delay, when it left."""

    references: tuple[str, ...]
    received: float  # time.monotonic() when the message had been read
    delay: float  # the delay drawn for it, seconds
    answered: float  # time.monotonic() when its answer was handed to the HTTP server
    status: int

    def as_json(self) -> dict[str, object]:
        return {
            "references": list(self.references),
            "received": self.received,
            "delay": self.delay,
            "answered": self.answered,
            "status": self.status,
        }


class AnswerLog:
    """The messages a partner answered, oldest first, bounded to `MAX_LOGGED`."""

    def __init__(self) -> None:
        self.entries: list[Answered] = []

    def add(self, entry: Answered) -> None:
        self.entries.append(entry)
        if len(self.entries) > MAX_LOGGED:
            del self.entries[: MAX_LOGGED // 10]


async def delayed(model: LatencyModel, received: float) -> float:
    """Sleep until `received` + a draw; returns the delay drawn."""
    delay = model.draw()
    wait = received + delay - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)
    return delay


def slowest_answers(
    logs: Sequence[Sequence[Answered]],
) -> dict[str, tuple[int, float, float]]:
    """Per probe reference over every partner's log: (answers, the latest `answered`, the
    longest partner time: `answered - received`). A reference answered twice by the same
    partner (a retry) counts the later answer."""
    out: dict[str, tuple[int, float, float]] = {}
    for log in logs:
        latest: dict[str, Answered] = {}
        for entry in log:
            for ref in entry.references:
                seen = latest.get(ref)
                if seen is None or entry.answered > seen.answered:
                    latest[ref] = entry
        for ref, entry in latest.items():
            n, last, longest = out.get(ref, (0, -math.inf, 0.0))
            out[ref] = (
                n + 1,
                max(last, entry.answered),
                max(longest, entry.answered - entry.received),
            )
    return out


@dataclass(frozen=True, slots=True)
class Overhead:
    """One search's times: what the gateway added, measured two ways."""

    after_last_answer: float  # client saw it complete - the last partner answer left
    above_slowest: float  # end to end - the longest time a partner held its message


def overhead(submitted: float, completed: float, last_answer: float, longest: float) -> Overhead:
    """The gateway's own time in one search from the client's and the partners' clocks.

    `after_last_answer` is what the gateway spent after the slowest partner's answer left
    (reading it, recording it, closing the search, answering the client); `above_slowest`
    also counts what it spent before the slowest partner had the message (storing the
    search, planning, waiting for a batch lane or connection): end to end minus the longest
    time any partner held the search's message.
    """
    return Overhead(completed - last_answer, (completed - submitted) - longest)
