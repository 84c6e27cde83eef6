"""Synthetic biometrics for subject i, deterministic from a seed: DNA, minutiae and face.

Only biometrics live here (names, dates of birth and identifiers belong to the population
module of `mock_partners`). Every function takes `seed` and subject ids and returns the same
values for subject i however the ids are batched, so one person can be enrolled in several
galleries (UK and partners) and searched with a second capture, giving drills ground truth.
Randomness comes in blocks of `BLOCK` subjects, each from its own generator seeded with
(seed, stream, block); a subject's values are sliced out of its block.

- DNA-17 profiles: alleles drawn independently per locus (Hardy-Weinberg) from one
  population's allele frequencies: the UK groups of `matchers/data/dna17_allele_frequencies.tsv`
  (likeLTD DNA17-db, UK NDNAD population data; see that file's header) or `EUROPE`, the
  European frequencies of `matchers/data/europadb_v2023_dna17.tsv` (norSTR EuropaDB v2023, MIT;
  see that file's header). A second sample (stain) loses loci and alleles.
- Minutiae: 30-70 minutiae per finger inside an elliptical print area, orientations following
  a smooth ridge-flow field around a core (the loop/whorl structure of real prints, rather than
  uniform angles); a re-capture rotates and translates the print, warps it elastically, jitters
  positions and angles, loses minutiae (and a border strip) and adds spurious ones. Parameters
  follow the distortion ranges used in fingerprint synthesis (Cappelli, Maio, Maltoni, SFinGe,
  "Synthetic fingerprint-database generation", ICPR 2002) in spirit, not their exact model.
- Face templates: identity is a point of a low-dimensional latent space (dim / 4 dimensions)
  mapped into the template space by a fixed random linear map with a decaying spectrum; a
  capture adds latent variation (pose, light) plus small isotropic noise, then L2-normalises.
  This gives the low intrinsic dimension of real embeddings, where isotropic noise has none.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from matchers.dna_profile import DNA17_LOCI, LOCI, LOCUS_INDEX, allele_key

BLOCK = 4096
FACE_LATENT_RATIO = 4  # latent (identity) dimension = template dimension / 4
FINGER_POSITIONS = tuple(range(1, 11))  # ANSI/NIST finger position codes 1-10

F32 = npt.NDArray[np.float32]
IdArray = Sequence[int] | npt.NDArray[np.integer]

_STREAM_DNA, _STREAM_STAIN, _STREAM_FACE_ID, _STREAM_FACE_CAPTURE = 1, 2, 3, 4


def _blocked(
    seed: int, stream: int, ids: IdArray, draw: Callable[[np.random.Generator, int], np.ndarray]
) -> np.ndarray:
    """Rows `ids` of a per-subject table drawn block by block; same row whatever the batch."""
    ids = np.asarray(ids, dtype=np.int64)
    out: np.ndarray | None = None
    for block in np.unique(ids // BLOCK):
        rows = draw(np.random.default_rng([seed, stream, int(block)]), BLOCK)
        if out is None:
            out = np.empty((len(ids), *rows.shape[1:]), dtype=rows.dtype)
        sel = ids // BLOCK == block
        out[sel] = rows[ids[sel] - block * BLOCK]
    if out is None:
        return np.empty((0,), dtype=np.float64)
    return out


# -- DNA ---------------------------------------------------------------------------------


UK_GROUPS = ("NDU1", "NDU2", "NDU3", "NDU4", "NDU6", "NDU7")
EUROPE = "EUROPE"
POPULATION_GROUPS = (*UK_GROUPS, EUROPE)
_TABLE_OF_GROUP = {
    **{group: "data/dna17_allele_frequencies.tsv" for group in UK_GROUPS},
    EUROPE: "data/europadb_v2023_dna17.tsv",
}


@cache
def allele_frequencies(
    group: str = "NDU1",
) -> dict[str, tuple[tuple[str, ...], npt.NDArray[np.float64]]]:
    """Locus -> (allele strings, frequencies) of one population group of a shipped table.

    `NDU1`-`NDU7` are the UK groups, `EUROPE` the EuropaDB v2023 frequencies. Each locus is
    renormalised to sum to 1 (the tables round their frequencies).
    """
    if group not in _TABLE_OF_GROUP:
        raise ValueError(f"unknown population group {group!r}: one of {POPULATION_GROUPS}")
    text = resources.files("matchers").joinpath(_TABLE_OF_GROUP[group]).read_text()
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    table: dict[str, tuple[list[str], list[float]]] = {}
    for row in csv.DictReader(lines, delimiter="\t"):
        alleles, freqs = table.setdefault(row["locus"], ([], []))
        alleles.append(row["allele"])
        freqs.append(float(row[group]))
    out = {}
    for locus, (alleles, freqs) in table.items():
        p = np.asarray(freqs)
        out[locus] = (tuple(alleles), p / p.sum())
    return out


def dna_keys(seed: int, start: int, count: int, group: str = "NDU1") -> npt.NDArray[np.int16]:
    """Encoded DNA-17 reference profiles of subjects start..start+count-1, (count, loci, 2)."""
    return dna_keys_for(seed, np.arange(start, start + count), group)


def dna_keys_for(seed: int, ids: IdArray, group: str = "NDU1") -> npt.NDArray[np.int16]:
    freqs = allele_frequencies(group)
    cols = [LOCUS_INDEX[name] for name in DNA17_LOCI]
    key_tables = [
        np.array([allele_key(a, name) for a in freqs[name][0]], dtype=np.int16)
        for name in DNA17_LOCI
    ]
    cdfs = [np.cumsum(freqs[name][1]) for name in DNA17_LOCI]

    def draw(rng: np.random.Generator, n: int) -> np.ndarray:
        u = rng.random((n, len(DNA17_LOCI), 2))
        keys = np.zeros((n, len(LOCI), 2), dtype=np.int16)
        for j, col in enumerate(cols):
            idx = np.minimum(np.searchsorted(cdfs[j], u[:, j, :]), len(cdfs[j]) - 1)
            keys[:, col, :] = key_tables[j][idx]
        keys.sort(axis=2)
        return keys

    return _blocked(seed, _STREAM_DNA, ids, draw).astype(np.int16)


def dna_recapture_keys(
    seed: int, ids: IdArray, dropout: float = 0.05, drop_loci: int = 3, group: str = "NDU1"
) -> npt.NDArray[np.int16]:
    """Crime-stain profiles of subjects `ids`: `drop_loci` loci blank, allele drop-out.

    At most one allele drop-out per profile (the rest of a degraded profile is not typed), so
    the stain is a full or near match of its donor.
    """
    keys = dna_keys_for(seed, ids, group).copy()
    cols = np.array([LOCUS_INDEX[name] for name in DNA17_LOCI])

    def draw(rng: np.random.Generator, n: int) -> np.ndarray:
        u = rng.random((n, len(cols) + 2))
        return u

    u = _blocked(seed, _STREAM_STAIN, ids, draw)
    rows = np.arange(len(keys))
    order = np.argsort(u[:, : len(cols)], axis=1)
    for k in range(drop_loci):
        keys[rows, cols[order[:, k]], :] = 0
    # One heterozygous locus shows a single allele (drop-out), read as a homozygote.
    hit = u[:, -1] < dropout
    victim = cols[order[:, drop_loci]]
    pair = keys[rows, victim]
    het = hit & (pair[:, 0] != pair[:, 1]) & (pair[:, 0] > 0)
    keys[rows[het], victim[het], 1] = pair[het, 0]
    return keys


# -- faces -------------------------------------------------------------------------------


@cache
def _face_basis(seed: int, dim: int) -> F32:
    latent = dim // FACE_LATENT_RATIO
    rng = np.random.default_rng([seed, 99, dim])
    basis = rng.standard_normal((latent, dim)).astype(np.float32)
    # Decaying spectrum: the first latent directions carry most identity information.
    scale = (1.0 / np.sqrt(1.0 + np.arange(latent) / 32.0)).astype(np.float32)
    out: F32 = (basis * scale[:, None]) / np.float32(np.sqrt(dim))
    return out


def face_templates(
    seed: int,
    ids: IdArray,
    dim: int = 512,
    capture: int = 0,
    variation: float = 0.3,
    noise: float = 0.3,
) -> F32:
    """L2-normalised float32 templates (len(ids), dim) of subjects `ids`, capture number `capture`.

    Capture 0 is the enrolment image; other captures vary by `variation` in the latent space
    (relative to identity spread) and by `noise` isotropically.
    """
    basis = _face_basis(seed, dim)
    latent = basis.shape[0]

    def identity(rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.standard_normal((n, latent), dtype=np.float32)

    def capture_noise(rng: np.random.Generator, n: int) -> np.ndarray:
        lat = rng.standard_normal((n, latent), dtype=np.float32)
        iso = rng.standard_normal((n, dim), dtype=np.float32)
        return np.concatenate((lat * variation, iso * (noise / np.sqrt(dim))), axis=1)

    z = _blocked(seed, _STREAM_FACE_ID, ids, identity)
    extra = _blocked(seed, _STREAM_FACE_CAPTURE * 1000 + capture, ids, capture_noise)
    t = (z + extra[:, :latent]) @ basis
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    t += extra[:, latent:]
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    out: F32 = t.astype(np.float32)
    return out


def isotropic_templates(seed: int, n: int, dim: int = 512) -> F32:
    """The worst case for graph and cluster indexes: uniform directions on the sphere."""
    rng = np.random.default_rng([seed, 77])
    t = rng.standard_normal((n, dim), dtype=np.float32)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    return t


# -- minutiae ----------------------------------------------------------------------------

PRINT_W, PRINT_H = 400.0, 500.0  # pixels at 500 ppi: a 20 x 25 mm finger pad


def _orientation(x: np.ndarray, y: np.ndarray, core: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Ridge direction (radians) of a loop: Sherlock-Monro zero-pole model, one core, one delta."""
    ang: np.ndarray = 0.5 * (
        np.arctan2(y - core[1], x - core[0]) - np.arctan2(y - delta[1], x - delta[0])
    )
    return ang + np.pi / 2


def minutiae(seed: int, subject: int, position: int) -> F32:
    """The master minutiae set of one finger: (n, 5) float32 x, y, angle_deg, type, quality."""
    rng = np.random.default_rng([seed, 5, subject, position])
    n = int(rng.integers(30, 71))
    cx, cy = PRINT_W / 2 + rng.normal(0, 25), PRINT_H * 0.45 + rng.normal(0, 25)
    # Uniform inside the pad ellipse.
    r = np.sqrt(rng.random(n)) * 0.95
    t = rng.random(n) * 2 * np.pi
    x = PRINT_W / 2 + r * np.cos(t) * PRINT_W / 2
    y = PRINT_H / 2 + r * np.sin(t) * PRINT_H / 2
    core = np.array([cx, cy])
    delta = core + np.array([rng.normal(0, 60), 140 + rng.normal(0, 20)])
    theta = _orientation(x, y, core, delta)
    # A minutia points along the ridge, either way; bifurcations and endings both occur.
    theta = theta + np.pi * (rng.random(n) < 0.5) + rng.normal(0, 0.12, n)
    kind = (rng.random(n) < 0.45).astype(np.float32)
    quality = rng.integers(40, 100, n)
    out = np.stack((x, y, np.degrees(theta) % 360, kind, quality), axis=1)
    return out.astype(np.float32)


def minutiae_recapture(
    seed: int,
    subject: int,
    position: int,
    capture: int = 1,
    *,
    rotation_deg: float = 15.0,
    translation: float = 40.0,
    keep: float = 0.8,
    spurious: float = 5.0,
    jitter: float = 3.0,
) -> F32:
    """Another impression of the same finger: moved, warped, with missing and spurious minutiae."""
    m = minutiae(seed, subject, position).astype(np.float64)
    rng = np.random.default_rng([seed, 6, subject, position, capture])
    phi = np.radians(rng.uniform(-rotation_deg, rotation_deg))
    tx, ty = rng.uniform(-translation, translation, 2)
    x, y = m[:, 0] - PRINT_W / 2, m[:, 1] - PRINT_H / 2
    # Elastic warp: a smooth low-frequency displacement field (skin on a flat platen).
    amp = rng.uniform(2.0, 8.0, 2)
    ph = rng.uniform(0, 2 * np.pi, 2)
    x = x + amp[0] * np.sin(2 * np.pi * y / PRINT_H + ph[0])
    y = y + amp[1] * np.sin(2 * np.pi * x / PRINT_W + ph[1])
    c, s = np.cos(phi), np.sin(phi)
    nx = c * x - s * y + PRINT_W / 2 + tx + rng.normal(0, jitter, len(x))
    ny = s * x + c * y + PRINT_H / 2 + ty + rng.normal(0, jitter, len(x))
    ang = (m[:, 2] + np.degrees(phi) + rng.normal(0, 6.0, len(x))) % 360
    kept = rng.random(len(x)) < keep
    # A border strip not captured this time.
    side = rng.integers(4)
    cut = rng.uniform(0, 60)
    edge = (nx, ny, PRINT_W - nx, PRINT_H - ny)[side]
    kept &= edge > cut
    out = np.stack((nx, ny, ang, m[:, 3], m[:, 4]), axis=1)[kept]
    k = int(rng.poisson(spurious))
    fake = np.stack(
        (
            rng.uniform(0, PRINT_W, k),
            rng.uniform(0, PRINT_H, k),
            rng.uniform(0, 360, k),
            (rng.random(k) < 0.5).astype(float),
            rng.integers(20, 60, k).astype(float),
        ),
        axis=1,
    )
    return np.concatenate((out, fake)).astype(np.float32)


def tenprint(seed: int, subject: int, capture: int = 0) -> dict[int, F32]:
    """All ten fingers of a subject: capture 0 the enrolment set, others re-captures."""
    if capture == 0:
        return {p: minutiae(seed, subject, p) for p in FINGER_POSITIONS}
    return {p: minutiae_recapture(seed, subject, p, capture) for p in FINGER_POSITIONS}
