"""Meeting invitations sent from a function mailbox to Digital Post: a letter with an ``AFTALE`` action.

A meeting request an organiser sends from Outlook lands in Sent Items as a Graph ``eventMessage``
(``eventMessageRequest`` for a request or an update, ``meetingMessageType`` ``meetingRequest``; a
cancellation is ``meetingCancelled``; api-reference/v1.0/resources/eventmessage.md,
eventmessagerequest.md). This module turns such a mail, as the adapter read it (``MailMessage.meeting``),
into what the letter needs; it does no I/O:

- the subject: unchanged for an invitation, with a Danish/English prefix for an update or a cancellation;
- a lead paragraph in front of the invitation text saying when and where (Danish local time), or that the
  appointment changed (and from when) or is cancelled;
- for an invitation or an update, a MeMo ``Action`` with ``actionCode`` ``AFTALE`` (label = subject,
  ``startDateTime``/``endDateTime`` in UTC, ``Reservation`` with description, a UUID stable per meeting,
  abstract, location, start, end, organiser; MeMo_core.xsd ``Action``/``Reservation``);
- the recipients without the room and resource mailboxes among the attendees (they book the room, they are
  not letter recipients, and must not turn into findings).

An update is recognised by ``previousStartDateTime``/``previousEndDateTime``/``previousLocation``, which
Graph sets "if the meeting update changes" them (eventmessagerequest.md). A recurring meeting gets no
``AFTALE`` (MeMo's action holds one start and end; offering only the first occurrence to a calendar would
be wrong) and a warning in the receipt.

Times: Graph gives ``dateTimeTimeZone`` (a wall-clock time and a zone name, Windows or IANA;
resources/datetimetimezone.md); MeMo wants ``memoDateTimeType``, an ``xs:dateTime`` ending in ``Z``
(MeMo_dataTypes.xsd). The wall-clock time is placed in its zone with :mod:`zoneinfo` (so summer time is
honoured) and converted to UTC. A time in the spring-forward gap takes the offset before the change
(``fold=0``), as :pep:`495` defines; an unknown zone refuses the mail with a finding rather than guess.
"""

from __future__ import annotations

import hashlib
import html
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from graph_dpg.core.errors import Finding
from graph_dpg.domain.html_text import text_to_html
from graph_dpg.domain.local_time import COPENHAGEN
from graph_dpg.domain.mail import EmailAddress, MailMessage, MeetingInfo, ZonedTime
from graph_dpg.domain.texts import Text, text
from graph_dpg.memo.model import Action, Reservation

MeetingKind = Literal["invitation", "update", "cancellation"]

#: MeMo's memoTextType holds at most 256 characters (MeMo_dataTypes.xsd).
TEXT_MAX = 256
#: Where the citizen reads the time: the letter shows Danish local time.
SHOWN_ZONE = COPENHAGEN

#: Windows time-zone names Outlook writes → IANA, from Unicode CLDR's windowsZones.xml (territory "001",
#: the zone each Windows name stands for). The zones a Danish organisation's calendars use, and their
#: neighbours; anything else must be an IANA name or "UTC", or the mail is refused (not guessed).
WINDOWS_ZONES: dict[str, str] = {
    "utc": "UTC",
    "coordinated universal time": "UTC",
    "romance standard time": "Europe/Paris",
    "w. europe standard time": "Europe/Berlin",
    "central europe standard time": "Europe/Budapest",
    "central european standard time": "Europe/Warsaw",
    "gmt standard time": "Europe/London",
    "greenwich standard time": "Atlantic/Reykjavik",
    "greenland standard time": "America/Godthab",
    "fle standard time": "Europe/Kiev",
    "e. europe standard time": "Europe/Chisinau",
    "gtb standard time": "Europe/Bucharest",
    "russian standard time": "Europe/Moscow",
    "eastern standard time": "America/New_York",
    "central standard time": "America/Chicago",
    "mountain standard time": "America/Denver",
    "pacific standard time": "America/Los_Angeles",
}

_CANCELLED = "meetingcancelled"
_REQUEST = "meetingrequest"


class MeetingTimeError(ValueError):
    """A ``dateTimeTimeZone`` that cannot be placed on the time line (unknown zone, unreadable time)."""

    def __init__(self, zone: str) -> None:
        super().__init__(f"unknown time zone or time: {zone!r}")
        self.zone = zone


def zone_of(name: str) -> ZoneInfo:
    """The zone a Graph ``timeZone`` names: a Windows name (CLDR mapping) or an IANA name."""
    key = name.strip()
    mapped = WINDOWS_ZONES.get(key.casefold())
    try:
        return ZoneInfo(mapped or key)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise MeetingTimeError(name) from exc


_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def to_utc(value: ZonedTime) -> datetime:
    """The instant ``value`` names, in UTC. Graph writes seven fractional digits ("...T09:00:00.0000000");
    a time with its own offset keeps it (the zone is then not consulted)."""
    raw = _FRACTION.sub(r"\1", value.date_time.strip())
    try:
        local = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MeetingTimeError(value.time_zone or value.date_time) from exc
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone_of(value.time_zone or "UTC"))
    return local.astimezone(UTC)


def meeting_kind(info: MeetingInfo) -> MeetingKind | None:
    """What the letter is: an invitation, an update or a cancellation; None for any other event message
    (an answer such as ``meetingAccepted``), which goes as an ordinary letter."""
    kind = info.message_type.strip().casefold()
    if kind == _CANCELLED or info.is_cancelled:
        return "cancellation"
    if kind != _REQUEST:
        return None
    if info.previous_start is not None or info.previous_end is not None or info.previous_location:
        return "update"
    return "invitation"


def reservation_uuid(info: MeetingInfo, fallback: str) -> str:
    """One UUID per meeting (the same for its updates), from the iCalendar UID; MeMo's memoUuidType wants
    the version-4 shape, so the bits are set as version 4 (the value is a hash, not random)."""
    seed = info.ical_uid or fallback
    digest = hashlib.sha256(f"graph-dpg meeting {seed}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def shown_when(start: datetime, end: datetime, language: str, *, all_day: bool = False) -> str:
    """The time span as a case worker or citizen reads it: Danish local time, Danish style."""
    a, b = start.astimezone(SHOWN_ZONE), end.astimezone(SHOWN_ZONE)
    day = "%d.%m.%Y" if language != "en" else "%Y-%m-%d"
    clock = "%H.%M" if language != "en" else "%H:%M"
    if all_day:
        return text(Text.MEETING_WHEN_ALL_DAY, language, date=a.strftime(day))
    if a.date() == b.date():
        return text(
            Text.MEETING_WHEN, language, date=a.strftime(day), start=a.strftime(clock), end=b.strftime(clock)
        )
    return text(
        Text.MEETING_WHEN_DAYS,
        language,
        date=a.strftime(day),
        start=a.strftime(clock),
        end_date=b.strftime(day),
        end=b.strftime(clock),
    )


@dataclass
class MeetingLetter:
    """The mail as the letter is made of it, and the ``AFTALE`` action for its main document."""

    kind: MeetingKind
    message: MailMessage
    action: Action | None = None
    findings: list[Finding] = field(default_factory=list)


def _clip(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip()[:TEXT_MAX]


#: The prefixes Outlook itself puts on a cancellation or update subject (English and Danish Outlook); the
#: letter's own prefix replaces them, so it does not say it twice. An inference from Outlook's UI.
_OUTLOOK_PREFIX = re.compile(r"^\s*(?:canceled|cancelled|aflyst|updated|opdateret)\s*:\s*", re.IGNORECASE)


def _prefixed(subject: str, key: Text, language: str) -> str:
    subject = _OUTLOOK_PREFIX.sub("", subject)
    prefixed = text(key, language, subject="")
    if subject.casefold().startswith(prefixed.strip().casefold()):
        return subject
    return text(key, language, subject=subject)


def _without(addresses: list[EmailAddress], resources: set[str]) -> list[EmailAddress]:
    return [a for a in addresses if a.address.casefold() not in resources]


def meeting_letter(msg: MailMessage, language: str) -> MeetingLetter | Finding | None:
    """The letter for a meeting mail; None when ``msg`` is no meeting request/update/cancellation; a
    Finding (error) when its time cannot be read."""
    info = msg.meeting
    if info is None:
        return None
    kind = meeting_kind(info)
    if kind is None:
        return None
    try:
        start = to_utc(info.start) if info.start is not None else None
        end = to_utc(info.end) if info.end is not None else None
        before_start = to_utc(info.previous_start) if info.previous_start is not None else start
        before_end = to_utc(info.previous_end) if info.previous_end is not None else end
    except MeetingTimeError as exc:
        return Finding("meeting.time", text(Text.MEETING_BAD_TIME, language, zone=exc.zone), "meeting")
    if start is None or end is None:
        return Finding("meeting.time", text(Text.MEETING_BAD_TIME, language, zone="-"), "meeting")
    if end < start:
        start, end = end, start
    recurring = info.recurring
    when = shown_when(start, end, language, all_day=info.is_all_day)
    place = _clip(info.location)
    subject = msg.subject
    lead: list[str] = []
    findings: list[Finding] = []
    if kind == "cancellation":
        subject = _prefixed(subject, Text.MEETING_SUBJECT_CANCELLED, language)
        lead.append(text(Text.MEETING_LEAD_CANCELLED, language, when=when))
    elif kind == "update":
        subject = _prefixed(subject, Text.MEETING_SUBJECT_UPDATED, language)
        lead.append(text(Text.MEETING_LEAD_UPDATED, language, when=when))
        if before_start is not None and before_end is not None and (before_start, before_end) != (start, end):
            lead.append(
                text(
                    Text.MEETING_LEAD_PREVIOUS,
                    language,
                    when=shown_when(before_start, before_end, language, all_day=info.is_all_day),
                )
            )
    elif recurring:
        lead.append(text(Text.MEETING_LEAD_RECURRING, language, when=when))
        findings.append(
            Finding("meeting.recurring", text(Text.MEETING_RECURRING_NOTE, language), "meeting", "warning")
        )
    else:
        lead.append(text(Text.MEETING_LEAD_INVITATION, language, when=when))
    if place:
        lead.append(text(Text.MEETING_PLACE, language, location=place))
    resources = {r.casefold() for r in info.resources}
    body = _with_lead(msg, lead)
    letter = replace(
        msg,
        subject=subject,
        body=body,
        body_type="html",
        to=_without(list(msg.to), resources),
        cc=_without(list(msg.cc), resources),
        bcc=_without(list(msg.bcc), resources),
    )
    action = None
    if kind != "cancellation" and not recurring:
        label = _clip(msg.subject) or text(Text.MEETING_NO_PLACE, language)
        organizer = info.organizer or msg.sender
        action = Action(
            label=label,
            action_code="AFTALE",
            start_datetime=start,
            end_datetime=end,
            reservation=Reservation(
                description=label,
                reservation_uuid=reservation_uuid(info, msg.internet_message_id or msg.subject),
                abstract=label,
                location=place or text(Text.MEETING_NO_PLACE, language),
                start_datetime=start,
                end_datetime=end,
                organizer_mail=_clip(organizer.address) if organizer else None,
                organizer_name=(_clip(organizer.name) or None) if organizer else None,
            ),
        )
    return MeetingLetter(kind, letter, action, findings)


def _with_lead(msg: MailMessage, lead: list[str]) -> str:
    """The invitation text with the lead paragraph in front (an HTML body keeps its markup)."""
    paragraph = "<p><strong>" + html.escape(" ".join(lead)) + "</strong></p>"
    body = msg.body if msg.body_type == "html" else text_to_html(msg.body)
    opened = re.search(r"<body\b[^>]*>", body, re.IGNORECASE)
    if opened is None:
        return paragraph + body
    return body[: opened.end()] + paragraph + body[opened.end() :]
