"""How a use case runs CPU-heavy pure code: in a small pool of worker threads, never on the event loop.

Sanitising HTML (nh3), building, parsing and validating MeMo XML (lxml and the XSD), sniffing the content of
PDF and zip files, rendering big mails and receipts, and evaluating the routing rules can each take seconds
on hostile input (45,000 nested ``<div>`` cost nh3 about 2.5 s). On the event loop that time would freeze
everything else the loop serves — ``/healthz``, the NgDP push receiver, every other mailbox's poll. So every
such call a service makes goes through one object::

    plan = await self.cpu.run(plan_outbound, msg, ctx)

Threads, not processes, because the heavy parts give the interpreter lock away: nh3 (Rust) and libxml2 (lxml)
release it while they work (nh3 on 45,000 nested ``<div>``: 2.5 s in a thread, another thread's 10 ms
sleeps woke at most 1 ms late), and pure-Python work (zip directories, the receipt tables) hands it back to
the loop's thread every switch interval (5 ms). ``bench/loop_stall.py`` measures the loop's worst stall
under the hostile corpus and generated worst cases: 2.7 s with these calls on the loop, 0.09-0.17 s with
the pool. What is left are C calls that keep the lock for their whole run (base64 of a 20 MB attachment,
serialising a 27 MB MeMo), here and in the emulators that share the benchmark's process. A process pool
would remove those too, but would copy every MeMo (up to ~140 MB of XML) into the worker and the result
back, and could not share the compiled XSD; the goal (< 0.5 s) does not need it.

The pool is bounded (``workers`` threads, by default as many as the machine has cores, at least 2 and at
most 8): CPU work beyond that waits its turn instead of oversubscribing the cores. The services share one
pool per process (:func:`shared_pool`); a test or a benchmark passes its own. Context variables
(structured-logging context) go with the call, as with :func:`~graph_dpg.services.blocking.blocking`. A
cancelled caller does not stop the call: it runs to its end in its thread, and its result is dropped.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Generic, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def default_workers() -> int:
    """Threads of the shared pool: the machine's cores, at least 2, at most 8."""
    return max(2, min(8, os.cpu_count() or 1))


class CpuJob(Generic[R]):
    """One call as it runs in a worker thread (``name`` says what runs, for logs and tests)."""

    def __init__(self, fn: Callable[[], R], name: str) -> None:
        self._fn = fn
        self.name = name
        self._context = contextvars.copy_context()

    def __call__(self) -> R:
        return self._context.run(self._fn)


class CpuPool:
    """A bounded pool of worker threads for CPU-heavy calls (see the module docstring)."""

    def __init__(self, workers: int | None = None, *, executor: Executor | None = None) -> None:
        self.workers = workers or default_workers()
        self._executor = executor
        self._lock = threading.Lock()

    def _pool(self) -> Executor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="graph-dpg-cpu")
            return self._executor

    async def run(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """``fn(*args, **kwargs)`` in a worker thread; the event loop goes on meanwhile."""
        job = CpuJob(lambda: fn(*args, **kwargs), getattr(fn, "__qualname__", repr(fn)))
        return await asyncio.get_running_loop().run_in_executor(self._pool(), job)

    def shutdown(self) -> None:
        """Stop the threads once the calls in progress have finished."""
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None


_shared: CpuPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> CpuPool:
    """The process's pool, shared by every service that is not given its own."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = CpuPool()
        return _shared
