"""Loading a MeMo document with its base64 payloads kept out of libxml2's tree.

A MeMo document is a few kilobytes of markup around ``File/content`` payloads that can reach 100 MB. Both
``parse`` and ``validate`` want the payloads as bytes (the model keeps them, validation checks them), so
:func:`load` returns the parsed tree with every ``File/content`` emptied plus the payloads by element.

Fast path (``_split``), used when it is provably equivalent to parsing the whole document: payload text
is sliced straight out of the input bytes and replaced by a marker before libxml2 sees the (now small)
document. This saves libxml2's copy of the text, the Python ``str`` lxml makes of it and the encode back
to bytes; and the one pass that checks the payload alphabet doubles as the ``xs:base64Binary`` alphabet
check. Conditions, each cheap to check:

* the document is UTF-8 (BOM and XML declaration allowed; any other declared encoding → slow path);
* it contains no ``<!`` (comments, CDATA, DOCTYPE) and no ``<?`` after the XML declaration, so every
  ``<`` starts a tag and text between ``>`` and ``<`` is character data;
* the payload sits between ``<P:content>`` and ``</P:content>`` (no attributes), is at least
  ``SPLIT_MIN_BYTES`` long and consists only of base64 characters, ``=``, space, tab and LF: such text
  has no entity or character reference, no CR to normalise and no character XML forbids, so its bytes
  *are* its value.

The marker carries a random nonce, so a document cannot forge one. After parsing, each marker must be
found exactly once, as the text of an element named ``content``; one in the MeMo namespace inside a
``File`` becomes a payload, any other gets its text back. If anything does not add up the whole input
is parsed again the ordinary way — the fast path never changes what a document means.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from graph_dpg.core.errors import MemoError
from graph_dpg.memo.namespaces import MEMO_NS
from graph_dpg.memo.xmlsafe import parse_untrusted

CONTENT_TAG = f"{{{MEMO_NS}}}content"
FILE_TAG = f"{{{MEMO_NS}}}File"
SPLIT_MIN_BYTES = 4096
# parse() splits only from here on: saves a copy of every payload (peak memory), costs ~10 % speed.
PARSE_SPLIT_MIN_BYTES = 8_000_000

BASE64_ALPHABET_PAD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_BOM = b"\xef\xbb\xbf"
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_UTF8_NAMES = frozenset({b"utf-8", b"utf8"})
_NOT_A_TAG = frozenset(b"!?")  # '<!' comment/CDATA/DOCTYPE, '<?' processing instruction
_CONTENT_QNAME = re.compile(rb"(?:[A-Za-z_][A-Za-z0-9._-]*:)?content")


class Payloads(dict[Any, bytes]):
    """``File/content`` element → its text as UTF-8 bytes. ``verified`` holds the ids of payloads already
    known to consist of base64 characters and ``=`` only (checked while splitting)."""

    def __init__(self) -> None:
        super().__init__()
        self.verified: set[int] = set()


def load(data: bytes, *, split_from: int = SPLIT_MIN_BYTES) -> tuple[Any, Payloads]:
    """Safely parse ``data``; return the root element and the payloads taken out of the tree.

    The fast path is tried for documents of at least ``split_from`` bytes. It costs one alphabet pass per
    payload, which ``validate`` needs anyway; a plain ``parse`` of a small document is faster without it
    (libxml2 checks characters as quickly), so ``parse`` only splits documents where memory matters.
    """
    split = _split(data) if isinstance(data, bytes) and len(data) >= split_from else None
    if split is not None:
        skeleton, spans, marker = split
        try:
            root = parse_untrusted(skeleton)
        except MemoError:
            root = None  # report the error against the real input, below
        if root is not None:
            payloads = _adopt(root, spans, marker)
            if payloads is not None:
                return root, take_payloads(root, payloads)
    root = parse_untrusted(data)
    return root, take_payloads(root)


def take_payloads(root: Any, payloads: Payloads | None = None) -> Payloads:
    """Move the text of every ``File/content`` still in the tree into ``payloads``.

    Each text node is emptied before its bytes are made, so a payload exists at most twice at any moment
    (Python str + bytes; libxml2's copy is already gone). The dict keeps the element proxies alive, which
    is what makes them usable as keys.
    """
    if payloads is None:
        payloads = Payloads()
    for content in root.iter(CONTENT_TAG):
        if content in payloads or content.getparent().tag != FILE_TAG or len(content):
            continue  # misplaced ones stay in the tree for libxml2 to report and for RawXml to keep
        text = content.text
        content.text = None
        payloads[content] = text.encode("utf-8") if text else b""
        del text
    return payloads


def _body_start(data: bytes) -> int | None:
    """Offset after the BOM and XML declaration, or ``None`` if the document is not declared UTF-8."""
    start = 3 if data.startswith(_BOM) else 0
    if not data.startswith(b"<?xml", start):
        return start
    end = data.find(b"?>", start)
    if end == -1:
        return None
    declared = _ENCODING.search(data, start, end)
    if declared is not None and declared.group(1).lower() not in _UTF8_NAMES:
        return None
    return end + 2


def _split(data: bytes) -> tuple[bytes, list[tuple[bytes, bool]], str] | None:
    if len(data) < SPLIT_MIN_BYTES:
        return None
    body = _body_start(data)
    if body is None:
        return None
    marker = f"graph-dpg-payload-{secrets.token_hex(8)}-"
    pieces: list[bytes] = []
    spans: list[tuple[bytes, bool]] = []
    pos = 0
    # Walk the markup '<' by '<' (memchr-fast across payloads, which contain none); a '<!' or '<?' anywhere
    # means comments, CDATA, DOCTYPE or PIs, where '<' need not start a tag: leave that to libxml2.
    end = len(data) - 1
    lt = data.find(b"<", body)
    while lt != -1:
        if lt == end or data[lt + 1] in _NOT_A_TAG:
            return None
        following = data.find(b"<", lt + 1)
        if following == -1:
            break
        if following - lt > SPLIT_MIN_BYTES:
            gt = data.find(b">", lt, following)
            name = data[lt + 1 : gt] if gt != -1 else b""
            if _CONTENT_QNAME.fullmatch(name) and data.startswith(b"</" + name + b">", following):
                payload = data[gt + 1 : following]
                if len(payload) >= SPLIT_MIN_BYTES:
                    rest = payload.translate(None, BASE64_ALPHABET_PAD)
                    if not rest or not rest.translate(None, b" \t\n"):
                        pieces.append(data[pos : gt + 1])
                        pieces.append(f"{marker}{len(spans)}".encode("ascii"))
                        spans.append((payload, not rest))
                        pos = following
        lt = following
    if not spans:
        return None
    pieces.append(data[pos:])
    return b"".join(pieces), spans, marker


def _adopt(root: Any, spans: list[tuple[bytes, bool]], marker: str) -> Payloads | None:
    payloads = Payloads()
    seen: set[int] = set()
    for element in root.iter("{*}content"):
        text = element.text
        if text is None or not text.startswith(marker) or len(element):
            continue
        try:
            index = int(text[len(marker) :])
        except ValueError:
            return None
        if index in seen or not 0 <= index < len(spans):
            return None
        seen.add(index)
        payload, pure = spans[index]
        if element.tag == CONTENT_TAG and element.getparent().tag == FILE_TAG:
            element.text = None
            payloads[element] = payload
            if pure:
                payloads.verified.add(id(payload))
        else:
            element.text = payload.decode("ascii")
    return payloads if len(seen) == len(spans) else None
