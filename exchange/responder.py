"""Answering one Prüm request from a node's gallery, under the exchange's rules.

Used by the UK gateway's partner API and by every mock partner node, so both sides of a
drill follow the same rules:

- only configured partners may ask (`unauthorised_sender` otherwise), and only this node;
- each sender's declared daily capacity per search type is enforced (`quota_exceeded`),
  and candidate lists are cut to the Prüm Implementing Agreement Art. 9 maximum for the
  search type, or to what the request asked for if that is fewer;
- step 1 replies carry references and scores only (2008/616/JHA Art. 8(2));
- a search the gallery cannot complete now (a shard of a sharded gallery is down,
  `GalleryUnavailable`) is `temporarily_unavailable`, never a no-hit: the hit may be in
  the missing share, and the sender may try again;
- a follow-up is answered only for a reference this node returned as a hit to the same
  sender within the follow-up window (48 h by default, Regulation (EU) 2024/982 second
  step), and only with core data; anything else is `unknown_reference`, the same answer as
  for a reference that never existed, so the refusal leaks nothing.

Pure apart from the `Ledger` (quota counters and released hits) and the clock and id
factory it is given, so the rules are testable without a server.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from exchange.capacities import MAX_CANDIDATES, search_type_of
from exchange.gallery import Gallery, GalleryError, GalleryUnavailable, UnsupportedFeatureModel
from exchange.model import (
    CoreData,
    DactySearchRequest,
    DnaSearchRequest,
    Envelope,
    ErrorBody,
    ErrorCode,
    FaceSearchRequest,
    FollowUpReply,
    FollowUpRequest,
    Header,
    MessageType,
    Modality,
    ProbeResult,
    SearchReply,
)


class Ledger(Protocol):
    """What the responder must remember between messages (SQLite in the gateway)."""

    def take_quota(
        self, partner: str, search_type: str, day: dt.date, limit: int, count: int = 1
    ) -> bool:
        """Count `count` searches against the day's capacity, all or none."""
        ...

    def record_released(
        self, sender: str, search_message_id: str, references: Sequence[str], *, at: dt.datetime
    ) -> None: ...

    def released_to(
        self, sender: str, reference: str, *, now: dt.datetime, within: dt.timedelta
    ) -> bool: ...


@dataclass(frozen=True, slots=True)
class NodeRules:
    node_id: str
    modalities: frozenset[Modality]
    capacities: Callable[[str], Mapping[str, int] | None]
    core_data: Callable[[str], CoreData | None]
    follow_up_window: dt.timedelta = dt.timedelta(hours=48)


SearchBody = DnaSearchRequest | DactySearchRequest | FaceSearchRequest


@dataclass(frozen=True, slots=True)
class Searched:
    """A request's gallery searches made ahead of `Responder.respond` (`search_ahead`)."""

    body: SearchBody
    limit: int
    results: tuple[ProbeResult, ...] | None  # None: refused, see `refusal`
    refusal: GalleryError | None = None


def candidate_limit(body: SearchBody) -> int:
    """Candidates a reply may carry: the Art. 9 maximum of the search type, or fewer if asked."""
    return min(body.max_candidates, MAX_CANDIDATES.get(search_type_of(body), 10))


@dataclass(frozen=True, slots=True)
class Response:
    """The reply and what the caller should audit about it."""

    reply: Envelope
    outcome: str
    references: tuple[str, ...] = ()


def _reply_header(
    request: Header, rules: NodeRules, kind: MessageType, message_id: str, now: dt.datetime
) -> Header:
    return Header(
        message_id=message_id,
        correlation_id=request.correlation_id,
        timestamp=now,
        sender=rules.node_id,
        receiver=request.sender,
        message_type=kind,
        purpose=request.purpose,
    )


def error_reply(
    request: Header,
    rules: NodeRules,
    code: ErrorCode,
    message: str,
    field: str | None,
    message_id: str,
    now: dt.datetime,
) -> Envelope:
    body = ErrorBody(code, message, field, request.message_id)
    return Envelope(_reply_header(request, rules, MessageType.ERROR, message_id, now), body)


class Responder:
    def __init__(self, rules: NodeRules, gallery: Gallery, ledger: Ledger) -> None:
        self.rules = rules
        self.gallery = gallery
        self.ledger = ledger

    def search_ahead(self, request: Envelope) -> Searched | None:
        """The gallery searches `respond` would make for `request`, made now; None if it
        would search nothing (not a search, not addressed to us, not from a partner).

        For a gallery whose searches wait on other processes (`Gallery.remote`): the caller
        runs this off the event loop, then hands the result to `respond`. Quotas and
        duplicates are still decided by `respond`, so a search made here may go unused.
        Raises `GalleryUnavailable` when part of the gallery cannot be searched.
        """
        h, body = request.header, request.body
        if h.receiver != self.rules.node_id or self.rules.capacities(h.sender) is None:
            return None
        if not isinstance(body, DnaSearchRequest | DactySearchRequest | FaceSearchRequest):
            return None
        k = candidate_limit(body)
        try:
            return Searched(body, k, self._search(body, k))
        except GalleryError as exc:
            return Searched(body, k, None, exc)

    def respond(
        self,
        request: Envelope,
        message_id: str,
        now: dt.datetime,
        searched: Searched | None = None,
    ) -> Response:
        """The reply to `request`; `searched`: its searches made ahead (`search_ahead`)."""
        h = request.header

        def refuse(code: ErrorCode, message: str, field: str | None = None) -> Response:
            return Response(
                error_reply(h, self.rules, code, message, field, message_id, now), code.value
            )

        if h.receiver != self.rules.node_id:
            return refuse(
                ErrorCode.UNAUTHORISED_SENDER,
                f"this node is {self.rules.node_id}",
                "/Message/Header/Receiver",
            )
        capacities = self.rules.capacities(h.sender)
        if capacities is None:
            return refuse(
                ErrorCode.UNAUTHORISED_SENDER,
                f"{h.sender} is not a partner of this node",
                "/Message/Header/Sender",
            )
        body = request.body
        if isinstance(body, FollowUpRequest):
            return self._follow_up(request, body, message_id, now)
        if not isinstance(body, DnaSearchRequest | DactySearchRequest | FaceSearchRequest):
            return refuse(
                ErrorCode.SCHEMA_INVALID,
                f"a {h.message_type} is not a request",
                "/Message/Header/MessageType",
            )
        modality = {
            DnaSearchRequest: Modality.DNA,
            DactySearchRequest: Modality.FINGERPRINT,
            FaceSearchRequest: Modality.FACE,
        }[type(body)]
        if modality not in self.rules.modalities:
            return refuse(
                ErrorCode.UNSUPPORTED_MODALITY, f"this node does not search {modality.value}"
            )
        search_type = search_type_of(body)
        limit = capacities.get(search_type, 0)
        # Capacity counts searches, not messages: a DNA message with several profiles (the
        # probes of several searches, sent together) counts each, all or none.
        count = len(body.probes) if isinstance(body, DnaSearchRequest) else 1
        if not self.ledger.take_quota(h.sender, search_type, now.date(), limit, count):
            return refuse(
                ErrorCode.QUOTA_EXCEEDED,
                f"daily capacity for {search_type} ({limit}) is used up"
                + (f" for {count} more" if count > 1 else ""),
            )
        k = candidate_limit(body)
        try:
            if searched is not None and searched.body is body and searched.limit == k:
                if searched.refusal is not None:
                    raise searched.refusal
                assert searched.results is not None
                results = searched.results
            else:
                results = self._search(body, k)
        except UnsupportedFeatureModel as exc:
            return refuse(ErrorCode.UNSUPPORTED_FEATURE_MODEL, str(exc))
        except GalleryError as exc:
            return refuse(ErrorCode.PROFILE_REJECTED, str(exc))
        except GalleryUnavailable as exc:
            return refuse(ErrorCode.TEMPORARILY_UNAVAILABLE, exc.message)
        references = tuple(c.reference for r in results for c in r.candidates)
        if references:
            self.ledger.record_released(h.sender, h.message_id, references, at=now)
        reply = SearchReply(h.message_id, modality, results)
        header = _reply_header(h, self.rules, MessageType.SEARCH_REPLY, message_id, now)
        return Response(Envelope(header, reply), "hit" if reply.hit else "no_hit", references)

    def _search(self, body: SearchBody, k: int) -> tuple[ProbeResult, ...]:
        if isinstance(body, DnaSearchRequest):
            found = self.gallery.search_dna_many([p.profile for p in body.probes], k)
            results = []
            for probe, cands in zip(body.probes, found, strict=True):
                if isinstance(cands, GalleryError):
                    raise cands
                results.append(ProbeResult(probe.reference, tuple(cands)))
            return tuple(results)
        if isinstance(body, FaceSearchRequest):
            return (ProbeResult(body.reference, tuple(self.gallery.search_face(body.template, k))),)
        return (
            ProbeResult(
                body.reference, tuple(self.gallery.search_fingerprints(body.fingerprints, k))
            ),
        )

    def _follow_up(
        self, request: Envelope, body: FollowUpRequest, message_id: str, now: dt.datetime
    ) -> Response:
        h = request.header
        core = None
        window = self.rules.follow_up_window
        if self.ledger.released_to(h.sender, body.hit_reference, now=now, within=window):
            core = self.rules.core_data(body.hit_reference)
        if core is None:
            reply = error_reply(
                h,
                self.rules,
                ErrorCode.UNKNOWN_REFERENCE,
                "no hit under this reference was returned to you in the follow-up window",
                "/Message/Body/FollowUpRequest/@hitReference",
                message_id,
                now,
            )
            return Response(reply, ErrorCode.UNKNOWN_REFERENCE.value, (body.hit_reference,))
        out = FollowUpReply(body.search_message_id, body.hit_reference, core)
        header = _reply_header(h, self.rules, MessageType.FOLLOW_UP_REPLY, message_id, now)
        return Response(Envelope(header, out), "supplied", (body.hit_reference,))
