"""The DNA fast paths for small row counts return exactly what the general paths return.

`dna_index.code_filter_one_pass` (all loci in one comparison) against the staged filter it
replaces below a few thousand rows; `encode_profile` against its numpy form;
`dna.verify_few` (the rule in plain Python for a short list of a few rows) against
`verify_rows`; and whole searches with each path forced on,
against each other and against a naive ranked scan of the whole gallery, order included.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matchers import dna, dna_index
from matchers.dna import DnaGallery, DnaMatch, verify_few, verify_rows
from matchers.dna_index import (
    CODE_BASE,
    code_filter_one_pass,
    code_filter_staged,
    genotype_codes,
    query_codes,
)
from matchers.dna_profile import (
    AMELOGENIN,
    BLANK,
    ESS_LOCI,
    LOCI,
    LOCUS_INDEX,
    MIN_ESS_LOCI_FOR_REFERENCE,
    MIN_FULL_LOCI,
    WILDCARD,
    EncodedProfile,
    _values,
    canonical_locus,
    decode_keys,
    encode_profile,
    locus_pair,
)
from matchers.errors import ProfileError
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


# Allele keys: blank, wildcard and a few values, so rows often match the query closely.
key_st = st.sampled_from([WILDCARD, 80, 90, 93, 100])


@st.composite
def profiles(draw: st.DrawFn, n_loci: int = 12) -> np.ndarray:
    """(len(LOCI), 2) keys: sorted pairs, blank loci (0, 0), the first n_loci used."""
    keys = np.zeros((len(LOCI), 2), dtype=np.int16)
    for i in range(n_loci):
        if draw(st.integers(0, 5)) == 0:
            continue  # blank
        a, b = sorted((draw(key_st), draw(key_st)))
        keys[i] = (a, b) if (a, b) != (WILDCARD, WILDCARD) else (BLANK, BLANK)
    return keys


@settings(max_examples=500, deadline=None)
@given(query=profiles(), rows=st.lists(profiles(), min_size=1, max_size=6))
def test_verify_few_equals_verify_rows(query: np.ndarray, rows: list[np.ndarray]) -> None:
    stacked = np.stack(rows)
    v = verify_rows(stacked, query)
    typed = [(i, b1, b2) for i, (b1, b2) in enumerate(query.tolist()) if b2 != BLANK]
    got = [verify_few(r.tolist(), typed) for r in rows]
    want = list(
        zip(
            v.is_match.tolist(),
            v.compared.tolist(),
            v.mismatched.tolist(),
            v.wildcard.tolist(),
            strict=True,
        )
    )
    assert got == want


def naive_ranked(keys: np.ndarray, refs: list[str], query: np.ndarray) -> list[DnaMatch]:
    """Every row through `verify_rows`, ranked best first, ties in the order added."""
    v = verify_rows(keys, query)
    hits = [
        (int((m * 2 + w) * 64 + (63 - c)), i, c, m, w)
        for i, (ok, c, m, w) in enumerate(
            zip(
                v.is_match.tolist(),
                v.compared.tolist(),
                v.mismatched.tolist(),
                v.wildcard.tolist(),
                strict=True,
            )
        )
        if ok
    ]
    hits.sort(key=lambda h: h[0])
    return [DnaMatch(refs[i], "full" if m == 0 else "near", w, c, m) for _r, i, c, m, w in hits]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    query=profiles(),
    gallery=st.lists(profiles(), min_size=1, max_size=12),
    limit=st.sampled_from([None, 0, 1, 2, 5, -1]),
    seal=st.booleans(),
)
def test_few_rows_path_equals_index_path_equals_naive(
    query: np.ndarray, gallery: list[np.ndarray], limit: int | None, seal: bool
) -> None:
    """Near copies and exact duplicates of one query (ties in rank), searched with the
    few-rows path forced on, forced off, and by a naive ranked scan: identical lists."""
    full = [r for r in gallery if ((r[:, 0] > 0) & (r[:, 1] > 0)).sum() >= 6]
    if not full or ((query[:, 0] > 0) & (query[:, 1] > 0)).sum() < 6:
        return
    keys = np.stack([*full, query, query])
    refs = [f"R{i}" for i in range(len(keys))]
    g = DnaGallery(seal_every=1 if seal else 10**9, bitmap_share=0.0 if seal else 1 / 128)
    g.add_keys(refs, keys)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dna, "_FEW_ROWS", 10**9)
        few = g.search_keys(query, limit)
        mp.setattr(dna, "_FEW_ROWS", -1)
        index = g.search_keys(query, limit)
    naive = naive_ranked(keys, refs, query)
    assert few == index == naive[:limit]
    assert len(naive) >= 2  # the query's two copies are full matches


def test_few_rows_path_on_a_synthetic_population() -> None:
    """Recaptured profiles (most searches shortlist a row or two) through both paths."""
    keys = dna_keys(3, 0, 800)
    refs = [f"S{i}" for i in range(len(keys))]
    g = DnaGallery()
    g.add_keys(refs, keys)
    queries = dna_recapture_keys(3, np.arange(0, 800, 20), dropout=0.1, drop_loci=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dna, "_FEW_ROWS", 10**9)
        few = [g.search_keys(q, 10) for q in queries]
        mp.setattr(dna, "_FEW_ROWS", -1)
        index = [g.search_keys(q, 10) for q in queries]
    assert few == index == [naive_ranked(keys, refs, q)[:10] for q in queries]
    assert all(f"S{20 * j}" in {m.reference for m in found} for j, found in enumerate(few))


def numpy_encode_profile(
    loci: dict[str, list[str]], profile_type: str, rule: str
) -> EncodedProfile:
    """`encode_profile` as it was, writing each pair into the array and counting on it."""
    keys = np.zeros((len(LOCI), 2), dtype=np.int16)
    seen: set[str] = set()
    amel: tuple[str, ...] = ()
    for raw_name, raw_values in loci.items():
        name = canonical_locus(raw_name)
        if name in seen:
            raise ProfileError("locus given twice (under two aliases)", locus=name)
        seen.add(name)
        if name == AMELOGENIN:
            amel = tuple(v.upper() for v in _values(raw_values))
            continue
        keys[LOCUS_INDEX[name]] = locus_pair(raw_values, name, rule)  # type: ignore[arg-type]
    full = (keys[:, 0] > 0) & (keys[:, 1] > 0)
    n_full = int(full.sum())
    n_ess = int(full[: len(ESS_LOCI)].sum())
    if n_full < MIN_FULL_LOCI:
        raise ProfileError(
            f"{n_full} full designated loci, at least {MIN_FULL_LOCI} are required "
            "(2008/616 Annex ch. 1 §1.1, amelogenin not counted)"
        )
    if profile_type == "reference" and n_ess < MIN_ESS_LOCI_FOR_REFERENCE:
        raise ProfileError(
            f"reference profile has {n_ess} of the 7 ESS loci, at least "
            f"{MIN_ESS_LOCI_FOR_REFERENCE} are required (2008/616 Annex ch. 1 §1.1)"
        )
    return EncodedProfile(keys=keys, full_loci=n_full, ess_loci=n_ess, amelogenin=amel)


def encoded_or_error(fn: object, *args: object) -> object:
    try:
        e = fn(*args)  # type: ignore[operator]
    except ProfileError as exc:
        return (str(exc), exc.reason, exc.locus)
    assert isinstance(e, EncodedProfile)
    return (e.keys.dtype, e.keys.tolist(), e.full_loci, e.ess_loci, e.amelogenin)


# Names (aliases, amelogenin, unknown ones) and values (microvariants, wildcards, 3-4 values,
# one that is no designation); mostly valid pairs, so the inclusion rules are reached.
locus_names = st.sampled_from(
    [*LOCI[:12], *ESS_LOCI, "VWA", "THO1", "Amelogenin", "AMEL", "Penta D", "X1"]
)
allele_values = st.sampled_from(
    ["9", "9.3", "12", "14", "17", "21"] * 4 + ["9.4", "0", "1", "99", "100", "x", "*"]
)
genotypes = st.lists(allele_values, min_size=2, max_size=2) | st.lists(allele_values, max_size=4)


@settings(max_examples=500, deadline=None)
@given(
    loci=st.dictionaries(locus_names, genotypes, min_size=5, max_size=14),
    profile_type=st.sampled_from(["reference", "stain"]),
    rule=st.sampled_from(["annex", "repeat", "exact"]),
)
def test_encode_profile_equals_its_numpy_form(
    loci: dict[str, list[str]], profile_type: str, rule: str
) -> None:
    assert encoded_or_error(encode_profile, loci, profile_type, rule) == encoded_or_error(
        numpy_encode_profile, loci, profile_type, rule
    )


@settings(max_examples=300, deadline=None)
@given(query=profiles(n_loci=len(LOCI)), odd=st.lists(st.tuples(st.integers(0, 27), key_st)))
def test_query_codes_equal_genotype_codes(query: np.ndarray, odd: list[tuple[int, int]]) -> None:
    """Also on pairs no encoder writes (a blank beside a value, unsorted), as both see them."""
    for locus, key in odd:
        query[locus, 0] = key
    assert query_codes(query) == genotype_codes(query[None, :, :])[0].tolist()
