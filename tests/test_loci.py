"""Locus-name normalisation and allele-value checks."""

from __future__ import annotations

import pytest

from exchange.loci import DNA17, ESS, LocusError, normalise_alleles, normalise_locus


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("VWA", "vWA"),
        ("vwa", "vWA"),
        ("THO1", "TH01"),
        ("th01", "TH01"),
        ("Amelogenin", "AMEL"),
        ("CSF1P0", "CSF1PO"),
        ("Penta D", "PentaD"),
        ("d21s11", "D21S11"),
    ],
)
def test_aliases(raw: str, name: str) -> None:
    assert normalise_locus(raw) == name


def test_dna17_is_the_ess_plus_five() -> None:
    assert len(ESS) == 12 and len(DNA17) == 17 and set(ESS) < set(DNA17)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["9.3"], ("9.3", "9.3")),
        (["12", "13"], ("12", "13")),
        (["<8", ">30"], ("<8", ">30")),
        (["*", "OL"], ("*", "ol")),
        (["12", "13", "14"], ("12", "13", "14")),
    ],
)
def test_allele_forms(values: list[str], expected: tuple[str, ...]) -> None:
    assert normalise_alleles("vWA", values) == expected


@pytest.mark.parametrize("values", [[], ["1", "2", "3", "4"], ["9.33"], ["X"], ["-1"], ["1e3"]])
def test_bad_alleles(values: list[str]) -> None:
    with pytest.raises(LocusError):
        normalise_alleles("vWA", values)


def test_unknown_locus() -> None:
    with pytest.raises(LocusError):
        normalise_locus("D99S1")
