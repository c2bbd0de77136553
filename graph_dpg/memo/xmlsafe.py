"""Parsing untrusted XML safely with lxml (libxml2, C speed).

The parser never substitutes entities, never loads a DTD or anything else from the file system or the
network, and accepts large text nodes (``huge_tree``: a 99.5 MB MeMo is one base64 text node of ~130 MB,
beyond libxml2's default 10 MB limit). Because entities are never expanded, ``huge_tree`` does not open the
door to "billion laughs". A document that carries a DOCTYPE at all is refused with
:class:`~graph_dpg.core.errors.UnsafeXmlError`: MeMo has no DTD, so a DOCTYPE is only ever an attack or
a mistake.

lxml parsers keep per-parse state and are not safe to share between threads, so each thread gets its own.
"""

from __future__ import annotations

import threading
from typing import Any

from lxml import etree

from graph_dpg.core.errors import MemoError, UnsafeXmlError

_local = threading.local()


def _parser() -> Any:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=True,
            remove_comments=False,
            collect_ids=False,
        )
        # Refuse every external load attempt (external DTD subsets, XInclude, entity URLs).
        parser.resolvers.add(_DenyResolver())
        _local.parser = parser
    return parser


class _DenyResolver(etree.Resolver):  # type: ignore[misc]
    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        raise UnsafeXmlError(f"XML tried to load an external resource: {system_url!r}")


def parse_untrusted(data: bytes) -> Any:
    """Parse ``data`` into an lxml root element; refuse DTDs, raise :class:`MemoError` if malformed."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MemoError(f"MeMo XML must be bytes, got {type(data).__name__}")
    try:
        root = etree.fromstring(bytes(data) if not isinstance(data, bytes) else data, _parser())
    except UnsafeXmlError:
        raise
    except etree.XMLSyntaxError as exc:
        if _looks_like_dtd(data):
            raise UnsafeXmlError("XML with a DOCTYPE/DTD is refused") from exc
        raise MemoError(f"malformed XML: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise MemoError(f"malformed XML: {exc}") from exc
    tree = root.getroottree()
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXmlError("XML with a DOCTYPE/DTD is refused")
    return root


_DTD_MARKERS = tuple(
    marker.encode(encoding)
    for marker in ("<!DOCTYPE", "<!ENTITY")
    for encoding in ("ascii", "utf-16-le", "utf-16-be")
)


def _looks_like_dtd(data: bytes | bytearray | memoryview) -> bool:
    # Only reached when libxml2 refused the document. The whole document, not a head (a DOCTYPE may follow
    # a long comment), and UTF-16 spellings too: a UTF-16 billion-laughs document was reported as merely
    # "malformed" (libxml2 stops it at its amplification limit) instead of unsafe.
    raw = data if isinstance(data, bytes) else bytes(data)
    return any(marker in raw for marker in _DTD_MARKERS)


def element_path(element: Any) -> str:
    """``/Message/MessageHeader/Sender/senderID``: local names; ``[n]`` (1-based) only where siblings share
    the name, as libxml2 writes paths."""
    steps: list[str] = []
    node = element
    while node is not None:
        tag = node.tag
        local = etree.QName(tag).localname if isinstance(tag, str) else "node()"
        parent = node.getparent()
        if parent is not None:
            same = [sibling for sibling in parent if sibling.tag == tag]
            if len(same) > 1:
                local = f"{local}[{same.index(node) + 1}]"
        steps.append(local)
        node = parent
    return "/" + "/".join(reversed(steps))
