"""The gateway store's vocabulary: statuses, errors, and the rows it returns (DESIGN.md §4-5).

Frozen dataclasses read from SQLite by `exchange.gateway.state.store`; statuses are the words of the
client API contract.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from exchange.model import MatchType, Modality, Purpose

BUSY_TIMEOUT_MS = 5000
FOLLOW_UP_WINDOW = dt.timedelta(hours=48)
CLAIM_STALE_AFTER = dt.timedelta(seconds=60)


class SearchStatus(StrEnum):
    """DESIGN.md §4, client API: the status of a whole search."""

    PENDING = "pending"
    COMPLETE = "complete"
    PARTIAL = "partial"
    FAILED = "failed"


class PartnerStatus(StrEnum):
    """DESIGN.md §4, client API: the status of one partner's part of a search."""

    PENDING = "pending"
    HIT = "hit"
    NO_HIT = "no_hit"
    ERROR = "error"
    TIMEOUT = "timeout"
    QUOTA_EXCEEDED = "quota_exceeded"
    REJECTED = "rejected"


class QuotaDirection(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


# --- errors -------------------------------------------------------------------------------


class StoreError(Exception):
    """Base of the store's errors."""


class NotFoundError(StoreError):
    """A search, hit or record that the caller named does not exist."""

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} not found")
        self.what = what
        self.key = key


class ConflictError(StoreError):
    """The write contradicts what is stored (a duplicate key, a follow-up before confirmation)."""


class KeyTakenError(ConflictError):
    """An idempotency key this client already used (`idempotency`): nothing was written."""


class SchemaTooNewError(StoreError):
    """The file was written by a newer version of this program; refusing to touch it."""


# --- rows ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewHit:
    """A candidate a partner returned, to be stored with its partner result."""

    modality: Modality
    reference: str
    score: float
    match_type: MatchType
    wildcard: bool = False
    # Step-2 data that came with the hit (an INT-I SRE's subject), as a UK record's JSON:
    # stored with the hit and released only through its follow-up; never in a repr.
    core_data_json: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class HitRow:
    hit_id: str
    search_id: str
    partner: str
    modality: Modality
    reference: str
    score: float
    match_type: MatchType
    wildcard: bool
    confirmed_at: dt.datetime | None
    confirmed_by: str | None
    follow_up_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ModalityOutcome:
    """A partner's answer for one modality of a search (its status word and error, if any)."""

    modality: Modality
    status: PartnerStatus
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PartnerResultRow:
    partner: str
    status: PartnerStatus
    error: str | None
    message_id: str
    updated_at: dt.datetime
    hits: tuple[HitRow, ...]
    # The DNA batch message its probe went in (`dna_batch`), if it went in one.
    dna_batch_id: str | None = None
    # Its answer per modality; empty while pending or when it ended as a whole.
    outcomes: tuple[ModalityOutcome, ...] = ()

    def message_id_for(self, modality: Modality) -> str:
        """The outbound message id for one modality's request to this partner.

        Each modality travels in its own request envelope; deriving its id from the stored
        one keeps it the same on every retry and after a restart.
        """
        return f"{self.message_id}.{Modality(modality).value}"


@dataclass(frozen=True, slots=True)
class SearchRow:
    search_id: str
    client_id: str
    purpose: Purpose
    case_reference: str
    modalities: tuple[Modality, ...]
    partners: tuple[str, ...]
    max_candidates: int
    # The record as received, kept in `search_records` while the search is pending (to
    # resume its fan-out); None once finished: the probe is not kept beyond its search.
    record_json: str | None
    correlation_id: str
    status: SearchStatus
    created_at: dt.datetime
    deadline_at: dt.datetime
    completed_at: dt.datetime | None
    results: tuple[PartnerResultRow, ...]
    # Set in the commit that took its outbound capacity and audited its sends (`fanout`).
    fanned_out_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class InboundClaim:
    """What `claim_message` found: answer it (`first`), resend `reply`, wait, or refuse a
    message id already used for a message that asked something else (`conflict`)."""

    first: bool
    reply: bytes | None
    conflict: bool = False

    @property
    def in_progress(self) -> bool:
        return not self.first and self.reply is None and not self.conflict


@dataclass(frozen=True, slots=True)
class RecordRow:
    pnc_id: str
    reference: str
    record_json: str
    enrolled_at: dt.datetime


@dataclass(frozen=True, slots=True)
class KeptResponse:
    """The response stored under a client's idempotency key (`idempotency`): what the
    first request asked (`digest`), what it made (`resource`: a search id or PNC ID),
    and the status and JSON text it was answered with (`finished`: no longer waiting)."""

    digest: str
    resource: str
    status: int
    body: str
    finished: bool
    created_at: dt.datetime
