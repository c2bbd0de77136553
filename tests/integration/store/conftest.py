"""Migrated stores on each database (``db_url`` from tests/conftest.py: a copy of a migrated SQLite file,
the session's migrated PostgreSQL schema emptied). Tests that need a schema of their own (migrations,
SKIP LOCKED) use ``fresh_db_url``/``postgres_url``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graph_dpg.adapters.store import SqlStore, create_store
from tests.conftest import _empty_postgres
from tests.fakes import FakeStore


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


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def port_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The same test on the in-memory fake and on the SQL store on SQLite and PostgreSQL (migrated, empty):
    for the port methods both implement (``FakeStore | SqlStore``)."""
    if request.param == "fake":
        yield FakeStore()
        return
    if request.param == "sqlite":
        path = tmp_path / "state.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_session_url")
        _empty_postgres(url)
    sql = create_store(url, replica="test-replica")
    try:
        yield sql
    finally:
        sql.close()
