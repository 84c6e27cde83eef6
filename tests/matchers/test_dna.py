"""Prüm DNA rules on hand-written profiles, and the blocked gallery against a naive reference."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matchers.dna import DnaGallery, DnaMatch
from matchers.dna_index import BITMAP_SHARE
from matchers.dna_profile import (
    LOCI,
    MIN_FULL_LOCI,
    allele_key,
    canonical_locus,
    decode_keys,
    encode_profile,
)
from matchers.errors import ProfileError, UnknownReferenceError

BASE: dict[str, list[str]] = {
    "vWA": ["14", "17"],
    "TH01": ["6", "9.3"],
    "D21S11": ["29", "30"],
    "FGA": ["21", "24"],
    "D8S1179": ["13", "14"],
    "D3S1358": ["15", "16"],
    "D18S51": ["12", "15"],
    "D16S539": ["11", "12"],
}


def with_(changes: dict[str, list[str]], drop: tuple[str, ...] = ()) -> dict[str, list[str]]:
    profile = {k: list(v) for k, v in BASE.items() if k not in drop}
    profile.update(changes)
    return profile


def only(gallery: DnaGallery, loci: dict[str, list[str]], **kw: str) -> DnaMatch:
    matches = gallery.search(loci, **kw)  # type: ignore[arg-type]
    assert len(matches) == 1, matches
    return matches[0]


@pytest.fixture
def gallery() -> DnaGallery:
    g = DnaGallery()
    g.add("P1", BASE)
    return g


def test_full_match(gallery: DnaGallery) -> None:
    m = only(gallery, BASE)
    assert (m.reference, m.match_type, m.wildcard) == ("P1", "full", False)
    assert m.compared_loci == 8 and m.mismatched_alleles == 0


def test_allele_order_does_not_matter(gallery: DnaGallery) -> None:
    assert only(gallery, with_({"vWA": ["17", "14"]})).match_type == "full"


def test_near_match_one_allele(gallery: DnaGallery) -> None:
    m = only(gallery, with_({"FGA": ["21", "25"]}))
    assert (m.match_type, m.mismatched_alleles) == ("near", 1)


def test_homozygote_against_heterozygote_is_near(gallery: DnaGallery) -> None:
    m = only(gallery, with_({"FGA": ["21"]}))
    assert (m.match_type, m.mismatched_alleles) == ("near", 1)


def test_two_alleles_differ_is_no_match(gallery: DnaGallery) -> None:
    assert gallery.search(with_({"FGA": ["22", "25"]})) == []
    assert gallery.search(with_({"FGA": ["21", "25"], "vWA": ["14", "18"]})) == []


def test_only_loci_typed_in_both_are_compared(gallery: DnaGallery) -> None:
    m = only(gallery, with_({"SE33": ["20", "28.2"], "D2S441": ["10", "11"]}))
    assert m.compared_loci == 8 and m.match_type == "full"


def test_wildcard_in_query_matches_any_value(gallery: DnaGallery) -> None:
    m = only(gallery, with_({"D8S1179": ["13", "*"]}))
    assert (m.match_type, m.wildcard, m.mismatched_alleles) == ("full", True, 0)
    # Both orderings of the numeric value are searched.
    m = only(gallery, with_({"D8S1179": ["*", "14"]}))
    assert m.wildcard and m.match_type == "full"


def test_wildcard_in_gallery_profile() -> None:
    g = DnaGallery()
    g.add("W", with_({"D18S51": ["12", "nr"]}))
    m = only(g, BASE)
    assert (m.match_type, m.wildcard) == ("full", True)
    m = only(g, with_({"D18S51": ["11", "15"]}))
    assert (m.match_type, m.wildcard, m.mismatched_alleles) == ("near", True, 1)


@pytest.mark.parametrize("value", ["0", "1", "99", "o", "f", "r", "na", "nr", "un", "OL"])
def test_values_that_become_wildcards(value: str) -> None:
    assert allele_key(value, "FGA") == -1


def test_third_allele_becomes_wildcard(gallery: DnaGallery) -> None:
    enc = encode_profile(with_({"FGA": ["21", "24", "25"]}))
    assert decode_keys(enc.keys)["FGA"] == ["*", "21"]
    m = only(gallery, with_({"FGA": ["21", "24", "25"]}))
    assert m.wildcard and m.match_type == "full"


def test_four_alleles_is_a_mixture() -> None:
    with pytest.raises(ProfileError, match="mixed"):
        encode_profile(with_({"FGA": ["21", "22", "24", "25"]}))


def test_too_few_full_loci() -> None:
    few = {k: v for k, v in list(BASE.items())[:5]}
    with pytest.raises(ProfileError, match="full designated loci"):
        encode_profile(few, profile_type="stain")
    # A wildcard locus is not full designated: 5 full + 1 partial is still too few.
    few["D16S539"] = ["11", "*"]
    with pytest.raises(ProfileError):
        encode_profile(few, profile_type="stain")


def test_fewer_than_six_compared_full_loci_is_no_match() -> None:
    g = DnaGallery()
    g.add("P1", BASE)
    # A stain typed on 6 loci, only 5 of them typed in P1: never a match, even if all equal.
    stain = {k: v for k, v in list(BASE.items())[:5]}
    stain.update({"SE33": ["20", "21"]})
    assert g.search(stain, profile_type="stain") == []


def test_amelogenin_ignored(gallery: DnaGallery) -> None:
    m = only(gallery, with_({"Amelogenin": ["X", "Y"]}))
    assert m.compared_loci == 8 and m.match_type == "full"
    g = DnaGallery()
    g.add("F", with_({"AMEL": ["X", "X"]}))
    assert only(g, with_({"AMEL": ["X", "Y"]})).match_type == "full"
    # Amelogenin does not count towards the six full loci.
    five = {k: v for k, v in list(BASE.items())[:5]}
    with pytest.raises(ProfileError):
        encode_profile({**five, "AMEL": ["X", "Y"]}, profile_type="stain")


def test_reference_profile_needs_six_of_seven_ess() -> None:
    # 6 of 7 ESS: accepted.
    encode_profile(with_({}, drop=("D18S51",)), profile_type="reference")
    # 5 of 7 ESS (plus 3 other full loci): a valid stain but not a reference profile.
    profile = with_({"SE33": ["20", "21"], "D2S441": ["10", "11"]}, drop=("D18S51", "FGA"))
    encode_profile(profile, profile_type="stain")
    with pytest.raises(ProfileError, match="ESS"):
        encode_profile(profile, profile_type="reference")
    with pytest.raises(ProfileError, match="ESS"):
        DnaGallery().add("R", profile)


def test_microvariants_repeat_rule() -> None:
    g = DnaGallery(microvariants="repeat")
    g.add("P1", BASE)  # TH01 6, 9.3
    assert only(g, with_({"TH01": ["6", "9"]})).match_type == "full"
    assert only(g, with_({"TH01": ["6", "9.1"]})).match_type == "full"
    assert only(g, with_({"TH01": ["6", "10"]})).match_type == "near"


def test_microvariants_exact_rule() -> None:
    g = DnaGallery(microvariants="exact")
    g.add("P1", BASE)
    assert only(g, with_({"TH01": ["6", "9.3"]})).match_type == "full"
    assert only(g, with_({"TH01": ["6", "9"]})).match_type == "near"


def test_microvariants_annex_rule_is_the_default() -> None:
    g = DnaGallery()
    assert g.microvariants == "annex"
    g.add("P1", BASE)  # TH01 6, 9.3: matches 9.2, 9.3 and 10, not 9
    assert only(g, with_({"TH01": ["6", "10"]})).match_type == "full"
    assert only(g, with_({"TH01": ["6", "9"]})).match_type == "near"


def test_impossible_microvariants_become_wildcards_under_the_older_readings() -> None:
    assert allele_key("9.4", "TH01", rule="repeat") == -1  # tetranucleotide: .1-.3 only
    assert allele_key("9.4", "Penta D", rule="exact") == 94  # pentanucleotide: .1-.4
    assert allele_key("9.3", "TH01", rule="exact") == 93
    assert allele_key("9.4", "TH01") == 94  # annex: unlisted, kept and compared exactly
    with pytest.raises(ProfileError):
        allele_key("150", "FGA")


@pytest.mark.parametrize("locus", ["Penta D", "Penta E", "CD4"])
def test_pentanucleotide_microvariants(locus: str) -> None:
    # Five-base repeats: .1 to .4 are designations there.
    assert allele_key("12.4", locus, rule="exact") == 124
    assert allele_key("12.4", locus, rule="repeat") == 120  # compared by whole repeats
    assert allele_key("12.5", locus, rule="repeat") == -1  # no such fraction there
    assert allele_key("12.4", "D18S51", rule="repeat") == -1  # four-base repeats stop at .3
    assert allele_key("12.5", locus) == 125  # annex: kept, compared exactly


@pytest.mark.parametrize(
    ("rule", "expected"), [("repeat", "full"), ("exact", "near"), ("annex", "near")]
)
def test_microvariant_at_a_pentanucleotide_locus(rule: str, expected: str) -> None:
    g = DnaGallery(microvariants=rule)  # type: ignore[arg-type]
    g.add("P1", with_({"Penta E": ["7", "12.4"]}))
    assert only(g, with_({"Penta E": ["7", "12"]})).match_type == expected
    assert only(g, with_({"Penta E": ["7", "12.4"]})).match_type == "full"


def test_locus_aliases() -> None:
    assert canonical_locus("VWA") == "vWA"
    assert canonical_locus("tho1") == "TH01"
    assert canonical_locus("Amelogenin") == "AMEL"
    assert canonical_locus("penta_d") == "Penta D"
    with pytest.raises(ProfileError, match="unknown locus"):
        canonical_locus("XYZ123")
    with pytest.raises(ProfileError, match="twice"):
        encode_profile({**BASE, "VWA": ["14", "17"]})


def test_best_first_and_limit() -> None:
    g = DnaGallery()
    g.add("near", with_({"FGA": ["21", "25"]}))
    g.add("full", BASE)
    g.add("wild", with_({"FGA": ["21", "*"]}))
    assert [m.reference for m in g.search(BASE)] == ["full", "wild", "near"]
    assert [m.reference for m in g.search(BASE, limit=1)] == ["full"]


def test_erasure_really_removes() -> None:
    g = DnaGallery(seal_every=2)
    for i in range(5):
        g.add(f"P{i}", with_({"SE33": [str(20 + i), "30"]}))
    g.remove("P2")
    assert "P2" not in g and len(g) == 4
    assert [m.reference for m in g.search(with_({"SE33": ["22", "30"]}))] == [
        "P0",
        "P1",
        "P3",
        "P4",
    ]
    g.seal()
    assert all(m.reference != "P2" for m in g.search(BASE))
    with pytest.raises(UnknownReferenceError):
        g.remove("P2")


def test_add_replaces_same_reference() -> None:
    g = DnaGallery()
    g.add("P1", BASE)
    g.add("P1", with_({"FGA": ["30", "31"]}))
    assert len(g) == 1 and g.search(BASE) == []


# -- the blocked gallery equals a naive reference implementation --------------------------


def reference_match(
    a: dict[str, tuple[str, str]], b: dict[str, tuple[str, str]]
) -> DnaMatch | None:
    """Textbook rule, written independently: per locus, multiset pairing with jokers."""
    compared = full_both = mism = 0
    wild = False
    for locus in set(a) & set(b):
        x, y = a[locus], b[locus]
        compared += 1
        if "*" not in x and "*" not in y:
            full_both += 1
        else:
            wild = True
        xs, ys = Counter(v for v in x if v != "*"), Counter(v for v in y if v != "*")
        paired = sum((xs & ys).values())
        jokers = x.count("*") + y.count("*")
        mism += max(0, 2 - paired - jokers)
    if full_both < MIN_FULL_LOCI or mism > 1:
        return None
    return DnaMatch("?", "full" if mism == 0 else "near", wild, compared, mism)


ALLELES = ["8", "9", "10", "11", "*"]
locus_st = st.sampled_from(LOCI[:9])
genotype_st = st.tuples(st.sampled_from(ALLELES), st.sampled_from(ALLELES)).filter(
    lambda t: t != ("*", "*")
)
profile_st = st.dictionaries(locus_st, genotype_st, min_size=6, max_size=9)


def stored_form(p: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    return {k: (v[0], v[1]) for k, v in p.items()}


@st.composite
def near_copies(
    draw: st.DrawFn,
) -> tuple[list[dict[str, tuple[str, str]]], dict[str, tuple[str, str]]]:
    """A query and a gallery of its mutants (changed, dropped, added loci) plus strangers."""
    query = draw(profile_st)
    gallery = []
    for _ in range(draw(st.integers(1, 20))):
        p = dict(query)
        for _ in range(draw(st.integers(0, 3))):
            locus = draw(locus_st)
            if draw(st.booleans()) and locus in p:
                del p[locus]
            else:
                p[locus] = draw(genotype_st)
        gallery.append(p)
    gallery.extend(draw(st.lists(profile_st, max_size=5)))
    return gallery, query


# Bitmap shares that force each way of shortlisting sealed rows: 0.0 gives every genotype a
# bitmap and counts bitmaps; 1.0 gives none and counts postings; the default mixes the two.
SHARES = (0.0, BITMAP_SHARE, 1.0)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=near_copies(), seal=st.booleans(), share=st.sampled_from(SHARES))
def test_gallery_equals_reference(
    case: tuple[list[dict[str, tuple[str, str]]], dict[str, tuple[str, str]]],
    seal: bool,
    share: float,
) -> None:
    gallery, query = case
    g = DnaGallery(seal_every=1 if seal else 10**9, bitmap_share=share)
    kept: dict[str, dict[str, tuple[str, str]]] = {}
    for i, p in enumerate(gallery):
        try:
            g.add(f"R{i}", {k: list(v) for k, v in p.items()}, profile_type="stain")
        except ProfileError:
            continue
        kept[f"R{i}"] = p
    try:
        got = g.search({k: list(v) for k, v in query.items()}, profile_type="stain")
    except ProfileError:
        return
    expected = {}
    for ref, p in kept.items():
        m = reference_match(stored_form(p), query)
        if m is not None:
            expected[ref] = (m.match_type, m.wildcard, m.compared_loci, m.mismatched_alleles)
    got_map = {
        m.reference: (m.match_type, m.wildcard, m.compared_loci, m.mismatched_alleles) for m in got
    }
    assert got_map == expected


@pytest.mark.parametrize("share", SHARES)
def test_blocked_search_equals_naive_on_synthetic_population(share: float) -> None:
    from bench.dna import _worst_queries
    from matchers.dna import naive_search
    from matchers.synthetic import dna_keys, dna_recapture_keys

    rng_seed = 11
    keys = dna_keys(rng_seed, 0, 3000)
    g = DnaGallery(seal_every=1000, bitmap_share=share)
    g.add_keys([f"S{i}" for i in range(len(keys))], keys)
    queries = dna_recapture_keys(rng_seed, np.arange(0, 3000, 150), dropout=0.1, drop_loci=4)
    for j, q in enumerate(queries):
        got = g.search(decode_keys(q), profile_type="stain")
        naive = naive_search(keys, q)
        assert sorted(m.reference for m in got) == sorted(
            f"S{i}" for i in np.flatnonzero(naive.is_match)
        )
        assert f"S{j * 150}" in {m.reference for m in got}
    # Six-locus stains of the commonest genotypes: long postings, many near matches.
    for q in _worst_queries(keys, 12):
        got = g.search_keys(q)
        naive = naive_search(keys, q)
        assert len(got) == int(naive.is_match.sum())
        assert sorted(m.reference for m in got) == sorted(
            f"S{i}" for i in np.flatnonzero(naive.is_match)
        )


def six_locus_stain() -> dict[str, list[str]]:
    return {k: v for k, v in BASE.items() if k not in ("D18S51", "D16S539")}


@pytest.mark.parametrize("share", SHARES)
def test_six_compared_loci_admit_no_open_locus(share: float) -> None:
    """With only six comparable loci, a profile blank or wildcard at one of them compares
    five full loci: no match, however the rows are shortlisted."""
    g = DnaGallery(seal_every=1, bitmap_share=share)
    g.add("same", BASE)
    g.add("near", with_({"FGA": ["21", "25"]}))
    g.add("blank-vWA", BASE.copy() | {"vWA": []} | {"D2S441": ["10", "11"]})
    g.add("wild-TH01", with_({"TH01": ["6", "*"]}))
    g.add("two-off", with_({"FGA": ["22", "25"]}))
    got = {m.reference: m.match_type for m in g.search(six_locus_stain(), profile_type="stain")}
    assert got == {"same": "full", "near": "near"}


def test_matches_best_first_then_in_order_added() -> None:
    g = DnaGallery(seal_every=2)
    g.add("n2", with_({"FGA": ["21", "26"]}))
    g.add("f", BASE)
    g.add("n1", with_({"FGA": ["21", "25"]}))
    g.add("w", with_({"D16S539": ["11", "*"]}))
    assert [m.reference for m in g.search(BASE)] == ["f", "w", "n2", "n1"]
    assert [m.reference for m in g.search(BASE, limit=2)] == ["f", "w"]
    assert g.search(BASE, limit=0) == []


def test_bitmap_helpers_round_trip() -> None:
    from matchers.dna_index import bitmap_rows, or_sorted_rows, share_at_most_one_miss

    rng = np.random.default_rng(3)
    for n in (1, 63, 64, 65, 1000):
        bitmap = np.zeros((n + 63) // 64, dtype="<u8")
        rows = np.sort(rng.choice(n, size=min(n, 40), replace=False)).astype(np.int32)
        or_sorted_rows(bitmap, rows[::2])
        or_sorted_rows(bitmap, rows[1::2])  # a second run may share words with the first
        assert bitmap_rows(bitmap).tolist() == rows.tolist()
    assert bitmap_rows(np.zeros(3, dtype="<u8")).tolist() == []
    assert share_at_most_one_miss([1.0, 1.0, 0.0]) == pytest.approx(1.0)
    assert share_at_most_one_miss([0.5, 0.5]) == pytest.approx(0.75)
    assert share_at_most_one_miss([0.1, 0.1, 0.1]) == pytest.approx(0.001 + 3 * 0.9 * 0.01)


def test_save_and_load_round_trip_and_refuse_a_stale_stamp(tmp_path: Path) -> None:
    from matchers import synthetic
    from matchers.errors import StaleIndexError

    g = DnaGallery()
    keys = synthetic.dna_keys(5, 0, 50)
    g.add_keys([f"R{i}" for i in range(50)], keys)
    g.remove("R7")
    g.save(tmp_path / "dna.npz", "v3")
    back = DnaGallery.load(tmp_path / "dna.npz", "v3")
    assert len(back) == 49 and "R7" not in back
    probe = synthetic.dna_recapture_keys(5, [11])[0]
    assert [m.reference for m in back.search_keys(probe)] == [
        m.reference for m in g.search_keys(probe)
    ]
    with pytest.raises(StaleIndexError):
        DnaGallery.load(tmp_path / "dna.npz", "v4")
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(StaleIndexError):
        DnaGallery.load(tmp_path / "bad.npz", "v3")
