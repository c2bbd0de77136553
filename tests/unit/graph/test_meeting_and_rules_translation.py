"""Graph JSON → domain values for meeting mail (resources/eventmessage.md, eventmessagerequest.md,
api/eventmessage-get.md example 2) and the inbox-rule cache's TTL."""

from __future__ import annotations

from graph_dpg.adapters.graph.translate import message_from_json
from graph_dpg.core.errors import TransientError
from graph_dpg.domain.inbox_rules import InboxRule
from graph_dpg.services.inbox_rules import InboxRuleCache


def test_event_message_request_with_expanded_event() -> None:
    data = {
        "@odata.type": "#microsoft.graph.eventMessageRequest",
        "id": "A",
        "subject": "Kick off planning",
        "meetingMessageType": "meetingRequest",
        "startDateTime": {"dateTime": "2018-02-02T22:00:00.0000000", "timeZone": "UTC"},
        "endDateTime": {"dateTime": "2018-02-02T23:00:00.0000000", "timeZone": "UTC"},
        "location": {
            "displayName": "Mt. Hood",
            "locationType": "conferenceRoom",
            "locationEmailAddress": "hood@x.dk",
        },
        "previousStartDateTime": {"dateTime": "2018-02-01T22:00:00.0000000", "timeZone": "UTC"},
        "event": {
            "iCalUId": "040000008200E00074C5B7101A82E008",
            "attendees": [
                {"type": "required", "emailAddress": {"name": "Alex", "address": "alex@x.dk"}},
                {"type": "resource", "emailAddress": {"name": "Projektor", "address": "projektor@x.dk"}},
            ],
            "organizer": {"emailAddress": {"name": "Admin", "address": "admin@x.dk"}},
        },
    }
    msg = message_from_json(data)
    assert msg.meeting is not None
    assert msg.meeting.message_type == "meetingRequest"
    assert msg.meeting.start is not None and msg.meeting.start.date_time.startswith("2018-02-02T22")
    assert msg.meeting.previous_start is not None
    assert msg.meeting.location == "Mt. Hood"
    assert set(msg.meeting.resources) == {"projektor@x.dk", "hood@x.dk"}
    assert msg.meeting.ical_uid.startswith("0400")


def test_cancellation_known_by_the_message_class_when_the_type_is_missing() -> None:
    data = {
        "@odata.type": "#microsoft.graph.eventMessage",
        "singleValueExtendedProperties": [{"id": "String 0x1a", "value": "IPM.Schedule.Meeting.Canceled"}],
    }
    msg = message_from_json(data)
    assert msg.meeting is not None and msg.meeting.message_type == "meetingCancelled"


def test_an_ordinary_message_has_no_meeting() -> None:
    assert message_from_json({"@odata.type": "#microsoft.graph.message", "subject": "x"}).meeting is None


class _Rules:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    async def list_inbox_rules(self, mailbox: str) -> list[InboxRule]:
        self.calls += 1
        if self.fail:
            raise TransientError("down", service="graph")
        return [InboxRule("1", "r", 1)]


async def test_rules_are_cached_per_mailbox_for_the_ttl_and_a_failure_means_none() -> None:
    now = [0.0]
    port = _Rules()
    cache = InboxRuleCache(port, ttl_seconds=60, clock=lambda: now[0])
    assert [r.name for r in await cache.rules("A@x.dk")] == ["r"]
    await cache.rules("a@X.dk")
    assert port.calls == 1
    now[0] = 61
    port.fail = True
    assert await cache.rules("a@x.dk") == []
    assert port.calls == 2
