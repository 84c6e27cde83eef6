"""PNC ID, CRO number and ASN check characters (worked examples from shared/reference)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.identifiers import (
    IdentifierError,
    format_cro,
    format_pnc,
    parse_asn,
    parse_cro,
    parse_pnc,
    pnc_check_letter,
)


def test_pnc_worked_examples() -> None:
    assert pnc_check_letter(12, 1234567) == "C"  # 121234567 mod 23 = 3
    assert pnc_check_letter(99, 1) == "G"  # 990000001 mod 23 = 7
    assert parse_pnc("12/1234567C") == "12/1234567C"


def test_pnc_unpadded_and_long_year_forms_become_canonical() -> None:
    assert parse_pnc("99/1G") == "99/0000001G"
    assert parse_pnc(" 2012/1234567c ") == "12/1234567C"


@pytest.mark.parametrize("bad", ["12/1234567D", "12-1234567C", "12/12345678C", "1/1G", "", "12/C"])
def test_pnc_refused(bad: str) -> None:
    with pytest.raises(IdentifierError):
        parse_pnc(bad)


@given(st.integers(0, 99), st.integers(0, 9_999_999))
def test_pnc_format_parses_back(year: int, serial: int) -> None:
    canonical = format_pnc(year, serial)
    assert parse_pnc(canonical) == canonical
    assert parse_pnc(f"{year:02d}/{serial}{canonical[-1]}") == canonical


@given(st.integers(0, 99), st.integers(0, 9_999_999), st.sampled_from("ABCDEFGHJKLMNPQRTUVWXYZ"))
def test_pnc_only_the_right_letter_verifies(year: int, serial: int, letter: str) -> None:
    text = f"{year:02d}/{serial:07d}{letter}"
    if letter == format_pnc(year, serial)[-1]:
        assert parse_pnc(text) == text
    else:
        with pytest.raises(IdentifierError, match="check letter"):
            parse_pnc(text)


def test_cro_forms() -> None:
    assert parse_cro("123456/08T") == "123456/08T"
    assert parse_cro("000123/08" + format_cro(8, 123)[-1]) == format_cro(8, 123)
    with pytest.raises(IdentifierError):
        parse_cro("123456/08A")


def test_cro_sf_forms_use_the_year_rule() -> None:
    # From 1965 the SF value is YY + 5-digit serial; before, the 6-digit serial alone.
    from exchange.identifiers import CHECK_LETTERS

    late = CHECK_LETTERS[int("70" + "01234") % 23]
    early = CHECK_LETTERS[int("001234") % 23]
    assert parse_cro(f"SF70/1234{late}") == f"SF70/1234{late}"
    assert parse_cro(f"sf50/1234{early}") == f"SF50/1234{early}"
    with pytest.raises(IdentifierError):
        parse_cro(f"SF99/1234{late}")  # SF years run 39-95


def test_asn_worked_example_and_display_form() -> None:
    assert parse_asn("2401AB0000000123456V") == "2401AB0000000123456V"
    # Displayed with slashes after characters 2, 6 and 8 (bichard7 `splitAsn`).
    assert parse_asn("24/01AB/00/00000123456V") == "2401AB0000000123456V"
    with pytest.raises(IdentifierError):
        parse_asn("2401AB0000000123456W")
