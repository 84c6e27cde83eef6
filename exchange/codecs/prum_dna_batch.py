"""DNA search requests written as text, valid by construction (the gateway's hot path).

A DNA search fanned out to several partners, or batched with other searches to one partner
(`exchange.gateway.outbound.dna_batch`), carries the same probe profiles under different headers.
`prum_xml.encode` builds an lxml tree and validates the whole document against the XSD each
time; here each probe's `Profile` is written and checked once (`encoded_profile`) and each
message is a header written as text around such profiles (`encode_dna_batch`). Both check in
Python exactly what the schema (`schemas/prum-dna-1.0.xsd`, `prum-envelope-1.0.xsd`)
constrains, and tests hold their bytes, verdicts and error paths to `prum_xml`'s
(tests/codecs/test_prum_xml_fast_paths.py).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence

from exchange.codecs.errors import CodecError
from exchange.codecs.prum_xml import NS, SCHEMA_VERSION, format_timestamp
from exchange.codecs.xml_safety import MAX_XML_BYTES
from exchange.loci import KNOWN_LOCI
from exchange.model import DnaProbe, Header, MessageType, Purpose

_PARTY_CODE = re.compile(r"[A-Z]{2}|EUROPOL|INTERPOL")
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
_MAX_PROFILES = 100  # DnaSearchRequest's Profile maxOccurs, and the MaxCandidates bound


# What prum-dna-1.0.xsd admits in the DnaProfile `encoded_profile` writes (its simple types
# from prum-common-1.0.xsd). Constants, not facets read from the XSD at import: an XSD regular
# expression is not a Python one (it is anchored, and libxml2's `\d` is Unicode 4.0's 268
# decimal digits where Python's knows 660), so a pattern read at import would still need a
# hand translation, and one that drifted from the schema unseen would be worse than a constant
# a test holds to it. Tests hold each constant to the XSD's facet text, `_XSD_DIGIT` to
# libxml2's `\d` over every code point, and `encoded_profile` to the schema's verdict.
_XSD_DIGIT = (
    r"[0-9\u0660-\u0669\u06f0-\u06f9\u0966-\u096f\u09e6-\u09ef\u0a66-\u0a6f\u0ae6-\u0aef"
    r"\u0b66-\u0b6f\u0be7-\u0bef\u0c66-\u0c6f\u0ce6-\u0cef\u0d66-\u0d6f\u0e50-\u0e59"
    r"\u0ed0-\u0ed9\u0f20-\u0f29\u1040-\u1049\u1369-\u1371\u17e0-\u17e9\u1810-\u1819"
    r"\u1946-\u194f\uff10-\uff19\U000104a0-\U000104a9\U0001d7ce-\U0001d7ff]"
)
_ALLELE_XSD = r"\d{1,3}(\.\d)?|\*|[<>]\d{1,3}(\.\d)?|o|f|r|na|nr|un|ol|X|Y"  # type Allele
_ALLELE_VALUE = re.compile(_ALLELE_XSD.replace(r"\d", _XSD_DIGIT))
# Alleles as most are written (repeat numbers under 100, micro-variants, codes): the pattern
# takes them all and XML escapes none, so a locus of them is checked by a set lookup (a regular
# expression takes ~0.3 µs an allele) and written without escaping.
_USUAL_ALLELES = frozenset(
    [f"{n}{v}" for n in range(100) for v in ("", ".0", ".1", ".2", ".3", ".4", ".5", ".6",
     ".7", ".8", ".9")] + ["*", "o", "f", "r", "na", "nr", "un", "ol", "X", "Y"]
)  # fmt: skip
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/\-]{0,127}")  # type Reference
_LOCUS_NAMES = frozenset(KNOWN_LOCI)  # type LocusName's enumeration
_LOCI_LISTED = ", ".join(KNOWN_LOCI)
_SAMPLE_TYPES = ("reference", "stain")  # DnaProfile/@type's enumeration
_MAX_LOCI, _MAX_ALLELES = 32, 3  # the maxOccurs of DnaProfile/Locus and of Locus/Allele
_XML_SPACE = " \t\n\r"  # what xs:token's whiteSpace="collapse" treats as space
# What XML 1.0's Char production leaves out (C0 controls but tab, LF, CR; U+FFFE, U+FFFF; and
# the surrogates, which are no characters and cannot even be written as UTF-8).
_NOT_XML_CHAR = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_PROFILE_FIELD = "DnaSearchRequest/Profile"
_PROFILE_PATH = "/Message/Body/DnaSearchRequest/Profile"


def encoded_profile(probe: DnaProbe) -> bytes:
    """A DNA probe's `Profile` element as the bytes it has in any DNA search request,
    valid against the schema by construction, for `encode_dna_batch`.

    A search batched to several partners is built, validated and serialised once instead of
    once per batch carrying it: building a profile's ~50 elements, copying them into each
    batch and validating each whole batch was most of the cost of sending one.

    The element is written as text, escaped as lxml's serialiser escapes (tests hold the
    bytes equal to `encode`'s). It was then parsed and validated inside a one-profile request;
    now it is valid by construction, as `encode_dna_batch`'s header is: what the parser
    refused (`_unwritable`) and what the schema refused (`_schema_fault`) are checked in
    Python, and tests hold the verdict, the bytes and the error's path to the old way's over
    hostile probes. A UK DNA-17 profile: 74 -> 9.3 µs (timeit, min of 5 x 2000 calls, both
    in one run); 28 without the set lookup of loci as most are (`_USUAL_ALLELES`), which
    spares them the regular expressions and the escaping.
    """
    p = probe.profile
    attrs = [("reference", probe.reference), ("type", p.sample_type.value)]
    if p.kit:
        attrs.append(("kit", p.kit))
    if probe.correlation_id is not None:
        attrs.append(("correlationId", probe.correlation_id))
    parts = ["<Profile", *[f' {k}="{_xml_attr(v)}"' for k, v in attrs], ">"]
    for name, alleles in p.loci.items():
        if alleles and name in _LOCUS_NAMES and _USUAL_ALLELES.issuperset(alleles):
            inner = "</Allele><Allele>".join(alleles)  # nothing to escape
            parts.append(f'<Locus name="{name}"><Allele>{inner}</Allele></Locus>')
            continue
        parts.append(f'<Locus name="{_xml_attr(name)}">')
        parts.extend([f"<Allele>{_xml_text(a)}</Allele>" for a in alleles])
        parts.append("</Locus>")
    parts.append("</Profile>")
    fault = _schema_fault(probe)
    # Every text but the kit must match a pattern or an enumeration, none of which admits a
    # character XML cannot carry: only the kit is searched for one, unless the schema refuses.
    if fault is not None or (p.kit and _NOT_XML_CHAR.search(p.kit)):
        unwritable = _unwritable(probe)
        if unwritable is not None:  # the parser refused it before the schema saw anything
            raise CodecError(_PROFILE_FIELD, unwritable)
    profile = "".join(parts).encode("utf-8")  # no lone surrogate: `_unwritable` finds them
    if len(profile) > _MAX_PROFILE_BYTES:  # `parse_xml`'s bound on the one-profile request
        raise CodecError(_PROFILE_FIELD, f"{len(profile)} bytes, more than a message may hold")
    if fault is not None:
        raise CodecError(*fault)
    return profile


def _unwritable(probe: DnaProbe) -> str | None:
    """Which text, first in document order, holds a character XML 1.0 cannot carry, if any."""
    p = probe.profile
    texts = [("reference", probe.reference), ("type", p.sample_type.value)]
    texts += [("kit", p.kit or ""), ("correlationId", probe.correlation_id or "")]
    for i, (name, alleles) in enumerate(p.loci.items(), 1):
        texts.append((f"the name of Locus {i}", name))
        texts += [(f"Allele {j} of Locus {i} ({name!r})", a) for j, a in enumerate(alleles, 1)]
    for where, text in texts:
        bad = _NOT_XML_CHAR.search(text)
        if bad is not None:
            return f"{where} holds U+{ord(bad[0]):04X}, which XML 1.0 cannot carry"
    return None


def _schema_fault(probe: DnaProbe) -> tuple[str, str] | None:
    """What the schema refuses in the profile, named as `prum_xml`'s validation named it
    (the element's path in a one-profile request), or None.

    libxml2 validates on past a fault and that validation names the last one it met, so the
    profile is walked in document order and the last fault kept. As libxml2 does, it skips
    the rest of a parent's content after a 33rd Locus or a 4th Allele, and finds a parent
    without children at the parent's end. xs:token collapses whitespace before the facets are
    checked; no pattern or enumeration here admits a space, so that comes down to stripping
    XML whitespace at both ends (a value with whitespace inside fails either way).
    """
    p = probe.profile
    ref, kind, cid = probe.reference, p.sample_type.value, probe.correlation_id
    fault = None
    if not _REFERENCE.fullmatch(ref.strip(_XML_SPACE)):
        fault = _PROFILE_PATH, f"reference {ref!r} is not a Reference ({_REFERENCE.pattern})"
    if kind.strip(_XML_SPACE) not in _SAMPLE_TYPES:
        fault = _PROFILE_PATH, f"type {kind!r} is not {' or '.join(_SAMPLE_TYPES)}"
    if cid is not None and not _IDENTIFIER.fullmatch(cid.strip(_XML_SPACE)):
        fault = _PROFILE_PATH, f"correlationId {cid!r} is not an Identifier ({_IDENTIFIER.pattern})"
    loci = p.loci
    if not loci:  # found at the Profile's end, and the last of its faults then
        return _PROFILE_PATH, f"no Locus: 1 to {_MAX_LOCI} are needed"
    if len(loci) > _MAX_LOCI:
        return f"{_PROFILE_PATH}/Locus[{_MAX_LOCI + 1}]", f"{len(loci)} loci, at most {_MAX_LOCI}"
    for i, (name, alleles) in enumerate(loci.items(), 1):
        if (
            name in _LOCUS_NAMES
            and 0 < len(alleles) <= _MAX_ALLELES
            and _USUAL_ALLELES.issuperset(alleles)
        ):
            continue  # a locus as most are
        if name.strip(_XML_SPACE) not in _LOCUS_NAMES:
            fault = _locus_path(loci, i), f"locus name {name!r} is not one of {_LOCI_LISTED}"
        for j, allele in enumerate(alleles[:_MAX_ALLELES], 1):
            if not _ALLELE_VALUE.fullmatch(allele.strip(_XML_SPACE)):
                path = f"{_locus_path(loci, i)}/Allele" + (f"[{j}]" if len(alleles) > 1 else "")
                fault = path, f"allele {allele!r} of {name!r} is not an Allele ({_ALLELE_XSD})"
        if len(alleles) > _MAX_ALLELES:
            path = f"{_locus_path(loci, i)}/Allele[{_MAX_ALLELES + 1}]"
            fault = path, f"{len(alleles)} alleles of {name!r}, at most {_MAX_ALLELES}"
        elif not alleles:
            fault = _locus_path(loci, i), f"no allele of {name!r}: 1 to {_MAX_ALLELES} are needed"
    return fault


def _locus_path(loci: Mapping[str, object], i: int) -> str:
    """The path `element_path` gives the i-th Locus: indexed only among several."""
    return f"{_PROFILE_PATH}/Locus[{i}]" if len(loci) > 1 else f"{_PROFILE_PATH}/Locus"


def _xml_text(value: str) -> str:
    """Element text as libxml2 writes it (xmlEscapeContent)."""
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _xml_attr(value: str) -> str:
    """An attribute value in double quotes as libxml2 writes it (xmlAttrSerializeTxtContent)."""
    return _xml_text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def encode_dna_batch(header: Header, profiles: Sequence[bytes], max_candidates: int) -> bytes:
    """`encode` of a DNA search request whose profiles are `encoded_profile`s: the same bytes
    as `encode(Envelope(header, DnaSearchRequest(probes, max_candidates)))`.

    Valid by construction, without validating the whole message again: `encoded_profile`
    checked each profile once, and what the schema constrains in the rest is checked here
    (the party codes and ids, the time zone, the message type, how many profiles, the
    candidate limit) before the header is written as text. Tests hold the bytes equal to
    `encode`'s over any header the schema admits.
    """
    if header.schema_version != SCHEMA_VERSION:
        raise CodecError("Header.SchemaVersion", f"{header.schema_version}, not {SCHEMA_VERSION}")
    if not 1 <= len(profiles) <= _MAX_PROFILES:
        raise CodecError(
            "DnaSearchRequest/Profile", f"{len(profiles)} profiles, not 1 to {_MAX_PROFILES}"
        )
    if not 1 <= max_candidates <= _MAX_PROFILES:
        raise CodecError(
            "DnaSearchRequest/@maxCandidates", f"{max_candidates}, not 1 to {_MAX_PROFILES}"
        )
    offset = header.timestamp.utcoffset()
    if offset is None or offset % dt.timedelta(minutes=1) or abs(offset) > dt.timedelta(hours=14):
        # xs:dateTime's zone: whole minutes, -14:00 to +14:00 (XML Schema 1.1 Part 2, D.3.1)
        raise CodecError("Header/Timestamp", f"zone {offset} is not whole minutes within 14 h")
    for name, value, pattern in (
        ("Header/MessageId", header.message_id, _IDENTIFIER),
        ("Header/CorrelationId", header.correlation_id, _IDENTIFIER),
        ("Header/Sender", header.sender, _PARTY_CODE),
        ("Header/Receiver", header.receiver, _PARTY_CODE),
    ):
        if not pattern.fullmatch(value):
            raise CodecError(name, f"{value!r} does not match {pattern.pattern}")
    if header.message_type != MessageType.DNA_SEARCH_REQUEST:
        raise CodecError("Header.MessageType", f"is {header.message_type}, not a DNA search")
    # Every text was checked above against a pattern or is an enum value or a formatted time:
    # none holds a character XML would escape, so the header is written as text (lxml's
    # element tree and serialiser took 20 µs of the 23 a batch cost).
    head = _BATCH_HEAD.format(
        header.message_id,
        header.correlation_id,
        format_timestamp(header.timestamp),
        header.sender,
        header.receiver,
        header.purpose.value,
        max_candidates,
    ).encode("ascii")
    return b"".join((head, *profiles, _BATCH_TAIL))


# `encode`'s bytes of a DNA search request, around its profiles (tested equal to them).
_BATCH_HEAD = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    f'<Message xmlns="{NS}"><Header><MessageId>{{}}</MessageId>'
    "<CorrelationId>{}</CorrelationId><Timestamp>{}</Timestamp><Sender>{}</Sender>"
    f"<Receiver>{{}}</Receiver><MessageType>{MessageType.DNA_SEARCH_REQUEST.value}</MessageType>"
    f"<Purpose>{{}}</Purpose><SchemaVersion>{SCHEMA_VERSION}</SchemaVersion></Header>"
    '<Body><DnaSearchRequest maxCandidates="{}">'
)
_BATCH_TAIL = b"</DnaSearchRequest></Body></Message>"
# A one-profile request around a profile `encoded_profile` writes, in which it was once parsed
# and validated: `parse_xml`'s bound on that document bounds the profile as it did then.
_PROFILE_HEAD = _BATCH_HEAD.format(
    "profile", "profile", "2000-01-01T00:00:00Z", "GB", "GB", Purpose.INVESTIGATION.value, 1
).encode("ascii")
_MAX_PROFILE_BYTES = MAX_XML_BYTES - len(_PROFILE_HEAD) - len(_BATCH_TAIL)
