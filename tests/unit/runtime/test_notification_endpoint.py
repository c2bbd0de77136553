"""POST /graph/notifications and /graph/lifecycle: the validation handshake, bounded bodies, clientState
checked on every notification (mismatches dropped and counted), wakes persisted; on SQLite and PostgreSQL.

Sources: concepts/includes/change-notifications-delivery-notificationurl-validation.md (handshake),
concepts/change-notifications-delivery-webhooks.md (202 after persisting; validate clientState),
concepts/change-notifications-lifecycle-events.md (lifecycle events)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from graph_dpg.adapters.store import SqlStore, create_store
from graph_dpg.runtime.http import MAX_NOTIFICATION_BYTES, GatewayMetrics, create_http_app
from graph_dpg.services.notifications import NotificationInbox

RESOURCE = "outbound:a@testby.dk:sentitems"
STATE = "s3cret-client-state"


class Ready:
    def readiness(self) -> dict[str, tuple[bool, str]]:
        return {}


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    s = create_store(db_url, replica="r1")
    s.save_subscription(RESOURCE, "sub-1", STATE, datetime.now(UTC) + timedelta(days=2))
    yield s
    s.close()


def client_for(store: SqlStore, metrics: GatewayMetrics) -> httpx.AsyncClient:
    app = create_http_app(metrics, Ready(), notifications=NotificationInbox(store))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


def counted(metrics: GatewayMetrics) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if s.name == "graph_dpg_graph_notifications_total":
                out[s.labels["outcome"]] = s.value
    return out


def note(state: str = STATE, **extra: object) -> dict[str, object]:
    return {"value": [{"subscriptionId": "sub-1", "clientState": state, "changeType": "created", **extra}]}


async def test_handshake_echoes_the_url_decoded_token_as_plain_text(store: SqlStore) -> None:
    async with client_for(store, GatewayMetrics()) as client:
        for path in ("/graph/notifications", "/graph/lifecycle"):
            response = await client.post(f"{path}?validationToken=Validation%3A%20Testing%20%3Cb%3E%26x")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain")
            assert response.text == "Validation: Testing <b>&x"
    assert store.take_wakes([RESOURCE]) == []  # a handshake wakes nothing


async def test_a_valid_notification_persists_a_wake_and_answers_202(store: SqlStore) -> None:
    metrics = GatewayMetrics()
    async with client_for(store, metrics) as client:
        response = await client.post("/graph/notifications", json=note())
    assert response.status_code == 202
    assert store.take_wakes([RESOURCE, "outbound:other:sentitems"]) == [RESOURCE]
    assert store.take_wakes([RESOURCE]) == []  # taken once
    assert counted(metrics) == {"accepted": 1.0}


async def test_client_state_mismatch_and_unknown_subscriptions_are_dropped_and_counted(
    store: SqlStore,
) -> None:
    metrics = GatewayMetrics()
    forged = {
        "value": [
            {"subscriptionId": "sub-1", "clientState": STATE[:-1] + "X", "changeType": "created"},
            {"subscriptionId": "sub-1", "changeType": "created"},
            {"subscriptionId": "not-ours", "clientState": STATE, "changeType": "created"},
            "not an object",
        ]
    }
    async with client_for(store, metrics) as client:
        response = await client.post("/graph/notifications", json=forged)
        lifecycle = await client.post(
            "/graph/lifecycle", json=note("wrong", lifecycleEvent="subscriptionRemoved")
        )
    assert (response.status_code, lifecycle.status_code) == (202, 202)
    assert store.take_wakes([RESOURCE]) == []
    row = store.get_subscription(RESOURCE)
    assert row is not None and row.need is None  # a forged lifecycle event changes nothing
    assert counted(metrics) == {"dropped": 5.0}


async def test_lifecycle_events_mark_the_subscription_and_wake_the_folder(store: SqlStore) -> None:
    async with client_for(store, GatewayMetrics()) as client:
        reauth = await client.post("/graph/lifecycle", json=note(lifecycleEvent="reauthorizationRequired"))
        row = store.get_subscription(RESOURCE)
        assert row is not None and row.need == "reauthorize"
        removed = await client.post("/graph/lifecycle", json=note(lifecycleEvent="subscriptionRemoved"))
        row = store.get_subscription(RESOURCE)
        assert row is not None and row.need == "recreate"
        # A later reauthorizationRequired does not undo "recreate" (the subscription is gone).
        await client.post("/graph/lifecycle", json=note(lifecycleEvent="reauthorizationRequired"))
        missed = await client.post("/graph/lifecycle", json=note(lifecycleEvent="missed"))
    assert {reauth.status_code, removed.status_code, missed.status_code} == {202}
    row = store.get_subscription(RESOURCE)
    assert row is not None and row.need == "recreate"
    assert store.take_wakes([RESOURCE]) == [RESOURCE]


async def test_bodies_are_bounded_and_must_be_a_notification_collection(store: SqlStore) -> None:
    async with client_for(store, GatewayMetrics()) as client:
        big = await client.post(
            "/graph/notifications",
            content=b'{"value": ["' + b"x" * MAX_NOTIFICATION_BYTES + b'"]}',
            headers={"content-type": "application/json"},
        )
        deep = await client.post("/graph/notifications", content=b"[" * 100 + b"]" * 100)
        not_json = await client.post("/graph/notifications", content=b"\xff\xfe")
        no_value = await client.post("/graph/notifications", json={"values": []})
        token = await client.post("/graph/notifications", params={"validationToken": "x" * 5000})
    assert [big.status_code, deep.status_code, not_json.status_code, no_value.status_code] == [
        413,
        400,
        400,
        400,
    ]
    assert token.status_code == 400


async def test_not_served_when_notifications_are_off() -> None:
    app = create_http_app(GatewayMetrics(), Ready())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        response = await client.post("/graph/notifications?validationToken=x")
    assert response.status_code == 404
