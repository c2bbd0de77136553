"""Attachments, upload sessions, the 4 MB request limit and MIME ($value)."""

from __future__ import annotations

import base64
import email
import email.message
from email import policy

import httpx

from graph_dpg.sandbox.graph import GraphTenant

from .conftest import FUNC, OTHER, make_client

MB = 1024 * 1024


async def test_file_attachments_list_get_add_value(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    mid = tenant.put_sent_message(
        FUNC,
        "bilag",
        "<p>se bilag</p>",
        to=["x@example.org"],
        attachments=[("brev.pdf", "application/pdf", b"%PDF-1")],
    )
    r = await client.get(f"/users/{FUNC}/messages/{mid}", params={"$expand": "attachments"})
    msg = r.json()
    assert msg["hasAttachments"] is True
    [att] = msg["attachments"]
    assert att["@odata.type"] == "#microsoft.graph.fileAttachment"
    assert base64.b64decode(att["contentBytes"]) == b"%PDF-1"
    assert att["size"] == 6
    meta = (
        await client.get(f"/users/{FUNC}/messages/{mid}/attachments", params={"$select": "name,size"})
    ).json()
    assert set(meta["value"][0]) == {"@odata.type", "@odata.mediaContentType", "id", "name", "size"}
    r = await client.post(
        f"/users/{FUNC}/messages/{mid}/attachments",
        json={
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": "data.json",
            "contentType": "application/json",
            "contentBytes": base64.b64encode(b'{"a": 1}').decode(),
        },
    )
    assert r.status_code == 201
    new_id = r.json()["id"]
    raw = await client.get(f"/users/{FUNC}/messages/{mid}/attachments/{new_id}/$value")
    assert raw.content == b'{"a": 1}'
    assert raw.headers["content-type"].startswith("application/json")
    item = await client.post(
        f"/users/{FUNC}/messages/{mid}/attachments",
        json={"@odata.type": "#microsoft.graph.itemAttachment", "name": "mail", "item": {}},
    )
    assert item.status_code == 400
    assert item.json()["error"]["code"] == "ErrorInvalidRequest"


async def test_request_over_4mb_is_413(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    mid = (await client.post(f"/users/{FUNC}/messages", json={"subject": "draft"})).json()["id"]
    big = base64.b64encode(b"x" * (3 * MB + MB // 2)).decode()  # base64 inflates 3.5 MB past 4 MB
    r = await client.post(
        f"/users/{FUNC}/messages/{mid}/attachments",
        json={"@odata.type": "#microsoft.graph.fileAttachment", "name": "big.bin", "contentBytes": big},
    )
    assert r.status_code == 413
    assert "maximum request length" in r.json()["error"]["message"]
    assert tenant.message(FUNC, mid)["attachments"] == []


async def test_upload_session_ranged_put(tenant: GraphTenant, client: httpx.AsyncClient) -> None:
    draft = (await client.post(f"/users/{FUNC}/messages", json={"subject": "stor"})).json()["id"]
    content = bytes(range(256)) * (5 * MB // 256 + 7)
    r = await client.post(
        f"/users/{FUNC}/messages/{draft}/attachments/createUploadSession",
        json={"AttachmentItem": {"attachmentType": "file", "name": "stor.bin", "size": len(content)}},
    )
    assert r.status_code == 201
    session = r.json()
    assert session["nextExpectedRanges"] == ["0-"]
    url = session["uploadUrl"]
    # Pre-authenticated URL: no Authorization header on the PUTs.
    async with make_client(tenant, token=None) as anon:
        chunk = 3 * MB
        start = 0
        statuses = []
        while start < len(content):
            part = content[start : start + chunk]
            end = start + len(part) - 1
            r = await anon.put(
                url,
                content=part,
                headers={
                    "Content-Range": f"bytes {start}-{end}/{len(content)}",
                    "Content-Type": "application/octet-stream",
                },
            )
            statuses.append(r.status_code)
            if r.status_code == 200:
                assert r.json()["nextExpectedRanges"] == [str(end + 1)]
            start = end + 1
        assert statuses == [200, 201]
        assert "/Attachments('" in r.headers["Location"]  # the docs' spelling
        # Out-of-order range on a fresh session is refused.
        r2 = await client.post(
            f"/users/{FUNC}/messages/{draft}/attachments/createUploadSession",
            json={"AttachmentItem": {"attachmentType": "file", "name": "b.bin", "size": 4 * MB}},
        )
        bad = await anon.put(
            r2.json()["uploadUrl"], content=b"12345", headers={"Content-Range": f"bytes 5-9/{4 * MB}"}
        )
        assert bad.status_code == 416
        forged = await anon.put(
            url.split("?")[0] + "?authtoken=nope", content=b"1", headers={"Content-Range": "bytes 0-0/1"}
        )
        assert forged.status_code == 404
    [att] = tenant.message(FUNC, draft)["attachments"]
    assert base64.b64decode(att["contentBytes"]) == content
    no_rcpt = await client.post(f"/users/{FUNC}/messages/{draft}/send")
    assert no_rcpt.json()["error"]["code"] == "ErrorInvalidRecipients"
    await client.patch(
        f"/users/{FUNC}/messages/{draft}", json={"toRecipients": [{"emailAddress": {"address": OTHER}}]}
    )
    assert (await client.post(f"/users/{FUNC}/messages/{draft}/send")).status_code == 202
    [received] = tenant.messages(OTHER, "inbox")
    assert len(base64.b64decode(received["attachments"][0]["contentBytes"])) == len(content)


async def test_mime_value_parses_with_email_package(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    mid = tenant.put_sent_message(
        FUNC,
        "Afgørelse æøå",
        "<p>Kære borger</p>",
        to=[("Borger", "nemsms.1234567890@dp.kommune.dk")],
        cc=["kopi@example.org"],
        attachments=[("afgørelse.pdf", "application/pdf", b"%PDF-1.7 data")],
        internet_message_id="<abc@kommune.dk>",
        headers={"X-Gateway": "1"},
    )
    r = await client.get(f"/users/{FUNC}/messages/{mid}/$value")
    assert r.status_code == 200
    parsed = email.message_from_bytes(r.content, policy=policy.default)
    assert parsed["Subject"] == "Afgørelse æøå"
    assert parsed["Message-ID"] == "<abc@kommune.dk>"
    assert parsed["To"].addresses[0].addr_spec == "nemsms.1234567890@dp.kommune.dk"
    assert parsed["From"].addresses[0].addr_spec == FUNC
    assert parsed["X-Gateway"] == "1"
    assert "Kære borger" in parsed.get_body(preferencelist=("html",)).get_content()
    [att] = list(parsed.iter_attachments())
    assert att.get_filename() == "afgørelse.pdf"
    assert att.get_payload(decode=True) == b"%PDF-1.7 data"


async def test_send_mime_base64(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    msg = email.message.EmailMessage()
    msg["To"] = OTHER
    msg["Subject"] = "MIME"
    msg.set_content("plain body")
    payload = base64.b64encode(msg.as_bytes())
    r = await client.post(f"/users/{FUNC}/sendMail", content=payload, headers={"Content-Type": "text/plain"})
    assert r.status_code == 202
    assert [m["subject"] for m in tenant.messages(OTHER, "inbox")] == ["MIME"]
    bad = await client.post(f"/users/{FUNC}/sendMail", content=b"%%%", headers={"Content-Type": "text/plain"})
    assert bad.json()["error"]["code"] == "ErrorMimeContentInvalidBase64String"
