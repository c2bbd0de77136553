"""How the store holds its connections (issue 18: the CPU of a transaction).

SQLite: every transaction of a store runs on its one connection, one thread at a time, and still starts
with BEGIN IMMEDIATE. PostgreSQL: a pooled connection is pinged at checkout only after it sat idle
(``_PING_AFTER_IDLE_S``); a server-side disconnect of an idle connection is then caught by the ping, one
within the window fails a single transaction, after which the pool reconnects (docs/facts/sqlalchemy.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from graph_dpg.adapters.store import SqlStore, create_store, sql
from graph_dpg.core.errors import StoreError


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[SqlStore, Path]]:
    path = tmp_path / "state.db"
    store = create_store(f"sqlite:///{path}")
    try:
        yield store, path
    finally:
        store.close()


def test_sqlite_transactions_begin_immediate(sqlite_store: tuple[SqlStore, Path]) -> None:
    store, path = sqlite_store
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        # A read-only transaction holds the write lock from its first statement on.
        with store.engine.connect() as conn:
            assert conn.execute(select(1)).scalar_one() == 1
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released at the end of that transaction
        other.execute("COMMIT")
    finally:
        other.close()


def test_sqlite_store_runs_every_thread_on_one_connection(sqlite_store: tuple[SqlStore, Path]) -> None:
    store, _ = sqlite_store
    threads, per_thread = 4, 40

    def work(n: int) -> list[bool]:
        won = []
        for i in range(per_thread):
            won.append(store.claim_source_message("mb@x.dk", f"m{n}-{i}", f"<{n}-{i}@x>"))
            store.set_delta_link("mb@x.dk", f"folder-{n}", f"link-{i}")
        return won

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(work, range(threads)))
    assert all(all(r) for r in results)
    assert [store.get_delta_link("mb@x.dk", f"folder-{n}") for n in range(threads)] == [
        f"link-{per_thread - 1}"
    ] * threads
    assert not store.claim_source_message("mb@x.dk", "m0-0", "<0-0@x>")  # stored, not only answered
    assert store.engine.pool.checkedout() == 1  # type: ignore[attr-defined]  # the store's own


def test_sqlite_store_reopens_after_close(sqlite_store: tuple[SqlStore, Path]) -> None:
    store, _ = sqlite_store
    assert store.claim_source_message("mb@x.dk", "m1", None)
    store.close()
    assert not store.claim_source_message("mb@x.dk", "m1", None)


def _backend_pid(store: SqlStore) -> int:
    # LIFO pool: the connection the store used last, and uses next.
    with store.engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    assert isinstance(pid, int)
    return pid


def _terminate(url: str, pid: int) -> None:
    admin = create_engine(url, poolclass=NullPool)
    try:
        with admin.begin() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_postgres_idle_connection_is_pinged_and_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = create_store(postgres_url)
    try:
        pid = _backend_pid(store)
        _terminate(postgres_url, pid)
        monkeypatch.setattr(sql, "_PING_AFTER_IDLE_S", -1.0)  # every pooled connection counts as idle
        assert store.get_job("no-such-job") is None  # the ping found the dead one; a new one served
        assert _backend_pid(store) != pid
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_recently_used_connection_is_not_pinged(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = create_store(postgres_url)
    try:
        monkeypatch.setattr(sql, "_PING_AFTER_IDLE_S", 1e9)  # nothing counts as idle
        pid = _backend_pid(store)
        _terminate(postgres_url, pid)
        with pytest.raises(StoreError, match="get job"):
            store.get_job("no-such-job")  # the one transaction the window costs
        assert store.get_job("no-such-job") is None  # SQLAlchemy invalidated it; the next reconnects
        assert _backend_pid(store) != pid
    finally:
        store.close()
