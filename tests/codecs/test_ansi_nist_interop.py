"""Interop with nistitl (IDEMIA), an independent ANSI/NIST-ITL implementation, both directions.

Field for field across Types 1, 2, 4, 9, 10 and 14 (and 13, 15): what nistitl builds, we
read with the same values; what we write, nistitl reads with the same values.
"""

from __future__ import annotations

import datetime as dt
import struct
from typing import Any

import nistitl
import pytest

from exchange.codecs import ansi_nist_messages as messages
from exchange.codecs.ansi_nist import (
    Subfields,
    TaggedRecord,
    Transaction,
    Type4Record,
    decode_transaction,
    encode_transaction,
    text,
)
from exchange.model import (
    BiometricImage,
    DactySearchRequest,
    Envelope,
    Finger,
    FingerprintSet,
    Header,
    Impression,
    MessageType,
    Minutia,
    MinutiaKind,
    Purpose,
)

TYPE4_BODY = struct.Struct(">B6sBHHB")  # after nistitl's LEN and IDC: IMP FGP ISR HLL VLL GCA


def as_subfields(value: Any) -> Subfields:
    """nistitl's view of a field value (str, int, or list of str / item lists) as ours."""
    if isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else (v,) for v in value)
    return ((str(value),),)


def nistitl_fields(record: Any) -> dict[int, Subfields]:
    """Every field of a nistitl AsciiRecord except LEN (and IDC, and Type-1 CNT) and DATA."""
    skip = {1, 3} if record.type == 1 else {1, 2}
    return {
        f.tag: as_subfields(f.value)
        for f in record._fields
        if f.tag not in skip and not isinstance(f, nistitl.BinaryField)
    }


def nistitl_data(record: Any) -> bytes | None:
    for f in record._fields:
        if isinstance(f, nistitl.BinaryField):
            return bytes(f.value)
    return None


def build_with_nistitl() -> Any:
    msg = nistitl.Message()
    msg.TOT = "CPS"
    first = msg[0]
    first.DAT = "20261127"
    first.DAI = "DE/BKA"
    first.ORI = "NL/NAFIS"
    first.TCN = "0200000004F"
    first.TCR = "0200000003F"
    first.NSR = "19.68"
    first.NTR = "19.68"
    first += nistitl.Field(1, 13, [["INT-I", "4.22"]])
    first += nistitl.Field(1, 14, "20261127120000Z")
    r2 = nistitl.AsciiRecord(2)
    r2.IDC = 0
    r2 += nistitl.Field(2, 10, "NL-REF-42")
    r2 += nistitl.Field(2, 11, "TP/TP")
    r2 += nistitl.Field(2, 12, "detection")
    r2 += nistitl.Field(2, 13, "1")
    r2 += nistitl.Field(2, 30, [["a", "b", "c"], "single", ["d", ""]])
    msg += r2
    r9 = nistitl.AsciiRecord(9)
    r9.IDC = 1
    for tag, value in ((3, "1"), (4, "S"), (6, "2"), (10, "2"), (11, "0")):
        r9 += nistitl.Field(9, tag, value)
    r9 += nistitl.Field(9, 5, [["AFIS-X", "A"]])
    r9 += nistitl.Field(9, 7, [["T", "UC"]])
    r9 += nistitl.Field(9, 12, [["1", "05080508090", "2", "A"], ["2", "10161016180", "63", "B"]])
    msg += r9
    r4 = nistitl.BinaryRecord(4)
    r4.IDC = 1
    r4.pack(">BBBBBBBBHHB", 1, 2, 255, 255, 255, 255, 255, 0, 800, 750, 1, b"WSQ\x1c\x1dbytes")
    msg += r4
    r10 = nistitl.AsciiRecord(10)
    r10.IDC = 2
    r10.IMT = "FACE"
    r10.SRC = "NL/NAFIS"
    r10.HLL = "480"
    r10.VLL = "600"
    r10.CGA = "JPEGB"
    r10.DATA = b"\xff\xd8\x1c\x1dface"
    msg += r10
    r14 = nistitl.AsciiRecord(14)
    r14.IDC = 3
    for tag, value in (
        (3, "1"),
        (6, "800"),
        (7, "750"),
        (8, "1"),
        (9, "500"),
        (10, "500"),
        (11, "WSQ20"),
        (13, "3"),
    ):
        r14 += nistitl.Field(14, tag, value)
    r14.DATA = b"\x1c\x1e\x1fwsq"
    msg += r14
    return msg


def test_nistitl_built_transaction_reads_field_for_field() -> None:
    msg = build_with_nistitl()
    data = bytes(msg.NIST)
    tx = decode_transaction(data)
    records = list(msg)
    assert dict(tx.header) == nistitl_fields(records[0])
    assert len(tx.records) == len(records) - 1
    for ours, theirs in zip(tx.records, records[1:], strict=True):
        assert ours.type == theirs.type
        assert ours.idc == int(theirs.IDC)
        if isinstance(ours, Type4Record):
            imp, fgp, isr, hll, vll, gca, image = theirs.unpack(TYPE4_BODY.format)
            assert (
                ours.impression,
                ours.resolution,
                ours.width,
                ours.height,
                ours.compression,
            ) == (imp, isr, hll, vll, gca)
            assert ours.positions == tuple(b for b in fgp if b != 255)
            assert ours.data == image
        else:
            assert dict(ours.fields) == nistitl_fields(theirs)
            assert ours.data == nistitl_data(theirs)
    # Our writer produces exactly nistitl's bytes for the same records.
    assert encode_transaction(tx) == data


def test_our_transaction_reads_in_nistitl_field_for_field() -> None:
    tx = Transaction(
        {
            2: text("0300"),
            4: text("CPS"),
            5: text("20261127"),
            7: text("DE/BKA"),
            8: text("GB/UKFP"),
            9: text("GB-1"),
            10: text("GB-0"),
            11: text("19.68"),
            12: text("19.68"),
            13: (("INT-I", "4.22"),),
            14: text("20261127120000Z"),
        },
        (
            TaggedRecord(2, 0, {10: text("GB-REF"), 30: (("a", "b"), ("c",), ("", "d"))}),
            TaggedRecord(
                9,
                1,
                {
                    3: text("1"),
                    4: text("S"),
                    6: text("1"),
                    10: text("1"),
                    12: (("1", "01000200090", "2", "A"),),
                },
            ),
            Type4Record(1, 1, (1,), 800, 750, 1, b"\x1c\x1d\x1e\x1fwsq"),
            TaggedRecord(10, 2, {3: text("FACE"), 11: text("JPEGB")}, b"\xff\xd8\x1c"),
            TaggedRecord(13, 3, {3: text("4"), 11: text("PNG"), 13: text("0")}, b"\x89PNG"),
            TaggedRecord(14, 1, {3: text("1"), 11: text("WSQ20"), 13: text("1")}, b"\x1cwsq"),
            TaggedRecord(15, 4, {3: text("10"), 11: text("JP2"), 13: text("22")}, b"jp2"),
        ),
    )
    msg = nistitl.Message()
    msg.parse(encode_transaction(tx))
    records = list(msg)
    assert nistitl_fields(records[0]) == dict(tx.header)
    cnt = [[int(a), int(b)] for a, b in records[0].CNT]
    assert cnt == [[1, 7]] + [[r.type, r.idc] for r in tx.records]
    for ours, theirs in zip(tx.records, records[1:], strict=True):
        assert theirs.type == ours.type
        assert int(theirs.IDC) == ours.idc
        if isinstance(ours, Type4Record):
            imp, fgp, isr, hll, vll, gca, image = theirs.unpack(TYPE4_BODY.format)
            assert (imp, fgp[0], isr, hll, vll, gca, image) == (
                1,
                1,
                0,
                800,
                750,
                1,
                b"\x1c\x1d\x1e\x1fwsq",
            )
        else:
            assert nistitl_fields(theirs) == dict(ours.fields)
            assert nistitl_data(theirs) == ours.data


def search_envelope() -> Envelope:
    fingers = tuple(
        Finger(
            p,
            (Minutia(100, 100, 90), Minutia(200, 150, 180, MinutiaKind.BIFURCATION, 2)),
            BiometricImage(b"wsq-%d" % p, "WSQ20", 800, 750, 500),
        )
        for p in (1, 2, 6, 7)
    )
    header = Header(
        "GB-9",
        "GB-9",
        dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC),
        "GB/UKFP",
        "NL/NAFIS",
        MessageType.DACTY_SEARCH_REQUEST,
        Purpose.DETECTION,
    )
    return Envelope(
        header, DactySearchRequest("GB-REF-9", "TP/TP", FingerprintSet(fingers, Impression.ROLLED))
    )


@pytest.mark.parametrize("legacy", [False, True])
def test_our_cps_reads_in_nistitl(legacy: bool) -> None:
    envelope = search_envelope()
    msg = nistitl.Message()
    msg.parse(messages.encode(envelope, legacy_images=legacy))
    assert msg.TOT == "CPS"
    assert msg[0].TCN == "GB-9"
    assert msg[(2, 0)]._10 == "GB-REF-9"
    assert msg[(2, 0)]._11 == "TP/TP"
    first9 = msg[(9, 1)]
    assert first9._6 == "1"
    # 100 px at 500 ppi = 508 units; Y from the bottom of the 750 px (3810 units) image.
    assert first9._12 == [["1", "05083302090", "2", "A"], ["2", "10163048180", "62", "B"]]
    image_type = 4 if legacy else 14
    images = list(msg.iter(image_type))
    assert len(images) == 4
    if legacy:
        assert images[0].unpack(TYPE4_BODY.format)[-1] == b"wsq-1"
    else:
        assert images[0].DATA == b"wsq-1"
        assert images[0]._13 == "1"
        assert images[0]._11 == "WSQ20"


def test_nistitl_built_cps_decodes_to_the_model() -> None:
    envelope = messages.decode(bytes(build_with_nistitl().NIST))
    assert envelope.header.message_id == "0200000004F"
    assert envelope.header.correlation_id == "0200000003F"
    assert envelope.header.sender == "NL/NAFIS"
    assert envelope.header.receiver == "DE/BKA"
    assert envelope.header.purpose is Purpose.DETECTION
    assert envelope.header.timestamp == dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
    body = envelope.body
    assert isinstance(body, DactySearchRequest)
    assert (body.reference, body.search_type, body.max_candidates) == ("NL-REF-42", "TP/TP", 1)
    prints = body.fingerprints
    assert prints.impression is Impression.ROLLED and prints.ppi == 500
    # IDC 1: Type-9 minutiae of finger 2 with its Type-4 image; IDC 3: a Type-14 image alone.
    first, second = prints.fingers
    assert first.position == 2
    assert first.minutiae == (
        Minutia(100, 650, 90, MinutiaKind.RIDGE_ENDING, 100),
        Minutia(200, 550, 180, MinutiaKind.BIFURCATION, 0),
    )
    assert first.image == BiometricImage(b"WSQ\x1c\x1dbytes", "WSQ20", 800, 750, 500)
    assert second == Finger(3, (), BiometricImage(b"\x1c\x1e\x1fwsq", "WSQ20", 800, 750, 500))


def test_nistitl_built_incits_378_minutiae_decode_to_the_model() -> None:
    # INT-I v6 carries minutiae in the INCITS 378 block of Type-9 (9.126-9.141, FMT U).
    msg = build_with_nistitl()
    r9 = msg[(9, 1)]
    del r9[12]
    r9._4 = "U"
    for tag, value in ((130, "1"), (131, "500"), (134, "2"), (136, "1")):
        r9 += nistitl.Field(9, tag, value)
    r9 += nistitl.Field(9, 137, [["1", "100", "650", "135", "1", "77"]])
    body = messages.decode(bytes(msg.NIST)).body
    assert isinstance(body, DactySearchRequest)
    first = body.fingerprints.fingers[0]
    assert first.position == 2
    assert first.minutiae == (Minutia(100, 650, 90, MinutiaKind.RIDGE_ENDING, 77),)
