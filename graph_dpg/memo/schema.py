"""XSD validation against the MeMo schemas shipped in ``graph_dpg/memo/xsd`` (see its PROVENANCE.md).

The schema files are package data, read with :mod:`importlib.resources`, and compiled by lxml/libxml2 once
per process. ``xs:import`` statements are served by :class:`_PackageResolver`, which only knows the
packaged files: nothing is ever fetched from the file system by path or from the network, and an import
of anything else fails the compilation. An lxml ``XMLSchema`` keeps its error log on the object, so
libxml2's validation step runs under a lock; it only ever sees documents whose payloads are already out
(tens of microseconds), while parsing, payload checks and business rules run in parallel.

Speed: libxml2 checks ``xs:base64Binary`` at ~150 MB/s, which alone would cost ~3.5 ms for a message
with two 200 KB PDFs. The payloads are therefore taken out of the tree first (``take_payloads``, which
the model needs anyway) and checked by :func:`base64_problem` (``bytes.translate``: one C pass, ~1 GB/s)
against the same lexical rules; libxml2 then validates the rest of the document (an empty ``content`` is
a valid base64Binary) — every other value is still checked by libxml2 against the unmodified XSD.
"""

from __future__ import annotations

import re
import threading
from functools import cache
from importlib import resources
from typing import Any

from lxml import etree

from graph_dpg.core.errors import Finding, MemoError
from graph_dpg.memo.model import MemoVersion
from graph_dpg.memo.payloads import BASE64_ALPHABET_PAD, Payloads, take_payloads
from graph_dpg.memo.xmlsafe import element_path

RULE_XSD = "xsd"

_URL_PREFIX = "graph-dpg-memo:/xsd/"
# Relative name inside graph_dpg/memo/xsd of each version's entry schema.
SCHEMA_ENTRY: dict[MemoVersion, str] = {"1.1": "MeMo_core.xsd", "1.2": "Version1.2/MeMo_core.xsd"}


@cache
def schema_files() -> dict[str, bytes]:
    """Every packaged schema by its path relative to ``xsd/`` (``Version1.2/MeMo_core.xsd`` ...)."""
    root = resources.files("graph_dpg.memo").joinpath("xsd")
    files: dict[str, bytes] = {}
    for entry in root.iterdir():
        if entry.is_file() and entry.name.endswith(".xsd"):
            files[entry.name] = entry.read_bytes()
        elif entry.is_dir():
            for sub in entry.iterdir():
                if sub.is_file() and sub.name.endswith(".xsd"):
                    files[f"{entry.name}/{sub.name}"] = sub.read_bytes()
    return files


class _PackageResolver(etree.Resolver):  # type: ignore[misc]
    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        name = system_url[len(_URL_PREFIX) :] if system_url.startswith(_URL_PREFIX) else None
        content = schema_files().get(name) if name is not None else None
        if content is None:
            raise MemoError(
                f"MeMo schema imports {system_url!r}, which is not packaged in graph_dpg/memo/xsd"
            )
        return self.resolve_string(content, context, base_url=system_url)


# One compiled schema per version for the whole process, used under one lock: an lxml ``XMLSchema`` keeps
# its error log on the object, so two threads validating at once would mix their findings. Held only for
# libxml2's validation of a document whose payloads are already out (tens of microseconds).
_lock = threading.Lock()
_schemas: dict[str, Any] = {}
_COMPILE_ATTEMPTS = 5


def _compile(version: MemoVersion) -> Any:
    """Compile ``version``'s schema (caller holds ``_lock``).

    lxml installs its document loader (which calls our resolver) process-globally around every parse and
    restores the previous one afterwards, so a parse running in another thread can unhook it while an
    import is being loaded; the compile then fails with "does not resolve". That failure is clean (the
    default loader cannot fetch our ``graph-dpg-memo:`` URLs), so compiling again is the remedy.
    """
    entry = SCHEMA_ENTRY[version]
    for attempt in range(1, _COMPILE_ATTEMPTS + 1):
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        parser.resolvers.add(_PackageResolver())
        document = etree.fromstring(schema_files()[entry], parser, base_url=_URL_PREFIX + entry)
        try:
            return etree.XMLSchema(document)
        except etree.XMLSchemaParseError as exc:
            if attempt == _COMPILE_ATTEMPTS:
                raise MemoError(f"packaged MeMo {version} schema does not compile: {exc}") from exc
    raise AssertionError("unreachable")


def get_schema(version: MemoVersion) -> Any:
    """The process's compiled ``lxml.etree.XMLSchema`` for ``version`` (validate via ``validate_tree``)."""
    with _lock:
        schema = _schemas.get(version)
        if schema is None:
            schema = _schemas[version] = _compile(version)
        return schema


def validate_tree(tree: Any, version: MemoVersion) -> list[tuple[str, str | None]]:
    """(message, libxml2 path) of every XSD error in ``tree``; empty when valid."""
    schema = get_schema(version)
    with _lock:
        if schema.validate(tree):
            return []
        return [(entry.message, entry.path) for entry in schema.error_log]


# xs:base64Binary (XSD 1.0 Part 2 §3.2.16): after white-space collapsing, groups of 4 from the base64
# alphabet with optional single spaces between characters; padding only at the end, and the character
# before the padding must leave the unused bits zero. bytes.translate (one C pass, no regex, no decoding)
# is the fastest full check available in the standard library.
_PAD = ord("=")
_WHITESPACE = b" \t\r\n"
_PAD1_LAST = frozenset(b"AEIMQUYcgkosw048")
_PAD2_LAST = frozenset(b"AQgw")


def base64_problem(data: bytes, *, alphabet_checked: bool = False) -> str | None:
    """Why ``data`` (the UTF-8 text of an element) is not a valid ``xs:base64Binary`` value, or ``None``.

    ``alphabet_checked``: ``data`` is known to hold only base64 characters and ``=`` (no white space).
    """
    if alphabet_checked:
        return _padding_problem(data)
    if not data.isascii():
        return "contains non-ASCII characters"
    rest = data.translate(None, BASE64_ALPHABET_PAD)  # the one full pass in the common case
    if rest:
        if rest.translate(None, _WHITESPACE):
            return "contains characters outside the base64 alphabet"
        data = data.translate(None, _WHITESPACE)
    return _padding_problem(data)


def _padding_problem(data: bytes) -> str | None:
    size = len(data)
    if size % 4:
        return "length is not a multiple of 4"
    first_pad = data.find(b"=")
    if first_pad == -1:
        return None
    if first_pad < size - 2 or (first_pad == size - 2 and data[-1] != _PAD):
        return "padding '=' before the end"
    if first_pad == size - 2:
        if data[-3] not in _PAD2_LAST:
            return "non-zero bits before '=='"
    elif data[-2] not in _PAD1_LAST:
        return "non-zero bits before '='"
    return None


def schema_findings(root: Any, version: MemoVersion, payloads: Payloads | None = None) -> list[Finding]:
    """XSD findings for a parsed document.

    The payloads must be out of the tree (``take_payloads``; done here when not given): they are checked
    by :func:`base64_problem`, libxml2 checks everything else against the packaged schema.
    """
    if payloads is None:
        payloads = take_payloads(root)
    findings: list[Finding] = []
    verified = payloads.verified
    for content, payload in payloads.items():
        problem = base64_problem(payload, alphabet_checked=id(payload) in verified)
        if problem is not None:
            findings.append(
                Finding(
                    rule=RULE_XSD,
                    message="Element 'content': not a valid value of the atomic type 'xs:base64Binary' "
                    f"({problem})",
                    path=element_path(content),
                )
            )
    for message, path in validate_tree(root.getroottree(), version):
        findings.append(Finding(rule=RULE_XSD, message=message, path=_entry_path(root, path)))
    return findings


_PREFIX = re.compile(r"(?<=/)[^/:\[\]*]+:")


def _entry_path(root: Any, xpath: str | None) -> str:
    if not xpath:
        return ""
    namespaces = {prefix: uri for prefix, uri in root.nsmap.items() if prefix}
    try:
        nodes = root.getroottree().xpath(xpath, namespaces=namespaces)
    except etree.XPathError:
        nodes = []
    if isinstance(nodes, list) and len(nodes) == 1 and isinstance(nodes[0], etree._Element):
        return element_path(nodes[0])
    return _PREFIX.sub("", xpath)
