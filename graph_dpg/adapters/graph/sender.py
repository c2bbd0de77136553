"""The Graph hot path: one request sent on the plain httpx client, with what the SDK's pipeline did.

Every GraphMailbox request used to go through kiota's request adapter and middleware (redirects, retries,
parameter-name decoding, user agent, telemetry), about 1.2 ms of CPU per request on top of httpx
(bench/request_cpu_bench.py, issue 18). :class:`GraphSender` does the same in one loop:

- **auth**: ``Authorization: Bearer`` from the credential, cached until 5 minutes before it expires (azure-
  core's own refresh window, ``DEFAULT_REFRESH_WINDOW_SECONDS`` in ``azure/core/pipeline/policies/
  _authentication.py``), one refresh at a time. Attached only when the request's origin is the configured
  Graph origin (scheme, host, port), as kiota's ``allowed_hosts`` did: a pre-authenticated upload URL or a
  redirect to another host never sees the token.
- **claims challenges** (continuous access evaluation): a 401 whose ``WWW-Authenticate`` is a Bearer
  challenge with ``claims="<base64>"`` gets one new token for those claims and one retry
  (learn.microsoft.com/entra/identity-platform/claims-challenge; kiota-python ``httpx_request_adapter.py``,
  ``retry_cae_response_if_required``). Any other 401 is answered as it came.
- **retries**: kiota's RetryHandler as the gateway configured it (``client.GraphRetryHandler``; kiota-python
  ``kiota_http/middleware/retry_handler.py``): 429/503/504 up to ``RetryPolicy.max_retries``, a POST only
  after 429/503, ``Retry-After`` above zero wins (fractional), else ``backoff_factor * 2 ** (n - 1) +
  jitter + base_delay`` capped at 120 s for the n-th attempt counted from 0; no retry when the delay would be
  180 s or more; an ``application/octet-stream`` body other than on GET/HEAD/DELETE/OPTIONS is not retried;
  ``Retry-Attempt: n`` on the n-th retry. Unlike inside kiota, every attempt takes its own place in the
  request budget (``slot``), so retries count against the mailbox's requests and concurrency, and the wait
  before a retry holds no concurrency slot.
- **redirects**: 301/302/303/307/308 followed like kiota's RedirectHandler (kiota-python
  ``kiota_http/middleware/redirect_handler.py``): at most 5; 303 (and 302, and 301 after a POST) become a
  GET without a body; a relative ``Location`` is resolved; a change of scheme is refused. Graph does
  redirect some calls (a driveItem's ``/content`` answers 302 to a pre-authenticated URL,
  learn.microsoft.com/graph/api/driveitem-get-content), so the adapter cannot rule them out.
- **telemetry**: ``client-request-id`` (one uuid4 per call, kept over its retries and redirects; Graph
  echoes it and support asks for it, learn.microsoft.com/graph/errors and msgraph-sdk-python's
  ``GraphTelemetryHandler``), ``SdkVersion`` in the form that handler sends (msgraph-core
  ``middleware/telemetry.py``: ``graph-python/<msgraph-sdk>, graph-python-core/<msgraph-core>
  (featureUsage=0x3)``: 0x1 redirect and 0x2 retry, both done here), ``HostOs`` and ``RuntimeEnvironment``.

Errors stay raw here (an ``httpx.TransportError``, the credential's exception, the final response): the
caller translates them (``errors.py``), as before.

**The fast path** (issue 18): when the client's transport for the Graph origin is our ``AiohttpTransport``
(the gateway's default, ``GRAPH_DPG_HTTP_TRANSPORT=aiohttp``), a request to that origin skips
``httpx.AsyncClient.send`` and goes to ``AiohttpTransport.fetch`` with its headers as a list (the client's
defaults merged in once per request, as ``build_request`` would) and the client's timeouts: no
``httpx.Request``, no client-side URL parsing (the origin check is a string prefix of the base URL's
normalised ``scheme://host[:port]/``, falling back to a parse for any other URL), no cookie jar. Same
session, pool slots, timeouts and httpx exception mapping as the transport's ``handle_async_request``, so
``errors.error_for_transport`` sees the same classes. The response is still an ``httpx.Response`` (built
over the read body: ~12 µs). CPU per ``get_categories`` against the emulator in its own process
(bench/request_cpu_bench.py, medians of 4 rounds of 500): 0.64-0.70 → 0.37-0.39 ms, against ~0.5 ms for a bare
``httpx.AsyncClient.get`` over the same transport and 0.21 ms for raw aiohttp.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import platform
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import httpx
from azure.core.credentials_async import AsyncTokenCredential
from msgraph._version import VERSION as MSGRAPH_VERSION
from msgraph_core import SDK_VERSION as MSGRAPH_CORE_VERSION
from msgraph_core.middleware.async_graph_transport import AsyncGraphTransport

from graph_dpg.adapters.graph.errors import parse_retry_after
from graph_dpg.adapters.http.aiohttp_transport import AiohttpTransport, ClientDefaults, direct_transport
from graph_dpg.core.errors import PermanentError

SERVICE = "graph"
#: azure-core refreshes a cached token this long before it expires (DEFAULT_REFRESH_WINDOW_SECONDS).
REFRESH_MARGIN_S = 300.0
RETRY_STATUSES = frozenset({429, 503, 504})
#: After a 5xx other than 503 (504: an upstream did not answer in time, RFC 9110 15.6.5) Graph may have done
#: a POST's work; 429 and 503 refuse before the work (client.GraphRetryHandler.should_retry).
POST_RETRY_STATUSES = frozenset({429, 503})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5  # kiota RedirectHandlerOption.DEFAULT_MAX_REDIRECT
MAX_BACKOFF_S = 120.0  # kiota RetryHandler.MAXIMUM_BACKOFF
MAX_RETRY_DELAY_S = 180.0  # kiota RetryHandlerOption.MAX_DELAY: a longer wait is not retried
_BODYLESS_METHODS = frozenset({"HEAD", "GET", "DELETE", "OPTIONS"})
_CLAIMS = re.compile(r'claims="([^"]+)"')
SDK_VERSION_HEADER = (
    f"graph-python/{MSGRAPH_VERSION}, graph-python-core/{MSGRAPH_CORE_VERSION} (featureUsage=0x3)"
)
_TELEMETRY = {
    "SdkVersion": SDK_VERSION_HEADER,
    "HostOs": f"{platform.system()} {platform.version()}".strip(),
    "RuntimeEnvironment": f"Python/{platform.python_version()}",
}


class BearerToken:
    """The credential's token for ``scopes``, cached until ``margin_s`` before it expires; one refresh at a
    time (concurrent requests wait for it instead of each asking the token endpoint)."""

    def __init__(
        self,
        credential: AsyncTokenCredential,
        scopes: tuple[str, ...],
        *,
        margin_s: float = REFRESH_MARGIN_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._scopes = scopes
        self._margin_s = margin_s
        self._clock = clock
        self._token = ""
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        #: Tokens asked of the credential (for tests and the bench).
        self.fetched = 0

    async def get(self) -> str:
        if self._token and self._clock() < self._refresh_at:
            return self._token
        async with self._lock:
            if self._token and self._clock() < self._refresh_at:
                return self._token  # refreshed by another request while this one waited
            return await self._fetch(None)

    async def challenged(self, claims: str) -> str:
        """A new token carrying ``claims`` (decoded JSON from a claims challenge); it replaces the cache."""
        async with self._lock:
            return await self._fetch(claims)

    async def _fetch(self, claims: str | None) -> str:
        # enable_cae: kiota's default (is_cae_enabled=True); it is what makes Graph send claims challenges
        # instead of refusing a revoked token until it expires.
        token = await self._credential.get_token(*self._scopes, claims=claims, enable_cae=True)
        self.fetched += 1
        self._token = token.token
        self._refresh_at = token.expires_on - self._margin_s
        return self._token


def challenge_claims(response: httpx.Response) -> str | None:
    """The decoded claims of a 401's Bearer claims challenge, else None."""
    if response.status_code != 401:
        return None
    header = response.headers.get("www-authenticate", "")
    if header[:6].casefold() != "bearer":
        return None
    found = _CLAIMS.search(header)
    if found is None:
        return None
    encoded = found.group(1).replace("-", "+").replace("_", "/")
    try:
        claims = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return claims or None


@dataclass(frozen=True)
class Sent:
    """A call's final response and its ``client-request-id``."""

    response: httpx.Response
    client_request_id: str


Slot = Callable[[str], AbstractAsyncContextManager[object]]


def fast_transport(http: httpx.AsyncClient, base_url: str) -> AiohttpTransport | None:
    """The AiohttpTransport the client sends requests for ``base_url`` to, when the fast path may use it
    (``aiohttp_transport.direct_transport``), else None. msgraph-core's ``AsyncGraphTransport`` wraps it and
    hands a request without kiota's options straight to it (``middleware/async_graph_transport.py``), so it
    is looked through. None too for a client with a base URL: the sender's URLs are absolute."""
    if str(http.base_url):
        return None

    def unwrap(transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        return transport.transport if isinstance(transport, AsyncGraphTransport) else transport

    return direct_transport(http, base_url, unwrap)


def origin_prefix(url: httpx.URL) -> str:
    """``scheme://host[:port]/`` of ``url`` as httpx normalises it (lower case, no default port): a URL
    that starts with it is on that origin (what follows the ``/`` is path, query or fragment), so
    ``https://graph.microsoft.com.evil/`` or ``https://graph.microsoft.com:8443/`` does not."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}/"


class GraphSender:
    """Sends Graph calls (see the module docstring). ``slot(mailbox)`` is one attempt's place in the budget;
    ``requests`` counts the attempts sent per mailbox.

    The fast path: when the client sends Graph-origin requests to our ``AiohttpTransport``
    (:func:`fast_transport`), a request to the Graph origin goes to ``AiohttpTransport.fetch`` with the
    client's headers and timeouts, skipping ``httpx.AsyncClient.send`` (its ``Request``, header merging,
    URL parsing and cookie jar): see the module docstring for the numbers. The fast path neither sends nor
    stores cookies (the client's jar kept a ``Set-Cookie`` and sent it back on later requests to that host);
    Graph authenticates each request by its bearer token (learn.microsoft.com/graph/auth/auth-concepts).
    Any other URL (a redirect or next link to another host) takes the client as before, as does every
    request when the transport is not ours (tests' ``MockTransport``/``ASGITransport``,
    ``GRAPH_DPG_HTTP_TRANSPORT=httpx``)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        token: BearerToken,
        *,
        max_retries: int,
        base_delay: float,
        backoff_factor: float,
        jitter: float,
        slot: Slot,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http
        parts = httpx.URL(base_url)
        self._origin = (parts.scheme, parts.host, parts.port)
        self._prefix = origin_prefix(parts)
        self._fast = fast_transport(http, base_url)
        #: What the client would add to every request (headers, timeouts), for the fast path.
        self._defaults = ClientDefaults(http)
        self._token = token
        self._max_retries = max_retries
        self._base_delay = base_delay
        self._backoff_factor = backoff_factor
        self._jitter = jitter
        self._slot = slot
        self._sleep = sleep
        self.requests: Counter[str] = Counter()

    @property
    def fast(self) -> bool:
        """Whether Graph-origin requests take the fast path (see the class docstring)."""
        return self._fast is not None

    def on_graph(self, url: str) -> bool:
        """Whether ``url`` is on the configured Graph origin (scheme, host, port as httpx normalises them):
        a string prefix for the URLs built from the base URL, a parse for anything else."""
        if url.startswith(self._prefix):
            return True
        parts = httpx.URL(url)
        return (parts.scheme, parts.host, parts.port) == self._origin

    def backoff(self, retry: int) -> float:
        """The wait before retry ``retry + 1`` when the answer named none (GraphRetryHandler's formula)."""
        jitter = random.uniform(0, self._jitter) if self._jitter else 0.0  # noqa: S311 - not crypto
        return float(
            min(MAX_BACKOFF_S, self._backoff_factor * (2 ** (retry - 1)) + jitter + self._base_delay)
        )

    async def send(
        self,
        mailbox: str,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] = {},
        content: bytes | None = None,
    ) -> Sent:
        """The final response of ``method url`` (any status) after retries, redirects and a claims
        challenge. Raises ``httpx.TransportError``, the credential's errors, and PermanentError for a
        redirect that cannot be followed."""
        request_id = str(uuid.uuid4())
        target = url
        retries = redirects = 0
        challenged = False
        claims_token: str | None = None
        while True:
            on_graph = self.on_graph(target)
            sent_headers = dict(headers)
            if on_graph:
                sent_headers.update(_TELEMETRY)
                sent_headers["client-request-id"] = request_id
                token = claims_token or await self._token.get()
                sent_headers["Authorization"] = f"Bearer {token}"
            if retries:
                sent_headers["Retry-Attempt"] = str(retries)
            fast = self._fast if on_graph else None
            if fast is None:
                request = self._http.build_request(method, target, headers=sent_headers, content=content)
            async with self._slot(mailbox):
                self.requests[mailbox] += 1
                if fast is not None:
                    defaults = self._defaults
                    header_list = defaults.merged(sent_headers)
                    response = await fast.fetch(method, target, header_list, content, defaults.timeouts)
                else:
                    response = await self._http.send(request)
            status = response.status_code
            if status == 401 and on_graph and not challenged:
                claims = challenge_claims(response)
                if claims is not None:
                    challenged = True
                    claims_token = await self._token.challenged(claims)
                    continue
            delay = self._retry_delay(method, headers, response, retries)
            if delay is not None:
                await self._sleep(delay)  # outside the slot: a waiting retry holds no concurrency
                retries += 1
                continue
            if status in REDIRECT_STATUSES and "location" in response.headers:
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise PermanentError(
                        f"too many redirects (more than {MAX_REDIRECTS}), client-request-id {request_id}",
                        service=SERVICE,
                        status=status,
                    )
                target, method, content, headers = _redirect(target, method, content, headers, response)
                continue
            return Sent(response, request_id)

    def _retry_delay(
        self, method: str, headers: Mapping[str, str], response: httpx.Response, retries: int
    ) -> float | None:
        """The wait before retrying after ``response``, None: no retry (kiota's ``should_retry``,
        ``check_retry_valid`` and ``get_delay_time`` with GraphRetryHandler's changes)."""
        status = response.status_code
        if status not in RETRY_STATUSES or retries >= self._max_retries:
            return None
        if method == "POST" and status not in POST_RETRY_STATUSES:
            return None
        # kiota's _is_request_payload_buffered: a body it takes for a forward-only stream is not resent.
        if method not in _BODYLESS_METHODS and headers.get("Content-Type") == "application/octet-stream":
            return None
        delay = parse_retry_after(response.headers.get("retry-after")) or self.backoff(retries)
        return delay if delay < MAX_RETRY_DELAY_S else None


def _redirect(
    current: str,
    method: str,
    content: bytes | None,
    headers: Mapping[str, str],
    response: httpx.Response,
) -> tuple[str, str, bytes | None, Mapping[str, str]]:
    """The next hop as kiota's RedirectHandler builds it (``_redirect_method``, ``_redirect_url``)."""
    status = response.status_code
    url = httpx.URL(current)
    location = response.headers["location"]
    try:
        target = httpx.URL(location)
    except httpx.InvalidURL as exc:
        raise PermanentError(
            f"redirect to an invalid Location: {exc}", service=SERVICE, status=status
        ) from exc
    if not target.is_relative_url and target.scheme != url.scheme:
        raise PermanentError(
            f"redirect from {url.scheme} to {target.scheme} refused", service=SERVICE, status=status
        )
    if target.scheme and not target.host:
        target = target.copy_with(host=url.host)
    if target.is_relative_url:
        target = url.join(target)
    to_get = (status in (302, 303) and method != "HEAD") or (status == 301 and method == "POST")
    if to_get and method != "GET":
        method, content = "GET", None
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return str(target), method, content, headers
