"""CPU per store transaction (issue 18): N calls each of ``get_job``, ``plan_effect``, ``complete_effect``
and ``list_outbox`` on one store, SQLite (a file in a temporary directory: WAL, synchronous=FULL) and,
with ``--database-url``, PostgreSQL.

Figures per call: CPU µs of the calling thread (``time.thread_time()``; the fsync of a SQLite commit is
waiting, not CPU, so it hardly shows), statements the DBAPI cursor ran (SQLAlchemy ``before_cursor_execute``
plus the BEGIN/COMMIT the driver is asked for), and with ``--calls`` the Python function calls (cProfile).
Rounds of the four kinds are interleaved, and the best of ``--repeat`` rounds is reported, to damp the noise
of a shared machine.

Before/after comparisons: run the script against both versions of the code, interleaved (A B A B), e.g.
``PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/store_tx_bench.py``.

The PostgreSQL URL should name a schema of the benchmark's own (``?options=-csearch_path%3Dbench_x``) or a
scratch database: the tables are created there (migrations) and left behind, rows included; with
``--create-schema`` the script creates a fresh schema in the given database and drops it afterwards.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_json_option, write_json
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import graph_dpg
from graph_dpg.adapters.store import create_store
from graph_dpg.adapters.store.sql import SqlStore
from graph_dpg.ports.store import JobState, OutboundJob, PlannedMemo

KINDS = ("get_job", "plan_effect", "complete_effect", "list_outbox")


class _Counter:
    """Statements sent through the DBAPI cursor, commits, rollbacks and pool checkouts."""

    def __init__(self, store: SqlStore) -> None:
        self.counts = [0, 0, 0, 0]
        for j, (target, name) in enumerate(
            (
                (store.engine, "before_cursor_execute"),
                (store.engine, "commit"),
                (store.engine, "rollback"),
                (store.engine, "checkout"),
            )
        ):
            self._listen(target, name, j)

    def _listen(self, target: Any, name: str, j: int) -> None:
        def count(*_: Any) -> None:
            self.counts[j] += 1

        event.listen(target, name, count)

    def snapshot(self) -> tuple[int, ...]:
        return tuple(self.counts)


def _setup(store: SqlStore) -> str:
    job_id = f"bench-{uuid.uuid4().hex[:12]}"
    job = OutboundJob(
        id=job_id,
        mailbox="bench@example.org",
        message_id=f"msg-{job_id}",
        internet_message_id=f"<{job_id}@example.org>",
        subject="bench",
        channel="digital-post",
        sent_at=datetime.now(UTC),
    )
    memo = PlannedMemo(
        message_uuid=str(uuid.uuid4()),
        recipient_kind="CPR",
        recipient_id="0101010000",
        memo_xml=b"<memo/>",
        memo_ref="ref",
    )
    assert store.plan_job(job, [memo])
    got = store.get_job(job_id)
    assert got is not None
    assert got.state is JobState.PLANNED
    return job_id


def _calls(store: SqlStore, job_id: str, tag: str) -> dict[str, Callable[[int], object]]:
    payload = {"job": job_id, "mailbox": "bench@example.org", "kind": "receipt"}
    return {
        "get_job": lambda i: store.get_job(job_id),
        "plan_effect": lambda i: store.plan_effect(f"{tag}:{i}", payload, "bench@example.org"),
        "complete_effect": lambda i: store.complete_effect(f"{tag}:{i}", {"ok": True}),
        "list_outbox": lambda i: store.list_outbox(job_id),
    }


def measure(url: str, n: int, repeat: int, count_calls: bool) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {kind: {} for kind in KINDS}
    # Counts on a store of their own: event listeners on an engine slow down its dispatch even after
    # they are removed, and the timed store must run as in production.
    counted = create_store(url)
    try:
        job_id = _setup(counted)
        counter = _Counter(counted)
        calls = _calls(counted, job_id, f"count:{uuid.uuid4().hex[:8]}")
        for kind in KINDS:  # plan before complete: complete_effect needs the planned keys
            before = counter.snapshot()
            for i in range(n):
                calls[kind](i)
            after = counter.snapshot()
            for j, name in enumerate(("statements", "commits", "rollbacks", "checkouts")):
                results[kind][name] = (after[j] - before[j]) / n
    finally:
        counted.close()
    store = create_store(url)
    try:
        _timed(store, _setup(store), n, repeat, count_calls, results)
    finally:
        store.close()
    return results


def _timed(
    store: SqlStore,
    job_id: str,
    n: int,
    repeat: int,
    count_calls: bool,
    results: dict[str, dict[str, float]],
) -> None:
    best: dict[str, float] = {}
    for r in range(repeat):
        calls = _calls(store, job_id, f"bench:{uuid.uuid4().hex[:8]}:{r}")
        for kind in KINDS:
            fn = calls[kind]
            start = time.thread_time()
            for i in range(n):
                fn(i)
            cpu = (time.thread_time() - start) / n * 1e6
            best[kind] = min(best.get(kind, cpu), cpu)
    for kind in KINDS:
        results[kind]["cpu_us"] = round(best[kind], 1)
    if count_calls:
        calls = _calls(store, job_id, f"prof:{uuid.uuid4().hex[:8]}")
        for kind in KINDS:
            profiler = cProfile.Profile()
            profiler.enable()
            for i in range(n):
                calls[kind](i)
            profiler.disable()
            stats = pstats.Stats(profiler)
            results[kind]["function_calls"] = round(stats.total_calls / n, 1)  # type: ignore[attr-defined]


@contextmanager
def _postgres(url: str, create_schema: bool) -> Iterator[str]:
    if not create_schema:
        yield url
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield (
            make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _print(label: str, results: dict[str, dict[str, float]]) -> None:
    for kind, r in results.items():
        extra = f"  calls {r['function_calls']:7.1f}" if "function_calls" in r else ""
        print(
            f"{label:10} {kind:16} {r['cpu_us']:8.1f} µs CPU  statements {r['statements']:4.1f}"
            f"  commits {r['commits']:3.1f}  rollbacks {r['rollbacks']:3.1f}"
            f"  checkouts {r['checkouts']:3.1f}{extra}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=500, help="calls of each kind per round (default 500)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best is reported (default 3)")
    parser.add_argument("--database-url", help="also measure on this PostgreSQL URL (see above)")
    parser.add_argument(
        "--create-schema", action="store_true", help="a fresh schema in --database-url, dropped afterwards"
    )
    parser.add_argument("--calls", action="store_true", help="also count Python function calls per call")
    add_json_option(parser)
    args = parser.parse_args()
    print(f"graph_dpg from {Path(graph_dpg.__file__).parent}")
    out: dict[str, Any] = {"n": args.n, "repeat": args.repeat}
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite"] = measure(f"sqlite:///{Path(tmp) / 'state.db'}", args.n, args.repeat, args.calls)
    _print("sqlite", out["sqlite"])
    if args.database_url:
        with _postgres(args.database_url, args.create_schema) as url:
            out["postgresql"] = measure(url, args.n, args.repeat, args.calls)
        _print("postgresql", out["postgresql"])
    write_json(args.json, out)


if __name__ == "__main__":
    main()
