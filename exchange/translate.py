"""Format-to-format translation behind `prum-exchange translate`.

Every translation goes through the domain model: decode with the source codec, convert the
message shape where the formats carry different things, encode with the target codec. The
codecs stay pure; this module only chooses and chains them. It is pure too: message ids and
the timestamp come in through `Outbound`, so the CLI supplies the clock.

A UK record becomes one Prüm message. Which one is chosen by `message`:

- `dna-search`, `dacty-search`, `face-search`: a step-1 search request with the record's
  biometric of that kind under the record's reference, and no personal data (2008/616/JHA
  Art. 8(1));
- `core-data`: a step-2 follow-up reply with the record's identity data and no biometrics;
- `auto` (default): the first of DNA, fingerprints, face, core data that the record holds.

An ANSI/NIST transaction whose TOT is not an exchange message (AMN, CAR, LFFS, RFR, ...)
becomes one record of its prints, its reference `TOT:TCN` (the TCN's other characters as
`_`), so the TOT is kept in what the user sees.

A record without a `reference` travels under a pseudonymous one derived from its PNC ID (a
SHA-256 digest), so no identifier leaves in step 1. Back from Prüm XML, each message kind
becomes the record it carries (several DNA profiles become a JSON array of records).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from exchange.capacities import CAPACITIES, SEARCH_TYPE_BY_IMPRESSION
from exchange.codecs import ansi_nist, int_i_envelope, minutiae_records, prum_xml, uk_json
from exchange.model import (
    DactySearchRequest,
    DnaProbe,
    DnaSearchRequest,
    Envelope,
    FaceSearchRequest,
    FollowUpReply,
    Header,
    PersonRecord,
    Purpose,
)
from exchange.records import core_data_of, record_of_core_data, step1_reference

MINUTIAE_FORMATS = tuple(f.value for f in minutiae_records.RecordFormat)
FORMATS = ("uk-json", "prum-xml", "ansi-nist", "int-i-xml", *MINUTIAE_FORMATS)
FINGERPRINT_ONLY = ("ansi-nist", "int-i-xml")  # formats that carry fingerprint searches only
MESSAGES = ("auto", "dna-search", "dacty-search", "face-search", "core-data")


class TranslateError(ValueError):
    """A translation that the two formats cannot express (not a decoding failure)."""


@dataclass(frozen=True, slots=True)
class Outbound:
    """What a message needs beyond the record: header fields and the choice of message."""

    message_id: str = "translate-1"
    correlation_id: str = "translate-1"
    timestamp: dt.datetime = field(default_factory=lambda: dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    sender: str = "GB"
    receiver: str = "DE"
    purpose: Purpose = Purpose.INVESTIGATION
    message: str = "auto"
    in_reply_to: str | None = None


def choose_message(record: PersonRecord, wanted: str) -> str:
    if wanted not in MESSAGES:
        raise TranslateError(f"unknown message {wanted!r}; one of {', '.join(MESSAGES)}")
    if wanted != "auto":
        return wanted
    if record.dna is not None:
        return "dna-search"
    if record.fingerprints is not None:
        return "dacty-search"
    if record.face is not None:
        return "face-search"
    return "core-data"


def record_to_envelope(record: PersonRecord, out: Outbound) -> Envelope:
    """The Prüm message that carries the chosen part of a UK record."""
    kind = choose_message(record, out.message)
    body: DnaSearchRequest | DactySearchRequest | FaceSearchRequest | FollowUpReply
    if kind == "dna-search":
        if record.dna is None:
            raise TranslateError("record has no dna for a dna-search")
        body = DnaSearchRequest((DnaProbe(step1_reference(record), record.dna),))
    elif kind == "dacty-search":
        if record.fingerprints is None:
            raise TranslateError("record has no fingerprints for a dacty-search")
        search_type = SEARCH_TYPE_BY_IMPRESSION[record.fingerprints.impression]
        body = DactySearchRequest(
            step1_reference(record),
            search_type,
            record.fingerprints,
            CAPACITIES[search_type].max_candidates,
        )
    elif kind == "face-search":
        if record.face is None:
            raise TranslateError("record has no face for a face-search")
        body = FaceSearchRequest(step1_reference(record), record.face)
    else:
        core = core_data_of(record)
        if core is None:
            raise TranslateError("record has no name to send as core data")
        body = FollowUpReply(out.in_reply_to or out.message_id, step1_reference(record), core)
    header = Header(
        message_id=out.message_id,
        correlation_id=out.correlation_id,
        timestamp=out.timestamp,
        sender=out.sender,
        receiver=out.receiver,
        message_type=prum_xml.message_type_of(body),
        purpose=out.purpose,
    )
    return Envelope(header, body)


def envelope_to_records(envelope: Envelope) -> list[PersonRecord]:
    """The UK records a Prüm message carries; refused for messages that carry none."""
    body = envelope.body
    if isinstance(body, DnaSearchRequest):
        return [PersonRecord(reference=p.reference, dna=p.profile) for p in body.probes]
    if isinstance(body, DactySearchRequest):
        return [PersonRecord(reference=body.reference, fingerprints=body.fingerprints)]
    if isinstance(body, FaceSearchRequest):
        return [PersonRecord(reference=body.reference, face=body.template)]
    if isinstance(body, FollowUpReply):
        return [record_of_core_data(body.core_data, body.hit_reference)]
    raise TranslateError(f"a {envelope.header.message_type} message carries no person record")


def _records_json(records: list[PersonRecord]) -> bytes:
    if len(records) == 1:
        return uk_json.encode(records[0])
    docs = [uk_json.record_to_json(r) for r in records]
    return (json.dumps(docs, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def prints_record(tx: ansi_nist.PrintsTransaction) -> PersonRecord:
    """A record of a transaction's prints, under a reference noting its TOT and TCN."""
    tcn = re.sub(r"[^A-Za-z0-9._:/-]", "_", tx.tcn) or "-"
    return PersonRecord(reference=f"{tx.tot or 'TOT'}:{tcn}"[:128], fingerprints=tx.prints)


# Formats that carry whole exchange messages (envelopes), by their codec.
ENVELOPE_CODECS: dict[str, tuple[Callable[[bytes], Envelope], Callable[[Envelope], bytes]]] = {
    "prum-xml": (prum_xml.decode, lambda env: prum_xml.encode(env, pretty=True)),
    "ansi-nist": (ansi_nist.decode, ansi_nist.encode),
    "int-i-xml": (int_i_envelope.decode_envelope, int_i_envelope.encode_envelope),
}


def int_i_tcn(message_id: str) -> str:
    """INT-I's TCN is 15 letters and digits: a message id that is not becomes its digest."""
    if len(message_id) == 15 and message_id.isascii() and message_id.isalnum():
        return message_id
    return hashlib.sha256(message_id.encode()).hexdigest()[:15].upper()


def translate(data: bytes, source: str, target: str, out: Outbound | None = None) -> bytes:
    """Translate `data` from format `source` to format `target` (names as in FORMATS).

    uk-json -> a message format: the record becomes the message chosen by `out.message`
    (ANSI/NIST and INT-I XML carry fingerprint searches only, so `auto` means `dacty-search`
    there; INT-I's TCN is 15 letters and digits, so another message id becomes its digest).
    A message format -> uk-json: the records the message carries. Between two message
    formats: the same envelope, re-encoded (what one format cannot carry is refused).
    """
    out = out or Outbound()
    if source == target:
        raise TranslateError(f"--from and --to are both {source}")
    for name in (source, target):
        if name not in FORMATS:
            raise TranslateError(f"unknown format {name!r}; one of {', '.join(FORMATS)}")
    if source in MINUTIAE_FORMATS or target in MINUTIAE_FORMATS:
        return _minutiae_record(data, source, target)
    if source == "uk-json":
        record = uk_json.decode(data)
        if target in FINGERPRINT_ONLY and out.message == "auto":
            out = replace(out, message="dacty-search")
        if target == "int-i-xml":
            tcn = int_i_tcn(out.message_id)
            out = replace(out, message_id=tcn, correlation_id=tcn)
        return ENVELOPE_CODECS[target][1](record_to_envelope(record, out))
    if source == "ansi-nist" and target == "uk-json":
        tx = ansi_nist.decode_transaction(data)  # once: its TOT says message or prints
        if tx.text(4) not in ansi_nist.MESSAGE_TOTS:
            return uk_json.encode(prints_record(ansi_nist.prints_transaction(tx)))
        envelope = ansi_nist.envelope_from_transaction(tx)
    else:
        envelope = ENVELOPE_CODECS[source][0](data)
    if target == "uk-json":
        return _records_json(envelope_to_records(envelope))
    return ENVELOPE_CODECS[target][1](envelope)


def _minutiae_record(data: bytes, source: str, target: str) -> bytes:
    """A finger minutiae record (INCITS 378 / ISO 19794-2) to or from a UK record's prints.

    Reading detects the record's own format and version (`source` names the family); the UK
    record it becomes is referenced by a digest of the record's bytes (the format carries no
    reference). Real records miscount their last extended-data block (NIST's samples do), so
    the reader gives the last view the bytes up to the record's end (`lenient_tail`); the
    minutiae are not affected. Writing takes the record's prints: minutiae only, images are not
    carried.
    """
    if source in MINUTIAE_FORMATS and target == "uk-json":
        prints = minutiae_records.to_fingerprint_set(
            minutiae_records.decode(data, lenient_tail=True)
        )
        digest = hashlib.sha256(data).hexdigest()[:20]
        return uk_json.encode(PersonRecord(reference=f"FMR:{digest}", fingerprints=prints))
    if source == "uk-json" and target in MINUTIAE_FORMATS:
        record = uk_json.decode(data)
        if record.fingerprints is None:
            raise TranslateError("record has no fingerprints for a minutiae record")
        fmt = minutiae_records.RecordFormat(target)
        return minutiae_records.encode(
            minutiae_records.from_fingerprint_set(record.fingerprints, fmt)
        )
    raise TranslateError(
        f"a minutiae record translates to and from uk-json, not {source} -> {target}"
    )
