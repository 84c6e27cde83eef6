"""The fingerprint gallery's memory-mapped store: row files, round trips, add after load,
erasure, update, and stale or corrupt files refused with `StaleIndexError`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from matchers.errors import MatcherError, StaleIndexError, TemplateError
from matchers.fingerprint import FingerprintGallery
from matchers.fingerprint_store import HEADER_BYTES, RowFile
from matchers.synthetic import tenprint

SEED = 11
N = 1100  # past fit_from=600 (subject index) and TRAIN_FLOOR=1000 (SQ4 position codes)


@pytest.fixture(scope="module")
def fitted() -> FingerprintGallery:
    g = FingerprintGallery(fit_from=600, version="3")
    g.add_many([f"S{i}" for i in range(N)], [tenprint(SEED, i) for i in range(N)])
    assert g.fitted
    return g


def _queries(ids: list[int]) -> list[dict[int, np.ndarray]]:
    return [tenprint(SEED, i, capture=1) for i in ids]


def test_row_file_round_trip_and_refusals(tmp_path: Path) -> None:
    sid, other = b"a" * 16, b"b" * 16
    f = RowFile.create(tmp_path / "x.f32", 3, sid)
    rows = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert f.append(rows).tolist() == [0, 1, 2, 3]
    assert f.append(rows[:1] + 100).tolist() == [4]
    assert np.array_equal(f.read([4, 0]), np.vstack((rows[:1] + 100, rows[:1])))
    f.erase([1])
    again = RowFile.open(tmp_path / "x.f32", 3, sid, 5)
    assert np.array_equal(again.read([1, 2]), np.vstack((np.zeros(3), rows[2])))
    with pytest.raises(StaleIndexError, match="store"):
        RowFile.open(tmp_path / "x.f32", 3, other, 5)
    with pytest.raises(StaleIndexError, match="columns"):
        RowFile.open(tmp_path / "x.f32", 4, sid, 5)
    with pytest.raises(StaleIndexError, match="rows"):
        RowFile.open(tmp_path / "x.f32", 3, sid, 6)
    (tmp_path / "bad.f32").write_bytes(b"\0" * HEADER_BYTES)
    with pytest.raises(StaleIndexError, match="not a fingerprint store"):
        RowFile.open(tmp_path / "bad.f32", 3, sid, 0)
    with pytest.raises(TemplateError):
        f.append(np.zeros((2, 4), np.float32))


def test_only_codes_are_resident(fitted: FingerprintGallery) -> None:
    mem = fitted.memory_bytes()
    resident = mem["positions"] + mem["subjects"] + mem["tables"]
    assert resident / N < 2048  # the budget, without the reference map's objects
    assert mem["store_on_disk"] / N > 5 * resident / N  # the minutiae and codes are on disk


def test_save_load_round_trip_gives_the_same_answers(
    fitted: FingerprintGallery, tmp_path: Path
) -> None:
    fitted.save(tmp_path / "fp")
    loaded = FingerprintGallery.load(tmp_path / "fp", expected_version="3")
    assert loaded.fitted and len(loaded) == N and loaded.directory == tmp_path / "fp"
    qs = _queries([5, 250, 1099])
    assert loaded.search(qs, k=3) == fitted.search(qs, k=3)
    assert loaded.search(qs, k=1, method="positions") == fitted.search(qs, k=1, method="positions")
    mark = tenprint(SEED, 42, capture=3)[2]
    assert loaded.search_latent(mark, k=3) == fitted.search_latent(mark, k=3)
    with pytest.raises(StaleIndexError):
        FingerprintGallery.load(tmp_path / "fp", expected_version="4")


def test_add_remove_update_after_load(fitted: FingerprintGallery, tmp_path: Path) -> None:
    fitted.save(tmp_path / "fp")
    g = FingerprintGallery.load(tmp_path / "fp", expected_version="3")
    g.add("NEW", tenprint(SEED, 5000))
    # The saved snapshot no longer describes the gallery: it stops loading.
    with pytest.raises(StaleIndexError):
        FingerprintGallery.load(tmp_path / "fp")
    assert g.search(_queries([5000]), k=1)[0][0].reference == "NEW"
    # Update: S7 now holds subject 6000's prints; its old prints are gone from the store.
    old_fingers = g._finger_of[g._slot_of["S7"]].copy()
    g.add("S7", tenprint(SEED, 6000))
    assert len(g) == N + 1
    assert g.search(_queries([6000]), k=1)[0][0].reference == "S7"
    assert all(c.reference != "S7" for c in g.search(_queries([7]), k=5)[0])
    assert not g._codes_file.read(old_fingers[old_fingers >= 0]).any()  # zeroed on disk
    g.remove("S9")
    assert "S9" not in g and all(c.reference != "S9" for c in g.search(_queries([9]), k=5)[0])
    # Saved again (into its own directory), then loaded: the same gallery.
    g.save(tmp_path / "fp")
    again = FingerprintGallery.load(tmp_path / "fp", expected_version="3")
    assert len(again) == N and "S9" not in again and "NEW" in again
    qs = _queries([5000, 6000, 9, 100])
    assert again.search(qs, k=2) == g.search(qs, k=2)


def test_erased_minutiae_leave_the_saved_files(tmp_path: Path) -> None:
    g = FingerprintGallery()
    g.add_many([f"S{i}" for i in range(30)], [tenprint(SEED, i) for i in range(30)])
    g.remove("S3")
    g.save(tmp_path / "fp")
    # Every minutia row stored for S3 is zero in the copy; the others are not.
    data = np.fromfile(tmp_path / "fp" / "minutiae.f32", np.float32, offset=HEADER_BYTES)
    rows = data.reshape(-1, 5)
    s3 = np.concatenate([m for m in tenprint(SEED, 3).values()])
    assert not any((rows[:, :2] == m[:2]).all(axis=1).any() for m in s3)
    loaded = FingerprintGallery.load(tmp_path / "fp")
    assert len(loaded) == 29 and loaded.search(_queries([4]), k=1)[0][0].reference == "S4"


def test_corrupt_or_foreign_files_are_refused(fitted: FingerprintGallery, tmp_path: Path) -> None:
    fitted.save(tmp_path / "a")
    other = FingerprintGallery(version="3")
    other.add_many([f"S{i}" for i in range(50)], [tenprint(SEED + 1, i) for i in range(50)])
    other.save(tmp_path / "b")
    shutil.copy(tmp_path / "b" / "codes.f32", tmp_path / "a" / "codes.f32")  # another store's
    with pytest.raises(StaleIndexError, match="store"):
        FingerprintGallery.load(tmp_path / "a")
    fitted.save(tmp_path / "c")
    path = tmp_path / "c" / "minutiae.f32"
    path.write_bytes(path.read_bytes()[: HEADER_BYTES + 100])  # truncated
    with pytest.raises(StaleIndexError, match="rows"):
        FingerprintGallery.load(tmp_path / "c")
    fitted.save(tmp_path / "d")
    meta = json.loads((tmp_path / "d" / "gallery.json").read_text())
    meta["references"] = meta["references"][:-1]  # tables and references disagree
    (tmp_path / "d" / "gallery.json").write_text(json.dumps(meta))
    with pytest.raises(StaleIndexError):
        FingerprintGallery.load(tmp_path / "d")
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "gallery.json").write_text(json.dumps({"format": "x/1"}))
    with pytest.raises(StaleIndexError):
        FingerprintGallery.load(tmp_path / "e")


def test_read_only_load_refuses_writes(fitted: FingerprintGallery, tmp_path: Path) -> None:
    fitted.save(tmp_path / "fp")
    g = FingerprintGallery.load(tmp_path / "fp", mmap=True)
    assert g.search(_queries([1]), k=1)[0][0].reference == "S1"
    with pytest.raises(MatcherError):
        g.remove("S1")
    assert FingerprintGallery.load(tmp_path / "fp").search(_queries([1]), k=1)[0][0].reference == (
        "S1"
    )
