"""CPU of one Graph request: ``GraphMailbox.get_categories`` against a plain httpx GET of the same URL.

The Graph emulator runs in a process of its own (its CPU is not counted); the bench process measures its
own ``time.process_time()`` over ``--requests`` sequential requests per round, rounds interleaved
(adapter, plain, adapter, plain, ...) because the machine's timings drift. ``--profile`` also counts the
Python function calls per request (cProfile) of one extra adapter round.

    .venv/bin/python bench/request_cpu_bench.py --requests 500 --rounds 4
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import pstats
import statistics
import time
from multiprocessing.connection import Connection
from typing import Any

import httpx

MAILBOX = "fp000@bench.dk"
TOKEN = "sandbox-token"


def _host(conn: Connection) -> None:
    from graph_dpg.sandbox.graph import GraphTenant, serve

    tenant = GraphTenant(TOKEN, request_budget=10_000_000, request_log_limit=100)
    tenant.add_mailbox(MAILBOX)
    message_id = tenant.put_sent_message(MAILBOX, "Brev", "<p>Hej</p>", to=["a@b.dk"])
    with serve(tenant) as base_url:
        conn.send((base_url, message_id))
        conn.recv()


async def _measure(base_url: str, message_id: str, n: int, rounds: int, profile: bool) -> dict[str, Any]:
    from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential

    results: dict[str, list[float]] = {"adapter": [], "plain": []}
    async with GraphMailbox(StaticTokenCredential(TOKEN), base_url, retry=RetryPolicy.fast()) as mbx:
        url = f"{base_url}/users/{MAILBOX}/messages/{message_id}?$select=categories"
        headers = {"Authorization": f"Bearer {TOKEN}", "Prefer": 'IdType="ImmutableId"'}
        async with httpx.AsyncClient() as plain:

            async def adapter_round() -> None:
                for _ in range(n):
                    await mbx.get_categories(MAILBOX, message_id)

            async def plain_round() -> None:
                for _ in range(n):
                    response = await plain.get(url, headers=headers)
                    assert response.status_code == 200
                    response.json()

            await adapter_round()  # warm up both
            await plain_round()
            for _ in range(rounds):
                for name, run in (("adapter", adapter_round), ("plain", plain_round)):
                    started = time.process_time()
                    await run()
                    results[name].append((time.process_time() - started) * 1000 / n)
            calls = None
            if profile:
                prof = cProfile.Profile()
                prof.enable()
                await adapter_round()
                prof.disable()
                calls = pstats.Stats(prof).total_calls / n  # type: ignore[attr-defined]
    return {
        "ms_per_request": {k: [round(v, 3) for v in vs] for k, vs in results.items()},
        "median_ms": {k: round(statistics.median(vs), 3) for k, vs in results.items()},
        "adapter_calls_per_request": calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    host = ctx.Process(target=_host, args=(theirs,), daemon=True)
    host.start()
    try:
        base_url, message_id = ours.recv()
        out = asyncio.run(_measure(base_url, message_id, args.requests, args.rounds, args.profile))
    finally:
        ours.send("stop")
        host.join(timeout=10)
    print(out)


if __name__ == "__main__":
    main()
