"""The event loop never waits on the database.

While a second connection holds SQLite's write lock, a service's store call waits for it in a worker
thread: the gateway's ``/healthz`` (served by the same event loop) answers meanwhile, and the service's
call completes only after the lock is released. Shown by the order of events, not by timing: the lock is
taken the moment the service enters its write (in the thread making the call), and every event is
recorded in one list under one lock, so "released" is always recorded before the store call can record
its return.

The real outbound and inbound services on both emulators (the integration harnesses), the real SqlStore
on a SQLite file, the real HTTP app of the gateway process.

A second check covers every call site, not only the first write: a full outbound and inbound round on a
store that notes any call made on a thread that runs an event loop; there must be none.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.runtime.http import GatewayMetrics, create_http_app
from graph_dpg.services.inbound import InboundService
from graph_dpg.services.outbound import OutboundService

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inbound.harness import BYG, EVIL_RULE, MAIN, MONITOR
from inbound.harness import make_harness as make_inbound_harness
from outbound.harness import CITIZEN, CITIZEN2, MAILBOX, UNREGISTERED
from outbound.harness import make_harness as make_outbound_harness

from inbound_memos import CP_BYG, citizen_memo  # isort: skip  (on sys.path via the inbound harness)

GW = "ngdp.digital-post.dk"
#: Only so that a regression (a store call on the event loop, which then cannot run the test's release)
#: fails within seconds instead of after SQLite's 30 s busy timeout for each store call of the round. A
#: release by it is recorded as such and breaks the expected order; nothing is judged by time.
SAFETY_VALVE_S = 20.0


class WriteLock:
    """SQLite's write lock, held by a second connection from ``take`` to ``release``, and the events of
    the test in the order they happened."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._guard = threading.Lock()
        self._valve: threading.Timer | None = None
        self._held = False
        self.taken = threading.Event()
        self.events: list[str] = []

    def record(self, event: str) -> None:
        with self._guard:
            self.events.append(event)

    def take(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        self._held = True
        self._valve = threading.Timer(
            SAFETY_VALVE_S, self.release, kwargs={"event": "released by the safety valve"}
        )
        self._valve.start()
        self.taken.set()

    def release(self, event: str = "released") -> None:
        # Under the guard: the waiting store call cannot record its return before this is recorded.
        with self._guard:
            if not self._held:
                return
            self._conn.execute("COMMIT")
            self._held = False
            self.events.append(event)

    def close(self) -> None:
        self.release("released at the end")
        if self._valve is not None:
            self._valve.cancel()
            self._valve.join()
        self._conn.close()


class LockOnEntry:
    """The real store; the first call of ``method`` takes the write lock before it goes on (in the thread
    that makes the call), so the call then waits for the lock inside SQLite. Its return is recorded."""

    def __init__(self, inner: Any, method: str, lock: WriteLock) -> None:
        self._inner = inner
        self._method = method
        self._write_lock = lock

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name != self._method:
            return value
        lock = self._write_lock

        def call(*args: Any, **kwargs: Any) -> Any:
            if not lock.taken.is_set():
                lock.take()
            try:
                return value(*args, **kwargs)
            finally:
                lock.record(f"{name} returned")

        return call


class NoStatus:
    def readiness(self) -> dict[str, tuple[bool, str]]:
        return {}


async def healthz_while_waiting(lock: WriteLock, service_call: asyncio.Task[Any]) -> None:
    """Once the service is inside its write: /healthz, then release the lock, then the service's end."""
    app = create_http_app(GatewayMetrics(), NoStatus())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        assert await asyncio.to_thread(lock.taken.wait, 60), "the service never reached its write"
        health = await client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        lock.record("healthz")
    lock.release()
    await service_call
    lock.record("service done")


async def test_healthz_answers_while_the_outbound_service_waits_for_the_write_lock(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    h = await make_outbound_harness(f"sqlite:///{db}")
    lock = WriteLock(db)
    try:
        store = LockOnEntry(h.store, "create_jobs", lock)
        service = OutboundService(h.mailbox, h.service.ngdp, store, h.service.settings)
        h.send("Afgørelse", [f"{CITIZEN}@29189846.{GW}"])
        async with h.mailbox:
            cycle = asyncio.create_task(service.run_once())
            await healthz_while_waiting(lock, cycle)
            stats = cycle.result()
        assert lock.events == ["healthz", "released", "create_jobs returned", "service done"]
        assert (stats.new_jobs, stats.sent, stats.errors) == (1, 1, [])
        assert h.accepted_recipients() == [CITIZEN]
    finally:
        lock.close()
        h.store.close()


async def test_healthz_answers_while_the_memo_pipeline_waits_for_the_write_lock(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    h = make_inbound_harness(f"sqlite:///{db}")
    lock = WriteLock(db)
    try:
        memo_uuid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
        h.ngdp.queue_inbound_memo(xml)
        store = LockOnEntry(h.store, "mark_delivered_many", lock)
        service = InboundService(h.mailbox, in_process_client(h.ngdp), store, h.settings)
        async with h.mailbox:
            delivery = asyncio.create_task(service.run_once())
            await healthz_while_waiting(lock, delivery)
            stats = delivery.result()
        assert lock.events == ["healthz", "released", "mark_delivered_many returned", "service done"]
        assert (stats.pulled, stats.delivered, stats.acknowledged, stats.errors) == (1, 1, 1, [])
        assert [m["subject"] for m in h.messages(BYG)] == ["Carport"]
        assert [r["receiptStatus"] for r in h.ngdp.inbound_receipts(memo_uuid)] == ["COMPLETED"]
    finally:
        lock.close()
        h.store.close()


class OffTheLoop:
    """The real store; every call made on a thread that runs an event loop is noted."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._count = threading.Lock()
        self.on_loop: list[str] = []
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._count:
                self.calls += 1
                if _on_an_event_loop():
                    self.on_loop.append(name)
            return value(*args, **kwargs)

        return call


def _on_an_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def test_no_store_call_of_an_outbound_round_runs_on_the_event_loop(tmp_path: Path) -> None:
    h = await make_outbound_harness(f"sqlite:///{tmp_path / 'state.db'}")
    store = OffTheLoop(h.store)
    service = OutboundService(h.mailbox, h.service.ngdp, store, h.service.settings)
    h.send("Afgørelse", [f"{CITIZEN}@29189846.{GW}"])
    h.send("Forkert dato", [f"3102851234@29189846.{GW}"])  # refused when planned
    h.send("Uregistreret", [f"{UNREGISTERED}@29189846.{GW}"])  # its business receipt fails
    h.send(
        "Masseforsendelse",
        [f"masseforsendelse-2@29189846.{GW}"],
        attachments=[("masseforsendelse.txt", "text/plain", f"{CITIZEN}\n{CITIZEN2}\n".encode())],
    )
    try:
        async with h.mailbox:
            for _ in range(2):  # the second round finds nothing left to do
                await service.run_once()
                await service.pull_business_receipts()
                await service.apply_business_receipts()
                await service.run_effects()
        assert store.on_loop == []
        # The rounds really went through the store (90 calls since issue 18; fewer as its steps were fused:
        # 46 with the send pipeline's and the effects' batching together).
        assert store.calls > 30
        assert sorted(h.accepted_recipients()) == sorted([CITIZEN, CITIZEN, CITIZEN2, UNREGISTERED])
        assert sorted(m["subject"] for m in h.receipts(MAILBOX)) == [
            "DPG fejlkvittering: Forkert dato",
            "DPG kvittering: Afgørelse",
            "DPG kvittering: Masseforsendelse",
            "DPG kvittering: Uregistreret",
            "DPG opdateret kvittering: Uregistreret",  # after its failed business receipt
        ]
    finally:
        h.store.close()


async def test_no_store_call_of_an_inbound_round_runs_on_the_event_loop(tmp_path: Path) -> None:
    h = make_inbound_harness(f"sqlite:///{tmp_path / 'state.db'}", EVIL_RULE, rule_timeout_seconds=0.2)
    store = OffTheLoop(h.store)
    _, slow = citizen_memo(label="Lang", contact_point=CP_BYG, body_html="<p>" + "a" * 30_000 + "!</p>")
    h.ngdp.queue_inbound_memo(slow)  # disables the evil rule and alerts the monitoring mailbox
    h.tenant.deliver_to_inbox(
        MAIN, "Byggesag 17: tegninger", "<p>Se bilag</p>", internet_message_id="<t1@arkitekt.dk>"
    )
    service = InboundService(h.mailbox, in_process_client(h.ngdp), store, h.settings)
    try:
        async with h.mailbox:
            stats = await service.run_once()
            again = await service.run_once()
        assert store.on_loop == []
        assert (stats.pulled, stats.delivered, stats.acknowledged, stats.mail_routed) == (1, 1, 1, 1)
        assert stats.rules_disabled == ["Farligt mønster"] and stats.alerts == 1
        assert (again.pulled, again.delivered, again.mail_routed, again.errors) == (0, 0, 0, [])
        assert len(h.messages(MONITOR)) == 1
    finally:
        h.store.close()
