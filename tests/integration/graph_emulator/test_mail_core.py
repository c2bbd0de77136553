"""Users, folders, messages: shapes and semantics pinned to the Graph docs examples."""

from __future__ import annotations

import httpx
import pytest

from graph_dpg.sandbox.graph import GraphTenant

from .conftest import BASE, FUNC, OTHER, make_client

PROP = "String {8ECCC264-6880-4EBE-992F-8888D2EEAA1D} Name ProcessedBy"
IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}


async def test_user_by_upn_encoded_and_by_id(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    r = await client.get("/users/post%40kommune.dk")
    assert r.status_code == 200
    user = r.json()
    assert user["userPrincipalName"] == FUNC
    r2 = await client.get(f"/users/{user['id']}")
    assert r2.json()["id"] == user["id"]
    r3 = await client.get("/users/nobody%40kommune.dk/messages")
    assert r3.status_code == 404
    assert r3.json()["error"]["code"] == "ErrorInvalidUser"
    r4 = await client.get("/users/nobody%40kommune.dk")
    assert r4.json()["error"]["code"] == "Request_ResourceNotFound"
    me = await client.get("/me/messages")
    assert me.status_code == 400
    assert "delegated" in me.json()["error"]["message"]


async def test_auth_missing_wrong_and_rbac_scope(tenant: GraphTenant) -> None:
    async with make_client(tenant, token=None) as anon:
        r = await anon.get(f"/users/{FUNC}/messages")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert (await anon.get("/no/such/thing")).status_code == 401
    assert tenant.count_requests(mailbox=FUNC, endpoint="messages.list", status=401) == 1
    async with make_client(tenant, token="forged") as bad:
        r = await bad.get(f"/users/{FUNC}/messages")
        assert r.status_code == 401
    tenant.add_mailbox("hr@kommune.dk", accessible=False)
    async with make_client(tenant) as ok:
        r = await ok.get("/users/hr@kommune.dk/mailFolders/inbox/messages")
        assert r.status_code == 403
        err = r.json()["error"]
        assert err["code"] == "ErrorAccessDenied"
        assert err["message"] == "Access to OData is disabled."
        assert {"request-id", "date", "client-request-id"} <= set(err["innerError"])


async def test_well_known_folders_and_child_folders(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    names = [
        "inbox",
        "sentitems",
        "outbox",
        "drafts",
        "deleteditems",
        "archive",
        "junkemail",
        "msgfolderroot",
    ]
    ids = set()
    for name in names:
        r = await client.get(f"/users/{FUNC}/mailFolders/{name}")
        assert r.status_code == 200, name
        ids.add(r.json()["id"])
    assert len(ids) == len(names)
    top = (await client.get(f"/users/{FUNC}/mailFolders")).json()["value"]
    assert {"Inbox", "Sent Items", "Drafts", "Deleted Items", "Outbox"} <= {f["displayName"] for f in top}
    r = await client.post(
        f"/users/{FUNC}/mailFolders/inbox/childFolders", json={"displayName": "Digital Post"}
    )
    assert r.status_code == 201
    child = r.json()
    assert child["parentFolderId"] == tenant.folder_id(FUNC, "inbox")
    listed = (await client.get(f"/users/{FUNC}/mailFolders/inbox/childFolders")).json()["value"]
    assert [f["displayName"] for f in listed] == ["Digital Post"]
    found = await client.get(
        f"/users/{FUNC}/mailFolders/inbox/childFolders",
        params={"$filter": "displayName eq 'digital post'", "$select": "id,displayName"},
    )
    assert found.json()["value"] == [{"id": child["id"], "displayName": "Digital Post"}]
    dup = await client.post(
        f"/users/{FUNC}/mailFolders/inbox/childFolders", json={"displayName": "digital post"}
    )
    assert dup.status_code == 409
    r = await client.get(f"/users/{FUNC}/mailFolders/inbox/childFolders/{child['id']}/messages")
    assert r.json()["value"] == []
    assert (await client.get(f"/users/{FUNC}/mailFolders/notafolder")).json()["error"]["code"] == (
        "ErrorInvalidIdMalformed"
    )
    missing = await client.get(f"/users/{FUNC}/mailFolders/AQMkADAwATM0MDAAMS1hYWFhAAAA")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ErrorItemNotFound"


async def test_create_is_draft_by_default_and_non_draft_with_flags(client: httpx.AsyncClient) -> None:
    draft = await client.post(f"/users/{FUNC}/mailFolders/inbox/messages", json={"subject": "kladde"})
    assert draft.status_code == 201
    assert draft.json()["isDraft"] is True
    body = {
        "subject": "Modtaget",
        "body": {"contentType": "HTML", "content": "<p>Hej</p>"},
        "from": {"emailAddress": {"name": "Borger", "address": "borger@example.org"}},
        "singleValueExtendedProperties": [
            {"id": "Integer 0x0E07", "value": "1"},
            {"id": "SystemTime 0x0E06", "value": "2024-03-04T10:05:00Z"},
            {"id": "SystemTime 0x0039", "value": "2024-03-04T10:00:00Z"},
        ],
    }
    r = await client.post(f"/users/{FUNC}/mailFolders/inbox/messages", json=body)
    msg = r.json()
    assert msg["isDraft"] is False
    assert msg["isRead"] is True
    assert msg["receivedDateTime"] == "2024-03-04T10:05:00Z"
    assert msg["sentDateTime"] == "2024-03-04T10:00:00Z"
    assert msg["body"] == {"contentType": "html", "content": "<p>Hej</p>"}
    flags = await client.get(
        f"/users/{FUNC}/messages/{msg['id']}",
        params={"$expand": "singleValueExtendedProperties($filter=id eq 'Integer 0x0E07')"},
    )
    assert flags.json()["singleValueExtendedProperties"] == [{"id": "Integer 0xe07", "value": "1"}]
    bad = await client.post(
        f"/users/{FUNC}/mailFolders/inbox/messages", json={"toRecipients": "x@example.org"}
    )
    assert bad.json()["error"]["code"] == "RequestBodyRead"
    unread = dict(body, singleValueExtendedProperties=[{"id": "Integer 0x0E07", "value": "0"}])
    assert (await client.post(f"/users/{FUNC}/mailFolders/inbox/messages", json=unread)).json()[
        "isRead"
    ] is False


async def test_select_top_paging_and_filters(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    ids = [
        tenant.deliver_to_inbox(FUNC, f"mail {i}", "<p>x</p>", internet_message_id=f"<m{i}@example.org>")
        for i in range(7)
    ]
    r = await client.get(
        f"/users/{FUNC}/mailFolders/inbox/messages", params={"$select": "subject,isRead", "$top": "3"}
    )
    page = r.json()
    assert len(page["value"]) == 3
    assert set(page["value"][0]) == {"@odata.etag", "id", "subject", "isRead"}
    seen = [m["id"] for m in page["value"]]
    while "@odata.nextLink" in page:
        assert page["@odata.nextLink"].startswith(BASE)
        page = (await client.get(page["@odata.nextLink"])).json()
        seen += [m["id"] for m in page["value"]]
    assert len(seen) == 7 == len(set(seen))
    bad = await client.get(f"/users/{FUNC}/messages", params={"$select": "nosuch"})
    assert bad.status_code == 400

    r = await client.get(
        f"/users/{FUNC}/mailFolders/inbox/messages",
        params={"$filter": "internetMessageId eq '<m3@example.org>'"},
        headers=IMMUTABLE,
    )
    assert [m["id"] for m in r.json()["value"]] == [ids[3]]

    await client.patch(f"/users/{FUNC}/messages/{ids[0]}", json={"isRead": True})
    r = await client.get(f"/users/{FUNC}/mailFolders/inbox/messages", params={"$filter": "isRead eq false"})
    assert len(r.json()["value"]) == 6

    r = await client.get(
        f"/users/{FUNC}/mailFolders/inbox/messages",
        params={"$filter": "receivedDateTime ge 2000-01-01T00:00:00Z"},
    )
    assert len(r.json()["value"]) == 7
    r = await client.get(
        f"/users/{FUNC}/mailFolders/inbox/messages",
        params={"$filter": "receivedDateTime ge 2999-01-01T00:00:00Z"},
    )
    assert r.json()["value"] == []
    bad = await client.get(f"/users/{FUNC}/messages", params={"$filter": "subject eq"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "BadRequest"


async def test_extended_property_patch_filter_and_expand(
    client: httpx.AsyncClient, tenant: GraphTenant
) -> None:
    a = tenant.put_sent_message(FUNC, "a", "<p>a</p>", to=["x@example.org"])
    tenant.put_sent_message(FUNC, "b", "<p>b</p>", to=["y@example.org"])
    r = await client.patch(
        f"/users/{FUNC}/messages/{a}", json={"singleValueExtendedProperties": [{"id": PROP, "value": "gw-1"}]}
    )
    assert r.status_code == 200
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value eq 'gw-1')"
    r = await client.get(
        f"/users/{FUNC}/mailFolders/sentitems/messages", params={"$filter": flt}, headers=IMMUTABLE
    )
    assert [m["id"] for m in r.json()["value"]] == [a]
    # GUID case and property-type case do not matter (extended-properties-overview, "id formats").
    lower = PROP.replace("8ECCC264-6880-4EBE-992F-8888D2EEAA1D", "8eccc264-6880-4ebe-992f-8888d2eeaa1d")
    flt2 = f"singleValueExtendedProperties/any(ep: ep/id eq '{lower}' and ep/value eq 'gw-1')"
    r = await client.get(f"/users/{FUNC}/mailFolders/sentitems/messages", params={"$filter": flt2})
    assert len(r.json()["value"]) == 1
    r = await client.get(
        f"/users/{FUNC}/messages/{a}",
        params={"$expand": f"singleValueExtendedProperties($filter=id eq '{PROP}')"},
    )
    assert r.json()["singleValueExtendedProperties"] == [{"id": PROP, "value": "gw-1"}]


async def test_categories_patch_and_non_draft_rules(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    mid = tenant.put_sent_message(FUNC, "sendt", "<p>x</p>", to=["x@example.org"])
    r = await client.patch(f"/users/{FUNC}/messages/{mid}", json={"categories": ["Digital Post: sendt"]})
    assert r.json()["categories"] == ["Digital Post: sendt"]
    assert tenant.message(FUNC, mid)["categories"] == ["Digital Post: sendt"]
    r = await client.patch(f"/users/{FUNC}/messages/{mid}", json={"subject": "changed"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "ErrorInvalidPropertyUpdateSentMessage"


async def test_master_categories_crud(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    url = f"/users/{FUNC}/outlook/masterCategories"
    defaults = (await client.get(url)).json()["value"]
    assert {c["displayName"] for c in defaults} >= {"Red category", "Blue category"}
    r = await client.post(url, json={"displayName": "Digital Post: fejl", "color": "preset0"})
    assert r.status_code == 201
    cat = r.json()
    assert cat["color"] == "preset0"
    assert (
        await client.post(url, json={"displayName": "Digital Post: fejl", "color": "preset1"})
    ).status_code == 409
    assert (await client.post(url, json={"displayName": "x", "color": "preset25"})).status_code == 400
    r = await client.patch(f"{url}/{cat['id']}", json={"color": "preset24"})
    assert r.json()["color"] == "preset24"
    assert (await client.patch(f"{url}/{cat['id']}", json={"displayName": "renamed"})).status_code == 400
    assert (await client.delete(f"{url}/{cat['id']}")).status_code == 204
    assert "Digital Post: fejl" not in {c["displayName"] for c in tenant.master_categories(FUNC)}


async def test_immutable_ids_survive_move_and_preference_applied(
    client: httpx.AsyncClient, tenant: GraphTenant
) -> None:
    mid = tenant.deliver_to_inbox(FUNC, "flyt mig", "<p>x</p>")
    r = await client.get(f"/users/{FUNC}/messages/{mid}", headers=IMMUTABLE)
    assert r.headers["Preference-Applied"] == 'IdType="ImmutableId"'
    rest_before = (await client.get(f"/users/{FUNC}/messages/{mid}")).json()["id"]
    assert rest_before != mid
    r = await client.post(
        f"/users/{FUNC}/messages/{mid}/move", json={"destinationId": "archive"}, headers=IMMUTABLE
    )
    assert r.status_code == 201
    assert r.json()["id"] == mid
    assert r.json()["parentFolderId"] == tenant.folder_id(FUNC, "archive")
    r = await client.post(f"/users/{FUNC}/messages/{mid}/move", json={"destinationId": "inbox"})
    rest_after = r.json()["id"]
    assert rest_after != rest_before
    assert (await client.get(f"/users/{FUNC}/messages/{rest_before}")).status_code == 404
    assert (await client.get(f"/users/{FUNC}/messages/{rest_after}")).status_code == 200
    assert (await client.get(f"/users/{FUNC}/messages/not-an-id")).json()["error"]["code"] == (
        "ErrorInvalidIdMalformed"
    )


async def test_delete_leaves_folder(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    mid = tenant.deliver_to_inbox(FUNC, "slet", "<p>x</p>")
    assert (await client.delete(f"/users/{FUNC}/messages/{mid}")).status_code == 204
    assert tenant.messages(FUNC, "inbox") == []
    assert tenant.messages(FUNC, "deleteditems") == []
    assert (await client.get(f"/users/{FUNC}/messages")).json()["value"] == []
    # Soft-deleted into Recoverable Items; a second delete there is refused.
    again = await client.delete(f"/users/{FUNC}/messages/{mid}")
    assert again.json()["error"]["code"] == "ErrorCannotDeleteObject"


async def test_send_mail_delivers_inside_tenant_and_logs_external(
    client: httpx.AsyncClient, tenant: GraphTenant
) -> None:
    body = {
        "message": {
            "subject": "Kvittering",
            "body": {"contentType": "Text", "content": "Sendt."},
            "toRecipients": [
                {"emailAddress": {"address": OTHER}},
                {"emailAddress": {"address": "ext@example.org"}},
            ],
            "internetMessageHeaders": [{"name": "x-gateway", "value": "receipt"}],
        }
    }
    r = await client.post(f"/users/{FUNC}/sendMail", json=body)
    assert r.status_code == 202
    assert r.content == b""
    [sent] = tenant.messages(FUNC, "sentitems")
    assert sent["isDraft"] is False
    assert sent["from"]["emailAddress"]["address"] == FUNC
    [inbox] = tenant.messages(OTHER, "inbox")
    assert inbox["subject"] == "Kvittering"
    r = await client.get(
        f"/users/{OTHER}/messages/{inbox['id']}", params={"$select": "internetMessageHeaders"}
    )
    headers = {h["name"]: h["value"] for h in r.json()["internetMessageHeaders"]}
    assert headers["Subject"] == "Kvittering"
    assert headers["x-gateway"] == "receipt"
    assert headers["Message-ID"] == sent["internetMessageId"]
    assert inbox["isRead"] is False
    assert inbox["internetMessageId"] == sent["internetMessageId"]
    assert [e["to"] for e in tenant.outbound_log] == [["ext@example.org"]]
    body["saveToSentItems"] = False
    await client.post(f"/users/{FUNC}/sendMail", json=body)
    assert len(tenant.messages(FUNC, "sentitems")) == 1
    nobody = dict(body["message"], toRecipients=[{"emailAddress": {"address": "not-an-address"}}])
    r = await client.post(f"/users/{FUNC}/sendMail", json={"message": nobody})
    assert r.json()["error"]["code"] == "ErrorInvalidRecipients"
    bad = dict(body["message"], internetMessageHeaders=[{"name": "Gateway", "value": "x"}])
    r = await client.post(f"/users/{FUNC}/sendMail", json={"message": bad})
    assert r.json()["error"]["code"] == "InvalidInternetMessageHeader"


async def test_create_reply_and_send(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    mid = tenant.deliver_to_inbox(FUNC, "Spørgsmål", "<p>?</p>", from_=("Kollega", OTHER))
    r = await client.post(f"/users/{FUNC}/messages/{mid}/createReply", json={"comment": "Svar"})
    assert r.status_code == 201
    draft = r.json()
    assert draft["isDraft"] is True
    assert draft["subject"] == "RE: Spørgsmål"
    assert draft["toRecipients"][0]["emailAddress"]["address"] == OTHER
    assert draft["parentFolderId"] == tenant.folder_id(FUNC, "drafts")
    assert (await client.post(f"/users/{FUNC}/messages/{draft['id']}/send")).status_code == 202
    assert [m["subject"] for m in tenant.messages(OTHER, "inbox")] == ["RE: Spørgsmål"]
    assert tenant.messages(FUNC, "drafts") == []


@pytest.mark.parametrize(
    "path",
    [
        "/users",
        # The SDK's base URL with a trailing slash yields a double slash (docs/facts/graph.md, "msgraph-sdk: base URL").
        "//users/post%40kommune.dk/mailFolders/inbox/messages",
        "/users/post%40kommune.dk/mailFolders('inbox')/messages",
        "/users/POST%40KOMMUNE.DK/MailFolders/Inbox/Messages",
    ],
)
async def test_odd_but_valid_urls(client: httpx.AsyncClient, path: str) -> None:
    url = BASE + path if path.startswith("//") else path
    assert (await client.get(url)).status_code == 200


async def test_copy_reply_all_and_folder_rename_delete(
    client: httpx.AsyncClient, tenant: GraphTenant
) -> None:
    mid = tenant.deliver_to_inbox(FUNC, "kopi", "<p>x</p>", from_=("Ekstern", "ext@example.org"), cc=[OTHER])
    r = await client.post(
        f"/users/{FUNC}/messages/{mid}/copy", json={"destinationId": "archive"}, headers=IMMUTABLE
    )
    assert r.status_code == 201
    assert r.json()["id"] != mid
    assert len(tenant.messages(FUNC, "inbox")) == len(tenant.messages(FUNC, "archive")) == 1
    r = await client.post(f"/users/{FUNC}/messages/{mid}/createReplyAll", json={})
    draft = r.json()
    assert [x["emailAddress"]["address"] for x in draft["toRecipients"]] == ["ext@example.org"]
    assert [x["emailAddress"]["address"] for x in draft["ccRecipients"]] == [OTHER]
    folder = (await client.post(f"/users/{FUNC}/mailFolders", json={"displayName": "Sager"})).json()
    r = await client.patch(f"/users/{FUNC}/mailFolders/{folder['id']}", json={"displayName": "Sager 2024"})
    assert r.json()["displayName"] == "Sager 2024"
    assert (await client.delete(f"/users/{FUNC}/mailFolders/{folder['id']}")).status_code == 204
    assert (await client.get(f"/users/{FUNC}/mailFolders/{folder['id']}")).status_code == 404
    assert (await client.delete(f"/users/{FUNC}/mailFolders/inbox")).status_code == 403
    text = await client.get(
        f"/users/{FUNC}/messages/{mid}", headers={"Prefer": 'outlook.body-content-type="text"'}
    )
    assert text.json()["body"] == {"contentType": "text", "content": "x"}
    assert text.headers["Preference-Applied"] == 'outlook.body-content-type="text"'


async def test_filter_with_orderby_follows_the_documented_rule(
    client: httpx.AsyncClient, tenant: GraphTenant
) -> None:
    tenant.deliver_to_inbox(FUNC, "a", "<p>a</p>")
    url = f"/users/{FUNC}/mailFolders/inbox/messages"
    ok = await client.get(
        url,
        params={
            "$filter": "receivedDateTime ge 2000-01-01T00:00:00Z and isRead eq false",
            "$orderby": "receivedDateTime desc",
        },
    )
    assert ok.status_code == 200
    assert len(ok.json()["value"]) == 1
    bad = await client.get(url, params={"$filter": "isRead eq false", "$orderby": "receivedDateTime desc"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "InefficientFilter"


@pytest.mark.parametrize(
    "body",
    [
        {"singleValueExtendedProperties": ["x"]},
        {"internetMessageHeaders": "x-a: b"},
        {"attachments": [1]},
        {"categories": "one"},
        {"from": ["x"]},
    ],
)
async def test_malformed_bodies_get_400_not_500(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    r = await client.post(f"/users/{FUNC}/mailFolders/inbox/messages", json=body)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "RequestBodyRead"
    assert r.headers["request-id"] == r.json()["error"]["innerError"]["request-id"]


@pytest.mark.parametrize("threads", [True, False])
async def test_created_item_keeps_in_reply_to_and_references_ms_oxomsg(
    client: httpx.AsyncClient, tenant: GraphTenant, threads: bool
) -> None:
    """[MS-OXOMSG] 2.2.1.1 PidTagInReplyToId and 2.2.1.2 PidTagInternetReferences, which [MS-OXCMAIL] maps to
    the In-Reply-To and References headers, are kept on a created item and show in its MIME ($value). That
    it joins the named message's conversation is the inference graph.thread-created-items (the setting
    thread_created_items_by_in_reply_to shows the other behaviour)."""
    tenant.thread_created_items_by_in_reply_to = threads
    received = [{"id": "Integer 0x0E07", "value": "1"}]
    first = await client.post(
        f"/users/{FUNC}/mailFolders/inbox/messages",
        json={
            "subject": "Kvittering",
            "singleValueExtendedProperties": [
                *received,
                {"id": "String 0x1035", "value": "<first@x.invalid>"},
            ],
        },
    )
    threading = [
        {"id": "String 0x1042", "value": "<first@x.invalid>"},
        {"id": "String 0x1039", "value": "<first@x.invalid>"},
    ]
    second = await client.post(
        f"/users/{FUNC}/mailFolders/inbox/messages",
        json={"subject": "Opdateret kvittering", "singleValueExtendedProperties": [*received, *threading]},
    )
    one, two = first.json(), second.json()
    assert (one["conversationId"] == two["conversationId"]) is threads
    mime = (await client.get(f"/users/{FUNC}/messages/{two['id']}/$value")).text
    assert "In-Reply-To: <first@x.invalid>" in mime and "References: <first@x.invalid>" in mime
