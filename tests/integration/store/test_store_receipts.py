"""``record_receipts``: a batch of business receipts gives what recording them one at a time gives.

On the fake, SQLite and PostgreSQL: duplicates within and across batches, the rank rule applied in the
receipts' order, receipts for unknown message UUIDs or without one, batches larger than one statement's
chunk, and a property test against ``record_receipt`` one at a time.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from graph_dpg.adapters.store import SqlStore
from graph_dpg.ports.store import OutboundJob, OutboxState, PlannedMemo, SendOutcome
from tests.fakes import FakeStore

Store = FakeStore | SqlStore
Receipts = list[tuple[str, Mapping[str, object]]]


@pytest.fixture
def store(port_store: Store) -> Store:
    return port_store


def job(job_id: str) -> OutboundJob:
    return OutboundJob(
        id=job_id,
        mailbox="sag@kommune.dk",
        message_id=f"AAMk-{job_id}",
        internet_message_id=f"<{job_id}@kommune.dk>",
        subject="Hej",
        channel="digitalpost",
    )


def plan(store: Store, job_id: str, n: int) -> list[str]:
    planned = [
        PlannedMemo(str(uuid.uuid4()), "cpr", f"{i:010d}", None, b"<Message>%d</Message>" % i)
        for i in range(n)
    ]
    store.plan_job(job(job_id), planned)
    return [m.message_uuid for m in planned]


def statuses(store: Store, job_id: str) -> list[str | None]:
    return [e.receipt_status for e in store.list_outbox(job_id, limit=10_000)]


def rc(message_uuid: str | None, status: str | None, **more: object) -> dict[str, object]:
    receipt: dict[str, object] = dict(more)
    if message_uuid is not None:
        receipt["messageUUID"] = message_uuid
    if status is not None:
        receipt["receiptStatus"] = status
    return receipt


def test_the_rank_rule_applies_the_batch_in_its_order(store: Store) -> None:
    u = plan(store, "job-1", 4)
    batch: Receipts = [
        ("a1", rc(u[0], "RECEIVED")),
        ("a2", rc(u[0], "COMPLETED")),  # RECEIVED then COMPLETED: COMPLETED
        ("b1", rc(u[1], "COMPLETED")),
        ("b2", rc(u[1], "RECEIVED")),  # COMPLETED then RECEIVED keeps COMPLETED
        ("c1", rc(u[2], "COMPLETED")),
        ("c2", rc(u[2], "INVALID")),  # equal rank replaces: INVALID
        ("x1", rc("unknown", "INVALID")),  # no outbox row: kept, touches nothing
        ("x2", rc(None, "COMPLETED")),  # no messageUUID
        ("x3", rc(u[3], None)),  # no status: u[3] keeps none
        ("x4", {}),
    ]
    assert store.record_receipts(batch) == len(batch)
    assert statuses(store, "job-1") == ["COMPLETED", "COMPLETED", "INVALID", None]
    assert sorted(r.receipt_id for r in store.unprocessed_receipts()) == sorted(rid for rid, _ in batch)
    # A later batch goes on from the stored statuses: RECEIVED downgrades nothing, NOT_ALLOWED replaces.
    assert store.record_receipts([("a3", rc(u[0], "RECEIVED")), ("c3", rc(u[2], "NOT_ALLOWED"))]) == 2
    assert statuses(store, "job-1") == ["COMPLETED", "COMPLETED", "NOT_ALLOWED", None]


def test_duplicates_within_and_across_batches_are_kept_once(store: Store) -> None:
    u = plan(store, "job-1", 2)
    batch: Receipts = [
        ("r1", rc(u[0], "RECEIVED", errorMessage="first")),
        ("r1", rc(u[0], "COMPLETED", errorMessage="second")),  # same id again: the first is kept
        ("r2", rc(u[1], "COMPLETED")),
        ("r2", rc(u[1], "COMPLETED")),
    ]
    assert store.record_receipts(batch) == 2
    assert statuses(store, "job-1") == ["RECEIVED", "COMPLETED"]
    kept = {r.receipt_id: r for r in store.unprocessed_receipts()}
    assert set(kept) == {"r1", "r2"}
    assert kept["r1"].payload["errorMessage"] == "first" and kept["r1"].receipt_status == "RECEIVED"
    # Across batches: a receipt already kept is neither counted nor applied again.
    assert store.record_receipts([("r1", rc(u[0], "COMPLETED")), ("r3", rc(u[0], "RECEIVED"))]) == 1
    assert statuses(store, "job-1") == ["RECEIVED", "COMPLETED"]
    assert store.record_receipt("r3", rc(u[0], "COMPLETED")) is False
    assert store.record_receipt("r4", rc(u[0], "COMPLETED")) is True
    assert statuses(store, "job-1") == ["COMPLETED", "COMPLETED"]
    assert store.record_receipts([]) == 0


def test_a_batch_larger_than_one_chunk(store: Store) -> None:
    # 520 rows: more than one SELECT/UPDATE chunk (500 keys) and several INSERT chunks (166 receipts).
    u = plan(store, "job-1", 520)
    batch: Receipts = [(f"rcv-{i}", rc(m, "RECEIVED")) for i, m in enumerate(u)]
    batch += [(f"done-{i}", rc(m, "COMPLETED")) for i, m in enumerate(u) if i % 2 == 0]
    batch += [(f"late-{i}", rc(m, "RECEIVED")) for i, m in enumerate(u) if i % 3 == 0]
    batch += [(f"bad-{i}", rc(m, "INVALID")) for i, m in enumerate(u) if i % 5 == 0]
    batch += [("rcv-7", rc(u[7], "COMPLETED"))]  # a duplicate several chunks after the first copy
    expected: list[str | None] = []
    for i in range(len(u)):
        status = "COMPLETED" if i % 2 == 0 else "RECEIVED"
        expected.append("INVALID" if i % 5 == 0 else status)
    assert store.record_receipts(batch) == len(batch) - 1
    assert statuses(store, "job-1") == expected
    assert store.record_receipts(batch) == 0
    assert statuses(store, "job-1") == expected


@pytest.mark.parametrize(
    "port_store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_batch_takes_a_bounded_number_of_statements(store: Store) -> None:
    assert isinstance(store, SqlStore)
    u = plan(store, "job-1", 100)
    batch: Receipts = [
        (f"r-{i}", rc(m, ("RECEIVED", "COMPLETED", "INVALID")[i % 3])) for i, m in enumerate(u)
    ]
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]).split(None, 1)[0].upper())

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        assert store.record_receipts(batch) == 100
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    writes = [s for s in seen if s in {"INSERT", "SELECT", "UPDATE"}]
    # 1 INSERT per 166 receipts, 1 SELECT ... FOR UPDATE per 500 rows, 1 UPDATE per final status
    # (PostgreSQL's transaction clock adds one SELECT now()).
    assert writes.count("INSERT") == 1
    assert writes.count("UPDATE") == 3
    assert writes.count("SELECT") <= 2
    assert statuses(store, "job-1") == [("RECEIVED", "COMPLETED", "INVALID")[i % 3] for i in range(100)]


_counter = itertools.count()
Drawn = tuple[int, int | str | None, str | None]


def receipts(job_id: str, u: Sequence[str], batch: Sequence[Drawn]) -> Receipts:
    """The drawn receipts of ``job_id``'s rows ``u``: ids, targets and statuses as drawn."""
    out: Receipts = []
    for rid, target, status in batch:
        message_uuid = u[target] if isinstance(target, int) else target
        out.append((f"{job_id}-{rid}", rc(message_uuid, status, seq=len(out))))
    return out


_STATUS = st.sampled_from(["RECEIVED", "COMPLETED", "INVALID", "NOT_ALLOWED", "SOMETHING_NEW", None])
_RECEIPT = st.tuples(
    st.integers(0, 7),  # receipt id: few, so duplicates within and across batches are common
    st.sampled_from([0, 1, 2, "unknown", None]),  # an outbox row of the job, an unknown UUID, none
    _STATUS,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    initial=st.lists(st.sampled_from([None, "RECEIVED", "COMPLETED"]), min_size=3, max_size=3),
    batches=st.lists(st.lists(_RECEIPT, max_size=8), max_size=3),
)
def test_a_batch_is_the_same_as_one_receipt_at_a_time(
    store: Store, initial: list[str | None], batches: list[list[Drawn]]
) -> None:
    n = next(_counter)
    results: dict[str, list[object]] = {}
    for side in ("batch", "single"):
        job_id = f"{side}-{n}"
        u = plan(store, job_id, 3)
        store.record_send_results(
            [
                SendOutcome(m, OutboxState.ACCEPTED, transmission_id=f"t-{m}", receipt_status=s)
                for m, s in zip(u, initial, strict=True)
                if s is not None
            ]
        )

        counts: list[object] = []
        for batch in batches:
            if side == "batch":
                counts.append(store.record_receipts(receipts(job_id, u, batch)))
            else:
                counts.append(sum(store.record_receipt(rid, r) for rid, r in receipts(job_id, u, batch)))
        kept = sorted(
            (r.receipt_id.removeprefix(f"{job_id}-"), r.payload.get("seq"), r.receipt_status)
            for r in store.unprocessed_receipts(limit=10_000)
            if r.receipt_id.startswith(f"{job_id}-")
        )
        results[side] = [counts, statuses(store, job_id), kept]
    assert results["batch"] == results["single"]
