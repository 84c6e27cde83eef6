"""What a search asks of its partners: one Prüm request body per modality, built once.

A search's record becomes one body per requested modality it can be searched with (a DNA
profile, a fingerprint set with its Prüm search type, a face), under the record's step-1
reference and no personal data (2008/616/JHA Art. 8(1)). The dialects encode these bodies
for each partner (`outbound.dialects`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from exchange.capacities import MAX_CANDIDATES, SEARCH_TYPE_BY_IMPRESSION
from exchange.model import (
    DactySearchRequest,
    DnaProbe,
    DnaSearchRequest,
    FaceSearchRequest,
    Modality,
    PersonRecord,
)
from exchange.records import step1_reference

SearchBody = DnaSearchRequest | DactySearchRequest | FaceSearchRequest
SearchBodies = Mapping[Modality, SearchBody]


def build_bodies(
    record: PersonRecord, modalities: Sequence[Modality], max_candidates: int
) -> dict[Modality, SearchBody]:
    """The Prüm body for each requested modality the record can be searched with."""
    reference = step1_reference(record)
    bodies: dict[Modality, SearchBody] = {}
    if Modality.DNA in modalities and record.dna is not None:
        bodies[Modality.DNA] = DnaSearchRequest((DnaProbe(reference, record.dna),), max_candidates)
    if Modality.FINGERPRINT in modalities and record.fingerprints is not None:
        stype = SEARCH_TYPE_BY_IMPRESSION[record.fingerprints.impression]
        k = min(max_candidates, MAX_CANDIDATES[stype])
        bodies[Modality.FINGERPRINT] = DactySearchRequest(reference, stype, record.fingerprints, k)
    if Modality.FACE in modalities and record.face is not None:
        bodies[Modality.FACE] = FaceSearchRequest(reference, record.face, max_candidates)
    return bodies
