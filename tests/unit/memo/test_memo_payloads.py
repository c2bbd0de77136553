"""The payload fast path (``payloads.load``) means exactly what a full libxml2 parse means."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from memo_factories import make_body, make_message

from graph_dpg import memo
from graph_dpg.memo.codec import message_from_element
from graph_dpg.memo.payloads import SPLIT_MIN_BYTES, Payloads, load, take_payloads
from graph_dpg.memo.schema import schema_findings
from graph_dpg.memo.xmlsafe import parse_untrusted

BIG = os.urandom(3 * SPLIT_MIN_BYTES)
BIG_B64 = base64.b64encode(BIG)


def _big_message() -> bytes:
    files = (
        memo.File("application/pdf", "a.pdf", "da", BIG),
        memo.File("text/plain", "b.txt", "da", b"small"),
    )
    return memo.build(make_message(body=make_body(files=files)))


def _slow(data: bytes) -> tuple[Any, Payloads]:
    root = parse_untrusted(data)
    return root, take_payloads(root)


def _outcome(loader: Any, data: bytes) -> tuple[object, list[tuple[str, str, str]]]:
    """(model or error text, schema findings) through ``loader``."""
    try:
        root, payloads = loader(data)
    except memo.MemoError as exc:
        return type(exc).__name__, []
    findings = [(f.rule, f.path, f.message) for f in schema_findings(root, "1.2", payloads)]
    try:
        return message_from_element(root, payloads), findings
    except memo.MemoError as exc:
        return str(exc), findings


def _same_as_full_parse(data: bytes) -> Payloads | None:
    fast = _outcome(load, data)
    assert fast == _outcome(_slow, data)
    try:
        return load(data)[1]
    except memo.MemoError:
        return None


def test_fast_path_is_taken_for_a_plain_document() -> None:
    payloads = _same_as_full_parse(_big_message())
    assert payloads is not None
    assert list(payloads.values()) == [BIG_B64, base64.b64encode(b"small")]
    assert len(payloads.verified) == 1  # the big one was split out and checked on the way
    message = memo.parse(_big_message())
    assert message.body is not None and message.body.main_document.files[0].content == BIG


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"<memo:MessageHeader>", b"<!-- <memo:content>x</memo:content> --><memo:MessageHeader>"),
        (b'encoding="UTF-8"', b'encoding="ISO-8859-1"'),
        (b"<memo:content>" + BIG_B64[:8], b"<memo:content>" + BIG_B64[:4] + b"\r\n" + BIG_B64[4:8]),
        (b"<memo:content>" + BIG_B64[:8], b"<memo:content>&#65;" + BIG_B64[1:8]),
        (b"<memo:content>" + BIG_B64[:8], b"<memo:content><![CDATA[" + BIG_B64[:8] + b"]]>"),
        (b"<memo:content>" + BIG_B64[:8], b'<memo:content xml:lang="da">' + BIG_B64[:8]),
        (b"<memo:content>" + BIG_B64[:8], b"<memo:content>" + BIG_B64[:7] + b"\x01"),
        (b"<memo:content>" + BIG_B64[:8], b"<memo:content>" + BIG_B64[:7] + b"*"),
        (b"<memo:content>" + BIG_B64[:8], b"<memo:content>   \n\t" + BIG_B64[:8]),
        (b"</memo:Recipient>", b"<memo:content>" + BIG_B64 + b"</memo:content></memo:Recipient>"),
        (b"</memo:Recipient>", b'<x:content xmlns:x="urn:x">' + BIG_B64 + b"</x:content></memo:Recipient>"),
        (
            b"</memo:Recipient>",
            b"<memo:content>graph-dpg-payload-0000000000000000-0</memo:content></memo:Recipient>",
        ),
        (b"<memo:content>" + BIG_B64[:8], b"<memo:content>" + BIG_B64[:8] + b"<b/>"),
        (b"</memo:content>", b"</memo:contentX>"),
        (b"<?xml", b"\xef\xbb\xbf<?xml"),
        (b'<?xml version="1.0" encoding="UTF-8"?>\n', b""),
        (b"<memo:MessageHeader>", b"<?pi x?><memo:MessageHeader>"),
    ],
    ids=[
        "comment",
        "latin1",
        "crlf",
        "charref",
        "cdata",
        "attribute",
        "control-char",
        "non-base64",
        "whitespace",
        "misplaced",
        "foreign-namespace",
        "forged-marker",
        "child-element",
        "malformed",
        "bom",
        "no-declaration",
        "processing-instruction",
    ],
)
def test_tricky_documents_mean_the_same_on_both_paths(old: bytes, new: bytes) -> None:
    data = _big_message()
    assert old in data
    _same_as_full_parse(data.replace(old, new, 1))


def test_default_namespace_and_other_prefix() -> None:
    data = _big_message()
    _same_as_full_parse(data.replace(b"memo:", b"").replace(b"xmlns:memo=", b"xmlns="))
    payloads = _same_as_full_parse(data.replace(b"memo:", b"m:").replace(b"xmlns:memo=", b"xmlns:m="))
    assert payloads is not None and BIG_B64 in payloads.values()


def test_bad_padding_is_still_found_on_the_fast_path() -> None:
    data = _big_message().replace(BIG_B64, BIG_B64[:-4] + b"QR==")
    fast = _outcome(load, data)
    assert fast == _outcome(_slow, data)
    assert [(rule, path) for rule, path, _ in fast[1]] == [
        ("xsd", "/Message/MessageBody/MainDocument/File[1]/content")
    ]


def test_huge_payload_is_not_copied_through_str() -> None:
    data = _big_message()
    root, payloads = load(data)
    assert all(type(value) is bytes for value in payloads.values())
    assert root.find(".//{https://DigitalPost.dk/MeMo-1}content").text is None


_PIECES = st.sampled_from(
    [b"", b" ", b"\n", b"\t", b"\r", b"=", b"==", b"*", b"&amp;", b"<x/>", b"\x00", b"\xc3\xa6", b"QQ", b"</"]
)


@settings(max_examples=settings.default.max_examples * 6 // 5)
@given(st.integers(0, len(BIG_B64)), _PIECES, st.sampled_from(["memo", "m", ""]))
def test_random_damage_means_the_same_on_both_paths(position: int, piece: bytes, prefix: str) -> None:
    data = _big_message()
    start = data.index(BIG_B64)
    data = data[: start + position] + piece + data[start + position :]
    if prefix != "memo":
        data = data.replace(b"memo:", f"{prefix}:".encode() if prefix else b"")
        data = data.replace(b"xmlns:memo=", f"xmlns:{prefix}=".encode() if prefix else b"xmlns=")
    _same_as_full_parse(data)
