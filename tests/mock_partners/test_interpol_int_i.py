"""The mock Interpol node answers INT-I v6 XML: CPS/MPS/NPS in, SRE or ERR out.

A real node on 127.0.0.1 (`running_interpol_node`, ephemeral port) asked over HTTP. Its
answers are validated against Interpol's int-i.xsd where ../shared is present.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import cache
from pathlib import Path

from lxml import etree

from exchange.codecs import int_i_codes as codes
from exchange.codecs import int_i_xml
from exchange.codecs.int_i_envelope import tcn_check_character, transaction_from_envelope
from exchange.codecs.int_i_model import IntiTransaction, SubjectData
from exchange.countries import alpha3
from exchange.model import (
    DactySearchRequest,
    Envelope,
    FingerprintSet,
    Header,
    Impression,
    MessageType,
    Purpose,
)
from mock_partners import population
from mock_partners.interpol_node import NODE_ID, InterpolNode
from tests.mock_partners.test_interpol_node import PRINTS_SUBJECT, SEED, XML, Post, _served
from tests.shared_data import SHARED, THIRDPARTY

XSD = THIRDPARTY / "interpol-int-i/XMLschemas/int-i/1.0/int-i.xsd"
NOT_HELD = 9_999  # a subject the node does not hold


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def _valid(data: bytes) -> None:
    """int-i.xsd accepts `data` (checked where ../shared is present; the GPL schema is not
    shipped)."""
    if SHARED is None:
        return
    assert _schema().validate(etree.fromstring(data)), _schema().error_log.last_error


def _tcn(n: int) -> str:
    """An INT-I TCN of 2026 with serial `n`."""
    digits = f"26{n:012d}"
    return digits + tcn_check_character(digits)


def _search(
    node: InterpolNode,
    tcn: str,
    subject: int,
    tot: str | None = None,
    sender: str = "GB",
    impression: Impression = Impression.ROLLED,
) -> bytes:
    prints = population.fingerprints(SEED, subject, capture=1)
    prints = FingerprintSet(prints.fingers, impression, prints.ppi)
    stype = "LT/TP" if impression is Impression.LATENT else "TP/TP"
    header = Header(
        tcn, tcn, node.node.clock(), sender, NODE_ID, MessageType.DACTY_SEARCH_REQUEST,
        Purpose.INVESTIGATION,
    )  # fmt: skip
    tx = transaction_from_envelope(
        Envelope(header, DactySearchRequest("GB-PROBE-9", stype, prints)),
        destination_country="XPO",
    )
    if tot is not None and tot != tx.tot:  # a reply TOT names what it answers (1.010 TCR)
        tcr = tcn if tot in {codes.TOT_SRE, codes.TOT_ERR} else None
        tx = dataclasses.replace(tx, type1=dataclasses.replace(tx.type1, tot=tot, tcr=tcr))
    return int_i_xml.encode(tx)


async def _answer(post: Post, data: bytes, status: int = 200) -> IntiTransaction:
    got, reply = await post(data, XML)
    assert got == status, reply
    _valid(reply)
    return int_i_xml.decode(reply)


def _identity(subject: int) -> SubjectData:
    """What the node's gallery record says of `subject`, as an SRE's subject carries it."""
    rec = population.person(SEED, subject, NODE_ID).record
    assert rec.name is not None and rec.date_of_birth is not None
    dob = rec.date_of_birth
    assert dob.month is not None and dob.day is not None
    return SubjectData(
        surname=rec.name.family,
        given_name=rec.name.given[0] if rec.name.given else None,
        middle_names=rec.name.given[1:],
        birth_date=dt.date(dob.year, dob.month, dob.day),
        sex=rec.sex.value,
        citizenship=tuple(alpha3(n) for n in rec.nationalities),
    )


def test_a_cps_hit_is_an_sre_naming_the_person_and_a_miss_an_sre_n(tmp_path: Path) -> None:
    async def scenario(node: InterpolNode, post: Post) -> None:
        sre = await _answer(post, _search(node, _tcn(1), PRINTS_SUBJECT))
        assert sre.tot == codes.TOT_SRE and sre.type1.tcr == _tcn(1)
        assert (sre.type1.origin.code, sre.type1.destination.code) == (NODE_ID, "GB")
        assert sre.type2 is not None and sre.type2.candidates is not None
        assert (sre.type2.candidates.result, sre.type2.candidates.total) == ("I", 1)
        assert sre.type2.person is not None
        assert sre.type2.person.value == population.reference_of(SEED, PRINTS_SUBJECT, NODE_ID)
        assert sre.type2.subject == _identity(PRINTS_SUBJECT)

        miss = await _answer(post, _search(node, _tcn(2), NOT_HELD))
        assert miss.tot == codes.TOT_SRE and miss.type2 is not None
        assert miss.type2.candidates is not None and miss.type2.candidates.result == "N"
        assert miss.type2.subject is None and miss.type2.person is None

    _served(tmp_path, scenario)


def test_an_nps_is_searched_as_a_ten_print_search_and_an_mps_as_a_latent(
    tmp_path: Path,
) -> None:
    async def scenario(node: InterpolNode, post: Post) -> None:
        nps = await _answer(post, _search(node, _tcn(3), PRINTS_SUBJECT, "NPS"))
        assert nps.tot == codes.TOT_SRE and nps.type2 is not None
        assert nps.type2.candidates is not None and nps.type2.candidates.result == "I"
        assert nps.type2.candidates.tot == "NPS"  # the search it answers
        latent = _search(node, _tcn(4), NOT_HELD, impression=Impression.LATENT)
        assert int_i_xml.decode(latent).tot == codes.TOT_MPS
        mps = await _answer(post, latent)
        assert mps.tot == codes.TOT_SRE and mps.type2 is not None
        assert mps.type2.candidates is not None and mps.type2.candidates.tot == "MPS"

    _served(tmp_path, scenario)


def test_what_the_node_does_not_do_is_refused_with_int_i_error_116(tmp_path: Path) -> None:
    async def scenario(node: InterpolNode, post: Post) -> None:
        for n, tot in enumerate(("ATP", "SRE"), start=5):
            tcn = _tcn(n)
            err = await _answer(post, _search(node, tcn, PRINTS_SUBJECT, tot))
            assert err.tot == codes.TOT_ERR and err.type1.tcr == tcn
            assert err.type2 is not None
            (message,) = err.type2.errors
            assert message.code == "116"  # MRT_INT-I_LookupCodes.csv: INVALID TYPE OF TRANSACTION
            assert message.field_mnemonic == "TOT" and tot in (message.text or "")

    _served(tmp_path, scenario)


def test_a_stranger_is_refused_with_int_i_error_003(tmp_path: Path) -> None:
    async def scenario(node: InterpolNode, post: Post) -> None:
        err = await _answer(post, _search(node, _tcn(101), PRINTS_SUBJECT, sender="XX"))
        assert err.tot == codes.TOT_ERR and err.type2 is not None
        assert err.type2.errors[0].code == "003" and err.type2.subject is None

    _served(tmp_path, scenario)


def test_unreadable_int_i_gets_an_err_naming_the_xml_path_with_400(tmp_path: Path) -> None:
    async def scenario(node: InterpolNode, post: Post) -> None:
        good = _search(node, _tcn(8), PRINTS_SUBJECT)
        root = etree.fromstring(good)
        date = root.find(f".//{{{codes.NS_BIOM}}}TransactionDate")
        assert date is not None
        date.getparent().remove(date)
        err = await _answer(post, etree.tostring(root), 400)
        assert err.tot == codes.TOT_ERR and err.type1.tcr == _tcn(8)  # read anyway
        assert err.type1.destination.code == "GB"
        assert err.type2 is not None
        (message,) = err.type2.errors
        assert message.code == "101" and "TransactionDate" in (message.field_mnemonic or "")
        bad_tot = good.replace(b">CPS<", b">XYZ<")
        err = await _answer(post, bad_tot, 400)
        assert err.type2 is not None and err.type2.errors[0].code == "116"
        junk = await _answer(post, b'<x xmlns="http://interpol.gov/int-i/1.0"><<', 400)
        assert junk.type1.tcr == "00000000000000Z" and junk.type2 is not None

    _served(tmp_path, scenario)


def test_a_repeated_tcn_gets_the_same_reply_and_is_not_searched_again(tmp_path: Path) -> None:
    async def scenario(node: InterpolNode, post: Post) -> None:
        data = _search(node, _tcn(9), PRINTS_SUBJECT)
        first = await post(data, XML)
        again = await post(data, XML)
        assert first == again and first[0] == 200

    _served(tmp_path, scenario)
