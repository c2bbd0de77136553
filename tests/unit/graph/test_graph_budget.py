"""GraphBudget (adapters/graph/budget.py; issue 18): one replica's part of Graph's limits shared by all.

Limits: learn.microsoft.com/graph/throttling-limits, "Outlook service limits" (10,000 requests per 10
minutes and 4 concurrent requests per app and mailbox). A fake clock and a sleep that moves it: no real
waiting, no timed assertions; the ledger is the in-process one on the same fake clock (the database's is
tested in tests/integration/store/test_store_graph_budget.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from graph_dpg.adapters.graph.budget import (
    APP_SCOPE,
    BudgetLimits,
    GraphBudget,
    Limiter,
    MemoryLedger,
    limits_from,
    mailbox_scope,
)
from graph_dpg.core.errors import ThrottledError
from graph_dpg.ports.graph_budget import BudgetGrant

MB = "Post@Kommune.dk"


class FakeTime:
    """Wall clock (the ledger's) and monotonic clock (the budget's) moving together; ``sleep`` moves them."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def wall(self) -> float:
        return self.now

    def mono(self) -> float:
        return self.now - 1_700_000_000.0

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class CountingLedger(MemoryLedger):
    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self.calls = 0

    def reserve_requests(self, scope: str, want: int, cap: int, window_s: int) -> BudgetGrant:
        self.calls += 1
        return super().reserve_requests(scope, want, cap, window_s)


async def _direct(func: Callable[..., BudgetGrant], *args: object) -> BudgetGrant:
    return func(*args)


def make(time: FakeTime, **limits: object) -> tuple[GraphBudget, CountingLedger]:
    ledger = CountingLedger(time.wall)
    settings: dict[str, object] = {"mailbox_requests_per_window": 900, "block": 20, **limits}
    budget = GraphBudget(
        BudgetLimits(**settings),  # type: ignore[arg-type]
        ledger=ledger,
        clock=time.mono,
        sleep=time.sleep,
        blocking=_direct,
    )
    return budget, ledger


async def take(budget: GraphBudget, n: int, mailbox: str = MB) -> None:
    for _ in range(n):
        async with budget.slot(mailbox):
            pass


async def test_one_ledger_call_per_block_not_per_request() -> None:
    time = FakeTime(1_800_000_000.0)  # a window start: 60 s ahead
    budget, ledger = make(time)
    await take(budget, 100)
    assert ledger.calls == 5  # 100 requests, blocks of 20
    assert ledger.used(mailbox_scope(MB), 1_800_000_000) == 100
    assert budget.waited[MB] == 0


async def test_the_mailbox_key_ignores_case() -> None:
    time = FakeTime()
    budget, ledger = make(time)
    await take(budget, 10, "post@kommune.dk")
    await take(budget, 10, "POST@KOMMUNE.DK")
    assert ledger.calls == 1


async def test_a_spent_window_makes_the_request_wait_for_the_next_then_it_goes_on() -> None:
    time = FakeTime(1_800_000_000.0)
    budget, ledger = make(time, mailbox_requests_per_window=30)
    await take(budget, 30)
    assert time.slept == []
    await take(budget, 1)  # the 31st in the same minute
    assert time.slept == [pytest.approx(60.0)]
    assert budget.waited[MB] == 1
    assert ledger.used(mailbox_scope(MB), 1_800_000_060) == 20  # a fresh block in the next window


async def test_requests_left_in_a_block_are_lost_at_the_window_end() -> None:
    time = FakeTime(1_800_000_000.0)
    budget, ledger = make(time)
    await take(budget, 3)  # a block of 20 reserved, 17 unused
    time.now += 60
    await take(budget, 1)
    assert ledger.calls == 2
    assert ledger.used(mailbox_scope(MB), 1_800_000_060) == 20


async def test_waiting_longer_than_allowed_is_a_throttled_error_with_retry_after() -> None:
    time = FakeTime(1_800_000_000.0)
    budget, _ = make(time, mailbox_requests_per_window=20, max_wait_s=10.0)
    await take(budget, 20)
    with pytest.raises(ThrottledError) as caught:
        await take(budget, 1)
    assert caught.value.retry_after == pytest.approx(60.0)
    assert caught.value.service == "graph"
    assert budget.refused[MB] == 1
    assert time.slept == []  # refused at once, not after waiting


async def test_the_app_cap_counts_every_mailbox_in_one_scope() -> None:
    time = FakeTime(1_800_000_000.0)
    budget, ledger = make(time, mailbox_requests_per_window=None, app_requests_per_window=40)
    await take(budget, 20, "a@x.dk")
    await take(budget, 20, "b@x.dk")
    assert ledger.used(APP_SCOPE, 1_800_000_000) == 40
    await take(budget, 1, "c@x.dk")
    assert time.slept == [pytest.approx(60.0)]


async def test_a_batch_costs_its_members() -> None:
    """concepts/json-batching.md ("Throttling and batching"): each request of a batch counts on its own."""
    time = FakeTime(1_800_000_000.0)
    budget, ledger = make(time)
    async with budget.slot(MB, cost=20):
        pass
    async with budget.slot(MB, cost=5):
        pass
    assert ledger.used(mailbox_scope(MB), 1_800_000_000) == 40


async def test_no_request_count_without_a_cap() -> None:
    time = FakeTime()
    budget, ledger = make(time, mailbox_requests_per_window=None)
    await take(budget, 50)
    assert ledger.calls == 0


async def _hold(budget: GraphBudget, mailbox: str, inside: list[int], gate: asyncio.Event) -> None:
    async with budget.slot(mailbox):
        inside.append(1)
        await gate.wait()


async def test_concurrency_share_follows_replicas_and_leases() -> None:
    time = FakeTime()
    budget, _ = make(time, mailbox_requests_per_window=None)
    inside: list[int] = []
    gate = asyncio.Event()
    budget.update(3, leaders=[])  # 3 replicas, this one leads nothing: 1 slot
    tasks = [asyncio.create_task(_hold(budget, MB, inside, gate)) for _ in range(4)]
    await asyncio.sleep(0)
    assert len(inside) == 1
    budget.update(3, leaders=[MB.upper()])  # it now holds the lease: 4 - (3 - 1) = 2
    await asyncio.sleep(0)
    assert len(inside) == 2
    budget.update(1, leaders=[])  # alone: all 4
    await asyncio.sleep(0)
    assert len(inside) == 4
    gate.set()
    await asyncio.gather(*tasks)
    assert budget.limiter(MB).active == 0


async def test_app_cap_is_split_between_replicas() -> None:
    time = FakeTime()
    budget, _ = make(time, mailbox_requests_per_window=None, app_concurrency=4)
    inside: list[int] = []
    gate = asyncio.Event()
    budget.update(2, leaders=["a@x.dk", "b@x.dk", "c@x.dk"])
    tasks = [asyncio.create_task(_hold(budget, m, inside, gate)) for m in ("a@x.dk", "b@x.dk", "c@x.dk")]
    await asyncio.sleep(0)
    assert len(inside) == 2  # floor(4 / 2)
    gate.set()
    await asyncio.gather(*tasks)


async def test_limiter_lowered_while_held_takes_effect_as_holders_leave() -> None:
    limiter = Limiter(3)
    for _ in range(3):
        await limiter.acquire()
    limiter.set_limit(1)
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    limiter.release()
    limiter.release()
    await asyncio.sleep(0)
    assert not waiter.done() and limiter.active == 1
    limiter.release()
    await asyncio.sleep(0)
    assert waiter.done() and limiter.active == 1


async def test_limiter_waiter_cancelled_after_being_granted_hands_the_slot_on() -> None:
    limiter = Limiter(1)
    await limiter.acquire()
    first = asyncio.create_task(limiter.acquire())
    second = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    limiter.release()  # granted to ``first`` ...
    first.cancel()  # ... which is cancelled before it runs
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.sleep(0)
    assert second.done() and limiter.active == 1


def test_limits_from_the_settings_terms() -> None:
    limits = limits_from(
        mailbox_concurrency=4,
        app_concurrency=0,
        mailbox_requests_per_10_minutes=9_900,
        app_requests_per_10_minutes=0,
    )
    assert (limits.app_concurrency, limits.mailbox_requests_per_window, limits.app_requests_per_window) == (
        None,
        900,
        None,
    )
    assert limits_from(
        mailbox_concurrency=4,
        app_concurrency=8,
        mailbox_requests_per_10_minutes=0,
        app_requests_per_10_minutes=22_000,
    ) == BudgetLimits(4, 8, None, 2_000)
