"""Arbitrary JSON bodies against the write endpoints: always a Graph-shaped 2xx/4xx, never a 500."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.graph.permissions import ALL_ROLES

from .conftest import FUNC, TOKEN

KEYS = st.sampled_from(
    [
        "subject",
        "body",
        "toRecipients",
        "from",
        "categories",
        "isRead",
        "singleValueExtendedProperties",
        "internetMessageHeaders",
        "attachments",
        "flag",
        "importance",
        "emailAddress",
        "id",
        "value",
        "name",
        "contentBytes",
        "destinationId",
        "message",
        "displayName",
        "color",
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)

tenant = GraphTenant(TOKEN, roles=ALL_ROLES)
tenant.add_mailbox(FUNC)
MID = tenant.deliver_to_inbox(FUNC, "fuzz", "<p>x</p>")
APP = create_app(tenant)


def send(method: str, path: str, body: dict[str, Any]) -> httpx.Response:
    async def run() -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), headers=headers) as c:
            return await c.request(method, "http://localhost/v1.0" + path, json=body)

    return asyncio.run(run())


TARGETS = [
    ("POST", f"/users/{FUNC}/mailFolders/inbox/messages"),
    ("PATCH", f"/users/{FUNC}/messages/{MID}"),
    ("POST", f"/users/{FUNC}/messages/{MID}/move"),
    ("POST", f"/users/{FUNC}/messages/{MID}/attachments"),
    ("POST", f"/users/{FUNC}/sendMail"),
    ("POST", f"/users/{FUNC}/outlook/masterCategories"),
    ("POST", f"/users/{FUNC}/mailFolders"),
    ("POST", "/$batch"),
]


@settings(max_examples=settings.default.max_examples * 6 // 5)
@given(target=st.sampled_from(TARGETS), body=st.dictionaries(KEYS, JSON, max_size=5))
def test_write_endpoints_never_fail_with_500(target: tuple[str, str], body: dict[str, Any]) -> None:
    method, path = target
    r = send(method, path, body)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert set(r.json()["error"]) >= {"code", "message", "innerError"}
