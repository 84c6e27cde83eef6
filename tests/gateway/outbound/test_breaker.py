"""The per-partner circuit breaker, driven by an explicit clock."""

from __future__ import annotations

from exchange.gateway.outbound.breaker import Breaker


def test_opens_after_consecutive_failures_then_lets_one_trial_through() -> None:
    b = Breaker(failure_threshold=3, reset_after_s=10.0)
    for t in range(2):
        b.failure(float(t))
        assert b.allow(float(t)) and b.state == "closed"
    b.failure(2.0)
    assert b.state == "open" and not b.allow(5.0)
    assert b.allow(12.0) and b.state == "half_open"  # one trial after the cool-down
    assert not b.allow(12.1)  # and only one at a time
    b.failure(12.5)  # the trial failed: open again, from now
    assert b.state == "open" and not b.allow(20.0) and b.allow(22.6)
    b.success()
    assert b.state == "closed" and b.allow(22.7) and b.failures == 0


def test_a_success_resets_the_count() -> None:
    b = Breaker(failure_threshold=2)
    b.failure(0.0)
    b.success()
    b.failure(1.0)
    assert b.state == "closed"


def test_each_partner_client_takes_its_breaker_settings_from_the_config() -> None:
    import asyncio

    import aiohttp

    from exchange.gateway.config import PartnerConfig
    from exchange.gateway.metrics import standard_metrics
    from exchange.gateway.outbound.partner_client import PartnerClient

    async def build() -> Breaker:
        async with aiohttp.ClientSession() as session:
            cfg = PartnerConfig("DE", "http://127.0.0.1:9/x", breaker_failures=2, breaker_reset_s=7)
            return PartnerClient(cfg, session, standard_metrics()).breaker

    breaker = asyncio.run(build())
    assert (breaker.failure_threshold, breaker.reset_after_s) == (2, 7)
    breaker.failure(0.0)
    assert breaker.allow(1.0)
    breaker.failure(1.0)
    assert not breaker.allow(7.9) and breaker.allow(8.0)
