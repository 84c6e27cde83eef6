"""A node's searchable gallery: the matchers behind one Prüm node, keyed by opaque references.

The UK gateway holds one for the enrolled UK records, each mock partner one for its seeded
population. It turns model objects into what `matchers` takes (locus mappings, float32
arrays, minutiae arrays), runs the searches, applies thresholds and candidate limits, and
returns `model.Candidate`s carrying only references and scores (step 1 of the exchange).
Core data for follow-ups is looked up by the caller from its source of truth, not here.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exchange.model import (
    Candidate,
    DnaProfile,
    FaceTemplate,
    FingerprintSet,
    Impression,
    MatchType,
    MinutiaKind,
    PersonRecord,
    SampleType,
)
from matchers.dna import DnaGallery
from matchers.dna_profile import MicrovariantRule, ProfileType
from matchers.errors import MatcherError, StaleIndexError
from matchers.face import FaceGallery
from matchers.fingerprint import FingerprintGallery, PairScorer
from matchers.fingerprint_image import bozorth_scores
from matchers.minutiae_pairing import pairing_scores


class GalleryError(ValueError):
    """A probe the gallery cannot search (wrong template size or model, too few loci, ...)."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    face: float = 0.55
    fingerprint: float = 0.25
    # Prints that come as images, re-ranked by Bozorth3 (`rerank_scorer`): measured on NIST's
    # tpcard against 10,000 synthetic subjects, mated sets 0.46-0.91, the best non-mated
    # 0.28 (one thumb alone) and about 0.1 for whole sets (bench.extract_fingerprint).
    fingerprint_bozorth3: float = 0.4


#: subjects re-ranked for a probe that came as images: the spectral shortlist ranks a real
#: mate lower than a synthetic one does (a plain thumb's rolled mate was within the first 20
#: of 10,000, not the first 5), and Bozorth3 costs about 1 ms a finger pair
IMAGE_RERANK = 25


def _profile_type(profile: DnaProfile) -> ProfileType:
    return "reference" if profile.sample_type is SampleType.REFERENCE else "stain"


def face_vector(template: FaceTemplate) -> np.ndarray:
    return np.frombuffer(template.vector, dtype="<f4").astype(np.float32).reshape(1, -1)


def minutiae_arrays(fingerprints: FingerprintSet) -> dict[int, np.ndarray]:
    """Finger position -> (n, 5) float32 x, y, angle, type (1 bifurcation), quality."""
    out: dict[int, np.ndarray] = {}
    for finger in fingerprints.fingers:
        if not finger.minutiae:
            continue
        out[finger.position] = np.array(
            [
                (m.x, m.y, m.angle, 1.0 if m.kind is MinutiaKind.BIFURCATION else 0.0, m.quality)
                for m in finger.minutiae
            ],
            dtype=np.float32,
        )
    return out


#: plain thumbs (FGP 11, 12) stand for the thumbs (1, 6) where those are absent
PLAIN_THUMBS = {11: 1, 12: 6}


def gallery_positions(fingers: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Finger arrays under the gallery's positions 1-10 (0, unknown, kept for latents): a
    plain thumb where its rolled one is absent; slaps and palms (13-38) are not fingers."""
    out = {p: m for p, m in fingers.items() if 0 <= p <= 10}
    for plain, rolled in PLAIN_THUMBS.items():
        if plain in fingers and rolled not in out:
            out[rolled] = fingers[plain]
    return out


def usable_prints(fingerprints: FingerprintSet) -> FingerprintSet:
    """The set with minutiae extracted for its image-only fingers (in this thread: the
    gateway extracts in its pool first, `exchange.finger_samples.with_extracted_minutiae`,
    so this does work only for callers that did not); refused with the reason if none."""
    from exchange.finger_samples import FingerSampleError, with_extracted_minutiae

    try:
        return with_extracted_minutiae(fingerprints)
    except FingerSampleError as exc:
        raise GalleryError(str(exc)) from exc


def rerank_scorer(fingerprints: FingerprintSet) -> PairScorer:
    """Bozorth3 for prints that come with images (their minutiae are mindtct's), the minutiae
    pairing otherwise: measured on NIST's tpcard, Bozorth3 separates rolled from plain
    impressions of one finger (17-47 against at most 15) where the pairing does not (mated
    0.01-0.03 among non-mated up to 0.03); on the synthetic population the pairing is what
    the figures in bench/results were made with (bench.extract_fingerprint)."""
    if any(f.image is not None for f in fingerprints.fingers):
        return bozorth_scores
    return pairing_scores


class NodeGallery:
    """DNA, face and fingerprint galleries of one node, safe for concurrent searches."""

    def __init__(
        self,
        *,
        feature_model: str,
        face_dim: int,
        thresholds: Thresholds,
        face_index: str = "auto",
        face_search: str = "",
        dna_microvariants: MicrovariantRule = "annex",
    ) -> None:
        """`face_index`, `face_search`: the face gallery's faiss index_factory string (or
        "auto") and its ParameterSpace search parameters; `dna_microvariants`: the DNA
        gallery's micro-variant reading (all three the config's `[gallery]`)."""
        self.feature_model = feature_model
        self.face_dim = face_dim
        self.thresholds = thresholds
        self.face_index = face_index
        self.face_search = face_search
        self.dna = DnaGallery(microvariants=dna_microvariants)
        self.face = FaceGallery(face_dim, index=face_index, params=face_search)
        self.fingerprints = FingerprintGallery()
        self._lock = threading.Lock()
        self._modalities: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._modalities)

    def __contains__(self, reference: object) -> bool:
        return reference in self._modalities

    # -- index files: a cache of the source of truth, stamped with its version ------------

    def save(self, directory: Path, version: str) -> None:
        """Write the three galleries' files under `directory`, stamped with `version`."""
        directory.mkdir(parents=True, exist_ok=True)
        self.dna.save(directory / "dna.npz", version)
        if len(self.face):
            self.face.save(directory / "face.faiss", version)
        if len(self.fingerprints):
            self.fingerprints.save(directory / "fingerprints", version)
        (directory / "references.json").write_text(
            json.dumps(
                {
                    "version": version,
                    "modalities": {r: sorted(m) for r, m in self._modalities.items()},
                }
            )
        )

    def load_files(self, directory: Path, version: str) -> bool:
        """Replace the galleries with the saved files if all carry `version`; else False.

        A missing, unreadable or stale file (another version: the source of truth changed
        since, or the process died before saving) means the caller rebuilds from SQLite; so
        does a face index saved under other strings than `face_index` and `face_search`, or
        a DNA gallery encoded under another micro-variant reading (the configuration changed:
        what runs is what is configured).
        """
        try:
            meta = json.loads((directory / "references.json").read_text())
            if meta.get("version") != version:
                return False
            modalities = {r: set(m) for r, m in meta["modalities"].items()}
            dna = DnaGallery.load(directory / "dna.npz", version)
            face = (
                FaceGallery.load(directory / "face.faiss", version)
                if any("face" in m for m in modalities.values())
                else self.face
            )
            fingerprints = (
                FingerprintGallery.load(directory / "fingerprints", version)
                if any("fingerprint" in m for m in modalities.values())
                else self.fingerprints
            )
        except (OSError, ValueError, KeyError, StaleIndexError):
            return False
        if (face.spec, face.spec_params) != (self.face_index, self.face_search):
            return False
        if dna.microvariants != self.dna.microvariants:
            return False
        self.dna, self.face, self.fingerprints = dna, face, fingerprints
        with self._lock:
            self._modalities = modalities
        return True

    # -- writes ------------------------------------------------------------------------

    def add(self, reference: str, record: PersonRecord) -> None:
        """Enrol (or replace) the biometrics of one record under `reference`."""
        if reference in self._modalities:
            self.remove(reference)
        held: set[str] = set()
        try:
            if record.dna is not None:
                self.dna.add(reference, dict(record.dna.loci), _profile_type(record.dna))
                held.add("dna")
            if record.face is not None:
                self._check_face(record.face)
                self.face.add([reference], face_vector(record.face))
                held.add("face")
            prints = record.fingerprints
            imaged = prints is not None and any(f.image is not None for f in prints.fingers)
            fingers = gallery_positions(minutiae_arrays(usable_prints(prints))) if prints else {}
            fingers.pop(0, None)  # an unknown position cannot be enrolled
            if imaged and not fingers:
                raise GalleryError("no usable finger: no finger 1-10 with minutiae to enrol")
            if fingers:
                self.fingerprints.add(reference, fingers)
                held.add("fingerprint")
        except MatcherError as exc:
            self._drop(reference, held)
            raise GalleryError(str(exc)) from exc
        with self._lock:
            self._modalities[reference] = held

    def remove(self, reference: str) -> bool:
        with self._lock:
            held = self._modalities.pop(reference, None)
        if held is None:
            return False
        self._drop(reference, held)
        return True

    def _drop(self, reference: str, held: set[str]) -> None:
        if "dna" in held:
            self.dna.remove(reference)
        if "face" in held:
            self.face.remove([reference])
        if "fingerprint" in held:
            self.fingerprints.remove(reference)

    # -- searches ----------------------------------------------------------------------

    def search_dna(self, profile: DnaProfile, limit: int) -> list[Candidate]:
        try:
            matches = self.dna.search(dict(profile.loci), limit, _profile_type(profile))
        except MatcherError as exc:
            raise GalleryError(str(exc)) from exc
        return [
            Candidate(
                reference=m.reference,
                score=1.0 if m.match_type == "full" else 0.9,
                match_type=MatchType.FULL if m.match_type == "full" else MatchType.NEAR,
                wildcard=m.wildcard,
                compared_loci=m.compared_loci,
                mismatched_alleles=m.mismatched_alleles,
            )
            for m in matches
        ]

    def _check_face(self, template: FaceTemplate) -> None:
        if template.feature_model != self.feature_model:
            raise GalleryError(
                f"face template from model {template.feature_model!r};"
                f" this node uses {self.feature_model!r}"
            )
        if template.dim != self.face_dim:
            raise GalleryError(
                f"face template has {template.dim} values; this node uses {self.face_dim}"
            )

    def search_face(self, template: FaceTemplate, limit: int) -> list[Candidate]:
        self._check_face(template)
        try:
            (found,) = self.face.search(
                face_vector(template), limit, threshold=self.thresholds.face
            )
        except MatcherError as exc:  # e.g. a template with no direction: refused, not a crash
            raise GalleryError(str(exc)) from exc
        return [Candidate(c.reference, round(c.score, 6), MatchType.CANDIDATE) for c in found]

    def search_fingerprints(self, fingerprints: FingerprintSet, limit: int) -> list[Candidate]:
        """Ten-print search, or a latent search for a single mark of unknown position."""
        scorer = rerank_scorer(fingerprints)
        fingers = gallery_positions(minutiae_arrays(usable_prints(fingerprints)))
        if not fingers:
            raise GalleryError("no finger with minutiae to search")
        threshold = self.thresholds.fingerprint
        wanted = limit
        if scorer is bozorth_scores:
            threshold, wanted = self.thresholds.fingerprint_bozorth3, max(limit, IMAGE_RERANK)
        try:
            if fingerprints.impression in (Impression.LATENT, Impression.LATENT_PALM):
                best: dict[str, float] = {}
                for position, mark in fingers.items():
                    where = None if position == 0 else [position]
                    found_latent = self.fingerprints.search_latent(
                        mark, limit, where, threshold, scorer=scorer
                    )
                    for c in found_latent:
                        best[c.reference] = max(best.get(c.reference, 0.0), c.score)
                found = sorted(best.items(), key=lambda kv: -kv[1])[:limit]
            else:
                fingers.pop(0, None)
                (cands,) = self.fingerprints.search([fingers], wanted, threshold, scorer=scorer)
                found = [(c.reference, c.score) for c in cands[:limit]]
        except MatcherError as exc:
            raise GalleryError(str(exc)) from exc
        return [Candidate(ref, round(score, 6), MatchType.CANDIDATE) for ref, score in found]
