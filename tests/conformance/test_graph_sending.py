"""Sending: the From address, and what a sent message keeps.

- concepts/outlook-send-mail-from-other-user.md, example 2: sendMail with a ``from`` the mailbox may not
  send as answers 403 ErrorSendAsDenied (status, code and message as printed there); example 1: with Send
  on Behalf / Send As it is accepted (202).
- github.com/microsoftgraph/microsoft-graph-docs/issues/2716 (a Microsoft engineer: "internet headers just
  do not exist on the copy in Sent Items") and github.com/OfficeDev/office-js/issues/5413: the Sent Items
  copy has no internetMessageHeaders, even when $select-ed; the received copy has them.
"""

from __future__ import annotations

import httpx

from graph_dpg.domain.conversion import delivered_message_id, replied_memo_uuid
from graph_dpg.domain.mail import EmailAddress, MailMessage
from graph_dpg.sandbox.graph import GraphTenant

from .conftest import FUNC, OTHER, make_mailbox


def _mail(sender: str | None) -> dict[str, object]:
    message: dict[str, object] = {
        "subject": "Hej",
        "body": {"contentType": "text", "content": "x"},
        "toRecipients": [{"emailAddress": {"address": "borger@example.org"}}],
    }
    if sender:
        message["from"] = {"emailAddress": {"address": sender}}
    return {"message": message}


async def test_outlook_send_mail_from_other_user_md_foreign_from_is_403_send_as_denied(
    tenant: GraphTenant, client: httpx.AsyncClient
) -> None:
    r = await client.post(f"/users/{FUNC}/sendMail", json=_mail(OTHER))
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["code"] == "ErrorSendAsDenied"
    assert error["message"].startswith("The user account which was used to submit this request")
    assert tenant.outbound_log == []


async def test_outlook_send_mail_from_other_user_md_own_or_granted_from_is_202(
    tenant: GraphTenant, client: httpx.AsyncClient
) -> None:
    for sender in (None, FUNC, FUNC.upper()):
        assert (await client.post(f"/users/{FUNC}/sendMail", json=_mail(sender))).status_code == 202
    tenant.grant_send_as(FUNC, OTHER)
    assert (await client.post(f"/users/{FUNC}/sendMail", json=_mail(OTHER))).status_code == 202


async def test_send_as_also_applies_to_sending_a_draft_inference(client: httpx.AsyncClient) -> None:
    """Inference: /send submits through the same Exchange check as sendMail."""
    draft = (await client.post(f"/users/{FUNC}/messages", json=_mail(OTHER)["message"])).json()["id"]
    r = await client.post(f"/users/{FUNC}/messages/{draft}/send")
    assert r.status_code == 403 and r.json()["error"]["code"] == "ErrorSendAsDenied"


async def test_gateway_send_mail_uses_the_mailbox_itself_as_from(tenant: GraphTenant) -> None:
    message = MailMessage(
        subject="Kvittering",
        body="<p>x</p>",
        sender=EmailAddress(FUNC, "Digital Post"),
        to=[EmailAddress("borger@example.org")],
    )
    async with make_mailbox(tenant) as mbx:
        await mbx.send_mail(FUNC, message)
    [sent] = tenant.outbound_log
    assert sent["from"] == FUNC


async def test_issue_2716_sent_items_copy_has_no_internet_message_headers(
    tenant: GraphTenant, client: httpx.AsyncClient
) -> None:
    body = _mail(None)
    message = body["message"]
    assert isinstance(message, dict)
    message["toRecipients"] = [{"emailAddress": {"address": OTHER}}]
    message["internetMessageHeaders"] = [{"name": "X-Sag", "value": "42"}]
    assert (await client.post(f"/users/{FUNC}/sendMail", json=body)).status_code == 202
    [sent] = tenant.messages(FUNC, "sentitems")
    r = await client.get(f"/users/{FUNC}/messages/{sent['id']}?$select=subject,internetMessageHeaders")
    assert r.status_code == 200 and "internetMessageHeaders" not in r.json()
    # The copy delivered by transport has them, the custom X- header included.
    [received] = tenant.messages(OTHER, "inbox")
    r = await client.get(f"/users/{OTHER}/messages/{received['id']}?$select=internetMessageHeaders")
    names = {h["name"] for h in r.json()["internetMessageHeaders"]}
    assert {"Message-ID", "X-Sag"} <= names


async def test_api_created_item_has_no_internet_message_headers(
    tenant: GraphTenant, client: httpx.AsyncClient
) -> None:
    """An item created through the API as non-draft (the PidTagMessageFlags trick) never went through
    transport; like the Sent Items copy it has no headers (issue 2716; the same reasoning: inference)."""
    mid = tenant.put_sent_message(FUNC, "Brev", "<p>x</p>", to=["a@example.org"], headers={"X-Sag": "1"})
    r = await client.get(f"/users/{FUNC}/messages/{mid}?$select=internetMessageHeaders")
    assert r.status_code == 200 and "internetMessageHeaders" not in r.json()


async def test_reply_threading_works_without_headers_via_pid_tag_in_reply_to_id(
    tenant: GraphTenant, client: httpx.AsyncClient
) -> None:
    """[MS-OXOMSG] 2.2.1.1 PidTagInReplyToId (String 0x1042) is kept on the reply in Sent Items, which has no
    internetMessageHeaders: the gateway reads the answered memo from it."""
    memo_uuid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    original = tenant.deliver_to_inbox(
        FUNC, "Brev fra kommunen", "<p>x</p>", internet_message_id=delivered_message_id(memo_uuid)
    )
    r = await client.post(
        f"/users/{FUNC}/messages/{original}/reply",
        json={
            "comment": "Tak",
            "message": {"toRecipients": [{"emailAddress": {"address": "a@example.org"}}]},
        },
    )
    assert r.status_code == 202
    [reply] = [m for m in tenant.messages(FUNC, "sentitems") if m["subject"].startswith("RE:")]
    raw = await client.get(f"/users/{FUNC}/messages/{reply['id']}?$select=internetMessageHeaders")
    assert "internetMessageHeaders" not in raw.json()
    async with make_mailbox(tenant) as mbx:
        msg = await mbx.get_message(FUNC, reply["id"])
    assert replied_memo_uuid(msg) == memo_uuid
