"""The client API's idempotency keys in the store (`state.idempotency`) on a real SQLite file:
per client, taken once, expired after their retention, in the commit of their search."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from exchange.gateway.state.store import KeptResponse, KeyTakenError, Store
from tests.gateway.state.test_store import T0, new_search

DAY = dt.timedelta(hours=24)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "gateway.sqlite") as s:
        yield s


def kept(digest: str = "d-1", resource: str = "S-1", *, finished: bool = True) -> KeptResponse:
    return KeptResponse(digest, resource, 202, '{"search_id": "S-1"}', finished, T0)


def test_a_key_is_taken_once_per_client(store: Store) -> None:
    store.keep_response("kent", "k", kept(), expired_before=T0 - DAY)
    assert store.kept_response("kent", "k", since=T0 - DAY) == kept()
    with pytest.raises(KeyTakenError):
        store.keep_response("kent", "k", kept("d-2"), expired_before=T0 - DAY)
    assert store.kept_response("kent", "k", since=T0 - DAY) == kept()  # the first stays
    assert store.kept_response("essex", "k", since=T0 - DAY) is None
    store.keep_response("essex", "k", kept("d-3"), expired_before=T0 - DAY)
    found = store.kept_response("essex", "k", since=T0 - DAY)
    assert found is not None and found.digest == "d-3"


def test_an_expired_key_is_unused_and_housekeeping_drops_it(store: Store) -> None:
    store.keep_response("kent", "k", kept(), expired_before=T0 - DAY)
    later = T0 + DAY + dt.timedelta(seconds=1)
    assert store.kept_response("kent", "k", since=later - DAY) is None
    fresh = KeptResponse("d-2", "S-2", 202, "{}", True, later)
    store.keep_response("kent", "k", fresh, expired_before=later - DAY)  # taken afresh
    assert store.kept_response("kent", "k", since=later - DAY) == fresh
    store.keep_response("kent", "old", kept(), expired_before=T0 - DAY)
    assert store.forget_idempotency_keys(later - DAY, 10) == 1
    assert store.kept_response("kent", "old", since=T0 - DAY) is None
    assert store.kept_response("kent", "k", since=later - DAY) == fresh


def test_a_waiting_first_request_is_finished_once(store: Store) -> None:
    store.keep_response("kent", "k", kept(finished=False), expired_before=T0 - DAY)
    found = store.kept_response("kent", "k", since=T0 - DAY)
    assert found is not None and not found.finished
    store.finish_response("kent", "k", 200, '{"status": "complete"}')
    store.finish_response("kent", "k", 200, '{"status": "other"}')  # only the first counts
    found = store.kept_response("kent", "k", since=T0 - DAY)
    assert found is not None and found.finished
    assert (found.status, found.body) == (200, '{"status": "complete"}')


def test_a_taken_key_rolls_back_the_search_made_in_its_commit(store: Store) -> None:
    store.keep_response("kent", "k", kept(), expired_before=T0 - DAY)
    with pytest.raises(KeyTakenError), store.transaction():
        row = new_search(store)
        store.keep_response("kent", "k", kept("d-2", row.search_id), expired_before=T0 - DAY)
    assert store.get_search(row.search_id) is None
    assert store.connection.execute("SELECT count(*) FROM searches").fetchone() == (0,)
