"""The CPU pool (``graph_dpg.services.cpu``): calls run in its worker threads, never on the event loop's,
with the caller's context variables; results and exceptions come back; no more calls run at once than it
has workers."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from graph_dpg.services.cpu import CpuPool, default_workers, shared_pool

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def _where(value: int) -> tuple[str, str, int]:
    return threading.current_thread().name, request_id.get(), value * 2


async def test_a_call_runs_in_a_worker_thread_with_the_callers_context() -> None:
    pool = CpuPool(2)
    try:
        request_id.set("job-17")
        thread, seen, result = await pool.run(_where, 21)
        assert thread.startswith("graph-dpg-cpu") and thread != threading.current_thread().name
        assert (seen, result) == ("job-17", 42)
    finally:
        pool.shutdown()


def _fail() -> None:
    raise OverflowError("date value out of range")


async def test_the_calls_exception_reaches_the_caller() -> None:
    pool = CpuPool(1)
    try:
        with pytest.raises(OverflowError, match="out of range"):
            await pool.run(_fail)
        assert await pool.run(len, "still works") == 11
    finally:
        pool.shutdown()


async def test_no_more_calls_run_at_once_than_the_pool_has_workers() -> None:
    pool = CpuPool(2)
    started: list[int] = []
    guard = threading.Lock()
    two_started = threading.Event()
    third_started = threading.Event()
    gates = [threading.Event() for _ in range(3)]

    def work(i: int) -> int:
        with guard:
            started.append(i)
            if len(started) == 2:
                two_started.set()
            if len(started) == 3:
                third_started.set()
        assert gates[i].wait(20)
        return i

    try:
        calls = [asyncio.ensure_future(pool.run(work, i)) for i in range(3)]
        assert await asyncio.to_thread(two_started.wait, 20)
        assert sorted(started) == [0, 1]  # both workers hold a call: the third waits its turn
        gates[0].set()
        assert await asyncio.to_thread(third_started.wait, 20)
        assert started == [*started[:2], 2]
        gates[1].set()
        gates[2].set()
        assert await asyncio.gather(*calls) == [0, 1, 2]
    finally:
        for gate in gates:
            gate.set()
        pool.shutdown()


def test_the_shared_pool_is_one_per_process_and_bounded() -> None:
    assert shared_pool() is shared_pool()
    assert 2 <= shared_pool().workers == default_workers() <= 8
