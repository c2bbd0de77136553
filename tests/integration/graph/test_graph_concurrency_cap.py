"""The app-wide cap on Graph requests in flight (GRAPH_DPG_GRAPH_MAX_CONCURRENCY) against the emulator
enforcing the per-app reading of Outlook's concurrency limit (concepts/throttling-limits.md at commit
01351749: "Limits per app ID: Outlook can execute up to 4 concurrent requests ... regardless of whether the
requests all access the same mailbox, or access different mailboxes")."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.sandbox.graph import GraphTenant, create_app

TOKEN = "sandbox-token"
BASE = "http://localhost/v1.0"
MAILBOXES = [f"funktion{i:02d}@kommune.dk" for i in range(8)]
FOLDER = "Inbox/Digital Post"


def per_app_tenant(limit: int) -> GraphTenant:
    # The emulator takes a little while per request, as Graph does, so a burst overlaps.
    tenant = GraphTenant(TOKEN, concurrency_scope="app", max_concurrency=limit, latency=0.05)
    for address in MAILBOXES:
        tenant.add_mailbox(address)
    return tenant


def gateway(tenant: GraphTenant, max_concurrency: int | None) -> GraphMailbox:
    return GraphMailbox(
        StaticTokenCredential(TOKEN),
        BASE,
        transport=httpx.ASGITransport(app=create_app(tenant)),
        max_concurrency=max_concurrency,
        # Retries honour the emulator's Retry-After; enough of them for every request to get through.
        retry=RetryPolicy(max_retries=10, base_delay=0.0, backoff_factor=0.01, jitter=0.0),
    )


async def burst(mbx: GraphMailbox) -> list[str]:
    """A folder created in every mailbox at once: 3 requests each (GET inbox, GET children, POST)."""
    return await asyncio.gather(*(mbx.ensure_folder(address, FOLDER) for address in MAILBOXES))


def folders_named(tenant: GraphTenant, address: str) -> int:
    mb = tenant.mailbox(address)
    return sum(1 for f in mb.folders.values() if f.display_name == "Digital Post")


async def test_cap_matching_the_per_app_limit_gets_no_429() -> None:
    tenant = per_app_tenant(4)
    async with gateway(tenant, max_concurrency=4) as mbx:
        ids = await burst(mbx)
    assert len(set(ids)) == len(MAILBOXES)
    assert tenant.count_requests(status=429) == 0
    assert tenant.count_requests() == 3 * len(MAILBOXES)
    assert all(folders_named(tenant, a) == 1 for a in MAILBOXES)


async def test_cap_too_high_meets_429_which_is_retried_and_nothing_is_lost() -> None:
    tenant = per_app_tenant(4)
    async with gateway(tenant, max_concurrency=None) as mbx:  # only the per-mailbox cap of 4
        ids = await burst(mbx)
    throttled = tenant.count_requests(status=429)
    assert throttled > 0
    for entry in tenant.request_log:
        if entry.status == 429:
            assert entry.endpoint in ("mailFolders.get", "childFolders.list", "childFolders.create")
    # Every request was retried to success: one folder per mailbox, none twice, none missing.
    assert len(set(ids)) == len(MAILBOXES)
    assert all(folders_named(tenant, a) == 1 for a in MAILBOXES)
    assert tenant.count_requests() - throttled == 3 * len(MAILBOXES)


async def test_per_mailbox_reading_is_still_enforced_by_default() -> None:
    tenant = GraphTenant(TOKEN)
    assert tenant.concurrency_scope == "mailbox"
    with pytest.raises(ValueError, match="concurrency_scope"):
        GraphTenant(TOKEN, concurrency_scope="tenant")


def test_cap_must_be_positive() -> None:
    tenant = GraphTenant(TOKEN)
    with pytest.raises(ValueError, match="max_concurrency"):
        GraphMailbox(
            StaticTokenCredential(TOKEN),
            BASE,
            transport=httpx.ASGITransport(app=create_app(tenant)),
            max_concurrency=0,
        )
