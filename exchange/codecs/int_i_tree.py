"""Small element helpers for the INT-I XML codec: qualified names, required children, paths.

Every missing or empty required element is a `CodecError` whose field is the XML path of where
it was expected (`/itl:NISTBiometricInformationExchangePackage/itl:PackageInformationRecord/...`).
`child`, `need` and `opt_text` read an element that occurs at most once (int-i.xsd's default
maxOccurs): a second one is refused, not silently passed over. Elements that repeat are read
with `iterchildren`. Text written (`text_el`) must be text XML 1.0 can carry.
"""

from __future__ import annotations

import copy

from lxml import etree

from exchange.codecs.errors import CodecError
from exchange.codecs.int_i_codes import NSMAP
from exchange.codecs.xml_safety import xml_text

_PREFIX_OF = {uri: prefix for prefix, uri in NSMAP.items()}


def q(prefix: str, name: str) -> str:
    return f"{{{NSMAP[prefix]}}}{name}"


def _step(element: etree._Element) -> str:
    name = etree.QName(element)
    prefix = _PREFIX_OF.get(name.namespace or "", name.namespace or "")
    return f"{prefix}:{name.localname}" if prefix else name.localname


def path_of(element: etree._Element, child_name: str | None = None) -> str:
    steps = [_step(e) for e in reversed([element, *element.iterancestors()])]
    return "/" + "/".join(steps + ([child_name] if child_name else []))


def child(parent: etree._Element, prefix: str, name: str) -> etree._Element | None:
    """The one child of that name, or None; a repeated one is refused."""
    found = parent.iterchildren(q(prefix, name))
    first = next(found, None)
    second = next(found, None)
    if second is not None:
        raise CodecError(path_of(second), "is repeated: one is allowed")
    return first


def need(parent: etree._Element, prefix: str, name: str) -> etree._Element:
    found = child(parent, prefix, name)
    if found is None:
        raise CodecError(path_of(parent, f"{prefix}:{name}"), "is missing")
    return found


def opt_text(parent: etree._Element | None, prefix: str, name: str) -> str | None:
    found = child(parent, prefix, name) if parent is not None else None
    if found is None:
        return None
    return (found.text or "").strip()


def need_text(parent: etree._Element, prefix: str, name: str) -> str:
    found = need(parent, prefix, name)
    text = (found.text or "").strip()
    if not text:
        raise CodecError(path_of(found), "is empty")
    return text


def el(prefix: str, name: str, *children: etree._Element) -> etree._Element:
    element = etree.Element(q(prefix, name))
    element.extend(children)
    return element


def text_el(prefix: str, name: str, text: str) -> etree._Element:
    element = etree.Element(q(prefix, name))
    element.text = xml_text(text, f"{prefix}:{name}")
    return element


def id_el(prefix: str, name: str, value: str) -> etree._Element:
    """The NIEM identification wrapper: `<name><nc:IdentificationID>value</...></name>`."""
    return el(prefix, name, text_el("nc", "IdentificationID", value))


def canonical(element: etree._Element) -> bytes:
    """An element as exclusive C14N without its tail: the same bytes however it was embedded."""
    alone = copy.deepcopy(element)
    alone.tail = None
    try:
        return etree.tostring(alone, method="c14n", exclusive=True)
    except etree.C14NError as exc:  # e.g. a relative namespace URI, which C14N refuses
        raise CodecError(path_of(element), "cannot be kept: not canonicalisable XML") from exc
