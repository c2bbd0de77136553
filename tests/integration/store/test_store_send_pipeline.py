"""The send pipeline's fused store steps (issue 18, "cost of one mail"): ``create_jobs``, ``claim_pending``,
``plan_and_claim`` and ``finish_sending``, each one transaction doing what two or three did before, on the in-memory fake
and on SQLite and PostgreSQL (the same assertions: the fake must not drift from the SQL store)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graph_dpg.adapters.store import SqlStore
from graph_dpg.core.errors import StoreError
from graph_dpg.ports.store import (
    AuditEntry,
    EffectPlan,
    EffectState,
    JobFinish,
    JobState,
    JobStatuses,
    OutboundJob,
    OutboxState,
    PlannedMemo,
    SendOutcome,
)
from tests.fakes import FakeStore
from tests.store_rows import audit_rows

Store = Any  # FakeStore | SqlStore: the same port methods


@pytest.fixture
def store(port_store: Store) -> Store:
    return port_store


def job(job_id: str = "job-1", message_id: str = "AAMk-1") -> OutboundJob:
    return OutboundJob(
        id=job_id,
        mailbox="sag@kommune.dk",
        message_id=message_id,
        internet_message_id=f"<{message_id}@kommune.dk>",
        subject="Hej",
        channel="digitalpost",
    )


def memos(n: int) -> list[PlannedMemo]:
    return [
        PlannedMemo(str(uuid.uuid4()), "cpr", f"{i:010d}", None, b"<Message>%d</Message>" % i)
        for i in range(n)
    ]


def actions(store: Store) -> list[str]:
    if isinstance(store, FakeStore):
        return [e.action for e in store.audit_events]
    assert isinstance(store, SqlStore)
    return [r["action"] for r in audit_rows(store)]


def state_of(store: Store, job_id: str = "job-1") -> JobState:
    found = store.get_job(job_id)
    assert found is not None
    return found.state  # type: ignore[no-any-return]


def cancel(store: Store, job_id: str) -> None:
    if isinstance(store, FakeStore):
        store.cancelled.add(job_id)
    else:
        assert store.request_cancellation(job_id, "operatør", "console") is True


def test_a_delta_rounds_jobs_are_created_together_and_again_changes_nothing(store: Store) -> None:
    def created(j: OutboundJob) -> AuditEntry:
        return AuditEntry("outbound.job.created", j.subject, details={"job": j.id})

    first, second = job("job-1", "AAMk-1"), job("job-2", "AAMk-2")
    assert store.create_jobs([(first, created(first)), (second, None)]) == [True, True]
    assert state_of(store, "job-1") is JobState.NEW and state_of(store, "job-2") is JobState.NEW
    assert actions(store) == ["outbound.job.created"]  # an audit entry only where one was given

    # The round replayed after a crash before its delta link was stored, with one mail more; and the
    # same mail under another job id (mailbox + message id are unique too).
    third, clash = job("job-3", "AAMk-3"), job("job-x", "AAMk-1")
    replay = [(first, created(first)), (second, created(second)), (third, created(third)), (clash, None)]
    assert store.create_jobs(replay) == [False, False, True, False]
    assert actions(store) == ["outbound.job.created", "outbound.job.created"]
    assert store.get_job("job-x") is None
    assert store.create_jobs([]) == []


def test_a_claim_reads_the_next_page_and_marks_it_in_flight_in_one_step(store: Store) -> None:
    planned = memos(5)
    assert store.plan_job(job(), planned) is True
    assert store.plan_job(job("other", "AAMk-2"), memos(2)) is True
    u = [m.message_uuid for m in planned]

    cancelled, rows = store.claim_pending("job-1", limit=2, sending=True)
    assert cancelled is False and [r.message_uuid for r in rows] == u[:2]
    # As they were before the mark (a first send), with their XML; the job is sending now.
    assert all(r.in_flight_at is None for r in rows) and rows[0].memo_xml == b"<Message>0</Message>"
    assert state_of(store) is JobState.SENDING and state_of(store, "other") is JobState.PLANNED
    marked = [store.find_by_message_uuid(x) for x in u]
    assert [m is not None and m.in_flight_at is not None for m in marked] == [True, True, False, False, False]

    # The cursor: the next page after the last row claimed, the rest of the job only.
    cancelled, rows = store.claim_pending("job-1", limit=10, after_id=rows[-1].id, sending=True)
    assert cancelled is False and [r.message_uuid for r in rows] == u[2:]
    assert state_of(store) is JobState.SENDING  # left as it is

    # A row sent again (its outcome not recorded: a crash) comes back with its first mark: possibly sent.
    store.record_send_results([SendOutcome(u[0], OutboxState.ACCEPTED, transmission_id="t0")])
    retry_at = datetime.now(UTC) + timedelta(hours=1)
    store.record_send_results([SendOutcome(u[1], None, error="503", retry_at=retry_at)])
    first_mark = store.find_by_message_uuid(u[2])
    assert first_mark is not None and first_mark.in_flight_at is not None
    cancelled, rows = store.claim_pending("job-1", limit=10)
    assert [r.message_uuid for r in rows] == u[2:]  # u1 waits for its retry time, u0 is sent
    assert rows[0].in_flight_at == first_mark.in_flight_at  # kept from the first time, never moved

    assert store.claim_pending("job-1", limit=10, after_id=rows[-1].id) == (False, [])
    assert store.claim_pending("unknown-job", limit=10, sending=True) == (False, [])


def test_a_cancelled_job_claims_nothing_and_marks_nothing(store: Store) -> None:
    planned = memos(3)
    assert store.plan_job(job(), planned) is True
    cancelled, rows = store.claim_pending("job-1", limit=1, sending=True)
    assert cancelled is False and len(rows) == 1
    cancel(store, "job-1")  # between two pages
    assert store.claim_pending("job-1", limit=10, after_id=rows[0].id) == (True, [])
    unmarked = [store.find_by_message_uuid(m.message_uuid) for m in planned[1:]]
    assert all(e is not None and e.in_flight_at is None for e in unmarked)
    if not isinstance(store, FakeStore):
        assert store.lift_cancellation("job-1") is True
        assert len(store.claim_pending("job-1", limit=10, after_id=rows[0].id)[1]) == 2


def finish_with(effects: list[EffectPlan], seen: list[JobStatuses]) -> Any:
    def finish(statuses: JobStatuses) -> JobFinish:
        seen.append(dict(statuses))
        done = AuditEntry("outbound.job.done", "Hej", details={"job": "job-1"})
        return JobFinish(done, effects, {"categories:job-1:queued": {"skipped": "superseded"}})

    return finish


def test_the_last_outcomes_counts_and_done_with_its_effects_are_one_step(store: Store) -> None:
    queued = EffectPlan("categories:job-1:queued", {"job": "job-1", "category": "queued"}, "sag@kommune.dk")
    planned = memos(3)
    assert store.plan_job(job(), planned, effects=[queued]) is True
    u = [m.message_uuid for m in planned]
    store.claim_pending("job-1", limit=10, sending=True)
    final = [
        EffectPlan("receipt:job-1", {"job": "job-1", "kind": "receipt"}, "sag@kommune.dk"),
        EffectPlan("categories:job-1:sent", {"job": "job-1", "category": "sent"}, "sag@kommune.dk"),
    ]
    seen: list[JobStatuses] = []

    # A row left pending (a transient failure): recorded, counted, not done, nothing planned.
    retry_at = datetime.now(UTC) + timedelta(hours=1)
    first = [
        SendOutcome(u[0], OutboxState.ACCEPTED, transmission_id="t0", receipt_status="RECEIVED"),
        SendOutcome(u[1], None, error="503", retry_at=retry_at),
    ]
    statuses, done = store.finish_sending("job-1", first, finish_with(final, seen))
    assert done is False and seen == []
    assert statuses == {(OutboxState.ACCEPTED, "RECEIVED"): 1, (OutboxState.PENDING, None): 2}
    assert state_of(store) is JobState.SENDING and store.get_effect("receipt:job-1") is None

    # The last ones: recorded, counted, and DONE with the receipt and category planned, the queued
    # category settled and the audit entry written, together.
    last = [
        SendOutcome(u[1], OutboxState.FAILED, error="gave up"),
        SendOutcome(u[2], OutboxState.REJECTED, error="400"),
    ]
    statuses, done = store.finish_sending("job-1", last, finish_with(final, seen))
    expected = {
        (OutboxState.ACCEPTED, "RECEIVED"): 1,
        (OutboxState.FAILED, None): 1,
        (OutboxState.REJECTED, None): 1,
    }
    assert done is True and statuses == expected and seen == [expected]
    assert state_of(store) is JobState.DONE
    assert sorted(e.key for e in store.pending_effects()) == ["categories:job-1:sent", "receipt:job-1"]
    settled = store.get_effect(queued.key)
    assert settled is not None and settled.state is EffectState.DONE
    assert settled.result == {"skipped": "superseded"}
    assert actions(store) == ["outbound.job.done"]

    # Again (a replay): DONE stays DONE; the effects exist once.
    statuses, done = store.finish_sending("job-1", last, finish_with(final, seen))
    assert done is True and statuses == expected
    assert len(store.pending_effects()) == 2


def test_a_job_that_cannot_be_done_keeps_its_state_and_its_outcomes_are_recorded(store: Store) -> None:
    planned = memos(1)
    assert store.plan_job(job(), planned) is True
    store.claim_pending("job-1", limit=10, sending=True)
    store.set_job_state("job-1", JobState.FAILED, "given up")
    accepted = [SendOutcome(planned[0].message_uuid, OutboxState.ACCEPTED, transmission_id="t0")]
    statuses, done = store.finish_sending(
        "job-1", accepted, finish_with([EffectPlan("receipt:job-1", {})], [])
    )
    assert done is False and statuses == {(OutboxState.ACCEPTED, None): 1}
    assert state_of(store) is JobState.FAILED and store.get_effect("receipt:job-1") is None
    assert store.finish_sending("unknown", [], finish_with([], [])) == ({}, False)


def test_a_finish_that_raises_writes_nothing(store: Store) -> None:
    planned = memos(1)
    assert store.plan_job(job(), planned) is True
    store.claim_pending("job-1", limit=10, sending=True)

    def broken(statuses: JobStatuses) -> JobFinish:
        raise StoreError("finish: the planning failed")

    accepted = [SendOutcome(planned[0].message_uuid, OutboxState.ACCEPTED, transmission_id="t0")]
    with pytest.raises(StoreError, match="planning failed"):
        store.finish_sending("job-1", accepted, broken)
    row = store.find_by_message_uuid(planned[0].message_uuid)
    assert row is not None and row.state is OutboxState.PENDING  # rolled back with the rest
    assert state_of(store) is JobState.SENDING


def test_a_plan_and_its_first_page_are_claimed_in_one_step(store: Store) -> None:
    queued = EffectPlan("categories:job-1:queued", {"job": "job-1", "category": "queued"}, "sag@kommune.dk")
    planned = memos(5)
    u = [m.message_uuid for m in planned]
    entry = AuditEntry("outbound.job.planned", "Hej", details={"job": "job-1"})
    done, cancelled, rows = store.plan_and_claim(job(), iter(planned), audit=entry, effects=[queued], claim=2)
    # Planned as plan_job plans (rows, effect, audit) and claimed as claim_pending(sending=True) claims:
    # the first page by id, as it was before the mark (a first send), with its XML; the job is sending.
    assert (done, cancelled) == (True, False) and [r.message_uuid for r in rows] == u[:2]
    assert all(r.in_flight_at is None for r in rows) and rows[0].memo_xml == b"<Message>0</Message>"
    assert state_of(store) is JobState.SENDING
    marked = [store.find_by_message_uuid(x) for x in u]
    assert [m is not None and m.in_flight_at is not None for m in marked] == [True, True, False, False, False]
    assert store.get_effect(queued.key) is not None and actions(store) == ["outbound.job.planned"]

    # The rest is claimed after it; a restart planning the same mail again gets no second set and no claim.
    assert [r.message_uuid for r in store.claim_pending("job-1", limit=10, after_id=rows[-1].id)[1]] == u[2:]
    other = memos(3)
    assert store.plan_and_claim(job(), other, audit=entry, claim=2) == (False, False, [])
    assert all(store.find_by_message_uuid(m.message_uuid) is None for m in other)
    assert actions(store) == ["outbound.job.planned"]
    # A crash after the commit, before the POSTs: the retry's claim returns the rows with their mark.
    again = store.claim_pending("job-1", limit=10)[1]
    assert [r.message_uuid for r in again] == u and all(r.in_flight_at is not None for r in again)


def test_a_job_cancelled_before_its_plan_is_planned_and_nothing_is_claimed(store: Store) -> None:
    assert store.create_jobs([(job(), None)]) == [True]
    cancel(store, "job-1")
    planned = memos(3)
    assert store.plan_and_claim(job(), planned, claim=200) == (True, True, [])
    assert state_of(store) is JobState.PLANNED  # no move to sending: as claim_pending leaves it
    rows = [store.find_by_message_uuid(m.message_uuid) for m in planned]
    assert all(e is not None and e.state is OutboxState.PENDING and e.in_flight_at is None for e in rows)


def test_a_plan_whose_rows_fail_to_stream_writes_and_claims_nothing(store: Store) -> None:
    planned = memos(3)

    def dying() -> Iterator[PlannedMemo]:
        yield planned[0]
        raise StoreError("plan job: the recipient list could not be read")

    with pytest.raises(StoreError, match="recipient list"):
        store.plan_and_claim(job(), dying(), claim=200)
    assert store.get_job("job-1") is None and store.find_by_message_uuid(planned[0].message_uuid) is None
    assert store.plan_and_claim(job(), planned, claim=200)[:2] == (True, False)  # a retry plans it whole
