"""The failure boundary around one outbound job, on the fakes: whatever a job raises, it ends in a terminal
state with one answer to the sender, and the next mail from the same mailbox still goes out.

Exceptions are injected through the fakes (``fail_next``) where they stand for a parser or a bug deep in
planning or sending: a ``ValueError`` while a .docx is read, an ``OverflowError`` while a MeMo is sent."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from graph_dpg.core.errors import MemoError, PermanentError, StoreError, ThrottledError, TransientError
from graph_dpg.ports.store import EffectState, JobState, OutboxState
from graph_dpg.runtime.http import GatewayMetrics
from graph_dpg.services.boundary import Reason, Stage
from graph_dpg.services.outbound import RECEIPT_PROPERTY, CycleStats, job_id_for
from tests.unit.services.test_outbound_edges import CITIZEN, CITIZEN2, MAILBOX, Rig, rig


def answers(r: Rig, message_id: str) -> list[str]:
    """The receipt mails about one mail (found by the marker every receipt carries)."""
    job_id = job_id_for(MAILBOX, message_id)
    return [
        s.message.subject
        for s in r.mail.in_folder(MAILBOX, "inbox")
        if s.properties.get(RECEIPT_PROPERTY, "").startswith(f"receipt:{job_id}")
    ]


def body(r: Rig, message_id: str) -> str:
    job_id = job_id_for(MAILBOX, message_id)
    [found] = [
        s
        for s in r.mail.in_folder(MAILBOX, "inbox")
        if s.properties.get(RECEIPT_PROPERTY) == f"receipt:{job_id}"
    ]
    return found.message.body


def failures(r: Rig, stage: Stage, reason: Reason) -> int:
    return r.service.failures.counts()[(stage, reason)]


async def test_a_job_whose_planning_raises_gets_an_internal_error_receipt_and_the_next_mail_goes_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = rig()
    poisoned = r.send("Afgørelse med skadet bilag", CITIZEN)
    r.mail.fail_next("get_message", ValueError("Error -3 while decompressing data: invalid distance"))
    caplog.set_level(logging.WARNING)

    stats = await r.service.run_once()

    job = r.store.get_job(job_id_for(MAILBOX, poisoned))
    assert job is not None and job.state is JobState.FAILED
    assert job.error is not None and "ValueError" in job.error and job.id in job.error
    assert r.ngdp.send_attempts == []  # nothing was sent
    assert answers(r, poisoned) == ["DPG fejlkvittering: Afgørelse med skadet bilag"]
    text = body(r, poisoned)
    assert (
        "ikke</b> sendt" in text and "uventet fejl" in text and f"Reference til it-support: {job.id}" in text
    )
    assert r.categories(poisoned) == ["Digital Post: Fejl"]
    assert stats.jobs_failed == 1 and failures(r, Stage.OUTBOUND_PLAN, Reason.INTERNAL_ERROR) == 1
    [logged] = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert job.id in logged.getMessage() and logged.exc_info is not None  # once, with its traceback
    [audited] = r.store.audited("outbound.job.failed")
    assert audited.details["stage"] == "outbound.plan" and audited.details["reason"] == "internal"

    after = r.send("Næste brev", CITIZEN2)  # the mailbox is not stuck behind the poisoned mail
    again = await r.service.run_once()
    assert (again.sent, again.jobs_done, again.errors) == (1, 1, [])
    assert answers(r, after) == ["DPG kvittering: Næste brev"]
    assert answers(r, poisoned) == ["DPG fejlkvittering: Afgørelse med skadet bilag"]  # still one answer
    assert len(r.store.audited("outbound.job.failed")) == 1


async def test_a_job_whose_sending_raises_fails_the_rest_and_says_who_got_the_letter() -> None:
    r = rig(send_concurrency=1)
    mid = r.send("Brev til to", CITIZEN, CITIZEN2)
    r.ngdp.fail_next("send_memo", OverflowError("date value out of range"))

    stats = await r.service.run_once()

    job_id = job_id_for(MAILBOX, mid)
    job = r.store.get_job(job_id)
    assert job is not None and job.state is JobState.FAILED
    rows = r.store.list_outbox(job_id)
    assert sorted(row.state for row in rows) == [OutboxState.ACCEPTED, OutboxState.FAILED]
    [failed] = [row for row in rows if row.state is OutboxState.FAILED]
    assert failed.last_error == f"Ikke sendt: intern fejl (reference {job_id})"
    assert failed.message_uuid not in r.ngdp.accepted and len(r.ngdp.accepted) == 1
    assert (stats.sent, stats.send_failed, stats.jobs_failed) == (1, 1, 1)
    assert answers(r, mid) == ["DPG kvittering med fejl: Brev til to"]
    text = body(r, mid)
    assert "kun til de modtagere, der står som Fejlet" in text and f"reference {job_id}" in text
    assert r.categories(mid) == ["Digital Post: Fejl"]
    assert failures(r, Stage.OUTBOUND_SEND, Reason.INTERNAL_ERROR) == 1
    assert (await r.service.run_once()).sent == 0  # the failed MeMo is never sent


async def test_transient_failures_back_off_and_are_given_up_after_the_last_attempt() -> None:
    r = rig(max_attempts=3, retry_base_seconds=0.0)
    mid = r.send("Brev", CITIZEN)
    busy = TransientError("Service Unavailable", "graph", 503)
    r.mail.fail_next("get_message", busy, times=3)

    first = await r.service.run_once()
    job_id = job_id_for(MAILBOX, mid)
    waiting = r.store.get_job(job_id)
    assert waiting is not None and (waiting.state, waiting.attempts) == (JobState.NEW, 1)
    assert waiting.not_before is not None and first.errors and answers(r, mid) == []
    await r.service.run_once()
    await r.service.run_once()

    job = r.store.get_job(job_id)
    assert job is not None and job.state is JobState.FAILED
    assert answers(r, mid) == ["DPG fejlkvittering: Brev"]
    assert "opgivet den efter 3 forsøg" in body(r, mid) and "503" in body(r, mid)
    assert failures(r, Stage.OUTBOUND_PLAN, Reason.GAVE_UP) == 1
    assert r.mail.failures["get_message"] == []  # three attempts, no more


async def test_a_transient_failure_waits_for_the_backoff_and_a_retry_after() -> None:
    r = rig(retry_base_seconds=60.0, retry_max_seconds=900.0)
    mid = r.send("Brev", CITIZEN)
    r.mail.fail_next("get_message", ThrottledError("Too many requests", "graph", 429, retry_after=120.0))
    before = datetime.now(UTC)
    await r.service.run_once()
    job = r.store.get_job(job_id_for(MAILBOX, mid))
    assert job is not None and job.not_before is not None
    assert 119 <= (job.not_before - before).total_seconds() <= 125  # the server's Retry-After
    stats = CycleStats()
    await r.service.process_jobs({MAILBOX}, stats)
    assert (stats.planned, stats.errors) == (0, [])  # not due yet: not even read
    retried = r.store.get_job(job.id)
    assert retried is not None and retried.attempts == 1


async def test_a_job_failing_longer_than_allowed_is_given_up_at_once() -> None:
    r = rig(give_up_after_seconds=0.0)
    mid = r.send("Brev", CITIZEN)
    r.mail.fail_next("get_message", TransientError("timeout", "graph"))
    await r.service.run_once()
    job = r.store.get_job(job_id_for(MAILBOX, mid))
    assert job is not None and job.state is JobState.FAILED
    assert answers(r, mid) == ["DPG fejlkvittering: Brev"]


async def test_a_permanent_remote_failure_is_given_up_without_retrying() -> None:
    r = rig()
    mid = r.send("Brev", CITIZEN)
    r.mail.fail_next(
        "get_message", PermanentError("Id is malformed.", "graph", 400, "ErrorInvalidIdMalformed")
    )
    await r.service.run_once()
    job = r.store.get_job(job_id_for(MAILBOX, mid))
    assert job is not None and (job.state, job.attempts) == (JobState.FAILED, 0)
    assert "ErrorInvalidIdMalformed" in body(r, mid)
    assert failures(r, Stage.OUTBOUND_PLAN, Reason.GAVE_UP) == 1


async def test_untrusted_input_that_planning_refuses_by_raising_is_rejected_with_what_to_fix() -> None:
    r = rig()
    mid = r.send("Brev", CITIZEN)
    r.mail.fail_next("get_message", MemoError("MemoHeader.json: label is not text"))
    await r.service.run_once()
    job = r.store.get_job(job_id_for(MAILBOX, mid))
    assert job is not None and job.state is JobState.REJECTED
    assert answers(r, mid) == ["DPG fejlkvittering: Brev"]
    main, _, support = body(r, mid).rpartition("Support:")
    assert "Ret følgende" in main and "Mailen kunne ikke læses" in main
    assert "label is not text" in support and "label is not text" not in main  # the detail is for IT
    assert failures(r, Stage.OUTBOUND_PLAN, Reason.INTERNAL_ERROR) == 0


async def test_a_database_failure_is_not_the_jobs_fault_and_counts_no_attempt() -> None:
    r = rig()
    mid = r.send("Brev", CITIZEN)
    r.store.fail_next("plan_and_claim", StoreError("plan and claim: database is locked"))
    first = await r.service.run_once()
    job = r.store.get_job(job_id_for(MAILBOX, mid))
    assert job is not None and (job.state, job.attempts) == (JobState.NEW, 0) and first.errors
    await r.service.run_once()
    assert answers(r, mid) == ["DPG kvittering: Brev"]


async def test_a_receipt_that_cannot_be_written_as_planned_becomes_the_plain_internal_error_one() -> None:
    r = rig()
    mid = r.send("Brev", CITIZEN)
    r.mail.fail_next("create_message", KeyError("rendering"))
    await r.service.run_once()
    assert answers(r, mid) == ["DPG kvittering: Brev"]
    text = body(r, mid)
    assert "Kvitteringen kunne ikke skrives som normalt" in text and "Sendt" in text
    assert r.categories(mid) == ["Digital Post: Sendt"]  # the MeMo did go out: the category says so
    assert failures(r, Stage.OUTBOUND_EFFECT, Reason.INTERNAL_ERROR) == 1


async def test_an_effect_that_raises_is_closed_as_failed_and_not_tried_again() -> None:
    r = rig()
    mid = r.send("Brev", CITIZEN)
    r.mail.fail_next("set_categories", KeyError("categories"))
    await r.service.run_once()
    effect = r.store.get_effect(f"categories:{job_id_for(MAILBOX, mid)}:sent")
    assert effect is not None and effect.state is EffectState.DONE
    assert effect.result is not None and "KeyError" in str(effect.result["failed"])
    assert r.store.pending_effects() == [] and answers(r, mid) == ["DPG kvittering: Brev"]
    assert failures(r, Stage.OUTBOUND_EFFECT, Reason.INTERNAL_ERROR) == 1


async def test_metrics_count_the_items_given_up_per_stage_and_reason() -> None:
    r = rig(max_attempts=1)
    r.send("Brev", CITIZEN)
    r.mail.fail_next("get_message", ZeroDivisionError("division by zero"))
    r.send("Brev 2", CITIZEN2)
    r.mail.fail_next("get_message", TransientError("busy", "graph", 503))
    await r.service.run_once()
    page = GatewayMetrics(failures=r.service.failures).render().decode()
    assert 'graph_dpg_item_failures_total{reason="internal_error",stage="outbound.plan"} 1.0' in page
    assert 'graph_dpg_item_failures_total{reason="gave_up",stage="outbound.plan"} 1.0' in page
    assert 'graph_dpg_item_failures_total{reason="internal_error",stage="inbound.memo"} 0.0' in page
