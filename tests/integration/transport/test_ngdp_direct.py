"""NgdpClient's direct path (``_send`` straight to ``AiohttpTransport.fetch`` over mutual TLS) against what
the httpx client sends for the same calls: a recording TLS server sees the same request line, headers and
body either way (query parameters, paths, JSON bodies, explicit Content-Type), and failures map the same."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph_dpg.adapters.digital_post import NgdpClient
from graph_dpg.core.errors import AmbiguousOutcomeError, TransientError
from graph_dpg.sandbox.ngdp import SandboxPki, generate_test_pki
from tests.integration.transport.test_aiohttp_transport import Seen, Server, response, server_tls, serving

CALLS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "POST",
        "memos/",
        {
            "params": {"memo-message-uuid": "6f1c"},
            "content": b"<m/>",
            "headers": {"Content-Type": "application/xml"},
        },
    ),
    (
        "POST",
        "validations/",
        {
            "params": {"fileName": "brev æ ø & + /x.html", "policy": "STRICT"},
            "content": "<p>æ</p>".encode(),
            "headers": {"Content-Type": "text/html"},
        },
    ),
    ("GET", "receipts/", {"params": {"page": 0, "size": 50}}),
    ("GET", "memos/a b", {"headers": {"Accept": "application/xml"}}),
    ("POST", "memos/1f/receipt", {"json": {"receiptStatus": "RECEIVED", "text": "æ", "n": [1, 2.5]}}),
    ("POST", "memos/1f/receipt", {"json": {"a": 1}, "headers": {"content-type": "application/vnd+json"}}),
    ("DELETE", "memos/1f", {}),
    ("GET", "contacts/", {"params": {}}),
]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPki:
    return generate_test_pki(tmp_path_factory.mktemp("ngdp-direct-pki"))


def client(url: str, pki: SandboxPki, kind: str, **kw: Any) -> NgdpClient:
    return NgdpClient(
        f"{url}/apis/v1",
        "system",
        "token",
        cert_file=pki.client.cert,
        key_file=pki.client.key,
        ca_bundle=pki.ca_cert,
        http_transport=kind,  # type: ignore[arg-type]
        **kw,
    )


async def seen_by_server(pki: SandboxPki, direct: bool) -> list[Seen]:
    """The requests of CALLS as the server read them, sent over our aiohttp transport directly or through
    the httpx client (the path before; the comparison with httpx's own transport would show the two
    transports' differences, e.g. aiohttp's ``Content-Length: 0`` on a DELETE)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        while await srv.read_request(reader) is not None:
            writer.write(response(b"200 OK", b"{}", (b"Content-Type: application/json",)))
            await writer.drain()

    async with serving(handler, server_tls(pki, require_client=True)) as srv:
        ngdp = client(srv.url, pki, "aiohttp")
        assert ngdp._direct is not None
        if not direct:
            ngdp._direct = None
        try:
            for method, path, kw in CALLS:
                got = await ngdp._send(method, path, **kw)
                assert got.status_code == 200
                assert got.json() == {}
        finally:
            await ngdp.aclose()
    return srv.requests


def headers(seen: Seen) -> list[tuple[bytes, bytes]]:
    """The request's headers, names in lower case, sorted; ``Host`` without the port (two servers)."""
    return sorted((k.lower(), v.split(b":")[0] if k.lower() == b"host" else v) for k, v in seen.headers)


async def test_the_direct_path_sends_what_the_client_sends(pki: SandboxPki) -> None:
    direct = await seen_by_server(pki, direct=True)
    via_client = await seen_by_server(pki, direct=False)
    assert len(direct) == len(via_client) == len(CALLS)
    for ours, theirs in zip(direct, via_client, strict=True):
        assert ours.line == theirs.line
        assert ours.body == theirs.body
        assert headers(ours) == headers(theirs)
    assert direct[1].line.startswith(b"POST /apis/v1/validations/?fileName=")


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_no_answer_after_a_post_is_ambiguous_on_either_path(kind: str, pki: SandboxPki) -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        await reader.read()

    async with serving(mute, server_tls(pki, require_client=True)) as srv:
        ngdp = client(srv.url, pki, kind, read_timeout=0.2, max_send_attempts=1)
        try:
            with pytest.raises(AmbiguousOutcomeError):
                await ngdp.send_memo("6f1c0e9e-0000-4000-8000-000000000001", b"<memo/>")
        finally:
            await ngdp.aclose()


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_a_refused_connection_is_transient_on_either_path(kind: str, pki: SandboxPki) -> None:
    async with serving(lambda r, w, s: asyncio.sleep(0)) as srv:
        url = srv.url.replace("http://", "https://")
    ngdp = client(url, pki, kind, max_send_attempts=1, max_attempts=1)
    try:
        with pytest.raises(TransientError) as got:
            await ngdp.list_receipts()
        assert not isinstance(got.value, AmbiguousOutcomeError)
    finally:
        await ngdp.aclose()


def test_an_injected_transport_takes_the_client(tmp_path: Path) -> None:
    ngdp = NgdpClient(
        "https://x/apis/v1", "s", "t", transport=httpx.MockTransport(lambda r: httpx.Response(200))
    )
    assert ngdp._direct is None
