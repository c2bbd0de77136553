"""SubscriptionKeeper: create, keep, renew before expiry (injected clock), reauthorize, recreate; on SQLite and
PostgreSQL (the subscription row is shared by the replicas)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from graph_dpg.adapters.store import SqlStore, create_store
from graph_dpg.core.errors import NotFoundError
from graph_dpg.ports.subscriptions import CreatedSubscription
from graph_dpg.services.notifications import (
    MAX_LIFETIME,
    RENEW_BEFORE,
    REQUESTED_LIFETIME,
    NotificationInbox,
    NotificationSettings,
    SubscriptionAction,
    SubscriptionKeeper,
)

RESOURCE = "outbound:a@testby.dk:sentitems"
T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@dataclass
class FakeSubscriptions:
    """The SubscriptionPort as Graph answers it (ids numbered; expiry as asked)."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    n: int = 0

    async def create_subscription(
        self,
        mailbox: str,
        folder: str,
        *,
        notification_url: str,
        lifecycle_url: str,
        client_state: str,
        expires_at: datetime,
    ) -> CreatedSubscription:
        self.n += 1
        assert notification_url.endswith("/graph/notifications") and lifecycle_url.endswith(
            "/graph/lifecycle"
        )
        assert len(client_state) <= 128
        self.calls.append(("create", f"s{self.n}"))
        return CreatedSubscription(f"s{self.n}", expires_at)

    async def renew_subscription(self, mailbox: str, subscription_id: str, expires_at: datetime) -> datetime:
        self.calls.append(("renew", subscription_id))
        if subscription_id in self.gone:
            raise NotFoundError("gone", service="graph", status=404)
        return expires_at

    async def delete_subscription(self, mailbox: str, subscription_id: str) -> None:
        self.calls.append(("delete", subscription_id))


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    s = create_store(db_url, replica="r1")
    yield s
    s.close()


def keeper_for(store: SqlStore, now: list[datetime]) -> tuple[SubscriptionKeeper, FakeSubscriptions]:
    port = FakeSubscriptions()
    settings = NotificationSettings.from_base("https://gw.example.dk/")
    return SubscriptionKeeper(port, store, settings, clock=lambda: now[0]), port


async def test_created_once_then_kept_then_renewed_before_it_expires(store: SqlStore) -> None:
    now = [T0]
    keeper, port = keeper_for(store, now)
    assert REQUESTED_LIFETIME <= MAX_LIFETIME == timedelta(minutes=4230)
    assert await keeper.maintain(RESOURCE, "a@testby.dk", "sentitems") == SubscriptionAction.CREATED
    row = store.get_subscription(RESOURCE)
    assert row is not None and row.subscription_id == "s1" and row.expires_at == T0 + REQUESTED_LIFETIME
    now[0] = T0 + REQUESTED_LIFETIME - RENEW_BEFORE - timedelta(minutes=1)  # not yet due
    assert await keeper.maintain(RESOURCE, "a@testby.dk", "sentitems") == SubscriptionAction.KEPT
    now[0] += timedelta(minutes=2)  # less than RENEW_BEFORE left
    assert await keeper.maintain(RESOURCE, "a@testby.dk", "sentitems") == SubscriptionAction.RENEWED
    renewed = store.get_subscription(RESOURCE)
    assert renewed is not None and renewed.expires_at == now[0] + REQUESTED_LIFETIME
    assert renewed.client_state == row.client_state  # renewing keeps the secret
    assert port.calls == [("create", "s1"), ("renew", "s1")]


async def test_a_new_subscription_wakes_its_folder_once_a_renewal_does_not(store: SqlStore) -> None:
    """Graph notifies only changes after the subscription exists (concepts/change-notifications-overview.md):
    a mail that came between the folder's last poll and the subscription would wait for the safety-net poll.
    Creating (or recreating) a subscription therefore wakes the folder for one delta round."""
    now = [T0]
    keeper, _ = keeper_for(store, now)
    assert await keeper.maintain(RESOURCE, "a@testby.dk", "sentitems") == SubscriptionAction.CREATED
    assert store.take_wakes([RESOURCE]) == [RESOURCE]
    assert store.take_wakes([RESOURCE]) == []  # taken once
    now[0] = T0 + REQUESTED_LIFETIME - RENEW_BEFORE + timedelta(minutes=1)
    assert await keeper.maintain(RESOURCE, "a@testby.dk", "sentitems") == SubscriptionAction.RENEWED
    assert store.take_wakes([RESOURCE]) == []  # a renewal loses nothing: no extra round


async def test_lifecycle_marks_reauthorize_and_recreate(store: SqlStore) -> None:
    now = [T0]
    keeper, port = keeper_for(store, now)
    await keeper.maintain(RESOURCE, "a@testby.dk", "sentitems")
    first = store.get_subscription(RESOURCE)
    assert first is not None
    inbox = NotificationInbox(store)
    out = inbox.accept(
        {
            "value": [
                {
                    "subscriptionId": "s1",
                    "clientState": first.client_state,
                    "lifecycleEvent": "reauthorizationRequired",
                }
            ]
        }
    )
    assert (out.accepted, out.lifecycle) == (1, {"reauthorizationRequired": 1})
    assert await keeper.maintain(RESOURCE, "a@testby.dk", "sentitems") == SubscriptionAction.REAUTHORIZED
    inbox.accept(
        {
            "value": [
                {
                    "subscriptionId": "s1",
                    "clientState": first.client_state,
                    "lifecycleEvent": "subscriptionRemoved",
                }
            ]
        }
    )
    assert await keeper.maintain(RESOURCE, "a@testby.dk", "sentitems") == SubscriptionAction.RECREATED
    second = store.get_subscription(RESOURCE)
    assert second is not None and second.subscription_id == "s2" and second.need is None
    assert second.client_state != first.client_state  # a new secret with the new subscription
    assert port.calls == [("create", "s1"), ("renew", "s1"), ("delete", "s1"), ("create", "s2")]
    assert store.take_wakes([RESOURCE]) == [RESOURCE]  # the wake that makes the poll resync by delta


async def test_a_subscription_graph_deleted_is_created_again(store: SqlStore) -> None:
    now = [T0]
    keeper, port = keeper_for(store, now)
    await keeper.maintain(RESOURCE, "a@testby.dk", "sentitems")
    port.gone.add("s1")
    now[0] = T0 + REQUESTED_LIFETIME - timedelta(hours=1)
    assert await keeper.maintain(RESOURCE, "a@testby.dk", "sentitems") == SubscriptionAction.RECREATED
    now[0] = T0 + timedelta(days=10)  # expired meanwhile (the gateway was down): recreated, not renewed
    assert await keeper.maintain(RESOURCE, "a@testby.dk", "sentitems") == SubscriptionAction.RECREATED
    assert [c for c, _ in port.calls] == ["create", "renew", "create", "delete", "create"]


def test_a_lifetime_beyond_graphs_maximum_is_refused(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="4,230"):
        SubscriptionKeeper(
            FakeSubscriptions(),
            store,
            NotificationSettings("https://x/n", "https://x/l", lifetime=MAX_LIFETIME + timedelta(minutes=1)),
        )
