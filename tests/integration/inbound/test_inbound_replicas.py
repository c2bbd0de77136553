"""Issue 18: stored memos are delivered and acknowledged by every replica, each a few it claims
(``inbound_memos.claimed_until``, migration 0011), not by the ``ngdp:memos`` lease holder alone.

Two replicas are two ``InboundService`` instances with their own store connection, Graph mailbox client and
NgDP client, on one database (SQLite and PostgreSQL) and the same in-process emulators. Checked: every memo
delivered exactly once (one message with the ``DpgInboundMemo`` marker per memo in the Graph emulator, one
``inbound.memo.delivered`` audit event), answered exactly once (one receipt at NgDP, one
``inbound.memo.acknowledged`` event) and deleted; both replicas delivering at the same time (the first
replica's first delivery waits until the second one has delivered: an event, not a sleep); and a replica
that dies mid-delivery (its message written, the memo not yet marked delivered) leaves its memo to another
replica once its claim expires, which finds the message by its marker instead of writing a second one.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.adapters.store import SqlStore, create_store
from graph_dpg.adapters.store.schema import inbound_memos
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.ports.store import InboundState
from graph_dpg.sandbox.graph import create_app
from graph_dpg.services.inbound import MEMO_PROPERTY, InboundService, InboundStats
from tests.store_rows import audit_rows

from .harness import BYG, MAIN, TOKEN, Harness, make_harness

from inbound_memos import CP_BYG, CP_UNKNOWN, citizen_memo  # isort: skip

MEMOS = 40
CHUNK = 5  # memos a replica claims at once (small: the test shows the sharing with few memos)


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = make_harness(db_url)
    async with harness.mailbox:
        yield harness
    harness.store.close()


@pytest.fixture
def second_store(db_url: str) -> Iterator[SqlStore]:
    """The second replica's own connection pool to the same database."""
    store = create_store(db_url, replica="replica-b", migrate=False)
    try:
        yield store
    finally:
        store.close()


def graph_client(h: Harness) -> GraphMailbox:
    """A replica's own Graph client on the shared Graph emulator."""
    return GraphMailbox(
        StaticTokenCredential(TOKEN),
        "http://127.0.0.1/v1.0",
        transport=httpx.ASGITransport(app=create_app(h.tenant)),
        retry=RetryPolicy.fast(),
    )


def replica(h: Harness, name: str, mailbox: Any, store: Any) -> InboundService:
    service = InboundService(
        mailbox, in_process_client(h.ngdp), store, h.settings, claim_owner=name, claim_s=60.0
    )
    service.memos.claim_chunk = CHUNK
    return service


class FirstWriteWaits:
    """A replica's Graph client whose first message waits for ``gate``: the other replica delivers before
    this one's first delivery completes, so both are seen delivering at the same time."""

    def __init__(self, inner: GraphMailbox, gate: asyncio.Event) -> None:
        self._inner = inner
        self._gate = gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def create_message(self, *args: Any, **kwargs: Any) -> Any:
        await self._gate.wait()
        return await self._inner.create_message(*args, **kwargs)


class FirstWriteSignals:
    """A replica's Graph client that sets ``done`` once it has written a message."""

    def __init__(self, inner: GraphMailbox, done: asyncio.Event) -> None:
        self._inner = inner
        self._done = done

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def create_message(self, *args: Any, **kwargs: Any) -> Any:
        created = await self._inner.create_message(*args, **kwargs)
        self._done.set()
        return created


class Died(BaseException):
    """The replica's process ended here (not an error any boundary of the gateway catches)."""


class DiesAfterWriting:
    """A replica's Graph client whose process dies right after Graph created the memo's message."""

    def __init__(self, inner: GraphMailbox) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def create_message(self, *args: Any, **kwargs: Any) -> Any:
        await self._inner.create_message(*args, **kwargs)
        raise Died


class ReleasesNothing:
    """A dead replica's store: whatever it held stays claimed (a killed process releases nothing)."""

    def __init__(self, inner: SqlStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def release_inbound(self, owner: str, memo_uuids: Any) -> None:
        return None


def markers(h: Harness) -> Counter[str]:
    """How many delivered messages carry each memo's marker, in every mailbox the memos may reach."""
    found: Counter[str] = Counter()
    for mailbox in (BYG, MAIN):
        for message in h.messages(mailbox):
            for prop in message.get("singleValueExtendedProperties", []):
                if prop["id"].endswith(f"Name {MEMO_PROPERTY}"):
                    found[prop["value"]] += 1
    return found


def events(store: SqlStore, action: str) -> Counter[str]:
    return Counter(row["subject"] for row in audit_rows(store, action=action))


async def test_two_replicas_deliver_side_by_side_and_each_memo_exactly_once(
    h: Harness, second_store: SqlStore
) -> None:
    uids = []
    for n in range(MEMOS):
        uid, xml = citizen_memo(label=f"Sag {n}", contact_point=CP_BYG if n % 2 else CP_UNKNOWN)
        h.ngdp.queue_inbound_memo(xml)
        uids.append(uid)
    b_delivered = asyncio.Event()
    async with graph_client(h) as graph_a, graph_client(h) as graph_b:
        a = replica(h, "replica-a", FirstWriteWaits(graph_a, b_delivered), h.store)
        b = replica(h, "replica-b", FirstWriteSignals(graph_b, b_delivered), second_store)
        pulled = InboundStats()
        await a.memos.pull(pulled)  # the ngdp:memos lease holder's part
        assert pulled.pulled == MEMOS
        stats_a, stats_b = await asyncio.gather(a.deliver_claimed(), b.deliver_claimed())

    assert stats_a.errors == [] and stats_b.errors == []
    # Both delivered (a's first claimed batch waited for b's first delivery), and together each memo once.
    assert stats_a.delivered >= CHUNK and stats_b.delivered >= CHUNK
    assert stats_a.delivered + stats_b.delivered == MEMOS
    assert stats_a.acknowledged + stats_b.acknowledged == MEMOS
    assert markers(h) == Counter(dict.fromkeys(uids, 1))
    assert events(h.store, "inbound.memo.delivered") == Counter(dict.fromkeys(uids, 1))
    assert events(h.store, "inbound.memo.acknowledged") == Counter(dict.fromkeys(uids, 1))
    for uid in uids:
        assert [r["receiptStatus"] for r in h.ngdp.inbound_receipts(uid)] == ["COMPLETED"]
        row = h.store.get_inbound(uid)
        assert row is not None and row.state is InboundState.DELETED
    assert h.ngdp.inbound_ids() == []


async def test_a_replica_that_dies_mid_delivery_leaves_its_memo_to_another_without_a_second_message(
    h: Harness, second_store: SqlStore
) -> None:
    uid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    h.ngdp.queue_inbound_memo(xml)
    async with graph_client(h) as graph_a, graph_client(h) as graph_b:
        dying = replica(h, "replica-a", DiesAfterWriting(graph_a), ReleasesNothing(h.store))
        await dying.memos.pull(InboundStats())
        with pytest.raises(Died):
            await dying.deliver_claimed()
        assert markers(h) == Counter({uid: 1})  # written, not yet marked delivered
        row = h.store.get_inbound(uid)
        assert row is not None and row.state is InboundState.RECEIVED

        survivor = replica(h, "replica-b", graph_b, second_store)
        idle = await survivor.deliver_claimed()  # the dead replica's claim has not expired yet
        assert (idle.delivered, idle.acknowledged) == (0, 0)
        with h.store.engine.begin() as conn:  # its claim expires (aged rather than waited for)
            conn.execute(
                update(inbound_memos)
                .where(inbound_memos.c.claimed_by == "replica-a")
                .values(claimed_until=datetime.now(UTC) - timedelta(seconds=1))
            )
        taken = await survivor.deliver_claimed()

    assert (taken.delivered, taken.acknowledged, taken.deleted, taken.errors) == (1, 1, 1, [])
    assert markers(h) == Counter({uid: 1})  # found by its marker, not written again
    assert [r["receiptStatus"] for r in h.ngdp.inbound_receipts(uid)] == ["COMPLETED"]
    row = h.store.get_inbound(uid)
    assert row is not None and row.state is InboundState.DELETED
