"""One contract, two stores: the in-memory fake the service tests use, and the SQL store on SQLite.

Every assertion here runs against both, so the fake cannot drift from what the services meet in
production: the same answers, the same state transitions and ``StoreError`` for illegal ones, the same
orderings, the same CPR masking and JSON round trips. ``test_store_operations.py`` goes deeper into the
SQL store (PostgreSQL, bulk inserts, concurrency); the fake only has to agree with it on the ports.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

from graph_dpg.adapters.store import SqlStore, create_store
from graph_dpg.core.errors import StoreError
from graph_dpg.ports.store import (
    AuditEntry,
    DeliveredMemo,
    EffectPlan,
    EffectState,
    InboundSource,
    InboundState,
    InboundStore,
    JobState,
    OutboundJob,
    OutboundStore,
    OutboxReports,
    OutboxState,
    PlannedMemo,
    ReceivedMemo,
    RuleAdmin,
    SendOutcome,
)
from tests.fakes import FakeStore
from tests.store_rows import audit_rows

CPR = "0101701234"
MASKED = "010170-xxxx"


class ContractStore(OutboundStore, InboundStore, OutboxReports, RuleAdmin, Protocol):
    """What the fake claims to be: every store protocol a service takes, and the operators' reads."""


@pytest.fixture(params=["fake", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ContractStore]:
    if request.param == "fake":
        yield FakeStore()
        return
    sql = create_store(f"sqlite:///{tmp_path / 'state.db'}", replica="test-replica")
    try:
        yield sql
    finally:
        sql.close()


def audit_trail(store: ContractStore) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, subject, details) of every audit event, oldest first: an operator reads the table."""
    if isinstance(store, FakeStore):
        return [(e.action, e.subject, dict(e.details)) for e in store.audit_events]
    assert isinstance(store, SqlStore)
    return [(r["action"], r["subject"], r["details"]) for r in audit_rows(store)]


def job(job_id: str = "job-1", message_id: str = "AAMk-1", subject: str = "Hej") -> OutboundJob:
    return OutboundJob(
        id=job_id,
        mailbox="sag@kommune.dk",
        message_id=message_id,
        internet_message_id=f"<{message_id}@kommune.dk>",
        subject=subject,
        channel="digitalpost",
    )


def memos(n: int) -> list[PlannedMemo]:
    return [
        PlannedMemo(str(uuid.uuid4()), "cpr", f"{i:010d}", None, b"<Message>%d</Message>" % i)
        for i in range(n)
    ]


def _protocol_methods(protocol: type) -> dict[str, inspect.Signature]:
    found: dict[str, inspect.Signature] = {}
    for klass in reversed(protocol.__mro__):
        for name, value in vars(klass).items():
            if inspect.isfunction(value) and not name.startswith("_"):
                found[name] = inspect.signature(value)
    return found


def test_it_has_every_method_of_the_ports_with_their_parameters(store: ContractStore) -> None:
    wanted = _protocol_methods(ContractStore)
    assert {
        "claim_source_message",
        "plan_job",
        "record_receipt",
        "mark_delivered",
        "audit",
        "enable_rule",
    } <= set(wanted)
    for name, signature in wanted.items():
        method = getattr(store, name, None)
        assert callable(method), f"{type(store).__name__} lacks {name}"
        expected = [(p.name, p.kind, p.default) for p in signature.parameters.values() if p.name != "self"]
        actual = [(p.name, p.kind, p.default) for p in inspect.signature(method).parameters.values()]
        assert actual == expected, name


def test_a_source_message_is_claimed_once_by_id_or_message_id(store: ContractStore) -> None:
    assert store.claim_source_message("a@x.dk", "m1", "<i1@x>") is True
    assert store.claim_source_message("a@x.dk", "m1", "<i1@x>") is False
    assert store.claim_source_message("a@x.dk", "m2", "<i1@x>") is False  # a copy with the same Message-ID
    assert store.claim_source_message("b@x.dk", "m1", "<i1@x>") is True  # another mailbox
    assert store.claim_source_message("a@x.dk", "m3", None) is True
    assert store.claim_source_message("a@x.dk", "m4", "") is True  # no Message-ID: only the id counts
    assert store.claim_source_message("a@x.dk", "m3", None) is False


def test_delta_links_are_kept_per_mailbox_and_folder(store: ContractStore) -> None:
    assert store.get_delta_link("a@x.dk", "sentitems") is None
    store.set_delta_link("a@x.dk", "sentitems", "link-1")
    store.set_delta_link("a@x.dk", "sentitems", "link-2")
    store.set_delta_link("a@x.dk", "inbox", "link-i")
    assert store.get_delta_link("a@x.dk", "sentitems") == "link-2"
    assert store.get_delta_link("a@x.dk", "inbox") == "link-i"
    assert store.get_delta_link("b@x.dk", "sentitems") is None


def test_a_job_is_created_once_and_planned_once(store: ContractStore) -> None:
    assert store.create_job(job(subject=f"Sag om {CPR}")) is True
    assert store.create_job(job()) is False
    assert store.create_job(job("job-2", "AAMk-1")) is False  # the same mail under another id
    created = store.get_job("job-1")
    assert created is not None and created.state is JobState.NEW
    assert created.subject == f"Sag om {MASKED}"
    assert created.created_at is not None and created.updated_at is not None
    assert store.find_job("sag@kommune.dk", "AAMk-1") == created
    assert store.get_job("nope") is None and store.find_job("sag@kommune.dk", "nope") is None

    planned = memos(3)
    assert store.plan_job(replace_warnings(job(), ("Bilag omdøbt",)), planned) is True
    assert store.plan_job(job(), memos(3)) is False  # a restart re-planning it gets no second set
    again = store.get_job("job-1")
    assert again is not None and again.state is JobState.PLANNED and again.warnings == ("Bilag omdøbt",)
    assert [e.message_uuid for e in store.list_outbox("job-1")] == [m.message_uuid for m in planned]
    # Planning a mail that has no job yet creates it; one whose mail another job has is refused.
    assert store.plan_job(job("job-3", "AAMk-3"), memos(1)) is True
    assert store.plan_job(job("job-4", "AAMk-3"), memos(1)) is False
    assert store.get_job("job-4") is None


def replace_warnings(j: OutboundJob, warnings: tuple[str, ...]) -> OutboundJob:
    return OutboundJob(
        j.id, j.mailbox, j.message_id, j.internet_message_id, j.subject, j.channel, warnings=warnings
    )


def test_a_duplicate_message_uuid_writes_nothing(store: ContractStore) -> None:
    planned = memos(2)
    assert store.plan_job(job("j1", "m1"), planned) is True
    with pytest.raises(StoreError, match="plan job"):
        store.plan_job(job("j2", "m2"), [planned[0]])
    assert store.get_job("j2") is None
    assert store.job_progress("j1")[OutboxState.PENDING] == 2


def test_job_states_follow_the_state_machine(store: ContractStore) -> None:
    store.plan_job(job(), memos(1))
    store.set_job_state("job-1", JobState.SENDING)
    store.set_job_state("job-1", JobState.SENDING)  # the state it has: a repeat after a crash is harmless
    store.set_job_state("job-1", JobState.FAILED, "gave up")
    failed = store.get_job("job-1")
    assert failed is not None and (failed.state, failed.error) == (JobState.FAILED, "gave up")
    with pytest.raises(StoreError, match="illegal transition"):
        store.set_job_state("job-1", JobState.DONE)
    with pytest.raises(StoreError, match="unknown outbound job"):
        store.set_job_state("nope", JobState.DONE)
    store.create_job(job("job-2", "AAMk-2"))
    store.set_job_state("job-2", JobState.REJECTED, "too many attachments")
    assert store.plan_job(job("job-2", "AAMk-2"), memos(1)) is False
    assert store.list_outbox("job-2") == []


def test_a_transient_failure_counts_an_attempt_and_keeps_the_state(store: ContractStore) -> None:
    store.create_job(job())
    store.create_job(job("job-2", "AAMk-2"))
    fresh = store.get_job("job-1")
    assert fresh is not None and (fresh.attempts, fresh.not_before) == (0, None)
    later = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert store.record_job_retry("job-1", f"[graph 503] busy reading {CPR}", later) == 1
    assert store.record_job_retry("job-1", "[graph 503] still busy", later + timedelta(seconds=10)) == 2
    retried = store.get_job("job-1")
    assert retried is not None and retried.state is JobState.NEW
    assert (retried.attempts, retried.error) == (2, "[graph 503] still busy")
    assert retried.not_before == later + timedelta(seconds=10)
    # The failed job moves behind the others: they are tried first.
    assert [j.id for j in store.jobs_in_state([JobState.NEW])] == ["job-2", "job-1"]
    first = store.record_job_retry("job-2", f"mail of {CPR}", later)
    assert first == 1 and (store.get_job("job-2") or job()).error == f"mail of {MASKED}"
    # A finished job keeps what it has.
    store.set_job_state("job-1", JobState.FAILED, "gave up")
    assert store.record_job_retry("job-1", "late", later) == 2
    done = store.get_job("job-1")
    assert done is not None and (done.state, done.error) == (JobState.FAILED, "gave up")
    with pytest.raises(StoreError, match="unknown outbound job"):
        store.record_job_retry("nope", "x", later)


def test_jobs_in_state_oldest_change_first(store: ContractStore) -> None:
    for n in (1, 2, 3):
        store.create_job(job(f"job-{n}", f"AAMk-{n}"))
    store.plan_job(job("job-1", "AAMk-1"), memos(1))  # changed last
    assert [j.id for j in store.jobs_in_state([JobState.NEW])] == ["job-2", "job-3"]
    assert [j.id for j in store.jobs_in_state([JobState.NEW, JobState.PLANNED])] == [
        "job-2",
        "job-3",
        "job-1",
    ]
    assert [j.id for j in store.jobs_in_state([JobState.NEW, JobState.PLANNED], limit=1)] == ["job-2"]


def test_jobs_in_state_of_some_mailboxes_are_not_hidden_by_another_mailboxs_page(
    store: ContractStore,
) -> None:
    """Fairness (issue 18): a mailbox with thousands of older jobs must not fill the page another
    mailbox's single letter is looked for in."""
    for n in range(5):
        store.create_job(job(f"busy-{n}", f"AAMk-{n}"))
    other = OutboundJob("single", "Other@Kommune.dk", "AAMk-x", "<x@kommune.dk>", "Brev", "digitalpost")
    store.create_job(other)
    assert "single" not in [j.id for j in store.jobs_in_state([JobState.NEW], limit=2)]
    assert [j.id for j in store.jobs_in_state([JobState.NEW], limit=2, mailboxes={"other@kommune.dk"})] == [
        "single"
    ]
    assert store.jobs_in_state([JobState.NEW], mailboxes=set()) == []


def test_whether_a_mailbox_has_unfinished_jobs_is_one_answer(store: ContractStore) -> None:
    """Issue 18: an idle poll asks this once instead of reading a page per unfinished state."""
    unfinished = [JobState.NEW, JobState.PLANNED, JobState.SENDING]
    assert store.has_jobs_in_state(unfinished, mailboxes={"sag@kommune.dk"}) is False
    store.create_job(job())
    assert store.has_jobs_in_state(unfinished, mailboxes={"SAG@kommune.dk"}) is True
    assert store.has_jobs_in_state(unfinished, mailboxes={"other@kommune.dk"}) is False
    assert store.has_jobs_in_state(unfinished, mailboxes=set()) is False
    store.set_job_state("job-1", JobState.REJECTED, "nej")
    assert store.has_jobs_in_state(unfinished, mailboxes={"sag@kommune.dk"}) is False
    assert store.has_jobs_in_state([JobState.REJECTED], mailboxes={"sag@kommune.dk"}) is True


def test_whether_effects_are_pending_agrees_with_pending_effects(store: ContractStore) -> None:
    assert store.plan_effect("receipt:a1", {"job": "a1"}, "a@kommune.dk")
    assert store.plan_effect("categories:b1:sent", {"job": "b1"}, "b@kommune.dk")
    assert store.plan_effect("alert:old", {})
    prefixes = ["receipt:", "categories:"]

    def pending(**kw: Any) -> bool:
        found = bool([e for p in prefixes for e in store.pending_effects(prefix=p, **kw)])
        answer = store.has_pending_effects(prefixes, **kw)
        assert answer is found, kw
        return answer

    assert pending() and pending(mailboxes=["A@kommune.dk"]) and pending(mailboxes=["b@kommune.dk"])
    assert not pending(mailboxes=["c@kommune.dk"]) and not pending(mailboxes=[])
    assert not pending(unowned=True)  # the unowned one is an alert: another prefix
    assert pending(unowned=True, known=["a@kommune.dk"])  # b was removed from the gateway file
    assert store.has_pending_effects(["alert:"]) and not store.has_pending_effects(["alert_"])
    store.complete_effect("receipt:a1", {"ok": True})
    assert not pending(mailboxes=["a@kommune.dk"])


def test_whether_inbound_memos_are_claimable_agrees_with_claim_inbound(store: ContractStore) -> None:
    steps = [
        (InboundState.RECEIVED, None),
        (InboundState.DELIVERED, None),
        (InboundState.ACKNOWLEDGED, InboundSource.PULL),
    ]
    assert store.has_claimable_inbound(steps) is False
    store.store_inbound_memo("u1", InboundSource.PUSH, b"<m/>")
    assert store.has_claimable_inbound(steps) is True
    assert store.has_claimable_inbound([(InboundState.RECEIVED, InboundSource.PULL)]) is False
    assert [m.memo_uuid for m in store.claim_inbound("r1", InboundState.RECEIVED, 60)] == ["u1"]
    assert store.has_claimable_inbound(steps) is False  # claimed (by anyone): not for the taking
    store.mark_delivered("u1", "post@kommune.dk", "AAMk-1")
    store.mark_acknowledged("u1")
    store.release_inbound("r1", ["u1"])
    assert store.has_claimable_inbound(steps) is False  # a pushed memo ends acknowledged
    assert store.has_claimable_inbound([(InboundState.ACKNOWLEDGED, None)]) is True
    assert store.has_claimable_inbound([]) is False


def test_pending_effects_by_the_mailbox_whose_lease_runs_them(store: ContractStore) -> None:
    """Issue 18: an effect names its mailbox; the holder of that mailbox's lease asks for its effects only,
    the housekeeping holder for those owned by none (planned before migration 0010)."""
    assert store.plan_effect("receipt:a1", {"job": "a1"}, "A@Kommune.dk")
    assert store.plan_effect("receipt:b1", {"job": "b1"}, "b@kommune.dk")
    assert store.plan_effect("receipt:old", {"job": "old"})

    def keys(**kw: Any) -> list[str]:
        return sorted(e.key for e in store.pending_effects(prefix="receipt:", **kw))

    assert keys() == ["receipt:a1", "receipt:b1", "receipt:old"]
    assert keys(mailboxes=["a@kommune.dk"]) == ["receipt:a1"]
    assert keys(mailboxes=["B@kommune.dk"], unowned=True) == ["receipt:b1", "receipt:old"]
    assert keys(unowned=True) == ["receipt:old"]
    assert keys(mailboxes=[]) == []
    # b was removed from the gateway file: its effects count as owned by none, not as nobody's job
    assert keys(unowned=True, known=["a@kommune.dk"]) == ["receipt:b1", "receipt:old"]
    assert keys(mailboxes=["a@kommune.dk"], unowned=True, known=["a@kommune.dk"]) == [
        "receipt:a1",
        "receipt:b1",
        "receipt:old",
    ]


def test_send_outcomes_move_pending_rows_once(store: ContractStore) -> None:
    planned = memos(5)
    store.plan_job(job(), planned)
    u0, u1, u2, u3, u4 = (m.message_uuid for m in planned)
    pending = store.next_pending("job-1")
    assert [p.message_uuid for p in pending] == [u0, u1, u2, u3, u4]
    assert pending[0].memo_xml == b"<Message>0</Message>" and pending[0].attempts == 0
    outcomes = [
        SendOutcome(u0, OutboxState.ACCEPTED, transmission_id="tx-0", receipt_status="RECEIVED"),
        SendOutcome(u1, OutboxState.REJECTED, error=f'{{"code":"X","message":"bad {CPR}"}}'),
        SendOutcome(u2, OutboxState.FAILED, error="gave up"),
        SendOutcome(u3, None, error=f"503 for {CPR}", retry_at=datetime.now(UTC) + timedelta(hours=1)),
    ]
    assert store.record_send_results(outcomes) == 4
    assert store.record_send_results(outcomes[:1]) == 0  # recorded twice: the second changes nothing
    assert store.record_send_results([SendOutcome(u0, OutboxState.FAILED, error="late")]) == 0
    assert store.record_send_results([SendOutcome("unknown", OutboxState.ACCEPTED)]) == 0

    def row(u: str) -> tuple[object, ...]:
        e = store.find_by_message_uuid(u)
        assert e is not None and e.memo_xml is None  # the XML only when asked for
        return (e.state, e.attempts, e.last_error, e.transmission_id, e.receipt_status)

    assert row(u0) == (OutboxState.ACCEPTED, 0, None, "tx-0", "RECEIVED")
    assert row(u1) == (OutboxState.REJECTED, 1, f'{{"code":"X","message":"bad {MASKED}"}}', None, None)
    assert row(u2) == (OutboxState.FAILED, 0, "gave up", None, None)
    assert row(u3) == (OutboxState.PENDING, 1, f"503 for {MASKED}", None, None)
    with_xml = store.find_by_message_uuid(u3, with_xml=True)
    assert with_xml is not None and with_xml.memo_xml == b"<Message>3</Message>"
    assert store.find_by_message_uuid("unknown") is None
    # The transient failure waits for its retry time; the untouched row is due now.
    assert [p.message_uuid for p in store.next_pending("job-1")] == [u4]
    assert [p.message_uuid for p in store.next_pending(None)] == [u4]
    assert store.next_pending("other-job") == []
    assert store.job_progress("job-1") == {
        OutboxState.PENDING: 2,
        OutboxState.ACCEPTED: 1,
        OutboxState.REJECTED: 1,
        OutboxState.FAILED: 1,
    }
    assert store.outbox_counts()[OutboxState.PENDING] == 2
    due_now = SendOutcome(u3, None, error="again", retry_at=datetime.now(UTC) - timedelta(seconds=1))
    assert store.record_send_results([due_now]) == 1
    assert [p.message_uuid for p in store.next_pending("job-1")] == [u3, u4]


def test_the_outbox_is_listed_in_pages_without_xml(store: ContractStore) -> None:
    planned = memos(5)
    store.plan_job(job(), planned)
    first = store.list_outbox("job-1", limit=3)
    rest = store.list_outbox("job-1", after_id=first[-1].id)
    assert [e.message_uuid for e in first + rest] == [m.message_uuid for m in planned]
    assert all(e.memo_xml is None and e.recipient_kind == "cpr" for e in first + rest)
    assert store.list_outbox("job-1", after_id=rest[-1].id) == []
    assert "0000000001" not in repr(first[1])  # the recipient's id is never in a repr


def test_an_effect_attempt_is_noted_first_once(store: ContractStore) -> None:
    """Issue 18: the first noted attempt at a planned effect is told apart from every later one (durably,
    so after a crash too): only the first may leave out its marker lookup (services.effects.Marker)."""
    assert store.plan_effect("receipt:n1", {"job": "n1"}, "a@kommune.dk")
    assert store.note_effect_attempt("receipt:n1") is True
    assert store.note_effect_attempt("receipt:n1") is False  # a retry, or a replay after a crash
    noted = store.get_effect("receipt:n1")
    assert noted is not None and noted.state is EffectState.PLANNED
    assert [e.key for e in store.pending_effects(prefix="receipt:")] == ["receipt:n1"]  # still planned
    assert store.complete_effect("receipt:n1", {"message_id": "m"}) is True
    done = store.get_effect("receipt:n1")
    assert done is not None and done.result == {"message_id": "m"}  # the completion's result replaces it
    assert store.note_effect_attempt("receipt:n1") is False  # done
    assert store.note_effect_attempt("receipt:unknown") is False


def test_a_pages_attempts_are_noted_and_its_completions_committed_together(store: ContractStore) -> None:
    """Issue 18: a page of effects notes its attempts in one transaction and commits its completions (each
    with its audit record) in one; each answers as the one-at-a-time method would."""
    for key in ("receipt:p1", "receipt:p2", "receipt:p3"):
        assert store.plan_effect(key, {"job": key}, "a@kommune.dk")
    assert store.note_effect_attempt("receipt:p2") is True
    assert store.complete_effect("receipt:p3", {"message_id": "m3"}) is True
    noted = store.note_effect_attempts(["receipt:p1", "receipt:p2", "receipt:p3", "receipt:unknown"])
    assert noted == {"receipt:p1"}  # p2 was noted before, p3 is done, the last is not planned
    assert store.note_effect_attempts(["receipt:p1"]) == set()
    assert store.note_effect_attempts([]) == set()

    audit = AuditEntry("outbound.receipt.written", "Hej", details={"job": "p1"})
    done = store.complete_effects(
        [
            ("receipt:p1", {"message_id": "m1"}, audit),
            ("receipt:p2", None, None),
            ("receipt:p3", {"message_id": "again"}, AuditEntry("not.written", "x")),  # already done
            ("receipt:unknown", {}, AuditEntry("not.written", "y")),  # no such effect: no error
        ]
    )
    assert done == {"receipt:p1", "receipt:p2"}
    p1, p3 = store.get_effect("receipt:p1"), store.get_effect("receipt:p3")
    assert p1 is not None and p1.state is EffectState.DONE and p1.result == {"message_id": "m1"}
    assert p3 is not None and p3.result == {"message_id": "m3"}  # left as it was
    assert store.pending_effects(prefix="receipt:") == []
    assert [a for a, _, _ in audit_trail(store)] == ["outbound.receipt.written"]
    assert store.complete_effects([]) == set()


def test_a_pages_jobs_outcomes_and_rows_are_read_in_one_go(store: ContractStore) -> None:
    store.create_job(job("job-1", "AAMk-1"))
    store.create_job(job("job-2", "AAMk-2"))
    store.create_job(job("job-3", "AAMk-3"))
    one, two = memos(3), memos(1)
    store.plan_job(job("job-1", "AAMk-1"), one)
    store.plan_job(job("job-2", "AAMk-2"), two)
    store.record_send_results([SendOutcome(one[0].message_uuid, OutboxState.ACCEPTED, transmission_id="t1")])
    store.record_receipt("r1", {"messageUUID": one[0].message_uuid, "receiptStatus": "INVALID"})

    statuses = store.jobs_statuses(["job-1", "job-2", "job-3", "job-4"])
    assert statuses == {"job-1": store.job_statuses("job-1"), "job-2": store.job_statuses("job-2")}
    assert statuses["job-1"] == {(OutboxState.ACCEPTED, "INVALID"): 1, (OutboxState.PENDING, None): 2}
    assert store.jobs_statuses([]) == {}

    rows = store.outbox_of_jobs(["job-2", "job-1", "job-3"])
    assert set(rows) == {"job-1", "job-2"}
    assert rows["job-1"] == store.list_outbox("job-1") and rows["job-2"] == store.list_outbox("job-2")
    assert all(e.memo_xml is None for e in rows["job-1"] + rows["job-2"])
    assert store.outbox_of_jobs([]) == {}


def test_effects_are_planned_once_and_completed_once(store: ContractStore) -> None:
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (
        store.plan_effect("receipt:job-1", {"to": "sag@kommune.dk", "lines": ("a", "b"), "at": stamp}) is True
    )
    assert store.plan_effect("receipt:job-1", {"to": "other"}) is False
    assert store.plan_effect("categories:job-1:sent", {"category": "sent"}) is True
    assert store.plan_effect("categories:job-2:sent", {"category": "sent"}) is True
    assert [e.key for e in store.pending_effects()] == [
        "receipt:job-1",
        "categories:job-1:sent",
        "categories:job-2:sent",
    ]
    assert [e.key for e in store.pending_effects(limit=1, prefix="categories:")] == ["categories:job-1:sent"]
    assert store.pending_effects(prefix="categories_") == []  # "_" is a character, not a wildcard
    planned = store.get_effect("receipt:job-1")
    assert planned is not None and planned.state is EffectState.PLANNED and planned.result is None
    # Stored as JSON: a tuple comes back as a list, a datetime as its text.
    assert planned.payload == {"to": "sag@kommune.dk", "lines": ["a", "b"], "at": str(stamp)}
    assert store.complete_effect("receipt:job-1", {"message_id": "AAMk-r", "n": (1,)}) is True
    assert store.complete_effect("receipt:job-1", {"message_id": "again"}) is False
    done = store.get_effect("receipt:job-1")
    assert done is not None and done.state is EffectState.DONE
    assert done.result == {"message_id": "AAMk-r", "n": [1]} and done.completed_at is not None
    assert [e.key for e in store.pending_effects()] == ["categories:job-1:sent", "categories:job-2:sent"]
    with pytest.raises(StoreError, match="unknown effect"):
        store.complete_effect("nope")
    assert store.get_effect("nope") is None


def test_business_receipts_are_kept_once_and_only_move_a_status_forward(store: ContractStore) -> None:
    planned = memos(1)
    store.plan_job(job(), planned)
    u = planned[0].message_uuid
    completed = {"messageUUID": u, "receiptStatus": "COMPLETED", "errorMessage": f"om {CPR}"}
    assert store.record_receipt("r1", completed) is True
    assert store.record_receipt("r1", completed) is False
    assert store.record_receipt("r0", {"messageUUID": u, "receiptStatus": "RECEIVED"}) is True  # late
    accepted = SendOutcome(u, OutboxState.ACCEPTED, transmission_id="t1", receipt_status="RECEIVED")
    assert store.record_send_results([accepted]) == 1
    row = store.find_by_message_uuid(u)
    assert row is not None and row.receipt_status == "COMPLETED"
    # A receipt about a MeMo this store never planned is kept, and links to nothing.
    assert store.record_receipt("r2", {"messageUUID": "unknown", "receiptStatus": "INVALID"}) is True
    assert store.record_receipt("r3", {"receiptStatus": "INVALID"}) is True

    waiting = store.unprocessed_receipts()
    assert [(r.receipt_id, r.message_uuid, r.receipt_status) for r in waiting] == [
        ("r1", u, "COMPLETED"),
        ("r0", u, "RECEIVED"),
        ("r2", "unknown", "INVALID"),
        ("r3", None, "INVALID"),
    ]
    assert waiting[0].payload == {**completed, "errorMessage": f"om {MASKED}"}
    assert not waiting[0].processed
    assert [r.receipt_id for r in store.unprocessed_receipts(limit=2)] == ["r1", "r0"]
    store.mark_receipt_processed("r1")
    store.mark_receipt_processed("r1")
    assert [r.receipt_id for r in store.unprocessed_receipts()] == ["r0", "r2", "r3"]
    with pytest.raises(StoreError, match="unknown receipt"):
        store.mark_receipt_processed("nope")


def test_an_inbound_memo_is_stored_once_and_routed_once(store: ContractStore) -> None:
    xml = "<memo:Message>æøå</memo:Message>".encode()
    assert store.store_inbound_memo("u1", InboundSource.PULL, xml) is True
    assert store.store_inbound_memo("u1", InboundSource.PUSH, b"other") is False
    assert store.load_inbound_xml("u1") == xml and store.load_inbound_xml("nope") is None
    memo = store.get_inbound("u1")
    assert memo is not None
    assert (memo.source, memo.state, memo.size, memo.attempts, memo.route) == (
        InboundSource.PULL,
        InboundState.RECEIVED,
        len(xml),
        0,
        None,
    )
    assert store.record_inbound_route("u1", {"mailbox": "byg@kommune.dk", "rules": ("KLE",)}) is True
    assert store.record_inbound_route("u1", {"mailbox": "other@kommune.dk"}) is False
    routed = store.get_inbound("u1")
    assert routed is not None and routed.route == {"mailbox": "byg@kommune.dk", "rules": ["KLE"]}
    assert store.record_inbound_route("u1", {"mailbox": "post@kommune.dk"}, replace=True) is True
    replaced = store.get_inbound("u1")
    assert replaced is not None and replaced.route == {"mailbox": "post@kommune.dk"}
    with pytest.raises(StoreError, match="unknown inbound memo"):
        store.record_inbound_route("nope", {})


def test_inbound_memos_are_claimed_by_one_replica_until_released(store: ContractStore) -> None:
    # Issue 18 (delivery on every replica): the fake agrees with SQL on claims, renewals and releases.
    for memo_uuid, source in (
        ("u1", InboundSource.PULL),
        ("u2", InboundSource.PUSH),
        ("u3", InboundSource.PULL),
    ):
        store.store_inbound_memo(memo_uuid, source, b"<m/>")
    mine = store.claim_inbound("r1", InboundState.RECEIVED, 60, limit=2)
    assert [m.memo_uuid for m in mine] == ["u1", "u2"]
    assert [m.memo_uuid for m in store.claim_inbound("r2", InboundState.RECEIVED, 60)] == ["u3"]
    assert store.claim_inbound("r2", InboundState.RECEIVED, 60) == []
    assert store.renew_inbound_claims("r1", ["u1", "u2", "u3", "nope"], 60) == {"u1", "u2"}
    store.release_inbound("r1", ["u2", "u3"])  # u3 is r2's: left alone
    assert [m.memo_uuid for m in store.claim_inbound("r2", InboundState.RECEIVED, 60)] == ["u2"]
    assert store.renew_inbound_claims("r2", ["u2", "u3"], 60) == {"u2", "u3"}
    store.mark_delivered("u1", "post@kommune.dk", "AAMk-1")
    assert store.claim_inbound("r2", InboundState.DELIVERED, 60) == []  # a state change keeps the claim
    store.release_inbound("r1", ["u1"])
    delivered = store.claim_inbound("r2", InboundState.DELIVERED, 60, source=InboundSource.PUSH)
    assert delivered == []
    assert [m.memo_uuid for m in store.claim_inbound("r2", InboundState.DELIVERED, 60)] == ["u1"]


def test_a_state_change_given_the_holder_ends_its_claim_and_batched_reads_agree(store: ContractStore) -> None:
    # Issue 18 (fewer transactions per memo): the fake agrees with SQL on ``release=`` and the batch reads.
    for memo_uuid in ("u1", "u2"):
        store.store_inbound_memo(memo_uuid, InboundSource.PULL, b"<m/>")
    assert [m.memo_uuid for m in store.claim_inbound("r1", InboundState.RECEIVED, 60)] == ["u1", "u2"]
    store.mark_delivered("u1", "post@kommune.dk", "AAMk-1", release="r1")
    store.mark_delivered("u2", "post@kommune.dk", "AAMk-2")  # no release: still r1's
    assert [m.memo_uuid for m in store.claim_inbound("r2", InboundState.DELIVERED, 60)] == ["u1"]
    store.mark_deleted("u1", audit=AuditEntry("inbound.memo.acknowledged", "u1"), release="r1")
    assert store.renew_inbound_claims("r2", ["u1"], 60) == {"u1"}  # r2's claim is not r1's to end
    store.mark_acknowledged("u2", release="r1")
    assert [m.memo_uuid for m in store.claim_inbound("r2", InboundState.ACKNOWLEDGED, 60)] == ["u2"]
    assert ("inbound.memo.acknowledged", "u1", {}) in audit_trail(store)
    known = store.get_inbound_many(["u1", "u2", "nope"])
    assert {k: v.state for k, v in known.items()} == {
        "u1": InboundState.DELETED,
        "u2": InboundState.ACKNOWLEDGED,
    }
    store.plan_effect("inbound:u1", {"mailbox": "post@kommune.dk"})
    assert {k: e.payload for k, e in store.get_effects(["inbound:u1", "inbound:nope"]).items()} == {
        "inbound:u1": {"mailbox": "post@kommune.dk"}
    }


def test_a_batch_of_inbound_marks_is_recorded_at_once_skipping_memos_in_another_state(
    store: ContractStore,
) -> None:
    # Issue 18 (one transaction per claimed batch): the fake agrees with SQL on the batched marks.
    for memo_uuid in ("u1", "u2", "u3"):
        store.store_inbound_memo(memo_uuid, InboundSource.PULL, b"<m/>")
    assert len(store.claim_inbound("r1", InboundState.RECEIVED, 60)) == 3
    store.mark_delivered("u3", "post@kommune.dk", "AAMk-3")
    store.mark_acknowledged("u3")  # moved on: not DELIVERED again
    recorded = store.mark_delivered_many(
        [
            DeliveredMemo("u1", "sag@kommune.dk", "AAMk-1", AuditEntry("inbound.memo.delivered", "u1")),
            DeliveredMemo("u2", "post@kommune.dk", "AAMk-2", AuditEntry("inbound.memo.delivered", "u2")),
            DeliveredMemo("u3", "post@kommune.dk", "AAMk-x", AuditEntry("inbound.memo.delivered", "u3")),
            DeliveredMemo("nope", "post@kommune.dk", "AAMk-y", AuditEntry("inbound.memo.delivered", "nope")),
        ],
        release="r1",
    )
    assert recorded == {"u1", "u2"}
    assert store.mark_delivered_many([], release="r1") == set()
    u1 = store.get_inbound("u1")
    assert u1 is not None and u1.state is InboundState.DELIVERED
    assert (u1.target_mailbox, u1.created_message_id) == ("sag@kommune.dk", "AAMk-1")
    u3 = store.get_inbound("u3")
    assert u3 is not None and u3.state is InboundState.ACKNOWLEDGED and u3.created_message_id == "AAMk-3"
    # The claims ended with the marks (u3's is still r1's: it was not recorded).
    assert [m.memo_uuid for m in store.claim_inbound("r2", InboundState.DELIVERED, 60)] == ["u1", "u2"]
    assert store.claim_inbound("r2", InboundState.ACKNOWLEDGED, 60) == []
    acknowledged = AuditEntry("inbound.memo.acknowledged", "u1")
    assert store.mark_deleted_many({"u1": acknowledged, "u3": None, "nope": None}, release="r2") == {
        "u1",
        "u3",
    }
    # Already in the state (recorded by a replica that took the claim over): skipped, no second audit row.
    assert store.mark_deleted_many({"u1": acknowledged}) == set()
    assert store.mark_delivered_many([DeliveredMemo("u2", "post@kommune.dk", "AAMk-z")]) == set()
    store.store_inbound_memo("u4", InboundSource.PULL, b"<m/>")
    assert store.mark_deleted_many({"u4": None}) == set()  # RECEIVED: not deleted
    states = {k: v.state for k, v in store.get_inbound_many(["u1", "u2", "u3", "u4"]).items()}
    assert states == {
        "u1": InboundState.DELETED,
        "u2": InboundState.DELIVERED,
        "u3": InboundState.DELETED,
        "u4": InboundState.RECEIVED,
    }
    assert store.renew_inbound_claims("r2", ["u2"], 60) == {"u2"}  # u2 was not in the batch: still r2's
    trail = [(action, subject) for action, subject, _ in audit_trail(store)]
    assert trail == [
        ("inbound.memo.delivered", "u1"),
        ("inbound.memo.delivered", "u2"),
        ("inbound.memo.acknowledged", "u1"),
    ]


def test_a_batch_of_pulled_memos_is_stored_at_once_each_new_one_once(store: ContractStore) -> None:
    assert store.store_inbound_memo("u1", InboundSource.PUSH, b"<pushed/>") is True
    stored = store.store_inbound_memos(
        [
            ReceivedMemo("u1", InboundSource.PULL, b"<pulled/>", AuditEntry("inbound.memo.received", "u1")),
            ReceivedMemo("u2", InboundSource.PULL, b"<two/>", AuditEntry("inbound.memo.received", "u2")),
            ReceivedMemo("u3", InboundSource.PULL, b"<three/>"),
            ReceivedMemo("u2", InboundSource.PULL, b"<again/>", AuditEntry("inbound.memo.received", "u2")),
        ]
    )
    assert stored == {"u2", "u3"}
    assert store.store_inbound_memos([]) == set()
    assert store.load_inbound_xml("u1") == b"<pushed/>"  # stored before: left as it was
    assert store.load_inbound_xml("u2") == b"<two/>"
    rows = store.get_inbound_many(["u1", "u2", "u3"])
    assert {k: (v.source, v.state, v.size) for k, v in rows.items()} == {
        "u1": (InboundSource.PUSH, InboundState.RECEIVED, 9),
        "u2": (InboundSource.PULL, InboundState.RECEIVED, 6),
        "u3": (InboundSource.PULL, InboundState.RECEIVED, 8),
    }
    assert [(a, s) for a, s, _ in audit_trail(store)] == [("inbound.memo.received", "u2")]


def test_inbound_memos_follow_the_state_machine(store: ContractStore) -> None:
    for memo_uuid in ("u1", "u2", "u3"):
        store.store_inbound_memo(memo_uuid, InboundSource.PULL, b"<m/>")
    assert [m.memo_uuid for m in store.inbound_in_state(InboundState.RECEIVED)] == ["u1", "u2", "u3"]
    assert [m.memo_uuid for m in store.inbound_in_state(InboundState.RECEIVED, limit=2)] == ["u1", "u2"]

    store.record_inbound_error("u1", f"Graph 503 for {CPR}")
    failing = store.get_inbound("u1")
    assert failing is not None and failing.state is InboundState.RECEIVED
    assert (failing.attempts, failing.error) == (1, f"Graph 503 for {MASKED}")
    with pytest.raises(StoreError, match="illegal transition"):
        store.mark_acknowledged("u1")
    store.mark_delivered("u1", "sag@kommune.dk", "AAMk-new")
    store.mark_delivered("u1", "sag@kommune.dk", "AAMk-new")  # repeated after a crash
    delivered = store.get_inbound("u1")
    assert delivered is not None
    assert (delivered.state, delivered.target_mailbox, delivered.created_message_id, delivered.error) == (
        InboundState.DELIVERED,
        "sag@kommune.dk",
        "AAMk-new",
        None,
    )
    assert delivered.attempts == 1
    store.mark_acknowledged("u1")
    store.mark_deleted("u1")
    deleted = store.get_inbound("u1")
    assert deleted is not None and deleted.state is InboundState.DELETED
    with pytest.raises(StoreError, match="illegal transition"):
        store.mark_delivered("u1", "x@kommune.dk", "m")
    store.mark_delivered("u2", "main@kommune.dk", "m")
    store.mark_deleted("u2")  # nothing to acknowledge (mail-sourced memos)
    assert [m.memo_uuid for m in store.inbound_in_state(InboundState.DELETED)] == ["u1", "u2"]
    for transition in (store.mark_acknowledged, store.mark_deleted):
        with pytest.raises(StoreError, match="unknown inbound memo"):
            transition("nope")
    with pytest.raises(StoreError, match="unknown inbound memo"):
        store.record_inbound_error("nope", "x")


def test_the_audit_trail_is_masked_on_write(store: ContractStore) -> None:
    store.audit("outbound.job.created", f"Sag om {CPR}", details={"to": [CPR], "n": 1, CPR: "key"})
    store.audit("inbound.memo.received", "u1", actor="push")
    assert audit_trail(store) == [
        ("outbound.job.created", f"Sag om {MASKED}", {"to": [MASKED], "n": 1, MASKED: "key"}),
        ("inbound.memo.received", "u1", {}),
    ]


def test_an_audit_entry_given_with_a_state_change_is_written_with_it_and_only_when_it_is_made(
    store: ContractStore,
) -> None:
    # Inference (no external source): the store's own contract for issue 18's one-transaction audit rows.
    def entry(action: str) -> AuditEntry:
        return AuditEntry(action, f"Sag om {CPR}", details={"to": CPR})

    assert store.create_job(job(), audit=entry("created")) is True
    assert store.create_job(job(), audit=entry("created again")) is False  # nothing written: no record
    assert store.plan_job(job(), memos(1), audit=entry("planned")) is True
    assert store.plan_job(job(), memos(1), audit=entry("planned again")) is False
    store.set_job_state("job-1", JobState.SENDING, audit=entry("sending"))
    with pytest.raises(StoreError):
        store.set_job_state("job-1", JobState.NEW, audit=entry("illegal"))  # rolled back with the change
    assert store.store_inbound_memo("u1", InboundSource.PULL, b"<m/>", audit=entry("received")) is True
    assert store.store_inbound_memo("u1", InboundSource.PULL, b"<m/>", audit=entry("received again")) is False
    store.mark_delivered("u1", "sag@kommune.dk", "AAMk-9", audit=entry("delivered"))
    store.mark_acknowledged("u1", audit=entry("acknowledged"))
    with pytest.raises(StoreError):
        store.mark_delivered("u1", "sag@kommune.dk", "AAMk-9", audit=entry("delivered twice"))
    details = {"to": MASKED}
    subject = f"Sag om {MASKED}"
    assert audit_trail(store) == [
        (action, subject, details)
        for action in ("created", "planned", "sending", "received", "delivered", "acknowledged")
    ]


def test_rules_are_disabled_once_enabled_again_and_hits_counted(store: ContractStore) -> None:
    assert store.disabled_rules() == {} and store.rule_hits() == {}
    store.increment_rule_hits("KLE")
    store.increment_rule_hits("KLE", 2)
    assert store.disable_rule("Farligt", f"took too long on {CPR}") is True
    assert store.disable_rule("Farligt", "again") is False
    disabled = store.disabled_rules()
    assert list(disabled) == ["Farligt"]
    assert disabled["Farligt"].reason == f"took too long on {MASKED}"
    assert disabled["Farligt"].disabled_at is not None
    assert store.rule_hits() == {"KLE": 3, "Farligt": 0}
    store.enable_rule("Farligt")
    store.enable_rule("never-disabled")
    assert store.disabled_rules() == {}
    assert store.disable_rule("Farligt", "once more") is True


def test_a_state_change_plans_its_effects_and_settles_others_in_its_transaction(store: ContractStore) -> None:
    """Issue 18: a job's state and the effects it makes due commit together (effects first, state last
    holds by construction), and an effect it supersedes is completed in the same step."""
    queued = EffectPlan("categories:job-1:queued", {"job": "job-1", "category": "queued"}, "Sag@kommune.dk")
    planned = memos(2)
    assert store.plan_job(job(), planned, effects=[queued]) is True
    assert [e.key for e in store.pending_effects(mailboxes=["sag@kommune.dk"])] == [queued.key]
    assert store.plan_job(job(), memos(1), effects=[EffectPlan("receipt:other", {})]) is False
    assert store.get_effect("receipt:other") is None  # not planned: nothing written

    store.mark_in_flight([planned[0].message_uuid], sending="job-1")  # planned -> sending with the mark
    assert (j := store.get_job("job-1")) is not None and j.state is JobState.SENDING
    store.mark_in_flight([planned[1].message_uuid], sending="job-1")  # already sending: left as it is
    assert (j := store.get_job("job-1")) is not None and j.state is JobState.SENDING

    final = [
        EffectPlan("receipt:job-1", {"job": "job-1", "kind": "receipt"}, "sag@kommune.dk"),
        EffectPlan("categories:job-1:sent", {"job": "job-1", "category": "sent"}, "sag@kommune.dk"),
    ]
    superseded = {queued.key: {"skipped": "superseded"}, "categories:job-1:unknown": {"x": 1}}
    with pytest.raises(StoreError, match="illegal transition"):
        store.set_job_state("job-1", JobState.REJECTED, effects=final, settle=superseded)
    assert store.get_effect("receipt:job-1") is None  # the illegal change wrote nothing
    assert (e := store.get_effect(queued.key)) is not None and e.state is EffectState.PLANNED

    done = AuditEntry("outbound.job.done", "Hej", details={"job": "job-1"})
    store.set_job_state("job-1", JobState.DONE, audit=done, effects=final, settle=superseded)
    # Planned in one transaction, they share its time: oldest first, then by key.
    assert [e.key for e in store.pending_effects()] == ["categories:job-1:sent", "receipt:job-1"]
    settled = store.get_effect(queued.key)
    assert settled is not None and settled.state is EffectState.DONE
    assert settled.result == {"skipped": "superseded"}
    assert store.get_effect("categories:job-1:unknown") is None  # an unknown one is left unknown
    assert [a for a, _, _ in audit_trail(store)] == ["outbound.job.done"]


def test_a_completion_writes_its_audit_entry_only_when_it_completes(store: ContractStore) -> None:
    store.plan_effect("receipt:a1", {"job": "a1"})
    written = AuditEntry("outbound.receipt.written", f"Til {CPR}", details={"job": "a1"})
    assert store.complete_effect("receipt:a1", {"message_id": "m"}, audit=written) is True
    assert store.complete_effect("receipt:a1", {"message_id": "m"}, audit=written) is False
    assert audit_trail(store) == [("outbound.receipt.written", f"Til {MASKED}", {"job": "a1"})]


def test_jobs_rows_and_statuses_are_read_in_one_go(store: ContractStore) -> None:
    p1, p2 = memos(3), memos(1)
    store.plan_job(job(), p1)
    store.plan_job(job("job-2", "AAMk-2"), p2)
    assert set(store.get_jobs(["job-1", "job-2", "nope"])) == {"job-1", "job-2"}
    assert store.get_jobs([]) == {}
    found = store.jobs_of_messages([p1[0].message_uuid, p2[0].message_uuid, "unknown"])
    assert found == {p1[0].message_uuid: "job-1", p2[0].message_uuid: "job-2"}
    assert store.job_statuses("job-1") == {(OutboxState.PENDING, None): 3}
    store.record_send_results(
        [
            SendOutcome(
                p1[0].message_uuid, OutboxState.ACCEPTED, transmission_id="t0", receipt_status="RECEIVED"
            ),
            SendOutcome(
                p1[1].message_uuid, OutboxState.ACCEPTED, transmission_id="t1", receipt_status="RECEIVED"
            ),
            SendOutcome(p1[2].message_uuid, OutboxState.FAILED, error="gave up"),
        ]
    )
    store.record_receipt("r1", {"messageUUID": p1[0].message_uuid, "receiptStatus": "INVALID"})
    assert store.job_statuses("job-1") == {
        (OutboxState.ACCEPTED, "INVALID"): 1,
        (OutboxState.ACCEPTED, "RECEIVED"): 1,
        (OutboxState.FAILED, None): 1,
    }
    assert store.job_statuses("nope") == {}


def test_receipts_are_recorded_and_marked_processed_a_batch_at_a_time(store: ContractStore) -> None:
    planned = memos(2)
    store.plan_job(job(), planned)
    u0, u1 = (m.message_uuid for m in planned)
    batch = [
        ("b1", {"messageUUID": u0, "receiptStatus": "COMPLETED"}),
        ("b2", {"messageUUID": u1, "receiptStatus": "INVALID", "errorMessage": f"om {CPR}"}),
    ]
    assert store.record_receipts(batch) == 2
    assert store.record_receipts(batch) == 0  # kept once
    assert store.record_receipts([]) == 0
    assert [(e.state, e.receipt_status) for e in store.list_outbox("job-1")] == [
        (OutboxState.PENDING, "COMPLETED"),
        (OutboxState.PENDING, "INVALID"),
    ]
    waiting = store.unprocessed_receipts()
    assert [r.receipt_id for r in waiting] == ["b1", "b2"]
    assert waiting[1].payload["errorMessage"] == f"om {MASKED}"

    category = EffectPlan("categories:job-1:failed", {"job": "job-1", "category": "failed"}, "sag@kommune.dk")
    with pytest.raises(StoreError, match="unknown receipt"):
        store.mark_receipts_processed(["b1", "nope"], effects=[category])
    assert len(store.unprocessed_receipts()) == 2 and store.get_effect(category.key) is None
    store.mark_receipts_processed(["b1", "b2"], effects=[category])
    assert store.unprocessed_receipts() == []
    assert [e.key for e in store.pending_effects()] == [category.key]
    store.mark_receipts_processed(["b1"], effects=[category])  # again: nothing changes
    assert [e.key for e in store.pending_effects()] == [category.key]
