"""StoreLetters against the real store (SQLite and PostgreSQL): search, the timeline, and the admin actions
(retry with the same messageUUID, cancel of what is not sent, reveal of a CPR number) — each audited and
idempotent (issue 19)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from graph_dpg.adapters.store import create_store
from graph_dpg.domain.texts import Text
from graph_dpg.ports.store import JobState, OutboundJob, OutboxState, PlannedMemo, SendOutcome
from graph_dpg.runtime.console import StoreLetters
from tests.store_rows import audit_rows

CPRS = ["0102031234", "0203041234", "0304051234"]


@pytest.fixture
def store(db_url):
    s = create_store(db_url, replica="r1")
    yield s
    s.close()


def _plan(store, job_id: str, subject: str, n: int, mailbox: str = "post@kommune.dk") -> list[str]:
    job = OutboundJob(job_id, mailbox, f"msg-{job_id}", f"<{job_id}@x>", subject, "digital_post")
    uuids = [f"{job_id}-uuid-{i}" for i in range(n)]
    memos = [PlannedMemo(u, "cpr", CPRS[i % 3], memo_xml=b"<memo/>") for i, u in enumerate(uuids)]
    assert store.plan_job(job, memos)
    store.set_job_state(job_id, JobState.SENDING)
    return uuids


def test_search_finds_by_mailbox_subject_uuid_and_cpr_but_shows_the_subject_masked(store):
    _plan(store, "job-a", "Afgørelse om 010203-xxxx", 1)
    _plan(store, "job-b", "Indkaldelse", 2, mailbox="skole@kommune.dk")
    letters = StoreLetters(store)
    assert [r.id for r in letters.search("skole@")] == ["job-b"]
    assert [r.id for r in letters.search("afgørelse")] == ["job-a"]
    assert [r.id for r in letters.search("job-b-uuid-1")] == ["job-b"]
    assert {r.id for r in letters.search("020304-1234")} == {"job-b"}  # the CPR of job-b's second letter
    assert {r.id for r in letters.search("")} == {"job-a", "job-b"}
    assert letters.search("%") == []  # LIKE wildcards are searched for, not used
    assert [r.id for r in letters.search("", state=JobState.SENDING)] == ["job-b", "job-a"]
    assert letters.search("", since=datetime.now(UTC) + timedelta(days=1)) == []


def test_the_timeline_names_each_step_and_masks_the_recipient(store):
    uuids = _plan(store, "job-t", "Brev", 2)
    store.record_send_results(
        [
            SendOutcome(uuids[0], OutboxState.ACCEPTED, transmission_id="t1"),
            SendOutcome(uuids[1], OutboxState.REJECTED, error="INVALID: bad memo"),
        ]
    )
    store.record_receipt("rc-1", {"messageUUID": uuids[0], "receiptStatus": "COMPLETED"})
    view = StoreLetters(store).letter(uuids[1])  # found by a messageUUID too
    assert view is not None
    assert view.letter.id == "job-t"
    texts = [e.text for e in view.events]
    assert texts[0] is Text.CONSOLE_EVENT_SEEN
    assert Text.CONSOLE_EVENT_ACCEPTED in texts
    assert Text.CONSOLE_EVENT_REJECTED in texts
    receipt = next(e for e in view.events if e.text is Text.CONSOLE_EVENT_RECEIPT)
    assert receipt.values == {"recipient": "010203-xxxx", "status": "COMPLETED"}
    assert [r.shown for r in view.recipients] == ["010203-xxxx", "020304-xxxx"]
    assert "0102031234" not in repr(view.events)
    assert view.progress.total == 2
    assert view.progress.pending == 0


def test_retry_sends_a_given_up_recipient_again_with_the_same_uuid_once(store):
    uuids = _plan(store, "job-r", "Brev", 1)
    store.record_send_results([SendOutcome(uuids[0], OutboxState.FAILED, error="gave up")])
    store.set_job_state("job-r", JobState.FAILED, "gave up")
    letters = StoreLetters(store)
    assert letters.retry(uuids[0], "console:adam@x") is True
    assert letters.retry(uuids[0], "console:adam@x") is False  # already pending: nothing more to do
    entry = store.find_by_message_uuid(uuids[0])
    assert entry is not None
    assert entry.state is OutboxState.PENDING
    job = store.get_job("job-r")
    assert job is not None
    assert job.state is JobState.SENDING
    assert [(a["action"], a["actor"]) for a in audit_rows(store, action="console.retry")] == [
        ("console.retry", "console:adam@x")
    ]


def test_cancel_fails_what_is_not_sent_and_keeps_what_was_sent(store):
    uuids = _plan(store, "job-m", "Massebrev", 5)
    store.record_send_results([SendOutcome(uuids[0], OutboxState.ACCEPTED, transmission_id="t")])
    store.mark_in_flight([uuids[1]])  # its POST may have started: left to its answer
    letters = StoreLetters(store)
    assert letters.cancel("job-m", "console:adam@x", "Annulleret i konsollen af adam") == 3
    assert letters.cancel("job-m", "console:adam@x", "again") == 0
    progress = letters.progress("job-m")
    assert progress is not None
    assert (progress.accepted, progress.pending, progress.failed) == (1, 1, 3)
    assert len(audit_rows(store, action="console.cancel")) == 1


def test_revealing_a_cpr_number_is_audited_without_the_number(store):
    uuids = _plan(store, "job-c", "Brev", 1)
    letters = StoreLetters(store)
    assert letters.reveal_cpr(uuids[0], "console:adam@x") == "0102031234"
    assert letters.reveal_cpr("no-such-uuid", "console:adam@x") is None
    rows = audit_rows(store, action="console.reveal_cpr")
    assert len(rows) == 1
    assert "0102031234" not in repr(rows)
