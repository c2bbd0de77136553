"""Issue 18 (cost of one mail): a page of receipt and category effects commits its completions together
(``EffectBook.run_pending``'s ``batch``), reads its jobs' outcomes and small jobs' rows in one transaction
each, and notes its receipts' first attempts in one. What that must not change, on SQLite and PostgreSQL:
a crash after the actions but before the page's commit repeats nothing in outcome (one receipt mail per
letter, the right category, no second write); an updated receipt still waits for the receipt before it,
also when that one's completion is not committed yet; an action that fails leaves its effect planned while
the page's others complete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from graph_dpg.adapters.store.sql import SqlStore
from graph_dpg.core.errors import TransientError
from graph_dpg.ports.store import EffectState, JobState
from graph_dpg.services.effects import EffectKey
from graph_dpg.services.outbound import CycleStats, OutboundService
from tests.store_rows import audit_rows

from .harness import CITIZEN, MAILBOX, Harness

GW = "ngdp.digital-post.dk"
SENT = "Digital Post: Sendt"


async def finish_without_effects(h: Harness, n: int) -> list[str]:
    """``n`` letters sent and their jobs DONE, their receipts and categories planned and not yet run."""
    mids = [h.send(f"Afgørelse {i}", [f"{CITIZEN}@29189846.{GW}"]) for i in range(n)]
    mb = h.service.settings.mailbox(MAILBOX)
    assert mb is not None and await h.service.poll(mb) == n
    await h.service.process_jobs({MAILBOX.lower()}, CycleStats())
    assert len(h.store.jobs_in_state([JobState.DONE])) == n
    return mids


class Counting:
    """The real store, counting the page's batched calls; ``after_rows`` runs once after the page's rows
    are read (a business receipt recorded between that read and the effects' runs)."""

    def __init__(self, inner: SqlStore) -> None:
        self.inner = inner
        self.calls: list[str] = []
        self.after_rows: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def complete_effects(self, completions: Sequence[Any]) -> set[str]:
        self.calls.append("complete_effects")
        return self.inner.complete_effects(completions)

    def complete_effect(self, key: str, result: Any = None, **kw: Any) -> bool:
        self.calls.append("complete_effect")
        return self.inner.complete_effect(key, result, **kw)

    def outbox_of_jobs(self, job_ids: Any) -> Any:
        found = self.inner.outbox_of_jobs(job_ids)
        step, self.after_rows = self.after_rows, None
        if step is not None:
            step()
        return found


class FailingMail:
    """The real mailbox, but the writes named in ``fail`` raise a transient error (once each)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.fail_categories: set[str] = set()  # message ids
        self.fail_create = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def set_categories(self, mailbox: str, message_id: str, categories: Sequence[str]) -> None:
        if message_id in self.fail_categories:
            self.fail_categories.discard(message_id)
            raise TransientError("injected 503", service="graph", status=503)
        await self.inner.set_categories(mailbox, message_id, categories)

    async def create_message(self, *args: Any, **kw: Any) -> str:
        if self.fail_create:
            self.fail_create = False
            raise TransientError("injected 503", service="graph", status=503)
        result: str = await self.inner.create_message(*args, **kw)
        return result


def service_with(h: Harness, store: Any = None, mail: Any = None) -> OutboundService:
    return OutboundService(mail or h.mailbox, h.service.ngdp, store or h.store, h.service.settings)


async def test_a_crash_before_the_pages_completions_are_committed_repeats_nothing_in_outcome(
    h: Harness,
) -> None:
    mids = await finish_without_effects(h, 3)

    def dies(completions: Any) -> set[str]:
        raise SystemExit("killed after the page's actions, before their completions were committed")

    h.store.complete_effects = dies  # type: ignore[method-assign]
    with pytest.raises(SystemExit, match="killed"):
        await h.service.run_effects()
    del h.store.complete_effects
    # Every action was done (mail created, category shown), none recorded as done.
    assert len(h.receipts()) == 3 and [h.categories(m) for m in mids] == [[SENT]] * 3
    assert len(h.store.pending_effects()) == 6
    creates = h.tenant.count_requests(mailbox=MAILBOX, method="POST", endpoint="messages.create")
    patches = h.tenant.count_requests(mailbox=MAILBOX, method="PATCH")

    assert await h.service.run_effects() == 6  # the restart: each action finds its earlier result
    assert h.tenant.count_requests(mailbox=MAILBOX, method="POST", endpoint="messages.create") == creates
    assert h.tenant.count_requests(mailbox=MAILBOX, method="PATCH") == patches
    assert len(h.receipts()) == 3 and [h.categories(m) for m in mids] == [[SENT]] * 3
    assert h.store.pending_effects() == []
    for job in h.store.jobs_in_state([JobState.DONE]):
        receipt = h.store.get_effect(str(EffectKey.receipt(job.id)))
        assert receipt is not None and receipt.state is EffectState.DONE
        assert receipt.result is not None and receipt.result.get("reused") is True
    # One audit record per receipt mail, written with the completion that finally committed.
    written = audit_rows(h.store, action="outbound.receipt.written")
    assert len(written) == 3 and all(w["details"]["reused"] is True for w in written)


async def test_a_page_commits_its_completions_together_and_reads_its_jobs_once(h: Harness) -> None:
    await finish_without_effects(h, 3)
    store = Counting(h.store)
    service = service_with(h, store=store)
    assert await service.run_effects() == 6
    assert store.calls == ["complete_effects"]
    assert len(h.receipts()) == 3 and h.store.pending_effects() == []
    # The first attempts were noted for the page, so no receipt looked for an earlier copy.
    assert h.tenant.count_requests(mailbox=MAILBOX, method="GET", endpoint="messages.list") == 0


async def test_an_updated_receipt_in_the_same_page_follows_its_first_receipt(h: Harness) -> None:
    """The first receipt's completion is still held back when the update runs: the update's read of it
    commits it first, so the update sees it DONE, with what it reported, and is written in the same run."""
    [mid] = await finish_without_effects(h, 1)
    [job] = h.store.jobs_in_state([JobState.DONE])
    update = EffectKey.receipt_update(job.id, 1)
    h.store.plan_effect(str(update), {"job": job.id, "kind": "update"}, MAILBOX)
    store = Counting(h.store)

    def refusal_arrives() -> None:
        # After the page read the job's rows: the first receipt shows the letter accepted, the update
        # (which reads the rows itself) the refusal.
        [row] = h.store.list_outbox(job.id)
        h.store.record_receipt(
            f"late-{row.message_uuid}",
            {"messageUUID": row.message_uuid, "receiptStatus": "INVALID", "transmissionId": "t"},
        )

    store.after_rows = refusal_arrives
    assert await service_with(h, store=store).run_effects() == 3
    assert len(h.receipts()) == 2  # the first receipt, then its update
    first = h.store.get_effect(str(EffectKey.receipt(job.id)))
    written = h.store.get_effect(str(update))
    assert first is not None and first.state is EffectState.DONE and first.result is not None
    assert first.result["reported"] == []
    assert written is not None and written.state is EffectState.DONE and written.result is not None
    assert len(written.result["reported"]) == 1 and "message_id" in written.result
    assert h.categories(mid) == [SENT]  # its "failed" category is planned when the receipt is applied
    assert h.store.pending_effects() == []


async def test_an_updated_receipt_waits_while_its_first_receipt_fails(h: Harness) -> None:
    await finish_without_effects(h, 1)
    [job] = h.store.jobs_in_state([JobState.DONE])
    update = EffectKey.receipt_update(job.id, 1)
    h.store.plan_effect(str(update), {"job": job.id, "kind": "update"}, MAILBOX)
    mail = FailingMail(h.mailbox)
    mail.fail_create = True  # the first receipt's create fails (a 503)
    service = service_with(h, mail=mail)

    assert await service.run_effects() == 1  # the category only
    assert sorted(e.key for e in h.store.pending_effects()) == sorted(
        [str(EffectKey.receipt(job.id)), str(update)]
    )
    assert h.receipts() == []

    assert await service.run_effects() == 2
    assert len(h.receipts()) == 1  # the update had nothing new to tell
    done = h.store.get_effect(str(update))
    assert done is not None and done.state is EffectState.DONE and done.result is not None
    assert done.result.get("skipped") == "nothing changed"


async def test_a_failing_action_leaves_its_effect_planned_while_the_others_complete(h: Harness) -> None:
    mids = await finish_without_effects(h, 3)
    mail = FailingMail(h.mailbox)
    mail.fail_categories = {mids[1]}
    store = Counting(h.store)
    service = service_with(h, store=store, mail=mail)

    assert await service.run_effects() == 5
    assert store.calls == ["complete_effects"]
    assert [h.categories(m) for m in mids] == [[SENT], [], [SENT]]
    [left] = h.store.pending_effects()
    assert left.key.startswith("categories:") and left.payload["category"] == "sent"
    assert len(h.receipts()) == 3

    assert await service.run_effects() == 1
    assert [h.categories(m) for m in mids] == [[SENT]] * 3
    assert len(h.receipts()) == 3 and h.store.pending_effects() == []
