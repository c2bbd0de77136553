"""Fixtures: a seeded tenant and an in-process httpx client bound to the emulator's ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.graph.permissions import ALL_ROLES

BASE = "http://graph.local/v1.0"
TOKEN = "sandbox-token"
FUNC = "post@kommune.dk"
OTHER = "byg@kommune.dk"


@pytest.fixture
def tenant() -> GraphTenant:
    # Every role: these tests exercise endpoints the gateway does not use (sendMail, /users).
    t = GraphTenant(TOKEN, roles=ALL_ROLES)
    t.add_mailbox(FUNC, "Digital Post")
    t.add_mailbox(OTHER, "Byggesag")
    return t


def make_client(tenant: GraphTenant, token: str | None = TOKEN) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(tenant)), base_url=BASE, headers=headers, timeout=30
    )


@pytest.fixture
async def client(tenant: GraphTenant) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(tenant) as c:
        yield c
