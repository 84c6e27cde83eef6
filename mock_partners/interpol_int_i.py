"""The mock Interpol node's INT-I v6 side: CPS/MPS/NPS searches in, SRE or ERR out.

Interpol's INT-I v6.00 profile of ANSI/NIST-ITL 1-2011, XML encoding (`exchange.codecs.int_i_xml`;
TOTs and error codes from `MRT_INT-I_LookupCodes.csv`). A CPS (ten-print) or MPS (latent) is
searched by the node's shared responder like any partner's search (gallery, capacities,
released hits); an NPS, a non-criminal print-to-print search, is searched as a CPS (TP/TP).
The answer is an SRE: 2.064 RLS `I` with the candidate count, the best candidate's reference
as 2.010 CRN and its identity (names, date of birth, sex, citizenship from the gallery
record) as the record subject; or `N`, with no subject. What the node does not do (ATP,
adding prints to its collection; an SRE or ERR sent to it) is refused with ERR 116, "invalid
type of transaction"; the responder's refusals travel as their INT-I codes, except those
INT-I has no code for (quota: HTTP 429, internal: 503, both with Retry-After). Unreadable
INT-I gets an ERR naming the XML path, with HTTP 400.

`encode_inti` / `decode_inti` are the one place the mock turns an INT-I transaction into
bytes and back, so another INT-I encoding can be offered there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from aiohttp import web

from exchange.codecs import int_i_codes as codes
from exchange.codecs import int_i_xml
from exchange.codecs.errors import CodecError
from exchange.codecs.int_i_envelope import (
    envelope_from_transaction,
    int_i_tcn,
    subject_of_core_data,
)
from exchange.codecs.int_i_model import (
    Agency,
    Candidates,
    CountryReference,
    ErrorMessage,
    IntiTransaction,
    Type1,
    Type2,
)
from exchange.codecs.xml_safety import parse_xml
from exchange.gateway.node import Node
from exchange.model import ErrorBody, ErrorCode, SearchReply

XML = "application/xml"
NODE_ID = "INTERPOL"
INTERPOL = Agency(NODE_ID, "XPO", NODE_ID)
UNKNOWN_TCN = "00000000000000Z"  # the TCR of an ERR to a message whose TCN cannot be read
_MARKS = (codes.NS_INTI.encode(), codes.NS_ITL.encode())


def encode_inti(tx: IntiTransaction) -> bytes:
    """An INT-I transaction as the node sends it (the XML encoding)."""
    return int_i_xml.encode(tx)


def decode_inti(data: bytes) -> IntiTransaction:
    """A received INT-I transaction (the XML encoding); CodecError naming the XML path."""
    return int_i_xml.decode(data)


def is_int_i(raw: bytes) -> bool:
    """XML naming INT-I's or NIST's ITL namespace near its start: an INT-I transaction."""
    head = raw[:4096]
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<" and any(m in head for m in _MARKS)


def _response(data: bytes, status: int = 200) -> web.Response:
    return web.Response(body=data, status=status, content_type=XML)


def answer(node: Node, raw: bytes) -> web.Response:
    """The node's INT-I answer to one received transaction."""
    try:
        tx = decode_inti(raw)
    except CodecError as exc:
        return _response(encode_inti(_unreadable(node, raw, exc)), 400)
    t1 = tx.type1
    sender = t1.origin.code or t1.origin.name
    claim = node.store.claim_message(sender, t1.tcn, now=node.clock())
    if not claim.first:
        if claim.reply is None:
            return web.Response(status=503, headers={"Retry-After": "1"})
        return _response(claim.reply)
    reply = _reply(node, tx)
    if isinstance(reply, web.Response):
        # Not remembered: a retry meanwhile is told to wait (503) until the claim is stale.
        return reply
    stored = node.store.remember_reply(sender, t1.tcn, encode_inti(reply), now=node.clock())
    return _response(stored)


def _reply(node: Node, tx: IntiTransaction) -> IntiTransaction | web.Response:
    """An SRE or ERR for a readable transaction, or a transport-level refusal."""
    if tx.tot not in codes.SEARCH_TOTS:
        return _err(node, tx, "116", f"this node does not take {tx.tot} transactions", "TOT")
    searched = tx
    if tx.tot == codes.TOT_NPS:  # a print-to-print search outside CPS's scope: as a CPS
        searched = dataclasses.replace(tx, type1=dataclasses.replace(tx.type1, tot=codes.TOT_CPS))
    try:
        envelope = envelope_from_transaction(searched)
    except CodecError as exc:
        return _err(node, tx, "101", exc.reason, exc.field)
    outcome = node.responder.respond(envelope, str(uuid.uuid4()), node.clock())
    body = outcome.reply.body
    if isinstance(body, ErrorBody):
        if body.code in codes.NO_INT_I_CODE:
            status = 429 if body.code is ErrorCode.QUOTA_EXCEEDED else 503
            return web.Response(status=status, text=body.message, headers={"Retry-After": "60"})
        code = codes.int_i_error_code(body.code)
        return _err(node, tx, code, body.message, body.field)
    if not isinstance(body, SearchReply):
        return _err(node, tx, "116", "not a search", "TOT")
    return _search_result(node, tx, body)


def _search_result(node: Node, tx: IntiTransaction, body: SearchReply) -> IntiTransaction:
    candidates = [c for r in body.results for c in r.candidates]
    if not candidates:
        type2 = Type2(candidates=Candidates(tx.tot, codes.RESULT_NO_HIT, 0))
    else:
        best = candidates[0].reference
        core = node.core_data(best)
        type2 = Type2(
            person=CountryReference(best, INTERPOL.country),
            candidates=Candidates(tx.tot, codes.RESULT_HIT, len(candidates)),
            subject=subject_of_core_data(core) if core is not None else None,
        )
    return _transaction(node, codes.TOT_SRE, tx.type1.tcn, tx.type1.origin, type2)


def _transaction(node: Node, tot: str, tcr: str, to: Agency, type2: Type2) -> IntiTransaction:
    now = node.clock().astimezone(dt.UTC)
    type1 = Type1(
        tot=tot,
        tcn=int_i_tcn(str(uuid.uuid4()), now.year),
        date=now.date(),
        destination=to,
        origin=INTERPOL,
        gmt=now,
        tcr=tcr,
    )
    return IntiTransaction(type1, type2)


def _err(
    node: Node, tx: IntiTransaction, code: str, text: str, field: str | None
) -> IntiTransaction:
    error = ErrorMessage(code, text[:255] or codes.ERROR_TEXTS.get(code), field and field[:255])
    return _transaction(node, codes.TOT_ERR, tx.type1.tcn, tx.type1.origin, Type2(errors=(error,)))


def _unreadable(node: Node, raw: bytes, exc: CodecError) -> IntiTransaction:
    """ERR 101 (or 116 for an unknown TOT) naming the XML path of what could not be read,
    to the sender and TCN the message names, where they can be read at all."""
    tcn, origin = _who(raw)
    code = "116" if exc.field.endswith("TransactionCategoryCode") else "101"
    error = ErrorMessage(code, exc.reason[:255], exc.field[:255])
    return _transaction(node, codes.TOT_ERR, tcn, origin, Type2(errors=(error,)))


def _who(raw: bytes) -> tuple[str, Agency]:
    """The TCN and originating agency of an unreadable transaction, as far as they can be read."""
    unknown = (UNKNOWN_TCN, Agency("UNKNOWN", "XPO", "UNKNOWN"))
    try:
        root = parse_xml(raw)
    except CodecError:
        return unknown
    ns = {"biom": codes.NS_BIOM, "nc": codes.NS_NC, "int-i": codes.NS_INTI}
    tcn = root.xpath(
        "string(.//biom:TransactionControlIdentification/nc:IdentificationID)", namespaces=ns
    )
    code = root.xpath(
        "string(.//int-i:TransactionOriginatingOrganization"
        "/nc:OrganizationIdentification/nc:IdentificationID)",
        namespaces=ns,
    )
    tcn = str(tcn).strip()
    code = str(code).strip()[:40]
    if not (len(tcn) == 15 and tcn.isascii() and tcn.isalnum()):
        tcn = UNKNOWN_TCN
    return tcn, Agency(code or "UNKNOWN", "XPO", code or "UNKNOWN")
