"""Issue 18 on both databases (SQLite and PostgreSQL): the filters the partitioned work reads with.

Effects are read by the mailboxes whose leases a replica holds (``effects.mailbox``, migration 0010) and
outbound jobs by mailbox in SQL, so one mailbox's backlog never hides another's single letter. Recorded
business receipts (``receipts.claimed_until``) and stored inbound memos (``inbound_memos.claimed_until``,
migration 0011) are claimed in batches by any replica."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from graph_dpg.adapters.store import SqlStore
from graph_dpg.adapters.store.schema import inbound_memos, receipts
from graph_dpg.core.errors import StoreError
from graph_dpg.ports.store import InboundSource, InboundState, JobState, OutboundJob


def _job(job_id: str, mailbox: str) -> OutboundJob:
    return OutboundJob(job_id, mailbox, f"AAMk-{job_id}", f"<{job_id}@kommune.dk>", "Brev", "digitalpost")


def test_effects_by_owner_and_jobs_by_mailbox(store: SqlStore) -> None:
    store.plan_effect("categories:a1:sent", {"job": "a1"}, "A@kommune.dk")
    store.plan_effect("categories:b1:sent", {"job": "b1"}, "b@kommune.dk")
    store.plan_effect("categories:old:sent", {"job": "old"})
    owned = store.pending_effects(prefix="categories:", mailboxes=["a@kommune.dk"])
    assert [e.key for e in owned] == ["categories:a1:sent"]
    mixed = store.pending_effects(prefix="categories:", mailboxes=["b@kommune.dk"], unowned=True)
    assert sorted(e.key for e in mixed) == ["categories:b1:sent", "categories:old:sent"]
    assert [e.key for e in store.pending_effects(unowned=True)] == ["categories:old:sent"]
    removed = store.pending_effects(unowned=True, known=["a@kommune.dk"])  # b no longer configured
    assert sorted(e.key for e in removed) == ["categories:b1:sent", "categories:old:sent"]
    store.complete_effect("categories:a1:sent", {"ok": True})
    assert store.pending_effects(mailboxes=["a@kommune.dk"]) == []

    for n in range(4):
        store.create_job(_job(f"busy-{n}", "busy@kommune.dk"))
    store.create_job(_job("single", "Quiet@kommune.dk"))
    page = store.jobs_in_state([JobState.NEW], limit=2, mailboxes={"quiet@kommune.dk"})
    assert [j.id for j in page] == ["single"]


def _age_claims(store: SqlStore, owner: str) -> None:
    """``owner`` died an hour ago: its claims expired (rows aged rather than a sleep)."""
    past = datetime.now(UTC) - timedelta(hours=1)
    with store.engine.begin() as conn:
        conn.execute(update(receipts).where(receipts.c.claimed_by == owner).values(claimed_until=past))


def test_two_replicas_never_claim_the_same_receipt_and_a_dead_ones_batch_is_taken_over(
    store: SqlStore,
) -> None:
    for n in range(5):
        store.record_receipt(f"rc-{n}", {"receiptStatus": "COMPLETED"})
    first = [r.receipt_id for r in store.claim_receipts("r1", 60, limit=3)]
    second = [r.receipt_id for r in store.claim_receipts("r2", 60, limit=3)]
    assert first == ["rc-0", "rc-1", "rc-2"] and second == ["rc-3", "rc-4"]
    assert store.claim_receipts("r2", 60) == [] and store.claim_receipts("r1", 60) == []
    # r1 applies one receipt of its batch, then dies: nothing it left is lost, nothing done is redone.
    store.mark_receipt_processed("rc-0")
    assert store.claim_receipts("r3", 60) == []  # r1's claims still run
    _age_claims(store, "r1")
    assert [r.receipt_id for r in store.claim_receipts("r3", 60)] == ["rc-1", "rc-2"]


def test_a_row_another_replica_is_claiming_this_moment_is_skipped_not_waited_for(
    store: SqlStore,
) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SQLite has one writer: there is no concurrent claim to skip")
    store.record_receipt("rc-locked", {})
    store.record_receipt("rc-free", {})
    with store.engine.connect() as other:
        tx = other.begin()
        other.execute(
            select(receipts.c.receipt_id).where(receipts.c.receipt_id == "rc-locked").with_for_update()
        ).all()
        assert [r.receipt_id for r in store.claim_receipts("r1", 60)] == ["rc-free"]
        tx.rollback()
    assert [r.receipt_id for r in store.claim_receipts("r2", 60)] == ["rc-locked"]


def _age_inbound_claims(store: SqlStore, owner: str) -> None:
    """``owner`` died an hour ago: its memo claims expired (rows aged rather than a sleep)."""
    past = datetime.now(UTC) - timedelta(hours=1)
    with store.engine.begin() as conn:
        conn.execute(
            update(inbound_memos).where(inbound_memos.c.claimed_by == owner).values(claimed_until=past)
        )


def test_two_replicas_never_claim_the_same_memo_and_a_dead_ones_memos_are_taken_over(
    store: SqlStore,
) -> None:
    for n in range(5):
        store.store_inbound_memo(f"m-{n}", InboundSource.PULL, b"<Memo/>")
    first = [m.memo_uuid for m in store.claim_inbound("r1", InboundState.RECEIVED, 60, limit=3)]
    second = [m.memo_uuid for m in store.claim_inbound("r2", InboundState.RECEIVED, 60, limit=3)]
    assert first == ["m-0", "m-1", "m-2"] and second == ["m-3", "m-4"]
    assert store.claim_inbound("r3", InboundState.RECEIVED, 60) == []
    # r1 delivers m-0 and releases it: its next step is anyone's; r1 then dies holding m-1 and m-2.
    store.mark_delivered("m-0", "post@kommune.dk", "AAMk-0")
    assert store.claim_inbound("r3", InboundState.DELIVERED, 60) == []  # still r1's until released
    store.release_inbound("r1", ["m-0"])
    assert [m.memo_uuid for m in store.claim_inbound("r3", InboundState.DELIVERED, 60)] == ["m-0"]
    assert store.claim_inbound("r3", InboundState.RECEIVED, 60) == []  # r1's claims still run
    assert store.renew_inbound_claims("r1", ["m-1", "m-2", "m-3"], 60) == {"m-1", "m-2"}
    _age_inbound_claims(store, "r1")
    taken = [m.memo_uuid for m in store.claim_inbound("r3", InboundState.RECEIVED, 60)]
    assert taken == ["m-1", "m-2"]
    # r1 comes back: its claims are gone, it neither renews nor releases what r3 holds now.
    assert store.renew_inbound_claims("r1", ["m-1", "m-2"], 60) == set()
    store.release_inbound("r1", ["m-1", "m-2"])
    assert store.claim_inbound("r4", InboundState.RECEIVED, 60) == []


def test_an_expired_claim_nobody_took_is_still_its_holders_to_renew(store: SqlStore) -> None:
    store.store_inbound_memo("m-slow", InboundSource.PUSH, b"<Memo/>")
    assert [m.memo_uuid for m in store.claim_inbound("r1", InboundState.RECEIVED, 60)] == ["m-slow"]
    _age_inbound_claims(store, "r1")
    assert store.renew_inbound_claims("r1", ["m-slow"], 60) == {"m-slow"}
    assert store.claim_inbound("r2", InboundState.RECEIVED, 60) == []


def test_a_memo_claim_filters_by_source_and_a_state_change_keeps_the_claim(store: SqlStore) -> None:
    for memo, source in (("pulled", InboundSource.PULL), ("pushed", InboundSource.PUSH)):
        store.store_inbound_memo(memo, source, b"<Memo/>")
        store.mark_delivered(memo, "post@kommune.dk", f"AAMk-{memo}")
        store.mark_acknowledged(memo)
    claimed = store.claim_inbound("r1", InboundState.ACKNOWLEDGED, 60, source=InboundSource.PULL)
    assert [m.memo_uuid for m in claimed] == ["pulled"]
    assert claimed[0].source is InboundSource.PULL and claimed[0].state is InboundState.ACKNOWLEDGED
    store.mark_deleted("pulled")
    assert store.renew_inbound_claims("r1", ["pulled"], 60) == {"pulled"}
    assert store.claim_inbound("r1", InboundState.RECEIVED, 60, limit=0) == []


def test_a_memo_another_replica_is_claiming_this_moment_is_skipped_not_waited_for(
    store: SqlStore,
) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SQLite has one writer: there is no concurrent claim to skip")
    store.store_inbound_memo("m-locked", InboundSource.PULL, b"<Memo/>")
    store.store_inbound_memo("m-free", InboundSource.PULL, b"<Memo/>")
    with store.engine.connect() as other:
        tx = other.begin()
        other.execute(
            select(inbound_memos.c.memo_uuid).where(inbound_memos.c.memo_uuid == "m-locked").with_for_update()
        ).all()
        assert [m.memo_uuid for m in store.claim_inbound("r1", InboundState.RECEIVED, 60)] == ["m-free"]
        tx.rollback()
    assert [m.memo_uuid for m in store.claim_inbound("r2", InboundState.RECEIVED, 60)] == ["m-locked"]


def test_a_memo_state_change_given_its_holder_releases_the_claim_in_the_same_transaction(
    store: SqlStore,
) -> None:
    # Issue 18 (fewer transactions per memo): ``release=`` ends the holder's claim with the state change;
    # a claim another replica took since is kept, and a failed change (illegal transition) releases nothing.
    for memo in ("a", "b"):
        store.store_inbound_memo(memo, InboundSource.PULL, b"<Memo/>")
    assert [m.memo_uuid for m in store.claim_inbound("r1", InboundState.RECEIVED, 60)] == ["a", "b"]
    store.mark_delivered("a", "post@kommune.dk", "AAMk-a", release="r1")
    assert [m.memo_uuid for m in store.claim_inbound("r2", InboundState.DELIVERED, 60)] == ["a"]
    store.mark_deleted("a", release="r1")  # r2 holds it now: left alone
    assert store.renew_inbound_claims("r2", ["a"], 60) == {"a"}
    with pytest.raises(StoreError, match="illegal transition"):
        store.mark_acknowledged("b", release="r1")
    assert store.renew_inbound_claims("r1", ["b"], 60) == {"b"}  # still r1's
    store.mark_delivered("b", "post@kommune.dk", "AAMk-b", release="r1")
    with store.engine.begin() as conn:
        row = conn.execute(
            select(inbound_memos.c.claimed_by, inbound_memos.c.claimed_until).where(
                inbound_memos.c.memo_uuid == "b"
            )
        ).one()
    assert tuple(row) == (None, None)


def test_memos_and_effects_are_read_by_the_batch(store: SqlStore) -> None:
    ids = [f"m-{n:04d}" for n in range(1_200)]  # more than one IN list (500 keys each)
    for memo in ids[::100]:
        store.store_inbound_memo(memo, InboundSource.PULL, b"<Memo/>")
    known = store.get_inbound_many([*ids, "m-0000"])
    assert sorted(known) == ids[::100] and known["m-0100"].state is InboundState.RECEIVED
    assert store.get_inbound_many([]) == {}
    store.plan_effect("inbound:m-0000", {"mailbox": "post@kommune.dk"})
    store.complete_effect("inbound:m-0000", {"done": True})
    found = store.get_effects(["inbound:m-0000", "inbound-fallback:m-0000", *(f"x:{n}" for n in range(600))])
    assert list(found) == ["inbound:m-0000"] and found["inbound:m-0000"].result == {"done": True}
    assert store.get_effects([]) == {}
