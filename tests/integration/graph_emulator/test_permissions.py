"""The emulator's permission model: application roles and a mailbox scope per app (permissions.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from graph_dpg.domain.permissions import required_permissions
from graph_dpg.sandbox.graph import GraphTenant
from graph_dpg.sandbox.graph.permissions import ALL_ROLES, ENDPOINT_PERMISSIONS, GATEWAY_ROLES, AppGrant
from tests.integration.graph_emulator.conftest import FUNC, OTHER, make_client

README = Path(__file__).resolve().parents[3] / "graph_dpg" / "sandbox" / "graph" / "README.md"
DOCS_API = "api-reference/v1.0/api/"


def test_the_sandbox_grants_exactly_the_required_rows_of_the_gateways_table() -> None:
    assert {p.name for p in required_permissions()} == GATEWAY_ROLES
    assert GraphTenant().grant_for("sandbox-token").roles == GATEWAY_ROLES


def test_every_endpoint_kind_declares_its_permission_and_docs_page() -> None:
    text = README.read_text(encoding="utf-8")
    listed = text[text.index("Endpoint kinds in the log") : text.index("## What is served")]
    kinds: set[str] = set()
    for group in re.findall(r"`([^`]+)`", listed):
        head, _, tail = group.partition(".")
        if tail:
            kinds.update(f"{head}.{t}" for t in tail.split("|"))
        else:
            kinds.add(head)
    # The batch is not a call of its own (its members are checked); the upload URL is pre-authenticated.
    assert kinds - {"batch", "attachments.upload"} == set(ENDPOINT_PERMISSIONS)
    for page, roles in ENDPOINT_PERMISSIONS.values():
        assert page.endswith(".md") and roles


async def _call(tenant: GraphTenant, token: str, method: str, path: str, **kw: object) -> tuple[int, dict]:
    async with make_client(tenant, token) as client:
        r = await client.request(method, path, **kw)  # type: ignore[arg-type]
        return r.status_code, (r.json() if r.content else {})


async def test_token_without_mail_readwrite_reads_with_mail_read_but_cannot_write(
    tenant: GraphTenant,
) -> None:
    # user-list-messages.md: Mail.ReadBasic.All, Mail.Read, Mail.ReadWrite; user-post-messages.md: Mail.ReadWrite.
    tenant.grant("reader", ["Mail.Read", "MailboxSettings.ReadWrite"])
    status, _ = await _call(tenant, "reader", "GET", f"/users/{FUNC}/mailFolders/inbox/messages")
    assert status == 200
    status, body = await _call(
        tenant, "reader", "POST", f"/users/{FUNC}/mailFolders/inbox/messages", json={"subject": "x"}
    )
    assert status == 403
    assert body["error"]["code"] == "ErrorAccessDenied"
    assert body["error"]["message"] == "Access is denied. Check credentials and try again."
    assert tenant.messages(FUNC, "inbox") == []
    # mailfolder-update.md: Mail.ReadWrite (the doctor's harmless probe).
    status, _ = await _call(tenant, "reader", "PATCH", f"/users/{FUNC}/mailFolders/inbox", json={})
    assert status == 403


async def test_categories_need_mailboxsettings_readwrite_to_change(tenant: GraphTenant) -> None:
    # outlookuser-list-mastercategories.md: MailboxSettings.Read; outlookuser-post-mastercategories.md and
    # outlookcategory-update.md: MailboxSettings.ReadWrite.
    tenant.grant("settings-read", ["Mail.ReadWrite", "MailboxSettings.Read"])
    path = f"/users/{FUNC}/outlook/masterCategories"
    status, listed = await _call(tenant, "settings-read", "GET", path)
    assert status == 200
    before = tenant.master_categories(FUNC)
    status, body = await _call(
        tenant, "settings-read", "POST", path, json={"displayName": "Digital Post", "color": "preset0"}
    )
    assert (status, body["error"]["code"]) == (403, "ErrorAccessDenied")
    first = listed["value"][0]
    status, _ = await _call(
        tenant, "settings-read", "PATCH", f"{path}/{first['id']}", json={"color": "preset1"}
    )
    assert status == 403
    assert tenant.master_categories(FUNC) == before


async def test_mail_send_is_needed_for_sendmail(tenant: GraphTenant) -> None:
    # user-sendmail.md: Mail.Send only; Mail.ReadWrite and MailboxSettings.ReadWrite do not allow it.
    tenant.grant("no-send", {"Mail.ReadWrite", "MailboxSettings.ReadWrite"})
    body = {"message": {"subject": "x", "toRecipients": [{"emailAddress": {"address": OTHER}}]}}
    status, answer = await _call(tenant, "no-send", "POST", f"/users/{FUNC}/sendMail", json=body)
    assert (status, answer["error"]["code"]) == (403, "ErrorAccessDenied")
    assert tenant.messages(OTHER, "inbox") == []
    tenant.grant("gateway")  # the default: the gateway's roles, Mail.Send among them (secure mail)
    status, _ = await _call(tenant, "gateway", "POST", f"/users/{FUNC}/sendMail", json=body)
    assert status == 202


async def test_mailbox_outside_the_management_scope_is_refused_whatever_the_role(tenant: GraphTenant) -> None:
    # RBAC for Applications: the scope limits the roles to some mailboxes; outside it Graph answers as for an
    # access policy (concepts/auth-limit-mailbox-access.md, "Handling API errors").
    tenant.grant("scoped", ALL_ROLES, mailboxes=[FUNC])
    status, _ = await _call(tenant, "scoped", "GET", f"/users/{FUNC}/mailFolders/inbox")
    assert status == 200
    for path in (f"/users/{OTHER}/mailFolders/inbox", f"/users/{OTHER}/outlook/masterCategories"):
        status, body = await _call(tenant, "scoped", "GET", path)
        assert status == 403
        assert body["error"] == {
            **body["error"],
            "code": "ErrorAccessDenied",
            "message": "Access to OData is disabled.",
        }
    # By id as well as by address.
    other_id = tenant.mailbox(OTHER).id
    status, _ = await _call(tenant, "scoped", "GET", f"/users/{other_id}/mailFolders/inbox")
    assert status == 403


async def test_reading_the_directory_needs_user_read_all(tenant: GraphTenant) -> None:
    # user-get.md: User.Read.All (or higher); the directory answers, not Exchange.
    tenant.grant("gateway")
    status, body = await _call(tenant, "gateway", "GET", f"/users/{FUNC}")
    assert status == 403
    assert body["error"]["code"] == "Authorization_RequestDenied"
    tenant.grant("directory", ["User.Read.All"])
    status, body = await _call(tenant, "directory", "GET", f"/users/{FUNC}")
    assert (status, body["userPrincipalName"]) == (200, FUNC)


async def test_batch_members_are_checked_with_the_batchs_grant(tenant: GraphTenant) -> None:
    tenant.grant("reader", ["Mail.Read"], mailboxes=[FUNC])
    batch = {
        "requests": [
            {"id": "1", "method": "GET", "url": f"/users/{FUNC}/mailFolders/inbox"},
            {
                "id": "2",
                "method": "POST",
                "url": f"/users/{FUNC}/mailFolders/inbox/messages",
                "headers": {"Content-Type": "application/json"},
                "body": {"subject": "x"},
            },
            {"id": "3", "method": "GET", "url": f"/users/{OTHER}/mailFolders/inbox"},
        ]
    }
    status, body = await _call(tenant, "reader", "POST", "/$batch", json=batch)
    assert status == 200
    answers = {r["id"]: r for r in body["responses"]}
    assert answers["1"]["status"] == 200
    assert answers["2"]["status"] == 403
    assert answers["2"]["body"]["error"]["message"].startswith("Access is denied")
    assert answers["3"]["body"]["error"]["message"] == "Access to OData is disabled."


async def test_refused_calls_hold_no_concurrency_slot(tenant: GraphTenant) -> None:
    tenant.grant("nobody", ["User.Read.All"])
    for _ in range(tenant.max_concurrency + 2):
        status, _ = await _call(tenant, "nobody", "GET", f"/users/{FUNC}/mailFolders/inbox")
        assert status == 403
    assert tenant.mailbox(FUNC).in_flight == 0
    assert tenant.app_in_flight == {}


def test_a_grant_names_only_permissions_some_endpoint_uses() -> None:
    with pytest.raises(ValueError, match=r"Mail\.Everything"):
        AppGrant.of(["Mail.Everything"])
    assert AppGrant.of(["Mail.Read"]).allows("messages.delta")
    assert not AppGrant.of(["Mail.ReadBasic.All"]).allows("messages.value")
