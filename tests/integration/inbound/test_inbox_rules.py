"""The mailbox owner's Outlook inbox rules act on delivered post (seed 001: "forbedret support for Outlook
indbakkeregler"). Rules are read with GET /users/{id}/mailFolders/inbox/messageRules
(api-reference/v1.0/api/mailfolder-list-messagerules.md; resources/messagerule.md, messagerulepredicates.md,
messageruleactions.md) from the Graph emulator; real adapters and store, nothing mocked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from graph_dpg.services.inbox_rules import InboxRuleCache

from .harness import BYG, Harness, make_harness

from inbound_memos import CP_BYG, citizen_memo  # isort: skip


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = make_harness(db_url)
    async with harness.mailbox:
        yield harness
    harness.store.close()


async def test_the_mailbox_own_rule_moves_categorises_and_marks_the_delivered_memo(h: Harness) -> None:
    folder = h.tenant.create_folder(BYG, "inbox", "Carporte")
    # An unsupported action (forwardTo) makes the whole rule not applied, although it matches first.
    h.tenant.add_message_rule(
        BYG,
        "Videresend carporte",
        conditions={"subjectContains": ["carport"]},
        actions={
            "forwardTo": [{"emailAddress": {"address": "chef@kommune.dk"}}],
            "assignCategories": ["Nej"],
        },
        sequence=1,
    )
    h.tenant.add_message_rule(
        BYG,
        "Slået fra",
        conditions={"subjectContains": ["carport"]},
        actions={"markAsRead": True},
        enabled=False,
    )
    # Outlook's "contains" ignores case (inference, docs/facts/inbox_rules.md): "CARPORT" matches "Carport".
    h.tenant.add_message_rule(
        BYG,
        "Carporte",
        conditions={"subjectContains": ["CARPORT"]},
        actions={
            "moveToFolder": folder.id,
            "assignCategories": ["Byggesag"],
            "markImportance": "high",
            "stopProcessingRules": True,
        },
        sequence=3,
    )
    h.tenant.add_message_rule(
        BYG,
        "Efter stop",
        conditions={"subjectContains": ["carport"]},
        actions={"assignCategories": ["Sent"]},
        sequence=4,
    )
    memo_uuid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    h.ngdp.queue_inbound_memo(xml)

    stats = await h.service_with(inbox_rules=InboxRuleCache(h.mailbox)).run_once()

    assert stats.delivered == 1 and stats.errors == []
    assert [m["subject"] for m in h.messages(BYG)] == []
    [moved] = h.messages(BYG, folder.id)
    assert moved["subject"] == "Carport"
    assert moved["categories"] == ["Digital Post: Modtaget", "Byggesag"]
    assert moved["importance"] == "high"
    assert "Postkassens indbakkeregel “Carporte” er brugt på brevet" in moved["body"]["content"]
    row = h.store.get_inbound(memo_uuid)
    assert row is not None and row.route is not None
    assert row.route["inbox_rules"] == ["Carporte"]  # the store's route record says which rule acted


async def test_without_rules_delivery_is_unchanged_and_rules_are_read_once_per_ttl(h: Harness) -> None:
    for label in ("Carport", "Carport 2"):
        h.ngdp.queue_inbound_memo(citizen_memo(label=label, contact_point=CP_BYG)[1])
    h.tenant.clear_request_log()
    stats = await h.service_with(inbox_rules=InboxRuleCache(h.mailbox, ttl_seconds=3600)).run_once()
    assert stats.delivered == 2
    assert sorted(m["subject"] for m in h.messages(BYG)) == ["Carport", "Carport 2"]
    reads = [e for e in h.tenant.request_log if e.endpoint == "messageRules.list"]
    assert len(reads) == 1
