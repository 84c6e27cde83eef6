"""Partner populations: European allele frequencies (EuropaDB v2023) beside the UK's own."""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
import pytest

from matchers.dna_profile import DNA17_LOCI, LOCUS_INDEX, allele_key
from matchers.synthetic import EUROPE, allele_frequencies, dna_keys_for
from mock_partners import population
from mock_partners.population import PARTNER_SUBJECTS
from tests.shared_data import THIRDPARTY, needs_shared

SOURCE_SHA256 = "a5a9a7d73e06c4f51948995340df20924fa8d6135505d4ab757d5c851eaff92c"
SEED = 11
N = 4000


@needs_shared
def test_shipped_table_is_derived_from_the_published_source() -> None:
    """Re-derive the shipped file's rows from norSTR's file: the 16 DNA-17 blocks, verbatim."""
    raw = (THIRDPARTY / "magnusdv-norSTR" / "EuropaDB_v2023.txt").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SOURCE_SHA256
    blocks = {}
    for block in raw.decode().strip().split("\n\n"):
        name, *rows = block.strip().splitlines()
        blocks[name.strip()] = [tuple(v.strip() for v in row.split("\t")) for row in rows]
    expected = [(locus, a, f) for locus in DNA17_LOCI for a, f in blocks[locus]]
    shipped = resources.files("matchers").joinpath("data/europadb_v2023_dna17.tsv").read_text()
    rows = [ln.split("\t") for ln in shipped.splitlines() if ln and not ln.startswith("#")]
    assert rows[0] == ["locus", "allele", "EUROPE"]
    assert sorted(tuple(r) for r in rows[1:]) == sorted(expected)
    assert SOURCE_SHA256 in shipped  # the header names the source it came from
    licence = resources.files("matchers").joinpath("data/LICENSE-EuropaDB.md").read_text()
    assert licence == (THIRDPARTY / "magnusdv-norSTR" / "LICENSE.md").read_text()


def test_european_table_covers_dna17_and_every_allele_encodes() -> None:
    table = allele_frequencies(EUROPE)
    assert set(table) == set(DNA17_LOCI)
    for locus, (alleles, p) in table.items():
        assert abs(p.sum() - 1.0) < 1e-9 and (p > 0).all()
        assert all(allele_key(a, locus) > 0 for a in alleles), locus


def test_unknown_group_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="MARS"):
        allele_frequencies("MARS")


def _mean_log_likelihood(keys: np.ndarray, group: str) -> float:
    """Mean per-profile log-likelihood of DNA-17 profiles under one table (Hardy-Weinberg)."""
    table = allele_frequencies(group)
    total = np.zeros(len(keys))
    for locus in DNA17_LOCI:
        alleles, p = table[locus]
        floored = np.maximum(p, 1e-4)  # an allele the table never saw in this group
        lookup = dict(zip((allele_key(a, locus) for a in alleles), floored, strict=True))
        pair = keys[:, LOCUS_INDEX[locus], :]
        total += np.log([lookup.get(int(v), 1e-4) for v in pair[:, 0]])
        total += np.log([lookup.get(int(v), 1e-4) for v in pair[:, 1]])
    return float(total.mean())


def test_generated_profiles_follow_their_own_population() -> None:
    """Profiles drawn for a group are far likelier under its own table than under the other.

    The two tables are close (UK Caucasian and European frequencies differ by 0.02-0.13 in
    total variation per locus), so the check is the likelihood of 4,000 profiles over all 16
    loci, where the difference adds up: a mix-up of the tables would reverse the sign.
    """
    uk_keys = dna_keys_for(SEED, np.arange(N), "NDU1")
    eu_keys = dna_keys_for(SEED, np.arange(N), EUROPE)
    assert _mean_log_likelihood(eu_keys, EUROPE) > _mean_log_likelihood(eu_keys, "NDU1") + 0.3
    assert _mean_log_likelihood(uk_keys, "NDU1") > _mean_log_likelihood(uk_keys, EUROPE) + 0.3


def test_partner_subjects_draw_european_profiles_and_uk_subjects_uk_ones() -> None:
    uk_subjects = list(range(50))
    de_subjects = [PARTNER_SUBJECTS + i for i in range(50)]
    profiles = population.dna_profiles(SEED, uk_subjects + de_subjects)
    expected_uk = dna_keys_for(SEED, uk_subjects, "NDU1")
    expected_de = dna_keys_for(SEED, de_subjects, EUROPE)
    for i, profile in enumerate(profiles):
        want = expected_uk[i] if i < 50 else expected_de[i - 50]
        col = LOCUS_INDEX["SE33"]
        got = sorted(allele_key(a, "SE33") for a in profile.loci["SE33"])
        assert got == sorted(int(v) for v in want[col])
    assert population.dna_group_of(3) == "NDU1"
    assert population.dna_group_of(4 * PARTNER_SUBJECTS + 3) == EUROPE


def test_a_person_in_two_galleries_keeps_one_profile() -> None:
    """Ground truth for drills: GB and DE enrol the same subject with the same DNA."""
    for subject in (7, PARTNER_SUBJECTS + 7, 2 * PARTNER_SUBJECTS + 1):
        gb = population.person(SEED, subject, "GB").record
        de = population.person(SEED, subject, "DE").record
        assert gb.dna == de.dna
        assert gb.reference != de.reference
    # and a stain of a partner subject is a full or near match of its European reference
    from matchers.dna import verify_rows
    from matchers.dna_profile import encode_profile

    subjects = [PARTNER_SUBJECTS + i for i in range(40)]
    refs = np.stack([encode_profile(p.loci).keys for p in population.dna_profiles(SEED, subjects)])
    stains = population.dna_profiles(SEED, subjects, capture=1)
    for i, stain in enumerate(stains):
        verdict = verify_rows(refs, encode_profile(stain.loci, profile_type="stain").keys)
        assert verdict.is_match[i]
