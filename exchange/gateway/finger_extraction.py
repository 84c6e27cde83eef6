"""Minutiae for fingerprints that arrive as images, extracted in the node's pool.

mindtct takes 0.2-0.7 s of CPU a finger here (a ten-print several seconds): on the event loop
it would stall every exchange, so the client API (searches and enrolments) and the partner API
hand the print set to the extraction pool (`exchange.extraction_pool`, resource `POOL`) before
anything else sees it (`exchange.finger_samples.with_extracted_minutiae`, a top-level function
the pool's worker runs). What comes back carries mindtct's minutiae beside the images, so an
outgoing dacty search carries both (DESIGN.md §3) and the gallery has nothing left to extract.

A full pool is a temporary refusal (client: 503 `extraction_busy` with Retry-After; partner:
a Prüm `quota_exceeded` error with Retry-After); a set with no usable finger is refused with
the reason (client: 422 `profile_rejected`; partner: a Prüm `profile_rejected` error).
"""

from __future__ import annotations

from dataclasses import replace

from exchange.extraction_pool import ExtractionPool, JobCrashed, PoolFull
from exchange.finger_samples import FingerSampleError, needs_extraction, with_extracted_minutiae
from exchange.gateway.errors import (
    ExtractionBusy,
    InboundExtractionBusy,
    InboundPrintsUnusable,
    ProfileRejected,
)
from exchange.model import DactySearchRequest, Envelope, FingerprintSet, PersonRecord


async def record_with_minutiae(pool: ExtractionPool | None, record: PersonRecord) -> PersonRecord:
    """A client's record with minutiae for its image-only fingers (client API errors)."""
    prints = record.fingerprints
    if prints is None or not needs_extraction(prints):
        return record
    try:
        return replace(record, fingerprints=await _run(pool, prints))
    except PoolFull as exc:
        raise ExtractionBusy(str(exc), exc.retry_after_s) from exc
    except FingerSampleError as exc:
        raise ProfileRejected(exc.reason, f"record.{exc.field}") from exc


async def envelope_with_minutiae(pool: ExtractionPool | None, envelope: Envelope) -> Envelope:
    """A partner's dacty search with minutiae for its image-only fingers (Prüm errors)."""
    body = envelope.body
    if not isinstance(body, DactySearchRequest) or not needs_extraction(body.fingerprints):
        return envelope
    prints: FingerprintSet = body.fingerprints
    field = "/Message/Body/DactySearchRequest/Fingerprints"
    try:
        extracted = await _run(pool, prints)
    except PoolFull as exc:
        raise InboundExtractionBusy(str(exc), exc.retry_after_s, field) from exc
    except FingerSampleError as exc:
        raise InboundPrintsUnusable(exc.reason, field) from exc
    return replace(envelope, body=replace(body, fingerprints=extracted))


async def _run(pool: ExtractionPool | None, prints: FingerprintSet) -> FingerprintSet:
    if pool is None:  # a node built without one (tools): the same temporary refusal
        raise PoolFull(60.0, "this node has no extraction pool")
    try:
        return await pool.run(with_extracted_minutiae, prints)
    except JobCrashed as exc:  # a damaged image the native decoder cannot survive
        raise FingerSampleError("fingers", "an image crashed the decoder (damaged?)") from exc
