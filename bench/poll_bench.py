"""Polling cost, throughput and latency of the runtime against both emulators (in-process ASGI transports).

Prints, for 100 function mailboxes:

1. idle cost: Graph requests per mailbox per poll cycle once the first (full) delta round is done
   (goal: 1 request per polled folder: one delta call that returns the next deltaLink);
2. throughput: outbound mails → MeMo accepted by NgDP per second, end to end through the real runtime
   (poll, plan, send, receipt mail, categories), with 1 replica on SQLite and with 3 replicas sharing
   PostgreSQL leases (when reachable). All replicas run in this one process and event loop, on one core:
   the 3-replica number shows the cost of coordination (leases, fair shares), not a parallel speed-up;
3. latency from a message appearing in Sent Items to its MeMo accepted (p50/p95) at a 10 s poll interval,
   measured for real on the scheduler (3 poll cycles, ~35 s) with messages arriving at random moments.

Baseline for the ratios: the same measurement's ideal (1 request per folder; poll interval / 2 latency).
Run: ``.venv/bin/python bench/poll_bench.py [--mailboxes 100] [--messages 300] [--skip-latency]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from graph_dpg.bootstrap import Gateway, build_gateway
from graph_dpg.config import load_gateway_text, load_settings
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.demo.scenario import mass_recipients
from graph_dpg.observability import configure_logging
from graph_dpg.runtime import Runtime, RuntimeOptions
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.ngdp import NgdpState

CVR = "12345674"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def gateway_yaml(n: int) -> str:
    boxes = "\n".join(f'  - {{address: fp{i:03d}@bench.dk, cvrs: ["{CVR}"]}}' for i in range(n))
    return (
        f'organisation: {{cvr: "{CVR}", name: Benchby}}\n'
        "main_mailbox: post@bench.dk\nmonitoring_mailbox: drift@bench.dk\n"
        f"function_mailboxes:\n{boxes}\n"
    )


class World:
    def __init__(self, mailboxes: int) -> None:
        self.config = load_gateway_text(gateway_yaml(mailboxes))
        self.tenant = GraphTenant()
        for address in self.config.mailboxes:
            self.tenant.add_mailbox(address)
        self.state = NgdpState(organisation_cvr=CVR)
        self.people = mass_recipients(1, 20_000)
        for cpr in self.people:
            self.state.register(cpr=cpr)
        self.graph_app = create_app(self.tenant)
        self.boxes = [b.address for b in self.config.function_mailboxes]

    def gateway(self, db: str, replica: str, poll_s: int = 1) -> Gateway:
        settings = load_settings(
            env_file=None,
            graph_base_url="http://localhost/v1.0",
            database_url=db,
            replica_id=replica,
            lease_seconds=10,
            outbound_poll_seconds=poll_s,
            receipts_poll_seconds=poll_s,
            inbound_poll_seconds=60,
            poll_jitter_seconds=0,
        )
        return build_gateway(
            settings,
            self.config,
            graph_transport=httpx.ASGITransport(app=self.graph_app),
            ngdp_client=in_process_client(self.state),
        )

    def put(self, count: int, start: int = 0) -> list[tuple[str, datetime]]:
        sent: list[tuple[str, datetime]] = []
        for i in range(start, start + count):
            box = self.boxes[i % len(self.boxes)]
            cpr = self.people[i]
            self.tenant.put_sent_message(
                box, f"Brev {i}", "<p>Hej</p>", to=[("", f"{cpr}@{CVR}.ngdp.digital-post.dk")]
            )
            sent.append((cpr, datetime.now(UTC)))
        return sent


async def idle_cost(mailboxes: int) -> float:
    world = World(mailboxes)
    with tempfile.TemporaryDirectory() as tmp:
        gw = world.gateway(f"sqlite:///{Path(tmp) / 'b.db'}", "idle")
        rt = Runtime(gw, RuntimeOptions(start_http=False))
        await rt.tick()  # first round: full sync per folder, categories
        world.tenant.clear_request_log()
        cycles = 5
        for _ in range(cycles):
            await rt.tick()
        per_box = [world.tenant.count_requests(mailbox=b) / cycles for b in world.boxes]
        await rt.stop()
        await gw.aclose()
    return statistics.mean(per_box)


async def throughput(mailboxes: int, messages: int, replicas: int, db: str) -> float:
    world = World(mailboxes)
    gateways = [world.gateway(db, f"bench-{r}") for r in range(replicas)]
    runtimes = [Runtime(gw, RuntimeOptions(start_http=False)) for gw in gateways]
    for rt in runtimes:  # all replicas see each other before work starts, so the shares are fair
        await rt.heartbeat()
    for rt in runtimes:
        await rt.heartbeat()
    world.put(messages)
    started = time.perf_counter()
    while len(world.state.accepted) < messages:
        await asyncio.gather(*(rt.tick() for rt in runtimes))
        if time.perf_counter() - started > 600:
            raise RuntimeError("throughput run did not finish")
    elapsed = time.perf_counter() - started
    for rt in runtimes:
        await rt.stop()
    for gw in gateways:
        await gw.aclose()
    return messages / elapsed


async def latency(mailboxes: int, poll_s: int = 10, cycles: int = 3) -> tuple[float, float, int]:
    world = World(mailboxes)
    with tempfile.TemporaryDirectory() as tmp:
        gw = world.gateway(f"sqlite:///{Path(tmp) / 'b.db'}", "lat", poll_s=poll_s)
        rt = Runtime(gw, RuntimeOptions(start_http=False, jitter_s=0))
        await rt.start()
        rng = random.Random(3)
        sent: list[tuple[str, datetime]] = []
        index = 0
        end = time.monotonic() + poll_s * cycles
        while time.monotonic() < end:
            await asyncio.sleep(rng.uniform(0.1, 0.6))
            sent += world.put(1, start=index)
            index += 1
        deadline = time.monotonic() + poll_s * 3
        while len(world.state.accepted) < len(sent) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # the emulator's state has no event to wait on
        await rt.stop()
        await gw.aclose()
    accepted = {m.summary.recipient_id: m.accepted_at for m in world.state.accepted}
    waits = sorted((accepted[cpr] - at).total_seconds() for cpr, at in sent if cpr in accepted)
    p50 = statistics.median(waits)
    p95 = waits[min(len(waits) - 1, int(0.95 * len(waits)))]
    return p50, p95, len(waits)


def postgres_schema() -> str | None:
    engine = create_engine(POSTGRES, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # reachable or not is all we need to know
        print(f"(PostgreSQL not reachable, 3-replica run skipped: {type(exc).__name__})")
        return None
    finally:
        engine.dispose()
    return schema


def drop_schema(schema: str) -> None:
    engine = create_engine(POSTGRES, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


async def main(args: argparse.Namespace) -> None:
    configure_logging("console", "ERROR")
    n = args.mailboxes
    cost = await idle_cost(n)
    print(f"idle cost, {n} mailboxes: {cost:.2f} Graph requests per mailbox per poll cycle (goal 1.00)")

    with tempfile.TemporaryDirectory() as tmp:
        one = await throughput(n, args.messages, 1, f"sqlite:///{Path(tmp) / 't.db'}")
    print(
        f"throughput, 1 replica (SQLite):      {one:7.1f} mails → MeMo accepted per second "
        f"({args.messages} mails)"
    )
    schema = postgres_schema()
    if schema is not None:
        try:
            url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
            three = await throughput(n, args.messages, 3, url)
            print(
                f"throughput, 3 replicas (PostgreSQL): {three:7.1f} mails/s "
                f"(ratio to 1 replica: {three / one:.2f}; one process, one core)"
            )
        finally:
            drop_schema(schema)

    if not args.skip_latency:
        p50, p95, count = await latency(n)
        print(
            f"latency Sent Items → MeMo accepted at a 10 s poll interval ({count} mails): "
            f"p50 {p50:.1f} s, p95 {p95:.1f} s (ideal p50 for uniform arrivals: 5.0 s; ratio {p50 / 5.0:.2f})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mailboxes", type=int, default=100)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--skip-latency", action="store_true")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
