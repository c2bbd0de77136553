"""The state category converges whatever order the job's final state, the effects round and business receipts
come in. Each test forces one interleaving deterministically (a store that runs a step at the exact moment
between "final category planned" and "job DONE"), on SQLite and PostgreSQL.

The race these pin down: the final category was computed when planned, just before the job was set DONE; a
business receipt applied in between was recorded but ignored (the job was not finished yet), and the
original kept "Sendt" for good.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import update

from graph_dpg.adapters.store import schema as t
from graph_dpg.adapters.store.sql import SqlStore
from graph_dpg.ports.store import AuditEntry, EffectState, JobState
from graph_dpg.services.effects import EffectKey
from graph_dpg.services.outbound import CycleStats, OutboundService
from tests.store_rows import audit_rows

from .harness import CITIZEN, MAILBOX, Harness

GW = "ngdp.digital-post.dk"


class BeforeDone:
    """The real store, but ``step`` runs once right before a job is set DONE (its final category and
    receipt mail are planned in that transaction: issue 18). A send pass sets it DONE in the transaction
    that records its last outcomes and reads the counts its category comes from (``finish_sending``): the
    step runs right before that transaction, the last moment another transaction can come in between."""

    def __init__(self, inner: SqlStore, step: Callable[[str], None]) -> None:
        self.inner = inner
        self.step: Callable[[str], None] | None = step

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def set_job_state(
        self,
        job_id: str,
        state: JobState,
        error: str | None = None,
        *,
        audit: AuditEntry | None = None,
        **kw: Any,
    ) -> None:
        if state is JobState.DONE and self.step is not None:
            step, self.step = self.step, None
            step(job_id)
        self.inner.set_job_state(job_id, state, error, audit=audit, **kw)

    def finish_sending(self, job_id: str, outcomes: Any, finish: Any) -> Any:
        if self.step is not None:
            step, self.step = self.step, None
            step(job_id)
        return self.inner.finish_sending(job_id, outcomes, finish)


def record_receipt(store: SqlStore, job_id: str, status: str) -> None:
    """What pulling a business receipt records (the emulator's own receipt comes later, if at all)."""
    [row] = store.list_outbox(job_id)
    store.record_receipt(
        f"race-{row.message_uuid}",
        {"messageUUID": row.message_uuid, "receiptStatus": status, "transmissionId": row.transmission_id},
    )


async def test_a_receipt_applied_between_planning_and_done_still_sets_the_final_category(h: Harness) -> None:
    mid = h.send("Afgørelse", [f"{CITIZEN}@29189846.{GW}"])
    applied: list[int] = []
    loop = asyncio.get_running_loop()

    def receipt_arrives(job_id: str) -> None:
        # In the worker thread of the service's store call; the receipts job runs on the event loop
        # meanwhile (free: the service awaits that call), as the runtime's receipts job would.
        record_receipt(h.store, job_id, "COMPLETED")
        receipts_job = asyncio.run_coroutine_threadsafe(h.service.apply_business_receipts(), loop)
        applied.append(receipts_job.result(timeout=60))

    racing = OutboundService(
        h.mailbox, h.service.ngdp, BeforeDone(h.store, receipt_arrives), h.service.settings
    )
    await racing.run_once()

    assert applied == [1]  # the receipt was recorded and processed before the job was DONE
    assert h.categories(mid) == ["Digital Post: Kvitteret"]  # not "Sendt" for good
    assert h.store.pending_effects(prefix="categories:") == []


async def test_an_effects_round_between_planning_and_done_waits_for_the_final_state(h: Harness) -> None:
    """Another replica writes effects while this one dies between computing the final category and DONE;
    the business receipt (INVALID) is applied before the restart finishes the job."""
    mid = h.send("Afgørelse", [f"{CITIZEN}@29189846.{GW}"])

    def dies(job_id: str) -> None:
        # A process that dies is no exception the service could catch: SystemExit passes every boundary.
        raise SystemExit("killed between planning the final category and recording DONE")

    dying = OutboundService(h.mailbox, h.service.ngdp, BeforeDone(h.store, dies), h.service.settings)
    with pytest.raises(SystemExit, match="killed"):
        await dying.run_once()
    [job] = h.store.jobs_in_state([JobState.SENDING])

    await h.service.run_effects()  # the other replica's effects round
    assert h.categories(mid) == ["Digital Post: I kø"]
    # The final category is planned with the final state, in its transaction (issue 18): not before.
    assert h.store.pending_effects(prefix="categories:") == []

    record_receipt(h.store, job.id, "INVALID")
    assert await h.service.apply_business_receipts() == 1

    await h.service.run_once()  # the restart: the job is finished, its effects written
    assert h.categories(mid) == ["Digital Post: Fejl"]
    assert h.store.pending_effects(prefix="categories:") == []


async def test_receipts_after_done_move_the_category_on(h: Harness) -> None:
    """The ordinary order, for contrast: DONE, category written, then receipts."""
    mid = h.send("Afgørelse", [f"{CITIZEN}@29189846.{GW}"])
    await h.service.run_once()
    assert h.categories(mid) == ["Digital Post: Sendt"]
    [job] = h.store.jobs_in_state([JobState.DONE])
    record_receipt(h.store, job.id, "COMPLETED")
    assert await h.service.apply_business_receipts() == 1
    await h.service.run_effects()
    assert h.categories(mid) == ["Digital Post: Kvitteret"]


class DiesAfterMarking:
    """The real store, but the process dies right after the receipts are marked processed (the
    crash-safety run's SIGKILL found this window when each receipt was marked on its own)."""

    def __init__(self, inner: SqlStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def mark_receipts_processed(self, receipt_ids: Any, **kw: Any) -> None:
        self.inner.mark_receipts_processed(receipt_ids, **kw)
        raise SystemExit("killed right after marking the receipts processed")


class DiesBeforeMarking(DiesAfterMarking):
    def mark_receipts_processed(self, receipt_ids: Any, **kw: Any) -> None:
        raise SystemExit("killed right before marking the receipts processed")


async def test_a_crash_after_marking_receipts_processed_loses_no_category(h: Harness) -> None:
    """What the receipts change is planned in the transaction that marks them processed (issue 18)."""
    mids = [h.send(f"Afgørelse {i}", [f"{CITIZEN}@29189846.{GW}"]) for i in range(3)]
    await h.service.run_once()
    jobs = h.store.jobs_in_state([JobState.DONE])
    assert len(jobs) == 3 and all(h.categories(mid) == ["Digital Post: Sendt"] for mid in mids)
    for job in jobs:
        record_receipt(h.store, job.id, "COMPLETED")

    dying = OutboundService(h.mailbox, h.service.ngdp, DiesAfterMarking(h.store), h.service.settings)
    with pytest.raises(SystemExit, match="killed"):
        await dying.apply_business_receipts()

    assert h.store.unprocessed_receipts() == []  # all three marked, with their categories planned
    assert await h.service.apply_business_receipts() == 0
    await h.service.run_effects()
    assert [h.categories(mid) for mid in mids] == [["Digital Post: Kvitteret"]] * 3


async def test_a_crash_before_marking_receipts_processed_applies_them_again_once(h: Harness) -> None:
    mids = [h.send(f"Afgørelse {i}", [f"{CITIZEN}@29189846.{GW}"]) for i in range(3)]
    await h.service.run_once()
    jobs = h.store.jobs_in_state([JobState.DONE])
    for job in jobs:
        record_receipt(h.store, job.id, "COMPLETED")

    dying = OutboundService(h.mailbox, h.service.ngdp, DiesBeforeMarking(h.store), h.service.settings)
    with pytest.raises(SystemExit, match="killed"):
        await dying.apply_business_receipts()

    assert len(h.store.unprocessed_receipts()) == 3  # nothing marked, nothing planned
    assert h.store.pending_effects(prefix="categories:") == []
    assert await h.service.apply_business_receipts() == 3  # the restart applies them once
    await h.service.run_effects()
    assert [h.categories(mid) for mid in mids] == [["Digital Post: Kvitteret"]] * 3
    assert h.store.unprocessed_receipts() == []


async def test_a_category_already_shown_is_read_but_not_written_again(h: Harness) -> None:
    """Issue 18 (cost of one mail): a category effect whose state the original already shows (a replay, or
    a later effect of the job that finds its category shown by an earlier one) reads the categories and
    writes nothing: PATCH replaces the whole list (api-reference/v1.0/api/message-update.md), so an equal
    list is a round trip that changes nothing."""
    mid = h.send("Afgørelse", [f"{CITIZEN}@29189846.{GW}"])
    await h.mailbox.set_categories(MAILBOX, mid, ["Min egen"])  # the case worker's own category
    await h.cycle()
    assert h.categories(mid) == ["Min egen", "Digital Post: Sendt"]
    [job] = h.store.jobs_in_state([JobState.DONE])
    # Planned again under another key (as a business receipt applied to the finished job would): the job's
    # category is still "sent", which the original shows.
    key = str(EffectKey.category(job.id, "receipted"))
    h.store.plan_effect(key, {"job": job.id, "category": "sent"}, MAILBOX)
    patches = h.tenant.count_requests(mailbox=MAILBOX, method="PATCH")
    reads = h.tenant.count_requests(mailbox=MAILBOX, method="GET", endpoint="messages.get")

    assert await h.service.run_effects() == 1
    assert h.tenant.count_requests(mailbox=MAILBOX, method="PATCH") == patches
    assert h.tenant.count_requests(mailbox=MAILBOX, method="GET", endpoint="messages.get") == reads + 1
    assert h.categories(mid) == ["Min egen", "Digital Post: Sendt"]


async def test_a_receipts_first_noted_attempt_creates_without_looking_and_a_retry_looks(h: Harness) -> None:
    """Issue 18: the receipt mail's first attempt is noted in the store before anything is written, so it has
    no earlier copy to look for (no $filter on the marker property, one Graph round trip less per letter);
    a retry after a crash between the create and the completion finds the copy by its marker and does not
    create a second one (services.effects.Marker; extended-properties-overview.md for the $filter)."""
    h.send("Afgørelse", [f"{CITIZEN}@29189846.{GW}"])
    await h.service.run_once()
    assert len(h.receipts()) == 1
    assert h.tenant.count_requests(mailbox=MAILBOX, method="GET", endpoint="messages.list") == 0
    [job] = h.store.jobs_in_state([JobState.DONE])
    done = h.store.get_effect(str(EffectKey.receipt(job.id)))
    assert done is not None and done.state is EffectState.DONE

    # The crash: a second job's receipt was noted and created, and the process died before completing it
    # (its page's completions are committed together: the crash is at that commit).
    h.send("Afgørelse 2", [f"{CITIZEN}@29189846.{GW}"])
    crashed: list[str] = []

    def crash_on_receipt(completions: Any) -> set[str]:
        crashed.extend(key for key, _, _ in completions if key.startswith("receipt:"))
        raise SystemExit("killed between the create and the completion")

    h.store.complete_effects = crash_on_receipt  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        await h.service.run_once()
    del h.store.complete_effects
    assert len(h.receipts()) == 2 and len(crashed) == 1
    before = h.tenant.count_requests(mailbox=MAILBOX, method="GET", endpoint="messages.list")

    await h.service.run_effects()  # the retry (as after a restart): the attempt was noted, so it looks first

    assert h.tenant.count_requests(mailbox=MAILBOX, method="GET", endpoint="messages.list") == before + 1
    assert len(h.receipts()) == 2  # found by its marker, not created again
    effect = h.store.get_effect(crashed[0])
    assert effect is not None and effect.state is EffectState.DONE and effect.result
    assert effect.result.get("reused") is True
    # The audit record rides with the completion (issue 18): one per receipt mail, the crash included.
    written = audit_rows(h.store, action="outbound.receipt.written")
    assert len(written) == 2 and written[1]["details"]["reused"] is True


async def test_a_receipt_planned_before_attempts_were_noted_is_looked_for(h: Harness) -> None:
    """Issue 18: a receipt effect planned by an earlier version (no notes_attempts in its payload) may have
    been attempted without a note: it always looks for an earlier copy first."""
    h.send("Afgørelse", [f"{CITIZEN}@29189846.{GW}"])
    mb = h.service.settings.mailbox(MAILBOX)
    assert mb is not None and await h.service.poll(mb) == 1
    await h.service.process_jobs({MAILBOX.lower()}, CycleStats())
    [job] = h.store.jobs_in_state([JobState.DONE])
    key = str(EffectKey.receipt(job.id))
    planned = h.store.get_effect(key)
    assert planned is not None and planned.payload.get("notes_attempts") is True
    # As an earlier version planned it: without notes_attempts.
    with h.store.engine.begin() as conn:
        conn.execute(
            update(t.effects)
            .where(t.effects.c.key == key)
            .values(payload={k: v for k, v in planned.payload.items() if k != "notes_attempts"})
        )
    await h.service.run_effects()
    assert len(h.receipts()) == 1
    assert h.tenant.count_requests(mailbox=MAILBOX, method="GET", endpoint="messages.list") == 1
