"""How a use case calls a blocking port (the SQL store): in a worker thread, never on the event loop.

Each store call is a short transaction, but it can wait: SQLite for a write lock (up to its 30 s busy
timeout), PostgreSQL for a pool slot, a failover or a lock held by another replica. On the event loop such
a wait would freeze everything else the loop serves — ``/healthz``, the NgDP push receiver, every other
mailbox's poll. So every blocking port call a service (and the runtime) makes goes through one function::

    job = await blocking(self.store.get_job, job_id)

:func:`asyncio.to_thread` copies the caller's context variables into the worker, so structured-logging
context stays with the call. A cancelled caller does not cancel the transaction: it runs to its end, as it
would have on the loop. Pure code (domain, memo) never needs this; CPU-heavy work has its own executor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


async def blocking(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(*args, **kwargs)`` in a worker thread; the event loop goes on meanwhile."""
    return await asyncio.to_thread(fn, *args, **kwargs)
