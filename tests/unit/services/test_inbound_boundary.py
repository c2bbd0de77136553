"""The failure boundary around one inbound memo and one routed mail, on the fakes, and a full target
mailbox: every memo ends delivered (raw, with a banner, if nothing else works) and answered, and the next
memo is never held up."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from graph_dpg.core.errors import TransientError
from graph_dpg.domain.mail import EmailAddress, MailMessage
from graph_dpg.ports.store import EffectState, InboundState
from graph_dpg.services.boundary import Reason, Stage
from graph_dpg.services.inbound import MEMO_PROPERTY
from tests.fakes import Stored
from tests.unit.inbound.inbound_memos import CP_BYG, citizen_memo
from tests.unit.services.test_inbound_edges import BYG, MAIN, MONITOR, Rig, rig


def year_9999(xml: bytes) -> bytes:
    """The memo created at the last second of year 9999, 14 hours west of UTC: a date Python's calendar
    cannot hold once it is moved to UTC (NgDP's XSD should stop it; the push receiver stores anything)."""
    return re.sub(
        rb"(<memo:createdDateTime>)[^<]*(</memo:createdDateTime>)", rb"\g<1>9999-12-31T23:59:59-14:00\2", xml
    )


def raw_xml(stored: Stored, memo_uuid: str) -> bytes | None:
    return next((a.content for a in stored.message.attachments if a.name == f"{memo_uuid}.memo.xml"), None)


def only(r: Rig, mailbox: str) -> Stored:
    [found] = r.mail.in_folder(mailbox, "inbox")
    return found


async def test_a_memo_that_cannot_be_read_is_delivered_raw_answered_invalid_and_holds_up_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = rig()
    bad, xml = citizen_memo(label="Fra fremtiden", contact_point=CP_BYG)
    good, good_xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    r.ngdp.hold_memo(bad, year_9999(xml))
    r.ngdp.hold_memo(good, good_xml)
    service = r.service()
    caplog.set_level(logging.WARNING)

    stats = await service.run_once()

    assert (stats.delivered, stats.acknowledged, stats.deleted) == (2, 2, 2)
    assert r.delivered(BYG, "Carport").message.categories == ["Digital Post: Modtaget"]
    stored = only(r, MAIN)
    assert raw_xml(stored, bad) == year_9999(xml) and stored.properties == {MEMO_PROPERTY: bad}
    assert "Digital Post: Advarsel" in stored.message.categories
    receipt = r.ngdp.memo_receipts[bad]
    assert (receipt.status, receipt.error_code) == ("INVALID", "INVALID_MEMO")
    # The reader now refuses the date itself (a finding naming the field); were it to raise something
    # unexpected instead, the boundary would answer "could not be read". Either way the memo is INVALID.
    assert receipt.error_message is not None
    assert "createdDateTime" in receipt.error_message or "could not be read" in receipt.error_message
    assert r.ngdp.memo_receipts[good].status == "COMPLETED"
    row = r.store.get_inbound(bad)
    assert row is not None and row.state is InboundState.DELETED and row.target_mailbox == MAIN
    # Whatever this branch's reader raises for such a date (an OverflowError, or a MemoError once the
    # reader refuses it itself), the memo ends the same way; an unexpected one is logged with its trace.
    crashes = service.failures.counts()[(Stage.INBOUND_MEMO, Reason.INTERNAL_ERROR)]
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == crashes <= 1 and all(rec.exc_info is not None for rec in errors)


async def test_a_memo_whose_delivery_raises_is_delivered_raw_with_a_banner_and_answered_completed() -> None:
    r = rig()
    uid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    after, after_xml = citizen_memo(label="Tilbygning", contact_point=CP_BYG)
    r.ngdp.hold_memo(uid, xml)
    r.ngdp.hold_memo(after, after_xml)
    r.mail.fail_next("create_message", OverflowError("date value out of range"))
    service = r.service()

    stats = await service.run_once()

    assert (stats.delivered, stats.unshown, stats.acknowledged) == (2, 1, 2)
    stored = only(r, MAIN)
    assert stored.message.subject == "Digital Post-meddelelse, der ikke kunne vises"  # the id: support line
    assert (
        "kunne ikke vises" in stored.message.body
        and "OverflowError: date value out of range" in stored.message.body
    )
    assert f"Til it-support: {uid}; OverflowError" in stored.message.body  # the one support line
    assert raw_xml(stored, uid) == xml and stored.properties == {MEMO_PROPERTY: uid}
    assert r.ngdp.memo_receipts[uid].status == "COMPLETED"  # the memo is fine; showing it was not
    assert r.delivered(BYG, "Tilbygning").message.subject == "Tilbygning"
    row = r.store.get_inbound(uid)
    assert row is not None and row.route is not None and row.route["banner"] == "unshown"
    [unshown] = r.store.audited("inbound.memo.unshown")
    assert unshown.subject == uid and "OverflowError" in str(unshown.details["error"])
    assert service.failures.counts()[(Stage.INBOUND_MEMO, Reason.INTERNAL_ERROR)] == 1


async def test_a_memo_whose_raw_delivery_fails_too_waits_and_is_delivered_raw_next_time() -> None:
    r = rig()
    uid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    other, other_xml = citizen_memo(label="Tilbygning", contact_point=CP_BYG)
    r.ngdp.hold_memo(uid, xml)
    r.ngdp.hold_memo(other, other_xml)
    r.mail.fail_next("create_message", KeyError("body"), times=2)

    first = await r.service().run_once()
    assert (first.delivered, len(first.errors)) == (1, 1)
    row = r.store.get_inbound(uid)
    assert row is not None and (row.state, row.attempts) == (InboundState.RECEIVED, 1)
    assert row.error is not None and "KeyError" in row.error

    second = await r.service().run_once()
    assert (second.delivered, second.unshown, second.errors) == (1, 1, [])
    assert raw_xml(only(r, MAIN), uid) == xml


async def test_a_full_mailbox_is_alerted_once_and_its_memo_goes_to_the_main_mailbox_after_a_while() -> None:
    r = rig(fallback_after_seconds=3600.0)
    r.mail.full.add(BYG)
    uid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    second, second_xml = citizen_memo(label="Tilbygning", contact_point=CP_BYG)
    r.ngdp.hold_memo(uid, xml)
    r.ngdp.hold_memo(second, second_xml)

    first = await r.service().run_once()
    assert (first.delivered, first.alerts, len(first.errors)) == (0, 1, 2)
    [alert] = r.mail.in_folder(MONITOR, "inbox")
    assert alert.message.subject == f"Digital Post Gateway: postkassen {BYG} er fuld"
    assert "60 minutter" in alert.message.body and MAIN in alert.message.body
    assert r.ngdp.memo_receipts == {} and set(r.ngdp.memos) == {uid, second}  # NgDP keeps them
    again = await r.service().run_once()
    assert (again.delivered, again.alerts) == (0, 0)  # alerted once, not every cycle
    assert len(r.mail.in_folder(MONITOR, "inbox")) == 1
    assert len(r.store.audited("inbound.mailbox.full")) == 1

    for memo_uuid in (uid, second):  # an hour later
        row = r.store.get_inbound(memo_uuid)
        assert row is not None
        r.store.inbound[memo_uuid] = replace(row, received_at=row.received_at - timedelta(hours=1))
    later = await r.service().run_once()  # one more refusal, and the fallback is recorded
    assert len(r.store.audited("inbound.memo.fallback")) == 2
    final = await r.service().run_once()
    assert (final.delivered, final.fallbacks, final.acknowledged, final.errors) == (2, 2, 2, [])
    assert later.delivered == 0
    mail = r.delivered(MAIN, "Carport").message
    assert f"Kunne ikke leveres i {BYG}" in mail.body and "postkassen er fuld" in mail.body
    assert r.ngdp.memo_receipts[uid].status == "COMPLETED"
    assert r.mail.in_folder(BYG, "inbox") == []


async def test_a_full_main_mailbox_is_alerted_and_its_memo_waits_until_there_is_room() -> None:
    r = rig(fallback_after_seconds=0.0)
    r.mail.full.add(MAIN)
    uid, xml = citizen_memo(label="Uden kontaktpunkt", contact_point=None)
    r.ngdp.hold_memo(uid, xml)
    first = await r.service().run_once()
    assert (first.delivered, first.alerts) == (0, 1)
    [alert] = r.mail.in_folder(MONITOR, "inbox")
    assert "Det er hovedpostkassen" in alert.message.body
    assert r.store.audited("inbound.memo.fallback") == []  # nowhere else to go: it waits, never lost
    r.mail.full.discard(MAIN)
    after = await r.service().run_once()
    assert (after.delivered, after.acknowledged) == (1, 1)
    assert r.delivered(MAIN, "Uden kontaktpunkt").properties == {MEMO_PROPERTY: uid}


async def test_transient_failures_at_the_target_for_too_long_send_the_memo_to_the_main_mailbox() -> None:
    r = rig(fallback_after_seconds=0.0)
    uid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    r.ngdp.hold_memo(uid, xml)
    r.mail.fail_next("ensure_folder", TransientError("Service Unavailable", "graph", 503))
    first = await r.service().run_once()
    assert (first.delivered, first.alerts) == (0, 0)  # no alert for a busy Graph
    second = await r.service().run_once()
    assert (second.delivered, second.fallbacks) == (1, 1)
    assert "503" in r.delivered(MAIN, "Carport").message.body


async def test_a_receipt_whose_sending_raises_waits_and_the_others_are_answered() -> None:
    r = rig()
    uid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    other, other_xml = citizen_memo(label="Tilbygning", contact_point=CP_BYG)
    r.ngdp.hold_memo(uid, xml)
    r.ngdp.hold_memo(other, other_xml)
    r.ngdp.fail_next("send_memo_receipt", AttributeError("'NoneType' object has no attribute 'encode'"))
    service = r.service()
    first = await service.run_once()
    assert (first.delivered, first.acknowledged, len(first.errors)) == (2, 1, 1)
    assert service.failures.counts()[(Stage.INBOUND_RECEIPT, Reason.INTERNAL_ERROR)] == 1
    second = await r.service().run_once()
    assert (second.acknowledged, second.errors) == (1, [])
    assert {m: rec.status for m, rec in r.ngdp.memo_receipts.items()} == {
        uid: "COMPLETED",
        other: "COMPLETED",
    }


async def test_a_secure_mail_whose_routing_raises_stays_where_it_is_and_the_next_one_is_routed() -> None:
    r = rig(routed_folder=None)
    for n in (1, 2):
        r.mail.put(
            MAIN,
            "inbox",
            MailMessage(
                subject=f"Byggesag {n}",
                body="<p>Se bilag</p>",
                sender=EmailAddress("a@arkitekt.dk"),
                to=[EmailAddress(MAIN)],
                internet_message_id=f"<t{n}@arkitekt.dk>",
                received_at=datetime(2026, 12, 1, 9, n, tzinfo=UTC),
            ),
        )
    r.mail.fail_next("get_message", UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))
    service = r.service()
    stats = await service.run_once(pull=False)
    assert stats.mail_seen == 2
    failed = r.store.get_effect("mailroute:<t1@arkitekt.dk>")
    assert failed is not None and failed.state is EffectState.DONE and failed.result is not None
    assert str(failed.result["failed"]).startswith("UnicodeDecodeError")
    routed = r.store.get_effect("mailroute:<t2@arkitekt.dk>")
    assert routed is not None and routed.state is EffectState.DONE and "failed" not in (routed.result or {})
    assert service.failures.counts()[(Stage.INBOUND_MAIL, Reason.INTERNAL_ERROR)] == 1
    assert len(r.mail.in_folder(MAIN, "inbox")) == 2  # both still in the inbox a person reads
    assert r.store.pending_effects(prefix="mailroute:") == []  # not tried again and again


async def test_a_secure_mail_whose_routing_keeps_failing_is_left_in_the_inbox_after_the_fallback_time() -> (
    None
):
    for wait, closed in ((3600.0, False), (0.0, True)):
        r = rig(routed_folder=None, fallback_after_seconds=wait)
        r.mail.put(
            MAIN,
            "inbox",
            MailMessage(
                subject="Byggesag",
                sender=EmailAddress("a@arkitekt.dk"),
                to=[EmailAddress(MAIN)],
                internet_message_id="<t1@arkitekt.dk>",
            ),
        )
        r.mail.fail_next("get_message", TransientError("Service Unavailable", "graph", 503))
        service = r.service()
        stats = await service.run_once(pull=False)
        effect = r.store.get_effect("mailroute:<t1@arkitekt.dk>")
        assert effect is not None and (effect.state is EffectState.DONE) is closed
        assert bool(stats.errors) is not closed
        assert service.failures.counts()[(Stage.INBOUND_MAIL, Reason.GAVE_UP)] == int(closed)
        if closed:
            assert effect.result is not None and "503" in str(effect.result["gave_up"])
        assert len(r.mail.in_folder(MAIN, "inbox")) == 1
