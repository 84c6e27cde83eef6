"""What the client API answers with: searches, their partners' results and hits, as JSON.

The shapes are those of the OpenAPI document (`schemas/openapi.json`, DESIGN.md §4).
"""

from __future__ import annotations

from typing import Any

from exchange.gateway.state.rows import HitRow, SearchRow


def search_json(row: SearchRow) -> dict[str, Any]:
    return {
        "search_id": row.search_id,
        "status": row.status,
        "purpose": row.purpose.value,
        "case_reference": row.case_reference,
        "created_at": row.created_at.isoformat(),
        "completed_at": row.completed_at.isoformat() if row.completed_at else None,
        "partners": [
            {
                "partner": r.partner,
                "status": r.status,
                "error": r.error,
                "modalities": [
                    {"modality": o.modality.value, "status": o.status.value, "error": o.error}
                    for o in r.outcomes
                ],
                "hits": [hit_json(h) for h in r.hits],
            }
            for r in row.results
        ],
    }


def hit_json(h: HitRow) -> dict[str, Any]:
    return {
        "hit_id": h.hit_id,
        "modality": h.modality.value,
        "reference": h.reference,
        "score": h.score,
        "match_type": h.match_type.value,
        "wildcard": h.wildcard,
        "confirmed": h.confirmed_at is not None,
    }
