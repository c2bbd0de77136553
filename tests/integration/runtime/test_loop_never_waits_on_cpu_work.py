"""The event loop never waits on CPU-heavy work (sanitising, MeMo build/parse/validate, content sniffing,
rendering mails and receipts, the routing rules).

Each such call the services make goes to their CPU pool (``graph_dpg.services.cpu``). Here the pool's
executor holds the first call of one named function in its worker thread until the test releases it: the
gateway's ``/healthz`` (served by the same event loop) answers meanwhile, and the service's round goes on
only after the release. Shown by the order of events, not by timing: every event is recorded in one list
under one lock, and the release is recorded before the held call can record its return. Had the service
made the call on the event loop, it would never reach the pool and the test would say so.

The real outbound and inbound services on both emulators (the integration harnesses), the real SqlStore
on a SQLite file, the real HTTP app of the gateway process.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.domain.mail import EmailAddress, Header, MailMessage
from graph_dpg.memo import parse
from graph_dpg.ports.store import InboundSource
from graph_dpg.runtime.http import GatewayMetrics, create_http_app
from graph_dpg.services.cpu import CpuJob, CpuPool
from graph_dpg.services.inbound import InboundService
from graph_dpg.services.outbound import OutboundService
from tests.fakes import FakeDigitalPost, FakeMailbox, FakeStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inbound.harness import BYG, MAIN
from inbound.harness import Harness as InboundHarness
from inbound.harness import make_harness as make_inbound_harness
from outbound.harness import CITIZEN, CITIZEN2
from outbound.harness import MAILBOX as OUT_MAILBOX
from outbound.harness import Harness as OutboundHarness
from outbound.harness import make_harness as make_outbound_harness
from outbound.harness import settings as outbound_settings

from inbound_memos import CP_BYG, citizen_memo  # isort: skip  (on sys.path via the inbound harness)

GW = "29189846.ngdp.digital-post.dk"
#: Only so that a regression fails within seconds; a release by it is recorded as such and breaks the
#: expected order. Nothing is judged by time.
SAFETY_VALVE_S = 20.0


class HoldingExecutor(ThreadPoolExecutor):
    """The CPU pool's threads; the first job named ``name`` waits in its worker thread for ``release``."""

    def __init__(self, name: str) -> None:
        super().__init__(max_workers=4, thread_name_prefix="test-cpu")
        self.name = name
        self.entered = threading.Event()
        self._chosen = False
        self._released = threading.Event()
        self._guard = threading.Lock()
        self.events: list[str] = []
        self.jobs: list[str] = []

    def record(self, event: str) -> None:
        with self._guard:
            self.events.append(event)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        assert isinstance(fn, CpuJob), fn
        self.jobs.append(fn.name)
        if fn.name.split(".")[-1] != self.name or self._chosen:
            return super().submit(fn, *args, **kwargs)
        self._chosen = True
        job = fn

        def held() -> Any:
            self.record(f"{self.name} running")
            self.entered.set()
            if not self._released.wait(SAFETY_VALVE_S):
                self.record("released by the safety valve")
            try:
                return job()
            finally:
                self.record(f"{self.name} returned")

        return super().submit(held)

    def release(self) -> None:
        # Under the guard: the held call cannot record its return before this is recorded.
        with self._guard:
            if not self._released.is_set():
                self._released.set()
                self.events.append("released")


class NoStatus:
    def readiness(self) -> dict[str, tuple[bool, str]]:
        return {}


async def healthz_while_held(pool: HoldingExecutor, round_: Awaitable[Any]) -> Any:
    """Once the held call runs: /healthz, then release it, then the round's end."""
    task = asyncio.ensure_future(round_)
    app = create_http_app(GatewayMetrics(), NoStatus())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            reached = await asyncio.to_thread(pool.entered.wait, SAFETY_VALVE_S)
            assert reached, f"{pool.name} never reached the CPU pool (it ran: {sorted(set(pool.jobs))})"
            health = await client.get("/healthz")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            pool.record("healthz")
    finally:
        pool.release()
    result = await task
    pool.record("round done")
    return result


def expected(name: str) -> list[str]:
    return [f"{name} running", "healthz", "released", f"{name} returned", "round done"]


# --------------------------------------------------------------------------------------------- outbound


def _plain(h: OutboundHarness) -> None:
    h.send("Afgørelse", [f"{CITIZEN}@{GW}"])


def _refused(h: OutboundHarness) -> None:
    h.send("Forkert dato", [f"3102851234@{GW}"])  # 31 February: refused when planned


def _mass(h: OutboundHarness) -> None:
    h.send(
        "Masseforsendelse",
        [f"masseforsendelse-2@{GW}"],
        attachments=[("masseforsendelse.txt", "text/plain", f"{CITIZEN}\n{CITIZEN2}\n".encode())],
    )


OUTBOUND_CASES = [
    ("plan_outbound", _plain, "DPG kvittering: Afgørelse"),  # sanitising, MeMo build + validation
    ("render_receipt", _plain, "DPG kvittering: Afgørelse"),
    ("_error_receipt", _refused, "DPG fejlkvittering: Forkert dato"),
    ("render_from_template", _mass, "DPG kvittering: Masseforsendelse"),
]


@pytest.mark.parametrize(("name", "mail", "receipt"), OUTBOUND_CASES, ids=[c[0] for c in OUTBOUND_CASES])
async def test_healthz_answers_while_outbound_cpu_work_runs(
    tmp_path: Path, name: str, mail: Callable[[OutboundHarness], None], receipt: str
) -> None:
    h = await make_outbound_harness(f"sqlite:///{tmp_path / 'state.db'}")
    pool = HoldingExecutor(name)
    try:
        service = OutboundService(
            h.mailbox, h.service.ngdp, h.store, h.service.settings, cpu=CpuPool(executor=pool)
        )
        mail(h)
        async with h.mailbox:
            stats = await healthz_while_held(pool, service.run_once())
        assert pool.events == expected(name)
        assert stats.errors == []
        assert [m["subject"] for m in h.receipts()] == [receipt]
    finally:
        pool.shutdown()
        h.store.close()


async def test_healthz_answers_while_the_answered_memo_is_parsed() -> None:
    """A reply to a delivered memo: the memo it answers is read back and parsed (on the fakes: the Graph
    emulator cannot put a reply's In-Reply-To into Sent Items)."""
    store, mail, ngdp = FakeStore(), FakeMailbox(), FakeDigitalPost()
    memo_uuid, xml = citizen_memo(label="Spørgsmål", contact_point=None)
    store.store_inbound_memo(memo_uuid, InboundSource.PULL, xml)
    reply = MailMessage(
        subject="Sv: Spørgsmål",
        body="<p>Svar</p>",
        sender=EmailAddress(OUT_MAILBOX),
        to=[EmailAddress(f"{CITIZEN}@{GW}")],
        headers=[Header("In-Reply-To", f"<memo-{memo_uuid}@graph-dpg.invalid>")],
    )
    mail.put(OUT_MAILBOX, "sentitems", reply)
    pool = HoldingExecutor("_parse_or_none")
    try:
        service = OutboundService(mail, ngdp, store, outbound_settings(), cpu=CpuPool(executor=pool))
        stats = await healthz_while_held(pool, service.run_once())
        assert pool.events == expected("_parse_or_none")
        assert (stats.sent, stats.errors) == (1, [])
        [sent] = ngdp.accepted.values()
        assert [r.reply_uuid for r in parse(sent).header.reply_data] == [memo_uuid]
    finally:
        pool.shutdown()


# ---------------------------------------------------------------------------------------------- inbound


def _memo(h: InboundHarness) -> None:
    _, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    h.ngdp.queue_inbound_memo(xml)


INBOUND_CASES = [
    ("parse_inbound", "Carport"),  # XML parsing, XSD and business-rule validation
    ("memo_rule_item", "Carport"),  # what the rules read: the letter as text, text attachments
    ("evaluate_rules", "Carport"),
    ("_first_body", "Carport"),  # the letter rendered once to estimate its size (split delivery)
    ("_render_first", "Carport"),  # the readable mail: sanitised letter, attachments
]


@pytest.mark.parametrize(("name", "label"), INBOUND_CASES, ids=[c[0] for c in INBOUND_CASES])
async def test_healthz_answers_while_inbound_cpu_work_runs(tmp_path: Path, name: str, label: str) -> None:
    h = make_inbound_harness(f"sqlite:///{tmp_path / 'state.db'}")
    pool = HoldingExecutor(name)
    try:
        _memo(h)
        service = InboundService(
            h.mailbox, in_process_client(h.ngdp), h.store, h.settings, cpu=CpuPool(executor=pool)
        )
        async with h.mailbox:
            stats = await healthz_while_held(pool, service.run_once(mail=False))
        assert pool.events == expected(name)
        assert (stats.delivered, stats.acknowledged, stats.errors) == (1, 1, [])
        assert [m["subject"] for m in h.messages(BYG)] == [label]
    finally:
        pool.shutdown()
        h.store.close()


@pytest.mark.parametrize("name", ["_rule_item", "evaluate_rules"])
async def test_healthz_answers_while_secure_mail_is_read_by_the_rules(tmp_path: Path, name: str) -> None:
    h = make_inbound_harness(f"sqlite:///{tmp_path / 'state.db'}")
    pool = HoldingExecutor(name)
    try:
        h.tenant.deliver_to_inbox(
            MAIN, "Byggesag 17: tegninger", "<p>Se bilag</p>", internet_message_id="<t1@arkitekt.dk>"
        )
        service = InboundService(
            h.mailbox, in_process_client(h.ngdp), h.store, h.settings, cpu=CpuPool(executor=pool)
        )
        async with h.mailbox:
            stats = await healthz_while_held(pool, service.run_once(pull=False))
        assert pool.events == expected(name)
        assert (stats.mail_seen, stats.mail_routed, stats.errors) == (1, 1, [])
        assert [m["subject"] for m in h.messages(BYG)] == ["Byggesag 17: tegninger"]
    finally:
        pool.shutdown()
        h.store.close()
