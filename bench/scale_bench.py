"""Scale-out benchmark (issue 18): separate ``graph-dpg run`` processes (1, 2, 3) on one PostgreSQL against
the Graph and NgDP emulators, each served over loopback in a process of its own, with injected latency (a
benchmark aid, not emulated behaviour: Graph 100-300 ms per request, NgDP 200-500 ms per send;
graph_dpg/sandbox/latency.py).

    bench/scale_bench.py [--quick] [--json FILE] [--mailboxes 32] [--keep]

Every replica runs with the production defaults of its settings (only what a deployment must say is set:
URLs, credentials, database, replica id, HTTP port; and, in the notifications run, its public URL). The
benchmark never tunes concurrency or poll intervals per replica count.

Runs, each on fresh emulators and a fresh PostgreSQL schema:

1. calibration, 1 replica: once the replica's start-up work is done (first sync of every folder, master
   categories; no Graph request for 2 s), single letters (40 with --quick, 100 otherwise) are put in Sent
   Items; from then until every letter is accepted by NgDP, and on until Graph has seen a receipt mail and a
   category per letter (waited for up to 45 s, 150 s in the full mode; the table says when not all were
   done): Graph requests per letter (HTTP round trips, and by endpoint kind) and the gateway's
   CPU per letter (utime+stime of the replica process; the emulators and this process are not counted). The
   business receipt step (every 300 s by default) is after the window and not counted; the idle polls of
   every folder during the window are (the by-kind table shows them). Then, on the same replica (idle
   again), inbound memos (10 with --quick, 50 otherwise) are queued at NgDP; from then until each is
   delivered (acknowledged and deleted at NgDP): Graph requests and CPU per inbound memo. The inbound poll
   runs every 60 s by default, so this window holds up to a minute of idle polls of every folder; with few
   memos they weigh more per memo (the by-kind table separates them).
2. throughput, 1, 2 and 3 replicas: a backlog placed before the replicas start (single letters over all
   function mailboxes, one mass delivery, inbound memos queued at NgDP), so that the first poll of every
   folder finds it and the poll interval does not decide the result. Throughput = single letters accepted
   by NgDP plus inbound memos delivered (acknowledged and deleted at NgDP) per second, between the moments
   10 % and 90 % of them were done (start-up and the tail left out); the single letters alone too (letters/s:
   the inbound memos are pulled under one lease and delivered by every replica in claimed batches, and with
   the 60 s inbound poll they can be the tail of the 10-90 % window). The mass delivery runs alongside;
   its MeMo/s is reported separately. Graph 429s and the machine's CPU busy fraction (/proc/stat, all cores,
   emulators included) are taken over the same 10-90 % window.
3. latency, 3 replicas: letters put one a second after the backlog of run 2 (3 replicas) is done; Sent
   Items → NgDP accepted p50/p95 with the default poll interval; then a run with change notifications on
   (each replica's own loopback URL as its public URL; the default safety-net poll).

JSON (``--json FILE``): ``{"throughput": {"1": x, "2": y, "3": z}, "http_429": n, "latency_p95_s": {"polling":
s, "notifications": s}, "graph_requests_per_mail": r, "cpu_ms_per_mail": c}`` plus
``"graph_requests_per_inbound_memo"`` (both modes) and the details under ``"detail"``.
Without PostgreSQL it exits 2 and says so. The machine may be shared: the CPU busy fraction says how loaded it
was.

Workloads and duration (measured 2026-12-04 on 2 cores shared with other work, machine CPU busy 97-100 %
throughout): --quick (300 letters, 60 memos, 200-recipient mass delivery, 40 + 10 in calibration, 20
latency letters per mode) took 8.5 minutes (12.2 with other benchmarks running alongside); the full mode
(1200 letters, 300 memos, 1000 recipients, 100 + 50 in calibration, 60 latency letters per mode) 21.3
minutes, with a 45 s effects wait (150 s now: up to 2 minutes more). On 2026-12-05 (after stop 26) the full
mode took 10.5 minutes; its throughput runs last 70-100 s and the quick mode's 15-25 s. The inbound memos
then set the pace of the items figure: the NgDP pull runs under one lease and the other replicas look for
stored memos every ``inbound_poll_seconds`` (60 s by default), so the lease holder delivers most of them.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import add_json_option, write_json
from _emulator_host import CVR, graph_host, ngdp_host
from chaos import DEFAULT_POSTGRES_URL, free_port, isolated_schema, write_env
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from graph_dpg.adapters.store import create_store
from graph_dpg.demo.scenario import mass_recipients

GRAPH_LATENCY = "100-300"
NGDP_LATENCY = "200-500"
MAIN = "post@bench.dk"
MONITOR = "drift@bench.dk"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def function_mailboxes(n: int) -> list[str]:
    return [f"fp{i:03d}@bench.dk" for i in range(n)]


def gateway_yaml(boxes: list[str]) -> str:
    lines = "\n".join(f'  - {{address: {b}, cvrs: ["{CVR}"]}}' for b in boxes)
    return (
        f'organisation: {{cvr: "{CVR}", name: Benchby Kommune, mandatory_allowed: true}}\n'
        f"main_mailbox: {MAIN}\nmonitoring_mailbox: {MONITOR}\n"
        f"function_mailboxes:\n{lines}\n"
    )


def postgres_problem(url: str) -> str | None:
    try:
        engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return None


# ============================================================================ processes


class Host:
    """An emulator in its own process, driven through a pipe."""

    def __init__(self, target: Any, name: str, **kwargs: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child,), kwargs=kwargs, name=name, daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(60):
            raise RuntimeError(f"the {name} did not start")
        self.info: Any = self.conn.recv()

    def call(self, cmd: str, **kwargs: Any) -> Any:
        self.conn.send((cmd, kwargs))
        if not self.conn.poll(120):
            raise RuntimeError(f"{self.proc.name}: no answer to {cmd}")
        ok, value = self.conn.recv()
        if not ok:
            raise RuntimeError(f"{self.proc.name}: {cmd} failed: {value}")
        return value

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, OSError, EOFError):
            self.call("stop")
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


@dataclass
class Replica:
    name: str
    workdir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: Any = None
    terminated: bool = False

    def start(self) -> None:
        import subprocess

        out = (self.workdir / f"{self.name}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "graph_dpg", "run", "--gateway-file", "gateway.yaml"],
            cwd=self.workdir,
            env={**self.env, "GRAPH_DPG_REPLICA_ID": self.name, "GRAPH_DPG_HTTP_PORT": str(self.port)},
            stdout=out,
            stderr=out,
        )
        out.close()

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def cpu_s(self) -> float:
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def terminate(self) -> None:
        """SIGTERM once (a second one during the graceful shutdown would end the process at once)."""
        if self.proc is not None and self.proc.poll() is None and not self.terminated:
            self.terminated = True
            self.proc.terminate()

    def stop(self) -> int | None:
        import subprocess

        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else int(self.proc.returncode)
        self.terminate()
        try:
            return int(self.proc.wait(30))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


# ============================================================================ one run


@dataclass
class World:
    args: argparse.Namespace
    boxes: list[str]
    singles: list[str]  # CPRs of single letters, in order of use
    mass: list[str]
    db_base: str
    root: Path


@dataclass
class Run:
    """One set of replicas on fresh emulators and a fresh schema."""

    world: World
    replicas: int
    singles: list[str] = field(default_factory=list)  # the single letters this run counts as done
    notify: bool = False
    graph: Host | None = None
    ngdp: Host | None = None
    reps: list[Replica] = field(default_factory=list)
    accepted_at: dict[str, float] = field(default_factory=dict)
    inbound_deleted: int = 0
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, singles done, inbound done)
    put_at: dict[str, float] = field(default_factory=dict)

    def poll(self) -> None:
        assert self.ngdp is not None
        prog = self.ngdp.call("progress")
        for recipient, at in prog["accepted"]:
            self.accepted_at.setdefault(recipient, at)
        self.inbound_deleted = prog["inbound_deleted"]
        if prog["rejected"]:
            raise RuntimeError(f"NgDP refused {prog['rejected']} MeMo: the workload is wrong")

    def graph_counts(self) -> dict[str, Any]:
        assert self.graph is not None
        counts: dict[str, Any] = self.graph.call("counts")
        return counts

    def gateway_cpu(self) -> float:
        return sum(r.cpu_s() for r in self.reps)


def start_run(run: Run, tag: str, workdir: Path, db_url: str) -> None:
    w = run.world
    seed = w.args.seed
    run.graph = Host(
        graph_host, "graph-emulator", mailboxes=[MAIN, MONITOR, *w.boxes], latency=GRAPH_LATENCY, seed=seed
    )
    run.ngdp = Host(
        ngdp_host,
        "ngdp-emulator",
        workdir=str(workdir),
        latency=NGDP_LATENCY,
        seed=seed,
        cprs=[*w.singles, *w.mass],
    )
    create_store(db_url).close()  # migrate once, before the replicas race for it
    (workdir / "gateway.yaml").write_text(gateway_yaml(w.boxes), encoding="utf-8")
    n = run.ngdp.info
    write_env(
        workdir,
        {
            "GRAPH_DPG_CREDENTIAL_KIND": "sandbox",
            "GRAPH_DPG_GRAPH_BASE_URL": run.graph.info,
            "GRAPH_DPG_NGDP_BASE_URL": n["base_url"],
            "GRAPH_DPG_NGDP_SYSTEM_ID": n["system_id"],
            "GRAPH_DPG_NGDP_API_TOKEN": n["api_token"],
            "GRAPH_DPG_NGDP_CERTIFICATE_PATH": n["p12"],
            "GRAPH_DPG_NGDP_CERTIFICATE_PASSWORD": n["p12_password"],
            "GRAPH_DPG_NGDP_CA_BUNDLE": n["ca"],
            "GRAPH_DPG_DATABASE_URL": db_url,
            "GRAPH_DPG_LOG_FORMAT": "json",
        },
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPH_DPG_")}
    run.reps = [Replica(f"{tag}-r{i + 1}", workdir, env) for i in range(run.replicas)]
    if run.notify:
        for rep in run.reps:
            rep.env = {**env, "GRAPH_DPG_NOTIFICATIONS_URL": f"http://127.0.0.1:{rep.port}"}


def launch(run: Run) -> float:
    """Start the replicas; returns when all answer /readyz (bounded)."""
    for rep in run.reps:
        rep.start()
    deadline = time.monotonic() + 90
    while not all(rep.ready() for rep in run.reps):
        for rep in run.reps:
            if rep.proc.poll() is not None:
                raise RuntimeError(f"{rep.name} exited with {rep.proc.returncode}; see {rep.workdir}")
        if time.monotonic() > deadline:
            raise RuntimeError("replicas not ready within 90 s")
        time.sleep(0.2)
    return time.time()


def stop_run(run: Run) -> None:
    # SIGTERM to every replica first, then wait: each may take its shutdown grace (up to 30 s) to finish
    # in-flight work, and one after the other that was up to 90 s per 3-replica run.
    for rep in run.reps:
        rep.terminate()
    for rep in run.reps:
        rep.stop()
    for host in (run.graph, run.ngdp):
        if host is not None:
            host.stop()


def put_letters(run: Run, cprs: list[str], tag: str) -> None:
    assert run.graph is not None
    boxes = run.world.boxes
    letters = [(boxes[i % len(boxes)], cpr, f"{tag} brev {i}") for i, cpr in enumerate(cprs)]
    for i in range(0, len(letters), 200):
        run.graph.call("put_letters", letters=letters[i : i + 200])
    now = time.time()
    for cpr in cprs:
        run.put_at[cpr] = now


def wait_until(run: Run, done: Any, bound_s: float, tick: float = 0.5) -> bool:
    deadline = time.monotonic() + bound_s
    while True:
        run.poll()
        singles = sum(1 for c in run.singles if c in run.accepted_at)
        run.samples.append((time.time(), singles, run.inbound_deleted))
        if done():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(tick)


# ============================================================================ the phases


def settle(run: Run, quiet_s: float = 2.0, bound_s: float = 30.0) -> None:
    """Wait until the replicas' start-up requests to Graph stop (no request for ``quiet_s``), bounded."""
    deadline = time.monotonic() + bound_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        trips = run.graph_counts()["round_trips"]
        if trips != last:
            last, since = trips, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.25)


def wait_effects(run: Run, k: int, bound_s: float) -> bool:
    """True once Graph saw ``k`` successful message creates (receipt mails) and updates (categories)."""
    deadline = time.monotonic() + bound_s
    while True:
        made: Counter[str] = Counter()
        for key, v in run.graph_counts()["all"].items():
            _method, kind, status = key.split("|")
            if status.startswith("2") and kind in ("messages.create", "messages.update"):
                made[kind] += v
        if made["messages.create"] >= k and made["messages.update"] >= k:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def calibration(world: World, db_url: str, workdir: Path) -> dict[str, Any]:
    """1 replica: Graph requests and gateway CPU per single letter, then per inbound memo (same replica)."""
    k = world.args.calibration
    m = world.args.calibration_memos
    cprs = world.singles[:k]
    run = Run(world, 1, cprs)
    try:
        start_run(run, "cal", workdir, db_url)
        assert run.ngdp is not None
        launch(run)
        settle(run)  # the start-up's own work (first sync of every folder, master categories) left out
        before_cpu = run.gateway_cpu()
        before = run.graph_counts()
        put_letters(run, cprs, "Kalibrering")  # found by the next poll of each Sent Items (<= 30 s)
        t_start = time.monotonic()
        ok = wait_until(run, lambda: all(c in run.accepted_at for c in cprs), 180)
        at_accepted = run.graph_counts(), run.gateway_cpu() - before_cpu, time.monotonic() - t_start
        # Then the receipt mail and the category of each letter (the effects job, every outbound poll
        # interval): wait until Graph has seen as many of each as letters, bounded.
        effects_done = wait_effects(run, k, world.args.effects_wait)
        time.sleep(1)
        cpu = run.gateway_cpu() - before_cpu
        after = run.graph_counts()
        window = time.monotonic() - t_start
        # Inbound memos on the same replica, now idle again: queued at NgDP, found by the next inbound
        # poll (<= 60 s, the default), counted until each is delivered (acknowledged and deleted at NgDP).
        in_before_cpu = run.gateway_cpu()
        in_before = run.graph_counts()
        run.ngdp.call("queue_inbound", n=m, start=0)
        t_in = time.monotonic()
        in_ok = wait_until(run, lambda: run.inbound_deleted >= m, 150)
        time.sleep(1)
        in_cpu = run.gateway_cpu() - in_before_cpu
        in_after = run.graph_counts()
        in_window = time.monotonic() - t_in
    finally:
        stop_run(run)
    letters = {
        "letters": k,
        "all_accepted": ok,
        "effects_done": effects_done,
        "window_s": window,
        **per_item(before, after, k, cpu),
        "until_accepted": {
            "window_s": at_accepted[2],
            **per_item(before, at_accepted[0], k, at_accepted[1]),
        },
    }
    memos = {
        "memos": m,
        "all_delivered": in_ok,
        "window_s": in_window,
        # False: the letters' receipt mails and categories still being made are counted here too.
        "letters_effects_done_before": effects_done,
        **per_item(in_before, in_after, m, in_cpu),
    }
    return {"letters": letters, "inbound": memos}


def per_item(before: dict[str, Any], after: dict[str, Any], n: int, cpu_s: float) -> dict[str, Any]:
    kinds: Counter[str] = Counter()
    for key, v in after["all"].items():
        method, kind, status = key.split("|")
        name = f"{method} {kind}" + ("" if status.startswith("2") else f" ({status})")
        kinds[name] += v - before["all"].get(key, 0)
    return {
        "graph_round_trips_per_item": (after["round_trips"] - before["round_trips"]) / n,
        "graph_requests_per_item_by_kind": {k: v / n for k, v in sorted(kinds.items()) if v},
        "cpu_ms_per_item": cpu_s * 1000 / n,
    }


def throughput(world: World, replicas: int, db_url: str, workdir: Path, latency: bool) -> dict[str, Any]:
    a = world.args
    singles = world.singles[a.calibration : a.calibration + a.letters]
    run = Run(world, replicas, singles)
    result: dict[str, Any] = {"replicas": replicas}
    try:
        start_run(run, f"x{replicas}", workdir, db_url)
        put_letters(run, singles, "Brev")
        assert run.graph is not None
        assert run.ngdp is not None
        run.graph.call("put_mass", mailbox=world.boxes[0], cprs=world.mass)
        run.ngdp.call("queue_inbound", n=a.memos, start=0)
        total = len(singles) + a.memos
        t0 = launch(run)
        cpu0 = run.gateway_cpu()
        marks: dict[int, tuple[float, tuple[int, int], dict[str, Any], float]] = {}

        def done() -> bool:
            t, s, i = run.samples[-1]
            for pct in (10, 90):
                if pct not in marks and s + i >= total * pct / 100:
                    marks[pct] = (t, machine_cpu(), run.graph_counts(), run.gateway_cpu())
            return s + i >= total

        finished = wait_until(run, done, a.bound)
        t_end = time.time()
        # The single letters alone (every replica polls its own share of the Sent Items folders), 10-90 %:
        # the inbound memos are pulled under one lease (then delivered by every replica): they scale apart.
        n = len(singles)
        t10 = next((t for t, k, _ in run.samples if k >= 0.1 * n), None)
        t90 = next((t for t, k, _ in run.samples if k >= 0.9 * n), None)
        result["letters_per_s"] = 0.8 * n / max(t90 - t10, 1e-6) if t10 and t90 else None
        singles_done = next((t for t, n, _ in run.samples if n >= len(singles)), None)
        inbound_done = next((t for t, _, n in run.samples if n >= a.memos), None)
        result["singles_done_s"] = singles_done - t0 if singles_done else None
        result["inbound_done_s"] = inbound_done - t0 if inbound_done else None
        mass_times = sorted(run.accepted_at[c] for c in world.mass if c in run.accepted_at)
        result.update(
            {
                "finished": finished,
                "done_s": t_end - t0,
                "singles_accepted": sum(1 for c in singles if c in run.accepted_at),
                "inbound_delivered": run.inbound_deleted,
                "mass_accepted": len(mass_times),
                "mass_memo_per_s": (
                    (len(mass_times) - 1) / (mass_times[-1] - mass_times[0]) if len(mass_times) > 1 else 0
                ),
                "gateway_cpu_s": run.gateway_cpu() - cpu0,
            }
        )
        if 10 in marks and 90 in marks:
            (ta, (ba, tota), ca, ga), (tb, (bb, totb), cb, gb) = marks[10], marks[90]
            result["throughput"] = 0.8 * total / max(tb - ta, 1e-6)
            result["cpu_busy"] = (bb - ba) / max(totb - tota, 1)
            result["http_429"] = sum(
                v - ca["all"].get(key, 0) for key, v in cb["all"].items() if key.endswith("|429")
            )
            result["gateway_cpu_busy"] = (gb - ga) / max(tb - ta, 1e-6) / (os.cpu_count() or 1)
        if latency:
            result["latency_polling"] = light_latency(run, world.singles[-a.latency_letters :], "Polling")
            result["latency_polling"]["replicas"] = replicas
    finally:
        stop_run(run)
    return result


def light_latency(run: Run, cprs: list[str], tag: str) -> dict[str, Any]:
    """Letters one a second; Sent Items → NgDP accepted for each (seconds)."""
    for i, cpr in enumerate(cprs):
        put_letters(run, [cpr], f"{tag} {i}")
        run.poll()
        time.sleep(1.0)
    wait_until(run, lambda: all(c in run.accepted_at for c in cprs), run.world.args.latency_wait)
    lat = [run.accepted_at[c] - run.put_at[c] for c in cprs if c in run.accepted_at]
    return {
        "letters": len(cprs),
        "accepted": len(lat),
        "p50_s": p(lat, 50),
        "p95_s": p(lat, 95),
        "max_s": max(lat, default=float("nan")),
    }


def notifications(world: World, db_url: str, workdir: Path) -> dict[str, Any]:
    a = world.args
    cprs = world.singles[-2 * a.latency_letters : -a.latency_letters]
    run = Run(world, 3, cprs, notify=True)
    try:
        start_run(run, "n3", workdir, db_url)
        launch(run)
        want = len(world.boxes)  # at least Sent Items of every function mailbox
        deadline = time.monotonic() + 60
        while run.graph_counts()["subscriptions"] < want and time.monotonic() < deadline:
            time.sleep(0.5)
        subs = run.graph_counts()["subscriptions"]
        result = light_latency(run, cprs, "Notifikation")
        result["subscriptions"] = subs
        result["replicas"] = 3
    finally:
        stop_run(run)
    return result


# ============================================================================ main


def print_table(results: dict[str, Any]) -> None:
    print("\n== scale-out (separate `graph-dpg run` processes, one PostgreSQL, emulators in own processes)")
    print(f"   latency injected: Graph {GRAPH_LATENCY} ms per request, NgDP {NGDP_LATENCY} ms per send")
    print("   NgDP emulator MeMo validation: off (throughput measurement)")
    header = [
        "replicas",
        "items/s",
        "x one",
        "letters/s",
        "done s",
        "letters s",
        "inbound s",
        "mass MeMo/s",
        "Graph 429",
        "CPU busy",
        "gw CPU",
    ]
    print("   " + "  ".join(f"{h:>11}" for h in header))
    base = results["runs"][0].get("throughput") if results["runs"] else None
    for r in results["runs"]:
        t = r.get("throughput", float("nan"))
        print(
            "   "
            + "  ".join(
                f"{v:>11}"
                for v in (
                    r["replicas"],
                    f"{t:.2f}",
                    f"{t / base:.2f}" if base else "-",
                    f"{r['letters_per_s']:.2f}" if r.get("letters_per_s") else "-",
                    f"{r['done_s']:.0f}{'' if r['finished'] else '!'}",
                    f"{r['singles_done_s']:.0f}" if r.get("singles_done_s") else "-",
                    f"{r['inbound_done_s']:.0f}" if r.get("inbound_done_s") else "-",
                    f"{r['mass_memo_per_s']:.1f}",
                    r.get("http_429", "-"),
                    f"{r.get('cpu_busy', float('nan')):.0%}",
                    f"{r.get('gateway_cpu_busy', float('nan')):.0%}",
                )
            )
        )
    print("   (items = single letters accepted by NgDP + inbound memos delivered; 10-90 % window;")
    print("    letters/s = the single letters alone, between 10 % and 90 % of them accepted;")
    print("    done/letters/inbound s = seconds from the replicas ready until all / all letters / all memos;")
    print("    CPU busy = the whole machine, emulators included; gw CPU = the replicas' share;")
    print("    '!' = not drained within the bound)")
    letters, memos = results["calibration"], results["calibration_inbound"]
    rows = [
        (f"single letter until NgDP accepted ({letters['letters']})", letters["until_accepted"]),
        (
            f"single letter with receipt mail + category ({letters['letters']}, effects "
            f"{'all done' if letters['effects_done'] else 'NOT all done'} in {letters['window_s']:.0f} s)",
            letters,
        ),
    ]
    rows.append(
        (
            f"inbound memo until delivered ({memos['memos']}, "
            f"{'all' if memos['all_delivered'] else 'NOT all'} in {memos['window_s']:.0f} s"
            + (
                ""
                if memos["letters_effects_done_before"]
                else "; the letters' effects still pending count too"
            )
            + ")",
            memos,
        )
    )
    for name, cal in rows:
        print(
            f"\n== per {name}; 1 replica, idle polls of all folders in the window included: "
            f"Graph round trips {cal['graph_round_trips_per_item']:.1f}, "
            f"gateway CPU {cal['cpu_ms_per_item']:.1f} ms"
        )
        for kind, v in cal["graph_requests_per_item_by_kind"].items():
            print(f"     {kind:<32} {v:6.2f}")
    for name in ("polling", "notifications"):
        lat = results["latency"].get(name)
        if lat:
            print(
                f"== Sent Items → NgDP accepted, {lat['replicas']} replicas, {name}: "
                f"p50 {lat['p50_s']:.1f} s, p95 {lat['p95_s']:.1f} s, max {lat['max_s']:.1f} s "
                f"({lat['accepted']}/{lat['letters']})"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller workload, within 8 minutes on 2 cores")
    parser.add_argument("--mailboxes", type=int, default=32, help="function mailboxes (default 32)")
    parser.add_argument("--replicas", default="1,2,3", help="replica counts to measure (default 1,2,3)")
    parser.add_argument("--database-url", help=f"PostgreSQL base URL (default {DEFAULT_POSTGRES_URL})")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (replica logs)")
    add_json_option(parser)
    args = parser.parse_args(argv)
    args.letters = 300 if args.quick else 1200
    args.memos = 60 if args.quick else 300
    args.mass_n = 200 if args.quick else 1000
    args.calibration = 40 if args.quick else 100
    args.calibration_memos = 10 if args.quick else 50
    args.latency_letters = 20 if args.quick else 60
    args.latency_wait = 40
    # The effects job runs every outbound poll interval (30 s) with a 20 s budget, one effect after the
    # other: 100 letters' receipt mails and categories took longer than 45 s in a full run (16 done).
    args.effects_wait = 45 if args.quick else 150
    args.bound = 150 if args.quick else 900
    counts = [int(x) for x in args.replicas.split(",")]
    db_base = args.database_url or os.environ.get("GRAPH_DPG_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    problem = postgres_problem(db_base)
    if problem is not None:
        print(f"scale_bench needs PostgreSQL (the replicas share it) and cannot reach {db_base}: {problem}")
        return 2
    people = mass_recipients(
        args.seed, args.calibration + args.letters + 2 * args.latency_letters + args.mass_n
    )
    singles = people[: args.calibration + args.letters + 2 * args.latency_letters]
    root = Path(tempfile.mkdtemp(prefix="graph-dpg-scale-"))
    world = World(args, function_mailboxes(args.mailboxes), singles, people[len(singles) :], db_base, root)
    started = time.monotonic()
    results: dict[str, Any] = {"runs": [], "latency": {}}
    log(f"work directory {root}; {os.cpu_count()} cores; machine may be shared with other work")

    def phase(name: str, fn: Any, *a: Any) -> Any:
        work = root / name
        work.mkdir()
        with isolated_schema(db_base) as db_url:
            log(f"{name} ...")
            out = fn(world, *a, db_url, work) if a else fn(world, db_url, work)
            log(f"{name}: {out}")
            return out

    cal = phase("calibration", calibration)
    results["calibration"], results["calibration_inbound"] = cal["letters"], cal["inbound"]
    for n in counts:

        def one(world: World, db_url: str, work: Path, n: int = n) -> dict[str, Any]:
            return throughput(world, n, db_url, work, latency=n == max(counts))

        r = phase(f"replicas-{n}", one)
        if "latency_polling" in r:
            results["latency"]["polling"] = r.pop("latency_polling")
        results["runs"].append(r)
    results["latency"]["notifications"] = phase("notifications", notifications)
    print_table(results)
    total = time.monotonic() - started
    print(f"\ntotal {total:.0f} s")
    by = {str(r["replicas"]): r.get("throughput") for r in results["runs"]}
    three = next((r for r in results["runs"] if r["replicas"] == max(counts)), {})
    write_json(
        args.json,
        {
            "throughput": by,
            "http_429": three.get("http_429"),
            "latency_p95_s": {k: v["p95_s"] for k, v in results["latency"].items()},
            "graph_requests_per_mail": results["calibration"]["graph_round_trips_per_item"],
            "cpu_ms_per_mail": results["calibration"]["cpu_ms_per_item"],
            "graph_requests_per_inbound_memo": results["calibration_inbound"]["graph_round_trips_per_item"],
            "detail": {**results, "seconds": total, "quick": args.quick, "cores": os.cpu_count()},
        },
    )
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    else:
        log(f"kept {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
