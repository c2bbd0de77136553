"""Inbound memos on several replicas (issue 18): the NgDP pull with 1 vs 4 fetches at once, and delivery +
acknowledgement by 1 vs 2 pipelines that claim memos from one database.

Each run: fresh emulators (in-process), a fresh database (a PostgreSQL schema of its own, or a SQLite file
with ``--sqlite``), N memos queued at NgDP. Latency is injected as in ``bench/scale_bench.py`` (a benchmark
aid, not emulated behaviour: neither Microsoft nor NgDP publishes response times): Graph 100-300 ms per
request (the emulator's ``injected_latency``), NgDP 200-500 ms per call (list, get, receipt, delete: a
wrapper around the client here, the emulator only delays sends).

Printed per run: pull seconds (the ``ngdp:memos`` holder's part), then delivery + acknowledgement seconds
and how many memos each pipeline delivered. Exactly-once is checked, not assumed: one marked message per
memo in the Graph emulator (the JSON says ``"exactly_once": true`` only after that check passed).
Without ``--sqlite`` and without a reachable PostgreSQL it prints "inbound_replicas_bench needs PostgreSQL"
and exits 2 (bench/run_all reports that as not run).

    python bench/inbound_replicas_bench.py [--memos 60] [--sqlite] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit" / "inbound"))
from _common import add_json_option, write_json
from chaos import DEFAULT_POSTGRES_URL, isolated_schema
from inbound_memos import CP_BYG, ORG_CVR, citizen_memo
from scale_bench import postgres_problem
from sqlalchemy.engine import make_url

from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.adapters.store import create_store
from graph_dpg.bootstrap.rules import inbound_settings
from graph_dpg.config import load_gateway_text
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.latency import InjectedLatency
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.services.inbound import MEMO_PROPERTY, InboundService, InboundStats

TOKEN = "bench-token"
MAIN = "post@kommune.dk"
BYG = "byg@kommune.dk"
GATEWAY_FILE = f"""
organisation: {{cvr: "{ORG_CVR}", name: Bench Kommune}}
main_mailbox: {MAIN}
monitoring_mailbox: it@kommune.dk
function_mailboxes:
  - address: {BYG}
    sender_contact_points: [{CP_BYG}]
contact_points:
  - {{id: {CP_BYG}, name: Byggesager, mailbox: {BYG}}}
"""
GRAPH_LATENCY = "100-300"
NGDP_LATENCY = (0.2, 0.5)


class SlowNgdp:
    """The NgDP client with 200-500 ms added to each call the inbound side makes (a benchmark aid)."""

    def __init__(self, inner: Any, seed: int) -> None:
        self._inner = inner
        self._rng = random.Random(seed)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in ("list_memos", "get_memo", "send_memo_receipt", "delete_memo"):
            return attr

        async def slow(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(self._rng.uniform(*NGDP_LATENCY))
            return await attr(*args, **kwargs)

        return slow


def markers(tenant: GraphTenant) -> Counter[str]:
    found: Counter[str] = Counter()
    for mailbox in (MAIN, BYG):
        for message in tenant.messages(mailbox):
            for prop in message.get("singleValueExtendedProperties", []):
                if prop["id"].endswith(f"Name {MEMO_PROPERTY}"):
                    found[prop["value"]] += 1
    return found


async def one_run(db_url: str, memos: int, pipelines: int, pull_concurrency: int) -> dict[str, Any]:
    tenant = GraphTenant(TOKEN)
    tenant.injected_latency = InjectedLatency.parse(GRAPH_LATENCY, seed=pipelines)
    for address in (MAIN, BYG, "it@kommune.dk"):
        tenant.add_mailbox(address)
    ngdp = NgdpState(organisation_cvr=ORG_CVR, organisation_name="Bench Kommune")
    for n in range(memos):
        ngdp.queue_inbound_memo(citizen_memo(label=f"Sag {n}", contact_point=CP_BYG)[1])
    settings = inbound_settings(load_gateway_text(GATEWAY_FILE))
    with ExitStack() as closing:
        async with AsyncExitStack() as stack:
            services = []
            for i in range(pipelines):
                store = create_store(db_url, replica=f"bench-{i}")
                closing.callback(store.close)
                graph = await stack.enter_async_context(
                    GraphMailbox(
                        StaticTokenCredential(TOKEN),
                        "http://127.0.0.1/v1.0",
                        transport=httpx.ASGITransport(app=create_app(tenant)),
                        retry=RetryPolicy.fast(),
                    )
                )
                ngdp_client = SlowNgdp(in_process_client(ngdp), seed=i)
                service = InboundService(graph, ngdp_client, store, settings, claim_owner=f"bench-{i}")  # type: ignore[arg-type]
                service.memos.pull_concurrency = pull_concurrency
                services.append(service)
            started = time.perf_counter()
            pulled = InboundStats()
            await services[0].memos.pull(pulled)
            pull_s = time.perf_counter() - started
            started = time.perf_counter()
            results = await asyncio.gather(*(s.deliver_claimed() for s in services))
            deliver_s = time.perf_counter() - started
    found = markers(tenant)
    assert pulled.pulled == memos, pulled
    assert len(found) == memos, "a memo not delivered"
    assert set(found.values()) == {1}, "a memo delivered twice"
    assert sum(r.acknowledged for r in results) == memos
    return {
        "pipelines": pipelines,
        "pull_concurrency": pull_concurrency,
        "pull_s": round(pull_s, 2),
        "deliver_ack_s": round(deliver_s, 2),
        "delivered_each": [r.delivered for r in results],
        "errors": sum(len(r.errors) for r in results),
    }


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--memos", type=int, default=60)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--database-url", default=None, help="PostgreSQL base URL (a schema is made per run)")
    add_json_option(parser)
    args = parser.parse_args()
    base = args.database_url or os.environ.get("GRAPH_DPG_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    if not args.sqlite and (problem := postgres_problem(base)) is not None:
        shown = make_url(base).render_as_string(hide_password=True)
        print(f"inbound_replicas_bench needs PostgreSQL (or --sqlite) and cannot reach {shown}: {problem}")
        return 2
    runs = []
    for pipelines, concurrency in ((1, 1), (1, 4), (2, 4)):
        with ExitStack() as stack:
            if args.sqlite:
                folder = stack.enter_context(tempfile.TemporaryDirectory())
                db_url = f"sqlite:///{folder}/state.db"
            else:
                db_url = stack.enter_context(isolated_schema(base))
            result = await one_run(db_url, args.memos, pipelines, concurrency)
        runs.append(result)
        print(
            f"{args.memos} memos, {pipelines} pipeline(s), pull {concurrency} at once: "
            f"pull {result['pull_s']:.1f} s, deliver+ack {result['deliver_ack_s']:.1f} s, "
            f"delivered per pipeline {result['delivered_each']}, errors {result['errors']}"
        )
    results = {
        "database": "sqlite" if args.sqlite else "postgresql",
        "memos": args.memos,
        "graph_latency_ms": GRAPH_LATENCY,
        "ngdp_latency_ms": f"{NGDP_LATENCY[0] * 1000:.0f}-{NGDP_LATENCY[1] * 1000:.0f}",
        "exactly_once": True,  # one_run asserts one marked message per memo, so reaching here means it held
        "runs": runs,
    }
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
