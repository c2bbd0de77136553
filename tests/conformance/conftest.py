"""Conformance tests: the Graph emulator and the Graph adapter against what Microsoft documents.

Each test names its source (a file of github.com/microsoftgraph/microsoft-graph-docs-contrib, an issue, or
"inference") in its name or docstring. Nothing here fetches: documented examples are copied into
``graph_examples/`` with their provenance.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.graph.permissions import ALL_ROLES

TOKEN = "sandbox-token"
BASE = "http://127.0.0.1/v1.0"
FUNC = "post@kommune.dk"
OTHER = "byg@kommune.dk"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:msgraph.*")


@pytest.fixture
def tenant() -> GraphTenant:
    # Every emulated permission: these tests cover sending too, which the gateway's table does not require
    # yet (graph_dpg/domain/permissions.py); permissions themselves: graph_emulator/test_permissions.py.
    t = GraphTenant(TOKEN, roles=ALL_ROLES)
    t.add_mailbox(FUNC, "Digital Post")
    t.add_mailbox(OTHER, "Byggesag")
    return t


def make_mailbox(tenant: GraphTenant, **kw: object) -> GraphMailbox:
    kw.setdefault("retry", RetryPolicy.fast())
    return GraphMailbox(
        StaticTokenCredential(TOKEN),
        BASE,
        transport=httpx.ASGITransport(app=create_app(tenant)),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def mbx(tenant: GraphTenant) -> AsyncIterator[GraphMailbox]:
    async with make_mailbox(tenant) as m:
        yield m


@pytest.fixture
async def client(tenant: GraphTenant) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(tenant)),
        base_url=BASE,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as c:
        yield c
