"""Delta query on a mail folder, pinned to learn.microsoft.com/graph/delta-query-messages."""

from __future__ import annotations

from typing import Any

import httpx

from graph_dpg.sandbox.graph import GraphTenant

from .conftest import BASE, FUNC

PAGE = {"Prefer": 'odata.maxpagesize=2, IdType="ImmutableId"'}


async def _round(client: httpx.AsyncClient, url: str, **params: str) -> tuple[list[dict[str, Any]], str, int]:
    """Follow nextLinks until the deltaLink; return the items, the deltaLink and the number of pages."""
    items: list[dict[str, Any]] = []
    pages = 0
    r = await client.get(url, params=params or None, headers=PAGE)
    while True:
        assert r.status_code == 200, r.text
        page = r.json()
        pages += 1
        assert not ("@odata.nextLink" in page and "@odata.deltaLink" in page)
        assert len(page["value"]) <= 2
        items += page["value"]
        if "@odata.deltaLink" in page:
            return items, page["@odata.deltaLink"], pages
        assert page["@odata.nextLink"].startswith(BASE)
        assert "$skiptoken=" in page["@odata.nextLink"]
        r = await client.get(page["@odata.nextLink"], headers=PAGE)


async def test_delta_pages_and_rounds(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    ids = [tenant.put_sent_message(FUNC, f"m{i}", "<p>x</p>", to=["a@example.org"]) for i in range(5)]
    url = f"/users/{FUNC}/mailFolders/sentitems/messages/delta"
    items, delta_link, pages = await _round(client, url, changeType="created", **{"$select": "subject,from"})
    assert pages == 3
    assert sorted(m["id"] for m in items) == sorted(ids)
    assert set(items[0]) == {"@odata.type", "@odata.etag", "id", "subject", "from"}
    assert delta_link.startswith(f"{BASE}/users/") and "$deltatoken=" in delta_link

    # Nothing changed: an empty round that still ends with a (new) deltaLink.
    items, delta_link, _ = await _round(client, delta_link)
    assert items == []

    later = tenant.put_sent_message(FUNC, "later", "<p>y</p>", to=["b@example.org"])
    items, delta_link, _ = await _round(client, delta_link)
    assert [(m["id"], m["subject"]) for m in items] == [(later, "later")]
    # The options of the first request travel inside the token ($select kept).
    assert set(items[0]) == {"@odata.type", "@odata.etag", "id", "subject", "from"}

    # changeType=created: updates are not reported.
    await client.patch(f"/users/{FUNC}/messages/{later}", json={"categories": ["x"]})
    items, _, _ = await _round(client, delta_link)
    assert items == []


async def test_delta_sdk_path_form_and_updates(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    mid = tenant.deliver_to_inbox(FUNC, "hej", "<p>x</p>")
    folder = tenant.folder_id(FUNC, "inbox")
    # The SDK sends .../messages/delta() with the folder id (kiota template).
    items, delta_link, _ = await _round(client, f"/users/{FUNC}/mailFolders/{folder}/messages/delta()")
    assert [m["id"] for m in items] == [mid]
    await client.patch(f"/users/{FUNC}/messages/{mid}", json={"isRead": True})
    items, _, _ = await _round(client, delta_link)
    assert [(m["id"], m["isRead"]) for m in items] == [(mid, True)]


async def test_removed_after_delete_and_move(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    a = tenant.deliver_to_inbox(FUNC, "a", "<p>a</p>")
    b = tenant.deliver_to_inbox(FUNC, "b", "<p>b</p>")
    url = f"/users/{FUNC}/mailFolders/inbox/messages/delta"
    _, inbox_link, _ = await _round(client, url)
    _, archive_link, _ = await _round(client, f"/users/{FUNC}/mailFolders/archive/messages/delta")
    assert (await client.delete(f"/users/{FUNC}/messages/{a}")).status_code == 204
    await client.post(f"/users/{FUNC}/messages/{b}/move", json={"destinationId": "archive"})
    items, _, _ = await _round(client, inbox_link)
    assert sorted(items, key=lambda m: m["id"]) == sorted(
        [
            {"@odata.type": "#microsoft.graph.message", "id": a, "@removed": {"reason": "deleted"}},
            {"@odata.type": "#microsoft.graph.message", "id": b, "@removed": {"reason": "deleted"}},
        ],
        key=lambda m: m["id"],
    )
    moved_in, _, _ = await _round(client, archive_link)
    assert [m["id"] for m in moved_in] == [b]


async def test_created_and_deleted_within_a_round_is_invisible(
    client: httpx.AsyncClient, tenant: GraphTenant
) -> None:
    _, link, _ = await _round(client, f"/users/{FUNC}/mailFolders/inbox/messages/delta")
    mid = tenant.deliver_to_inbox(FUNC, "kort", "<p>x</p>")
    await client.delete(f"/users/{FUNC}/messages/{mid}")
    items, _, _ = await _round(client, link)
    assert items == []


async def test_forged_expired_and_foreign_tokens_give_410(
    client: httpx.AsyncClient, tenant: GraphTenant
) -> None:
    tenant.deliver_to_inbox(FUNC, "a", "<p>a</p>")
    tenant.deliver_to_inbox(FUNC, "b", "<p>b</p>")
    tenant.deliver_to_inbox(FUNC, "c", "<p>c</p>")
    r = await client.get(f"/users/{FUNC}/mailFolders/inbox/messages/delta", headers=PAGE)
    next_link = r.json()["@odata.nextLink"]
    _, delta_link, _ = await _round(client, f"/users/{FUNC}/mailFolders/inbox/messages/delta")

    # Flip one character of the token: the HMAC no longer matches.
    head, token = delta_link.split("$deltatoken=")
    forged = head + "$deltatoken=" + ("A" if token[0] != "A" else "B") + token[1:]
    r = await client.get(forged)
    assert r.status_code == 410
    assert r.json()["error"]["code"] == "syncStateNotFound"
    assert r.headers["Location"].startswith(BASE)

    # A valid token replayed against another folder is refused as well.
    other = delta_link.replace(tenant.folder_id(FUNC, "inbox"), tenant.folder_id(FUNC, "sentitems"))
    assert (await client.get(other)).status_code == 410

    tenant.expire_delta_tokens()
    assert (await client.get(delta_link)).status_code == 410
    assert (await client.get(next_link)).status_code == 410
    # A fresh initial sync works after expiry and sees everything again.
    items, _, _ = await _round(client, f"/users/{FUNC}/mailFolders/inbox/messages/delta")
    assert len(items) == 3


async def test_delta_filter_is_limited_to_received_date(
    client: httpx.AsyncClient, tenant: GraphTenant
) -> None:
    tenant.deliver_to_inbox(FUNC, "a", "<p>a</p>")
    url = f"/users/{FUNC}/mailFolders/inbox/messages/delta"
    items, _, _ = await _round(client, url, **{"$filter": "receivedDateTime ge 2000-01-01T00:00:00Z"})
    assert len(items) == 1
    r = await client.get(url, params={"$filter": "isRead eq false"})
    assert r.status_code == 400


async def test_repeated_prefer_headers_combine(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    mid = tenant.deliver_to_inbox(FUNC, "a", "<p>a</p>")
    tenant.deliver_to_inbox(FUNC, "b", "<p>b</p>")
    headers = [("Prefer", "odata.maxpagesize=1"), ("Prefer", 'IdType="ImmutableId"')]
    r = await client.get(f"/users/{FUNC}/mailFolders/inbox/messages/delta", headers=headers)
    assert r.headers["Preference-Applied"] == 'IdType="ImmutableId", odata.maxpagesize=1'
    page = r.json()
    assert len(page["value"]) == 1 and "@odata.nextLink" in page
    assert page["value"][0]["id"] == mid
    assert tenant.count_requests(mailbox=tenant.mailbox(FUNC).id, endpoint="messages.delta") == 1
