"""The arithmetic of Graph's limits shared by replicas (graph_dpg.core.budget; issue 18).

Limits: learn.microsoft.com/graph/throttling-limits, "Outlook service limits": 10,000 requests per 10
minutes and 4 concurrent requests per app and mailbox (docs/facts/graph.md, "Throttling").
"""

from __future__ import annotations

import random

import pytest

from graph_dpg.core import budget


def test_any_10_minutes_overlaps_at_most_11_one_minute_windows() -> None:
    assert budget.windows_overlapped(600, 60) == 11
    assert budget.windows_overlapped(60, 60) == 2
    assert budget.windows_overlapped(90, 60) == 3
    with pytest.raises(ValueError):
        budget.windows_overlapped(600, 0)


def test_900_a_minute_keeps_every_10_minutes_under_graphs_10000() -> None:
    """throttling-limits.md: 10,000 requests per 10 minutes per app and mailbox."""
    assert budget.window_cap(9_900) == 900
    assert budget.most_in_any_period(900) == 9_900 < budget.GRAPH_REQUESTS_PER_PERIOD
    # The largest cap that still fits: 909 a minute, 9,999 in the worst 10 minutes.
    assert budget.window_cap(10_000) == 909
    assert budget.most_in_any_period(909) <= 10_000 < budget.most_in_any_period(910)
    assert budget.window_cap(0) == 0
    with pytest.raises(ValueError):
        budget.window_cap(-1)


def test_the_bound_holds_for_every_placement_of_requests_in_fixed_windows() -> None:
    """A brute-force check of the argument: requests placed anywhere (second by second) with at most
    ``cap`` per fixed minute; the busiest sliding 600 s never holds more than 11 x cap."""
    rng = random.Random(18)
    cap = 900
    for _ in range(20):
        per_second = [0] * 3600
        for minute in range(60):
            # Put the minute's cap into few random seconds (bursts at window edges are the worst case).
            seconds = rng.sample(range(60), rng.randint(1, 3))
            left = cap
            for i, second in enumerate(seconds):
                n = left if i == len(seconds) - 1 else rng.randint(0, left)
                per_second[minute * 60 + second] += n
                left -= n
        busiest = max(sum(per_second[t : t + 600]) for t in range(3600 - 600 + 1))
        assert busiest <= budget.most_in_any_period(cap) == 9_900


def test_window_start_and_seconds_left() -> None:
    assert budget.window_start(0.0) == 0
    assert budget.window_start(59.999) == 0
    assert budget.window_start(60.0) == 60
    assert budget.window_start(1_733_333_333.5) == 1_733_333_280
    assert budget.seconds_left(60.0) == 60.0
    assert budget.seconds_left(119.5) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("replicas", "leader", "other"),
    [(1, 4, 4), (2, 3, 1), (3, 2, 1), (4, 1, 1), (5, 1, 1), (9, 1, 1)],
)
def test_concurrency_shares(replicas: int, leader: int, other: int) -> None:
    assert budget.concurrency_share(4, replicas, leader=True) == leader
    assert budget.concurrency_share(4, replicas, leader=False) == other


def test_all_replicas_together_stay_within_4_up_to_4_replicas() -> None:
    for n in range(1, 5):
        assert budget.total_concurrency(4, n, leaders=1) == 4
        assert budget.total_concurrency(4, n, leaders=0) <= 4
    # Above 4 replicas every replica keeps one slot (each must reach every mailbox): a documented limit.
    assert budget.total_concurrency(4, 6, leaders=1) == 6
    # A lower per-mailbox limit: the leader's share shrinks to 1, never to 0.
    assert budget.concurrency_share(2, 3, leader=True) == 1
    with pytest.raises(ValueError):
        budget.concurrency_share(0, 1, leader=True)


def test_app_share_is_floor_of_cap_over_replicas_at_least_one() -> None:
    assert budget.app_share(4, 1) == 4
    assert budget.app_share(4, 2) == 2
    assert budget.app_share(4, 3) == 1
    assert budget.app_share(4, 6) == 1
    assert budget.app_share(10, 0) == 10
    with pytest.raises(ValueError):
        budget.app_share(0, 1)
