"""The one backoff rule: doubling from the base, capped, jitter only below the ceiling, Retry-After first."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph_dpg.core.backoff import Backoff


def test_delays_double_from_the_base_and_stop_at_the_cap() -> None:
    backoff = Backoff(5.0, 60.0)
    assert [backoff.delay(n) for n in range(1, 7)] == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]


def test_a_long_failure_streak_stays_at_the_cap() -> None:
    # 2 ** 1024 does not fit a float: a work item failing for days must not crash its tracker.
    assert Backoff(5.0, 900.0).delay(5000) == 900.0


def test_retry_after_replaces_the_computed_delay_within_the_cap() -> None:
    backoff = Backoff(0.5, 30.0, jitter=0.5)
    rng = random.Random(1)
    assert backoff.delay(1, retry_after=7.0, rng=rng) == 7.0
    assert backoff.delay(1, retry_after=3600.0, rng=rng) == 30.0
    assert backoff.delay(3, retry_after=-1.0, rng=rng) == 0.0


def test_half_jitter_draws_what_the_ngdp_client_drew_before() -> None:
    """The client's former formula (ceiling/2 + uniform(0, ceiling/2)), with the same seed, gives the
    same sequence: moving it onto Backoff changed no wait."""
    backoff, ours, theirs = Backoff(0.5, 30.0, jitter=0.5), random.Random(42), random.Random(42)
    for attempt in range(1, 12):
        ceiling = min(30.0, 0.5 * 2.0 ** (attempt - 1))
        assert backoff.delay(attempt, rng=ours) == ceiling / 2 + theirs.uniform(0, ceiling / 2)


def test_without_a_random_source_jitter_is_off() -> None:
    assert Backoff(2.0, 100.0, jitter=0.5).delay(3) == 8.0


@pytest.mark.parametrize("args", [(-1.0, 10.0, 0.0), (1.0, -1.0, 0.0), (1.0, 10.0, 1.5)])
def test_nonsense_is_refused(args: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError, match="invalid backoff"):
        Backoff(*args)


@given(
    attempt=st.integers(min_value=1, max_value=2000),
    base=st.floats(min_value=0.0, max_value=1000.0),
    cap=st.floats(min_value=0.0, max_value=100_000.0),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_jitter_only_shortens_and_the_cap_always_holds(
    attempt: int, base: float, cap: float, jitter: float, seed: int
) -> None:
    backoff = Backoff(base, cap, jitter=jitter)
    ceiling = backoff.ceiling(attempt)
    delay = backoff.delay(attempt, rng=random.Random(seed))
    assert ceiling <= cap
    assert ceiling * (1 - jitter) - 1e-9 <= delay <= ceiling + 1e-9
