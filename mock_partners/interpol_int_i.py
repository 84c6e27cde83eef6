"""The mock Interpol node's INT-I v6 side: CPS/MPS/NPS searches in, SRE or ERR out.

The answering is the gateway's own (`exchange.gateway.inbound.int_i_api`: either encoding,
claimed and audited, refusals as INT-I ERR codes), run as Interpol: the SRE of a hit names the
person (its identity from the gallery record as the record subject), as Interpol's does. What
the node does not do (ATP; an SRE or ERR sent to it) is refused with ERR 116; unreadable INT-I
gets an ERR naming the XML path (or record and field), with HTTP 400.

`encode_inti` / `decode_inti` are the one place the mock turns an INT-I transaction into
bytes and back (the XML encoding, which the gateway's `int-i-6` profile sends).
"""

from __future__ import annotations

from aiohttp import web

from exchange.codecs import int_i_xml
from exchange.codecs.int_i_model import Agency, IntiTransaction
from exchange.gateway.inbound import int_i_api
from exchange.gateway.node import Node

XML = "application/xml"
NODE_ID = "INTERPOL"
INTERPOL = Agency(NODE_ID, "XPO", NODE_ID)
UNKNOWN_TCN = int_i_api.UNKNOWN_TCN
is_int_i = int_i_api.is_int_i


def encode_inti(tx: IntiTransaction) -> bytes:
    """An INT-I transaction as the node sends it (the XML encoding)."""
    return int_i_xml.encode(tx)


def decode_inti(data: bytes) -> IntiTransaction:
    """A received INT-I transaction (the XML encoding); CodecError naming the XML path."""
    return int_i_xml.decode(data)


def answer(node: Node, raw: bytes, request: web.Request | None = None) -> web.Response:
    """The node's INT-I answer to one received transaction, as Interpol (naming the person)."""
    return int_i_api.answer(node, raw, INTERPOL, with_subject=True, request=request)
