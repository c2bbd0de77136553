"""Every store operation, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from graph_dpg.adapters.store import SqlStore, create_store, pushed_receipt_id
from graph_dpg.adapters.store import schema as t
from graph_dpg.core.errors import StoreError
from graph_dpg.ports.digital_post import BusinessReceipt as NgdpReceipt
from graph_dpg.ports.store import (
    EffectState,
    InboundSource,
    InboundState,
    JobState,
    OutboundJob,
    OutboxState,
    PlannedMemo,
    SendOutcome,
    StatePort,
)
from tests.store_rows import audit_rows, lease_owners

CPR = "0101701234"


def job(job_id: str = "job-1", message_id: str = "AAMk-1", subject: str = "Hej") -> OutboundJob:
    return OutboundJob(
        id=job_id,
        mailbox="sag@kommune.dk",
        message_id=message_id,
        internet_message_id=f"<{message_id}@kommune.dk>",
        subject=subject,
        channel="digitalpost",
    )


def memos(n: int, prefix: str = "") -> list[PlannedMemo]:
    return [
        PlannedMemo(
            message_uuid=str(uuid.uuid4()),
            recipient_kind="cpr",
            recipient_id=f"{prefix}{i:010d}"[-10:],
            recipient_contact_point=None,
            memo_xml=b"<Message>%d</Message>" % i,
        )
        for i in range(n)
    ]


def test_store_satisfies_the_port(store: SqlStore) -> None:
    port: StatePort = store
    assert port.ping() is None
    assert store.schema_revision() == "0012"


def test_claim_source_message_only_first_time(store: SqlStore) -> None:
    assert store.claim_source_message("a@x.dk", "m1", "<i1@x>") is True
    assert store.claim_source_message("a@x.dk", "m1", "<i1@x>") is False
    # Same internetMessageId under another Graph id (e.g. a copy) in the same mailbox: a duplicate.
    assert store.claim_source_message("a@x.dk", "m2", "<i1@x>") is False
    # Other mailbox: independent.
    assert store.claim_source_message("b@x.dk", "m1", "<i1@x>") is True
    # Without internetMessageId only the Graph id deduplicates.
    assert store.claim_source_message("a@x.dk", "m3", None) is True
    assert store.claim_source_message("a@x.dk", "m4", "") is True
    assert store.claim_source_message("a@x.dk", "m3", None) is False


def test_delta_links(store: SqlStore) -> None:
    assert store.get_delta_link("a@x.dk", "sentitems") is None
    store.set_delta_link("a@x.dk", "sentitems", "https://graph/delta?token=1")
    store.set_delta_link("a@x.dk", "sentitems", "https://graph/delta?token=2")
    store.set_delta_link("a@x.dk", "inbox", "https://graph/delta?token=i")
    assert store.get_delta_link("a@x.dk", "sentitems") == "https://graph/delta?token=2"
    assert store.get_delta_link("a@x.dk", "inbox") == "https://graph/delta?token=i"
    assert store.get_delta_link("b@x.dk", "sentitems") is None


def test_job_lifecycle_and_outbox(store: SqlStore) -> None:
    assert store.create_job(job(subject=f"Sag om {CPR}")) is True
    assert store.create_job(job()) is False
    created = store.get_job("job-1")
    assert created is not None
    assert created.state is JobState.NEW
    assert CPR not in created.subject and "010170-xxxx" in created.subject
    assert store.find_job("sag@kommune.dk", "AAMk-1") == created

    planned = memos(5)
    assert store.plan_job(job(), planned) is True
    # Re-planning after a crash must not create a second set of messageUUIDs.
    assert store.plan_job(job(), memos(5)) is False
    assert store.get_job("job-1").state is JobState.PLANNED  # type: ignore[union-attr]
    # Bulk-inserted timestamps compare like every other (same text format on SQLite).
    with store.engine.connect() as conn:
        later = datetime.now(UTC) + timedelta(seconds=5)
        assert conn.execute(select(func.count()).where(t.outbox.c.created_at < later)).scalar_one() == 5
    assert store.job_progress("job-1") == {
        OutboxState.PENDING: 5,
        OutboxState.ACCEPTED: 0,
        OutboxState.REJECTED: 0,
        OutboxState.FAILED: 0,
    }

    store.set_job_state("job-1", JobState.SENDING)
    store.set_job_state("job-1", JobState.SENDING)  # repeat is a no-op
    pending = store.next_pending("job-1", limit=10)
    assert [p.message_uuid for p in pending] == [m.message_uuid for m in planned]
    assert pending[0].memo_xml == b"<Message>0</Message>"
    assert pending[0].recipient_id == "0000000000"
    assert "recipient_id" not in repr(pending[0]) and "0000000000" not in repr(pending[0])

    u0, u1, u2, u3, u4 = (m.message_uuid for m in planned)
    retry_at = datetime.now(UTC) + timedelta(hours=1)
    outcomes = [
        SendOutcome(u0, OutboxState.ACCEPTED, transmission_id="tx-0", receipt_status="RECEIVED"),
        SendOutcome(u1, OutboxState.REJECTED, error='{"code":"X","message":"bad"}'),
        SendOutcome(u2, OutboxState.FAILED, error="gave up"),
        SendOutcome(u3, None, error=f"503 for {CPR}", retry_at=retry_at),  # transient: stays pending
    ]
    assert store.record_send_results(outcomes) == 4
    # Repeated after a crash, or late: rows that left pending do not change again.
    assert store.record_send_results(outcomes[:1]) == 0
    assert store.record_send_results([SendOutcome(u0, OutboxState.FAILED, error="late")]) == 0
    assert store.record_send_results([SendOutcome("nope", OutboxState.ACCEPTED)]) == 0

    rejected = store.find_by_message_uuid(u1)
    assert rejected is not None
    assert (rejected.state, rejected.attempts, rejected.last_error) == (
        OutboxState.REJECTED,
        1,
        '{"code":"X","message":"bad"}',
    )
    failed = store.find_by_message_uuid(u2)
    assert failed is not None and (failed.state, failed.last_error) == (OutboxState.FAILED, "gave up")
    entry = store.find_by_message_uuid(u3)
    assert entry is not None
    assert entry.attempts == 1 and entry.state is OutboxState.PENDING
    assert entry.last_error is not None and CPR not in entry.last_error
    assert entry.memo_xml is None  # not loaded unless asked for
    assert store.find_by_message_uuid(u3, with_xml=True).memo_xml == b"<Message>3</Message>"  # type: ignore[union-attr]
    assert [p.message_uuid for p in store.next_pending("job-1")] == [u4]
    assert [p.message_uuid for p in store.next_pending(None)] == [u4]

    accepted = store.find_by_message_uuid(u0)
    assert accepted is not None
    assert (accepted.state, accepted.transmission_id, accepted.receipt_status) == (
        OutboxState.ACCEPTED,
        "tx-0",
        "RECEIVED",
    )
    assert store.job_progress("job-1") == {
        OutboxState.PENDING: 2,
        OutboxState.ACCEPTED: 1,
        OutboxState.REJECTED: 1,
        OutboxState.FAILED: 1,
    }
    assert store.outbox_counts()[OutboxState.PENDING] == 2

    listed = store.list_outbox("job-1", limit=3)
    assert [e.message_uuid for e in listed] == [u0, u1, u2]
    rest = store.list_outbox("job-1", after_id=listed[-1].id)
    assert [e.message_uuid for e in rest] == [u3, u4]
    assert all(e.memo_xml is None for e in listed + rest)

    store.set_job_state("job-1", JobState.DONE)
    assert [j.id for j in store.jobs_in_state([JobState.DONE])] == ["job-1"]
    with pytest.raises(StoreError, match="illegal transition"):
        store.set_job_state("job-1", JobState.SENDING)
    with pytest.raises(StoreError, match="unknown outbound job"):
        store.set_job_state("nope", JobState.DONE)


def test_plan_job_without_prior_create_and_rejected_job(store: SqlStore) -> None:
    assert store.plan_job(job("j2", "m2"), memos(2)) is True
    assert store.get_job("j2").state is JobState.PLANNED  # type: ignore[union-attr]
    assert store.create_job(job("j3", "m3")) is True
    store.set_job_state("j3", JobState.REJECTED, "too many attachments")
    rejected = store.get_job("j3")
    assert rejected is not None
    assert (rejected.state, rejected.error) == (JobState.REJECTED, "too many attachments")
    assert store.plan_job(job("j3", "m3"), memos(1)) is False
    assert store.list_outbox("j3") == []


def test_duplicate_message_uuid_is_a_store_error_and_rolls_back(store: SqlStore) -> None:
    planned = memos(2)
    store.plan_job(job("j1", "m1"), planned)
    with pytest.raises(StoreError, match="plan job") as caught:
        store.plan_job(job("j2", "m2"), [planned[0]])
    # No bound values (recipient CPRs) in the message.
    assert planned[0].recipient_id not in str(caught.value)
    assert store.get_job("j2") is None  # the whole transaction rolled back


def test_effects_exactly_once(store: SqlStore) -> None:
    assert store.plan_effect("receipt:job-1", {"to": "sag@kommune.dk"}) is True
    assert store.plan_effect("receipt:job-1", {"to": "other"}) is False
    assert store.plan_effect("categories:job-1:sent", {"categories": ["DP sendt"]}) is True
    assert [e.key for e in store.pending_effects()] == ["receipt:job-1", "categories:job-1:sent"]
    assert [e.key for e in store.pending_effects(prefix="categories:")] == ["categories:job-1:sent"]
    assert store.pending_effects(prefix="categories_") == []  # "_" is literal, not a LIKE wildcard
    assert store.complete_effect("receipt:job-1", {"message_id": "AAMk-r"}) is True
    assert store.complete_effect("receipt:job-1", {"message_id": "again"}) is False
    effect = store.get_effect("receipt:job-1")
    assert effect is not None
    assert effect.state is EffectState.DONE
    assert effect.payload == {"to": "sag@kommune.dk"}
    assert effect.result == {"message_id": "AAMk-r"}
    with pytest.raises(StoreError, match="unknown effect"):
        store.complete_effect("nope")


def test_business_receipts(store: SqlStore) -> None:
    planned = memos(1)
    store.plan_job(job(), planned)
    u = planned[0].message_uuid
    completed = {"messageUUID": u, "receiptStatus": "COMPLETED", "transmissionId": "t1"}
    assert store.record_receipt("r1", completed) is True
    assert store.record_receipt("r1", completed) is False
    # A RECEIVED that arrives after COMPLETED does not downgrade the outbox row.
    assert store.record_receipt("r0", {"messageUUID": u, "receiptStatus": "RECEIVED"}) is True
    # The 201 answer recorded after the pushed receipt keeps the receipt's status.
    accepted = SendOutcome(u, OutboxState.ACCEPTED, transmission_id="t1", receipt_status="RECEIVED")
    assert store.record_send_results([accepted]) == 1
    assert store.find_by_message_uuid(u).receipt_status == "COMPLETED"  # type: ignore[union-attr]
    assert store.record_receipt("r2", {"messageUUID": "unknown", "receiptStatus": "INVALID"}) is True

    pending = store.unprocessed_receipts()
    assert [r.receipt_id for r in pending] == ["r1", "r0", "r2"]
    assert pending[0].payload == completed and pending[0].processed is False
    store.mark_receipt_processed("r1")
    store.mark_receipt_processed("r1")
    assert [r.receipt_id for r in store.unprocessed_receipts()] == ["r0", "r2"]
    with pytest.raises(StoreError):
        store.mark_receipt_processed("nope")


def test_inbound_memo_lifecycle(store: SqlStore) -> None:
    xml = b"<memo:Message>" + "æøå".encode() + b"</memo:Message>"
    assert store.store_inbound_memo("u1", InboundSource.PULL, xml) is True
    assert store.store_inbound_memo("u1", InboundSource.PUSH, b"other") is False
    assert store.load_inbound_xml("u1") == xml
    memo = store.get_inbound("u1")
    assert memo is not None
    assert (memo.state, memo.source, memo.size) == (InboundState.RECEIVED, InboundSource.PULL, len(xml))

    store.record_inbound_error("u1", f"Graph 503 for {CPR}")
    assert store.get_inbound("u1").attempts == 1  # type: ignore[union-attr]
    assert CPR not in (store.get_inbound("u1").error or "")  # type: ignore[union-attr]
    assert [m.memo_uuid for m in store.inbound_in_state(InboundState.RECEIVED)] == ["u1"]

    with pytest.raises(StoreError, match="illegal transition"):
        store.mark_acknowledged("u1")
    store.mark_delivered("u1", "sag@kommune.dk", "AAMk-new")
    store.mark_delivered("u1", "sag@kommune.dk", "AAMk-new")  # repeat after crash: no-op
    delivered = store.get_inbound("u1")
    assert delivered is not None
    assert (delivered.state, delivered.target_mailbox, delivered.created_message_id, delivered.error) == (
        InboundState.DELIVERED,
        "sag@kommune.dk",
        "AAMk-new",
        None,
    )
    store.mark_acknowledged("u1")
    store.mark_deleted("u1")
    assert store.get_inbound("u1").state is InboundState.DELETED  # type: ignore[union-attr]
    with pytest.raises(StoreError, match="unknown inbound memo"):
        store.mark_delivered("nope", "x", "y")

    # Mail-sourced memos have nothing to acknowledge at NgDP: delivered -> deleted directly.
    store.store_inbound_memo("u2", InboundSource.MAIL, b"<x/>")
    store.mark_delivered("u2", "main@kommune.dk", "m")
    store.mark_deleted("u2")
    assert store.get_inbound("u2").state is InboundState.DELETED  # type: ignore[union-attr]


def test_large_inbound_memo_round_trips(store: SqlStore) -> None:
    big = bytes(range(256)) * (8 * 1024 * 4)  # 8 MiB of every byte value
    assert store.store_inbound_memo("big", InboundSource.PUSH, big) is True
    assert store.load_inbound_xml("big") == big
    assert store.get_inbound("big").size == len(big)  # type: ignore[union-attr]


async def test_push_sink(store: SqlStore) -> None:
    sink = store.push_sink()
    await sink.store_pushed_memo("p1", b"<m/>")
    await sink.store_pushed_memo("p1", b"<m/>")  # NgDP redelivers: stored once
    assert store.get_inbound("p1").source is InboundSource.PUSH  # type: ignore[union-attr]

    receipt = {"transmissionId": "t", "messageUUID": "u", "receiptStatus": "COMPLETED", "timeStamp": "2026"}
    await sink.store_pushed_receipt(receipt)
    await sink.store_pushed_receipt(dict(receipt))
    # The port's receipt value object is accepted too, and deduplicates against the JSON form.
    await sink.store_pushed_receipt(
        NgdpReceipt(id="t", transmission_id="t", message_uuid="u", receipt_status="COMPLETED", raw=receipt)
    )
    received = await sink_receipts(store)
    assert received == [pushed_receipt_id(receipt)]
    # A later status for the same transmission is a new receipt.
    await sink.store_pushed_receipt({**receipt, "receiptStatus": "INVALID"})
    assert len(await sink_receipts(store)) == 2


async def sink_receipts(store: SqlStore) -> list[str]:
    return [r.receipt_id for r in store.unprocessed_receipts()]


def test_audit_masks_cprs(store: SqlStore) -> None:
    store.audit(
        "outbound.sent",
        f"Brev til {CPR}",
        actor="sag@kommune.dk",
        details={"recipients": [CPR, "010170-1234"], f"key {CPR}": {"nested": CPR}, "n": 3},
    )
    store.audit("inbound.delivered", "memo u1")
    events = audit_rows(store)
    assert [e["action"] for e in events] == ["outbound.sent", "inbound.delivered"]
    first = events[0]
    assert first["replica"] == "test-replica" and first["actor"] == "sag@kommune.dk"
    assert CPR not in first["subject"] and "1234" not in str(first["details"])
    assert first["details"]["n"] == 3
    assert first["details"]["recipients"] == ["010170-xxxx", "010170-xxxx"]
    assert first["ts"] <= datetime.now(UTC) and events[1]["ts"] >= first["ts"]
    assert [e["subject"] for e in audit_rows(store, action="inbound.delivered")] == ["memo u1"]


def test_rule_state(store: SqlStore) -> None:
    assert store.disable_rule("slow-regex", "took 5.2 s") is True
    assert store.disable_rule("slow-regex", "again") is False
    disabled = store.disabled_rules()
    assert list(disabled) == ["slow-regex"]
    assert disabled["slow-regex"].reason == "took 5.2 s"
    store.increment_rule_hits("archive", 1)
    store.increment_rule_hits("archive", 2)
    store.increment_rule_hits("slow-regex")
    assert store.rule_hits() == {"archive": 3, "slow-regex": 1}
    store.enable_rule("slow-regex")
    assert store.disabled_rules() == {}
    assert store.rule_hits()["slow-regex"] == 1


def test_leases_basic(store: SqlStore) -> None:
    a = ["mailbox:a"]
    assert store.acquire_some(a, "r1", 30, limit=1) == a
    assert store.acquire_some(a, "r2", 30, limit=1) == []
    assert store.acquire_some(a, "r1", 30, limit=1) == a  # re-acquire = renew
    assert store.renew("mailbox:a", "r1", 30) is True
    assert store.renew("mailbox:a", "r2", 30) is False
    store.release("mailbox:a", "r2")  # not the owner: nothing happens
    assert lease_owners(store, a) == {"mailbox:a": "r1"}
    store.release("mailbox:a", "r1")
    assert lease_owners(store, a) == {"mailbox:a": None}
    assert store.renew("mailbox:a", "r1", 30) is False  # released means lost
    assert store.acquire_some(a, "r2", 30, limit=1) == a

    assert store.acquire_some(["q:1", "q:2", "q:3"], "r1", 30, limit=2) == ["q:1", "q:2"]
    assert lease_owners(store, ["q:1", "q:3"]) == {"q:1": "r1", "q:3": None}
    # Own leases come first, so a second call renews them instead of grabbing more.
    assert store.acquire_some(["q:1", "q:2", "q:3"], "r1", 30, limit=2) == ["q:1", "q:2"]
    assert store.acquire_some(["q:1", "q:2", "q:3"], "r3", 30, limit=5) == ["q:3"]
    assert store.release_all("r1") == 2
    assert store.acquire_some([], "r1", 30, 5) == []


def test_replicas(store: SqlStore) -> None:
    store.replica_heartbeat("host-a:1")
    store.replica_heartbeat("host-b:2")
    store.replica_heartbeat("host-a:1")
    assert store.live_replicas(within_s=60) == ["host-a:1", "host-b:2"]
    store.forget_replica("host-b:2")
    assert store.live_replicas(within_s=60) == ["host-a:1"]


def test_cleanup(store: SqlStore) -> None:
    planned = memos(2)
    store.plan_job(job("old", "m-old"), planned)
    store.record_send_results(
        [
            SendOutcome(planned[0].message_uuid, OutboxState.ACCEPTED, transmission_id="t"),
            SendOutcome(planned[1].message_uuid, OutboxState.FAILED, error="x"),
        ]
    )
    store.set_job_state("old", JobState.SENDING)
    store.set_job_state("old", JobState.DONE)
    active = memos(1)
    store.plan_job(job("active", "m-act"), active)
    store.store_inbound_memo("in-done", InboundSource.PULL, b"<x/>")
    store.mark_delivered("in-done", "a", "b")
    store.mark_deleted("in-done")
    store.store_inbound_memo("in-new", InboundSource.PULL, b"<y/>")
    store.plan_effect("e-done", {})
    store.complete_effect("e-done")
    store.plan_effect("e-open", {})
    store.record_receipt("r", {"messageUUID": "x"})
    store.mark_receipt_processed("r")
    store.claim_source_message("a", "m-old", None)
    store.audit("x", "y")

    assert store.cleanup(datetime.now(UTC) - timedelta(days=1))["jobs"] == 0  # nothing that old
    report = store.cleanup(datetime.now(UTC) + timedelta(seconds=5))
    assert report["jobs"] == 1 and report["outbox_rows"] == 2
    assert report["inbound_xml"] == 1 and report["effects"] == 1 and report["receipts"] == 1
    assert report["audit_events"] == 0 and report["source_messages"] == 0
    assert store.get_job("old") is None and store.find_by_message_uuid(planned[0].message_uuid) is None
    assert store.get_job("active") is not None and len(store.next_pending("active")) == 1
    assert store.load_inbound_xml("in-done") is None and store.get_inbound("in-done") is not None
    assert store.load_inbound_xml("in-new") == b"<y/>"
    assert store.get_effect("e-done") is None and store.get_effect("e-open") is not None
    assert store.claim_source_message("a", "m-old", None) is False  # claims survive by default
    future = datetime.now(UTC) + timedelta(seconds=5)
    explicit = store.cleanup(future, audit_older_than=future, source_messages_older_than=future)
    assert explicit["audit_events"] == 1 and explicit["source_messages"] == 1


def test_naive_datetimes_are_refused(store: SqlStore) -> None:
    with pytest.raises(StoreError):
        store.cleanup(datetime(2020, 1, 1))  # naive on purpose


def test_unreachable_database_is_a_store_error() -> None:
    # Port 1 on loopback: connection refused at once.
    store = SqlStore("postgresql+psycopg://postgres@127.0.0.1:1/none")
    try:
        with pytest.raises(StoreError, match="ping"):
            store.ping()
    finally:
        store.close()


def test_unsupported_database_url() -> None:
    with pytest.raises(StoreError, match="unsupported database"):
        SqlStore("mysql://localhost/x")


def test_in_memory_sqlite_is_shared_across_threads() -> None:
    store = create_store("sqlite://")
    try:
        results: list[bool] = []
        threads = [
            threading.Thread(target=lambda: results.append(store.claim_source_message("mb", "m", None)))
            for _ in range(4)
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sorted(results) == [False, False, False, True]
    finally:
        store.close()


def test_sqlite_parent_directory_is_created(tmp_path: Path) -> None:
    store = create_store(f"sqlite:///{tmp_path / 'state' / 'dir' / 'gateway.db'}")
    try:
        assert store.claim_source_message("mb", "m", None) is True
        assert (tmp_path / "state" / "dir" / "gateway.db").is_file()
    finally:
        store.close()
