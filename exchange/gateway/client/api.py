"""The client API (JSON, `/v1`) that LEDS-integrated UK services call (DESIGN.md §4).

Searches are accepted (202) once stored in SQLite, then fanned out in the background; hits
are confirmed by a person and followed up for core data; UK records are enrolled into the
gallery partners search. Every refusal is `4xx {"error": {"code", "message", "field"}}`,
made in one place: handlers raise the gateway's typed errors (`exchange.gateway.errors`) and
the middleware in `app.py` answers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from functools import partial
from typing import Any

from aiohttp import web

from exchange.codecs import uk_json
from exchange.codecs.errors import CodecError
from exchange.extraction_pool import PoolFull
from exchange.face_probes import ready_record
from exchange.gallery import GalleryError, GalleryUnavailable
from exchange.gallery import UnsupportedFeatureModel as GalleryUnsupportedModel
from exchange.gateway.auth import Client
from exchange.gateway.client.idempotency import (
    Attempt,
    attempt_of,
    idempotency_key,
    json_text,
)
from exchange.gateway.client.requests import json_body, search_request, wait_seconds
from exchange.gateway.client.views import hit_json, search_json
from exchange.gateway.errors import (
    Busy,
    Conflict,
    ExtractionBusy,
    GalleryIncomplete,
    InvalidImage,
    InvalidRecord,
    InvalidRequest,
    NoFaceFound,
    NotConfirmed,
    NotFound,
    ProfileRejected,
    UnsupportedFeatureModel,
)
from exchange.gateway.finger_extraction import record_with_minutiae
from exchange.gateway.node import NODE, Node
from exchange.gateway.outbound.fanout import carries_images, run_search
from exchange.gateway.outbound.follow_up import FollowUp
from exchange.gateway.outbound.follow_up import follow_up as outbound_follow_up
from exchange.gateway.state.audit import AuditEntry, ClientEvent, Direction, Outcome
from exchange.gateway.state.store import ConflictError, HitRow, KeyTakenError, SearchRow
from exchange.identifiers import IdentifierError, parse_pnc
from exchange.model import MessageType, Modality, PersonRecord, Purpose
from exchange.records import record_of_core_data, step1_reference
from matchers.face_image import FaceImageError, NoFaceError

# A request body this large carries an image (as the partner API's `OFF_LOOP_BYTES`).
OFF_LOOP_BYTES = 64 * 1024
MAX_RUNNING_SEARCHES = 2000  # beyond this, new searches wait their turn at the client (503)


def _client(request: web.Request, scope: str) -> Client:
    """The authenticated client of a request, holding `scope` (AuthError otherwise)."""
    return request.app[NODE].auth.authenticate(request, scope)


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
    node.audit.append(
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


async def post_search(request: web.Request) -> web.Response:
    node = request.app[NODE]
    client = _client(request, "search")
    key = idempotency_key(request)
    doc = await json_body(request)
    attempt = attempt_of(client.id, key, "POST /v1/searches", doc)
    if attempt is None:
        return await _new_search(node, client, request, doc, None)
    replay = attempt.begin(node)
    if replay is not None:
        return replay
    try:
        return await _new_search(node, client, request, doc, attempt)
    except KeyTakenError:  # another process stored the key first: answer as it says
        return attempt.taken(node)
    finally:
        attempt.end(node)


async def _new_search(
    node: Node,
    client: Client,
    request: web.Request,
    doc: dict[str, Any],
    attempt: Attempt | None,
) -> web.Response:
    if len(node.searches) >= MAX_RUNNING_SEARCHES:
        raise Busy("too many searches in progress; retry shortly")
    large = (request.content_length or 0) >= OFF_LOOP_BYTES  # it carries an image
    if large:  # its images decoded and checked in a thread: light searches go on meanwhile
        asked = await asyncio.to_thread(search_request, node.config, doc)
    else:
        asked = search_request(node.config, doc)
    record, purpose = asked.record, asked.purpose
    if Modality.FACE in asked.modalities:  # our template, from the image when need be
        record = await _face_ready(node, record, "record.face")
    if Modality.FINGERPRINT in asked.modalities:  # images travel with our minutiae
        record = await record_with_minutiae(node.extraction, record)
    now = node.clock()
    wait = wait_seconds(request)
    if large or carries_images(record):
        record_json = await asyncio.to_thread(_stored_json, record)
    else:
        record_json = _stored_json(record)
    correlation_id = str(uuid.uuid4())

    def store_search() -> SearchRow:  # the search, its receipt and its key: one commit
        row = node.store.create_search(
            client_id=client.id,
            purpose=purpose,
            case_reference=asked.case_reference,
            modalities=asked.modalities,
            partners=asked.partners,
            max_candidates=asked.max_candidates,
            record_json=record_json,
            correlation_id=correlation_id,
            now=now,
            deadline_at=now + dt.timedelta(seconds=node.config.search_deadline_s),
        )
        if attempt is not None:  # what a retry gets if this request's answer is lost
            body = json.dumps(search_json(row))
            attempt.keep(node, row.search_id, 202, body, finished=wait <= 0)
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
        modalities=[m.value for m in asked.modalities],
        partners=asked.partners,
    )
    event = node.searches.event(row.search_id)
    node.searches.start(run_search(node, row.search_id, record, row))
    current: SearchRow | None = row
    if wait > 0:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):  # (wait_for would start one more task)
                await event.wait()
        current = node.store.get_search(row.search_id)
    assert current is not None
    status, body = 202 if current.status == "pending" else 200, json.dumps(search_json(current))
    if attempt is not None and wait > 0:  # replays now get what this request got
        store = node.store
        await node.writes.run(partial(store.finish_response, client.id, attempt.key, status, body))
    return json_text(status, body)


def _search_or_404(node: Node, client: Client, search_id: str) -> SearchRow:
    """A search of this client's; another client's search is as unknown as a missing one."""
    row = node.store.get_search(search_id)
    if row is None or row.client_id != client.id:
        raise NotFound("no such search", "search_id")
    return row


async def get_search(request: web.Request) -> web.Response:
    node = request.app[NODE]
    client = _client(request, "search")
    row = _search_or_404(node, client, request.match_info["search_id"])
    wait = wait_seconds(request)
    if row.status == "pending" and wait > 0:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await node.searches.event(row.search_id).wait()
        row = _search_or_404(node, client, row.search_id)
    return web.json_response(search_json(row))


def _hit_or_404(
    node: Node, client: Client, search_id: str, hit_id: str
) -> tuple[SearchRow, HitRow]:
    row = _search_or_404(node, client, search_id)
    hit = node.store.get_hit(search_id, hit_id)
    if hit is None:
        raise NotFound("no such hit in this search", "hit_id")
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
    return web.json_response(hit_json(hit))


async def follow_up(request: web.Request) -> web.Response:
    node = request.app[NODE]
    client = _client(request, "follow-up")
    row, hit = _hit_or_404(
        node, client, request.match_info["search_id"], request.match_info["hit_id"]
    )
    if hit.confirmed_at is None:
        raise NotConfirmed("a person must confirm the hit before a follow-up", "hit_id")
    core = await outbound_follow_up(node, FollowUp(client.id, row, hit))
    return web.json_response(
        {
            "hit_id": hit.hit_id,
            "partner": hit.partner,
            "reference": hit.reference,
            "core_data": uk_json.record_to_json(record_of_core_data(core)),
        }
    )


async def enrol_record(request: web.Request) -> web.Response:
    node = request.app[NODE]
    client = _client(request, "enrol")
    key = idempotency_key(request)
    doc = await json_body(request)
    attempt = attempt_of(client.id, key, "POST /v1/records", doc)
    if attempt is None:
        return await _enrol(node, client, doc, None)
    replay = attempt.begin(node)
    if replay is not None:
        return replay
    try:
        return await _enrol(node, client, doc, attempt)
    except KeyTakenError:  # another process stored the key first: answer as it says
        return attempt.taken(node)
    finally:
        attempt.end(node)


async def _enrol(
    node: Node,
    client: Client,
    doc: dict[str, Any],
    attempt: Attempt | None,
) -> web.Response:
    try:
        record = uk_json.record_from_json(doc)
    except CodecError as exc:
        raise InvalidRecord(exc.reason, exc.field) from exc
    pnc_id = record.identifiers.pnc_id
    if pnc_id is None:
        raise InvalidRecord("a UK gallery record needs a PNC ID", "identifiers.pnc_id")
    if record.dna is None and record.face is None and record.fingerprints is None:
        raise InvalidRecord("a gallery record needs DNA, fingerprints or a face")
    record = await _face_ready(node, record, "face")  # indexed by a template of ours
    record = await record_with_minutiae(
        node.extraction, record
    )  # image-only prints: searchable, or 422
    answer: dict[str, Any] = {"pnc_id": pnc_id}

    def keep_key(reference: str, version: int) -> None:  # in the enrolment's commit
        answer.update(reference=reference, gallery_version=version)
        if attempt is not None:
            attempt.keep(node, pnc_id, 201, json.dumps(answer))

    try:
        async with node.gallery_writes:  # not while the index files are being saved
            remote = node.gallery.remote
            if remote:  # a shard round trip: off the event loop, before the store's commit
                await asyncio.to_thread(node.gallery.add, step1_reference(record), record)
            reference, _ = node.enrol(pnc_id, record, keep_key, in_gallery=remote)
    except GalleryError as exc:
        raise ProfileRejected(str(exc)) from exc
    except GalleryUnavailable as exc:  # nothing enrolled: the client may try again
        raise GalleryIncomplete(exc.message) from exc
    except KeyTakenError:
        raise
    except ConflictError as exc:
        raise Conflict(str(exc), "reference") from exc
    _audit(node, client.id, ClientEvent.RECORD_ENROLLED, Outcome.ACCEPTED, references=(reference,))
    return json_text(201, json.dumps(answer))


async def _face_ready(node: Node, record: PersonRecord, where: str) -> PersonRecord:
    """The record with a face template a gallery here holds: as sent, or extracted from its
    image in the extraction pool (never on the event loop); refusals name the field."""
    try:
        return await ready_record(record, node.gallery, node.extract_face)
    except GalleryUnsupportedModel as exc:
        raise UnsupportedFeatureModel(str(exc), f"{where}.feature_model") from exc
    except NoFaceError as exc:
        raise NoFaceFound("no face found in the image", f"{where}.image") from exc
    except FaceImageError as exc:
        raise InvalidImage(exc.reason, f"{where}.image.data") from exc
    except PoolFull as exc:
        raise ExtractionBusy(str(exc), exc.retry_after_s) from exc


async def delete_record(request: web.Request) -> web.Response:
    node = request.app[NODE]
    client = _client(request, "enrol")
    try:
        pnc_id = parse_pnc(request.match_info["pnc_id"])
    except IdentifierError as exc:
        raise InvalidRequest(str(exc), "pnc_id") from exc
    try:
        async with node.gallery_writes:
            remote = node.gallery.remote
            if remote and (held := node.store.get_record(pnc_id)) is not None:
                await asyncio.to_thread(node.gallery.remove, held.reference)  # off the loop
            row = node.erase(pnc_id, in_gallery=not remote)
    except GalleryUnavailable as exc:  # nothing erased: the client may try again
        raise GalleryIncomplete(exc.message) from exc
    if row is None:
        raise NotFound("no record under this PNC ID", "pnc_id")
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


def _stored_json(record: PersonRecord) -> str:
    """The record as the search row stores it (the source a resumed search is rebuilt from)."""
    return json.dumps(uk_json.record_to_json(record))
