"""The WAN latency model in front of a simple partner: seeded lognormal draws, applied to each
answer and logged; the per-search overhead arithmetic the WAN bench relies on."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import math

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from exchange.codecs import prum_xml
from exchange.model import SearchReply
from exchange.translate import Outbound, record_to_envelope
from mock_partners import population
from mock_partners.simple_node import seeded
from mock_partners.wan import (
    Answered,
    LatencyModel,
    overhead,
    slowest_answers,
    spread_medians,
)

SEED = 5
NOW = dt.datetime(2026, 12, 8, 12, 0, tzinfo=dt.UTC)


def test_medians_spread_on_a_log_scale_from_20_to_150_ms() -> None:
    medians = spread_medians(30)
    assert medians[0] == pytest.approx(0.020)
    assert medians[-1] == pytest.approx(0.150)
    ratios = [b / a for a, b in itertools.pairwise(medians)]
    assert max(ratios) == pytest.approx(min(ratios))  # evenly spaced in log
    assert spread_medians(1) == [0.020]
    with pytest.raises(ValueError, match="n"):
        spread_medians(0)


def test_the_same_seed_and_partner_give_the_same_draws_and_another_partner_others() -> None:
    a = [LatencyModel(0.05, 0.7, SEED, 3).draw()]
    first, again = LatencyModel(0.05, 0.7, SEED, 3), LatencyModel(0.05, 0.7, SEED, 3)
    draws = [first.draw() for _ in range(50)]
    assert draws == [again.draw() for _ in range(50)]
    assert draws[0] == a[0]
    other = LatencyModel(0.05, 0.7, SEED, 4)
    assert [other.draw() for _ in range(50)] != draws
    reseeded = LatencyModel(0.05, 0.7, SEED + 1, 3)
    assert [reseeded.draw() for _ in range(50)] != draws


def test_draws_are_lognormal_with_the_median_and_a_heavy_tail() -> None:
    model = LatencyModel(0.1, 0.7, SEED, 0)
    draws = np.array([model.draw() for _ in range(20_000)])
    assert np.median(draws) == pytest.approx(0.1, rel=0.05)
    # log-draws are normal with sigma 0.7; p99 / median = exp(2.326 * 0.7) = 5.1
    assert np.std(np.log(draws)) == pytest.approx(0.7, rel=0.05)
    assert np.percentile(draws, 99) / np.median(draws) == pytest.approx(5.1, rel=0.15)
    assert model.quantile(0.99) == pytest.approx(0.1 * math.exp(2.3263 * 0.7), rel=1e-3)
    model.scale = 0.0
    assert model.draw() == 0.0
    assert LatencyModel(0.0, 0.7, SEED, 0).draw() == 0.0


def test_overhead_on_known_times() -> None:
    # submitted at 10.0; the slowest partner held its message 0.30 s and its answer left at
    # 10.32; the client saw the end at 10.335
    o = overhead(submitted=10.0, completed=10.335, last_answer=10.32, longest=0.30)
    assert o.after_last_answer == pytest.approx(0.015)
    assert o.above_slowest == pytest.approx(0.035)


def test_slowest_answers_takes_the_latest_answer_over_partners_and_a_retry() -> None:
    de = [
        Answered(("r1", "r2"), received=1.0, delay=0.2, answered=1.21, status=200),
        Answered(("r1",), received=2.0, delay=0.1, answered=2.11, status=200),  # a retry
    ]
    fr = [Answered(("r1",), received=1.0, delay=0.5, answered=1.5, status=200)]
    seen = slowest_answers([de, fr])
    assert seen["r1"] == (2, pytest.approx(2.11), pytest.approx(0.5))
    assert seen["r2"] == (1, pytest.approx(1.21), pytest.approx(0.21))
    assert "r3" not in seen


def _dna_search(subject: int, message_id: str) -> tuple[bytes, str]:
    record = population.person(SEED, subject, "GB", capture=1).record
    out = Outbound(message_id, f"c-{message_id}", NOW, "GB", "DE", message="dna-search")
    env = record_to_envelope(record, out)
    reference = env.body.probes[0].reference  # type: ignore[union-attr]
    return prum_xml.encode(env), reference


def test_a_partner_with_latency_holds_each_answer_by_its_draws_and_logs_them() -> None:
    partner = seeded("DE", SEED, range(6), with_fingerprints=False)
    model = LatencyModel(0.005, 0.5, SEED, 2)
    expected = LatencyModel(0.005, 0.5, SEED, 2)

    async def main() -> list[tuple[int, str]]:
        runner = web.AppRunner(partner.app(model))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        out = []
        try:
            async with aiohttp.ClientSession() as s:
                for i in range(3):  # one at a time: the draws go in arrival order
                    data, ref = _dna_search(i, f"m-{i}")
                    headers = {"Content-Type": "application/xml"}
                    async with s.post(f"{base}/prum/v1/messages", data=data, headers=headers) as r:
                        reply = prum_xml.decode(await r.read())
                        assert isinstance(reply.body, SearchReply)
                        out.append((r.status, ref))
                async with s.get(f"{base}/wan/answers") as r:
                    doc = await r.json()
                assert doc["partner"] == "DE"
                assert [a["references"] for a in doc["answers"]] == [[ref] for _, ref in out]
                async with s.get(f"{base}/wan/answers?scale=0") as r:
                    assert r.status == 200
                async with s.get(f"{base}/wan/answers?scale=x") as r:
                    assert r.status == 400
        finally:
            await runner.cleanup()
        return out

    sent = asyncio.run(main())
    assert [status for status, _ in sent] == [200, 200, 200]
    log = partner.log.entries
    assert [e.references[0] for e in log] == [ref for _, ref in sent]
    assert [e.delay for e in log] == [expected.draw() for _ in range(3)]
    for e in log:
        assert e.answered >= e.received
        assert e.status == 200
    assert model.scale == 0.0  # the ?scale=0 switch took; the bad one changed nothing
