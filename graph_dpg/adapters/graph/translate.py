"""Graph message JSON ↔ :class:`graph_dpg.domain.mail.MailMessage`, on plain dicts (no SDK models).

Wire format (learn.microsoft.com/graph/api/resources/message)::

    {"id", "subject", "body": {"contentType": "html"|"text", "content"},
     "from"/"sender": {"emailAddress": {"name", "address"}},
     "toRecipients"/"ccRecipients"/"bccRecipients"/"replyTo": [{"emailAddress": {...}}],
     "internetMessageId", "conversationId", "parentFolderId", "receivedDateTime", "sentDateTime"
     (ISO 8601 UTC, "Z"), "isRead", "isDraft", "hasAttachments", "categories": [..],
     "internetMessageHeaders": [{"name", "value"}]      (only when $select-ed),
     "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "id", "name", "contentType",
                      "size", "isInline", "contentId", "contentBytes": base64}],
     "singleValueExtendedProperties": [{"id": "String {GUID} Name X", "value"}]}

Delta pages add ``{"id", "@removed": {"reason": "deleted"}}`` entries (handled by the caller).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from graph_dpg.domain.inbox_rules import Actions, InboxRule, Predicates
from graph_dpg.domain.mail import Attachment, EmailAddress, Header, MailMessage, MeetingInfo, ZonedTime
from graph_dpg.domain.smime import MESSAGE_CLASS_PROPERTY

#: The project's one property-set GUID for named extended properties. Never change it: existing
#: markers in mailboxes are only found again under the same GUID (extended-properties-overview.md:
#: "access a property always with the same id format").
PROPERTY_SET_GUID = "95A63522-6CE1-46FB-B0FA-87B0252922B2"

FILE_ATTACHMENT = "#microsoft.graph.fileAttachment"
ITEM_ATTACHMENT = "#microsoft.graph.itemAttachment"
REFERENCE_ATTACHMENT = "#microsoft.graph.referenceAttachment"

# MAPI properties for items created as "received" (docs/facts/graph.md, "Creating received items"):
# PidTagMessageFlags (mfRead=0x1; without mfUnsent=0x8 the item is not a draft), only settable at creation.
MESSAGE_FLAGS = "Integer 0x0E07"
DELIVERY_TIME = "SystemTime 0x0E06"  # PidTagMessageDeliveryTime → receivedDateTime
SUBMIT_TIME = "SystemTime 0x0039"  # PidTagClientSubmitTime → sentDateTime
INTERNET_MESSAGE_ID = "String 0x1035"  # PidTagInternetMessageId → internetMessageId
# PidTagDeleteAfterSubmit: the sent item is not kept in Sent Items; used for drafts sent with /send
# (learn.microsoft.com/office/client-developer/outlook/mapi/pidtagdeleteaftersubmit-canonical-property).
DELETE_AFTER_SUBMIT = "Boolean 0x0E01"

_PROP_PREFIX = f"String {{{PROPERTY_SET_GUID}}} Name "
_MESSAGE_CLASS_ID = re.compile(r"(?i)string\s+0x0*1a")
#: MAPI PidTagInReplyToId: the Message-ID a reply answers (read with get_message, see mailbox.FULL_EXPAND).
IN_REPLY_TO_PROPERTY = "String 0x1042"
#: MAPI PidTagInternetReferences: the References header (MS-OXOMSG 2.2.1.2; MS-OXCMAIL maps it to the header).
REFERENCES_PROPERTY = "String 0x1039"
#: The threading headers a created item can carry only as these properties (Graph refuses every
#: internetMessageHeaders name that does not start with x-).
THREADING_PROPERTIES = {"in-reply-to": IN_REPLY_TO_PROPERTY, "references": REFERENCES_PROPERTY}


def property_id(name: str) -> str:
    """The Graph id of the project's named string property ``name``."""
    if not name or any(c in name for c in "'\"{}"):
        raise ValueError(f"invalid extended property name {name!r}")
    return _PROP_PREFIX + name


def odata_quote(value: str) -> str:
    """A string literal for ``$filter`` (OData doubles single quotes)."""
    return "'" + value.replace("'", "''") + "'"


def parse_datetime(value: object) -> datetime | None:
    """ISO 8601 from Graph ("2024-03-04T10:05:00Z", up to 7 fractional digits; Python >= 3.11 parses
    both and truncates beyond microseconds). Naive values are taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _address(obj: object) -> EmailAddress | None:
    if not isinstance(obj, dict):
        return None
    inner = obj.get("emailAddress")
    if not isinstance(inner, dict):
        return None
    address = inner.get("address") or ""
    name = inner.get("name") or ""
    if not address and not name:
        return None
    return EmailAddress(address=str(address), name=str(name))


def _addresses(items: object) -> list[EmailAddress]:
    if not isinstance(items, list):
        return []
    out = []
    for item in items:
        addr = _address(item)
        if addr is not None:
            out.append(addr)
    return out


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def attachment_from_json(data: Mapping[str, Any]) -> Attachment:
    raw = data.get("contentBytes")
    content: bytes | None = None
    if isinstance(raw, str):
        try:
            content = base64.b64decode(raw, validate=True)
        except ValueError:
            content = None  # not base64: treat as "content not loaded", the adapter fetches $value
    size = data.get("size")
    return Attachment(
        name=str(data.get("name") or ""),
        content_type=str(data.get("contentType") or "application/octet-stream"),
        content=content,
        size=int(size) if isinstance(size, int) else (len(content) if content is not None else 0),
        is_inline=bool(data.get("isInline", False)),
        content_id=_str(data.get("contentId")),
        id=_str(data.get("id")),
    )


def message_from_json(data: Mapping[str, Any], mailbox: str | None = None) -> MailMessage:
    body = data.get("body")
    body_type = "html"
    content = ""
    if isinstance(body, dict):
        content = str(body.get("content") or "")
        body_type = "text" if str(body.get("contentType") or "").lower() == "text" else "html"
    headers = [
        Header(str(h.get("name", "")), str(h.get("value", "")))
        for h in _list(data.get("internetMessageHeaders"))
        if isinstance(h, dict)
    ]
    extended: dict[str, str] = {}
    for prop in _list(data.get("singleValueExtendedProperties")):
        if isinstance(prop, dict) and isinstance(prop.get("id"), str):
            pid: str = prop["id"]
            key = pid[len(_PROP_PREFIX) :] if pid.lower().startswith(_PROP_PREFIX.lower()) else pid
            if _MESSAGE_CLASS_ID.fullmatch(key):  # Exchange may answer "String 0x1a"
                key = MESSAGE_CLASS_PROPERTY
            extended[key] = str(prop.get("value", ""))
    in_reply_to = extended.get(IN_REPLY_TO_PROPERTY) or extended.get(IN_REPLY_TO_PROPERTY.lower())
    if in_reply_to and not any(h.name.lower() == "in-reply-to" for h in headers):
        # Items in Sent Items need not carry transport headers; PidTagInReplyToId does (MS-OXOMSG 2.2.1.1).
        headers.append(Header("In-Reply-To", in_reply_to))
    attachments = [attachment_from_json(a) for a in _list(data.get("attachments")) if isinstance(a, dict)]
    meeting = meeting_from_json(data)
    if meeting is not None and not meeting.message_type:
        # The message class says it too: IPM.Schedule.Meeting.Request / .Canceled ([MS-OXOCAL] 2.2.6).
        klass = extended.get(MESSAGE_CLASS_PROPERTY, "").casefold()
        if klass.startswith("ipm.schedule.meeting.canceled"):
            meeting = replace(meeting, message_type="meetingCancelled")
        elif klass.startswith("ipm.schedule.meeting.request"):
            meeting = replace(meeting, message_type="meetingRequest")
    return MailMessage(
        subject=str(data.get("subject") or ""),
        body=content,
        body_type=body_type,
        sender=_address(data.get("from")) or _address(data.get("sender")),
        to=_addresses(data.get("toRecipients")),
        cc=_addresses(data.get("ccRecipients")),
        bcc=_addresses(data.get("bccRecipients")),
        reply_to=_addresses(data.get("replyTo")),
        attachments=attachments,
        headers=headers,
        categories=[str(c) for c in _list(data.get("categories"))],
        id=_str(data.get("id")),
        internet_message_id=_str(data.get("internetMessageId")),
        conversation_id=_str(data.get("conversationId")),
        mailbox=mailbox,
        folder_id=_str(data.get("parentFolderId")),
        received_at=parse_datetime(data.get("receivedDateTime")),
        sent_at=parse_datetime(data.get("sentDateTime")),
        is_read=bool(data.get("isRead", False)),
        is_draft=bool(data.get("isDraft", False)),
        has_attachments=bool(data.get("hasAttachments", False)) or bool(attachments),
        extended_properties=extended,
        meeting=meeting,
        importance=_str(data.get("importance")),
    )


EVENT_MESSAGE_TYPES = frozenset(
    {
        "#microsoft.graph.eventmessage",
        "#microsoft.graph.eventmessagerequest",
        "#microsoft.graph.eventmessageresponse",
    }
)
#: The event behind an eventMessage, with attendees and iCalUId (api-reference/v1.0/api/eventmessage-get.md,
#: example 2: "explicitly provides a cast on the event message to access its event navigation property").
EVENT_EXPAND = "microsoft.graph.eventMessage/event"


def is_event_message(data: Mapping[str, Any]) -> bool:
    """True for a meeting request/response/cancellation (``@odata.type`` of a type derived from message)."""
    return str(data.get("@odata.type") or "").casefold() in EVENT_MESSAGE_TYPES


def _zoned(value: object) -> ZonedTime | None:
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        return None
    return ZonedTime(str(value["dateTime"]), str(value.get("timeZone") or "UTC"))


def _location_name(value: object) -> str:
    return str(value.get("displayName") or "") if isinstance(value, dict) else ""


def _room_addresses(*locations: object) -> list[str]:
    # A room booked as the location carries its mailbox in locationEmailAddress (resources/location.md).
    return [
        str(loc["locationEmailAddress"])
        for loc in locations
        if isinstance(loc, dict)
        and isinstance(loc.get("locationEmailAddress"), str)
        and loc["locationEmailAddress"]
    ]


def meeting_from_json(data: Mapping[str, Any]) -> MeetingInfo | None:
    """The meeting an eventMessage is about (resources/eventmessage.md, eventmessagerequest.md), with the
    expanded ``event``'s attendees of type ``resource`` (resources/attendee.md) and booked rooms; None for
    an ordinary message."""
    if not is_event_message(data):
        return None
    event = data.get("event") if isinstance(data.get("event"), dict) else {}
    assert isinstance(event, dict)
    resources = [
        a.address
        for item in _list(event.get("attendees"))
        if isinstance(item, dict) and str(item.get("type") or "").casefold() == "resource"
        for a in [_address(item)]
        if a is not None
    ]
    resources += _room_addresses(data.get("location"), event.get("location"), *_list(event.get("locations")))
    start = _zoned(data.get("startDateTime")) or _zoned(event.get("start"))
    end = _zoned(data.get("endDateTime")) or _zoned(event.get("end"))
    location = _location_name(data.get("location")) or _location_name(event.get("location"))
    kind = str(data.get("type") or event.get("type") or "")
    return MeetingInfo(
        message_type=str(data.get("meetingMessageType") or ""),
        start=start,
        end=end,
        location=location,
        previous_start=_zoned(data.get("previousStartDateTime")),
        previous_end=_zoned(data.get("previousEndDateTime")),
        previous_location=_location_name(data.get("previousLocation")),
        is_all_day=bool(data.get("isAllDay") or event.get("isAllDay")),
        ical_uid=str(event.get("iCalUId") or ""),
        organizer=_address(event.get("organizer")),
        resources=tuple(dict.fromkeys(resources)),
        recurring=bool(data.get("recurrence") or event.get("recurrence")) or kind == "seriesMaster",
    )


_PREDICATE_NAMES = {
    "fromAddresses": "from_addresses",
    "senderContains": "sender_contains",
    "subjectContains": "subject_contains",
    "bodyContains": "body_contains",
    "bodyOrSubjectContains": "body_or_subject_contains",
}


def _set(value: object) -> bool:
    """A predicate/action counts as used unless null, false or an empty list (messagerulepredicates.md)."""
    return value not in (None, False, [], "", {})


def _predicates(data: object) -> Predicates:
    """A ``messageRulePredicates`` (resources/messagerulepredicates.md); every other key set on it is
    kept by name as unsupported, so the rule is not applied half."""
    if not isinstance(data, dict):
        return Predicates()
    values: dict[str, Any] = {}
    unsupported: list[str] = []
    for key, value in data.items():
        if key.startswith("@odata") or not _set(value):
            continue
        if key == "fromAddresses":
            values["from_addresses"] = tuple(a.address for a in _addresses(value) if a.address)
        elif key in _PREDICATE_NAMES:
            values[_PREDICATE_NAMES[key]] = tuple(str(v) for v in _list(value))
        elif key == "importance":
            values["importance"] = str(value)
        else:
            unsupported.append(key)
    return Predicates(**values, unsupported=tuple(sorted(unsupported)))


def _actions(data: object) -> Actions:
    """A ``messageRuleActions`` (resources/messageruleactions.md)."""
    if not isinstance(data, dict):
        return Actions()
    values: dict[str, Any] = {}
    unsupported: list[str] = []
    for key, value in data.items():
        if key.startswith("@odata") or not _set(value):
            continue
        if key == "moveToFolder":
            values["move_to_folder"] = str(value)
        elif key == "assignCategories":
            values["assign_categories"] = tuple(str(v) for v in _list(value))
        elif key == "markImportance":
            values["mark_importance"] = str(value)
        elif key == "markAsRead":
            values["mark_as_read"] = bool(value)
        elif key == "stopProcessingRules":
            values["stop_processing_rules"] = bool(value)
        else:
            unsupported.append(key)
    return Actions(**values, unsupported=tuple(sorted(unsupported)))


def inbox_rule_from_json(data: Mapping[str, Any]) -> InboxRule:
    """One ``messageRule`` (resources/messagerule.md)."""
    sequence = data.get("sequence")
    return InboxRule(
        id=str(data.get("id") or ""),
        name=str(data.get("displayName") or ""),
        sequence=sequence if isinstance(sequence, int) else 0,
        enabled=bool(data.get("isEnabled", False)),
        conditions=_predicates(data.get("conditions")),
        exceptions=_predicates(data.get("exceptions")),
        actions=_actions(data.get("actions")),
        has_error=bool(data.get("hasError", False)),
    )


def _recipient(addr: EmailAddress) -> dict[str, Any]:
    inner = {"address": addr.address}
    if addr.name:
        inner["name"] = addr.name
    return {"emailAddress": inner}


def attachment_to_json(att: Attachment) -> dict[str, Any]:
    data: dict[str, Any] = {
        "@odata.type": FILE_ATTACHMENT,
        "name": att.name,
        "contentType": att.content_type,
        "contentBytes": base64.b64encode(att.content or b"").decode("ascii"),
        "isInline": att.is_inline,
    }
    if att.content_id:
        data["contentId"] = att.content_id
    return data


def custom_headers(headers: Iterable[Header]) -> list[dict[str, str]]:
    # Graph refuses other names on create/send: 400 InvalidInternetMessageHeader "…should start with
    # 'x-' or 'X-'." (user-sendmail.md example 2).
    return [{"name": h.name, "value": h.value} for h in headers if h.name[:2].lower() == "x-"]


def message_to_json(message: MailMessage, *, attachments: Iterable[Attachment] = ()) -> dict[str, Any]:
    """The JSON to create or send ``message``; only ``attachments`` are embedded (the caller decides
    which fit into one request)."""
    data: dict[str, Any] = {
        "subject": message.subject,
        "body": {"contentType": "text" if message.body_type == "text" else "html", "content": message.body},
        "toRecipients": [_recipient(a) for a in message.to],
    }
    if message.sender is not None:
        data["from"] = _recipient(message.sender)
    if message.cc:
        data["ccRecipients"] = [_recipient(a) for a in message.cc]
    if message.bcc:
        data["bccRecipients"] = [_recipient(a) for a in message.bcc]
    if message.reply_to:
        data["replyTo"] = [_recipient(a) for a in message.reply_to]
    if message.categories:
        data["categories"] = list(message.categories)
    if message.internet_message_id:
        data["internetMessageId"] = message.internet_message_id
    if message.importance:
        data["importance"] = message.importance  # low | normal | high (resources/message.md)
    headers = custom_headers(message.headers)
    if headers:
        data["internetMessageHeaders"] = headers
    embedded = [attachment_to_json(a) for a in attachments]
    if embedded:
        data["attachments"] = embedded
    return data


def encoded_size(att: Attachment) -> int:
    """Bytes the attachment adds to a JSON request (base64 inflates by 4/3, plus the envelope)."""
    return (att.length + 2) // 3 * 4 + len(att.name.encode()) * 2 + 200
