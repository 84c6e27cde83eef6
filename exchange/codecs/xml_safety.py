"""Parsing XML that comes from outside: no DTD, no entities, no network, bounded size and depth.

The classic XML attacks are refused before or during parsing with a `HostileInputError`:
external entities (XXE) and external DTDs, entity expansion ("billion laughs"), oversize
bodies and runaway nesting. libxml2 (through lxml) is run with entity substitution, DTD
loading and network access off; any document type declaration is refused outright, since no
message of ours has one. Only UTF-8 is accepted, so the byte-level checks cannot be evaded by
another encoding. Shared by the Prüm and Interpol codecs, whose writers also check here
(`xml_text`) that a text holds only characters XML 1.0 allows (§2.2 Char).
"""

from __future__ import annotations

import re
from functools import lru_cache

from lxml import etree

from exchange.codecs.errors import CodecError, HostileInputError, OversizeInputError

MAX_XML_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 32
MAX_ELEMENTS = 100_000

# XML 1.0 §2.2 Char: what a document may hold. Control characters, lone surrogates and
# U+FFFE/U+FFFF may not; lxml refuses some of them with a bare ValueError.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_DECLARED_ENCODING = re.compile(rb"^<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._\-]+)[\"']")


def is_xml_text(value: str) -> bool:
    return _NOT_XML_CHAR.search(value) is None


def xml_text(value: str, field: str) -> str:
    """`value` if XML 1.0 can carry it as text or attribute; else a CodecError naming `field`."""
    bad = _NOT_XML_CHAR.search(value)
    if bad is not None:
        raise CodecError(
            field, f"holds U+{ord(bad[0]):04X} at {bad.start()}, which XML cannot carry"
        )
    return value


def _parser() -> etree.XMLParser:
    # A parser per call: lxml parsers must not be shared between threads, and making one
    # costs microseconds.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


# Compiled once: `root.xpath(text)` compiled both expressions on every message (~8 us of a
# ~60 us parse). An lxml XPath object serialises its evaluations with its own lock, so one
# object is safe to share between threads.
_COUNT_ELEMENTS = etree.XPath("count(//*)")


@lru_cache(maxsize=8)  # one depth limit in practice (MAX_DEPTH); tests try a few
def _deeper_than(max_depth: int) -> etree.XPath:
    return etree.XPath("boolean(/" + "*/" * max_depth + "*)")


def _check_bytes(data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise OversizeInputError("document", f"larger than {max_bytes} bytes")
    if not data.strip():
        raise CodecError("document", "is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:4]:
        raise HostileInputError("document", "only UTF-8 XML is accepted")
    m = _DECLARED_ENCODING.match(data.lstrip(b"\xef\xbb\xbf"))
    if m is not None and m[1].upper().replace(b"_", b"-") not in {b"UTF-8", b"UTF8"}:
        raise HostileInputError("document", "only UTF-8 XML is accepted")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise HostileInputError("document", "document type declarations and entities are refused")


def parse_xml(
    data: bytes,
    *,
    max_bytes: int = MAX_XML_BYTES,
    max_depth: int = MAX_DEPTH,
    max_elements: int = MAX_ELEMENTS,
) -> etree._Element:
    """Parse untrusted XML bytes into an element tree, or raise a typed error."""
    _check_bytes(data, max_bytes)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        if "depth" in str(exc).lower():
            raise HostileInputError("document", "nested too deeply") from exc
        line = exc.lineno if exc.lineno is not None else 0
        raise CodecError("document", f"not well-formed XML (line {line}): {exc.msg}") from exc
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise HostileInputError("document", "document type declarations are refused")
    if _deeper_than(max_depth)(root):
        raise HostileInputError("document", f"nested deeper than {max_depth} elements")
    if _COUNT_ELEMENTS(root) > max_elements:
        raise HostileInputError("document", f"more than {max_elements} elements")
    return root
