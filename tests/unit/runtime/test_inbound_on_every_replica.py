"""Issue 18: a replica that does not hold the ``ngdp:memos`` lease still delivers and acknowledges stored
memos (the ``inbound_delivery`` job, each memo claimed), while the pull stays with the lease holder.

Another replica ("r1", not running here) holds the lease and has pulled the memos into the store; this
replica ("r2") runs one pass of its jobs: it does not pull (the lease job does not run), and it delivers,
answers and deletes every stored memo.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from graph_dpg.adapters.store import SqlStore
from graph_dpg.ports.store import InboundSource, InboundState
from graph_dpg.runtime.scheduler import RESOURCE_INBOUND
from graph_dpg.services.inbound import MEMO_PROPERTY
from tests.store_rows import lease_owners
from tests.unit.runtime.conftest import Rig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inbound"))
from inbound_memos import citizen_memo  # isort: skip


async def test_a_replica_without_the_memo_lease_delivers_the_stored_memos(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(replica="r2")
    store = rig.gateway.store
    assert isinstance(store, SqlStore)
    assert store.acquire_some([RESOURCE_INBOUND], "r1", 3600, 1) == [RESOURCE_INBOUND]
    uids = []
    for n in range(3):
        uid, xml = citizen_memo(label=f"Sag {n}", contact_point=None)
        rig.state.queue_inbound_memo(xml)
        assert store.store_inbound_memo(uid, InboundSource.PULL, xml)  # r1's pull stored it
        uids.append(uid)

    await rig.runtime.tick()

    assert rig.runtime.counters.inbound_runs == 0  # no pull here: r1 holds the lease
    assert lease_owners(store, [RESOURCE_INBOUND]) == {RESOURCE_INBOUND: "r1"}
    assert rig.runtime.counters.inbound_delivered == 3
    marked = [
        p["value"]
        for m in rig.tenant.messages("post@testby.dk", "inbox")
        for p in m.get("singleValueExtendedProperties", [])
        if p["id"].endswith(f"Name {MEMO_PROPERTY}")
    ]
    assert sorted(marked) == sorted(uids)
    for uid in uids:
        assert [r["receiptStatus"] for r in rig.state.inbound_receipts(uid)] == ["COMPLETED"]
        row = store.get_inbound(uid)
        assert row is not None and row.state is InboundState.DELETED
    assert rig.state.inbound_ids() == []
