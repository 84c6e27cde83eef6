"""Index strings: how many templates a trained index waits for, and FAISS's reasons, cleaned."""

from __future__ import annotations

import pytest

from matchers.index_spec import (
    IndexSpecError,
    check_factory,
    check_search,
    nlist_of,
    split_search,
    train_from,
)


@pytest.mark.parametrize(
    ("factory", "templates"),
    [
        ("Flat", 0),
        ("HNSW32", 0),
        ("auto", 0),
        ("SQ8", 1000),  # nothing is trained on fewer than TRAIN_FLOOR
        ("HNSW32,SQ8", 1000),
        ("IVF1024,Flat", 39 * 1024),  # 39 points per k-means centroid
        ("IVF64,PQ32x4fs,Refine(SQ8)", 39 * 64),
        ("PQ32", 39 * 256),  # 8-bit sub-quantizers: 256 centroids each
        ("IVF256_HNSW32,Flat", 39 * 256),
    ],
)
def test_trained_indexes_wait_for_39_templates_per_centroid(factory: str, templates: int) -> None:
    assert train_from(factory, 512) == templates


def test_nlist_is_read_from_the_ivf_part_only() -> None:
    assert nlist_of("IVF1024_HNSW32,Flat") == 1024 and nlist_of("HNSW32") == 1


def test_search_strings_split_k_factor_from_faiss_parameters() -> None:
    assert split_search(" nprobe=96 , k_factor=2,") == ("nprobe=96", 2)
    check_search("IVF2048,PQ32x4fs,Refine(SQ8)", "nprobe=192,k_factor=2", 512)
    with pytest.raises(IndexSpecError, match="whole number"):
        split_search("k_factor=1.5")


def test_faiss_reasons_come_without_its_cpp_signature() -> None:
    with pytest.raises(IndexSpecError) as err:
        check_factory("IVF16,Flat,Refine(SQ8", 512)
    assert "unbalanced parentheses" in str(err.value) and ".cpp" not in str(err.value)
    with pytest.raises(IndexSpecError, match="empty factory string"):
        check_factory(" ", 512)
