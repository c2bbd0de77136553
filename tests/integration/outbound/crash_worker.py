"""A gateway process for the crash test: the outbound service on the real adapters, polling until killed.

Run by ``test_crash_safety.py`` as ``python crash_worker.py GRAPH_URL NGDP_URL SYSTEM_ID TOKEN DB_URL``; the
test SIGKILLs it at random moments and starts it again. It is deliberately the same wiring as the service:
GraphMailbox (msgraph-sdk pipeline) over loopback, NgdpClient over loopback, SqlStore.
"""

from __future__ import annotations

import asyncio
import sys

from graph_dpg.adapters.digital_post import NgdpClient
from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.adapters.store import create_store
from graph_dpg.services.outbound import OutboundService

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from harness import TOKEN, settings


async def main(graph_url: str, ngdp_url: str, system_id: str, api_token: str, db_url: str) -> None:
    store = create_store(db_url)
    mailbox = GraphMailbox(StaticTokenCredential(TOKEN), graph_url, retry=RetryPolicy.fast())
    ngdp = NgdpClient(ngdp_url, system_id, api_token, backoff_base=0.01, backoff_max=0.05, read_timeout=2.0)
    service = OutboundService(mailbox, ngdp, store, settings(send_concurrency=8))
    async with mailbox, ngdp:
        while True:
            await service.run_once()
            await service.pull_business_receipts()
            await service.apply_business_receipts()
            await service.run_effects()
            print("cycle", flush=True)
            await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
