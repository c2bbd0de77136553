"""A mail in Sent Items reaches NgDP because Graph notified the gateway, not because the poll interval ran out.

The gateway runs its scheduler and its HTTP server on loopback; the Graph emulator (in-process for the
gateway's requests) validates the gateway's notification URLs and delivers change notifications to them over
loopback. The safety-net poll interval is an hour, so after the first poll of each folder only a wake can
start another. Shown by the order of events (mail placed → notification accepted → one woken poll of that
folder → memo accepted by NgDP, the other folder not polled), not by timing. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from graph_dpg.bootstrap import build_gateway
from graph_dpg.config import load_gateway_text, load_settings
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.runtime import Runtime, RuntimeOptions, outbound_resource
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.services.notifications import NotificationInbox, NotificationOutcome

GATEWAY_YAML = """
organisation: {cvr: "12345674", name: Testby Kommune}
main_mailbox: post@testby.dk
monitoring_mailbox: drift@testby.dk
function_mailboxes:
  - {address: a@testby.dk, cvrs: ["12345674"]}
  - {address: b@testby.dk, cvrs: ["12345674"]}
"""
CPR = "0101801234"
BOUND_S = 60.0  # a bound on waiting (the test fails instead of hanging), not an assertion on time


class RecordingInbox:
    """The gateway's NotificationInbox, noting each accepted notification in the shared event list."""

    def __init__(self, inner: NotificationInbox, events: list[str]) -> None:
        self.inner = inner
        self.events = events

    def accept(self, document: object) -> NotificationOutcome:
        outcome = self.inner.accept(document)
        self.events.extend(f"notified {r}" for r in outcome.woken)
        return outcome


class RecordingNgdp:
    def __init__(self, inner: Any, events: list[str]) -> None:
        self._inner = inner
        self._events = events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def send_memo(self, message_uuid: str, xml: bytes, *, possibly_sent: bool = False) -> Any:
        result = await self._inner.send_memo(message_uuid, xml, possibly_sent=possibly_sent)
        self._events.append("ngdp accepted")
        return result

    def certificate_days_left(self) -> int | None:
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND_S
    while not condition():
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def running(db_url: str) -> AsyncIterator[tuple[GraphTenant, NgdpState, Runtime, list[str]]]:
    events: list[str] = []
    tenant = GraphTenant()
    config = load_gateway_text(GATEWAY_YAML)
    for address in config.mailboxes:
        tenant.add_mailbox(address)
    state = NgdpState(organisation_cvr="12345674")
    state.register(cpr=CPR)
    port = free_port()
    settings = load_settings(
        env_file=None,
        graph_base_url="http://localhost/v1.0",
        database_url=db_url,
        replica_id="r1",
        lease_seconds=10,
        poll_jitter_seconds=0,
        http_host="127.0.0.1",
        http_port=port,
        notifications_url=f"http://127.0.0.1:{port}",
        poll_interval_with_notifications_seconds=3600,
    )
    gateway = build_gateway(
        settings,
        config,
        graph_transport=httpx.ASGITransport(app=create_app(tenant)),
        ngdp_client=RecordingNgdp(in_process_client(state), events),
    )
    assert gateway.notifications is not None
    gateway.notifications = RecordingInbox(gateway.notifications, events)  # type: ignore[assignment]
    runtime = Runtime(
        gateway,
        RuntimeOptions(jitter_s=0, join_delay_s=0, wake_check_s=0.1, subscription_check_s=3600),
    )
    await runtime.start()
    try:
        yield tenant, state, runtime, events
    finally:
        await runtime.stop()
        await gateway.aclose()


async def test_a_sent_mail_reaches_ngdp_by_a_notification_not_by_the_poll_interval(
    running: tuple[GraphTenant, NgdpState, Runtime, list[str]],
) -> None:
    tenant, state, runtime, events = running
    a = outbound_resource("a@testby.dk", "sentitems")
    b = outbound_resource("b@testby.dk", "sentitems")
    # Start-up: one poll of each folder, and one subscription each (created after the handshake).
    await until(lambda: runtime.counters.outbound_polls >= 2, "the first polls")
    await until(lambda: runtime.counters.subscriptions.get("created", 0) == 2, "the subscriptions")
    assert len(tenant.subscriptions.subscriptions) == 2
    assert runtime.outbound_interval == 3600
    # Each new subscription wakes its folder once (what came before it existed is not notified).
    await until(lambda: runtime.counters.wakes == 2, "the subscriptions' own wakes")
    await runtime.wait_polls()
    polls, delta_b = (
        runtime.counters.outbound_polls,
        tenant.count_requests(mailbox="b@testby.dk", endpoint="messages.delta"),
    )
    events.append("mail placed")
    tenant.put_sent_message(
        "a@testby.dk", "Hej", "<p>Hej</p>", to=[("", f"{CPR}@12345674.ngdp.digital-post.dk")]
    )
    await until(lambda: len(state.accepted) == 1, "NgDP to accept the memo")
    assert events == ["mail placed", f"notified {a}", "ngdp accepted"]
    await runtime.wait_polls()
    assert runtime.counters.wakes == 3
    assert runtime.counters.outbound_polls == polls + 1  # the woken poll, and no other
    assert tenant.count_requests(mailbox="b@testby.dk", endpoint="messages.delta") == delta_b
    assert b not in {d[1]["value"][0]["subscriptionId"] for d in tenant.subscriptions.deliveries}


async def test_subscription_removed_is_recreated_then_the_folder_resynced_by_delta(
    running: tuple[GraphTenant, NgdpState, Runtime, list[str]],
) -> None:
    tenant, state, runtime, events = running
    a = outbound_resource("a@testby.dk", "sentitems")
    await until(lambda: runtime.counters.subscriptions.get("created", 0) == 2, "the subscriptions")
    await until(lambda: runtime.counters.wakes == 2, "the subscriptions' own wakes")
    await runtime.wait_polls()
    row = await asyncio.to_thread(runtime.gateway.store.get_subscription, a)
    assert row is not None and row.subscription_id is not None
    polls = runtime.counters.outbound_polls
    # A mail arrives while no subscription exists (Graph removed it): no notification can announce it.
    tenant.subscriptions.emit_lifecycle(row.subscription_id, "subscriptionRemoved")
    tenant.put_sent_message(
        "a@testby.dk", "Hej", "<p>Hej</p>", to=[("", f"{CPR}@12345674.ngdp.digital-post.dk")]
    )
    await until(lambda: len(state.accepted) == 1, "NgDP to accept the memo")
    assert events == [f"notified {a}", "ngdp accepted"]  # the lifecycle wake's delta found the mail
    await runtime.wait_polls()
    assert runtime.counters.subscriptions.get("recreated") == 1
    assert runtime.counters.outbound_polls == polls + 1
    ids = {s.id for s in tenant.subscriptions.subscriptions}
    assert len(ids) == 2 and row.subscription_id not in ids
