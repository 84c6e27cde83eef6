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


def test_a_partner_that_hangs_is_timeout_also_when_the_breaker_then_opens() -> None:
    """A partner that never answers: each attempt times out, the breaker opens on those
    failures, and the search's answer is still `timeout` (the contract's word for a partner
    that did not answer in time), with the breaker named in the error and in the metric. A
    search that finds the breaker open already, before sending anything, is `error`."""
    import asyncio

    import pytest

    from exchange.gateway.config import PartnerConfig
    from exchange.gateway.metrics import standard_metrics
    from exchange.gateway.outbound.http_client import HttpClient
    from exchange.gateway.outbound.partner_client import PartnerClient, PartnerError

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)  # accepts the connection and never answers

    async def main() -> tuple[PartnerError, PartnerError, str]:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        metrics = standard_metrics()
        cfg = PartnerConfig(
            "DE",
            f"http://127.0.0.1:{port}/prum/v1/messages",
            timeout_s=0.2,
            retries=3,
            breaker_failures=2,
            breaker_reset_s=60,
        )
        async with server:
            http = HttpClient()
            try:
                client = PartnerClient(cfg, http, metrics)
                loop = asyncio.get_running_loop()
                errors = []
                for _ in range(2):
                    with pytest.raises(PartnerError) as caught:
                        await client.send(b"<x/>", "application/xml", loop.time() + 5)
                    errors.append(caught.value)
            finally:
                await http.close()
        return errors[0], errors[1], metrics.render()

    hung, refused, rendered = asyncio.run(main())
    assert hung.timeout and "no answer in time" in hung.reason and "circuit now open" in hung.reason
    assert not refused.timeout and refused.reason == "circuit open"
    assert 'prum_breaker_open{partner="DE"} 1' in rendered
