"""Seed inputs for `bench.fuzz_ansi_nist`, one corpus per input format.

Our own encoders' output (envelopes and transactions built here, and `examples/`), plus the
real files read at run time from the workplace's read-only `shared/thirdparty/` when it
exists: NIST's ANSI/NIST samples (`usnistgov-libbiomeval/*.an2k`, `wct097-eft-viewer/*.eft`),
libbiomeval's minutiae records (`fmr.*`) and Interpol's INT-I XML samples
(`interpol-int-i/XMLsamples`). The INT-I files are GPL-3 and are only read, never copied.
Everything here is deterministic, so an input number names one input (`--replay`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from functools import cache
from pathlib import Path

import nistitl
from lxml import etree

from bench.codec_ansi_nist import sample_cps
from exchange.codecs import ansi_nist_messages as messages
from exchange.codecs import ansi_nist_records as records
from exchange.codecs import int_i_traditional, int_i_xml, minutiae_records, uk_json
from exchange.codecs.ansi_nist_records import BinaryRecord, Record, TaggedRecord, Type4Record, text
from exchange.codecs.errors import CodecError
from exchange.codecs.int_i_envelope import encode_envelope
from exchange.codecs.int_i_model import Candidates, IntiTransaction, Offence, SubjectData, Type2
from exchange.model import (
    BiometricImage,
    Candidate,
    DactySearchRequest,
    Envelope,
    ErrorBody,
    ErrorCode,
    Finger,
    FingerprintSet,
    Header,
    Impression,
    MatchType,
    MessageType,
    Minutia,
    MinutiaKind,
    Modality,
    ProbeResult,
    Purpose,
    SearchReply,
)

_ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 12, 7, 17, 0, tzinfo=dt.UTC)


def thirdparty() -> Path | None:
    """`shared/thirdparty` beside the checkout (or under `$PRUM_SHARED`), if it is there."""
    places = [Path(os.environ["PRUM_SHARED"])] if os.environ.get("PRUM_SHARED") else []
    places += [parent / "shared" for parent in _ROOT.parents]
    for place in places:
        if (place / "thirdparty").is_dir():
            return place / "thirdparty"
    return None


def _files(*patterns: str) -> list[bytes]:
    root = thirdparty()
    if root is None:
        return []
    return [p.read_bytes() for pattern in patterns for p in sorted(root.glob(pattern))]


@cache
def int_i_schema() -> etree.XMLSchema | None:
    """Interpol's int-i.xsd (it imports itl.xsd and NIEM by relative paths), if present."""
    root = thirdparty()
    xsd = root / "interpol-int-i/XMLschemas/int-i/1.0/int-i.xsd" if root else None
    if xsd is None or not xsd.is_file():
        return None
    return etree.XMLSchema(etree.parse(str(xsd)))


def _header(kind: MessageType, message_id: str = "26000000000001A") -> Header:
    return Header(message_id, "26000000000000Z", NOW, "GBR-NCA", "INT", kind, Purpose.INVESTIGATION)


def int_i_envelopes() -> list[Envelope]:
    image = BiometricImage(b"\xff\xa0fake wsq", "WSQ20", 400, 500, 500)
    fingers = (
        Finger(1, (Minutia(10, 20, 90), Minutia(30, 40, 180, MinutiaKind.BIFURCATION, 80)), image),
        Finger(2, (Minutia(5, 6, 7),)),
    )
    latent = FingerprintSet(
        (Finger(0, (Minutia(100, 200, 45), Minutia(300, 120, 270)), image),), Impression.LATENT
    )
    hits = (Candidate("x", 1.0, MatchType.CANDIDATE), Candidate("y", 0.5, MatchType.CANDIDATE))
    error = ErrorBody(ErrorCode.UNKNOWN_REFERENCE, "no such hit", None, "26000000000000Z")
    return [
        Envelope(
            _header(MessageType.DACTY_SEARCH_REQUEST),
            DactySearchRequest("UK-REF-1", "TP/TP", FingerprintSet(fingers)),
        ),
        Envelope(
            _header(MessageType.DACTY_SEARCH_REQUEST),
            DactySearchRequest("UK-MARK-1", "LT/TP", latent),
        ),
        Envelope(
            _header(MessageType.SEARCH_REPLY),
            SearchReply("26000000000000Z", Modality.FINGERPRINT, (ProbeResult("p", hits),)),
        ),
        Envelope(
            _header(MessageType.SEARCH_REPLY),
            SearchReply("26000000000000Z", Modality.FINGERPRINT, (ProbeResult("p"),)),
        ),
        Envelope(_header(MessageType.ERROR), error),
    ]


def int_i_transactions() -> list[IntiTransaction]:
    """Interpol's samples (when present), and transactions built from our envelopes."""
    out = [int_i_xml.decode(data) for data in _files("interpol-int-i/XMLsamples/*.xml")]
    for envelope in int_i_envelopes():
        out.append(int_i_xml.decode(encode_envelope(envelope)))
    reply = out[-3]
    assert reply.type2 is not None
    subject = SubjectData("Doe", "Jane", ("Q",), dt.date(1980, 2, 3), "F", ("GBR",))
    offence = Offence(code="NLC", description="Fraud", between=(NOW.date(), NOW.date()))
    t2 = Type2(
        subject=subject,
        offence=offence,
        candidates=Candidates("CPS", "I", 1, manual_verification=True),
    )
    out.append(dataclasses.replace(reply, type2=t2))
    return out


def int_i_xml_seeds() -> list[bytes]:
    return _files("interpol-int-i/XMLsamples/*.xml") + [
        int_i_xml.encode(tx) for tx in int_i_transactions()
    ]


def int_i_traditional_seeds() -> list[bytes]:
    out = []
    for tx in int_i_transactions():
        try:
            out.append(int_i_traditional.encode(tx))
        except CodecError:  # XML-only content the traditional encoding cannot carry
            continue
    return out


def minutiae_seeds() -> list[bytes]:
    prints = FingerprintSet(
        (
            Finger(1, (Minutia(10, 20, 90), Minutia(300, 40, 180, MinutiaKind.BIFURCATION, 80))),
            Finger(7, (Minutia(5, 6, 7, MinutiaKind.OTHER, 1),)),
        ),
        Impression.ROLLED,
    )
    ours = [
        minutiae_records.encode(minutiae_records.from_fingerprint_set(prints, fmt))
        for fmt in minutiae_records.RecordFormat
    ]
    return ours + _files("usnistgov-libbiomeval/fmr.*")


def ansi_nist_seeds() -> list[bytes]:
    """Transactions of our ANSI/NIST writer and of nistitl (the first fuzzer's seeds)."""
    out = [
        messages.encode(sample_cps(images=False)),
        messages.encode(sample_cps(images=True)),
        messages.encode(sample_cps(images=True), legacy_images=True),
    ]
    stamp = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)

    def header(kind: MessageType) -> Header:
        return Header("GB-2", "GB-1", stamp, "DE/BKA", "GB/UKFP", kind, Purpose.DETECTION)

    latent = FingerprintSet(
        (
            Finger(
                0,
                (Minutia(100, 200, 45), Minutia(300, 120, 270)),
                BiometricImage(b"\xff\xd8jpeg\x1c\x1d", "JPEGB", 400, 400, 1000),
            ),
        ),
        Impression.LATENT,
        1000,
    )
    out.append(
        messages.encode(
            Envelope(
                header(MessageType.DACTY_SEARCH_REQUEST),
                DactySearchRequest("MARK-9", "LT/TP", latent, 10),
            )
        )
    )
    reply = SearchReply(
        "GB-1",
        Modality.FINGERPRINT,
        (ProbeResult("GB-REF-1", (Candidate("DE-778", 0.93, MatchType.CANDIDATE),)),),
    )
    out.append(messages.encode(Envelope(header(MessageType.SEARCH_REPLY), reply)))
    err = ErrorBody(ErrorCode.QUOTA_EXCEEDED, "daily TP/TP capacity used", None, "GB-1")
    out.append(messages.encode(Envelope(header(MessageType.ERROR), err)))
    palm = FingerprintSet(
        (Finger(25, (Minutia(2400, 3000, 90),), BiometricImage(b"jp2", "JP2", 4000, 4000, 500)),),
        Impression.PALM,
    )
    out.append(
        messages.encode(
            Envelope(
                header(MessageType.DACTY_SEARCH_REQUEST),
                DactySearchRequest("PALM-1", "PP/ULP", palm, 5),
            )
        )
    )
    out.append(nistitl_seed())
    out.append(nistitl_seed(incits=True))
    return out


def nistitl_seed(*, incits: bool = False) -> bytes:
    msg = nistitl.Message()
    msg.TOT = "CPS"
    msg[0].DAT = "20261127"
    msg[0].TCN = "NL-1"
    r2 = nistitl.AsciiRecord(2)
    r2.IDC = 0
    r2._10 = "NL-REF"
    r2._11 = "TP/TP"
    r2._13 = "1"
    msg += r2
    r9 = nistitl.AsciiRecord(9)
    r9.IDC = 1
    for tag, value in ((3, "1"), (4, "S"), (6, "1"), (10, "1"), (11, "0")):
        r9 += nistitl.Field(9, tag, value)
    if incits:  # the INCITS 378 block that INT-I v6 uses instead of 9.012
        r9._4 = "U"
        for tag, value in ((130, "1"), (131, "500"), (134, "1"), (136, "1")):
            r9 += nistitl.Field(9, tag, value)
        r9 += nistitl.Field(9, 137, [["1", "100", "200", "45", "1", "60"]])
    else:
        r9 += nistitl.Field(9, 12, [["1", "01000200090", "10", "A"]])
    msg += r9
    r4 = nistitl.BinaryRecord(4)
    r4.IDC = 1
    r4.pack(">BBBBBBBBHHB", 1, 1, 255, 255, 255, 255, 255, 0, 800, 750, 1, b"W" * 64)
    msg += r4
    r10 = nistitl.AsciiRecord(10)
    r10.IDC = 2
    r10.IMT = "FACE"
    r10.DATA = b"\xff\xd8face"
    msg += r10
    return bytes(msg.NIST)


def every_record_type_seed() -> bytes:
    """One record of every type ANSI/NIST-ITL 1-2011 (Updates 2013, 2015) has: 2-22, 98, 99."""
    header = {
        2: text("0500"),
        4: text("CPS"),
        5: text("20261127"),
        7: text("DE/BKA"),
        8: text("GB/UKFP"),
        9: text("GB-0001"),
        11: text("19.68"),
        12: text("19.68"),
        14: text("20261127120000Z"),
    }
    minutiae = {3: text("1"), 4: text("S"), 6: text("1"), 10: text("1")}
    image = {3: text("1"), 6: text("8"), 7: text("8"), 8: text("1"), 9: text("500")}
    recs: tuple[Record, ...] = (
        TaggedRecord(2, 0, {10: text("REF-1"), 11: text("TP/TP")}),
        Type4Record(1, 1, (1,), 4, 3, 1, b"\x00\x1c\x1d\x1e\x1fWSQ", type=3),
        Type4Record(2, 1, (2,), 4, 3, 1, b"\x00\x1c\x1d\x1e\x1fWSQ"),
        Type4Record(5, 0, (3,), 8, 8, 0, b"\x00" * 8, type=5),
        Type4Record(6, 0, (4,), 8, 8, 1, b"\xff" * 8, type=6),
        BinaryRecord(7, 3, b"user-defined \x1c\x1d bytes"),
        BinaryRecord(8, 4, b"\x00\x00\x00\x00\x00\x00\x00\x00signature"),
        TaggedRecord(9, 1, {**minutiae, 12: (("1", "00100001090", "2", "A"),)}),
        TaggedRecord(
            10, 2, {3: text("FACE"), 6: text("480"), 7: text("600"), 11: text("JPEGB")}, b"\xff\xd8"
        ),
        TaggedRecord(11, 5, {3: text("1"), 4: text("WAV")}, b"RIFF\x1c\x00audio"),
        TaggedRecord(12, 6, {3: text("0")}),
        TaggedRecord(13, 7, {**image, 3: text("4"), 11: text("PNG"), 13: text("0")}, b"\x89PNG"),
        TaggedRecord(14, 8, {**image, 11: text("WSQ20"), 13: text("5")}, b"\x1c" * 10),
        TaggedRecord(15, 9, {**image, 3: text("10"), 11: text("JP2"), 13: text("21")}, b"jp2"),
        TaggedRecord(16, 10, {3: text("TEST"), 11: text("PNG")}, b"\x89PNG\r\n"),
        TaggedRecord(17, 11, {3: text("1"), 11: text("RAW")}, b"iris\x1d\x1c"),
        TaggedRecord(18, 12, {3: (("NIST", "1"),), 19: text("23S1")}),
        TaggedRecord(19, 13, {3: text("0"), 11: text("WSQ20")}, b"\xff\xa0plantar"),
        TaggedRecord(20, 14, {3: text("1"), 21: text("ORIG")}),
        TaggedRecord(21, 15, {3: text("1")}, b"context photo"),
        TaggedRecord(22, 16, {3: text("1")}, b"\x00\x01imagery"),
        TaggedRecord(98, 17, {3: text("SIG"), 4: text("1")}),
        TaggedRecord(99, 18, {4: text("1"), 100: text("3"), 101: text("4")}, b"cbeff"),
    )
    return records.encode_transaction(records.Transaction(header, recs))


def real_ansi_nist() -> list[bytes]:
    return _files("usnistgov-libbiomeval/*.an2k", "wct097-eft-viewer/*.eft")


def all_ansi_nist_seeds() -> list[bytes]:
    return [*ansi_nist_seeds(), every_record_type_seed(), *real_ansi_nist()]


def uk_json_seeds() -> list[bytes]:
    from mock_partners import population  # bench may use the mock partners' population

    out = [(_ROOT / "examples" / "uk-record.json").read_bytes()]
    out += [uk_json.encode(population.person(3, n).record) for n in (1, 17)]
    return out


def prum_xml_seeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted((_ROOT / "examples").glob("uk-record.*.xml"))]


def translate_seeds() -> dict[str, list[bytes]]:
    """Inputs for each `translate --from` format."""
    minutiae = minutiae_seeds()
    by_format = {
        "uk-json": uk_json_seeds(),
        "prum-xml": prum_xml_seeds(),
        "ansi-nist": [*all_ansi_nist_seeds(), (_ROOT / "examples/uk-record.cps.an2").read_bytes()],
        "int-i-xml": int_i_xml_seeds(),
        "int-i": int_i_traditional_seeds(),
    }
    for fmt in minutiae_records.RecordFormat:
        by_format[fmt.value] = [
            data
            for data in minutiae
            if minutiae_records.decode(data, lenient_tail=True).format == fmt
        ]
    return by_format
