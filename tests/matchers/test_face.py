"""Face gallery: search, erasure, update, persistence, stale-index detection, concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

import faiss
import numpy as np
import pytest

from matchers.errors import MatcherError, StaleIndexError, TemplateError, UnknownReferenceError
from matchers.face import FaceGallery, auto_index
from matchers.index_spec import IndexSpecError, train_from
from matchers.synthetic import face_templates
from matchers.thresholds import threshold_for_fmr

DIM = 128
SEED = 3


def refs(ids: range | list[int]) -> list[str]:
    return [f"F{i}" for i in ids]


@pytest.fixture(params=["Flat", "SQ8", "IVF16,Flat", "HNSW16"])
def gallery(request: pytest.FixtureRequest) -> FaceGallery:
    g = FaceGallery(DIM, index=request.param, params="nprobe=16" if "IVF" in request.param else "")
    g.add(refs(range(1000)), face_templates(SEED, np.arange(1000), dim=DIM))
    return g


def test_mates_found_at_rank_one(gallery: FaceGallery) -> None:
    probes = face_templates(SEED, np.arange(0, 1000, 10), dim=DIM, capture=1)
    results = gallery.search(probes, k=5)
    assert (
        sum(r[0].reference == f"F{i}" for r, i in zip(results, range(0, 1000, 10), strict=True))
        >= 98
    )
    assert all(r[0].score >= r[-1].score for r in results)


def test_threshold_filters_candidates(gallery: FaceGallery) -> None:
    probes = face_templates(SEED, [5], dim=DIM, capture=1)
    assert all(c.score >= 0.5 for c in gallery.search(probes, k=50, threshold=0.5)[0])
    assert gallery.search(probes, k=50, threshold=1.01) == [[]]


def test_erasure_really_removes(gallery: FaceGallery) -> None:
    t = face_templates(SEED, [7], dim=DIM)
    gallery.remove(["F7"])
    assert len(gallery) == 999 and "F7" not in gallery
    assert all(c.reference != "F7" for c in gallery.search(t, k=20)[0])
    assert gallery._index.ntotal == 999  # the codes left the index, not just the mapping
    with pytest.raises(UnknownReferenceError):
        gallery.remove(["F7"])


def test_add_existing_reference_updates(gallery: FaceGallery) -> None:
    other = face_templates(SEED, [5000], dim=DIM)
    gallery.add(["F1"], other)
    assert len(gallery) == 1000
    assert gallery.search(other, k=1)[0][0].reference == "F1"


def test_bad_templates_rejected() -> None:
    g = FaceGallery(DIM)
    with pytest.raises(TemplateError):
        g.add(["a"], np.zeros((1, DIM), np.float32))
    with pytest.raises(TemplateError):
        g.add(["a"], np.ones((1, DIM + 1), np.float32))
    with pytest.raises(TemplateError):
        g.add(["a", "b"], np.ones((1, DIM), np.float32))


def test_auto_index_by_size() -> None:
    assert auto_index(10_000) == ("Flat", "")
    factory, params = auto_index(1_000_000)
    assert factory.startswith("IVF") and factory.endswith(",Refine(SQ8)")
    assert params.startswith("nprobe=")
    g = FaceGallery(DIM)
    g.add(refs(range(10)), face_templates(SEED, np.arange(10), dim=DIM))
    assert g.factory == "Flat"


def test_save_load_roundtrip_and_mmap(tmp_path: Path, gallery: FaceGallery) -> None:
    path = tmp_path / "face.index"
    probes = face_templates(SEED, np.arange(0, 1000, 50), dim=DIM, capture=1)
    before = gallery.search(probes, k=3)
    gallery.save(path, version="v42")
    loaded = FaceGallery.load(path, expected_version="v42")
    assert len(loaded) == 1000 and loaded.factory == gallery.factory
    assert [[c.reference for c in r] for r in loaded.search(probes, k=3)] == [
        [c.reference for c in r] for r in before
    ]
    mapped = FaceGallery.load(path, mmap=True)
    assert [c.reference for c in mapped.search(probes, k=1)[0]] == [before[0][0].reference]
    with pytest.raises(MatcherError, match="read-only"):
        mapped.add(["x"], probes[:1])


def test_stale_index_detected_and_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "face.index"
    g = FaceGallery(DIM, version="7")
    g.add(refs(range(50)), face_templates(SEED, np.arange(50), dim=DIM))
    g.save(path)
    # The source of truth moved on (a record was deleted): the file is stale.
    with pytest.raises(StaleIndexError) as err:
        FaceGallery.load(path, expected_version="8")
    assert err.value.stored == "7"
    rebuilt = FaceGallery(DIM, version="8")
    rebuilt.add(refs(range(49)), face_templates(SEED, np.arange(49), dim=DIM))
    rebuilt.save(path)
    assert len(FaceGallery.load(path, expected_version="8")) == 49
    with pytest.raises(StaleIndexError):
        FaceGallery.load(tmp_path / "missing.index", expected_version="8")


def test_erased_template_absent_from_saved_file(tmp_path: Path) -> None:
    g = FaceGallery(DIM)
    g.add(refs(range(20)), face_templates(SEED, np.arange(20), dim=DIM))
    g.remove(["F3"])
    g.save(tmp_path / "f.index")
    loaded = FaceGallery.load(tmp_path / "f.index")
    assert "F3" not in loaded and loaded._index.ntotal == 19


def test_threshold_stored_with_gallery(tmp_path: Path) -> None:
    g = FaceGallery(DIM)
    t = face_templates(SEED, np.arange(300), dim=DIM)
    p = face_templates(SEED, np.arange(300), dim=DIM, capture=1)
    genuine = np.sum(t * p, axis=1)
    impostor = (t @ p.T)[~np.eye(300, dtype=bool)]
    g.threshold = threshold_for_fmr(genuine, impostor, target_fmr=1e-3)
    g.add(refs(range(300)), t)
    g.save(tmp_path / "g.index")
    assert FaceGallery.load(tmp_path / "g.index").threshold == g.threshold


def test_concurrent_searches_while_adding() -> None:
    g = FaceGallery(DIM)
    g.add(refs(range(100)), face_templates(SEED, np.arange(100), dim=DIM))
    errors: list[BaseException] = []
    probes = face_templates(SEED, np.arange(0, 2000, 37), dim=DIM, capture=1)
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                for row in g.search(probes, k=3):
                    for c in row:
                        assert c.reference.startswith("F")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for start in range(100, 2000, 100):
        g.add(
            refs(range(start, start + 100)),
            face_templates(SEED, np.arange(start, start + 100), dim=DIM),
        )
    stop.set()
    for t in threads:
        t.join()
    assert not errors and len(g) == 2000


def test_refined_ivf_pq_default_for_large_galleries(tmp_path: Path) -> None:
    """The large-gallery default (IVF + fast-scan PQ, re-scored on SQ8) on a small gallery."""
    factory, params = auto_index(1_000_000, DIM)
    assert factory.endswith(",Refine(SQ8)") and "k_factor" in params
    g = FaceGallery(DIM, index="IVF16,PQ16x4fs,Refine(SQ8)", params="nprobe=16,k_factor=4")
    g.add(refs(range(1000)), face_templates(SEED, np.arange(1000), dim=DIM))
    probes = face_templates(SEED, np.arange(0, 1000, 10), dim=DIM, capture=1)
    res = g.search(probes, k=3)
    assert (
        sum(r[0].reference == f"F{i}" for r, i in zip(res, range(0, 1000, 10), strict=True)) >= 98
    )
    g.remove(["F10"])
    assert all(c.reference != "F10" for c in g.search(probes[1:2], k=10)[0])
    assert g._index.ntotal == 999 and g._index.refine.ntotal == 999
    g.save(tmp_path / "r.index", version="3")
    back = FaceGallery.load(tmp_path / "r.index", expected_version="3")
    assert [c.reference for c in back.search(probes[:5], k=1)[0]] == [res[0][0].reference]
    mapped = FaceGallery.load(tmp_path / "r.index", mmap=True)
    assert len(mapped) == 999


def test_refined_scores_follow_updates_and_erasures() -> None:
    """Re-scoring reads SQ8 rows by id: rows move when ids are removed and are appended on add."""
    g = FaceGallery(DIM, index="IVF16,PQ8x4fs,Refine(SQ8)", params="nprobe=16,k_factor=4")
    t = face_templates(SEED, np.arange(1000), dim=DIM)  # enough to train it (train_from)
    g.add(refs(range(1000)), t)
    assert g.factory == "IVF16,PQ8x4fs,Refine(SQ8)"
    g.remove(refs(range(0, 1000, 3)))
    g.add(["F1"], face_templates(SEED, [9000], dim=DIM))  # an update: new id, new row
    kept = [i for i in range(2, 1000) if i % 3]
    res = g.search(t[kept], k=1)
    assert [r[0].reference for r in res] == refs(kept)
    # SQ8 scores, not PQ ones (those are off by 0.5 or more here). Its ranges are learnt on a
    # 640-template sample (40 per list), so the few templates outside them lose a little more.
    errors = np.array([abs(r[0].score - 1.0) for r in res])
    assert np.quantile(errors, 0.99) < 0.02 and errors.max() < 0.05
    new = g.search(face_templates(SEED, [9000], dim=DIM), k=1)[0][0]
    assert new.reference == "F1" and abs(new.score - 1.0) < 0.02


@pytest.mark.parametrize("factory", ["IVF4,PQ16x4fs", "IVF4,PQ16x4fs,Refine(SQ8)", "PQ16x4fs"])
def test_fast_scan_adds_after_erasure_keep_their_codes(factory: str) -> None:
    """faiss 1.15 fast-scan lists OR new codes into slots that remove_ids left dirty."""
    g = FaceGallery(DIM, index=factory, params="nprobe=4" if "IVF" in factory else "")
    g.add(refs(range(1000)), face_templates(SEED, np.arange(1000), dim=DIM))
    g.remove(refs(range(0, 1000, 3)))
    new = face_templates(SEED, np.arange(5000, 5020), dim=DIM)
    g.add(refs(range(5000, 5020)), new)
    assert [r[0].reference for r in g.search(new, k=1)] == refs(range(5000, 5020))


# -- a configured index string (the gateway's [gallery] face_index / face_search) -----------


def _near_duplicate_found_first(g: FaceGallery, n: int) -> None:
    """Subject 1234's second capture (another photo, not the enrolled vector) comes first."""
    probe = face_templates(SEED, [1234], dim=DIM, capture=1)
    (found,) = g.search(probe, k=5)
    assert found[0].reference == "F1234" and found[0].score > found[1].score
    assert len(g) == n


def test_a_configured_hnsw_index_is_built_and_searched_with_its_parameters() -> None:
    g = FaceGallery(DIM, index="HNSW32", params="efSearch=48")
    g.add(refs(range(3000)), face_templates(SEED, np.arange(3000), dim=DIM))
    inner = faiss.downcast_index(g._index.index)  # inside the IDMap2
    assert isinstance(inner, faiss.IndexHNSWFlat) and inner.hnsw.nb_neighbors(1) == 32
    assert inner.hnsw.efSearch == 48
    assert (g.factory, g.search_params) == ("HNSW32", "efSearch=48")
    _near_duplicate_found_first(g, 3000)


def test_a_configured_ivf_index_is_trained_on_enough_templates_and_probes_as_told() -> None:
    g = FaceGallery(DIM, index="IVF32,Flat", params="nprobe=6")
    assert train_from("IVF32,Flat", DIM) == 39 * 32
    g.add(refs(range(3000)), face_templates(SEED, np.arange(3000), dim=DIM))
    ivf = faiss.extract_index_ivf(g._index)
    assert isinstance(g._index, faiss.IndexIVFFlat) and (ivf.nlist, ivf.nprobe) == (32, 6)
    _near_duplicate_found_first(g, 3000)


def test_a_trained_index_enrolled_one_by_one_is_exact_until_it_can_be_trained(
    tmp_path: Path,
) -> None:
    """The gateway enrols one record at a time: training IVF on the first template fails,
    and SQ8 trained on one would score every template alike."""
    g = FaceGallery(DIM, index="IVF16,Flat", params="nprobe=4")
    t = face_templates(SEED, np.arange(1300), dim=DIM)
    for i in range(999):
        g.add([f"F{i}"], t[i : i + 1])
    assert (g.factory, g.search_params, g.spec, g.spec_params) == (
        "Flat",
        "",
        "IVF16,Flat",
        "nprobe=4",
    )
    g.save(tmp_path / "staged.index", version="1")  # staged files load staged ...
    back = FaceGallery.load(tmp_path / "staged.index", expected_version="1")
    assert (back.factory, back.spec, back.spec_params) == ("Flat", "IVF16,Flat", "nprobe=4")
    for gallery in (g, back):  # ... and both become the configured index at train_from
        gallery.add(refs(range(999, 1300)), t[999:])
        assert (gallery.factory, gallery.search_params) == ("IVF16,Flat", "nprobe=4")
        assert faiss.extract_index_ivf(gallery._index).nprobe == 4
        _near_duplicate_found_first(gallery, 1300)


def test_reindex_takes_the_same_strings_and_auto() -> None:
    g = FaceGallery(DIM)
    g.add(refs(range(2000)), face_templates(SEED, np.arange(2000), dim=DIM))
    g.reindex("HNSW16", "efSearch=32")
    assert (g.factory, g.spec) == ("HNSW16", "HNSW16")
    _near_duplicate_found_first(g, 2000)
    g.reindex("auto")
    assert (g.factory, g.spec, g.search_params) == ("Flat", "auto", "")


@pytest.mark.parametrize(
    ("index", "params", "reason"),
    [
        ("Bogus", "", "could not parse index string"),
        ("IVF16,PQ33", "", "multiple of the number of subquantizers"),
        ("HNSW32", "nprobe=8", "could not set parameter nprobe"),
        ("IVF16,Flat", "nprobe", "expected name=value"),
        ("IVF16,Flat", "nprobe=-3", "positive number"),
        ("IVF16,Flat", "k_factor=2", "only for a"),
        ("auto", "nprobe=8", "need an explicit index"),
    ],
)
def test_strings_faiss_cannot_use_are_refused_at_construction(
    index: str, params: str, reason: str
) -> None:
    with pytest.raises(IndexSpecError, match=reason):
        FaceGallery(DIM, index=index, params=params)


def test_streaming_build_trains_on_a_sample_and_adds_chunk_by_chunk() -> None:
    """Issue 24 item 5 in small: the index is trained on a sample, the gallery streamed in."""
    factory = "IVF16,PQ16x4fs,Refine(SQ8)"
    g = FaceGallery(DIM, index=factory, params="nprobe=8,k_factor=4")
    with pytest.raises(TemplateError):  # fewer than train_from: refused, not staged
        g.train(face_templates(SEED, np.arange(100), dim=DIM))
    g.train(face_templates(SEED, np.arange(train_from(factory, DIM)), dim=DIM), expected=5000)
    assert len(g) == 0 and g.factory == factory  # trained, nothing enrolled, not staged
    for start in range(0, 5000, 1000):
        ids = np.arange(start, start + 1000)
        g.add(refs(ids.tolist()), face_templates(SEED, ids, dim=DIM))
        assert g.factory == factory  # never re-indexed on the way
    assert len(g) == 5000 and g._index.ntotal == 5000
    probes = list(range(0, 5000, 50))
    hits = g.search(face_templates(SEED, probes, dim=DIM, capture=1), k=1)
    # Exact search over the same 5,000 templates finds every mate first at this noise.
    assert sum(r[0].reference == f"F{i}" for r, i in zip(hits, probes, strict=True)) >= 98
    with pytest.raises(MatcherError):  # a gallery that holds templates is reindexed instead
        g.train(face_templates(SEED, np.arange(2000), dim=DIM))


def test_streaming_build_of_auto_picks_by_the_expected_size() -> None:
    small = FaceGallery(DIM)
    small.train(face_templates(SEED, np.arange(2000), dim=DIM))
    assert small.factory == "Flat"  # auto for the sample's own size
    g = FaceGallery(DIM)
    g.train(face_templates(SEED, np.arange(40_000), dim=DIM), expected=300_000)
    assert (g.factory, g.search_params) == auto_index(300_000, DIM)
    assert g.factory.startswith("IVF1024,")
