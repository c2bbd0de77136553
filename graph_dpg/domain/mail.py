"""Mail as the services see it: plain values, independent of Microsoft Graph's JSON or the SDK models.

The Graph adapter translates Graph message JSON into these (and back); the outbound and inbound services
consume and produce them. Attachment content is held as bytes; very large attachments are fetched by the
adapter on demand (``content is None`` with ``size`` set) so a delta page never carries them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class EmailAddress:
    address: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    content: bytes | None
    size: int = 0
    is_inline: bool = False
    content_id: str | None = None
    id: str | None = None  # Graph attachment id when read from a mailbox

    @property
    def length(self) -> int:
        return len(self.content) if self.content is not None else self.size


@dataclass(frozen=True)
class Header:
    name: str
    value: str


@dataclass(frozen=True)
class ZonedTime:
    """Graph's ``dateTimeTimeZone`` as given: a local wall-clock time and the zone it is in (a Windows or an
    IANA name, ``UTC`` by default; api-reference/v1.0/resources/datetimetimezone.md)."""

    date_time: str
    time_zone: str = "UTC"


@dataclass(frozen=True)
class MeetingInfo:
    """What an ``eventMessage`` in a mailbox says about its meeting (api-reference/v1.0/resources/
    eventmessage.md, eventmessagerequest.md; the ``event`` navigation gives attendees and iCalUId).

    ``message_type`` is Graph's ``meetingMessageType`` (``meetingRequest``, ``meetingCancelled``, ...);
    ``previous_*`` are set on an update that changed the time or the place; ``resources`` are the
    addresses of attendees of type ``resource`` (rooms, equipment)."""

    message_type: str
    start: ZonedTime | None = None
    end: ZonedTime | None = None
    location: str = ""
    previous_start: ZonedTime | None = None
    previous_end: ZonedTime | None = None
    previous_location: str = ""
    is_all_day: bool = False
    ical_uid: str = ""
    organizer: EmailAddress | None = None
    resources: tuple[str, ...] = ()
    is_cancelled: bool = False
    recurring: bool = False


@dataclass
class MailMessage:
    """One mail. ``id`` is the Graph (immutable) id when it came from a mailbox, else None."""

    subject: str = ""
    body: str = ""
    body_type: str = "html"  # "html" | "text"
    sender: EmailAddress | None = None  # Graph "from" (the mailbox the mail was sent as)
    to: list[EmailAddress] = field(default_factory=list)
    cc: list[EmailAddress] = field(default_factory=list)
    bcc: list[EmailAddress] = field(default_factory=list)
    reply_to: list[EmailAddress] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    headers: list[Header] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    id: str | None = None
    internet_message_id: str | None = None
    conversation_id: str | None = None
    mailbox: str | None = None  # the mailbox (UPN) this copy lives in
    folder_id: str | None = None
    received_at: datetime | None = None
    sent_at: datetime | None = None
    is_read: bool = False
    is_draft: bool = False
    has_attachments: bool = False
    extended_properties: dict[str, str] = field(default_factory=dict)
    #: Set for a meeting request/update/cancellation (a Graph ``eventMessage``), else None.
    meeting: MeetingInfo | None = None
    #: Graph ``importance`` (low, normal, high); None: not set (Graph's default, normal).
    importance: str | None = None

    @property
    def all_recipients(self) -> list[EmailAddress]:
        return [*self.to, *self.cc, *self.bcc]

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for h in self.headers:
            if h.name.lower() == lname:
                return h.value
        return None
