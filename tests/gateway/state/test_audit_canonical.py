"""The audit chain's canonical JSON does not move: entries hash as they always did.

`audit._new_entry_hash` (append) writes the canonical JSON out directly and `entry_hash`
(verify) reuses one encoder; both must give what `json.dumps(..., sort_keys=True,
separators=(",", ":"), ensure_ascii=True)` gave when the chain format was fixed, or chains
written before stop verifying. Golden hashes below were written by the code before the
change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from exchange.gateway.state.audit import (
    AuditEntry,
    AuditLog,
    Direction,
    Outcome,
    _new_entry_hash,
    entry_hash,
)
from exchange.gateway.state.audit_verify import verify
from exchange.gateway.state.store import Store
from exchange.model import ErrorCode, MessageType, Purpose

T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def dumps_hash(prev_hash: str, seq: int, fields: tuple[Any, ...]) -> str:
    """The chain's hash as first written, with json.dumps."""
    at, direction, partner, message_type, message_id, refs, purpose, outcome, actor = fields
    canonical = json.dumps(
        {
            "seq": seq,
            "at": at,
            "direction": direction,
            "partner": partner,
            "message_type": message_type,
            "message_id": message_id,
            "references": refs,
            "purpose": purpose,
            "outcome": outcome,
            "actor": actor,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256((prev_hash + canonical).encode("ascii")).hexdigest()


# Any text, quotes, backslashes, controls, non-ASCII and lone surrogates included.
texts = st.text(st.characters(codec=None, categories=None)) | st.sampled_from(
    ['"', "\\", "\n\t", "é", "\ud800", "\U0001f600", ""]
)
optional = st.none() | texts
fields_st = st.tuples(
    texts, texts, optional, texts, optional, st.lists(texts, max_size=4), optional, texts, texts
)


@given(
    prev=st.text("0123456789abcdef", min_size=64, max_size=64),
    seq=st.integers(0, 2**62),
    fields=fields_st,
)
def test_append_hash_equals_json_dumps(prev: str, seq: int, fields: tuple[Any, ...]) -> None:
    assert _new_entry_hash(prev, seq, fields) == dumps_hash(prev, seq, fields)
    assert entry_hash(prev, seq, fields) == dumps_hash(prev, seq, fields)


# What `verify` may read back from an edited database: any JSON-able value in any column.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


@given(fields=st.tuples(*[json_values] * 9), seq=st.integers(-5, 10**6))
def test_verify_hash_equals_json_dumps_for_any_column_values(
    fields: tuple[Any, ...], seq: int
) -> None:
    assert entry_hash("0" * 64, seq, fields) == dumps_hash("0" * 64, seq, fields)


def test_entries_hash_as_before_the_change(tmp_path: Path) -> None:
    db = tmp_path / "gateway.sqlite"
    store = Store.open(db)
    log = AuditLog(store)
    log.append(
        AuditEntry(
            at=T0,
            direction=Direction.RECEIVED,
            message_type=MessageType.DNA_SEARCH_REQUEST,
            outcome=Outcome.ACCEPTED,
            actor="DE",
            partner="GB",
            message_id="base-1",
            references=(),
            purpose=Purpose.INVESTIGATION,
        )
    )
    log.append(
        AuditEntry(
            at=T0 + dt.timedelta(microseconds=5),
            direction=Direction.SENT,
            message_type=MessageType.SEARCH_REPLY,
            outcome=Outcome.HIT,
            actor="DE",
            partner="GB",
            message_id="a1b2",
            references=("UK-REF-1", "x/y:z"),
            purpose=Purpose.INVESTIGATION,
        )
    )
    log.append(
        AuditEntry(
            at=T0,
            direction=Direction.SENT,
            message_type=MessageType.ERROR,
            outcome=ErrorCode.QUOTA_EXCEEDED,
            actor="op@gb",
        )
    )
    hashes = store.connection.execute("SELECT seq, hash FROM audit ORDER BY seq").fetchall()
    store.close()
    assert hashes == [
        (1, "f3ebe0f5bf4be4eb8cbf3a898a55e22878d05d99eb4ae6ef1352737e0b8fb886"),
        (2, "f113a541c4b1c5bac16c952bc490c65307f22deacc50988d6171bca58db07d0d"),
        (3, "fd341d206def20b0211bed0163e87fb142ab0f28030142f778aced2c0a90889f"),
    ]
    assert verify(str(db)).ok
