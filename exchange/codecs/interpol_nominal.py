"""Interpol's nominal data: notices, stolen and lost travel documents, and nominal checks.

The types the Interpol dialect (`exchange.codecs.interpol`) carries for a nominal check of a
person's names, date of birth, sex and nationalities, and its reply: matching notices (Red,
Yellow, Blue, Black, Green, Orange, Purple, Silver and the INTERPOL-UN Security Council
Special Notice, after Interpol's notice system) and stolen or lost travel documents (SLTD).
They live beside the codec because `exchange.model` has no nominal message yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from exchange.model import PartialDate, PersonName, Sex


class NoticeColour(StrEnum):
    RED = "red"  # locate and provisionally arrest with a view to extradition
    YELLOW = "yellow"  # missing persons
    BLUE = "blue"  # information on identity, location or activities
    BLACK = "black"  # unidentified bodies
    GREEN = "green"  # warning about a likely repeat offender
    ORANGE = "orange"  # imminent threat
    PURPLE = "purple"  # modus operandi
    SILVER = "silver"  # assets
    UN_SPECIAL = "un_special"  # INTERPOL-UN Security Council Special Notice


class DocumentStatus(StrEnum):
    STOLEN = "stolen"
    LOST = "lost"
    REVOKED = "revoked"
    INVALID = "invalid"


class DocumentType(StrEnum):
    PASSPORT = "passport"
    IDENTITY_CARD = "identity_card"
    VISA = "visa"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class NominalPerson:
    """Who is checked, or who a notice is about: names, date of birth, sex, nationalities."""

    name: PersonName
    aliases: tuple[PersonName, ...] = ()
    date_of_birth: PartialDate | None = None
    sex: Sex = Sex.UNKNOWN
    nationalities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NominalCheck:
    reference: str
    person: NominalPerson


@dataclass(frozen=True, slots=True)
class Notice:
    notice_id: str
    colour: NoticeColour
    person: NominalPerson
    issued_by: str | None = None
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class TravelDocument:
    number: str
    document_type: DocumentType
    issuing_country: str
    status: DocumentStatus
    holder: PersonName | None = None


@dataclass(frozen=True, slots=True)
class NominalReply:
    query_reference: str
    notices: tuple[Notice, ...] = ()
    travel_documents: tuple[TravelDocument, ...] = ()

    @property
    def hit(self) -> bool:
        return bool(self.notices or self.travel_documents)
