"""The mock Interpol node on loopback: follow-ups (step 2) in the Interpol dialect.

A real node (`running_interpol_node`) on 127.0.0.1 with an ephemeral port, asked over HTTP
as the UK gateway asks it: a DNA search in Interpol XML or a fingerprint search in
ANSI/NIST-ITL, then a follow-up request in Interpol XML for the hit reference it returned.
The follow-up rule (DESIGN.md §1) is the shared responder's: core data only for a reference
this node returned as a hit to the same sender within 48 h, `unknown_reference` otherwise.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import aiohttp

from exchange.codecs import ansi_nist, interpol
from exchange.codecs.interpol import InterpolMessage
from exchange.gateway.config import PartnerConfig
from exchange.model import (
    CoreData,
    DactySearchRequest,
    DnaProbe,
    DnaSearchRequest,
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
from exchange.records import core_data_of
from mock_partners import population
from mock_partners.cluster import ALL_MODALITIES, partner_node_config
from mock_partners.interpol_node import NODE_ID, InterpolNode, running_interpol_node

SEED = 11
SUBJECTS = list(range(500, 508))
DNA_SUBJECT, PRINTS_SUBJECT, OTHER_SUBJECT = SUBJECTS[0], SUBJECTS[3], SUBJECTS[5]
XML = {"Content-Type": "application/xml"}

Post = Callable[[bytes, dict[str, str]], Awaitable[tuple[int, bytes]]]


def _served(tmp_path: Path, scenario: Callable[[InterpolNode, Post], Awaitable[None]]) -> None:
    """Start the node (GB and FR configured as partners) and run `scenario` against it."""
    config = partner_node_config(NODE_ID, tmp_path / NODE_ID)
    fr = PartnerConfig(id="FR", url="http://127.0.0.1:9/unused", modalities=ALL_MODALITIES)
    config = replace(config, partners=(*config.partners, fr))

    async def main() -> None:
        async with (
            running_interpol_node(config, SEED, SUBJECTS, port=0) as node,
            aiohttp.ClientSession() as s,
        ):

            async def post(data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
                async with s.post(node.url, data=data, headers=headers) as r:
                    return r.status, await r.read()

            await scenario(node, post)

    asyncio.run(main())


def _message(
    node: InterpolNode, message_id: str, body: interpol.InterpolBody, sender: str = "GB"
) -> bytes:
    msg = InterpolMessage(
        message_id,
        f"corr-{message_id}",
        node.node.clock(),
        sender,
        NODE_ID,
        Purpose.DETECTION,
        body,
    )
    return interpol.encode_xml(msg)


async def _ask(post: Post, data: bytes) -> InterpolMessage:
    """Post Interpol XML; the answer must be Interpol XML with status 200."""
    status, reply = await post(data, XML)
    assert status == 200, reply
    assert reply.startswith(b"<?xml") and b"urn:prum-exchange:interpol:1.0" in reply
    return interpol.decode_xml(reply)


async def _dna_hit(node: InterpolNode, post: Post, message_id: str) -> str:
    """A DNA search from GB for a stain of DNA_SUBJECT; returns the hit reference."""
    stain = population.person(SEED, DNA_SUBJECT, "GB", capture=1).record.dna
    assert stain is not None
    search = DnaSearchRequest((DnaProbe("GB-PROBE-1", stain),), max_candidates=5)
    reply = await _ask(post, _message(node, message_id, search))
    assert isinstance(reply.body, SearchReply), reply.body
    assert reply.body.request_message_id == message_id
    refs = [c.reference for r in reply.body.results for c in r.candidates]
    expected = population.reference_of(SEED, DNA_SUBJECT, NODE_ID)
    assert expected in refs
    return expected


def _core_of(subject: int) -> CoreData:
    """What the node holds about `subject`, as a follow-up may release it."""
    core = core_data_of(population.person(SEED, subject, NODE_ID).record)
    assert core is not None
    return core


def test_dna_hit_followed_up_in_the_dialect_gets_core_data(tmp_path: Path) -> None:
    async def scenario(node: InterpolNode, post: Post) -> None:
        reference = await _dna_hit(node, post, "GB-DNA-1")
        follow_up = _message(node, "GB-FU-1", FollowUpRequest("GB-DNA-1", reference))
        reply = await _ask(post, follow_up)
        assert (reply.sender, reply.receiver) == (NODE_ID, "GB")
        assert reply.correlation_id == "corr-GB-FU-1"
        assert reply.purpose is Purpose.DETECTION
        assert reply.body == FollowUpReply("GB-DNA-1", reference, _core_of(DNA_SUBJECT))
        # A retry of the same message gets the same reply, not a second supply.
        assert await post(follow_up, XML) == (200, interpol.encode_xml(reply))

    _served(tmp_path, scenario)


def test_reference_never_returned_gets_unknown_reference_in_the_dialect(tmp_path: Path) -> None:
    """Held by the node but never returned as a hit, or not held at all: the same refusal."""

    async def scenario(node: InterpolNode, post: Post) -> None:
        await _dna_hit(node, post, "GB-DNA-2")
        held = population.reference_of(SEED, OTHER_SUBJECT, NODE_ID)
        for i, reference in enumerate([held, "INTERPOL-no-such-reference"]):
            reply = await _ask(
                post, _message(node, f"GB-FU-{i}", FollowUpRequest("GB-DNA-2", reference))
            )
            assert isinstance(reply.body, ErrorBody), reply.body
            assert reply.body.code is ErrorCode.UNKNOWN_REFERENCE
            assert reply.body.field == "/Message/Body/FollowUpRequest/@hitReference"
            assert reply.body.request_message_id == f"GB-FU-{i}"
            assert reply.receiver == "GB"

    _served(tmp_path, scenario)


def test_hit_released_to_gb_is_not_released_to_fr_nor_after_48_hours(tmp_path: Path) -> None:
    async def scenario(node: InterpolNode, post: Post) -> None:
        reference = await _dna_hit(node, post, "GB-DNA-3")
        body = FollowUpRequest("GB-DNA-3", reference)
        reply = await _ask(post, _message(node, "FR-FU-1", body, sender="FR"))
        assert isinstance(reply.body, ErrorBody)
        assert reply.body.code is ErrorCode.UNKNOWN_REFERENCE
        started = node.node.clock()
        node.node.clock = lambda: started + dt.timedelta(hours=48, minutes=1)
        reply = await _ask(post, _message(node, "GB-FU-late", body))
        assert isinstance(reply.body, ErrorBody)
        assert reply.body.code is ErrorCode.UNKNOWN_REFERENCE
        reply = await _ask(post, _message(node, "XX-FU-1", body, sender="XX"))
        assert isinstance(reply.body, ErrorBody)
        assert reply.body.code is ErrorCode.UNAUTHORISED_SENDER

    _served(tmp_path, scenario)


def test_fingerprint_hit_in_ansi_nist_followed_up_in_interpol_xml(tmp_path: Path) -> None:
    async def scenario(node: InterpolNode, post: Post) -> None:
        prints = population.fingerprints(SEED, PRINTS_SUBJECT, capture=1)
        header = Header(
            "GB-FP-1",
            "corr-GB-FP-1",
            node.node.clock(),
            "GB",
            NODE_ID,
            MessageType.DACTY_SEARCH_REQUEST,
            Purpose.DETECTION,
        )
        search = Envelope(header, DactySearchRequest("GB-PROBE-2", "TP/TP", prints))
        status, data = await post(
            ansi_nist.encode(search), {"Content-Type": "application/octet-stream"}
        )
        assert status == 200
        assert data.startswith(b"1.001:")
        answer = ansi_nist.decode(data)
        assert isinstance(answer.body, SearchReply), answer.body
        reference = answer.body.results[0].candidates[0].reference
        assert reference == population.reference_of(SEED, PRINTS_SUBJECT, NODE_ID)
        reply = await _ask(post, _message(node, "GB-FU-FP", FollowUpRequest("GB-FP-1", reference)))
        assert reply.body == FollowUpReply("GB-FP-1", reference, _core_of(PRINTS_SUBJECT))

    _served(tmp_path, scenario)


def test_unreadable_follow_up_gets_a_schema_error_with_400(tmp_path: Path) -> None:
    async def scenario(node: InterpolNode, post: Post) -> None:
        good = _message(node, "GB-FU-bad", FollowUpRequest("GB-DNA-9", "INTERPOL-x"))
        status, data = await post(good.replace(b' hitReference="INTERPOL-x"', b""), XML)
        assert status == 400
        reply = interpol.decode_xml(data)
        assert isinstance(reply.body, ErrorBody)
        assert reply.body.code is ErrorCode.SCHEMA_INVALID
        assert reply.body.field == "/Message/Body/FollowUpRequest"

    _served(tmp_path, scenario)
