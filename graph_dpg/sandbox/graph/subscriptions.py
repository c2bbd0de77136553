"""Change-notification subscriptions of the Graph emulator (webhooks, basic notifications, messages only).

Sources (microsoftgraph/microsoft-graph-docs-contrib):

- api-reference/v1.0/resources/subscription.md: the properties; ``changeType`` one or more of created,
  updated, deleted; ``notificationUrl`` and ``lifecycleNotificationUrl`` "must make use of the HTTPS
  protocol"; ``clientState`` at most 128 characters.
- concepts/includes/change-notifications-subscription-lifetime.md: Outlook message subscriptions last at most
  4,230 minutes. That page says requests beyond the maximum "will fail" *in the future*; the emulator
  refuses them now with 400 (inference: status, code and wording are not documented).
- concepts/includes/change-notifications-delivery-notificationurl-validation.md: before creating, Graph POSTs
  ``?validationToken=...`` (Content-Type text/plain) to the notification URL and to the lifecycle URL; the
  answer must be 200, text/plain, the URL-decoded token, within 10 seconds, else no subscription.
- concepts/change-notifications-delivery-webhooks.md: create answers 201 with the subscription, PATCH
  (``expirationDateTime``) 200, DELETE 204; a notification is a ``value`` list of changeNotification
  objects (example payload); Graph resends when no 2xx comes within 3 seconds (for up to 4 hours); an
  expired subscription is deleted.
- concepts/change-notifications-lifecycle-events.md: lifecycle notifications (``lifecycleEvent``
  reauthorizationRequired / subscriptionRemoved / missed) go to ``lifecycleNotificationUrl`` with
  ``subscriptionId``, ``subscriptionExpirationDateTime``, ``tenantId`` and ``clientState``.
- concepts/outlook-immutable-id.md: a subscription created with ``Prefer: IdType="ImmutableId"`` names
  immutable ids in its notifications.
- api-reference/includes/outlook-subscription-notes.md: creating needs a read permission on the resource
  (Mail.Read for messages; the Permissions table of subscription-post-subscriptions.md also lists
  Mail.ReadBasic).

Sandbox limits (not Graph behaviour): plain ``http`` notification URLs are accepted on loopback hosts only
(an inference of convenience: real Graph takes https only), and the emulator delivers to loopback hosts
only, never to another machine. Resending is bounded (a few quick attempts, then a ``missed`` lifecycle
notification), not 4 hours.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from graph_dpg.sandbox.graph.permissions import AppGrant

if TYPE_CHECKING:
    from graph_dpg.sandbox.graph.tenant import GraphTenant, Mailbox, Message

log = logging.getLogger(__name__)

MAX_MINUTES = 4230  # change-notifications-subscription-lifetime.md, Outlook message
VALIDATION_TIMEOUT_S = 10.0  # notificationurl-validation.md: "within 10 seconds"
DELIVERY_TIMEOUT_S = 3.0  # change-notifications-delivery-webhooks.md: "within 3 seconds"
DELIVERY_ATTEMPTS = 3  # sandbox bound (Graph retries for up to 4 hours)
IDLE_EXIT_S = 30.0  # the delivery thread ends after this long without work (started again when needed)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_CHANGE_TYPES = frozenset({"created", "updated", "deleted"})
_RESOURCE = re.compile(
    r"^/?users/(?P<user>[^/]+)/(?:mailFolders\('(?P<folder>[^']+)'\)/|mailfolders\('(?P<folder2>[^']+)'\)/)?"
    r"messages$",
    re.IGNORECASE,
)


class SubscriptionError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Subscription:
    id: str
    resource: str
    mailbox_id: str
    folder_id: str | None  # None: the whole mailbox's messages
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires: datetime
    immutable: bool
    app_id: str
    latest_tls: str = "v1_2"

    def view(self) -> dict[str, Any]:
        return {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.app_id,
            "changeType": ",".join(sorted(self.change_types)),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": _iso(self.expires),
            "creatorId": self.app_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": self.latest_tls,
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise SubscriptionError(400, "InvalidRequest", "expirationDateTime is required.")
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip().replace("Z", "+00:00"))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise SubscriptionError(400, "InvalidRequest", "expirationDateTime is not a valid date.") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _check_url(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise SubscriptionError(400, "InvalidRequest", f"{name} is required.")
    parts = urlsplit(value)
    # subscription.md: the URL "must make use of the HTTPS protocol". Sandbox: http on loopback too
    # (inference of convenience, see the module docstring).
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        return value
    raise SubscriptionError(400, "InvalidRequest", f"The {name} must use the HTTPS protocol.")


class SubscriptionHub:
    """The tenant's subscriptions, the validation handshake, and notification delivery (a thread)."""

    def __init__(self, tenant: GraphTenant, *, transport: httpx.BaseTransport | None = None) -> None:
        self.tenant = tenant
        self._subs: dict[str, Subscription] = {}
        self._lock = threading.RLock()
        self._queue: queue.Queue[tuple[str, dict[str, Any], str | None] | None] = queue.Queue()
        self._transport = transport
        self._thread: threading.Thread | None = None
        #: What was delivered: (url kind "notification"/"lifecycle", payload, HTTP status or None).
        self.deliveries: list[tuple[str, dict[str, Any], int | None]] = []
        self.validation_timeout_s = VALIDATION_TIMEOUT_S
        self._marks: list[threading.Event] = []
        tenant.change_listeners.append(self._on_change)

    # ------------------------------------------------------------------ the API

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.tenant.clock(), UTC)

    def _expire(self) -> None:
        # change-notifications-delivery-webhooks.md: a subscription not renewed in time is deleted.
        now = self.now()
        with self._lock:
            for sid in [s.id for s in self._subs.values() if s.expires <= now]:
                del self._subs[sid]

    def _check_expiry(self, expires: datetime) -> None:
        now = self.now()
        if expires <= now:
            raise SubscriptionError(400, "InvalidRequest", "Subscription expiration must be in the future.")
        if expires > now + timedelta(minutes=MAX_MINUTES):
            # change-notifications-subscription-lifetime.md (the refusal itself: inference, see above).
            raise SubscriptionError(
                400,
                "InvalidRequest",
                f"Subscription expiration can only be {MAX_MINUTES} minutes in the future.",
            )

    async def create(
        self, body: dict[str, Any], grant: AppGrant | None, *, immutable: bool
    ) -> dict[str, Any]:
        """POST /subscriptions (subscription-post-subscriptions.md)."""
        change = body.get("changeType")
        kinds = frozenset(p.strip() for p in change.split(",")) if isinstance(change, str) else frozenset()
        if not kinds or not kinds <= _CHANGE_TYPES:
            raise SubscriptionError(
                400, "InvalidRequest", "changeType is required: created, updated, deleted."
            )
        notification_url = _check_url(body.get("notificationUrl"), "notificationUrl")
        lifecycle = body.get("lifecycleNotificationUrl")
        lifecycle_url = None if lifecycle in (None, "") else _check_url(lifecycle, "lifecycleNotificationUrl")
        client_state = body.get("clientState")
        if client_state is not None and (not isinstance(client_state, str) or len(client_state) > 128):
            # subscription.md: "The maximum length is 128 characters."
            raise SubscriptionError(400, "InvalidRequest", "clientState must be at most 128 characters.")
        resource = body.get("resource")
        match = _RESOURCE.match(resource) if isinstance(resource, str) else None
        if match is None:
            raise SubscriptionError(400, "InvalidRequest", f"Resource '{resource}' is not supported.")
        expires = _parse_time(body.get("expirationDateTime"))
        self._check_expiry(expires)
        mb, folder_id = self._resolve(match.group("user"), match.group("folder") or match.group("folder2"))
        app_id = grant.app_id if grant is not None else "graph-dpg"
        if grant is not None:
            # outlook-subscription-notes.md: a read permission on the resource; the scope as for any call.
            if not grant.covers((mb.id, mb.upn, *mb.aliases)) or not mb.accessible:
                raise SubscriptionError(403, "ErrorAccessDenied", "Access to OData is disabled.")
            if self.tenant.subscriptions_need_entra_consent and grant.mailboxes is not None:
                # The other behaviour of inference graph.subscription-rbac (diagnostics/inferences.py).
                raise SubscriptionError(
                    403, "ExtensionError", "Operation: Create; Exception: [Access denied]"
                )
            if not grant.allows("subscriptions.create"):
                raise SubscriptionError(
                    403, "ExtensionError", "Operation: Create; Exception: [Access denied]"
                )
        # notificationurl-validation.md: both URLs are validated before the subscription exists.
        for url in (notification_url, lifecycle_url):
            if url is not None and not await self._validate(url):
                raise SubscriptionError(
                    400,
                    "ValidationError",
                    "Subscription validation request failed. Notification endpoint must respond with "
                    "200 OK to validation request.",
                )
        sub = Subscription(
            id=str(uuid.uuid4()),
            resource=str(resource),
            mailbox_id=mb.id,
            folder_id=folder_id,
            change_types=kinds,
            notification_url=notification_url,
            lifecycle_url=lifecycle_url,
            client_state=client_state,
            expires=expires,
            immutable=immutable,
            app_id=app_id,
        )
        with self._lock:
            self._subs[sub.id] = sub
        return sub.view()

    def _resolve(self, user: str, folder: str | None) -> tuple[Mailbox, str | None]:
        from graph_dpg.sandbox.graph.tenant import GraphApiError

        try:
            mb = self.tenant.mailbox(user)
            if folder is None:
                return mb, None
            with self.tenant.lock:
                return mb, self.tenant.folder(mb, folder).id
        except GraphApiError as exc:
            raise SubscriptionError(exc.status, exc.code, exc.message) from None

    def get(self, sid: str) -> Subscription:
        self._expire()
        with self._lock:
            sub = self._subs.get(sid)
        if sub is None:
            # Not documented for subscriptions (inference): Graph's usual 404 for an unknown id.
            raise SubscriptionError(404, "ResourceNotFound", f"The object '{sid}' doesn't exist.")
        return sub

    def list_views(self) -> list[dict[str, Any]]:
        self._expire()
        with self._lock:
            return [s.view() for s in self._subs.values()]

    def update(self, sid: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH /subscriptions/{id}: renews (and so reauthorizes) with a new expirationDateTime."""
        sub = self.get(sid)
        expires = _parse_time(body.get("expirationDateTime"))
        self._check_expiry(expires)
        with self._lock:
            sub.expires = expires
        return sub.view()

    def delete(self, sid: str) -> None:
        self.get(sid)
        with self._lock:
            self._subs.pop(sid, None)

    @property
    def subscriptions(self) -> list[Subscription]:
        self._expire()
        with self._lock:
            return list(self._subs.values())

    # ------------------------------------------------------------------ handshake

    async def _validate(self, url: str) -> bool:
        if urlsplit(url).hostname not in _LOOPBACK:
            return False  # the sandbox never sends anything off this machine
        token = secrets.token_urlsafe(24) + " <&>"  # characters that need URL-encoding and HTML escaping
        try:
            async with httpx.AsyncClient(timeout=self.validation_timeout_s) as client:
                response = await client.post(
                    url,
                    params={"validationToken": token},
                    headers={"Content-Type": "text/plain; charset=utf-8"},
                )
        except httpx.HTTPError:
            return False
        media = response.headers.get("content-type", "").split(";")[0].strip().lower()
        return response.status_code == 200 and media == "text/plain" and response.text == token

    # ------------------------------------------------------------------ notifications

    def _on_change(self, mb: Mailbox, folder_id: str, kind: str, msg: Message) -> None:
        """Called by the tenant (under its lock) for every change to a message."""
        change = {"created": "created", "updated": "updated", "removed": "deleted"}.get(kind)
        if change is None:
            return
        if not self.tenant.notify_sent_items and mb.well_known.get("sentitems") == folder_id:
            return  # the other behaviour of inference graph.sent-items-notified
        now = self.now()
        with self._lock:
            subs = [
                s
                for s in self._subs.values()
                if s.mailbox_id == mb.id
                and (s.folder_id is None or s.folder_id == folder_id)
                and change in s.change_types
                and s.expires > now
            ]
        for sub in subs:
            mid = msg.imm_id if sub.immutable else msg.rest_id
            item = {
                # The shape of the example in change-notifications-delivery-webhooks.md.
                "id": secrets.token_hex(8),
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": _iso(sub.expires),
                "clientState": sub.client_state,
                "changeType": change,
                "resource": f"Users/{mb.id}/Messages/{mid}",
                "tenantId": self.tenant.tenant_id,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Message",
                    "@odata.id": f"Users/{mb.id}/Messages/{mid}",
                    "@odata.etag": f'W/"{msg.version}"',
                    "id": mid,
                },
            }
            self._enqueue(sub.notification_url, {"value": [item]}, sub.id)

    def emit_lifecycle(self, sid: str, event: str, *, client_state: str | None = None) -> None:
        """Test hook: send a lifecycle notification (change-notifications-lifecycle-events.md). A
        ``subscriptionRemoved`` removes the subscription first. ``client_state`` overrides the value sent
        (to show a forged one)."""
        sub = self.get(sid)
        if sub.lifecycle_url is None:
            raise ValueError("the subscription has no lifecycleNotificationUrl")
        if event == "subscriptionRemoved":
            with self._lock:
                self._subs.pop(sid, None)
        item = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": _iso(sub.expires),
            "tenantId": self.tenant.tenant_id,
            "clientState": sub.client_state if client_state is None else client_state,
            "lifecycleEvent": event,
        }
        self._enqueue(sub.lifecycle_url, {"value": [item]}, None)

    def post_raw(self, url: str, payload: dict[str, Any]) -> None:
        """Test hook: deliver any payload to ``url`` (a forged notification, for instance)."""
        self._enqueue(url, payload, None)

    def _enqueue(self, url: str, payload: dict[str, Any], sid: str | None) -> None:
        with self._lock:
            self._queue.put((url, payload, sid))
            if self._thread is None:  # the delivery thread ends after IDLE_EXIT_S without work
                self._thread = threading.Thread(target=self._deliver_loop, name="graph-notify", daemon=True)
                self._thread.start()

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued notification was delivered (or given up); for tests (bounded)."""
        done = threading.Event()
        with self._lock:
            if self._thread is None:
                return  # nothing queued
            self._marks.append(done)
            self._queue.put(None)
        done.wait(timeout)

    def _deliver_loop(self) -> None:
        with httpx.Client(timeout=DELIVERY_TIMEOUT_S, transport=self._transport) as client:
            while True:
                try:
                    job = self._queue.get(timeout=IDLE_EXIT_S)
                except queue.Empty:
                    with self._lock:
                        if self._queue.empty():
                            self._thread = None
                            return
                    continue
                if job is None:
                    with self._lock:
                        while self._marks:
                            self._marks.pop().set()
                    continue
                url, payload, sid = job
                status = self._post(client, url, payload)
                kind = "lifecycle" if "lifecycleEvent" in payload["value"][0] else "notification"
                with self._lock:
                    self.deliveries.append((kind, payload, status))
                if (status is None or status >= 300) and sid is not None:
                    self._missed(sid)

    @staticmethod
    def _post(client: httpx.Client, url: str, payload: dict[str, Any]) -> int | None:
        if urlsplit(url).hostname not in _LOOPBACK:
            return None  # the sandbox never sends anything off this machine
        status: int | None = None
        for _ in range(DELIVERY_ATTEMPTS):
            try:
                response = client.post(
                    url, content=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
                )
            except httpx.HTTPError:
                status = None
                continue
            status = response.status_code
            if 200 <= status < 300:
                return status
        return status

    def _missed(self, sid: str) -> None:
        # lifecycle-events.md: "missed" when notifications could not be delivered (e.g. throttling).
        with self._lock:
            sub = self._subs.get(sid)
        if sub is not None and sub.lifecycle_url is not None:
            self._queue.put(
                (
                    sub.lifecycle_url,
                    {
                        "value": [
                            {
                                "subscriptionId": sub.id,
                                "subscriptionExpirationDateTime": _iso(sub.expires),
                                "tenantId": self.tenant.tenant_id,
                                "clientState": sub.client_state,
                                "lifecycleEvent": "missed",
                            }
                        ]
                    },
                    None,
                )
            )
