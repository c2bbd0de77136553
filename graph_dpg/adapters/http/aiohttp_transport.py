"""An ``httpx.AsyncBaseTransport`` on aiohttp's client: httpx stays the API, aiohttp moves the bytes.

Why: httpx's own transport (httpcore + h11 + anyio) costs about 1 ms CPU more per request than aiohttp's
C-accelerated HTTP/1.1 client on the gateway's machine (bench/http_transport_bench.py; issue 18). The
adapters, their error translation and every test keep speaking httpx (``httpx.Request``/``Response``,
injected ``ASGITransport``/``MockTransport``); only the default network transport underneath changes.

httpx's transport contract (www.python-httpx.org/advanced/transports/, "Custom transports"):
``handle_async_request(request) -> Response`` with the response body as an ``httpx.AsyncByteStream``
that the client reads (or streams, ``client.stream(...)``) and then closes; ``aclose()`` closes the pool.
Failures are raised as httpx's ``TransportError`` subclasses (www.python-httpx.org/exceptions/), which our
adapters translate. The one distinction they rely on (graph/errors.py ``error_for_transport``, NgDP
``NgdpClient._map_transport``): ``ConnectError``/``ConnectTimeout``/``PoolTimeout`` mean the request never
left this process (safe to repeat a POST); anything else may have been delivered. So the mapping of
aiohttp's exceptions (docs.aiohttp.org/en/stable/client_reference.html, "Client exceptions") is exact:

    ConnectionTimeoutError (connect timeout)            → ConnectTimeout
    ClientConnectorError and its subclasses: refused, DNS (ClientConnectorDNSError), TLS handshake
    (ClientConnectorSSLError), certificate (ClientConnectorCertificateError); ServerFingerprintMismatch
                                                         → ConnectError
    waiting for a free connection past the pool timeout → PoolTimeout (our own semaphore, below)
    SocketTimeoutError / ServerTimeoutError (sock_read) → ReadTimeout
    no response headers within write + read seconds of a request with a body → WriteTimeout (see below)
    ServerDisconnectedError, ClientPayloadError, ClientResponseError (a malformed response)
                                                         → RemoteProtocolError
    ClientOSError, ClientConnectionResetError, other ClientConnectionError, OSError after connecting
                                                         → ReadError
    a scheme other than http/https, or no host          → UnsupportedProtocol; a URL aiohttp cannot parse
                                                         → InvalidURL
(the small ``httpx-aiohttp`` package maps every ``ClientConnectionError`` — a disconnect after the request
was sent included — to ``ConnectTimeout``, which would make a possibly delivered POST look safe to repeat).
The original aiohttp exception is the ``__cause__`` of the httpx one (for a TLS failure the ``ssl.SSLError``
under it, with its ``reason``), so a TLS alert stays findable in the chain (NgDP's ``_tls_refusal``).

Faithful to the ``httpx.Request``:
- the URL is sent verbatim: ``yarl.URL(str(request.url), encoded=True)`` (yarl.aio-libs.org, "encoded"):
  Graph ids, delta and next links are not re-quoted;
- headers are passed as their raw multi-items (order, repeats); aiohttp adds no ``User-Agent``, ``Accept``,
  ``Accept-Encoding`` or ``Content-Type`` of its own (``skip_auto_headers``), no cookies (``DummyCookieJar``:
  the httpx client owns cookies), and does not decompress (``auto_decompress=False``: httpx decodes by
  ``Content-Encoding``) or follow redirects (``allow_redirects=False``: httpx and the caller decide);
- the body: ``bytes`` as is; a streamed body (an async iterator) streamed, chunked by aiohttp.

Timeouts come from ``request.extensions["timeout"]`` (httpx's ``connect``, ``read``, ``write``, ``pool``):
``connect`` → ``ClientTimeout.connect`` (DNS, TCP and TLS), ``read`` → ``ClientTimeout.sock_read`` (each
read, headers and body); ``pool`` bounds the wait for one of ``max_connections`` slots, held from the request
to the response's close. aiohttp has no write timeout and starts its read timer only once the body is
written, so a request with a body that stalls is cut off when no response headers came within ``write +
read`` seconds (→ ``WriteTimeout``). aiohttp rounds timeouts of 5 s or more up to a whole second of loop
time (``ceil_threshold``).

The aiohttp ``ClientSession`` is created lazily inside the running loop (aiohttp binds it to its loop) and
closed by ``aclose()``. Environment: the httpx client applies ``trust_env`` itself (proxies from the
environment are httpx mounts in front of this transport; requests to them never reach it), and the default
TLS context is httpx's (``httpx.create_ssl_context()``: certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``);
aiohttp's own ``trust_env`` (a netrc read and a proxy lookup in a thread on every request) stays off.
Limits as ``httpx.Limits``: ``max_connections`` (the pool slots), ``keepalive_expiry`` → aiohttp's
``keepalive_timeout``; aiohttp has no cap on idle connections, so ``max_keepalive_connections`` is unused.

``fetch(method, url, headers, content, timeouts)`` is the same request without the httpx client around it,
for a caller that builds the final headers itself (GraphSender's fast path, adapters/graph/sender.py): the
body read whole into an ``httpx.Response``, one URL parse (yarl's), and the session, pool slots, timeouts
and exception mapping above. Per Graph GET it saves what ``httpx.AsyncClient.send`` costs on top of this
transport: ``Request``/``Headers`` models, URL parsing two or three times, the cookie jar
(bench/request_cpu_bench.py, issue 18).
"""

from __future__ import annotations

import asyncio
import io
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Final, Literal

import aiohttp
import httpx
import yarl

TransportKind = Literal["aiohttp", "httpx"]
TRANSPORT_KINDS: Final = ("aiohttp", "httpx")

#: httpx's default limits (httpx._config.DEFAULT_LIMITS).
DEFAULT_LIMITS: Final = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
#: aiohttp would add these when the request lacks them; the request httpx built is sent as it is.
_SKIP_AUTO_HEADERS: Final = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
#: h11 (httpx's parser) accepts response header blocks up to 16 KiB; aiohttp's default line limit is 8190.
_MAX_HEADER_LINE: Final = 16 * 1024
_HTTP11: Final = b"HTTP/1.1"
#: aiohttp.payload.TOO_LARGE_BYTES_BODY: raw bytes above it draw a ResourceWarning.
_LARGE_BODY: Final = 2**20
#: httpx's client logs every request here at INFO (``httpx/_client.py``, ``_send_single_request``); ``fetch``
#: logs the same line, so log filters on it (NgDP's CPR masking) and operators see what they saw.
_HTTPX_LOG: Final = logging.getLogger("httpx")


def _mapped(exc: BaseException) -> Exception:
    """The httpx exception for an aiohttp (or socket) failure; see the module docstring."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, TimeoutError):  # ServerTimeoutError (sock_read) or a plain asyncio timeout
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ServerFingerprintMismatch):
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.NonHttpUrlClientError):
        return httpx.UnsupportedProtocol(message)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.InvalidURL(message)
    if isinstance(
        exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError
    ):
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.ClientConnectionError | OSError):
        return httpx.ReadError(message)
    return httpx.RemoteProtocolError(message)


def _cause(exc: BaseException) -> BaseException:
    """What the httpx exception is raised from: the aiohttp exception, except for a TLS failure, where it is
    the ``ssl.SSLError`` itself (aiohttp's TLS errors subclass ``ssl.SSLError`` without its ``reason``), as
    under httpx's own transport, whose chain ends in the ``ssl`` module's exception."""
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, ssl.SSLError):
        return exc.os_error
    return exc


#: What ``_mapped`` translates; anything else (cancellation, a bug) propagates as it is.
_TRANSLATED: Final = (aiohttp.ClientError, OSError)


class _ResponseStream(httpx.AsyncByteStream):
    """The aiohttp response body as httpx reads it: chunks as they arrive; ``aclose`` releases the
    connection (back to the pool when the body was read to its end, closed otherwise) and the pool slot."""

    __slots__ = ("_closed", "_response", "_slot")

    def __init__(self, response: aiohttp.ClientResponse, slot: asyncio.Semaphore) -> None:
        self._response = response
        self._slot = slot
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while True:
                chunk = await content.readany()
                if not chunk:
                    return
                yield chunk
        except _TRANSLATED as exc:
            raise _mapped(exc) from _cause(exc)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._response.release()
        finally:
            self._slot.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx requests over one aiohttp ``ClientSession`` (see the module docstring).

    ``ssl_context``: the TLS context for https (the NgDP client passes its mutual-TLS context); None: httpx's
    default verification context. ``limits``: as ``httpx.Limits``.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        self._ssl = ssl_context if ssl_context is not None else httpx.create_ssl_context()
        self._max_connections = limits.max_connections
        self._keepalive = limits.keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}

    # ------------------------------------------------------------------ session

    def _open(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            ssl=self._ssl,
            limit=self._max_connections or 0,
            keepalive_timeout=self._keepalive,
            # getaddrinfo in a thread, as httpx (anyio) resolves; aiohttp would use c-ares if aiodns were
            # installed, which reads resolver configuration its own way.
            resolver=aiohttp.ThreadedResolver(),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            auto_decompress=False,
            trust_env=False,
            requote_redirect_url=False,
            timeout=aiohttp.ClientTimeout(total=None),
            max_line_size=_MAX_HEADER_LINE,
            max_field_size=_MAX_HEADER_LINE,
        )
        self._slots = asyncio.Semaphore(self._max_connections) if self._max_connections else None
        self._loop = loop
        return self._session

    def _session_for(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        session = self._session
        if session is not None and self._loop is loop and not session.closed:
            return session
        if session is not None and not session.closed:
            # A new event loop (a test or a CLI command running asyncio.run twice): the old session's
            # connections belong to the old loop and cannot be reused or awaited from this one.
            session.detach()
        return self._open(loop)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            if self._loop is asyncio.get_running_loop():
                await session.close()
            else:
                session.detach()

    # ------------------------------------------------------------------ requests

    def _timeout(self, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
        key = (connect, read)
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_read=read)
            if len(self._timeouts) < 64:
                self._timeouts[key] = timeout
        return timeout

    async def _acquire(self, slots: asyncio.Semaphore | None, pool: float | None) -> asyncio.Semaphore:
        if slots is None:
            slots = _UNLIMITED
        elif slots.locked():
            try:
                async with asyncio.timeout(pool):
                    await slots.acquire()
            except TimeoutError as exc:
                raise httpx.PoolTimeout("no free connection within the pool timeout") from exc
            return slots
        else:
            await slots.acquire()
        return slots

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{url.scheme}://'.")
        if not url.host:
            raise httpx.UnsupportedProtocol("Request URL is missing a host.")
        session = self._session_for(asyncio.get_running_loop())
        timeouts: Mapping[str, float | None] = request.extensions.get("timeout") or {}
        slot = await self._acquire(self._slots, timeouts.get("pool"))
        try:
            response = await self._send(session, request, timeouts)
        except BaseException:
            slot.release()
            raise
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response, slot),
            extensions={
                "http_version": _HTTP11 if response.version == aiohttp.HttpVersion11 else _version(response),
                "reason_phrase": (response.reason or "").encode("ascii", "replace"),
            },
        )

    async def _send(
        self, session: aiohttp.ClientSession, request: httpx.Request, timeouts: Mapping[str, float | None]
    ) -> aiohttp.ClientResponse:
        encoding = request.headers.encoding
        headers = [(k.decode(encoding), v.decode(encoding)) for k, v in request.headers.raw]
        data: Any
        stream = request.stream
        if isinstance(stream, httpx.ByteStream):
            data = request.content or None  # httpx read it when the request was built
        else:
            # A streamed body: aiohttp chunks it itself (it refuses a Transfer-Encoding header it did not
            # set); a Content-Length the caller gave is kept and streamed under.
            headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
            data = _aiter_body(stream)
        try:
            url = yarl.URL(str(request.url), encoded=True)
        except (ValueError, TypeError) as exc:
            raise httpx.InvalidURL(str(exc)) from exc
        return await self._request(session, request.method, url, headers, data, timeouts)

    async def _request(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: yarl.URL,
        headers: list[tuple[str, str]],
        data: Any,
        timeouts: Mapping[str, float | None],
    ) -> aiohttp.ClientResponse:
        """One request on ``session`` until its response headers, failures mapped to httpx's (both paths:
        ``handle_async_request`` and ``fetch``)."""
        if isinstance(data, bytes) and len(data) > _LARGE_BODY:
            # aiohttp writes a BytesIO in chunks (and warns about raw bytes over 1 MiB); BytesIO(bytes)
            # shares the buffer until written to.
            data = io.BytesIO(data)
        read = timeouts.get("read")
        write = timeouts.get("write")
        try:
            pending = session.request(
                method,
                url,
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=self._timeout(timeouts.get("connect"), read),
            )
            if data is None or write is None or read is None:
                return await pending
            deadline = asyncio.timeout(write + read)
            try:
                async with deadline:
                    return await pending
            except TimeoutError as exc:
                if not deadline.expired():
                    raise
                raise httpx.WriteTimeout("no response within the write and read timeouts") from exc
        except _TRANSLATED as exc:
            raise _mapped(exc) from _cause(exc)

    # ------------------------------------------------------------------ the fast path

    async def fetch(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        content: bytes | None,
        timeouts: Mapping[str, float | None],
    ) -> httpx.Response:
        """``method url`` with its response body read whole, without an ``httpx.Request`` or client: for a
        caller that built the request's final headers itself (GraphSender's fast path, sender.py).

        The same session, pool slot (``pool`` timeout), connect/read/write timeouts and exception mapping
        as ``handle_async_request``; ``url`` is parsed once, by yarl, and sent verbatim (``encoded=True``);
        no cookies, no header merging, no default headers: ``headers`` go out as given (aiohttp adds
        ``Host`` and ``Content-Length``). The response is an ``httpx.Response`` over the read body
        (``httpx.Response(status, headers=raw, content=body)`` costs ~12 µs), which decodes a
        ``Content-Encoding`` as the client would have; its ``request`` is not set. httpx's INFO line for
        the request is logged on the ``httpx`` logger as the client logs it."""
        try:
            target = yarl.URL(url, encoded=True)
        except (ValueError, TypeError) as exc:
            raise httpx.InvalidURL(str(exc)) from exc
        if target.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{target.scheme}://'.")
        if not target.host:
            raise httpx.UnsupportedProtocol("Request URL is missing a host.")
        session = self._session_for(asyncio.get_running_loop())
        slot = await self._acquire(self._slots, timeouts.get("pool"))
        try:
            response = await self._request(session, method, target, headers, content or None, timeouts)
            try:
                body = await response.read()
            except _TRANSLATED as exc:
                raise _mapped(exc) from _cause(exc)
            finally:
                response.release()
        finally:
            slot.release()
        answer = httpx.Response(
            response.status,
            headers=response.raw_headers,
            content=body,
            extensions={
                "http_version": _HTTP11 if response.version == aiohttp.HttpVersion11 else _version(response),
                "reason_phrase": (response.reason or "").encode("ascii", "replace"),
            },
        )
        if _HTTPX_LOG.isEnabledFor(logging.INFO):
            _HTTPX_LOG.info(
                'HTTP Request: %s %s "%s %d %s"',
                method,
                url,
                answer.http_version,
                answer.status_code,
                answer.reason_phrase,
            )
        return answer


class ClientDefaults:
    """What an ``httpx.AsyncClient`` adds to each request it builds, for a caller that sends through
    ``AiohttpTransport.fetch`` instead: its headers (httpx's ``Accept``, ``Accept-Encoding``, ``Connection``,
    ``User-Agent`` and the client's own) and its timeouts (``Timeout.as_dict()``, what ``build_request``
    puts into ``extensions["timeout"]``)."""

    __slots__ = ("_names", "headers", "timeouts")

    def __init__(self, client: httpx.AsyncClient) -> None:
        encoding = client.headers.encoding
        self.headers = [(k.decode(encoding), v.decode(encoding)) for k, v in client.headers.raw]
        self._names = frozenset(k.lower() for k, _ in self.headers)
        self.timeouts: Mapping[str, float | None] = client.timeout.as_dict()

    def merged(self, headers: Mapping[str, str]) -> list[tuple[str, str]]:
        """The client's headers, then ``headers`` (replacing a client header of the same name), as
        ``httpx.AsyncClient.build_request`` merges them."""
        names = {k.lower() for k in headers}
        if names.isdisjoint(self._names):
            defaults = self.headers
        else:
            defaults = [(k, v) for k, v in self.headers if k.lower() not in names]
        return [*defaults, *headers.items()]


def _version(response: aiohttp.ClientResponse) -> bytes:
    version = response.version
    return _HTTP11 if version is None else f"HTTP/{version.major}.{version.minor}".encode("ascii")


async def _aiter_body(stream: httpx.SyncByteStream | httpx.AsyncByteStream) -> AsyncIterator[bytes]:
    if isinstance(stream, httpx.AsyncByteStream):
        async for chunk in stream:
            yield chunk
    else:
        for chunk in stream:
            yield chunk


class _NoSlots(asyncio.Semaphore):
    """The pool slot of a transport without a connection cap: acquiring and releasing do nothing."""

    def release(self) -> None:
        return None


_UNLIMITED: Final = _NoSlots()


def direct_transport(
    client: httpx.AsyncClient,
    url: str,
    unwrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] = lambda t: t,
) -> AiohttpTransport | None:
    """The ``AiohttpTransport`` ``client`` sends requests for ``url`` to, when a caller may hand such requests
    to its ``fetch`` directly; else None: an injected ``MockTransport``/``ASGITransport``, httpx's own
    transport, a proxy mounted from the environment (such requests never reach ours), or a client that would
    do more to a request than merge its headers and timeouts (auth, event hooks, default query parameters,
    following redirects itself). ``unwrap``: looks through a wrapper around the transport (msgraph-core's).
    httpx's routing, ``_transport_for_url`` (``httpx/_client.py``), is private: without it, None."""
    if (
        client.auth is not None
        or any(client.event_hooks.values())
        or client.params
        or client.follow_redirects
    ):
        return None
    route = getattr(client, "_transport_for_url", None)
    if route is None:
        return None
    transport = unwrap(route(httpx.URL(url)))
    return transport if isinstance(transport, AiohttpTransport) else None


def network_transport(
    kind: TransportKind,
    *,
    ssl_context: ssl.SSLContext | None = None,
    limits: httpx.Limits = DEFAULT_LIMITS,
) -> httpx.AsyncBaseTransport:
    """The transport for real network requests: ours on aiohttp, or httpx's own (``GRAPH_DPG_HTTP_TRANSPORT
    =httpx``: the fallback, same TLS context and limits)."""
    if kind == "httpx":
        return httpx.AsyncHTTPTransport(
            verify=ssl_context if ssl_context is not None else True, limits=limits, http1=True, http2=False
        )
    if kind == "aiohttp":
        return AiohttpTransport(ssl_context=ssl_context, limits=limits)
    raise ValueError(f"unknown HTTP transport {kind!r}; expected one of {', '.join(TRANSPORT_KINDS)}")
