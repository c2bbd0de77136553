"""Migrated stores on each database (``db_url`` from tests/conftest.py: a copy of a migrated SQLite file,
the session's migrated PostgreSQL schema emptied). Tests that need a schema of their own (migrations,
SKIP LOCKED) use ``fresh_db_url``/``postgres_url``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graph_dpg.adapters.store import SqlStore, create_store


@pytest.fixture
def store_url(db_url: str) -> str:
    return db_url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    s = create_store(store_url, replica="test-replica")
    try:
        yield s
    finally:
        s.close()
