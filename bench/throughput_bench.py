"""Outbound throughput against the number of function mailboxes (docs/benchmarks-throughput.png).

For each mailbox count, the same number of mails is spread round-robin over the mailboxes' Sent Items and the
real runtime (poll, plan, send to NgDP, receipt mail, categories) is ticked until NgDP has accepted every
MeMo, with the machinery of ``bench/poll_bench.py`` (both emulators in-process, ASGI transports, one event
loop). The clock starts before the first tick, so each point includes that tick's one-off work per mailbox
(master categories, the first full delta round): the cost a fresh replica pays for the mailboxes it owns.

Rows: 1 replica on SQLite, and 3 replicas sharing PostgreSQL leases when 127.0.0.1:5432/test is reachable.
All replicas share this one process and core, so 3 replicas shows the price of coordination, not a speed-up.
Baseline for the ratios: the 1-mailbox run of the same row.

    python bench/throughput_bench.py [--mailboxes 1,10,30,100] [--messages 150] [--replicas 1,3] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import add_json_option, write_json
from poll_bench import POSTGRES, World, drop_schema, postgres_schema

from graph_dpg.observability import configure_logging
from graph_dpg.runtime import Runtime, RuntimeOptions


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


async def measure(mailboxes: int, messages: int, replicas: int, db: str) -> tuple[float, float]:
    """(wall s, CPU s) from the first tick until NgDP accepted every MeMo; same steps as poll_bench."""
    world = World(mailboxes)
    gateways = [world.gateway(db, f"curve-{r}") for r in range(replicas)]
    runtimes = [Runtime(gw, RuntimeOptions(start_http=False)) for gw in gateways]
    for _ in range(2):  # every replica sees the others before work starts, so the shares are fair
        for rt in runtimes:
            await rt.heartbeat()
    world.put(messages)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while len(world.state.accepted) < messages:
        await asyncio.gather(*(rt.tick() for rt in runtimes))
        if time.perf_counter() - wall0 > 600:
            raise RuntimeError(f"{mailboxes} mailboxes, {replicas} replicas: did not finish in 600 s")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    for rt in runtimes:
        await rt.stop()
    for gw in gateways:
        await gw.aclose()
    return wall, cpu


async def point(mailboxes: int, messages: int, replicas: int) -> dict[str, Any] | None:
    if replicas == 1:
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu = await measure(mailboxes, messages, 1, f"sqlite:///{Path(tmp) / 't.db'}")
    else:
        schema = postgres_schema()
        if schema is None:
            return None
        try:
            url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
            wall, cpu = await measure(mailboxes, messages, replicas, url)
        finally:
            drop_schema(schema)
    return {
        "mailboxes": mailboxes,
        "messages": messages,
        "replicas": replicas,
        "wall_s": wall,
        "cpu_s": cpu,
        "msgs_per_s": messages / wall,
        # Mails per CPU-second of this process: what one free core would do, whatever else the machine runs.
        "msgs_per_cpu_s": messages / cpu if cpu > 0 else 0.0,
    }


async def main(args: argparse.Namespace) -> None:
    configure_logging("console", "ERROR")
    results: dict[str, Any] = {"messages": args.messages, "points": []}
    for replicas in _counts(args.replicas):
        database = "SQLite" if replicas == 1 else "PostgreSQL"
        for mailboxes in _counts(args.mailboxes):
            row = await point(mailboxes, args.messages, replicas)
            if row is None:
                break
            results["points"].append(row)
            print(
                f"{replicas} replica(s) ({database}), {mailboxes:4d} mailboxes, {args.messages} mails: "
                f"{row['msgs_per_s']:7.1f} mails → MeMo accepted per second wall, "
                f"{row['msgs_per_cpu_s']:7.1f} per CPU second",
                flush=True,
            )
    write_json(args.json, results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mailboxes", default="1,10,30,100", help="comma-separated mailbox counts")
    parser.add_argument("--messages", type=int, default=150, help="mails per point")
    parser.add_argument(
        "--replicas", default="1,3", help="comma-separated replica counts (>1 needs PostgreSQL)"
    )
    add_json_option(parser)
    asyncio.run(main(parser.parse_args()))
