"""GraphSender's fast path (adapters/graph/sender.py: Graph-origin requests straight to
``AiohttpTransport.fetch``, no ``httpx.AsyncClient.send``) against real loopback servers: where the token
goes (only the configured origin: not another port, not another host name, not a ``.evil`` suffix), retries
with Retry-After, redirects, a claims challenge, a POST body, a 429 counted, and timeouts mapped to the same
httpx exceptions (hence the same domain errors) as the client path over httpx's own transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.adapters.graph.sender import origin_prefix
from graph_dpg.adapters.http import AiohttpTransport, network_transport
from graph_dpg.core.errors import AmbiguousOutcomeError, AuthError, ThrottledError, TransientError
from tests.integration.transport.test_aiohttp_transport import Seen, Server, response, serving
from tests.unit.graph.test_graph_sender import CHALLENGE, CLAIMS, Tokens

MB = "fp000@bench.dk"
MESSAGE = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AW2EYhOo5SUyqp2fwhiyg0gAAAABC_F8AAA="
OK_JSON = response(b"200 OK", b'{"categories":["a"]}', (b"Content-Type: application/json",))

Answer = Callable[[Seen], bytes]


def scripted(*answers: bytes | Answer) -> Callable[..., Any]:
    """Answers the requests, across connections, with ``answers`` in turn; the last one from then on."""
    queue = list(answers)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        while (seen := await srv.read_request(reader)) is not None:
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            writer.write(answer(seen) if callable(answer) else answer)
            await writer.drain()

    return handler


@contextlib.asynccontextmanager
async def mailbox(
    base: str, credential: StaticTokenCredential | None = None, *, kind: str = "aiohttp", **kw: Any
) -> AsyncIterator[GraphMailbox]:
    transport = network_transport(kind)  # type: ignore[arg-type]
    mbx = GraphMailbox(
        credential or StaticTokenCredential("tok"),
        f"{base}/v1.0",
        transport=transport,
        retry=kw.pop("retry", RetryPolicy.fast()),
        **kw,
    )
    assert mbx._sender.fast is (kind == "aiohttp")
    try:
        yield mbx
    finally:
        await mbx.aclose()
        await transport.aclose()


def header(seen: Seen, name: str) -> str | None:
    values = seen.header(name.encode())
    assert len(values) <= 1, f"{name} sent {len(values)} times"
    return values[0].decode() if values else None


async def test_a_graph_request_carries_the_token_telemetry_and_the_client_defaults_once() -> None:
    async with serving(scripted(OK_JSON)) as srv, mailbox(srv.url) as mbx:
        assert await mbx.get_categories(MB, MESSAGE) == ["a"]
        host = srv.url.removeprefix("http://")
    (seen,) = srv.requests
    assert (
        seen.line
        == (
            f"GET /v1.0/users/fp000%40bench.dk/messages/{MESSAGE.replace('=', '%3D')}?$select=categories "
            "HTTP/1.1"
        ).encode()
    )
    assert header(seen, "authorization") == "Bearer tok"
    assert header(seen, "client-request-id")
    assert header(seen, "sdkversion").startswith("graph-python/")  # type: ignore[union-attr]
    assert header(seen, "prefer") == 'IdType="ImmutableId"'
    assert header(seen, "user-agent") == f"python-httpx/{httpx.__version__}"  # the client's default
    assert header(seen, "accept") == "*/*"
    assert header(seen, "host") == host


def test_the_origin_prefix_is_scheme_host_port_and_a_slash() -> None:
    base = httpx.URL("https://graph.microsoft.com/v1.0")
    assert origin_prefix(base) == "https://graph.microsoft.com/"
    assert origin_prefix(httpx.URL("http://127.0.0.1:8080/v1.0")) == "http://127.0.0.1:8080/"
    assert origin_prefix(httpx.URL("http://[::1]:8080/v1.0")) == "http://[::1]:8080/"


@pytest.mark.parametrize(
    ("url", "on"),
    [
        ("https://graph.microsoft.com/v1.0/me", True),
        ("https://graph.microsoft.com:443/v1.0/me", True),  # the default port, as httpx normalises it
        ("https://GRAPH.microsoft.com/v1.0/me", True),
        ("https://graph.microsoft.com.evil/v1.0/me", False),
        ("https://graph.microsoft.com.evil.com/v1.0/me", False),
        ("https://graph.microsoft.com@evil.com/v1.0/me", False),
        ("https://graph.microsoft.com:8443/v1.0/me", False),
        ("http://graph.microsoft.com/v1.0/me", False),
        ("https://evil.com/https://graph.microsoft.com/", False),
        ("https://outlook.office.com/api/v2.0/Users('x')/AttachmentSessions('y')", False),
    ],
)
def test_only_the_configured_origin_is_graph(url: str, on: bool) -> None:
    mbx = GraphMailbox(StaticTokenCredential("tok"), transport=AiohttpTransport())
    assert mbx._sender.on_graph(url) is on


async def test_a_next_link_on_another_port_or_host_name_gets_no_token() -> None:
    async with serving(scripted(response(b"200 OK", b'{"value":[{"id":"2"}]}'))) as other:
        port = other.url.rsplit(":", 1)[1]
        links = [f"{other.url}/v1.0/page2", f"http://localhost:{port}/v1.0/page3"]
        page1 = json.dumps({"value": [{"id": "1"}], "@odata.nextLink": links[0]}).encode()
        page2 = json.dumps({"value": [{"id": "2"}], "@odata.nextLink": links[1]}).encode()
        async with (
            serving(scripted(response(b"200 OK", page1))) as graph,
            mailbox(graph.url) as mbx,
        ):
            other.handler = scripted(
                response(b"200 OK", page2), response(b"200 OK", b'{"value":[{"id":"3"}]}')
            )
            items = await mbx.list_attachment_metas(MB, MESSAGE)
    assert [i["id"] for i in items] == ["1", "2", "3"]
    assert header(graph.requests[0], "authorization") == "Bearer tok"
    assert len(other.requests) == 2
    for seen in other.requests:
        assert header(seen, "authorization") is None
        assert header(seen, "client-request-id") is None
        assert header(seen, "prefer") == 'IdType="ImmutableId"'


async def test_a_redirect_to_another_host_is_followed_without_the_token() -> None:
    async with serving(scripted(response(b"200 OK", b"MIME"))) as other:
        port = other.url.rsplit(":", 1)[1]
        moved = response(b"302 Found", headers=(f"Location: http://localhost:{port}/blob?sig=x".encode(),))
        async with serving(scripted(moved)) as graph, mailbox(graph.url) as mbx:
            assert await mbx.get_mime(MB, MESSAGE) == b"MIME"
    assert header(graph.requests[0], "authorization") == "Bearer tok"
    (seen,) = other.requests
    assert seen.line == b"GET /blob?sig=x HTTP/1.1"
    assert header(seen, "authorization") is None
    assert mbx.requests[MB] == 2


async def test_retries_wait_for_retry_after_and_say_which_attempt() -> None:
    busy = response(b"429 Too Many Requests", b"{}", (b"Retry-After: 0.05",))
    async with serving(scripted(busy, busy, OK_JSON)) as srv, mailbox(srv.url) as mbx:
        started = asyncio.get_running_loop().time()
        assert await mbx.get_categories(MB, MESSAGE) == ["a"]
        waited = asyncio.get_running_loop().time() - started
    assert waited >= 0.1
    assert [header(s, "retry-attempt") for s in srv.requests] == [None, "1", "2"]
    assert len({header(s, "client-request-id") for s in srv.requests}) == 1
    assert mbx.requests[MB] == 3
    assert mbx.throttled[MB] == 0  # the call succeeded


async def test_a_429_after_the_last_retry_is_throttled_and_counted() -> None:
    busy = response(b"429 Too Many Requests", b'{"error":{"code":"TooManyRequests"}}', (b"Retry-After: 0",))
    async with serving(scripted(busy)) as srv, mailbox(srv.url) as mbx:
        with pytest.raises(ThrottledError):
            await mbx.get_categories(MB, MESSAGE)
    assert mbx.requests[MB] == RetryPolicy.fast().max_retries + 1 == len(srv.requests)
    assert mbx.throttled[MB] == 1


async def test_a_claims_challenge_gets_one_new_token_and_one_retry() -> None:
    tokens = Tokens()
    challenge = response(b"401 Unauthorized", b"{}", (f"WWW-Authenticate: {CHALLENGE}".encode(),))
    async with serving(scripted(challenge, OK_JSON)) as srv, mailbox(srv.url, tokens) as mbx:
        assert await mbx.get_categories(MB, MESSAGE) == ["a"]
    assert [header(s, "authorization") for s in srv.requests] == ["Bearer token-1", "Bearer token-2"]
    assert tokens.claims == [None, CLAIMS]


async def test_a_second_challenge_is_an_auth_error() -> None:
    challenge = response(b"401 Unauthorized", b"{}", (f"WWW-Authenticate: {CHALLENGE}".encode(),))
    async with serving(scripted(challenge)) as srv, mailbox(srv.url, Tokens()) as mbx:
        with pytest.raises(AuthError):
            await mbx.get_categories(MB, MESSAGE)
    assert len(srv.requests) == 2


async def test_a_post_and_a_patch_send_their_json_bodies() -> None:
    created = response(b"201 Created", b'{"id":"new"}', (b"Content-Type: application/json",))
    async with serving(scripted(created)) as srv, mailbox(srv.url) as mbx:
        assert await mbx.create_master_category(MB, "Sendt æ", "preset1") == "new"
        await mbx.set_categories(MB, MESSAGE, ["Sendt", "Sendt"])
    posted, patched = srv.requests
    assert posted.line == b"POST /v1.0/users/fp000%40bench.dk/outlook/masterCategories HTTP/1.1"
    assert json.loads(posted.body) == {"displayName": "Sendt æ", "color": "preset1"}
    assert patched.line.startswith(b"PATCH /v1.0/users/")
    assert json.loads(patched.body) == {"categories": ["Sendt"]}
    for seen in srv.requests:
        assert header(seen, "content-type") == "application/json"
        assert header(seen, "content-length") == str(len(seen.body))


async def test_a_gzip_response_is_decoded() -> None:
    body = gzip.compress(b'{"categories":["z"]}')
    zipped = response(b"200 OK", body, (b"Content-Encoding: gzip",))
    async with serving(scripted(zipped)) as srv, mailbox(srv.url) as mbx:
        assert await mbx.get_categories(MB, MESSAGE) == ["z"]


async def test_a_large_raw_body_is_read_whole() -> None:
    blob = bytes(range(256)) * (6 * 4096)  # 6 MiB
    async with serving(scripted(response(b"200 OK", blob))) as srv, mailbox(srv.url) as mbx:
        assert await mbx.get_mime(MB, MESSAGE) == blob


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_no_answer_is_a_read_timeout_on_either_path(kind: str) -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        await reader.read()

    async with (
        serving(mute) as srv,
        mailbox(srv.url, kind=kind, timeout=httpx.Timeout(5.0, read=0.2)) as mbx,
    ):
        with pytest.raises(TransientError) as got:
            await mbx.get_categories(MB, MESSAGE)
        assert type(got.value) is TransientError
        assert isinstance(got.value.__cause__, httpx.ReadTimeout)
        with pytest.raises(AmbiguousOutcomeError) as posted:  # a PATCH may have arrived
            await mbx.set_categories(MB, MESSAGE, ["x"])
        assert isinstance(posted.value.__cause__, httpx.ReadTimeout)


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_a_refused_connection_is_never_delivered_on_either_path(kind: str) -> None:
    async with serving(scripted(OK_JSON)) as srv:
        url = srv.url
    async with mailbox(url, kind=kind) as mbx:
        with pytest.raises(TransientError) as got:
            await mbx.set_categories(MB, MESSAGE, ["x"])
    assert type(got.value) is TransientError  # not ambiguous: the PATCH never left
    assert isinstance(got.value.__cause__, httpx.ConnectError)


async def test_a_pool_slot_wait_is_a_pool_timeout() -> None:
    """The fast path takes the transport's pool slot with the client's ``pool`` timeout."""

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        await reader.read()

    transport = AiohttpTransport(limits=httpx.Limits(max_connections=1))
    async with serving(mute) as srv:
        mbx = GraphMailbox(
            StaticTokenCredential("tok"),
            f"{srv.url}/v1.0",
            transport=transport,
            retry=RetryPolicy.fast(),
            timeout=httpx.Timeout(5.0, pool=0.1, read=1.0),
        )
        try:
            first = asyncio.ensure_future(mbx.get_categories(MB, MESSAGE))
            await asyncio.sleep(0.05)
            with pytest.raises(TransientError) as got:
                await mbx.get_categories(MB, "other")
            assert isinstance(got.value.__cause__, httpx.PoolTimeout)
            with pytest.raises(TransientError):
                await first
        finally:
            await mbx.aclose()
            await transport.aclose()


async def test_an_injected_transport_takes_the_client_path() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"categories": ["m"]})

    mbx = GraphMailbox(StaticTokenCredential("tok"), transport=httpx.MockTransport(answer))
    assert not mbx._sender.fast
    assert await mbx.get_categories(MB, MESSAGE) == ["m"]
    assert seen[0].headers["authorization"] == "Bearer tok"
    await mbx.aclose()


async def _seen(fast: bool) -> list[Seen]:
    async with serving(scripted(OK_JSON)) as srv, mailbox(srv.url) as mbx:
        if not fast:
            mbx._sender._fast = None  # the client path over the same transport, as before the fast path
        await mbx.get_categories(MB, MESSAGE)
        await mbx.set_categories(MB, MESSAGE, ["Sendt æ"])
        await mbx.create_master_category(MB, "Sendt", "preset1")
        await mbx.get_mime(MB, "id with space")
        await mbx.delete_message(MB, MESSAGE)
    return srv.requests


async def test_the_fast_path_sends_what_the_client_path_sent() -> None:
    def comparable(seen: Seen) -> tuple[bytes, bytes, list[tuple[bytes, bytes]]]:
        headers = sorted(
            (k.lower(), v.split(b":")[0] if k.lower() == b"host" else v)
            for k, v in seen.headers
            if k.lower() != b"client-request-id"  # a uuid4 per call
        )
        return seen.line, seen.body, headers

    fast, before = await _seen(True), await _seen(False)
    assert len(fast) == len(before) == 5
    assert [comparable(s) for s in fast] == [comparable(s) for s in before]
