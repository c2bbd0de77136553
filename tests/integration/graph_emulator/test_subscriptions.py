"""The emulator's change-notification subscriptions, against a receiver served over loopback.

Each test names the docs page (microsoftgraph/microsoft-graph-docs-contrib) whose rule it shows; the rules
and the sandbox's own limits are listed in graph_dpg/sandbox/graph/subscriptions.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from graph_dpg.sandbox.graph import GraphTenant

from .conftest import FUNC, OTHER, make_client

IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}


@dataclass
class Receiver:
    """A webhook endpoint on loopback: answers the handshake (or not) and records what it gets."""

    url: str = ""
    echo: bool = True
    received: list[tuple[str, str, str, str]] = field(default_factory=list)  # path, query token, type, body
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = (await request.body()).decode()
            token = request.query_params.get("validationToken", "")
            with self.lock:
                self.received.append((request.url.path, token, request.headers.get("content-type", ""), body))
            if token:
                return PlainTextResponse(token if self.echo else "nope")
            return Response(status_code=202)

        return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])

    def bodies(self, path: str) -> list[str]:
        with self.lock:
            return [b for p, t, _, b in self.received if p == path and not t]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    server = uvicorn.Server(
        uvicorn.Config(rec.app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    rec.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    yield rec
    server.should_exit = True
    thread.join(timeout=10)


def body(receiver: Receiver, *, minutes: float = 60, **extra: Any) -> dict[str, Any]:
    expires = datetime.now(UTC) + timedelta(minutes=minutes)
    return {
        "changeType": "created,updated",
        "notificationUrl": f"{receiver.url}/notify?route=a",
        "lifecycleNotificationUrl": f"{receiver.url}/lifecycle",
        "resource": f"users/{FUNC}/mailFolders('sentitems')/messages",
        "expirationDateTime": expires.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
        "clientState": "secret-state",
        **extra,
    }


async def test_create_validates_both_urls_with_a_url_decoded_token_first_notificationurl_validation(
    tenant: GraphTenant, receiver: Receiver
) -> None:
    # concepts/includes/change-notifications-delivery-notificationurl-validation.md
    async with make_client(tenant) as client:
        response = await client.post("/subscriptions", json=body(receiver), headers=IMMUTABLE)
    assert response.status_code == 201, response.text
    sub = response.json()
    assert sub["clientState"] == "secret-state" and sub["changeType"] == "created,updated"
    handshakes = [(p, t, ct) for p, t, ct, _ in receiver.received if t]
    assert [p for p, _, _ in handshakes] == ["/notify", "/lifecycle"]
    assert all(ct.startswith("text/plain") for _, _, ct in handshakes)
    assert all(" <&>" in t for _, t, _ in handshakes)  # decoded: the characters that needed encoding
    assert [s.id for s in tenant.subscriptions.subscriptions] == [sub["id"]]


async def test_a_failed_handshake_creates_nothing_notificationurl_validation(
    tenant: GraphTenant, receiver: Receiver
) -> None:
    receiver.echo = False
    async with make_client(tenant) as client:
        response = await client.post("/subscriptions", json=body(receiver))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ValidationError"
    assert tenant.subscriptions.subscriptions == []


async def test_expiry_at_most_4230_minutes_subscription_lifetime(
    tenant: GraphTenant, receiver: Receiver
) -> None:
    # concepts/includes/change-notifications-subscription-lifetime.md (Outlook message: 4,230 minutes)
    async with make_client(tenant) as client:
        too_long = await client.post("/subscriptions", json=body(receiver, minutes=4231))
        created = await client.post("/subscriptions", json=body(receiver, minutes=4229))
        sid = created.json()["id"]
        later = (datetime.now(UTC) + timedelta(minutes=4000)).strftime("%Y-%m-%dT%H:%M:%SZ")
        renewed = await client.patch(f"/subscriptions/{sid}", json={"expirationDateTime": later})
        beyond = (datetime.now(UTC) + timedelta(minutes=5000)).strftime("%Y-%m-%dT%H:%M:%SZ")
        refused = await client.patch(f"/subscriptions/{sid}", json={"expirationDateTime": beyond})
    assert too_long.status_code == 400 and "4230 minutes" in too_long.json()["error"]["message"]
    assert created.status_code == 201
    assert renewed.status_code == 200 and renewed.json()["expirationDateTime"].startswith(later[:16])
    assert refused.status_code == 400


async def test_https_required_http_only_on_loopback_and_clientstate_at_most_128_subscription_resource(
    tenant: GraphTenant, receiver: Receiver
) -> None:
    # api-reference/v1.0/resources/subscription.md (notificationUrl: HTTPS; clientState: 128 characters);
    # http on loopback is the sandbox's inference of convenience.
    async with make_client(tenant) as client:
        plain = await client.post(
            "/subscriptions", json=body(receiver, notificationUrl="http://example.org/hook")
        )
        long_state = await client.post("/subscriptions", json=body(receiver, clientState="x" * 129))
        bad_type = await client.post("/subscriptions", json=body(receiver, changeType="moved"))
    assert [plain.status_code, long_state.status_code, bad_type.status_code] == [400, 400, 400]
    assert receiver.received == []  # refused before any handshake


async def test_a_created_message_notifies_with_the_immutable_id_change_notifications_delivery_webhooks(
    tenant: GraphTenant, receiver: Receiver
) -> None:
    # concepts/change-notifications-delivery-webhooks.md (payload), concepts/outlook-immutable-id.md
    async with make_client(tenant) as client:
        response = await client.post("/subscriptions", json=body(receiver), headers=IMMUTABLE)
    sid = response.json()["id"]
    tenant.deliver_to_inbox(FUNC, "not watched", "<p>x</p>")
    mid = tenant.put_sent_message(FUNC, "Hej", "<p>Hej</p>", to=[("", "a@b.dk")])
    tenant.subscriptions.drain()
    notes = [json.loads(b) for b in receiver.bodies("/notify")]
    assert len(notes) == 1
    (item,) = notes[0]["value"]
    assert item["subscriptionId"] == sid and item["clientState"] == "secret-state"
    assert item["changeType"] == "created"
    assert item["resourceData"]["id"] == mid
    assert item["resource"].endswith(f"/Messages/{mid}")


async def test_lifecycle_events_go_to_the_lifecycle_url_lifecycle_events(
    tenant: GraphTenant, receiver: Receiver
) -> None:
    # concepts/change-notifications-lifecycle-events.md
    async with make_client(tenant) as client:
        sid = (await client.post("/subscriptions", json=body(receiver))).json()["id"]
        tenant.subscriptions.emit_lifecycle(sid, "reauthorizationRequired")
        tenant.subscriptions.emit_lifecycle(sid, "subscriptionRemoved")
        tenant.subscriptions.drain()
        gone = await client.get(f"/subscriptions/{sid}")
    events = [json.loads(b)["value"][0]["lifecycleEvent"] for b in receiver.bodies("/lifecycle")]
    assert events == ["reauthorizationRequired", "subscriptionRemoved"]
    assert gone.status_code == 404


async def test_expired_subscriptions_are_deleted_and_delete_answers_204_change_notifications_delivery_webhooks(
    receiver: Receiver,
) -> None:
    now = [time.time()]
    tenant = GraphTenant("sandbox-token", clock=lambda: now[0])
    tenant.add_mailbox(FUNC)
    async with make_client(tenant) as client:
        first = (await client.post("/subscriptions", json=body(receiver, minutes=30))).json()["id"]
        second = (await client.post("/subscriptions", json=body(receiver, minutes=120))).json()["id"]
        now[0] += 3600
        listed = await client.get("/subscriptions")
        deleted = await client.delete(f"/subscriptions/{second}")
        again = await client.get(f"/subscriptions/{second}")
    assert [s["id"] for s in listed.json()["value"]] == [second]
    assert first != second
    assert deleted.status_code == 204 and again.status_code == 404


async def test_creating_needs_a_mail_read_permission_outlook_subscription_notes(receiver: Receiver) -> None:
    # api-reference/includes/outlook-subscription-notes.md: a read scope on the resource.
    tenant = GraphTenant("sandbox-token", roles=["Mail.Send"])
    tenant.add_mailbox(FUNC)
    async with make_client(tenant) as client:
        response = await client.post("/subscriptions", json=body(receiver))
    assert response.status_code == 403
    assert tenant.subscriptions.subscriptions == []


async def test_the_other_behaviours_of_the_subscription_inferences(receiver: Receiver) -> None:
    # graph_dpg/diagnostics/inferences.py: graph.subscription-rbac and graph.sent-items-notified.
    tenant = GraphTenant("sandbox-token")
    tenant.add_mailbox(FUNC)
    tenant.add_mailbox(OTHER)
    tenant.grant("sandbox-token", ["Mail.ReadWrite"], mailboxes=[FUNC])  # RBAC for Applications: scoped
    async with make_client(tenant) as client:
        allowed = await client.post("/subscriptions", json=body(receiver))
        outside = await client.post(
            "/subscriptions", json=body(receiver, resource=f"users/{OTHER}/mailFolders('inbox')/messages")
        )
        tenant.subscriptions_need_entra_consent = True
        refused = await client.post("/subscriptions", json=body(receiver))
    assert (allowed.status_code, outside.status_code, refused.status_code) == (201, 403, 403)
    tenant.notify_sent_items = False
    tenant.put_sent_message(FUNC, "Hej", "<p>Hej</p>", to=[("", "a@b.dk")])
    tenant.subscriptions.drain()
    assert receiver.bodies("/notify") == []
