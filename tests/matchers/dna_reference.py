"""The Prüm DNA comparison written from the rule text alone: slow, plain, for tests.

Nothing here comes from `matchers`: no keys, no codes, no index. It reads two profiles as the
strings a laboratory writes and applies the rules as `../shared/reference/prum-facts.md` §1
states them (Council Decision 2008/616/JHA, Annex ch. 1 §1.1, "wild-cards and micro-variants",
the tables marked [R] there), one sentence at a time:

- each locus holds two values, a single value is a homozygote; of three, the first is kept
  and the other two become the wildcard; non-numeric values and 0, 1, 99 are wildcards;
- a micro-variant is matched by its table: tetranucleotide loci x.1 = x, x.1, x.2;
  x.2 = x.1, x.2, x.3; x.3 = x.2, x.3, x+1; pentanucleotide loci (Penta D, Penta E, CD4)
  x.1 = x, x.1, x.2; x.2 = x.1, x.2, x.3; x.3 = x.2, x.3, x.4; x.4 = x.3, x.4, x+1;
  read as a symmetric relation; a fraction the table does not list is its own value;
- only loci typed in both profiles are compared (amelogenin never); a locus whose two values
  are both wildcards is not typed (the project's reading, `matchers.dna_profile`);
- at least 6 compared loci must be full designated (no wildcard) in both profiles;
- a match differs by at most one allele (full: none, near: one), the alleles of a locus
  paired whichever way pairs more; a match that compared any wildcard is flagged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

PENTANUCLEOTIDE = {"Penta D", "Penta E", "CD4"}
WILD = "*"
# The tables: fraction -> the designations it matches, as (whole-repeat step, fraction).
TETRA = {1: [(0, 0), (0, 1), (0, 2)], 2: [(0, 1), (0, 2), (0, 3)], 3: [(0, 2), (0, 3), (1, 0)]}
PENTA = {
    1: [(0, 0), (0, 1), (0, 2)],
    2: [(0, 1), (0, 2), (0, 3)],
    3: [(0, 2), (0, 3), (0, 4)],
    4: [(0, 3), (0, 4), (1, 0)],
}
Verdict = tuple[bool, int, int, bool]  # is a match, loci compared, alleles mismatched, wildcard


def value(text: str) -> tuple[int, int] | str:
    """One allele as (repeats, fraction), or the wildcard."""
    m = re.fullmatch(r"(\d{1,3})(?:\.(\d))?", text.strip())
    if m is None:
        return WILD
    whole, frac = int(m.group(1)), int(m.group(2) or 0)
    if frac == 0 and whole in (0, 1, 99):
        return WILD
    return (whole, frac)


def locus_values(raw: Sequence[str]) -> list[tuple[int, int] | str] | None:
    """The two values of a locus, or None if it is not typed."""
    values = [value(v) for v in raw if v.strip()]
    if not values:
        return None
    if len(values) == 1:
        values = values * 2
    if len(values) == 3:
        values = [values[0], WILD]
    if values == [WILD, WILD]:
        return None
    return values


def listed(a: tuple[int, int], b: tuple[int, int], locus: str) -> bool:
    """b is in a's row of the table."""
    table = PENTA if locus in PENTANUCLEOTIDE else TETRA
    row = table.get(a[1])
    return row is not None and any((a[0] + step, frac) == b for step, frac in row)


def same(a: tuple[int, int] | str, b: tuple[int, int] | str, locus: str) -> bool:
    if WILD in (a, b) or a == b:
        return True
    assert isinstance(a, tuple) and isinstance(b, tuple)
    return listed(a, b, locus) or listed(b, a, locus)


def compare(query: Mapping[str, Sequence[str]], row: Mapping[str, Sequence[str]]) -> Verdict:
    compared = mismatched = full = 0
    wildcard = False
    for locus, raw in query.items():
        if locus == "AMEL" or locus not in row:
            continue
        a, b = locus_values(raw), locus_values(row[locus])
        if a is None or b is None:
            continue
        compared += 1
        straight = same(a[0], b[0], locus) + same(a[1], b[1], locus)
        crossed = same(a[0], b[1], locus) + same(a[1], b[0], locus)
        mismatched += 2 - max(straight, crossed)
        if WILD in a or WILD in b:
            wildcard = True
        else:
            full += 1
    return full >= 6 and mismatched <= 1, compared, mismatched, wildcard
