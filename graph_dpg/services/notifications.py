"""Graph change notifications: one subscription per polled folder, and notifications turned into wakes.

A notification only says that a folder changed; the folder's delta query stays the source of truth, and
polling stays as the safety net (at a longer interval while notifications are on). docs/facts/graph.md,
"Change notifications", gives the sources of every rule below.

:class:`SubscriptionKeeper` (run by the replica holding the folder's lease)::

    no row / no id            --create-->     subscription (new secret clientState), row saved, and a
                                              wake: one delta round catches what came before it existed
    need=recreate, expired    --create-->     (subscriptionRemoved: recreate, then the wake polls delta)
    need=reauthorize          --PATCH expiry-->  reauthorized (and renewed)
    expiry within renew_before --PATCH expiry-->  renewed
    PATCH answers 404         --create-->     (Graph deleted it)

:class:`NotificationInbox` (run by whichever replica received the POST): every notification's
``clientState`` is compared in constant time with the subscription's; a mismatch or an unknown
subscription is dropped and counted. A valid one writes a wake row for the folder (lifecycle events mark
the subscription first: ``reauthorizationRequired`` → reauthorize, ``subscriptionRemoved`` → recreate,
``missed`` → just the wake, whose delta round resyncs).
"""

from __future__ import annotations

import enum
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from graph_dpg.core.errors import GraphDpgError, InputError, NotFoundError
from graph_dpg.ports.store import SubscriptionRow, Subscriptions, Wakes
from graph_dpg.ports.subscriptions import SubscriptionPort
from graph_dpg.services.blocking import blocking

log = logging.getLogger(__name__)

#: The longest subscription Graph allows on Outlook messages: 4,230 minutes (concepts/includes/
#: change-notifications-subscription-lifetime.md).
MAX_LIFETIME = timedelta(minutes=4230)
#: What the gateway asks for: the maximum less a margin for clock differences with Graph.
REQUESTED_LIFETIME = MAX_LIFETIME - timedelta(minutes=30)
#: Renew when less than this is left (about once every 46 hours; the check runs every few minutes).
RENEW_BEFORE = timedelta(hours=24)
#: Notifications read from one POST (Graph batches several; more than this is not a batch Graph sends).
MAX_NOTIFICATIONS = 1000

NOTIFICATIONS_PATH = "/graph/notifications"
LIFECYCLE_PATH = "/graph/lifecycle"


class SubscriptionStore(Subscriptions, Wakes, Protocol):
    """The store segments subscriptions and wakes use."""


@dataclass(frozen=True)
class NotificationSettings:
    notification_url: str  # where Graph POSTs change notifications
    lifecycle_url: str  # where Graph POSTs lifecycle notifications
    lifetime: timedelta = REQUESTED_LIFETIME
    renew_before: timedelta = RENEW_BEFORE

    @classmethod
    def from_base(cls, base_url: str) -> NotificationSettings:
        base = base_url.rstrip("/")
        return cls(base + NOTIFICATIONS_PATH, base + LIFECYCLE_PATH)


class SubscriptionAction(enum.StrEnum):
    KEPT = "kept"
    CREATED = "created"
    RENEWED = "renewed"
    REAUTHORIZED = "reauthorized"
    RECREATED = "recreated"


class SubscriptionKeeper:
    """Keeps the subscription of each polled folder alive (see the module docstring)."""

    def __init__(
        self,
        port: SubscriptionPort,
        store: SubscriptionStore,
        settings: NotificationSettings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if settings.lifetime > MAX_LIFETIME:
            raise ValueError("a subscription on Outlook messages lasts at most 4,230 minutes")
        self.port = port
        self.store = store
        self.settings = settings
        self.clock = clock

    async def maintain(
        self, resource: str, mailbox: str, folder: str, *, polled_next: bool = False
    ) -> SubscriptionAction:
        """Create, recreate, reauthorize or renew the folder's subscription as needed; what was done.

        A subscription created or recreated wakes its folder, unless ``polled_next`` (the caller runs the
        folder's delta round right after this anyway)."""
        wake = not polled_next
        row = await blocking(self.store.get_subscription, resource)
        now = self.clock()
        if row is None or not row.subscription_id:
            return await self._create(resource, mailbox, folder, SubscriptionAction.CREATED, wake)
        if row.need == "recreate" or (row.expires_at is not None and row.expires_at <= now):
            await self._delete_quietly(mailbox, row)
            return await self._create(resource, mailbox, folder, SubscriptionAction.RECREATED, wake)
        due = row.expires_at is None or row.expires_at - now <= self.settings.renew_before
        if row.need != "reauthorize" and not due:
            return SubscriptionAction.KEPT
        try:
            # Updating the expiry also reauthorizes (concepts/change-notifications-lifecycle-events.md).
            expires = await self.port.renew_subscription(
                mailbox, row.subscription_id, now + self.settings.lifetime
            )
        except NotFoundError:
            return await self._create(resource, mailbox, folder, SubscriptionAction.RECREATED, wake)
        await blocking(self.store.save_subscription, resource, row.subscription_id, row.client_state, expires)
        action = SubscriptionAction.REAUTHORIZED if row.need == "reauthorize" else SubscriptionAction.RENEWED
        log.info("graph subscription %s", action.value, extra={"mailbox": mailbox, "folder": folder})
        return action

    async def _create(
        self, resource: str, mailbox: str, folder: str, action: SubscriptionAction, wake: bool
    ) -> SubscriptionAction:
        client_state = secrets.token_urlsafe(
            32
        )  # 43 characters; Graph allows 128 (resources/subscription.md)
        created = await self.port.create_subscription(
            mailbox,
            folder,
            notification_url=self.settings.notification_url,
            lifecycle_url=self.settings.lifecycle_url,
            client_state=client_state,
            expires_at=self.clock() + self.settings.lifetime,
        )
        await blocking(self.store.save_subscription, resource, created.id, client_state, created.expires_at)
        # A mail that reached the folder after its last poll and before the subscription existed gets no
        # notification: one delta round now, rather than at the safety-net poll minutes later.
        if wake:
            await blocking(self.store.request_wake, resource, "subscribed")
        log.info("graph subscription %s", action.value, extra={"mailbox": mailbox, "folder": folder})
        return action

    async def _delete_quietly(self, mailbox: str, row: SubscriptionRow) -> None:
        if not row.subscription_id:
            return
        try:
            await self.port.delete_subscription(mailbox, row.subscription_id)
        except GraphDpgError as exc:  # it expires by itself; its notifications no longer match a row
            log.warning("could not delete the old graph subscription: %s", exc, extra={"mailbox": mailbox})


@dataclass
class NotificationOutcome:
    accepted: int = 0
    dropped: int = 0  # clientState mismatch, unknown subscription or not a notification
    lifecycle: dict[str, int] = field(default_factory=dict)
    woken: list[str] = field(default_factory=list)


class NotificationInbox:
    """Checks a POSTed notification collection and persists wakes (blocking: call it in a thread)."""

    def __init__(self, store: SubscriptionStore) -> None:
        self.store = store

    def accept(self, document: object) -> NotificationOutcome:
        """Raise ``InputError`` when ``document`` is not a changeNotificationCollection."""
        items = document.get("value") if isinstance(document, dict) else None
        if not isinstance(items, list):
            raise InputError("not a change notification collection (no 'value' list)")
        out = NotificationOutcome()
        rows: dict[str, SubscriptionRow | None] = {}
        wakes: dict[str, str] = {}
        for item in items[:MAX_NOTIFICATIONS]:
            sid = item.get("subscriptionId") if isinstance(item, dict) else None
            state = item.get("clientState") if isinstance(item, dict) else None
            if not isinstance(sid, str) or not isinstance(state, str) or len(sid) > 128 or len(state) > 256:
                out.dropped += 1
                continue
            if sid not in rows:
                rows[sid] = self.store.find_subscription(sid)
            row = rows[sid]
            # Constant-time: a forger learns nothing from how long the refusal took.
            if row is None or not hmac.compare_digest(row.client_state.encode(), state.encode()):
                out.dropped += 1
                continue
            assert isinstance(item, dict)
            event = item.get("lifecycleEvent")
            if event is None:
                reason = "changed"
            else:
                reason = str(event)[:32]
                out.lifecycle[reason] = out.lifecycle.get(reason, 0) + 1
                if event == "reauthorizationRequired":
                    self.store.mark_subscription(sid, "reauthorize")
                elif event == "subscriptionRemoved":
                    self.store.mark_subscription(sid, "recreate")
                    rows[sid] = None  # later notifications of a removed subscription are not ours
            out.accepted += 1
            if wakes.get(row.resource) != "subscriptionRemoved":
                wakes[row.resource] = reason
        out.dropped += max(0, len(items) - MAX_NOTIFICATIONS)
        for resource, reason in wakes.items():
            self.store.request_wake(resource, reason)
            out.woken.append(resource)
        return out
