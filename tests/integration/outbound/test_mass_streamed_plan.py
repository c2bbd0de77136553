"""A mass delivery is planned as a stream (issue 18): the recipient list is read while the store writes the
outbox rows in chunks, in one transaction, so memory stays flat in the number of recipients and a crash in
the middle of planning leaves nothing half-planned.

Source: the crash-safety invariants of ``graph_dpg.services.outbound`` (every messageUUID stored before the
first send, in one transaction; nothing lost, nothing sent twice). That planning is one transaction while its
rows are streamed is this project's design (docs/architecture.md), not an outside fact.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import tracemalloc
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graph_dpg.adapters.store import create_store
from graph_dpg.adapters.store.sql import PLAN_CHUNK, SqlStore
from graph_dpg.core.errors import StoreError
from graph_dpg.domain.conversion import OutboundContext, plan_outbound
from graph_dpg.domain.mail import Attachment, EmailAddress, MailMessage
from graph_dpg.domain.policies import DEFAULT_POLICIES
from graph_dpg.memo import parse
from graph_dpg.ports.digital_post import SendResult
from graph_dpg.ports.store import AuditEntry, JobState, OutboundJob, OutboxEntry, OutboxState, PlannedMemo
from graph_dpg.services.outbound import OutboundService

from .harness import MAILBOX, ORG_CVR, PDF, Harness


def _cprs(n: int) -> list[str]:
    # Valid dates (day 01-28, month 01-12), distinct for n <= 33,600.
    return [
        f"{1 + i % 28:02d}{1 + (i // 28) % 12:02d}{60 + (i // 336) % 40:02d}{i % 10000:04d}" for i in range(n)
    ]


class RecordingNgdp:
    """Records every MeMo once by messageUUID (as NgDP: a repeated messageUUID is a duplicate)."""

    def __init__(self) -> None:
        self.accepted: dict[str, bytes] = {}

    async def send_memo(self, message_uuid: str, xml: bytes, *, possibly_sent: bool = False) -> SendResult:
        duplicate = message_uuid in self.accepted
        self.accepted.setdefault(message_uuid, xml)
        return SendResult("t-" + message_uuid, message_uuid, "RECEIVED", duplicate=duplicate)


class CrashingPlanStore:
    """The real store, whose first ``plan_job`` (or ``plan_and_claim``) dies after ``rows`` rows were handed to it (as a process
    killed between two chunks would): the rows already written are in the open transaction."""

    def __init__(self, store: SqlStore, rows: int) -> None:
        self._store = store
        self._rows = rows
        self.crashed = False
        self.streamed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def plan_job(
        self, job: OutboundJob, memos: Iterable[PlannedMemo], *, audit: AuditEntry | None = None, **kw: Any
    ) -> bool:
        return self._store.plan_job(job, self._dying(memos), audit=audit, **kw)

    def plan_and_claim(
        self, job: OutboundJob, memos: Iterable[PlannedMemo], *, audit: AuditEntry | None = None, **kw: Any
    ) -> tuple[bool, bool, list[OutboxEntry]]:
        # What the service plans with (the plan and its first page claimed, one transaction).
        return self._store.plan_and_claim(job, self._dying(memos), audit=audit, **kw)

    def _dying(self, memos: Iterable[PlannedMemo]) -> Iterable[PlannedMemo]:
        self.streamed = not isinstance(memos, (list, tuple))
        if self.crashed:
            return memos

        def dying() -> Iterator[PlannedMemo]:
            for i, m in enumerate(memos):
                if i == self._rows:
                    self.crashed = True
                    raise StoreError("the process died here (simulated)")
                yield m

        return dying()


def _mass_mail(h: Harness, cprs: list[str]) -> str:
    return h.send(
        f"Masse {len(cprs)}",
        [f"masseforsendelse-{len(cprs)}@{ORG_CVR}.ngdp.digital-post.dk"],
        attachments=[
            ("masseforsendelse.txt", "text/plain", "\n".join(cprs).encode()),
            ("body.pdf", "application/pdf", PDF),
        ],
    )


async def test_planning_dying_between_chunks_leaves_nothing_and_the_next_pass_plans_each_once(
    h: Harness,
) -> None:
    n = 2 * PLAN_CHUNK + 500
    cprs = _cprs(n)
    mid = _mass_mail(h, cprs)
    crashing = CrashingPlanStore(h.store, rows=2 * PLAN_CHUNK + 1)  # past two full chunks
    fake = RecordingNgdp()
    first = OutboundService(h.mailbox, fake, crashing, h.service.settings)  # type: ignore[arg-type]
    await first.run_once()
    assert crashing.crashed and crashing.streamed  # the rows came as a stream, not a list
    job = h.store.find_job(MAILBOX, mid)
    assert job is not None and job.state is JobState.NEW  # the failed plan left the job as it was
    assert h.store.list_outbox(job.id, limit=10) == []  # and none of its rows
    assert fake.accepted == {}

    # The next pass (a restarted gateway) plans it again, from the start, once.
    again = OutboundService(h.mailbox, fake, crashing, h.service.settings)  # type: ignore[arg-type]
    for _ in range(5):
        await again.run_once()
        if h.store.job_progress(job.id)[OutboxState.PENDING] == 0:
            break
    progress = h.store.job_progress(job.id)
    assert progress[OutboxState.ACCEPTED] == n and sum(progress.values()) == n
    recipients = Counter(parse(x).header.recipient.recipient_id for x in fake.accepted.values())
    assert set(recipients) == set(cprs) and set(recipients.values()) == {1}


_KILLED_WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from graph_dpg.adapters.store import create_store
    from graph_dpg.ports.store import OutboundJob, PlannedMemo

    db_url, marker, n, at = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    store = create_store(db_url)
    job = OutboundJob("killed-job", "fp@kommune.dk", "m-1", None, "Masse", "ngdp")
    store.create_job(job)

    def rows():
        for i in range(n):
            if i == at:
                marker.write_text("in the middle")
                while True:  # killed here, the transaction open
                    time.sleep(1)
            yield PlannedMemo(f"00000000-0000-4000-8000-{i:012d}", "cpr", f"{i:010d}", memo_ref="t", line=i + 1)

    store.plan_job(job, rows())
    """
)


def test_sigkill_in_the_middle_of_planning_leaves_no_rows_and_planning_again_writes_each_once(
    db_url: str, tmp_path: Path
) -> None:
    n, at = 3 * PLAN_CHUNK, 2 * PLAN_CHUNK + 7
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WORKER, db_url, str(marker), str(n), str(at)])
    try:
        while not marker.exists():  # the worker is inside plan_job, past two chunks
            assert proc.poll() is None, "the worker ended before it reached the middle of planning"
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    store2 = create_store(db_url)
    try:
        job = store2.get_job("killed-job")
        assert job is not None and job.state is JobState.NEW
        assert store2.list_outbox("killed-job", limit=10) == []
        rows = [
            PlannedMemo(f"10000000-0000-4000-8000-{i:012d}", "cpr", f"{i:010d}", line=i + 1) for i in range(n)
        ]
        assert store2.plan_job(job, iter(rows)) is True
        listed, after = [], 0
        while page := store2.list_outbox("killed-job", after_id=after, limit=5000):
            listed += page
            after = page[-1].id
        assert len(listed) == n
        assert len({e.message_uuid for e in listed}) == n
        assert all(e.message_uuid.startswith("10000000") for e in listed)  # none of the killed plan's
    finally:
        store2.close()


def _mass_message(n: int) -> MailMessage:
    listing = "\n".join(_cprs(n)).encode()
    return MailMessage(
        subject="Masse",
        body="<p>Kære borger</p>",
        to=[EmailAddress(f"masseforsendelse-{n}@{ORG_CVR}.ngdp.digital-post.dk")],
        attachments=[Attachment("masseforsendelse.txt", "text/plain", listing)],
    )


def _planning_peak(n: int, *, stream: bool) -> tuple[int, int]:
    """(tracemalloc peak while planning and reading every row, rows read)."""
    msg = _mass_message(n)
    ctx = OutboundContext(
        organisation_cvr=ORG_CVR,
        organisation_name="Kommune",
        gateway_domain="digital-post.dk",
        mailbox_address=MAILBOX,
        mailbox_configured=True,
        allowed_cvrs=frozenset({ORG_CVR}),
        allowed_sender_contact_points=frozenset(),
        internal_domains=frozenset(),
        policies=DEFAULT_POLICIES,
        created=datetime(2026, 12, 1, tzinfo=UTC),
    )
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        plan = plan_outbound(msg, ctx, stream_mass=stream)
        assert not plan.errors, plan.errors
        rows = sum(1 for _ in plan.all_memos())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, rows


def test_planning_memory_per_recipient_is_a_fraction_of_holding_every_row() -> None:
    """Going from 1,000 to 5,000 recipients, planning that holds every row (``stream_mass=False``, as the
    corpus tests plan) grows by one row object per recipient; the streamed plan the service uses grows
    only by the recipient list's packed duplicate check and its decoded text (tens of bytes a recipient)."""
    growth: dict[bool, float] = {}
    for stream in (False, True):
        small, small_rows = _planning_peak(1000, stream=stream)
        big, big_rows = _planning_peak(5000, stream=stream)
        assert (small_rows, big_rows) == (1000, 5000)
        growth[stream] = (big - small) / 4000  # bytes per added recipient
    assert growth[True] < 100, growth
    assert growth[True] * 5 < growth[False], growth
