"""The letters service (admin console engine) on a real outbound gateway: Sent Items (Graph emulator) → NgDP
emulator → SqlStore on SQLite and PostgreSQL. Searches, timelines and the operators' actions, with the
outbound worker carrying them out; nothing mocked.

Sources: the gateway treats messageUUID as the idempotency key of a memo (docs/facts/ngdp.md,
"Idempotency"), so a transport failure is retried with the same one; a business receipt NOT_ALLOWED /
INVALID is final for that memo (docs/facts/ngdp.md, "Receipts"), so sending again needs a new memo with a
new messageUUID.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.memo import parse
from graph_dpg.ports.store import JobState, OutboxState
from graph_dpg.services.letters import ActionRefused, Actor, LetterNotFound, LettersService, Query, Role
from graph_dpg.services.outbound import OutboundService

from .harness import CITIZEN, CITIZEN2, COMPANY, MAILBOX, PDF, Harness, make_harness, settings

GW = "ngdp.digital-post.dk"
ADMIN = Actor("alice@kommune.dk", Role.ADMIN, via="console")
READER = Actor("bob@kommune.dk", Role.READER, via="console")
CLOSED = "0404904567"


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = await make_harness(db_url, max_attempts=1)
    harness.ngdp.register(cpr=CLOSED, status="CLOSED")
    async with harness.mailbox:
        yield harness
    harness.store.close()


def letters(h: Harness) -> LettersService:
    return LettersService(h.store, language="en")


def audited(h: Harness, action: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from graph_dpg.adapters.store import schema as t

    with h.store.engine.connect() as conn:
        rows = conn.execute(select(t.audit_events).where(t.audit_events.c.action == action)).all()
    return [dict(r._mapping) for r in rows]


async def receipts_round(h: Harness) -> None:
    await h.service.pull_business_receipts()
    await h.service.apply_business_receipts()
    await h.service.run_effects()


async def test_search_by_cpr_mailbox_subject_and_uuid_shows_the_cpr_masked(h: Harness) -> None:
    h.send("Afgørelse om boligstøtte", [f"{CITIZEN}@29189846.{GW}"])
    h.send("Noget andet", [f"{CITIZEN2}@29189846.{GW}"])
    h.send("Til firma", [f"{COMPANY}@29189846.{GW}"])
    await h.cycle()
    svc = letters(h)
    by_cpr = await svc.search(Query(text="010170-1234"), READER)
    [hit] = by_cpr.letters
    assert hit.subject == "Afgørelse om boligstøtte"
    assert hit.recipient == "010170-xxxx" and CITIZEN not in repr(by_cpr)
    assert by_cpr.notes  # inbound post cannot be searched by CPR: said, not silently empty
    assert [x.job_id for x in (await svc.search(Query(text="boligstøtte"), READER)).letters] == [hit.job_id]
    assert len((await svc.search(Query(text=MAILBOX), READER)).letters) == 3
    assert (await svc.search(Query(text=MAILBOX, state="failed"), READER)).letters == []
    assert [x.job_id for x in (await svc.search(Query(text=hit.message_uuid or ""), READER)).letters] == [
        hit.job_id
    ]
    assert (await svc.search(Query(text="100%_"), READER)).letters == []  # LIKE wildcards are literal
    [company] = (await svc.search(Query(text=COMPANY), READER)).letters  # a CVR: the recipients searched
    assert company.subject == "Til firma" and company.recipient == COMPANY


async def test_timeline_of_a_sent_letter_in_order_with_replica_and_memo_masked(h: Harness) -> None:
    h.send("Tidslinje", [f"{CITIZEN}@29189846.{GW}"])
    await h.cycle()
    await receipts_round(h)
    svc = letters(h)
    [hit] = (await svc.search(Query(text="Tidslinje"), READER)).letters
    tl = await svc.timeline(hit.job_id, READER)
    kinds = [s.kind for s in tl.steps]
    for wanted in ("seen", "planned", "sent", "receipt", "done", "receipt_mail", "category"):
        assert wanted in kinds, kinds
    assert kinds.index("seen") < kinds.index("planned") < kinds.index("sent") < kinds.index("done")
    assert next(s for s in tl.steps if s.kind == "seen").replica == h.store.replica
    assert any(s.words == "Business receipt from Digital Post: COMPLETED" for s in tl.steps)
    [row] = tl.recipients
    assert row.recipient == "010170-xxxx" and row.state == "accepted" and row.receipt_status == "COMPLETED"
    memo = await svc.memo_as_sent(row.message_uuid, READER)
    assert memo.kept == "stored" and memo.xml is not None
    assert CITIZEN.encode() not in memo.xml and b"010170-xxxx" in memo.xml
    with pytest.raises(LetterNotFound):
        await svc.timeline("00000000-0000-0000-0000-000000000000", READER)


async def test_retry_after_a_transport_failure_keeps_the_message_uuid(h: Harness) -> None:
    h.ngdp.faults.script("send", *["503"] * 5)  # the client's own 5 attempts, then the service gives up
    h.send("Ustabil", [f"{CITIZEN}@29189846.{GW}"])
    await h.cycle()
    svc = letters(h)
    [hit] = (await svc.search(Query(text="Ustabil"), READER)).letters
    tl = await svc.timeline(hit.job_id, READER)
    [row] = tl.recipients
    assert row.state == "failed" and row.retry == "same" and row.reason
    assert h.ngdp.accepted == []

    with pytest.raises(ActionRefused) as refused:
        await svc.retry(row.message_uuid, READER)
    assert refused.value.reason.name == "CONSOLE_REFUSED_ROLE"

    first = await svc.retry(row.message_uuid, ADMIN)
    assert first.changed and first.retried == [row.message_uuid] and first.replaced == {}
    again = await svc.retry(row.message_uuid, ADMIN)  # idempotent: nothing new, no second audit row
    assert not again.changed
    job = h.store.get_job(hit.job_id)
    assert job is not None and job.state is JobState.SENDING

    await h.cycle()
    [accepted] = h.ngdp.accepted
    assert accepted.summary.message_uuid == row.message_uuid  # the idempotency key, unchanged
    job = h.store.get_job(hit.job_id)
    assert job is not None and job.state is JobState.DONE
    [event] = audited(h, "console.letter.retried")
    assert event["actor"] == ADMIN.name
    assert event["details"]["via"] == "console" and event["details"]["role"] == "Gateway.Admin"
    assert event["details"]["same_uuid"] == [row.message_uuid]
    steps = (await svc.timeline(row.message_uuid, READER)).steps
    assert any(s.kind == "retried" and s.actor == ADMIN.name for s in steps)


async def test_retry_after_not_allowed_makes_a_new_letter_linked_to_the_first(h: Harness) -> None:
    h.send("Lukket postkasse", [f"{CLOSED}@29189846.{GW}"])
    await h.cycle()
    await receipts_round(h)
    svc = letters(h)
    [hit] = (await svc.search(Query(text="Lukket"), READER)).letters
    [row] = (await svc.timeline(hit.job_id, READER)).recipients
    assert row.receipt_status == "NOT_ALLOWED" and row.retry == "new"
    assert row.reason is not None and "physical post" in row.reason

    h.ngdp.register(cpr=CLOSED)  # the citizen's mailbox is open again
    result = await svc.retry(hit.job_id, ADMIN)
    assert result.changed and result.retried == []
    [(old, new)] = result.replaced.items()
    assert old == row.message_uuid and new != old
    assert not (await svc.retry(hit.job_id, ADMIN)).changed  # the link exists: no second new letter
    with pytest.raises(ActionRefused):
        await svc.retry(old, READER)

    await h.cycle()
    await receipts_round(h)
    sent = [m for m in h.ngdp.accepted if m.summary.message_uuid == new]
    assert len(sent) == 1 and parse(sent[0].xml).header.message_uuid == new
    assert parse(sent[0].xml).header.recipient.recipient_id == CLOSED
    tl = await svc.timeline(hit.job_id, READER)
    by_uuid = {r.message_uuid: r for r in tl.recipients}
    assert by_uuid[old].replaced_by == new and by_uuid[new].replaces == old
    assert by_uuid[new].receipt_status == "COMPLETED" and by_uuid[old].retry is None
    assert any(s.kind == "replaced" for s in (await svc.timeline(old, READER)).steps)
    assert len(audited(h, "console.letter.retried")) == 1


class CancelDuringFirstBatch:
    """The NgDP client, with an operator cancelling the job while the first batch is being sent."""

    def __init__(self, inner: Any, cancel: Any) -> None:
        self._inner = inner
        self._cancel = cancel
        self.sends = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def send_memo(self, message_uuid: str, xml: bytes, *, possibly_sent: bool = False) -> Any:
        self.sends += 1
        if self.sends == 1:
            await self._cancel()
        return await self._inner.send_memo(message_uuid, xml, possibly_sent=possibly_sent)


async def test_cancel_of_a_running_mass_delivery_sends_the_batch_in_flight_and_not_the_rest(
    h: Harness,
) -> None:
    cprs = [f"{d:02d}0170{s:04d}" for d in range(1, 22) for s in range(10)]  # 210: a batch of 200, then 10
    h.send(
        "Masse",
        [f"masseforsendelse-{len(cprs)}@29189846.{GW}"],
        attachments=[
            ("masseforsendelse.txt", "text/plain", "\n".join(cprs).encode()),
            ("b.pdf", "application/pdf", PDF),
        ],
    )
    svc = letters(h)
    await h.service.poll(h.service.settings.mailboxes[0])
    [hit] = (await svc.search(Query(text="Masse"), READER)).letters
    results: list[Any] = []

    async def cancel() -> None:
        results.append(await svc.cancel(hit.job_id, ADMIN))

    client = CancelDuringFirstBatch(in_process_client(h.ngdp), cancel)
    service = OutboundService(h.mailbox, client, h.store, settings(max_attempts=1))
    await service.run_once()

    assert results[0].changed
    assert len(h.ngdp.accepted) == 200  # what was sent stays sent
    progress = h.store.job_progress(hit.job_id)
    assert progress[OutboxState.ACCEPTED] == 200 and progress[OutboxState.FAILED] == 10
    assert progress[OutboxState.PENDING] == 0
    job = h.store.get_job(hit.job_id)
    assert job is not None and job.state is JobState.DONE
    [mass] = await svc.mass_deliveries(READER)
    assert mass.cancelled and mass.progress["failed"] == 10
    await service.run_once()
    assert len(h.ngdp.accepted) == 200  # nothing more, ever
    again = await svc.cancel(hit.job_id, ADMIN)
    assert not again.changed
    [event] = audited(h, "console.letter.cancelled")
    assert event["actor"] == ADMIN.name and event["details"]["job"] == hit.job_id
    tl = await svc.timeline(hit.job_id, READER)
    assert tl.cancellation is not None and tl.cancellation.actor == ADMIN.name
    # The recipients that need someone come first, each with its reason in words.
    assert [r.state for r in tl.recipients[:10]] == ["failed"] * 10
    assert {r.reason for r in tl.recipients[:10]} == {"Not sent because the delivery was cancelled."}
    assert tl.recipients_total == 210 and len(tl.recipients) == 200


async def test_cancel_is_refused_for_a_reader_and_for_a_finished_letter(h: Harness) -> None:
    h.send("Færdig", [f"{CITIZEN}@29189846.{GW}"])
    await h.cycle()
    svc = letters(h)
    [hit] = (await svc.search(Query(text="Færdig"), READER)).letters
    with pytest.raises(ActionRefused) as role:
        await svc.cancel(hit.job_id, READER)
    assert "Gateway.Admin" in role.value.words("en")
    with pytest.raises(ActionRefused) as finished:
        await svc.cancel(hit.job_id, ADMIN)
    assert finished.value.words("da") != finished.value.words("en")
    assert audited(h, "console.letter.cancelled") == []


async def test_resend_receipt_writes_it_again_once_and_reveal_is_admin_only_and_audited(h: Harness) -> None:
    h.send("Kvittering igen", [f"{CITIZEN}@29189846.{GW}"])
    await h.cycle()
    assert len(h.receipts()) == 1
    svc = letters(h)
    [hit] = (await svc.search(Query(text="Kvittering igen"), READER)).letters
    first = await svc.resend_receipt(hit.job_id, ADMIN)
    second = await svc.resend_receipt(hit.job_id, ADMIN)  # still planned: the same request
    assert first.changed and not second.changed
    await h.service.run_effects()
    assert len(h.receipts()) == 2
    assert len(audited(h, "console.receipt.resent")) == 1

    [row] = (await svc.timeline(hit.job_id, READER)).recipients
    with pytest.raises(ActionRefused):
        await svc.reveal_cpr(row.message_uuid, READER)
    assert await svc.reveal_cpr(row.message_uuid, ADMIN) == CITIZEN
    [event] = audited(h, "console.cpr.revealed")
    assert event["actor"] == ADMIN.name and CITIZEN not in repr(event)


async def test_retry_of_a_letter_still_being_sent_is_refused_not_pretended(db_url: str) -> None:
    h = await make_harness(db_url, max_attempts=3, retry_base_seconds=3600.0, retry_max_seconds=3600.0)
    async with h.mailbox:
        h.ngdp.faults.script("send", *["503"] * 5)  # one transient failure: the row waits for its retry
        h.send("Venter", [f"{CITIZEN}@29189846.{GW}"])
        await h.cycle()
        svc = letters(h)
        [hit] = (await svc.search(Query(text="Venter"), READER)).letters
        assert hit.progress["pending"] == 1
        with pytest.raises(ActionRefused) as refused:
            await svc.retry(hit.job_id, ADMIN)
        assert refused.value.reason.name == "CONSOLE_REFUSED_IN_PROGRESS"
        assert audited(h, "console.letter.retried") == []
    h.store.close()


async def test_a_refused_mail_says_why_in_the_words_of_its_receipt(h: Harness) -> None:
    h.send(
        "Forkert antal",
        [f"masseforsendelse-3@29189846.{GW}"],
        attachments=[("masseforsendelse.txt", "text/plain", f"{CITIZEN}\n{CITIZEN2}\n".encode())],
    )
    await h.cycle()
    svc = letters(h)
    [hit] = (await svc.search(Query(text="Forkert antal", state="rejected"), READER)).letters
    tl = await svc.timeline(hit.job_id, READER)
    [step] = [s for s in tl.steps if s.kind == "rejected"]
    assert step.reason is not None and "masseforsendelse.txt" in step.reason and "3" in step.reason
    assert "mass.count" not in step.reason  # the code is for the support line, not the sentence
    with pytest.raises(ActionRefused):
        await svc.retry(hit.job_id, ADMIN)  # nothing was made into a letter: the sender fixes the mail


class _Names:
    """A name lookup (``ports.names.NameLookup``) with a protected person: the register answers such a
    person without a name (issue 20; ``domain.names``: "protected … the name is not shown")."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def enabled(self, kind: str) -> bool:
        return kind == "cpr"

    async def lookup(self, number: str) -> Any:
        raise AssertionError("the search asks name_of")

    async def name_of(self, number: str) -> str | None:
        self.asked.append(number)
        return "Jens Hansen" if number == CITIZEN else None  # CITIZEN2: protected, no name


async def test_search_hits_name_the_recipient_where_a_register_answers_never_a_protected_one(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.send("Navngivet", [f"{CITIZEN}@29189846.{GW}"])
    h.send("Beskyttet", [f"{CITIZEN2}@29189846.{GW}"])
    h.send("Firma", [f"{COMPANY}@29189846.{GW}"])
    await h.cycle()
    names = _Names()
    svc = LettersService(h.store, language="en", names=names)  # type: ignore[arg-type]
    caplog.set_level("DEBUG")
    [named] = (await svc.search(Query(text=CITIZEN), READER)).letters
    assert named.recipient_label == "Jens Hansen (010170-xxxx)"
    [protected] = (await svc.search(Query(text=CITIZEN2), READER)).letters
    assert protected.recipient_name is None and protected.recipient_label == protected.recipient
    [company] = (await svc.search(Query(text=COMPANY), READER)).letters
    assert company.recipient_name is None  # no CVR register configured: not asked
    assert names.asked == [CITIZEN, CITIZEN2]
    assert "Jens Hansen" not in caplog.text and CITIZEN not in caplog.text
    # A subject search matches no recipient: nothing to name, nothing asked.
    assert (await svc.search(Query(text="Navngivet"), READER)).letters[0].recipient_name is None
    assert names.asked == [CITIZEN, CITIZEN2]
