"""Fingerprint searches to Interpol in INT-I v6 (`dialects.int_i`): what goes out, how replies read.

The messages built are validated against Interpol's int-i.xsd, read from ../shared (GPL-3,
not shipped); replies are INT-I transactions built with the project's own codec.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from exchange.codecs import int_i_codes as codes
from exchange.codecs import int_i_xml, uk_json
from exchange.codecs.errors import CodecError
from exchange.codecs.int_i_envelope import int_i_tcn
from exchange.codecs.int_i_model import (
    Agency,
    Candidates,
    CountryReference,
    ErrorMessage,
    IntiTransaction,
    SubjectData,
    Type1,
    Type2,
)
from exchange.gateway.outbound.dialects import int_i
from exchange.gateway.outbound.dialects import interpol as interpol_dialect
from exchange.gateway.outbound.messages import Outgoing
from exchange.gateway.outbound.search_bodies import build_bodies
from exchange.gateway.state.rows import PartnerStatus, SearchRow
from exchange.gateway.state.store import Store
from exchange.model import (
    DactySearchRequest,
    ErrorCode,
    Impression,
    MatchType,
    Modality,
    PersonRecord,
    Purpose,
)
from mock_partners import population
from tests.shared_data import THIRDPARTY, needs_shared

INTERPOL = "INTERPOL"
NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
XSD = THIRDPARTY / "interpol-int-i/XMLschemas/int-i/1.0/int-i.xsd"
SUBJECT = SubjectData("Mustermann", "Renate", (), dt.date(1950, 12, 1), "F", ("DEU",))


@cache
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def assert_valid(data: bytes) -> None:
    xsd = schema()
    assert xsd.validate(etree.fromstring(data)), xsd.error_log.last_error


@pytest.fixture(scope="module")
def record() -> PersonRecord:
    return population.person(7, 3, capture=1).record


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "gateway.sqlite3")
    yield s
    s.close()


def _search(store: Store, record: PersonRecord) -> SearchRow:
    return store.create_search(
        client_id="test",
        purpose=Purpose.INVESTIGATION,
        case_reference="OP-INT-I-1",
        modalities=(Modality.FINGERPRINT,),
        partners=(INTERPOL,),
        max_candidates=5,
        record_json=json.dumps(uk_json.record_to_json(record)),
        correlation_id="corr-int-i-1",
        now=NOW,
        deadline_at=NOW + dt.timedelta(seconds=10),
    )


def _message(
    store: Store, record: PersonRecord, now: dt.datetime = NOW, search: SearchRow | None = None
) -> tuple[SearchRow, Outgoing]:
    search = search or _search(store, record)
    bodies = build_bodies(record, (Modality.FINGERPRINT,), search.max_candidates)
    out = interpol_dialect.search_messages(
        "GB", now, search, search.results[0], record, bodies, False, "int-i-6"
    )
    (msg,) = out
    return search, msg


def _latent(record: PersonRecord) -> PersonRecord:
    assert record.fingerprints is not None
    prints = dataclasses.replace(record.fingerprints, impression=Impression.LATENT)
    return dataclasses.replace(record, fingerprints=prints)


def _reply(request: bytes, tot: str, type2: Type2, **type1: object) -> bytes:
    """Interpol's answer to `request`: from its DAI to its ORI, TCR its TCN."""
    asked = int_i_xml.decode(request).type1
    fields: dict[str, object] = {
        "tot": tot,
        "tcn": "26000000000099Z",
        "date": NOW.date(),
        "destination": asked.origin,
        "origin": asked.destination,
        "gmt": NOW,
        "tcr": asked.tcn,
        **type1,
    }
    return int_i_xml.encode(IntiTransaction(Type1(**fields), type2))  # type: ignore[arg-type]


def _hit(total: int = 1, subject: SubjectData | None = SUBJECT) -> Type2:
    return Type2(
        person=CountryReference("XPO-PERSON-17", "XPO"),
        candidates=Candidates("CPS", "I", total),
        subject=subject,
    )


# --- what goes out --------------------------------------------------------------------------


@needs_shared
def test_a_ten_print_search_is_a_cps_that_int_i_xsd_accepts(
    store: Store, record: PersonRecord
) -> None:
    search, msg = _message(store, record)
    assert msg.content_type == "application/xml"
    assert (msg.search_type, msg.modality) == ("TP/TP", Modality.FINGERPRINT)
    assert msg.message_id == search.results[0].message_id_for(Modality.FINGERPRINT)
    assert_valid(msg.data)
    tx = int_i_xml.decode(msg.data)
    assert tx.tot == codes.TOT_CPS and tx.type1.tcr is None
    assert tx.type1.tcn == int_i_tcn(msg.message_id, search.created_at.year)
    assert codes.TCN_PATTERN.fullmatch(tx.type1.tcn)
    assert (tx.type1.origin.code, tx.type1.origin.country) == ("GB", "GBR")
    assert (tx.type1.destination.code, tx.type1.destination.country) == (INTERPOL, "XPO")
    assert tx.type2 is not None and tx.type2.subject is None  # step 1: no personal data
    assert record.name is not None and record.name.family.encode() not in msg.data
    positions = {r.positions[0] for r in tx.records if r.record_type == 9}
    assert len(positions) == 10


@needs_shared
def test_a_latent_search_is_an_mps_that_int_i_xsd_accepts(
    store: Store, record: PersonRecord
) -> None:
    _, msg = _message(store, _latent(record))
    assert msg.search_type == "LT/TP"
    assert_valid(msg.data)
    assert int_i_xml.decode(msg.data).tot == codes.TOT_MPS


def test_the_tcn_is_the_same_on_every_retry_and_after_a_restart(
    store: Store, record: PersonRecord
) -> None:
    search, first = _message(store, record)
    _, again = _message(store, record, NOW + dt.timedelta(minutes=5), search)  # a resumed search
    tcn = int_i_xml.decode(first.data).type1.tcn
    assert int_i_xml.decode(again.data).type1.tcn == tcn
    assert len(tcn) == 15 and tcn.isalnum()
    _, other = _message(store, record)  # another search: another TCN
    assert int_i_xml.decode(other.data).type1.tcn != tcn


def test_palm_prints_are_not_sent_in_int_i_and_say_why(record: PersonRecord) -> None:
    assert record.fingerprints is not None
    palm = dataclasses.replace(
        record, fingerprints=dataclasses.replace(record.fingerprints, impression=Impression.PALM)
    )
    bodies = build_bodies(palm, (Modality.FINGERPRINT,), 5)
    body = bodies[Modality.FINGERPRINT]
    assert isinstance(body, DactySearchRequest) and not int_i.carries(body)
    (answer,) = interpol_dialect.unsent_answers(bodies, "int-i-6")
    assert answer.status is PartnerStatus.ERROR and "PP/ULP" in (answer.error or "")
    assert interpol_dialect.unsent_answers(bodies, "prum-2008") == []


# --- how replies read -----------------------------------------------------------------------


def test_an_sre_hit_is_a_hit_carrying_the_subject_as_core_data(
    store: Store, record: PersonRecord
) -> None:
    _, msg = _message(store, record)
    answer = msg.read(_reply(msg.data, "SRE", _hit(total=2)))
    assert answer.status is PartnerStatus.HIT
    first, second = answer.hits
    assert (first.reference, first.match_type) == ("XPO-PERSON-17", MatchType.CANDIDATE)
    assert second.reference == "26000000000099Z/2" and second.core_data_json is None
    assert first.core_data_json is not None
    core = uk_json.record_from_json(json.loads(first.core_data_json))
    assert core.name is not None and core.name.family == "Mustermann"
    assert core.nationalities == ("DE",) and core.reference == "XPO-PERSON-17"
    for text in (repr(answer), str(answer)):  # never in a log line by way of a repr
        assert "Mustermann" not in text and "1950" not in text


def test_an_sre_hit_without_a_subject_has_no_core_data(store: Store, record: PersonRecord) -> None:
    _, msg = _message(store, record)
    answer = msg.read(_reply(msg.data, "SRE", _hit(subject=None)))
    assert answer.status is PartnerStatus.HIT and answer.hits[0].core_data_json is None


def test_an_sre_no_hit_is_no_hit(store: Store, record: PersonRecord) -> None:
    _, msg = _message(store, record)
    answer = msg.read(_reply(msg.data, "SRE", Type2(candidates=Candidates("CPS", "N", 0))))
    assert answer.status is PartnerStatus.NO_HIT and answer.hits == ()


@pytest.mark.parametrize(
    ("code", "ours"),
    [
        ("116", ErrorCode.UNSUPPORTED_MODALITY),
        ("501", ErrorCode.PROFILE_REJECTED),
        ("003", ErrorCode.UNAUTHORISED_SENDER),
        ("101", ErrorCode.SCHEMA_INVALID),
    ],
)
def test_an_err_is_the_partners_refusal_by_its_int_i_code(
    store: Store, record: PersonRecord, code: str, ours: ErrorCode
) -> None:
    _, msg = _message(store, record)
    err = Type2(errors=(ErrorMessage(code, "refused", "TOT"),))
    answer = msg.read(_reply(msg.data, "ERR", err))
    assert answer.status is PartnerStatus.REJECTED
    assert answer.refusal is not None and answer.refusal.code is ours
    assert answer.refusal.field == "TOT"


def test_a_reply_to_another_tcn_does_not_answer_this_request(
    store: Store, record: PersonRecord
) -> None:
    _, msg = _message(store, record)
    for tot, type2 in (("SRE", _hit()), ("ERR", Type2(errors=(ErrorMessage("116"),)))):
        answer = msg.read(_reply(msg.data, tot, type2, tcr="26000000000000X"))
        assert answer.status is PartnerStatus.ERROR
        assert answer.error == "reply does not answer this request" and answer.hits == ()


def test_a_reply_from_another_agency_or_to_another_is_an_error(
    store: Store, record: PersonRecord
) -> None:
    _, msg = _message(store, record)
    forged = msg.read(_reply(msg.data, "SRE", _hit(), origin=Agency("NCB", "FRA", "FR")))
    assert forged.status is PartnerStatus.ERROR and "reply from FR" in (forged.error or "")
    stray = msg.read(_reply(msg.data, "SRE", _hit(), destination=Agency("BKA", "DEU", "DE")))
    assert stray.status is PartnerStatus.ERROR and stray.hits == ()
    codeless = msg.read(_reply(msg.data, "SRE", _hit(), origin=Agency("INTERPOL", "XPO")))
    assert codeless.status is PartnerStatus.ERROR  # ORI must name the partner by its code
    assert "reply from INTERPOL to GB" in (codeless.error or "")


def test_a_transaction_that_is_no_answer_is_an_error_and_junk_a_codec_error(
    store: Store, record: PersonRecord
) -> None:
    _, msg = _message(store, record)
    echoed = msg.read(_reply(msg.data, "CPS", Type2()))
    assert echoed.status is PartnerStatus.ERROR and "CPS does not answer" in (echoed.error or "")
    with pytest.raises(CodecError, match=r"2\.064"):
        msg.read(_reply(msg.data, "SRE", Type2()))  # an SRE without its RLS
    with pytest.raises(CodecError, match=r"2\.064"):
        msg.read(_reply(msg.data, "SRE", Type2(candidates=Candidates("CPS", "I", 0))))
    with pytest.raises(CodecError):
        msg.read(b"<not-int-i/>")
    with pytest.raises(CodecError):
        msg.read(b"\x00\x01 not xml at all")
