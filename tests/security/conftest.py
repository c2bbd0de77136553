"""Shared fixture: the project's real logging set-up, writing every record (DEBUG and up) to a buffer."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import structlog

from graph_dpg.observability import configure_logging

_QUIETED_LIBRARIES = ("apscheduler", "httpx", "alembic", "uvicorn.access")


@pytest.fixture(params=["json", "console"])
def captured_log(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """``configure_logging`` at DEBUG into a buffer (both formats); the root logger is restored afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    # A test that started the runtime earlier in this process (which ones run before depends on the
    # pytest-xdist worker) left these at WARNING (graph_dpg.runtime.scheduler.quiet_library_logs); here
    # every record counts, so they start from the root's level and get their level back afterwards.
    quieted = {name: logging.getLogger(name).level for name in _QUIETED_LIBRARIES}
    for name in quieted:
        logging.getLogger(name).setLevel(logging.NOTSET)
    buffer = io.StringIO()
    configure_logging(str(request.param), "DEBUG", stream=buffer)
    try:
        yield buffer
    finally:
        for name, old in quieted.items():
            logging.getLogger(name).setLevel(old)
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)
        structlog.reset_defaults()
