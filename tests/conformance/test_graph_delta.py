"""Message delta: query options and the expired state token.

Sources: concepts/delta-query-messages.md ("Use query parameters in a delta query for messages": only
$select, $top, $expand, $filter on receivedDateTime ge|gt, $orderby=receivedDateTime desc, the custom option
changeType; "There is no support for $search"; "Optional request header": Prefer odata.maxpagesize) and
concepts/delta-query-overview.md (an expired token: 410 Gone, or another 4xx whose code is
syncStateNotFound; the client starts over).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from graph_dpg.sandbox.graph import GraphTenant
from tests.integration.outbound.harness import CITIZEN, MAILBOX, Harness, make_harness

from .conftest import FUNC, make_mailbox

DELTA = f"/users/{FUNC}/mailFolders/inbox/messages/delta"


@pytest.mark.parametrize(
    "query",
    [
        "$select=subject,isRead",
        "$top=2",
        "$expand=attachments",
        "$filter=receivedDateTime ge 2020-01-01T00:00:00Z",
        "$filter=receivedDateTime gt 2020-01-01T00:00:00Z&$orderby=receivedDateTime desc",
        "changeType=created",
        "changeType=updated",
        "changeType=deleted",
    ],
)
async def test_delta_query_messages_md_supported_options(
    tenant: GraphTenant, client: httpx.AsyncClient, query: str
) -> None:
    tenant.deliver_to_inbox(FUNC, "Hej", "<p>x</p>")
    r = await client.get(f"{DELTA}?{query}")
    assert r.status_code == 200, r.text
    assert "@odata.deltaLink" in r.json() or "@odata.nextLink" in r.json()


@pytest.mark.parametrize(
    "query",
    [
        "$search=hej",  # "There is no support for $search"
        "$skip=1",
        "$count=true",
        "$orderby=subject",
        "$orderby=receivedDateTime asc",
        "$filter=subject eq 'Hej'",
        "changeType=moved",
        "$top=0",
        "foo=bar",
    ],
)
async def test_delta_query_messages_md_anything_else_is_400(client: httpx.AsyncClient, query: str) -> None:
    r = await client.get(f"{DELTA}?{query}")
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] and error["message"] and "request-id" in error["innerError"]


async def test_delta_query_messages_md_prefer_maxpagesize_pages(
    tenant: GraphTenant, client: httpx.AsyncClient
) -> None:
    for i in range(3):
        tenant.deliver_to_inbox(FUNC, f"Hej {i}", "<p>x</p>")
    r = await client.get(DELTA, headers={"Prefer": "odata.maxpagesize=2"})
    body = r.json()
    assert len(body["value"]) == 2 and "@odata.nextLink" in body and "@odata.deltaLink" not in body
    assert "odata.maxpagesize=2" in r.headers["Preference-Applied"]


SYNC_STATE_ANSWERS = [(410, "syncStateNotFound"), (400, "SyncStateNotFound"), (404, "syncStateNotFound")]


@pytest.mark.parametrize(("status", "code"), SYNC_STATE_ANSWERS)
async def test_delta_query_overview_md_expired_token_restarts_the_delta(
    tenant: GraphTenant, status: int, code: str
) -> None:
    """410 Gone or another 4xx with code syncStateNotFound (any case): the adapter starts a full sync."""
    tenant.sync_state_status, tenant.sync_state_code = status, code
    ids = [tenant.deliver_to_inbox(FUNC, f"Hej {i}", "<p>x</p>") for i in range(3)]
    async with make_mailbox(tenant) as mbx:
        first = await mbx.read_delta(FUNC, "inbox", None)
        tenant.expire_delta_tokens()
        again = await mbx.read_delta(FUNC, "inbox", first.delta_link)
    assert again.resynced
    assert sorted(m.id or "" for m in again.messages) == sorted(ids)
    refused = [r for r in tenant.request_log if r.endpoint == "messages.delta" and r.status >= 400]
    assert [r.status for r in refused] == [status]


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = await make_harness(db_url)
    async with harness.mailbox:
        yield harness
    harness.store.close()


@pytest.mark.parametrize(("status", "code"), SYNC_STATE_ANSWERS[:2])
async def test_delta_query_overview_md_resync_sends_nothing_twice(h: Harness, status: int, code: str) -> None:
    """The full resync replays every message of the folder; the outbound service makes one job per
    (mailbox, message) and NgDP gets each memo once (services/outbound.py: create_job ignores a known one)."""
    h.tenant.sync_state_status, h.tenant.sync_state_code = status, code
    h.send("Brev", [f"{CITIZEN}@29189846.ngdp.digital-post.dk"])
    await h.cycle(2)
    h.tenant.expire_delta_tokens()
    await h.cycle(2)
    assert h.accepted_recipients() == [CITIZEN]
    assert h.ngdp.duplicate_count == 0
    assert len(h.receipts(MAILBOX)) == 1
    assert h.tenant.count_requests(mailbox=MAILBOX, endpoint="messages.delta", status=status) == 1
