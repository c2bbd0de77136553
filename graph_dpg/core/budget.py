"""Graph's limits shared by replicas (issue 18): the arithmetic, pure (no clock, no I/O).

Outlook allows an app 10,000 requests per 10 minutes per mailbox and 4 concurrent requests
(learn.microsoft.com/graph/throttling-limits, "Outlook service limits"; docs/facts/graph.md, "Throttling").
Replicas share both without a database round trip per request:

Requests: **fixed windows** of ``window_s`` (60 s) counted in the database, at most ``window_cap`` each.
Any interval of ``period_s`` (600 s) overlaps at most ``period_s / window_s + 1`` (11) windows: one partly
at each end and 9 inside; so ``window_cap = limit // 11`` keeps every 10 minutes within the limit, however
the requests fall inside the windows and whether Graph counts in a sliding or a fixed 10 minutes. With the
gateway's default of 9,900 per 10 minutes that is 900 a window (11 x 900 = 9,900 < 10,000). A replica
reserves a block of requests at a time (one UPDATE for 20 requests) and loses what it did not use when the
window ends: the count is conservative, never over. The windows follow the database's clock (one clock for
all replicas); the 100 requests between 9,900 and 10,000 absorb the network's jitter at window edges.

Concurrency: each replica's share of the 4 is derived from the live replica count ``n`` (the replicas
table) and whether it leads the mailbox (holds its lease): the leader gets ``limit - (n - 1)`` (at least 1),
every other replica 1, so all replicas together run at most ``limit`` requests on the mailbox while
``n <= limit``. Above that every replica keeps 1 (a replica must be able to reach every mailbox) and the
total can reach ``n`` (docs/facts/graph.md, "Throttling": a documented limit of the design).
"""

from __future__ import annotations

import math

#: Outlook's request limit per app and mailbox, and the period it is counted over (throttling-limits.md).
GRAPH_REQUESTS_PER_PERIOD = 10_000
PERIOD_S = 600
#: The windows the gateway counts in.
WINDOW_S = 60


def windows_overlapped(period_s: int = PERIOD_S, window_s: int = WINDOW_S) -> int:
    """The most fixed windows of ``window_s`` one interval of ``period_s`` can overlap: an interval of length
    L overlaps at most ceil(L / w) + 1 windows (one more when it starts inside a window and ends inside
    another)."""
    if period_s <= 0 or window_s <= 0:
        raise ValueError("period and window must be positive")
    return math.ceil(period_s / window_s) + 1


def window_cap(per_period: int, period_s: int = PERIOD_S, window_s: int = WINDOW_S) -> int:
    """Requests per window so that any ``period_s`` holds at most ``per_period``: per_period // overlaps."""
    if per_period < 0:
        raise ValueError("per_period must not be negative")
    return per_period // windows_overlapped(period_s, window_s)


def window_start(now_s: float, window_s: int = WINDOW_S) -> int:
    """The start (seconds, same epoch as ``now_s``) of the fixed window ``now_s`` falls in."""
    return int(now_s // window_s) * window_s


def seconds_left(now_s: float, window_s: int = WINDOW_S) -> float:
    """Seconds from ``now_s`` to the end of its window (in (0, window_s])."""
    return window_start(now_s, window_s) + window_s - now_s


def most_in_any_period(per_window: int, period_s: int = PERIOD_S, window_s: int = WINDOW_S) -> int:
    """The most requests any ``period_s`` can see when no window goes over ``per_window``."""
    return per_window * windows_overlapped(period_s, window_s)


def concurrency_share(limit: int, replicas: int, leader: bool) -> int:
    """This replica's share of ``limit`` concurrent requests on one mailbox: the mailbox's leader (the
    holder of its lease) gets what the others leave, ``limit - (replicas - 1)`` but at least 1; any other
    replica 1. Alone (``replicas <= 1``) the replica has the whole limit, leader or not."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if replicas <= 1:
        return limit
    if not leader:
        return 1
    return max(1, limit - (replicas - 1))


def app_share(cap: int, replicas: int) -> int:
    """This replica's share of an app-wide cap: floor(cap / replicas), at least 1 (so above ``cap``
    replicas the app runs up to ``replicas`` requests at once: a documented limit)."""
    if cap < 1:
        raise ValueError("cap must be at least 1")
    return max(1, cap // max(1, replicas))


def total_concurrency(limit: int, replicas: int, leaders: int = 1) -> int:
    """What all replicas together may run on one mailbox, given how many of them think they lead it
    (normally one; two for a moment while a lease moves; none while it is free)."""
    leaders = min(leaders, replicas)
    return leaders * concurrency_share(limit, replicas, True) + (replicas - leaders) * concurrency_share(
        limit, replicas, False
    )
