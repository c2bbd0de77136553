"""Mass delivery: outbox rows planned in one transaction (rate printed, not asserted).

The default suite plans a little over five of the store's insert chunks, which covers the chunking; the
100,000 rows of a large mass delivery run with the slow scenarios (``make test-slow``, CI).
"""

from __future__ import annotations

import time
import uuid

import pytest

from graph_dpg.adapters.store import SqlStore
from graph_dpg.adapters.store.sql import PLAN_CHUNK
from graph_dpg.ports.store import OutboundJob, OutboxState, PlannedMemo


@pytest.mark.parametrize(
    "rows",
    [pytest.param(5 * PLAN_CHUNK + 1, id="chunks"), pytest.param(100_000, id="100k", marks=pytest.mark.slow)],
)
def test_plan_job_rows(store: SqlStore, rows: int, capsys: pytest.CaptureFixture[str]) -> None:
    job = OutboundJob("mass", "sag@kommune.dk", "AAMk-mass", "<mass@x>", "Masseforsendelse", "digitalpost")
    memos = [
        PlannedMemo(
            message_uuid=str(uuid.uuid4()),
            recipient_kind="cpr",
            recipient_id=f"{i:010d}",
            memo_ref=f"template:mass#{i}",
        )
        for i in range(rows)
    ]
    started = time.perf_counter()
    assert store.plan_job(job, memos) is True
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(
            f"\n[store bench] plan_job {rows:,} rows on {store.dialect}: {elapsed:.2f} s, {rows / elapsed:,.0f} rows/s"
        )

    assert store.job_progress("mass")[OutboxState.PENDING] == rows
    first = store.next_pending("mass", limit=3)
    assert [e.message_uuid for e in first] == [m.message_uuid for m in memos[:3]]
    assert first[2].memo_ref == "template:mass#2" and first[2].recipient_id == "0000000002"
    last = store.find_by_message_uuid(memos[-1].message_uuid)
    assert last is not None and last.state is OutboxState.PENDING and last.attempts == 0
