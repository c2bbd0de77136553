"""The per-mailbox maximum message size (default 35 MB, admin-settable up to 150 MB).

Sources: the TIP in api-reference/v1.0/api/attachment-createuploadsession.md (microsoft-graph-docs-contrib:
35 MB default); the refusal's code and text from microsoft-graph-docs-contrib issue 2561 and its 400 status
from motze92/office365-mail issue 39. How the size is counted (base64 of every attachment, plus body and
subject) is an inference, on the strict side (see ``counted_size``).
"""

from __future__ import annotations

import base64

import httpx

from graph_dpg.sandbox.graph import GraphTenant
from graph_dpg.sandbox.graph.tenant import DEFAULT_MAX_MESSAGE_SIZE

from .conftest import FUNC, make_client

MB = 1024 * 1024


def _att(name: str, size: int) -> dict[str, str]:
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": name,
        "contentBytes": base64.b64encode(b"x" * size).decode(),
    }


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "ErrorMessageSizeExceeded"
    assert r.json()["error"]["message"] == "The message exceeds the maximum supported size."


def test_default_limit_is_35_mb_per_createuploadsession_tip(tenant: GraphTenant) -> None:
    assert DEFAULT_MAX_MESSAGE_SIZE == 35 * MB
    assert tenant.mailbox(FUNC).max_message_size == 35 * MB


async def test_post_attachment_over_the_limit_is_400_error_message_size_exceeded_issue_39(
    tenant: GraphTenant, client: httpx.AsyncClient
) -> None:
    tenant.set_max_message_size(FUNC, 2 * MB)
    draft = (await client.post(f"/users/{FUNC}/messages", json={"subject": "s"})).json()["id"]
    ok = await client.post(f"/users/{FUNC}/messages/{draft}/attachments", json=_att("a.bin", MB))
    assert ok.status_code == 201
    # 1 MB + 0.6 MB raw is under 2 MB, but not once base64-encoded (inference: the encoded size counts)
    _refused(await client.post(f"/users/{FUNC}/messages/{draft}/attachments", json=_att("b.bin", 600_000)))
    assert [a["name"] for a in tenant.message(FUNC, draft)["attachments"]] == ["a.bin"]


async def test_create_with_inline_attachments_over_the_limit_creates_nothing_inference(
    tenant: GraphTenant, client: httpx.AsyncClient
) -> None:
    tenant.set_max_message_size(FUNC, MB)
    body = {"subject": "stor", "attachments": [_att("a.bin", 500_000), _att("b.bin", 500_000)]}
    _refused(await client.post(f"/users/{FUNC}/mailFolders/inbox/messages", json=body))
    assert tenant.messages(FUNC, "inbox") == []
    small = {"subject": "lille", "attachments": [_att("a.bin", 500_000)]}
    assert (await client.post(f"/users/{FUNC}/mailFolders/inbox/messages", json=small)).status_code == 201


async def test_upload_session_refused_part_way_when_the_bytes_arrive_issue_2561(
    tenant: GraphTenant, client: httpx.AsyncClient
) -> None:
    tenant.set_max_message_size(FUNC, 5 * MB)
    draft = (await client.post(f"/users/{FUNC}/messages", json={"subject": "stor"})).json()["id"]
    size = 4 * MB  # 5.3 MB once encoded
    r = await client.post(
        f"/users/{FUNC}/messages/{draft}/attachments/createUploadSession",
        json={"AttachmentItem": {"attachmentType": "file", "name": "stor.bin", "size": size}},
    )
    assert r.status_code == 201  # the session is created: the refusal comes with the bytes
    url = r.json()["uploadUrl"]
    async with make_client(tenant, token=None) as anon:
        chunk = 2 * MB
        first = await anon.put(
            url, content=b"x" * chunk, headers={"Content-Range": f"bytes 0-{chunk - 1}/{size}"}
        )
        assert first.status_code == 200
        second = await anon.put(
            url, content=b"x" * chunk, headers={"Content-Range": f"bytes {chunk}-{size - 1}/{size}"}
        )
        _refused(second)
    assert tenant.message(FUNC, draft)["attachments"] == []
