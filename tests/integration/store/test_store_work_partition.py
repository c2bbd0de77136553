"""Issue 18 on both databases (SQLite and PostgreSQL): the filters the partitioned work reads with.

Effects are read by the mailboxes whose leases a replica holds (``effects.mailbox``, migration 0010) and
outbound jobs by mailbox in SQL, so one mailbox's backlog never hides another's single letter. Recorded
business receipts are claimed in batches by any replica (``receipts.claimed_until``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from graph_dpg.adapters.store import SqlStore
from graph_dpg.adapters.store.schema import receipts
from graph_dpg.ports.store import JobState, OutboundJob


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
