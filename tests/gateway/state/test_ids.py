"""Time-ordered ids (UUID version 7, RFC 9562 §5.7) and the store keys made with them."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.gateway.state import ids
from exchange.gateway.state.store import NewHit, PartnerStatus, Store
from exchange.model import MatchType, Modality
from tests.gateway.state.test_store import new_search

NS = st.integers(min_value=0, max_value=(1 << 48) * 1_000_000 - 1)  # the 48-bit ms range


def _at(monkeypatch: pytest.MonkeyPatch, ns: int, *, fresh: bool = True) -> str:
    """An id made at `ns`; `fresh`: as the first of a process (no earlier stamp to pass)."""
    monkeypatch.setattr(ids, "time_ns", lambda: ns)
    if fresh:
        monkeypatch.setattr(ids, "_last", 0)
    return ids.uuid7()


@given(NS)
def test_an_id_is_a_version_7_rfc_uuid_holding_its_millisecond(ns: int) -> None:
    with pytest.MonkeyPatch.context() as mp:
        text = _at(mp, ns)
    u = uuid.UUID(text)
    assert str(u) == text and len(text) == 36
    assert u.version == 7 and u.variant == uuid.RFC_4122
    assert u.int >> 80 == ns // 1_000_000  # unix_ts_ms, the leading 48 bits


@given(
    st.integers(min_value=0, max_value=(1 << 48) * 1_000_000 - 1 - 10**12),
    st.integers(min_value=245, max_value=10**12),
)
def test_ids_made_later_sort_later_even_within_one_millisecond(ns: int, gap: int) -> None:
    # rand_a holds the sub-millisecond fraction in 12 bits: 1 ms / 4096 < 245 ns
    with pytest.MonkeyPatch.context() as mp:
        first, second = _at(mp, ns), _at(mp, ns + gap, fresh=False)
    assert first < second  # the text sorts as the number does: fixed-width lowercase hex


def test_ids_made_in_the_same_instant_or_after_the_clock_stepped_back_still_sort_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = 1_764_000_000_123_456_789
    first = _at(monkeypatch, now)
    same_tick = [_at(monkeypatch, now, fresh=False) for _ in range(5000)]
    stepped_back = _at(monkeypatch, now - 5_000_000_000, fresh=False)  # NTP stepped 5 s back
    made = [first, *same_tick, stepped_back]
    assert made == sorted(made) and len(set(made)) == len(made)
    # the stamp runs a tick ahead an id: 5,000 ids from tick 1,871 pass into the next ms
    assert uuid.UUID(made[-1]).int >> 80 == now // 1_000_000 + 1


def test_the_store_keys_searches_messages_and_hits_in_the_order_they_were_made(
    tmp_path: Path,
) -> None:
    now = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
    with Store.open(tmp_path / "g.sqlite3") as store:
        rows = [new_search(store) for _ in range(20)]
        for row in rows:
            hit = NewHit(Modality.DNA, "DE-1", 1.0, MatchType.FULL)
            store.set_partner_result(row.search_id, "DE", PartnerStatus.HIT, now=now, hits=[hit])
        search_ids = [r.search_id for r in rows]
        message_ids = [r.message_id for row in rows for r in row.results]
        hit_ids = [h for (h,) in store.connection.execute("SELECT hit_id FROM hits ORDER BY rowid")]
    for made in (search_ids, message_ids, hit_ids):
        assert made == sorted(made) and len(set(made)) == len(made)
        assert {uuid.UUID(i).version for i in made} == {7}
