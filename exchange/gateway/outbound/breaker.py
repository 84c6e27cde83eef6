"""A circuit breaker per partner: stop sending to a partner that keeps failing, try again later.

Closed: messages flow; `failure_threshold` consecutive transient failures open it. Open:
nothing is sent for `reset_after_s`, callers get an immediate error. Half-open: one trial
message is let through; success closes the breaker, failure opens it again. The clock is
passed in, so tests drive it. Both numbers are per partner in the config (`breaker_failures`,
`breaker_reset_s`): a partner known to blip can be given more slack, a critical one less.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Breaker:
    failure_threshold: int = 5
    reset_after_s: float = 10.0
    failures: int = 0
    opened_at: float | None = None
    trial_in_flight: bool = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.trial_in_flight else "open"

    def allow(self, now: float) -> bool:
        """May a message be sent now? In half-open state only one trial at a time."""
        if self.opened_at is None:
            return True
        if now - self.opened_at >= self.reset_after_s and not self.trial_in_flight:
            self.trial_in_flight = True
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.trial_in_flight = False

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.trial_in_flight or self.failures >= self.failure_threshold:
            self.opened_at = now
        self.trial_in_flight = False
