"""Meeting invitations from a function mailbox to Digital Post (seed 001: "forbedret support for
mødeinvitationer herunder lokalebookning sendt fra sikre postkasser").

Sent Items hold an eventMessageRequest (or an eventMessage with meetingMessageType meetingCancelled),
api-reference/v1.0/resources/eventmessage.md and eventmessagerequest.md; the adapter reads its event through
``$expand=microsoft.graph.eventMessage/event`` (api/eventmessage-get.md, example 2). The letter's MeMo carries
an AFTALE action (MeMo_core.xsd Action/Reservation) and is checked against the XSD with xmlschema (the NgDP
emulator's independent validator).
"""

from __future__ import annotations

from datetime import UTC, datetime

from graph_dpg.memo import parse
from graph_dpg.sandbox.ngdp.memo_check import validate_memo

from .harness import CITIZEN, MAILBOX, Harness

GW = "ngdp.digital-post.dk"
TO = [("", f"{CITIZEN}@29189846.{GW}")]
ROOM = ("Mødelokale 2", "lokale2@kommune.dk")
PROJECTOR = ("Projektor", "projektor@kommune.dk")


def _xsd_valid(xml: bytes) -> None:
    assert validate_memo(xml, mandatory_allowed=False, legal_notification_allowed=False) == []


async def test_a_meeting_request_becomes_a_letter_with_an_aftale_action(h: Harness) -> None:
    mid = h.tenant.put_sent_meeting(
        MAILBOX,
        "Samtale om boligstøtte",
        "<html><body><p>Vi ses på rådhuset.</p></body></html>",
        TO,
        # Romance Standard Time in summer (CEST, UTC+2): 10:00 local is 08:00Z.
        start="2026-06-10T10:00:00.0000000",
        end="2026-06-10T11:00:00.0000000",
        time_zone="Romance Standard Time",
        location="Rådhuset, lokale 2",
        room=ROOM,
        resources=[PROJECTOR],
        ical_uid="ICAL-1",
    )
    await h.cycle()
    [memo] = h.ngdp.accepted
    _xsd_valid(memo.xml)
    parsed = parse(memo.xml)
    assert parsed.header.label == "Samtale om boligstøtte"
    [action] = parsed.body.main_document.actions
    assert action.action_code == "AFTALE"
    assert action.label == "Samtale om boligstøtte"
    assert action.start_datetime == datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
    assert action.end_datetime == datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    assert action.reservation is not None
    assert action.reservation.location == "Rådhuset, lokale 2"
    assert action.reservation.organizer_mail == MAILBOX
    html = next(f for f in parsed.body.main_document.files if f.encoding_format == "text/html")
    shown = html.content.decode()
    assert "10.06.2026 kl. 10.00-11.00" in shown and "Vi ses på rådhuset." in shown
    # The room and the projector are left alone: no letter, no finding; one receipt as for any letter.
    [receipt] = h.receipts()
    assert receipt["subject"] == "DPG kvittering: Samtale om boligstøtte"
    assert "lokale2" not in receipt["body"]["content"] and "projektor" not in receipt["body"]["content"]
    assert h.categories(mid) == ["Digital Post: Sendt"]


async def test_an_update_and_a_cancellation_send_follow_up_letters_that_say_so(h: Harness) -> None:
    common = {"time_zone": "UTC", "location": "Jobcentret", "ical_uid": "ICAL-2"}
    h.tenant.put_sent_meeting(
        MAILBOX,
        "Møde",
        "<p>Velkommen</p>",
        TO,
        start="2026-03-02T09:00:00",
        end="2026-03-02T10:00:00",
        **common,
    )
    await h.cycle()
    h.tenant.put_sent_meeting(
        MAILBOX,
        "Møde",
        "<p>Velkommen</p>",
        TO,
        start="2026-03-03T09:00:00",
        end="2026-03-03T10:00:00",
        previous_start="2026-03-02T09:00:00",
        previous_end="2026-03-02T10:00:00",
        **common,
    )
    await h.cycle()
    h.tenant.put_sent_meeting(
        MAILBOX,
        "Aflyst: Møde",
        "<p>Mødet er aflyst</p>",
        TO,
        start="2026-03-03T09:00:00",
        end="2026-03-03T10:00:00",
        cancelled=True,
        **common,
    )
    await h.cycle()
    first, update, cancel = (parse(m.xml) for m in h.ngdp.accepted)
    for m in h.ngdp.accepted:
        _xsd_valid(m.xml)
    assert update.header.label == "Ændret aftale: Møde"
    [moved] = update.body.main_document.actions
    assert moved.start_datetime == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    # The same meeting keeps its reservation UUID, so a calendar can replace the first entry.
    [booked] = first.body.main_document.actions
    assert booked.reservation and moved.reservation
    assert booked.reservation.reservation_uuid == moved.reservation.reservation_uuid
    text = next(
        f for f in update.body.main_document.files if f.encoding_format == "text/plain"
    ).content.decode()
    assert "Aftalen er ændret" in text and "Før ændringen: 02.03.2026 kl. 10.00-11.00" in text
    assert cancel.header.label == "Aflyst aftale: Møde"  # Outlook's own "Aflyst:" is not said twice
    assert cancel.body.main_document.actions == ()
    text = next(
        f for f in cancel.body.main_document.files if f.encoding_format == "text/plain"
    ).content.decode()
    assert "er aflyst" in text
    assert len(h.receipts()) == 3
