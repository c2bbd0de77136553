"""LeaseKeeper on the real SqlStore (SQLite): fair shares, hand-back, take-over after expiry, release."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from graph_dpg.adapters.store import SqlStore, create_store
from graph_dpg.adapters.store.schema import leases, replicas
from graph_dpg.ports.leases import ReplicaLeases
from graph_dpg.runtime.work import LeaseKeeper
from tests.store_rows import lease_owners

ITEMS = [f"outbound:mb{i}@x.dk:sentitems" for i in range(10)]


def test_single_replica_holds_everything(tmp_path: Path) -> None:
    store = create_store(f"sqlite:///{tmp_path / 's.db'}")
    keeper = LeaseKeeper(store, "r1", 30)
    assert keeper.refresh(ITEMS) == set(ITEMS)
    assert keeper.fresh(ITEMS[0])
    assert lease_owners(store, ITEMS) == dict.fromkeys(ITEMS, "r1")


def test_second_replica_gets_a_fair_share_once_the_first_hands_back(tmp_path: Path) -> None:
    store = create_store(f"sqlite:///{tmp_path / 's.db'}")
    r1, r2 = LeaseKeeper(store, "r1", 30), LeaseKeeper(store, "r2", 30)
    r1.refresh(ITEMS)
    assert r2.refresh(ITEMS) == set()  # nothing free yet; r2's heartbeat makes r1 see two replicas
    r1.refresh(ITEMS)  # r1 keeps its fair share (5) and releases the rest
    assert len(r1.held) == 5
    r2.refresh(ITEMS)
    assert len(r2.held) == 5
    assert r1.held.isdisjoint(r2.held)
    assert r1.held | r2.held == set(ITEMS)


def _silent_for_an_hour(store: SqlStore, owner: str) -> None:
    """``owner`` stopped heartbeating and renewing an hour ago: its replica row and leases are that old.
    (Aging the rows instead of sleeping past a short TTL: a busy machine cannot make it flaky.)"""
    past = datetime.now(UTC) - timedelta(hours=1)
    with store.engine.begin() as conn:
        conn.execute(update(replicas).where(replicas.c.owner == owner).values(last_seen=past))
        conn.execute(update(leases).where(leases.c.owner == owner).values(expires_at=past))


def test_dead_replica_leases_expire_and_are_taken_over(tmp_path: Path) -> None:
    store = create_store(f"sqlite:///{tmp_path / 's.db'}")
    now = [1000.0]
    dead = LeaseKeeper(store, "dead", 30, clock=lambda: now[0])
    dead.refresh(ITEMS)
    survivor = LeaseKeeper(store, "survivor", 30)
    assert survivor.refresh(ITEMS) == set()
    _silent_for_an_hour(store, "dead")  # no heartbeat from "dead": its leases and its replica row age out
    now[0] += 3600
    assert not dead.fresh(ITEMS[0])
    assert survivor.refresh(ITEMS) == set(ITEMS)
    assert survivor.live == ["survivor"]


def test_release_all_frees_everything(tmp_path: Path) -> None:
    store = create_store(f"sqlite:///{tmp_path / 's.db'}")
    keeper = LeaseKeeper(store, "r1", 30)
    keeper.refresh(ITEMS)
    assert keeper.release_all() == len(ITEMS)
    assert keeper.held == set()
    assert lease_owners(store, ITEMS) == dict.fromkeys(ITEMS)
    other = LeaseKeeper(store, "r2", 30)
    assert other.refresh(ITEMS) == set(ITEMS)


def test_fresh_respects_the_margin() -> None:
    class Clock:
        now = 100.0

        def __call__(self) -> float:
            return self.now

    class AlwaysGranted:
        """The lease port LeaseKeeper needs, granting every claim (only the local clock matters here)."""

        def replica_heartbeat(self, owner: str) -> None: ...

        def live_replicas(self, within_s: float) -> list[str]:
            return ["r1"]

        def acquire_some(self, resources: Sequence[str], owner: str, ttl_s: float, limit: int) -> list[str]:
            return list(resources)[:limit]

        def refresh_leases(
            self,
            owner: str,
            resources: Sequence[str],
            ttl_s: float,
            live_within_s: float,
            share: Callable[[int], int],
        ) -> tuple[list[str], list[str]]:
            return ["r1"], self.acquire_some(resources, owner, ttl_s, share(1))

        def renew(self, resource: str, owner: str, ttl_s: float) -> bool:
            return True

        def release(self, resource: str, owner: str) -> None: ...

        def release_all(self, owner: str) -> int:
            return 0

        def forget_replica(self, owner: str) -> None: ...

    clock = Clock()
    leases: ReplicaLeases = AlwaysGranted()
    keeper = LeaseKeeper(leases, "r1", 30, clock=clock)
    keeper.refresh(["x"])
    clock.now += 19
    assert keeper.fresh("x", margin_s=10)
    clock.now += 2  # 21 s after the renewal: within the lease, but not with a 10 s margin
    assert not keeper.fresh("x", margin_s=10)
    assert keeper.fresh("x")
    assert not keeper.fresh("y")


def test_busy_items_are_kept_beyond_the_fair_share_then_handed_back(tmp_path: Path) -> None:
    store = create_store(f"sqlite:///{tmp_path / 's.db'}")
    r1, r2 = LeaseKeeper(store, "r1", 30), LeaseKeeper(store, "r2", 30)
    r1.refresh(ITEMS)
    r2.refresh(ITEMS)  # announces r2; nothing free yet
    busy = {ITEMS[-1], ITEMS[-2]}  # being polled by r1 right now: beyond its first five
    r1.refresh(ITEMS, busy)
    assert busy <= r1.held and len(r1.held) == 7
    r2.refresh(ITEMS)
    assert r2.held.isdisjoint(r1.held) and len(r2.held) == 3
    r1.refresh(ITEMS)  # the polls finished: the extra two go back
    assert len(r1.held) == 5
    r2.refresh(ITEMS)
    assert len(r2.held) == 5 and r1.held | r2.held == set(ITEMS)


def test_what_a_refresh_ended_is_reported_as_lapsed(tmp_path: Path) -> None:
    """Issue 18: what a replica keeps in memory about an item (a folder's delta link) is good only while it
    held the item without a gap; ``lapsed`` names the items for which that ended."""
    store = create_store(f"sqlite:///{tmp_path / 's.db'}")
    now = [1000.0]
    r1 = LeaseKeeper(store, "r1", 30, clock=lambda: now[0])
    r1.refresh(ITEMS)
    assert r1.lapsed == set()  # nothing was held before
    now[0] += 29  # renewed within the lease: held throughout
    r1.refresh(ITEMS)
    assert r1.lapsed == set()
    LeaseKeeper(store, "r2", 30).refresh(ITEMS)  # a second replica: r1 hands half back at its next refresh
    now[0] += 1
    r1.refresh(ITEMS)
    assert len(r1.held) == 5 and r1.lapsed == set(ITEMS) - r1.held
    now[0] += 31  # a stalled heartbeat: the leases may have expired and been taken and given back meanwhile
    kept = set(r1.held)
    assert r1.refresh(ITEMS) == kept  # held again (nobody took them) ...
    assert r1.lapsed == kept  # ... but not without a gap
    r1.release_all()
    assert r1.lapsed == kept and r1.held == set()


def test_a_refresh_is_one_transaction(tmp_path: Path) -> None:
    """Heartbeat, live replicas and the claim of the fair share: one round trip to the database."""
    store = create_store(f"sqlite:///{tmp_path / 's.db'}")
    labels: list[str] = []
    tx = store._tx

    def counted(what: str) -> Any:
        labels.append(what)
        return tx(what)

    store._tx = counted  # type: ignore[method-assign]
    keeper = LeaseKeeper(store, "r1", 30)
    keeper.refresh(ITEMS)
    keeper.refresh(ITEMS)
    assert labels == ["refresh leases", "refresh leases"]
    assert keeper.live == ["r1"] and keeper.held == set(ITEMS)
