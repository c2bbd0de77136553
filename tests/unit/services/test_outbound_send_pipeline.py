"""Issue 18, the send pipeline of one job in fewer store transactions: which store calls one letter costs
from the poll to DONE, and the crash points the fused steps moved (``create_jobs``, ``claim_pending``,
``finish_sending``; the store side is in tests/integration/store/test_store_send_pipeline.py).

The calls are counted on the in-memory fake (each of its methods is one transaction of the SQL store);
``bench/cost_bench.py`` measures the same on SQLite."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import graph_dpg.services.outbound as outbound
from graph_dpg.core.errors import StoreError
from graph_dpg.ports.store import JobState, OutboxState
from graph_dpg.services.outbound import OutboundService, job_id_for
from tests.fakes import FakeStore
from tests.unit.services.test_outbound_edges import CITIZEN, CITIZEN2, MAILBOX, Rig, rig

CITIZEN3 = "0303903456"


class CountingStore(FakeStore):
    """The fake store, counting its calls by method (every method asks ``_maybe_fail`` first)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def _maybe_fail(self, method: str) -> None:
        self.calls[method] += 1
        super()._maybe_fail(method)


class Crash(BaseException):
    """The process dies here: nothing catches it (not an ``Exception``)."""


def on(r: Rig, store: FakeStore) -> OutboundService:
    return OutboundService(r.mail, r.ngdp, store, r.service.settings)


def possibly_sent_flags(r: Rig) -> list[tuple[str, bool]]:
    """Wrap the fake NgDP's send so each call's ``possibly_sent`` is kept, in order."""
    seen: list[tuple[str, bool]] = []
    send = r.ngdp.send_memo

    async def recording(message_uuid: str, xml: bytes, *, possibly_sent: bool = False) -> Any:
        seen.append((message_uuid, possibly_sent))
        return await send(message_uuid, xml, possibly_sent=possibly_sent)

    r.ngdp.send_memo = recording  # type: ignore[method-assign]
    return seen


async def test_a_letters_job_pipeline_costs_three_store_calls_from_poll_to_done() -> None:
    r = rig()
    store = CountingStore()
    service = on(r, store)
    for subject in ("Brev 1", "Brev 2", "Brev 3"):
        r.send(subject, CITIZEN)
    await service.poll(service.settings.mailboxes[0])
    assert store.calls["create_jobs"] == 1  # the round's three jobs together
    store.calls.clear()
    await service.process_jobs({MAILBOX}, outbound.CycleStats())
    # The plan and the first page's claim are one transaction (plan_and_claim): no claim_pending left.
    per_job = {"plan_and_claim": 3, "finish_sending": 3}
    assert {k: store.calls[k] for k in per_job} == per_job
    assert store.calls["jobs_in_state"] == 1  # every unfinished state in one read: all three ended DONE
    for gone in ("create_job", "plan_job", "claim_pending", "cancellation_requested", "next_pending"):
        assert store.calls[gone] == 0, gone
    for gone in ("mark_in_flight",):
        assert store.calls[gone] == 0, gone
    for gone in ("record_send_results", "job_statuses", "set_job_state"):
        assert store.calls[gone] == 0, gone
    assert all(j.state is JobState.DONE for j in store.jobs.values())
    assert len(r.ngdp.accepted) == 3


async def test_a_crash_after_the_claim_before_the_post_resends_with_possibly_sent() -> None:
    """The first page is claimed with the plan (plan_and_claim): the crash is after that commit."""
    r = rig()
    store = CountingStore()
    mid = r.send("Brev", CITIZEN)
    job_id = job_id_for(MAILBOX, mid)
    real_send = r.ngdp.send_memo

    async def dies(message_uuid: str, xml: bytes, *, possibly_sent: bool = False) -> Any:
        raise Crash  # the claim (in-flight mark) is committed; the POST never went out

    r.ngdp.send_memo = dies  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await on(r, store).run_once()
    [row] = store.list_outbox(job_id)
    assert row.state is OutboxState.PENDING and row.in_flight_at is not None and row.attempts == 0
    assert store.jobs[job_id].state is JobState.SENDING and not r.ngdp.accepted
    assert (store.calls["plan_and_claim"], store.calls["claim_pending"]) == (1, 0)

    r.ngdp.send_memo = real_send  # type: ignore[method-assign]
    seen = possibly_sent_flags(r)
    stats = await on(r, store).run_once()  # the restart
    assert seen == [(row.message_uuid, True)]  # NgDP may have it: a 400 is then settled, not a refusal
    assert (stats.sent, stats.jobs_done, stats.errors) == (1, 1, [])
    assert r.receipts() == ["DPG kvittering: Brev"]


async def test_a_crash_after_the_done_transaction_loses_no_receipt() -> None:
    r = rig()

    class DiesAfterDone(FakeStore):
        def finish_sending(self, *args: Any, **kw: Any) -> Any:
            result = super().finish_sending(*args, **kw)
            if result[1]:
                raise Crash  # committed: DONE with its receipt and category planned
            return result

    store = DiesAfterDone()
    mid = r.send("Brev", CITIZEN, CITIZEN2)
    with pytest.raises(Crash):
        await on(r, store).run_once()
    job_id = job_id_for(MAILBOX, mid)
    assert store.jobs[job_id].state is JobState.DONE
    assert {e.key for e in store.pending_effects()} >= {f"receipt:{job_id}"}
    assert r.receipts() == []

    restarted = on(r, store)  # the same store, a new process
    stats = await restarted.run_once()
    assert stats.sent == 0 and len(r.ngdp.send_attempts) == 2  # nothing sent again
    assert r.receipts() == ["DPG kvittering: Brev"]
    assert r.categories(mid) == ["Digital Post: Sendt"]
    assert store.pending_effects() == []
    await restarted.run_once()
    assert r.receipts() == ["DPG kvittering: Brev"]  # once


async def test_a_cancellation_between_two_pages_stops_before_the_next_mark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outbound, "_SEND_BATCH", 2)
    r = rig()
    store = FakeStore()
    mid = r.send("Annulleret", CITIZEN, CITIZEN2, CITIZEN3)
    job_id = job_id_for(MAILBOX, mid)
    send = r.ngdp.send_memo

    async def cancels(message_uuid: str, xml: bytes, *, possibly_sent: bool = False) -> Any:
        store.cancelled.add(job_id)  # an operator cancels while the first page is being sent
        return await send(message_uuid, xml, possibly_sent=possibly_sent)

    r.ngdp.send_memo = cancels  # type: ignore[method-assign]
    stats = await on(r, store).run_once()
    assert len(r.ngdp.accepted) == 2 and (stats.sent, stats.send_failed) == (2, 1)
    rows = store.list_outbox(job_id)
    assert [e.state for e in rows] == [OutboxState.ACCEPTED, OutboxState.ACCEPTED, OutboxState.FAILED]
    assert rows[2].in_flight_at is None  # the cancelled page was never marked: nothing may have gone out
    assert "annulleret" in (rows[2].last_error or "")
    assert store.jobs[job_id].state is JobState.DONE
    assert r.receipts() == ["DPG kvittering med fejl: Annulleret"]  # the cancelled line says so


async def test_a_job_left_unfinished_by_its_pass_is_read_again_by_the_later_passes() -> None:
    """The one read of every unfinished state stands for the three only while each job the passes
    advance ends finished; a job left sending (here: the database failed at its end) is read again by
    the sending pass and finished in the same call, as when each state had its own read."""
    r = rig()
    store = CountingStore()
    service = on(r, store)
    mid = r.send("Brev", CITIZEN, CITIZEN2)
    await service.poll(service.settings.mailboxes[0])
    store.fail_next("finish_sending", StoreError("finish sending: database is locked"))
    stats = outbound.CycleStats()
    await service.process_jobs({MAILBOX}, stats)
    assert store.calls["jobs_in_state"] == 3  # the snapshot, then planned and sending read again
    assert stats.jobs_done == 1 and store.jobs[job_id_for(MAILBOX, mid)].state is JobState.DONE
    assert len(r.ngdp.accepted) == 2 and len(r.ngdp.send_attempts) == 4  # re-sent: NgDP has them


async def test_a_full_page_of_unfinished_jobs_falls_back_to_one_read_per_state() -> None:
    r = rig()
    store = CountingStore()
    service = on(r, store)
    service.job_page = 2
    for subject in ("Brev 1", "Brev 2", "Brev 3"):
        r.send(subject, CITIZEN)
    await service.poll(service.settings.mailboxes[0])
    stats = outbound.CycleStats()
    await service.process_jobs({MAILBOX}, stats)
    # The snapshot may not hold every unfinished job: each state is read as before (a page of each).
    assert store.calls["jobs_in_state"] == 4 and stats.jobs_done == 2
    await service.process_jobs({MAILBOX}, stats)
    assert stats.jobs_done == 3


async def test_a_job_cancelled_before_its_plan_is_planned_but_nothing_is_marked_or_sent() -> None:
    r = rig()
    store = CountingStore()
    service = on(r, store)
    mid = r.send("Annulleret", CITIZEN, CITIZEN2)
    job_id = job_id_for(MAILBOX, mid)
    await service.poll(service.settings.mailboxes[0])
    store.cancelled.add(job_id)  # an operator cancels the new job before it is planned
    stats = outbound.CycleStats()
    await service.process_jobs({MAILBOX}, stats)
    assert store.calls["plan_and_claim"] == 1 and store.calls["claim_pending"] == 0
    assert r.ngdp.send_attempts == [] and stats.send_failed == 2
    rows = store.list_outbox(job_id)
    assert all(e.in_flight_at is None and e.state is OutboxState.FAILED for e in rows)  # never marked
    assert store.jobs[job_id].state is JobState.DONE


async def test_a_job_of_many_pages_is_sent_whole_once_from_the_page_claimed_with_its_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outbound, "_SEND_BATCH", 2)
    r = rig()
    store = CountingStore()
    mid = r.send("Mange", CITIZEN, CITIZEN2, CITIZEN3)
    job_id = job_id_for(MAILBOX, mid)
    seen = possibly_sent_flags(r)
    stats = await on(r, store).run_once()
    rows = store.list_outbox(job_id)
    # The first page came with the plan, the second (short: no further read) by claim_pending.
    assert store.calls["plan_and_claim"] == 1 and store.calls["claim_pending"] == 1
    assert sorted(u for u, _ in seen) == sorted(e.message_uuid for e in rows)  # each once
    assert not any(flag for _, flag in seen)  # a first send each: none possibly sent before
    assert all(e.state is OutboxState.ACCEPTED for e in rows) and stats.sent == 3
    assert store.jobs[job_id].state is JobState.DONE
