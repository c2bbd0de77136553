"""Cost of one mail (issue 18): the gateway's own CPU and its Graph requests per single-recipient outbound
letter and per inbound memo.

The gateway runs in this process (the real composition root and ``Runtime.tick()``: poll, plan, send to NgDP,
receipt mail, categories; inbound pull, delivery, acknowledgement) on SQLite in a temporary directory (or
PostgreSQL with ``--database-url``). The Graph and NgDP emulators are each served over loopback in a process
of their own (bench/_emulator_host.py), so ``time.process_time()`` of this process is the gateway's CPU
(every thread of it: the event loop and the store's worker threads) and not the emulators'. Graph requests
are counted by the emulator (``GraphTenant.request_counts()``, by method, endpoint kind and status; a
``$batch`` is one round trip and each member counts under its own kind as well).
Store transactions are counted in this process by what they do (the label each ``SqlStore`` method gives
its transaction), per letter and per memo.

Phases, each on the same gateway after a settle phase (first sync of every folder, master categories):

1. idle: ``--idle-ticks`` ticks with nothing to do (what every tick costs, listed so it can be subtracted);
2. outbound: ``--letters`` single letters put in Sent Items ``--per-round`` at a time, each round ticked until
   NgDP accepted them and Graph saw their receipt mails and categories;
3. inbound: ``--memos`` memos queued at NgDP, ticked until each is delivered (acknowledged and deleted).

    bench/cost_bench.py [--letters 200] [--memos 50] [--mailboxes 4] [--profile] [--json FILE]

``--profile`` runs the outbound and inbound phases under cProfile and prints the top 30 by own time
(tottime) and by cumulative time, in CPU time (the profiler's clock is time.process_time). So that the
profile sees the store and the CPU pool, which run in worker threads, ``--profile`` runs their calls inline
on the event loop (the CPU figures of a profiled run are inflated by the profiler; measure without it).
Injected latency is off by default (``--graph-latency 100-300`` turns it on; a benchmark aid, not emulated
behaviour: graph_dpg/sandbox/latency.py); the NgDP emulator's own MeMo
validation is off (it runs in its process and is not the gateway's cost).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import add_json_option, write_json
from _emulator_host import graph_host, ngdp_host
from scale_bench import Host, function_mailboxes, gateway_yaml

from graph_dpg.bootstrap import build_gateway
from graph_dpg.config import load_gateway_text, load_settings
from graph_dpg.demo.scenario import mass_recipients
from graph_dpg.observability import configure_logging
from graph_dpg.runtime import Runtime, RuntimeOptions

MAIN = "post@bench.dk"
MONITOR = "drift@bench.dk"


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.boxes = function_mailboxes(args.mailboxes)
        self.cprs = mass_recipients(args.seed, args.letters)
        self.graph = Host(
            graph_host,
            "graph-emulator",
            mailboxes=[MAIN, MONITOR, *self.boxes],
            latency=args.graph_latency,
            seed=args.seed,
        )
        self.ngdp = Host(
            ngdp_host, "ngdp-emulator", workdir=str(workdir), latency="0", seed=args.seed, cprs=self.cprs
        )
        n = self.ngdp.info
        settings = load_settings(
            env_file=None,
            credential_kind="sandbox",
            graph_base_url=self.graph.info,
            ngdp_base_url=n["base_url"],
            ngdp_system_id=n["system_id"],
            ngdp_api_token=n["api_token"],
            ngdp_certificate_path=n["p12"],
            ngdp_certificate_password=n["p12_password"],
            ngdp_ca_bundle=n["ca"],
            database_url=args.database_url or f"sqlite:///{workdir / 'cost.db'}",
            replica_id="cost",
            poll_jitter_seconds=0,
        )
        config = load_gateway_text(gateway_yaml(self.boxes))
        self.gateway = build_gateway(settings, config)
        self.runtime = Runtime(self.gateway, RuntimeOptions(start_http=False))
        self.accepted: set[str] = set()
        self.inbound_deleted = 0
        self.profiler: cProfile.Profile | None = cProfile.Profile(time.process_time) if args.profile else None
        self.transactions: Counter[str] = Counter()
        self.store_cpu = 0.0
        self.count_transactions()

    def count_transactions(self) -> None:
        """Count the store's transactions by what they do (the label ``SqlStore._tx`` is given), and the CPU
        spent inside them: ``time.thread_time()`` of the thread that runs the transaction (a store call runs
        in one worker thread from start to end), so time waiting for the lock or the GIL is not counted."""
        store = self.gateway.store
        tx = store._tx

        @contextlib.contextmanager
        def counted(what: str) -> Iterator[Any]:
            self.transactions[what] += 1
            started = time.thread_time()
            try:
                with tx(what) as conn:
                    yield conn
            finally:
                self.store_cpu += time.thread_time() - started

        store._tx = counted  # type: ignore[method-assign]

    def progress(self) -> None:
        prog = self.ngdp.call("progress")
        self.accepted.update(r for r, _ in prog["accepted"])
        self.inbound_deleted = prog["inbound_deleted"]
        if prog["rejected"]:
            raise RuntimeError(f"NgDP refused {prog['rejected']} MeMo: the workload is wrong")

    def counts(self) -> dict[str, Any]:
        counts: dict[str, Any] = self.graph.call("counts")
        counts["transactions"] = dict(self.transactions)
        counts["store_cpu_s"] = self.store_cpu
        return counts

    async def tick(self, profile: bool = False) -> None:
        if profile and self.profiler is not None:
            self.profiler.enable()
            try:
                await self.runtime.tick()
            finally:
                self.profiler.disable()
        else:
            await self.runtime.tick()

    async def settle(self) -> None:
        """Start-up work (master categories, first delta round of every folder) until a tick asks nothing."""
        for _ in range(10):
            before = self.counts()["round_trips"]
            await self.tick()
            if self.counts()["round_trips"] - before <= self.idle_floor():
                return

    def idle_floor(self) -> int:
        # An idle tick reads each polled folder once (delta); anything above that is start-up work.
        return 2 * (len(self.boxes) + 2)

    async def idle(self) -> dict[str, Any]:
        n = self.args.idle_ticks
        before, cpu0 = self.counts(), time.process_time()
        for _ in range(n):
            await self.tick()
        return per_item(before, self.counts(), n, time.process_time() - cpu0)

    async def outbound(self) -> dict[str, Any]:
        a = self.args
        before, cpu0, ticks = self.counts(), time.process_time(), 0
        for start in range(0, a.letters, a.per_round):
            batch = self.cprs[start : start + a.per_round]
            letters = [
                (self.boxes[(start + i) % len(self.boxes)], cpr, f"Brev {start + i}")
                for i, cpr in enumerate(batch)
            ]
            self.graph.call("put_letters", letters=letters)
            want = start + len(batch)
            for _ in range(20):
                await self.tick(profile=True)
                ticks += 1
                self.progress()
                if all(c in self.accepted for c in batch) and effects_done(self.counts(), before, want):
                    break
            else:
                raise RuntimeError(f"letters {start}..{want} not done after 20 ticks")
        cpu = time.process_time() - cpu0
        return {"ticks": ticks, **per_item(before, self.counts(), a.letters, cpu)}

    async def inbound(self) -> dict[str, Any]:
        m = self.args.memos
        self.progress()
        base = self.inbound_deleted
        before, cpu0, ticks = self.counts(), time.process_time(), 0
        self.ngdp.call("queue_inbound", n=m, start=0)
        for _ in range(20):
            await self.tick(profile=True)
            ticks += 1
            self.progress()
            if self.inbound_deleted - base >= m:
                break
        else:
            raise RuntimeError("inbound memos not delivered after 20 ticks")
        cpu = time.process_time() - cpu0
        return {"ticks": ticks, **per_item(before, self.counts(), m, cpu)}

    async def close(self) -> None:
        await self.runtime.stop()
        await self.gateway.aclose()
        self.graph.stop()
        self.ngdp.stop()


def effects_done(now: dict[str, Any], before: dict[str, Any], k: int) -> bool:
    """Graph saw ``k`` successful message creates (receipt mails) and category writes since ``before``."""
    made: Counter[str] = Counter()
    for key, v in now["all"].items():
        _method, kind, status = key.split("|")
        if status.startswith("2") and kind in ("messages.create", "messages.update"):
            made[kind] += v - before["all"].get(key, 0)
    return made["messages.create"] >= k and made["messages.update"] >= k


def per_item(before: dict[str, Any], after: dict[str, Any], n: int, cpu_s: float) -> dict[str, Any]:
    kinds: Counter[str] = Counter()
    for key, v in after["all"].items():
        method, kind, status = key.split("|")
        name = f"{method} {kind}" + ("" if status.startswith("2") else f" ({status})")
        kinds[name] += v - before["all"].get(key, 0)
    tx: Counter[str] = Counter(after["transactions"])
    tx.subtract(before["transactions"])
    return {
        "n": n,
        "store_transactions_per_item": sum(tx.values()) / n,
        "store_transactions_per_item_by_kind": {k: v / n for k, v in sorted(tx.items()) if v},
        "graph_round_trips_per_item": (after["round_trips"] - before["round_trips"]) / n,
        "graph_requests_per_item_by_kind": {k: v / n for k, v in sorted(kinds.items()) if v},
        "cpu_ms_per_item": cpu_s * 1000 / n,
        "store_cpu_ms_per_item": (after["store_cpu_s"] - before["store_cpu_s"]) * 1000 / n,
    }


def print_row(title: str, r: dict[str, Any]) -> None:
    ticks = f", {r['ticks']} ticks" if "ticks" in r else ""
    print(
        f"\n== {title} (n={r['n']}{ticks}): gateway CPU {r['cpu_ms_per_item']:.2f} ms, "
        f"Graph round trips {r['graph_round_trips_per_item']:.2f}, "
        f"store transactions {r['store_transactions_per_item']:.2f} "
        f"(CPU inside them {r['store_cpu_ms_per_item']:.2f} ms)"
    )
    for kind, v in r["graph_requests_per_item_by_kind"].items():
        print(f"     {kind:<40} {v:7.2f}")
    print("   store transactions by kind:")
    for kind, v in r["store_transactions_per_item_by_kind"].items():
        print(f"     {kind:<40} {v:7.2f}")


def machine_reference_ms() -> float:
    """CPU milliseconds of a fixed pure-Python workload (integer loop, JSON of a Graph-message-sized object,
    string formatting), best of three: the machine's speed in the same run, so per-mail figures from
    machines of different speed can be compared (``cpu_ms_per_mail / reference_ms``)."""
    message = {
        "id": "AAMkAGI2" + "x" * 140,
        "subject": "Brev om din sag",
        "toRecipients": [{"emailAddress": {"address": "0101701234@12345674.ngdp.digital-post.dk"}}] * 2,
        "categories": ["Digital Post: sendt"],
        "body": {"contentType": "html", "content": "<p>Kære borger</p>" * 40},
    }
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        total = sum(range(1_000_000))
        for i in range(2_000):
            total += len(json.loads(json.dumps(message))["id"]) + len(f"{i}:{message['subject']}")
        best = min(best, time.process_time() - started)
    return best * 1000


def run_inline() -> None:
    """For --profile: the store's and the CPU pool's worker-thread calls on the loop's thread, where
    cProfile sees them (it profiles one thread)."""
    from graph_dpg.services import cpu

    async def to_thread(fn: Any, /, *a: Any, **kw: Any) -> Any:
        return fn(*a, **kw)

    async def pool_run(self: Any, fn: Any, /, *a: Any, **kw: Any) -> Any:
        return fn(*a, **kw)

    asyncio.to_thread = to_thread  # type: ignore[assignment]
    cpu.CpuPool.run = pool_run  # type: ignore[method-assign]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    configure_logging("json", "WARNING")
    if args.profile:
        run_inline()
    with tempfile.TemporaryDirectory(prefix="graph-dpg-cost-") as tmp:
        bench = Bench(args, Path(tmp))
        try:
            started = time.monotonic()
            await bench.settle()
            idle = await bench.idle()
            outbound = await bench.outbound()
            inbound = await bench.inbound() if args.memos else None
            seconds = time.monotonic() - started
        finally:
            await bench.close()
    reference = machine_reference_ms()
    print(f"cost of one mail: {args.mailboxes} function mailboxes, 1 replica in this process, emulators in")
    print(f"their own processes, Graph latency {args.graph_latency or '0'} ms; {seconds:.0f} s")
    print(
        f"machine reference (fixed pure-Python workload, best of 3): {reference:.0f} ms CPU; "
        f"CPU per letter = {outbound['cpu_ms_per_item'] / reference:.3f} x reference"
    )
    print_row("per idle tick (all folders polled once, nothing to do)", idle)
    print_row(f"per single letter incl. receipt mail + category ({args.per_round} per round)", outbound)
    if inbound is not None:
        print_row("per inbound memo until delivered", inbound)
    if bench.profiler is not None:
        if args.profile_file:
            bench.profiler.dump_stats(args.profile_file)
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(bench.profiler, stream=out).sort_stats(order).print_stats(30)
            print(f"\n== profile of the outbound and inbound ticks, top 30 by {order}")
            print(out.getvalue())
    return {
        "cpu_ms_per_mail": outbound["cpu_ms_per_item"],
        "graph_requests_per_mail": outbound["graph_round_trips_per_item"],
        "store_transactions_per_mail": outbound["store_transactions_per_item"],
        "cpu_ms_per_inbound_memo": inbound["cpu_ms_per_item"] if inbound else None,
        "store_cpu_ms_per_mail": outbound["store_cpu_ms_per_item"],
        "machine_reference_ms": reference,
        "graph_requests_per_inbound_memo": inbound["graph_round_trips_per_item"] if inbound else None,
        "detail": {
            "idle_tick": idle,
            "outbound": outbound,
            "inbound": inbound,
            "seconds": seconds,
            "mailboxes": args.mailboxes,
            "per_round": args.per_round,
            "graph_latency_ms": args.graph_latency or "0",
            "profiled": args.profile,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--letters", type=int, default=200, help="single letters (default 200)")
    parser.add_argument("--per-round", type=int, default=20, help="letters put per round (default 20)")
    parser.add_argument("--memos", type=int, default=50, help="inbound memos (default 50; 0: skip)")
    parser.add_argument("--mailboxes", type=int, default=4, help="function mailboxes (default 4)")
    parser.add_argument("--idle-ticks", type=int, default=5)
    parser.add_argument("--graph-latency", default="0", help="injected Graph latency, ms or LOW-HIGH")
    parser.add_argument("--database-url", help="store URL (default: SQLite in a temporary directory)")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--profile", action="store_true", help="cProfile top 30 of the measured ticks")
    parser.add_argument("--profile-file", help="with --profile: also write the raw cProfile stats here")
    add_json_option(parser)
    args = parser.parse_args(argv)
    results = asyncio.run(run(args))
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
