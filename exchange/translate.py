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
`_`), so the TOT is kept in what the user sees; to a message format, that record goes on as a
UK record does (a fingerprint search of its prints under that reference).

A record without a `reference` travels under a pseudonymous one derived from its PNC ID (a
SHA-256 digest), so no identifier leaves in step 1. Back from Prüm XML, each message kind
becomes the record it carries (several DNA profiles become a JSON array of records).

`--from ansi-nist` reads either encoding of ANSI/NIST-ITL: traditional (tagged fields) or
XML, detected by the first byte; the XML one is read as INT-I v6 (`int-i-xml`), a traditional
one whose 1.013 DOM names INT-I as INT-I's traditional encoding (`int-i`). `--from int-i`
takes either INT-I encoding the same way. Between the two INT-I encodings a transaction goes
as it is (the INT-I model, every TOT), not through the exchange message; an INT-I transaction
that is no exchange message (ATP, NPS) becomes, elsewhere, a record of its prints under
`TOT:TCN`, as an ANSI/NIST one does.

Nothing is lost silently: `translation` returns, beside the bytes, the `Losses` of the
conversion (`exchange.losses`): what is read back from the output is compared with what was
read from the input, field by field, and what the source holds that no reader of ours takes
(records of other types, INT-I elements we do not model) is named too. The CLI prints them
as one line on stderr.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from exchange.capacities import CAPACITIES, SEARCH_TYPE_BY_IMPRESSION
from exchange.codecs import (
    ansi_nist,
    int_i_envelope,
    int_i_traditional,
    int_i_xml,
    minutiae_records,
    prum_xml,
    uk_json,
)
from exchange.codecs.errors import CodecError
from exchange.codecs.int_i_envelope import int_i_tcn
from exchange.codecs.int_i_model import IntiTransaction
from exchange.losses import Losses, losses
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
FORMATS = ("uk-json", "prum-xml", "ansi-nist", "int-i-xml", "int-i", *MINUTIAE_FORMATS)
# Formats that carry fingerprint searches only.
FINGERPRINT_ONLY = ("ansi-nist", "int-i-xml", "int-i")
# INT-I v6's two encodings of one model: XML (NIEM) and traditional (tagged fields).
INT_I_CODECS: dict[
    str, tuple[Callable[[bytes], IntiTransaction], Callable[[IntiTransaction], bytes]]
] = {
    "int-i-xml": (int_i_xml.decode, int_i_xml.encode),
    "int-i": (int_i_traditional.decode, int_i_traditional.encode),
}
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
    raise TranslateError(
        f"a message of type {envelope.header.message_type} carries no person record"
    )


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
    "int-i": (
        lambda data: int_i_envelope.envelope_from_transaction(int_i_traditional.decode(data)),
        lambda env: int_i_traditional.encode(int_i_envelope.transaction_from_envelope(env)),
    ),
}


@dataclass(frozen=True, slots=True)
class Translation:
    data: bytes
    losses: Losses = field(default_factory=Losses)


def translate(data: bytes, source: str, target: str, out: Outbound | None = None) -> bytes:
    """The bytes of `translation` (what was not carried is in its `losses`)."""
    return translation(data, source, target, out).data


def translation(data: bytes, source: str, target: str, out: Outbound | None = None) -> Translation:
    """Translate `data` from format `source` to format `target` (names as in FORMATS).

    uk-json -> a message format: the record becomes the message chosen by `out.message`
    (ANSI/NIST and INT-I XML carry fingerprint searches only, so `auto` means `dacty-search`
    there; INT-I's TCN is YY, a serial and a check letter, so another message id becomes one,
    `int_i_tcn`).
    A message format -> uk-json: the records the message carries. Between two message
    formats: the same envelope, re-encoded (what one format cannot carry is refused, or
    reported in the losses).
    """
    out = out or Outbound()
    if source == target:
        raise TranslateError(f"--from and --to are both {source}")
    for name in (source, target):
        if name not in FORMATS:
            raise TranslateError(f"unknown format {name!r}; one of {', '.join(FORMATS)}")
    source, parsed = _encoding_of(data, source)
    if target == source:
        raise TranslateError(f"the input is {source} already")
    if source in INT_I_CODECS and target in INT_I_CODECS:
        return _int_i_encoding(_read_int_i(data, source, parsed), target)
    if source in MINUTIAE_FORMATS or target in MINUTIAE_FORMATS:
        return _minutiae_record(data, source, target, out)
    if source == "uk-json":
        return _from_record(uk_json.decode(data), target, out)
    envelope, unread = _read_message(data, source, parsed)
    if isinstance(envelope, PersonRecord):  # an ANSI/NIST transaction that is no message
        if target != "uk-json":  # its prints go on as a UK record's do
            onward = _from_record(envelope, target, out)
            return Translation(onward.data, unread + onward.losses)
        written = uk_json.encode(envelope)
        return Translation(written, unread + losses(envelope, uk_json.decode(written)))
    if target == "uk-json":
        return _to_records(envelope, unread)
    sent = envelope
    if target in INT_I_CODECS:  # INT-I's TCN and TCR have their own shape
        head = envelope.header
        sent = replace(
            envelope,
            header=replace(
                head,
                message_id=int_i_tcn(head.message_id, head.timestamp.year),
                correlation_id=int_i_tcn(head.correlation_id, head.timestamp.year),
            ),
        )
    written = ENVELOPE_CODECS[target][1](sent)
    back = ENVELOPE_CODECS[target][0](written)
    return Translation(written, unread + losses(envelope, back, "message"))


def _is_xml(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<"


def _encoding_of(data: bytes, source: str) -> tuple[str, ansi_nist.Transaction | None]:
    """The format an ANSI/NIST (or INT-I) input really is: INT-I XML when it is XML, INT-I's
    traditional encoding when its 1.013 DOM names INT-I, else `source` as given; and the
    transaction's records where telling them apart parsed them (so they are parsed once)."""
    if source in ("ansi-nist", "int-i") and _is_xml(data):
        return "int-i-xml", None  # ANSI/NIST-ITL's XML encoding, as INT-I v6 profiles it
    if source == "ansi-nist":
        tx = ansi_nist.decode_transaction(data)
        return ("int-i" if int_i_traditional.is_int_i(tx) else source), tx
    return source, None


def _read_int_i(data: bytes, source: str, parsed: ansi_nist.Transaction | None) -> IntiTransaction:
    """An INT-I transaction in `source`'s encoding, from its records if already parsed."""
    if parsed is not None:
        return int_i_traditional.transaction_from_records(parsed)
    return INT_I_CODECS[source][0](data)


def _int_i_encoding(tx: IntiTransaction, target: str) -> Translation:
    """An INT-I transaction from one of its encodings to the other, model to model.

    What the target cannot carry is named twice over: what its writer says it cannot write
    (`int_i_traditional.untransportable`: the XML-only parts) and what does not come back
    when the written bytes are read again (e.g. traditional fields the XML has no place for).
    """
    unwritable: list[str] = []
    if target == "int-i":
        unwritable = [f"int-i.{path}" for path in int_i_traditional.untransportable(tx)]
    written = INT_I_CODECS[target][1](tx)
    back = INT_I_CODECS[target][0](written)
    return Translation(written, Losses(dropped=tuple(unwritable)) + losses(tx, back, "int-i"))


def _from_record(record: PersonRecord, target: str, out: Outbound) -> Translation:
    if target in FINGERPRINT_ONLY and out.message == "auto":
        out = replace(out, message="dacty-search")
    if target in INT_I_CODECS:
        tcn = int_i_tcn(out.message_id, out.timestamp.year)
        out = replace(out, message_id=tcn, correlation_id=tcn)
    envelope = record_to_envelope(record, out)
    decode, encode = ENVELOPE_CODECS[target]
    written = encode(envelope)
    back = decode(written)
    found = envelope_to_records(back)
    lost = losses(record, found[0] if len(found) == 1 else PersonRecord())
    return Translation(written, lost + losses(envelope, back, "message"))


def _to_records(envelope: Envelope, unread: Losses) -> Translation:
    records = envelope_to_records(envelope)
    written = _records_json(records)
    lost = unread + Losses(dropped=("message.header",))
    if len(records) == 1:
        # What of the message body no record holds: rebuild the message from the record.
        rebuilt = _message_of(records[0], envelope)
        if rebuilt is not None:
            lost = lost + losses(envelope.body, rebuilt.body, "message.body")
        lost = lost + losses(records[0], uk_json.decode(written))
    return Translation(written, lost)


def _message_of(record: PersonRecord, envelope: Envelope) -> Envelope | None:
    kind = {
        DnaSearchRequest: "dna-search",
        DactySearchRequest: "dacty-search",
        FaceSearchRequest: "face-search",
        FollowUpReply: "core-data",
    }.get(type(envelope.body))
    if kind is None:
        return None
    head = envelope.header
    out = Outbound(
        head.message_id,
        head.correlation_id,
        head.timestamp,
        head.sender,
        head.receiver,
        head.purpose,
        kind,
        getattr(envelope.body, "request_message_id", None),
    )
    try:
        return record_to_envelope(record, out)
    except TranslateError:
        return None


def _read_message(
    data: bytes, source: str, parsed: ansi_nist.Transaction | None = None
) -> tuple[Envelope | PersonRecord, Losses]:
    """The message (or, for an ANSI/NIST transaction that is none, the record of its prints)
    and what of the source no reader of ours takes; `parsed`: its records, if already read."""
    if source == "ansi-nist":
        tx = parsed if parsed is not None else ansi_nist.decode_transaction(data)  # TOT: message?
        if tx.text(4) not in ansi_nist.MESSAGE_TOTS:
            record = prints_record(ansi_nist.prints_transaction(tx))
            return record, _unread_ansi_nist(tx, message=False)
        return ansi_nist.envelope_from_transaction(tx), _unread_ansi_nist(tx, message=True)
    if source in INT_I_CODECS:
        tx_i = _read_int_i(data, source, parsed)
        if tx_i.tot not in int_i_envelope.ENVELOPE_TOTS:  # ATP, NPS: a record of its prints
            return int_i_prints_record(tx_i), _unread_int_i(tx_i)
        envelope = int_i_envelope.envelope_from_transaction(tx_i)
        try:
            rebuilt = int_i_envelope.transaction_from_envelope(envelope)
        except CodecError:
            return envelope, Losses(changed=("int-i (not all of it re-checked)",))
        return envelope, losses(tx_i, rebuilt, "int-i")
    return ENVELOPE_CODECS[source][0](data), Losses()


def int_i_prints_record(tx: IntiTransaction) -> PersonRecord:
    """A record of an INT-I transaction's prints, under `TOT:TCN` (as `prints_record`)."""
    return PersonRecord(
        reference=f"{tx.tot}:{tx.type1.tcn}", fingerprints=int_i_envelope.prints_of(tx)
    )


def _unread_int_i(tx: IntiTransaction) -> Losses:
    """What of an INT-I transaction a record of its prints does not hold."""
    dropped = ["int-i.type1"]
    if tx.type2 is not None:
        dropped.append("int-i.type2")
    others: dict[int, int] = {}
    for record in tx.records:
        if record.record_type not in int_i_envelope.PRINT_RECORD_TYPES:
            others[record.record_type] = others.get(record.record_type, 0) + 1
    dropped += [f"Type-{t} records ({n})" for t, n in sorted(others.items())]
    return Losses(dropped=tuple(dropped))


# Record types whose content the ANSI/NIST reader takes (ansi_nist_prints, ansi_nist_messages).
_READ_RECORD_TYPES = frozenset({2, 3, 4, 9, 13, 14, 15})


def _unread_ansi_nist(tx: ansi_nist.Transaction, *, message: bool) -> Losses:
    dropped = []
    counts: dict[int, int] = {}
    for rec in tx.records:
        if rec.type not in _READ_RECORD_TYPES or (rec.type == 2 and not message):
            counts[rec.type] = counts.get(rec.type, 0) + 1
    dropped += [f"Type-{t} records ({n})" for t, n in sorted(counts.items())]
    if message:
        for rec in tx.records:
            if isinstance(rec, ansi_nist.TaggedRecord) and rec.type == 2:
                other = sorted(set(rec.fields) - set(ansi_nist.TYPE2_FIELDS))
                if other:
                    dropped.append("Type-2 fields " + ", ".join(f"2.{n:03d}" for n in other))
    return Losses(dropped=tuple(dropped))


def _minutiae_record(data: bytes, source: str, target: str, out: Outbound) -> Translation:
    """A finger minutiae record (INCITS 378 / ISO 19794-2) to or from a UK record's prints.

    Reading detects the record's own format and version (`source` names the family); the UK
    record it becomes is referenced by a digest of the record's bytes (the format carries no
    reference); to a message format, that record goes on as a UK record does. Real records
    miscount their last extended-data block (NIST's samples do), so the reader gives the last
    view the bytes up to the record's end (`lenient_tail`); the minutiae are not affected.
    Writing takes the record's prints: minutiae only, images are not carried.
    """
    if source in MINUTIAE_FORMATS and target not in MINUTIAE_FORMATS:
        read = minutiae_records.decode(data, lenient_tail=True)
        prints = minutiae_records.to_fingerprint_set(read)
        digest = hashlib.sha256(data).hexdigest()[:20]
        record = PersonRecord(reference=f"FMR:{digest}", fingerprints=prints)
        written = uk_json.encode(record)
        back = minutiae_records.from_fingerprint_set(
            uk_json.decode(written).fingerprints or prints, read.format
        )
        lost = losses(read, back, "record")
        if target == "uk-json":
            return Translation(written, lost)
        onward = _from_record(record, target, out)  # on as a UK record's prints go
        return Translation(onward.data, lost + onward.losses)
    if source == "uk-json" and target in MINUTIAE_FORMATS:
        record = uk_json.decode(data)
        if record.fingerprints is None:
            raise TranslateError("record has no fingerprints for a minutiae record")
        fmt = minutiae_records.RecordFormat(target)
        written = minutiae_records.encode(
            minutiae_records.from_fingerprint_set(record.fingerprints, fmt)
        )
        prints_back = minutiae_records.to_fingerprint_set(minutiae_records.decode(written))
        lost = losses(record, PersonRecord(fingerprints=record.fingerprints))
        return Translation(written, lost + losses(record.fingerprints, prints_back, "fingerprints"))
    raise TranslateError(
        f"a minutiae record translates to and from uk-json, not {source} -> {target}"
    )
