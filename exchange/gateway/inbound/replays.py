"""What makes two partner messages under one (sender, message id) the same message.

A partner retries a message under its id so that we answer the retry from the stored reply
and search nothing twice (`Store.claim_message`). That is right only if the retry asks what
the first copy asked: a message id reused for another question must be refused (HTTP 409),
not answered with a reply to something else.

"The same" is the content, not the bytes: a sender may encode a retry again (a new header
timestamp, INT-I's 1.005 DAT and 1.014 GMT, other whitespace), as this gateway does for a
search resumed after a restart. So the digest is taken over the decoded values (frozen
dataclasses, whose `repr` is their every field; no floats from arithmetic, no sets), without
those times. A Prüm DNA search gets one digest per probe: a resumed search asks again under
the id of the batch its probe went in, with only its own probe (`outbound.dna_batch`), and
that batch's reply answers it. A copy is the same message when each of its digests is one of
the first copy's; digests are space-separated in the store (`inbound_messages.body_digest`).
"""

from __future__ import annotations

import dataclasses
import hashlib

from exchange.codecs.int_i_model import IntiTransaction
from exchange.model import DnaSearchRequest, Envelope

_TIMES_OF_TYPE1 = frozenset({"date", "gmt"})


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode("utf-8", "backslashreplace")).hexdigest()[:32]


def envelope_digest(envelope: Envelope) -> str:
    """The digests of what a Prüm envelope asks: its header but the timestamp, and its body
    (a DNA search's probes each on their own, with its candidate limit)."""
    h = envelope.header
    head = (h.correlation_id, h.receiver, h.message_type, h.purpose, h.schema_version)
    body = envelope.body
    if isinstance(body, DnaSearchRequest) and body.probes:
        digests = {_digest(head, probe, body.max_candidates) for probe in body.probes}
        return " ".join(sorted(digests))
    return _digest(head, body)


def transaction_digest(tx: IntiTransaction, encoding: str) -> str:
    """The digest of an INT-I transaction: every field but its dates and times, and the
    encoding it came in (the stored answer is in that encoding)."""
    t1 = tuple(
        getattr(tx.type1, f.name)
        for f in dataclasses.fields(tx.type1)
        if f.name not in _TIMES_OF_TYPE1
    )
    return _digest(encoding, t1, tx.type2, tx.records)
