"""Reading a client's request: its JSON body, its fields, and a search request's meaning.

Every refusal names the field it is about (`{error: {code, message, field}}`, DESIGN.md §4),
as one of the gateway's typed errors (`exchange.gateway.errors`); codec errors are
translated here, where the request meets them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from exchange.codecs import uk_json
from exchange.codecs.errors import CodecError, NumberTooLongError
from exchange.gateway.config import GatewayConfig
from exchange.gateway.errors import (
    InvalidJson,
    InvalidRecord,
    InvalidRequest,
    InvalidText,
    NoPartner,
    RequestTimeout,
    UnknownPartner,
)
from exchange.model import Modality, PersonRecord, Purpose

MAX_WAIT_S = 60.0
# A search names at most this many partners (the EU's 27, Europol, Interpol and associated
# states fit); the OpenAPI document's `maxItems`, as `len(Modality)` is the modalities'.
MAX_PARTNERS = 64
BODY_READ_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """`POST /v1/searches`'s body, checked."""

    purpose: Purpose
    case_reference: str
    record: PersonRecord
    modalities: list[Modality]
    partners: list[str]
    max_candidates: int


async def json_body(request: web.Request) -> dict[str, Any]:
    try:  # a client trickling its body (slow loris) gets a 408, not a held connection
        async with asyncio.timeout(BODY_READ_TIMEOUT_S):
            raw = await request.read()
    except TimeoutError as exc:
        raise RequestTimeout("the body did not arrive in time") from exc
    try:
        doc = uk_json.parse_json(raw)
    except NumberTooLongError as exc:  # its field is a path into the body
        raise InvalidJson(exc.reason, exc.field) from exc
    except CodecError as exc:
        raise InvalidJson(exc.reason) from exc
    if not isinstance(doc, dict):
        raise InvalidRequest("the body must be a JSON object")
    return doc


def field_of(doc: dict[str, Any], key: str, kind: type, required: bool = True) -> Any:
    if key not in doc:
        if required:
            raise InvalidRequest("is required", key)
        return None
    value = doc[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InvalidRequest(f"must be a {kind.__name__}", key)
    return value


def search_request(config: GatewayConfig, doc: dict[str, Any]) -> SearchRequest:
    # The arrays' lengths first: a long one is refused before anything walks it.
    for key, most in (("modalities", len(Modality)), ("partners", MAX_PARTNERS)):
        if isinstance(doc.get(key), list) and len(doc[key]) > most:
            raise InvalidRequest(f"at most {most} items", key)
    try:
        purpose = Purpose(field_of(doc, "purpose", str))
    except ValueError as exc:
        raise InvalidRequest(f"one of {[p.value for p in Purpose]}", "purpose") from exc
    case_reference = field_of(doc, "case_reference", str).strip()
    if not 1 <= len(case_reference) <= 64:
        raise InvalidRequest("1 to 64 characters", "case_reference")
    try:
        uk_json.checked_text(case_reference, "case_reference", max_len=64)
    except CodecError as exc:
        raise InvalidText(exc.reason, exc.field) from exc
    try:
        record = uk_json.record_from_json(field_of(doc, "record", dict))
    except CodecError as exc:
        raise InvalidRecord(exc.reason, f"record.{exc.field}") from exc
    raw_mods = field_of(doc, "modalities", list)
    try:
        modalities = sorted({Modality(m) for m in raw_mods}, key=list(Modality).index)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"each one of {[m.value for m in Modality]}", "modalities") from exc
    if not modalities:
        raise InvalidRequest("at least one modality", "modalities")
    held = {
        Modality.DNA: record.dna,
        Modality.FINGERPRINT: record.fingerprints,
        Modality.FACE: record.face,
        Modality.NOMINAL: record.name,
    }
    for m in modalities:
        if held[m] is None:
            raise InvalidRecord(f"the record has no {m.value} data to search", "modalities")
    partners_raw = doc.get("partners", "all")
    known = [p.id for p in config.partners]
    if partners_raw == "all":
        partners = [p.id for p in config.partners if set(p.modalities) & set(modalities)]
    elif isinstance(partners_raw, list) and all(isinstance(p, str) for p in partners_raw):
        partners = list(dict.fromkeys(partners_raw))
        unknown = [p for p in partners if p not in known]
        if unknown:
            raise UnknownPartner(f"not configured: {', '.join(unknown)}", "partners")
    else:
        raise InvalidRequest('a list of partner ids or "all"', "partners")
    if not partners:
        raise NoPartner("no configured partner searches these modalities", "partners")
    max_candidates = doc.get("max_candidates", 10)
    if (
        not isinstance(max_candidates, int)
        or isinstance(max_candidates, bool)
        or not 1 <= max_candidates <= 100
    ):
        raise InvalidRequest("an integer from 1 to 100", "max_candidates")
    return SearchRequest(purpose, case_reference, record, modalities, partners, max_candidates)


def wait_seconds(request: web.Request) -> float:
    raw = request.query.get("wait")
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError as exc:
        raise InvalidRequest("wait must be a number of seconds", "wait") from exc
    if not 0 <= value <= MAX_WAIT_S:
        raise InvalidRequest(f"wait must be 0 to {MAX_WAIT_S:g} seconds", "wait")
    return value
