"""Hypothesis strategies that build valid UK records and Prüm messages for the codec tests."""

from __future__ import annotations

import datetime as dt
import struct

from hypothesis import strategies as st

from exchange.countries import ALPHA2
from exchange.identifiers import format_asn, format_cro, format_pnc
from exchange.loci import DNA17, KNOWN_LOCI
from exchange.model import (
    DnaProfile,
    FaceTemplate,
    Finger,
    FingerprintSet,
    Identifiers,
    Impression,
    Minutia,
    MinutiaKind,
    PartialDate,
    PersonName,
    PersonRecord,
    SampleType,
    Sex,
)

pnc_ids = st.builds(format_pnc, st.integers(0, 99), st.integers(0, 9_999_999))
cro_numbers = st.builds(format_cro, st.integers(0, 99), st.integers(1, 999_999))
asns = st.builds(
    format_asn,
    st.integers(0, 99),
    st.from_regex(r"\A[0-9]{2}\Z"),
    st.from_regex(r"\A[A-Z0-9]{2}\Z"),
    st.from_regex(r"\A[0-9]{2}\Z"),
    st.integers(0, 99_999_999_999),
)
identifiers = st.builds(
    Identifiers,
    pnc_id=st.one_of(st.none(), pnc_ids),
    cro_number=st.one_of(st.none(), cro_numbers),
    asn=st.one_of(st.none(), asns),
)
references = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:/\-]{0,40}\Z")

# Names from several scripts; no control characters, no surrounding blanks.
_name_text = st.text(
    alphabet=st.characters(
        whitelist_categories=("Lu", "Ll"),
        max_codepoint=0x04FF,
    ),
    min_size=1,
    max_size=20,
)
names = st.builds(PersonName, family=_name_text, given=st.lists(_name_text, max_size=3).map(tuple))


@st.composite
def partial_dates(draw: st.DrawFn) -> PartialDate:
    d = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2030, 12, 31)))
    precision = draw(st.sampled_from(["year", "month", "day"]))
    if precision == "year":
        return PartialDate(d.year)
    if precision == "month":
        return PartialDate(d.year, d.month)
    return PartialDate(d.year, d.month, d.day)


_repeat = st.integers(5, 40).map(str)
_microvariant = st.tuples(st.integers(5, 40), st.integers(1, 3)).map(lambda t: f"{t[0]}.{t[1]}")
_codes = st.sampled_from(["*", "<8", ">30", "o", "f", "r", "na", "nr", "un", "ol"])
alleles = st.one_of(_repeat, _repeat, _microvariant, _codes)


@st.composite
def dna_profiles(draw: st.DrawFn) -> DnaProfile:
    chosen = draw(st.lists(st.sampled_from(KNOWN_LOCI), min_size=1, max_size=20, unique=True))
    loci: dict[str, tuple[str, ...]] = {}
    for locus in chosen:
        if locus == "AMEL":
            loci[locus] = draw(st.sampled_from([("X", "X"), ("X", "Y")]))
        else:
            n = draw(st.sampled_from([2, 2, 2, 3]))
            loci[locus] = tuple(draw(alleles) for _ in range(n))
    kit = draw(st.one_of(st.none(), st.sampled_from(["NGM SElect", "PowerPlex ESX 17"])))
    return DnaProfile(draw(st.sampled_from(SampleType)), loci, kit)


dna17_profiles = st.builds(
    lambda values, st_: DnaProfile(st_, dict(zip(DNA17, values, strict=True))),
    st.lists(st.tuples(_repeat, _repeat), min_size=len(DNA17), max_size=len(DNA17)).map(
        lambda vs: [v if i < len(DNA17) - 1 else ("X", "Y") for i, v in enumerate(vs)]
    ),
    st.sampled_from(SampleType),
)

minutiae = st.builds(
    Minutia,
    x=st.integers(0, 1000),
    y=st.integers(0, 1000),
    angle=st.integers(0, 359),
    kind=st.sampled_from(MinutiaKind),
    quality=st.integers(0, 100),
)


@st.composite
def fingerprint_sets(draw: st.DrawFn) -> FingerprintSet:
    positions = draw(st.lists(st.integers(1, 10), min_size=1, max_size=10, unique=True))
    fingers = tuple(
        Finger(p, tuple(draw(st.lists(minutiae, min_size=1, max_size=12)))) for p in positions
    )
    return FingerprintSet(fingers, draw(st.sampled_from(Impression)), 500)


@st.composite
def face_templates(draw: st.DrawFn) -> FaceTemplate:
    dim = draw(st.sampled_from([4, 16, 128, 512]))
    values = draw(st.lists(st.floats(-1, 1, allow_nan=False, width=32), min_size=dim, max_size=dim))
    if max(abs(v) for v in values) < 1e-6:  # a template needs a length (codecs.face_template)
        values[draw(st.integers(0, dim - 1))] = draw(st.sampled_from([0.5, -0.5]))
    return FaceTemplate("model-v1", struct.pack(f"<{dim}f", *values))


@st.composite
def records(draw: st.DrawFn) -> PersonRecord:
    ids = draw(identifiers)
    reference = draw(st.one_of(st.none(), references))
    if reference is None and not (ids.pnc_id or ids.cro_number or ids.asn):
        ids = Identifiers(pnc_id=draw(pnc_ids))
    return PersonRecord(
        identifiers=ids,
        name=draw(st.one_of(st.none(), names)),
        reference=reference,
        aliases=tuple(draw(st.lists(names, max_size=2))),
        date_of_birth=draw(st.one_of(st.none(), partial_dates())),
        sex=draw(st.sampled_from(Sex)),
        nationalities=tuple(
            draw(st.lists(st.sampled_from(sorted(ALPHA2)), max_size=3, unique=True))
        ),
        place_of_birth=draw(st.one_of(st.none(), _name_text)),
        dna=draw(st.one_of(st.none(), dna_profiles())),
        fingerprints=draw(st.one_of(st.none(), fingerprint_sets())),
        face=draw(st.one_of(st.none(), face_templates())),
    )
