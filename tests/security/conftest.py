"""Shared fixture: the project's real logging set-up, writing every record (DEBUG and up) to a buffer."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import structlog

from graph_dpg.observability import configure_logging


@pytest.fixture(params=["json", "console"])
def captured_log(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """``configure_logging`` at DEBUG into a buffer (both formats); the root logger is restored afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    buffer = io.StringIO()
    configure_logging(str(request.param), "DEBUG", stream=buffer)
    try:
        yield buffer
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)
        structlog.reset_defaults()
