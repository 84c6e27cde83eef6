"""The gateway's refusals: one hierarchy, each class with its HTTP status hint and error code.

After h11's `ProtocolError` (`error_status_hint`): the code that finds a problem raises the
class that names it; it does not choose a status. The two listeners turn them into answers in
one place each: the client API's middleware into `4xx {"error": {code, message, field}}`
(`exchange.gateway.app.json_errors`), the partner API's into a Prüm XML error message
(`exchange.gateway.inbound.partner_api.xml_errors`). Errors of other roots (`CodecError`,
`MatcherError`/`GalleryError`, `PartnerError`, the store's) are translated into these at the
boundary where a request meets them, so that no status is ever chosen from an error's words.

- `ClientError`: a refusal of the client API (JSON).
- `PartnerFailure`: a partner let a client's request down (502/504 to the client).
- `InboundRefusal`: a partner's message refused before the responder could answer it; it
  carries the Prüm `ErrorCode` its XML error message names.
"""

from __future__ import annotations

from typing import ClassVar

from exchange.model import ErrorBody, ErrorCode


class GatewayError(Exception):
    """A request the gateway refuses; `status_hint` and `code` say how to answer it."""

    status_hint: int = 400
    code: str = "invalid_request"
    retry_after: int | None = None  # seconds, sent as `Retry-After`

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


# --- client API ---------------------------------------------------------------------------


class ClientError(GatewayError):
    """A client request refused (the client API's JSON error body)."""


class InvalidRequest(ClientError):
    pass


class InvalidJson(InvalidRequest):
    code = "invalid_json"


class UnknownPartner(InvalidRequest):
    code = "unknown_partner"


class InvalidRecord(ClientError):
    status_hint = 422
    code = "invalid_record"


class InvalidText(ClientError):
    """A string that XML or the audit log cannot carry (a control character, a lone surrogate)."""

    status_hint = 422
    code = "invalid_text"


class IdempotencyKeyReused(ClientError):
    """An `Idempotency-Key` this client already sent with another request."""

    status_hint = 422
    code = "idempotency_key_reused"


class NoPartner(InvalidRecord):
    code = "no_partner"


class ProfileRejected(InvalidRecord):
    code = "profile_rejected"


class Unauthenticated(ClientError):
    status_hint = 401
    code = "unauthenticated"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="prum-exchange"'}


class Forbidden(ClientError):
    status_hint = 403
    code = "forbidden"


class NotFound(ClientError):
    status_hint = 404
    code = "not_found"


class RequestTimeout(ClientError):
    status_hint = 408
    code = "request_timeout"


class Conflict(ClientError):
    status_hint = 409
    code = "conflict"


class NotConfirmed(Conflict):
    code = "not_confirmed"


class IdempotencyKeyInProgress(Conflict):
    """The first request under this `Idempotency-Key` is still being answered."""

    code = "idempotency_key_in_progress"
    retry_after = 1


class PartnerGone(Conflict):
    code = "unknown_partner"


class BodyTooLarge(ClientError):
    status_hint = 413
    code = "too_large"


class RateLimited(ClientError):
    status_hint = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.wait_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.wait_s)}


class Busy(ClientError):
    status_hint = 503
    code = "busy"
    retry_after = 1


class NotReady(Busy):
    code = "not_ready"


class GalleryIncomplete(Busy):
    """A shard of the UK gallery is down: an enrolment or erasure cannot be made now (the
    message names each shard that did not answer; `/readyz` lists every shard's status)."""

    code = "gallery_unavailable"
    retry_after = 5


class ExtractionBusy(Busy):
    """The extraction pool is full (`exchange.extraction_pool.PoolFull`): retry later."""

    code = "extraction_busy"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, round(retry_after_s))


class UnsupportedFeatureModel(InvalidRecord):
    """A face template of a model this node does not hold, and no image to extract from."""

    code = "unsupported_feature_model"


class NoFaceFound(InvalidRecord):
    """A face image in which no face is found (so no template, nothing searchable)."""

    code = "no_face_found"


class InvalidImage(InvalidRecord):
    """A face image that cannot be decoded (truncated, too large, not an image)."""

    code = "invalid_image"


# --- a partner behind a client's request (follow-ups) -------------------------------------


class PartnerFailure(ClientError):
    """The partner could not be reached, or did not answer usefully."""

    status_hint = 502
    code = "partner_unavailable"


class PartnerTimedOut(PartnerFailure):
    status_hint = 504


class PartnerInvalidReply(PartnerFailure):
    code = "partner_invalid_reply"


class PartnerRefused(ClientError):
    """The partner answered with a typed Prüm refusal; its code is the client's code."""

    # What a client can do about each refusal: an unknown reference is as good as absent;
    # every other refusal (quota, sender, schema) is a conflict with the partner's state.
    STATUS_BY_PRUM_CODE: ClassVar[dict[ErrorCode, int]] = {ErrorCode.UNKNOWN_REFERENCE: 404}

    def __init__(self, refusal: ErrorBody, field: str | None = None) -> None:
        super().__init__(refusal.message, field)
        self.refusal = refusal
        self.status_hint = self.STATUS_BY_PRUM_CODE.get(refusal.code, 409)
        self.code = refusal.code.value


# --- partner API --------------------------------------------------------------------------

# HTTP status of a Prüm reply, by its error code (a search or follow-up reply is 200).
PRUM_STATUS: dict[ErrorCode, int] = {
    ErrorCode.SCHEMA_INVALID: 400,
    ErrorCode.PROFILE_REJECTED: 422,
    ErrorCode.UNSUPPORTED_FEATURE_MODEL: 422,
    ErrorCode.UNSUPPORTED_MODALITY: 422,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.UNKNOWN_REFERENCE: 404,
    ErrorCode.UNAUTHORISED_SENDER: 403,
    ErrorCode.INTERNAL: 400,
    ErrorCode.TEMPORARILY_UNAVAILABLE: 503,
}


class InboundRefusal(GatewayError):
    """A partner's message refused before it could be answered (a Prüm error message)."""

    prum_code: ErrorCode = ErrorCode.SCHEMA_INVALID
    code = ErrorCode.SCHEMA_INVALID.value


class MessageUnreadable(InboundRefusal):
    """Not a well-formed, schema-valid message."""


class MessageTooLarge(InboundRefusal):
    status_hint = 413


class MessageTooSlow(InboundRefusal):
    status_hint = 408


class MessageIdReused(InboundRefusal):
    """A message id (an INT-I TCN) the sender already used for a message that asked something
    else (`inbound.replays`): not answered from that one's stored reply."""

    status_hint = 409
    field_path = "/Message/Header/MessageId"


class InboundGalleryIncomplete(InboundRefusal):
    """Part of the UK gallery cannot be searched now: a temporary refusal, never a no-hit."""

    status_hint = 503
    prum_code = ErrorCode.TEMPORARILY_UNAVAILABLE
    code = ErrorCode.TEMPORARILY_UNAVAILABLE.value
    retry_after = 5


class InboundBusy(InboundRefusal):
    """Too many messages in progress: the sender should come back shortly."""

    status_hint = 503
    prum_code = ErrorCode.QUOTA_EXCEEDED
    code = ErrorCode.QUOTA_EXCEEDED.value
    retry_after = 1


class InboundExtractionBusy(InboundBusy):
    """The extraction pool is full: a face image cannot be searched now; retry later."""

    def __init__(
        self,
        message: str,
        retry_after_s: float,
        field: str = "/Message/Body/FaceSearchRequest/Image",
    ) -> None:
        super().__init__(message, field)
        self.retry_after = max(1, round(retry_after_s))


class InboundFaceRefused(InboundRefusal):
    """A face search whose image yields no template (no face, not decodable) or whose
    template's model this node does not hold (`unsupported_feature_model`)."""

    status_hint = 422
    prum_code = ErrorCode.PROFILE_REJECTED
    code = ErrorCode.PROFILE_REJECTED.value

    def __init__(self, message: str, field: str, prum_code: ErrorCode | None = None) -> None:
        super().__init__(message, field)
        if prum_code is not None:
            self.prum_code = prum_code
            self.code = prum_code.value


class InboundPrintsUnusable(InboundRefusal):
    """A partner's prints with no usable finger (images that decode to no minutiae)."""

    status_hint = 422
    prum_code = ErrorCode.PROFILE_REJECTED
    code = ErrorCode.PROFILE_REJECTED.value
