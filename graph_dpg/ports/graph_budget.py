"""The shared count of Graph requests (issue 18): what the Graph adapter's budget asks the store.

A replica reserves a block of requests in the current fixed window of a scope (``mailbox:<address>`` or
``app``); the windows follow the ledger's clock (the database's on PostgreSQL), so all replicas agree on
them. One call is one short transaction; it is made once per block, never once per Graph request. The
arithmetic behind the caps is in :mod:`graph_dpg.core.budget`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class BudgetGrant:
    """Requests granted in one window: how many (0: the window is spent), which window (its start, seconds
    since the epoch on the ledger's clock) and how long it still runs (seconds, by the same clock)."""

    granted: int
    window_start: int
    seconds_left: float


class BudgetLedger(Protocol):
    def reserve_requests(self, scope: str, want: int, cap: int, window_s: int) -> BudgetGrant:
        """Add up to ``want`` to ``scope``'s count in the current window without passing ``cap``; grant
        what fitted. Atomic across replicas: two callers never both get the same last requests. Windows
        long past are removed on the way."""
        ...
