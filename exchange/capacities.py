"""Prüm dactyloscopic search capacities: searches a day and candidates a search, per search type.

Source: Prüm Implementing Agreement, Art. 9 (maximum searches per day per party, and maximum
number of candidates per transmission accepted for verification),
https://gesetzefinden.at/bundesrecht/vertraege/20008450/art-9 (see also
../shared/reference/prum-facts.md §2). Under 2008/616/JHA each state keeps its requests
within the capacity the requested state has declared; these figures are the agreed defaults
and become the gateway's per-partner quotas.

Notation: TP ten-print, LT latent trace (finger mark), PP palm print, LP latent palm,
UL unsolved latent file, ULP unsolved latent palm file; "A/B" searches A against B.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from exchange.model import DactySearchRequest, DnaSearchRequest, FaceSearchRequest, Impression

SOURCE = "Prüm Implementing Agreement Art. 9; https://gesetzefinden.at/bundesrecht/vertraege/20008450/art-9"


@dataclass(frozen=True, slots=True)
class SearchCapacity:
    """What one party may ask of another for one search type."""

    search_type: str
    max_searches_per_day: int
    max_candidates: int


def _table(*rows: SearchCapacity) -> Mapping[str, SearchCapacity]:
    return MappingProxyType({row.search_type: row for row in rows})


#: Search type (Prüm notation) to its capacity, as in Art. 9 of the Implementing Agreement.
CAPACITIES: Mapping[str, SearchCapacity] = _table(
    SearchCapacity("TP/TP", 100, 1),
    SearchCapacity("TP/UL", 100, 5),
    SearchCapacity("PP/ULP", 100, 5),
    SearchCapacity("LT/TP", 20, 10),
    SearchCapacity("LP/PP", 20, 5),
    SearchCapacity("LT/UL", 5, 5),
    SearchCapacity("LP/ULP", 5, 5),
)

SEARCH_TYPES: tuple[str, ...] = tuple(CAPACITIES)


def capacity(search_type: str) -> SearchCapacity:
    """The capacity of `search_type`; `KeyError` names the unknown type."""
    try:
        return CAPACITIES[search_type]
    except KeyError:
        raise KeyError(f"unknown Prüm search type {search_type!r}") from None


# Prüm search type for a fingerprint set, by how it was taken (Implementing Agreement Art. 9).
SEARCH_TYPE_BY_IMPRESSION = {
    Impression.ROLLED: "TP/TP",
    Impression.PLAIN: "TP/TP",
    Impression.LATENT: "LT/TP",
    Impression.PALM: "PP/ULP",
    Impression.LATENT_PALM: "LP/PP",
}

# Maximum candidates per transmission: Prüm Implementing Agreement Art. 9 for fingerprint
# search types; DNA and face have no agreed figure, 10 here.
MAX_CANDIDATES: Mapping[str, int] = {
    **{t: c.max_candidates for t, c in CAPACITIES.items()},
    "DNA": 10,
    "FACE": 10,
}


def search_type_of(body: DnaSearchRequest | DactySearchRequest | FaceSearchRequest) -> str:
    """The capacity a search request counts against: DNA, FACE, or its dacty search type."""
    if isinstance(body, DnaSearchRequest):
        return "DNA"
    if isinstance(body, FaceSearchRequest):
        return "FACE"
    return body.search_type
