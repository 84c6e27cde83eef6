"""The simple partner node: the same Prüm rules as the full node, state in memory, on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from exchange.codecs import prum_xml
from exchange.model import (
    Envelope,
    ErrorBody,
    ErrorCode,
    FollowUpReply,
    FollowUpRequest,
    Header,
    MessageType,
    Purpose,
    SearchReply,
)
from exchange.records import step1_reference
from exchange.translate import Outbound, record_to_envelope
from mock_partners import population
from mock_partners.simple_node import SimplePartner, seeded

SEED = 3
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
Post = Callable[[bytes], Awaitable[tuple[int, bytes]]]


def _served(partner: SimplePartner, scenario: Callable[[Post], Awaitable[None]]) -> None:
    async def main() -> None:
        runner = web.AppRunner(partner.app())
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/prum/v1/messages"
        try:
            async with aiohttp.ClientSession() as s:

                async def post(data: bytes) -> tuple[int, bytes]:
                    headers = {"Content-Type": "application/xml"}
                    async with s.post(url, data=data, headers=headers) as r:
                        return r.status, await r.read()

                await scenario(post)
        finally:
            await runner.cleanup()

    asyncio.run(main())


def _dna_search(
    subject: int, message_id: str, *, sender: str = "GB", receiver: str = "DE"
) -> bytes:
    record = population.person(SEED, subject, "GB", capture=1).record
    out = Outbound(message_id, f"c-{message_id}", NOW, sender, receiver, message="dna-search")
    return prum_xml.encode(record_to_envelope(record, out))


def _reference(subject: int) -> str:
    """The reference DE's gallery holds subject `subject` under (as it would return it)."""
    return step1_reference(population.person(SEED, subject, "DE").record)


def test_dna_hits_no_hits_and_duplicates_as_the_full_node_answers() -> None:
    partner = seeded("DE", SEED, range(10), with_fingerprints=False)

    async def scenario(post: Post) -> None:
        status, first = await post(_dna_search(4, "m-1"))
        reply = prum_xml.decode(first)
        assert status == 200 and isinstance(reply.body, SearchReply)
        assert reply.body.hit and reply.header.sender == "DE" and reply.header.receiver == "GB"
        assert reply.header.correlation_id == "c-m-1"
        assert reply.body.results[0].candidates[0].reference == _reference(4)

        status, data = await post(_dna_search(500, "m-2"))  # nobody DE holds
        no_hit = prum_xml.decode(data).body
        assert status == 200 and isinstance(no_hit, SearchReply) and not no_hit.hit

        assert await post(_dna_search(4, "m-1")) == (200, first)  # the same bytes again
        assert partner.answered == 2  # the repeat came from the reply cache, not a search

    _served(partner, scenario)


def test_capacity_receiver_sender_and_schema_refusals_are_typed_xml_errors() -> None:
    partner = seeded("DE", SEED, range(5), with_fingerprints=False, daily_capacity=1)

    async def scenario(post: Post) -> None:
        assert (await post(_dna_search(1, "a")))[0] == 200
        status, data = await post(_dna_search(1, "b"))  # capacity of 1 a day used up
        body = prum_xml.decode(data).body
        assert status == 429 and isinstance(body, ErrorBody)
        assert body.code is ErrorCode.QUOTA_EXCEEDED
        status, data = await post(_dna_search(1, "c", receiver="FR"))
        body = prum_xml.decode(data).body
        assert status == 403 and isinstance(body, ErrorBody)
        assert body.code is ErrorCode.UNAUTHORISED_SENDER
        status, data = await post(_dna_search(1, "d", sender="NL"))  # not a partner of DE
        assert status == 403
        status, data = await post(b"<Message>not ours</Message>")
        body = prum_xml.decode(data).body
        assert status == 400 and isinstance(body, ErrorBody)
        assert body.code is ErrorCode.SCHEMA_INVALID

    _served(partner, scenario)


def test_follow_ups_only_for_references_released_to_that_sender() -> None:
    partner = seeded("DE", SEED, range(6), with_fingerprints=False)

    def follow_up(reference: str, message_id: str, sender: str = "GB") -> bytes:
        header = Header(
            message_id,
            "c-f",
            NOW,
            sender,
            "DE",
            MessageType.FOLLOW_UP_REQUEST,
            Purpose.INVESTIGATION,
        )
        return prum_xml.encode(Envelope(header, FollowUpRequest("m-1", reference)))

    async def scenario(post: Post) -> None:
        unreleased = _reference(2)
        status, data = await post(follow_up(unreleased, "f-0"))
        body = prum_xml.decode(data).body
        assert status == 404 and isinstance(body, ErrorBody)
        assert body.code is ErrorCode.UNKNOWN_REFERENCE
        _, data = await post(_dna_search(2, "m-1"))
        reply = prum_xml.decode(data).body
        assert isinstance(reply, SearchReply) and reply.hit
        status, data = await post(follow_up(unreleased, "f-1"))
        body = prum_xml.decode(data).body
        assert status == 200 and isinstance(body, FollowUpReply)
        assert body.core_data.name is not None  # identity data, and only that type carries it

    _served(partner, scenario)
