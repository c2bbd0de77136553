"""CPU of one Graph request: ``GraphMailbox.get_categories`` against plain GETs of the same URL.

The Graph emulator runs in a process of its own (its CPU is not counted); the bench process measures its
own ``time.process_time()`` over ``--requests`` sequential requests per round, rounds interleaved
(each variant in turn, ``--rounds`` times) because the machine's timings drift. Variants:

- ``adapter``: GraphMailbox over our AiohttpTransport, as the gateway runs it (GraphSender's fast path:
  ``AiohttpTransport.fetch``, no ``httpx.AsyncClient.send``; adapters/graph/sender.py);
- ``adapter_httpx``: GraphMailbox over httpx's own transport (``GRAPH_DPG_HTTP_TRANSPORT=httpx``: the
  client path);
- ``client_aiohttp``: ``httpx.AsyncClient.get`` + ``.json()`` over AiohttpTransport;
- ``plain``: ``httpx.AsyncClient.get`` + ``.json()`` on httpx's own transport;
- ``raw_aiohttp``: ``aiohttp.ClientSession.get`` + ``json.loads``: the floor.

``--profile`` also counts the Python function calls per request (cProfile) of one extra adapter round.

    .venv/bin/python bench/request_cpu_bench.py --requests 500 --rounds 4
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import multiprocessing
import pstats
import statistics
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
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
    from graph_dpg.adapters.http import AiohttpTransport

    url = f"{base_url}/users/{MAILBOX}/messages/{message_id}?$select=categories"
    headers = {"Authorization": f"Bearer {TOKEN}", "Prefer": 'IdType="ImmutableId"'}
    credential = StaticTokenCredential(TOKEN)
    transports = [AiohttpTransport(), httpx.AsyncHTTPTransport(), AiohttpTransport()]
    fast = GraphMailbox(credential, base_url, retry=RetryPolicy.fast(), transport=transports[0])
    slow = GraphMailbox(credential, base_url, retry=RetryPolicy.fast(), transport=transports[1])
    assert fast._sender.fast
    assert not slow._sender.fast
    client_aiohttp = httpx.AsyncClient(transport=transports[2])
    plain = httpx.AsyncClient()
    session = aiohttp.ClientSession()

    def on(mbx: GraphMailbox) -> Callable[[], Awaitable[None]]:
        async def one() -> None:
            assert await mbx.get_categories(MAILBOX, message_id) == []

        return one

    def get(client: httpx.AsyncClient) -> Callable[[], Awaitable[None]]:
        async def one() -> None:
            response = await client.get(url, headers=headers)
            assert response.status_code == 200
            response.json()

        return one

    async def raw() -> None:
        async with session.get(url, headers=headers) as response:
            assert response.status == 200
            json.loads(await response.read())

    variants: dict[str, Callable[[], Awaitable[None]]] = {
        "adapter": on(fast),
        "adapter_httpx": on(slow),
        "client_aiohttp": get(client_aiohttp),
        "plain": get(plain),
        "raw_aiohttp": raw,
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for one in variants.values():  # warm up every variant
            for _ in range(50):
                await one()
        for _ in range(rounds):
            for name, one in variants.items():
                started = time.process_time()
                for _ in range(n):
                    await one()
                results[name].append((time.process_time() - started) * 1000 / n)
        calls = None
        if profile:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(n):
                await variants["adapter"]()
            prof.disable()
            calls = pstats.Stats(prof).total_calls / n  # type: ignore[attr-defined]
    finally:
        await fast.aclose()
        await slow.aclose()
        await client_aiohttp.aclose()
        await plain.aclose()
        await session.close()
        for transport in transports:
            await transport.aclose()
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
