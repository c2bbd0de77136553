"""What the Graph budget (issue 18; graph_dpg/adapters/graph/budget.py) costs a Graph request.

For N requests on one mailbox, one at a time (no Graph call, only the place each request takes):

- ``semaphores``: two asyncio semaphores, what ``GraphMailbox._slot`` did before issue 18;
- ``budget, no count``: the budget's concurrency shares only
  (GRAPH_DPG_GRAPH_MAILBOX_REQUESTS_PER_10_MINUTES=0);
- ``budget, memory``: shares + the request count in this process (the SQLite default: one replica);
- ``budget, sqlite`` / ``budget, postgresql``: shares + the count in the database (blocks of 20, one
  transaction each, from a worker thread), what several replicas on PostgreSQL do.

The windows are large enough that N requests never wait for the next minute. Prints microseconds per
request and database transactions per 1,000 requests; asserts nothing. ``--postgres auto`` (what
bench/run_all passes) takes $GRAPH_DPG_TEST_POSTGRES_URL or the local default and leaves the PostgreSQL row
out, saying why, when it cannot be reached (the JSON's ``postgresql_skipped``).

    python bench/budget_bench.py [--requests 20000] [--postgres URL|auto] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from _common import add_json_option, write_json
from chaos import DEFAULT_POSTGRES_URL
from scale_bench import postgres_problem
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from graph_dpg.adapters.graph.budget import BudgetLimits, GraphBudget, MemoryLedger
from graph_dpg.adapters.store import SqlStore, create_store
from graph_dpg.ports.graph_budget import BudgetGrant

MAILBOX = "post@kommune.dk"


class Counted:
    """A ledger that counts its calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0
        self.seconds: list[float] = []

    def reserve_requests(self, scope: str, want: int, cap: int, window_s: int) -> BudgetGrant:
        self.calls += 1
        started = time.perf_counter()
        try:
            grant: BudgetGrant = self.inner.reserve_requests(scope, want, cap, window_s)
            return grant
        finally:
            self.seconds.append(time.perf_counter() - started)


class Semaphores:
    def __init__(self) -> None:
        self.mailbox = asyncio.Semaphore(4)
        self.app = asyncio.Semaphore(4)

    @contextlib.asynccontextmanager
    async def slot(self, mailbox: str) -> AsyncIterator[None]:
        async with self.mailbox, self.app:
            yield


async def run(slotter: Any, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        async with slotter.slot(MAILBOX):
            pass
    return (time.perf_counter() - started) / n * 1e6


def own_schema(url: str) -> tuple[str, str]:
    """A new schema on the PostgreSQL server for this run (the URL's search_path), so the benchmark never
    migrates or writes a schema anybody else uses; dropped at the end."""
    schema = f"bench_budget_{uuid.uuid4().hex[:12]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    own = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return schema, own.render_as_string(hide_password=False)


def drop_schema(url: str, schema: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def budget(ledger: Any, *, count: bool) -> GraphBudget:
    # Windows of a day with a cap above N: the figures are the per-request cost, never a wait.
    limits = BudgetLimits(
        mailbox_concurrency=4,
        mailbox_requests_per_window=10**9 if count else None,
        window_s=86_400,
    )
    return GraphBudget(limits, ledger=ledger)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    n = args.requests
    results: dict[str, Any] = {"requests": n}
    postgres = args.postgres
    if postgres == "auto":
        postgres = os.environ.get("GRAPH_DPG_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
        if (problem := postgres_problem(postgres)) is not None:
            shown = make_url(postgres).render_as_string(hide_password=True)
            print(f"budget, postgresql: left out, cannot reach {shown}: {problem}")
            results["postgresql_skipped"] = f"PostgreSQL not reachable ({problem})"
            postgres = None
    rows: list[tuple[str, float, float | None, float | None]] = []
    rows.append(("semaphores (before)", await run(Semaphores(), n), None, None))
    rows.append(("budget, no count", await run(budget(MemoryLedger(), count=False), n), None, None))
    memory = Counted(MemoryLedger())
    rows.append(("budget, memory", await run(budget(memory, count=True), n), memory.calls * 1000 / n, None))
    stores: list[tuple[str, SqlStore]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        stores.append(("budget, sqlite", create_store(sqlite_url, replica="bench")))
        schema = None
        if postgres:
            schema, url = own_schema(postgres)
            stores.append(("budget, postgresql", create_store(url, replica="bench")))
        try:
            for name, store in stores:
                ledger = Counted(store)
                us = await run(budget(ledger, count=True), n)
                median_ms = statistics.median(ledger.seconds) * 1000 if ledger.seconds else None
                rows.append((name, us, ledger.calls * 1000 / n, median_ms))
        finally:
            for _, store in stores:
                store.close()
            if schema is not None:
                drop_schema(postgres, schema)
    print(f"Graph budget: cost of one request's place, {n:,} requests on one mailbox")
    print(f"{'':24} {'us/request':>11} {'tx/1000 req':>12} {'median tx ms':>13}")
    for name, us, tx, ms in rows:
        tx_s = f"{tx:.0f}" if tx is not None else "-"
        ms_s = f"{ms:.2f}" if ms is not None else "-"
        print(f"{name:24} {us:11.1f} {tx_s:>12} {ms_s:>13}")
        results[name] = {"us_per_request": round(us, 2), "tx_per_1000": tx, "median_tx_ms": ms}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument(
        "--postgres",
        default=None,
        help="a PostgreSQL URL, or auto ($GRAPH_DPG_TEST_POSTGRES_URL or the local default, left out when "
        "unreachable); the run creates (and drops) a schema of its own",
    )
    add_json_option(parser)
    args = parser.parse_args()
    write_json(args.json, asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
