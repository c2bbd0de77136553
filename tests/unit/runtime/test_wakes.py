"""The wakes job: a woken folder is polled at once by the replica holding it; a wake for a folder whose poll is
still running waits for that poll to end (a change during a round is not lost); a folder this replica does not
hold is left to its holder."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from graph_dpg.runtime import outbound_resource
from graph_dpg.services.notifications import NotificationInbox

Rig = Any  # the fixture's Rig (tests/unit/runtime/conftest.py); test dirs are not packages


async def test_a_wake_polls_the_folder_and_one_for_a_running_poll_waits(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    runtime, store = rig.runtime, rig.gateway.store
    rig.gateway.notifications = NotificationInbox(store)  # notifications on (no subscriptions kept here)
    assert runtime.outbound_interval == rig.settings.poll_interval_with_notifications_seconds
    await runtime.heartbeat()
    a = outbound_resource("a@testby.dk", "sentitems")
    b = outbound_resource("b@testby.dk", "sentitems")
    busy = asyncio.Event()
    running = asyncio.create_task(busy.wait())  # stands for a poll of a still in progress
    runtime._running[a] = running
    store.request_wake(a, "changed")
    store.request_wake("outbound:someone-else@testby.dk:sentitems", "changed")
    await runtime.check_wakes()
    assert runtime.counters.wakes == 0  # a is busy: its wake stays
    busy.set()
    await running
    rig.send("a@testby.dk")
    await runtime.check_wakes()
    await runtime.wait_polls()
    assert runtime.counters.wakes == 1
    assert runtime.counters.outbound_polls == 1 and len(rig.state.accepted) == 1
    assert store.take_wakes([a, b]) == []  # taken by the poll
    # Not ours to take: the wake of a folder this replica does not hold stays for its holder.
    assert store.take_wakes(["outbound:someone-else@testby.dk:sentitems"]) == [
        "outbound:someone-else@testby.dk:sentitems"
    ]
