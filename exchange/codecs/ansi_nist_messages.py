"""Prüm/Interpol fingerprint transactions (ANSI/NIST-ITL, INT-I profile) ⇄ `exchange.model`.

The record layer is `ansi_nist_records`; this module gives the records their meaning in the
exchange:

- Type-1 (1-2011 §8.1; values after the 2008/616/JHA appendix sample, INT-I v4.22b):
  1.002 VER "0300", 1.004 TOT, 1.005 DAT, 1.007 DAI = receiver, 1.008 ORI = sender,
  1.009 TCN = message id, 1.010 TCR = correlation id, 1.011/1.012 NSR/NTR in px/mm,
  1.013 DOM "INT-I" / "4.22", 1.014 GMT "YYYYMMDDhhmmssZ".
- TOT by Prüm search type (prum-facts §2; CPS is confirmed by the 2008/616 appendix, the
  others are the usual Prüm codes, not confirmed in a public text): TP/TP -> CPS,
  TP/UL and PP/ULP -> PMS (print to mark), LT/TP and LP/PP -> MPS (mark to print),
  LT/UL and LP/ULP -> MMS (mark to mark); SRE search result; ERR error.
- Type-2 is user-defined (1-2011 §8.2); INT-I's field list was not available publicly, so
  the fields are ours, chosen clear of INT-I's known 2.026/2.038/2.074/2.083/2.085 and
  following the FBI EBTS numbers where EBTS has the same concept (2.059 SRF, 2.060 MSG,
  2.064 CAN); they are listed in `TYPE2_FIELDS`.
- Type-9 legacy "standard format" minutiae (FMT = S; 1-2011 Table 27 refers to 1-2007
  §13.1 for 9.005-9.012): 9.003 IMP, 9.004 FMT, 9.005 OFR, 9.006 FGP, 9.007 FPC,
  9.010 MIN, 9.011 RDG, 9.012 MRC with items (index, XXXXYYYYTTT, quality, type).
  X and Y are in units of 0.01 mm from the lower-left corner of the image, theta in
  degrees counter-clockwise from the positive X axis. The model holds pixels from the
  top-left corner at the set's ppi, with the same angle convention, so Y is flipped
  against the image height; with no image, against the largest 4-digit value (9999),
  which keeps relative geometry exact and round-trips. Quality 9.012 item 3 is 0-63
  (0 manual, 1 none, 2 best to 63 worst); the model's 0-100 maps linearly onto 2-63
  (lossy: 101 values onto 62).
- Images (optional, per finger, same IDC as its Type-9 record, which is the IDC
  cross-reference the reader checks): Type-14 for ten-prints (or Type-4 on request),
  Type-13 for latents, Type-15 for palms, carried opaque with their compression code.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from exchange.capacities import CAPACITIES
from exchange.codecs.ansi_nist_records import (
    DEFAULT_LIMITS,
    Limits,
    Record,
    Subfields,
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

VERSION = "0300"
DOMAIN = ("INT-I", "4.22")
SYSTEM_NAME = "PRUM-EXCHANGE"

#: Prüm search type -> TOT (see the module docstring for the sources).
SEARCH_TOT: Mapping[str, str] = {
    "TP/TP": "CPS",
    "TP/UL": "PMS",
    "PP/ULP": "PMS",
    "LT/TP": "MPS",
    "LP/PP": "MPS",
    "LT/UL": "MMS",
    "LP/ULP": "MMS",
}
SEARCH_TOTS = frozenset(SEARCH_TOT.values())

# Type-2 fields of this profile (ours; see the module docstring).
F_REFERENCE = 10  # 2.010 probe reference (reference data, no personal meaning)
F_SEARCH_TYPE = 11  # 2.011 Prüm search type, e.g. "TP/TP"
F_PURPOSE = 12  # 2.012 purpose of the search (exchange.model.Purpose value)
F_MAX_CANDIDATES = 13  # 2.013 candidates asked for (Implementing Agreement Art. 9 caps it)
F_REQUEST_ID = 14  # 2.014 TCN of the request that a SRE/ERR answers
F_FINDINGS = 59  # 2.059 SRF: "I" hit, "N" no hit (EBTS meaning)
F_ERROR = 60  # 2.060 MSG: items (error code, message[, field path])
F_CANDIDATES = 64  # 2.064 CAN: one subfield per candidate: (reference, score, match type)

TYPE2_FIELDS: Mapping[int, str] = {
    F_REFERENCE: "REF probe reference",
    F_SEARCH_TYPE: "PST Prüm search type",
    F_PURPOSE: "PUR purpose",
    F_MAX_CANDIDATES: "NCR number of candidates requested",
    F_REQUEST_ID: "RQI request TCN answered",
    F_FINDINGS: "SRF search result findings (I/N)",
    F_ERROR: "MSG error code, text and field",
    F_CANDIDATES: "CAN candidate list",
}

#: Impression type codes (1-2011 Table 7) written for each model impression.
IMPRESSION_CODE: Mapping[Impression, int] = {
    Impression.PLAIN: 0,
    Impression.ROLLED: 1,
    Impression.LATENT: 4,
    Impression.PALM: 10,
    Impression.LATENT_PALM: 12,
}
_IMPRESSION_OF_CODE: Mapping[int, Impression] = {
    0: Impression.PLAIN, 2: Impression.PLAIN, 8: Impression.PLAIN,
    1: Impression.ROLLED, 3: Impression.ROLLED, 9: Impression.ROLLED,
    4: Impression.LATENT, 5: Impression.LATENT, 6: Impression.LATENT, 7: Impression.LATENT,
    10: Impression.PALM, 11: Impression.PALM,
    12: Impression.LATENT_PALM, 13: Impression.LATENT_PALM,
    14: Impression.LATENT_PALM, 15: Impression.LATENT_PALM,
}
#: Type-4 GCA binary codes and the tagged records' CGA strings (1-2011 Table 15).
COMPRESSION_CODES: Mapping[int, str] = {
    0: "NONE", 1: "WSQ20", 2: "JPEGB", 3: "JPEGL", 4: "JP2", 5: "JP2L", 6: "PNG",
}
_CODE_OF_COMPRESSION = {name: code for code, name in COMPRESSION_CODES.items()}

#: Model quality 0-100 -> 9.012 quality 2 (best) - 63 (worst), and back (0 manual, 1 none).
_CODE_OF_QUALITY = tuple(str(2 + round((100 - q) * 61 / 100)) for q in range(101))
_QUALITY_OF_CODE: Mapping[str, int] = {
    **{f"{w:0{d}d}": 100 if w < 2 else 100 - round((w - 2) * 100 / 61)
       for w in range(64) for d in (1, 2)},
}
_KIND_OF_CODE: Mapping[str, MinutiaKind] = {k.value: k for k in MinutiaKind}

_IMAGE_RECORD_TYPES = frozenset({4, 13, 14, 15})
_NO_IMAGE_HEIGHT = 9999  # 0.01 mm units: the largest Y that 9.012 can carry
_DEFAULT_PPI = 500


# --- public API ---------------------------------------------------------------------------------


def decode(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """Bytes of a CPS/PMS/MPS/MMS, SRE or ERR transaction -> an envelope of the model."""
    return envelope_from_transaction(decode_transaction(data, limits=limits))


def encode(envelope: Envelope, *, legacy_images: bool = False) -> bytes:
    """An envelope (fingerprint search, fingerprint search reply, error) -> bytes."""
    return encode_transaction(transaction_from_envelope(envelope, legacy_images=legacy_images))


def envelope_from_transaction(tx: Transaction) -> Envelope:
    tot = tx.text(4) or ""
    type2 = _type2(tx)
    if tot in SEARCH_TOTS:
        body: DactySearchRequest | SearchReply | ErrorBody = _search_request(tx, type2, tot)
        message_type = MessageType.DACTY_SEARCH_REQUEST
    elif tot == "SRE":
        body = _search_reply(type2)
        message_type = MessageType.SEARCH_REPLY
    elif tot == "ERR":
        body = _error(type2)
        message_type = MessageType.ERROR
    else:
        raise CodecError("Type-1.1.004", f"transaction type {tot[:10]!r} is not supported")
    purpose_text = type2.text(F_PURPOSE) if type2 else None
    try:
        purpose = Purpose(purpose_text) if purpose_text else Purpose.INVESTIGATION
    except ValueError:
        raise CodecError("Type-2.2.012", f"unknown purpose {purpose_text!r:.40}") from None
    header = Header(
        message_id=tx.text(9) or "",
        correlation_id=tx.text(10) or tx.text(9) or "",
        timestamp=_timestamp(tx),
        sender=tx.text(8) or "",
        receiver=tx.text(7) or "",
        message_type=message_type,
        purpose=purpose,
    )
    return Envelope(header, body)


def transaction_from_envelope(envelope: Envelope, *, legacy_images: bool = False) -> Transaction:
    head = envelope.header
    body = envelope.body
    type2: dict[int, Subfields] = {F_PURPOSE: text(head.purpose.value)}
    records: list[Record] = []
    ppi = _DEFAULT_PPI
    if isinstance(body, DactySearchRequest):
        tot = _check_search(body.search_type, body.max_candidates, "body")
        _check_impression(body.search_type, body.fingerprints.impression, "body.fingerprints")
        type2[F_REFERENCE] = text(_plain(body.reference, "body.reference"))
        type2[F_SEARCH_TYPE] = text(body.search_type)
        type2[F_MAX_CANDIDATES] = text(str(body.max_candidates))
        ppi = body.fingerprints.ppi
        records = list(
            fingerprint_records(
                body.fingerprints, source=head.sender, date=head.timestamp,
                legacy_images=legacy_images,
            )
        )
    elif isinstance(body, SearchReply):
        tot = "SRE"
        type2.update(_reply_fields(body))
    elif isinstance(body, ErrorBody):
        tot = "ERR"
        items = [body.code.value, body.message]
        if body.field is not None:
            items.append(body.field)
        type2[F_ERROR] = (tuple(_plain(i, "body") for i in items),)
        if body.request_message_id is not None:
            type2[F_REQUEST_ID] = text(body.request_message_id)
    else:
        raise CodecError("body", f"{type(body).__name__} cannot travel as ANSI/NIST-ITL")
    stamp = head.timestamp
    if stamp.tzinfo is None:
        raise CodecError("header.timestamp", "timestamp must carry a time zone")
    utc = stamp.astimezone(dt.UTC)
    resolution = px_per_mm(ppi)
    header: dict[int, Subfields] = {
        2: text(VERSION),
        4: text(tot),
        5: text(_date(utc)),
        7: text(_plain(head.receiver, "header.receiver")),
        8: text(_plain(head.sender, "header.sender")),
        9: text(_plain(head.message_id, "header.message_id")),
        10: text(_plain(head.correlation_id, "header.correlation_id")),
        11: text(resolution),
        12: text(resolution),
        13: (DOMAIN,),
        14: text(f"{_date(utc)}{utc.hour:02d}{utc.minute:02d}{utc.second:02d}Z"),
    }
    return Transaction(header, (TaggedRecord(2, 0, type2), *records))


def fingerprint_records(
    prints: FingerprintSet, *, source: str, date: dt.datetime, legacy_images: bool = False
) -> tuple[Record, ...]:
    """One Type-9 record per finger, and its image record with the same IDC if it has one."""
    if len(prints.fingers) > 99:
        raise CodecError("fingerprints.fingers", "at most 99 fingers fit the IDC range")
    imp = IMPRESSION_CODE[prints.impression]
    minutiae: list[Record] = []
    images: list[Record] = []
    for i, finger in enumerate(prints.fingers):
        path = f"fingerprints.fingers[{i}]"
        idc = i + 1
        _check_position(finger.position, prints.impression, f"{path}.position")
        height = _height_units(finger.image, path)
        if finger.minutiae or finger.image is None:
            minutiae.append(_type9(finger, idc, imp, prints.ppi, height, path))
        if finger.image is not None:
            images.append(
                _image_record(finger, idc, imp, prints.impression, source, date,
                              legacy_images, path)
            )
    return (*minutiae, *images)


def fingerprint_set(tx: Transaction) -> FingerprintSet:
    """The fingers of a transaction: Type-9 minutiae and Type-4/13/14/15 images by IDC."""
    type9: dict[int, tuple[int, TaggedRecord]] = {}
    image: dict[int, tuple[int, Record]] = {}
    for index, rec in enumerate(tx.records, start=1):
        if rec.type == 9 and isinstance(rec, TaggedRecord):
            type9[rec.idc] = (index, rec)
        elif rec.type in _IMAGE_RECORD_TYPES:
            if rec.idc in image:
                raise CodecError(
                    f"Type-{rec.type}[{index}].{rec.type}.002",
                    f"two image records share IDC {rec.idc}",
                )
            image[rec.idc] = (index, rec)
    ppi = _ppi_from_header(tx)
    impressions: list[Impression] = []
    fingers: list[Finger] = []
    for idc in sorted(set(type9) | set(image)):
        img = _read_image(*image[idc], ppi) if idc in image else None
        pos_img = img[1] if img else None
        if idc in type9:
            index, rec = type9[idc]
            finger, imp = _read_type9(index, rec, ppi, img[0] if img else None)
            if pos_img is not None and pos_img != finger.position:
                raise CodecError(
                    f"Type-9[{index}].9.006",
                    f"finger position {finger.position} disagrees with image record IDC "
                    f"{idc} position {pos_img}",
                )
            if img is not None:
                finger = Finger(finger.position, finger.minutiae, img[0])
        else:
            assert img is not None
            finger = Finger(img[1], (), img[0])
            imp = img[2]
        fingers.append(finger)
        impressions.append(imp)
    impression = impressions[0] if impressions else Impression.ROLLED
    return FingerprintSet(tuple(fingers), impression, ppi)


# --- search requests -------------------------------------------------------------------------


def _check_search(search_type: str, max_candidates: int, path: str) -> str:
    cap = CAPACITIES.get(search_type)
    if cap is None:
        raise CodecError(f"{path}.search_type", f"unknown Prüm search type {search_type[:20]!r}")
    if not 1 <= max_candidates <= cap.max_candidates:
        raise CodecError(
            f"{path}.max_candidates",
            f"{max_candidates} outside 1-{cap.max_candidates} for {search_type}"
            " (Prüm Implementing Agreement Art. 9)",
        )
    return SEARCH_TOT[search_type]


def _check_impression(search_type: str, impression: Impression, path: str) -> None:
    probe = search_type.split("/")[0]
    allowed = {
        "TP": {Impression.ROLLED, Impression.PLAIN},
        "PP": {Impression.PALM},
        "LT": {Impression.LATENT},
        "LP": {Impression.LATENT_PALM},
    }[probe]
    if impression not in allowed:
        raise CodecError(
            f"{path}.impression", f"{impression.value} prints cannot probe {search_type}"
        )


def _search_request(tx: Transaction, type2: TaggedRecord | None, tot: str) -> DactySearchRequest:
    if type2 is None:
        raise CodecError("Type-2", f"a {tot} transaction needs a Type-2 record")
    reference = type2.text(F_REFERENCE)
    if not reference:
        raise CodecError("Type-2.2.010", "probe reference missing")
    search_type = type2.text(F_SEARCH_TYPE)
    if search_type is None:
        raise CodecError("Type-2.2.011", "Prüm search type missing")
    wanted = _int(type2.text(F_MAX_CANDIDATES) or "", "Type-2.2.013")
    if SEARCH_TOT.get(search_type) != tot:
        raise CodecError("Type-2.2.011", f"search type {search_type[:20]!r} does not fit TOT {tot}")
    _check_search(search_type, wanted, "Type-2.2.013")
    prints = fingerprint_set(tx)
    if not prints.fingers:
        raise CodecError("Type-1.1.003", "a search carries no fingerprint record")
    _check_impression(search_type, prints.impression, "Type-9.9.003")
    return DactySearchRequest(reference, search_type, prints, wanted)


# --- replies and errors ----------------------------------------------------------------------


def _reply_fields(body: SearchReply) -> dict[int, Subfields]:
    if body.modality is not Modality.FINGERPRINT:
        raise CodecError("body.modality", "an ANSI/NIST search result carries fingerprints only")
    if len(body.results) != 1:
        raise CodecError("body.results", "an SRE answers exactly one probe")
    result = body.results[0]
    fields: dict[int, Subfields] = {
        F_REQUEST_ID: text(_plain(body.request_message_id, "body.request_message_id")),
        F_REFERENCE: text(_plain(result.probe_reference, "body.results[0].probe_reference")),
        F_FINDINGS: text("I" if result.candidates else "N"),
    }
    cands: list[tuple[str, ...]] = []
    for i, cand in enumerate(result.candidates):
        path = f"body.results[0].candidates[{i}]"
        if cand.wildcard or cand.compared_loci is not None or cand.mismatched_alleles is not None:
            raise CodecError(path, "DNA match details cannot travel in an SRE")
        if not math.isfinite(cand.score):
            raise CodecError(f"{path}.score", "score must be finite")
        cands.append((_plain(cand.reference, f"{path}.reference"), repr(float(cand.score)),
                      cand.match_type.value))
    if cands:
        fields[F_CANDIDATES] = tuple(cands)
    return fields


def _search_reply(type2: TaggedRecord | None) -> SearchReply:
    if type2 is None:
        raise CodecError("Type-2", "an SRE transaction needs a Type-2 record")
    request_id = type2.text(F_REQUEST_ID)
    probe = type2.text(F_REFERENCE)
    findings = type2.text(F_FINDINGS)
    if request_id is None or probe is None or findings not in ("I", "N"):
        raise CodecError("Type-2", "SRE needs 2.014 request id, 2.010 reference, 2.059 I/N")
    candidates: list[Candidate] = []
    for i, items in enumerate(type2.fields.get(F_CANDIDATES, ())):
        path = f"Type-2.2.064[{i}]"
        if len(items) != 3:
            raise CodecError(path, "candidate must be (reference, score, match type)")
        try:
            score = float(items[1])
            match_type = MatchType(items[2])
        except ValueError:
            raise CodecError(path, "bad score or match type") from None
        if not math.isfinite(score):
            raise CodecError(path, "score must be finite")
        candidates.append(Candidate(items[0], score, match_type))
    if (findings == "I") != bool(candidates):
        raise CodecError("Type-2.2.059", "findings disagree with the candidate list")
    return SearchReply(
        request_id, Modality.FINGERPRINT, (ProbeResult(probe, tuple(candidates)),)
    )


def _error(type2: TaggedRecord | None) -> ErrorBody:
    msg = type2.fields.get(F_ERROR) if type2 else None
    if not msg or len(msg[0]) not in (2, 3):
        raise CodecError("Type-2.2.060", "ERR needs (code, message[, field])")
    items = msg[0]
    try:
        code = ErrorCode(items[0])
    except ValueError:
        raise CodecError("Type-2.2.060", f"unknown error code {items[0][:30]!r}") from None
    assert type2 is not None
    return ErrorBody(code, items[1], items[2] if len(items) == 3 else None,
                     type2.text(F_REQUEST_ID))


# --- Type-9 minutiae -------------------------------------------------------------------------


def _type9(finger: Finger, idc: int, imp: int, ppi: int, height: int, path: str) -> TaggedRecord:
    fields: dict[int, Subfields] = {
        3: text(str(imp)),
        4: text("S"),
        5: ((SYSTEM_NAME, "A"),),
        6: text(str(finger.position)),
        7: (("T", "UC"),),
        10: text(str(len(finger.minutiae))),
        11: text("0"),
    }
    if len(finger.minutiae) > 999:
        raise CodecError(f"{path}.minutiae", "more than 999 minutiae")
    mrc = []
    scale = 2540 / ppi
    for n, m in enumerate(finger.minutiae, start=1):
        x = round(m.x * scale)
        y = height - round(m.y * scale)
        if not (0 <= x <= 9999 and 0 <= y <= 9999 and 0 <= m.angle <= 359
                and 0 <= m.quality <= 100):
            raise CodecError(
                f"{path}.minutiae[{n - 1}]",
                f"x, y must fit 0-99.99 mm inside the image at {ppi} ppi, angle 0-359, "
                "quality 0-100",
            )
        mrc.append((str(n), f"{x:04d}{y:04d}{m.angle:03d}", _CODE_OF_QUALITY[m.quality],
                    m.kind.value))
    if mrc:
        fields[12] = tuple(mrc)
    return TaggedRecord(9, idc, fields)


def _read_type9(
    index: int, rec: TaggedRecord, ppi: int, image: BiometricImage | None
) -> tuple[Finger, Impression]:
    where = f"Type-9[{index}]"
    imp = _impression(rec.text(3), f"{where}.9.003")
    if rec.text(4) != "S":
        raise CodecError(f"{where}.9.004", "only the standard minutiae format (FMT S) is read")
    position = _int(rec.text(6) or "", f"{where}.9.006")
    _check_position(position, imp, f"{where}.9.006")
    height = _NO_IMAGE_HEIGHT
    if image is not None:
        height = round(image.height * 2540 / image.ppi)
    mrc = rec.fields.get(12, ())
    count = rec.text(10)
    if count is not None and _int(count, f"{where}.9.010") != len(mrc):
        raise CodecError(f"{where}.9.010", f"MIN {count} but 9.012 lists {len(mrc)} minutiae")
    minutiae: list[Minutia] = []
    scale = ppi / 2540
    for n, items in enumerate(mrc):
        xyt = items[1] if len(items) >= 4 else ""
        if len(xyt) != 11 or not xyt.isdigit() or not xyt.isascii():
            raise CodecError(
                f"{where}.9.012[{n}]", "minutia must be (index, XXXXYYYYTTT, quality, type, ...)"
            )
        x, y, theta = int(xyt[:4]), int(xyt[4:8]), int(xyt[8:])
        quality = _QUALITY_OF_CODE.get(items[2])
        kind = _KIND_OF_CODE.get(items[3])
        if theta > 359 or quality is None or kind is None or y > height:
            raise CodecError(
                f"{where}.9.012[{n}]",
                "theta beyond 359, quality outside 0-63, type not A-D, or Y above the image",
            )
        minutiae.append(Minutia(round(x * scale), round((height - y) * scale), theta, kind,
                                quality))
    return Finger(position, tuple(minutiae)), imp


def _to_units(px: int, ppi: int, path: str) -> int:
    units = round(px * 2540 / ppi)
    if not 0 <= units <= 9999:
        raise CodecError(path, f"{px} px does not fit 0-99.99 mm at {ppi} ppi")
    return units


def _height_units(image: BiometricImage | None, path: str) -> int:
    if image is None:
        return _NO_IMAGE_HEIGHT
    if image.ppi <= 0 or image.height < 0:
        raise CodecError(f"{path}.image", "image ppi and height must be positive")
    height = round(image.height * 2540 / image.ppi)
    if height > 9999:
        raise CodecError(f"{path}.image.height", "image taller than 99.99 mm")
    return height


# --- images ----------------------------------------------------------------------------------


def _image_record(
    finger: Finger, idc: int, imp: int, impression: Impression, source: str,
    date: dt.datetime, legacy: bool, path: str,
) -> Record:
    image = finger.image
    assert image is not None
    ipath = f"{path}.image"
    if legacy and impression in (Impression.ROLLED, Impression.PLAIN):
        code = _CODE_OF_COMPRESSION.get(image.compression)
        if code is None or image.ppi != _DEFAULT_PPI:
            raise CodecError(ipath, "a Type-4 record needs 500 ppi and a known compression")
        if not 1 <= finger.position <= 15:
            raise CodecError(f"{path}.position", "Type-4 carries finger positions 1-15 only")
        return Type4Record(idc, imp, (finger.position,), image.width, image.height, code,
                           image.data)
    rtype = {Impression.LATENT: 13, Impression.PALM: 15, Impression.LATENT_PALM: 15}.get(
        impression, 14
    )
    if not 0 < image.width <= 99999 or not 0 < image.height <= 99999 or image.ppi <= 0:
        raise CodecError(ipath, "width, height and ppi must be positive")
    fields: dict[int, Subfields] = {
        3: text(str(imp)),
        4: text(_plain(source, "header.sender")),
        5: text(_date(date)),
        6: text(str(image.width)),
        7: text(str(image.height)),
        8: text("1"),
        9: text(str(image.ppi)),
        10: text(str(image.ppi)),
        11: text(_plain(image.compression, f"{ipath}.compression")),
        12: text("8"),
        13: text(str(finger.position)),
    }
    return TaggedRecord(rtype, idc, fields, image.data)


def _read_image(index: int, rec: Record, ppi: int) -> tuple[BiometricImage, int, Impression]:
    where = f"Type-{rec.type}[{index}]"
    if isinstance(rec, Type4Record):
        compression = COMPRESSION_CODES.get(rec.compression)
        if compression is None:
            raise CodecError(f"{where}.4.008", f"unknown compression code {rec.compression}")
        imp = _impression(str(rec.impression), f"{where}.4.003")
        image = BiometricImage(rec.data, compression, rec.width, rec.height, _DEFAULT_PPI)
        return image, rec.positions[0], imp
    t = rec.type
    imp = _impression(rec.text(3), f"{where}.{t}.003")
    width = _int(rec.text(6) or "", f"{where}.{t}.006")
    height = _int(rec.text(7) or "", f"{where}.{t}.007")
    scale = _int(rec.text(8) or "0", f"{where}.{t}.008", digits=1)
    horizontal = _int(rec.text(9) or "0", f"{where}.{t}.009")
    image_ppi = horizontal if scale == 1 else round(horizontal * 2.54) if scale == 2 else ppi
    if image_ppi <= 0:
        raise CodecError(f"{where}.{t}.009", "resolution must be positive")
    compression = rec.text(11)
    if not compression:
        raise CodecError(f"{where}.{t}.011", "compression algorithm missing")
    position = _int(rec.text(13) or "", f"{where}.{t}.013")
    assert rec.data is not None
    return BiometricImage(rec.data, compression, width, height, image_ppi), position, imp


# --- small helpers ---------------------------------------------------------------------------


def _type2(tx: Transaction) -> TaggedRecord | None:
    for rec in tx.records:
        if rec.type == 2 and isinstance(rec, TaggedRecord):
            return rec
    return None


def _int(value: str, path: str, *, digits: int = 9) -> int:
    if not value or len(value) > digits or not value.isascii() or not value.isdigit():
        raise CodecError(path, f"expected an unsigned integer, got {value[:20]!r}")
    return int(value)


def _impression(code: str | None, path: str) -> Impression:
    imp = _IMPRESSION_OF_CODE.get(_int(code or "", path, digits=2))
    if imp is None:
        raise CodecError(path, f"impression type {code} is not a finger or palm impression")
    return imp


def _check_position(position: int, impression: Impression, path: str) -> None:
    palm = impression in (Impression.PALM, Impression.LATENT_PALM)
    ok = 20 <= position <= 38 if palm else 0 <= position <= 15
    if not ok:
        raise CodecError(path, f"position {position} is not valid for {impression.value} prints")


def _plain(value: str, path: str) -> str:
    if not isinstance(value, str) or any(c in value for c in "\x1c\x1d\x1e\x1f"):
        raise CodecError(path, "must be text without ANSI/NIST separators")
    return value


def px_per_mm(ppi: int) -> str:
    if not 0 < ppi <= 9999:
        raise CodecError("fingerprints.ppi", f"{ppi} outside 1-9999")
    hundredths = ppi * 10000 // 2540  # truncated, as the 2008/616 appendix writes 19.68
    return f"{hundredths // 100:02d}.{hundredths % 100:02d}"


def _ppi_from_header(tx: Transaction) -> int:
    nsr = tx.text(11) or ""
    whole, _, frac = nsr.partition(".")
    if whole.isascii() and whole.isdigit() and (not frac or (frac.isascii() and frac.isdigit())):
        ppi = round(float(nsr) * 25.4)
        if 0 < ppi <= 9999:
            return ppi
    return _DEFAULT_PPI


def _timestamp(tx: Transaction) -> dt.datetime:
    """1.014 GMT `YYYYMMDDhhmmssZ`, else 1.005 DAT `YYYYMMDD` at midnight UTC; exact digits only."""
    gmt = tx.text(14)
    if gmt is not None:
        value, path, size = gmt, "Type-1.1.014", 15
    else:
        value, path, size = tx.text(5) or "", "Type-1.1.005", 8
    digits = value[:14] if size == 15 else value
    if (
        len(value) != size or (size == 15 and value[14] != "Z")
        or not digits.isascii() or not digits.isdigit()
    ):
        raise CodecError(path, f"expected {'YYYYMMDDhhmmssZ' if size == 15 else 'YYYYMMDD'}")
    parts = [int(digits[i : i + 2]) for i in range(4, 14, 2)] if size == 15 else [0] * 5
    if size == 8:
        parts[:2] = [int(digits[4:6]), int(digits[6:8])]
    month, day, hour, minute, second = parts
    try:
        return dt.datetime(int(digits[:4]), month, day, hour, minute, second, tzinfo=dt.UTC)
    except ValueError:
        raise CodecError(path, "not a valid date and time") from None


def _date(stamp: dt.datetime) -> str:
    """YYYYMMDD with a four-digit year (strftime drops the zeros of years before 1000)."""
    return f"{stamp.year:04d}{stamp.month:02d}{stamp.day:02d}"
