"""Races between replicas: separate engines (own connections) on one database, started together."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import create_engine, text, update
from sqlalchemy.pool import NullPool

from graph_dpg.adapters.store import SqlStore, create_store
from graph_dpg.adapters.store.schema import leases
from graph_dpg.ports.store import OutboundJob, OutboxState, PlannedMemo, SendOutcome
from tests.store_rows import lease_owners

T = TypeVar("T")
RACERS = 4


@pytest.fixture
def replicas(store_url: str) -> Iterator[list[SqlStore]]:
    stores = [SqlStore(store_url, replica=f"r{i}") for i in range(RACERS)]
    try:
        yield stores
    finally:
        for s in stores:
            s.close()


def race(stores: list[SqlStore], call: Callable[[SqlStore, int], T]) -> list[T]:
    """Run ``call`` on every store at (nearly) the same instant, one thread each."""
    barrier = threading.Barrier(len(stores))

    def run(i: int) -> T:
        barrier.wait()
        return call(stores[i], i)

    with ThreadPoolExecutor(len(stores)) as pool:
        return list(pool.map(run, range(len(stores))))


def test_claim_source_message_race_has_one_winner(replicas: list[SqlStore]) -> None:
    for n in range(10):
        wins = race(replicas, lambda s, _i, n=n: s.claim_source_message("mb@x.dk", f"m{n}", f"<{n}@x>"))
        assert wins.count(True) == 1, wins
    # The same internetMessageId under different Graph ids, racing: still one winner.
    wins = race(replicas, lambda s, i: s.claim_source_message("mb@x.dk", f"copy-{i}", "<same@x>"))
    assert wins.count(True) == 1, wins


def test_acquire_race_has_one_winner(replicas: list[SqlStore]) -> None:
    for n in range(10):
        resource = f"mailbox:{n}"
        wins = race(replicas, lambda s, i, r=resource: s.acquire_some([r], f"owner-{i}", 30, 1) == [r])
        assert wins.count(True) == 1, wins
        winner = f"owner-{wins.index(True)}"
        assert lease_owners(replicas[0], [resource]) == {resource: winner}


def test_plan_job_and_send_result_races(replicas: list[SqlStore]) -> None:
    job = OutboundJob("job", "mb", "m", None, "s", "digitalpost")
    planned = [PlannedMemo(f"uuid-{i}", "cpr", f"{i:010d}") for i in range(3)]
    wins = race(replicas, lambda s, _i: s.plan_job(job, planned))
    assert wins.count(True) == 1
    assert sum(replicas[0].job_progress("job").values()) == 3
    wins = race(
        replicas,
        lambda s, i: s.record_send_results(
            [
                SendOutcome(
                    "uuid-0", OutboxState.ACCEPTED, transmission_id=f"tx-{i}", receipt_status="RECEIVED"
                )
            ]
        ),
    )
    assert wins.count(1) == 1 and wins.count(0) == RACERS - 1
    assert replicas[0].find_by_message_uuid("uuid-0").transmission_id == f"tx-{wins.index(1)}"  # type: ignore[union-attr]


def test_lease_expiry_and_takeover(replicas: list[SqlStore]) -> None:
    a, b = replicas[0], replicas[1]
    memos = ["ngdp:memos"]
    assert a.acquire_some(memos, "a", 30, 1) == memos
    assert b.acquire_some(memos, "b", 30, 1) == []
    # Past the TTL (the dead replica stopped renewing): the lease is aged in the database rather than
    # waited out, so a busy machine cannot let it expire early or late.
    with a.engine.begin() as conn:
        conn.execute(
            update(leases)
            .where(leases.c.owner == "a")
            .values(expires_at=datetime.now(UTC) - timedelta(hours=1))
        )
    assert b.acquire_some(memos, "b", 30, 1) == memos
    assert a.renew("ngdp:memos", "a", 30) is False  # the old owner learns it lost the lease
    assert b.renew("ngdp:memos", "b", 30) is True
    assert a.acquire_some(memos, "a", 30, limit=1) == []


def test_acquire_some_distributes_across_three_owners(replicas: list[SqlStore]) -> None:
    resources = [f"mailbox:{i:02d}@x.dk" for i in range(30)]
    owners = replicas[:3]
    got = race(owners, lambda s, i: s.acquire_some(resources, f"owner-{i}", 30, limit=10))
    assert [len(g) for g in got] == [10, 10, 10]
    assert sorted(r for g in got for r in g) == resources  # disjoint and complete
    # Nothing left for a fourth replica until someone lets go.
    assert replicas[3].acquire_some(resources, "owner-3", 30, limit=10) == []
    replicas[1].release_all("owner-1")
    assert sorted(replicas[3].acquire_some(resources, "owner-3", 30, limit=10)) == sorted(got[1])


@pytest.mark.postgres
def test_skip_locked_does_not_wait_for_rows_being_claimed(postgres_url: str) -> None:
    store = create_store(postgres_url, replica="b")
    resources = [f"q:{i}" for i in range(6)]
    # Create the lease rows (taken and handed back at once), so another transaction can lock some.
    assert store.acquire_some(resources, "b", 30, 6) == resources
    assert store.release_all("b") == 6
    holder = create_engine(postgres_url, poolclass=NullPool)
    try:
        with holder.connect() as conn, conn.begin():
            # Another replica is in the middle of claiming q:0..q:2 (its transaction is open).
            conn.execute(text("SELECT resource FROM leases WHERE resource IN ('q:0','q:1','q:2') FOR UPDATE"))
            result: list[list[str]] = []
            worker = threading.Thread(target=lambda: result.append(store.acquire_some(resources, "b", 30, 6)))
            worker.start()
            worker.join(timeout=20)
            finished_while_locked = not worker.is_alive()
        worker.join()
        assert finished_while_locked, "acquire_some waited for locked rows instead of skipping them"
        assert result == [["q:3", "q:4", "q:5"]]
        # Once the other transaction is gone, the skipped rows are free to take.
        assert store.acquire_some(resources, "b", 30, 6) == ["q:3", "q:4", "q:5", "q:0", "q:1", "q:2"]
    finally:
        holder.dispose()
        store.close()


def _race_in_process(url: str, owner: str, start: Any, results: Any) -> None:
    store = SqlStore(url, replica=owner)
    try:
        start.wait(timeout=30)
        lease = store.acquire_some(["process:race"], owner, 30, 1) == ["process:race"]
        claim = store.claim_source_message("mb", "process-msg", "<process@x>")
        results.put((owner, lease, claim))
    finally:
        store.close()


def test_two_processes_race_one_wins(store_url: str) -> None:
    db_url = store_url
    # forkserver, not fork: forking this (multi-threaded) pytest process could copy a held lock into
    # the child. The preloaded server makes each child a cheap fork of a clean process.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["graph_dpg.adapters.store", "sqlalchemy.dialects.postgresql.psycopg"])
    start, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_race_in_process, args=(db_url, f"p{i}", start, results)) for i in (1, 2)]
    for p in procs:
        p.start()
    start.wait(timeout=30)
    outcomes = sorted(results.get(timeout=30) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    assert [lease for _, lease, _ in outcomes].count(True) == 1, outcomes
    assert [claim for _, _, claim in outcomes].count(True) == 1, outcomes
