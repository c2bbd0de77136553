"""Port to Microsoft Graph change-notification subscriptions (basic notifications, webhooks).

Implemented by :class:`graph_dpg.adapters.graph.GraphMailbox` (``POST/PATCH/DELETE /subscriptions``);
faked in tests. A subscription only tells the gateway *that* a folder changed: the delta query stays the
source of truth (docs/facts/graph.md, "Change notifications"). Errors are :mod:`graph_dpg.core.errors`
types: ``NotFoundError`` when the subscription is gone (expired or removed by Graph), ``RejectedError``
when Graph refused the request (e.g. the notification URL failed its validation handshake),
``AuthError``, ``TransientError``/``ThrottledError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class CreatedSubscription:
    id: str
    expires_at: datetime


@runtime_checkable
class SubscriptionPort(Protocol):
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
        """Subscribe to messages created or updated in ``folder`` of ``mailbox`` (immutable ids)."""
        ...

    async def renew_subscription(self, mailbox: str, subscription_id: str, expires_at: datetime) -> datetime:
        """PATCH the expiry (this also reauthorizes the subscription); the expiry Graph set."""
        ...

    async def delete_subscription(self, mailbox: str, subscription_id: str) -> None:
        """Delete the subscription (a subscription already gone is not an error)."""
        ...
