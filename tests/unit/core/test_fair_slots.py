"""FairSlots (issue 18, fairness): freed slots go round robin over the keys waiting, so a mailbox with a
mass delivery's 200 sends queued never makes another mailbox's single letter wait behind all of them.
Order of events only: no clocks, no sleeps."""

from __future__ import annotations

import asyncio

import pytest

from graph_dpg.core.fair import FairSlots


async def _run(slots: FairSlots, key: str, order: list[str], gate: asyncio.Event) -> None:
    async with slots.slot(key):
        order.append(key)
        await gate.wait()


async def test_a_single_waiter_of_another_key_is_served_within_one_turn_not_after_the_backlog() -> None:
    slots = FairSlots(2)
    order: list[str] = []
    gates = [asyncio.Event() for _ in range(203)]
    mass = [asyncio.create_task(_run(slots, "mass", order, gates[i])) for i in range(200)]
    await asyncio.sleep(0)  # every mass send has asked: 2 hold a slot, 198 wait
    single = asyncio.create_task(_run(slots, "single", order, gates[200]))
    await asyncio.sleep(0)
    assert order == ["mass", "mass"] and slots.waiting == 199
    # Two mass sends finish: the first freed slot is mass's turn, the second is the single letter's, not
    # the 4th of 200 (with asyncio.Semaphore it would be the 201st).
    gates[0].set()
    gates[1].set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == ["mass", "mass", "mass", "single"]
    for gate in gates:
        gate.set()
    await asyncio.gather(*mass, single)
    assert order.count("mass") == 200 and slots.waiting == 0


async def test_keys_take_turns_and_never_more_than_the_limit_hold_a_slot() -> None:
    slots = FairSlots(1)
    order: list[str] = []
    holding = [0]
    peak = [0]

    async def send(key: str) -> None:
        async with slots.slot(key):
            holding[0] += 1
            peak[0] = max(peak[0], holding[0])
            order.append(key)
            await asyncio.sleep(0)
            holding[0] -= 1

    tasks = [asyncio.create_task(send(k)) for k in ["a"] * 4 + ["b"] * 2 + ["c"]]
    await asyncio.gather(*tasks)
    assert peak[0] == 1
    assert order == ["a", "a", "b", "c", "a", "b", "a"]  # first a took the free slot; then in turn


async def test_a_cancelled_waiter_gives_up_its_place_and_the_slots_stay_usable() -> None:
    slots = FairSlots(1)
    gate = asyncio.Event()
    order: list[str] = []
    holder = asyncio.create_task(_run(slots, "a", order, gate))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(_run(slots, "b", order, asyncio.Event()))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert slots.waiting == 0
    gate.set()
    await holder
    async with slots.slot("c"):  # the freed slot is free again, not lost
        order.append("c")
    assert order == ["a", "c"]


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FairSlots(0)
