"""The Prüm DNA matching rule applied to gallery rows: vectorised, per row, and as a full scan.

Council Decision 2008/616/JHA, Annex ch. 1 §1.1-1.2 (the full and near match classes are
confirmed by §3.2; their exact wording was not found, see prum-facts.md §1):

- only loci typed in both profiles are compared, amelogenin excluded (`compared`);
- at least 6 of the compared loci must be full designated (no wildcard) in both profiles;
- at a locus the alleles are paired as unordered pairs (both orderings are tried, as the
  annex asks for wildcards), `*` pairs with any value, and under the ``"annex"`` rule a
  designation pairs with those its micro-variant table relates it to (`matchers.microvariants`;
  under ``"repeat"`` and ``"exact"`` the keys already say it, equal keys pair); the number of
  alleles left unpaired, summed over the compared loci, is `mismatched`;
- a match differs by at most one allele (full: none, near: one); one that used a wildcard
  on either side is flagged.

Rows are profiles encoded by `matchers.dna_profile` ((loci, 2) int16 keys, pairs sorted so a
wildcard comes first). `matchers.dna.DnaGallery` shortlists rows with `matchers.dna_index`
and judges only those here; `naive_search` judges every row, the benchmarks' baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matchers.dna_profile import (
    BLANK,
    LOCI,
    MIN_FULL_LOCI,
    PENTANUCLEOTIDE_LOCI,
    WILDCARD,
    MicrovariantRule,
)
from matchers.microvariants import KEYS, related, related_table

Keys = npt.NDArray[np.int16]
Pairs = npt.NDArray[np.bool_]

#: Per locus column: 1 where the locus is pentanucleotide (its own micro-variant table).
PENTA_COLUMNS = np.array([name in PENTANUCLEOTIDE_LOCI for name in LOCI], dtype=np.int32)


def _pairs(
    rule: MicrovariantRule, cols: npt.NDArray[np.intp]
) -> tuple[Callable[[Keys, Keys], Pairs], bool]:
    """The allele pairing at columns `cols` for `rule`: (a, b) -> whether they pair, with
    a wildcard on either side pairing too (True as second value) or not yet (False)."""
    if rule != "annex":
        return np.equal, False
    flat = related_table().reshape(-1)
    base = (PENTA_COLUMNS[cols] * KEYS + 1) * KEYS + 1  # table index of keys (0, 0) per column

    def pair(a: Keys, b: Keys) -> Pairs:
        at = a.astype(np.int32) * KEYS + b.astype(np.int32) + base
        out: Pairs = flat[at]
        return out

    return pair, True


@dataclass(frozen=True, slots=True)
class RowVerdicts:
    """The rule applied to many gallery rows against one query (arrays aligned with the rows)."""

    is_match: npt.NDArray[np.bool_]
    compared: npt.NDArray[np.int64]
    mismatched: npt.NDArray[np.int64]
    wildcard: npt.NDArray[np.bool_]


def verify_rows(rows: Keys, query: Keys, rule: MicrovariantRule = "annex") -> RowVerdicts:
    """Apply the matching rule to `rows` (m, n_loci, 2) against `query` (n_loci, 2).

    This is also the naive full-scan matcher when `rows` is the whole gallery. `rule` is the
    micro-variant reading the keys were encoded with (the gallery's).
    """
    qt = np.flatnonzero(query[:, 1] != BLANK)
    q = query[qt]
    sub = rows[:, qt, :]
    a1, a2 = sub[..., 0], sub[..., 1]
    b1, b2 = q[:, 0], q[:, 1]
    a1w, a2w = a1 == WILDCARD, a2 == WILDCARD
    pair, wild_included = _pairs(rule, qt)
    if wild_included:
        straight = pair(a1, b1).astype(np.int8) + pair(a2, b2)
        crossed = pair(a1, b2).astype(np.int8) + pair(a2, b1)
    else:
        b1w, b2w = b1 == WILDCARD, b2 == WILDCARD
        straight = (pair(a1, b1) | a1w | b1w).astype(np.int8) + (pair(a2, b2) | a2w | b2w)
        crossed = (pair(a1, b2) | a1w | b2w).astype(np.int8) + (pair(a2, b1) | a2w | b1w)
    typed = a2 != BLANK
    mism = np.where(typed, 2 - np.maximum(straight, crossed), 0)
    q_full = b1 != WILDCARD  # sorted pairs: a wildcard, if any, is the first value
    full_both = typed & ~a1w & q_full
    wild = typed & (a1w | ~q_full)
    compared = typed.sum(axis=1)
    mismatched = mism.sum(axis=1)
    is_match = (full_both.sum(axis=1) >= MIN_FULL_LOCI) & (mismatched <= 1)
    return RowVerdicts(is_match, compared, mismatched, wild.any(axis=1))


Verdict = tuple[bool, int, int, bool]  # is_match, compared, mismatched, wildcard


def verify_few(
    row: Sequence[Sequence[int]],
    typed_query: Sequence[tuple[int, int, int]],
    rule: MicrovariantRule = "annex",
) -> Verdict:
    """`verify_rows` for one row in plain Python: `row` is one profile's keys as lists,
    `typed_query` the (locus, allele 1, allele 2) keys of the loci the query types. The same
    arithmetic as `verify_rows`, locus by locus (equality tested on generated profiles)."""
    compared = mismatched = full_both = 0
    wildcard = False
    annex = rule == "annex"
    for i, b1, b2 in typed_query:
        a1, a2 = row[i]
        if a2 == BLANK:
            continue  # not typed in the row: not compared
        a1w, a2w, b1w, b2w = a1 == WILDCARD, a2 == WILDCARD, b1 == WILDCARD, b2 == WILDCARD
        if annex:
            penta = bool(PENTA_COLUMNS[i])
            straight = related(a1, b1, penta) + related(a2, b2, penta)
            crossed = related(a1, b2, penta) + related(a2, b1, penta)
        else:
            straight = (a1 == b1 or a1w or b1w) + (a2 == b2 or a2w or b2w)
            crossed = (a1 == b2 or a1w or b2w) + (a2 == b1 or a2w or b1w)
        compared += 1
        mismatched += 2 - max(straight, crossed)
        if a1w or b1w:  # sorted pairs: a wildcard, if any, is the first value
            wildcard = True
        else:
            full_both += 1
    return full_both >= MIN_FULL_LOCI and mismatched <= 1, compared, mismatched, wildcard


def naive_search(gallery_keys: Keys, query: Keys, rule: MicrovariantRule = "annex") -> RowVerdicts:
    """The baseline: the rule over every row of an (N, loci, 2) array, no blocking."""
    return verify_rows(gallery_keys, query, rule)
