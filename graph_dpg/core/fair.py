"""Slots shared fairly between keys: a bounded number of holders, handed out in turn by key.

``asyncio.Semaphore`` wakes its waiters first come, first served: a function mailbox that queues the 200
sends of a mass delivery's batch ahead of another mailbox's single letter makes that letter wait for all
200. :class:`FairSlots` keeps one queue per key and hands each freed slot to the next key in turn (round
robin), so a key's first waiter gets a slot after at most one slot per other waiting key is freed, however
many waiters those keys have (issue 18: a mass delivery never holds up another mailbox's single letter).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class FairSlots:
    """At most ``limit`` holders at once; waiters are served round robin over their keys."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._free = limit
        # Key -> its waiters, oldest first; the first key is served next, then moves to the end.
        self._queues: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        await self._acquire(key)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, key: str) -> None:
        # Invariant: free slots exist only while nobody waits (a freed slot goes straight to a waiter).
        if self._free > 0 and not self._queues:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(key, deque()).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot in the same instant as cancelled: pass it on
            else:
                queue = self._queues.get(key)
                if queue is not None and waiter in queue:
                    queue.remove(waiter)
                    if not queue:
                        del self._queues[key]
            raise

    def _release(self) -> None:
        while self._queues:
            key, queue = next(iter(self._queues.items()))
            waiter = queue.popleft()
            if queue:
                self._queues.move_to_end(key)
            else:
                del self._queues[key]
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
