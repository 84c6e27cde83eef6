"""UK police identifiers: PNC ID, CRO number and Arrest Summons Number, with their check characters.

All three use the same check scheme: a decimal number built from the identifier's parts,
taken modulo 23, indexes the string `ZABCDEFGHJKLMNPQRTUVWXY` (A-Z without I, O and S;
remainder 0 is Z).

Sources (see ../shared/reference/prum-facts.md §6):
- PNC ID: https://www.criminaljusticehub.org.uk/jargon-buster/police-national-computer-id-pnc-id/
- CRO number: https://www.criminaljusticehub.org.uk/jargon-buster/criminal-records-office-number-cro/
- ASN: ministryofjustice/bichard7-next-core `core/phase1/lib/Asn.ts`.

Each `parse_*` function accepts the forms people type and returns the canonical form, or
raises `IdentifierError` saying what is wrong. Pure functions, no I/O.
"""

from __future__ import annotations

import re

CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"


class IdentifierError(ValueError):
    """An identifier that is malformed or whose check character does not verify."""


def check_letter(number: str) -> str:
    """The mod-23 check character of a string of digits."""
    return CHECK_LETTERS[int(number) % 23]


# --- PNC ID -------------------------------------------------------------------------------

# `YY/N..NA`, also the four-digit-year form `YYYY/NNNNNNNA` that the PNC prints in full.
_PNC = re.compile(r"^(?P<year>\d{2}|\d{4})/(?P<serial>\d{1,7})(?P<check>[A-Z])$")


def pnc_check_letter(year: int, serial: int) -> str:
    """Check letter of PNC ID `year/serial`: (YY followed by the 7-digit serial) mod 23."""
    return check_letter(f"{year % 100:02d}{serial:07d}")


def format_pnc(year: int, serial: int) -> str:
    """The canonical form `YY/NNNNNNNA` (serial zero-padded to seven digits)."""
    if not 0 <= serial <= 9_999_999:
        raise IdentifierError(f"PNC serial {serial} is out of range 0-9999999")
    yy = year % 100
    return f"{yy:02d}/{serial:07d}{pnc_check_letter(yy, serial)}"


def parse_pnc(text: str) -> str:
    """Verify a PNC ID and return it in canonical form (`99/1G` -> `99/0000001G`)."""
    m = _PNC.match(text.strip().upper())
    if m is None:
        raise IdentifierError(f"PNC ID {text!r} is not of the form YY/NNNNNNNA")
    year, serial = int(m["year"]), int(m["serial"])
    expected = pnc_check_letter(year, serial)
    if m["check"] != expected:
        raise IdentifierError(f"PNC ID {text!r} has check letter {m['check']}, expected {expected}")
    return format_pnc(year, serial)


# --- CRO number ---------------------------------------------------------------------------

_CRO = re.compile(r"^(?P<serial>\d{1,6})/(?P<year>\d{2})(?P<check>[A-Z])$")
_CRO_SF = re.compile(r"^SF(?P<year>\d{2})/(?P<serial>\d{1,6})(?P<check>[A-Z])$")


def cro_check_letter(year: int, serial: int) -> str:
    """Check letter of CRO number `serial/YY`: (YY followed by the 6-digit serial) mod 23."""
    return check_letter(f"{year:02d}{serial:06d}")


def sf_cro_check_letter(year: int, serial: int) -> str:
    """Check letter of an `SF` CRO number: `YYNNNNN` from 1965 on, `NNNNNN` before 1965."""
    if year >= 65:
        return check_letter(f"{year:02d}{serial:05d}")
    return check_letter(f"{serial:06d}")


def parse_cro(text: str) -> str:
    """Verify a CRO number (`NNNNNN/YYD` or `SFYY/NNNNND`) and return its canonical form.

    The canonical form suppresses leading zeros of the serial, as the CRO displays it.
    """
    value = text.strip().upper()
    if (m := _CRO.match(value)) is not None:
        year, serial = int(m["year"]), int(m["serial"])
        expected = cro_check_letter(year, serial)
        canonical = f"{serial}/{year:02d}{expected}"
    elif (m := _CRO_SF.match(value)) is not None:
        year, serial = int(m["year"]), int(m["serial"])
        if not 39 <= year <= 95:
            raise IdentifierError(f"CRO number {text!r}: SF year must be 39-95")
        if year >= 65 and serial > 99_999:
            raise IdentifierError(f"CRO number {text!r}: SF serial after 1964 has 5 digits")
        expected = sf_cro_check_letter(year, serial)
        canonical = f"SF{year:02d}/{serial}{expected}"
    else:
        raise IdentifierError(f"CRO number {text!r} is not of the form NNNNNN/YYD or SFYY/NNNNND")
    if m["check"] != expected:
        raise IdentifierError(
            f"CRO number {text!r} has check letter {m['check']}, expected {expected}"
        )
    return canonical


def format_cro(year: int, serial: int) -> str:
    return f"{serial}/{year % 100:02d}{cro_check_letter(year % 100, serial)}"


# --- Arrest Summons Number ------------------------------------------------------------------

# YY(2) force(2) unit(2) system(2) sequence(11) check(1); slashes optional (`YY/FFUU/SS/...`).
_ASN = re.compile(
    r"^(?P<year>\d{2})(?P<force>[A-Z0-9]{2})(?P<unit>[A-Z0-9]{2})(?P<system>[A-Z0-9]{2})"
    r"(?P<seq>\d{1,11})(?P<check>[A-Z])$"
)


def asn_check_letter(year: str, force: str, system: str, sequence: int) -> str:
    """Bichard7 `Asn.ts`: int(force + system + YY + 11-digit sequence) mod 23.

    The unit is not part of the number, and non-numeric characters of the force and system
    parts are dropped.
    """
    digits = "".join(c for c in force + system if c.isdigit()) + year + f"{sequence:011d}"
    return check_letter(digits)


def format_asn(year: int, force: str, unit: str, system: str, sequence: int) -> str:
    yy = f"{year % 100:02d}"
    check = asn_check_letter(yy, force, system, sequence)
    return f"{yy}{force}{unit}{system}{sequence:011d}{check}"


def parse_asn(text: str) -> str:
    """Verify an Arrest Summons Number and return its compact canonical form (20 characters)."""
    value = text.strip().upper().replace("/", "")
    m = _ASN.match(value)
    if m is None:
        raise IdentifierError(f"ASN {text!r} is not of the form YYFFUUSS + sequence + check letter")
    seq = int(m["seq"])
    expected = asn_check_letter(m["year"], m["force"], m["system"], seq)
    if m["check"] != expected:
        raise IdentifierError(f"ASN {text!r} has check letter {m['check']}, expected {expected}")
    return f"{m['year']}{m['force']}{m['unit']}{m['system']}{seq:011d}{m['check']}"
