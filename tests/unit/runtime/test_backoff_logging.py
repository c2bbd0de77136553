"""WorkTracker: capped exponential backoff per work item; a failure streak and its recovery logged once."""

from __future__ import annotations

import logging

import pytest

from graph_dpg.core.errors import AuthError, TransientError
from graph_dpg.runtime.work import WorkTracker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_delays_double_and_are_capped() -> None:
    tracker = WorkTracker(5.0, 60.0, clock=Clock())
    delays = [tracker.failure("mb", TransientError("graph", "503")) for _ in range(6)]
    assert delays == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]


def test_failing_item_waits_others_do_not() -> None:
    clock = Clock()
    tracker = WorkTracker(5.0, 60.0, clock=clock)
    tracker.failure("a", TransientError("graph", "503"))
    assert not tracker.due("a")
    assert tracker.due("b")  # an unrelated mailbox is not slowed down
    clock.now += 5.0
    assert tracker.due("a")


def test_success_resets_the_streak() -> None:
    clock = Clock()
    tracker = WorkTracker(5.0, 60.0, clock=clock)
    for _ in range(3):
        tracker.failure("a", TransientError("graph", "503"))
    tracker.success("a")
    assert tracker.due("a")
    assert tracker.failure("a", TransientError("graph", "503")) == 5.0


def test_failure_and_recovery_each_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.runtime.tracker")
    tracker = WorkTracker(1.0, 10.0, clock=Clock(), logger=logger)
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        for _ in range(4):
            tracker.failure("outbound:a@x.dk:sentitems", TransientError("graph", "503 Service Unavailable"))
        assert not tracker.success("other")  # an item that never failed reports no recovery
        assert tracker.success("outbound:a@x.dk:sentitems")
        tracker.success("outbound:a@x.dk:sentitems")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    debugs = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(warnings) == 1 and "503" in warnings[0].getMessage()
    assert len(infos) == 1 and "recovered after 4 failed attempt(s)" in infos[0].getMessage()
    assert len(debugs) == 3


def test_auth_failures_are_remembered_for_readiness() -> None:
    tracker = WorkTracker(1.0, 10.0, clock=Clock())
    tracker.failure("a", AuthError("graph", "403 ErrorAccessDenied"))
    tracker.failure("b", TransientError("graph", "503"))
    failing = tracker.failing()
    assert failing["a"].auth_failure and not failing["b"].auth_failure
    tracker.success("a")
    assert "a" not in tracker.failing()


def test_jitter_shortens_by_at_most_ten_percent_and_keeps_the_cap() -> None:
    import random

    tracker = WorkTracker(10.0, 100.0, clock=Clock(), rng=random.Random(7))
    for failures in range(1, 10):
        raw = min(100.0, 10.0 * 2 ** (failures - 1))
        delay = tracker.delay_for(failures)
        assert raw * 0.9 - 1e-9 <= delay <= raw + 1e-9
