"""The Interpol dialect (`exchange.codecs.interpol`): what a search and a follow-up become.

Fingerprints go as an ANSI/NIST-ITL CPS transaction (answered with SRE), DNA and face as
Interpol XML, and with the `nominal` modality a nominal check of the record's names, date of
birth, sex and nationalities against notices and travel documents. A follow-up of any hit
from Interpol travels as Interpol XML. Every message carries the stable per-(search,
partner, modality) message id, so retries and resumed searches reuse it; replies are checked
with the rules every dialect shares (`outbound.messages`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from exchange.capacities import search_type_of
from exchange.codecs import ansi_nist, interpol, prum_xml
from exchange.gateway.outbound.messages import (
    Answer,
    Outgoing,
    Parties,
    answer_of,
    check_parties,
    follow_up_outgoing,
    not_this_request,
    read_reply,
)
from exchange.gateway.outbound.search_bodies import SearchBodies
from exchange.gateway.state.rows import (
    HitRow,
    NewHit,
    PartnerResultRow,
    PartnerStatus,
    SearchRow,
)
from exchange.model import (
    DactySearchRequest,
    Envelope,
    FollowUpRequest,
    Header,
    MatchType,
    MessageType,
    Modality,
    PersonRecord,
    SearchReply,
)

ANSI_NIST = "application/octet-stream"
XML = "application/xml"


def search_messages(
    node_id: str,
    now: dt.datetime,
    search: SearchRow,
    result: PartnerResultRow,
    record: PersonRecord,
    bodies: SearchBodies,
    nominal: bool,
) -> list[Outgoing]:
    """Interpol: prints as ANSI/NIST-ITL, DNA and face as Interpol XML, plus a nominal check."""
    out = []
    for modality, body in bodies.items():
        message_id = result.message_id_for(modality)
        if isinstance(body, DactySearchRequest):
            out.append(_cps(node_id, now, search, result, body))
            continue
        msg = interpol.InterpolMessage(
            message_id, search.correlation_id, now, node_id, result.partner, search.purpose, body
        )
        out.append(
            Outgoing(
                modality=modality,
                search_type=search_type_of(body),
                message_id=message_id,
                message_type=prum_xml.message_type_of(body),
                purpose=search.purpose,
                data=interpol.encode_xml(msg),
                content_type=XML,
                read=_xml_reader(msg, modality),
            )
        )
    if nominal and record.name is not None:
        out.append(_nominal_check(node_id, now, search, result, record))
    return out


def _cps(
    node_id: str,
    now: dt.datetime,
    search: SearchRow,
    result: PartnerResultRow,
    body: DactySearchRequest,
) -> Outgoing:
    """A fingerprint search as an ANSI/NIST-ITL transaction, answered with SRE or ERR."""
    modality = Modality.FINGERPRINT
    header = Header(
        message_id=result.message_id_for(modality),
        correlation_id=search.correlation_id,
        timestamp=now,
        sender=node_id,
        receiver=result.partner,
        message_type=MessageType.DACTY_SEARCH_REQUEST,
        purpose=search.purpose,
    )
    request = Envelope(header, body)

    def read(data: bytes) -> Answer:
        return read_reply(ansi_nist.decode(data), request, modality)

    return Outgoing(
        modality=modality,
        search_type=search_type_of(body),
        message_id=header.message_id,
        message_type=MessageType.DACTY_SEARCH_REQUEST,
        purpose=search.purpose,
        data=ansi_nist.encode(request),
        content_type=ANSI_NIST,
        read=read,
    )


def _nominal_check(
    node_id: str,
    now: dt.datetime,
    search: SearchRow,
    result: PartnerResultRow,
    record: PersonRecord,
) -> Outgoing:
    assert record.name is not None
    message_id = result.message_id_for(Modality.NOMINAL)
    person = interpol.NominalPerson(
        record.name, record.aliases, record.date_of_birth, record.sex, record.nationalities
    )
    check = interpol.NominalCheck(message_id, person)
    msg = interpol.InterpolMessage(
        message_id, search.correlation_id, now, node_id, result.partner, search.purpose, check
    )
    return Outgoing(
        modality=Modality.NOMINAL,
        search_type="NOMINAL",
        message_id=message_id,
        message_type=MessageType.NOMINAL_CHECK,
        purpose=search.purpose,
        data=interpol.encode_xml(msg),
        content_type=XML,
        read=_xml_reader(msg, Modality.NOMINAL),
    )


def _parties(m: interpol.InterpolMessage) -> Parties:
    return Parties(m.sender, m.receiver, m.correlation_id)


def _xml_reader(request: interpol.InterpolMessage, modality: Modality) -> Callable[[bytes], Answer]:
    def read(data: bytes) -> Answer:
        reply = interpol.decode_xml(data)
        wrong = check_parties(_parties(reply), _parties(request), modality)
        if wrong is not None:
            return wrong
        body = reply.body
        if isinstance(body, interpol.NominalReply):
            if body.query_reference != request.message_id:
                return not_this_request(modality)
            refs = [n.notice_id for n in body.notices] + [d.number for d in body.travel_documents]
            hits = tuple(NewHit(modality, ref, 1.0, MatchType.CANDIDATE) for ref in refs)
            status = PartnerStatus.HIT if hits else PartnerStatus.NO_HIT
            return Answer(modality=modality, status=status, hits=hits)
        replied_to = body.request_message_id if isinstance(body, SearchReply) else ""
        return answer_of(body, modality, request.message_id, replied_to)

    return read


def follow_up_message(
    node_id: str,
    now: dt.datetime,
    search: SearchRow,
    result: PartnerResultRow,
    hit: HitRow,
    message_id: str,
) -> Outgoing:
    """The follow-up of a confirmed Interpol hit, as Interpol XML whatever its modality.

    A fingerprint hit came back in an ANSI/NIST SRE; its follow-up names that search's
    message id too, and travels as XML like every other (`exchange.codecs.interpol`).
    """
    request = interpol.InterpolMessage(
        message_id,
        search.correlation_id,
        now,
        node_id,
        result.partner,
        search.purpose,
        FollowUpRequest(result.message_id_for(hit.modality), hit.reference),
    )

    def decode(data: bytes) -> tuple[Parties, object]:
        reply = interpol.decode_xml(data)
        return _parties(reply), reply.body

    data = interpol.encode_xml(request)
    return follow_up_outgoing(hit, search.purpose, message_id, data, _parties(request), decode)
