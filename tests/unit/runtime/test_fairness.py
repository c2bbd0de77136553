"""Issue 18, fairness between function mailboxes (order of events, no timing): a mailbox with a backlog of
jobs never hides another mailbox's single letter from that mailbox's poll (jobs are read by mailbox in
SQL, not a shared page filtered afterwards)."""

from __future__ import annotations

from collections.abc import Callable

from graph_dpg.ports.store import JobState
from graph_dpg.services.outbound import CycleStats
from tests.unit.runtime.conftest import Rig

A, B = "a@testby.dk", "b@testby.dk"


async def test_a_backlog_in_one_mailbox_does_not_hide_the_single_letter_of_another(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    svc = rig.gateway.outbound
    svc.job_page = 2  # the page a pass reads per state: smaller than mailbox a's backlog
    mb = {m.address: m for m in svc.settings.mailboxes}
    for _ in range(4):
        rig.send(A)
    await svc.poll(mb[A])  # a's four jobs are older than b's
    rig.send(B)
    await svc.poll(mb[B])
    stats = CycleStats()
    await svc.process_jobs({B}, stats)  # b's poll: b's letter is sent in this pass
    assert stats.sent == 1 and len(rig.state.accepted) == 1
    store = rig.gateway.store
    assert [j.mailbox for j in store.jobs_in_state([JobState.DONE], limit=10)] == [B]
    assert len(store.jobs_in_state([JobState.NEW], limit=10, mailboxes={A})) == 4
