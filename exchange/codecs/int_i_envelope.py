"""INT-I v6.00 XML transactions <-> the project's `Envelope`, as far as the two fit.

CPS (ten-print, search type `TP/TP`) and MPS (latent, `LT/TP`) searches map to a
`DactySearchRequest`, SRE to a `SearchReply`, ERR to an `ErrorBody`. Header: TCN (1.009) is the
message id and must have INT-I's TCN shape (`int_i_codes.TCN_PATTERN`; `int_i_tcn` makes one);
TCR (1.010) is the correlation id of a reply (a request's correlation id is its own TCN); ORI/DAI
agency codes (1.008/1.007) are the sender and receiver; GMT (1.014) the timestamp.

Not carried, because INT-I has no place for it: the purpose (decoded as `investigation`), the
number of candidates asked for (Interpol decides it; decoded as 1), candidate references and
scores (an SRE gives a count, a hit flag and a manual-verification flag: decoded candidates are
named `<TCN>/<n>` with score 0; an SRE we write always names CPS as the search answered), our
error's field path (INT-I's 2.074 EFM is a field mnemonic: decoded into `ErrorBody.field`),
and on the way out of INT-I the identity data of an SRE hit (step-2 data, `Type2.subject`: read
it from the transaction, never from the envelope). Minutia angles are copied as given.

`core_data_of_subject` and `subject_of_core_data` map that identity to and from our `CoreData`:
names (surname, first given name, the others as middle names), a full date of birth (INT-I's
`nc:Date` has no partial form: a partial one is not carried), sex (M, F, U) and citizenships
(ISO 3166 alpha-3 in INT-I, alpha-2 in our model). Place of birth, aliases and identifiers are
not carried.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from exchange.codecs import int_i_codes as codes
from exchange.codecs.ansi_nist_prints import impression_of
from exchange.codecs.errors import CodecError
from exchange.codecs.int_i_prints import BiometricRecord, IncitsMinutia
from exchange.codecs.int_i_xml import (
    Agency,
    Candidates,
    CountryReference,
    ErrorMessage,
    IntiTransaction,
    SubjectData,
    Type1,
    Type2,
    decode,
    encode,
)
from exchange.countries import (
    ALPHA2_TO_ALPHA3,
    ALPHA3_TO_ALPHA2,
    CountryError,
    alpha3,
    normalise_country,
)
from exchange.model import (
    BiometricImage,
    Candidate,
    CoreData,
    DactySearchRequest,
    Envelope,
    ErrorBody,
    Finger,
    FingerprintSet,
    Header,
    Impression,
    MatchType,
    MessageType,
    Minutia,
    MinutiaKind,
    Modality,
    PartialDate,
    PersonName,
    ProbeResult,
    Purpose,
    SearchReply,
    Sex,
)

INTERPOL_COUNTRY = "XPO"  # Interpol's country code in INT-I's samples (1.007/1.008 item C)
_MNEMONIC = re.compile(r"[A-Z][A-Z0-9]{1,3}")
_NODE_ID = re.compile(r"[A-Z]{2}|EUROPOL|INTERPOL")

SEARCH_TYPE_OF_TOT = {codes.TOT_CPS: "TP/TP", codes.TOT_MPS: "LT/TP"}
#: The TOTs that are an exchange message (`envelope_from_transaction`); ATP and NPS are not.
ENVELOPE_TOTS = frozenset({*SEARCH_TYPE_OF_TOT, codes.TOT_SRE, codes.TOT_ERR})
#: The record types whose prints an envelope (or `prints_of`) takes.
PRINT_RECORD_TYPES = frozenset({4, 9, 13, 14})
TOT_OF_SEARCH_TYPE = {v: k for k, v in SEARCH_TYPE_OF_TOT.items()}

# Impression codes (ANSI/NIST-ITL Table 7): 1 live-scan rolled, 0 live-scan plain, 4 latent.
_IMPRESSION_CODE = {Impression.ROLLED: "1", Impression.PLAIN: "0", Impression.LATENT: "4"}
_KIND_OF_CATEGORY = {1: MinutiaKind.RIDGE_ENDING, 2: MinutiaKind.BIFURCATION}
_CATEGORY_OF_KIND = {MinutiaKind.RIDGE_ENDING: 1, MinutiaKind.BIFURCATION: 2}


def decode_envelope(data: bytes) -> Envelope:
    return envelope_from_transaction(decode(data))


def encode_envelope(envelope: Envelope, **agencies: str) -> bytes:
    return encode(transaction_from_envelope(envelope, **agencies))


# --- INT-I -> envelope --------------------------------------------------------------------------


def envelope_from_transaction(tx: IntiTransaction) -> Envelope:
    t1 = tx.type1
    body: DactySearchRequest | SearchReply | ErrorBody
    if t1.tot in SEARCH_TYPE_OF_TOT:
        body, message_type = _search_request(tx), MessageType.DACTY_SEARCH_REQUEST
    elif t1.tot == codes.TOT_SRE:
        body, message_type = _search_reply(tx), MessageType.SEARCH_REPLY
    elif t1.tot == codes.TOT_ERR:
        body, message_type = _error(tx), MessageType.ERROR
    else:
        raise CodecError("Type-1.1.004", f"INT-I {t1.tot} has no envelope counterpart")
    stamp = t1.gmt or dt.datetime.combine(t1.date, dt.time(), tzinfo=dt.UTC)
    header = Header(
        message_id=t1.tcn,
        correlation_id=t1.tcr or t1.tcn,
        timestamp=stamp,
        sender=node_of(t1.origin),
        receiver=node_of(t1.destination),
        message_type=message_type,
        purpose=Purpose.INVESTIGATION,
    )
    return Envelope(header, body)


def degrees_of_theta(theta: int) -> int:
    """The model's angle (degrees, the legacy 9.012 convention) of an INCITS 378 angle (units
    of 2 degrees): 2 * theta + 180 (mod 360), as `ansi_nist_prints` reads 9.137 and NIST's
    tools convert (the INCITS direction points the other way)."""
    return (2 * theta + 180) % 360


def theta_of_degrees(angle: int) -> int:
    """The INCITS 378 angle (0-179, units of 2 degrees) of a model angle; odd degrees round."""
    return round(((angle - 180) % 360) / 2) % 180


def _finger(position: int, records: list[BiometricRecord]) -> Finger:
    image = next((r for r in records if r.record_type != 9 and r.image is not None), None)
    minutiae = tuple(
        Minutia(
            m.x,
            m.y,
            degrees_of_theta(m.theta),
            _KIND_OF_CATEGORY.get(m.category, MinutiaKind.OTHER),
            m.quality,
        )
        for r in records
        if r.record_type == 9
        for m in r.minutiae
    )
    picture = None
    if image is not None and image.image is not None:
        picture = BiometricImage(
            data=image.image,
            compression=image.compression or "NONE",
            width=image.width or 0,
            height=image.height or 0,
            ppi=image.ppi or 500,
        )
    return Finger(position=position, minutiae=minutiae, image=picture)


def prints_of(tx: IntiTransaction) -> FingerprintSet:
    """The prints of an INT-I transaction's Type-4/9/13/14 records, one finger a position."""
    by_position: dict[int, list[BiometricRecord]] = {}
    for record in tx.records:
        if record.record_type in PRINT_RECORD_TYPES:
            position = record.positions[0] if record.positions else 0
            by_position.setdefault(position, []).append(record)
    if not by_position:
        raise CodecError("Type-9/13/14", f"a {tx.tot} carries no fingerprint record")
    fingers = tuple(_finger(p, rs) for p, rs in by_position.items())  # in the records' order
    ppi = next((r.ppi for r in tx.records if r.ppi), 500)
    return FingerprintSet(fingers, _impression(tx, by_position), ppi)


def _search_request(tx: IntiTransaction) -> DactySearchRequest:
    business = tx.type2.business if tx.type2 is not None else ()
    return DactySearchRequest(
        reference=business[0].value if business else tx.type1.tcn,
        search_type=SEARCH_TYPE_OF_TOT[tx.tot],
        fingerprints=prints_of(tx),
    )


def _impression(tx: IntiTransaction, by_position: dict[int, list[BiometricRecord]]) -> Impression:
    """The set's impression from its records' codes (a card of rolled prints and plain slaps
    is `rolled`: the model holds one impression per set); an MPS is a latent search."""
    if tx.tot == codes.TOT_MPS:
        return Impression.LATENT
    found = {
        impression_of(r.impression, f"Type-{r.record_type}.impression")
        for rs in by_position.values()
        for r in rs
        if r.impression is not None
    }
    if found - {Impression.ROLLED, Impression.PLAIN}:
        raise CodecError("Type-1.1.004", f"a {tx.tot} carries ten-print impressions only")
    return Impression.PLAIN if found == {Impression.PLAIN} else Impression.ROLLED


def _search_reply(tx: IntiTransaction) -> SearchReply:
    rls = tx.type2.candidates if tx.type2 is not None else None
    if rls is None:
        raise CodecError("Type-2.2.064", "an SRE needs its respondent list (RLS)")
    hits = rls.total if rls.result == codes.RESULT_HIT else 0
    candidates = tuple(
        Candidate(f"{tx.type1.tcn}/{n}", 0.0, MatchType.CANDIDATE) for n in range(1, hits + 1)
    )
    request = tx.type1.tcr or tx.type1.tcn
    return SearchReply(request, Modality.FINGERPRINT, (ProbeResult(request, candidates),))


def _error(tx: IntiTransaction) -> ErrorBody:
    errors = tx.type2.errors if tx.type2 is not None else ()
    if not errors:
        raise CodecError("Type-2.2.074", "an ERR needs its error message (ERM)")
    first = errors[0]
    return ErrorBody(
        code=codes.error_code_of(first.code),
        message=first.text or codes.ERROR_TEXTS.get(first.code, f"INT-I error {first.code}"),
        field=first.field_mnemonic,
        request_message_id=tx.type1.tcr,
    )


def core_data_of_subject(subject: SubjectData) -> CoreData | None:
    """A hit's subject as core data; None without a surname (our core data needs a family
    name to name anybody)."""
    given = ((subject.given_name,) if subject.given_name else ()) + subject.middle_names
    if not subject.surname:
        return None
    born = subject.birth_date
    nationalities = []
    for n, code in enumerate(subject.citizenship):
        try:
            nationalities.append(normalise_country(code))
        except CountryError as exc:
            path = f"Type-2.RecordSubject.PersonCitizenshipISO3166Alpha3Code[{n}]"
            raise CodecError(path, "not an ISO 3166 country code") from exc
    return CoreData(
        name=PersonName(subject.surname, given),
        date_of_birth=PartialDate(born.year, born.month, born.day) if born else None,
        sex=Sex(subject.sex) if subject.sex in {s.value for s in Sex} else Sex.UNKNOWN,
        nationalities=tuple(nationalities),
    )


def subject_of_core_data(core: CoreData) -> SubjectData:
    """Core data as an SRE's subject (what INT-I has no place for is left out)."""
    dob, birth = core.date_of_birth, None
    if dob is not None and dob.month is not None and dob.day is not None:
        birth = dt.date(dob.year, dob.month, dob.day)
    return SubjectData(
        surname=core.name.family or None,
        given_name=core.name.given[0] if core.name.given else None,
        middle_names=core.name.given[1:],
        birth_date=birth,
        sex=core.sex.value,
        citizenship=tuple(alpha3(n) for n in core.nationalities),
    )


# --- envelope -> INT-I --------------------------------------------------------------------------


def transaction_from_envelope(
    envelope: Envelope, *, origin_country: str | None = None, destination_country: str | None = None
) -> IntiTransaction:
    """An envelope as INT-I; agency countries are ISO 3166 alpha-3 (`XPO` is Interpol).

    Without an explicit country, each agency's is its node id's (`country_of`)."""
    head, body = envelope.header, envelope.body
    origin_country = origin_country or country_of(head.sender, "GBR")
    destination_country = destination_country or country_of(head.receiver, INTERPOL_COUNTRY)
    records: tuple[BiometricRecord, ...] = ()
    if isinstance(body, DactySearchRequest):
        tot, type2 = (
            _tot_of(body),
            Type2(business=(CountryReference(body.reference, origin_country),)),
        )
        records = _finger_records(body.fingerprints)
    elif isinstance(body, SearchReply):
        tot, type2 = codes.TOT_SRE, _reply_type2(body)
    elif isinstance(body, ErrorBody):
        tot, type2 = codes.TOT_ERR, _error_type2(body)
    else:
        raise CodecError("body", f"{type(body).__name__} cannot travel as INT-I")
    if head.timestamp.tzinfo is None:
        raise CodecError("header.timestamp", "timestamp must carry a time zone")
    utc = head.timestamp.astimezone(dt.UTC)
    type1 = Type1(
        tot=tot,
        tcn=_tcn(head.message_id, "header.message_id"),
        date=utc.date(),
        destination=Agency(head.receiver, destination_country, head.receiver),
        origin=Agency(head.sender, origin_country, head.sender),
        gmt=utc,
        tcr=None
        if tot in codes.SEARCH_TOTS
        else _tcn(head.correlation_id, "header.correlation_id"),
    )
    return IntiTransaction(type1, type2, records)


def node_of(agency: Agency) -> str:
    """The node id (`GB`, `DE`, `INTERPOL`: prum-common-1.0.xsd's pattern) an INT-I agency is.

    An agency code that is a node id already (what we write) stands; otherwise the agency's
    country decides: Interpol's `XPO` is `INTERPOL`, an ISO 3166-1 alpha-3 code its alpha-2
    form (Interpol's sample `BKA`/`DEU` is `DE`). An agency with neither keeps its code or name.
    """
    if agency.code is not None and _NODE_ID.fullmatch(agency.code):
        return agency.code
    country = agency.country.strip().upper()
    if country == INTERPOL_COUNTRY:
        return "INTERPOL"
    if country in ALPHA3_TO_ALPHA2:
        return ALPHA3_TO_ALPHA2[country]
    return agency.code or agency.name


def country_of(node_id: str, default: str) -> str:
    """The INT-I agency country (ISO 3166-1 alpha-3, `XPO` for Interpol) of a node id.

    A sender or receiver that is no node id (an agency code such as `GBR-NCA`) gets `default`:
    we are the UK's adapter (`GBR`) and INT-I transactions go to Interpol (`XPO`)."""
    if node_id == "INTERPOL":
        return INTERPOL_COUNTRY
    return ALPHA2_TO_ALPHA3.get(node_id, default)


#: The check character of (YY * 10**12 + serial) mod 23, by that number (the MRT's table:
#: 1-8 A-H, 9-13 J-N, 14-16 P-R, 17-22 T-Y, 0 Z).
_CHECK_CHARACTERS = "ZABCDEFGHJKLMNPQRTUVWXY"


def tcn_check_character(digits: str) -> str:
    """The check character of a TCN's fourteen digits (YY and the serial)."""
    return _CHECK_CHARACTERS[int(digits) % 23]


def int_i_tcn(message_id: str, year: int) -> str:
    """INT-I's TCN for a message id: `YY` of `year`, a serial and the check character.

    A message id that has the TCN's shape already stands (an INT-I TCN read elsewhere goes
    back unchanged). Any other becomes YY, twelve digits of its SHA-256 digest and the check
    character: stable, so a retry of the same message (same id, same year) carries the same
    TCN, and INT-I's pattern `\\d{14}[A-HJ-NP-RT-Z]` holds.
    """
    if codes.TCN_PATTERN.fullmatch(message_id):
        return message_id
    serial = int.from_bytes(hashlib.sha256(message_id.encode()).digest()[:8], "big") % 10**12
    digits = f"{year % 100:02d}{serial:012d}"
    return digits + tcn_check_character(digits)


def _tcn(value: str, path: str) -> str:
    if not codes.TCN_PATTERN.fullmatch(value):
        raise CodecError(path, "an INT-I TCN/TCR is YY, a twelve-digit serial and a check letter")
    return value


def _tot_of(body: DactySearchRequest) -> str:
    tot = TOT_OF_SEARCH_TYPE.get(body.search_type)
    if tot is None:
        raise CodecError(
            "body.search_type", f"INT-I carries TP/TP and LT/TP, not {body.search_type[:20]!r}"
        )
    return tot


def _finger_records(prints: FingerprintSet) -> tuple[BiometricRecord, ...]:
    impression = _IMPRESSION_CODE.get(prints.impression)
    if impression is None:
        raise CodecError(
            "body.fingerprints.impression", f"{prints.impression} prints are not carried"
        )
    image_type = 13 if prints.impression is Impression.LATENT else 14
    records = []
    for idc, finger in enumerate(prints.fingers, start=1):
        if finger.image is not None:
            picture = finger.image
            records.append(
                BiometricRecord(
                    image_type,
                    str(idc),
                    (finger.position,),
                    impression,
                    picture.compression,
                    picture.width,
                    picture.height,
                    picture.ppi,
                    picture.data,
                )
            )
        if finger.minutiae:
            minutiae = tuple(
                IncitsMinutia(
                    m.x, m.y, theta_of_degrees(m.angle), _CATEGORY_OF_KIND.get(m.kind, 0), m.quality
                )
                for m in finger.minutiae
            )
            records.append(
                BiometricRecord(
                    9, str(idc), (finger.position,), impression, ppi=prints.ppi, minutiae=minutiae
                )
            )
    return tuple(records)


def _reply_type2(body: SearchReply) -> Type2:
    if body.modality is not Modality.FINGERPRINT:
        raise CodecError("body.modality", "INT-I search results are fingerprint results")
    total = sum(len(r.candidates) for r in body.results)
    result = codes.RESULT_HIT if total else codes.RESULT_NO_HIT
    return Type2(candidates=Candidates(codes.TOT_CPS, result, total))


def _error_type2(body: ErrorBody) -> Type2:
    code = codes.int_i_error_code(body.code)
    # 2.074 EFM names a field by its INT-I mnemonic (`DOB`); our own field paths are no such.
    mnemonic = body.field if body.field is not None and _MNEMONIC.fullmatch(body.field) else None
    text = body.message[:255] or codes.ERROR_TEXTS.get(code)
    return Type2(errors=(ErrorMessage(code, text, mnemonic),))
