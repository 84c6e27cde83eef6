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
- Type-2 is user-defined (1-2011 §8.2). INT-I's own Type-2 definitions (v6.00.02, on
  ANSI/NIST-ITL 1-2011 Update 2015) are public in Interpol's repository
  INTERPOL-Innovation-Centre/ANSI-NIST-XML-ITL-Implementation (MRT/MRT_INT-I_FieldDefinition.csv),
  but only their XML form is complete there. Followed from it: errors in 2.074 ERM (ECO
  3-digit code, EFM 3-letter field mnemonic, EMT text of at most 128 characters). Not
  followed: INT-I's 2.064 RLS (respondents list: one candidate per SRE, candidate
  sequence, manual-verification flag, total count, TOT searched, I/N), whose traditional
  item order is not given there; our SRE carries the whole candidate list of a Prüm reply
  in 2.064 CAN (reference, score, match type) after the FBI EBTS numbering (2.059 SRF I/N,
  2.064 CAN, 2.060 MSG), and a peer speaking INT-I's RLS is refused with a typed error,
  never misread. The probe reference, search type, purpose, candidates asked for and the
  request's TCN are in our fields 2.010-2.014 (INT-I's 2.010 CRN is a pair of ISO 3166
  alpha-3 country and number; ours is one opaque reference); all are in `TYPE2_FIELDS`.
- The prints themselves (Type-9 minutiae, Type-4/13/14/15 images) are `ansi_nist_prints`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from exchange.capacities import CAPACITIES
from exchange.codecs import int_i_codes
from exchange.codecs.ansi_nist_prints import (
    DEFAULT_PPI,
    date_field,
    fingerprint_records,
    fingerprint_set,
    plain,
)
from exchange.codecs.ansi_nist_records import (
    DEFAULT_LIMITS,
    Limits,
    Record,
    Subfields,
    TaggedRecord,
    Transaction,
    decode_transaction,
    encode_transaction,
    text,
    unsigned,
)
from exchange.codecs.errors import CodecError
from exchange.model import (
    Candidate,
    DactySearchRequest,
    Envelope,
    ErrorBody,
    ErrorCode,
    Header,
    Impression,
    MatchType,
    MessageType,
    Modality,
    ProbeResult,
    Purpose,
    SearchReply,
)

VERSION = "0300"
DOMAIN = ("INT-I", "4.22")

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
#: TOTs that `decode` turns into an exchange message; any other TOT (AMN, CAR, LFFS, RFR,
#: ...) is a transaction of prints, read with `ansi_nist.decode_prints`.
MESSAGE_TOTS = SEARCH_TOTS | {"SRE", "ERR"}

# Type-2 fields of this profile (ours; see the module docstring).
F_REFERENCE = 10  # 2.010 probe reference (reference data, no personal meaning)
F_SEARCH_TYPE = 11  # 2.011 Prüm search type, e.g. "TP/TP"
F_PURPOSE = 12  # 2.012 purpose of the search (exchange.model.Purpose value)
F_MAX_CANDIDATES = 13  # 2.013 candidates asked for (Implementing Agreement Art. 9 caps it)
F_REQUEST_ID = 14  # 2.014 TCN of the request that a SRE/ERR answers
F_FINDINGS = 59  # 2.059 SRF: "I" hit, "N" no hit (EBTS meaning)
F_ERROR = 60  # 2.060 MSG: items (error code, message[, field path]), lossless for our peers
F_INTI_ERROR = 74  # 2.074 ERM (INT-I v6): items ECO 3-digit code, EFM field mnemonic, EMT text
F_CANDIDATES = 64  # 2.064 CAN: one subfield per candidate: (reference, score, match type)

#: 2.074 ECO numbers of this profile: "101" is INT-I's "mandatory element missing", the 9xx
#: are ours and absent from INT-I's table (MRT_INT-I_LookupCodes.csv, code table ERR), so
#: none means something else to an INT-I peer. (Ours was 999 for internal errors until
#: INT-I's table showed 999 is "record not found"; now 900.) Other numbers are read with
#: INT-I's meaning (`int_i_codes.error_code_of`).
ERROR_NUMBER: Mapping[ErrorCode, str] = {
    ErrorCode.SCHEMA_INVALID: "101",
    ErrorCode.UNSUPPORTED_MODALITY: "901",
    ErrorCode.QUOTA_EXCEEDED: "902",
    ErrorCode.UNKNOWN_REFERENCE: "903",
    ErrorCode.UNAUTHORISED_SENDER: "904",
    ErrorCode.PROFILE_REJECTED: "905",
    ErrorCode.UNSUPPORTED_FEATURE_MODEL: "906",
    ErrorCode.INTERNAL: "900",
    ErrorCode.TEMPORARILY_UNAVAILABLE: "907",
}
_ERROR_OF_NUMBER = {number: code for code, number in ERROR_NUMBER.items()}

TYPE2_FIELDS: Mapping[int, str] = {
    F_REFERENCE: "REF probe reference",
    F_SEARCH_TYPE: "PST Prüm search type",
    F_PURPOSE: "PUR purpose",
    F_MAX_CANDIDATES: "NCR number of candidates requested",
    F_REQUEST_ID: "RQI request TCN answered",
    F_FINDINGS: "SRF search result findings (I/N)",
    F_ERROR: "MSG error code, text and field",
    F_INTI_ERROR: "ERM error code, field mnemonic, text (INT-I v6)",
    F_CANDIDATES: "CAN candidate list",
}

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
    ppi = DEFAULT_PPI
    if isinstance(body, DactySearchRequest):
        tot = _check_search(body.search_type, body.max_candidates, "body")
        _check_impression(body.search_type, body.fingerprints.impression, "body.fingerprints")
        type2[F_REFERENCE] = text(plain(body.reference, "body.reference"))
        type2[F_SEARCH_TYPE] = text(body.search_type)
        type2[F_MAX_CANDIDATES] = text(str(body.max_candidates))
        ppi = body.fingerprints.ppi
        records = list(
            fingerprint_records(
                body.fingerprints,
                source=head.sender,
                date=head.timestamp,
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
        type2[F_ERROR] = (tuple(plain(i, "body") for i in items),)
        type2[F_INTI_ERROR] = ((ERROR_NUMBER[body.code], "", items[1][:128]),)
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
        5: text(date_field(utc)),
        7: text(plain(head.receiver, "header.receiver")),
        8: text(plain(head.sender, "header.sender")),
        9: text(plain(head.message_id, "header.message_id")),
        10: text(plain(head.correlation_id, "header.correlation_id")),
        11: text(resolution),
        12: text(resolution),
        13: (DOMAIN,),
        14: text(f"{date_field(utc)}{utc.hour:02d}{utc.minute:02d}{utc.second:02d}Z"),
    }
    return Transaction(header, (TaggedRecord(2, 0, type2), *records))


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
    # A peer that does not write our private 2.010 still names its transaction (1.009 TCN).
    reference = type2.text(F_REFERENCE) or tx.text(9)
    if not reference:
        raise CodecError("Type-2.2.010", "probe reference missing, and no TCN (1.009)")
    search_type = type2.text(F_SEARCH_TYPE)
    if search_type is None:
        raise CodecError("Type-2.2.011", "Prüm search type missing")
    wanted = unsigned(type2.text(F_MAX_CANDIDATES) or "", "Type-2.2.013")
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
        F_REQUEST_ID: text(plain(body.request_message_id, "body.request_message_id")),
        F_REFERENCE: text(plain(result.probe_reference, "body.results[0].probe_reference")),
        F_FINDINGS: text("I" if result.candidates else "N"),
    }
    cands: list[tuple[str, ...]] = []
    for i, cand in enumerate(result.candidates):
        path = f"body.results[0].candidates[{i}]"
        if cand.wildcard or cand.compared_loci is not None or cand.mismatched_alleles is not None:
            raise CodecError(path, "DNA match details cannot travel in an SRE")
        if not math.isfinite(cand.score):
            raise CodecError(f"{path}.score", "score must be finite")
        cands.append(
            (
                plain(cand.reference, f"{path}.reference"),
                repr(float(cand.score)),
                cand.match_type.value,
            )
        )
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
    return SearchReply(request_id, Modality.FINGERPRINT, (ProbeResult(probe, tuple(candidates)),))


def _error(type2: TaggedRecord | None) -> ErrorBody:
    """Our 2.060 when present (it is lossless); else INT-I's 2.074 ERM from any INT-I peer."""
    msg = type2.fields.get(F_ERROR) if type2 else None
    erm = type2.fields.get(F_INTI_ERROR) if type2 else None
    request_id = type2.text(F_REQUEST_ID) if type2 else None
    if msg:
        items = msg[0]
        if len(items) not in (2, 3):
            raise CodecError("Type-2.2.060", "ERR needs (code, message[, field])")
        try:
            code = ErrorCode(items[0])
        except ValueError:
            raise CodecError("Type-2.2.060", f"unknown error code {items[0][:30]!r}") from None
        return ErrorBody(code, items[1], items[2] if len(items) == 3 else None, request_id)
    if erm:
        items = erm[0]
        if len(items) != 3:
            raise CodecError("Type-2.2.074", "ERM needs (ECO, EFM, EMT)")
        number, mnemonic, text_ = items
        code = _ERROR_OF_NUMBER.get(number) or int_i_codes.error_code_of(number)
        message = text_ if number in _ERROR_OF_NUMBER else f"INT-I error {number}: {text_}"
        return ErrorBody(code, message, f"Type-2.{mnemonic}" if mnemonic else None, request_id)
    raise CodecError("Type-2.2.074", "ERR carries neither 2.074 ERM nor 2.060 MSG")


# --- small helpers ---------------------------------------------------------------------------


def _type2(tx: Transaction) -> TaggedRecord | None:
    for rec in tx.records:
        if rec.type == 2 and isinstance(rec, TaggedRecord):
            return rec
    return None


def px_per_mm(ppi: int) -> str:
    if not 0 < ppi <= 9999:
        raise CodecError("fingerprints.ppi", f"{ppi} outside 1-9999")
    hundredths = ppi * 10000 // 2540  # truncated, as the 2008/616 appendix writes 19.68
    return f"{hundredths // 100:02d}.{hundredths % 100:02d}"


def _timestamp(tx: Transaction) -> dt.datetime:
    """1.014 GMT `YYYYMMDDhhmmssZ`, else 1.005 DAT `YYYYMMDD` at midnight UTC; exact digits only."""
    gmt = tx.text(14)
    if gmt is not None:
        value, path, size = gmt, "Type-1.1.014", 15
    else:
        value, path, size = tx.text(5) or "", "Type-1.1.005", 8
    digits = value[:14] if size == 15 else value
    if (
        len(value) != size
        or (size == 15 and value[14] != "Z")
        or not digits.isascii()
        or not digits.isdigit()
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
