"""DNA profiles under the Prüm rules: locus names, allele values, inclusion rules, encoding.

Source: Council Decision 2008/616/JHA, Annex, Chapter 1 ("Exchange of DNA-data"), section 1.1
("Properties of DNA-profile"): the 24 Interpol loci, the 7 ESS loci, the inclusion rules
(at least 6 full designated loci; reference profiles at least 6 of the 7 ESS loci) and the
"wild-cards and micro-variants" rules. English text: legislation.gov.uk/eudn/2008/616/annexes;
French OJ L 210 of 6.8.2008, p. 20. The five loci added to the ESS by Council Resolution
2009/C 296/01 (D1S1656, D2S441, D10S1248, D12S391, D22S1045) and SE33 (UK DNA-17) are accepted
as well. See shared/reference/prum-facts.md §1 for what was and was not confirmed.

Rules applied when a profile is encoded (section 1.1, "wild-cards and micro-variants"):

- mixed profiles are not allowed: a locus holds two values, equal for a homozygote; a single
  value is read as a homozygote; more than three values raise `ProfileError`;
- three values at a locus: the first is kept and the other two become the wildcard `*`;
- the numeric values 0, 1 and 99 and any non-numeric value (o, f, r, na, nr, un, ...) become `*`;
- amelogenin is the one non-numeric locus that is kept; it takes no part in matching and is
  not counted among the compared loci (a sex marker, not an identity locus);
- a locus whose two values are both `*` carries no information and is treated as blank.

Micro-variants: under the default rule ``"annex"`` a micro-variant is matched by the annex's
tables (`matchers.microvariants`: 9.3 matches 9.2, 9.3 and 10 at a tetranucleotide locus, not
9; Penta D, Penta E and CD4 have their own table up to x.4), and a fraction the tables do not
list (9.4 at a tetranucleotide locus, 12.5 at a pentanucleotide one) is kept and compared
exactly, as its own value. Source: prum-facts.md §1, the entry marked [R] on the two tables
(recalled from the Official Journal text; no copy reachable here carries them), which is why
the reading stays selectable. Two older readings remain for comparison and for galleries
built with them: ``"repeat"`` compares an allele by its whole-repeat part (9.3 as 9) and
``"exact"`` compares designations as written; under both, a fraction of a repeat length or
more (9.4 at a tetranucleotide locus) is not a designation and becomes `*`.

All-wildcard loci: a locus whose two values are both `*` (``na,na``; or a third allele whose
first value is non-numeric, ``na,12,13``, which the rule above makes ``*,*``) is not a full
designated locus and never counts towards the six. It is also not compared: it is stored as
blank. The wildcard flag tells the person validating a hit that an allele was paired by a
wildcard, so the claimed agreement is weaker than it reads; at a ``*,*`` locus no allele is
paired with anything and nothing is claimed, so the match stands on the other loci exactly
as if the locus were untyped, and flagging it would mark as uncertain a match whose every
compared allele is designated. (The annex says a wildcard "is searched against all values";
two of them at one locus carry no value to search with.)

Encoding: each allele becomes an int16 key in tenths of a repeat (9.3 -> 93), 0 for blank and
-1 for `*`; a profile is an (n_loci, 2) array in `LOCI` order, each pair sorted ascending.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from matchers.errors import ProfileError

ProfileType = Literal["reference", "stain"]
MicrovariantRule = Literal["annex", "repeat", "exact"]
MICROVARIANT_RULES: tuple[MicrovariantRule, ...] = ("annex", "repeat", "exact")

#: Identity loci in column order: the 7 original ESS loci, the 5 added by 2009/C 296/01,
#: SE33 and the other loci of the 2008/616 table. Amelogenin is not a column.
LOCI: tuple[str, ...] = (
    "vWA", "TH01", "D21S11", "FGA", "D8S1179", "D3S1358", "D18S51",
    "D1S1656", "D2S441", "D10S1248", "D12S391", "D22S1045",
    "D16S539", "D2S1338", "D19S433", "SE33",
    "TPOX", "CSF1PO", "D13S317", "D7S820", "D5S818",
    "Penta D", "Penta E", "FES", "F13A1", "F13B", "CD4", "GABA",
)  # fmt: skip
AMELOGENIN = "AMEL"
#: The 7 original ESS / ISSOL loci (2008/616 Annex ch. 1 §1.1).
ESS_LOCI: tuple[str, ...] = LOCI[:7]
#: The UK DNA-17 identity loci (NDNAD since 2014), in `LOCI` order.
DNA17_LOCI: tuple[str, ...] = LOCI[:16]
PENTANUCLEOTIDE_LOCI = frozenset({"Penta D", "Penta E", "CD4"})

MIN_FULL_LOCI = 6
MIN_ESS_LOCI_FOR_REFERENCE = 6
WILDCARD = -1
BLANK = 0
MAX_ALLELE = 99  # 99 itself is a wildcard value; anything above is not an STR designation

LOCUS_INDEX: dict[str, int] = {name: i for i, name in enumerate(LOCI)}


def _alias_key(name: str) -> str:
    return re.sub(r"[\s_\-.]", "", name).upper()


_ALIASES: dict[str, str] = {_alias_key(n): n for n in (*LOCI, AMELOGENIN)}
_ALIASES.update(
    {
        "THO1": "TH01",  # letter O for zero, common in lab exports
        "CSF1P0": "CSF1PO",  # the annex's own spelling
        "AMELOGENIN": AMELOGENIN,
        "AM": AMELOGENIN,
        "AMG": AMELOGENIN,
        "PENTAD": "Penta D",
        "PENTAE": "Penta E",
        "D21S11": "D21S11",
    }
)

_NUMERIC = re.compile(r"^(\d{1,3})(?:\.(\d))?$")
_SPLIT = re.compile(r"[,/;\s]+")


@lru_cache(maxsize=1024)  # a few dozen spellings; every probe and enrolment asks (hot path)
def canonical_locus(name: str) -> str:
    """The canonical name of a locus, from any case-insensitive alias (VWA, THO1, Amelogenin)."""
    try:
        return _ALIASES[_alias_key(name)]
    except KeyError:
        raise ProfileError("unknown locus", locus=name) from None


def allele_key(value: str, locus: str, rule: MicrovariantRule = "annex") -> int:
    """The int16 key of one allele value at `locus` (canonical name), wildcards applied."""
    text = value.strip()
    match = _NUMERIC.match(text)
    if match is None:
        return WILDCARD  # non-numeric (o, f, r, na, nr, un, *, ...)
    whole = int(match.group(1))
    frac = int(match.group(2) or 0)
    if whole > MAX_ALLELE:
        raise ProfileError(f"allele value {text!r} is not an STR designation", locus=locus)
    if frac == 0 and whole in (0, 1, 99):
        return WILDCARD
    if rule == "annex":
        return whole * 10 + frac  # unlisted fractions too: compared exactly
    repeat = 5 if locus in PENTANUCLEOTIDE_LOCI else 4
    if frac >= repeat:
        return WILDCARD  # an impossible micro-variant is no designation
    if rule == "repeat":
        frac = 0
    return whole * 10 + frac


def _values(raw: Sequence[str] | str) -> list[str]:
    if isinstance(raw, str):
        return [v for v in _SPLIT.split(raw.strip()) if v]
    return [str(v).strip() for v in raw if str(v).strip()]


def locus_pair(raw: Sequence[str] | str, locus: str, rule: MicrovariantRule) -> tuple[int, int]:
    """The sorted key pair of one locus, (0, 0) when blank."""
    return _locus_pair(raw if isinstance(raw, str) else tuple(raw), locus, rule)


@lru_cache(maxsize=65536)  # the genotypes met in practice: a few thousand per locus at most
def _locus_pair(raw: tuple[str, ...] | str, locus: str, rule: MicrovariantRule) -> tuple[int, int]:
    """`locus_pair` of a hashable spelling; a pure function, so cached (the probe hot path)."""
    values = _values(raw)
    if len(values) > 3:
        raise ProfileError(f"{len(values)} alleles: mixed profiles are not allowed", locus=locus)
    if not values:
        return (BLANK, BLANK)
    keys = [allele_key(v, locus, rule) for v in values]
    if len(keys) == 1:
        keys.append(keys[0])
    elif len(keys) == 3:
        keys = [keys[0], WILDCARD]
    a, b = sorted(keys)
    if a == WILDCARD and b == WILDCARD:
        return (BLANK, BLANK)
    return (a, b)


@dataclass(frozen=True, slots=True)
class EncodedProfile:
    """A profile after the rules: `keys` is (len(LOCI), 2) int16; counts for the checks."""

    keys: npt.NDArray[np.int16]
    full_loci: int
    ess_loci: int
    amelogenin: tuple[str, ...]


def encode_profile(
    loci: Mapping[str, Sequence[str] | str],
    profile_type: ProfileType = "reference",
    rule: MicrovariantRule = "annex",
) -> EncodedProfile:
    """Apply the 2008/616 rules to a locus -> alleles mapping; raise `ProfileError` if unusable."""
    # Pairs gathered in a list and counted in Python, made an array once: per-locus numpy
    # item writes and the counting on the array cost more than the rules themselves (a probe
    # is encoded on every search).
    pairs: list[tuple[int, int]] = [(BLANK, BLANK)] * len(LOCI)
    seen: set[str] = set()
    amel: tuple[str, ...] = ()
    for raw_name, raw_values in loci.items():
        name = canonical_locus(raw_name)
        if name in seen:
            raise ProfileError("locus given twice (under two aliases)", locus=name)
        seen.add(name)
        if name == AMELOGENIN:
            amel = tuple(v.upper() for v in _values(raw_values))
            continue
        pairs[LOCUS_INDEX[name]] = locus_pair(raw_values, name, rule)
    keys = np.array(pairs, dtype=np.int16)
    full = [a > 0 and b > 0 for a, b in pairs]
    n_full = sum(full)
    n_ess = sum(full[: len(ESS_LOCI)])
    if n_full < MIN_FULL_LOCI:
        raise ProfileError(
            f"{n_full} full designated loci, at least {MIN_FULL_LOCI} are required "
            "(2008/616 Annex ch. 1 §1.1, amelogenin not counted)"
        )
    if profile_type == "reference" and n_ess < MIN_ESS_LOCI_FOR_REFERENCE:
        raise ProfileError(
            f"reference profile has {n_ess} of the 7 ESS loci, at least "
            f"{MIN_ESS_LOCI_FOR_REFERENCE} are required (2008/616 Annex ch. 1 §1.1)"
        )
    return EncodedProfile(keys=keys, full_loci=n_full, ess_loci=n_ess, amelogenin=amel)


def key_text(key: int) -> str:
    """The allele string of a key: '*' for a wildcard, '' for blank, '9.3' or '12'."""
    if key == WILDCARD:
        return "*"
    if key == BLANK:
        return ""
    whole, frac = divmod(int(key), 10)
    return f"{whole}.{frac}" if frac else str(whole)


def decode_keys(keys: npt.NDArray[np.int16]) -> dict[str, list[str]]:
    """The locus -> allele strings mapping of an encoded profile (blank loci left out)."""
    out: dict[str, list[str]] = {}
    for i, name in enumerate(LOCI):
        a, b = int(keys[i, 0]), int(keys[i, 1])
        if a == BLANK and b == BLANK:
            continue
        out[name] = [key_text(a), key_text(b)]
    return out
