"""What goes out to a partner and what comes back, whatever the dialect.

An `Outgoing` is one message ready to send to one partner (its bytes, content type, and the
reader that turns the partner's reply into an `Answer`); the dialects build them
(`outbound.dialects`), the one way out sends them (`outbound.send`). An `Answer` is what one
message brought back: a status (hit, no hit, refusal, error, timeout), the hits of a search,
or the core data of a follow-up. `answer_of` and `check_parties` are the reading rules every
dialect shares: a reply must come from the partner asked, to us, in the same exchange, and
answer this request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from exchange.gateway.state.rows import HitRow, NewHit, PartnerStatus
from exchange.model import (
    CoreData,
    DnaProbe,
    Envelope,
    ErrorBody,
    ErrorCode,
    FollowUpReply,
    Header,
    MessageType,
    Modality,
    Purpose,
    SearchReply,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What came back for one message (one partner, one modality)."""

    modality: Modality
    status: PartnerStatus
    error: str | None = None
    hits: tuple[NewHit, ...] = ()
    via: str | None = None  # the message that carried it, when not the search's own (a batch)
    refusal: ErrorBody | None = None  # the partner's typed refusal, when it sent one
    core_data: CoreData | None = None  # what a follow-up brought back


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    """One message ready to send to one partner, and how to read its answer."""

    modality: Modality
    search_type: str  # the capacity it counts against (`exchange.capacities`)
    message_id: str
    message_type: MessageType
    purpose: Purpose
    data: bytes
    content_type: str
    read: Callable[[bytes], Answer]
    # A Prüm DNA search of one profile, which may travel in a batch with other searches'
    # (`dna_batch`): its probe, carrying the search's correlation id, and candidate limit.
    probe: DnaProbe | None = None
    max_candidates: int = 0
    batched: bool = False  # its probe waits for a batch; `data` is empty, never sent alone
    # The probe's `Profile` element's bytes, made once per search for all the batches
    # carrying it (`prum_dna_batch.encoded_profile`).
    profile_xml: bytes | None = None
    # A resumed search whose probe went in this DNA batch before the restart: it asks again
    # under the batch's id (`DnaBatcher.resend`); `data` is its own message, the fallback.
    resend_in: str | None = None


def refused(modality: Modality, body: ErrorBody) -> Answer:
    """A partner's typed refusal: capacity used up, or any other code."""
    if body.code is ErrorCode.QUOTA_EXCEEDED:
        return Answer(
            modality=modality, status=PartnerStatus.QUOTA_EXCEEDED, error=body.message, refusal=body
        )
    return Answer(
        modality=modality,
        status=PartnerStatus.REJECTED,
        error=f"{body.code.value}: {body.message}",
        refusal=body,
    )


def not_this_request(modality: Modality) -> Answer:
    return Answer(
        modality=modality, status=PartnerStatus.ERROR, error="reply does not answer this request"
    )


def answer_of(body: object, modality: Modality, request_message_id: str, replied_to: str) -> Answer:
    """A search reply body as an Answer: refusals by their code, hits by their candidates."""
    if isinstance(body, ErrorBody):
        return refused(modality, body)
    if not isinstance(body, SearchReply) or replied_to != request_message_id:
        return not_this_request(modality)
    hits = tuple(
        NewHit(modality, c.reference, c.score, c.match_type, c.wildcard)
        for r in body.results
        for c in r.candidates
    )
    status = PartnerStatus.HIT if hits else PartnerStatus.NO_HIT
    return Answer(modality=modality, status=status, hits=hits)


def follow_up_answer_of(body: object, modality: Modality, hit_reference: str) -> Answer:
    """A follow-up reply body as an Answer: the core data behind this hit, or the refusal."""
    if isinstance(body, ErrorBody):
        return refused(modality, body)
    if not isinstance(body, FollowUpReply) or body.hit_reference != hit_reference:
        return Answer(
            modality=modality,
            status=PartnerStatus.ERROR,
            error="the reply does not answer this follow-up",
        )
    return Answer(modality=modality, status=PartnerStatus.HIT, core_data=body.core_data)


@dataclass(frozen=True, slots=True)
class Parties:
    """Who a message was from and to, and the exchange it belongs to."""

    sender: str
    receiver: str
    correlation_id: str


def check_parties(reply: Parties, request: Parties, modality: Modality) -> Answer | None:
    """An error Answer if a reply is not from the asked partner, to us, in this exchange."""
    if reply.sender != request.receiver or reply.receiver != request.sender:
        return Answer(
            modality=modality,
            status=PartnerStatus.ERROR,
            error=f"reply from {reply.sender} to {reply.receiver}, expected {request.receiver}",
        )
    if reply.correlation_id != request.correlation_id:
        return Answer(
            modality=modality,
            status=PartnerStatus.ERROR,
            error="reply carries another correlation id",
        )
    return None


def follow_up_outgoing(
    hit: HitRow,
    purpose: Purpose,
    message_id: str,
    data: bytes,
    request: Parties,
    decode: Callable[[bytes], tuple[Parties, object]],
) -> Outgoing:
    """A follow-up request ready to send: its reader checks the parties of the reply, then
    takes the core data behind `hit` from it (`decode`: the dialect's bytes to parties and
    body)."""

    def read(reply: bytes) -> Answer:
        parties, body = decode(reply)
        wrong = check_parties(parties, request, hit.modality)
        if wrong is not None:
            return wrong
        return follow_up_answer_of(body, hit.modality, hit.reference)

    return Outgoing(
        modality=hit.modality,
        search_type="FOLLOW_UP",  # counts against no capacity
        message_id=message_id,
        message_type=MessageType.FOLLOW_UP_REQUEST,
        purpose=purpose,
        data=data,
        content_type="application/xml",
        read=read,
    )


def header_parties(header: Header) -> Parties:
    return Parties(header.sender, header.receiver, header.correlation_id)


def read_reply(env: Envelope, request: Envelope, modality: Modality) -> Answer:
    """Check a partner's reply envelope (Prüm XML, or ANSI/NIST) against the request and
    turn it into an Answer."""
    wrong = check_parties(header_parties(env.header), header_parties(request.header), modality)
    if wrong is not None:
        return wrong
    replied_to = env.body.request_message_id if isinstance(env.body, SearchReply) else ""
    return answer_of(env.body, modality, request.header.message_id, replied_to or "")
