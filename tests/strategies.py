"""Hypothesis strategies that build valid UK records and Prüm messages for the codec tests."""

from __future__ import annotations

import datetime as dt
import struct

from hypothesis import strategies as st

from exchange.codecs import int_i_codes, int_i_traditional
from exchange.codecs.int_i_model import (
    Agency,
    BiometricRecord,
    Candidates,
    CountryReference,
    ErrorMessage,
    IncitsMinutia,
    IntiTransaction,
    Offence,
    SubjectData,
    TraditionalField,
    Type1,
    Type2,
)
from exchange.codecs.int_i_traditional_prints import FILLED, TYPED
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


# --- INT-I v6 transactions (the model of `exchange.codecs.int_i_model`) --------------------
# What the traditional encoding carries: Latin-1 text without separators, no XML parts.

_latin1 = st.text(
    alphabet=st.characters(
        min_codepoint=0x20, max_codepoint=0xFF, blacklist_categories=("Cc", "Cs")
    ),
    min_size=1,
    max_size=12,
)
_tcns = st.from_regex(r"\A[0-9]{14}[A-HJ-NP-RT-Z]\Z")
_countries = st.from_regex(r"\A[A-Z]{3}\Z")


def _int_i_kept(typed: frozenset[int], top: int) -> st.SearchStrategy[tuple[TraditionalField, ...]]:
    """Unmodelled fields: tags the typed attributes do not use, in the order a reader gives."""
    subfields = st.lists(
        st.lists(_latin1, min_size=1, max_size=3).map(tuple), min_size=1, max_size=3
    )
    tags = st.integers(3, top).filter(lambda t: t not in typed)
    return st.dictionaries(tags, subfields.map(tuple), max_size=3).map(
        lambda d: tuple(TraditionalField(t, v) for t, v in sorted(d.items()))
    )


@st.composite
def int_i_transactions(draw: st.DrawFn) -> IntiTransaction:
    tot = draw(st.sampled_from(sorted(int_i_codes.TOTS)))
    reply = tot in {int_i_codes.TOT_SRE, int_i_codes.TOT_ERR}
    agency = st.builds(Agency, name=_latin1, country=_countries, code=_latin1)
    type1 = Type1(
        tot=tot,
        tcn=draw(_tcns),
        date=draw(st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31))),
        destination=draw(agency),
        origin=draw(agency),
        gmt=draw(
            st.none()
            | st.datetimes(
                dt.datetime(1970, 1, 1), dt.datetime(2099, 1, 1), timezones=st.just(dt.UTC)
            ).map(lambda d: d.replace(microsecond=0))
        ),
        tcr=draw(_tcns) if reply else None,
        priority=draw(st.none() | st.integers(1, 9)),
        version=draw(st.sampled_from(["0502", "0300", "0400", "0500"])),
        domain_version=draw(st.sampled_from(["06.00", "6.00", "06.00.02", "6"])),
        nsr=draw(st.from_regex(r"\A[0-9]{2}\.[0-9]{2}\Z")),
        ntr=draw(st.from_regex(r"\A[0-9]{2}\.[0-9]{2}\Z")),
        fields=draw(_int_i_kept(int_i_traditional.TYPE1_TYPED | {1, 3, 15}, 999)),
    )
    type2 = draw(st.none() | _int_i_type2())
    records = draw(
        st.lists(_int_i_records(), max_size=4, unique_by=lambda r: (r.record_type, r.idc))
    )
    return IntiTransaction(type1, type2, tuple(records))


def _int_i_type2() -> st.SearchStrategy[Type2]:
    reference = st.builds(CountryReference, value=_latin1, country=_countries)
    optional = st.none() | _latin1
    subject = st.builds(
        SubjectData,
        surname=optional,
        given_name=optional,
        middle_names=st.lists(_latin1, max_size=1).map(tuple),
        birth_date=st.none() | st.dates(dt.date(1900, 1, 1), dt.date(2030, 1, 1)),
        sex=st.none() | st.sampled_from(["M", "F", "U"]),
        citizenship=st.lists(_countries, max_size=2).map(tuple),
    ).filter(lambda s: s != SubjectData())
    days = st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31))
    offence = st.one_of(
        st.builds(Offence, code=st.none() | st.sampled_from(["NLC", "ICM", "IFE"]), when=days),
        st.builds(Offence, description=_latin1, between=st.tuples(days, days)),
        st.builds(Offence, code=st.sampled_from(["NLC", "ICM"]), description=st.none() | _latin1),
    )
    return st.builds(
        Type2,
        idc=st.integers(0, 99).map(str),
        case=st.none() | reference,
        evidence_id=optional,
        latent_id=optional,
        person=st.none() | reference,
        business=st.lists(reference, max_size=10).map(tuple),
        candidates=st.none()
        | st.builds(
            Candidates,
            tot=st.sampled_from(sorted(int_i_codes.TOTS)),
            result=st.sampled_from(["I", "N"]),
            total=st.integers(0, 99),
            sequence_id=_latin1,
            manual_verification=st.booleans(),
        ),
        errors=st.lists(
            st.builds(
                ErrorMessage,
                code=st.sampled_from(sorted(int_i_codes.ERROR_CODES)),
                text=optional,
                field_mnemonic=optional,
            ),
            max_size=2,
        ).map(tuple),
        subject=st.none() | subject,
        offence=st.none() | offence,
        fields=_int_i_kept(int_i_traditional.TYPE2_TYPED, 999),
    )


def _int_i_records() -> st.SearchStrategy[BiometricRecord]:
    dims = st.none() | st.integers(10, 5000)
    idc = st.integers(0, 99).map(str)
    image = st.binary(min_size=1, max_size=64)
    positions = st.lists(st.integers(0, 10), max_size=3).map(tuple)
    minutia = st.builds(
        IncitsMinutia,
        x=st.integers(0, 9999),
        y=st.integers(0, 9999),
        theta=st.integers(0, 179),
        category=st.integers(0, 2),
        quality=st.integers(0, 100),
    )

    def kept(rtype: int) -> st.SearchStrategy[tuple[TraditionalField, ...]]:
        typed = TYPED.get(rtype, frozenset()) | set(FILLED.get(rtype, {})) | {8, 9, 10}
        return _int_i_kept(frozenset(typed), 998 if rtype != 9 else 999)

    type4 = st.builds(
        BiometricRecord,
        record_type=st.just(4),
        idc=idc,
        positions=st.lists(st.integers(0, 15), min_size=1, max_size=6).map(tuple),
        impression=st.integers(0, 29).map(str),
        compression=st.sampled_from(["NONE", "WSQ20", "JP2"]),
        width=st.integers(0, 5000),
        height=st.integers(0, 5000),
        image=image,
    )
    type9 = st.builds(
        BiometricRecord,
        record_type=st.just(9),
        idc=idc,
        positions=positions,
        impression=st.none() | st.integers(0, 29).map(str),
        width=dims,
        height=dims,
        ppi=dims,
        minutiae=st.lists(minutia, max_size=5).map(tuple),
        fields=kept(9).filter(lambda fs: not any(f.tag in (130, 131, 132) for f in fs)),
    )
    finger_images = st.sampled_from([13, 14]).flatmap(
        lambda rtype: st.builds(
            BiometricRecord,
            record_type=st.just(rtype),
            idc=idc,
            positions=positions,
            impression=st.none() | st.integers(0, 29).map(str),
            compression=st.none() | st.sampled_from(["WSQ20", "JP2", "PNG"]),
            width=dims,
            height=dims,
            ppi=dims,
            image=image,
            fields=kept(rtype),
        )
    )
    face = st.builds(
        BiometricRecord,
        record_type=st.just(10),
        idc=idc,
        compression=st.none() | st.sampled_from(["JPEGB", "JP2"]),
        width=dims,
        height=dims,
        ppi=dims,
        image=image,
        fields=kept(10),
    )
    source = st.builds(
        BiometricRecord,
        record_type=st.just(20),
        idc=idc,
        compression=st.none() | st.sampled_from(["PNG", "JPEG", "WAV"]),
        image=image,
        fields=kept(20),
    )
    return type4 | type9 | finger_images | face | source
