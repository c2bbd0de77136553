"""Two gateways (replicas) on one mailbox of the Graph emulator, sharing Graph's limits through the budget
(adapters/graph/budget.py; issue 18).

The emulator enforces Outlook's limits per app and mailbox as learn.microsoft.com/graph/throttling-limits
states them ("Outlook service limits": 4 concurrent requests, 10,000 requests per 10 minutes) and answers
429 ApplicationThrottled "Application is over its MailboxConcurrency limit" / "... MailboxRequestRate
limit" past them. No retries here: every 429 would surface, and the tests count the emulator's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator

import httpx
import pytest

from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.adapters.graph.budget import BudgetLimits, GraphBudget, MemoryLedger, limits_from
from graph_dpg.adapters.store import SqlStore, create_store
from graph_dpg.core.errors import ThrottledError
from graph_dpg.ports.graph_budget import BudgetGrant, BudgetLedger
from graph_dpg.sandbox.graph import GraphTenant, create_app

TOKEN = "sandbox-token"
BASE = "http://localhost/v1.0"
MB = "post@kommune.dk"
NO_RETRIES = RetryPolicy(max_retries=0, base_delay=0.0, backoff_factor=0.0, jitter=0.0)


def gateway(tenant: GraphTenant, budget: GraphBudget) -> GraphMailbox:
    return GraphMailbox(
        StaticTokenCredential(TOKEN),
        BASE,
        transport=httpx.ASGITransport(app=create_app(tenant)),
        retry=NO_RETRIES,
        budget=budget,
    )


async def burst(mbx: GraphMailbox, n: int) -> list[BaseException | None]:
    return await asyncio.gather(*(mbx.check_mailbox(MB) for _ in range(n)), return_exceptions=True)


@pytest.fixture
def ledger_store(db_url: str) -> Iterator[SqlStore]:
    store = create_store(db_url, replica="budget-test")
    try:
        yield store
    finally:
        store.close()


async def test_two_replicas_sharing_the_mailbox_get_no_429(ledger_store: SqlStore) -> None:
    """Each replica knows there are 2 and which one holds the mailbox's lease: 3 + 1 = 4 in flight."""
    tenant = GraphTenant(TOKEN, latency=0.05)  # a little time per request, as Graph takes, so bursts overlap
    tenant.add_mailbox(MB)
    limits = limits_from(
        mailbox_concurrency=4,
        app_concurrency=None,
        mailbox_requests_per_10_minutes=9_900,
        app_requests_per_10_minutes=None,
    )
    leader, other = GraphBudget(limits, ledger=ledger_store), GraphBudget(limits, ledger=ledger_store)
    leader.update(2, [MB])
    other.update(2, [])
    async with gateway(tenant, leader) as a, gateway(tenant, other) as b:
        answers = await asyncio.gather(burst(a, 12), burst(b, 12))
    assert [x for side in answers for x in side if x is not None] == []
    assert tenant.count_requests(status=429) == 0
    assert tenant.count_requests(mailbox=MB, status=200) == 24


async def test_two_replicas_each_taking_the_whole_limit_meet_429() -> None:
    """The contrast: both behave as if alone (4 each, the gateway before issue 18) and Graph refuses."""
    tenant = GraphTenant(TOKEN, latency=0.05)
    tenant.add_mailbox(MB)
    a_budget, b_budget = GraphBudget(BudgetLimits(4)), GraphBudget(BudgetLimits(4))
    async with gateway(tenant, a_budget) as a, gateway(tenant, b_budget) as b:
        answers = await asyncio.gather(burst(a, 12), burst(b, 12))
    refused = [x for side in answers for x in side if x is not None]
    assert refused and all(isinstance(x, ThrottledError) for x in refused)
    assert tenant.count_requests(status=429) == len(refused)


class FakeTime:
    """One clock for the emulator, the ledger and both budgets. Time moves only when every party (each
    replica's run of requests) sleeps or is done: then to the earliest end of a sleep, waking those due.
    So the replicas interleave as they would in real time, without real waiting."""

    def __init__(self, start: float, parties: int) -> None:
        self.now = start
        self.parties = parties
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def wall(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        self._advance()
        await future

    async def party(self, work: Awaitable[None]) -> None:
        try:
            await work
        finally:
            self.parties -= 1
            self._advance()

    def _advance(self) -> None:
        if not self._sleepers or len(self._sleepers) < self.parties:
            return
        self.now = max(self.now, min(t for t, _ in self._sleepers))
        due = [f for t, f in self._sleepers if t <= self.now]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self.now]
        for future in due:
            future.set_result(None)


async def _direct(func: object, *args: object) -> BudgetGrant:
    return func(*args)  # type: ignore[operator,no-any-return]


def counted(ledger: BudgetLedger, time: FakeTime) -> GraphBudget:
    # 110 per 10 minutes -> 10 a minute (110 // 11); blocks of 4 so the two replicas interleave.
    limits = limits_from(
        mailbox_concurrency=4,
        app_concurrency=None,
        mailbox_requests_per_10_minutes=110,
        app_requests_per_10_minutes=None,
        block=4,
        max_wait_s=120.0,
    )
    return GraphBudget(limits, ledger=ledger, clock=time.wall, sleep=time.sleep, blocking=_direct)


async def sequential(mbx: GraphMailbox, n: int) -> None:
    for _ in range(n):
        await mbx.check_mailbox(MB)


def request_tenant(time: FakeTime) -> GraphTenant:
    # The emulator's own count of 110 requests per 600 s (the documented 10,000 scaled down).
    tenant = GraphTenant(TOKEN, request_budget=110, budget_window=600.0, clock=time.wall)
    tenant.add_mailbox(MB)
    return tenant


async def test_two_replicas_sharing_the_request_count_never_pass_the_10_minute_limit() -> None:
    time = FakeTime(1_800_000_030.0, parties=2)  # mid-window: the first window is a short one
    tenant = request_tenant(time)
    ledger = MemoryLedger(time.wall)  # shared, as the database is
    async with gateway(tenant, counted(ledger, time)) as a, gateway(tenant, counted(ledger, time)) as b:
        await asyncio.gather(time.party(sequential(a, 90)), time.party(sequential(b, 90)))
    assert tenant.count_requests(status=429) == 0
    assert tenant.count_requests(status=200) == 180
    # 10 a minute, both replicas together: the 180 requests took the short first window and 17 more.
    assert time.now == 1_800_000_000.0 + 17 * 60


async def test_two_replicas_counting_alone_pass_the_limit() -> None:
    """The contrast: each replica its own count (10 a minute each, 20 together) and Graph refuses."""
    time = FakeTime(1_800_000_030.0, parties=2)
    tenant = request_tenant(time)
    a_budget, b_budget = counted(MemoryLedger(time.wall), time), counted(MemoryLedger(time.wall), time)
    async with gateway(tenant, a_budget) as a, gateway(tenant, b_budget) as b:
        answers = await asyncio.gather(
            time.party(sequential(a, 90)), time.party(sequential(b, 90)), return_exceptions=True
        )
    assert any(isinstance(x, ThrottledError) and x.code == "ApplicationThrottled" for x in answers)
    assert tenant.count_requests(status=429) > 0


async def test_a_shorter_request_count_than_documented_would_refuse_the_gateways_minute() -> None:
    """The other behaviour of inference graph.request-rate-window (emulator ``burst_budget``): had Graph a
    count per minute below the gateway's 900 (here 5 against 10), the gateway's own cap would not be
    enough, and the 429 names the request rate, as the manual check in /metrics would show."""
    time = FakeTime(1_800_000_000.0, parties=1)
    tenant = request_tenant(time)
    tenant.burst_budget, tenant.burst_window = 5, 60.0
    ledger = MemoryLedger(time.wall)
    async with gateway(tenant, counted(ledger, time)) as a:
        with pytest.raises(ThrottledError) as caught:
            await time.party(sequential(a, 10))
    assert caught.value.code == "ApplicationThrottled"
    assert "MailboxRequestRate" in str(caught.value)
    assert tenant.count_requests(status=200) == 5
    assert a.throttled[MB] == 1
