"""Issue 18: what an idle tick costs. Each polled folder costs one delta request and at most one store
transaction; the rest of the tick a constant few. A folder's delta link is kept in memory while its lease
is held without a gap, and read from the store again once the lease lapsed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from sqlalchemy import Connection

from graph_dpg.adapters.store import SqlStore
from graph_dpg.runtime.work import LeaseKeeper
from tests.unit.runtime.conftest import Rig

A = "a@testby.dk"
#: The rig's polled folders: a's and b's Sent Items, and the main mailbox's inbox (secure mail).
FOLDERS = 3


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def transactions(monkeypatch: pytest.MonkeyPatch) -> Callable[[Rig], Counter[str]]:
    """Count a rig's store transactions by what they do (the label each SqlStore method gives ``_tx``)."""

    def count(rig: Rig) -> Counter[str]:
        store = rig.gateway.store
        assert isinstance(store, SqlStore)
        counted: Counter[str] = Counter()
        tx = store._tx

        def labelled(what: str) -> AbstractContextManager[Connection]:
            counted[what] += 1
            return tx(what)

        monkeypatch.setattr(store, "_tx", labelled)
        return counted

    return count


def _rig_with_clock(make_rig: Callable[..., Rig]) -> tuple[Rig, Clock]:
    rig = make_rig()
    clock = Clock()
    rig.runtime.leases = LeaseKeeper(rig.gateway.store, "r1", float(rig.settings.lease_seconds), clock=clock)
    return rig, clock


def _deltas(rig: Rig, **kw: Any) -> int:
    return rig.tenant.count_requests(endpoint="messages.delta", **kw)


async def _settle(rig: Rig) -> None:
    """The first ticks: master categories, the first sync of every folder."""
    for _ in range(2):
        await rig.runtime.tick()


async def test_an_idle_tick_asks_the_store_at_most_once_per_folder_plus_a_few(
    make_rig: Callable[..., Rig], transactions: Callable[[Rig], Counter[str]]
) -> None:
    rig, _ = _rig_with_clock(make_rig)
    await _settle(rig)
    counted = transactions(rig)
    requests, deltas = rig.tenant.count_requests(), _deltas(rig)
    for _ in range(3):
        await rig.runtime.tick()
    per_tick = sum(counted.values()) / 3
    assert counted["get delta link"] == counted["set delta link"] == 0, counted
    # One indexed read per outbound folder (its unfinished jobs); the inbox's link is kept too.
    assert counted["any job in state"] == 3 * (FOLDERS - 1)
    assert counted["jobs in state"] == counted["claim inbound memos"] == 0, counted
    assert per_tick <= FOLDERS + 10, counted  # 41 per tick for 6 folders before (cost_bench)
    assert counted["refresh leases"] == 3 and counted["replica heartbeat"] == 0
    # Graph: the delta round of each folder, nothing else.
    assert rig.tenant.count_requests() - requests == _deltas(rig) - deltas == 3 * FOLDERS


async def test_a_round_that_brought_mail_writes_its_link_at_once(
    make_rig: Callable[..., Rig], transactions: Callable[[Rig], Counter[str]]
) -> None:
    rig, _ = _rig_with_clock(make_rig)
    await _settle(rig)
    store = rig.gateway.store
    before = store.get_delta_link(A, "sentitems")
    counted = transactions(rig)
    rig.send(A)
    await rig.runtime.tick()
    assert len(rig.state.accepted) == 1
    assert counted["set delta link"] == 1 and counted["get delta link"] == 0
    after = store.get_delta_link(A, "sentitems")
    assert after is not None and after != before  # a replica taking over would not see the letter again


async def test_a_lapsed_lease_drops_the_kept_link_and_the_next_poll_starts_from_the_store(
    make_rig: Callable[..., Rig], transactions: Callable[[Rig], Counter[str]]
) -> None:
    rig, clock = _rig_with_clock(make_rig)
    await _settle(rig)
    store = rig.gateway.store
    stored = store.get_delta_link(A, "sentitems")
    assert stored is not None and "$deltatoken=" in stored
    # Another replica moved the folder on meanwhile: here to a link the emulator no longer knows (410), so
    # which link a poll starts from is visible.
    store.set_delta_link(A, "sentitems", stored.split("$deltatoken=")[0] + "$deltatoken=gone")
    await rig.runtime.tick()  # the lease was renewed in time: the kept link is used, the store not read
    assert _deltas(rig, mailbox=A, status=410) == 0
    counted = transactions(rig)
    clock.now += rig.settings.lease_seconds + 1  # a stalled replica: its lease may have lapsed meanwhile
    await rig.runtime.tick()
    assert counted["get delta link"] == FOLDERS  # every folder's lease is held again, after a gap
    assert _deltas(rig, mailbox=A, status=410) == 1  # started from the store's link (and resynced)
    assert store.get_delta_link(A, "sentitems") != stored.split("$deltatoken=")[0] + "$deltatoken=gone"
