"""Mutations for `bench.fuzz_ansi_nist`: byte-level ones for every format, XML-aware ones for XML.

Byte mutations (from the first ANSI/NIST fuzzer): bit flips, separator and digit
substitution, deletion, insertion, duplication, truncation, number rewrites (LEN, CNT, IDC,
counts) and splicing with another seed. XML mutations work on the parsed tree of a
well-formed seed: delete, duplicate or swap elements, replace an element's text with long,
odd, control-character or huge-number text, move an element to another namespace, rename
or unwrap the root; their output is then sometimes byte-mutated too, so that broken XML is
tried as well. A field mutation for ANSI/NIST changes field values of a transaction that
decodes and writes it back, with LEN and CNT right, so that it gets past the framing checks.
Every mutation is a function of its `random.Random`, so one input can be rebuilt from the
seed that made it (`--replay`).
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import replace

from lxml import etree

from exchange.codecs import ansi_nist_records as records
from exchange.codecs.errors import CodecError

SEPARATORS = b"\x1c\x1d\x1e\x1f"
INTERESTING = SEPARATORS + b"0123456789.:\x00\xff"
NUMBERS = (0, 1, 2, 9, 10, 99, 100, 255, 256, 9999, 99999, 65535, 65536, 999999999, 2**31, 10**12)

# Text that codecs meet rarely: empty, blank, long, control characters (which XML 1.0
# cannot hold and lxml refuses with ValueError), lone surrogates, digits that are no
# numbers, numbers far out of range, dates that are no dates.
ODD_TEXTS = (
    "",
    " ",
    "\t\n",
    "A" * 5000,
    "x\x00y",
    "\x01",
    "\x1b[0m",
    "\x1c\x1d\x1e\x1f",
    "\ufffe",
    "\udc80",
    "é€𝄞",
    "-1",
    "00",
    "1e9",
    "NaN",
    "99999999999999999999999999",
    str(2**64),
    "-0",
    "+5",
    "true",
    "9999-99-99",
    "2026-02-30",
    "2026-12-07T25:61:00",
    "0000-01-01",
    "&amp;",
    "]]>",
)
ODD_NAMESPACES = ("", "urn:fuzz", "http://niem.gov/niem/niem-core/2.0", "relative/ns")


def mutate_bytes(rnd: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rnd.choice((1, 1, 1, 2, 3, 8))):
        if not buf:
            buf.extend(rnd.randbytes(rnd.randrange(1, 64)))
            continue
        op = rnd.randrange(9)
        i = rnd.randrange(len(buf))
        if op == 0:
            buf[i] ^= 1 << rnd.randrange(8)
        elif op == 1:
            buf[i] = rnd.choice(INTERESTING)
        elif op == 2:
            del buf[i : i + rnd.randrange(1, 32)]
        elif op == 3:
            buf[i:i] = rnd.randbytes(rnd.randrange(1, 16))
        elif op == 4:
            j = rnd.randrange(len(buf))
            buf[i:i] = buf[j : j + rnd.randrange(1, 64)]
        elif op == 5:
            del buf[rnd.randrange(len(buf) + 1) :]
        elif op == 6:  # rewrite a number (LEN, CNT, IDC, counts) with another
            digits = str(rnd.choice((*NUMBERS, len(buf))))
            j = i
            while j < len(buf) and 48 <= buf[j] <= 57:
                j += 1
            buf[i:j] = digits.encode()
        elif op == 7:
            other = rnd.choice(pool)
            cut = rnd.randrange(len(other) + 1)
            buf = buf[:i] + bytearray(other[cut:])
        else:
            buf[i] = rnd.randrange(256)
    return bytes(buf)


# Field values for the field-aware ANSI/NIST mutation: no separators (the writer refuses
# them), but numbers at and past every limit, signs, decimals, dates and odd text.
ODD_FIELD_VALUES = (
    *(str(n) for n in NUMBERS),
    "",
    "-1",
    "01",
    "1.5",
    "19.69",
    "99.99",
    "0.00",
    "20261307",
    "20260230",
    "20261207235960Z",
    "A" * 300,
    "é",
    "\x7f",
    "CPS",
    "SRE",
    "ERR",
    "MPS",
    "INT-I",
    "U",
    "255",
)


def mutate_fields(rnd: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """Change field values of a transaction that decodes, and write it back with LEN and CNT
    right, so the mutation reaches the checks behind the framing; bytes if it does not."""
    try:
        tx = records.decode_transaction(data)
    except CodecError:
        return mutate_bytes(rnd, data, pool)
    header = dict(tx.header)
    recs = list(tx.records)
    for _ in range(rnd.choice((1, 1, 2, 3))):
        index = rnd.randrange(len(recs) + 1)
        rec = recs[index - 1] if index else None
        if rec is not None and not isinstance(rec, records.TaggedRecord):
            continue
        fields = dict(rec.fields) if rec is not None else header
        if not fields:
            continue
        tag = rnd.choice(sorted(fields))
        op = rnd.randrange(5)
        value = rnd.choice(ODD_FIELD_VALUES)
        if op == 0:  # the first item
            subfields = list(fields[tag])
            subfields[0] = (value, *subfields[0][1:])
            fields[tag] = tuple(subfields)
        elif op == 1:  # another item of a subfield
            subfields = list(fields[tag])
            s = rnd.randrange(len(subfields))
            items = list(subfields[s])
            items[rnd.randrange(len(items))] = value
            subfields[s] = tuple(items)
            fields[tag] = tuple(subfields)
        elif op == 2:  # drop the field
            del fields[tag]
        elif op == 3:  # repeat a subfield, or add an item
            subfields = list(fields[tag])
            if rnd.random() < 0.5:
                subfields.append(rnd.choice(subfields))
            else:
                subfields[0] = (*subfields[0], value)
            fields[tag] = tuple(subfields)
        else:  # a field of another number
            fields[rnd.choice((3, 4, 5, 6, 9, 11, 12, 13, 14, 20, 31, 126, 137, 300, 999))] = (
                (value,),
            )
        if rec is not None:
            fields.pop(999, None)
            recs[index - 1] = replace(rec, fields=fields)
    try:
        return records.encode_transaction(records.Transaction(header, tuple(recs)))
    except CodecError:  # e.g. a field the writer computes (LEN, CNT, IDC)
        return mutate_bytes(rnd, data, pool)


_JSON_ODD: tuple[object, ...] = (
    *ODD_TEXTS,
    *NUMBERS,
    -1,
    1.5,
    float("inf"),
    None,
    True,
    [],
    {},
    [""],
)


def mutate_json(rnd: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """Replace, drop or repeat values of a JSON document (a UK record); bytes if none."""
    try:
        doc = json.loads(data)
    except ValueError:
        return mutate_bytes(rnd, data, pool)
    for _ in range(rnd.choice((1, 1, 2, 3))):
        slots: list[tuple[dict[str, object] | list[object], str | int]] = []
        stack: list[object] = [doc]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                slots += [(node, k) for k in node]
                stack += node.values()
            elif isinstance(node, list):
                slots += [(node, i) for i in range(len(node))]
                stack += node
        if not slots:
            break
        parent, key = rnd.choice(slots)
        op = rnd.randrange(4)
        if op == 0 and isinstance(parent, dict):
            del parent[str(key)]
        elif op == 1 and isinstance(parent, list):
            parent.append(parent[int(key)])
        else:
            parent[key] = rnd.choice(_JSON_ODD)  # type: ignore[index]
    return json.dumps(doc).encode()


def mutate_xml(rnd: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """Some tree mutations of a well-formed document; byte mutations if it is not one."""
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return mutate_bytes(rnd, data, pool)
    raw: dict[str, str] = {}
    for _ in range(rnd.choice((1, 1, 2, 3, 5))):
        root = _tree_step(rnd, root, pool, raw)
    out = etree.tostring(root, xml_declaration=rnd.random() < 0.8, encoding="UTF-8")
    for placeholder, value in raw.items():
        out = out.replace(placeholder.encode(), value.encode("utf-8", "surrogatepass"))
    if rnd.random() < 0.15:
        out = mutate_bytes(rnd, out, pool)
    return out


def _tree_step(
    rnd: random.Random, root: etree._Element, pool: list[bytes], raw: dict[str, str]
) -> etree._Element:
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    target = rnd.choice(elements)
    parent = target.getparent()
    op = rnd.randrange(10)
    if op == 0 and parent is not None:  # delete
        parent.remove(target)
    elif op == 1 and parent is not None:  # duplicate in place
        target.addnext(_copy(target))
    elif op == 2 and parent is not None:  # reorder: move after a sibling
        other = rnd.choice([e for e in parent if isinstance(e.tag, str)])
        if other is not target:
            other.addnext(target)
    elif op in (3, 4):  # odd text, on a leaf most often
        leaves = [e for e in elements if len(e) == 0] or elements
        _set_text(rnd, rnd.choice(leaves), rnd.choice(ODD_TEXTS), raw)
    elif op == 5:  # a number replaced by another
        leaves = [e for e in elements if (e.text or "").strip().isdigit()] or elements
        _set_text(rnd, rnd.choice(leaves), str(rnd.choice(NUMBERS)), raw)
    elif op == 6:  # another namespace
        name = etree.QName(target)
        target.tag = etree.QName(rnd.choice(ODD_NAMESPACES) or None, name.localname).text
    elif op == 7 and parent is not None:  # move an element somewhere else
        parent.remove(target)
        rnd.choice([e for e in root.iter() if isinstance(e.tag, str)]).append(target)
    elif op == 8:  # empty an element
        for c in list(target):
            target.remove(c)
        target.text = rnd.choice((None, "", " "))
    elif op == 9:  # break the root: rename it, or promote a child
        children = [e for e in root if isinstance(e.tag, str)]
        if rnd.random() < 0.5 or not children:
            root.tag = etree.QName(etree.QName(root).namespace, "Fuzz").text
        else:
            return _copy(rnd.choice(children))
    if rnd.random() < 0.05:  # graft part of another document
        try:
            other = etree.fromstring(rnd.choice(pool))
        except etree.XMLSyntaxError:
            return root
        target.append(_copy(rnd.choice([e for e in other.iter() if isinstance(e.tag, str)])))
    return root


def _copy(element: etree._Element) -> etree._Element:
    copied = copy.deepcopy(element)
    copied.tail = None
    return copied


def _set_text(rnd: random.Random, element: etree._Element, value: str, raw: dict[str, str]) -> None:
    try:
        element.text = value
    except ValueError:
        # lxml refuses control characters and lone surrogates in a tree; they can only
        # arrive as bytes, so a placeholder is replaced after serialising (`mutate_xml`)
        placeholder = f"FUZZRAW{len(raw)}X"
        raw[placeholder] = value
        element.text = placeholder
