"""The client API (JSON, `/v1`) that LEDS-integrated UK services call (DESIGN.md §4).

Searches are accepted (202) once stored in SQLite, then fanned out in the background; hits
are confirmed by a person and followed up for core data; UK records are enrolled into the
gallery partners search. Every refusal is `4xx {"error": {"code", "message", "field"}}`,
made in one place (`ApiError` and the error middleware in `app.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from typing import Any

from aiohttp import web

from exchange.codecs import prum_xml, uk_json
from exchange.codecs.errors import CodecError
from exchange.gallery import GalleryError
from exchange.gateway.auth import Client
from exchange.gateway.node import NODE, Node
from exchange.gateway.outbound.fanout import run_search
from exchange.gateway.outbound.partner_client import PartnerError
from exchange.gateway.state.audit import AuditEntry, ClientEvent, Direction, Outcome
from exchange.gateway.state.store import ConflictError, HitRow, NotFoundError, SearchRow
from exchange.identifiers import IdentifierError, parse_pnc
from exchange.model import (
    Envelope,
    ErrorBody,
    FollowUpReply,
    FollowUpRequest,
    Header,
    MessageType,
    Modality,
    PersonRecord,
    Purpose,
)
from exchange.records import record_of_core_data

MAX_WAIT_S = 60.0
BODY_READ_TIMEOUT_S = 10.0
MAX_RUNNING_SEARCHES = 2000  # beyond this, new searches wait their turn at the client (503)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def _client(request: web.Request, scope: str) -> Client:
    """The authenticated client of a request, holding `scope` (AuthError otherwise)."""
    return request.app[NODE].auth.authenticate(request, scope)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:  # a client trickling its body (slow loris) gets a 408, not a held connection
        async with asyncio.timeout(BODY_READ_TIMEOUT_S):
            raw = await request.read()
    except TimeoutError as exc:
        raise ApiError(408, "request_timeout", "the body did not arrive in time", None) from exc
    try:
        doc = uk_json.parse_json(raw)
    except CodecError as exc:
        raise ApiError(400, "invalid_json", exc.reason, None) from exc
    if not isinstance(doc, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object", None)
    return doc


def _field(doc: dict[str, Any], key: str, kind: type, required: bool = True) -> Any:
    if key not in doc:
        if required:
            raise ApiError(400, "invalid_request", "is required", key)
        return None
    value = doc[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ApiError(400, "invalid_request", f"must be a {kind.__name__}", key)
    return value


def _search_json(row: SearchRow) -> dict[str, Any]:
    return {
        "search_id": row.search_id,
        "status": row.status,
        "purpose": row.purpose.value,
        "case_reference": row.case_reference,
        "created_at": row.created_at.isoformat(),
        "completed_at": row.completed_at.isoformat() if row.completed_at else None,
        "partners": [
            {
                "partner": r.partner,
                "status": r.status,
                "error": r.error,
                "hits": [_hit_json(h) for h in r.hits],
            }
            for r in row.results
        ],
    }


def _hit_json(h: HitRow) -> dict[str, Any]:
    return {
        "hit_id": h.hit_id,
        "modality": h.modality.value,
        "reference": h.reference,
        "score": h.score,
        "match_type": h.match_type.value,
        "wildcard": h.wildcard,
        "confirmed": h.confirmed_at is not None,
    }


def _validate_search(
    node: Node, doc: dict[str, Any]
) -> tuple[Purpose, str, Any, list[Modality], list[str], int]:
    try:
        purpose = Purpose(_field(doc, "purpose", str))
    except ValueError as exc:
        raise ApiError(
            400, "invalid_request", f"one of {[p.value for p in Purpose]}", "purpose"
        ) from exc
    case_reference = _field(doc, "case_reference", str).strip()
    if not 1 <= len(case_reference) <= 64:
        raise ApiError(400, "invalid_request", "1 to 64 characters", "case_reference")
    try:
        record = uk_json.record_from_json(_field(doc, "record", dict))
    except CodecError as exc:
        raise ApiError(422, "invalid_record", exc.reason, f"record.{exc.field}") from exc
    raw_mods = _field(doc, "modalities", list)
    try:
        modalities = sorted({Modality(m) for m in raw_mods}, key=list(Modality).index)
    except (ValueError, TypeError) as exc:
        raise ApiError(
            400, "invalid_request", f"each one of {[m.value for m in Modality]}", "modalities"
        ) from exc
    if not modalities:
        raise ApiError(400, "invalid_request", "at least one modality", "modalities")
    held = {
        Modality.DNA: record.dna,
        Modality.FINGERPRINT: record.fingerprints,
        Modality.FACE: record.face,
        Modality.NOMINAL: record.name,
    }
    for m in modalities:
        if held[m] is None:
            raise ApiError(
                422, "invalid_record", f"the record has no {m.value} data to search", "modalities"
            )
    partners_raw = doc.get("partners", "all")
    known = [p.id for p in node.config.partners]
    if partners_raw == "all":
        partners = [p.id for p in node.config.partners if set(p.modalities) & set(modalities)]
    elif isinstance(partners_raw, list) and all(isinstance(p, str) for p in partners_raw):
        partners = list(dict.fromkeys(partners_raw))
        unknown = [p for p in partners if p not in known]
        if unknown:
            raise ApiError(
                400, "unknown_partner", f"not configured: {', '.join(unknown)}", "partners"
            )
    else:
        raise ApiError(400, "invalid_request", 'a list of partner ids or "all"', "partners")
    if not partners:
        raise ApiError(
            422, "no_partner", "no configured partner searches these modalities", "partners"
        )
    max_candidates = doc.get("max_candidates", 10)
    if (
        not isinstance(max_candidates, int)
        or isinstance(max_candidates, bool)
        or not 1 <= max_candidates <= 100
    ):
        raise ApiError(400, "invalid_request", "an integer from 1 to 100", "max_candidates")
    return purpose, case_reference, record, modalities, partners, max_candidates


def _audit(
    node: Node,
    actor: str,
    event: ClientEvent | MessageType,
    outcome: Outcome,
    *,
    direction: Direction = Direction.RECEIVED,
    partner: str | None = None,
    message_id: str | None = None,
    references: tuple[str, ...] = (),
    purpose: Purpose | None = None,
) -> None:
    """One audit entry for an exchange with the client (or, for follow-ups, a partner)."""
    node.record_audit(
        AuditEntry(
            at=node.clock(),
            direction=direction,
            message_type=event,
            outcome=outcome,
            actor=actor,
            partner=partner,
            message_id=message_id,
            references=references,
            purpose=purpose,
        )
    )


def start_search(
    node: Node, search_id: str, record: PersonRecord | None = None, row: SearchRow | None = None
) -> None:
    """Run a stored search in the background (`record`, `row`: as just stored, saves work)."""
    task = asyncio.create_task(run_search(node, search_id, record, row))
    node.tasks.add(task)
    task.add_done_callback(node.tasks.discard)


async def post_search(request: web.Request) -> web.Response:
    node = request.app[NODE]
    client = _client(request, "search")
    if len(node.tasks) >= MAX_RUNNING_SEARCHES:
        raise ApiError(503, "busy", "too many searches in progress; retry shortly", None)
    doc = await _json_body(request)
    purpose, case_reference, record, modalities, partners, k = _validate_search(node, doc)
    now = node.clock()
    wait = _wait_seconds(request)
    record_json = json.dumps(uk_json.record_to_json(record))
    correlation_id = str(uuid.uuid4())

    def store_search() -> SearchRow:  # the search and its receipt in the audit log, one commit
        row = node.store.create_search(
            client_id=client.id,
            purpose=purpose,
            case_reference=case_reference,
            modalities=modalities,
            partners=partners,
            max_candidates=k,
            record_json=record_json,
            correlation_id=correlation_id,
            now=now,
            deadline_at=now + dt.timedelta(seconds=node.config.search_deadline_s),
        )
        _audit(
            node,
            client.id,
            ClientEvent.SEARCH_SUBMITTED,
            Outcome.ACCEPTED,
            message_id=row.search_id,
            purpose=purpose,
        )
        return row

    row = await node.writes.run(store_search)  # acknowledged only once committed
    node.log.info(
        "search_accepted",
        search_id=row.search_id,
        correlation_id=row.correlation_id,
        modalities=[m.value for m in modalities],
        partners=partners,
    )
    event = node.search_event(row.search_id)
    start_search(node, row.search_id, record, row)
    current: SearchRow | None = row
    if wait > 0:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):  # (wait_for would start one more task)
                await event.wait()
        current = node.store.get_search(row.search_id)
    assert current is not None
    return web.json_response(
        _search_json(current), status=202 if current.status == "pending" else 200
    )


def _wait_seconds(request: web.Request) -> float:
    raw = request.query.get("wait")
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", "wait must be a number of seconds", "wait") from exc
    if not 0 <= value <= MAX_WAIT_S:
        raise ApiError(400, "invalid_request", f"wait must be 0 to {MAX_WAIT_S:g} seconds", "wait")
    return value


def _search_or_404(node: Node, client: Client, search_id: str) -> SearchRow:
    """A search of this client's; another client's search is as unknown as a missing one."""
    row = node.store.get_search(search_id)
    if row is None or row.client_id != client.id:
        raise ApiError(404, "not_found", "no such search", "search_id")
    return row


async def get_search(request: web.Request) -> web.Response:
    node = request.app[NODE]
    client = _client(request, "search")
    row = _search_or_404(node, client, request.match_info["search_id"])
    wait = _wait_seconds(request)
    if row.status == "pending" and wait > 0:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await node.search_event(row.search_id).wait()
        row = _search_or_404(node, client, row.search_id)
    return web.json_response(_search_json(row))


def _hit_or_404(
    node: Node, client: Client, search_id: str, hit_id: str
) -> tuple[SearchRow, HitRow]:
    row = _search_or_404(node, client, search_id)
    hit = node.store.get_hit(search_id, hit_id)
    if hit is None:
        raise ApiError(404, "not_found", "no such hit in this search", "hit_id")
    return row, hit


async def confirm_hit(request: web.Request) -> web.Response:
    node = request.app[NODE]
    client = _client(request, "follow-up")
    row, hit = _hit_or_404(
        node, client, request.match_info["search_id"], request.match_info["hit_id"]
    )
    now = node.clock()
    hit = node.store.confirm_hit(row.search_id, hit.hit_id, client.id, now=now)
    _audit(
        node,
        client.id,
        ClientEvent.HIT_CONFIRMED,
        Outcome.CONFIRMED,
        partner=hit.partner,
        message_id=row.search_id,
        references=(hit.reference,),
        purpose=row.purpose,
    )
    return web.json_response(_hit_json(hit))


async def follow_up(request: web.Request) -> web.Response:
    node = request.app[NODE]
    client = _client(request, "follow-up")
    row, hit = _hit_or_404(
        node, client, request.match_info["search_id"], request.match_info["hit_id"]
    )
    if hit.confirmed_at is None:
        raise ApiError(
            409, "not_confirmed", "a person must confirm the hit before a follow-up", "hit_id"
        )
    cfg = node.config.partner(hit.partner)
    result = next((r for r in row.results if r.partner == hit.partner), None)
    if cfg is None or result is None:
        raise ApiError(
            409, "unknown_partner", "the partner of this hit is no longer configured", "hit_id"
        )
    now = node.clock()
    header = Header(
        message_id=str(uuid.uuid4()),
        correlation_id=row.correlation_id,
        timestamp=now,
        sender=node.config.node_id,
        receiver=hit.partner,
        message_type=MessageType.FOLLOW_UP_REQUEST,
        purpose=row.purpose,
    )
    body = FollowUpRequest(result.message_id_for(hit.modality), hit.reference)
    envelope = Envelope(header, body)
    _audit(
        node,
        client.id,
        MessageType.FOLLOW_UP_REQUEST,
        Outcome.ACCEPTED,
        direction=Direction.SENT,
        partner=hit.partner,
        message_id=header.message_id,
        references=(hit.reference,),
        purpose=row.purpose,
    )
    loop = asyncio.get_running_loop()
    try:
        reply = await node.clients[cfg.id].send(
            prum_xml.encode(envelope),
            "application/xml",
            loop.time() + cfg.timeout_s * (cfg.retries + 1),
        )
        answer = prum_xml.decode(reply.body)
    except PartnerError as exc:
        raise ApiError(
            504 if exc.timeout else 502, "partner_unavailable", exc.reason, None
        ) from exc
    except CodecError as exc:
        raise ApiError(502, "partner_invalid_reply", str(exc), None) from exc
    if isinstance(answer.body, ErrorBody):
        raise ApiError(
            404 if answer.body.code.value == "unknown_reference" else 409,
            answer.body.code.value,
            answer.body.message,
            "hit_id",
        )
    if not isinstance(answer.body, FollowUpReply) or answer.body.hit_reference != hit.reference:
        raise ApiError(
            502, "partner_invalid_reply", "the reply does not answer this follow-up", None
        )
    try:
        node.store.record_follow_up(row.search_id, hit.hit_id, now=node.clock())
    except (ConflictError, NotFoundError) as exc:
        raise ApiError(409, "conflict", str(exc), "hit_id") from exc
    with node.store.transaction():
        _audit(
            node,
            client.id,
            MessageType.FOLLOW_UP_REPLY,
            Outcome.SUPPLIED,
            partner=hit.partner,
            message_id=header.message_id,
            references=(hit.reference,),
            purpose=row.purpose,
        )
        _audit(
            node,
            client.id,
            ClientEvent.CORE_DATA,
            Outcome.SUPPLIED,
            direction=Direction.SENT,
            message_id=row.search_id,
            references=(hit.reference,),
            purpose=row.purpose,
        )
    core = answer.body.core_data
    person = record_of_core_data(core)
    return web.json_response(
        {
            "hit_id": hit.hit_id,
            "partner": hit.partner,
            "reference": hit.reference,
            "core_data": uk_json.record_to_json(person),
        }
    )


async def enrol_record(request: web.Request) -> web.Response:
    node = request.app[NODE]
    client = _client(request, "enrol")
    doc = await _json_body(request)
    try:
        record = uk_json.record_from_json(doc)
    except CodecError as exc:
        raise ApiError(422, "invalid_record", exc.reason, exc.field) from exc
    pnc_id = record.identifiers.pnc_id
    if pnc_id is None:
        raise ApiError(
            422, "invalid_record", "a UK gallery record needs a PNC ID", "identifiers.pnc_id"
        )
    if record.dna is None and record.face is None and record.fingerprints is None:
        raise ApiError(
            422, "invalid_record", "a gallery record needs DNA, fingerprints or a face", None
        )
    try:
        async with node.gallery_writes:  # not while the index files are being saved
            reference, version = node.enrol(pnc_id, record)
    except GalleryError as exc:
        raise ApiError(422, "profile_rejected", str(exc), None) from exc
    except ConflictError as exc:
        raise ApiError(409, "conflict", str(exc), "reference") from exc
    _audit(node, client.id, ClientEvent.RECORD_ENROLLED, Outcome.ACCEPTED, references=(reference,))
    return web.json_response(
        {"pnc_id": pnc_id, "reference": reference, "gallery_version": version}, status=201
    )


async def delete_record(request: web.Request) -> web.Response:
    node = request.app[NODE]
    client = _client(request, "enrol")
    try:
        pnc_id = parse_pnc(request.match_info["pnc_id"])
    except IdentifierError as exc:
        raise ApiError(400, "invalid_request", str(exc), "pnc_id") from exc
    async with node.gallery_writes:
        row = node.erase(pnc_id)
    if row is None:
        raise ApiError(404, "not_found", "no record under this PNC ID", "pnc_id")
    _audit(
        node, client.id, ClientEvent.RECORD_DELETED, Outcome.ACCEPTED, references=(row.reference,)
    )
    return web.Response(status=204)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/searches", post_search),
        web.get("/v1/searches/{search_id}", get_search),
        web.post("/v1/searches/{search_id}/hits/{hit_id}/confirm", confirm_hit),
        web.post("/v1/searches/{search_id}/hits/{hit_id}/follow-up", follow_up),
        web.post("/v1/records", enrol_record),
        web.delete("/v1/records/{pnc_id:.+}", delete_record),
    ]
