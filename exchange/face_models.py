"""The face feature models a node can hold, and how a template is made from an image.

Two kinds of model live side by side (DESIGN.md §3, "one face gallery per feature model"):
templates a node can only receive (the drills' synthetic model, `feature_model` in config:
cosine over normalised vectors, a threshold in `[thresholds] face`) and models it can also
extract from an image. The one extracting model is dlib's ResNet descriptor,
`dlib-resnet-v1` (`matchers.face_image`), compared by Euclidean distance and held in a
gallery that ranks by it exactly (`matchers.face_distance`); its scores are `1 - distance`,
so its threshold, `[face_models."dlib-resnet-v1"] threshold`, defaults to 1 - 0.6 = 0.4 from
dlib's published 0.6 distance (99.38% on LFW).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exchange.model import BiometricImage, FaceTemplate
from matchers import face_distance, face_image

DLIB_MODEL = face_image.MODEL_ID


@dataclass(frozen=True, slots=True)
class FaceModelConfig:
    """`[face_models."ID"]`: the threshold (a score, higher is closer) and the extraction
    parameters (`matchers.face_image.extract`)."""

    model_id: str = DLIB_MODEL
    threshold: float = round(face_distance.score_of(face_image.DLIB_DISTANCE), 6)
    detect_long_side: int = face_image.DETECT_LONG_SIDE
    upsample: int = 0
    jitters: int = 0

    @property
    def distance_threshold(self) -> float:
        return 1.0 - self.threshold


EXTRACTING_MODELS = (DLIB_MODEL,)
FACE_MODEL_KEYS = ("threshold", "detect_long_side", "upsample", "jitters")


def template_of(
    extraction: face_image.FaceExtraction, image: BiometricImage | None
) -> FaceTemplate:
    vector = np.asarray(extraction.vector, dtype="<f4").tobytes()
    return FaceTemplate(feature_model=extraction.model_id, vector=vector, image=image)


def extract(data: bytes, model: FaceModelConfig) -> face_image.FaceExtraction:
    """Run the model on an encoded image (in the calling process: the pool runs `extract_job`)."""
    return face_image.extract(
        data,
        detect_long_side=model.detect_long_side,
        upsample=model.upsample,
        jitters=model.jitters,
    )


def extract_job(data: bytes, model: FaceModelConfig) -> face_image.FaceExtraction:
    """For `ExtractionPool.run` (top-level, picklable arguments)."""
    return extract(data, model)
