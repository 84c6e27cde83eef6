"""The Interpol dialect (`exchange.codecs.interpol`): what a search and a follow-up become.

Fingerprints go in the partner's profile: with `int-i-6` (the default) as an INT-I v6
transaction, CPS or MPS, answered with SRE or ERR (`dialects.int_i`); with `prum-2008` as
an ANSI/NIST-ITL CPS transaction in our own profile (answered with SRE). DNA and face go as
Interpol XML under either profile (INT-I v6 has no DNA or face transactions that we model),
and with the `nominal` modality a nominal check of the record's names, date of birth, sex
and nationalities against notices and travel documents. Every message carries the stable
per-(search, partner, modality) message id (INT-I's TCN is made from it), so retries and
resumed searches reuse it; replies are checked with the rules every dialect shares
(`outbound.messages`).

Follow-ups: an INT-I SRE hit brings its subject (the identity of the person it names) with
it, stored with the hit as its core data. That hit's follow-up is answered from the store,
with no second round trip: INT-I v6 has no step-2 transaction, and Interpol has sent the
data already. It is released only as the confirmed hit's follow-up (`outbound.follow_up`),
never in the search result. A hit without stored core data (a prum-2008 CPS hit, an SRE
hit without a subject, any other modality) is followed up as before, as Interpol XML.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from exchange.capacities import search_type_of
from exchange.codecs import ansi_nist, interpol, prum_xml
from exchange.gateway.outbound.dialects import int_i
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
    profile: str = "int-i-6",
) -> list[Outgoing]:
    """Interpol: prints in the partner's `profile` (INT-I v6, or ANSI/NIST-ITL in ours), DNA
    and face as Interpol XML, plus a nominal check.

    With `int-i-6`, prints of a search type INT-I has no transaction for are not sent
    (`unsent_answers` answers them)."""
    out = []
    for modality, body in bodies.items():
        message_id = result.message_id_for(modality)
        if isinstance(body, DactySearchRequest):
            if profile != "int-i-6":
                out.append(_cps(node_id, now, search, result, body))
            elif int_i.carries(body):
                out.append(int_i.search_message(node_id, now, search, result, body))
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


def unsent_answers(bodies: SearchBodies, profile: str) -> list[Answer]:
    """Answers for what `search_messages` does not send: prints INT-I cannot carry."""
    body = bodies.get(Modality.FINGERPRINT)
    if profile != "int-i-6" or not isinstance(body, DactySearchRequest) or int_i.carries(body):
        return []
    return [
        Answer(
            modality=Modality.FINGERPRINT,
            status=PartnerStatus.ERROR,
            error=f"INT-I v6 has no search transaction for {body.search_type}; nothing was sent",
        )
    ]


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
