"""Issue 18: every heartbeat sets this replica's share of each mailbox's 4 concurrent Graph requests
(learn.microsoft.com/graph/throttling-limits, "Outlook service limits") from the live replica count and
the leases it holds (graph_dpg.core.budget.concurrency_share): the holder of a function mailbox's lease
4 - (n - 1), every other replica 1; the holder of the NgDP memo queue leads the mailboxes memos go to
that are not function mailboxes; a failed heartbeat leads nothing; alone, 4 everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from graph_dpg.adapters.store import SqlStore
from graph_dpg.adapters.store.schema import leases, replicas
from graph_dpg.runtime.scheduler import RESOURCE_INBOUND, outbound_resource
from tests.unit.runtime.conftest import Rig

A, B, MAIN = "a@testby.dk", "b@testby.dk", "post@testby.dk"


def _store(rig: Rig) -> SqlStore:
    store = rig.gateway.store
    assert isinstance(store, SqlStore)
    return store


async def test_heartbeat_sets_the_shares_from_replicas_and_leases(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    store, runtime, budget = _store(rig), rig.runtime, rig.gateway.mailbox.budget
    # Another replica is alive and holds b's lease and the memo queue.
    store.replica_heartbeat("r2")
    assert sorted(
        store.acquire_some([outbound_resource(B, "sentitems"), RESOURCE_INBOUND], "r2", 600, 2)
    ) == [
        RESOURCE_INBOUND,
        outbound_resource(B, "sentitems"),
    ]
    await runtime.heartbeat()
    assert outbound_resource(A, "sentitems") in runtime.leases.held
    assert budget.replicas == 2
    assert (budget.mailbox_share(A), budget.mailbox_share(B), budget.mailbox_share(MAIN)) == (3, 1, 1)

    runtime.share_graph_budget(lead=False)  # what a failed heartbeat does
    assert budget.mailbox_share(A) == 1

    # r2 stops (its rows aged an hour rather than a sleep): alone, this replica has every mailbox's 4.
    past = datetime.now(UTC) - timedelta(hours=1)
    with store.engine.begin() as conn:
        conn.execute(update(replicas).where(replicas.c.owner == "r2").values(last_seen=past))
        conn.execute(update(leases).where(leases.c.owner == "r2").values(expires_at=past))
    await runtime.heartbeat()
    assert budget.replicas == 1
    assert (budget.mailbox_share(A), budget.mailbox_share(B), budget.mailbox_share(MAIN)) == (4, 4, 4)


async def test_the_memo_queue_holder_leads_the_mailboxes_that_are_not_function_mailboxes(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    store, runtime, budget = _store(rig), rig.runtime, rig.gateway.mailbox.budget
    store.replica_heartbeat("r2")
    store.acquire_some([outbound_resource(A, "sentitems"), outbound_resource(B, "sentitems")], "r2", 600, 2)
    await runtime.heartbeat()
    assert RESOURCE_INBOUND in runtime.leases.held
    assert (budget.mailbox_share(A), budget.mailbox_share(B), budget.mailbox_share(MAIN)) == (1, 1, 3)
