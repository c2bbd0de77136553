"""``OutboundService.process_jobs``, the one loop over unfinished jobs that both ``run_once`` and the runtime's
mailbox polls use: per-job counts, stopping between jobs, and an authentication failure stopping the pass."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from graph_dpg.adapters.digital_post import NgdpClient
from graph_dpg.core.errors import AuthError
from graph_dpg.ports.store import JobState, OutboundJob
from graph_dpg.sandbox.ngdp import create_app
from graph_dpg.services.outbound import CycleStats, OutboundService

from .harness import CITIZEN, CITIZEN2, MAILBOX, UNREGISTERED, Harness, make_harness

GW = "ngdp.digital-post.dk"


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await make_harness(f"sqlite:///{tmp_path / 'state.db'}")
    async with harness.mailbox:
        yield harness
    harness.store.close()


async def polled(h: Harness, *subjects_and_cprs: tuple[str, str]) -> None:
    for subject, cpr in subjects_and_cprs:
        h.send(subject, [f"{cpr}@29189846.{GW}"])
    mb = h.service.settings.mailbox(MAILBOX)
    assert mb is not None
    assert await h.service.poll(mb) == len(subjects_and_cprs)


async def test_each_job_is_counted_once_in_the_total_and_in_its_callback(h: Harness) -> None:
    await polled(h, ("Til borger", CITIZEN), ("Til anden borger", CITIZEN2), ("Ukendt", UNREGISTERED))
    seen: list[tuple[OutboundJob, CycleStats]] = []
    stats = CycleStats()
    await h.service.process_jobs({MAILBOX}, stats, on_job=lambda job, one: seen.append((job, one)))
    assert sorted(job.subject for job, _ in seen) == ["Til anden borger", "Til borger", "Ukendt"]
    assert all(job.channel == "ngdp" for job, _ in seen)
    total = CycleStats()
    for _, one in seen:
        total.add(one)
    assert total == stats
    assert (stats.planned, stats.sent, stats.jobs_done) == (3, 3, 3)
    assert len(h.ngdp.accepted) == 3


async def test_keep_going_false_stops_before_the_next_job(h: Harness) -> None:
    await polled(h, ("Først", CITIZEN), ("Siden", CITIZEN2))
    asked: list[int] = []

    def one_job_only() -> bool:
        asked.append(1)
        return len(asked) == 1

    stats = CycleStats()
    await h.service.process_jobs({MAILBOX}, stats, keep_going=one_job_only)
    assert (stats.planned, stats.sent, len(asked)) == (1, 1, 2)
    assert len(h.ngdp.accepted) == 1
    assert len(h.store.jobs_in_state([JobState.NEW], limit=10)) == 1  # left for the next pass


async def test_other_mailboxes_jobs_are_left_alone(h: Harness) -> None:
    await polled(h, ("Til borger", CITIZEN))
    stats = CycleStats()
    await h.service.process_jobs({"someone-else@kommune.dk"}, stats)
    assert stats == CycleStats()


async def test_an_authentication_failure_is_raised_by_the_loop_and_recorded_by_run_once(h: Harness) -> None:
    await polled(h, ("Til borger", CITIZEN), ("Til anden borger", CITIZEN2))
    refused = NgdpClient(
        "http://ngdp.sandbox/apis/v1",
        h.ngdp.system_id,
        "not-the-token",
        transport=httpx.ASGITransport(app=create_app(h.ngdp)),
        backoff_base=0.001,
        backoff_max=0.01,
    )
    service = OutboundService(h.mailbox, refused, h.store, h.service.settings)
    sent: list[str] = []
    with pytest.raises(AuthError):
        await service.process_jobs({MAILBOX}, CycleStats(), on_job=lambda job, one: sent.append(job.subject))
    assert len(sent) == 1  # the first job's counts are reported; the second is not tried
    stats = await service.run_once()
    assert len(stats.errors) == 1 and stats.errors[0].startswith("outbound stopped: ")
    assert h.ngdp.accepted == []
