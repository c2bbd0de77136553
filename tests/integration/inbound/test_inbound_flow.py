"""Inbound end to end: NgDP emulator (pull/push) and Graph emulator inboxes → routed, readable mails, receipts.

Real adapters (msgraph-sdk pipeline, NgdpClient) and the real SqlStore; nothing mocked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from graph_dpg.domain.mail import MailMessage
from graph_dpg.ports.store import InboundState

from .harness import ARCHIVE, BYG, EVIL_RULE, JOB, MAIN, MONITOR, Harness, make_harness

from inbound_memos import CITIZEN, CP_BYG, CP_UNKNOWN, CP_UNMAPPED, ORG_CVR, citizen_memo  # isort: skip

GW = "ngdp.digital-post.dk"


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = make_harness(db_url)
    async with harness.mailbox:
        yield harness
    harness.store.close()


def only(messages: list[dict[str, Any]], subject: str) -> dict[str, Any]:
    [found] = [m for m in messages if m["subject"] == subject]
    return found


async def test_routing_precedence_banner_receipts_and_delete(h: Harness) -> None:
    by_rule, x1 = citizen_memo(label="Ledighed", kle="27.10.00", contact_point=CP_BYG)
    by_cp, x2 = citizen_memo(label="Carport", contact_point=CP_BYG)
    unknown, x3 = citizen_memo(label="Ukendt kontaktpunkt", contact_point=CP_UNKNOWN)
    unmapped, x4 = citizen_memo(label="Nedlagt", contact_point=CP_UNMAPPED)
    for xml in (x1, x2, x3, x4):
        h.ngdp.queue_inbound_memo(xml)

    stats = await h.service().run_once()

    assert (stats.pulled, stats.delivered, stats.acknowledged, stats.deleted, stats.unmapped) == (
        4,
        4,
        4,
        4,
        2,
    )
    assert stats.errors == []
    job = only(h.messages(JOB), "Ledighed")  # the rule beats the contact point mapping
    assert job["categories"] == ["Digital Post: Modtaget", "Beskæftigelse"]
    assert "KLE 27 til Jobcenter" in job["body"]["content"]
    assert job["isDraft"] is False
    # JOB may send as the CVR only: the reply goes out as the organisation
    assert job["from"]["emailAddress"]["address"] == f"{CITIZEN}@{ORG_CVR}.{GW}"
    byg = only(h.messages(BYG), "Carport")
    assert byg["internetMessageId"] == f"<memo-{by_cp}@graph-dpg.invalid>"
    assert byg["replyTo"][0]["emailAddress"]["address"] == f"{CITIZEN}@{CP_BYG}.{GW}"  # BYG sends as the CP
    assert byg["categories"] == ["Digital Post: Modtaget"]
    assert f"{by_cp}.memo.xml" in [a["name"] for a in byg["attachments"]]
    assert h.attachment(byg, f"{by_cp}.memo.xml") == x2
    assert CITIZEN not in byg["body"]["content"]
    for label, cp in (("Ukendt kontaktpunkt", CP_UNKNOWN), ("Nedlagt", CP_UNMAPPED)):
        main = only(h.messages(MAIN), label)
        assert "dpg-banner" in main["body"]["content"] and cp in main["body"]["content"]
        assert main["categories"] == ["Digital Post: Modtaget", "Digital Post: Advarsel"]
    assert "Nedlagt enhed" in only(h.messages(MAIN), "Nedlagt")["body"]["content"]
    for uid in (by_rule, by_cp, unknown, unmapped):
        assert [r["receiptStatus"] for r in h.ngdp.inbound_receipts(uid)] == ["COMPLETED"]
        row = h.store.get_inbound(uid)
        assert row is not None and row.state is InboundState.DELETED
    assert h.ngdp.inbound_ids() == []
    assert h.store.rule_hits().get("KLE 27 til Jobcenter") == 1
    names = {c["displayName"] for c in h.tenant.master_categories(BYG)}
    assert {"Digital Post: Modtaget", "Digital Post: Advarsel"} <= names

    again = await h.service().run_once()  # nothing new, nothing repeated
    assert (again.pulled, again.delivered, again.acknowledged) == (0, 0, 0)
    assert len(h.messages(BYG)) == 1


async def test_invalid_memo_goes_to_main_mailbox_with_an_invalid_receipt(h: Harness) -> None:
    uid = "9b2c7f4e-0d1a-4c3b-8e5f-6a7b8c9d0e1f"
    broken = (
        '<memo:Message xmlns:memo="https://DigitalPost.dk/MeMo-1" memoVersion="1.2"><memo:MessageHeader>'
        f"<memo:messageType>DIGITALPOST</memo:messageType><memo:messageUUID>{uid}</memo:messageUUID>"
        "</memo:MessageHeader></memo:Message>"
    ).encode()
    h.ngdp.validate_memos = False
    h.ngdp.queue_inbound_memo(broken)
    stats = await h.service().run_once()
    assert (stats.delivered, stats.invalid, stats.deleted) == (1, 1, 1)
    [mail] = h.messages(MAIN)
    assert "dpg-invalid" in mail["body"]["content"]
    assert h.attachment(mail, f"{uid}.memo.xml") == broken
    assert "Digital Post: Advarsel" in mail["categories"]
    [receipt] = h.ngdp.inbound_receipts(uid)
    assert receipt["receiptStatus"] == "INVALID"
    assert receipt["errorCode"] == "INVALID_MEMO"


class CrashAfterCreate:
    """The mailbox, but the process 'dies' right after the first message was created."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.crashed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def create_message(self, mailbox: str, folder: str, message: MailMessage, **kw: Any) -> str:
        created: str = await self.inner.create_message(mailbox, folder, message, **kw)
        if not self.crashed:
            self.crashed = True
            # A process that dies is no exception the service could catch: SystemExit passes every boundary.
            raise SystemExit("simulated crash after create_message")
        return created


async def test_crash_between_deliver_and_acknowledge_delivers_exactly_once(h: Harness) -> None:
    uid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    h.ngdp.queue_inbound_memo(xml)
    with pytest.raises(SystemExit, match="simulated crash"):
        await h.service(CrashAfterCreate(h.mailbox)).run_once()
    row = h.store.get_inbound(uid)
    assert row is not None and row.state is InboundState.RECEIVED  # created, but not recorded
    assert len(h.messages(BYG)) == 1
    assert h.ngdp.inbound_receipts(uid) == []

    stats = await h.service().run_once()  # the restart
    assert stats.delivered == 1 and stats.errors == []
    assert len(h.messages(BYG)) == 1  # found by its extended property, not created again
    assert len(h.ngdp.inbound_receipts(uid)) == 1
    row = h.store.get_inbound(uid)
    assert row is not None and row.state is InboundState.DELETED
    assert row.created_message_id == h.messages(BYG)[0]["id"]


async def test_push_memos_are_acknowledged_by_receipt_only(h: Harness) -> None:
    import httpx

    from graph_dpg.adapters.digital_post.push import create_push_app
    from graph_dpg.sandbox.ngdp import NgdpPusher

    uid, xml = citizen_memo(label="Skubbet", contact_point=CP_BYG)
    h.ngdp.queue_inbound_memo(xml)
    app = create_push_app(h.store.push_sink(), "push-secret")
    pusher = NgdpPusher(
        h.ngdp,
        memo_url="http://gateway/memos",
        receipt_url="http://gateway/receipts",
        token="push-secret",
        transport=httpx.ASGITransport(app=app),
    )
    try:
        assert await pusher.push_memos() == {uid: 200}  # stored (committed) before the 200
    finally:
        await pusher.aclose()
    await h.store.push_sink().store_pushed_memo(uid, xml)  # a redelivery changes nothing
    stats = await h.service().run_once(pull=False)
    assert (stats.delivered, stats.acknowledged, stats.deleted) == (1, 1, 0)
    row = h.store.get_inbound(uid)
    assert row is not None and row.state is InboundState.ACKNOWLEDGED
    assert only(h.messages(BYG), "Skubbet")["isDraft"] is False
    again = await h.service().run_once(pull=False)
    assert again.delivered == 0 and len(h.messages(BYG)) == 1


async def test_rule_timeout_disables_persists_and_alerts_once(db_url: str) -> None:
    h = make_harness(db_url, EVIL_RULE, rule_timeout_seconds=0.2)
    async with h.mailbox:
        uid, xml = citizen_memo(label="Lang", contact_point=CP_BYG, body_html="<p>" + "a" * 30_000 + "!</p>")
        h.ngdp.queue_inbound_memo(xml)
        stats = await h.service().run_once()
        assert stats.rules_disabled == ["Farligt mønster"]
        assert stats.delivered == 1  # the item still goes where the other rules / mapping say
        assert only(h.messages(BYG), "Lang")["categories"] == ["Digital Post: Modtaget"]
        reason = h.store.disabled_rules()["Farligt mønster"].reason
        # In the gateway's language (Danish here), naming the memo it happened on.
        assert reason.startswith("evalueringen tog længere end 0.2 s") and f"meddelelse {uid}" in reason
        [alert] = h.messages(MONITOR)
        assert "Farligt mønster" in alert["subject"]
        assert reason in alert["body"]["content"]
        assert alert["isDraft"] is False

        _, xml2 = citizen_memo(
            label="Lang igen", contact_point=CP_BYG, body_html="<p>" + "a" * 30_000 + "!</p>"
        )
        h.ngdp.queue_inbound_memo(xml2)
        later = await h.service().run_once()  # a restart: the disabling survived, no second alert
        assert later.rules_disabled == [] and later.delivered == 1
        assert len(h.messages(MONITOR)) == 1
    h.store.close()


async def test_secure_mail_is_routed_by_the_same_rules_once(h: Harness) -> None:
    copied = h.tenant.deliver_to_inbox(
        MAIN,
        "Byggesag 17: tegninger",
        "<p>Se bilag</p>",
        from_=("Arkitekt", "a@arkitekt.dk"),
        internet_message_id="<t1@arkitekt.dk>",
    )
    moved = h.tenant.deliver_to_inbox(
        MAIN,
        "DPG kvittering: Afgørelse",
        "<p>Alle modtog</p>",
        from_=("Gateway", MAIN),
        internet_message_id="<r1@kommune.dk>",
    )
    failed = h.tenant.deliver_to_inbox(
        MAIN, "DPG kvittering: fejl i afsendelse", "<p>Fejl</p>", internet_message_id="<r2@kommune.dk>"
    )
    stays = h.tenant.deliver_to_inbox(
        MAIN, "Hej", "<p>Ingen regel</p>", internet_message_id="<n1@example.org>"
    )
    stats = await h.service().run_once(pull=False)
    assert (stats.mail_seen, stats.mail_routed) == (4, 2)

    [copy] = h.messages(BYG)
    assert copy["subject"] == "Byggesag 17: tegninger" and copy["isDraft"] is False
    assert copy["internetMessageId"] == "<t1@arkitekt.dk>"
    assert len(h.messages(ARCHIVE)) == 1  # archive_to
    [filed] = h.folder_messages(MAIN, "inbox/Kvitteringer")
    assert filed["id"] == moved and filed["categories"] == ["Kvittering"]
    inbox = {m["id"] for m in h.messages(MAIN)}
    assert {copied, failed, stays} <= inbox and moved not in inbox  # the exception kept the failure in view

    again = await h.service().run_once(pull=False)  # a new delta round and a restart: nothing twice
    assert (again.mail_seen, again.mail_routed) == (0, 0)
    assert len(h.messages(BYG)) == 1 and len(h.messages(ARCHIVE)) == 1


async def test_delivered_memos_in_the_main_inbox_are_not_rerouted_as_secure_mail(h: Harness) -> None:
    _, xml = citizen_memo(label="Uden kontaktpunkt", contact_point=None)
    h.ngdp.queue_inbound_memo(xml)
    first = await h.service().run_once()
    assert first.delivered == 1 and first.unmapped == 1
    second = await h.service().run_once()
    assert second.mail_seen == 0
    assert len(h.messages(MAIN)) == 1 and h.messages(BYG) == []


async def _reply_in_outlook(h: Harness, mailbox: str, message_id: str, text: str) -> None:
    """What Outlook does on Reply + Send: createReply (To = Reply-To, In-Reply-To = Message-ID), send."""
    mb = h.tenant.mailbox(mailbox)
    draft = h.tenant.create_reply(mb, h.tenant.get_message(mb, message_id), {"comment": f"<p>{text}</p>"})
    h.tenant.send_draft(mb, draft)


def _outbound(h: Harness) -> Any:
    from graph_dpg.demo.ngdp import in_process_client
    from graph_dpg.domain.policies import DEFAULT_POLICIES
    from graph_dpg.services.outbound import FunctionMailbox, OutboundService, OutboundSettings

    settings = OutboundSettings(
        organisation_cvr=ORG_CVR,
        organisation_name="Sandbox Kommune",
        mailboxes=(FunctionMailbox(BYG, frozenset(), frozenset({CP_BYG})),),
        policies=DEFAULT_POLICIES,
        categories={},
        internal_domains=frozenset({"kommune.dk"}),
        retry_base_seconds=0.0,
        retry_max_seconds=0.0,
    )
    return OutboundService(h.mailbox, in_process_client(h.ngdp), h.store, settings)


async def test_reply_round_trip_through_both_emulators(h: Harness) -> None:
    from graph_dpg import memo

    from inbound_memos import CITIZEN_CP  # isort: skip

    h.ngdp.register(cpr=CITIZEN)
    h.ngdp.add_contact_point(CP_BYG, "Byggesager")
    h.ngdp.add_contact_point(CITIZEN_CP, "Borgerens svaradresse")
    uid, xml = citizen_memo(label="Carport", contact_point=CP_BYG, sender_cp=CITIZEN_CP)
    h.ngdp.queue_inbound_memo(xml)
    await h.service().run_once()
    [delivered] = h.messages(BYG)
    assert delivered["replyTo"][0]["emailAddress"]["address"] == f"{CITIZEN}.{CITIZEN_CP}@{CP_BYG}.{GW}"

    await _reply_in_outlook(h, BYG, delivered["id"], "Tak, vi vender tilbage.")
    stats = await _outbound(h).run_once()
    assert stats.sent == 1, stats.errors
    [sent] = [m for m in h.ngdp.accepted if m.message_uuid != uid]
    answer = memo.parse(sent.xml).header
    assert answer.recipient.recipient_id == CITIZEN
    assert answer.recipient.contact_point is not None
    assert answer.recipient.contact_point.contact_point_id == CITIZEN_CP
    assert answer.sender.contact_point is not None
    assert answer.sender.contact_point.contact_point_id == CP_BYG
    assert [r.reply_uuid for r in answer.reply_data][-1] == uid


async def test_reply_to_a_non_replyable_memo_gets_an_error_receipt(h: Harness) -> None:
    h.ngdp.register(cpr=CITIZEN)
    _, xml = citizen_memo(label="Til orientering", contact_point=CP_BYG, reply=False)
    h.ngdp.queue_inbound_memo(xml)
    await h.service().run_once()
    [delivered] = h.messages(BYG)
    await _reply_in_outlook(h, BYG, delivered["id"], "Svar")
    stats = await _outbound(h).run_once()
    assert stats.sent == 0 and stats.rejected == 1
    assert [m.message_uuid for m in h.ngdp.accepted] == []
    receipts = [m for m in h.messages(BYG) if m["id"] != delivered["id"]]
    assert len(receipts) == 1 and "reply" in receipts[0]["body"]["content"].lower()


async def test_alert_is_mailed_even_after_a_crash_between_disabling_and_alerting(h: Harness) -> None:
    h.store.disable_rule("Byggesager pr. mail", "evaluation took longer than 5 s (on memo x)")  # then "crash"
    stats = await h.service().run_once(pull=False)
    assert stats.alerts == 1
    [alert] = h.messages(MONITOR)
    assert "Byggesager pr. mail" in alert["subject"]
    again = await h.service().run_once(pull=False)
    assert again.alerts == 0 and len(h.messages(MONITOR)) == 1


async def test_a_mailbox_that_keeps_refusing_gets_the_memo_delivered_to_the_main_mailbox(db_url: str) -> None:
    h = make_harness(db_url, fallback_after_attempts=2)
    async with h.mailbox:
        h.tenant.set_accessible(JOB, False)  # e.g. outside the app's RBAC scope
        uid, xml = citizen_memo(label="Ledighed", kle="27.10.00", contact_point=CP_BYG)
        _, other = citizen_memo(label="Carport", contact_point=CP_BYG)
        h.ngdp.queue_inbound_memo(xml)
        h.ngdp.queue_inbound_memo(other)
        first = await h.service().run_once()
        assert first.delivered == 1  # the other memo is not held up
        assert h.ngdp.inbound_receipts(uid) == []
        second = await h.service().run_once()
        assert second.delivered == 0 and second.errors
        third = await h.service().run_once()
        assert (third.delivered, third.fallbacks, third.acknowledged) == (1, 1, 1)
        mail = only(h.messages(MAIN), "Ledighed")
        assert f"Kunne ikke leveres i {JOB}" in mail["body"]["content"]
        assert "Digital Post: Advarsel" in mail["categories"]
        assert [r["receiptStatus"] for r in h.ngdp.inbound_receipts(uid)] == ["COMPLETED"]
    h.store.close()


async def test_a_full_mailbox_on_the_emulator_is_alerted_once_and_its_memo_reaches_the_main_mailbox(
    db_url: str,
) -> None:
    h = make_harness(db_url, fallback_after_seconds=0.0)  # no waiting: the first refusal is enough
    async with h.mailbox:
        h.tenant.set_full(BYG)  # Exchange answers 507 ErrorQuotaExceeded to every new item
        uid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
        h.ngdp.queue_inbound_memo(xml)
        first = await h.service().run_once()
        assert (first.delivered, first.alerts) == (0, 1)
        [alert] = h.messages(MONITOR)
        assert alert["subject"] == f"Digital Post Gateway: postkassen {BYG} er fuld"
        assert h.tenant.count_requests(mailbox=BYG, status=507) >= 1
        second = await h.service().run_once()
        assert (second.delivered, second.fallbacks, second.acknowledged, second.alerts) == (1, 1, 1, 0)
        mail = only(h.messages(MAIN), "Carport")
        assert f"Kunne ikke leveres i {BYG}" in mail["body"]["content"]
        assert "postkassen er fuld" in mail["body"]["content"]
        assert [r["receiptStatus"] for r in h.ngdp.inbound_receipts(uid)] == ["COMPLETED"]
        assert h.messages(BYG) == [] and len(h.messages(MONITOR)) == 1
    h.store.close()


async def test_memos_routed_by_the_previous_version_are_delivered_where_it_decided(h: Harness) -> None:
    """An upgrade in the middle of work: the earlier version kept routes (and fallbacks) as effects."""
    from graph_dpg.ports.store import EffectState, InboundSource

    routed, x1 = citizen_memo(label="Ledighed", kle="27.10.00", contact_point=CP_BYG)  # the rules say JOB
    fell_back, x2 = citizen_memo(label="Carport", contact_point=CP_BYG)
    old_route = {
        "mailbox": BYG,
        "folder": "inbox",
        "valid": True,
        "banner": None,
        "contact_point": CP_BYG,
        "rules": ["Regel fra før"],
        "deliver_rule": None,
        "reasons": [],
        "note": "Kontaktpunkt Byggesager",
        "categories": ["Digital Post: Modtaget"],
        "mark_read": False,
        "archive_to": [],
    }
    for uid, xml in ((routed, x1), (fell_back, x2)):
        h.ngdp.queue_inbound_memo(xml)
        assert h.store.store_inbound_memo(uid, InboundSource.PULL, xml)
        h.store.plan_effect(f"inbound:{uid}", old_route)
    failed = {**old_route, "mailbox": MAIN, "banner": "undeliverable", "failed_mailbox": BYG}
    h.store.plan_effect(
        f"inbound-fallback:{fell_back}", {**failed, "failed_folder": "inbox", "failed_error": "403"}
    )

    stats = await h.service().run_once()

    assert (stats.delivered, stats.fallbacks, stats.acknowledged, stats.errors) == (2, 1, 2, [])
    assert [m["subject"] for m in h.messages(BYG)] == ["Ledighed"]  # not JOB: the recorded route wins
    assert f"Kunne ikke leveres i {BYG}" in only(h.messages(MAIN), "Carport")["body"]["content"]
    assert h.store.rule_hits().get("KLE 27 til Jobcenter") is None  # counted when it was decided, not again
    for uid, mailbox in ((routed, BYG), (fell_back, MAIN)):
        row = h.store.get_inbound(uid)
        assert row is not None and row.route is not None and row.route["mailbox"] == mailbox
        effect = h.store.get_effect(f"inbound:{uid}")
        assert effect is not None and effect.state is EffectState.DONE  # moved, not left pending


async def test_the_opening_step_decides_what_the_rules_read_and_the_copies_carry(h: Harness) -> None:
    """The named step between reading a mail and routing it (where secure mail will be decrypted)."""
    from dataclasses import replace

    from graph_dpg.demo.ngdp import in_process_client
    from graph_dpg.services.inbound import InboundService, OpenedMail

    sealed = h.tenant.deliver_to_inbox(
        MAIN, "Krypteret besked", "<p>-----BEGIN PKCS7-----</p>", internet_message_id="<s1@arkitekt.dk>"
    )
    opened_in: list[tuple[str, str | None]] = []

    async def unseal(mailbox: str, message: MailMessage) -> OpenedMail:
        opened_in.append((mailbox, message.id))
        return OpenedMail(replace(message, subject="Byggesag 18: facade", body="<p>Se tegningen</p>"))

    service = InboundService(h.mailbox, in_process_client(h.ngdp), h.store, h.settings, open_mail=unseal)
    stats = await service.run_once(pull=False)

    assert opened_in == [(MAIN, sealed)]
    assert (stats.mail_seen, stats.mail_routed) == (1, 1)  # "Byggesager pr. mail" matched the opened subject
    [copy] = h.messages(BYG)
    assert copy["subject"] == "Byggesag 18: facade" and "Se tegningen" in copy["body"]["content"]
    assert sealed in {m["id"] for m in h.messages(MAIN)}  # the original stays where it arrived
