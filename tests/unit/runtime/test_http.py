"""/healthz, /readyz, /metrics and the mounted NgDP push receiver, through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from graph_dpg.adapters.digital_post import create_push_app
from graph_dpg.runtime.http import GatewayMetrics, HttpServer, create_http_app

Rig = Any  # the fixture's Rig (tests/unit/runtime/conftest.py); test dirs are not packages


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


async def test_healthz_is_always_ok() -> None:
    class Never:
        def readiness(self) -> dict[str, tuple[bool, str]]:
            raise AssertionError("liveness must not ask for readiness")

    async with client_for(create_http_app(GatewayMetrics(), Never())) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readyz_503_names_the_failing_check() -> None:
    class Broken:
        def readiness(self) -> dict[str, tuple[bool, str]]:
            return {"database": (False, "connection refused"), "polling": (True, "fine")}

    async with client_for(create_http_app(GatewayMetrics(), Broken())) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == {"ok": False, "detail": "connection refused"}


async def test_readyz_and_metrics_of_a_running_gateway(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.send()
    rig.send(to="1234567890@12345674.ngdp.digital-post.dk")  # refused: no valid CPR
    await rig.runtime.tick()
    app = create_http_app(rig.runtime.metrics, rig.runtime)
    async with client_for(app) as client:
        ready = await client.get("/readyz")
        metrics = await client.get("/metrics")
    assert ready.status_code == 200, ready.json()
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] and checks["credentials"]["ok"] and checks["polling"]["ok"]
    assert metrics.headers["content-type"].startswith("text/plain")
    values = samples(metrics.text)
    assert values[("graph_dpg_messages_sent_total", (("channel", "ngdp"),))] == 1.0
    assert values[("graph_dpg_messages_failed_total", (("channel", "ngdp"),))] == 1.0
    assert values[("graph_dpg_graph_requests_total", (("mailbox", "a@testby.dk"),))] > 0
    assert values[("graph_dpg_outbox_messages", (("state", "accepted"),))] == 1.0
    assert values[("graph_dpg_poll_seconds_count", (("kind", "outbound"),))] >= 2  # both mailboxes polled


async def test_readyz_fails_when_polls_are_stale(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    await rig.runtime.tick()
    rig.runtime.last_outbound_success -= 3600
    ok, detail = rig.runtime.readiness()["polling"]
    assert not ok and "no successful poll" in detail


async def test_push_endpoints_are_mounted_and_store_before_200(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    push = create_push_app(rig.gateway.store.push_sink(), "push-secret")
    app = create_http_app(rig.runtime.metrics, rig.runtime, push_app=push)
    memo = b'<memo:Message xmlns:memo="https://DigitalPost.dk/MeMo-1"/>'
    uuid = "0b5cfa6e-2a52-4a0e-8d0c-3c7b1f6c9a11"
    async with client_for(app) as client:
        refused = await client.post("/ngdp/push/memos", files={"file": (uuid, memo, "application/xml")})
        accepted = await client.post(
            "/ngdp/push/memos",
            files={"file": (uuid, memo, "application/xml")},
            headers={"Authorization": "Bearer push-secret"},
        )
    assert refused.status_code == 401
    assert accepted.status_code == 200, accepted.text
    assert rig.gateway.store.load_inbound_xml(uuid) == memo


class AlwaysReady:
    def readiness(self) -> dict[str, tuple[bool, str]]:
        return {"database": (True, "reachable")}


async def test_http_server_listens_on_the_port_it_reports_and_stops() -> None:
    server = HttpServer(create_http_app(GatewayMetrics(), AlwaysReady()), "127.0.0.1", 0)
    await server.start()
    try:
        assert not server.url.endswith(":0")  # the port the system chose
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{server.url}/readyz")).status_code == 200
    finally:
        await server.stop()
    async with httpx.AsyncClient() as client:
        try:
            await client.get(f"{server.url}/healthz")
        except httpx.ConnectError:
            pass
        else:
            raise AssertionError("the server still answers after stop()")


async def test_the_console_is_mounted_beside_healthz_when_its_sign_in_is_configured(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    assert rig.runtime._console_app() is None  # not configured: no /console at all
    rig.runtime.settings = rig.settings.model_copy(
        update={
            "console_authority": "https://login.microsoftonline.com/tenant",
            "console_client_id": "client",
            "console_client_secret": SecretStr("secret"),
            "console_redirect_uri": "https://gateway/console/auth/callback",
            "console_session_secret": SecretStr("s" * 40),
        }
    )
    app = create_http_app(rig.runtime.metrics, rig.runtime, console_app=rig.runtime._console_app())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://gateway"
    ) as client:
        signin = await client.get("/console/signin")
        anonymous = await client.get("/console/")
        health = await client.get("/healthz")
    assert signin.status_code == 200
    assert "frame-ancestors 'none'" in signin.headers["content-security-policy"]
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/console/signin")
    assert health.status_code == 200


class BudgetedMailbox:
    """What /metrics reads of the Graph adapter, with requests that waited for the request budget."""

    requests = {"a@testby.dk": 30}
    throttled: dict[str, int] = {}
    budget_waits = {"a@testby.dk": 2}


async def test_metrics_count_requests_that_waited_for_the_graph_request_budget() -> None:
    """Issue 18: a request past its mailbox's minute (adapters/graph/budget.py) waits; /metrics counts it."""
    async with client_for(
        create_http_app(GatewayMetrics(mailbox=BudgetedMailbox()), AlwaysReady())
    ) as client:
        values = samples((await client.get("/metrics")).text)
    assert values[("graph_dpg_graph_budget_waits_total", (("mailbox", "a@testby.dk"),))] == 2.0
    assert values[("graph_dpg_graph_requests_total", (("mailbox", "a@testby.dk"),))] == 30.0
