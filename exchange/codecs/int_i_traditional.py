"""INT-I v6.00's traditional (tagged-field) encoding: bytes <-> an INT-I transaction.

Format: Interpol's INT-I v6.00 profile of ANSI/NIST-ITL 1-2011 Update 2015, traditional
encoding: field numbers, item order and optionality from `MRT_INT-I_FieldDefinition.csv`
(rows `T`/`TX`), code tables from `MRT_INT-I_LookupCodes.csv`. The records layer (separators,
LEN, CNT, IDC cross-checks, limits) is `exchange.codecs.ansi_nist_records`; the model is
`exchange.codecs.int_i_model`, the same one `int_i_xml` reads and writes. Sans-IO.

Carried by the model, in these fields:
- Type-1: 1.002 VER (written `0600`, which the MRT requires and which is the XML's 05/02; read
  0300-0600), 1.004 TOT (code table TOT), 1.005 DAT (YYYYMMDD), 1.006 PRY (1-9), 1.007 DAI and
  1.008 ORI (the agencies' codes), 1.009 TCN and 1.010 TCR (`\\d{14}` and a check letter;
  TCR only and always on SRE/ERR), 1.011 NSR, 1.012 NTR, 1.013 DOM (A name `INT-I`, B
  version), 1.014 GMT (YYYYMMDDHHMMSSZ, UTC), 1.017 ANM (A destination name, B originating
  name, C destination country, D originating country).
- Type-2: 2.002 IDC, 2.007 CNO (A country, B value), 2.008 SQN, 2.009 MID, 2.010 CRN (A, B),
  2.011 ORN (one subfield (A, B) each, up to 10); the offence (`Offence`) in 2.021 RFP (code
  table OTY), 2.054 OTY (one text; several subfields are kept whole), 2.055 DOO (YYYYMMDD;
  a time of day does not travel) and 2.056 DOR (YYYYMMDD-YYYYMMDD, our reading of its 17
  characters); 2.064 RLS (A CSI candidate sequence id, B MVI `true`/`false`, C CTQ total,
  D CAC TOT searched, E SRC I/N), 2.074 ERM (one subfield each: A ECO code of table ERR,
  B EFM field mnemonic, C EMT text); the subject
  (`SubjectData`, step-2 identity) in 2.030 NAM (items 1 prefix, 2 given, 3 middle, 4 surname,
  5 suffix, 6 maiden, 7 extended; the model holds 2-4, a name using the others is kept whole),
  2.035 DOB (YYYYMMDD), 2.038 NAT (one subfield a country), 2.039 SEX.
- Types 4, 9 (INCITS 378), 10, 13, 14, 20: see `exchange.codecs.int_i_traditional_prints`.

Not modelled, kept verbatim (`Type1.fields`, `Type2.fields`, `BiometricRecord.fields`) and
written back: every other field, e.g. 1.015 DCS, 2.012-2.016 MN1-MN5, 2.019 DPR, 2.020 TOF,
2.022 POA, 2.023 OBU, 2.034 AKA, 2.036 DBR, 2.037 POB, 2.063 INF, 2.077 LMP and above.
The XML-only parts the XML codec keeps as `Unmodelled` (and records' XML) do not travel
here; `untransportable` names them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from exchange.codecs import int_i_codes as codes
from exchange.codecs.ansi_nist_records import (
    DEFAULT_LIMITS,
    VERSIONS,
    Limits,
    Record,
    Subfields,
    TaggedRecord,
    Transaction,
    decode_transaction,
    encode_transaction,
    text,
)
from exchange.codecs.errors import CodecError
from exchange.codecs.int_i_model import (
    Agency,
    Candidates,
    CountryReference,
    ErrorMessage,
    IntiTransaction,
    Offence,
    SubjectData,
    TraditionalField,
    Type1,
    Type2,
)
from exchange.codecs.int_i_traditional_prints import (
    idc_number,
    read_record,
    untransportable_record,
    write_record,
)

__all__ = [
    "decode",
    "encode",
    "is_int_i",
    "records_from_transaction",
    "transaction_from_records",
    "untransportable",
]

#: 1.002 VER: INT-I v6 writes 0600 for what its XML calls major 05, minor 02.
TRADITIONAL_VERSION = "0600"
_RESOLUTION = re.compile(r"\d{2}\.\d{2}")
_GMT = re.compile(r"\d{14}Z")
REPLY_TOTS = frozenset({codes.TOT_SRE, codes.TOT_ERR})
MAX_BUSINESS_REFERENCES = 10  # 2.011 ORN: MaxOccur 10

TYPE1_TYPED = frozenset({2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17})
TYPE2_TYPED = frozenset({7, 8, 9, 10, 11, 21, 30, 35, 38, 39, 54, 55, 56, 64, 74})
_NAME_ITEMS = 7


def is_int_i(tx: Transaction) -> bool:
    """Whether a parsed transaction is INT-I v6: its 1.013 DOM names INT-I (item A) at a
    version 6 (item B `06.00`, `6.00`, ...). Older INT-I profiles (4.22, which our Prüm-profile
    ANSI/NIST messages name) are other formats."""
    dom = tx.header.get(13)
    if dom is None or len(dom) == 0 or dom[0][0] != codes.DOMAIN_NAME or len(dom[0]) < 2:
        return False
    return _is_version_6(dom[0][1])


def _is_version_6(version: str) -> bool:
    major = version.split(".")[0]
    return major.isascii() and major.isdigit() and int(major) == 6


def decode(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> IntiTransaction:
    """Read an INT-I transaction in traditional encoding; CodecError naming the field if not."""
    return transaction_from_records(decode_transaction(data, limits=limits))


def encode(tx: IntiTransaction) -> bytes:
    """Write an INT-I transaction in traditional encoding (losses: `untransportable`)."""
    return encode_transaction(records_from_transaction(tx))


# --- reading ----------------------------------------------------------------------------


def _one(fields: Mapping[int, Subfields], rtype: int, tag: int) -> str | None:
    value = fields.get(tag)
    if value is None:
        return None
    if len(value) != 1 or len(value[0]) != 1:
        raise CodecError(f"Type-{rtype}.{rtype}.{tag:03d}", "expected one value")
    return value[0][0]


def _need(fields: Mapping[int, Subfields], rtype: int, tag: int) -> str:
    value = _one(fields, rtype, tag)
    if value is None:
        raise CodecError(f"Type-{rtype}.{rtype}.{tag:03d}", "mandatory field missing")
    return value


def _items(
    fields: Mapping[int, Subfields], rtype: int, tag: int, least: int, most: int
) -> tuple[str, ...] | None:
    value = fields.get(tag)
    if value is None:
        return None
    path = f"Type-{rtype}.{rtype}.{tag:03d}"
    if len(value) != 1:
        raise CodecError(path, "expected one subfield")
    if not least <= len(value[0]) <= most:
        count = str(least) if least == most else f"{least}-{most}"
        raise CodecError(path, f"expected {count} information items, got {len(value[0])}")
    return value[0]


def _date(value: str, path: str) -> dt.date:
    if len(value) != 8 or not value.isascii() or not value.isdigit():
        raise CodecError(path, f"date must be YYYYMMDD, got {value[:12]!r}")
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError as exc:
        raise CodecError(path, f"not a date: {value!r}") from exc


def _tcn(value: str | None, path: str) -> str | None:
    if value is not None and not codes.TCN_PATTERN.fullmatch(value):
        raise CodecError(path, "must be 14 digits and a check letter (15 characters)")
    return value


def _need_tcn(header: Mapping[int, Subfields]) -> str:
    tcn = _need(header, 1, 9)
    _tcn(tcn, "Type-1.1.009")
    return tcn


def _kept(fields: Mapping[int, Subfields], typed: frozenset[int]) -> tuple[TraditionalField, ...]:
    return tuple(
        TraditionalField(tag, tuple(value))
        for tag, value in sorted(fields.items())
        if tag not in typed
    )


def transaction_from_records(tx: Transaction) -> IntiTransaction:
    """The INT-I model of an already parsed traditional transaction."""
    type1 = _read_type1(tx.header)
    type2: Type2 | None = None
    records = []
    for index, record in enumerate(tx.records, start=1):
        if record.type == 2:
            if type2 is not None:
                raise CodecError(f"Type-2[{index}]", "INT-I has one Type-2 record")
            assert isinstance(record, TaggedRecord)  # the records layer reads Type-2 tagged
            type2 = _read_type2(record)
        else:
            records.append(read_record(record, index))
    return IntiTransaction(type1, type2, tuple(records))


def _read_version(header: Mapping[int, Subfields]) -> str:
    version = _need(header, 1, 2)
    if version not in VERSIONS:
        raise CodecError("Type-1.1.002", f"version {version[:8]!r} is not 0300-0600")
    return codes.STANDARD_VERSION if version == TRADITIONAL_VERSION else version


def _read_type1(header: Mapping[int, Subfields]) -> Type1:
    dom = _items(header, 1, 13, 2, 2)
    if dom is None or dom[0] != codes.DOMAIN_NAME:
        raise CodecError("Type-1.1.013", f"DOM must name {codes.DOMAIN_NAME}")
    if not _is_version_6(dom[1]):
        raise CodecError("Type-1.1.013", f"DOM version {dom[1][:8]!r} is not INT-I 6")
    tot = _need(header, 1, 4)
    if tot not in codes.TOTS:
        raise CodecError("Type-1.1.004", f"TOT {tot[:8]!r} is not one of INT-I's")
    tcr = _tcn(_one(header, 1, 10), "Type-1.1.010")
    if tot in REPLY_TOTS and tcr is None:
        raise CodecError("Type-1.1.010", f"TCR is mandatory on {tot}: it names the request")
    if tot not in REPLY_TOTS and tcr is not None:
        raise CodecError("Type-1.1.010", f"TCR is for replies; {tot} is a request")
    priority = _one(header, 1, 6)
    if priority is not None and (len(priority) != 1 or priority not in "123456789"):
        raise CodecError("Type-1.1.006", "PRY must be a digit 1-9")
    nsr, ntr = _need(header, 1, 11), _need(header, 1, 12)
    for tag, value in ((11, nsr), (12, ntr)):
        if not _RESOLUTION.fullmatch(value):
            raise CodecError(f"Type-1.1.{tag:03d}", "must be NN.NN")
    anm = _items(header, 1, 17, 4, 4)
    if anm is None:
        raise CodecError("Type-1.1.017", "ANM (agency names and countries) missing")
    return Type1(
        tot=tot,
        tcn=_need_tcn(header),
        date=_date(_need(header, 1, 5), "Type-1.1.005"),
        destination=Agency(name=anm[0], country=anm[2], code=_read_agency_code(header, 7)),
        origin=Agency(name=anm[1], country=anm[3], code=_read_agency_code(header, 8)),
        gmt=_gmt(_one(header, 1, 14)),
        tcr=tcr,
        priority=int(priority) if priority is not None else None,
        version=_read_version(header),
        domain_name=dom[0],
        domain_version=dom[1],
        nsr=nsr,
        ntr=ntr,
        fields=_kept(header, TYPE1_TYPED),
    )


def _read_agency_code(header: Mapping[int, Subfields], tag: int) -> str:
    """1.007 DAI / 1.008 ORI: mandatory in the traditional Type-1 (see `_agency_code`)."""
    code = _need(header, 1, tag)
    if not code:
        raise CodecError(f"Type-1.1.{tag:03d}", "the agency code is empty")
    return code


def _gmt(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    if not _GMT.fullmatch(value):
        raise CodecError("Type-1.1.014", "GMT must be YYYYMMDDHHMMSSZ")
    try:
        return dt.datetime.strptime(value, "%Y%m%d%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise CodecError("Type-1.1.014", f"not a time: {value!r}") from exc


def _reference(fields: Mapping[int, Subfields], tag: int) -> CountryReference | None:
    items = _items(fields, 2, tag, 2, 2)
    return None if items is None else CountryReference(value=items[1], country=items[0])


def _read_type2(record: TaggedRecord) -> Type2:
    fields = record.fields
    business = []
    for n, items in enumerate(fields.get(11, ())):
        if len(items) != 2:
            raise CodecError(f"Type-2.2.011[{n}]", "ORN is (country, value)")
        business.append(CountryReference(value=items[1], country=items[0]))
    if len(business) > MAX_BUSINESS_REFERENCES:
        raise CodecError("Type-2.2.011", f"at most {MAX_BUSINESS_REFERENCES} ORN subfields")
    subject, name_kept = _read_subject(fields)
    offence, description_kept = _read_offence(fields)
    typed = TYPE2_TYPED - ({30} if name_kept else set()) - ({54} if description_kept else set())
    return Type2(
        idc=str(record.idc),
        case=_reference(fields, 7),
        evidence_id=_one(fields, 2, 8),
        latent_id=_one(fields, 2, 9),
        person=_reference(fields, 10),
        business=tuple(business),
        candidates=_read_candidates(fields),
        errors=tuple(_read_error(n, items) for n, items in enumerate(fields.get(74, ()))),
        subject=subject,
        offence=offence,
        fields=_kept(fields, frozenset(typed)),
    )


def _read_offence(fields: Mapping[int, Subfields]) -> tuple[Offence | None, bool]:
    """The offence, and whether 2.054 OTY is kept whole (more than one subfield or item)."""
    oty = fields.get(54)
    kept = oty is not None and (len(oty) != 1 or len(oty[0]) != 1)
    description = oty[0][0] if oty is not None and not kept else None
    code, doo, dor = _one(fields, 2, 21), _one(fields, 2, 55), _one(fields, 2, 56)
    if code is None and description is None and doo is None and dor is None:
        return None, kept
    between = None
    if dor is not None:
        if len(dor) != 17 or dor[8] != "-":
            raise CodecError("Type-2.2.056", "DOR must be YYYYMMDD-YYYYMMDD")
        between = (_date(dor[:8], "Type-2.2.056"), _date(dor[9:], "Type-2.2.056"))
    when = _date(doo, "Type-2.2.055") if doo is not None else None
    if when is not None and between is not None:
        raise CodecError("Type-2.2.056", "DOO or DOR, not both")
    return Offence(code=code, description=description, when=when, between=between), kept


def _read_candidates(fields: Mapping[int, Subfields]) -> Candidates | None:
    items = _items(fields, 2, 64, 5, 5)
    if items is None:
        return None
    csi, mvi, ctq, cac, src = items
    if not csi:
        raise CodecError("Type-2.2.064.A", "candidate sequence id missing")
    if mvi not in {"true", "false"}:
        raise CodecError("Type-2.2.064.B", "manual verification must be true or false")
    if not ctq.isascii() or not ctq.isdigit() or len(ctq) > 2:
        raise CodecError("Type-2.2.064.C", "total count must be digits (at most 2)")
    if cac not in codes.TOTS:
        raise CodecError("Type-2.2.064.D", f"TOT searched {cac[:8]!r} is not one of INT-I's")
    if src not in {codes.RESULT_HIT, codes.RESULT_NO_HIT}:
        raise CodecError("Type-2.2.064.E", "search result must be I or N")
    return Candidates(
        tot=cac, result=src, total=int(ctq), sequence_id=csi, manual_verification=mvi == "true"
    )


def _read_error(n: int, items: tuple[str, ...]) -> ErrorMessage:
    path = f"Type-2.2.074[{n}]"
    if len(items) != 3:
        raise CodecError(path, "ERM is (code, field mnemonic, text)")
    code, mnemonic, message = items
    if code not in codes.ERROR_CODES:
        raise CodecError(f"{path}.A", f"error code {code[:8]!r} is not in INT-I's table ERR")
    return ErrorMessage(code=code, text=message or None, field_mnemonic=mnemonic or None)


def _read_subject(fields: Mapping[int, Subfields]) -> tuple[SubjectData | None, bool]:
    """The subject, and whether 2.030 NAM is kept whole (it uses parts the model lacks)."""
    name = _items(fields, 2, 30, 1, _NAME_ITEMS)
    parts = (*name, *("",) * (_NAME_ITEMS - len(name))) if name is not None else None
    kept = parts is not None and any(parts[i] for i in (0, 4, 5, 6))
    plain = None if kept else parts
    dob = _one(fields, 2, 35)
    sex = _one(fields, 2, 39)
    nationality = []
    for n, items in enumerate(fields.get(38, ())):
        if len(items) != 1:
            raise CodecError(f"Type-2.2.038[{n}]", "one country a subfield")
        nationality.append(items[0])
    if plain is None and dob is None and sex is None and not nationality:
        return None, kept
    return SubjectData(
        surname=(plain[3] or None) if plain else None,
        given_name=(plain[1] or None) if plain else None,
        middle_names=(plain[2],) if plain and plain[2] else (),
        birth_date=_date(dob, "Type-2.2.035") if dob is not None else None,
        sex=sex,
        citizenship=tuple(nationality),
    ), kept


# --- writing ----------------------------------------------------------------------------


def untransportable(tx: IntiTransaction) -> list[str]:
    """Paths of model fields that the traditional encoding cannot carry (none: all travel)."""
    lost = ["type1.extra"] if tx.type1.extra else []
    gmt = tx.type1.gmt
    if gmt is not None and (gmt.tzinfo is None or gmt.microsecond):
        lost.append("type1.gmt")  # GMT is UTC to the second
    if tx.type1.version not in _WRITTEN_VERSION:
        lost.append("type1.version")
    t2 = tx.type2
    if t2 is not None:
        lost += ["type2.extra"] if t2.extra else []
        subject = t2.subject
        if subject is not None:
            if subject.extra:
                lost.append("type2.subject.extra")
            if len(subject.middle_names) > 1:
                lost.append("type2.subject.middle_names")  # NAM has one middle name item
            if subject == SubjectData():
                lost.append("type2.subject")  # nothing to write: it reads back as absent
        lost += _untransportable_offence(t2.offence)
    for index, record in enumerate(tx.records):
        lost += untransportable_record(record, f"records[{index}]")
    return lost


def _untransportable_offence(offence: Offence | None) -> list[str]:
    if offence is None:
        return []
    if offence == Offence():
        return ["type2.offence"]  # nothing to write: it reads back as absent
    times = [("when", offence.when)] + [
        (f"between[{i}]", end) for i, end in enumerate(offence.between or ())
    ]
    return [f"type2.offence.{name}" for name, v in times if isinstance(v, dt.datetime)]


#: The model's 1.002 VER values and what is written for them.
_WRITTEN_VERSION: Mapping[str, str] = {
    codes.STANDARD_VERSION: TRADITIONAL_VERSION,
    **{v: v for v in VERSIONS if v not in {codes.STANDARD_VERSION, TRADITIONAL_VERSION}},
}


def records_from_transaction(tx: IntiTransaction) -> Transaction:
    """The records of an INT-I transaction, for `ansi_nist_records.encode_transaction`."""
    records: list[Record] = []
    if tx.type2 is not None:
        records.append(_write_type2(tx.type2))
    first = len(records) + 1  # record numbers in paths count from the first after Type-1
    records += [write_record(r, index) for index, r in enumerate(tx.records, start=first)]
    return Transaction(_write_type1(tx.type1), tuple(records))


def _merge(
    built: dict[int, Subfields], kept: tuple[TraditionalField, ...], rtype: int
) -> dict[int, Subfields]:
    for extra in kept:
        if extra.tag in built:
            path = f"Type-{rtype}.{rtype}.{extra.tag:03d}"
            raise CodecError(path, "held both by the model and as a kept field")
        built[extra.tag] = extra.subfields
    return built


def _agency_code(agency: Agency, tag: int) -> Subfields:
    if not agency.code:
        # INT-I makes DAI/ORI optional, ANSI/NIST-ITL's traditional Type-1 mandatory.
        raise CodecError(f"Type-1.1.{tag:03d}", "the agency has no code to write")
    return text(agency.code)


def _write_type1(t1: Type1) -> dict[int, Subfields]:
    if t1.tot not in codes.TOTS:
        raise CodecError("Type-1.1.004", f"TOT {t1.tot[:8]!r} is not one of INT-I's")
    _tcn(t1.tcn, "Type-1.1.009")
    _tcn(t1.tcr, "Type-1.1.010")
    if t1.tot in REPLY_TOTS and t1.tcr is None:
        raise CodecError("Type-1.1.010", f"TCR is mandatory on {t1.tot}")
    if t1.tot not in REPLY_TOTS and t1.tcr is not None:
        raise CodecError("Type-1.1.010", f"TCR is for replies; {t1.tot} is a request")
    if t1.domain_name != codes.DOMAIN_NAME:
        raise CodecError("Type-1.1.013", f"DOM must name {codes.DOMAIN_NAME}")
    version = _WRITTEN_VERSION.get(t1.version, t1.version)
    if version not in VERSIONS:
        raise CodecError("Type-1.1.002", f"version {t1.version[:8]!r} is not 0300-0600")
    if t1.priority is not None and not 1 <= t1.priority <= 9:
        raise CodecError("Type-1.1.006", "PRY must be 1-9")
    if t1.domain_name != codes.DOMAIN_NAME or not _is_version_6(t1.domain_version):
        raise CodecError("type1.domain_version", "INT-I 6 is written as INT-I 6 (1.013 DOM)")
    built: dict[int, Subfields] = {
        2: text(version),
        4: text(t1.tot),
        5: text(f"{t1.date.year:04d}{t1.date.month:02d}{t1.date.day:02d}"),
        7: _agency_code(t1.destination, 7),
        8: _agency_code(t1.origin, 8),
        9: text(t1.tcn),
        11: text(t1.nsr),
        12: text(t1.ntr),
        13: ((t1.domain_name, t1.domain_version),),
        17: ((t1.destination.name, t1.origin.name, t1.destination.country, t1.origin.country),),
    }
    if t1.priority is not None:
        built[6] = text(str(t1.priority))
    if t1.tcr is not None:
        built[10] = text(t1.tcr)
    if t1.gmt is not None:
        utc = t1.gmt.astimezone(dt.UTC) if t1.gmt.tzinfo is not None else t1.gmt
        # not strftime("%Y"), which writes year 16 as "16" (glibc does not pad it)
        built[14] = text(f"{_yyyymmdd(utc)}{utc.hour:02d}{utc.minute:02d}{utc.second:02d}Z")
    return _merge(built, t1.fields, 1)


def _reference_items(ref: CountryReference) -> tuple[str, str]:
    return (ref.country, ref.value)


def _write_type2(t2: Type2) -> TaggedRecord:
    built: dict[int, Subfields] = {}
    if t2.case is not None:
        built[7] = (_reference_items(t2.case),)
    if t2.evidence_id is not None:
        built[8] = text(t2.evidence_id)
    if t2.latent_id is not None:
        built[9] = text(t2.latent_id)
    if t2.person is not None:
        built[10] = (_reference_items(t2.person),)
    if len(t2.business) > MAX_BUSINESS_REFERENCES:
        raise CodecError("Type-2.2.011", f"at most {MAX_BUSINESS_REFERENCES} ORN subfields")
    if t2.business:
        built[11] = tuple(_reference_items(r) for r in t2.business)
    if t2.candidates is not None:
        built[64] = (_candidate_items(t2.candidates),)
    if t2.errors:
        built[74] = tuple(_error_items(n, e) for n, e in enumerate(t2.errors))
    if t2.subject is not None:
        built |= _subject_fields(t2.subject)
    if t2.offence is not None:
        built |= _offence_fields(t2.offence)
    # Which fields a TOT needs (the MRT's DependValueReq) is the sender's choice; not checked.
    return TaggedRecord(2, idc_number(t2.idc, "Type-2.2.002"), _merge(built, t2.fields, 2))


def _candidate_items(c: Candidates) -> tuple[str, ...]:
    if not 0 <= c.total <= 99:
        raise CodecError("Type-2.2.064.C", "total count must be 0-99 (two digits)")
    return (
        c.sequence_id,
        "true" if c.manual_verification else "false",
        str(c.total),
        c.tot,
        c.result,
    )


def _error_items(n: int, error: ErrorMessage) -> tuple[str, ...]:
    if error.code not in codes.ERROR_CODES:
        raise CodecError(f"Type-2.2.074[{n}].A", f"error code {error.code!r} is not in table ERR")
    return (error.code, error.field_mnemonic or "", error.text or "")


def _yyyymmdd(day: dt.date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _offence_fields(offence: Offence) -> dict[int, Subfields]:
    if offence.when is not None and offence.between is not None:
        raise CodecError("Type-2.2.056", "DOO or DOR, not both")
    out: dict[int, Subfields] = {}
    if offence.code is not None:
        out[21] = text(offence.code)
    if offence.description is not None:
        out[54] = text(offence.description)
    if offence.when is not None:
        out[55] = text(_yyyymmdd(offence.when))  # a time of day does not travel
    if offence.between is not None:
        start, end = offence.between
        out[56] = text(f"{_yyyymmdd(start)}-{_yyyymmdd(end)}")
    return out


def _subject_fields(subject: SubjectData) -> dict[int, Subfields]:
    out: dict[int, Subfields] = {}
    if subject.surname is not None or subject.given_name is not None or subject.middle_names:
        middle = " ".join(subject.middle_names)
        out[30] = (("", subject.given_name or "", middle, subject.surname or ""),)
    if subject.birth_date is not None:
        d = subject.birth_date
        out[35] = text(f"{d.year:04d}{d.month:02d}{d.day:02d}")
    if subject.citizenship:
        out[38] = tuple((c,) for c in subject.citizenship)
    if subject.sex is not None:
        out[39] = text(subject.sex)
    return out
