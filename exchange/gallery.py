"""A node's searchable gallery: the matchers behind one Prüm node, keyed by opaque references.

The UK gateway holds one for the enrolled UK records, each mock partner one for its seeded
population. It turns model objects into what `matchers` takes (locus mappings, float32
arrays, minutiae arrays), runs the searches, applies thresholds and candidate limits, and
returns `model.Candidate`s carrying only references and scores (step 1 of the exchange).
Core data for follow-ups is looked up by the caller from its source of truth, not here.

Faces: one gallery per feature model the node holds (DESIGN.md §3), as national systems hold
the old and the new algorithm side by side while they migrate: the configured receive-only
model (`feature_model`, cosine over normalised templates, e.g. the drills' synthetic model)
and the Euclidean models a node extracts itself (`exchange.face_models`, dlib's
`dlib-resnet-v1`), lifted so that the cosine gallery ranks by distance exactly
(`matchers.face_distance`) and scored `1 - distance`. A probe goes to the gallery of its
model; a model the node does not hold is `UnsupportedFeatureModel`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

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
from matchers import face_distance
from matchers.dna import DnaGallery
from matchers.dna_profile import MicrovariantRule, ProfileType
from matchers.errors import MatcherError, StaleIndexError
from matchers.face import FaceGallery
from matchers.face_image import DIM as DLIB_DIM
from matchers.face_image import MODEL_ID as DLIB_MODEL
from matchers.fingerprint import FingerprintGallery, PairScorer
from matchers.fingerprint_image import bozorth_scores
from matchers.minutiae_pairing import pairing_scores


class GalleryError(ValueError):
    """A probe the gallery cannot search (wrong template size or model, too few loci, ...)."""


ShardState = Literal["up", "down"]


@dataclass(frozen=True, slots=True)
class ShardStatus:
    """One shard of a sharded gallery as last seen: up (with its record count) or down."""

    shard: int
    status: ShardState
    records: int | None = None
    reason: str | None = None


class GalleryUnavailable(Exception):
    """Part of the gallery cannot be searched or written now (a shard is down or late).

    Not a `GalleryError`: the probe is fine, the gallery is incomplete, so a search must not
    answer a no-hit (it might be in the missing share); the caller answers a temporary error
    and the sender tries again. `shards` says which shards answered and which did not.
    """

    def __init__(self, message: str, shards: tuple[ShardStatus, ...]) -> None:
        super().__init__(message)
        self.message = message
        self.shards = shards


class Gallery(Protocol):
    """What the gateway and the responder need of a node's gallery: `NodeGallery` (embedded)
    or `exchange.gallery_ray.RayGallery` (sharded over Ray actors), answering alike."""

    feature_model: str
    face_dim: int
    thresholds: Thresholds
    remote: bool  # calls wait on other processes: callers keep them off the event loop

    def __len__(self) -> int: ...
    def __contains__(self, reference: object) -> bool: ...
    def save(self, directory: Path, version: str) -> None: ...
    def load_files(self, directory: Path, version: str) -> bool: ...
    def add(self, reference: str, record: PersonRecord) -> None: ...
    def remove(self, reference: str) -> bool: ...
    def search_dna(self, profile: DnaProfile, limit: int) -> list[Candidate]: ...
    def search_dna_many(
        self, profiles: Sequence[DnaProfile], limit: int
    ) -> list[list[Candidate] | GalleryError]: ...
    def holds_face_model(self, model: str) -> bool: ...
    def face_model_ids(self) -> list[str]: ...
    def search_face(self, template: FaceTemplate, limit: int) -> list[Candidate]: ...
    def search_fingerprints(self, fingerprints: FingerprintSet, limit: int) -> list[Candidate]: ...
    def shard_statuses(self) -> tuple[ShardStatus, ...]: ...


def dna_rank(candidate: Candidate) -> tuple[int, str]:
    """The order of DNA candidates: full before near, exact before wildcard, most loci
    compared (`matchers.dna.DnaGallery`'s rank), then by reference.

    DnaGallery breaks ties in the order profiles were added, which a rebuild from SQLite (in
    PNC ID order) or a sharded gallery cannot reproduce; ordering ties by reference makes a
    node's answer the same after a restart and across any number of shards.
    """
    mism = candidate.mismatched_alleles or 0
    compared = candidate.compared_loci or 0
    return ((mism * 2 + int(candidate.wildcard)) * 64 + (63 - compared), candidate.reference)


def score_rank(scored: tuple[str, float]) -> tuple[float, str]:
    """Face and fingerprint order: best score first, ties by reference."""
    return (-scored[1], scored[0])


class UnsupportedFeatureModel(GalleryError):
    """A face template of a model this node holds no gallery for (`unsupported_feature_model`)."""

    def __init__(self, model: str, held: list[str]) -> None:
        self.model = model
        super().__init__(f"face template from model {model!r}; this node holds {held}")


# Euclidean face models a node can hold beside its configured one, with their dimensions.
EUCLIDEAN_MODELS = {DLIB_MODEL: DLIB_DIM}
DEFAULT_FACE_MODELS: Mapping[str, float] = {DLIB_MODEL: round(face_distance.score_of(0.6), 6)}


@dataclass(frozen=True, slots=True)
class FaceModel:
    """One face gallery's model: its id, template size, metric and threshold (a score)."""

    model_id: str
    dim: int
    euclidean: bool
    threshold: float

    @property
    def file_name(self) -> str:
        return f"face-{self.model_id}.faiss"

    @property
    def index_dim(self) -> int:
        return face_distance.lifted_dim(self.dim) if self.euclidean else self.dim


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

    remote = False  # in this process: searched where it is called

    def __init__(
        self,
        *,
        feature_model: str,
        face_dim: int,
        thresholds: Thresholds,
        face_index: str = "auto",
        face_search: str = "",
        dna_microvariants: MicrovariantRule = "annex",
        face_models: Mapping[str, float] = DEFAULT_FACE_MODELS,
    ) -> None:
        """`face_index`, `face_search`: the face galleries' faiss index_factory string (or
        "auto") and its ParameterSpace search parameters; `dna_microvariants`: the DNA
        gallery's micro-variant reading (all three the config's `[gallery]`); `face_models`:
        the Euclidean models (`EUCLIDEAN_MODELS`) held beside `feature_model`, by threshold."""
        self.feature_model = feature_model
        self.face_dim = face_dim
        self.thresholds = thresholds
        self.face_index = face_index
        self.face_search = face_search
        self.dna = DnaGallery(microvariants=dna_microvariants)
        self.face_models = {
            feature_model: FaceModel(feature_model, face_dim, False, thresholds.face)
        }
        for model, threshold in face_models.items():
            if model not in EUCLIDEAN_MODELS:
                raise ValueError(f"face model {model!r}: one of {sorted(EUCLIDEAN_MODELS)}")
            if model != feature_model:
                self.face_models[model] = FaceModel(model, EUCLIDEAN_MODELS[model], True, threshold)
        self.faces = {m: self._new_face_gallery(fm) for m, fm in self.face_models.items()}
        self.fingerprints = FingerprintGallery()
        self._lock = threading.Lock()
        self._modalities: dict[str, set[str]] = {}

    def _new_face_gallery(self, model: FaceModel) -> FaceGallery:
        return FaceGallery(model.index_dim, index=self.face_index, params=self.face_search)

    @property
    def face(self) -> FaceGallery:
        """The gallery of the configured `feature_model`."""
        return self.faces[self.feature_model]

    def holds_face_model(self, model: str) -> bool:
        return model in self.faces

    def face_model_ids(self) -> list[str]:
        """The feature models this node holds a face gallery for, sorted."""
        return sorted(self.faces)

    def __len__(self) -> int:
        return len(self._modalities)

    def __contains__(self, reference: object) -> bool:
        return reference in self._modalities

    # -- index files: a cache of the source of truth, stamped with its version ------------

    def save(self, directory: Path, version: str) -> None:
        """Write the three galleries' files under `directory`, stamped with `version`."""
        directory.mkdir(parents=True, exist_ok=True)
        self.dna.save(directory / "dna.npz", version)
        for model, face in self.faces.items():
            if len(face):
                face.save(directory / self._face_file(model), version)
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
            faces = {
                model: (
                    FaceGallery.load(directory / self._face_file(model), version)
                    if any(_face_key(model, self.feature_model) in m for m in modalities.values())
                    else face
                )
                for model, face in self.faces.items()
            }
            fingerprints = (
                FingerprintGallery.load(directory / "fingerprints", version)
                if any("fingerprint" in m for m in modalities.values())
                else self.fingerprints
            )
        except (OSError, ValueError, KeyError, StaleIndexError):
            return False
        for face in faces.values():
            if (face.spec, face.spec_params) != (self.face_index, self.face_search):
                return False
        if dna.microvariants != self.dna.microvariants:
            return False
        self.dna, self.faces, self.fingerprints = dna, faces, fingerprints
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
                model = self._check_face(record.face)
                vectors = face_vector(record.face)
                if model.euclidean:
                    vectors = face_distance.lift_gallery(vectors)
                self.faces[model.model_id].add([reference], vectors)
                held.add(_face_key(model.model_id, self.feature_model))
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
        for model, face in self.faces.items():
            if _face_key(model, self.feature_model) in held:
                face.remove([reference])
        if "fingerprint" in held:
            self.fingerprints.remove(reference)

    # -- searches ----------------------------------------------------------------------

    def search_dna(self, profile: DnaProfile, limit: int) -> list[Candidate]:
        """Full and near matches, best first (`dna_rank`), at most `limit`.

        The gallery is asked for every match so that the cut at `limit` falls in `dna_rank`
        order, not in the order of addition (ties in rank are rare; so are long lists).
        """
        try:
            matches = self.dna.search(dict(profile.loci), None, _profile_type(profile))
        except MatcherError as exc:
            raise GalleryError(str(exc)) from exc
        found = [
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
        found.sort(key=dna_rank)
        return found[:limit]

    def search_dna_many(
        self, profiles: Sequence[DnaProfile], limit: int
    ) -> list[list[Candidate] | GalleryError]:
        """`search_dna` for each profile (a DNA message's probes); a refused one its error."""
        out: list[list[Candidate] | GalleryError] = []
        for profile in profiles:
            try:
                out.append(self.search_dna(profile, limit))
            except GalleryError as exc:
                out.append(exc)
        return out

    def shard_statuses(self) -> tuple[ShardStatus, ...]:
        """One embedded gallery: a single shard, always up."""
        return (ShardStatus(0, "up", len(self)),)

    def _check_face(self, template: FaceTemplate) -> FaceModel:
        model = self.face_models.get(template.feature_model)
        if model is None:
            raise UnsupportedFeatureModel(template.feature_model, sorted(self.face_models))
        if not template.vector:
            raise GalleryError(
                f"face probe carries no {model.model_id} template (extract it from its image)"
            )
        if template.dim != model.dim:
            raise GalleryError(
                f"face template has {template.dim} values; {model.model_id} has {model.dim}"
            )
        return model

    def search_face(self, template: FaceTemplate, limit: int) -> list[Candidate]:
        return scored_candidates(self.face_scores(template, limit))

    def face_scores(self, template: FaceTemplate, limit: int) -> list[tuple[str, float]]:
        """The top `limit` (reference, score) at or above the face threshold of the
        template's model (`score_rank`)."""
        model = self._check_face(template)
        probe = face_vector(template)
        try:
            if not model.euclidean:
                (found,) = self.faces[model.model_id].search(probe, limit, model.threshold)
                scored = [(c.reference, c.score) for c in found]
            else:
                scored = self._search_euclidean(model, probe[0], limit)
        except MatcherError as exc:  # e.g. a template with no direction: refused, not a crash
            raise GalleryError(str(exc)) from exc
        return sorted(scored, key=score_rank)

    def _search_euclidean(
        self, model: FaceModel, probe: np.ndarray, limit: int
    ) -> list[tuple[str, float]]:
        """Ranked by Euclidean distance, scored 1 - distance, kept from `model.threshold` up."""
        cosine_floor = face_distance.cosine_at(probe, 1.0 - model.threshold)
        gallery = self.faces[model.model_id]
        (found,) = gallery.search(face_distance.lift_probe(probe), limit, cosine_floor - 1e-6)
        if not found:
            return []
        dist = face_distance.distances(probe, [c.score for c in found])
        return [
            (c.reference, face_distance.score_of(float(d)))
            for c, d in zip(found, dist, strict=True)
            if face_distance.score_of(float(d)) >= model.threshold
        ]

    def _face_file(self, model: str) -> str:
        return "face.faiss" if model == self.feature_model else self.face_models[model].file_name

    def search_fingerprints(self, fingerprints: FingerprintSet, limit: int) -> list[Candidate]:
        """Ten-print search, or a latent search for a single mark of unknown position."""
        return scored_candidates(self.fingerprint_scores(fingerprints, limit))

    def fingerprint_scores(
        self, fingerprints: FingerprintSet, limit: int
    ) -> list[tuple[str, float]]:
        """The top `limit` (reference, score) at or above the threshold (`score_rank`)."""
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
                return sorted(best.items(), key=score_rank)[:limit]
            fingers.pop(0, None)
            (cands,) = self.fingerprints.search([fingers], wanted, threshold, scorer=scorer)
        except MatcherError as exc:
            raise GalleryError(str(exc)) from exc
        return sorted(((c.reference, c.score) for c in cands), key=score_rank)[:limit]


def scored_candidates(found: Sequence[tuple[str, float]]) -> list[Candidate]:
    """Face or fingerprint candidates as a reply carries them (scores to six places)."""
    return [Candidate(ref, round(score, 6), MatchType.CANDIDATE) for ref, score in found]


def _face_key(model: str, default_model: str) -> str:
    """What `_modalities` holds for a face of `model` ("face" for the configured model, as
    index files written before per-model galleries did)."""
    return "face" if model == default_model else f"face:{model}"
