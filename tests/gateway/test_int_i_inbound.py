"""INT-I v6 into the UK gateway's partner API (`POST /int-i/v1/transactions`), end to end.

A real UK gateway on 127.0.0.1 with INTERPOL as a partner; a person enrolled through the client
API; Interpol's CPS of another capture of that person's prints, in both INT-I encodings. The
answer comes in the encoding the search came in, validates (the XML against Interpol's
int-i.xsd), names the hit's reference but never the person (step-2 data), and is audited;
what cannot be read, what is not a search and a stranger get INT-I ERRs.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import io
from pathlib import Path

import aiohttp
from PIL import Image

from exchange.codecs import int_i_codes as codes
from exchange.codecs import int_i_traditional, int_i_xml, uk_json
from exchange.codecs.int_i_model import IntiTransaction
from exchange.gateway.config import ExtractionConfig
from exchange.gateway.inbound.partner_api import INT_I_PATH
from exchange.translate import Outbound, translate
from mock_partners import population
from mock_partners.cluster import Cluster
from tests.codecs.test_int_i_xml import assert_valid
from tests.gateway.test_gateway_e2e import SEED, _call, run
from tests.pool_hold import hold_until
from tests.shared_data import THIRDPARTY, needs_shared

PERSON = 57
FLATS = "nist-type-4-14-flats.eft"  # the tpcard person's slaps, images only


def _cps(message_id: str, sender: str = "INTERPOL", capture: int = 1) -> IntiTransaction:
    """Interpol's CPS of a capture of PERSON's prints (what `translate --to int-i-xml` makes)."""
    probe = population.person(SEED, PERSON, owner="GB", capture=capture).record
    out = Outbound(
        message_id=message_id,
        correlation_id=message_id,
        timestamp=dt.datetime.now(dt.UTC),
        sender=sender,
        receiver="GB",
        message="dacty-search",
    )
    return int_i_xml.decode(translate(uk_json.encode(probe), "uk-json", "int-i-xml", out))


async def _enrol(c: Cluster, s: aiohttp.ClientSession) -> str:
    person = population.person(SEED, PERSON, owner="GB").record
    body = uk_json.record_to_json(person)
    status, enrolled = await _call(
        s, "POST", f"{c.client_url}/v1/records", "/v1/records", json=body
    )
    assert status == 201, enrolled
    return str(enrolled["reference"])


async def _post(c: Cluster, s: aiohttp.ClientSession, data: bytes) -> tuple[int, str, bytes]:
    url = f"http://127.0.0.1:{c.gateway.partner_port}{INT_I_PATH}"
    async with s.post(url, data=data, headers={"Content-Type": "application/xml"}) as r:
        return r.status, r.content_type, await r.read()


@needs_shared
def test_a_cps_in_either_encoding_gets_an_sre_naming_the_hit_not_the_person(
    tmp_path: Path,
) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        reference = await _enrol(c, s)
        person = population.person(SEED, PERSON, owner="GB").record
        assert person.name is not None

        status, kind, data = await _post(c, s, int_i_xml.encode(_cps("xml-1")))
        assert (status, kind) == (200, "application/xml"), data
        assert_valid(data)
        sre = int_i_xml.decode(data)
        assert sre.tot == codes.TOT_SRE and sre.type1.tcr == _cps("xml-1").type1.tcn
        assert codes.TCN_PATTERN.fullmatch(sre.type1.tcn)
        assert (sre.type1.origin.code, sre.type1.origin.country) == ("GB", "GBR")
        assert sre.type2 is not None and sre.type2.candidates is not None
        assert sre.type2.candidates.result == codes.RESULT_HIT
        assert sre.type2.person is not None and sre.type2.person.value == reference
        assert sre.type2.subject is None  # the person is step-2 data
        assert person.name.family.encode() not in data

        traditional = int_i_traditional.encode(_cps("trad-1"))
        status, kind, data = await _post(c, s, traditional)
        assert (status, kind) == (200, "application/octet-stream"), data
        sre = int_i_traditional.decode(data)
        assert sre.type2 is not None and sre.type2.person is not None
        assert sre.type2.person.value == reference and sre.type2.subject is None

        # A retry of the same TCN is the same answer, not a second search.
        again = await _post(c, s, traditional)
        assert again == (status, kind, data)

        uk = c.gateway.node
        assert uk is not None
        rows = uk.store.connection.execute(
            "SELECT direction, outcome, partner FROM audit WHERE partner = 'INTERPOL'"
        ).fetchall()
        assert rows.count(("received", "accepted", "INTERPOL")) == 2
        assert rows.count(("sent", "hit", "INTERPOL")) == 2
        assert rows.count(("received", "duplicate", "INTERPOL")) == 1

    run(tmp_path, scenario, partner_ids=("DE", "INTERPOL"))


@needs_shared
def test_what_is_no_search_or_cannot_be_read_or_comes_from_a_stranger_gets_an_err(
    tmp_path: Path,
) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        await _enrol(c, s)
        cps = _cps("err-1")

        # Not a search: ATP is refused with ERR 116.
        atp = dataclasses.replace(cps, type1=dataclasses.replace(cps.type1, tot=codes.TOT_ATP))
        status, _, data = await _post(c, s, int_i_xml.encode(atp))
        err = int_i_xml.decode(data)
        assert status == 200 and err.tot == codes.TOT_ERR and err.type2 is not None
        assert err.type2.errors[0].code == "116" and err.type1.tcr == cps.type1.tcn

        # Unreadable XML: ERR 101 naming the XML path, HTTP 400, to the TCN it names.
        named = _cps("err-2")
        broken = int_i_xml.encode(named).replace(
            b"<int-i:TransactionCategoryCode>CPS<", b"<int-i:TransactionCategoryCode>XYZ<"
        )
        assert broken != int_i_xml.encode(named)
        status, _, data = await _post(c, s, broken)
        assert status == 400
        assert_valid(data)
        err = int_i_xml.decode(data)
        assert err.type2 is not None and err.type2.errors[0].code == "116"
        assert "TransactionCategoryCode" in (err.type2.errors[0].field_mnemonic or "")
        assert err.type1.tcr == named.type1.tcn

        # Unreadable traditional bytes: an ERR in that encoding, naming the record and field.
        cut = int_i_traditional.encode(cps)[:-7]
        status, kind, data = await _post(c, s, cut)
        assert (status, kind) == (400, "application/octet-stream")
        err = int_i_traditional.decode(data)
        assert err.type2 is not None and err.type2.errors[0].code == "101"
        assert (err.type2.errors[0].field_mnemonic or "").startswith("Type-")

        # Not XML nor ANSI/NIST at all.
        status, _, data = await _post(c, s, b"hello")
        assert status == 400 and int_i_traditional.decode(data).tot == codes.TOT_ERR

        # A sender that is no partner of the UK: ERR 003.
        stranger = int_i_xml.encode(_cps("err-3", sender="FR"))
        status, _, data = await _post(c, s, stranger)
        err = int_i_xml.decode(data)
        assert err.type2 is not None and err.type2.errors[0].code == "003", data

    run(tmp_path, scenario, partner_ids=("DE", "INTERPOL"))


@needs_shared
def test_a_tcn_reused_for_another_transaction_gets_err_201_not_the_first_answer(
    tmp_path: Path,
) -> None:
    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        await _enrol(c, s)
        cps = _cps("tcn-1")
        status, _, first = await _post(c, s, int_i_xml.encode(cps))
        assert status == 200 and int_i_xml.decode(first).tot == codes.TOT_SRE
        # the same search encoded again a day later (1.005 DAT): the same answer
        later = dataclasses.replace(
            cps, type1=dataclasses.replace(cps.type1, date=cps.type1.date + dt.timedelta(days=1))
        )
        assert await _post(c, s, int_i_xml.encode(later)) == (200, "application/xml", first)
        # another capture's prints under the same TCN: refused, not answered as the first
        other = dataclasses.replace(_cps("tcn-2", capture=2), type1=cps.type1)
        status, _, data = await _post(c, s, int_i_xml.encode(other))
        assert status == 409 and data != first
        err = int_i_xml.decode(data)
        assert err.tot == codes.TOT_ERR and err.type2 is not None
        assert err.type2.errors[0].code == "201" and err.type1.tcr == cps.type1.tcn
        # the same transaction in the other encoding: its answer is stored in XML, so refused
        status, _, data = await _post(c, s, int_i_traditional.encode(cps))
        assert status == 409 and int_i_traditional.decode(data).tot == codes.TOT_ERR

        uk = c.gateway.node
        assert uk is not None
        rows = uk.store.connection.execute(
            "SELECT direction, outcome FROM audit WHERE partner = 'INTERPOL' AND message_id = ?",
            (cps.type1.tcn,),
        ).fetchall()
        assert rows == [
            ("received", "accepted"),
            ("received", "duplicate"),
            ("received", "refused"),
            ("received", "refused"),
        ]

    run(tmp_path, scenario, partner_ids=("DE", "INTERPOL"))


# -- image-only prints: extracted in the extraction pool, not on the writer ------------------


def _nist(name: str) -> bytes:
    return (THIRDPARTY / "wct097-eft-viewer" / name).read_bytes()


def _image_cps(message_id: str, eft: bytes) -> IntiTransaction:
    """Interpol's CPS of an ANSI/NIST transaction's images alone (Type-14, no minutiae)."""
    out = Outbound(
        message_id=message_id,
        correlation_id=message_id,
        timestamp=dt.datetime.now(dt.UTC),
        sender="INTERPOL",
        receiver="GB",
        message="dacty-search",
    )
    tx = int_i_xml.decode(translate(eft, "ansi-nist", "int-i-xml", out))
    assert tx.records and all(r.image and not r.minutiae for r in tx.records)
    return tx


async def _enrol_tpcard(c: Cluster, s: aiohttp.ClientSession) -> str:
    """NIST's tpcard person, enrolled through the client API as images (the UK extracts)."""
    person = population.person(SEED, PERSON + 1, owner="GB").record
    body = uk_json.record_to_json(dataclasses.replace(person, dna=None, face=None))
    tpcard = base64.b64encode(_nist("nist-type-14-tpcard.eft")).decode("ascii")
    body["fingerprints"] = {"ansi_nist": tpcard}
    status, enrolled = await _call(
        s, "POST", f"{c.client_url}/v1/records", "/v1/records", json=body
    )
    assert status == 201, enrolled
    return str(enrolled["reference"])


def _blank_png(side: int = 400) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (side, side), 200).save(buf, format="PNG")
    return buf.getvalue()


@needs_shared
def test_an_image_only_cps_is_extracted_in_the_pool_and_hits_the_same_person(
    tmp_path: Path,
) -> None:
    """NIST's flats (slaps 13-15 as WSQ images, no minutiae) as Interpol's CPS: the UK cuts and
    extracts them in its pool and answers an SRE naming the tpcard person enrolled there;
    prints with no usable finger get ERR 501 naming the records, claimed and audited."""

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        reference = await _enrol_tpcard(c, s)
        status, _, data = await _post(c, s, int_i_xml.encode(_image_cps("img-1", _nist(FLATS))))
        assert status == 200, data
        sre = int_i_xml.decode(data)
        assert sre.tot == codes.TOT_SRE and sre.type2 is not None
        assert sre.type2.candidates is not None
        assert sre.type2.candidates.result == codes.RESULT_HIT
        assert sre.type2.person is not None and sre.type2.person.value == reference

        cps = _image_cps("img-2", _nist(FLATS))
        blank = _blank_png()
        records = tuple(
            dataclasses.replace(r, image=blank, compression="PNG", width=400, height=400, xml=None)
            for r in cps.records
        )
        status, _, data = await _post(
            c, s, int_i_xml.encode(dataclasses.replace(cps, records=records))
        )
        err = int_i_xml.decode(data)
        assert status == 200 and err.tot == codes.TOT_ERR and err.type2 is not None
        (error,) = err.type2.errors
        assert error.code == "501" and error.field_mnemonic == "Type-4/13/14", error
        assert error.text is not None and "no usable finger" in error.text
        uk = c.gateway.node
        assert uk is not None
        rows = uk.store.connection.execute(
            "SELECT outcome FROM audit WHERE partner = 'INTERPOL' AND direction = 'sent'"
        ).fetchall()
        assert sorted(rows) == [("hit",), ("refused",)]

    run(tmp_path, scenario, partner_ids=("DE", "INTERPOL"))


@needs_shared
def test_a_full_pool_is_int_is_temporary_refusal_and_the_retry_is_searched(
    tmp_path: Path,
) -> None:
    """With the pool's one slot held, an image-only CPS is 503 with Retry-After before any
    claim (the retry of that TCN is searched, not told to wait), and a CPS carrying minutiae
    is answered meanwhile (nothing of it waits for the pool)."""

    async def scenario(c: Cluster, s: aiohttp.ClientSession) -> None:
        reference = await _enrol_tpcard(c, s)
        node = c.gateway.node
        assert node is not None and node.extraction is not None
        images = int_i_xml.encode(_image_cps("busy-1", _nist(FLATS)))
        release = tmp_path / "release-the-pool"
        slow = asyncio.create_task(node.extraction.run(hold_until, str(release)))  # the one slot
        await asyncio.sleep(0)
        try:
            url = f"http://127.0.0.1:{c.gateway.partner_port}{INT_I_PATH}"
            async with s.post(url, data=images, headers={"Content-Type": "application/xml"}) as r:
                assert r.status == 503, await r.text()
                assert int(r.headers["Retry-After"]) >= 1
            status, _, data = await _post(c, s, int_i_xml.encode(_cps("busy-minutiae")))
            assert status == 200 and int_i_xml.decode(data).tot == codes.TOT_SRE
            assert not slow.done()  # answered while the pool was still full
        finally:
            release.touch()
            await slow
        status, _, data = await _post(c, s, images)  # the same TCN again, the pool free
        assert status == 200, data
        sre = int_i_xml.decode(data)
        assert sre.type2 is not None and sre.type2.person is not None
        assert sre.type2.person.value == reference

    run(
        tmp_path,
        scenario,
        partner_ids=("DE", "INTERPOL"),
        uk_overrides={"extraction": ExtractionConfig(workers=1, queue=0)},
    )
