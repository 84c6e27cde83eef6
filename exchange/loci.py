"""DNA locus names and allele values as they may appear in UK and partner records.

Locus names are normalised to one spelling (`VWA`, `vWA` -> `vWA`; `THO1` -> `TH01`;
`Amelogenin` -> `AMEL`). The known loci are the UK DNA-17 set (12 European Standard Set loci
plus D16S539, D2S1338, D19S433, SE33 and amelogenin; gov.uk "DNA population data to support
the implementation of NDNAD DNA-17 profiling") and the other loci of the Decision
2008/616/JHA Annex chapter 1 table (TPOX, CSF1PO, D13S317, D7S820, D5S818, Penta D, Penta E,
FES, F13A1, F13B, CD4, GABA), so that partner profiles typed with other kits are accepted.

Allele values stay strings. Accepted: repeat numbers (`12`), micro-variants with one digit
after the point (`9.3`), the wildcard `*`, off-ladder notations (`<8`, `>20`), the
non-numeric codes the Annex names as wildcard sources (o, f, r, na,
nr, un, and `OL`), and `X`/`Y` for amelogenin. What each means for matching is decided in
`matchers.dna`.
"""

from __future__ import annotations

import re
from functools import lru_cache

ESS_ORIGINAL = ("vWA", "TH01", "D21S11", "FGA", "D8S1179", "D3S1358", "D18S51")
ESS = (*ESS_ORIGINAL, "D1S1656", "D2S441", "D10S1248", "D12S391", "D22S1045")
DNA17 = (*ESS, "D16S539", "D2S1338", "D19S433", "SE33", "AMEL")
OTHER_PRUM = (
    "TPOX",
    "CSF1PO",
    "D13S317",
    "D7S820",
    "D5S818",
    "PentaD",
    "PentaE",
    "FES",
    "F13A1",
    "F13B",
    "CD4",
    "GABA",
)
KNOWN_LOCI = (*DNA17, *OTHER_PRUM)
AMELOGENIN = "AMEL"

_BY_KEY = {name.upper(): name for name in KNOWN_LOCI}
_ALIASES = {"AMELOGENIN": "AMEL", "AM": "AMEL", "CSF1P0": "CSF1PO", "FESFPS": "FES"}

_NUMERIC = re.compile(r"^\d{1,3}(\.\d)?$")
_OFF_LADDER = re.compile(r"^[<>]\d{1,3}(\.\d)?$")
_CODES = frozenset({"O", "F", "R", "NA", "NR", "UN", "OL"})
MAX_ALLELES = 3


class LocusError(ValueError):
    """An unknown locus name or an allele value that is not one of the accepted forms."""


@lru_cache(maxsize=1024)  # a few dozen spellings in practice; every record and message asks
def normalise_locus(name: str) -> str:
    """The canonical spelling of a locus name, or LocusError if the locus is not known."""
    key = re.sub(r"[\s_\-]", "", name).upper()
    key = _ALIASES.get(key, key)
    if key.startswith("TH") and key[2:] in {"O1", "01"}:
        key = "TH01"
    if key in _BY_KEY:
        return _BY_KEY[key]
    raise LocusError(f"unknown locus {name!r}")


@lru_cache(maxsize=8192)  # (locus, value) pairs seen in practice number a few thousand
def normalise_allele(locus: str, value: str) -> str:
    """Check one allele value for a (canonical) locus and return its canonical spelling."""
    v = value.strip().upper()
    if locus == AMELOGENIN:
        if v in {"X", "Y", "*"}:
            return v
        raise LocusError(f"amelogenin value {value!r} is not X or Y")
    if v == "*" or _NUMERIC.match(v) or _OFF_LADDER.match(v):
        return v
    if v in _CODES:
        return v.lower()
    raise LocusError(f"allele value {value!r} is not a repeat number, micro-variant or code")


def normalise_alleles(locus: str, values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Alleles of one locus: 1 to 3 values; a single value is a homozygote and is doubled."""
    if not 1 <= len(values) <= MAX_ALLELES:
        raise LocusError(f"{len(values)} alleles at one locus (1 to {MAX_ALLELES} allowed)")
    alleles = tuple(normalise_allele(locus, v) for v in values)
    return alleles * 2 if len(alleles) == 1 else alleles
