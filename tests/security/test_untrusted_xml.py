"""Untrusted XML is parsed without entity expansion, DTDs or network access (issue 10, security review).

Static: every lxml parser the package builds sets ``resolve_entities=False, no_network=True,
load_dtd=False``; every parse call passes one of them; no stdlib XML parser is imported (AST scan of
graph_dpg). Behaviour: attack documents that would read a local marker file or connect to a listener on
127.0.0.1 go through every entry point that reads MeMo from outside (memo parse/validate, the inbound
service's reader, the NgDP emulator's reader and HTTP endpoint, the memo CLI): the marker never shows and
the listener is never contacted.
"""

from __future__ import annotations

import ast
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from graph_dpg import memo as memolib
from graph_dpg.cli import main as cli_main
from graph_dpg.core.errors import GraphDpgError, UnsafeXmlError
from graph_dpg.domain.routing import parse_inbound
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.sandbox.ngdp.app import create_app as create_ngdp_app
from graph_dpg.sandbox.ngdp.memo_check import MemoSummaryError, summarize

PACKAGE = Path(__file__).resolve().parents[2] / "graph_dpg"
MARKER = "MARKER-7f3a9c2e-never-read"
NS = "https://DigitalPost.dk/MeMo-1"


def memo(prolog: str, label: str, extra_ns: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}'
        f'<memo:Message xmlns:memo="{NS}" memoVersion="1.2"{extra_ns}><memo:MessageHeader>'
        "<memo:messageType>DIGITALPOST</memo:messageType>"
        "<memo:messageUUID>0b6f2c1e-3d4a-4b5c-8d6e-7f8091a2b3c4</memo:messageUUID>"
        f"<memo:label>{label}</memo:label>"
        "<memo:Sender><memo:senderID>0101701234</memo:senderID><memo:idType>CPR</memo:idType>"
        "<memo:label>A</memo:label></memo:Sender><memo:Recipient><memo:recipientID>29189846</memo:recipientID>"
        "<memo:idType>CVR</memo:idType></memo:Recipient></memo:MessageHeader><memo:MessageBody>"
        "<memo:createdDateTime>2026-11-20T09:30:00Z</memo:createdDateTime><memo:MainDocument><memo:File>"
        "<memo:encodingFormat>text/plain</memo:encodingFormat><memo:filename>a.txt</memo:filename>"
        "<memo:language>da</memo:language><memo:content>SGVq</memo:content></memo:File></memo:MainDocument>"
        "</memo:MessageBody></memo:Message>"
    ).encode()


class Listener:
    """A TCP listener on 127.0.0.1 that counts connection attempts (nothing may ever connect)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.close()


def attacks(tmp: Path, port: int) -> dict[str, bytes]:
    secret = tmp / "secret.txt"
    secret.write_text(MARKER)
    dtd = tmp / "evil.dtd"
    dtd.write_text(f'<!ENTITY xxe "{MARKER}">')
    pe = tmp / "pe.dtd"
    pe.write_text(f"<!ENTITY % inner \"<!ENTITY xxe '{MARKER}'>\"> %inner;")
    http = f"http://127.0.0.1:{port}"
    return {
        "xxe-file": memo(f'<!DOCTYPE memo:Message [<!ENTITY xxe SYSTEM "file://{secret}">]>', "&xxe;"),
        "xxe-http": memo(f'<!DOCTYPE memo:Message [<!ENTITY xxe SYSTEM "{http}/x">]>', "&xxe;"),
        "external-dtd-file": memo(f'<!DOCTYPE memo:Message SYSTEM "file://{dtd}">', "&xxe;"),
        "external-dtd-http": memo(f'<!DOCTYPE memo:Message SYSTEM "{http}/evil.dtd">', "Brev"),
        "parameter-entity-file": memo(
            f'<!DOCTYPE memo:Message [<!ENTITY % p SYSTEM "file://{pe}"> %p;]>', "&xxe;"
        ),
        "parameter-entity-http": memo(
            f'<!DOCTYPE memo:Message [<!ENTITY % p SYSTEM "{http}/p"> %p;]>', "Brev"
        ),
        "xinclude-file": memo(
            "",
            f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{secret}" parse="text"/>',
        ),
        "schema-location-http": memo(
            "",
            "Brev",
            f' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="{NS} {http}/memo.xsd"',
        ),
    }


def _outcome(call: Callable[[bytes], object], data: bytes) -> str:
    """Whatever an entry point returns or raises, as text (to search for the marker)."""
    try:
        return repr(call(data))
    except (GraphDpgError, MemoSummaryError) as exc:
        return f"{type(exc).__name__}: {exc}"


ENTRY_POINTS: dict[str, Callable[[bytes], object]] = {
    "memo.parse": memolib.parse,
    "memo.validate": memolib.validate,
    "memo.parse_and_validate": memolib.parse_and_validate,
    "inbound.parse_inbound": parse_inbound,
    "ngdp emulator summarize": summarize,
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_attack_documents_read_no_file_and_open_no_connection(
    entry: str, tmp_path: Path, listener: Listener
) -> None:
    for name, data in attacks(tmp_path, listener.port).items():
        said = _outcome(ENTRY_POINTS[entry], data)
        assert MARKER not in said, f"{entry} read the marker file for {name}"
        if "DOCTYPE" in data.decode() and entry.startswith("memo.parse"):
            assert said.startswith("UnsafeXmlError"), (name, said)
    assert listener.connections == 0


async def test_ngdp_emulator_endpoint_refuses_them(tmp_path: Path, listener: Listener) -> None:
    state = NgdpState()
    transport = httpx.ASGITransport(app=create_ngdp_app(state))
    token = f"{state.system_id}:{state.api_token}"
    async with httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1", auth=tuple(token.split(":", 1))
    ) as c:  # type: ignore[arg-type]
        for name, data in attacks(tmp_path, listener.port).items():
            r = await c.post(
                "/apis/v1/memos/",
                params={"memo-message-uuid": "0b6f2c1e-3d4a-4b5c-8d6e-7f8091a2b3c4"},
                content=data,
                headers={"Content-Type": "application/xml"},
            )
            assert r.status_code == 400, (name, r.status_code, r.text[:200])
            assert MARKER not in r.text
    assert state.accepted == []
    assert listener.connections == 0


def test_memo_cli_reads_no_file(
    tmp_path: Path, listener: Listener, capsys: pytest.CaptureFixture[str]
) -> None:
    files = []
    for name, data in attacks(tmp_path, listener.port).items():
        path = tmp_path / f"{name}.xml"
        path.write_bytes(data)
        files.append(str(path))
    assert cli_main(["memo", "validate", *files]) == 1
    for f in files:
        cli_main(["memo", "show", f])
    out, err = capsys.readouterr()
    assert MARKER not in out + err
    assert out.count(": UNSAFE: ") == sum("DOCTYPE" in Path(f).read_text() for f in files)
    assert listener.connections == 0


# ------------------------------------------------------------------------------------------ static scan


def _python_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_lxml_parser_is_locked_down() -> None:
    parsers = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "XMLParser"
            ):
                kw = {k.arg: k.value for k in node.keywords}
                settings = {
                    name: isinstance(kw.get(name), ast.Constant) and kw[name].value is value  # type: ignore[union-attr]
                    for name, value in (
                        ("resolve_entities", False),
                        ("no_network", True),
                        ("load_dtd", False),
                    )
                }
                parsers.append((path.relative_to(PACKAGE), node.lineno, settings))
    assert len(parsers) >= 3, parsers  # memo reader, schema compiler, NgDP emulator reader
    assert [p for p in parsers if not all(p[2].values())] == []


def test_every_lxml_parse_call_passes_a_parser_and_no_stdlib_xml_parser_is_used() -> None:
    bare = []
    stdlib = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "etree"
                and node.func.attr in {"fromstring", "parse", "XML", "iterparse", "fromstringlist"}
                and len(node.args) < 2
                and not any(k.arg == "parser" for k in node.keywords)
            ):
                bare.append((path.relative_to(PACKAGE), node.lineno))
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                )
                for name in names:
                    # xml.sax.saxutils only escapes text; the parsers are what must not be used.
                    if (
                        name.startswith(("xml.etree", "xml.dom", "xml.parsers", "xml.sax"))
                        and name != "xml.sax.saxutils"
                    ):
                        stdlib.append((path.relative_to(PACKAGE), node.lineno, name))
    assert bare == []
    assert stdlib == []


def test_parsers_refuse_a_dtd_even_without_entities() -> None:
    with pytest.raises(UnsafeXmlError):
        memolib.parse(memo("<!DOCTYPE memo:Message>", "Brev"))
