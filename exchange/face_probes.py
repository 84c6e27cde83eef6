"""A face sample made ready for a node's galleries: its own template, or one extracted.

DESIGN.md §3: images travel, templates are node-local. A node uses a template as it came when
it holds a gallery of that template's feature model; otherwise it extracts its own from the
image (in the extraction pool: `extract` is whatever runs the model off the event loop); a
template of a model it does not hold, with no image to extract from, is refused
(`UnsupportedFeatureModel`, the `unsupported_feature_model` error on either API).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from exchange.face_models import template_of
from exchange.gallery import Gallery, UnsupportedFeatureModel
from exchange.model import FaceTemplate, PersonRecord
from matchers.face_image import FaceExtraction

Extract = Callable[[bytes], Awaitable[FaceExtraction]]


def needs_extraction(face: FaceTemplate, gallery: Gallery) -> bool:
    return not (face.vector and gallery.holds_face_model(face.feature_model))


async def ready_face(face: FaceTemplate, gallery: Gallery, extract: Extract) -> FaceTemplate:
    """`face` if its template fits a gallery here, else a template extracted from its image.

    Raises `UnsupportedFeatureModel` (no image to extract from), `matchers.face_image`'s
    `FaceImageError` / `NoFaceError` (the image), or whatever `extract` raises when it
    cannot run (the pool's `PoolFull`).
    """
    if not needs_extraction(face, gallery):
        return face
    if face.image is None:
        raise UnsupportedFeatureModel(face.feature_model or "(none)", gallery.face_model_ids())
    return template_of(await extract(face.image.data), face.image)


async def ready_record(record: PersonRecord, gallery: Gallery, extract: Extract) -> PersonRecord:
    if record.face is None or not needs_extraction(record.face, gallery):
        return record
    return dataclasses.replace(record, face=await ready_face(record.face, gallery, extract))
