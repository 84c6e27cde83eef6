"""Domain types shared by every part of prum-exchange.

Frozen dataclasses with slots and no I/O (STYLE.md §8). Conversions to and from wire formats
live in `exchange.codecs`, never here. Field meanings follow DESIGN.md §3 and the request and
reply contents of Council Decision 2008/616/JHA Art. 8 (see ../shared/reference/prum-facts.md).

A value held in one of these types has already been checked by the codec that built it:
identifiers are canonical, locus names normalised, allele strings well-formed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Sex(StrEnum):
    MALE = "M"
    FEMALE = "F"
    UNKNOWN = "U"


class SampleType(StrEnum):
    """Art. 8(1)(d) 2008/616: every DNA profile sent says whether it is a person's or a stain's."""

    REFERENCE = "reference"
    STAIN = "stain"


class Modality(StrEnum):
    DNA = "dna"
    FINGERPRINT = "fingerprint"
    FACE = "face"
    NOMINAL = "nominal"


class Purpose(StrEnum):
    """Why a search is made; Prüm II Art. 2 adds missing persons and unidentified remains."""

    PREVENTION = "prevention"
    DETECTION = "detection"
    INVESTIGATION = "investigation"
    MISSING_PERSON = "missing_person"
    UNIDENTIFIED_REMAINS = "unidentified_remains"


class MatchType(StrEnum):
    """Full and near DNA matches (2008/616 Annex ch.1 §3.2); biometric candidates await a person."""

    FULL = "full"
    NEAR = "near"
    CANDIDATE = "candidate"


class MinutiaKind(StrEnum):
    """ANSI/NIST-ITL Type-9 minutia type: A ridge ending, B bifurcation, C compound, D other."""

    RIDGE_ENDING = "A"
    BIFURCATION = "B"
    COMPOUND = "C"
    OTHER = "D"


class Impression(StrEnum):
    """How a set of prints was taken; selects the Prüm search type (TP, LT, PP, LP)."""

    ROLLED = "rolled"
    PLAIN = "plain"
    LATENT = "latent"
    PALM = "palm"
    LATENT_PALM = "latent_palm"


class ErrorCode(StrEnum):
    """Every refusal is one of these (DESIGN.md §1, point 3)."""

    SCHEMA_INVALID = "schema_invalid"
    UNSUPPORTED_MODALITY = "unsupported_modality"
    QUOTA_EXCEEDED = "quota_exceeded"
    UNKNOWN_REFERENCE = "unknown_reference"
    UNAUTHORISED_SENDER = "unauthorised_sender"
    PROFILE_REJECTED = "profile_rejected"
    # A face template of a feature model the node holds no gallery for, with no image to
    # extract its own template from (DESIGN.md §3: templates are node-local).
    UNSUPPORTED_FEATURE_MODEL = "unsupported_feature_model"
    INTERNAL = "internal"
    # The node cannot complete the search now (part of its gallery is down): try again.
    TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"


class MessageType(StrEnum):
    DNA_SEARCH_REQUEST = "dna_search_request"
    DACTY_SEARCH_REQUEST = "dacty_search_request"
    FACE_SEARCH_REQUEST = "face_search_request"
    SEARCH_REPLY = "search_reply"
    FOLLOW_UP_REQUEST = "follow_up_request"
    FOLLOW_UP_REPLY = "follow_up_reply"
    ERROR = "error"
    # Interpol dialect only (exchange.codecs.interpol): a check of names against notices.
    NOMINAL_CHECK = "nominal_check"
    NOMINAL_REPLY = "nominal_reply"


# --- people -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A date of which the month, or the month and day, may be unknown (common for DOBs)."""

    year: int
    month: int | None = None
    day: int | None = None


@dataclass(frozen=True, slots=True)
class PersonName:
    family: str
    given: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Identifiers:
    """UK identifiers in canonical display form, check characters verified."""

    pnc_id: str | None = None
    cro_number: str | None = None
    asn: str | None = None


# --- biometrics -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DnaProfile:
    """An STR profile: locus name (normalised, see codecs.uk_json) to allele strings.

    Alleles stay strings (`"9.3"`, `"*"`, `"X"`) because off-ladder and wildcard values are
    part of the data; their meaning under the Prüm rules is the matcher's concern.
    """

    sample_type: SampleType
    loci: Mapping[str, tuple[str, ...]]
    kit: str | None = None


@dataclass(frozen=True, slots=True)
class Minutia:
    """One minutia: position in pixels at the image resolution, direction in degrees."""

    x: int
    y: int
    angle: int
    kind: MinutiaKind = MinutiaKind.RIDGE_ENDING
    quality: int = 100


@dataclass(frozen=True, slots=True)
class BiometricImage:
    """An opaque image; `compression` is the ANSI/NIST code (NONE, WSQ20, JPEGB, JP2, PNG)."""

    data: bytes
    compression: str
    width: int
    height: int
    ppi: int = 500


@dataclass(frozen=True, slots=True)
class Finger:
    """One finger, slap or palm area by its ANSI/NIST-ITL 1-2011 position code.

    FGP (Table 8): 0 unknown (as for a latent mark), 1-10 right thumb ... left little,
    11/12 plain right/left thumb, 13/14 plain right/left four fingers, 15 both thumbs;
    PLP (Table 10) for palms: 20-38. Which codes fit an impression is the codecs' check.
    """

    position: int
    minutiae: tuple[Minutia, ...] = ()
    image: BiometricImage | None = None


@dataclass(frozen=True, slots=True)
class FingerprintSet:
    fingers: tuple[Finger, ...]
    impression: Impression = Impression.ROLLED
    ppi: int = 500


@dataclass(frozen=True, slots=True)
class FaceTemplate:
    """A face sample: a feature vector as little-endian float32 bytes tagged with the model
    that made it, the image it was made from, or both. `vector` empty (and `feature_model`
    "") means an image alone, from which a node extracts its own template (DESIGN.md §3)."""

    feature_model: str
    vector: bytes
    image: BiometricImage | None = None

    @property
    def dim(self) -> int:
        return len(self.vector) // 4


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A LEDS-style UK person record (DESIGN.md §3).

    `reference` is the opaque reference under which the record's biometrics travel in step 1
    (Prüm reference data carry no personal meaning); a record received from a partner has a
    reference and no identifiers or name.
    """

    identifiers: Identifiers = field(default_factory=Identifiers)
    name: PersonName | None = None
    reference: str | None = None
    aliases: tuple[PersonName, ...] = ()
    date_of_birth: PartialDate | None = None
    sex: Sex = Sex.UNKNOWN
    nationalities: tuple[str, ...] = ()
    place_of_birth: str | None = None
    dna: DnaProfile | None = None
    fingerprints: FingerprintSet | None = None
    face: FaceTemplate | None = None


# --- exchange messages --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Header:
    message_id: str
    correlation_id: str
    timestamp: dt.datetime
    sender: str
    receiver: str
    message_type: MessageType
    purpose: Purpose
    schema_version: str = "1.0"


@dataclass(frozen=True, slots=True)
class DnaProbe:
    reference: str
    profile: DnaProfile
    # The searching node's correlation id for this probe's search, when one message carries
    # the probes of several searches (the header's correlation id is then the message's own).
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class DnaSearchRequest:
    """Art. 8(1) 2008/616: profiles with their references and types, nothing else."""

    probes: tuple[DnaProbe, ...]
    max_candidates: int = 10


@dataclass(frozen=True, slots=True)
class DactySearchRequest:
    """A fingerprint search; `search_type` is the Prüm notation (TP/TP, LT/TP, ...)."""

    reference: str
    search_type: str
    fingerprints: FingerprintSet
    max_candidates: int = 1


@dataclass(frozen=True, slots=True)
class FaceSearchRequest:
    reference: str
    template: FaceTemplate
    max_candidates: int = 10


@dataclass(frozen=True, slots=True)
class Candidate:
    """One hit reference from step 1: a reference and a score, never personal data.

    For DNA, `compared_loci` and `mismatched_alleles` say why it is full or near and
    `wildcard` says that a `*` took part in the match.
    """

    reference: str
    score: float
    match_type: MatchType
    wildcard: bool = False
    compared_loci: int | None = None
    mismatched_alleles: int | None = None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Candidates for one probe of a search (a DNA request may carry several profiles)."""

    probe_reference: str
    candidates: tuple[Candidate, ...] = ()

    @property
    def hit(self) -> bool:
        return bool(self.candidates)


@dataclass(frozen=True, slots=True)
class SearchReply:
    """Art. 8(2) 2008/616: hit/no-hit per probe, with the request's and the reply's references."""

    request_message_id: str
    modality: Modality
    results: tuple[ProbeResult, ...]

    @property
    def hit(self) -> bool:
        return any(r.hit for r in self.results)


@dataclass(frozen=True, slots=True)
class FollowUpRequest:
    """Step 2: core data behind a hit this node was given, after a person confirmed it."""

    search_message_id: str
    hit_reference: str


@dataclass(frozen=True, slots=True)
class CoreData:
    """What a follow-up may release: identity data of the person behind a hit, no biometrics."""

    name: PersonName
    aliases: tuple[PersonName, ...] = ()
    date_of_birth: PartialDate | None = None
    sex: Sex = Sex.UNKNOWN
    nationalities: tuple[str, ...] = ()
    place_of_birth: str | None = None
    identifiers: Identifiers = field(default_factory=Identifiers)


@dataclass(frozen=True, slots=True)
class FollowUpReply:
    search_message_id: str
    hit_reference: str
    core_data: CoreData


@dataclass(frozen=True, slots=True)
class ErrorBody:
    code: ErrorCode
    message: str
    field: str | None = None
    request_message_id: str | None = None


Body = (
    DnaSearchRequest
    | DactySearchRequest
    | FaceSearchRequest
    | SearchReply
    | FollowUpRequest
    | FollowUpReply
    | ErrorBody
)


@dataclass(frozen=True, slots=True)
class Envelope:
    header: Header
    body: Body
