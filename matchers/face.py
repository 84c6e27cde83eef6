"""Face gallery (DESIGN.md §4): `FaceGallery(dim, index="auto")` over FAISS.

Face templates are the embeddings of a face recognition model (`feature_model` in the UK
record, DESIGN.md §3), compared by cosine similarity. Everything about indexes, erasure,
persistence, version stamps and concurrency is in `matchers.vector_gallery`, shared with the
fingerprint positions; this module names the face contract.
"""

from __future__ import annotations

from matchers.vector_gallery import AUTO_IVF_FROM, Candidate, VectorGallery, auto_index, ivf_index


class FaceGallery(VectorGallery):
    """`add(references, templates)`, `remove(references)`, `search(templates, k, threshold)`,
    `save(path)`, `FaceGallery.load(path, expected_version, mmap)`, `len(gallery)`."""


__all__ = ["AUTO_IVF_FROM", "Candidate", "FaceGallery", "auto_index", "ivf_index"]
