"""Issue 17 on the emulators: the unmapped contact point is alerted to IT once per contact point with the
configuration fix; an invalid memo has a sender and its technical detail attached; the original of a mail
routed to another mailbox is marked (and moved) so nobody handles it twice; rule categories get a colour."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from graph_dpg.services.inbound.shared import RULE_CATEGORY_COLOURS

from .harness import BYG, JOB, MAIN, MONITOR, Harness, make_harness

from inbound_memos import CP_UNKNOWN, CP_UNMAPPED, citizen_memo  # isort: skip


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = make_harness(db_url)
    async with harness.mailbox:
        yield harness
    harness.store.close()


def _colours(h: Harness, mailbox: str) -> dict[str, str]:
    return {c["displayName"]: c["color"] for c in h.tenant.master_categories(mailbox)}


async def test_each_contact_point_without_a_mailbox_is_alerted_once_with_its_fix(h: Harness) -> None:
    for label, cp in (("Et", CP_UNKNOWN), ("To", CP_UNKNOWN), ("Nedlagt", CP_UNMAPPED), ("Intet", None)):
        h.ngdp.queue_inbound_memo(citizen_memo(label=label, contact_point=cp)[1])
    stats = await h.service().run_once()
    assert (stats.delivered, stats.unmapped, stats.errors) == (4, 4, [])
    alerts = h.messages(MONITOR)
    assert len(alerts) == 2  # one per contact point, none for a memo that names no contact point
    unknown = next(a for a in alerts if CP_UNKNOWN in a["subject"])
    body = unknown["body"]["content"]
    assert "<pre" in body and "contact_points:" in body and f"  - id: {CP_UNKNOWN}" in body
    assert "&lt;funktionspostkasse@kommune.dk&gt;" in body and MAIN in body
    null = next(a for a in alerts if "Nedlagt enhed" in a["subject"])
    assert "mailbox: null" in null["body"]["content"] and CP_UNMAPPED in null["body"]["content"]
    for mail in h.messages(MAIN):  # the case worker: whom to tell, no configuration
        content = mail["body"]["content"]
        assert "contact_points" not in content and "gateway-filen" not in content

    h.ngdp.queue_inbound_memo(citizen_memo(label="Tre", contact_point=CP_UNKNOWN)[1])
    again = await h.service().run_once()  # a restart, the same contact point: no second alert
    assert again.delivered == 1 and len(h.messages(MONITOR)) == 2


async def test_an_invalid_memo_has_a_sender_and_its_details_attached(h: Harness) -> None:
    uid = "9b2c7f4e-0d1a-4c3b-8e5f-6a7b8c9d0e1f"
    broken = (
        '<memo:Message xmlns:memo="https://DigitalPost.dk/MeMo-1" memoVersion="1.2"><memo:MessageHeader>'
        f"<memo:messageType>DIGITALPOST</memo:messageType><memo:messageUUID>{uid}</memo:messageUUID>"
        "</memo:MessageHeader></memo:Message>"
    ).encode()
    h.ngdp.validate_memos = False
    h.ngdp.queue_inbound_memo(broken)
    await h.service().run_once()
    [mail] = h.messages(MAIN)
    assert mail["from"]["emailAddress"] == {"name": "Digital Post Gateway", "address": MAIN}
    assert [a["name"] for a in mail["attachments"]] == [f"{uid}.memo.xml", "tekniske-detaljer.txt"]
    details = h.attachment(mail, "tekniske-detaljer.txt").decode()
    assert uid in details and "INVALID" in details and "[xsd]" in details
    content = mail["body"]["content"]
    assert "DigitalPost.dk/MeMo-1" not in content and "[xsd]" not in content
    assert "melder brevet tilbage til Digital Post som ugyldigt" in content
    assert [r["receiptStatus"] for r in h.ngdp.inbound_receipts(uid)] == ["INVALID"]  # as the mail says


def _byggesag(h: Harness) -> str:
    return h.tenant.deliver_to_inbox(
        MAIN,
        "Byggesag 17: tegninger",
        "<p>Se bilag</p>",
        from_=("Arkitekt", "a@arkitekt.dk"),
        internet_message_id="<t1@arkitekt.dk>",
    )


@pytest.mark.parametrize(
    ("mode", "overrides"),
    [("move", {"routed_folder": "Videresendt", "routed_mark": True}), ("mark", {"routed_mark": True})],
)
async def test_the_original_of_a_routed_mail_says_where_it_went(
    db_url: str, mode: str, overrides: dict[str, Any]
) -> None:
    h = make_harness(db_url, **overrides)
    async with h.mailbox:
        original = _byggesag(h)
        stats = await h.service().run_once(pull=False)
        assert stats.mail_routed == 1
        [copy] = h.messages(BYG)
        assert "Sikker mail: Videresendt til" not in " ".join(copy["categories"])
        marked = f"Sikker mail: Videresendt til {BYG}"
        inbox = {m["id"]: m for m in h.messages(MAIN)}
        if mode == "move":  # out of the inbox: nobody handles it twice
            assert original not in inbox
            [moved] = h.folder_messages(MAIN, "msgfolderroot/Videresendt")
            assert moved["categories"] == [marked]
        else:
            assert inbox[original]["categories"] == [marked]
        assert _colours(h, MAIN)[marked] in RULE_CATEGORY_COLOURS
        again = await h.service().run_once(pull=False)
        assert again.mail_routed == 0 and len(h.messages(BYG)) == 1
    h.store.close()


async def test_rule_categories_get_a_colour(h: Harness) -> None:
    h.ngdp.queue_inbound_memo(citizen_memo(label="Ledighed", kle="27.10.00")[1])
    await h.service().run_once()
    colours = _colours(h, JOB)
    assert colours["Beskæftigelse"] in RULE_CATEGORY_COLOURS
    assert colours["Digital Post: Modtaget"] == "preset5"  # the configured colour stays
