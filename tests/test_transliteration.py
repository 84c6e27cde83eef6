"""ICAO 9303 Latin transliteration of names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.transliteration import transliterate


@pytest.mark.parametrize(
    ("name", "latin"),
    [
        ("Müller", "MUELLER"),
        ("Ørsted", "OERSTED"),
        ("Åsa Ærø", "AASA AEROE"),
        ("Straße", "STRASSE"),
        ("Żółć-Łąka", "ZOLC-LAKA"),
        ("O'Brien", "OBRIEN"),
        ("Иванов", "IVANOV"),
        ("Щукин", "SHCHUKIN"),
        ("Юлия", "IULIIA"),
        ("Σωκράτης", "SOKRATIS"),
        ("Þórður", "THORDUR"),
    ],
)
def test_icao_9303_examples(name: str, latin: str) -> None:
    result = transliterate(name)
    assert result == (latin, True)


def test_scripts_without_a_table_are_reported_incomplete() -> None:
    assert transliterate("王 Wang") == ("WANG", False)


@given(st.text(max_size=40))
def test_output_is_always_plain_latin(name: str) -> None:
    text, _ = transliterate(name)
    assert all(c == " " or c == "-" or "A" <= c <= "Z" for c in text)
    assert text == text.strip()
