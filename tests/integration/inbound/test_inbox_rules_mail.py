"""The mailbox owner's Outlook inbox rules act on the secure mail and forwarded Digital Post the gateway
delivers into a mailbox too, not only on pulled memos (seed 001: "forbedret support for Outlook
indbakkeregler"). The gateway creates those mails directly (Graph: POST /users/{id}/mailFolders/{id}/
messages), so Exchange never runs the owner's rules on them; the rules are read with GET /users/{id}/
mailFolders/inbox/messageRules (api-reference/v1.0/api/mailfolder-list-messagerules.md) from the Graph
emulator. Real adapters, store and S/MIME opener (test PKI; messages made with ``openssl cms``)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from graph_dpg.sandbox.ngdp.forwarder import forward
from graph_dpg.services.effects import EffectKey, EffectKind
from graph_dpg.services.inbound import InboundService
from graph_dpg.services.inbound.forwarded import forwarded_opening
from graph_dpg.services.inbox_rules import InboxRuleCache
from tests.smime_pki import Pki, make_pki, openssl

from .harness import BYG, MAIN, Harness, make_harness

from inbound_memos import CP_BYG, citizen_memo  # isort: skip

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")

SMTP = "sikkerpost@kommune.dk"
TEXT = "Hej fra Testkommune, her er tegningerne til carporten."


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = make_harness(
        db_url, inbox_sources=((MAIN, "inbox"), (SMTP, "inbox")), forwarded_mailboxes=frozenset({SMTP})
    )
    harness.tenant.add_mailbox(SMTP, "Sikker post fra Digital Post")
    async with harness.mailbox:
        yield harness
    harness.store.close()


def service(h: Harness, pki: Pki) -> InboundService:
    opening = forwarded_opening(h.secure_opening(pki), h.store, frozenset({SMTP}))
    return h.service_with(open_mail=opening, inbox_rules=InboxRuleCache(h.mailbox))


def encrypted(pki: Pki, tmp_path: Path, subject: str) -> bytes:
    body = tmp_path / "body.txt"
    body.write_bytes(f"Content-Type: text/plain; charset=utf-8\r\n\r\n{TEXT}\r\n".encode())
    envelope = ("-from", "Byg og Miljø <byg@myndighed.dk>", "-to", MAIN, "-subject", subject)
    return openssl("cms", "-encrypt", "-aes256", "-in", body, "-recip", pki.org.pem, *envelope)


def only(messages: list[dict[str, Any]], subject: str) -> dict[str, Any]:
    [found] = [m for m in messages if m["subject"] == subject]
    return found


def carport_rule(h: Harness, mailbox: str) -> str:
    """An owner's rule on the body, which only the decrypted copy shows; returns its folder's id."""
    folder = h.tenant.create_folder(mailbox, "inbox", "Carporte")
    h.tenant.add_message_rule(
        mailbox,
        "Carporte",
        conditions={"bodyContains": ["carporten"]},
        actions={"moveToFolder": folder.id, "assignCategories": ["Byggesag"], "markImportance": "high"},
    )
    return folder.id


def recorded(h: Harness, internet_message_id: str) -> dict[str, object]:
    effect = h.store.get_effect(str(EffectKey(EffectKind.MAIL_ROUTE, internet_message_id.lower())))
    assert effect is not None and effect.result is not None
    return dict(effect.result)


async def test_secure_mail_routed_to_another_mailbox_meets_that_owner_s_rules(
    h: Harness, pki: Pki, tmp_path: Path
) -> None:
    folder_id = carport_rule(h, BYG)
    subject = "Ny byggesag 14"  # the gateway rule "Byggesager pr. mail" sends it to BYG's delivery folder
    h.tenant.deliver_mime(MAIN, encrypted(pki, tmp_path, subject))

    stats = await service(h, pki).run_once(pull=False)

    assert stats.errors == [] and stats.mail_routed == 1
    assert [m for m in h.messages(BYG) if m["subject"] == subject] == []
    moved = only(h.messages(BYG, folder_id), subject)
    assert TEXT in moved["body"]["content"]
    assert "Byggesag" in moved["categories"] and moved["importance"] == "high"
    original = only(h.folder_messages(MAIN, h.settings.routed_folder or "inbox"), subject)
    result = recorded(h, original["internetMessageId"])
    assert result["inbox_rules"] == ["Carporte"]  # which rule acted, recorded with the routing
    assert result["inbox_rule_actions"] == ["assignCategories", "markImportance", "moveToFolder"]


async def test_the_readable_copy_left_in_its_own_inbox_meets_the_owner_s_rules(
    h: Harness, pki: Pki, tmp_path: Path
) -> None:
    h.tenant.add_message_rule(
        MAIN,
        "Læst og mærket",
        conditions={"bodyContains": ["tegningerne"]},
        actions={"assignCategories": ["Tegninger"], "markAsRead": True},
    )
    subject = "Til orientering"  # no gateway rule: a readable copy in the inbox it came to
    h.tenant.deliver_mime(MAIN, encrypted(pki, tmp_path, subject))

    stats = await service(h, pki).run_once(pull=False)

    assert stats.errors == []
    [copy] = [m for m in h.messages(MAIN) if m["subject"] == subject and TEXT in m["body"]["content"]]
    assert "Tegninger" in copy["categories"] and copy["isRead"] is True


async def test_a_gateway_rule_that_names_a_folder_has_decided(h: Harness, pki: Pki, tmp_path: Path) -> None:
    h.tenant.add_message_rule(
        MAIN, "Alt", conditions={"bodyContains": ["tegningerne"]}, actions={"assignCategories": ["Nej"]}
    )
    # the gateway rule "Kvitteringer arkiveres" names Inbox/Kvitteringer
    subject = "DPG kvittering: tegninger"
    h.tenant.deliver_mime(MAIN, encrypted(pki, tmp_path, subject))

    stats = await service(h, pki).run_once(pull=False)

    assert stats.errors == []
    [copy] = [m for m in h.folder_messages(MAIN, "Inbox/Kvitteringer") if m["subject"] == subject]
    assert "Nej" not in copy["categories"] and "Kvittering" in copy["categories"]


async def test_forwarded_digital_post_meets_the_owner_s_rules_like_a_pulled_memo(
    h: Harness, pki: Pki
) -> None:
    folder = h.tenant.create_folder(BYG, "inbox", "Carporte")
    h.tenant.add_message_rule(
        BYG,
        "Carporte",
        conditions={"subjectContains": ["carport"]},
        actions={"moveToFolder": folder.id, "assignCategories": ["Byggesag"]},
    )
    uid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    forward(h.ngdp, h.tenant.deliver_mime, xml, mailbox=SMTP, recipient_pem=pki.org.pem.read_bytes())

    stats = await service(h, pki).run_once(pull=False)

    assert stats.errors == [] and stats.forwarded == 1 and stats.delivered == 1
    moved = only(h.messages(BYG, folder.id), "Carport")
    assert "Byggesag" in moved["categories"]
    row = h.store.get_inbound(uid)
    assert row is not None and row.route is not None and row.route["inbox_rules"] == ["Carporte"]
