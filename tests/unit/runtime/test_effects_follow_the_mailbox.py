"""Issue 18: receipt mails and categories follow the lease of their function mailbox (no singleton lease).

Two runtimes share one gateway (one store, one Graph tenant) with their own lease keepers, so they act as
two replicas of one deployment. Each effect row names its mailbox (migration 0010); only the replica
holding that mailbox's outbound lease runs it, so an effect never runs on two replicas at once, and a
mailbox taken over after its holder died is taken over with its effects. Effects with no mailbox (planned
by an earlier version) are run by the housekeeping lease holder.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from graph_dpg.adapters.store import SqlStore
from graph_dpg.adapters.store.schema import leases, replicas
from graph_dpg.ports.store import JobState
from graph_dpg.runtime import Runtime, RuntimeOptions
from graph_dpg.runtime.scheduler import RESOURCE_HOUSEKEEPING, outbound_resource
from graph_dpg.runtime.work import LeaseKeeper
from tests.unit.runtime.conftest import Rig

A, B = "a@testby.dk", "b@testby.dk"
RES_A, RES_B = outbound_resource(A, "sentitems"), outbound_resource(B, "sentitems")


def _replica(rig: Rig, owner: str) -> Runtime:
    runtime = Runtime(rig.gateway, RuntimeOptions(start_http=False))
    runtime.leases = LeaseKeeper(rig.gateway.store, owner, float(rig.settings.lease_seconds))
    return runtime


def _store(rig: Rig) -> SqlStore:
    store = rig.gateway.store
    assert isinstance(store, SqlStore)
    return store


def _planned(rig: Rig, mailbox: str) -> list[str]:
    return sorted(e.key for e in _store(rig).pending_effects(limit=100, mailboxes=[mailbox]))


def _receipts(rig: Rig, mailbox: str) -> int:
    return len([m for m in rig.tenant.messages(mailbox, "inbox") if m["subject"].startswith("DPG")])


async def _poll(runtime: Runtime) -> None:
    await runtime.poll_outbound()
    await runtime.wait_polls()


def _silent_for_an_hour(store: SqlStore, owner: str) -> None:
    """``owner`` stopped heartbeating and renewing an hour ago (rows aged rather than a sleep)."""
    past = datetime.now(UTC) - timedelta(hours=1)
    with store.engine.begin() as conn:
        conn.execute(update(replicas).where(replicas.c.owner == owner).values(last_seen=past))
        conn.execute(update(leases).where(leases.c.owner == owner).values(expires_at=past))


async def test_each_replica_runs_only_the_effects_of_the_mailboxes_it_holds(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    r1, r2 = _replica(rig, "r1"), _replica(rig, "r2")
    rig.send(A)
    rig.send(B)
    assert r1.leases.refresh([RES_A]) == {RES_A}
    assert r2.leases.refresh([RES_B]) == {RES_B}
    await _poll(r1)
    await _poll(r2)
    # a receipt and the "sent" category each (the "queued" one was settled as superseded with DONE)
    assert len(_planned(rig, A)) == 2 and len(_planned(rig, B)) == 2

    await r2.run_effects()  # r2 holds b only: a's effects stay for a's holder
    assert _planned(rig, B) == [] and len(_planned(rig, A)) == 2
    assert (_receipts(rig, A), _receipts(rig, B)) == (0, 1)
    await r1.run_effects()
    assert _planned(rig, A) == []
    assert (_receipts(rig, A), _receipts(rig, B)) == (1, 1)
    assert (r1.counters.effects_done, r2.counters.effects_done) == (2, 2)


async def test_a_dead_holders_mailbox_is_taken_over_with_its_effects_and_a_crash_mid_batch_loses_nothing(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    r1, r2 = _replica(rig, "r1"), _replica(rig, "r2")
    rig.send(A)
    rig.send(A)
    r1.leases.refresh([RES_A])
    await _poll(r1)
    assert len(_planned(rig, A)) == 4  # per job a receipt and the final category
    # r1 gets through one effect of its batch, then dies (its lease is no longer fresh after that one).
    left = [1]

    def one_more() -> bool:
        left[0] -= 1
        return left[0] >= 0

    assert await rig.gateway.outbound.run_effects(mailboxes=[A], keep_going=one_more) == 1
    _silent_for_an_hour(_store(rig), "r1")
    r1.leases.renewed_at = float("-inf")  # its heartbeat stalled: r1 itself sees the lease as stale
    await r1.run_effects()
    assert len(_planned(rig, A)) == 3  # a stale holder runs nothing
    # r2 takes the expired lease over, and with it the three effects r1 left.
    assert r2.leases.refresh([RES_A]) == {RES_A}
    await r2.run_effects()
    assert _planned(rig, A) == []
    assert _receipts(rig, A) == 2  # one receipt mail per job: nothing lost, nothing doubled


async def test_effects_with_no_mailbox_are_run_by_the_housekeeping_holder_only(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    r1, r2 = _replica(rig, "r1"), _replica(rig, "r2")
    rig.send(A)
    r1.leases.refresh([RES_A])
    await _poll(r1)
    store = _store(rig)
    [job] = store.jobs_in_state(list(JobState), limit=10)
    # As an earlier version planned it: no mailbox on the row.
    assert store.plan_effect(f"receipt:{job.id}:update:1", {"job": job.id, "kind": "update"})
    assert [e.key for e in store.pending_effects(unowned=True)] == [f"receipt:{job.id}:update:1"]
    await r1.run_effects()
    assert [e.key for e in store.pending_effects(unowned=True)] == [f"receipt:{job.id}:update:1"]
    # And one of a mailbox since removed from the gateway file (no lease will ever be held for it).
    assert store.plan_effect(
        f"receipt:{job.id}:update:2", {"job": job.id, "kind": "update"}, "gone@testby.dk"
    )
    assert r2.leases.refresh([RESOURCE_HOUSEKEEPING]) == {RESOURCE_HOUSEKEEPING}
    await r2.run_effects()
    assert store.pending_effects() == []


async def test_any_replica_applies_recorded_receipts_and_the_mailboxs_holder_writes_the_category(
    make_rig: Callable[..., Rig],
) -> None:
    from graph_dpg.ports.digital_post import BusinessReceipt

    rig = make_rig()
    r1, r2 = _replica(rig, "r1"), _replica(rig, "r2")
    message_id = rig.send(A)
    r1.leases.refresh([RES_A])
    await _poll(r1)
    await r1.run_effects()
    memo_uuid = rig.state.accepted[0].message_uuid
    await (
        _store(rig)
        .push_sink()
        .store_pushed_receipt(
            BusinessReceipt(
                id=f"push-{memo_uuid}",
                transmission_id=None,
                message_uuid=memo_uuid,
                receipt_status="COMPLETED",
            )
        )
    )
    await r2.apply_receipts()  # r2 holds no lease at all: applying receipts needs none (a row claim)
    assert r2.counters.receipts_applied == 1 and _store(rig).unprocessed_receipts() == []
    assert len(_planned(rig, A)) == 1  # the new category, for a's holder
    await r2.run_effects()
    assert len(_planned(rig, A)) == 1
    await r1.run_effects()
    assert _planned(rig, A) == []
    assert rig.tenant.message(A, message_id)["categories"] == ["Digital Post: Kvitteret"]
