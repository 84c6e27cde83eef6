"""The project's schema files and a loader that compiles each of them once.

Data, plus this tiny loader; no project imports (DESIGN.md §2). Files:

- `prum-envelope-1.0.xsd` and the body schemas it includes: Prüm-style messages.
- `uk-record.schema.json`: JSON Schema (2020-12) of the LEDS-style UK person record.
- `openapi.json`: OpenAPI 3.1 document of the gateway's client API.

Hot-path validation uses libxml2 through lxml (`xsd`); `xsd_explainer` returns an
xmlschema schema that says where and why a document fails, for error messages and tests.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from lxml import etree

PRUM_ENVELOPE = "prum-envelope-1.0.xsd"
PRUM_NAMESPACE = "urn:prum-exchange:prum:1.0"
UK_RECORD = "uk-record.schema.json"
OPENAPI = "openapi.json"


def path(name: str) -> Path:
    """Filesystem path of a schema file shipped in this package."""
    resource = files(__name__) / name
    with as_file(resource) as p:
        if not p.is_file():
            raise FileNotFoundError(f"no schema file {name!r} in package {__name__}")
        return p


@cache
def xsd(name: str) -> etree.XMLSchema:
    """The compiled libxml2 validator of an XSD file (compiled on first use, then shared)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    doc = etree.parse(str(path(name)), parser)
    return etree.XMLSchema(doc)


@cache
def xsd_explainer(name: str) -> Any:
    """An xmlschema validator of the same XSD, slower but with paths and reasons."""
    import xmlschema

    return xmlschema.XMLSchema10(str(path(name)))


@cache
def json_schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path(name).read_text(encoding="utf-8"))
    return data
