"""Fingerprint searches to Interpol in its INT-I v6 profile (`profile = "int-i-6"`).

Interpol's INT-I v6.00 profile of ANSI/NIST-ITL 1-2011 (Update 2015), XML encoding
(`exchange.codecs.int_i_xml`; TOTs and error codes from `MRT_INT-I_LookupCodes.csv`): a
ten-print search goes as a CPS (search type TP/TP), a latent as an MPS (LT/TP); Interpol
answers with an SRE (2.064 RLS: `I` hit, `N` no hit) or an ERR (2.074 ERM, its code read as
our refusal by `int_i_codes`). Search types INT-I does not carry (palms) are not sent
(`carries`). The TCN (1.009) is the stable per-(search, partner, modality) message id made
INT-I-shaped by `int_i_tcn`, so a retry or a resumed search sends the same one.

A reply answers this request only if its TCR (1.010) is our TCN, it comes from the partner
(1.008 ORI) to us (1.007 DAI), and it is an SRE or an ERR; anything else is an error answer,
an unreadable one a `CodecError` (the fan-out's `invalid reply`).

An SRE hit names the person it identified in its record subject (step-2 data). INT-I counts
candidates but does not name them: the first hit is named by the SRE's 2.010 CRN when it has
one, each other `<SRE TCN>/<n>`. The subject goes with the first hit as its core data
(`NewHit.core_data_json`, a UK record's JSON as the gallery stores records), never in the
search's result and never in a log line (`SubjectData` withholds its values from repr).

The one place an INT-I transaction becomes bytes and back on the gateway side is
`encode_inti` / `decode_inti`: another INT-I encoding (the traditional one) is an option
there.
"""

from __future__ import annotations

import datetime as dt
import json

from exchange.codecs import int_i_codes as codes
from exchange.codecs import int_i_envelope, int_i_xml, uk_json
from exchange.codecs.errors import CodecError
from exchange.codecs.int_i_envelope import (
    INTERPOL_COUNTRY,
    TOT_OF_SEARCH_TYPE,
    core_data_of_subject,
    envelope_from_transaction,
    int_i_tcn,
    transaction_from_envelope,
)
from exchange.codecs.int_i_model import IntiTransaction
from exchange.gateway.outbound.messages import Answer, Outgoing, not_this_request, refused
from exchange.gateway.state.rows import NewHit, PartnerResultRow, PartnerStatus, SearchRow
from exchange.model import (
    DactySearchRequest,
    Envelope,
    ErrorBody,
    Header,
    MatchType,
    MessageType,
    Modality,
)
from exchange.records import record_of_core_data

XML = "application/xml"


def encode_inti(tx: IntiTransaction) -> bytes:
    """An INT-I transaction as the bytes Interpol is sent (the XML encoding)."""
    return int_i_xml.encode(tx)


def decode_inti(data: bytes) -> IntiTransaction:
    """Interpol's bytes as an INT-I transaction (the XML encoding); CodecError if unreadable."""
    return int_i_xml.decode(data)


def carries(body: DactySearchRequest) -> bool:
    """Whether INT-I has a search transaction for this search type (TP/TP and LT/TP)."""
    return body.search_type in TOT_OF_SEARCH_TYPE


def country_of(node_id: str) -> str:
    """A node's agency country for 1.008 ORI: its id as ISO 3166 alpha-3 (GB -> GBR; XPO for
    Interpol; a node id that is no country, ours: GBR)."""
    return int_i_envelope.country_of(node_id, "GBR")


def search_transaction(
    node_id: str,
    now: dt.datetime,
    search: SearchRow,
    result: PartnerResultRow,
    body: DactySearchRequest,
) -> IntiTransaction:
    """The CPS or MPS transaction of a fingerprint search to this partner."""
    # The search's year, not today's: a retry after New Year still carries the same TCN.
    tcn = int_i_tcn(result.message_id_for(Modality.FINGERPRINT), search.created_at.year)
    header = Header(
        message_id=tcn,
        correlation_id=tcn,
        timestamp=now,
        sender=node_id,
        receiver=result.partner,
        message_type=MessageType.DACTY_SEARCH_REQUEST,
        purpose=search.purpose,
    )
    return transaction_from_envelope(
        Envelope(header, body),
        origin_country=country_of(node_id),
        destination_country=INTERPOL_COUNTRY,
    )


def search_message(
    node_id: str,
    now: dt.datetime,
    search: SearchRow,
    result: PartnerResultRow,
    body: DactySearchRequest,
) -> Outgoing:
    """A fingerprint search as an INT-I v6 transaction, and the reader of its SRE or ERR."""
    tx = search_transaction(node_id, now, search, result, body)

    def read(data: bytes) -> Answer:
        return read_reply(decode_inti(data), tx)

    return Outgoing(
        modality=Modality.FINGERPRINT,
        search_type=body.search_type,
        message_id=result.message_id_for(Modality.FINGERPRINT),
        message_type=MessageType.DACTY_SEARCH_REQUEST,
        purpose=search.purpose,
        data=encode_inti(tx),
        content_type=XML,
        read=read,
    )


def read_reply(reply: IntiTransaction, request: IntiTransaction) -> Answer:
    """Interpol's reply to `request` as an Answer: SRE hits or no hit, ERR refusals."""
    modality = Modality.FINGERPRINT
    r1, q1 = reply.type1, request.type1
    if r1.origin.code != q1.destination.code or r1.destination.code != q1.origin.code:
        sender = r1.origin.code or r1.origin.name  # an agency without a code: its name
        receiver = r1.destination.code or r1.destination.name
        return Answer(
            modality=modality,
            status=PartnerStatus.ERROR,
            error=f"reply from {sender} to {receiver}, expected {q1.destination.code}",
        )
    if r1.tcr != q1.tcn:
        return not_this_request(modality)
    if reply.tot == codes.TOT_ERR:
        body = envelope_from_transaction(reply).body
        if isinstance(body, ErrorBody):
            return refused(modality, body)
    if reply.tot != codes.TOT_SRE:
        return Answer(
            modality=modality,
            status=PartnerStatus.ERROR,
            error=f"INT-I {reply.tot} does not answer a {request.tot}",
        )
    return _search_result(reply)


def _search_result(reply: IntiTransaction) -> Answer:
    modality = Modality.FINGERPRINT
    t2 = reply.type2
    rls = t2.candidates if t2 is not None else None
    if t2 is None or rls is None:
        raise CodecError("Type-2.2.064", "an SRE needs its respondent list (RLS)")
    if rls.result == codes.RESULT_NO_HIT:
        return Answer(modality=modality, status=PartnerStatus.NO_HIT)
    if rls.result != codes.RESULT_HIT or rls.total < 1:
        raise CodecError("Type-2.2.064", "a result code I with at least one candidate, or N")
    first = t2.person.value if t2.person is not None else f"{reply.type1.tcn}/1"
    core = core_data_of_subject(t2.subject) if t2.subject is not None else None
    stored = None
    if core is not None:
        record = uk_json.record_to_json(record_of_core_data(core, reference=first))
        stored = json.dumps(record, ensure_ascii=False)
    names = [first] + [f"{reply.type1.tcn}/{n}" for n in range(2, min(rls.total, 100) + 1)]
    hits = tuple(
        NewHit(
            modality,
            name,
            0.0,  # INT-I gives no score
            MatchType.CANDIDATE,
            core_data_json=stored if n == 0 else None,
        )
        for n, name in enumerate(names)
    )
    return Answer(modality=modality, status=PartnerStatus.HIT, hits=hits)
