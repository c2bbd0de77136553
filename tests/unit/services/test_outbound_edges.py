"""Outbound edge cases on the in-memory fakes: mail that vanishes, outcomes recorded twice, receipts nobody
asked for, crashes between a remote write and recording it. The emulator tests
(``tests/integration/outbound``) cover the same service against the Graph and NgDP emulators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from graph_dpg.core.errors import NotFoundError, StoreError, TransientError
from graph_dpg.domain.policies import DEFAULT_POLICIES
from graph_dpg.ports.store import EffectState, JobState, OutboxState, SendOutcome
from graph_dpg.services.outbound import (
    RECEIPT_PROPERTY,
    CycleStats,
    FunctionMailbox,
    OutboundService,
    OutboundSettings,
    job_id_for,
)
from tests.fakes import FakeDigitalPost, FakeMailbox, FakeStore

ORG_CVR = "29189846"
MAILBOX = "borgerservice@kommune.dk"
CITIZEN = "0101701234"
CITIZEN2 = "0202802345"
GW = f"{ORG_CVR}.ngdp.digital-post.dk"
CATEGORIES = {
    "queued": ("Digital Post: I kø", "preset3"),
    "sent": ("Digital Post: Sendt", "preset7"),
    "receipted": ("Digital Post: Kvitteret", "preset4"),
    "failed": ("Digital Post: Fejl", "preset0"),
}


@dataclass
class Rig:
    store: FakeStore
    mail: FakeMailbox
    ngdp: FakeDigitalPost
    service: OutboundService

    def send(self, subject: str, *recipients: str) -> str:
        return self.mail.put_sent(MAILBOX, subject, [f"{r}@{GW}" for r in recipients])

    def receipts(self) -> list[str]:
        return [s.message.subject for s in self.mail.in_folder(MAILBOX, "inbox")]

    def categories(self, message_id: str) -> list[str]:
        return self.mail.stored(message_id).message.categories


def rig(**overrides: Any) -> Rig:
    values: dict[str, Any] = {
        "organisation_cvr": ORG_CVR,
        "organisation_name": "Testby Kommune",
        "mailboxes": (FunctionMailbox(MAILBOX, frozenset({ORG_CVR})),),
        "policies": DEFAULT_POLICIES,
        "categories": CATEGORIES,
        "retry_base_seconds": 0.0,
        "retry_max_seconds": 0.0,
        **overrides,
    }
    store, mail, ngdp = FakeStore(), FakeMailbox(), FakeDigitalPost()
    return Rig(store, mail, ngdp, OutboundService(mail, ngdp, store, OutboundSettings(**values)))


async def test_a_sent_mail_becomes_one_memo_a_receipt_and_a_category() -> None:
    r = rig()
    mid = r.send("Afgørelse", CITIZEN)
    stats = await r.service.run_once()
    assert (stats.new_jobs, stats.planned, stats.sent, stats.jobs_done, stats.errors) == (1, 1, 1, 1, [])
    assert len(r.ngdp.accepted) == 1
    assert r.receipts() == ["DPG kvittering: Afgørelse"]
    assert r.categories(mid) == ["Digital Post: Sendt"]
    again = await r.service.run_once()  # the category change comes back in the delta: nothing new
    assert (again.new_jobs, again.sent, again.effects_done) == (0, 0, 0)


async def test_a_job_whose_mail_vanished_is_closed_once_without_a_letter_and_holds_up_nothing() -> None:
    r = rig()
    gone = r.send("Trukket tilbage", CITIZEN)
    kept = r.send("Afgørelse", CITIZEN2)
    [mb] = r.service.settings.mailboxes
    assert await r.service.poll(mb) == 2
    del r.mail.messages[gone]  # deleted by the case worker between the delta round and the read

    stats = CycleStats()
    await r.service.process_jobs({MAILBOX}, stats)
    assert (stats.jobs_closed, stats.jobs_done, stats.errors) == (1, 1, [])
    job = r.store.get_job(job_id_for(MAILBOX, gone))
    assert job is not None and job.state is JobState.FAILED
    assert job.error is not None and "deleted" in job.error and "nothing was sent" in job.error
    [record] = r.store.audited("outbound.job.vanished")
    assert record.details["job"] == job.id and "not found" in str(record.details["error"])
    assert r.store.list_outbox(job.id) == []
    done = r.store.get_job(job_id_for(MAILBOX, kept))
    assert done is not None and done.state is JobState.DONE
    assert len(r.ngdp.accepted) == 1

    # The next pass does not read the mail again: a read would take this queued answer.
    unread = NotFoundError("message not found", "graph", 404, "ErrorItemNotFound")
    r.mail.fail_next("get_message", unread)
    again = CycleStats()
    await r.service.process_jobs({MAILBOX}, again)
    assert (again.jobs_closed, again.errors, r.mail.failures["get_message"]) == (0, [], [unread])
    assert len(r.store.audited("outbound.job.vanished")) == 1  # closed once, never fetched again
    await r.service.run_effects()
    assert r.receipts() == ["DPG kvittering: Afgørelse"]  # no receipt, no category for the vanished one
    assert r.store.pending_effects() == []


async def test_a_crash_before_the_outcomes_are_recorded_sends_each_memo_once() -> None:
    r = rig()
    mid = r.send("Brev", CITIZEN, CITIZEN2)
    # The last batch's outcomes are recorded with the job's end (finish_sending, issue 18).
    r.store.fail_next("finish_sending", StoreError("finish sending: database is locked"))
    stats = await r.service.run_once()
    assert len(stats.errors) == 1 and "database is locked" in stats.errors[0]
    # The pass over jobs in SENDING picked the job up again in the same cycle and sent its rows again
    # with the same messageUUIDs: NgDP answered "already have it", which counts as success.
    assert len(r.ngdp.accepted) == 2
    assert sorted(r.ngdp.send_attempts) == sorted([*r.ngdp.accepted] * 2)
    assert stats.jobs_done == 1
    assert r.store.job_progress(job_id_for(MAILBOX, mid))[OutboxState.ACCEPTED] == 2
    assert r.receipts() == ["DPG kvittering: Brev"]
    again = await r.service.run_once()
    assert (again.sent, again.errors) == (0, [])
    assert len(r.ngdp.send_attempts) == 4


async def test_a_send_outcome_recorded_twice_changes_nothing_the_second_time() -> None:
    r = rig()
    r.send("Brev", CITIZEN)
    await r.service.run_once()
    [row] = r.store.list_outbox(job_id_for(MAILBOX, next(iter(r.mail.messages))))
    assert row.state is OutboxState.ACCEPTED and row.transmission_id is not None
    late = [
        SendOutcome(row.message_uuid, OutboxState.ACCEPTED, transmission_id="other"),
        SendOutcome(row.message_uuid, OutboxState.FAILED, error="late failure"),
    ]
    assert r.store.record_send_results(late) == 0
    assert r.store.find_by_message_uuid(row.message_uuid) == row


async def test_a_transient_failure_is_retried_with_the_same_uuid_and_the_last_one_fails_the_row() -> None:
    r = rig(max_attempts=2)
    mid = r.send("Brev", CITIZEN)
    r.ngdp.fail_next("send_memo", TransientError("503 Service Unavailable", "ngdp", 503), times=2)
    stats = await r.service.run_once()  # retry time 0: the pass over SENDING jobs tries again
    assert (stats.retried, stats.send_failed, stats.jobs_done) == (1, 1, 1)
    [row] = r.store.list_outbox(job_id_for(MAILBOX, mid))
    assert (row.state, row.attempts) == (OutboxState.FAILED, 1) and "503" in (row.last_error or "")
    assert r.ngdp.send_attempts == [row.message_uuid, row.message_uuid]
    assert r.ngdp.accepted == {}
    assert r.categories(mid) == ["Digital Post: Fejl"]
    [receipt] = r.mail.in_folder(MAILBOX, "inbox")
    assert "503" in receipt.message.body


async def test_a_business_receipt_for_an_unknown_message_uuid_is_kept_and_changes_no_job() -> None:
    r = rig()
    mid = r.send("Brev", CITIZEN)
    await r.service.run_once()
    unknown = r.ngdp.hold_receipt("6b1e0c9a-1111-4a2b-8c3d-000000000000", "INVALID", errorMessage="ukendt")
    assert await r.service.pull_business_receipts() == 1
    assert r.ngdp.receipts == {}  # deleted at NgDP once recorded
    assert await r.service.apply_business_receipts() == 1
    assert r.store.unprocessed_receipts() == []
    assert r.store.pending_effects() == []  # no category, no receipt mail planned
    assert r.categories(mid) == ["Digital Post: Sendt"]
    assert r.receipts() == ["DPG kvittering: Brev"]
    kept = r.store.receipts[unknown].receipt
    assert kept.processed and kept.payload["errorMessage"] == "ukendt"


async def test_a_negative_business_receipt_fails_the_job_and_mails_once_more() -> None:
    r = rig()
    mid = r.send("Brev", CITIZEN)
    await r.service.run_once()
    [row] = r.store.list_outbox(job_id_for(MAILBOX, mid))
    r.ngdp.hold_receipt(row.message_uuid, "INVALID", errorCode="NOT_REGISTERED")
    await r.service.pull_business_receipts()
    await r.service.apply_business_receipts()
    assert await r.service.run_effects() == 2  # the failed category and the updated receipt mail
    assert r.categories(mid) == ["Digital Post: Fejl"]
    assert r.receipts() == ["DPG kvittering: Brev", "DPG opdateret kvittering: Brev"]
    assert await r.service.run_effects() == 0


async def test_a_crash_between_writing_the_receipt_and_recording_it_does_not_mail_twice() -> None:
    r = rig()
    mid = r.send("Brev", CITIZEN)

    def killed() -> None:
        raise SystemExit("killed after the receipt mail was created")

    r.mail.fail_after_create = killed
    with pytest.raises(SystemExit):
        await r.service.run_once()
    job_id = job_id_for(MAILBOX, mid)
    receipt_effect = r.store.get_effect(f"receipt:{job_id}")
    assert receipt_effect is not None and receipt_effect.state is EffectState.PLANNED
    assert len(r.mail.in_folder(MAILBOX, "inbox")) == 1

    r.mail.fail_after_create = None  # the restart
    restarted = OutboundService(r.mail, r.ngdp, r.store, r.service.settings)
    await restarted.run_once()
    [receipt] = r.mail.in_folder(MAILBOX, "inbox")
    assert receipt.properties == {RECEIPT_PROPERTY: f"receipt:{job_id}"}
    done = r.store.get_effect(f"receipt:{job_id}")
    assert done is not None and done.state is EffectState.DONE and done.result is not None
    assert done.result["reused"] is True
    assert r.categories(mid) == ["Digital Post: Sendt"]


async def test_a_job_cancelled_before_its_send_sends_nothing_and_says_so_in_the_receipt() -> None:
    r = rig()
    mid = r.send("Annulleret", CITIZEN, CITIZEN2)
    await r.service.poll(r.service.settings.mailboxes[0])
    r.store.cancelled.add(job_id_for(MAILBOX, mid))  # an operator's cancellation (services.letters)
    stats = await r.service.run_once()
    assert not r.ngdp.accepted and stats.send_failed == 2
    job = r.store.get_job(job_id_for(MAILBOX, mid))
    assert job is not None and job.state is JobState.DONE
    rows = r.store.list_outbox(job.id)
    assert {e.state for e in rows} == {OutboxState.FAILED}
    assert all("annulleret" in (e.last_error or "") for e in rows)
    assert r.categories(mid) == ["Digital Post: Fejl"]


async def test_a_crash_after_the_update_mail_was_created_does_not_mail_it_twice() -> None:
    """Effects: exactly once across crashes (docs/architecture.md) for the updated receipt too: its marker is
    its generation's key, so the restart finds the mail instead of writing a second one."""
    r = rig()
    mid = r.send("Brev", CITIZEN)
    await r.service.run_once()
    job_id = job_id_for(MAILBOX, mid)
    [row] = r.store.list_outbox(job_id)
    r.ngdp.hold_receipt(row.message_uuid, "NOT_ALLOWED")
    await r.service.pull_business_receipts()
    await r.service.apply_business_receipts()

    def killed() -> None:
        raise SystemExit("killed after the update mail was created")

    r.mail.fail_after_create = killed
    with pytest.raises(SystemExit):
        await r.service.run_effects()
    r.mail.fail_after_create = None  # the restart, which also applies the same receipts again
    restarted = OutboundService(r.mail, r.ngdp, r.store, r.service.settings)
    await restarted.apply_business_receipts()
    await restarted.run_once()
    await restarted.run_effects()
    assert r.receipts() == ["DPG kvittering: Brev", "DPG opdateret kvittering: Brev"]
    update = r.store.get_effect(f"receipt:{job_id}:update:1")
    assert update is not None and update.state is EffectState.DONE and update.result is not None
    assert update.result["reused"] is True
    assert r.store.get_effect(f"receipt:{job_id}:update:2") is None  # no second generation for a replay


async def test_an_update_planned_by_an_earlier_version_is_written_as_an_update() -> None:
    r = rig()
    mid = r.send("Brev", CITIZEN)
    await r.service.run_once()
    job_id = job_id_for(MAILBOX, mid)
    [row] = r.store.list_outbox(job_id)
    r.ngdp.hold_receipt(row.message_uuid, "INVALID")
    await r.service.pull_business_receipts()
    for receipt in r.store.unprocessed_receipts():  # recorded, then applied by the earlier version
        r.store.mark_receipt_processed(receipt.receipt_id)
    r.store.plan_effect(f"receipt:{job_id}:business", {"job": job_id, "kind": "receipt"})
    await r.service.run_effects()
    assert r.receipts() == ["DPG kvittering: Brev", "DPG opdateret kvittering: Brev"]


async def test_business_receipts_are_pulled_a_batch_at_a_time_each_recorded_and_deleted_once() -> None:
    """A mass delivery leaves one receipt per letter waiting (100,000): the pull reads the first
    ``RECEIPT_BATCH``, records and deletes them, and reads the front of the queue again (issue 18;
    docs/facts/ngdp.md, "Receipts": that a deleted receipt leaves the bulk list is an inference)."""
    from graph_dpg.services.outbound import RECEIPT_BATCH

    r = rig()
    ids = [
        r.ngdp.hold_receipt(f"6b1e0c9a-1111-4a2b-8c3d-{i:012d}", "COMPLETED")
        for i in range(2 * RECEIPT_BATCH + 7)
    ]
    reads: list[int] = []
    fetch = r.ngdp.fetch_receipts

    async def counted(limit: int | None = None) -> Any:
        got = await fetch(limit)
        reads.append(len(got))
        return got

    r.ngdp.fetch_receipts = counted  # type: ignore[method-assign]
    assert await r.service.pull_business_receipts() == len(ids)
    assert reads == [RECEIPT_BATCH, RECEIPT_BATCH, 7, 0]  # never more than one batch held
    assert r.ngdp.receipts == {}
    assert sorted(r.store.receipts) == sorted(ids)


async def test_a_receipt_pull_whose_deletions_do_nothing_ends_instead_of_looping() -> None:
    r = rig()
    r.ngdp.hold_receipt("6b1e0c9a-1111-4a2b-8c3d-000000000001", "COMPLETED")

    async def ignored(receipt_id: str) -> None:  # NgDP keeps listing it
        return None

    r.ngdp.delete_receipt = ignored  # type: ignore[method-assign]
    assert await r.service.pull_business_receipts() == 1
    assert len(r.store.receipts) == 1
