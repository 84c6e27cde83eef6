"""DNA searches batched per partner (`gateway.outbound.dna_batch`), end to end and in parts.

A partner made slow by a middleware holds the one lane the gateway may use: the first
search goes alone, the searches behind it wait and go together. Everything else about a
search must be as if it had gone alone: its own answer, its audit trail, the partner's
capacity counted per search.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from exchange import event_loop
from exchange.codecs import prum_xml
from exchange.gateway.config import ConfigError, from_mapping
from exchange.gateway.node import Node
from exchange.gateway.outbound import fanout
from exchange.gateway.outbound.dialects.prum import batch_request, read_batch_reply
from exchange.gateway.outbound.messages import Answer
from exchange.gateway.state.audit_verify import verify
from exchange.gateway.state.store import PartnerStatus, QuotaDirection
from exchange.model import (
    DnaProbe,
    DnaSearchRequest,
    Envelope,
    ErrorBody,
    ErrorCode,
    Header,
    MessageType,
    Modality,
    ProbeResult,
    Purpose,
    SearchReply,
)
from mock_partners import population
from mock_partners.cluster import PARTNER_SUBJECTS, Cluster, running_cluster
from mock_partners.simple_node import seeded
from tests.gateway.test_gateway_e2e import SEED, _call, _probe, _search_body

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DE_HELD = [PARTNER_SUBJECTS + i for i in (1, 2, 3)]
FR_HELD = 2 * PARTNER_SUBJECTS + 4
NOBODY = 9 * PARTNER_SUBJECTS
HOLD_S = 0.3  # how long the slow partner holds each message, once released


class _Slow:
    """A middleware (`middleware`) for the slow partner. The first message is held until
    `release` is set, so that the test, not the machine's speed, decides which searches
    queue behind it; every message then waits `seconds`. With `after_first`, messages after
    the first get that HTTP status instead of the node's answer."""

    def __init__(self, seconds: float, after_first: int | None = None) -> None:
        self.seconds = seconds
        self.after_first = after_first
        self.seen = 0
        self.release = asyncio.Event()

        @web.middleware
        async def slow(request: web.Request, handler: Handler) -> web.StreamResponse:
            self.seen += 1
            if self.seen == 1:
                await asyncio.wait_for(self.release.wait(), 20)
            await asyncio.sleep(self.seconds)
            if self.after_first is not None and self.seen > 1:
                return web.Response(status=self.after_first)
            return await handler(request)

        self.middleware = slow


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Wait (polling, bounded) until `condition()` holds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


async def _burst(
    c: Cluster, s: aiohttp.ClientSession, subjects: list[int], slow: _Slow
) -> list[Any]:
    """One search alone, then the others while the first is still at the partner: they
    are all queued for DE's next batch before DE answers the first."""

    records = {x: _probe(x) for x in subjects}  # made first: making one takes a while
    uk = c.gateway.node
    assert uk is not None
    batcher = uk.links["DE"].batcher
    assert batcher is not None

    async def one(subject: int) -> Any:
        status, body = await _call(
            s,
            "POST",
            f"{c.client_url}/v1/searches?wait=15",
            "/v1/searches",
            json=_search_body(records[subject], ["dna"], ["DE", "FR"]),
        )
        assert status == 200, body
        return body

    first = asyncio.create_task(one(subjects[0]))
    await _until(lambda: slow.seen == 1, "DE holds the first search's message")
    rest = [asyncio.create_task(one(x)) for x in subjects[1:]]
    await _until(lambda: batcher.waiting() == len(rest), "the others wait for a batch")
    slow.release.set()
    return [await first, *[await r for r in rest]]


def _run(
    tmp_path: Path, scenario: Callable[[Cluster, aiohttp.ClientSession], Any], **kw: Any
) -> Any:
    async def main() -> Any:
        lanes = {"dna_batch_lanes": 1}
        async with (
            running_cluster(
                tmp_path,
                seed=SEED,
                gallery_size=8,
                partner_overrides={"DE": lanes, "FR": lanes},
                **kw,
            ) as c,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s,
        ):
            return await scenario(c, s)

    return event_loop.run(main())


def test_searches_waiting_for_a_busy_partner_go_in_one_message_and_each_gets_its_answer(
    tmp_path: Path,
) -> None:
    # Five searches behind the first; two are of the same record, so the same probe
    # reference, which one message cannot carry twice: one of them waits for the next batch.
    subjects = [DE_HELD[0], DE_HELD[1], DE_HELD[2], FR_HELD, NOBODY, DE_HELD[1]]
    merge = structlog.contextvars.merge_contextvars

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        with structlog.testing.capture_logs(processors=[merge]) as logs:
            bodies = await _burst(c, s, subjects, slow)
        for subject, body in zip(subjects, bodies, strict=True):
            assert body["status"] == "complete"
            by_partner = {p["partner"]: p for p in body["partners"]}
            for partner in ("DE", "FR"):
                holds = partner in c.holder_of(subject)
                assert by_partner[partner]["status"] == ("hit" if holds else "no_hit"), body
                refs = {h["reference"] for h in by_partner[partner]["hits"]}
                if holds:  # the mate, and only hits of this search's own probe
                    assert population.reference_of(SEED, subject, partner) in refs
        uk = c.gateway.node
        assert uk is not None
        batches = uk.metrics.counter_value("prum_dna_batches_total", partner="DE")
        probes = uk.metrics.counter_value("prum_dna_batched_probes_total", partner="DE")
        assert (batches, probes) == (2, 5)  # 4 distinct references, then the repeated one

        # The partner searched each probe once and counted each against its capacity.
        de = c.partners["DE"]
        assert de.store.quota_used(QuotaDirection.INBOUND, "GB", "DNA", de.clock().date()) == 6
        received = de.store.connection.execute(
            "SELECT message_id FROM audit WHERE direction = 'received'"
            " AND message_type = 'dna_search_request'"
        ).fetchall()
        assert len(received) == 3  # the first alone, a batch of 4, a batch of 1

        # UK audit: every search's probe sent and answered under the message that carried it.
        rows = uk.store.connection.execute(
            "SELECT direction, message_id, refs FROM audit WHERE partner = 'DE'"
        ).fetchall()
        sent = [r[1] for r in rows if r[0] == "sent"]
        got = [r[1] for r in rows if r[0] == "received"]
        assert len(sent) == len(got) == 6
        assert sorted(sent) == sorted(got)
        assert sorted(sent) == sorted(m for (m,) in received for _ in range(sent.count(m)))
        assert sorted(sent.count(m) for m in set(sent)) == [1, 1, 4]

        # Each probe carried its own search's correlation id.
        batch_logs = [e for e in logs if e["event"] == "partner_batch_sent"]
        carried = [cid for e in batch_logs if e["partner"] == "DE" for cid in e["correlation_ids"]]
        expected = [uk.store.get_search(b["search_id"]) for b in bodies[1:]]
        assert sorted(carried) == sorted(r.correlation_id for r in expected if r is not None)
        assert all("search_id" not in e for e in batch_logs)  # no one search's context

    slow = _Slow(HOLD_S)
    _run(tmp_path, scenario, partner_middlewares={"DE": [slow.middleware]})
    assert verify(str(tmp_path / "GB" / "gateway.sqlite3")).ok


@pytest.mark.parametrize("linger", [0.0, 1.0])
def test_searches_soon_after_a_message_linger_and_go_in_one(tmp_path: Path, linger: float) -> None:
    """A quick partner: the first search goes alone; two more, sent once it has answered but
    within the linger since its message, wait for the linger and go as one message. With no
    linger they go at once, each in a message of its own, as with Nagle's rule alone."""
    first, second, third = DE_HELD

    async def search(c: Cluster, s: aiohttp.ClientSession, subject: int) -> Any:
        status, body = await _call(
            s,
            "POST",
            f"{c.client_url}/v1/searches?wait=15",
            "/v1/searches",
            json=_search_body(records[subject], ["dna"], ["DE"]),
        )
        assert status == 200 and body["status"] == "complete", body
        (de,) = body["partners"]
        assert de["status"] == "hit"
        assert population.reference_of(SEED, subject, "DE") in {h["reference"] for h in de["hits"]}
        return body

    async def main() -> tuple[float, float, list[int]]:
        override = {"DE": {"dna_batch_linger_s": linger}}
        async with (
            running_cluster(tmp_path, seed=SEED, gallery_size=8, partner_overrides=override) as c,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s,
        ):
            await search(c, s, first)  # answered well within the linger (the partner is quick)
            await asyncio.gather(search(c, s, second), search(c, s, third))
            uk = c.gateway.node
            assert uk is not None
            # the UK audits each probe `sent` under the message that carried it
            sent = uk.store.connection.execute(
                "SELECT message_id FROM audit WHERE direction = 'sent' AND partner = 'DE'"
            ).fetchall()
            messages = (
                c.partners["DE"]
                .store.connection.execute(
                    "SELECT count(*) FROM audit WHERE direction = 'received'"
                    " AND message_type = 'dna_search_request'"
                )
                .fetchone()[0]
            )
            carried = sorted(collections.Counter(m for (m,) in sent).values())
            assert messages == len(carried)
            return (
                uk.metrics.counter_value("prum_dna_batches_total", partner="DE"),
                uk.metrics.counter_value("prum_dna_batched_probes_total", partner="DE"),
                carried,
            )

    records = {x: _probe(x) for x in DE_HELD}
    batches, probes, carried = event_loop.run(main())
    if linger:
        assert (batches, probes) == (1, 2)
        assert carried == [1, 2]  # the first alone, then one message for both
    else:
        assert probes == batches  # no message carried two
        assert carried == [1, 1, 1]
    assert verify(str(tmp_path / "GB" / "gateway.sqlite3")).ok


def test_a_failed_batch_fails_each_of_its_searches_for_that_partner_only(tmp_path: Path) -> None:
    subjects = [DE_HELD[0], DE_HELD[1], FR_HELD]

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        bodies = await _burst(c, s, subjects, slow)
        first = {p["partner"]: p["status"] for p in bodies[0]["partners"]}
        assert first == {"DE": "hit", "FR": "no_hit"}
        for subject, body in zip(subjects[1:], bodies[1:], strict=True):
            by_partner = {p["partner"]: p for p in body["partners"]}
            assert by_partner["DE"]["status"] == "error"
            assert "HTTP 500" in by_partner["DE"]["error"]
            fr = "hit" if subject == FR_HELD else "no_hit"
            assert by_partner["FR"]["status"] == fr
            assert body["status"] == "partial"

    slow = _Slow(HOLD_S, 500)
    _run(tmp_path, scenario, partner_middlewares={"DE": [slow.middleware]})


def test_a_partner_counts_a_batch_against_its_capacity_as_that_many_searches() -> None:
    partner = seeded("DE", SEED, range(4), with_fingerprints=False, daily_capacity=5)
    people = population.people(SEED, [0, 1, 2], capture=1, with_fingerprints=False)
    profiles = [p.record.dna for p in people if p.record.dna is not None]
    now = dt.datetime.now(dt.UTC)

    def message(n: int, message_id: str) -> bytes:
        probes = [DnaProbe(f"GB-{i}", profiles[i], f"c-{i}") for i in range(n)]
        env = batch_request("GB", "DE", message_id, now, Purpose.INVESTIGATION, probes, 5)
        return prum_xml.encode(env)

    status, data = partner.answer(message(3, "b-1"), now)
    assert status == 200
    reply = prum_xml.decode(data).body
    assert isinstance(reply, SearchReply)
    assert [r.probe_reference for r in reply.results] == ["GB-0", "GB-1", "GB-2"]
    status, data = partner.answer(message(3, "b-2"), now)  # 3 more of the 2 left: none
    assert status == 429
    body = prum_xml.decode(data).body
    assert isinstance(body, ErrorBody) and body.code is ErrorCode.QUOTA_EXCEEDED
    status, _ = partner.answer(message(2, "b-3"), now)  # the 2 left fit
    assert status == 200


def _left_pending(uk: Node, subject: int, batch_id: str) -> str:
    """A DNA search to DE as a crash leaves it: fanned out, its probe gone in `batch_id`."""
    now = uk.clock()
    row = uk.store.create_search(
        client_id="test",
        purpose=Purpose.INVESTIGATION,
        case_reference="C-RESUME",
        modalities=[Modality.DNA],
        partners=["DE"],
        max_candidates=5,
        record_json=json.dumps(_probe(subject)),
        correlation_id=f"corr-{subject}",
        now=now,
        deadline_at=now + dt.timedelta(seconds=20),
    )
    uk.store.mark_fanned_out(row.search_id, now=now)
    uk.store.mark_batched("DE", batch_id, [row.search_id])
    return row.search_id


def test_resumed_searches_of_a_batch_the_partner_never_got_are_each_searched_once(
    tmp_path: Path,
) -> None:
    """After a restart, searches whose probes were marked as gone in a batch (audited, then
    the gateway died before a byte left) ask again under the batch's id. Resumed together,
    they share one message under that id; resumed one after the other, the second is refused
    under that id (409: it asks for another probe than the id's message) and goes alone
    under its own id.
    Either way the partner searches, and counts, each probe once; and the gateway, which
    counted each against the partner's capacity when it first fanned out, does not again."""

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        uk, de = c.gateway.node, c.partners["DE"]
        assert uk is not None

        def pending(subject: int, batch_id: str) -> str:
            return _left_pending(uk, subject, batch_id)

        together = [pending(DE_HELD[0], "lost-1"), pending(DE_HELD[1], "lost-1")]
        await asyncio.gather(*(fanout.run_search(uk, sid) for sid in together))
        one_by_one = [pending(DE_HELD[2], "lost-2"), pending(NOBODY, "lost-2")]
        for sid in one_by_one:
            await fanout.run_search(uk, sid)

        for sid, subject in zip([*together, *one_by_one], [*DE_HELD, NOBODY], strict=True):
            row = uk.store.get_search(sid)
            assert row is not None and row.status == "complete"
            assert row.results[0].status == ("hit" if subject in DE_HELD else "no_hit")
        received = de.store.connection.execute(
            "SELECT message_id, outcome FROM audit WHERE direction = 'received'"
            " AND message_type = 'dna_search_request' ORDER BY seq"
        ).fetchall()
        own = uk.store.get_search(one_by_one[1])
        assert own is not None
        assert received == [
            ("lost-1", "accepted"),  # both probes in one message
            ("lost-2", "accepted"),  # the first of the second pair
            ("lost-2", "refused"),  # the second asks under the id for another probe: 409
            (own.results[0].message_id_for(Modality.DNA), "accepted"),  # so it goes alone
        ]
        assert de.store.quota_used(QuotaDirection.INBOUND, "GB", "DNA", de.clock().date()) == 4
        day = uk.clock().date()
        assert uk.store.quota_used(QuotaDirection.OUTBOUND, "DE", "DNA", day) == 0
        audit = uk.store.connection.execute(
            "SELECT direction, message_id, refs FROM audit WHERE partner = 'DE' ORDER BY seq"
        ).fetchall()
        assert [(d, m) for d, m, _ in audit].count(("sent", "lost-1")) == 2
        assert [(d, m) for d, m, _ in audit].count(("received", "lost-1")) == 2

    _run(tmp_path, scenario)
    assert verify(str(tmp_path / "GB" / "gateway.sqlite3")).ok


def test_a_resumed_search_whose_batch_id_cannot_be_used_goes_alone_and_is_audited(
    tmp_path: Path,
) -> None:
    """Batching turned off across the restart (`dna_batch_max = 1`): a search whose probe
    went in a batch is resent alone under its own id, and that send is audited under it."""

    async def main() -> None:
        async with running_cluster(
            tmp_path, seed=SEED, gallery_size=8, partner_overrides={"DE": {"dna_batch_max": 1}}
        ) as c:
            uk, de = c.gateway.node, c.partners["DE"]
            assert uk is not None and uk.links["DE"].batcher is None
            search_id = _left_pending(uk, DE_HELD[0], "lost-3")
            await fanout.run_search(uk, search_id)
            row = uk.store.get_search(search_id)
            assert row is not None and row.status == "complete"
            assert row.results[0].status == "hit"
            own = row.results[0].message_id_for(Modality.DNA)
            received = de.store.connection.execute(
                "SELECT message_id, outcome FROM audit WHERE direction = 'received'"
                " AND message_type = 'dna_search_request'"
            ).fetchall()
            assert received == [(own, "accepted")]
            audit = uk.store.connection.execute(
                "SELECT direction, message_id FROM audit WHERE partner = 'DE' ORDER BY seq"
            ).fetchall()
            assert audit == [("sent", own), ("received", own)]

    event_loop.run(main())
    assert verify(str(tmp_path / "GB" / "gateway.sqlite3")).ok


def _reply_to(request: Envelope, results: list[ProbeResult], **header: Any) -> bytes:
    h = request.header
    fields = {
        "message_id": "r-1",
        "correlation_id": h.correlation_id,
        "timestamp": h.timestamp,
        "sender": h.receiver,
        "receiver": h.sender,
        "message_type": MessageType.SEARCH_REPLY,
        "purpose": h.purpose,
        **header,
    }
    body = SearchReply(h.message_id, Modality.DNA, tuple(results))
    return prum_xml.encode(Envelope(Header(**fields), body))


def test_a_batch_reply_is_split_by_probe_and_checked_like_any_reply() -> None:
    (person,) = population.people(SEED, [0], capture=1, with_fingerprints=False)
    profile = person.record.dna
    assert profile is not None
    probes = [DnaProbe(f"GB-{i}", profile, f"c-{i}") for i in range(3)]
    now = dt.datetime.now(dt.UTC)
    request = batch_request("GB", "DE", "b-1", now, Purpose.INVESTIGATION, probes, 5)
    decoded = prum_xml.decode(prum_xml.encode(request))
    assert isinstance(decoded.body, DnaSearchRequest)
    assert [p.correlation_id for p in decoded.body.probes] == ["c-0", "c-1", "c-2"]

    # GB-1 has no result in the reply: that probe alone is an error.
    results = [ProbeResult("GB-2", ()), ProbeResult("GB-0", ())]
    answers = read_batch_reply(_reply_to(request, results), request)
    assert [a.status for a in answers] == [
        PartnerStatus.NO_HIT,
        PartnerStatus.ERROR,
        PartnerStatus.NO_HIT,
    ]
    assert all(a.via == "b-1" for a in answers if a.status is PartnerStatus.NO_HIT)

    # A reply in another exchange answers none of them.
    wrong = _reply_to(request, results, correlation_id="someone-else")
    answers = read_batch_reply(wrong, request)
    assert {a.status for a in answers} == {PartnerStatus.ERROR}
    assert all(isinstance(a, Answer) and "correlation" in (a.error or "") for a in answers)


@pytest.mark.parametrize("value", [0, 101, "2"])
def test_batch_size_is_checked_when_the_config_is_read(value: object) -> None:
    partner = {"id": "DE", "url": "http://127.0.0.1:1/prum/v1/messages", "dna_batch_max": value}
    with pytest.raises(ConfigError, match="dna_batch_max"):
        from_mapping({"partners": [partner]})


@pytest.mark.parametrize("value", [-0.001, 1.5, "0.01", float("nan")])
def test_batch_linger_is_checked_when_the_config_is_read(value: object) -> None:
    partner = {"id": "DE", "url": "http://127.0.0.1:1/prum/v1/messages"}
    with pytest.raises(ConfigError, match="dna_batch_linger_s"):
        from_mapping({"partners": [{**partner, "dna_batch_linger_s": value}]})
    config = from_mapping({"open_client_api": True, "partners": [partner]})
    assert config.partners[0].dna_batch_linger_s == 0.01
