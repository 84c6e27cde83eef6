"""Which allele designations match which: the annex's micro-variant tables as a relation on keys.

Council Decision 2008/616/JHA, Annex ch. 1 §1.1 ("wild-cards and micro-variants"), as recalled
in `../shared/reference/prum-facts.md` §1, entry [R] "The two tables themselves" (read from the
Official Journal text, OJ L 210, 6.8.2008; no copy reachable from here carries them, so that
entry is the source to cite, and the reading stays selectable: `MicrovariantRule`):

- tetranucleotide loci (all but the three below): x.1 = x, x.1, x.2; x.2 = x.1, x.2, x.3;
  x.3 = x.2, x.3, x+1;
- pentanucleotide loci (Penta D, Penta E, CD4): x.1 = x, x.1, x.2; x.2 = x.1, x.2, x.3;
  x.3 = x.2, x.3, x.4; x.4 = x.3, x.4, x+1.

Read as a relation between two designations: a matches b when b is in a's row or a in b's,
so it is symmetric (9 matches 9.1 because 9.1's row lists 9) and not transitive (9.1 matches
9 and 9.2, which do not match each other). At a tetranucleotide locus 9.3 matches 9.2, 9.3 and
10, not 9. A fraction the tables do not list (x.4 and above at a tetranucleotide locus, x.5 and
above at a pentanucleotide one) has no rule: it is compared exactly, as its own value.

Keys are `matchers.dna_profile` allele keys (tenths of a repeat: 9.3 -> 93; -1 wildcard, 0
blank). `RELATED` is the relation for whole arrays (a lookup table, wildcard included),
`neighbours` for one key (the query side of the blocking index).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

WILDCARD = -1  # as matchers.dna_profile (imported from there would be a cycle)
KEYS = 1024  # keys run -1 .. 999; a table axis is key + 1
# Each listed fraction's row, as offsets in tenths from the whole repeat (x.0): x.3 -> x+1 is 10.
TETRA_ROWS: dict[int, tuple[int, ...]] = {1: (0, 1, 2), 2: (1, 2, 3), 3: (2, 3, 10)}
PENTA_ROWS: dict[int, tuple[int, ...]] = {1: (0, 1, 2), 2: (1, 2, 3), 3: (2, 3, 4), 4: (3, 4, 10)}


def _rows(penta: bool) -> dict[int, tuple[int, ...]]:
    return PENTA_ROWS if penta else TETRA_ROWS


@cache
def _neighbour_table(penta: bool) -> tuple[frozenset[int], ...]:
    """Keys 0..999 -> the keys they match (themselves included), symmetrised."""
    related: list[set[int]] = [{k} for k in range(KEYS - 1)]
    for key in range(1, KEYS - 1):
        whole, frac = divmod(key, 10)
        for offset in _rows(penta).get(frac, ()):
            other = whole * 10 + offset
            if 0 < other < KEYS - 1:  # 0 is blank, never a designation
                related[key].add(other)
                related[other].add(key)
    return tuple(frozenset(r) for r in related)


def neighbours(key: int, penta: bool) -> frozenset[int]:
    """The designations `key` matches, itself included (a wildcard is not expanded here)."""
    return _neighbour_table(penta)[key]


def related(a: int, b: int, penta: bool) -> bool:
    """Whether two keys match: equal, related by the tables, or either a wildcard."""
    if a == WILDCARD or b == WILDCARD:
        return True
    return b in _neighbour_table(penta)[a]


@cache
def related_table() -> npt.NDArray[np.bool_]:
    """(2, KEYS, KEYS) bool: [penta, a + 1, b + 1] says whether keys a and b match."""
    table = np.zeros((2, KEYS, KEYS), dtype=np.bool_)
    for penta in (0, 1):
        table[penta, 0, :] = table[penta, :, 0] = True  # the wildcard matches any value
        for key, others in enumerate(_neighbour_table(bool(penta))):
            table[penta, key + 1, [o + 1 for o in others]] = True
    table.setflags(write=False)
    return table
