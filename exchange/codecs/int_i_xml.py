"""Interpol's INT-I v6.00 XML encoding of ANSI/NIST-ITL 1-2011: bytes <-> an INT-I transaction.

Format: Interpol's INT-I implementation (NIEM 2.0 XML, `http://interpol.gov/int-i/1.0`, extending
NIST's `itl` exchange schema); element names and field numbers from its MRT tables. Sans-IO
(STYLE.md §1): `decode(bytes) -> IntiTransaction`, `encode(IntiTransaction) -> bytes`.

Modelled: Type-1 (1.002 VER, 1.004 TOT, 1.005 DAT, 1.006 PRY, 1.007 DAI, 1.008 ORI, 1.009 TCN,
1.010 TCR, 1.011/1.012 NSR/NTR, 1.013 DOM, 1.014 GMT; 1.003 CNT is derived from the records);
Type-2 2.007 CNO, 2.008 SQN, 2.009 MID, 2.010 CRN, 2.011 ORN, 2.064 RLS, 2.074 ERM, the
record offence (2.021 RFP, 2.054 OTY, 2.055 DOO, 2.056 DOR: `Offence`) and the record subject
(step-2 identity data, `SubjectData`); Type-4/9/10/13/14/20 as `BiometricRecord`.
Everything else is kept as `Unmodelled` XML and written back where it was, so a decoded
transaction re-encodes what it held. A decoded biometric record re-encodes from its original
XML (`BiometricRecord.xml`); its typed fields are a reading of it. The model is in
`exchange.codecs.int_i_model`, the envelope mapping in `exchange.codecs.int_i_envelope`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from lxml import etree

from exchange.codecs import int_i_codes as codes
from exchange.codecs.errors import CodecError
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
    Type1,
    Type2,
    Unmodelled,
)
from exchange.codecs.int_i_prints import RECORD_TAGS, build_record, read_record
from exchange.codecs.int_i_tree import (
    canonical,
    child,
    el,
    id_el,
    need,
    need_text,
    opt_text,
    path_of,
    q,
    text_el,
)
from exchange.codecs.xml_safety import parse_xml

__all__ = [
    "Agency",
    "BiometricRecord",
    "Candidates",
    "CountryReference",
    "ErrorMessage",
    "IncitsMinutia",
    "IntiTransaction",
    "Offence",
    "SubjectData",
    "Type1",
    "Type2",
    "Unmodelled",
    "decode",
    "encode",
]

_TYPE_OF_TAG = {q("itl", tag): number for number, tag in RECORD_TAGS.items()}


# --- decoding ---------------------------------------------------------------------------


def decode(data: bytes) -> IntiTransaction:
    """Parse an INT-I XML transaction safely and read it into the model."""
    root = parse_xml(data)
    if root.tag != codes.ROOT:
        raise CodecError(f"/{etree.QName(root).localname}", "not an INT-I transaction package")
    type1 = _read_type1(need(root, "itl", "PackageInformationRecord"))
    text_record = child(root, "itl", "PackageDescriptiveTextRecord")
    type2 = _read_type2(text_record) if text_record is not None else None
    records = []
    for element in root:
        if element.tag in _TYPE_OF_TAG:
            records.append(read_record(element, _TYPE_OF_TAG[element.tag]))
    listed = [(2, type2.idc)] if type2 is not None else []
    _check_summary(root, listed + [(r.record_type, r.idc) for r in records])
    return IntiTransaction(type1, type2, tuple(records))


def _check_summary(root: etree._Element, present: list[tuple[int, str]]) -> None:
    """1.003 CNT: the content summary must list the records that are there, in order.

    The encoder derives it from the records, so one that disagrees would not come back."""
    tx = need(need(root, "itl", "PackageInformationRecord"), "biom", "Transaction")
    summary = need(tx, "biom", "TransactionContentSummary")
    listed = []
    for entry in summary.iterchildren(q("biom", "ContentRecordSummary")):
        idc = need_text(
            need(entry, "biom", "ImageReferenceIdentification"), "nc", "IdentificationID"
        )
        category = need_text(entry, "biom", "RecordCategoryCode")
        listed.append((int(category) if category.isascii() and category.isdigit() else -1, idc))
    quantity = need_text(summary, "biom", "ContentRecordQuantity")
    if quantity != str(len(listed)) or listed != present:
        found = ", ".join(f"Type-{t} IDC {i}" for t, i in present) or "none"
        raise CodecError(
            path_of(summary),
            f"lists {quantity} records that are not the ones present ({found})",
        )


def _agency(parent: etree._Element, name: str) -> Agency:
    org = need(parent, "int-i", name)
    ident = child(org, "nc", "OrganizationIdentification")
    return Agency(
        name=need_text(org, "nc", "OrganizationName"),
        country=need_text(org, "int-i", "LocationCountryISO3166Alpha3Code"),
        code=opt_text(ident, "nc", "IdentificationID") if ident is not None else None,
    )


_TYPE1_MODELLED = {
    q("biom", n)
    for n in (
        "TransactionDate",
        "TransactionUTCDate",
        "TransactionControlIdentification",
        "TransactionControlReferenceIdentification",
        "TransactionDomain",
        "TransactionImageResolutionDetails",
        "TransactionMajorVersionValue",
        "TransactionMinorVersionValue",
        "TransactionPriorityValue",
        "TransactionContentSummary",
    )
} | {
    q("int-i", n)
    for n in (
        "TransactionDestinationOrganization",
        "TransactionOriginatingOrganization",
        "TransactionCategoryCode",
    )
}


def _read_type1(record: etree._Element) -> Type1:
    tx = need(record, "biom", "Transaction")
    tot = need_text(tx, "int-i", "TransactionCategoryCode")
    if tot not in codes.TOTS:
        raise CodecError(path_of(need(tx, "int-i", "TransactionCategoryCode")), f"TOT {tot!r}")
    tcn = need_text(need(tx, "biom", "TransactionControlIdentification"), "nc", "IdentificationID")
    tcr_el = child(tx, "biom", "TransactionControlReferenceIdentification")
    if tcr_el is None and tot in {codes.TOT_SRE, codes.TOT_ERR}:
        # 1.010 TCR is mandatory on a reply: it is how the reply names the request it answers.
        raise CodecError(
            path_of(tx, "biom:TransactionControlReferenceIdentification"), "is missing"
        )
    gmt_el = child(tx, "biom", "TransactionUTCDate")
    domain = need(tx, "biom", "TransactionDomain")
    resolution = need(tx, "biom", "TransactionImageResolutionDetails")
    priority = opt_text(tx, "biom", "TransactionPriorityValue")
    if priority is not None and (len(priority) != 1 or priority not in "123456789"):
        # MRT 1/PRY: {1..9}, one digit (the schema's nonNegativeInteger says less)
        raise CodecError(path_of(tx, "biom:TransactionPriorityValue"), "PRY must be a digit 1-9")
    return Type1(
        tot=tot,
        tcn=tcn,
        date=_date(need(tx, "biom", "TransactionDate")),
        destination=_agency(tx, "TransactionDestinationOrganization"),
        origin=_agency(tx, "TransactionOriginatingOrganization"),
        gmt=_datetime(gmt_el) if gmt_el is not None else None,
        tcr=need_text(tcr_el, "nc", "IdentificationID") if tcr_el is not None else None,
        priority=int(priority) if priority is not None else None,
        version=need_text(tx, "biom", "TransactionMajorVersionValue")
        + need_text(tx, "biom", "TransactionMinorVersionValue"),
        domain_name=need_text(domain, "biom", "TransactionDomainName"),
        domain_version=need_text(
            need(domain, "biom", "DomainVersionNumberIdentification"), "nc", "IdentificationID"
        ),
        nsr=need_text(resolution, "biom", "NativeScanningResolutionValue"),
        ntr=need_text(resolution, "biom", "NominalTransmittingResolutionValue"),
        extra=_unmodelled(tx, "Transaction", _TYPE1_MODELLED),
    )


def _date(parent: etree._Element) -> dt.date:
    element = need(parent, "nc", "Date")
    try:
        return dt.date.fromisoformat((element.text or "").strip())
    except ValueError as exc:
        raise CodecError(path_of(element), f"not a date: {element.text!r}") from exc


def _datetime(parent: etree._Element) -> dt.datetime:
    element = need(parent, "nc", "DateTime")
    try:
        return dt.datetime.fromisoformat((element.text or "").strip())
    except ValueError as exc:
        raise CodecError(path_of(element), f"not a date-time: {element.text!r}") from exc


def _unmodelled(parent: etree._Element, name: str, modelled: set[str]) -> tuple[Unmodelled, ...]:
    kept = []
    for index, element in enumerate(e for e in parent if isinstance(e.tag, str)):
        if element.tag not in modelled:
            kept.append(Unmodelled(name, index, canonical(element)))
    return tuple(kept)


def _read_type2(record: etree._Element) -> Type2:
    idc = need_text(need(record, "biom", "ImageReferenceIdentification"), "nc", "IdentificationID")
    detail = need(
        need(record, "itl", "UserDefinedDescriptiveDetail"),
        "int-i",
        "DomainDefinedDescriptiveDetail",
    )
    # An empty container (int-i.xsd allows them) is one the encoder would not write, which
    # would move what is kept after it: it is kept whole instead, as unmodelled XML.
    metadata = _filled(child(detail, "int-i", "RecordMetadata"))
    misc = None if metadata is None else child(metadata, "int-i", "MiscellaneousIdentification")
    misc = _filled(misc)
    response = _filled(child(detail, "int-i", "TransactionResponseData"))
    subject = child(detail, "int-i", "RecordSubject")
    offence = child(detail, "int-i", "RecordOffence")
    parts = {
        "RecordMetadata": metadata,
        "TransactionResponseData": response,
        "RecordSubject": subject,
        "RecordOffence": offence,
    }
    read = {q("int-i", name) for name, e in parts.items() if e is not None}
    extra = _unmodelled(detail, "Detail", read)
    if offence is not None:
        extra += _unmodelled(offence, "RecordOffence", _OFFENCE_MODELLED)
    if metadata is not None:
        kept_misc = {q("int-i", "MiscellaneousIdentification")} if misc is not None else set()
        extra += _unmodelled(metadata, "RecordMetadata", kept_misc)
    if misc is not None:
        extra += _unmodelled(misc, "MiscellaneousIdentification", _MISC_MODELLED)
    if response is not None:
        extra += _unmodelled(
            response,
            "TransactionResponseData",
            {q("int-i", "ErrorMessage"), q("int-i", "RespondentsList")},
        )
    return Type2(
        idc=idc,
        case=_country_reference(misc, "NationalCaseIdentifier"),
        evidence_id=opt_text(misc, "int-i", "LatentCaseEvidenceIdentifier")
        if misc is not None
        else None,
        latent_id=opt_text(misc, "int-i", "LatentIdentifier") if misc is not None else None,
        person=_country_reference(misc, "NationalPersonIdentifier"),
        # 2.011 ORN: the MRT allows 10, int-i.xsd one (and `encode` writes one)
        business=_business_reference(misc),
        candidates=_read_candidates(response),
        errors=tuple(_read_error(e) for e in _all(response, "int-i", "ErrorMessage")),
        subject=_read_subject(subject) if subject is not None else None,
        offence=_read_offence(offence) if offence is not None else None,
        extra=extra,
    )


_OFFENCE_MODELLED = {
    q("int-i", n)
    for n in (
        "OffenceDescriptionCode",
        "OffenceDescriptionText",
        "OffenceDateTime",
        "OffenceDateTimeRange",
    )
}


def _filled(element: etree._Element | None) -> etree._Element | None:
    """The element if it has element children, else None (absent, or an empty container)."""
    if element is None or not any(isinstance(c.tag, str) for c in element):
        return None
    return element


def _date_or_time(parent: etree._Element) -> dt.date:
    """nc:Date or nc:DateTime (nc:DateType): a date, or a datetime where the time is given."""
    if child(parent, "nc", "DateTime") is not None:
        return _datetime(parent)
    return _date(parent)


def _read_offence(element: etree._Element) -> Offence:
    when = child(element, "int-i", "OffenceDateTime")
    between = child(element, "int-i", "OffenceDateTimeRange")
    return Offence(
        code=opt_text(element, "int-i", "OffenceDescriptionCode"),
        description=opt_text(element, "int-i", "OffenceDescriptionText"),
        when=_date_or_time(when) if when is not None else None,
        # The MRT makes both ends mandatory in a range (2.056 items A and B).
        between=(
            _date_or_time(need(between, "nc", "StartDate")),
            _date_or_time(need(between, "nc", "EndDate")),
        )
        if between is not None
        else None,
    )


_MISC_MODELLED = {
    q("int-i", n)
    for n in (
        "NationalCaseIdentifier",
        "LatentCaseEvidenceIdentifier",
        "LatentIdentifier",
        "NationalPersonIdentifier",
        "NationalBusinessReference",
    )
}


def _all(parent: etree._Element | None, prefix: str, name: str) -> list[etree._Element]:
    return [] if parent is None else list(parent.iterchildren(q(prefix, name)))


def _read_reference(element: etree._Element) -> CountryReference:
    return CountryReference(
        value=need_text(element, "nc", "IdentificationID"),
        country=need_text(element, "int-i", "LocationCountryISO3166Alpha3Code"),
    )


def _business_reference(misc: etree._Element | None) -> tuple[CountryReference, ...]:
    element = child(misc, "int-i", "NationalBusinessReference") if misc is not None else None
    return (_read_reference(element),) if element is not None else ()


def _country_reference(misc: etree._Element | None, name: str) -> CountryReference | None:
    element = child(misc, "int-i", name) if misc is not None else None
    return _read_reference(element) if element is not None else None


def _read_candidates(response: etree._Element | None) -> Candidates | None:
    rls = child(response, "int-i", "RespondentsList") if response is not None else None
    if rls is None:
        return None
    candidate = need(rls, "int-i", "TransactionCandidate")
    flag = need_text(candidate, "int-i", "TransactionCandidateManualVerificationIndicator")
    total = need(rls, "int-i", "TransactionCandidatesTotalQuantity")
    count = (total.text or "").strip()
    if not (1 <= len(count) <= 2 and count.isascii() and count.isdigit()):
        # MRT 2/RLS/CTQ: \d{1,2}
        raise CodecError(path_of(total), "CTQ must be a number of one or two digits")
    return Candidates(
        tot=need_text(rls, "int-i", "TransactionCategoryCode"),
        result=need_text(rls, "int-i", "TransactionSearchResultsCode"),
        total=int(count),
        sequence_id=need_text(
            need(candidate, "int-i", "CandidateSequenceID"), "nc", "IdentificationID"
        ),
        manual_verification=flag in {"true", "1"},
    )


def _read_error(element: etree._Element) -> ErrorMessage:
    return ErrorMessage(
        code=need_text(element, "int-i", "ErrorCode"),
        text=opt_text(element, "int-i", "ErrorMessageText"),
        field_mnemonic=opt_text(element, "int-i", "ErrorFieldMnemonicCode"),
    )


_SUBJECT_MODELLED = {
    q("nc", "PersonBirthDate"),
    q("nc", "PersonCitizenshipISO3166Alpha3Code"),
    q("int-i", "PersonName"),
    q("int-i", "PersonSexCode"),
}


def _read_subject(element: etree._Element) -> SubjectData:
    birth = child(element, "nc", "PersonBirthDate")
    name = child(element, "int-i", "PersonName")
    # Unmodelled name parts (middle names, extended names) would be lost: keep the whole name.
    name_parts = {q("nc", "PersonGivenName"), q("nc", "PersonMiddleName"), q("nc", "PersonSurName")}
    # An empty name would not be written back either: kept whole, as unmodelled parts are.
    whole_name = name is not None and (
        _filled(name) is None or any(e.tag not in name_parts for e in name)
    )
    modelled = _SUBJECT_MODELLED - ({q("int-i", "PersonName")} if whole_name else set())
    plain_name = name if name is not None and not whole_name else None
    return SubjectData(
        surname=opt_text(plain_name, "nc", "PersonSurName"),
        given_name=opt_text(plain_name, "nc", "PersonGivenName"),
        middle_names=tuple(
            (e.text or "").strip() for e in _all(plain_name, "nc", "PersonMiddleName")
        ),
        birth_date=_date(birth) if birth is not None else None,
        sex=opt_text(element, "int-i", "PersonSexCode"),
        citizenship=tuple(
            (e.text or "").strip()
            for e in _all(element, "nc", "PersonCitizenshipISO3166Alpha3Code")
        ),
        extra=_unmodelled(element, "RecordSubject", modelled),
    )


# --- encoding ---------------------------------------------------------------------------


def encode(tx: IntiTransaction) -> bytes:
    """Write a transaction as INT-I XML (UTF-8, with declaration)."""
    root = etree.Element(codes.ROOT, nsmap=dict(codes.NSMAP))
    root.append(_write_type1(tx))
    if tx.type2 is not None:
        root.append(_write_type2(tx.type2))
    for record in tx.records:
        root.append(build_record(record))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _place(
    parent: etree._Element, built: Iterable[etree._Element], extra: Sequence[Unmodelled], name: str
) -> etree._Element:
    """Append the built children, then put the unmodelled ones back at their old places."""
    for element in built:
        parent.append(element)
    for item in sorted((u for u in extra if u.parent == name), key=lambda u: u.index):
        parent.insert(item.index, etree.fromstring(item.xml))
    return parent


def _write_agency(name: str, agency: Agency) -> etree._Element:
    org = el("int-i", name)
    if agency.code is not None:
        org.append(id_el("nc", "OrganizationIdentification", agency.code))
    org.append(text_el("nc", "OrganizationName", agency.name))
    org.append(text_el("int-i", "LocationCountryISO3166Alpha3Code", agency.country))
    return org


def _write_type1(tx: IntiTransaction) -> etree._Element:
    t1 = tx.type1
    record = el("itl", "PackageInformationRecord")
    record.append(text_el("biom", "RecordCategoryCode", "1"))
    built = [el("biom", "TransactionDate", text_el("nc", "Date", t1.date.isoformat()))]
    built += [_write_agency("TransactionDestinationOrganization", t1.destination)]
    built += [_write_agency("TransactionOriginatingOrganization", t1.origin)]
    if t1.gmt is not None:
        built.append(
            el("biom", "TransactionUTCDate", text_el("nc", "DateTime", t1.gmt.isoformat()))
        )
    built.append(id_el("biom", "TransactionControlIdentification", t1.tcn))
    if t1.tcr is not None:
        built.append(id_el("biom", "TransactionControlReferenceIdentification", t1.tcr))
    built.append(
        el(
            "biom",
            "TransactionDomain",
            id_el("biom", "DomainVersionNumberIdentification", t1.domain_version),
            text_el("biom", "TransactionDomainName", t1.domain_name),
        )
    )
    built.append(
        el(
            "biom",
            "TransactionImageResolutionDetails",
            text_el("biom", "NativeScanningResolutionValue", t1.nsr),
            text_el("biom", "NominalTransmittingResolutionValue", t1.ntr),
        )
    )
    built.append(text_el("biom", "TransactionMajorVersionValue", t1.version[:2]))
    built.append(text_el("biom", "TransactionMinorVersionValue", t1.version[2:]))
    if t1.priority is not None:
        if not 1 <= t1.priority <= 9:
            raise CodecError("Type-1.1.006", "PRY must be 1-9")
        built.append(text_el("biom", "TransactionPriorityValue", str(t1.priority)))
    built.append(text_el("int-i", "TransactionCategoryCode", t1.tot))
    built.append(_content_summary(tx))
    record.append(_place(el("biom", "Transaction"), built, t1.extra, "Transaction"))
    return record


def _content_summary(tx: IntiTransaction) -> etree._Element:
    entries = ([("2", tx.type2.idc)] if tx.type2 is not None else []) + [
        (str(r.record_type), r.idc) for r in tx.records
    ]
    summary = el(
        "biom",
        "TransactionContentSummary",
        text_el("biom", "ContentFirstRecordCategoryCode", "1"),
        text_el("biom", "ContentRecordQuantity", str(len(entries))),
    )
    for record_type, idc in entries:
        summary.append(
            el(
                "biom",
                "ContentRecordSummary",
                id_el("biom", "ImageReferenceIdentification", idc),
                text_el("biom", "RecordCategoryCode", record_type),
            )
        )
    return summary


def _write_reference(name: str, ref: CountryReference) -> etree._Element:
    return el(
        "int-i",
        name,
        text_el("int-i", "LocationCountryISO3166Alpha3Code", ref.country),
        text_el("nc", "IdentificationID", ref.value),
    )


def _write_misc(t2: Type2) -> list[etree._Element]:
    built = [_write_reference("NationalPersonIdentifier", t2.person)] if t2.person else []
    if t2.case is not None:
        built.append(_write_reference("NationalCaseIdentifier", t2.case))
    if t2.evidence_id is not None:
        built.append(text_el("int-i", "LatentCaseEvidenceIdentifier", t2.evidence_id))
    if t2.latent_id is not None:
        built.append(text_el("int-i", "LatentIdentifier", t2.latent_id))
    if len(t2.business) > 1:
        # The MRT allows 10 ORNs; int-i.xsd one, and a partner validates against the schema.
        raise CodecError("Type-2.2.011", "int-i.xsd allows one business reference (ORN)")
    built += [_write_reference("NationalBusinessReference", ref) for ref in t2.business]
    return built


def _write_metadata(t2: Type2) -> etree._Element | None:
    misc_items = _write_misc(t2)
    has_misc = bool(misc_items) or any(u.parent == "MiscellaneousIdentification" for u in t2.extra)
    built = []
    if has_misc:
        misc = el("int-i", "MiscellaneousIdentification")
        built.append(_place(misc, misc_items, t2.extra, "MiscellaneousIdentification"))
    if not built and not any(u.parent == "RecordMetadata" for u in t2.extra):
        return None
    return _place(el("int-i", "RecordMetadata"), built, t2.extra, "RecordMetadata")


def _write_response(t2: Type2) -> etree._Element | None:
    built = [_write_error(e) for e in t2.errors]
    if t2.candidates is not None:
        built.append(_write_candidates(t2.candidates))
    if not built and not any(u.parent == "TransactionResponseData" for u in t2.extra):
        return None
    return _place(
        el("int-i", "TransactionResponseData"), built, t2.extra, "TransactionResponseData"
    )


def _write_error(error: ErrorMessage) -> etree._Element:
    element = el("int-i", "ErrorMessage", text_el("int-i", "ErrorCode", error.code))
    if error.field_mnemonic is not None:
        element.append(text_el("int-i", "ErrorFieldMnemonicCode", error.field_mnemonic))
    if error.text is not None:
        element.append(text_el("int-i", "ErrorMessageText", error.text))
    return element


def _write_candidates(c: Candidates) -> etree._Element:
    if not 0 <= c.total <= 99:
        raise CodecError("Type-2.2.064.C", "total count must be 0-99 (two digits)")
    flag = "true" if c.manual_verification else "false"
    return el(
        "int-i",
        "RespondentsList",
        el(
            "int-i",
            "TransactionCandidate",
            id_el("int-i", "CandidateSequenceID", c.sequence_id),
            text_el("int-i", "TransactionCandidateManualVerificationIndicator", flag),
        ),
        text_el("int-i", "TransactionCandidatesTotalQuantity", str(c.total)),
        text_el("int-i", "TransactionCategoryCode", c.tot),
        text_el("int-i", "TransactionSearchResultsCode", c.result),
    )


def _write_subject(subject: SubjectData) -> etree._Element:
    built = []
    if subject.birth_date is not None:
        built.append(
            el("nc", "PersonBirthDate", text_el("nc", "Date", subject.birth_date.isoformat()))
        )
    built += [text_el("nc", "PersonCitizenshipISO3166Alpha3Code", c) for c in subject.citizenship]
    if subject.surname is not None or subject.given_name is not None or subject.middle_names:
        name = el("int-i", "PersonName")
        if subject.given_name is not None:
            name.append(text_el("nc", "PersonGivenName", subject.given_name))
        name.extend(text_el("nc", "PersonMiddleName", m) for m in subject.middle_names)
        if subject.surname is not None:
            name.append(text_el("nc", "PersonSurName", subject.surname))
        built.append(name)
    if subject.sex is not None:
        built.append(text_el("int-i", "PersonSexCode", subject.sex))
    return _place(el("int-i", "RecordSubject"), built, subject.extra, "RecordSubject")


def _date_element(prefix: str, name: str, value: dt.date) -> etree._Element:
    if isinstance(value, dt.datetime):
        return el(prefix, name, text_el("nc", "DateTime", value.isoformat()))
    return el(prefix, name, text_el("nc", "Date", value.isoformat()))


def _write_offence(t2: Type2) -> etree._Element | None:
    offence = t2.offence
    if offence is None:
        if any(u.parent == "RecordOffence" for u in t2.extra):
            raise CodecError("Type-2.RecordOffence", "kept offence parts without an offence")
        return None
    if offence.when is not None and offence.between is not None:
        # int-i.xsd: OffenceDateTime or OffenceDateTimeRange, a choice.
        raise CodecError("Type-2.RecordOffence", "a date (DOO) or a range (DOR), not both")
    built = []
    if offence.code is not None:
        built.append(text_el("int-i", "OffenceDescriptionCode", offence.code))
    if offence.description is not None:
        built.append(text_el("int-i", "OffenceDescriptionText", offence.description))
    if offence.when is not None:
        built.append(_date_element("int-i", "OffenceDateTime", offence.when))
    if offence.between is not None:
        start, end = offence.between
        built.append(
            el(
                "int-i",
                "OffenceDateTimeRange",
                _date_element("nc", "StartDate", start),
                _date_element("nc", "EndDate", end),
            )
        )
    return _place(el("int-i", "RecordOffence"), built, t2.extra, "RecordOffence")


def _write_type2(t2: Type2) -> etree._Element:
    record = el(
        "itl",
        "PackageDescriptiveTextRecord",
        text_el("biom", "RecordCategoryCode", "02"),
        id_el("biom", "ImageReferenceIdentification", t2.idc),
    )
    parts = [_write_subject(t2.subject)] if t2.subject is not None else []
    offence = _write_offence(t2)
    parts += [p for p in (offence, _write_metadata(t2), _write_response(t2)) if p is not None]
    detail = _place(el("int-i", "DomainDefinedDescriptiveDetail"), parts, t2.extra, "Detail")
    record.append(el("itl", "UserDefinedDescriptiveDetail", detail))
    return record
