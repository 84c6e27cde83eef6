"""Micro-variants under the annex's tables, and every DNA search path equal to the slow reference.

`tests.matchers.dna_reference` is the rule written from its text alone (strings in, no keys or
index). Hand-written cases pin each table row; generated profile families, heavy on
micro-variants at both kinds of locus, homozygotes, wildcards, 0/1/99, three alleles and 5, 6
or 7 common loci, hold every fast path (the few-row path, the vectorised rule, vote and bitmap
shortlists, the unsorted tail, both code filters, the gateway's `NodeGallery`) equal to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.gallery import NodeGallery, Thresholds
from exchange.model import DnaProfile, SampleType
from matchers import dna, dna_index
from matchers.dna import DnaGallery, DnaMatch
from matchers.dna_profile import PENTANUCLEOTIDE_LOCI, allele_key, decode_keys
from matchers.errors import ProfileError
from matchers.microvariants import neighbours, related
from tests.matchers import dna_reference

Profile = dict[str, list[str]]

# Six loci of each kind, so both tables decide matches; the three pentanucleotide loci first.
PENTA = ["Penta D", "Penta E", "CD4"]
TETRA = ["vWA", "TH01", "D21S11", "FGA", "D8S1179", "D3S1358", "D18S51", "SE33"]
ANCHOR = {"vWA": ["16", "17"], "D3S1358": ["15", "16"], "D8S1179": ["13", "14"]}


def profile_with(locus: str, alleles: list[str]) -> Profile:
    """Six full loci that always agree, plus `locus` under test."""
    out: Profile = {**ANCHOR, "D18S51": ["12", "15"], "FGA": ["21", "24"], "D21S11": ["29", "30"]}
    out[locus] = alleles
    return out


def verdict(locus: str, a: list[str], b: list[str], rule: str = "annex") -> str:
    g = DnaGallery(microvariants=rule)  # type: ignore[arg-type]
    g.add("R", profile_with(locus, a), "stain")
    found = g.search(profile_with(locus, b), profile_type="stain")
    return found[0].match_type if found else "none"


# --- the tables, row by row (prum-facts.md §1 [R]) ---------------------------------------

TETRA_ROWS = {
    "9.1": (["9", "9.1", "9.2"], ["9.3", "10", "8.3"]),
    "9.2": (["9.1", "9.2", "9.3"], ["9", "10"]),
    "9.3": (["9.2", "9.3", "10"], ["9", "9.1", "10.1"]),
}
PENTA_ROWS = {
    "9.1": (["9", "9.1", "9.2"], ["9.3", "10", "8.4"]),
    "9.2": (["9.1", "9.2", "9.3"], ["9", "9.4"]),
    "9.3": (["9.2", "9.3", "9.4"], ["9", "10"]),
    "9.4": (["9.3", "9.4", "10"], ["9", "9.2", "10.1"]),
}


@pytest.mark.parametrize("row", sorted(TETRA_ROWS))
def test_each_tetranucleotide_row(row: str) -> None:
    matches, others = TETRA_ROWS[row]
    for value in matches:  # both directions: the relation is symmetric
        assert verdict("TH01", ["6", row], ["6", value]) == "full", value
        assert verdict("TH01", ["6", value], ["6", row]) == "full", value
    for value in others:
        assert verdict("TH01", ["6", row], ["6", value]) == "near", value


@pytest.mark.parametrize("locus", PENTA)
@pytest.mark.parametrize("row", sorted(PENTA_ROWS))
def test_each_pentanucleotide_row(locus: str, row: str) -> None:
    matches, others = PENTA_ROWS[row]
    for value in matches:
        assert verdict(locus, ["7", row], ["7", value]) == "full", value
        assert verdict(locus, ["7", value], ["7", row]) == "full", value
    for value in others:
        assert verdict(locus, ["7", row], ["7", value]) == "near", value


def test_the_relation_is_not_transitive() -> None:
    # 9.1 matches 9 and 9.2, which do not match each other.
    assert verdict("TH01", ["6", "9.1"], ["6", "9"]) == "full"
    assert verdict("TH01", ["6", "9.1"], ["6", "9.2"]) == "full"
    assert verdict("TH01", ["6", "9"], ["6", "9.2"]) == "near"


def test_x4_at_a_tetranucleotide_locus_is_its_own_value() -> None:
    assert allele_key("9.4", "TH01") == 94
    assert verdict("TH01", ["6", "9.4"], ["6", "9.4"]) == "full"
    for other in ("9.3", "10", "9"):
        assert verdict("TH01", ["6", "9.4"], ["6", other]) == "near", other


def test_x5_at_a_pentanucleotide_locus_is_its_own_value() -> None:
    assert verdict("Penta D", ["7", "9.5"], ["7", "9.5"]) == "full"
    assert verdict("Penta D", ["7", "9.5"], ["7", "9.4"]) == "near"
    assert verdict("Penta D", ["7", "9.5"], ["7", "10"]) == "near"


def test_a_tetranucleotide_row_is_not_used_at_a_pentanucleotide_locus() -> None:
    # 9.3 ~ 10 is the tetranucleotide table; at Penta E, 9.3's row ends at 9.4.
    assert verdict("TH01", ["6", "9.3"], ["6", "10"]) == "full"
    assert verdict("Penta E", ["6", "9.3"], ["6", "10"]) == "near"


def test_both_alleles_of_a_locus_pair_through_the_tables() -> None:
    # Both alleles micro-variant neighbours, crossed in order: still full.
    assert verdict("FGA", ["21.2", "22.3"], ["23", "21.1"]) == "full"


@pytest.mark.parametrize("rule", ["repeat", "exact"])
def test_the_older_readings_stay_selectable(rule: str) -> None:
    expected = {"repeat": ("near", "full"), "exact": ("near", "near")}[rule]
    # 9.3 vs 10: the annex says full; repeat compares 9 with 10, exact 9.3 with 10.
    assert verdict("TH01", ["6", "9.3"], ["6", "10"], rule) == expected[0]
    # 9.3 vs 9: the annex says near; repeat compares 9 with 9.
    assert verdict("TH01", ["6", "9.3"], ["6", "9"], rule) == expected[1]


def test_neighbours_are_symmetric() -> None:
    for penta in (False, True):
        for key in range(1, 999):
            for other in neighbours(key, penta):
                assert key in neighbours(other, penta)
                assert related(key, other, penta) and related(other, key, penta)


# --- the all-wildcard locus: neither counted nor compared ---------------------------------


@pytest.mark.parametrize("wild", [["na", "na"], ["o", "r"], ["0", "99"], ["na", "12", "13"]])
def test_an_all_wildcard_locus_is_not_a_full_locus_nor_compared(wild: list[str]) -> None:
    five = {k: v for k, v in profile_with("TH01", ["6", "9.3"]).items() if k != "FGA"}
    del five["D21S11"]
    with pytest.raises(ProfileError, match="5 full designated loci"):
        DnaGallery().add("R", {**five, "FGA": wild}, "stain")  # 5 full + one *,* locus
    g = DnaGallery()
    g.add("R", profile_with("SE33", ["20", "21"]), "stain")
    (found,) = g.search(profile_with("SE33", wild), profile_type="stain")
    # The *,* locus is left out of the comparison: the six others compared, no wildcard flag.
    assert (found.match_type, found.wildcard, found.compared_loci) == ("full", False, 6)
    assert dna_reference.compare(profile_with("SE33", wild), profile_with("SE33", ["20", "21"]))[
        1:
    ] == (6, 0, False)


def test_one_wildcard_at_a_locus_is_compared_and_flagged() -> None:
    g = DnaGallery()
    g.add("R", profile_with("SE33", ["20", "21"]), "stain")
    (found,) = g.search(profile_with("SE33", ["20", "na"]), profile_type="stain")
    assert (found.match_type, found.wildcard, found.compared_loci) == ("full", True, 7)


# --- generated families against the slow reference ----------------------------------------

WHOLE = st.integers(8, 11)
FRACTION = st.sampled_from([0, 0, 0, 1, 2, 3, 3, 4, 5])
WILD_VALUES = st.sampled_from(["na", "o", "0", "1", "99", "*"])


@st.composite
def allele(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(WILD_VALUES)
    whole, frac = draw(WHOLE), draw(FRACTION)
    return f"{whole}.{frac}" if frac else str(whole)


@st.composite
def genotype(draw: st.DrawFn) -> list[str]:
    shape = draw(st.sampled_from(["pair"] * 6 + ["homozygote", "three"]))
    if shape == "homozygote":
        return [draw(allele())]
    if shape == "three":
        return [draw(allele()) for _ in range(3)]
    return [draw(allele()), draw(allele())]


@st.composite
def families(draw: st.DrawFn) -> tuple[Profile, list[Profile]]:
    """A query and rows derived from it: a few alleles moved to a nearby designation (often
    a micro-variant neighbour), loci dropped or added, so most rows sit at the boundary."""
    common = draw(st.sampled_from([5, 6, 7]))
    loci = draw(st.permutations(PENTA + TETRA))[: common + draw(st.integers(0, 3))]
    query = {locus: draw(genotype()) for locus in loci}
    rows = []
    for _ in range(draw(st.integers(1, 8))):
        row = {k: list(v) for k, v in query.items()}
        for _ in range(draw(st.integers(0, 3))):
            locus = draw(st.sampled_from(loci))
            if draw(st.booleans()) and row[locus]:
                row[locus][draw(st.integers(0, len(row[locus]) - 1))] = draw(allele())
            else:
                row[locus] = draw(genotype())
        if draw(st.booleans()):
            row.pop(draw(st.sampled_from(loci)), None)
        rows.append(row)
    return query, rows


def full_designated(profile: Profile) -> int:
    return sum(
        (v := dna_reference.locus_values(raw)) is not None and dna_reference.WILD not in v
        for raw in profile.values()
    )


def expected(query: Profile, rows: dict[str, Profile]) -> dict[str, tuple[str, bool, int, int]]:
    out = {}
    for ref, row in rows.items():
        is_match, compared, mismatched, wildcard = dna_reference.compare(query, row)
        if is_match:
            out[ref] = ("full" if mismatched == 0 else "near", wildcard, compared, mismatched)
    return out


def as_verdicts(found: list[DnaMatch]) -> dict[str, tuple[str, bool, int, int]]:
    ranks = [(m.mismatched_alleles, m.wildcard, -m.compared_loci) for m in found]
    assert ranks == sorted(ranks)  # best first: full, exact, most loci compared
    return {
        m.reference: (m.match_type, m.wildcard, m.compared_loci, m.mismatched_alleles)
        for m in found
    }


@contextmanager
def forced(few: int, one_pass_cells: int) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dna, "_FEW_ROWS", few)
        mp.setattr(dna_index, "_ONE_PASS_CELLS", one_pass_cells)
        yield


# Each: (seal_every, bitmap_share, _FEW_ROWS, _ONE_PASS_CELLS). Sealed rows with postings
# voting, sealed rows counted on bitmaps, everything in the unsorted tail; the plain-Python
# rule or the vectorised one; the one-pass or the staged code filter.
PATHS = [
    (1, 1 / 128, -1, 10**12),
    (1, 0.0, -1, -1),
    (1, 0.0, 10**9, 10**12),
    (10**9, 1 / 128, -1, -1),
    (10**9, 1 / 128, 10**9, 10**12),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=families())
def test_every_search_path_equals_the_slow_reference(case: tuple[Profile, list[Profile]]) -> None:
    query, rows = case
    valid = {f"R{i}": row for i, row in enumerate(rows) if full_designated(row) >= 6}
    if full_designated(query) < 6:
        with pytest.raises(ProfileError):
            DnaGallery().encode(query, "stain")
        return
    want = expected(query, valid)
    for seal_every, share, few, cells in PATHS:
        g = DnaGallery(seal_every=seal_every, bitmap_share=share)
        for ref, row in valid.items():
            g.add(ref, row, "stain")
        for i, row in enumerate(rows):
            if f"R{i}" not in valid:
                with pytest.raises(ProfileError):
                    g.add(f"R{i}", row, "stain")
        if seal_every == 1:
            g.seal()
        with forced(few, cells):
            got = as_verdicts(g.search(query, profile_type="stain"))
        assert got == want, (seal_every, share, few, cells)


def _dna(profile: Profile) -> DnaProfile:
    return DnaProfile(SampleType.STAIN, {k: tuple(v) for k, v in profile.items()})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=families())
def test_the_gateways_gallery_equals_the_slow_reference(
    case: tuple[Profile, list[Profile]],
) -> None:
    """`exchange.gallery.NodeGallery`, which answers partners' DNA messages (every probe of a
    batched message goes through `search_dna`), under the annex rule by default."""
    query, rows = case
    valid = {f"R{i}": row for i, row in enumerate(rows) if full_designated(row) >= 6}
    if full_designated(query) < 6:
        return
    g = NodeGallery(feature_model="m", face_dim=8, thresholds=Thresholds())
    for ref, row in valid.items():
        g.dna.add(ref, row, "stain")
    found = g.search_dna(_dna(query), 100)
    got = {c.reference: (c.match_type.value, c.wildcard, c.compared_loci) for c in found}
    want = {r: (v[0], v[1], v[2]) for r, v in expected(query, valid).items()}
    assert got == want


def test_generated_families_reach_every_kind_of_verdict() -> None:
    """The generator is worth its cost only if full, near and no match, wildcard and exact,
    micro-variant pairings at both kinds of locus all occur among its cases."""
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(case=families())
    def collect(case: tuple[Profile, list[Profile]]) -> None:
        query, rows = case
        for row in rows:
            if full_designated(row) < 6 or full_designated(query) < 6:
                continue
            is_match, _c, mism, wild = dna_reference.compare(query, row)
            seen.add("none" if not is_match else ("full" if mism == 0 else "near"))
            if is_match:
                seen.add("wildcard" if wild else "exact")
            for locus, raw in query.items():
                a, b = (
                    dna_reference.locus_values(raw),
                    dna_reference.locus_values(row.get(locus, [])),
                )
                if not a or not b:
                    continue
                for x in a:
                    for y in b:
                        designated = isinstance(x, tuple) and isinstance(y, tuple)
                        if designated and x != y and dna_reference.same(x, y, locus):
                            seen.add("penta" if locus in PENTANUCLEOTIDE_LOCI else "tetra")

    collect()
    assert seen >= {"full", "near", "none", "wildcard", "exact", "penta", "tetra"}, seen


def test_micro_variant_stains_find_their_donors_in_a_synthetic_population() -> None:
    """Real allele frequencies (UK DNA-17 table: TH01 9.3, FGA and D21S11 x.2, SE33 ...) keep
    their fractions in the keys, and stains read one repeat-fraction off still find donors."""
    from matchers.synthetic import dna_keys

    keys = dna_keys(5, 0, 2000)
    g = DnaGallery()
    g.add_keys([f"S{i}" for i in range(len(keys))], keys)
    assert (keys % 10 > 0).any()  # micro-variants are stored as such
    rng = np.random.default_rng(5)
    donors = rng.choice(len(keys), 40, replace=False)
    for d in donors:
        probe = decode_keys(keys[d])
        # Move one allele to a related micro-variant where the donor has one (9.3 -> 10).
        for locus, alleles in probe.items():
            if "." in alleles[1] and locus not in PENTANUCLEOTIDE_LOCI:
                whole, frac = alleles[1].split(".")
                if frac == "3":
                    alleles[1] = str(int(whole) + 1)
                    break
        found = {m.reference for m in g.search(probe, profile_type="stain")}
        assert f"S{d}" in found
