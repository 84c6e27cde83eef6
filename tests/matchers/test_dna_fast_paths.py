"""The DNA fast paths for small row counts return exactly what the general paths return.

`dna_index.code_filter_one_pass` (all loci in one comparison) against the staged filter it
replaces below a few thousand rows, and whole galleries searched with each forced on.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matchers import dna_index
from matchers.dna import DnaGallery
from matchers.dna_index import CODE_BASE, code_filter_one_pass, code_filter_staged
from matchers.dna_profile import LOCI, decode_keys
from matchers.synthetic import dna_keys, dna_recapture_keys

# Few genotypes per locus, so that rows often agree with the query at most loci.
CODES = np.array([0, 1, CODE_BASE * 100 + 110, CODE_BASE * 100 + 120, CODE_BASE * 90], np.int32)


@st.composite
def filter_cases(
    draw: st.DrawFn,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int], list[int]]:
    n = draw(st.integers(0, 60))
    capacity = n + draw(st.integers(0, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Mostly the query's own genotypes, so near and full candidates are common.
    codes = rng.choice(CODES, size=(len(LOCI), capacity), p=[0.1, 0.05, 0.6, 0.15, 0.1])
    # The query's full loci (codes >= CODE_BASE) and the rest blank or wildcard.
    cols = sorted(draw(st.sets(st.integers(0, len(LOCI) - 1), min_size=6, max_size=12)))
    qcodes = np.zeros(len(LOCI), dtype=np.int32)
    qcodes[cols] = CODE_BASE * 100 + 110
    rows = np.array(sorted(draw(st.sets(st.integers(0, max(n - 1, 0)), max_size=n))), np.int64)
    ordered = draw(st.permutations(cols))[: draw(st.integers(0, len(cols)))]
    return codes.astype(np.int32), rows, qcodes, list(ordered), cols


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=filter_cases())
def test_one_pass_filter_equals_staged(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, list[int], list[int]],
) -> None:
    codes, rows, qcodes, ordered, cols = case
    staged = code_filter_staged(codes, rows, qcodes, ordered, cols)
    one_pass = code_filter_one_pass(codes, rows, qcodes, cols)
    assert one_pass.dtype == staged.dtype == np.int64
    assert one_pass.tolist() == staged.tolist()


def test_one_pass_filter_keeps_near_and_drops_two_off() -> None:
    """A hand-made case, so the equivalence above is not between two equally wrong filters."""
    q = CODE_BASE * 100 + 110
    codes = np.full((len(LOCI), 4), q, dtype=np.int32)
    codes[0, 1] = q + 1  # one full locus differs: kept
    codes[0:2, 2] = q + 1  # two differ: dropped
    codes[1:3, 3] = 0  # blank at two loci: 4 exact of 6, below MIN_FULL_LOCI - 1: dropped
    qcodes = np.zeros(len(LOCI), dtype=np.int32)
    qcodes[:6] = q
    rows = np.arange(4, dtype=np.int64)
    assert code_filter_one_pass(codes, rows, qcodes, list(range(6))).tolist() == [0, 1]


@pytest.mark.parametrize("seal_every", [10**9, 500])
def test_gallery_search_same_with_either_filter(
    seal_every: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole searches (unsealed tail, and sealed rows plus a tail) agree match for match,
    in order, whichever filter the gallery uses."""
    keys = dna_keys(7, 0, 1200)
    g = DnaGallery(seal_every=seal_every)
    g.add_keys([f"S{i}" for i in range(len(keys))], keys)
    queries = list(dna_recapture_keys(7, np.arange(0, 1200, 40), dropout=0.1, drop_loci=4))
    queries += [g.encode(decode_keys(k), "stain").keys for k in keys[::97]]
    monkeypatch.setattr(dna_index, "_ONE_PASS_CELLS", 10**12)
    fast = [g.search_keys(q) for q in queries]
    monkeypatch.setattr(dna_index, "_ONE_PASS_CELLS", -1)
    staged = [g.search_keys(q) for q in queries]
    assert fast == staged
    assert sum(len(m) for m in fast) >= len(queries)  # every recapture finds its source
