"""Issue 18, the store's share of an inbound memo: which store calls one memo costs on its way from NgDP
to DELETED, and the claim check that answers without the database while a claim is certainly fresh.

The calls are counted on the in-memory fake (each of its methods is one transaction of the SQL store);
``bench/cost_bench.py --memos 50`` measures the same on SQLite."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from graph_dpg.core.errors import StoreError, TransientError
from graph_dpg.ports.store import InboundSource, InboundState
from graph_dpg.services.inbound import InboundStats
from graph_dpg.services.inbound.memos import _Claims
from tests.fakes import FakeStore
from tests.unit.inbound.inbound_memos import CP_BYG, citizen_memo
from tests.unit.services.test_inbound_edges import BYG, rig


class CountingStore(FakeStore):
    """The fake store, counting its calls by method (every method asks ``_maybe_fail`` first)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def _maybe_fail(self, method: str) -> None:
        self.calls[method] += 1
        super()._maybe_fail(method)


class StepClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


PER_MEMO = {
    "record_inbound_route": 1,  # before the message is created (and the note that its first attempt starts)
}
PER_BATCH = {
    "store_inbound_memos": 1,  # pulled: stored before anything else (their XML kept for the delivery)
    "mark_delivered_many": 1,  # the batch's delivered audit rows, ending the claims
    "mark_deleted_many": 1,  # receipts and deletes at NgDP recorded together, with the acknowledged rows
}


async def test_a_pulled_memo_costs_one_store_call_of_its_own_and_a_few_per_batch() -> None:
    r = rig()
    store = CountingStore()
    r.store = store
    uids = []
    for n in range(3):
        uid, xml = citizen_memo(label=f"Sag {n}", contact_point=CP_BYG)
        r.ngdp.hold_memo(uid, xml)
        uids.append(uid)

    stats = await r.service().run_once()

    assert (stats.pulled, stats.delivered, stats.acknowledged, stats.deleted, stats.errors) == (
        3,
        3,
        3,
        3,
        [],
    )
    for method, n in PER_MEMO.items():
        assert store.calls[method] == n * 3, method
    for method, n in PER_BATCH.items():
        assert store.calls[method] == n, method
    # Per batch, not per memo: what the listing knows, an earlier version's route effects of the claimed.
    assert (store.calls["get_inbound_many"], store.calls["get_effects"]) == (1, 1)
    # The claims were fresh at every check, and each ended with its memo's state change.
    for method in (
        "store_inbound_memo",
        "load_inbound_xml",  # pulled by this replica: its XML came from the pull
        "mark_delivered",
        "mark_deleted",
        "renew_inbound_claims",
        "release_inbound",
        "get_inbound",
        "get_effect",
        "mark_acknowledged",
    ):
        assert store.calls[method] == 0, method
    assert store.inbound_claims == {}
    for uid in uids:
        row = store.get_inbound(uid)
        assert row is not None and row.state is InboundState.DELETED
        assert [e.action for e in store.audit_events if e.subject == uid] == [
            "inbound.memo.received",
            "inbound.memo.delivered",
            "inbound.memo.acknowledged",
        ]
    assert sorted(r.ngdp.memo_receipts) == sorted(uids)
    assert len(r.mail.in_folder(BYG, "inbox")) == 3


async def test_a_failed_delete_keeps_the_receipt_and_only_the_delete_is_tried_again() -> None:
    r = rig()
    uid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    r.ngdp.hold_memo(uid, xml)
    r.ngdp.fail_next("delete_memo", TransientError("NgDP 503", "ngdp", 503))

    first = await r.service().run_once()
    assert (first.delivered, first.acknowledged, first.deleted, len(first.errors)) == (1, 1, 0, 1)
    row = r.store.get_inbound(uid)
    assert row is not None and row.state is InboundState.ACKNOWLEDGED and row.attempts == 1
    assert r.store.inbound_claims == {}  # released when the round ended

    r.ngdp.fail_next("send_memo_receipt", AssertionError("the receipt is not sent twice"))
    second = await r.service().run_once(pull=False)
    assert (second.acknowledged, second.deleted, second.errors) == (0, 1, [])
    row = r.store.get_inbound(uid)
    assert row is not None and row.state is InboundState.DELETED
    assert [e.action for e in r.store.audit_events if e.subject == uid].count(
        "inbound.memo.acknowledged"
    ) == 1
    r.ngdp.failures.clear()


async def test_the_pull_stores_a_batch_at_a_time() -> None:
    r = rig(batch_size=100)
    store = CountingStore()
    r.store = store
    for n in range(25):
        uid, xml = citizen_memo(label=f"Sag {n}", contact_point=CP_BYG)
        r.ngdp.hold_memo(uid, xml)

    stats = await r.service().run_once()

    assert (stats.pulled, stats.delivered, stats.deleted, stats.errors) == (25, 25, 25, [])
    # 10 memos (or 16 MiB) per transaction: 10 + 10 + 5; each memo's XML came from its pull.
    assert store.calls["store_inbound_memos"] == 3 and store.calls["load_inbound_xml"] == 0
    assert len(r.mail.in_folder(BYG, "inbox")) == 25


async def test_memos_fetched_but_not_stored_before_a_failure_are_fetched_again_and_delivered_once() -> None:
    r = rig(batch_size=100)
    uids = []
    for n in range(25):
        uid, xml = citizen_memo(label=f"Sag {n}", contact_point=CP_BYG)
        r.ngdp.hold_memo(uid, xml)
        uids.append(uid)
    r.store.fail_next("store_inbound_memos", StoreError("store inbound memos: database is locked"))

    first = InboundStats()
    with pytest.raises(StoreError):
        await r.service().memos.pull(first)
    assert first.pulled == len(r.store.inbound) < 25  # a batch was lost; batches stored are kept
    assert sorted(r.ngdp.memos) == sorted(uids)  # NgDP still holds every memo

    stats = await r.service().run_once()
    assert (stats.pulled, stats.delivered, stats.deleted, stats.errors) == (25 - first.pulled, 25, 25, [])
    assert len(r.mail.in_folder(BYG, "inbox")) == 25
    for uid in uids:
        actions = [e.action for e in r.store.audit_events if e.subject == uid]
        assert actions == ["inbound.memo.received", "inbound.memo.delivered", "inbound.memo.acknowledged"]


async def test_the_claim_check_asks_the_database_only_when_the_claim_may_be_near_its_end() -> None:
    store = CountingStore()
    store.store_inbound_memo("m1", InboundSource.PULL, b"<m/>")
    clock = StepClock()
    claims = _Claims(store, "r1", 60.0, clock)
    assert [m.memo_uuid for m in await claims.take(InboundState.RECEIVED, 10)] == ["m1"]

    clock.now += 19  # 41 of 60 s certainly left: above two thirds
    assert await claims.mine("m1") is True
    assert store.calls["renew_inbound_claims"] == 0

    clock.now += 2  # 39 s left: the database is asked, and the claim renewed for a whole 60 s
    assert await claims.mine("m1") is True
    assert store.calls["renew_inbound_claims"] == 1
    clock.now += 19
    assert await claims.mine("m1") is True
    assert store.calls["renew_inbound_claims"] == 1

    # The replica stalled past its claim; another took the memo over: the check finds it is not ours.
    store.inbound_claims["m1"] = ("r2", store.now() + timedelta(seconds=60))
    clock.now += 60
    assert await claims.mine("m1") is False
    assert store.calls["renew_inbound_claims"] == 2
    await claims.release(["m1"])
    assert store.inbound_claims["m1"][0] == "r2"
