"""GraphMailbox's subscription calls (msgraph-sdk request builders, raw JSON) against the Graph emulator, whose
handshake reaches the gateway's own notification endpoint served on loopback. Errors arrive as core.errors."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.core.errors import AuthError, NotFoundError, RejectedError
from graph_dpg.runtime.http import GatewayMetrics, HttpServer, create_http_app
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.services.notifications import NotificationOutcome, NotificationSettings

TOKEN = "sandbox-token"
FUNC = "post@kommune.dk"


class Sink:
    def accept(self, document: object) -> NotificationOutcome:
        return NotificationOutcome()


class Ready:
    def readiness(self) -> dict[str, tuple[bool, str]]:
        return {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def endpoint() -> AsyncIterator[NotificationSettings]:
    server = HttpServer(
        create_http_app(GatewayMetrics(), Ready(), notifications=Sink()), "127.0.0.1", free_port()
    )
    await server.start()
    try:
        yield NotificationSettings.from_base(server.url)
    finally:
        await server.stop()


def mailbox_for(tenant: GraphTenant) -> GraphMailbox:
    return GraphMailbox(
        StaticTokenCredential(TOKEN),
        "http://127.0.0.1/v1.0",
        transport=httpx.ASGITransport(app=create_app(tenant)),
        retry=RetryPolicy.fast(),
    )


async def test_create_renew_delete_with_immutable_ids(endpoint: NotificationSettings) -> None:
    tenant = GraphTenant(TOKEN)
    tenant.add_mailbox(FUNC)
    folder = tenant.create_folder(FUNC, "sentitems", "Digital Post ud")
    asked = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=4000)
    async with mailbox_for(tenant) as mbx:
        created = await mbx.create_subscription(
            FUNC,
            "Sent Items/Digital Post ud",  # a path: resolved to the folder's id for the resource
            notification_url=endpoint.notification_url,
            lifecycle_url=endpoint.lifecycle_url,
            client_state="state",
            expires_at=asked,
        )
        (sub,) = tenant.subscriptions.subscriptions
        assert (sub.id, sub.immutable, sub.change_types) == (created.id, True, frozenset({"created"}))
        assert sub.folder_id == folder.id
        assert created.expires_at == asked
        later = asked + timedelta(minutes=100)
        assert await mbx.renew_subscription(FUNC, created.id, later) == later
        await mbx.delete_subscription(FUNC, created.id)
        await mbx.delete_subscription(FUNC, created.id)  # already gone: not an error
        with pytest.raises(NotFoundError):
            await mbx.renew_subscription(FUNC, created.id, later)
    assert tenant.subscriptions.subscriptions == []
    assert {e.endpoint for e in tenant.request_log} >= {"subscriptions.create", "subscriptions.update"}


async def test_refusals_are_translated(endpoint: NotificationSettings) -> None:
    tenant = GraphTenant(TOKEN)
    tenant.add_mailbox(FUNC)
    far = datetime.now(UTC) + timedelta(minutes=5000)  # beyond the 4,230 minutes
    async with mailbox_for(tenant) as mbx:
        with pytest.raises(RejectedError):
            await mbx.create_subscription(
                FUNC,
                "sentitems",
                notification_url=endpoint.notification_url,
                lifecycle_url=endpoint.lifecycle_url,
                client_state="state",
                expires_at=far,
            )
        with pytest.raises(RejectedError):  # the handshake fails: nothing listens there
            await mbx.create_subscription(
                FUNC,
                "sentitems",
                notification_url=f"http://127.0.0.1:{free_port()}/graph/notifications",
                lifecycle_url=endpoint.lifecycle_url,
                client_state="state",
                expires_at=datetime.now(UTC) + timedelta(hours=1),
            )
    reader = GraphTenant(TOKEN, roles=["Mail.Send"])
    reader.add_mailbox(FUNC)
    async with mailbox_for(reader) as mbx:
        with pytest.raises(AuthError):
            await mbx.create_subscription(
                FUNC,
                "sentitems",
                notification_url=endpoint.notification_url,
                lifecycle_url=endpoint.lifecycle_url,
                client_state="state",
                expires_at=datetime.now(UTC) + timedelta(hours=1),
            )
    assert tenant.subscriptions.subscriptions == [] and reader.subscriptions.subscriptions == []
