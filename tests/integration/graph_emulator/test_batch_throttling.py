"""$batch, per-mailbox throttling, fault injection and the request log."""

from __future__ import annotations

import asyncio
import base64

import httpx

from graph_dpg.sandbox.graph import Fault, GraphTenant, slow, throttle, unavailable

from .conftest import FUNC, OTHER, make_client


async def test_batch_depends_on_and_per_member_results(
    client: httpx.AsyncClient, tenant: GraphTenant
) -> None:
    mid = tenant.deliver_to_inbox(FUNC, "batch", "<p>x</p>")
    body = {
        "requests": [
            {"id": "1", "method": "GET", "url": f"/users/{FUNC}/messages/{mid}?$select=subject"},
            {
                "id": "2",
                "method": "PATCH",
                "url": f"/users/{FUNC}/messages/{mid}",
                "headers": {"Content-Type": "application/json"},
                "body": {"categories": ["Digital Post"]},
                "dependsOn": ["1"],
            },
            {"id": "3", "method": "GET", "url": f"users/{FUNC}/messages/not-an-id", "dependsOn": ["2"]},
            {"id": "4", "method": "GET", "url": f"/users/{FUNC}/messages/{mid}", "dependsOn": ["3"]},
            {"id": "5", "method": "GET", "url": f"/users/{FUNC}/messages/{mid}/$value"},
        ]
    }
    r = await client.post("/$batch", json=body)
    assert r.status_code == 200
    by_id = {m["id"]: m for m in r.json()["responses"]}
    assert by_id["1"]["status"] == 200
    assert by_id["1"]["body"]["subject"] == "batch"
    assert by_id["2"]["status"] == 200
    assert by_id["2"]["body"]["categories"] == ["Digital Post"]
    assert by_id["3"]["status"] == 400
    assert by_id["3"]["body"]["error"]["code"] == "ErrorInvalidIdMalformed"
    assert by_id["4"]["status"] == 424
    assert b"Subject: batch" in base64.b64decode(by_id["5"]["body"])
    assert tenant.message(FUNC, mid)["categories"] == ["Digital Post"]
    assert tenant.count_requests(endpoint="messages.update", mailbox=FUNC) == 1


async def test_batch_limit_is_20(client: httpx.AsyncClient) -> None:
    reqs = [{"id": str(i), "method": "GET", "url": f"/users/{FUNC}"} for i in range(21)]
    r = await client.post("/$batch", json={"requests": reqs})
    assert r.status_code == 400
    r = await client.post("/$batch", json={"requests": reqs[:20]})
    assert r.status_code == 200
    assert {m["status"] for m in r.json()["responses"]} == {200}


async def test_more_than_four_concurrent_requests_per_mailbox_get_429(tenant: GraphTenant) -> None:
    tenant.faults.add_rate(1.0, slow(0.5), path=r"/mailFolders/inbox/messages$")
    async with make_client(tenant) as client:
        url = f"/users/{FUNC}/mailFolders/inbox/messages"
        results = await asyncio.gather(*(client.get(url) for _ in range(6)))
        other = await client.get(f"/users/{OTHER}/mailFolders/sentitems/messages")
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 200, 200, 200, 429, 429]
    throttled = next(r for r in results if r.status_code == 429)
    assert throttled.json()["error"]["code"] == "ApplicationThrottled"
    assert "MailboxConcurrency" in throttled.json()["error"]["message"]
    assert throttled.headers["Retry-After"]
    # Another mailbox is not affected (limits are per app and mailbox).
    assert other.status_code == 200
    assert tenant.count_requests(mailbox=FUNC, status=429) == 2


async def test_request_budget_per_window(tenant: GraphTenant) -> None:
    now = [1000.0]
    tenant.clock = lambda: now[0]
    tenant.request_budget, tenant.budget_window = 3, 60.0
    async with make_client(tenant) as client:
        url = f"/users/{FUNC}/mailFolders/inbox/messages"
        statuses = [(await client.get(url)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        r = await client.get(url)
        assert r.headers["Retry-After"] == "60"
        assert (await client.get(f"/users/{OTHER}/messages")).status_code == 200
        now[0] += 61
        assert (await client.get(url)).status_code == 200


async def test_upload_bytes_budget(tenant: GraphTenant) -> None:
    tenant.upload_budget = 3000
    mid = tenant.deliver_to_inbox(FUNC, "x", "<p>x</p>")
    async with make_client(tenant) as client:
        url = f"/users/{FUNC}/messages/{mid}"
        body = {"categories": ["x" * 1000]}
        statuses = [(await client.patch(url, json=body)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        r = await client.patch(url, json=body)
        assert "IncomingBytes" in r.json()["error"]["message"]
        assert (await client.get(url)).status_code == 200  # reads are not uploads


async def test_injected_faults_by_script_and_rate(tenant: GraphTenant) -> None:
    tenant.faults.script("GET", r"/messages$", unavailable(), throttle(2.5), Fault(status=504))
    async with make_client(tenant) as client:
        url = f"/users/{FUNC}/mailFolders/inbox/messages"
        r1, r2, r3, r4 = [await client.get(url) for _ in range(4)]
        assert r1.status_code == 503
        assert r1.json()["error"]["code"] == "ServiceUnavailable"
        assert (r2.status_code, r2.headers["Retry-After"]) == (429, "2.5")
        assert r3.status_code == 504
        assert r4.status_code == 200

        tenant.faults.seed(7)
        tenant.faults.add_rate(0.5, unavailable(), path=r"/users/")
        statuses = [(await client.get(url)).status_code for _ in range(200)]
        assert 60 < statuses.count(503) < 140
        assert set(statuses) == {200, 503}


async def test_fault_after_effect_is_an_ambiguous_outcome(tenant: GraphTenant) -> None:
    mid = tenant.deliver_to_inbox(FUNC, "x", "<p>x</p>")
    tenant.faults.script("PATCH", r"/messages/", Fault(status=504, after=True))
    async with make_client(tenant) as client:
        r = await client.patch(f"/users/{FUNC}/messages/{mid}", json={"categories": ["A"]})
    assert r.status_code == 504
    assert tenant.message(FUNC, mid)["categories"] == ["A"]


async def test_request_log_counts_per_mailbox_and_endpoint(
    client: httpx.AsyncClient, tenant: GraphTenant
) -> None:
    tenant.clear_request_log()
    await client.get(f"/users/{FUNC}/mailFolders/sentitems/messages/delta")
    await client.get(f"/users/{FUNC}/mailFolders/sentitems/messages/delta")
    await client.get(f"/users/{OTHER}/mailFolders/inbox/messages")
    assert tenant.count_requests(mailbox=FUNC, endpoint="messages.delta") == 2
    assert tenant.count_requests(mailbox=OTHER) == 1
    entry = tenant.request_log[-1]
    assert (entry.method, entry.endpoint, entry.mailbox, entry.status) == ("GET", "messages.list", OTHER, 200)
