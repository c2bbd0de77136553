"""Untrusted XML: no entity expansion, no DTD, no file or network access, large payloads handled."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from memo_factories import make_body, make_message

from graph_dpg import memo

MINIMAL = memo.build(make_message())
BODY = MINIMAL.split(b"?>\n", 1)[1]


def _with_doctype(doctype: bytes, body: bytes = BODY) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + doctype + b"\n" + body


def _billion_laughs() -> bytes:
    entities = [b'<!ENTITY lol0 "lol">']
    entities += [b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)]
    doctype = b"<!DOCTYPE memo:Message [" + b"".join(entities) + b"]>"
    return _with_doctype(doctype, BODY.replace(b"Afg\xc3\xb8relse", b"&lol9;", 1))


@pytest.fixture
def listener() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback TCP listener that records any connection attempt (there must be none)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    hits: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while True:
            conn, _ = server.accept()
            if stop.is_set():
                conn.close()
                return
            hits.append(conn.recv(1024))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", hits
    stop.set()
    socket.create_connection(server.getsockname()).close()  # wakes the accept() above, which then ends
    thread.join()
    server.close()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-CONTENT")
    return path


def _cases(url: str, secret: Path) -> dict[str, bytes]:
    label = b"<memo:label>Afg\xc3\xb8relse</memo:label>"
    return {
        "xxe-file": _with_doctype(
            f'<!DOCTYPE memo:Message [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode(),
            BODY.replace(label, b"<memo:label>&xxe;</memo:label>"),
        ),
        "xxe-http": _with_doctype(
            f'<!DOCTYPE memo:Message [<!ENTITY xxe SYSTEM "{url}/xxe">]>'.encode(),
            BODY.replace(label, b"<memo:label>&xxe;</memo:label>"),
        ),
        "external-dtd": _with_doctype(f'<!DOCTYPE memo:Message SYSTEM "{url}/memo.dtd">'.encode()),
        "parameter-entity": _with_doctype(
            f'<!DOCTYPE memo:Message [<!ENTITY % p SYSTEM "{url}/p.dtd"> %p;]>'.encode()
        ),
        "billion-laughs": _billion_laughs(),
        "internal-entity": _with_doctype(
            b'<!DOCTYPE memo:Message [<!ENTITY e "harmless">]>',
            BODY.replace(label, b"<memo:label>&e;</memo:label>"),
        ),
        "empty-doctype": _with_doctype(b"<!DOCTYPE memo:Message>"),
    }


CASE_NAMES = [
    "xxe-file",
    "xxe-http",
    "external-dtd",
    "parameter-entity",
    "billion-laughs",
    "internal-entity",
    "empty-doctype",
]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_dtd_and_entity_tricks_are_refused_without_side_effects(
    case: str, listener: tuple[str, list[bytes]], secret_file: Path
) -> None:
    url, hits = listener
    data = _cases(url, secret_file)[case]
    start = time.perf_counter()
    for func in (memo.parse, memo.validate, memo.validate_schema, memo.parse_and_validate, memo.ensure_valid):
        with pytest.raises(memo.UnsafeXmlError) as caught:
            func(data)  # type: ignore[operator]
        assert "TOP-SECRET" not in str(caught.value)
    assert time.perf_counter() - start < 5  # no exponential expansion (generous bound, not a benchmark)
    assert hits == []


def test_xinclude_is_not_processed(secret_file: Path) -> None:
    data = MINIMAL.replace(
        b"<memo:label>Afg\xc3\xb8relse</memo:label>",
        b'<memo:label><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://'
        + str(secret_file).encode()
        + b'" parse="text"/></memo:label>',
    )
    message, findings = memo.parse_and_validate(data)
    assert message is None or b"TOP-SECRET" not in memo.build(message)
    assert findings
    assert all("TOP-SECRET" not in finding.message for finding in findings)


def test_wrong_namespace_is_rejected() -> None:
    foreign = MINIMAL.replace(b"https://DigitalPost.dk/MeMo-1", b"https://DigitalPost.dk/MeMo-2")
    with pytest.raises(memo.MemoError, match="not a MeMo message"):
        memo.parse(foreign)
    with pytest.raises(memo.MemoError, match="not a MeMo message"):
        memo.parse(b"<Message memoVersion='1.2'/>")
    assert [f.rule for f in memo.validate(foreign)] == ["memo.message"]


@pytest.mark.parametrize(
    "data", [b"", b"   ", b"<", b"\xff\xfe<\x00", b"<memo:Message>", "text".encode("utf-32")]
)
def test_malformed_input_raises_memo_error(data: bytes) -> None:
    with pytest.raises(memo.MemoError):
        memo.parse(data)
    assert memo.validate(data)


def test_non_bytes_input_is_refused() -> None:
    with pytest.raises(memo.MemoError, match="must be bytes"):
        memo.parse(MINIMAL.decode())  # type: ignore[arg-type]


def test_payload_beyond_libxml2_default_limit_parses_and_validates() -> None:
    """huge_tree: a text node over libxml2's 10 MB default limit is accepted."""
    payload = os.urandom(8_000_000)  # 10.7 MB of base64
    files = (memo.File("application/pdf", "stor.pdf", "da", payload),)
    data = memo.build(make_message(body=make_body(files=files)))
    assert len(data) > 10_000_000
    message, findings = memo.parse_and_validate(data)
    assert findings == []
    assert message is not None and message.body is not None
    assert message.body.main_document.files[0].content_base64 == base64.b64encode(payload)
    assert memo.build(message) == data
