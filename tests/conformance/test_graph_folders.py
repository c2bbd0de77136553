"""Folder names and paths: Graph takes a folder id or a well-known name in a URL, nothing else.

Source: api-reference/v1.0/resources/mailfolder.md ("Use well-known folder names": the names may be used
instead of ids); a display name or path in the id position answers 400 ErrorInvalidIdMalformed (the code
Graph gives for an id it cannot parse, concepts/errors.md lists 400 Bad Request; the pairing with a display
name is what real Graph answers, seen in microsoft-graph-docs issues, and is kept as the emulator's rule).
"""

from __future__ import annotations

import httpx
import pytest

from graph_dpg.core.errors import NotFoundError
from graph_dpg.sandbox.graph import GraphTenant

from .conftest import FUNC, make_mailbox

PATH = "Inbox/Sikker mail"


def _sikker_mail(tenant: GraphTenant, name: str = "Sikker mail") -> str:
    return tenant.create_folder(FUNC, "inbox", name).id


def _put(tenant: GraphTenant, folder_id: str, n: int, start: int = 0) -> list[str]:
    return [
        tenant.put_sent_message(FUNC, f"Brev {i}", "<p>x</p>", to=["a@example.org"], folder=folder_id)
        for i in range(start, start + n)
    ]


@pytest.mark.parametrize("segment", ["Sikker mail", "Inbox%2FSikker%20mail", "Sent Items", "Indbakke"])
async def test_mailfolder_md_display_name_in_url_is_400_error_invalid_id_malformed(
    tenant: GraphTenant, client: httpx.AsyncClient, segment: str
) -> None:
    _sikker_mail(tenant)
    r = await client.get(f"/users/{FUNC}/mailFolders/{segment}/messages/delta")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "ErrorInvalidIdMalformed"


@pytest.mark.parametrize("name", ["inbox", "Inbox", "SENTITEMS", "msgfolderroot", "archive"])
async def test_mailfolder_md_well_known_names_are_accepted_in_any_case(
    client: httpx.AsyncClient, name: str
) -> None:
    r = await client.get(f"/users/{FUNC}/mailFolders/{name}")
    assert r.status_code == 200
    assert r.json()["id"]


async def test_folder_configured_by_path_is_polled(tenant: GraphTenant) -> None:
    """mailfolder-list-childfolders.md: the path is resolved by listing child folders; the delta then runs
    on the id (concepts/delta-query-messages.md: delta is per folder id)."""
    folder_id = _sikker_mail(tenant)
    first = _put(tenant, folder_id, 2)
    tenant.put_sent_message(FUNC, "I Sent Items", "<p>x</p>", to=["a@example.org"])  # another folder
    async with make_mailbox(tenant) as mbx:
        round1 = await mbx.read_delta(FUNC, PATH, None)
        assert sorted(m.id or "" for m in round1.messages) == sorted(first)
        assert round1.delta_link.startswith(f"folder={folder_id} ")
        assert not round1.resynced
        listings = tenant.count_requests(endpoint="childFolders.list")
        [later] = _put(tenant, folder_id, 1, start=2)
        round2 = await mbx.read_delta(FUNC, PATH, round1.delta_link)
        assert [m.id for m in round2.messages] == [later]
        assert not round2.resynced
    # Resolved once, then taken from the adapter's memory and the stored state.
    assert tenant.count_requests(endpoint="childFolders.list") == listings
    # Every delta request named the folder by id, never by its display name.
    deltas = [r for r in tenant.request_log if r.endpoint == "messages.delta"]
    assert deltas and all(folder_id in r.path and "Sikker" not in r.path for r in deltas)


async def test_folder_deleted_and_recreated_under_the_same_path_is_resolved_again(
    tenant: GraphTenant, client: httpx.AsyncClient
) -> None:
    """A stored id that answers 404 ErrorItemNotFound (mailfolder-delete.md: the folder is gone) is resolved
    again from the path, and the new folder is read in full (resynced)."""
    old_id = _sikker_mail(tenant)
    _put(tenant, old_id, 1)
    async with make_mailbox(tenant) as mbx:
        round1 = await mbx.read_delta(FUNC, PATH, None)
        assert (await client.delete(f"/users/{FUNC}/mailFolders/{old_id}")).status_code == 204
        new_id = _sikker_mail(tenant)
        fresh = _put(tenant, new_id, 2, start=5)
        round2 = await mbx.read_delta(FUNC, PATH, round1.delta_link)
    assert round2.resynced
    assert sorted(m.id or "" for m in round2.messages) == sorted(fresh)
    assert round2.delta_link.startswith(f"folder={new_id} ")


async def test_folder_renamed_is_seen_at_the_next_recheck(
    tenant: GraphTenant, client: httpx.AsyncClient
) -> None:
    """mailfolder-update.md: a folder can be renamed (PATCH displayName), keeping its id. The path then names
    no folder (a clear NotFoundError for IT), or, once a new folder takes the name, that new folder."""
    old_id = _sikker_mail(tenant)
    _put(tenant, old_id, 1)
    async with make_mailbox(tenant, folder_recheck_rounds=1) as mbx:
        round1 = await mbx.read_delta(FUNC, PATH, None)
        r = await client.patch(f"/users/{FUNC}/mailFolders/{old_id}", json={"displayName": "Gammel post"})
        assert r.status_code == 200
        await mbx.read_delta(FUNC, PATH, round1.delta_link)  # within the recheck interval: still the id
        with pytest.raises(NotFoundError) as caught:
            await mbx.read_delta(FUNC, PATH, round1.delta_link)
        assert caught.value.code == "FolderNotFound"
        assert "Inbox/Sikker mail" in str(caught.value) and "doctor" in str(caught.value)
        new_id = _sikker_mail(tenant)
        fresh = _put(tenant, new_id, 1, start=9)
        round3 = await mbx.read_delta(FUNC, PATH, round1.delta_link)
    assert round3.resynced
    assert [m.id for m in round3.messages] == fresh
    assert round3.delta_link.startswith(f"folder={new_id} ")


async def test_missing_folder_is_a_clear_not_found_not_a_400(tenant: GraphTenant) -> None:
    async with make_mailbox(tenant) as mbx:
        for _ in range(3):  # every poll says the same thing; nothing is cached as found
            with pytest.raises(NotFoundError) as caught:
                await mbx.read_delta(FUNC, "Inbox/Findes ikke", None)
            assert caught.value.code == "FolderNotFound"
    assert tenant.count_requests(status=400) == 0


async def test_outbound_service_polls_a_folder_path_and_reports_a_missing_one(db_url: str) -> None:
    """End to end: a function mailbox whose outgoing folder is "Inbox/Sikker mail" is polled by path; a
    mailbox whose folder is missing yields one clear error per cycle, and the other mailbox goes on."""
    from graph_dpg.services.outbound import FunctionMailbox
    from tests.integration.outbound.harness import (
        CITIZEN,
        MAILBOX,
        ORG_CVR,
        OTHER_MAILBOX,
        SENDER_CP,
        make_harness,
    )

    h = await make_harness(
        db_url,
        mailboxes=(
            FunctionMailbox(MAILBOX, frozenset({ORG_CVR}), frozenset({SENDER_CP}), PATH),
            FunctionMailbox(OTHER_MAILBOX, frozenset(), frozenset(), "Inbox/Findes ikke"),
        ),
    )
    async with h.mailbox:
        folder_id = h.tenant.create_folder(MAILBOX, "inbox", "Sikker mail").id
        h.tenant.put_sent_message(
            MAILBOX, "Brev", "<p>x</p>", to=[f"{CITIZEN}@29189846.ngdp.digital-post.dk"], folder=folder_id
        )
        for _ in range(2):
            stats = await h.service.run_once()
            [error] = stats.errors
            assert OTHER_MAILBOX in error and "Inbox/Findes ikke" in error and "FolderNotFound" in error
    h.store.close()
    assert h.accepted_recipients() == [CITIZEN]
    assert h.ngdp.duplicate_count == 0
