"""The partner dialects (`gateway.outbound.dialects`) with plain values: no sockets, no node.

A search is stored in a real `Store` (so its partner results carry the message ids a real
search gets), its bodies are built from a synthetic person (`mock_partners.population`), and
every message and reply goes through real bytes: what a dialect builds is decoded with the
codec the partner would use, and the partner's replies are encoded with it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from exchange.codecs import ansi_nist, interpol, prum_xml, uk_json
from exchange.gateway.config import PartnerConfig
from exchange.gateway.outbound import dialects
from exchange.gateway.outbound.dialects import interpol as interpol_dialect
from exchange.gateway.outbound.dialects import prum
from exchange.gateway.outbound.messages import Answer, Outgoing
from exchange.gateway.outbound.search_bodies import build_bodies
from exchange.gateway.state.rows import HitRow, NewHit, PartnerResultRow, PartnerStatus, SearchRow
from exchange.gateway.state.store import Store
from exchange.model import (
    Candidate,
    CoreData,
    DactySearchRequest,
    DnaSearchRequest,
    Envelope,
    ErrorBody,
    ErrorCode,
    FaceSearchRequest,
    FollowUpReply,
    FollowUpRequest,
    Header,
    MatchType,
    MessageType,
    Modality,
    PersonRecord,
    ProbeResult,
    Purpose,
    SearchReply,
)
from exchange.records import core_data_of, step1_reference
from mock_partners import population
from mock_partners.interpol_node import NODE_ID as INTERPOL

SEED = 7
NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
CORRELATION = "corr-dialects-1"
BIOMETRIC = (Modality.DNA, Modality.FINGERPRINT, Modality.FACE)
XML = "application/xml"
SEARCH_TYPE = {Modality.DNA: "DNA", Modality.FINGERPRINT: "TP/TP", Modality.FACE: "FACE"}
REQUEST_TYPE = {
    Modality.DNA: MessageType.DNA_SEARCH_REQUEST,
    Modality.FINGERPRINT: MessageType.DACTY_SEARCH_REQUEST,
    Modality.FACE: MessageType.FACE_SEARCH_REQUEST,
}
REQUEST_BODY: dict[Modality, type] = {
    Modality.DNA: DnaSearchRequest,
    Modality.FINGERPRINT: DactySearchRequest,
    Modality.FACE: FaceSearchRequest,
}


@pytest.fixture(scope="module")
def record() -> PersonRecord:
    """A second capture of a synthetic person: DNA, rolled prints, a face, a name."""
    return population.person(SEED, 3, capture=1).record


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "gateway.sqlite3")
    yield s
    s.close()


def _search(
    store: Store,
    record: PersonRecord,
    partners: tuple[str, ...],
    modalities: tuple[Modality, ...] = BIOMETRIC,
) -> SearchRow:
    return store.create_search(
        client_id="test",
        purpose=Purpose.INVESTIGATION,
        case_reference="OP-DIALECTS-1",
        modalities=modalities,
        partners=partners,
        max_candidates=5,
        record_json=json.dumps(uk_json.record_to_json(record)),
        correlation_id=CORRELATION,
        now=NOW,
        deadline_at=NOW + dt.timedelta(seconds=10),
    )


def _result(search: SearchRow, partner: str) -> PartnerResultRow:
    return next(r for r in search.results if r.partner == partner)


def _prum_messages(
    store: Store, record: PersonRecord, busy: frozenset[str] = frozenset()
) -> tuple[SearchRow, dict[str, list[Outgoing]]]:
    search = _search(store, record, ("DE", "FR"))
    bodies = build_bodies(record, BIOMETRIC, search.max_candidates)
    return search, prum.search_messages("GB", NOW, search, search.results, bodies, busy)


def _by_modality(messages: list[Outgoing]) -> dict[Modality, Outgoing]:
    out = {m.modality: m for m in messages}
    assert len(out) == len(messages), "one message per modality"
    return out


def _prum_reply(request: Envelope, body: Any, **header: Any) -> bytes:
    """The bytes of a partner's reply to `request`, with `header` fields changed."""
    h = request.header
    fields: dict[str, Any] = {
        "message_id": "reply-1",
        "correlation_id": h.correlation_id,
        "timestamp": NOW,
        "sender": h.receiver,
        "receiver": h.sender,
        "message_type": prum_xml.message_type_of(body),
        "purpose": h.purpose,
        **header,
    }
    return prum_xml.encode(Envelope(Header(**fields), body))


def _interpol_reply(request: interpol.InterpolMessage, body: Any, **header: Any) -> bytes:
    fields: dict[str, Any] = {
        "message_id": "reply-1",
        "correlation_id": request.correlation_id,
        "timestamp": NOW,
        "sender": request.receiver,
        "receiver": request.sender,
        "purpose": request.purpose,
        "body": body,
        **header,
    }
    return interpol.encode_xml(interpol.InterpolMessage(**fields))


# --- Prüm: searches -------------------------------------------------------------------------


def test_prum_gives_each_partner_one_envelope_per_modality_under_its_own_message_id(
    store: Store, record: PersonRecord
) -> None:
    search, out = _prum_messages(store, record)
    assert set(out) == {"DE", "FR"}
    seen_ids = set()
    for partner, messages in out.items():
        result = _result(search, partner)
        for modality, msg in _by_modality(messages).items():
            assert msg.message_id == result.message_id_for(modality)
            assert msg.content_type == XML
            assert msg.search_type == SEARCH_TYPE[modality]
            assert msg.message_type is REQUEST_TYPE[modality]
            assert msg.purpose is Purpose.INVESTIGATION
            assert not msg.batched and msg.resend_in is None
            env = prum_xml.decode(msg.data)
            assert env.header.message_id == msg.message_id
            assert (env.header.sender, env.header.receiver) == ("GB", partner)
            assert env.header.correlation_id == CORRELATION
            assert env.header.message_type is REQUEST_TYPE[modality]
            assert isinstance(env.body, REQUEST_BODY[modality])
            seen_ids.add(msg.message_id)
        assert {m.modality for m in messages} == set(BIOMETRIC)
    assert len(seen_ids) == 6  # no two messages share an id


def test_prum_bodies_carry_the_step1_reference_and_the_probe_the_search_correlation_id(
    store: Store, record: PersonRecord
) -> None:
    _, out = _prum_messages(store, record)
    de = _by_modality(out["DE"])
    dna = prum_xml.decode(de[Modality.DNA].data).body
    assert isinstance(dna, DnaSearchRequest)
    (probe,) = dna.probes
    assert probe.reference == step1_reference(record)
    assert probe.correlation_id == CORRELATION
    assert probe.profile == record.dna
    assert de[Modality.DNA].probe == probe and de[Modality.DNA].max_candidates == 5
    dacty = prum_xml.decode(de[Modality.FINGERPRINT].data).body
    assert isinstance(dacty, DactySearchRequest)
    assert (dacty.reference, dacty.search_type, dacty.max_candidates) == (
        step1_reference(record),
        "TP/TP",
        1,  # TP/TP returns one candidate at most (Prüm Implementing Agreement Art. 9)
    )
    assert de[Modality.FINGERPRINT].probe is None


def test_a_busy_partners_dna_message_waits_for_a_batch_and_the_rest_go_alone(
    store: Store, record: PersonRecord
) -> None:
    _, out = _prum_messages(store, record, busy=frozenset({"DE"}))
    de, fr = _by_modality(out["DE"]), _by_modality(out["FR"])
    waiting = de[Modality.DNA]
    assert waiting.batched and waiting.data == b""
    assert waiting.profile_xml is not None and waiting.probe is not None
    assert b"Profile" in waiting.profile_xml
    for modality in (Modality.FINGERPRINT, Modality.FACE):
        assert not de[modality].batched and de[modality].data
        assert de[modality].profile_xml is None
    alone = fr[Modality.DNA]
    assert not alone.batched and alone.profile_xml is None
    assert prum_xml.decode(alone.data).header.receiver == "FR"


def test_a_resumed_search_whose_probe_went_in_a_batch_asks_again_under_the_batch_id(
    store: Store, record: PersonRecord
) -> None:
    first = _search(store, record, ("DE", "FR"))
    store.mark_batched("DE", "batch-1", [first.search_id])
    search = store.get_search(first.search_id)
    assert search is not None
    assert _result(search, "DE").dna_batch_id == "batch-1"
    bodies = build_bodies(record, BIOMETRIC, search.max_candidates)
    out = prum.search_messages("GB", NOW, search, search.results, bodies)
    de, fr = _by_modality(out["DE"]), _by_modality(out["FR"])
    assert de[Modality.DNA].resend_in == "batch-1"
    # its own message is still there, the fallback when the batch's id cannot be used
    assert prum_xml.decode(de[Modality.DNA].data).header.message_id == de[Modality.DNA].message_id
    assert de[Modality.FINGERPRINT].resend_in is None and de[Modality.FACE].resend_in is None
    assert all(m.resend_in is None for m in fr.values())


# --- Prüm: reading replies ------------------------------------------------------------------


@pytest.fixture
def face_request(store: Store, record: PersonRecord) -> tuple[Outgoing, Envelope]:
    """DE's face search message and the envelope it carries."""
    _, out = _prum_messages(store, record)
    msg = _by_modality(out["DE"])[Modality.FACE]
    return msg, prum_xml.decode(msg.data)


def _face_reply(request: Envelope, *candidates: Candidate, replied_to: str | None = None) -> Any:
    body = request.body
    assert isinstance(body, FaceSearchRequest)
    return SearchReply(
        replied_to or request.header.message_id,
        Modality.FACE,
        (ProbeResult(body.reference, tuple(candidates)),),
    )


def test_prum_candidates_become_hits_and_none_no_hit(
    face_request: tuple[Outgoing, Envelope],
) -> None:
    msg, request = face_request
    candidates = (
        Candidate("DE-REF-1", 0.91, MatchType.CANDIDATE),
        Candidate("DE-REF-2", 0.62, MatchType.CANDIDATE),
    )
    answer = msg.read(_prum_reply(request, _face_reply(request, *candidates)))
    assert answer.status is PartnerStatus.HIT
    assert answer.modality is Modality.FACE and answer.error is None
    assert answer.hits == (
        NewHit(Modality.FACE, "DE-REF-1", 0.91, MatchType.CANDIDATE),
        NewHit(Modality.FACE, "DE-REF-2", 0.62, MatchType.CANDIDATE),
    )
    none = msg.read(_prum_reply(request, _face_reply(request)))
    assert (none.status, none.hits, none.error) == (PartnerStatus.NO_HIT, (), None)


@pytest.mark.parametrize(
    ("header", "says"),
    [
        ({"sender": "FR"}, "reply from FR"),
        ({"receiver": "NL"}, "to NL"),
        ({"correlation_id": "someone-elses"}, "correlation"),
    ],
)
def test_a_prum_reply_from_another_party_or_exchange_is_an_error(
    face_request: tuple[Outgoing, Envelope], header: dict[str, str], says: str
) -> None:
    msg, request = face_request
    hit = Candidate("DE-REF-1", 0.91, MatchType.CANDIDATE)
    answer = msg.read(_prum_reply(request, _face_reply(request, hit), **header))
    assert answer.status is PartnerStatus.ERROR
    assert says in (answer.error or "")
    assert answer.hits == () and answer.refusal is None


def test_a_prum_reply_to_another_message_is_an_error(
    face_request: tuple[Outgoing, Envelope],
) -> None:
    msg, request = face_request
    hit = Candidate("DE-REF-1", 0.91, MatchType.CANDIDATE)
    other = _face_reply(request, hit, replied_to=request.header.message_id + "x")
    answer = msg.read(_prum_reply(request, other))
    assert answer.status is PartnerStatus.ERROR and answer.hits == ()
    assert answer.error == "reply does not answer this request"


def test_a_prum_quota_refusal_is_quota_exceeded_with_the_refusal(
    face_request: tuple[Outgoing, Envelope],
) -> None:
    msg, request = face_request
    refusal = ErrorBody(
        ErrorCode.QUOTA_EXCEEDED, "daily FACE capacity used", None, request.header.message_id
    )
    answer = msg.read(_prum_reply(request, refusal))
    assert answer.status is PartnerStatus.QUOTA_EXCEEDED
    assert answer.refusal == refusal
    assert answer.error == "daily FACE capacity used"


@pytest.mark.parametrize("code", [c for c in ErrorCode if c is not ErrorCode.QUOTA_EXCEEDED])
def test_any_other_prum_refusal_is_rejected_with_its_code(
    face_request: tuple[Outgoing, Envelope], code: ErrorCode
) -> None:
    msg, request = face_request
    refusal = ErrorBody(code, "no", None, request.header.message_id)
    answer = msg.read(_prum_reply(request, refusal))
    assert answer.status is PartnerStatus.REJECTED
    assert answer.refusal == refusal
    assert answer.error == f"{code.value}: no"


def test_a_prum_dna_reply_is_read_like_any_other(store: Store, record: PersonRecord) -> None:
    """The DNA message (its bytes spliced by `encode_dna_batch`) is read by the same rules."""
    _, out = _prum_messages(store, record)
    msg = _by_modality(out["FR"])[Modality.DNA]
    request = prum_xml.decode(msg.data)
    reply = SearchReply(
        msg.message_id,
        Modality.DNA,
        (ProbeResult(step1_reference(record), (Candidate("FR-9", 1.0, MatchType.FULL),)),),
    )
    answer = msg.read(_prum_reply(request, reply))
    assert answer.status is PartnerStatus.HIT
    assert answer.hits == (NewHit(Modality.DNA, "FR-9", 1.0, MatchType.FULL),)
    assert msg.read(_prum_reply(request, reply, sender="DE")).status is PartnerStatus.ERROR


# --- Interpol: searches ---------------------------------------------------------------------


def _interpol_messages(
    store: Store, record: PersonRecord, nominal: bool, profile: str = "int-i-6"
) -> tuple[SearchRow, dict[Modality, Outgoing]]:
    modalities = (*BIOMETRIC, Modality.NOMINAL) if nominal else BIOMETRIC
    search = _search(store, record, (INTERPOL,), modalities)
    bodies = build_bodies(record, search.modalities, search.max_candidates)
    result = _result(search, INTERPOL)
    out = interpol_dialect.search_messages(
        "GB", NOW, search, result, record, bodies, nominal, profile
    )
    return search, _by_modality(out)


def test_interpol_prints_go_as_ansi_nist_in_the_prum_2008_profile(
    store: Store, record: PersonRecord
) -> None:
    search, out = _interpol_messages(store, record, nominal=False, profile="prum-2008")
    msg = out[Modality.FINGERPRINT]
    assert msg.content_type == "application/octet-stream"
    assert msg.message_id == _result(search, INTERPOL).message_id_for(Modality.FINGERPRINT)
    assert (msg.search_type, msg.message_type) == ("TP/TP", MessageType.DACTY_SEARCH_REQUEST)
    env = ansi_nist.decode(msg.data)
    assert env.header.message_id == msg.message_id
    assert (env.header.sender, env.header.receiver) == ("GB", INTERPOL)
    assert env.header.correlation_id == CORRELATION
    assert isinstance(env.body, DactySearchRequest)
    assert env.body.reference == step1_reference(record)
    assert len(env.body.fingerprints.fingers) == 10


@pytest.mark.parametrize("modality", [Modality.DNA, Modality.FACE])
def test_interpol_dna_and_face_go_as_interpol_xml(
    store: Store, record: PersonRecord, modality: Modality
) -> None:
    search, out = _interpol_messages(store, record, nominal=False)
    msg = out[modality]
    assert msg.content_type == XML
    assert msg.message_id == _result(search, INTERPOL).message_id_for(modality)
    assert (msg.search_type, msg.message_type) == (SEARCH_TYPE[modality], REQUEST_TYPE[modality])
    decoded = interpol.decode_xml(msg.data)
    assert decoded.message_id == msg.message_id
    assert (decoded.sender, decoded.receiver) == ("GB", INTERPOL)
    assert decoded.correlation_id == CORRELATION
    assert isinstance(decoded.body, REQUEST_BODY[modality])


def test_interpol_gets_a_nominal_check_only_when_asked_and_the_record_has_a_name(
    store: Store, record: PersonRecord
) -> None:
    search, asked = _interpol_messages(store, record, nominal=True)
    check = asked[Modality.NOMINAL]
    assert check.message_id == _result(search, INTERPOL).message_id_for(Modality.NOMINAL)
    assert (check.search_type, check.message_type) == ("NOMINAL", MessageType.NOMINAL_CHECK)
    assert check.content_type == XML
    decoded = interpol.decode_xml(check.data)
    assert isinstance(decoded.body, interpol.NominalCheck)
    assert decoded.body.reference == check.message_id
    assert decoded.body.person.name == record.name
    assert decoded.body.person.date_of_birth == record.date_of_birth

    _, not_asked = _interpol_messages(store, record, nominal=False)
    assert Modality.NOMINAL not in not_asked
    _, nameless = _interpol_messages(store, replace(record, name=None), nominal=True)
    assert set(nameless) == set(BIOMETRIC)


# --- Interpol: reading replies --------------------------------------------------------------


def test_interpol_xml_replies_are_checked_like_prum_ones(
    store: Store, record: PersonRecord
) -> None:
    _, out = _interpol_messages(store, record, nominal=False)
    msg = out[Modality.DNA]
    request = interpol.decode_xml(msg.data)
    reply = SearchReply(
        msg.message_id,
        Modality.DNA,
        (ProbeResult(step1_reference(record), (Candidate("IP-1", 1.0, MatchType.FULL),)),),
    )
    answer = msg.read(_interpol_reply(request, reply))
    assert answer.status is PartnerStatus.HIT
    assert answer.hits == (NewHit(Modality.DNA, "IP-1", 1.0, MatchType.FULL),)
    wrong = msg.read(_interpol_reply(request, reply, correlation_id="other"))
    assert wrong.status is PartnerStatus.ERROR and "correlation" in (wrong.error or "")
    stray = replace(reply, request_message_id="other-message")
    assert msg.read(_interpol_reply(request, stray)).status is PartnerStatus.ERROR
    refusal = ErrorBody(ErrorCode.QUOTA_EXCEEDED, "DNA capacity used", None, msg.message_id)
    refused = msg.read(_interpol_reply(request, refusal))
    assert refused.status is PartnerStatus.QUOTA_EXCEEDED and refused.refusal == refusal


def test_interpol_ansi_nist_replies_are_read_from_sre_and_err(
    store: Store, record: PersonRecord
) -> None:
    _, out = _interpol_messages(store, record, nominal=False, profile="prum-2008")
    msg = out[Modality.FINGERPRINT]
    request = ansi_nist.decode(msg.data)

    def reply(body: SearchReply | ErrorBody, **header: Any) -> bytes:
        h = request.header
        fields: dict[str, Any] = {
            "message_id": "sre-1",
            "correlation_id": h.correlation_id,
            "timestamp": NOW,
            "sender": h.receiver,
            "receiver": h.sender,
            "message_type": prum_xml.message_type_of(body),
            "purpose": h.purpose,
            **header,
        }
        return ansi_nist.encode(Envelope(Header(**fields), body))

    found = SearchReply(
        msg.message_id,
        Modality.FINGERPRINT,
        (ProbeResult(step1_reference(record), (Candidate("IP-7", 0.8, MatchType.CANDIDATE),)),),
    )
    answer = msg.read(reply(found))
    assert answer.status is PartnerStatus.HIT
    assert answer.hits == (NewHit(Modality.FINGERPRINT, "IP-7", 0.8, MatchType.CANDIDATE),)
    assert msg.read(reply(found, sender="DE")).status is PartnerStatus.ERROR
    refusal = ErrorBody(ErrorCode.PROFILE_REJECTED, "too few minutiae", None, msg.message_id)
    refused = msg.read(reply(refusal))
    assert refused.status is PartnerStatus.REJECTED and refused.refusal == refusal


def test_interpol_nominal_replies_list_notices_and_documents_as_hits(
    store: Store, record: PersonRecord
) -> None:
    _, out = _interpol_messages(store, record, nominal=True)
    msg = out[Modality.NOMINAL]
    request = interpol.decode_xml(msg.data)
    assert record.name is not None
    person = interpol.NominalPerson(record.name)
    notice = interpol.Notice("A-12345-2025", interpol.NoticeColour.RED, person)
    document = interpol.TravelDocument(
        "X1234567",
        interpol.DocumentType.PASSPORT,
        "FR",
        interpol.DocumentStatus.STOLEN,
    )
    found = interpol.NominalReply(msg.message_id, (notice,), (document,))
    answer = msg.read(_interpol_reply(request, found))
    assert answer.status is PartnerStatus.HIT
    assert [h.reference for h in answer.hits] == ["A-12345-2025", "X1234567"]
    assert all(h.modality is Modality.NOMINAL for h in answer.hits)
    nothing = msg.read(_interpol_reply(request, interpol.NominalReply(msg.message_id)))
    assert (nothing.status, nothing.hits) == (PartnerStatus.NO_HIT, ())
    other = msg.read(_interpol_reply(request, replace(found, query_reference="other")))
    assert other.status is PartnerStatus.ERROR and other.hits == ()


# --- follow-ups -----------------------------------------------------------------------------


def _hit(store: Store, search: SearchRow, partner: str, modality: Modality) -> HitRow:
    found = NewHit(modality, f"{partner}-REF-{modality.value}", 1.0, MatchType.FULL)
    store.set_partner_result(search.search_id, partner, PartnerStatus.HIT, now=NOW, hits=[found])
    row = store.get_search(search.search_id)
    assert row is not None
    (hit,) = _result(row, partner).hits
    return hit


def test_a_prum_follow_up_names_the_search_message_of_the_hit_and_its_reference(
    store: Store, record: PersonRecord
) -> None:
    search = _search(store, record, ("DE", "FR"))
    hit = _hit(store, search, "DE", Modality.FACE)
    result = _result(search, "DE")
    msg = prum.follow_up_message("GB", NOW, search, result, hit, "fu-1")
    assert (msg.message_id, msg.search_type, msg.content_type) == ("fu-1", "FOLLOW_UP", XML)
    assert (msg.modality, msg.message_type) == (Modality.FACE, MessageType.FOLLOW_UP_REQUEST)
    env = prum_xml.decode(msg.data)
    assert env.header.message_id == "fu-1"
    assert env.header.message_type is MessageType.FOLLOW_UP_REQUEST
    assert (env.header.sender, env.header.receiver) == ("GB", "DE")
    assert env.header.correlation_id == CORRELATION
    assert env.body == FollowUpRequest(result.message_id_for(Modality.FACE), hit.reference)


@pytest.mark.parametrize("modality", BIOMETRIC)
def test_an_interpol_follow_up_is_interpol_xml_for_every_modality(
    store: Store, record: PersonRecord, modality: Modality
) -> None:
    search = _search(store, record, (INTERPOL,))
    hit = _hit(store, search, INTERPOL, modality)
    result = _result(search, INTERPOL)
    msg = interpol_dialect.follow_up_message("GB", NOW, search, result, hit, "fu-2")
    assert (msg.message_id, msg.search_type, msg.content_type) == ("fu-2", "FOLLOW_UP", XML)
    assert msg.modality is modality
    decoded = interpol.decode_xml(msg.data)
    assert decoded.message_id == "fu-2"
    assert (decoded.sender, decoded.receiver) == ("GB", INTERPOL)
    assert decoded.correlation_id == CORRELATION
    assert decoded.body == FollowUpRequest(result.message_id_for(modality), hit.reference)


@pytest.mark.parametrize(
    ("dialect", "builder", "decode"),
    [
        ("prum", prum.follow_up_message, prum_xml.decode),
        ("interpol", interpol_dialect.follow_up_message, interpol.decode_xml),
    ],
)
def test_the_follow_up_goes_in_the_dialect_the_partner_config_names(
    store: Store,
    record: PersonRecord,
    dialect: str,
    builder: Callable[..., Outgoing],
    decode: Callable[[bytes], object],
) -> None:
    search = _search(store, record, ("DE",))
    hit = _hit(store, search, "DE", Modality.FINGERPRINT)
    result = _result(search, "DE")
    cfg = PartnerConfig(id="DE", url="http://127.0.0.1:9/unused", dialect=dialect)
    msg = dialects.follow_up_message(cfg, "GB", NOW, search, result, hit, "fu-3")
    assert msg.data == builder("GB", NOW, search, result, hit, "fu-3").data
    decode(msg.data)  # it reads in that dialect's codec


def _follow_up_replier(dialect: str, msg: Outgoing) -> Callable[..., bytes]:
    """How the partner would answer `msg` in its dialect: body, header changes -> bytes."""
    if dialect == "prum":
        request_env = prum_xml.decode(msg.data)
        return lambda body, **header: _prum_reply(request_env, body, **header)
    request_msg = interpol.decode_xml(msg.data)
    return lambda body, **header: _interpol_reply(request_msg, body, **header)


@pytest.fixture(scope="module")
def core(record: PersonRecord) -> CoreData:
    data = core_data_of(record)
    assert data is not None
    return data


@pytest.mark.parametrize("dialect", ["prum", "interpol"])
@pytest.mark.parametrize("modality", BIOMETRIC)
def test_a_follow_up_reply_brings_the_core_data_of_that_hit_only(
    store: Store, record: PersonRecord, core: CoreData, dialect: str, modality: Modality
) -> None:
    partner = "DE" if dialect == "prum" else INTERPOL
    search = _search(store, record, (partner,))
    hit = _hit(store, search, partner, modality)
    result = _result(search, partner)
    cfg = PartnerConfig(id=partner, url="http://127.0.0.1:9/unused", dialect=dialect)
    msg = dialects.follow_up_message(cfg, "GB", NOW, search, result, hit, "fu-4")
    reply = _follow_up_replier(dialect, msg)
    searched = result.message_id_for(modality)

    answer = msg.read(reply(FollowUpReply(searched, hit.reference, core)))
    assert answer == Answer(modality=modality, status=PartnerStatus.HIT, core_data=core)

    other = msg.read(reply(FollowUpReply(searched, "SOMEONE-ELSE", core)))
    assert other.status is PartnerStatus.ERROR and other.core_data is None

    stranger = msg.read(reply(FollowUpReply(searched, hit.reference, core), sender="FR"))
    assert stranger.status is PartnerStatus.ERROR and stranger.core_data is None

    gone = ErrorBody(ErrorCode.UNKNOWN_REFERENCE, "past the 48 h window", None, "fu-4")
    refused = msg.read(reply(gone))
    assert refused.refusal == gone and refused.core_data is None
    assert refused.status is PartnerStatus.REJECTED
