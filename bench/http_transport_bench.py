"""CPU per HTTP request by transport (issue 18): httpx's own transport (httpcore + h11 + anyio) against the
aiohttp-backed httpx transport the Graph and NgDP adapters use by default
(graph_dpg/adapters/http/aiohttp_transport.py), with aiohttp's own client as the floor.

The Graph emulator runs in a process of its own (bench/_emulator_host.py, no injected latency), so
``time.process_time()`` of this process is the client's CPU only. Each variant sends ``--requests`` GETs of
one small Graph resource (a mail folder, as the gateway's poll reads them) over one keep-alive connection,
``--concurrency`` at a time; the variants run interleaved (A B C A B C ...) ``--rounds`` times, so load from
elsewhere on the machine falls on all of them alike, and each variant's best and median round are printed.
``--calls`` also counts Python function calls per request (cProfile over one round; a count, not a time,
so it does not move with the machine's load).

    bench/http_transport_bench.py [--requests 2000] [--rounds 5] [--concurrency 1] [--calls] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
from _common import add_json_option, write_json
from _emulator_host import graph_host
from scale_bench import Host

from graph_dpg.adapters.http import network_transport

MAILBOX = "post@bench.dk"
TOKEN = "sandbox-token"  # the emulator's well-known fake token
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}

Get = Callable[[], Awaitable[int]]


class Variant:
    """One way of sending the GET: opened in the loop, closed after its round."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self._close: Callable[[], Awaitable[None]] | None = None

    async def open(self) -> Get:
        if self.name == "aiohttp-alone":
            session = aiohttp.ClientSession(headers=HEADERS)
            self._close = session.close

            async def get_raw() -> int:
                async with session.get(self.url) as r:
                    await r.read()
                    return r.status

            return get_raw
        client = httpx.AsyncClient(
            headers=HEADERS,
            transport=network_transport("aiohttp" if self.name == "httpx+aiohttp" else "httpx"),
        )
        self._close = client.aclose

        async def get() -> int:
            return (await client.get(self.url)).status_code

        return get

    async def close(self) -> None:
        if self._close is not None:
            await self._close()


async def one_round(variant: Variant, requests: int, concurrency: int, profile: bool) -> tuple[float, int]:
    """CPU seconds per request and function calls per request (0 unless profiled) for one round."""
    get = await variant.open()
    try:
        for _ in range(20):  # connect and warm up outside the measurement
            assert await get() == 200
        per_worker = requests // concurrency

        async def worker() -> None:
            for _ in range(per_worker):
                status = await get()
                if status != 200:
                    raise RuntimeError(f"{variant.name}: HTTP {status}")

        profiler = cProfile.Profile() if profile else None
        start = time.process_time()
        if profiler is not None:
            profiler.enable()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        if profiler is not None:
            profiler.disable()
        cpu = time.process_time() - start
        calls = pstats.Stats(profiler).total_calls if profiler is not None else 0  # type: ignore[attr-defined]
        sent = per_worker * concurrency
        return cpu / sent, round(calls / sent)
    finally:
        await variant.close()


async def run(args: argparse.Namespace, base_url: str) -> dict[str, Any]:
    url = f"{base_url}/users/{MAILBOX}/mailFolders/inbox"
    names = ["httpx", "httpx+aiohttp", "aiohttp-alone"]
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            per_request, _ = await one_round(Variant(name, url), args.requests, args.concurrency, False)
            cpu[name].append(per_request)
    calls: dict[str, int] = {}
    if args.calls:
        for name in names:
            _, calls[name] = await one_round(Variant(name, url), min(args.requests, 500), 1, True)
    return {"cpu_ms": {n: [v * 1000 for v in values] for n, values in cpu.items()}, "calls": calls}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="GETs per variant and round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight per variant")
    parser.add_argument("--calls", action="store_true", help="also count function calls per request")
    add_json_option(parser)
    args = parser.parse_args()

    graph = Host(graph_host, "graph-emulator", mailboxes=[MAILBOX], latency="0", seed=1)
    try:
        results = asyncio.run(run(args, graph.info))
    finally:
        graph.stop()

    ms = results["cpu_ms"]
    summary = {n: {"best": min(v), "median": statistics.median(v)} for n, v in ms.items()}
    print(
        f"CPU per GET, {args.requests} requests x {args.rounds} interleaved rounds, "
        f"concurrency {args.concurrency} (client process only; emulator in its own process):"
    )
    for name, s in summary.items():
        calls = results["calls"].get(name)
        extra = f"  {calls} function calls/request" if calls else ""
        rounds = " ".join(f"{v:.3f}" for v in ms[name])
        print(f"  {name:14s} best {s['best']:.3f} ms  median {s['median']:.3f} ms  [{rounds}]{extra}")
    ratio = summary["httpx+aiohttp"]["median"] / summary["httpx"]["median"]
    print(f"  httpx+aiohttp / httpx (median): {ratio:.2f}")
    write_json(
        args.json,
        {
            "requests": args.requests,
            "rounds": args.rounds,
            "concurrency": args.concurrency,
            "cpu_ms_per_request": ms,
            "summary": summary,
            "ratio_aiohttp_transport_to_httpx": ratio,
            "calls_per_request": results["calls"],
        },
    )


if __name__ == "__main__":
    main()
