"""Synthetic biometrics: deterministic per subject, realistic separation of mates."""

from __future__ import annotations

import numpy as np

from matchers.dna import verify_rows
from matchers.dna_profile import DNA17_LOCI, LOCUS_INDEX, decode_keys, encode_profile
from matchers.minutiae_pairing import pairing_score
from matchers.synthetic import (
    allele_frequencies,
    dna_keys,
    dna_keys_for,
    dna_recapture_keys,
    face_templates,
    isotropic_templates,
    minutiae,
    minutiae_recapture,
    tenprint,
)

SEED = 9


def test_allele_table_is_a_distribution_per_locus() -> None:
    table = allele_frequencies()
    assert set(table) == set(DNA17_LOCI)
    for alleles, p in table.values():
        assert len(alleles) == len(p) and abs(p.sum() - 1.0) < 1e-9


def test_same_subject_same_values_whatever_the_batch() -> None:
    a = dna_keys(SEED, 4090, 10)  # straddles two generator blocks
    b = dna_keys_for(SEED, [4095, 4091, 4099])
    assert (a[[5, 1, 9]] == b).all()
    f1 = face_templates(SEED, np.arange(4090, 4100), dim=64)
    f2 = face_templates(SEED, [4099, 4090], dim=64)
    assert np.allclose(f1[[9, 0]], f2)
    assert (minutiae(SEED, 17, 3) == minutiae(SEED, 17, 3)).all()
    assert not np.array_equal(dna_keys(SEED, 0, 5), dna_keys(SEED + 1, 0, 5))


def test_dna_profiles_are_valid_reference_profiles_and_stains_match_donors() -> None:
    keys = dna_keys(SEED, 0, 200)
    for row in keys[:20]:
        encode_profile(decode_keys(row), profile_type="reference")
    assert (keys[:, [LOCUS_INDEX[n] for n in DNA17_LOCI], :] > 0).all()
    stains = dna_recapture_keys(SEED, np.arange(200), dropout=0.5, drop_loci=3)
    for i in range(0, 200, 20):
        verdict = verify_rows(keys, stains[i])
        assert verdict.is_match[i] and verdict.mismatched[i] <= 1
        assert verdict.is_match.sum() == 1  # no adventitious match among 200


def test_face_mates_separate_from_impostors() -> None:
    gal = face_templates(SEED, np.arange(500), dim=256)
    probe = face_templates(SEED, np.arange(500), dim=256, capture=1)
    sim = probe @ gal.T
    genuine = np.diag(sim)
    impostor = sim[~np.eye(500, dtype=bool)]
    assert genuine.min() > impostor.max()
    assert np.allclose(np.linalg.norm(gal, axis=1), 1.0, atol=1e-5)

    # Realistic data has a low intrinsic dimension, isotropic data does not.
    def spectrum_share(x: np.ndarray) -> float:
        s = np.linalg.svd(x - x.mean(0), compute_uv=False) ** 2
        return float(s[: 256 // 4].sum() / s.sum())

    assert spectrum_share(gal) > 0.8 > spectrum_share(isotropic_templates(SEED, 500, dim=256))


def test_minutiae_recaptures_are_realistic() -> None:
    master = minutiae(SEED, 3, 7)
    again = minutiae_recapture(SEED, 3, 7, capture=1)
    assert 30 <= len(master) <= 70 and again.shape[1] == 5
    assert len(again) != len(master) or not np.allclose(again, master)
    assert pairing_score(again, master) > pairing_score(again, minutiae(SEED, 4, 7))
    assert set(tenprint(SEED, 1)) == set(range(1, 11))
