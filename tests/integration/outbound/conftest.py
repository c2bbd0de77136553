"""The harness most outbound tests run on: the real OutboundService on a store of ``db_url``'s backend (SQLite
and PostgreSQL), with the Graph and NgDP emulators. A test module that needs other settings defines its own
``h`` (``make_harness`` takes them), which takes precedence over this one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .harness import Harness, make_harness


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = await make_harness(db_url)
    async with harness.mailbox:
        yield harness
    harness.store.close()
