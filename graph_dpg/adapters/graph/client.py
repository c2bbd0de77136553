"""Wiring of the msgraph-sdk pipeline: credential → kiota auth provider → middleware → httpx client.

GraphMailbox keeps this pipeline for the SDK's request builders (URI templates, path parameters) and for
SDK-model calls off the hot path (``GraphMailbox.client``); its own requests do not go through it: they are
sent by ``sender.GraphSender`` on the same httpx client, which does what the middleware below did (auth
only on the Graph origin, the retries of ``GraphRetryHandler``, redirects, telemetry) for ~1 ms of CPU
less per request (issue 18). A request without kiota's request options passes msgraph-core's
``AsyncGraphTransport`` straight to the transport (``middleware/async_graph_transport.py``), so the two
share one connection pool.

Why each piece (docs/facts/graph.md, the "msgraph-sdk" sections):
- ``AzureIdentityAuthenticationProvider`` with explicit scopes (otherwise kiota derives
  ``{scheme}://{host}/.default`` from the request host) and ``allowed_hosts`` = the configured base URL's
  host, so a bearer token is never attached to any other host (e.g. pre-authenticated upload-session
  URLs on outlook.office.com). kiota refuses plain http except for loopback hosts.
- The SDK's default middleware, with the RetryHandler replaced by a subclass that parses fractional
  ``Retry-After`` values (Graph sends e.g. ``2.128``; kiota's handler only parses integers and falls back
  to its backoff) and has a configurable backoff/jitter so tests stay fast.
- Left out of that default: the headers and body inspection handlers (they only act for a request that
  carries their option, which the adapter never sets) and the URL replace handler (it rewrites
  ``/users/TokenToReplace`` to ``/me``, a path the adapter never uses): each is a pass-through with its
  own tracing span on every request (bench/cost_bench.py, issue 18).
- ``adapter.base_url`` is set without a trailing slash; httpx normalises a client base URL *with* one and
  kiota would then produce ``/v1.0//users/...``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from azure.core.credentials_async import AsyncTokenCredential
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import (
    BodyInspectionHandler,
    HeadersInspectionHandler,
    RetryHandler,
    UrlReplaceHandler,
)
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_request_adapter import options as sdk_middleware_options
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory
from msgraph_core.middleware import GraphTelemetryHandler
from msgraph_core.middleware.options import GraphTelemetryHandlerOption

from graph_dpg.adapters.graph.errors import parse_retry_after
from graph_dpg.core.errors import ConfigError

GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
GRAPH_SCOPES = ("https://graph.microsoft.com/.default",)
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_UNUSED_MIDDLEWARE = (HeadersInspectionHandler, BodyInspectionHandler, UrlReplaceHandler)


@dataclass(frozen=True)
class RetryPolicy:
    """How 429/503/504 are retried (Retry-After wins when the server sends one): by ``sender.GraphSender``
    for the adapter's requests, by the SDK's RetryHandler (``GraphRetryHandler``) for SDK-model calls."""

    max_retries: int = 3
    base_delay: float = 3.0  # kiota adds this to every computed backoff
    backoff_factor: float = 0.5
    jitter: float = 1.0

    @classmethod
    def fast(cls) -> RetryPolicy:
        """For tests and the in-process sandbox: retry at once unless the server says otherwise."""
        return cls(max_retries=3, base_delay=0.0, backoff_factor=0.01, jitter=0.0)


class GraphRetryHandler(RetryHandler):
    """kiota's RetryHandler, honouring fractional Retry-After and a configurable backoff/jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        super().__init__(RetryHandlerOption(delay=policy.base_delay, max_retries=policy.max_retries))
        self.backoff_factor = policy.backoff_factor
        self._jitter = policy.jitter

    def should_retry(
        self, request: httpx.Request, options: RetryHandlerOption, response: httpx.Response
    ) -> bool:
        # A POST creates or sends something. After a 5xx other than 503 (a 504 means an upstream did not
        # answer in time, RFC 9110 §15.6.5) Graph may have done it, and kiota would POST again: a twin
        # message or a second sendMail. 429 and 503 are refusals before the work, safe to repeat. The
        # callers of a create look the item up by its marker property before creating it again.
        # bench/chaos.py injects exactly this (a 504 after messages.create took effect) and checks that every
        # inbound memo is delivered once.
        if request.method.upper() == "POST" and response.status_code not in (429, 503):
            return False
        return bool(super().should_retry(request, options, response))

    def _parse_retry_after(self, retry_after: str) -> float | None:
        return parse_retry_after(retry_after)

    def _get_delay_time_exp_backoff(self, retry_count: int, delay: float) -> float:
        backoff = self.backoff_factor * (2 ** (retry_count - 1))
        jitter = random.uniform(0, self._jitter) if self._jitter else 0.0  # noqa: S311 - not crypto
        return float(min(self.backoff_max, backoff + jitter + delay))


def check_base_url(base_url: str) -> str:
    """Normalise and validate the Graph base URL (https, or http on a loopback host for the sandbox)."""
    url = base_url.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"Graph base URL {base_url!r} is not an absolute http(s) URL")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise ConfigError(f"Graph base URL {base_url!r}: plain http is only allowed on loopback hosts")
    return url


@dataclass
class GraphPipeline:
    client: GraphServiceClient
    adapter: GraphRequestAdapter
    http: httpx.AsyncClient
    base_url: str
    owns_http: bool


def build_pipeline(
    credential: AsyncTokenCredential,
    base_url: str = GRAPH_BASE_URL,
    *,
    http_client: httpx.AsyncClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    timeout: httpx.Timeout | float | None = None,
    scopes: tuple[str, ...] = GRAPH_SCOPES,
) -> GraphPipeline:
    """A GraphServiceClient on our own httpx client with the SDK middleware (see module docstring)."""
    url = check_base_url(base_url)
    host = urlsplit(url).hostname or ""
    owns_http = http_client is None
    if http_client is None:
        http_client = httpx.AsyncClient(
            transport=transport,
            timeout=timeout if timeout is not None else httpx.Timeout(100.0, connect=30.0),
        )
    middleware = [
        m
        for m in KiotaClientFactory.get_default_middleware(sdk_middleware_options)
        if not isinstance(m, _UNUSED_MIDDLEWARE)
    ]
    policy = retry or RetryPolicy()
    middleware = [GraphRetryHandler(policy) if isinstance(m, RetryHandler) else m for m in middleware]
    telemetry = sdk_middleware_options.get(GraphTelemetryHandlerOption.get_key())
    middleware.append(
        GraphTelemetryHandler(telemetry)
        if isinstance(telemetry, GraphTelemetryHandlerOption)
        else GraphTelemetryHandler()
    )
    http_client = GraphClientFactory.create_with_custom_middleware(middleware, client=http_client)
    auth = AzureIdentityAuthenticationProvider(credential, scopes=list(scopes), allowed_hosts=[host])
    adapter = GraphRequestAdapter(auth, http_client)
    adapter.base_url = url
    client = GraphServiceClient(request_adapter=adapter)
    return GraphPipeline(client=client, adapter=adapter, http=http_client, base_url=url, owns_http=owns_http)
