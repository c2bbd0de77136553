"""The aiohttp-backed httpx transport against real loopback servers (asyncio servers in the test's loop that
answer, refuse, stall, close mid-response or speak garbage). No mocks: every failure is a real socket event.

The failure tests run over httpx's own transport as well where httpx gives the same class: the point of
the mapping is that the adapters' "never delivered" / "maybe delivered" distinction (graph/errors.py
``error_for_transport``) holds whichever transport is underneath.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from graph_dpg.adapters.graph.errors import error_for_transport
from graph_dpg.adapters.http import AiohttpTransport, network_transport
from graph_dpg.core.errors import AmbiguousOutcomeError
from graph_dpg.sandbox.ngdp import SandboxPki, generate_test_pki


@dataclass
class Seen:
    """One request as the server read it off the socket."""

    line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


@dataclass
class Server:
    handler: Handler
    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    server: asyncio.Server | None = None
    ssl_context: ssl.SSLContext | None = None
    eofs: int = 0

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> Seen | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            self.eofs += 1
            return None
        line, *lines = head[:-4].split(b"\r\n")
        headers = [(k.strip(), v.strip()) for k, v in (h.split(b":", 1) for h in lines)]
        seen = Seen(line, headers, b"")
        if seen.header(b"content-length"):
            seen.body = await reader.readexactly(int(seen.header(b"content-length")[0]))
        elif b"chunked" in b"".join(seen.header(b"transfer-encoding")):
            parts = []
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readexactly(2)
            seen.body = b"".join(parts)
        self.requests.append(seen)
        return seen


@contextlib.asynccontextmanager
async def serving(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    srv = Server(handler, ssl_context=ssl_context)
    srv.server = await asyncio.start_server(srv._serve, "127.0.0.1", 0, ssl=ssl_context)
    try:
        yield srv
    finally:
        srv.server.close()


def response(status: bytes, body: bytes = b"", headers: tuple[bytes, ...] = ()) -> bytes:
    head = [b"HTTP/1.1 " + status, b"Content-Length: " + str(len(body)).encode(), *headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def answering(data: bytes) -> Handler:
    """Answers every request on the connection with ``data`` (keep-alive)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        while await srv.read_request(reader) is not None:
            writer.write(data)
            await writer.drain()

    return handler


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    t = AiohttpTransport()
    yield t
    await t.aclose()


KINDS = ["aiohttp", "httpx"]


@contextlib.asynccontextmanager
async def client_for(kind: str, **kwargs: object) -> AsyncIterator[httpx.AsyncClient]:
    timeout = kwargs.pop("timeout", httpx.Timeout(5.0))
    t = network_transport(kind, **kwargs)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=t, timeout=timeout) as client:  # type: ignore[arg-type]
        yield client


# ---------------------------------------------------------------- what goes on the wire


async def test_url_is_sent_verbatim(transport: AiohttpTransport) -> None:
    """Graph ids and delta/next links carry percent-escapes ('=' as %3D, '/' as %2F, '+' as %2B) that must
    reach the server as they are (docs/facts/graph.md): no re-quoting, no decoding."""
    path = "/v1.0/users/post%40kommune.dk/messages/AAMkAGI2%2FTG93AAA%3D/attachments"
    query = "$deltatoken=ab%2Bcd%3D%3D&$select=id,subject&q=%27x%27%20y"
    async with (
        serving(answering(response(b"200 OK", b"{}"))) as srv,
        httpx.AsyncClient(transport=transport) as client,
    ):
        r = await client.get(f"{srv.url}{path}?{query}")
    assert r.status_code == 200
    assert srv.requests[0].line == f"GET {path}?{query} HTTP/1.1".encode()


async def test_headers_are_the_requests_own(transport: AiohttpTransport) -> None:
    """Repeated headers stay repeated and in order; aiohttp adds no User-Agent, Accept, Accept-Encoding or
    Content-Type the request did not carry."""
    async with serving(answering(response(b"200 OK"))) as srv:
        request = httpx.Request(
            "POST",
            f"{srv.url}/x",
            headers=[("X-Dup", "1"), ("X-Other", "a"), ("X-Dup", "2")],
            content=b"abc",
        )
        r = await transport.handle_async_request(request)
        await r.aread()
        await r.aclose()
    seen = srv.requests[0]
    names = [k.lower() for k, _ in seen.headers]
    assert seen.header(b"x-dup") == [b"1", b"2"]
    assert names.index(b"x-dup") < names.index(b"x-other")
    assert sorted(set(names)) == [b"content-length", b"host", b"x-dup", b"x-other"]
    assert seen.body == b"abc"


async def test_client_defaults_reach_the_server_once(transport: AiohttpTransport) -> None:
    async with (
        serving(answering(response(b"200 OK"))) as srv,
        httpx.AsyncClient(transport=transport) as client,
    ):
        await client.get(f"{srv.url}/x")
    seen = srv.requests[0]
    assert seen.header(b"user-agent") == [f"python-httpx/{httpx.__version__}".encode()]
    assert len(seen.header(b"accept-encoding")) == 1
    assert seen.header(b"accept") == [b"*/*"]
    assert seen.header(b"cookie") == []


async def test_gzip_is_decoded_by_httpx_not_by_aiohttp(transport: AiohttpTransport) -> None:
    body = b'{"value": []}' * 100
    packed = gzip.compress(body)
    async with serving(answering(response(b"200 OK", packed, (b"Content-Encoding: gzip",)))) as srv:
        raw = await transport.handle_async_request(httpx.Request("GET", f"{srv.url}/x"))
        wire = b"".join([chunk async for chunk in raw.aiter_raw()])
        await raw.aclose()
        async with httpx.AsyncClient(transport=transport) as client:
            decoded = await client.get(f"{srv.url}/x")
    assert wire == packed
    assert decoded.content == body


async def test_redirects_are_returned_not_followed(transport: AiohttpTransport) -> None:
    async with (
        serving(answering(response(b"302 Found", b"", (b"Location: /elsewhere",)))) as srv,
        httpx.AsyncClient(transport=transport) as client,
    ):
        r = await client.get(f"{srv.url}/x")
    assert r.status_code == 302
    assert r.headers["location"] == "/elsewhere"
    assert [s.line for s in srv.requests] == [b"GET /x HTTP/1.1"]


async def test_response_headers_keep_repeats_and_reason(transport: AiohttpTransport) -> None:
    data = response(b"201 Made It", b"ok", (b"Set-Thing: a", b"Set-Thing: b"))
    async with serving(answering(data)) as srv, httpx.AsyncClient(transport=transport) as client:
        r = await client.get(f"{srv.url}/x")
    assert (r.status_code, r.reason_phrase, r.http_version) == (201, "Made It", "HTTP/1.1")
    assert r.headers.get_list("set-thing") == ["a", "b"]
    assert r.text == "ok"


async def test_connections_are_kept_alive(transport: AiohttpTransport) -> None:
    async with (
        serving(answering(response(b"200 OK", b"x"))) as srv,
        httpx.AsyncClient(transport=transport) as client,
    ):
        for _ in range(3):
            assert (await client.get(f"{srv.url}/x")).content == b"x"
    assert (len(srv.requests), srv.connections) == (3, 1)


# ---------------------------------------------------------------- bodies


async def test_streamed_request_body_is_sent_chunked(transport: AiohttpTransport) -> None:
    async def parts() -> AsyncIterator[bytes]:
        for i in range(5):
            yield f"part{i};".encode()

    async with (
        serving(answering(response(b"200 OK"))) as srv,
        httpx.AsyncClient(transport=transport) as client,
    ):
        r = await client.post(f"{srv.url}/upload", content=parts())
    assert r.status_code == 200
    seen = srv.requests[0]
    assert seen.header(b"transfer-encoding") == [b"chunked"]
    assert seen.body == b"part0;part1;part2;part3;part4;"


@pytest.mark.filterwarnings("error::ResourceWarning")
async def test_large_bytes_body_is_sent_whole(transport: AiohttpTransport) -> None:
    body = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MiB, over aiohttp's 1 MiB raw-bytes threshold
    async with (
        serving(answering(response(b"200 OK"))) as srv,
        httpx.AsyncClient(transport=transport) as client,
    ):
        r = await client.put(f"{srv.url}/upload", content=body)
    assert r.status_code == 200
    assert srv.requests[0].header(b"content-length") == [str(len(body)).encode()]
    assert srv.requests[0].body == body


async def test_streamed_response_is_not_buffered(transport: AiohttpTransport) -> None:
    """The server sends the rest of the body only after the client has seen the first part: a transport
    that buffered the body would never hand over the first part (the wait_for guard turns that into a
    failure instead of a hang)."""
    first_seen = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst")
        await writer.drain()
        await first_seen.wait()
        writer.write(b"secnd")
        await writer.drain()

    async with (
        serving(handler) as srv,
        httpx.AsyncClient(transport=transport) as client,
        client.stream("GET", f"{srv.url}/big") as r,
    ):
        chunks = r.aiter_raw()
        first = await asyncio.wait_for(anext(chunks), 10)
        first_seen.set()
        rest = b"".join([c async for c in chunks])
    assert (first, rest) == (b"first", b"secnd")


async def test_closing_a_partly_read_stream_frees_the_connection_and_the_slot() -> None:
    t = AiohttpTransport(limits=httpx.Limits(max_connections=1))
    big = response(b"200 OK", b"y" * (4 * 1024 * 1024))
    async with (
        serving(answering(big)) as srv,
        httpx.AsyncClient(transport=t, timeout=httpx.Timeout(5.0, pool=5.0)) as client,
    ):
        async with client.stream("GET", f"{srv.url}/big") as r:
            assert len(await anext(r.aiter_raw())) > 0
        # The one slot is free again; the half-read connection was closed, not reused.
        again = await client.get(f"{srv.url}/big")
    assert len(again.content) == 4 * 1024 * 1024
    assert srv.connections == 2


# ---------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPki:
    return generate_test_pki(tmp_path_factory.mktemp("http-pki"))


def server_tls(pki: SandboxPki, *, require_client: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client:
        ctx.load_verify_locations(pki.ca_cert)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


async def test_mutual_tls_with_the_given_context(pki: SandboxPki) -> None:
    client_ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    client_ctx.load_cert_chain(pki.client.cert, pki.client.key)
    async with (
        serving(answering(response(b"200 OK", b"tls")), server_tls(pki, require_client=True)) as srv,
        client_for("aiohttp", ssl_context=client_ctx) as client,
    ):
        r = await client.get(f"{srv.url}/x")
    assert r.text == "tls"


@pytest.mark.parametrize("kind", KINDS)
async def test_untrusted_server_certificate_is_connect_error(kind: str, pki: SandboxPki) -> None:
    async with (  # the default trust store does not know the test CA
        serving(answering(response(b"200 OK")), server_tls(pki)) as srv,
        client_for(kind) as client,
    ):
        with pytest.raises(httpx.ConnectError) as caught:
            await client.get(f"{srv.url}/x")
    # The first ssl.SSLError down the chain is the ssl module's own, with its reason (what NgDP's
    # _tls_refusal reads), not aiohttp's subclass of it.
    first = _first_in_chain(caught.value, ssl.SSLError)
    assert isinstance(first, ssl.SSLCertVerificationError)
    assert first.reason == "CERTIFICATE_VERIFY_FAILED"
    assert srv.requests == []


def _first_in_chain(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


# ---------------------------------------------------------------- failures: never delivered


@pytest.mark.parametrize("kind", KINDS)
async def test_refused_connection_is_connect_error(kind: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: the kernel refuses
        async with client_for(kind) as client:
            with pytest.raises(httpx.ConnectError):
                await client.post(f"http://127.0.0.1:{port}/x", content=b"body")


@pytest.mark.parametrize("kind", KINDS)
async def test_unresolvable_host_is_connect_error(kind: str) -> None:
    async with client_for(kind) as client:
        with pytest.raises(httpx.ConnectError):  # RFC 6761: .invalid never resolves
            await client.get("http://graph-dpg-test.invalid/x")


@pytest.mark.parametrize("kind", KINDS)
async def test_stalled_tls_handshake_is_connect_timeout(kind: str, pki: SandboxPki) -> None:
    """The server accepts TCP and never answers the ClientHello: the connect timeout covers the TLS
    handshake, and nothing was sent."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await reader.read()  # until the client gives up

    async with serving(silent) as srv:
        url = srv.url.replace("http://", "https://")
        async with client_for(kind, timeout=httpx.Timeout(5.0, connect=0.2)) as client:
            with pytest.raises(httpx.ConnectTimeout):
                await client.post(f"{url}/x", content=b"body")


async def test_waiting_for_a_pool_slot_is_pool_timeout() -> None:
    t = AiohttpTransport(limits=httpx.Limits(max_connections=1))
    async with (
        serving(answering(response(b"200 OK", b"z" * 100_000))) as srv,
        httpx.AsyncClient(transport=t, timeout=httpx.Timeout(5.0, pool=0.05)) as client,
        client.stream("GET", f"{srv.url}/held"),
    ):
        with pytest.raises(httpx.PoolTimeout):
            await client.post(f"{srv.url}/x", content=b"body")
    assert [s.line for s in srv.requests] == [b"GET /held HTTP/1.1"]


@pytest.mark.parametrize("kind", KINDS)
async def test_unsupported_scheme(kind: str) -> None:
    async with client_for(kind) as client:
        with pytest.raises(httpx.UnsupportedProtocol):
            await client.get("ftp://127.0.0.1/x")


# ---------------------------------------------------------------- failures: maybe delivered


@pytest.mark.parametrize("kind", KINDS)
async def test_disconnect_after_the_request_is_remote_protocol_error(kind: str) -> None:
    """The request reached the server, which closed without answering: a POST here may have taken effect,
    so this must not look like a connect failure (httpx-aiohttp maps it to ConnectTimeout)."""

    async def close_after_request(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server
    ) -> None:
        await srv.read_request(reader)

    async with serving(close_after_request) as srv, client_for(kind) as client:
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await client.post(f"{srv.url}/sendMail", content=b"mail")
    assert [s.body for s in srv.requests] == [b"mail"]
    assert isinstance(error_for_transport(caught.value, "POST"), AmbiguousOutcomeError)


@pytest.mark.parametrize("kind", KINDS)
async def test_reset_after_the_request_is_maybe_delivered(kind: str) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
        writer.transport.abort()

    async with serving(reset) as srv, client_for(kind) as client:
        with pytest.raises(httpx.TransportError) as caught:
            await client.post(f"{srv.url}/x", content=b"body")
    assert isinstance(caught.value, httpx.ReadError | httpx.RemoteProtocolError)
    assert isinstance(error_for_transport(caught.value, "POST"), AmbiguousOutcomeError)


@pytest.mark.parametrize("kind", KINDS)
async def test_close_mid_body_is_remote_protocol_error(kind: str) -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        await writer.drain()

    async with serving(short) as srv, client_for(kind) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"{srv.url}/x")


@pytest.mark.parametrize("kind", KINDS)
async def test_garbage_response_is_remote_protocol_error(kind: str) -> None:
    async with serving(answering(b"SPDY/9 what\r\n\r\n")) as srv, client_for(kind) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(f"{srv.url}/x", content=b"body")


@pytest.mark.parametrize("kind", KINDS)
async def test_no_answer_is_read_timeout(kind: str) -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        await reader.read()

    async with serving(mute) as srv, client_for(kind, timeout=httpx.Timeout(5.0, read=0.2)) as client:
        with pytest.raises(httpx.ReadTimeout) as caught:
            await client.post(f"{srv.url}/x", content=b"body")
    assert len(srv.requests) == 1
    assert isinstance(error_for_transport(caught.value, "POST"), AmbiguousOutcomeError)


@pytest.mark.parametrize("kind", KINDS)
async def test_body_that_stops_is_read_timeout(kind: str) -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nstart")
        await writer.drain()
        await reader.read()

    async with serving(stall) as srv, client_for(kind, timeout=httpx.Timeout(5.0, read=0.2)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"{srv.url}/x")


async def test_upload_the_server_does_not_read_is_write_timeout() -> None:
    """aiohttp has no write timeout of its own: a body the server never reads is cut off after write +
    read seconds without response headers."""

    async def unread(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await asyncio.sleep(3600)  # cancelled when the server closes

    body = b"u" * (64 * 1024 * 1024)  # far more than loopback's socket buffers hold
    async with serving(unread) as srv:
        timeout = httpx.Timeout(5.0, write=0.2, read=0.2)
        async with client_for("aiohttp", timeout=timeout) as client:
            with pytest.raises(httpx.WriteTimeout) as caught:
                await client.put(f"{srv.url}/upload", content=body)
    assert isinstance(error_for_transport(caught.value, "POST"), AmbiguousOutcomeError)


# ---------------------------------------------------------------- life cycle


async def test_session_is_created_in_the_loop_and_closed_by_aclose() -> None:
    t = AiohttpTransport()
    assert t._session is None  # nothing opened outside a loop
    async with serving(answering(response(b"200 OK"))) as srv, httpx.AsyncClient(transport=t) as client:
        await client.get(f"{srv.url}/x")
        session = t._session
        assert session is not None and not session.closed
    assert session.closed


def test_fallback_kind_is_httpx_own_transport() -> None:
    assert isinstance(network_transport("httpx"), httpx.AsyncHTTPTransport)
    assert isinstance(network_transport("aiohttp"), AiohttpTransport)
    with pytest.raises(ValueError, match="unknown HTTP transport"):
        network_transport("curl")  # type: ignore[arg-type]
