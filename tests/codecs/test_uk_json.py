"""UK record JSON codec: the example record, round trips, and refusals that name the field."""

from __future__ import annotations

import base64
import binascii
import copy
import json
import struct
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

import schemas
from exchange.codecs import uk_json, xml_parts
from exchange.codecs.errors import CodecError, HostileInputError
from exchange.identifiers import check_letter
from exchange.loci import KNOWN_LOCI
from exchange.model import PersonRecord, SampleType
from tests.strategies import records

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "uk-record.json"


@pytest.fixture()
def example() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return doc


def _decode(doc: Any) -> PersonRecord:
    return uk_json.decode(json.dumps(doc).encode())


def test_example_record_decodes_completely(example: dict[str, Any]) -> None:
    rec = _decode(example)
    assert rec.identifiers.pnc_id == "12/1234567C"
    assert rec.identifiers.cro_number == "123456/08T"
    assert rec.identifiers.asn == "2401AB0000000123456V"
    assert rec.name is not None and rec.name.family == "Kowalska-Nováková"
    assert rec.nationalities == ("GB", "PL")  # alpha-3 POL normalised
    assert rec.dna is not None and rec.dna.sample_type is SampleType.REFERENCE
    assert len(rec.dna.loci) == 17 and rec.dna.loci["AMEL"] == ("X", "Y")
    assert rec.fingerprints is not None and len(rec.fingerprints.fingers) == 10
    assert rec.face is not None and rec.face.dim == 512


def test_example_record_is_valid_against_the_json_schema(example: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schemas.json_schema(schemas.UK_RECORD)).validate(example)


@given(records())
def test_encoded_records_decode_to_the_same_record_and_satisfy_the_schema(
    rec: PersonRecord,
) -> None:
    data = uk_json.encode(rec)
    jsonschema.Draft202012Validator(schemas.json_schema(schemas.UK_RECORD)).validate(
        json.loads(data)
    )
    assert uk_json.decode(data) == rec


def test_aliases_of_locus_names_are_normalised(example: dict[str, Any]) -> None:
    loci = example["dna"]["loci"]
    loci["VWA"] = loci.pop("vWA")
    loci["THO1"] = loci.pop("TH01")
    loci["Amelogenin"] = loci.pop("AMEL")
    loci["D3S1358"] = ["16"]  # a homozygote written once
    rec = _decode(example)
    assert rec.dna is not None
    assert {"vWA", "TH01", "AMEL"} <= set(rec.dna.loci)
    assert rec.dna.loci["D3S1358"] == ("16", "16")


def _set(doc: dict[str, Any], path: list[Any], value: Any) -> None:
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["identifiers", "pnc_id"], "12/1234567D", "identifiers.pnc_id"),
        (["identifiers", "cro_number"], "123456/08A", "identifiers.cro_number"),
        (["identifiers", "asn"], "2401AB0000000123456W", "identifiers.asn"),
        (["date_of_birth"], "1987-02-30", "date_of_birth"),
        (["date_of_birth"], "87-02-03", "date_of_birth"),
        (["date_of_birth"], "1700", "date_of_birth"),
        (["nationalities"], ["GB", "XZ"], "nationalities[1]"),
        (["sex"], "X", "sex"),
        (["dna", "loci", "vWA"], ["16", "abc"], "dna.loci.vWA[1]"),
        (["dna", "loci", "vWA"], ["16", "17", "18", "19"], "dna.loci.vWA"),
        (["dna", "loci", "vWA"], ["16", 17], "dna.loci.vWA[1]"),
        (["dna", "loci", "D99S999"], ["1", "2"], "dna.loci.D99S999"),
        (["dna", "loci", "AMEL"], ["X", "Z"], "dna.loci.AMEL[1]"),
        (["dna", "sample_type"], "blood", "dna.sample_type"),
        (["fingerprints", "fingers", 0, "position"], 39, "fingerprints.fingers[0].position"),
        (
            ["fingerprints", "fingers", 0, "minutiae", 0, "angle"],
            360,
            "fingerprints.fingers[0].minutiae[0].angle",
        ),
        (["face", "template"], "not base64!", "face.template"),
        (["face", "feature_model"], "bad model id", "face.feature_model"),
        (["name", "family"], "", "name.family"),
        (["name", "family"], "A\x00B", "name.family"),
        (["unexpected"], 1, "unexpected"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    example: dict[str, Any], path: list[Any], value: Any, field: str
) -> None:
    doc = copy.deepcopy(example)
    _set(doc, path, value)
    with pytest.raises(CodecError) as info:
        _decode(doc)
    assert info.value.field == field


def test_face_template_with_nan_or_ragged_length_is_refused(example: dict[str, Any]) -> None:
    nan = struct.pack("<4f", 0.1, float("nan"), 0.2, 0.3)
    example["face"]["template"] = base64.b64encode(nan).decode()
    with pytest.raises(CodecError, match="NaN"):
        _decode(example)
    example["face"]["template"] = base64.b64encode(b"\x00" * 7).decode()
    with pytest.raises(CodecError, match="float32"):
        _decode(example)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ([0.0] * 8, "all zeros"),
        ([1e-45] * 8, "all zeros"),  # subnormal: the squares underflow to a zero length
        ([3e38] * 8, "overflows float32"),
    ],
)
def test_a_face_template_with_no_usable_length_is_refused_by_name(
    example: dict[str, Any], values: list[float], reason: str
) -> None:
    example["face"]["template"] = base64.b64encode(struct.pack("<8f", *values)).decode()
    with pytest.raises(CodecError, match=reason) as err:
        _decode(example)
    assert err.value.field == "face.template"


def test_record_needs_an_identifier_or_reference() -> None:
    with pytest.raises(CodecError) as info:
        _decode({"name": {"family": "Smith"}})
    assert info.value.field == "identifiers"


def test_the_same_locus_twice_under_two_spellings_is_refused(example: dict[str, Any]) -> None:
    example["dna"]["loci"]["VWA"] = ["15", "16"]
    with pytest.raises(CodecError, match="twice"):
        _decode(example)


@pytest.mark.parametrize(
    "data",
    [
        b"{" * 100_000 + b"}" * 100_000,
        b'{"reference": "a", "reference": "b"}',
        b"\xff\xfe{}",
        b"[1, 2",
        b"x" * (uk_json.MAX_RECORD_BYTES + 1),
    ],
)
def test_hostile_or_broken_json_is_refused_with_a_typed_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        uk_json.decode(data)


def test_oversize_and_deep_json_are_hostile() -> None:
    with pytest.raises(HostileInputError):
        uk_json.decode(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(HostileInputError):
        uk_json.decode(b" " * (uk_json.MAX_RECORD_BYTES + 1))


# --- generated invalid values: each refusal names the field ---------------------------------

_bad_pnc = st.from_regex(r"\A\d{2}/\d{7}[A-Z]\Z").filter(
    lambda s: s[-1] != check_letter(s[:2] + s[3:10])
)
_bad_dates = st.one_of(
    st.from_regex(r"\A\d{4}-(1[3-9]|[2-9]\d|00)\Z"),  # month out of range
    st.from_regex(r"\A\d{4}-02-3[01]\Z"),  # no 30 or 31 February
    st.from_regex(r"\A1[0-7]\d\d(-\d\d)?\Z"),  # before 1850
    st.from_regex(r"\A\d{1,3}\Z|\A\d{4}/\d{2}\Z"),  # wrong shape
)
_bad_alleles = st.one_of(
    st.from_regex(r"\A\d{4,6}\Z"),
    st.from_regex(r"\A\d{1,2}\.\d{2,3}\Z"),
    st.from_regex(r"\A[a-z]{4,8}\Z"),
    st.just(""),
    st.just("-3"),
)
_bad_loci = st.from_regex(r"\A[A-Z]{1,3}\d{3,5}[A-Z]\Z").filter(
    lambda s: s.upper() not in {k.upper() for k in KNOWN_LOCI}
)


@given(_bad_pnc)
def test_generated_bad_pnc_ids_name_the_field(bad: str) -> None:
    with pytest.raises(CodecError) as info:
        _decode({"identifiers": {"pnc_id": bad}})
    assert info.value.field == "identifiers.pnc_id"


@given(_bad_dates)
def test_generated_bad_dates_name_the_field(bad: str) -> None:
    with pytest.raises(CodecError) as info:
        _decode({"reference": "r", "date_of_birth": bad})
    assert info.value.field == "date_of_birth"


@given(_bad_alleles, st.integers(0, 1))
def test_generated_bad_alleles_name_the_allele(bad: str, index: int) -> None:
    values = ["12", "13"]
    values[index] = bad
    doc = {"reference": "r", "dna": {"sample_type": "stain", "loci": {"FGA": values}}}
    with pytest.raises(CodecError) as info:
        _decode(doc)
    assert info.value.field == f"dna.loci.FGA[{index}]"


@given(_bad_loci)
def test_generated_unknown_loci_name_the_locus(bad: str) -> None:
    doc = {"reference": "r", "dna": {"sample_type": "stain", "loci": {bad: ["12", "13"]}}}
    with pytest.raises(CodecError) as info:
        _decode(doc)
    assert info.value.field == f"dna.loci.{bad}"


_BASE64ISH = st.text(alphabet="AQgw+/=9 \t\n\r\x00\x7fé-_", max_size=12)


@given(_BASE64ISH | st.binary(max_size=9).map(lambda b: base64.b64encode(b).decode()))
def test_base64_fields_accept_exactly_what_strict_b64decode_accepts(text: str) -> None:
    """`_b64` and `xml_parts.b64decode` decode in strict mode, without the regular
    expression `b64decode(validate=True)` runs first: the same texts pass, to the same bytes
    (an empty JSON field is refused as empty; an XML element's whitespace is not data)."""
    try:
        expected: bytes | None = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        expected = None
    try:
        got: bytes | None = uk_json._b64(text, "face.template")
    except CodecError as exc:
        assert exc.field == "face.template"
        got = None
    assert got == (None if text == "" else expected)
    try:
        xml_got: bytes | None = xml_parts.b64decode(text, "Template")
    except CodecError:
        xml_got = None
    try:
        xml_expected: bytes | None = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        xml_expected = None
    assert xml_got == xml_expected


LONG = "9" * 4301  # one digit more than Python converts by default (sys.get_int_max_str_digits)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"reference": "r1", "dna": {"loci": {"vWA": [' + LONG + "]}}}", "dna.loci.vWA[0]"),
        ('{"reference": "r1", "sex": -' + LONG + "}", "sex"),
        (LONG, "record"),
        ("[" + LONG + ", [[[", "record"),  # broken after the number: still this refusal
    ],
)
def test_an_integer_too_long_to_convert_is_refused_naming_its_field(text: str, field: str) -> None:
    with pytest.raises(CodecError, match="more than 4300 digits") as info:
        uk_json.decode(text.encode())
    assert info.value.field == field


@pytest.mark.parametrize("bad", ["\ud800", "\udfff", "\ufffe", "\uffff", "\x00", "\t", "\x7f"])
def test_a_string_xml_cannot_carry_is_refused_naming_its_field(
    example: dict[str, Any], bad: str
) -> None:
    example["place_of_birth"] = f"Lon{bad}don"
    with pytest.raises(CodecError, match=f"U\\+{ord(bad):04X}") as info:
        _decode(example)
    assert info.value.field == "place_of_birth"


def test_characters_xml_carries_beyond_the_bmp_and_private_use_are_kept(
    example: dict[str, Any],
) -> None:
    example["place_of_birth"] = "Lon\U0001f600don \ue000"
    assert _decode(example).place_of_birth == "Lon\U0001f600don \ue000"


def _arrays(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    if isinstance(node, list):
        return [a for i, v in enumerate(node) for a in _arrays(v, f"{path}[{i}]")]
    if not isinstance(node, dict):
        return []
    here = [(path, node)] if node.get("type") == "array" else []
    return here + [a for k, v in node.items() for a in _arrays(v, f"{path}/{k}")]


def test_every_array_of_the_record_schema_has_a_bound() -> None:
    arrays = _arrays(schemas.json_schema(schemas.UK_RECORD))
    assert arrays and all("maxItems" in a for _, a in arrays), [p for p, _ in arrays]


@pytest.mark.parametrize("bad", [["png"], {"png": 1}, 5, True])
@pytest.mark.parametrize("key", ["format", "compression"])
def test_a_face_image_format_that_is_no_string_is_refused_by_name(
    example: dict[str, Any], key: str, bad: Any
) -> None:
    """What the gateway fuzzer found (issue 23 item 15): a list as `face.image.format` was
    looked up in a set, a TypeError, so a 500 at the client API; now a CodecError naming it."""
    doc = copy.deepcopy(example)
    doc["face"] = {"image": {"format": "png", "data": base64.b64encode(b"\x89PNG").decode()}}
    doc["face"]["image"][key] = bad
    with pytest.raises(CodecError) as e:
        uk_json.decode(json.dumps(doc).encode())
    assert e.value.field == f"face.image.{key}"


def test_a_finger_image_compression_that_is_no_string_is_refused_by_name(
    example: dict[str, Any],
) -> None:
    doc = copy.deepcopy(example)
    image = {"compression": ["WSQ20"], "data": "AAAA", "width": 8, "height": 8}
    doc["fingerprints"] = {"fingers": [{"position": 1, "image": image}]}
    with pytest.raises(CodecError) as e:
        uk_json.decode(json.dumps(doc).encode())
    assert e.value.field == "fingerprints.fingers[0].image.compression"
