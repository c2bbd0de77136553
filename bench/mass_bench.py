"""Mass-delivery benchmark (issue 18): one real ``graph-dpg run`` process on PostgreSQL against the Graph and
NgDP emulators, each in a process of its own over loopback (no injected latency unless ``--latency``),
delivering one ``masseforsendelse-N`` mail of N = 1,000, 10,000 and 100,000 citizens (``--quick``: 1,000
and 20,000), then a SIGKILL run.

    bench/mass_bench.py [--quick] [--json FILE] [--sizes 1000,10000] [--kill-n N] [--validate] [--keep]

Per size, on fresh emulators and a fresh PostgreSQL schema:

- peak RSS of the gateway process: ``VmHWM`` from ``/proc/PID/status`` (the high-water mark of the whole
  life of the process, start-up included), read when the last memo is accepted (planning and sending) and
  again after the receipt mail was written (which renders every recipient line: ``modtagere.csv``);
- MeMo/s to NgDP: accepted memos per second between the moments 10 % and 90 % of them were accepted
  (NgDP's own ``accepted_at`` times; start-up, planning and the tail left out);
- gateway CPU per MeMo: utime+stime of the gateway process from the moment it is ready until the last memo
  is accepted, divided by N (planning included; the emulators and this process are not counted);
- planning time: from the gateway being ready to the first memo accepted (reading the mail, parsing the
  list, writing N outbox rows).

Kill run: a delivery of ``--kill-n`` (default 100,000; quick 20,000) is started, the gateway is killed with
SIGKILL once ~40 % are accepted at NgDP, started again, and the run waits for the rest and the receipt mail.
Pass: every recipient has exactly one memo at the emulator (counted by recipient and by messageUUID), none
twice, none missing, NgDP refused none, and the receipt mail was written once.

The NgDP emulator's MeMo validation (xmlschema, ~10-100x slower than the gateway's validator, in the
emulator's process) is off unless ``--validate``: with it on the emulator is the bottleneck (the table says
which). Without PostgreSQL (GRAPH_DPG_TEST_POSTGRES_URL, default the local ``test`` database) it exits 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import add_json_option, write_json
from _emulator_host import graph_host, ngdp_host
from chaos import DEFAULT_POSTGRES_URL, isolated_schema, write_env
from scale_bench import CLK_TCK, MAIN, MONITOR, Host, Replica, gateway_yaml, machine_cpu, postgres_problem

from graph_dpg.adapters.store import create_store
from graph_dpg.demo.scenario import mass_recipients

BOX = "massepost@bench.dk"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cpu_s(pid: int) -> float:
    """utime+stime of a process so far, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def vm_hwm_mb(pid: int) -> float:
    """Peak resident set of a live process (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class MassRun:
    """Fresh emulators, a fresh schema and one gateway process."""

    def __init__(self, args: argparse.Namespace, n: int, db_url: str, workdir: Path) -> None:
        self.n = n
        self.cprs = mass_recipients(7, n)
        self.workdir = workdir
        self.graph = Host(
            graph_host, "graph-emulator", mailboxes=[MAIN, MONITOR, BOX], latency=args.latency, seed=1
        )
        self.ngdp = Host(
            ngdp_host,
            "ngdp-emulator",
            workdir=str(workdir),
            latency=args.latency,
            seed=1,
            cprs=self.cprs,
            validate=args.validate,
        )
        create_store(db_url).close()  # migrate before the gateway starts
        (workdir / "gateway.yaml").write_text(gateway_yaml([BOX]), encoding="utf-8")
        info = self.ngdp.info
        write_env(
            workdir,
            {
                "GRAPH_DPG_CREDENTIAL_KIND": "sandbox",
                "GRAPH_DPG_GRAPH_BASE_URL": self.graph.info,
                "GRAPH_DPG_NGDP_BASE_URL": info["base_url"],
                "GRAPH_DPG_NGDP_SYSTEM_ID": info["system_id"],
                "GRAPH_DPG_NGDP_API_TOKEN": info["api_token"],
                "GRAPH_DPG_NGDP_CERTIFICATE_PATH": info["p12"],
                "GRAPH_DPG_NGDP_CERTIFICATE_PASSWORD": info["p12_password"],
                "GRAPH_DPG_NGDP_CA_BUNDLE": info["ca"],
                "GRAPH_DPG_DATABASE_URL": db_url,
                "GRAPH_DPG_LOG_FORMAT": "json",
            },
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPH_DPG_")}
        self.rep = Replica("mass-r1", workdir, env)

    def launch(self) -> float:
        self.rep.start()
        deadline = time.monotonic() + 90
        while not self.rep.ready():
            if self.rep.proc.poll() is not None:
                raise RuntimeError(f"the gateway exited with {self.rep.proc.returncode}; see {self.workdir}")
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway was not ready within 90 s")
            time.sleep(0.2)
        return time.time()

    def accepted(self) -> int:
        return int(self.ngdp.call("accepted_count"))

    def wait_accepted(self, k: int, bound_s: float) -> bool:
        deadline = time.monotonic() + bound_s
        while self.accepted() < k:
            if self.rep.proc.poll() is not None:
                raise RuntimeError(f"the gateway exited with {self.rep.proc.returncode}; see {self.workdir}")
            if time.monotonic() > deadline:
                return False
            time.sleep(0.25)
        return True

    def receipts(self) -> dict[str, int]:
        found: dict[str, int] = self.graph.call("receipts", mailboxes=[BOX, MAIN])
        return found

    def wait_receipt(self, bound_s: float) -> bool:
        deadline = time.monotonic() + bound_s
        while not any(k.startswith("receipt:") for k in self.receipts()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return True

    def stop(self) -> None:
        self.rep.stop()
        self.graph.stop()
        self.ngdp.stop()


def window_rate(times: list[float]) -> float:
    """Accepted per second between the 10 % and the 90 % moments."""
    if len(times) < 10:
        return float("nan")
    lo, hi = times[int(len(times) * 0.1)], times[int(len(times) * 0.9) - 1]
    k = int(len(times) * 0.9) - 1 - int(len(times) * 0.1)
    return k / (hi - lo) if hi > lo else float("inf")


def one_size(args: argparse.Namespace, n: int, db_url: str, workdir: Path) -> dict[str, Any]:
    run = MassRun(args, n, db_url, workdir)
    try:
        run.graph.call("put_mass", mailbox=BOX, cprs=run.cprs)
        ready_at = run.launch()
        cpu0, ngdp0, busy0 = run.rep.cpu_s(), cpu_s(run.ngdp.info["pid"]), machine_cpu()
        ok = run.wait_accepted(n, args.bound)
        hwm_sent = vm_hwm_mb(run.rep.proc.pid)
        cpu = run.rep.cpu_s() - cpu0
        ngdp_cpu = cpu_s(run.ngdp.info["pid"]) - ngdp0
        busy1 = machine_cpu()
        load = os.getloadavg()[0]
        receipt = run.wait_receipt(120)
        hwm = vm_hwm_mb(run.rep.proc.pid)
        check = run.ngdp.call("mass_check")
    finally:
        run.stop()
    times = check.pop("times")
    return {
        "n": n,
        "all_accepted": ok and check["accepted"] == n,
        "receipt": receipt,
        "peak_rss_mb": hwm,
        "peak_rss_sent_mb": hwm_sent,
        "memo_per_s": window_rate(times),
        "cpu_ms_per_memo": 1000 * cpu / n,
        "ngdp_emulator_cpu_ms_per_memo": 1000 * ngdp_cpu / n,
        "machine_busy": (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]),
        "load_avg_1m": load,
        "plan_s": (times[0] - ready_at) if times else float("nan"),
        "total_s": (times[-1] - ready_at) if times else float("nan"),
        "ngdp": check,
    }


def kill_run(args: argparse.Namespace, n: int, db_url: str, workdir: Path) -> dict[str, Any]:
    run = MassRun(args, n, db_url, workdir)
    try:
        run.graph.call("put_mass", mailbox=BOX, cprs=run.cprs)
        run.launch()
        at = int(n * 0.4)
        reached = run.wait_accepted(at, args.bound)
        before = run.accepted()
        os.kill(run.rep.proc.pid, signal.SIGKILL)
        run.rep.proc.wait()
        log(f"SIGKILL at {before:,} of {n:,} accepted; restarting")
        run.rep.start()
        deadline = time.monotonic() + 90
        while not run.rep.ready():
            if time.monotonic() > deadline:
                raise RuntimeError("the restarted gateway was not ready within 90 s")
            time.sleep(0.2)
        ok = run.wait_accepted(n, args.bound)
        receipt = run.wait_receipt(120)
        time.sleep(3)  # a second receipt, if any, would come now
        receipts = run.receipts()
        check = run.ngdp.call("mass_check")
    finally:
        run.stop()
    check.pop("times")
    receipt_mails = {k: v for k, v in receipts.items() if k.startswith("receipt:")}
    passed = (
        reached
        and ok
        and check["accepted"] == n
        and check["recipients"] == n
        and check["recipients_twice"] == 0
        and check["missing"] == 0
        and check["rejected"] == 0
        and receipt
        and list(receipt_mails.values()) == [1]
    )
    return {
        "n": n,
        "killed_at_accepted": before,
        "passed": passed,
        "receipt_mails": receipt_mails,
        "ngdp": check,
    }


def print_table(results: dict[str, Any]) -> None:
    print()
    print(
        f"{'N':>8} {'RSS sent MB':>12} {'peak RSS MB':>12} {'MeMo/s':>8} {'CPU ms/MeMo':>12} "
        f"{'NgDP ms/MeMo':>13} {'plan s':>7} "
        f"{'total s':>8} {'busy':>5} {'load':>5} ok"
    )
    for r in results["sizes"]:
        print(
            f"{r['n']:>8,} {r['peak_rss_sent_mb']:>12.1f} {r['peak_rss_mb']:>12.1f} {r['memo_per_s']:>8.1f} "
            f"{r['cpu_ms_per_memo']:>12.2f} "
            f"{r['ngdp_emulator_cpu_ms_per_memo']:>13.2f} {r['plan_s']:>7.1f} {r['total_s']:>8.1f} "
            f"{r['machine_busy']:>5.0%} {r['load_avg_1m']:>5.1f} {r['all_accepted'] and r['receipt']}"
        )
    print("RSS sent: the gateway's VmHWM when the last memo was accepted; peak RSS: after its receipt mail.")
    print("CPU ms/MeMo: the gateway process (planning included); NgDP ms/MeMo: the emulator's process; busy:")
    print("all cores of the machine over the delivery (other processes included); load: 1-min load average.")
    if "rss_ratio" in results:
        print(
            f"peak RSS ratio {results['rss_ratio_label']}: {results['rss_ratio']:.2f} (when sent: "
            f"{results['rss_sent_ratio']:.2f})"
        )
    k = results.get("kill")
    if k:
        c = k["ngdp"]
        print(
            f"SIGKILL at {k['killed_at_accepted']:,}/{k['n']:,}: accepted {c['accepted']:,}, recipients "
            f"{c['recipients']:,}, twice {c['recipients_twice']}, missing {c['missing']}, duplicate answers "
            f"{c['duplicate_answers']}, refused {c['rejected']}, receipt mails {k['receipt_mails']} -> "
            f"{'PASS' if k['passed'] else 'FAIL'}"
        )
    print(
        f"NgDP emulator validation: {'on' if results['validate'] else 'off'}; latency: "
        f"{results['latency'] or 'none'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", default=None, help="comma-separated N (default 1000,10000,100000)")
    parser.add_argument("--kill-n", type=int, default=None, help="N of the SIGKILL run (0: none)")
    parser.add_argument("--validate", action="store_true", help="the NgDP emulator validates every MeMo")
    parser.add_argument("--latency", default="", help="injected latency in ms, e.g. 200-500 (default none)")
    parser.add_argument("--bound", type=float, default=1800, help="seconds to wait for one delivery")
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    add_json_option(parser)
    args = parser.parse_args(argv)
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else ([1000, 20000] if args.quick else [1000, 10000, 100000])
    )
    kill_n = args.kill_n if args.kill_n is not None else (20000 if args.quick else 100000)
    db_base = os.environ.get("GRAPH_DPG_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    problem = postgres_problem(db_base)
    if problem:
        print(f"mass_bench needs PostgreSQL at {db_base}: {problem}", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="mass-bench-"))
    results: dict[str, Any] = {"sizes": [], "validate": args.validate, "latency": args.latency}
    for n in sizes:
        log(f"mass delivery of {n:,}")
        with isolated_schema(db_base) as db_url:
            work = root / f"n{n}"
            work.mkdir()
            r = one_size(args, n, db_url, work)
        log(
            f"  {r['memo_per_s']:.0f} MeMo/s, peak RSS {r['peak_rss_mb']:.0f} MB, "
            f"{r['cpu_ms_per_memo']:.2f} ms CPU/MeMo"
        )
        results["sizes"].append(r)
    by_n = {r["n"]: r for r in results["sizes"]}
    big, small = max(by_n), sorted(by_n)[-2] if len(by_n) > 1 else None
    if small is not None:
        results["rss_ratio"] = by_n[big]["peak_rss_mb"] / by_n[small]["peak_rss_mb"]
        results["rss_sent_ratio"] = by_n[big]["peak_rss_sent_mb"] / by_n[small]["peak_rss_sent_mb"]
        results["rss_ratio_label"] = f"{big:,} vs {small:,}"
    if kill_n:
        log(f"SIGKILL run of {kill_n:,}")
        with isolated_schema(db_base) as db_url:
            work = root / "kill"
            work.mkdir()
            results["kill"] = kill_run(args, kill_n, db_url, work)
    print_table(results)
    write_json(args.json, results)
    if args.keep:
        print(f"work directories kept in {root}")
    else:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    ok = all(r["all_accepted"] and r["receipt"] for r in results["sizes"])
    return 0 if ok and (not kill_n or results["kill"]["passed"]) else 1


if __name__ == "__main__":
    sys.exit(main())
