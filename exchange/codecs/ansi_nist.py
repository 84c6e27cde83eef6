"""ANSI/NIST-ITL 1-2011 traditional encoding (NIST SP 500-290, Annex B), INT-I profile: the codec.

The public entry point for fingerprint exchange with Prüm partners and Interpol:

- `decode(bytes) -> Envelope` and `encode(Envelope) -> bytes` for fingerprint searches
  (CPS/PMS/MPS/MMS), search results (SRE) and errors (ERR), as `prum_xml` does for XML;
- `fingerprints_from_bytes` / `fingerprints_to_bytes` for a transaction that only carries a
  person's prints (the `ansi_nist` member of a UK record, DESIGN.md §3);
- `decode_prints` for a transaction of any other TOT (AMN, CAR, LFFS, RFR, ...: 1-2011 leaves
  TOT to the application profile), read as the prints it carries with its TOT and TCN;
- `decode_transaction` / `encode_transaction` and the record types for work at record level.

Three modules do the work, one concern each: `ansi_nist_records` (bytes ⇄ records:
separators, LEN, CNT, IDC, Type-4 binary layout), `ansi_nist_prints` (a person's prints ⇄
Type-9 minutiae and image records) and `ansi_nist_messages` (transactions ⇄ envelopes: TOT,
Type-1 header, Type-2 fields of the profile). Both are sans-IO; every fault is a
`CodecError` naming record, field and byte offset.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from exchange.codecs.ansi_nist_messages import (
    DOMAIN,
    MESSAGE_TOTS,
    SEARCH_TOT,
    TYPE2_FIELDS,
    VERSION,
    decode,
    encode,
    envelope_from_transaction,
    px_per_mm,
    transaction_from_envelope,
)
from exchange.codecs.ansi_nist_prints import fingerprint_records, fingerprint_set
from exchange.codecs.ansi_nist_records import (
    DEFAULT_LIMITS,
    FS,
    GS,
    RS,
    US,
    BinaryRecord,
    Items,
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
from exchange.model import FingerprintSet

__all__ = [
    "DEFAULT_LIMITS",
    "DOMAIN",
    "FS",
    "GS",
    "MESSAGE_TOTS",
    "RS",
    "SEARCH_TOT",
    "TYPE2_FIELDS",
    "US",
    "VERSION",
    "BinaryRecord",
    "Items",
    "Limits",
    "PrintsTransaction",
    "Record",
    "Subfields",
    "TaggedRecord",
    "Transaction",
    "Type4Record",
    "decode",
    "decode_prints",
    "decode_transaction",
    "encode",
    "encode_transaction",
    "envelope_from_transaction",
    "fingerprint_records",
    "fingerprint_set",
    "fingerprints_from_bytes",
    "fingerprints_to_bytes",
    "prints_transaction",
    "px_per_mm",
    "text",
    "transaction_from_envelope",
]


@dataclass(frozen=True, slots=True)
class PrintsTransaction:
    """A transaction read for its prints: its TOT (1.004), TCN (1.009) and the prints."""

    tot: str
    tcn: str
    prints: FingerprintSet


def decode_prints(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> PrintsTransaction:
    """Any transaction's prints, whatever its TOT; refused if it carries none."""
    return prints_transaction(decode_transaction(data, limits=limits))


def prints_transaction(tx: Transaction) -> PrintsTransaction:
    """A decoded transaction read for its prints; refused if it carries none."""
    prints = fingerprint_set(tx)
    if not prints.fingers:
        raise CodecError("Type-1.1.003", "the transaction carries no fingerprint record")
    return PrintsTransaction(tx.text(4) or "", tx.text(9) or "", prints)


def fingerprints_from_bytes(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> FingerprintSet:
    """The prints of any transaction (Type-9 minutiae and Type-4/13/14/15 images, by IDC)."""
    prints = fingerprint_set(decode_transaction(data, limits=limits))
    if not prints.fingers:
        raise CodecError("Type-1.1.003", "the transaction carries no fingerprint record")
    return prints


def fingerprints_to_bytes(
    prints: FingerprintSet,
    *,
    timestamp: dt.datetime,
    originator: str,
    destination: str,
    tcn: str,
    tot: str = "CPS",
    legacy_images: bool = False,
) -> bytes:
    """A transaction holding only `prints` (no Type-2): Type-1, then Type-9 and images."""
    if timestamp.tzinfo is None:
        raise CodecError("timestamp", "timestamp must carry a time zone")
    utc = timestamp.astimezone(dt.UTC)
    date = f"{utc.year:04d}{utc.month:02d}{utc.day:02d}"
    resolution = px_per_mm(prints.ppi)
    header = {
        2: text(VERSION),
        4: text(tot),
        5: text(date),
        7: text(destination),
        8: text(originator),
        9: text(tcn),
        11: text(resolution),
        12: text(resolution),
        13: (DOMAIN,),
        14: text(f"{date}{utc.hour:02d}{utc.minute:02d}{utc.second:02d}Z"),
    }
    records = fingerprint_records(prints, source=originator, date=utc, legacy_images=legacy_images)
    return encode_transaction(Transaction(header, records))
