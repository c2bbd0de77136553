"""Issue 18 on both databases (SQLite and PostgreSQL): the filters the partitioned work reads with.

Effects are read by the mailboxes whose leases a replica holds (``effects.mailbox``, migration 0010) and
outbound jobs by mailbox in SQL, so one mailbox's backlog never hides another's single letter."""

from __future__ import annotations

from graph_dpg.adapters.store import SqlStore
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
    store.complete_effect("categories:a1:sent", {"ok": True})
    assert store.pending_effects(mailboxes=["a@kommune.dk"]) == []

    for n in range(4):
        store.create_job(_job(f"busy-{n}", "busy@kommune.dk"))
    store.create_job(_job("single", "Quiet@kommune.dk"))
    page = store.jobs_in_state([JobState.NEW], limit=2, mailboxes={"quiet@kommune.dk"})
    assert [j.id for j in page] == ["single"]
