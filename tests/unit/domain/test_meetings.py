"""Meeting mail → letter with AFTALE (domain/meetings.py). Graph's dateTimeTimeZone
(api-reference/v1.0/resources/datetimetimezone.md) becomes MeMo's memoDateTimeType (xs:dateTime in UTC, "Z",
MeMo_dataTypes.xsd); Windows zone names as CLDR windowsZones.xml maps them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from graph_dpg.core.errors import Finding
from graph_dpg.domain.mail import EmailAddress, MailMessage, MeetingInfo, ZonedTime
from graph_dpg.domain.meetings import (
    MeetingLetter,
    MeetingTimeError,
    meeting_kind,
    meeting_letter,
    reservation_uuid,
    to_utc,
)


@pytest.mark.parametrize(
    ("local", "zone", "expected"),
    [
        # Copenhagen: CET (UTC+1) until 29 March 2026 02:00, then CEST (UTC+2) until 25 October 03:00.
        ("2026-03-28T10:00:00.0000000", "Romance Standard Time", datetime(2026, 3, 28, 9, 0, tzinfo=UTC)),
        ("2026-03-30T10:00:00.0000000", "Romance Standard Time", datetime(2026, 3, 30, 8, 0, tzinfo=UTC)),
        ("2026-10-24T10:00:00", "Europe/Copenhagen", datetime(2026, 10, 24, 8, 0, tzinfo=UTC)),
        ("2026-10-26T10:00:00", "Europe/Copenhagen", datetime(2026, 10, 26, 9, 0, tzinfo=UTC)),
        ("2026-07-01T10:00:00", "W. Europe Standard Time", datetime(2026, 7, 1, 8, 0, tzinfo=UTC)),
        ("2026-07-01T10:00:00.0000000", "UTC", datetime(2026, 7, 1, 10, 0, tzinfo=UTC)),
        # In the spring-forward gap 02:30 does not exist; fold=0 takes the offset before (PEP 495).
        ("2026-03-29T02:30:00", "Europe/Copenhagen", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        # Repeated hour in autumn: fold=0 is the first (summer-time) 02:30.
        ("2026-10-25T02:30:00", "Europe/Copenhagen", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    ],
)
def test_graph_times_become_utc_with_summer_time_honoured(local: str, zone: str, expected: datetime) -> None:
    assert to_utc(ZonedTime(local, zone)) == expected


def test_an_unknown_zone_is_refused_not_guessed() -> None:
    with pytest.raises(MeetingTimeError):
        to_utc(ZonedTime("2026-07-01T10:00:00", "tzone://Microsoft/Custom"))


def _meeting(**kw: object) -> MailMessage:
    info = MeetingInfo(
        message_type=str(kw.pop("message_type", "meetingRequest")),
        start=ZonedTime("2026-06-10T08:00:00.0000000"),
        end=ZonedTime("2026-06-10T09:00:00.0000000"),
        location="Rådhuset",
        ical_uid="UID-1",
        resources=("Lokale2@kommune.dk",),
        **kw,  # type: ignore[arg-type]
    )
    return MailMessage(
        subject="Samtale",
        body="<p>Tekst</p>",
        sender=EmailAddress("borgerservice@kommune.dk", "Borgerservice"),
        to=[EmailAddress("0101701234@29189846.ngdp.digital-post.dk"), EmailAddress("lokale2@kommune.dk")],
        meeting=info,
    )


def test_kinds_from_meeting_message_type_and_previous_fields() -> None:
    assert meeting_kind(MeetingInfo("meetingRequest")) == "invitation"
    assert (
        meeting_kind(MeetingInfo("meetingRequest", previous_start=ZonedTime("2026-01-01T09:00:00")))
        == "update"
    )
    assert meeting_kind(MeetingInfo("meetingCancelled")) == "cancellation"
    assert meeting_kind(MeetingInfo("meetingAccepted")) is None  # an answer goes as an ordinary letter


def test_invitation_has_aftale_with_utc_times_and_no_room_recipient() -> None:
    letter = meeting_letter(_meeting(), "da")
    assert isinstance(letter, MeetingLetter)
    assert [a.address for a in letter.message.to] == ["0101701234@29189846.ngdp.digital-post.dk"]
    assert letter.action is not None and letter.action.action_code == "AFTALE"
    assert letter.action.start_datetime == datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
    assert letter.action.reservation is not None and letter.action.reservation.location == "Rådhuset"
    assert "10.06.2026 kl. 10.00-11.00" in letter.message.body
    assert letter.message.subject == "Samtale"


def test_english_mailbox_gets_english_words() -> None:
    letter = meeting_letter(_meeting(message_type="meetingCancelled"), "en")
    assert isinstance(letter, MeetingLetter)
    assert letter.message.subject == "Cancelled appointment: Samtale"
    assert letter.action is None
    assert "is cancelled" in letter.message.body


def test_recurring_meeting_has_no_aftale_and_a_warning() -> None:
    letter = meeting_letter(_meeting(recurring=True), "da")
    assert isinstance(letter, MeetingLetter)
    assert letter.action is None
    assert [f.severity for f in letter.findings] == ["warning"]


def test_unreadable_time_is_a_finding_in_words() -> None:
    msg = _meeting()
    assert msg.meeting is not None
    msg.meeting = MeetingInfo(
        "meetingRequest", ZonedTime("2026-06-10T08:00:00", "Mars/Olympus"), msg.meeting.end
    )
    finding = meeting_letter(msg, "da")
    assert isinstance(finding, Finding) and finding.rule == "meeting.time"
    assert "Mars/Olympus" in finding.message and "intet er sendt" in finding.message


def test_reservation_uuid_is_stable_per_meeting_and_version_4_shaped() -> None:
    a = reservation_uuid(MeetingInfo("meetingRequest", ical_uid="X"), "f")
    assert a == reservation_uuid(MeetingInfo("meetingRequest", ical_uid="X"), "other")
    assert a[14] == "4" and a[19] in "89ab"
