"""What of a UK record travels in each step of an exchange (Council Decision 2008/615/JHA).

Step 1 (hit/no-hit) carries a biometric under a reference and no personal data (2008/616/JHA
Art. 8(1)): `step1_reference` gives that reference, pseudonymous where the record has none of
its own (a SHA-256 digest of its PNC ID, so no identifier leaves). Step 2 (follow-up) carries
the core data behind a confirmed hit and no biometrics: `core_data_of` and back,
`record_of_core_data`. Used by the gateway, the mock partners and `translate` alike.
"""

from __future__ import annotations

import hashlib

from exchange.model import CoreData, PersonRecord


class RecordError(ValueError):
    """A record that cannot travel as asked (it has no reference and no identifier)."""


def step1_reference(record: PersonRecord) -> str:
    """The reference a record's biometrics travel under in step 1."""
    if record.reference is not None:
        return record.reference
    ident = record.identifiers.pnc_id or record.identifiers.cro_number or record.identifiers.asn
    if ident is None:
        raise RecordError("record has neither a reference nor an identifier")
    return "GB-" + hashlib.sha256(ident.encode("utf-8")).hexdigest()[:24]


def core_data_of(record: PersonRecord) -> CoreData | None:
    """What a follow-up may release about a record: identity data, never biometrics."""
    if record.name is None:
        return None
    return CoreData(
        name=record.name,
        aliases=record.aliases,
        date_of_birth=record.date_of_birth,
        sex=record.sex,
        nationalities=record.nationalities,
        place_of_birth=record.place_of_birth,
        identifiers=record.identifiers,
    )


def record_of_core_data(core: CoreData, reference: str | None = None) -> PersonRecord:
    """A UK record holding the core data a follow-up brought back."""
    return PersonRecord(
        identifiers=core.identifiers,
        name=core.name,
        reference=reference,
        aliases=core.aliases,
        date_of_birth=core.date_of_birth,
        sex=core.sex,
        nationalities=core.nationalities,
        place_of_birth=core.place_of_birth,
    )
