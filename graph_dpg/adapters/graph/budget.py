"""The Graph budget of one replica: Outlook's limits shared by all replicas (issue 18).

Every Graph request takes, in this order (``GraphMailbox._slot``):

1. **a request** from its mailbox's count in the current window (and the app's, when an app cap is set),
   taken from a block this replica reserved in the shared ledger (the database: one UPDATE per block of
   ``block`` requests, never one per request). When the window is spent the request waits for the next
   one, holding no concurrency slot; if that is further away than ``max_wait_s``, it fails with
   :class:`~graph_dpg.core.errors.ThrottledError` and ``retry_after``, so its item backs off and other
   items go on. Requests of a block left unused at the window's end are lost (the count stays
   conservative).
2. **a concurrency slot** of its mailbox: this replica's share of the per-mailbox limit, set by
   :meth:`GraphBudget.update` on every heartbeat from the live replica count and the mailboxes whose lease
   this replica holds (:func:`graph_dpg.core.budget.concurrency_share`).
3. **an app-wide slot**, when an app cap is set: ``floor(cap / replicas)``, at least 1.

A ledger that fails (the database is down) raises its ``StoreError`` from the request: nothing was sent,
and the item's cycle backs off as for any store failure.

The arithmetic and why 900 requests a minute keep every 10 minutes under 10,000 are in
:mod:`graph_dpg.core.budget`; the facts and the decisions in docs/facts/graph.md, "Throttling".
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field

from graph_dpg.core import budget as arithmetic
from graph_dpg.core.errors import ThrottledError
from graph_dpg.ports.graph_budget import BudgetGrant, BudgetLedger

SERVICE = "graph"
APP_SCOPE = "app"
#: Requests reserved at a time: one database round trip per 20 Graph requests.
DEFAULT_BLOCK = 20
#: The longest a request waits for the next window before it fails with ThrottledError (a window is 60 s,
#: so by default a request waits for the next window, never for two).
DEFAULT_MAX_WAIT_S = 65.0


def mailbox_scope(mailbox: str) -> str:
    return f"mailbox:{mailbox.casefold()}"


class MemoryLedger:
    """The ledger of one process (SQLite runs one replica; tests). Same arithmetic as the database's, on
    the wall clock (``clock``: seconds since the epoch)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._used: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def reserve_requests(self, scope: str, want: int, cap: int, window_s: int) -> BudgetGrant:
        with self._lock:
            now = self._clock()
            start = arithmetic.window_start(now, window_s)
            left = start + window_s - now
            key = (scope, start)
            used = self._used.get(key, 0)
            if used == 0:
                # A new window: forget this scope's older ones.
                for old in [k for k in self._used if k[0] == scope and k[1] < start]:
                    del self._used[old]
            granted = max(0, min(want, cap - used))
            self._used[key] = used + granted
            return BudgetGrant(granted, start, left)

    def used(self, scope: str, window_start: int) -> int:
        with self._lock:
            return self._used.get((scope, window_start), 0)


class Limiter:
    """At most ``limit`` holders, first come first served; unlike ``asyncio.Semaphore`` the limit can be
    changed while requests hold and wait (a lower limit takes effect as holders leave)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(not f.done() for f in self._waiters)

    def set_limit(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._wake()

    async def acquire(self) -> None:
        if self.active < self.limit and not self.waiting:
            self.active += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot was handed to us as we were cancelled: hand it on
            raise

    def release(self) -> None:
        self.active -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.active < self.limit:
            future = self._waiters.popleft()
            if future.done():
                continue
            self.active += 1
            future.set_result(None)

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()


@dataclass
class _Window:
    """This replica's requests left in one scope's current window (a block from the ledger)."""

    start: int = -1
    remaining: int = 0
    ends_at: float = 0.0  # local monotonic time the window ends (conservative: at or before the ledger's)
    spent: bool = False  # the ledger had nothing left in this window
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class BudgetLimits:
    """The caps one replica keeps to (plain values from the settings)."""

    mailbox_concurrency: int = 4
    app_concurrency: int | None = None  # None: no app-wide cap
    mailbox_requests_per_window: int | None = None  # None: requests are not counted
    app_requests_per_window: int | None = None
    window_s: int = arithmetic.WINDOW_S
    block: int = DEFAULT_BLOCK
    max_wait_s: float = DEFAULT_MAX_WAIT_S


class GraphBudget:
    """See the module docstring. One per process, used inside one event loop; :meth:`update` is called by
    the runtime after each heartbeat (and with no leaders when the heartbeat failed)."""

    def __init__(
        self,
        limits: BudgetLimits | None = None,
        *,
        ledger: BudgetLedger | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        blocking: Callable[..., Awaitable[BudgetGrant]] | None = None,
    ) -> None:
        self.limits = limits or BudgetLimits()
        if self.limits.mailbox_concurrency < 1:
            raise ValueError("mailbox_concurrency must be at least 1")
        if self.limits.app_concurrency is not None and self.limits.app_concurrency < 1:
            raise ValueError("app_concurrency must be at least 1 (or None: no app-wide cap)")
        self.ledger: BudgetLedger = ledger if ledger is not None else MemoryLedger()
        self._clock = clock
        self._sleep = sleep
        self._blocking = blocking or _to_thread
        self.replicas = 1
        self.leaders: frozenset[str] = frozenset()
        self._mailboxes: dict[str, Limiter] = {}
        self._app = Limiter(self.limits.app_concurrency) if self.limits.app_concurrency else None
        self._windows: dict[str, _Window] = {}
        #: Requests that waited for the next window, per mailbox (for /metrics).
        self.waited: Counter[str] = Counter()
        #: Requests refused because the wait would have been longer than ``max_wait_s``, per mailbox.
        self.refused: Counter[str] = Counter()

    # -- shares ---------------------------------------------------------------------------------

    def update(self, replicas: int, leaders: Collection[str]) -> None:
        """The live replica count and the mailboxes this replica leads (holds the lease of) now."""
        self.replicas = max(1, replicas)
        self.leaders = frozenset(m.casefold() for m in leaders)
        for key, limiter in self._mailboxes.items():
            limiter.set_limit(self.mailbox_share(key))
        if self._app is not None and self.limits.app_concurrency:
            self._app.set_limit(arithmetic.app_share(self.limits.app_concurrency, self.replicas))

    def mailbox_share(self, mailbox: str) -> int:
        return arithmetic.concurrency_share(
            self.limits.mailbox_concurrency, self.replicas, mailbox.casefold() in self.leaders
        )

    def limiter(self, mailbox: str) -> Limiter:
        key = mailbox.casefold()
        limiter = self._mailboxes.get(key)
        if limiter is None:
            limiter = self._mailboxes[key] = Limiter(self.mailbox_share(key))
        return limiter

    # -- one request ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def slot(self, mailbox: str, cost: int = 1) -> AsyncIterator[None]:
        """One request's place (``cost``: the requests Graph counts, e.g. the members of a ``$batch``)."""
        lim = self.limits
        if lim.mailbox_requests_per_window is not None:
            await self._count(mailbox_scope(mailbox), lim.mailbox_requests_per_window, cost, mailbox)
        if lim.app_requests_per_window is not None:
            await self._count(APP_SCOPE, lim.app_requests_per_window, cost, mailbox)
        async with self.limiter(mailbox).hold():
            if self._app is None:
                yield
            else:
                async with self._app.hold():
                    yield

    async def _count(self, scope: str, cap: int, cost: int, mailbox: str) -> None:
        cost = max(1, min(cost, cap)) if cap > 0 else 1
        window = self._windows.get(scope)
        if window is None:
            window = self._windows[scope] = _Window()
        waited = False
        give_up_at = self._clock() + self.limits.max_wait_s
        while True:
            if self._clock() < window.ends_at and window.remaining >= cost:
                window.remaining -= cost
                return
            async with window.lock:
                now = self._clock()
                if now >= window.ends_at:
                    window.remaining, window.spent = 0, False  # unused requests of a past window are lost
                if now < window.ends_at and window.remaining >= cost:
                    continue
                if not window.spent:
                    asked_at = self._clock()
                    grant = await self._blocking(
                        self.ledger.reserve_requests,
                        scope,
                        max(self.limits.block, cost - window.remaining),
                        cap,
                        self.limits.window_s,
                    )
                    if grant.window_start != window.start:
                        window.start, window.remaining = grant.window_start, 0
                    window.remaining += grant.granted
                    # Measured from before the question: the local end is never after the ledger's.
                    window.ends_at = asked_at + grant.seconds_left
                    window.spent = window.remaining < cost
                    if not window.spent:
                        window.remaining -= cost
                        return
                wait = max(0.0, window.ends_at - self._clock())
            if self._clock() + wait > give_up_at:
                self.refused[mailbox] += 1
                raise ThrottledError(
                    f"graph request budget of {scope} spent until the next window "
                    f"({cap} requests per {self.limits.window_s} s, shared by the replicas)",
                    service=SERVICE,
                    code="GatewayRequestBudget",
                    retry_after=wait,
                )
            if not waited:
                waited = True
                self.waited[mailbox] += 1
            await self._sleep(wait)


async def _to_thread(func: Callable[..., BudgetGrant], *args: object) -> BudgetGrant:
    return await asyncio.to_thread(func, *args)


def limits_from(
    *,
    mailbox_concurrency: int,
    app_concurrency: int | None,
    mailbox_requests_per_10_minutes: int | None,
    app_requests_per_10_minutes: int | None,
    block: int = DEFAULT_BLOCK,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
) -> BudgetLimits:
    """The limits from the settings' terms (requests per 10 minutes; 0 or None: off)."""
    per_mailbox, per_app = mailbox_requests_per_10_minutes, app_requests_per_10_minutes
    return BudgetLimits(
        mailbox_concurrency=mailbox_concurrency,
        app_concurrency=app_concurrency or None,
        mailbox_requests_per_window=arithmetic.window_cap(per_mailbox) if per_mailbox else None,
        app_requests_per_window=arithmetic.window_cap(per_app) if per_app else None,
        block=block,
        max_wait_s=max_wait_s,
    )
