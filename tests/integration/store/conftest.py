"""A migrated store on each database (``db_url`` from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graph_dpg.adapters.store import SqlStore, create_store


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    s = create_store(db_url, replica="test-replica")
    try:
        yield s
    finally:
        s.close()
