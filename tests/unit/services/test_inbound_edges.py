"""Inbound edge cases on the in-memory fakes: contact points nobody maps, invalid memos, a mailbox that
refuses, crashes between creating a message and recording it, mail that vanishes before it is routed.
The emulator tests (``tests/integration/inbound``) cover the same service against both emulators."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from graph_dpg.bootstrap.rules import inbound_settings
from graph_dpg.config import load_gateway_text
from graph_dpg.core.errors import StoreError
from graph_dpg.domain.mail import EmailAddress, MailMessage
from graph_dpg.ports.store import EffectState, InboundState
from graph_dpg.services.inbound import MEMO_PROPERTY, InboundService
from tests.fakes import FakeDigitalPost, FakeMailbox, FakeStore, Stored
from tests.unit.inbound.inbound_memos import CP_BYG, CP_UNKNOWN, CP_UNMAPPED, ORG_CVR, citizen_memo

MAIN = "post@kommune.dk"
BYG = "byg@kommune.dk"
JOB = "job@kommune.dk"
MONITOR = "it@kommune.dk"

GATEWAY_FILE = f"""
organisation: {{cvr: "{ORG_CVR}", name: Sandbox Kommune}}
main_mailbox: {MAIN}
monitoring_mailbox: {MONITOR}
function_mailboxes:
  - address: {BYG}
    sender_contact_points: [{CP_BYG}]
  - address: {JOB}
    cvrs: ["{ORG_CVR}"]
contact_points:
  - {{id: {CP_BYG}, name: Byggesager, mailbox: {BYG}}}
  - {{id: {CP_UNMAPPED}, name: Nedlagt enhed, mailbox: null}}
rules:
  - name: KLE 27 til Jobcenter
    priority: 10
    conditions: [{{field: "memo:kle", op: regex, value: '^27\\.'}}]
    actions: {{deliver_to: {{mailbox: {JOB}}}}}
"""


@dataclass
class Rig:
    store: FakeStore
    mail: FakeMailbox
    ngdp: FakeDigitalPost
    settings: Any

    def service(self) -> InboundService:
        """A fresh service (a restart): only the store and the remote state carry over."""
        return InboundService(self.mail, self.ngdp, self.store, self.settings)

    def delivered(self, mailbox: str, label: str) -> Stored:
        [found] = [m for m in self.mail.in_folder(mailbox, "inbox") if m.message.subject == label]
        return found


def rig(**overrides: Any) -> Rig:
    settings = replace(inbound_settings(load_gateway_text(GATEWAY_FILE)), **overrides)
    return Rig(FakeStore(), FakeMailbox(), FakeDigitalPost(), settings)


async def test_memos_for_unmapped_or_unknown_contact_points_go_to_the_main_mailbox_with_a_banner() -> None:
    r = rig()
    unmapped, x1 = citizen_memo(label="Nedlagt", contact_point=CP_UNMAPPED)
    unknown, x2 = citizen_memo(label="Ukendt", contact_point=CP_UNKNOWN)
    r.ngdp.hold_memo(unmapped, x1)
    r.ngdp.hold_memo(unknown, x2)

    stats = await r.service().run_once()

    assert (stats.pulled, stats.delivered, stats.unmapped, stats.acknowledged, stats.deleted) == (
        2,
        2,
        2,
        2,
        2,
    )
    assert stats.errors == []
    for label, cp in (("Nedlagt", CP_UNMAPPED), ("Ukendt", CP_UNKNOWN)):
        mail = r.delivered(MAIN, label).message
        assert "dpg-banner" in mail.body and cp in mail.body
        assert mail.categories == ["Digital Post: Modtaget", "Digital Post: Advarsel"]
    assert "Nedlagt enhed" in r.delivered(MAIN, "Nedlagt").message.body
    assert {m: rec.status for m, rec in r.ngdp.memo_receipts.items()} == {
        unmapped: "COMPLETED",
        unknown: "COMPLETED",
    }
    assert r.ngdp.memos == {}  # deleted at NgDP after the receipt
    for memo_uuid in (unmapped, unknown):
        row = r.store.get_inbound(memo_uuid)
        assert row is not None and row.state is InboundState.DELETED and row.target_mailbox == MAIN
        assert row.route is not None and row.route["banner"] == "unmapped"
    assert r.mail.in_folder(BYG, "inbox") == []


async def test_an_invalid_memo_is_delivered_with_its_xml_and_answered_invalid() -> None:
    r = rig()
    uid = "9b2c7f4e-0d1a-4c3b-8e5f-6a7b8c9d0e1f"
    broken = (
        '<memo:Message xmlns:memo="https://DigitalPost.dk/MeMo-1" memoVersion="1.2"><memo:MessageHeader>'
        f"<memo:messageType>DIGITALPOST</memo:messageType><memo:messageUUID>{uid}</memo:messageUUID>"
        "</memo:MessageHeader></memo:Message>"
    ).encode()
    r.ngdp.hold_memo(uid, broken)

    stats = await r.service().run_once()

    assert (stats.delivered, stats.invalid, stats.unmapped, stats.deleted) == (1, 1, 0, 1)
    [stored] = r.mail.in_folder(MAIN, "inbox")
    assert "dpg-invalid" in stored.message.body
    assert "Digital Post: Advarsel" in stored.message.categories
    [raw] = [a for a in stored.message.attachments if a.name == f"{uid}.memo.xml"]
    assert raw.content == broken
    assert stored.properties == {MEMO_PROPERTY: uid}
    receipt = r.ngdp.memo_receipts[uid]
    assert (receipt.status, receipt.error_code) == ("INVALID", "INVALID_MEMO")
    assert receipt.error_message  # the findings, for the sender
    assert [e.subject for e in r.store.audited("inbound.memo.delivered")] == [uid]


async def test_unreadable_bytes_are_an_invalid_memo_too() -> None:
    r = rig()
    r.ngdp.hold_memo("e1d2c3b4-0000-4000-8000-000000000001", b"\xff\xfe not xml at all")
    stats = await r.service().run_once()
    assert (stats.delivered, stats.invalid) == (1, 1)
    assert r.ngdp.memo_receipts["e1d2c3b4-0000-4000-8000-000000000001"].status == "INVALID"


async def test_a_crash_between_creating_the_mail_and_recording_it_delivers_once() -> None:
    r = rig()
    uid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    r.ngdp.hold_memo(uid, xml)
    r.store.fail_next("mark_delivered_many", StoreError("inbound delivered batch: database is locked"))

    first = await r.service().run_once()
    assert first.delivered == 0 and len(first.errors) == 1
    row = r.store.get_inbound(uid)
    assert row is not None and row.state is InboundState.RECEIVED and row.attempts == 1
    assert len(r.mail.in_folder(BYG, "inbox")) == 1  # created before the store could record it
    assert r.ngdp.memo_receipts == {}  # nothing acknowledged for a memo not recorded as delivered

    second = await r.service().run_once()
    assert (second.delivered, second.acknowledged, second.errors) == (1, 1, [])
    [mail] = r.mail.in_folder(BYG, "inbox")  # found again by its marker, not created twice
    row = r.store.get_inbound(uid)
    assert row is not None and row.state is InboundState.DELETED
    assert row.created_message_id == next(mid for mid, m in r.mail.messages.items() if m is mail)


async def test_a_mailbox_that_keeps_refusing_gets_its_memo_delivered_to_the_main_mailbox() -> None:
    r = rig(fallback_after_attempts=2)
    r.mail.refused.add(JOB)  # outside the app's access policy
    uid, xml = citizen_memo(label="Ledighed", kle="27.10.00", contact_point=CP_BYG)
    other, other_xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    r.ngdp.hold_memo(uid, xml)
    r.ngdp.hold_memo(other, other_xml)

    first = await r.service().run_once()
    assert first.delivered == 1 and len(first.errors) == 1  # the other memo is not held up
    assert uid not in r.ngdp.memo_receipts
    second = await r.service().run_once()
    assert (second.delivered, second.fallbacks) == (0, 0) and second.errors
    third = await r.service().run_once()
    assert (third.delivered, third.fallbacks, third.acknowledged) == (1, 1, 1)

    mail = r.delivered(MAIN, "Ledighed").message
    assert f"Kunne ikke leveres i {JOB}" in mail.body
    assert "Digital Post: Advarsel" in mail.categories
    assert r.ngdp.memo_receipts[uid].status == "COMPLETED"
    [fallback] = r.store.audited("inbound.memo.fallback")
    assert fallback.subject == uid and fallback.details["failed_mailbox"] == JOB


async def test_a_mail_that_vanished_before_it_was_routed_is_left_alone() -> None:
    r = rig()
    mail = MailMessage(
        subject="Byggesag 17",
        body="<p>Se bilag</p>",
        sender=EmailAddress("a@arkitekt.dk"),
        to=[EmailAddress(MAIN)],
        internet_message_id="<t1@arkitekt.dk>",
    )
    gone = r.mail.put(MAIN, "inbox", mail)
    service = r.service()
    seen = await service.run_once(pull=False)
    assert (seen.mail_seen, seen.mail_routed, seen.errors) == (1, 0, [])
    key = "mailroute:<t1@arkitekt.dk>"
    routed = r.store.get_effect(key)
    assert routed is not None and routed.state is EffectState.DONE and routed.result == {"routed": False}

    del r.mail.messages[gone]
    r.store.plan_effect(
        "mailroute:<t2@arkitekt.dk>", {"mailbox": MAIN, "folder": "inbox", "message_id": gone}
    )
    stats = await service.run_once(pull=False)
    assert stats.errors == [] and stats.mail_routed == 0
    skipped = r.store.get_effect("mailroute:<t2@arkitekt.dk>")
    assert skipped is not None and skipped.state is EffectState.DONE
    assert skipped.result == {"skipped": "message gone"}


async def test_a_rule_disabled_just_before_a_crash_is_still_alerted_once() -> None:
    r = rig()
    r.store.disable_rule(
        "KLE 27 til Jobcenter", "evaluation took longer than 5 s (on memo x)"
    )  # then "crash"
    stats = await r.service().run_once(pull=False)
    assert stats.alerts == 1
    [alert] = r.mail.in_folder(MONITOR, "inbox")
    assert "KLE 27 til Jobcenter" in alert.message.subject
    again = await r.service().run_once(pull=False)
    assert again.alerts == 0 and len(r.mail.in_folder(MONITOR, "inbox")) == 1
    # Disabled rules are skipped: the memo goes by its contact point instead.
    uid, xml = citizen_memo(label="Ledighed", kle="27.10.00", contact_point=CP_BYG)
    r.ngdp.hold_memo(uid, xml)
    await r.service().run_once()
    assert r.delivered(BYG, "Ledighed").message.categories == ["Digital Post: Modtaget"]
    assert r.mail.in_folder(JOB, "inbox") == []


async def test_a_memo_addressed_to_another_organisation_goes_to_the_main_mailbox_whatever_the_rules_say() -> (
    None
):
    r = rig()
    other_cvr = "35833684"
    # The contact point maps to BYG and the KLE matches the rule to JOB: neither may take another's post.
    uid, xml = citizen_memo(label="Ikke vores", contact_point=CP_BYG, kle="27.00.00")
    r.ngdp.hold_memo(uid, xml.replace(ORG_CVR.encode(), other_cvr.encode()))
    ours, ours_xml = citizen_memo(label="Vores", contact_point=CP_BYG, kle="27.00.00")
    r.ngdp.hold_memo(ours, ours_xml)

    stats = await r.service().run_once()

    assert stats.errors == [] and stats.delivered == 2
    mail = r.delivered(MAIN, "Ikke vores").message
    assert "dpg-banner" in mail.body
    assert f"CVR {other_cvr}" in mail.body and f"CVR {ORG_CVR}" in mail.body
    assert "Digital Post: Advarsel" in mail.categories
    assert r.delivered(JOB, "Vores").message.subject == "Vores"  # the rule still routes our own post
    assert [m.message.subject for m in r.mail.in_folder(BYG, "inbox")] == []
    row = r.store.get_inbound(uid)
    assert row is not None and row.route is not None
    assert row.route["banner"] == "foreign" and row.route["addressed_to"] == other_cvr
    assert r.ngdp.memo_receipts[uid].status == "COMPLETED"


async def test_a_memo_ngdp_lists_again_after_it_was_delivered_and_deleted_is_deleted_again_not_delivered_twice() -> (
    None
):
    r = rig()
    uid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    r.ngdp.hold_memo(uid, xml)
    await r.service().run_once()
    assert r.ngdp.memos == {}
    # NgDP offers the same memo again (a delete it lost, or a redelivery under the same id).
    r.ngdp.hold_memo(uid, xml)

    stats = await r.service().run_once()

    assert (stats.pulled, stats.delivered, stats.deleted) == (0, 0, 1)
    assert r.ngdp.memos == {}  # not left listed, to be fetched every cycle
    assert [m.message.subject for m in r.mail.in_folder(BYG, "inbox")] == ["Carport"]  # delivered once
    assert len(r.store.audited("inbound.memo.relisted")) == 1
