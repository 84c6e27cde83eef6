"""Latin transliteration of names for partners, after ICAO Doc 9303 Part 3, section 6.

ICAO 9303 (machine readable travel documents) sets how national characters are written in
the 26 Latin letters: multi-letter equivalents for a few Latin-extended letters (Ä→AE, Ö→OE,
Ü→UE, Å→AA, ß→SS, Æ→AE, Ø→OE, Þ→TH, Ĳ→IJ, Œ→OE), plain base letters for the other
accented letters, and tables for Cyrillic and Greek. Names are upper-cased; spaces, hyphens
separate name parts; apostrophes are left out. Characters of scripts without a table here (Arabic,
Chinese, ...) are dropped, and `transliterate` says so through `complete=False`, so a
caller can send the original Unicode beside it.
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

_LATIN_SPECIAL = {
    "Ä": "AE",
    "Å": "AA",
    "Æ": "AE",
    "Ĳ": "IJ",
    "Ö": "OE",
    "Ø": "OE",
    "Œ": "OE",
    "ß": "SS",
    "ẞ": "SS",
    "Ü": "UE",
    "Þ": "TH",
    "Ð": "D",
    "Đ": "D",
    "Ł": "L",
    "Ħ": "H",
    "Ŋ": "N",
    "Ŧ": "T",
    "İ": "I",
    "ı": "I",
}

_CYRILLIC = {
    "А": "A",
    "Б": "B",
    "В": "V",
    "Г": "G",
    "Ґ": "G",
    "Д": "D",
    "Ђ": "D",
    "Ѓ": "G",
    "Е": "E",
    "Ё": "E",
    "Є": "IE",
    "Ж": "ZH",
    "З": "Z",
    "Ѕ": "DZ",
    "И": "I",
    "І": "I",
    "Ї": "I",
    "Й": "I",
    "Ј": "J",
    "К": "K",
    "Ќ": "K",
    "Л": "L",
    "Љ": "LJ",
    "М": "M",
    "Н": "N",
    "Њ": "NJ",
    "О": "O",
    "П": "P",
    "Р": "R",
    "С": "S",
    "Т": "T",
    "Ћ": "C",
    "У": "U",
    "Ў": "U",
    "Ф": "F",
    "Х": "KH",
    "Ц": "TS",
    "Ч": "CH",
    "Џ": "DZ",
    "Ш": "SH",
    "Щ": "SHCH",
    "Ъ": "IE",
    "Ы": "Y",
    "Ь": "",
    "Э": "E",
    "Ю": "IU",
    "Я": "IA",
}

_GREEK = {
    "Α": "A",
    "Β": "V",
    "Γ": "G",
    "Δ": "D",
    "Ε": "E",
    "Ζ": "Z",
    "Η": "I",
    "Θ": "TH",
    "Ι": "I",
    "Κ": "K",
    "Λ": "L",
    "Μ": "M",
    "Ν": "N",
    "Ξ": "X",
    "Ο": "O",
    "Π": "P",
    "Ρ": "R",
    "Σ": "S",
    "Τ": "T",
    "Υ": "Y",
    "Φ": "F",
    "Χ": "CH",
    "Ψ": "PS",
    "Ω": "O",
}

_SEPARATORS = {" ", "-"}
_OMITTED = {"'", "’", ".", ","}  # ICAO 9303: apostrophes and punctuation are left out


class Transliteration(NamedTuple):
    text: str
    complete: bool


def _letter(ch: str) -> str | None:
    """The Latin equivalent of one upper-cased character, or None if it has none."""
    if "A" <= ch <= "Z":
        return ch
    for table in (_LATIN_SPECIAL, _CYRILLIC, _GREEK):
        if ch in table:
            return table[ch]
    base = unicodedata.normalize("NFD", ch)[0]
    if base != ch:
        return _letter(base)
    return None


def transliterate(name: str) -> Transliteration:
    """ICAO 9303 Latin form of a name: A-Z, spaces and hyphens only, upper case."""
    out: list[str] = []
    complete = True
    for ch in unicodedata.normalize("NFC", name).upper():
        if ch in _OMITTED:
            continue
        if ch in _SEPARATORS:
            out.append("-" if ch == "-" else " ")
            continue
        if ch.isdigit():
            complete = False
            continue
        latin = _letter(ch)
        if latin is None:
            complete = False
        else:
            out.append(latin)
    text = " ".join("".join(out).split())
    return Transliteration(text, complete)
