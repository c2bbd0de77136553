"""GraphMailbox's own sender (adapters/graph/sender.py) against canned answers (httpx.MockTransport): the
token cache, where the token goes, claims challenges, redirects, telemetry headers and the budget charged
per attempt. The retry behaviour kiota's RetryHandler had is pinned in test_graph_mailbox_wire.py."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken

from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.adapters.graph.budget import BudgetLimits, GraphBudget, MemoryLedger, mailbox_scope
from graph_dpg.adapters.graph.sender import SDK_VERSION_HEADER, BearerToken
from graph_dpg.core import budget as arithmetic
from graph_dpg.core.errors import AuthError, PermanentError, ThrottledError
from tests.unit.graph.test_graph_mailbox_wire import BASE, MB, Wire, err

# learn.microsoft.com/entra/identity-platform/claims-challenge, "Claims challenge header format".
CLAIMS = '{"access_token":{"acrs":{"essential":true,"value":"cp1"}}}'
CHALLENGE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    f'error="insufficient_claims", claims="{base64.b64encode(CLAIMS.encode()).decode()}"'
)


class Tokens(StaticTokenCredential):
    """Hands out ``token-1``, ``token-2``, ... and records the claims each was asked with."""

    def __init__(self, lifetime_s: int = 3600, clock: Callable[[], float] = time.time) -> None:
        super().__init__("unused", lifetime_s=lifetime_s)
        self.claims: list[str | None] = []
        self.clock = clock

    async def get_token(self, *scopes: str, claims: str | None = None, **kw: Any) -> AccessToken:
        self.calls += 1
        self.claims.append(claims)
        await asyncio.sleep(0)  # a real credential awaits the token endpoint
        return AccessToken(f"token-{self.calls}", int(self.clock()) + self._lifetime_s)


def on(wire: Wire, credential: StaticTokenCredential, **kw: Any) -> GraphMailbox:
    return GraphMailbox(
        credential, BASE, transport=httpx.MockTransport(wire), retry=kw.pop("retry", RetryPolicy.fast()), **kw
    )


# -- the token -------------------------------------------------------------------------------------


async def test_one_token_serves_many_requests() -> None:
    tokens = Tokens()
    wire = Wire(lambda r: httpx.Response(200, content=b"x"))
    async with on(wire, tokens) as mbx:
        await asyncio.gather(*(mbx.get_mime(MB, str(i)) for i in range(12)))
    assert tokens.calls == 1
    assert {h["authorization"] for h in wire.headers} == {"Bearer token-1"}


async def test_a_token_within_five_minutes_of_expiry_is_not_reused() -> None:
    tokens = Tokens(lifetime_s=299)  # already inside the refresh window when issued
    wire = Wire(lambda r: httpx.Response(200, content=b"x"))
    async with on(wire, tokens) as mbx:
        for i in range(3):
            await mbx.get_mime(MB, str(i))
    assert [h["authorization"] for h in wire.headers] == [
        "Bearer token-1",
        "Bearer token-2",
        "Bearer token-3",
    ]


async def test_the_cache_refreshes_five_minutes_before_expiry_once_for_concurrent_callers() -> None:
    now = [1_800_000_000.0]
    tokens = Tokens(lifetime_s=3600, clock=lambda: now[0])
    cache = BearerToken(tokens, ("s/.default",), clock=lambda: now[0])
    assert await cache.get() == "token-1"
    now[0] += 3600 - 301  # 301 s before expiry: still the cached token
    assert await asyncio.gather(*(cache.get() for _ in range(5))) == ["token-1"] * 5
    now[0] += 2  # 299 s before expiry: refreshed, by one of the waiting callers only
    assert await asyncio.gather(*(cache.get() for _ in range(5))) == ["token-2"] * 5
    assert tokens.calls == 2
    assert tokens.claims == [None, None]


# -- where the token goes ----------------------------------------------------------------------------


async def test_the_token_and_telemetry_never_follow_a_redirect_to_another_host() -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        if r.url.host == "127.0.0.1":
            return httpx.Response(302, headers={"Location": "http://files.example.net:8999/blob?sig=1"})
        return httpx.Response(200, content=b"blob")

    wire = Wire(handler)
    async with on(wire, StaticTokenCredential("sandbox-token")) as mbx:
        assert await mbx.get_mime(MB, "m") == b"blob"
        assert mbx.requests[MB] == 2  # each hop is a request of its own in the budget
    graph, other = wire.headers
    assert graph["authorization"] == "Bearer sandbox-token"
    assert "authorization" not in other
    assert "client-request-id" not in other
    assert str(wire.requests[1].url) == "http://files.example.net:8999/blob?sig=1"


async def test_a_next_link_on_another_origin_gets_no_token() -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        if r.url.port == 8999:
            return httpx.Response(200, json={"value": [], "@odata.nextLink": "http://127.0.0.1:9000/v1.0/p2"})
        return httpx.Response(200, json={"value": [{"displayName": "A", "color": "none"}]})

    wire = Wire(handler)
    async with on(wire, StaticTokenCredential("sandbox-token")) as mbx:
        assert await mbx.get_master_categories(MB) == {"A": "none"}
    assert ["authorization" in h for h in wire.headers] == [True, False]  # same host, other port


async def test_a_same_origin_redirect_keeps_the_token_and_303_becomes_a_get() -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        if r.method == "POST":
            return httpx.Response(303, headers={"Location": "/v1.0/elsewhere"})
        return httpx.Response(200, json={"id": "new"})

    wire = Wire(handler)
    async with on(wire, StaticTokenCredential("sandbox-token")) as mbx:
        assert await mbx.create_folder(MB, "X") == "new"
    post, get = wire.requests
    assert (post.method, get.method, get.url.path) == ("POST", "GET", "/v1.0/elsewhere")
    assert wire.bodies[1] == b""
    assert "content-type" not in wire.headers[1]
    assert wire.headers[1]["authorization"] == "Bearer sandbox-token"
    assert wire.headers[0]["client-request-id"] == wire.headers[1]["client-request-id"]


async def test_redirects_stop_after_five_and_a_scheme_change_is_refused() -> None:
    loop = Wire(lambda r: httpx.Response(307, headers={"Location": f"{BASE}/again"}))
    async with on(loop, StaticTokenCredential("sandbox-token")) as mbx:
        with pytest.raises(PermanentError, match="too many redirects"):
            await mbx.get_mime(MB, "m")
    assert len(loop.requests) == 6  # the first request and 5 redirects
    https = Wire(lambda r: httpx.Response(301, headers={"Location": "https://127.0.0.1:8999/v1.0/x"}))
    async with on(https, StaticTokenCredential("sandbox-token")) as mbx:
        with pytest.raises(PermanentError, match="refused"):
            await mbx.get_mime(MB, "m")
    assert len(https.requests) == 1


# -- claims challenges ---------------------------------------------------------------------------


async def test_a_claims_challenge_gets_a_token_for_those_claims_and_one_retry() -> None:
    tokens = Tokens()

    def handler(r: httpx.Request) -> httpx.Response:
        if r.headers["authorization"] == "Bearer token-1":
            return httpx.Response(401, headers={"WWW-Authenticate": CHALLENGE}, json={"error": {"code": "x"}})
        return httpx.Response(200, content=b"ok")

    wire = Wire(handler)
    async with on(wire, tokens) as mbx:
        assert await mbx.get_mime(MB, "m") == b"ok"
        assert await mbx.get_mime(MB, "n") == b"ok"  # the new token is the cached one now
    assert tokens.claims == [None, CLAIMS]
    assert [h["authorization"] for h in wire.headers] == [
        "Bearer token-1",
        "Bearer token-2",
        "Bearer token-2",
    ]


async def test_a_second_challenge_or_a_plain_401_is_an_auth_error() -> None:
    tokens = Tokens()
    always = Wire(lambda r: httpx.Response(401, headers={"WWW-Authenticate": CHALLENGE}))
    async with on(always, tokens) as mbx:
        with pytest.raises(AuthError) as info:
            await mbx.get_mime(MB, "m")
    assert info.value.status == 401
    assert len(always.requests) == 2
    plain = Wire(lambda r: err(401, "InvalidAuthenticationToken", {"WWW-Authenticate": 'Bearer realm=""'}))
    async with on(plain, Tokens()) as mbx:
        with pytest.raises(AuthError):
            await mbx.get_mime(MB, "m")
    assert len(plain.requests) == 1


# -- telemetry -------------------------------------------------------------------------------------


async def test_every_call_has_its_own_client_request_id_kept_over_its_retries() -> None:
    answers = iter(
        [err(503, "ServiceUnavailable"), httpx.Response(200, content=b"a"), err(404, "ErrorItemNotFound")]
    )
    wire = Wire(lambda r: next(answers))
    async with on(wire, StaticTokenCredential("sandbox-token")) as mbx:
        await mbx.get_mime(MB, "a")
        with pytest.raises(PermanentError) as info:
            await mbx.get_mime(MB, "b")
    ids = [h["client-request-id"] for h in wire.headers]
    assert ids[0] == ids[1] != ids[2]
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert info.value.details["client-request-id"] == ids[2]  # for Graph support, with the error
    assert {h["sdkversion"] for h in wire.headers} == {SDK_VERSION_HEADER}
    assert re.fullmatch(
        r"graph-python/\d+\.\d+\.\d+, graph-python-core/\d+\.\d+\.\d+ \(featureUsage=0x3\)",
        SDK_VERSION_HEADER,
    )


# -- retries in the budget -------------------------------------------------------------------------


async def test_retries_are_charged_to_the_mailboxs_request_count() -> None:
    now = 1_800_000_000.0
    ledger = MemoryLedger(lambda: now)
    budget = GraphBudget(BudgetLimits(mailbox_requests_per_window=100, block=1), ledger=ledger)
    answers = iter([err(429, "TooManyRequests", {"Retry-After": "0.01"}), err(503, "x"), httpx.Response(200)])
    wire = Wire(lambda r: next(answers))
    async with on(wire, StaticTokenCredential("sandbox-token"), budget=budget) as mbx:
        await mbx.get_mime(MB, "m")
        assert mbx.requests[MB] == 3
    start = arithmetic.window_start(now, arithmetic.WINDOW_S)
    assert ledger.used(mailbox_scope(MB), start) == 3  # 1 call, 3 requests counted


async def test_a_retry_after_of_three_minutes_or_more_is_not_waited_for() -> None:
    wire = Wire(lambda r: err(429, "ApplicationThrottled", {"Retry-After": "180"}))
    async with on(wire, StaticTokenCredential("sandbox-token")) as mbx:
        with pytest.raises(ThrottledError) as info:
            await mbx.get_mime(MB, "m")
    assert info.value.retry_after == 180
    assert len(wire.requests) == 1


async def test_a_post_is_retried_after_429_and_503_but_not_after_504() -> None:
    answers = iter([err(429, "x", {"Retry-After": "0.01"}), err(503, "y"), err(504, "GatewayTimeout")])
    wire = Wire(lambda r: next(answers))
    async with on(wire, StaticTokenCredential("sandbox-token")) as mbx:
        with pytest.raises(Exception, match=r"504|GatewayTimeout"):
            await mbx.create_folder(MB, "X")
    assert [r.method for r in wire.requests] == ["POST"] * 3
    assert [h.get("retry-attempt") for h in wire.headers] == [None, "1", "2"]
    assert [json.loads(b) for b in wire.bodies] == [{"displayName": "X"}] * 3
