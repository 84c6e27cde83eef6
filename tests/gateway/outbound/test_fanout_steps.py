"""The fan-out's steps one at a time (`outbound.fanout`, `search_plan`, `search_bodies`).

The pure steps take plain values: `partner_status` and `search_status` against a small
model (hypothesis), `apply_capacity` and `build_bodies` with real messages and records. The
steps that touch the store (`plan_messages`, `take_capacity`, `reserve_and_audit_sends`)
run on a real node without listeners (`resources.running_node`): real SQLite, the real
audit log, partners configured but never called.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.capacities import MAX_CANDIDATES
from exchange.codecs import uk_json
from exchange.gateway.config import DEFAULT_CAPACITIES, GatewayConfig, Listener, PartnerConfig
from exchange.gateway.node import Node
from exchange.gateway.outbound.fanout import partner_status, search_status
from exchange.gateway.outbound.messages import Answer, Outgoing
from exchange.gateway.outbound.search_bodies import build_bodies
from exchange.gateway.outbound.search_plan import (
    PartnerPlan,
    apply_capacity,
    busy_partners,
    plan_messages,
    reserve_and_audit_sends,
    take_capacity,
)
from exchange.gateway.resources import running_node
from exchange.gateway.state.rows import PartnerStatus, SearchRow, SearchStatus
from exchange.gateway.state.store import QuotaDirection
from exchange.model import (
    DactySearchRequest,
    DnaSearchRequest,
    FaceSearchRequest,
    Impression,
    MessageType,
    Modality,
    PersonRecord,
    Purpose,
)
from exchange.records import step1_reference
from mock_partners import population
from mock_partners.interpol_node import NODE_ID as INTERPOL

SEED = 7
BIOMETRIC = (Modality.DNA, Modality.FINGERPRINT, Modality.FACE)
UNUSED_URL = "http://127.0.0.1:9/unused"  # nothing is sent in these tests

# --- partner_status ------------------------------------------------------------------------

FINAL = [s for s in PartnerStatus if s is not PartnerStatus.PENDING]
# How telling each status is, most first: the model `partner_status` is held to.
RANK = [
    PartnerStatus.HIT,
    PartnerStatus.TIMEOUT,
    PartnerStatus.ERROR,
    PartnerStatus.NO_HIT,  # an answer, which a refusal of another modality does not hide
    PartnerStatus.QUOTA_EXCEEDED,
    PartnerStatus.REJECTED,
]

answers = st.builds(
    lambda m, s, e: Answer(modality=m, status=s, error=e),
    st.sampled_from(list(Modality)),
    st.sampled_from(FINAL),
    st.none() | st.sampled_from(["", "HTTP 500", "no answer by the deadline", "bad xml"]),
)


def _answer(status: PartnerStatus, error: str | None = None) -> Answer:
    return Answer(modality=Modality.DNA, status=status, error=error)


def test_a_partner_with_no_answers_searched_none_of_the_modalities() -> None:
    status, error = partner_status([])
    assert status is PartnerStatus.REJECTED
    assert error == "the partner searches none of the requested modalities"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([PartnerStatus.NO_HIT, PartnerStatus.HIT, PartnerStatus.ERROR], PartnerStatus.HIT),
        ([PartnerStatus.ERROR, PartnerStatus.TIMEOUT], PartnerStatus.TIMEOUT),
        ([PartnerStatus.QUOTA_EXCEEDED, PartnerStatus.ERROR], PartnerStatus.ERROR),
        ([PartnerStatus.REJECTED, PartnerStatus.QUOTA_EXCEEDED], PartnerStatus.QUOTA_EXCEEDED),
        ([PartnerStatus.NO_HIT, PartnerStatus.REJECTED], PartnerStatus.NO_HIT),
        ([PartnerStatus.NO_HIT, PartnerStatus.NO_HIT], PartnerStatus.NO_HIT),
    ],
)
def test_the_most_telling_answer_is_the_partners_status(
    statuses: list[PartnerStatus], expected: PartnerStatus
) -> None:
    assert partner_status([_answer(s) for s in statuses])[0] is expected


def test_the_errors_of_the_winning_status_are_joined_and_the_others_dropped() -> None:
    got = partner_status(
        [
            _answer(PartnerStatus.ERROR, "HTTP 500"),
            _answer(PartnerStatus.REJECTED, "unsupported_modality: face"),
            _answer(PartnerStatus.ERROR, None),
            _answer(PartnerStatus.ERROR, "invalid reply: /Envelope"),
        ]
    )
    assert got == (PartnerStatus.ERROR, "HTTP 500; invalid reply: /Envelope")
    assert partner_status([_answer(PartnerStatus.TIMEOUT, "")]) == (PartnerStatus.TIMEOUT, None)
    assert partner_status([_answer(PartnerStatus.NO_HIT, "odd")]) == (PartnerStatus.NO_HIT, None)


@given(st.lists(answers, min_size=1, max_size=6))
def test_partner_status_follows_the_model(given_answers: list[Answer]) -> None:
    winner = min((a.status for a in given_answers), key=RANK.index)
    refused = {PartnerStatus.QUOTA_EXCEEDED, PartnerStatus.REJECTED}
    telling = refused if winner is PartnerStatus.NO_HIT else {winner}
    errors = [a.error for a in given_answers if a.status in telling and a.error]
    expected_error = "; ".join(errors) or None
    assert partner_status(given_answers) == (winner, expected_error)


@given(st.lists(answers, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_partner_status_does_not_depend_on_the_order_of_the_answers(
    given_answers: list[Answer], rng: random.Random
) -> None:
    shuffled = list(given_answers)
    rng.shuffle(shuffled)
    assert partner_status(shuffled)[0] is partner_status(given_answers)[0]


# --- search_status -------------------------------------------------------------------------

ANSWERED = {PartnerStatus.HIT, PartnerStatus.NO_HIT}
REFUSED = {PartnerStatus.REJECTED, PartnerStatus.QUOTA_EXCEEDED}


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([PartnerStatus.HIT, PartnerStatus.NO_HIT], SearchStatus.COMPLETE),
        ([PartnerStatus.NO_HIT, PartnerStatus.REJECTED], SearchStatus.COMPLETE),
        ([PartnerStatus.QUOTA_EXCEEDED, PartnerStatus.REJECTED], SearchStatus.COMPLETE),
        ([PartnerStatus.HIT, PartnerStatus.TIMEOUT], SearchStatus.PARTIAL),
        ([PartnerStatus.NO_HIT, PartnerStatus.ERROR, PartnerStatus.REJECTED], SearchStatus.PARTIAL),
        ([PartnerStatus.TIMEOUT, PartnerStatus.ERROR], SearchStatus.FAILED),
        ([PartnerStatus.ERROR], SearchStatus.FAILED),
    ],
)
def test_a_search_is_complete_partial_or_failed_by_its_partners(
    statuses: list[PartnerStatus], expected: SearchStatus
) -> None:
    assert search_status(statuses) is expected


@given(st.lists(st.sampled_from(FINAL), min_size=1, max_size=8))
def test_search_status_follows_the_model(statuses: list[PartnerStatus]) -> None:
    if all(s in ANSWERED | REFUSED for s in statuses):
        expected = SearchStatus.COMPLETE  # a refusal is a partner's answer too
    elif any(s in ANSWERED for s in statuses):
        expected = SearchStatus.PARTIAL
    else:
        expected = SearchStatus.FAILED
    assert search_status(statuses) is expected


# --- apply_capacity ------------------------------------------------------------------------


def _unread(data: bytes) -> Answer:
    raise AssertionError("a message refused for capacity is never read")


def _message(modality: Modality, search_type: str, message_id: str) -> Outgoing:
    return Outgoing(
        modality=modality,
        search_type=search_type,
        message_id=message_id,
        message_type=MessageType.DNA_SEARCH_REQUEST,
        purpose=Purpose.INVESTIGATION,
        data=b"<Envelope/>",
        content_type="application/xml",
        read=_unread,
    )


def test_messages_refused_for_capacity_become_quota_exceeded_answers_and_are_not_sent() -> None:
    de_dna = _message(Modality.DNA, "DNA", "m-de.dna")
    de_face = _message(Modality.FACE, "FACE", "m-de.face")
    de_prints = _message(Modality.FINGERPRINT, "TP/TP", "m-de.fingerprint")
    fr_dna = _message(Modality.DNA, "DNA", "m-fr.dna")
    earlier = _answer(PartnerStatus.NO_HIT)
    de = PartnerPlan("DE", None, [de_dna, de_face, de_prints], [earlier])
    fr = PartnerPlan("FR", None, [fr_dna])
    apply_capacity([de, fr], [[True, False, True], [False]])

    assert de.to_send == [de_dna, de_prints]  # the rest keep their order
    assert de.answers[0] is earlier
    refused = Answer(
        modality=Modality.FACE,
        status=PartnerStatus.QUOTA_EXCEEDED,
        error="outbound daily capacity used up",
    )
    assert de.answers[1:] == [refused]
    assert fr.to_send == []
    assert fr.answers == [replace(refused, modality=Modality.DNA)]
    assert partner_status(fr.answers)[0] is PartnerStatus.QUOTA_EXCEEDED


def test_all_granted_leaves_the_plans_as_they_were() -> None:
    msg = _message(Modality.DNA, "DNA", "m.dna")
    plan = PartnerPlan("DE", None, [msg])
    apply_capacity([plan], [[True]])
    assert (plan.to_send, plan.answers) == ([msg], [])


# --- build_bodies --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def record() -> PersonRecord:
    """A second capture of a synthetic person: DNA, rolled prints, a face, a name."""
    return population.person(SEED, 5, capture=1).record


def _holding(record: PersonRecord, held: frozenset[Modality]) -> PersonRecord:
    return replace(
        record,
        dna=record.dna if Modality.DNA in held else None,
        fingerprints=record.fingerprints if Modality.FINGERPRINT in held else None,
        face=record.face if Modality.FACE in held else None,
    )


@given(
    held=st.frozensets(st.sampled_from(BIOMETRIC)),
    asked=st.lists(st.sampled_from(list(Modality)), unique=True),
    k=st.integers(1, 20),
)
def test_bodies_are_built_for_the_requested_modalities_the_record_holds(
    record: PersonRecord, held: frozenset[Modality], asked: list[Modality], k: int
) -> None:
    probe = _holding(record, held)
    bodies = build_bodies(probe, asked, k)
    assert set(bodies) == held & set(asked)  # nominal is never a biometric body
    reference = step1_reference(probe)
    for modality, body in bodies.items():
        if isinstance(body, DnaSearchRequest):
            assert modality is Modality.DNA
            (dna,) = body.probes
            assert (dna.reference, dna.profile, body.max_candidates) == (reference, probe.dna, k)
        elif isinstance(body, FaceSearchRequest):
            assert modality is Modality.FACE
            assert (body.reference, body.template, body.max_candidates) == (
                reference,
                probe.face,
                k,
            )
        else:
            assert modality is Modality.FINGERPRINT and isinstance(body, DactySearchRequest)
            assert (body.reference, body.fingerprints) == (reference, probe.fingerprints)


# Prüm Implementing Agreement Art. 9: search type and candidates a transmission may return.
ART_9 = {
    Impression.ROLLED: ("TP/TP", 1),
    Impression.PLAIN: ("TP/TP", 1),
    Impression.LATENT: ("LT/TP", 10),
    Impression.PALM: ("PP/ULP", 5),
    Impression.LATENT_PALM: ("LP/PP", 5),
}


@pytest.mark.parametrize("impression", list(ART_9))
@pytest.mark.parametrize("asked", [1, 3, 5, 10, 20])
def test_a_fingerprint_search_asks_at_most_the_candidates_its_search_type_allows(
    record: PersonRecord, impression: Impression, asked: int
) -> None:
    assert record.fingerprints is not None
    prints = replace(record.fingerprints, impression=impression)
    body = build_bodies(replace(record, fingerprints=prints), [Modality.FINGERPRINT], asked)[
        Modality.FINGERPRINT
    ]
    assert isinstance(body, DactySearchRequest)
    search_type, allowed = ART_9[impression]
    assert allowed == MAX_CANDIDATES[search_type]
    assert (body.search_type, body.max_candidates) == (search_type, min(asked, allowed))


# --- on a node: plan_messages, take_capacity, reserve_and_audit_sends ----------------------

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def _config(tmp_path: Path, de_capacities: Mapping[str, int] | None = None) -> GatewayConfig:
    """The UK node: DE searched for everything, FR for DNA only, Interpol with nominal."""
    de = PartnerConfig(id="DE", url=UNUSED_URL)
    if de_capacities is not None:
        de = replace(de, capacities={**DEFAULT_CAPACITIES, **de_capacities})
    return GatewayConfig(
        node_id="GB",
        data_dir=tmp_path,
        feature_model=population.FEATURE_MODEL,
        face_dim=population.FACE_DIM,
        client=None,
        partner_listener=Listener(port=0),
        partners=(
            de,
            PartnerConfig(id="FR", url=UNUSED_URL, modalities=(Modality.DNA,)),
            PartnerConfig(
                id=INTERPOL,
                url=UNUSED_URL,
                dialect="interpol",
                modalities=(*BIOMETRIC, Modality.NOMINAL),
            ),
        ),
    )


def _on_node(config: GatewayConfig, check: Callable[[Node], None]) -> None:
    async def main() -> None:
        async with running_node(config) as node:
            node.clock = lambda: NOW
            check(node)

    asyncio.run(main())


def _search(
    node: Node,
    record: PersonRecord,
    partners: tuple[str, ...] = ("DE", "FR"),
    modalities: tuple[Modality, ...] = BIOMETRIC,
) -> SearchRow:
    return node.store.create_search(
        client_id="test",
        purpose=Purpose.INVESTIGATION,
        case_reference="OP-STEPS-1",
        modalities=modalities,
        partners=partners,
        max_candidates=5,
        record_json=json.dumps(uk_json.record_to_json(record)),
        correlation_id="corr-steps-1",
        now=NOW,
        deadline_at=NOW + dt.timedelta(seconds=10),
    )


def _plans(
    node: Node, search: SearchRow, record: PersonRecord, busy: frozenset[str] = frozenset()
) -> list[PartnerPlan]:
    bodies = build_bodies(record, search.modalities, search.max_candidates)
    pending = [r for r in search.results if r.status is PartnerStatus.PENDING]
    return plan_messages(node, search, record, bodies, pending, busy)


def _used(node: Node, partner: str, search_type: str) -> int:
    return node.store.quota_used(QuotaDirection.OUTBOUND, partner, search_type, NOW.date())


def _sent(node: Node) -> list[tuple[str, str, str, str]]:
    """(partner, message id, message type, outcome) of every `sent` audit entry, in order."""
    rows = node.store.connection.execute(
        "SELECT partner, message_id, message_type, outcome FROM audit"
        " WHERE direction = 'sent' ORDER BY seq"
    ).fetchall()
    return [tuple(r) for r in rows]


def _modalities(plans: list[PartnerPlan]) -> dict[str, list[Modality]]:
    return {p.partner: [m.modality for m in p.to_send] for p in plans}


def test_each_partner_is_planned_in_its_dialect_and_for_its_modalities_only(
    tmp_path: Path, record: PersonRecord
) -> None:
    def check(node: Node) -> None:
        assert busy_partners(node) == frozenset()  # nothing in flight yet
        modalities = (*BIOMETRIC, Modality.NOMINAL)
        search = _search(node, record, ("DE", "FR", INTERPOL, "XX"), modalities)
        plans = {p.partner: p for p in _plans(node, search, record)}
        assert set(plans) == {"DE", "FR", INTERPOL, "XX"}
        assert [m.modality for m in plans["DE"].to_send] == list(BIOMETRIC)
        assert [m.modality for m in plans["FR"].to_send] == [Modality.DNA]
        interpol = {m.modality: m.content_type for m in plans[INTERPOL].to_send}
        assert interpol == {
            Modality.DNA: "application/xml",
            Modality.FINGERPRINT: "application/xml",  # INT-I v6, the interpol default
            Modality.FACE: "application/xml",
            Modality.NOMINAL: "application/xml",
        }
        assert plans["XX"].cfg is None and plans["XX"].to_send == []  # not configured

    _on_node(_config(tmp_path), check)


def test_take_capacity_counts_one_search_until_the_day_is_spent(tmp_path: Path) -> None:
    def check(node: Node) -> None:
        de = node.config.partner("DE")
        assert de is not None
        assert [take_capacity(node, de, "DNA") for _ in range(3)] == [True, True, False]
        assert _used(node, "DE", "DNA") == 2
        assert 'prum_quota_used{direction="outbound",partner="DE",search_type="DNA"} 2' in (
            node.metrics.render()
        )
        assert not take_capacity(node, de, "NO-SUCH-TYPE")  # no capacity declared: none
        assert take_capacity(node, de, "FACE")  # each search type has its own

    _on_node(_config(tmp_path, {"DNA": 2}), check)


def test_capacity_is_taken_once_per_message_and_every_send_is_audited(
    tmp_path: Path, record: PersonRecord
) -> None:
    def check(node: Node) -> None:
        search = _search(node, record)
        plans = _plans(node, search, record)
        granted = reserve_and_audit_sends(node, search, plans)
        assert granted == [[True, True, True], [True]]  # DE, FR (sorted), as planned
        assert _modalities(plans) == {"DE": list(BIOMETRIC), "FR": [Modality.DNA]}
        used = {(p, t): _used(node, p, t) for p in ("DE", "FR") for t in ("DNA", "TP/TP", "FACE")}
        assert used == {
            ("DE", "DNA"): 1,
            ("DE", "TP/TP"): 1,
            ("DE", "FACE"): 1,
            ("FR", "DNA"): 1,
            ("FR", "TP/TP"): 0,
            ("FR", "FACE"): 0,
        }
        assert _sent(node) == [
            (p.partner, m.message_id, m.message_type.value, "accepted")
            for p in plans
            for m in p.to_send
        ]
        row = node.store.get_search(search.search_id)
        assert row is not None and row.fanned_out_at == NOW

    _on_node(_config(tmp_path), check)


def test_a_partner_whose_capacity_is_spent_is_refused_that_message_only(
    tmp_path: Path, record: PersonRecord
) -> None:
    def check(node: Node) -> None:
        first = _search(node, record)
        assert reserve_and_audit_sends(node, first, _plans(node, first, record)) == [
            [True, True, True],
            [True],
        ]
        second = _search(node, record)
        plans = _plans(node, second, record)
        before = len(_sent(node))
        granted = reserve_and_audit_sends(node, second, plans)
        assert granted == [[False, True, True], [True]]  # DE's one DNA search a day is spent
        assert _used(node, "DE", "DNA") == 1
        refused = plans[0].to_send[0]
        assert refused.modality is Modality.DNA
        audited = [m for _, m, _, _ in _sent(node)[before:]]
        assert refused.message_id not in audited and len(audited) == 3

        apply_capacity(plans, granted)
        assert _modalities(plans)["DE"] == [Modality.FINGERPRINT, Modality.FACE]
        assert [(a.modality, a.status) for a in plans[0].answers] == [
            (Modality.DNA, PartnerStatus.QUOTA_EXCEEDED)
        ]

    _on_node(_config(tmp_path, {"DNA": 1}), check)


def test_a_resumed_search_takes_no_capacity_again(tmp_path: Path, record: PersonRecord) -> None:
    def check(node: Node) -> None:
        first = _search(node, record)
        reserve_and_audit_sends(node, first, _plans(node, first, record))
        second = _search(node, record)
        assert reserve_and_audit_sends(node, second, _plans(node, second, record))[0][0] is False
        used = {t: _used(node, "DE", t) for t in ("DNA", "TP/TP", "FACE")}

        # Both resumed after a restart: they were counted when they first fanned out.
        for search_id in (first.search_id, second.search_id):
            resumed = node.store.get_search(search_id)
            assert resumed is not None and resumed.fanned_out_at is not None
            granted = reserve_and_audit_sends(node, resumed, _plans(node, resumed, record))
            # the DNA search refused the first time (not yet recorded as such) now goes
            assert granted == [[True, True, True], [True]]
        assert {t: _used(node, "DE", t) for t in used} == used
        assert _used(node, "FR", "DNA") == 2

    _on_node(_config(tmp_path, {"DNA": 1}), check)


def test_batched_messages_take_capacity_but_are_audited_by_their_batch(
    tmp_path: Path, record: PersonRecord
) -> None:
    def check(node: Node) -> None:
        search = _search(node, record)
        plans = _plans(node, search, record, busy=frozenset({"DE"}))
        de_dna = plans[0].to_send[0]
        assert de_dna.batched and de_dna.modality is Modality.DNA
        assert reserve_and_audit_sends(node, search, plans) == [[True, True, True], [True]]
        assert _used(node, "DE", "DNA") == 1  # counted per search, batched or not
        audited = [(p, m) for p, m, _, _ in _sent(node)]
        assert ("DE", de_dna.message_id) not in audited
        assert audited == [
            (p.partner, m.message_id) for p in plans for m in p.to_send if not m.batched
        ]

    _on_node(_config(tmp_path), check)


def test_a_resumed_probe_asking_again_under_its_batch_id_is_not_audited_alone(
    tmp_path: Path, record: PersonRecord
) -> None:
    def check(node: Node) -> None:
        left = _search(node, record)
        node.store.mark_fanned_out(left.search_id, now=NOW)  # as a crash leaves it
        node.store.mark_batched("DE", "batch-9", [left.search_id])
        resumed = node.store.get_search(left.search_id)
        assert resumed is not None
        plans = _plans(node, resumed, record)
        de_dna = plans[0].to_send[0]
        assert de_dna.resend_in == "batch-9"
        assert reserve_and_audit_sends(node, resumed, plans) == [[True, True, True], [True]]
        assert _used(node, "DE", "DNA") == 0  # counted before the crash
        audited = [(p, m) for p, m, _, _ in _sent(node)]
        assert ("DE", de_dna.message_id) not in audited and len(audited) == 3

    _on_node(_config(tmp_path), check)
