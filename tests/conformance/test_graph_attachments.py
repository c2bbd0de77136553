"""Attachments: api-reference/v1.0/api/attachment-createuploadsession.md: "Use this approach to attach a file
if the file size is between 3 MB and 150 MB. To attach a file that's smaller than 3 MB, do a POST operation
on the attachments navigation property". The emulator refuses a smaller session with 400
ErrorAttachmentSizeShouldNotBeLessThanMinimumSize (the code is Exchange's; no Graph page prints it:
inference); the adapter POSTs up to 3 MB and opens a session only above.
"""

from __future__ import annotations

import httpx
import pytest

from graph_dpg.adapters.graph.mailbox import MAX_JSON_ATTACHMENT
from graph_dpg.domain.mail import Attachment
from graph_dpg.sandbox.graph import GraphTenant

from .conftest import FUNC, make_mailbox

MB = 1024 * 1024


@pytest.mark.parametrize(("size", "status"), [(1, 400), (3 * MB - 1, 400), (3 * MB, 201), (150 * MB, 201)])
async def test_attachment_createuploadsession_md_minimum_3_mb(
    client: httpx.AsyncClient, size: int, status: int
) -> None:
    draft = (await client.post(f"/users/{FUNC}/messages", json={"subject": "x"})).json()["id"]
    r = await client.post(
        f"/users/{FUNC}/messages/{draft}/attachments/createUploadSession",
        json={"AttachmentItem": {"attachmentType": "file", "name": "a.bin", "size": size}},
    )
    assert r.status_code == status
    if status == 400:
        assert r.json()["error"]["code"] == "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"


@pytest.mark.parametrize(
    ("size", "sessions"),
    [(2 * MB, 0), (3 * MB - 4096, 0), (MAX_JSON_ATTACHMENT, 1), (MAX_JSON_ATTACHMENT + 1, 1)],
)
async def test_adapter_posts_below_3_mb_and_uploads_above(
    tenant: GraphTenant, size: int, sessions: int
) -> None:
    draft = tenant.create_message(
        tenant.mailbox(FUNC), tenant.folder(tenant.mailbox(FUNC), "drafts"), {"subject": "x"}
    ).imm_id
    content = b"\x01" * size
    async with make_mailbox(tenant) as mbx:
        att_id = await mbx.add_attachment(
            FUNC, draft, Attachment("bilag.bin", "application/octet-stream", content)
        )
    assert att_id
    assert tenant.count_requests(endpoint="attachments.createUploadSession") == sessions
    assert tenant.count_requests(endpoint="attachments.create") == 1 - sessions
    [att] = tenant.message(FUNC, draft)["attachments"]
    assert att["size"] == size
