"""The responder's rules, one by one, over a real gallery and both real ledgers.

`exchange.responder` answers partners' messages for the UK gateway (ledger in SQLite) and for
every mock partner (ledger in memory); each test runs against both, so the two sides of a drill
follow the same rules. The gallery holds synthetic people (`mock_partners.population`), and the
probes are later captures of them, as a partner would send.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping

import pytest

from exchange.capacities import MAX_CANDIDATES
from exchange.gallery import NodeGallery, Thresholds
from exchange.gateway.inbound.ledger import InboundLedger
from exchange.gateway.state.store import Store
from exchange.model import (
    CoreData,
    DactySearchRequest,
    DnaProbe,
    DnaSearchRequest,
    Envelope,
    ErrorBody,
    ErrorCode,
    FaceSearchRequest,
    FaceTemplate,
    FollowUpReply,
    FollowUpRequest,
    Header,
    Impression,
    MessageType,
    Modality,
    PersonRecord,
    Purpose,
    SearchReply,
)
from exchange.records import core_data_of
from exchange.responder import Ledger, NodeRules, Responder, Response
from mock_partners import population
from mock_partners.simple_node import MemoryLedger

SEED = 11
NODE = "DE"
NOW = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
CAPACITY = {"DNA": 3, "FACE": 2, "TP/TP": 2, "LT/TP": 2}
# The same person enrolled under this many references (duplicate enrolments happen): more
# genuine candidates than any search type may return, so the caps are what limits a reply.
DUPLICATES = 12


def _record(subject: int) -> PersonRecord:
    return population.person(SEED, subject, NODE).record


def _gallery() -> tuple[NodeGallery, dict[str, PersonRecord]]:
    gallery = NodeGallery(
        feature_model=population.FEATURE_MODEL,
        face_dim=population.FACE_DIM,
        thresholds=Thresholds(),
    )
    records: dict[str, PersonRecord] = {}
    for subject in range(6):
        record = _record(subject)
        records[f"DE-{subject}"] = record
    for copy in range(DUPLICATES):
        records[f"DE-0-dup-{copy}"] = _record(0)
    for reference, record in records.items():
        gallery.add(reference, record)
    return gallery, records


@pytest.fixture(params=["memory", "sqlite"])
def ledger(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ledger]:
    if request.param == "memory":
        yield MemoryLedger()
        return
    store = Store.open(tmp_path_factory.mktemp("ledger") / "gateway.sqlite")
    try:
        yield InboundLedger(store)
    finally:
        store.close()


@pytest.fixture(scope="module")
def gallery() -> tuple[NodeGallery, dict[str, PersonRecord]]:
    return _gallery()


def _responder(
    gallery: tuple[NodeGallery, dict[str, PersonRecord]],
    ledger: Ledger,
    *,
    modalities: frozenset[Modality] = frozenset(Modality),
    capacities: Mapping[str, int] = CAPACITY,
    window: dt.timedelta = dt.timedelta(hours=48),
    withheld: frozenset[str] = frozenset(),
) -> Responder:
    node_gallery, records = gallery

    def core_data(reference: str) -> CoreData | None:
        record = records.get(reference)
        return None if record is None or reference in withheld else core_data_of(record)

    rules = NodeRules(
        node_id=NODE,
        modalities=modalities,
        capacities=lambda sender: dict(capacities) if sender in ("GB", "FR") else None,
        core_data=core_data,
        follow_up_window=window,
    )
    return Responder(rules, node_gallery, ledger)


def _envelope(
    body: object,
    *,
    message_id: str = "m-1",
    sender: str = "GB",
    receiver: str = NODE,
    kind: MessageType = MessageType.DNA_SEARCH_REQUEST,
) -> Envelope:
    header = Header(
        message_id=message_id,
        correlation_id=f"c-{message_id}",
        timestamp=NOW,
        sender=sender,
        receiver=receiver,
        message_type=kind,
        purpose=Purpose.INVESTIGATION,
    )
    return Envelope(header, body)  # type: ignore[arg-type]


def _dna(*subjects: int, capture: int = 1, max_candidates: int = 10) -> DnaSearchRequest:
    profiles = population.dna_profiles(SEED, list(subjects), capture)
    probes = tuple(DnaProbe(f"p-{s}", p) for s, p in zip(subjects, profiles, strict=True))
    return DnaSearchRequest(probes, max_candidates)


def _face(subject: int, *, max_candidates: int = 10) -> FaceSearchRequest:
    (template,) = population.faces(SEED, [subject], capture=1)
    return FaceSearchRequest(f"p-{subject}", template, max_candidates)


def _dacty(
    subject: int, *, search_type: str = "TP/TP", max_candidates: int = 1
) -> DactySearchRequest:
    if search_type != "LT/TP":
        prints = population.fingerprints(SEED, subject, capture=1)
    else:
        # One finger of the enrolment capture as the mark: a single re-rolled finger scores
        # under the gallery's threshold, and what is tested here is the cap, not the matcher.
        enrolled = population.fingerprints(SEED, subject, capture=0)
        prints = dataclasses.replace(
            enrolled, fingers=enrolled.fingers[:1], impression=Impression.LATENT
        )
    return DactySearchRequest(f"p-{subject}", search_type, prints, max_candidates)


def _ask(responder: Responder, envelope: Envelope, at: dt.datetime = NOW) -> Response:
    return responder.respond(envelope, f"r-{envelope.header.message_id}", at)


def _error(response: Response) -> ErrorBody:
    body = response.reply.body
    assert isinstance(body, ErrorBody), body
    assert response.reply.header.message_type is MessageType.ERROR
    assert response.outcome == body.code.value
    return body


def _hit_reply(response: Response) -> SearchReply:
    body = response.reply.body
    assert isinstance(body, SearchReply), body
    return body


# --- who may ask -------------------------------------------------------------------------


def test_a_message_for_another_node_is_refused_naming_the_receiver(gallery, ledger) -> None:
    responder = _responder(gallery, ledger, capacities={"DNA": 1})
    error = _error(_ask(responder, _envelope(_dna(1), receiver="FR")))
    assert error.code is ErrorCode.UNAUTHORISED_SENDER
    assert error.field == "/Message/Header/Receiver" and error.request_message_id == "m-1"
    # Refused before counting: the one search of the day is still there.
    assert _hit_reply(_ask(responder, _envelope(_dna(1), message_id="m-2"))).hit


def test_a_sender_that_is_not_a_partner_is_refused_naming_the_sender(gallery, ledger) -> None:
    error = _error(_ask(_responder(gallery, ledger), _envelope(_dna(1), sender="XX")))
    assert error.code is ErrorCode.UNAUTHORISED_SENDER and error.field == "/Message/Header/Sender"
    assert "XX" in error.message


def test_a_reply_sent_as_a_request_is_refused_as_invalid(gallery, ledger) -> None:
    reply = SearchReply("m-0", Modality.DNA, ())
    error = _error(
        _ask(_responder(gallery, ledger), _envelope(reply, kind=MessageType.SEARCH_REPLY))
    )
    assert error.code is ErrorCode.SCHEMA_INVALID and error.field == "/Message/Header/MessageType"


def test_a_modality_the_node_does_not_search_is_refused_and_not_counted(gallery, ledger) -> None:
    responder = _responder(
        gallery, ledger, modalities=frozenset({Modality.DNA}), capacities={"DNA": 1, "FACE": 1}
    )
    error = _error(_ask(responder, _envelope(_face(1), kind=MessageType.FACE_SEARCH_REQUEST)))
    assert error.code is ErrorCode.UNSUPPORTED_MODALITY and "face" in error.message
    assert _hit_reply(_ask(responder, _envelope(_dna(1), message_id="m-2"))).hit


# --- daily capacity ----------------------------------------------------------------------


def test_capacity_counts_each_probe_of_a_dna_message_all_or_none(gallery, ledger) -> None:
    responder = _responder(gallery, ledger)  # DNA: 3 a day
    error = _error(_ask(responder, _envelope(_dna(1, 2, 3, 4))))
    assert error.code is ErrorCode.QUOTA_EXCEEDED and "for 4 more" in error.message
    # Nothing was counted by the refused message: three single searches still fit, not four.
    for n in range(3):
        assert _hit_reply(_ask(responder, _envelope(_dna(n + 1), message_id=f"m-{n}"))).hit
    refused = _error(_ask(responder, _envelope(_dna(4), message_id="m-3")))
    assert refused.code is ErrorCode.QUOTA_EXCEEDED and "(3)" in refused.message


def test_capacity_is_per_sender_per_search_type_per_day(gallery, ledger) -> None:
    responder = _responder(gallery, ledger, capacities={"DNA": 1, "FACE": 1})
    assert _hit_reply(_ask(responder, _envelope(_dna(1))))
    assert _error(_ask(responder, _envelope(_dna(1), message_id="m-2"))).code is (
        ErrorCode.QUOTA_EXCEEDED
    )
    face = _envelope(_face(1), message_id="m-3", kind=MessageType.FACE_SEARCH_REQUEST)
    assert _hit_reply(_ask(responder, face)).hit  # another search type's capacity
    assert _hit_reply(_ask(responder, _envelope(_dna(1), message_id="m-4", sender="FR"))).hit
    tomorrow = NOW + dt.timedelta(days=1)
    assert _hit_reply(_ask(responder, _envelope(_dna(1), message_id="m-5"), tomorrow)).hit


def test_a_search_type_without_declared_capacity_is_refused(gallery, ledger) -> None:
    responder = _responder(gallery, ledger, capacities={"DNA": 5})
    error = _error(_ask(responder, _envelope(_dacty(1), kind=MessageType.DACTY_SEARCH_REQUEST)))
    assert error.code is ErrorCode.QUOTA_EXCEEDED and "TP/TP (0)" in error.message


def test_follow_ups_do_not_count_against_search_capacity(gallery, ledger) -> None:
    responder = _responder(gallery, ledger, capacities={"DNA": 1})
    reply = _hit_reply(_ask(responder, _envelope(_dna(2))))
    reference = reply.results[0].candidates[0].reference
    for n in range(3):
        follow_up = _envelope(
            FollowUpRequest("m-1", reference),
            message_id=f"f-{n}",
            kind=MessageType.FOLLOW_UP_REQUEST,
        )
        assert isinstance(_ask(responder, follow_up).reply.body, FollowUpReply)


# --- step 1 replies ----------------------------------------------------------------------


def test_a_step_one_reply_carries_references_and_scores_only(gallery, ledger) -> None:
    response = _ask(_responder(gallery, ledger), _envelope(_dna(3, 900)))
    reply = _hit_reply(response)
    h = response.reply.header
    assert (h.sender, h.receiver, h.correlation_id) == (NODE, "GB", "c-m-1")
    assert h.message_type is MessageType.SEARCH_REPLY and h.message_id == "r-m-1"
    assert h.purpose is Purpose.INVESTIGATION
    assert reply.request_message_id == "m-1" and reply.modality is Modality.DNA
    (found, missing) = reply.results
    assert found.probe_reference == "p-3" and missing.probe_reference == "p-900"
    assert [c.reference for c in found.candidates] == ["DE-3"] and missing.candidates == ()
    assert response.outcome == "hit" and response.references == ("DE-3",)
    # Only what step 1 may carry: no name, date of birth or identifier anywhere in the reply.
    record = _record(3)
    assert record.name is not None and record.identifiers.pnc_id is not None
    text = repr(response.reply)
    assert record.name.family not in text and record.identifiers.pnc_id not in text


def test_no_hit_is_a_reply_not_an_error(gallery, ledger) -> None:
    response = _ask(_responder(gallery, ledger), _envelope(_dna(901)))
    assert not _hit_reply(response).hit
    assert response.outcome == "no_hit" and response.references == ()


@pytest.mark.parametrize("asked", [1, 4, 10, 50])
def test_dna_and_face_candidates_are_cut_to_the_cap_or_what_was_asked(
    gallery, ledger, asked: int
) -> None:
    responder = _responder(gallery, ledger, capacities={"DNA": 5, "FACE": 5})
    dna = _hit_reply(_ask(responder, _envelope(_dna(0, capture=0, max_candidates=asked))))
    face_request = _envelope(
        _face(0, max_candidates=asked), message_id="m-2", kind=MessageType.FACE_SEARCH_REQUEST
    )
    face = _hit_reply(_ask(responder, face_request))
    for reply, cap in ((dna, MAX_CANDIDATES["DNA"]), (face, MAX_CANDIDATES["FACE"])):
        (result,) = reply.results
        # The gallery holds DUPLICATES + 1 genuine candidates, more than any cap.
        assert len(result.candidates) == min(asked, cap)
        assert all(c.reference.startswith("DE-0") for c in result.candidates)


@pytest.mark.parametrize(("search_type", "asked"), [("TP/TP", 5), ("LT/TP", 50), ("LT/TP", 3)])
def test_fingerprint_candidates_follow_the_search_types_maximum(
    gallery, ledger, search_type: str, asked: int
) -> None:
    responder = _responder(gallery, ledger)
    request = _envelope(
        _dacty(0, search_type=search_type, max_candidates=asked),
        kind=MessageType.DACTY_SEARCH_REQUEST,
    )
    (result,) = _hit_reply(_ask(responder, request)).results
    assert len(result.candidates) == min(asked, MAX_CANDIDATES[search_type])
    assert MAX_CANDIDATES["TP/TP"] == 1 and MAX_CANDIDATES["LT/TP"] == 10  # Art. 9


def test_a_probe_the_gallery_cannot_search_is_rejected_with_the_reason(gallery, ledger) -> None:
    short = FaceTemplate(population.FEATURE_MODEL, b"\x00\x00\x80\x3f" * 7)
    request = _envelope(FaceSearchRequest("p", short), kind=MessageType.FACE_SEARCH_REQUEST)
    error = _error(_ask(_responder(gallery, ledger), request))
    assert error.code is ErrorCode.PROFILE_REJECTED and "7 values" in error.message


def test_a_template_of_a_model_the_node_does_not_hold_is_unsupported(gallery, ledger) -> None:
    """Templates are node-local (DESIGN.md §3): another vendor's, without an image, cannot be
    searched here; the refusal says so (not a plain profile rejection)."""
    wrong = FaceTemplate("another-model", b"\x00" * 4 * population.FACE_DIM)
    request = _envelope(FaceSearchRequest("p", wrong), kind=MessageType.FACE_SEARCH_REQUEST)
    error = _error(_ask(_responder(gallery, ledger), request))
    assert error.code is ErrorCode.UNSUPPORTED_FEATURE_MODEL and "another-model" in error.message


# --- follow-ups --------------------------------------------------------------------------


def _released(responder: Responder, subject: int = 2, sender: str = "GB") -> str:
    reply = _hit_reply(_ask(responder, _envelope(_dna(subject), message_id="s-1", sender=sender)))
    return reply.results[0].candidates[0].reference


def _follow_up(
    responder: Responder, reference: str, *, sender: str = "GB", at: dt.datetime = NOW
) -> Response:
    request = _envelope(
        FollowUpRequest("s-1", reference),
        message_id="f-1",
        sender=sender,
        kind=MessageType.FOLLOW_UP_REQUEST,
    )
    return _ask(responder, request, at)


def test_a_hit_released_to_the_sender_is_followed_up_with_core_data(gallery, ledger) -> None:
    responder = _responder(gallery, ledger)
    reference = _released(responder)
    response = _follow_up(responder, reference, at=NOW + dt.timedelta(hours=47))
    body = response.reply.body
    assert isinstance(body, FollowUpReply)
    assert (body.search_message_id, body.hit_reference) == ("s-1", reference)
    assert body.core_data == core_data_of(_record(2))
    assert response.reply.header.message_type is MessageType.FOLLOW_UP_REPLY
    assert response.outcome == "supplied" and response.references == (reference,)


def _same_refusal(a: Response, b: Response) -> None:
    ea, eb = _error(a), _error(b)
    assert ea.code is eb.code is ErrorCode.UNKNOWN_REFERENCE
    assert (ea.message, ea.field) == (eb.message, eb.field)
    assert ea.field == "/Message/Body/FollowUpRequest/@hitReference"


def test_every_follow_up_refusal_looks_like_a_reference_that_never_existed(gallery, ledger) -> None:
    window = dt.timedelta(hours=48)
    responder = _responder(gallery, ledger, window=window, withheld=frozenset({"DE-4"}))
    reference = _released(responder)
    never = _follow_up(responder, "DE-does-not-exist")
    # Held by the node but never returned to anyone.
    not_released = _follow_up(responder, "DE-5")
    # Returned to GB, asked by FR (a partner too).
    other_sender = _follow_up(responder, reference, sender="FR")
    # Returned, but asked after the window.
    late = _follow_up(responder, reference, at=NOW + window + dt.timedelta(seconds=1))
    # Returned, but the node no longer gives its core data (deleted or restricted since).
    withheld = _follow_up(responder, _released(responder, subject=4))
    for refusal in (not_released, other_sender, late, withheld):
        _same_refusal(never, refusal)
    # The window's last second still counts.
    assert isinstance(_follow_up(responder, reference, at=NOW + window).reply.body, FollowUpReply)


def test_a_follow_up_from_a_non_partner_is_refused_before_the_ledger(gallery, ledger) -> None:
    responder = _responder(gallery, ledger)
    reference = _released(responder)
    error = _error(_follow_up(responder, reference, sender="XX"))
    assert error.code is ErrorCode.UNAUTHORISED_SENDER
