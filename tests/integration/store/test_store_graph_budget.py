"""The shared Graph request count (``SqlStore.reserve_requests``, table graph_budget, migration 0012; issue
18) on SQLite and PostgreSQL: replicas reserving blocks at the same instant never pass the window's cap.

Why a cap per minute: graph_dpg.core.budget (900 a minute keep any 10 minutes under the 10,000 requests
of learn.microsoft.com/graph/throttling-limits, "Outlook service limits").
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import insert, select

from graph_dpg.adapters.store import SqlStore
from graph_dpg.adapters.store.schema import graph_budget
from graph_dpg.ports.graph_budget import BudgetGrant

RACERS = 4
SCOPE = "mailbox:post@kommune.dk"


@pytest.fixture
def replicas(store_url: str) -> Iterator[list[SqlStore]]:
    stores = [SqlStore(store_url, replica=f"r{i}") for i in range(RACERS)]
    try:
        yield stores
    finally:
        for s in stores:
            s.close()


def rows(store: SqlStore) -> dict[tuple[str, int], int]:
    with store.engine.connect() as conn:
        return {
            (str(r.scope), int(r.window_start)): int(r.used)
            for r in conn.execute(
                select(graph_budget.c.scope, graph_budget.c.window_start, graph_budget.c.used)
            )
        }


def test_blocks_are_granted_until_the_cap_then_the_rest_then_nothing(store: SqlStore) -> None:
    # A window this long cannot end during the test (the window is the database clock's).
    window = 10**9
    first = store.reserve_requests(SCOPE, 20, 50, window)
    assert first.granted == 20
    assert 0 < first.seconds_left <= window
    assert first.window_start % window == 0
    assert store.reserve_requests(SCOPE, 20, 50, window).granted == 20
    assert store.reserve_requests(SCOPE, 20, 50, window).granted == 10  # what is left
    assert store.reserve_requests(SCOPE, 20, 50, window).granted == 0
    assert store.reserve_requests("app", 20, 50, window).granted == 20  # another scope counts alone
    assert rows(store)[(SCOPE, first.window_start)] == 50


def test_nothing_asked_or_no_cap_grants_nothing(store: SqlStore) -> None:
    assert store.reserve_requests(SCOPE, 0, 50, 60).granted == 0
    assert store.reserve_requests(SCOPE, 5, 0, 60).granted == 0
    assert rows(store) == {}


def test_replicas_racing_never_pass_the_cap(replicas: list[SqlStore]) -> None:
    window, cap, block = 10**9, 900, 20
    barrier = threading.Barrier(RACERS)

    def run(i: int) -> list[BudgetGrant]:
        barrier.wait()
        grants = []
        while True:
            grant = replicas[i].reserve_requests(SCOPE, block, cap, window)
            grants.append(grant)
            if grant.granted == 0:
                return grants

    with ThreadPoolExecutor(RACERS) as pool:
        results = list(pool.map(run, range(RACERS)))
    granted = sum(g.granted for grants in results for g in grants)
    assert granted == cap  # every request of the window handed out once, none twice
    assert {g.window_start for grants in results for g in grants} == {results[0][0].window_start}
    assert rows(replicas[0]) == {(SCOPE, results[0][0].window_start): cap}


def test_a_new_window_removes_the_scopes_old_rows(store: SqlStore) -> None:
    now_window = store.reserve_requests(SCOPE, 1, 900, 60).window_start
    with store.engine.begin() as conn:
        conn.execute(
            insert(graph_budget),
            [
                {"scope": SCOPE, "window_start": now_window - 3600, "used": 5},
                {"scope": "mailbox:other@x.dk", "window_start": now_window - 3600, "used": 5},
            ],
        )
        conn.execute(graph_budget.delete().where(graph_budget.c.window_start == now_window))
    store.reserve_requests(SCOPE, 1, 900, 60)  # opens the current window again
    left = rows(store)
    assert (SCOPE, now_window - 3600) not in left
    assert ("mailbox:other@x.dk", now_window - 3600) in left  # another scope's rows: its own next window
