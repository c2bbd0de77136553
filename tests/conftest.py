"""Shared set-up: the Hypothesis profiles, and ``db_url``, which runs a test on SQLite and on PostgreSQL.

Hypothesis: the profile named by ``HYPOTHESIS_PROFILE`` is loaded before any test module is imported;
without it, ``ci``. ``ci`` (``make test``, CI) is deterministic: derandomised (the examples follow
from each test's code, the same on every machine and in every run), a fixed budget of 100 examples,
no per-example deadline or too-slow health check (both measure the machine's load, not the code),
and no example database (nothing replayed from a local ``.hypothesis/``). ``fuzz`` (``make
test-fuzz``) is random, twenty times longer, and keeps the example database so that a failure found
is replayed first next time; a failing example found there is pinned in its test with ``@example``.
A test that needs a budget of its own scales ``settings.default.max_examples`` (the loaded profile's),
so ``fuzz`` lengthens it too.

Databases: ``db_url`` is a database migrated to the newest schema and empty, for the test alone: on
SQLite a copy of a file migrated once per session, on PostgreSQL the session's schema (migrated once),
emptied before the test. (Creating, migrating and dropping a schema for each test took some 60 ms on an
idle machine.) ``fresh_db_url`` is an empty database without any table (on PostgreSQL a schema of its
own, dropped afterwards), for the tests of the migrations themselves; ``postgres_url`` is the same on
PostgreSQL alone.

PostgreSQL comes from ``GRAPH_DPG_TEST_POSTGRES_URL`` (default below). When it is unreachable the
PostgreSQL half is skipped with the reason, unless ``GRAPH_DPG_REQUIRE_POSTGRES=1`` (CI), where it
fails. Each session (each pytest-xdist worker is a session of its own) and each
``fresh_db_url``/``postgres_url`` test has a schema of its own (via ``search_path`` in the URL,
named ``t_<worker>_<random>``), so parallel runs and workers never see each other's rows.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from graph_dpg.adapters.store import create_store
from graph_dpg.adapters.store.schema import metadata

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    derandomize=False,
    max_examples=2_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "ci")

# httpcore, httpx and anyio try ``import sniffio`` on every lock and request they set up, and carry on
# without it when it is missing (as here: nothing requires it). A failed import is not remembered: each
# one searches all of sys.path again, some 40 entries under pytest, 5,500 times per run (2 s of CPU).
# None in sys.modules makes the import fail at once, with the same ImportError.
if importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]


# pytest-xdist (``make test`` runs ``-n 2``) names each worker process gw0, gw1, ...; without xdist it is
# "main". The worker's name goes into its schemas' names, so a schema left behind says whose it was. The
# isolation itself comes from the random part: every schema is new, per worker and per test or session.
# SQLite files and every tmp_path live under the worker's own base temporary directory (xdist gives each
# worker one), so no two workers share a file.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER") or "main"


def postgres_base_url() -> URL:
    return make_url(os.environ.get("GRAPH_DPG_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)


@cache
def _postgres_problem() -> str | None:
    engine = create_engine(postgres_base_url(), poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        engine.dispose()
    return None


def require_postgres() -> None:
    """Skip (or fail in CI) the calling test when PostgreSQL is not reachable."""
    problem = _postgres_problem()
    if problem is None:
        return
    reason = f"PostgreSQL at {postgres_base_url().render_as_string()} unreachable ({problem})"
    if os.environ.get("GRAPH_DPG_REQUIRE_POSTGRES") == "1":
        pytest.fail(reason + "; GRAPH_DPG_REQUIRE_POSTGRES=1 makes this a failure")
    pytest.skip(reason + "; set GRAPH_DPG_TEST_POSTGRES_URL to run it")


def with_search_path(url: URL, schema: str) -> URL:
    return url.update_query_dict({"options": f"-csearch_path={schema}"})


@contextmanager
def isolated_postgres_schema() -> Iterator[str]:
    """A URL whose ``search_path`` is a fresh schema, dropped (with everything in it) on exit."""
    require_postgres()
    base = postgres_base_url()
    schema = f"t_{_WORKER}_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield with_search_path(base, schema).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL with a schema of this test only."""
    with isolated_postgres_schema() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str]:
    """A PostgreSQL URL with a schema of this test session, migrated to the newest schema."""
    with isolated_postgres_schema() as url:
        create_store(url).close()
        yield url


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the newest schema, once per session (closed: no -wal file is left)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "state.db"
    create_store(f"sqlite:///{path}").close()
    return path


def _empty_postgres(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            # A connection an earlier test left open must not make this wait for ever.
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            # DELETE, not TRUNCATE: the tables are small, and TRUNCATE rewrites every table's files.
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on SQLite and on PostgreSQL, each migrated to the newest schema and empty."""
    if request.param == "sqlite":
        path = tmp_path / "state.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_session_url")
    _empty_postgres(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a new SQLite file and on a new PostgreSQL schema: no tables at all."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(autouse=True)
def _logger_levels_restored() -> Iterator[None]:
    """Every test starts with the logger levels the process had before it: code under test may set them
    (``quiet_library_logs`` puts httpx, alembic and friends at WARNING for good), and under pytest-xdist a
    later test in the same worker would otherwise see fewer log lines than it does alone."""
    manager = logging.Logger.manager
    before = {name: lg.level for name, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    root = logging.getLogger().level
    yield
    logging.getLogger().setLevel(root)
    for name, lg in list(manager.loggerDict.items()):
        if isinstance(lg, logging.Logger):
            level = before.get(name, logging.NOTSET)
            if lg.level != level:
                lg.setLevel(level)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A test marked ``browser`` skipped (no chromium or chromedriver here) fails instead when
    ``GRAPH_DPG_REQUIRE_BROWSER=1`` (CI installs Debian's chromium, as it starts PostgreSQL)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (
        report.skipped
        and item.get_closest_marker("browser") is not None
        and os.environ.get("GRAPH_DPG_REQUIRE_BROWSER") == "1"
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"browser test skipped, but GRAPH_DPG_REQUIRE_BROWSER=1 requires it: {report.longrepr}"
        )
