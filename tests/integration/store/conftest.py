"""Migrated stores on each database.

``store_url``: SQLite gets a fresh file per test; PostgreSQL one schema per session, migrated once and
emptied before each test, which saves creating and migrating a schema for every test.
Tests that need a schema of their own (migrations, SKIP LOCKED) use ``db_url``/``postgres_url``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from graph_dpg.adapters.store import SqlStore, create_store
from graph_dpg.adapters.store.schema import metadata


@pytest.fixture(scope="session")
def _migrated_postgres(postgres_session_url: str) -> str:
    create_store(postgres_session_url).close()
    return postgres_session_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
        create_store(url).close()
        return url
    url = str(request.getfixturevalue("_migrated_postgres"))
    store = SqlStore(url)
    try:
        with store.engine.begin() as conn:
            # DELETE, not TRUNCATE: the tables are small, and TRUNCATE rewrites every table's files.
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
    finally:
        store.close()
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    s = create_store(store_url, replica="test-replica")
    try:
        yield s
    finally:
        s.close()
