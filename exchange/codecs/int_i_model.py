"""The typed model of an INT-I v6.00 transaction (Interpol's profile of ANSI/NIST-ITL 1-2011).

Frozen dataclasses, no I/O (STYLE.md §8); `exchange.codecs.int_i_xml` (XML encoding) and
`exchange.codecs.int_i_traditional` (tagged-field encoding) read and write them. `Unmodelled`
keeps XML the model does not hold, `TraditionalField` a traditional field it does not hold.
Field numbers are INT-I's (`MRT_INT-I_FieldDefinition.csv`). `SubjectData` is the identity of
the person behind a hit, step-2 data: its repr and str withhold every value, so it cannot
leak into a log line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from exchange.codecs import int_i_codes as codes
from exchange.codecs.int_i_prints import BiometricRecord, IncitsMinutia, TraditionalField

__all__ = [
    "Agency",
    "BiometricRecord",
    "Candidates",
    "CountryReference",
    "ErrorMessage",
    "IncitsMinutia",
    "IntiTransaction",
    "Offence",
    "SubjectData",
    "TraditionalField",
    "Type1",
    "Type2",
    "Unmodelled",
]


@dataclass(frozen=True, slots=True)
class Unmodelled:
    """An element this codec does not model, kept to be written back at `index` under `parent`."""

    parent: str
    index: int
    xml: bytes


@dataclass(frozen=True, slots=True)
class Agency:
    """1.007 DAI / 1.008 ORI as INT-I defines them: an agency code, a name and a country."""

    name: str
    country: str
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Type1:
    tot: str
    tcn: str
    date: dt.date
    destination: Agency
    origin: Agency
    gmt: dt.datetime | None = None
    tcr: str | None = None
    priority: int | None = None
    version: str = codes.STANDARD_VERSION
    domain_name: str = codes.DOMAIN_NAME
    domain_version: str = codes.DOMAIN_VERSION
    nsr: str = "00.00"
    ntr: str = "00.00"
    extra: tuple[Unmodelled, ...] = ()
    fields: tuple[TraditionalField, ...] = ()  # traditional-encoding fields not modelled


@dataclass(frozen=True, slots=True, repr=False)
class SubjectData:
    """The identity of the person behind a hit (step-2 data): never logged, never printed."""

    surname: str | None = None
    given_name: str | None = None
    middle_names: tuple[str, ...] = ()
    birth_date: dt.date | None = None
    sex: str | None = None
    citizenship: tuple[str, ...] = ()
    extra: tuple[Unmodelled, ...] = ()

    def __repr__(self) -> str:
        return "SubjectData(<withheld>)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class CountryReference:
    """A country's reference: 2.007 CNO, 2.010 CRN, 2.011 ORN.

    The MRT lists the country as optional, but int-i.xsd requires it, and the schema decides.
    """

    value: str
    country: str


@dataclass(frozen=True, slots=True)
class Candidates:
    """2.064 RLS: the respondent list of a search result."""

    tot: str
    result: str  # I (hit) or N (no hit)
    total: int
    sequence_id: str = "1"
    manual_verification: bool = False


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    """2.074 ERM: error code, the field it is about, and text."""

    code: str
    text: str | None = None
    field_mnemonic: str | None = None


@dataclass(frozen=True, slots=True)
class Offence:
    """The offence a record is about: 2.021 RFP, 2.054 OTY, 2.055 DOO, 2.056 DOR.

    `when` and the ends of `between` are dates, or datetimes where the time is known (INT-I
    XML admits both; the traditional fields hold dates). int-i.xsd allows `when` or
    `between`, not both.
    """

    code: str | None = None  # 2.021 RFP, code table OTY (NLC: not listed, see description)
    description: str | None = None  # 2.054 OTY
    when: dt.date | None = None  # 2.055 DOO
    between: tuple[dt.date, dt.date] | None = None  # 2.056 DOR (start, end)


@dataclass(frozen=True, slots=True)
class Type2:
    idc: str = "0"
    case: CountryReference | None = None  # 2.007 CNO
    evidence_id: str | None = None  # 2.008 SQN
    latent_id: str | None = None  # 2.009 MID
    person: CountryReference | None = None  # 2.010 CRN
    business: tuple[CountryReference, ...] = ()  # 2.011 ORN
    candidates: Candidates | None = None  # 2.064 RLS
    errors: tuple[ErrorMessage, ...] = ()  # 2.074 ERM
    subject: SubjectData | None = None
    offence: Offence | None = None  # 2.021, 2.054-2.056
    extra: tuple[Unmodelled, ...] = ()
    fields: tuple[TraditionalField, ...] = ()  # traditional-encoding fields not modelled


@dataclass(frozen=True, slots=True)
class IntiTransaction:
    type1: Type1
    type2: Type2 | None = None
    records: tuple[BiometricRecord, ...] = field(default=())

    @property
    def tot(self) -> str:
        return self.type1.tot
