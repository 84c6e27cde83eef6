"""Prüm/INT-I fingerprint transactions ⇄ the model: CPS and latent searches, SRE, ERR."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.capacities import CAPACITIES, SEARCH_TYPES, SOURCE, capacity
from exchange.codecs import ansi_nist_messages as messages
from exchange.codecs.ansi_nist import (
    TaggedRecord,
    Transaction,
    Type4Record,
    decode_transaction,
    encode_transaction,
    text,
)
from exchange.codecs.errors import CodecError
from exchange.model import (
    BiometricImage,
    Candidate,
    DactySearchRequest,
    DnaProfile,
    DnaSearchRequest,
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
    SampleType,
    SearchReply,
)

STAMP = dt.datetime(2026, 11, 27, 12, 30, 5, tzinfo=dt.UTC)


def header(kind: MessageType, purpose: Purpose = Purpose.INVESTIGATION) -> Header:
    return Header("GB-0002", "GB-0001", STAMP, "GB/UKFP", "DE/BKA", kind, purpose)


def ten_prints(*, images: bool = False, ppi: int = 500) -> FingerprintSet:
    fingers = []
    for position in range(1, 11):
        minutiae = tuple(
            Minutia(10 * position + i, 700 - 7 * i, (37 * i) % 360, list(MinutiaKind)[i % 4], 100)
            for i in range(20)
        )
        image = (
            BiometricImage(bytes([position]) * 50 + b"\x1c\x1d", "WSQ20", 800, 750, ppi)
            if images
            else None
        )
        fingers.append(Finger(position, minutiae, image))
    return FingerprintSet(tuple(fingers), Impression.ROLLED, ppi)


def cps(prints: FingerprintSet, search_type: str = "TP/TP", wanted: int = 1) -> Envelope:
    return Envelope(
        header(MessageType.DACTY_SEARCH_REQUEST),
        DactySearchRequest("GB-REF-7", search_type, prints, wanted),
    )


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("images", [False, True])
@pytest.mark.parametrize("legacy", [False, True])
def test_cps_round_trip(images: bool, legacy: bool) -> None:
    envelope = cps(ten_prints(images=images))
    data = messages.encode(envelope, legacy_images=legacy)
    assert messages.decode(data) == envelope
    types = [r.type for r in decode_transaction(data).records]
    image_type = 4 if legacy else 14
    assert types == [2] + [9] * 10 + ([image_type] * 10 if images else [])


def test_latent_search_round_trip_uses_type13() -> None:
    latent = FingerprintSet(
        (
            Finger(
                0,
                (Minutia(5, 6, 7), Minutia(390, 10, 359, MinutiaKind.BIFURCATION, 40)),
                BiometricImage(b"\x89PNG\x1c", "PNG", 400, 400, 1000),
            ),
        ),
        Impression.LATENT,
        1000,
    )
    envelope = cps(latent, "LT/TP", 10)
    data = messages.encode(envelope)
    tx = decode_transaction(data)
    assert tx.text(4) == "MPS"
    assert [r.type for r in tx.records] == [2, 9, 13]
    decoded = messages.decode(data)
    # Quality 40 travels as 9.012 quality 39 of 2-63 and comes back as 39 (lossy scale).
    assert decoded.body == replace(
        envelope.body,
        fingerprints=replace(
            latent,
            fingers=(
                replace(
                    latent.fingers[0],
                    minutiae=(Minutia(5, 6, 7), Minutia(390, 10, 359, MinutiaKind.BIFURCATION, 39)),
                ),
            ),
        ),
    )


def test_palm_search_uses_type15() -> None:
    palm = FingerprintSet(
        (Finger(22, (Minutia(1, 2, 3),), BiometricImage(b"jp2", "JP2", 100, 100, 500)),),
        Impression.PALM,
    )
    envelope = cps(palm, "PP/ULP", 5)
    data = messages.encode(envelope)
    assert [r.type for r in decode_transaction(data).records] == [2, 9, 15]
    assert decode_transaction(data).text(4) == "PMS"
    assert messages.decode(data) == envelope


@pytest.mark.parametrize(
    "candidates",
    [
        (),
        (
            Candidate("DE-1", 0.875, MatchType.CANDIDATE),
            Candidate("DE-2", 12.0, MatchType.CANDIDATE),
        ),
    ],
)
def test_search_result_round_trip(candidates: tuple[Candidate, ...]) -> None:
    reply = SearchReply("GB-0001", Modality.FINGERPRINT, (ProbeResult("GB-REF-7", candidates),))
    envelope = Envelope(header(MessageType.SEARCH_REPLY), reply)
    data = messages.encode(envelope)
    tx = decode_transaction(data)
    assert tx.text(4) == "SRE"
    type2 = tx.records[0]
    assert isinstance(type2, TaggedRecord)
    assert type2.text(messages.F_FINDINGS) == ("I" if candidates else "N")
    assert messages.decode(data) == envelope


@pytest.mark.parametrize("field", [None, "Type-9[3].9.012"])
def test_error_round_trip(field: str | None) -> None:
    body = ErrorBody(ErrorCode.QUOTA_EXCEEDED, "TP/TP capacity of 100 used", field, "GB-0001")
    envelope = Envelope(header(MessageType.ERROR), body)
    data = messages.encode(envelope)
    assert decode_transaction(data).text(4) == "ERR"
    assert messages.decode(data) == envelope


# --- what goes on the wire --------------------------------------------------------------------


def test_type1_follows_the_prum_profile() -> None:
    tx = decode_transaction(messages.encode(cps(ten_prints())))
    assert tx.text(2) == "0300"
    assert tx.text(4) == "CPS"
    assert tx.text(5) == "20261127"
    assert tx.text(7) == "DE/BKA"
    assert tx.text(8) == "GB/UKFP"
    assert tx.text(9) == "GB-0002"
    assert tx.text(10) == "GB-0001"
    assert tx.text(11) == tx.text(12) == "19.68"
    assert tx.header[13] == (("INT-I", "4.22"),)
    assert tx.text(14) == "20261127123005Z"


def test_type9_standard_format_minutiae() -> None:
    prints = FingerprintSet(
        (
            Finger(
                3,
                (
                    Minutia(100, 50, 90, MinutiaKind.BIFURCATION, 100),
                    Minutia(0, 0, 0, MinutiaKind.OTHER, 0),
                ),
            ),
        )
    )
    tx = decode_transaction(messages.encode(cps(prints)))
    type9 = tx.records[1]
    assert isinstance(type9, TaggedRecord) and type9.type == 9 and type9.idc == 1
    assert type9.text(4) == "S"
    assert type9.text(6) == "3"
    assert type9.text(10) == "2"
    # 100 px at 500 ppi = 5.08 mm = 508 units; Y from the bottom of a 99.99 mm frame.
    assert type9.fields[12] == (("1", "05089745090", "2", "B"), ("2", "00009999000", "63", "D"))


def test_minutiae_y_is_flipped_against_the_image_height() -> None:
    image = BiometricImage(b"w", "WSQ20", 800, 750, 500)
    prints = FingerprintSet((Finger(1, (Minutia(0, 0, 10), Minutia(0, 750, 10)), image),))
    tx = decode_transaction(messages.encode(cps(prints)))
    type9 = tx.records[1]
    assert isinstance(type9, TaggedRecord)
    assert [items[1][4:8] for items in type9.fields[12]] == ["3810", "0000"]


def test_ppi_survives_in_nsr_for_other_resolutions() -> None:
    for ppi in (333, 1000, 1200):
        envelope = cps(ten_prints(ppi=ppi))
        assert messages.decode(messages.encode(envelope)) == envelope


# --- policy and cross-references --------------------------------------------------------------


def test_capacities_table_is_art9() -> None:
    expected = {
        "TP/TP": (100, 1),
        "TP/UL": (100, 5),
        "PP/ULP": (100, 5),
        "LT/TP": (20, 10),
        "LP/PP": (20, 5),
        "LT/UL": (5, 5),
        "LP/ULP": (5, 5),
    }
    assert {
        k: (v.max_searches_per_day, v.max_candidates) for k, v in CAPACITIES.items()
    } == expected
    assert set(SEARCH_TYPES) == set(expected) == set(messages.SEARCH_TOT)
    assert "Art. 9" in SOURCE
    assert capacity("LT/TP").max_candidates == 10
    with pytest.raises(KeyError, match="XX/YY"):
        capacity("XX/YY")


@pytest.mark.parametrize(
    ("search_type", "wanted", "message"),
    [("TP/TP", 2, "outside 1-1"), ("TP/TP", 0, "outside 1-1"), ("XX/YY", 1, "unknown Prüm")],
)
def test_search_limits_enforced(search_type: str, wanted: int, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        messages.encode(cps(ten_prints(), search_type, wanted))


def test_impression_must_fit_search_type() -> None:
    with pytest.raises(CodecError, match="cannot probe LT/TP"):
        messages.encode(cps(ten_prints(), "LT/TP", 1))


def _cps_tx() -> Transaction:
    return decode_transaction(messages.encode(cps(ten_prints(images=True))))


def test_idc_cross_reference_checked() -> None:
    tx = _cps_tx()
    records = list(tx.records)
    image = records[11]
    assert isinstance(image, TaggedRecord) and image.type == 14 and image.idc == 1
    records[11] = TaggedRecord(14, 1, {**image.fields, 13: text("7")}, image.data)
    bad = encode_transaction(Transaction(tx.header, tuple(records)))
    with pytest.raises(CodecError, match="disagrees with image record IDC 1") as info:
        messages.decode(bad)
    assert info.value.field == "Type-9[2].9.006"


def test_two_images_with_one_idc_refused() -> None:
    tx = _cps_tx()
    extra = Type4Record(1, 1, (1,), 1, 1, 1, b"x")
    bad = encode_transaction(Transaction(tx.header, (*tx.records, extra)))
    with pytest.raises(CodecError, match="two image records share IDC 1"):
        messages.decode(bad)


def _with_type9_field(tag: int, value: tuple[tuple[str, ...], ...]) -> bytes:
    tx = _cps_tx()
    records = list(tx.records)
    type9 = records[1]
    assert isinstance(type9, TaggedRecord)
    records[1] = TaggedRecord(9, type9.idc, {**type9.fields, tag: value})
    return encode_transaction(Transaction(tx.header, tuple(records)))


@pytest.mark.parametrize(
    ("tag", "value", "field"),
    [
        (10, text("21"), "Type-9[2].9.010"),
        (12, (("1", "123", "2", "A"),) * 20, "Type-9[2].9.012[0]"),
        (12, (("1", "00000000360", "2", "A"),) * 20, "Type-9[2].9.012[0]"),
        (12, (("1", "00000000000", "64", "A"),) * 20, "Type-9[2].9.012[0]"),
        (12, (("1", "00000000000", "2", "Z"),) * 20, "Type-9[2].9.012[0]"),
        (4, text("U"), "Type-9[2].9.004"),
        (3, text("77"), "Type-9[2].9.003"),
        (6, text("44"), "Type-9[2].9.006"),
    ],
)
def test_bad_minutiae_named_by_field(
    tag: int, value: tuple[tuple[str, ...], ...], field: str
) -> None:
    with pytest.raises(CodecError) as info:
        messages.decode(_with_type9_field(tag, value))
    assert info.value.field == field


def test_unsupported_tot_and_missing_type2() -> None:
    tx = _cps_tx()
    with pytest.raises(CodecError, match="not supported") as info:
        messages.decode(encode_transaction(Transaction({**tx.header, 4: text("FOO")}, ())))
    assert info.value.field == "Type-1.1.004"
    with pytest.raises(CodecError, match="needs a Type-2"):
        messages.decode(encode_transaction(Transaction(tx.header, tx.records[1:])))


@pytest.mark.parametrize(
    "body",
    [
        SearchReply("X", Modality.DNA, (ProbeResult("R"),)),
        SearchReply("X", Modality.FINGERPRINT, (ProbeResult("R"), ProbeResult("S"))),
        SearchReply(
            "X",
            Modality.FINGERPRINT,
            (ProbeResult("R", (Candidate("C", 1.0, MatchType.FULL, wildcard=True),)),),
        ),
        SearchReply(
            "X",
            Modality.FINGERPRINT,
            (ProbeResult("R", (Candidate("C", float("nan"), MatchType.CANDIDATE),)),),
        ),
        DnaSearchRequest(()),
        ErrorBody(ErrorCode.INTERNAL, "bad\x1dtext"),
    ],
)
def test_bodies_that_cannot_travel(body: object) -> None:
    envelope = Envelope(header(MessageType.SEARCH_REPLY), body)  # type: ignore[arg-type]
    with pytest.raises(CodecError):
        messages.encode(envelope)


def test_naive_timestamp_refused() -> None:
    envelope = cps(ten_prints())
    naive = replace(envelope, header=replace(envelope.header, timestamp=dt.datetime(2026, 1, 1)))
    with pytest.raises(CodecError, match="time zone"):
        messages.encode(naive)


def test_minutia_outside_the_frame_refused() -> None:
    prints = FingerprintSet(
        (Finger(1, (Minutia(0, 800, 0),), BiometricImage(b"", "WSQ20", 800, 750, 500)),)
    )
    with pytest.raises(CodecError, match=r"fingers\[0\].minutiae\[0\]"):
        messages.encode(cps(prints))
    _ = DnaProfile(SampleType.REFERENCE, {})  # the DNA types are not ANSI/NIST's concern


# --- property: any fingerprint set survives the trip -----------------------------------------

#: 9.012 carries quality 2-63, so model qualities round-trip exactly only on these values.
QUALITIES = sorted({100 - round((w - 2) * 100 / 61) for w in range(2, 64)})

minutia = st.builds(
    Minutia,
    x=st.integers(0, 1900),
    y=st.integers(0, 740),
    angle=st.integers(0, 359),
    kind=st.sampled_from(list(MinutiaKind)),
    quality=st.sampled_from(QUALITIES),
)


@st.composite
def fingerprint_sets(draw: st.DrawFn) -> FingerprintSet:
    positions = draw(st.lists(st.integers(1, 10), min_size=1, max_size=10, unique=True))
    fingers = []
    for position in positions:
        image = draw(
            st.none()
            | st.builds(
                BiometricImage,
                data=st.binary(max_size=64),
                compression=st.sampled_from(["WSQ20", "JPEGB", "PNG", "JP2", "NONE"]),
                width=st.integers(1, 2000),
                height=st.integers(750, 1500),
                ppi=st.just(500),
            )
        )
        fingers.append(Finger(position, tuple(draw(st.lists(minutia, max_size=30))), image))
    impression = draw(st.sampled_from([Impression.ROLLED, Impression.PLAIN]))
    return FingerprintSet(tuple(fingers), impression)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fingerprint_sets(), st.booleans())
def test_any_fingerprint_set_round_trips(prints: FingerprintSet, legacy: bool) -> None:
    envelope = cps(prints, "TP/UL", 5)
    assert messages.decode(messages.encode(envelope, legacy_images=legacy)) == envelope


@pytest.mark.parametrize("year", [1, 26, 999, 2026, 9999])
def test_timestamps_keep_four_digit_years(year: int) -> None:
    # Found by bench/fuzz_ansi_nist.py: strftime("%Y") writes year 26 as "26", not "0026".
    envelope = cps(ten_prints())
    stamp = dt.datetime(year, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    moved = replace(envelope, header=replace(envelope.header, timestamp=stamp))
    data = messages.encode(moved)
    assert decode_transaction(data).text(14) == f"{year:04d}0203040506Z"
    assert messages.decode(data) == moved


@pytest.mark.parametrize("gmt", ["2026112712000Z", "20261127120000", "20261327120000Z", "x" * 15])
def test_bad_gmt_is_a_codec_error(gmt: str) -> None:
    tx = _cps_tx()
    with pytest.raises(CodecError) as info:
        messages.decode(encode_transaction(Transaction({**tx.header, 14: text(gmt)}, tx.records)))
    assert info.value.field == "Type-1.1.014"


# --- the facade: prints-only transactions and the UK record's `ansi_nist` member ---------------


def test_fingerprints_to_and_from_bytes() -> None:
    from exchange.codecs import ansi_nist

    prints = ten_prints(images=True)
    data = ansi_nist.fingerprints_to_bytes(
        prints, timestamp=STAMP, originator="GB/UKFP", destination="GB/IDENT1", tcn="T-1"
    )
    tx = decode_transaction(data)
    assert [r.type for r in tx.records] == [9] * 10 + [14] * 10
    assert ansi_nist.fingerprints_from_bytes(data) == prints
    assert ansi_nist.decode is messages.decode and ansi_nist.encode is messages.encode
    with pytest.raises(CodecError, match="no fingerprint record"):
        ansi_nist.fingerprints_from_bytes(encode_transaction(Transaction(tx.header, ())))


def test_uk_record_carries_an_ansi_nist_transaction() -> None:
    import base64
    import json
    from pathlib import Path

    from exchange.codecs import ansi_nist, uk_json

    example = Path(__file__).resolve().parents[2] / "examples" / "uk-record.json"
    doc = json.loads(example.read_text(encoding="utf-8"))
    prints = ten_prints()
    data = ansi_nist.fingerprints_to_bytes(
        prints, timestamp=STAMP, originator="GB/UKFP", destination="GB/IDENT1", tcn="T-2"
    )
    doc["fingerprints"] = {"ansi_nist": base64.b64encode(data).decode()}
    assert uk_json.decode(json.dumps(doc).encode()).fingerprints == prints
    doc["fingerprints"] = {"ansi_nist": base64.b64encode(data[:-3]).decode()}
    with pytest.raises(CodecError) as info:
        uk_json.decode(json.dumps(doc).encode())
    assert "ansi_nist/Type-" in info.value.field


def test_our_internal_error_number_is_no_int_i_code() -> None:
    # Our 2.074 numbers must not mean something else to an INT-I peer: 999 is INT-I's
    # "record not found", so an internal failure of ours is 900, outside INT-I's table.
    body = ErrorBody(ErrorCode.INTERNAL, "disk full")
    tx = decode_transaction(messages.encode(Envelope(header(MessageType.ERROR), body)))
    type2 = tx.records[0]
    assert isinstance(type2, TaggedRecord)
    assert type2.fields[messages.F_INTI_ERROR][0][0] == "900"
    int_i_codes = {"001", "002", "003", "101", "116", "117", "201", "501", "502", "503", "999"}
    ours = set(messages.ERROR_NUMBER.values()) - {"101"}
    assert not ours & int_i_codes


def test_error_also_travels_as_int_i_erm() -> None:
    body = ErrorBody(ErrorCode.QUOTA_EXCEEDED, "x" * 200, "Type-2.2.011", "GB-0001")
    tx = decode_transaction(messages.encode(Envelope(header(MessageType.ERROR), body)))
    type2 = tx.records[0]
    assert isinstance(type2, TaggedRecord)
    assert type2.fields[messages.F_INTI_ERROR] == (("902", "", "x" * 128),)


@pytest.mark.parametrize(
    ("eco", "efm", "code", "message", "field"),
    [
        ("101", "NAM", ErrorCode.SCHEMA_INVALID, "MANDATORY FIELD MISSING", "Type-2.NAM"),
        ("555", "", ErrorCode.INTERNAL, "INT-I error 555: MANDATORY FIELD MISSING", None),
        # INT-I's 999 is "record not found" (MRT_INT-I_LookupCodes.csv), not a failure.
        ("999", "", ErrorCode.UNKNOWN_REFERENCE, "INT-I error 999: MANDATORY FIELD MISSING", None),
        (
            "116",
            "TOT",
            ErrorCode.UNSUPPORTED_MODALITY,
            "INT-I error 116: MANDATORY FIELD MISSING",
            "Type-2.TOT",
        ),
    ],
)
def test_error_from_an_int_i_peer(
    eco: str, efm: str, code: ErrorCode, message: str, field: str | None
) -> None:
    # An INT-I peer sends only 2.074 ERM (ECO, EFM, EMT), as in Interpol's v6 field list.
    tx = decode_transaction(
        messages.encode(Envelope(header(MessageType.ERROR), ErrorBody(ErrorCode.INTERNAL, "x")))
    )
    erm = TaggedRecord(2, 0, {74: ((eco, efm, "MANDATORY FIELD MISSING"),)})
    envelope = messages.decode(encode_transaction(Transaction(tx.header, (erm,))))
    assert envelope.body == ErrorBody(code, message, field, None)
    with pytest.raises(CodecError, match="neither"):
        messages.decode(encode_transaction(Transaction(tx.header, (TaggedRecord(2, 0, {}),))))


# --- palms and the INCITS 378 minutiae block ---------------------------------------------------


def test_palm_minutiae_use_five_digit_coordinates() -> None:
    # A palm is larger than 99.99 mm: 9.012 carries 5-digit X and Y for palms (INT-I v6).
    palm = FingerprintSet(
        (Finger(25, (Minutia(2400, 3000, 90), Minutia(0, 0, 0))),), Impression.PALM
    )
    envelope = cps(palm, "PP/ULP", 5)
    tx = decode_transaction(messages.encode(envelope))
    type9 = tx.records[1]
    assert isinstance(type9, TaggedRecord)
    assert [items[1] for items in type9.fields[12]] == ["1219284759090", "0000099999000"]
    assert messages.decode(messages.encode(envelope)) == envelope


def _incits_type9(fmd: tuple[tuple[str, ...], ...], **extra: str) -> TaggedRecord:
    fields = {3: text("1"), 4: text("U"), 130: text("1"), 131: text("500"), 134: text("3")}
    fields.update({int(k[1:]): text(v) for k, v in extra.items()})
    fields[137] = fmd
    return TaggedRecord(9, 1, fields)


def _with_type9(type9: TaggedRecord) -> bytes:
    tx = _cps_tx()
    return encode_transaction(Transaction(tx.header, (tx.records[0], type9)))


def test_incits_378_minutiae_are_read() -> None:
    fmd = (("1", "100", "200", "45", "1", "80"), ("2", "5", "6", "0", "2", "0"))
    body = messages.decode(_with_type9(_incits_type9(fmd, f136="2"))).body
    assert isinstance(body, DactySearchRequest)
    (finger,) = body.fingerprints.fingers
    assert finger == Finger(
        3,
        (
            Minutia(100, 200, 270, MinutiaKind.RIDGE_ENDING, 80),
            Minutia(5, 6, 180, MinutiaKind.BIFURCATION, 100),
        ),
    )


def test_incits_378_coordinates_follow_the_block_resolution() -> None:
    fmd = (("1", "200", "400", "0", "0", "50"),)
    prints = messages.decode(_with_type9(_incits_type9(fmd, f131="1000"))).body
    assert isinstance(prints, DactySearchRequest)
    assert prints.fingerprints.fingers[0].minutiae == (
        Minutia(100, 200, 180, MinutiaKind.OTHER, 50),
    )


@pytest.mark.parametrize(
    ("fmd", "extra", "field"),
    [
        ((("1", "1", "1", "180", "1", "50"),), {}, "Type-9[2].9.137[0]"),
        ((("1", "1", "1", "10", "3", "50"),), {}, "Type-9[2].9.137[0]"),
        ((("1", "1", "1", "10", "1"),), {}, "Type-9[2].9.137[0]"),
        ((("1", "x", "1", "10", "1", "50"),), {}, "Type-9[2].9.137[0]"),
        ((("1", "1", "1", "10", "1", "50"),), {"f136": "2"}, "Type-9[2].9.136"),
        ((("1", "1", "1", "10", "1", "50"),), {"f134": "44"}, "Type-9[2].9.134"),
    ],
)
def test_bad_incits_minutiae_named_by_field(
    fmd: tuple[tuple[str, ...], ...], extra: dict[str, str], field: str
) -> None:
    with pytest.raises(CodecError) as info:
        messages.decode(_with_type9(_incits_type9(fmd, **extra)))
    assert info.value.field == field


def test_type9_without_a_readable_format_is_refused() -> None:
    type9 = TaggedRecord(9, 1, {3: text("1"), 4: text("U"), 300: text("x")})
    with pytest.raises(CodecError, match="INCITS 378") as info:
        messages.decode(_with_type9(type9))
    assert info.value.field == "Type-9[2].9.004"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({13: text("44")}, "Type-14[2].14.013"),
        ({6: text("0")}, "Type-14[2].14.006"),
        ({7: text("123456")}, "Type-14[2].14.007"),
    ],
)
def test_image_only_finger_is_checked_like_one_with_minutiae(
    fields: dict[int, tuple[tuple[str, ...], ...]], field: str
) -> None:
    # What the reader accepts, the writer can write back: no finger position 44, no 0-wide image.
    tx = _cps_tx()
    image = tx.records[11]
    assert isinstance(image, TaggedRecord)
    bad = TaggedRecord(14, 1, {**image.fields, **fields}, image.data)
    with pytest.raises(CodecError) as info:
        messages.decode(encode_transaction(Transaction(tx.header, (tx.records[0], bad))))
    assert info.value.field == field
