"""The sandbox and its emulators listen on 127.0.0.1 only (issue 10, security review: "the demo binds only
to 127.0.0.1").

Behaviour: both emulators are started with their defaults and the kernel's table of listening sockets
(``/proc/net/tcp``/``tcp6``) is asked where they listen. Source: every host literal that reaches a bind in
the sandbox code and the sandbox command is a loopback address (AST scan, so documentation does not count);
the only place that listens on all interfaces is the container image, by explicit setting.
"""

from __future__ import annotations

import ast
import socket
import sys
from pathlib import Path

import pytest

from graph_dpg.config import Settings
from graph_dpg.sandbox.graph import GraphTenant
from graph_dpg.sandbox.graph.server import serve as serve_graph
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.sandbox.ngdp.server import serve as serve_ngdp

PACKAGE = Path(__file__).resolve().parents[2] / "graph_dpg"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/net/tcp")


def listening_hosts(port: int) -> set[str]:
    """Local addresses with a socket in LISTEN state on ``port`` (IPv4 and IPv6)."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, _, hex_port = local.partition(":")
            if state != "0A" or int(hex_port, 16) != port:
                continue
            raw = bytes.fromhex(address)
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:  # four little-endian 32-bit words
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def test_graph_emulator_listens_on_loopback_only() -> None:
    with serve_graph(GraphTenant()) as base_url:
        port = int(base_url.split(":")[2].split("/")[0])
        assert base_url.startswith("http://127.0.0.1:")
        assert listening_hosts(port) == {"127.0.0.1"}


def test_ngdp_emulator_listens_on_loopback_only() -> None:
    with serve_ngdp(NgdpState()) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert listening_hosts(server.port) == {"127.0.0.1"}


def test_the_gateway_http_server_defaults_to_loopback() -> None:
    assert Settings.model_fields["http_host"].default == "127.0.0.1"


def _host_literals(path: Path) -> list[tuple[int, str]]:
    """String constants passed as host/http_host/bind keywords, or as the address of ``sock.bind((h, p))``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.keyword)
            and node.arg in {"host", "http_host", "bind", "address"}
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found.append((node.value.lineno, node.value.value))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "bind"
            and node.args
            and isinstance(node.args[0], ast.Tuple)
            and isinstance(node.args[0].elts[0], ast.Constant)
        ):
            found.append((node.lineno, str(node.args[0].elts[0].value)))
        if isinstance(node, ast.arguments):  # defaults of parameters named host
            params = node.posonlyargs + node.args
            for arg, default in zip(params[len(params) - len(node.defaults) :], node.defaults, strict=True):
                if arg.arg in {"host", "http_host"} and isinstance(default, ast.Constant):
                    found.append((default.lineno, str(default.value)))
            for arg, kw_default in zip(node.kwonlyargs, node.kw_defaults, strict=True):
                if arg.arg in {"host", "http_host"} and isinstance(kw_default, ast.Constant):
                    found.append((kw_default.lineno, str(kw_default.value)))
    return found


def test_sandbox_code_binds_only_loopback_literals() -> None:
    files = sorted((PACKAGE / "sandbox").rglob("*.py"))
    files += [p for p in (PACKAGE / "commands" / "sandbox.py", PACKAGE / "runtime.py") if p.exists()]
    literals = [(f.relative_to(PACKAGE), line, value) for f in files for line, value in _host_literals(f)]
    assert literals, "the scan found no host at all: it is looking at the wrong code"
    assert [x for x in literals if x[2] not in LOOPBACK] == []
    for f in files:
        assert "0.0.0.0" not in f.read_text(encoding="utf-8"), f
