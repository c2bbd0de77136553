"""Scenario entries for meeting invitations (``meeting``, docs/sandbox.md): put into Sent Items as the
eventMessageRequest Outlook leaves (api-reference/v1.0/resources/eventmessagerequest.md) by the Graph
emulator's ``put_sent_meeting``."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from graph_dpg.demo.player import inject
from graph_dpg.demo.scenario import OutboundMail, Scenario, load_scenario
from graph_dpg.sandbox.graph import GraphTenant
from graph_dpg.sandbox.ngdp import NgdpState

MEETING = {"start": "2026-12-15T10:00:00", "end": "2026-12-15T10:45:00", "location": "Jobcentret"}


def test_a_meeting_request_goes_alone() -> None:
    base = {"name": "m", "mailbox": "jobcenter@sandby.dk", "to": ["x@y"], "subject": "Møde"}
    assert OutboundMail(**base, meeting=MEETING).meeting is not None
    for extra in (
        {"signed": "clear"},
        {"mass": {"count": 2}},
        {"cc": ["a@b"]},
        {"attachments": [{"name": "a.pdf", "kind": "pdf"}]},
    ):
        with pytest.raises(ValidationError, match="meeting request"):
            OutboundMail(**base, meeting=MEETING, **extra)


def test_the_built_in_meeting_is_put_into_sent_items_as_a_meeting_request_with_its_room() -> None:
    [meeting] = [m for m in load_scenario().outbound if m.meeting is not None]
    tenant = GraphTenant()
    tenant.add_mailbox(meeting.mailbox)
    played = inject(Scenario(outbound=[meeting]), tenant, NgdpState())
    mailbox, message_id = played.outbound[meeting.name]
    stored = tenant.message(mailbox, message_id)
    assert stored["@odata.type"] == "#microsoft.graph.eventMessageRequest"
    assert stored["subject"] == meeting.subject
    attendees = [a["emailAddress"]["address"] for a in stored["toRecipients"]]
    assert meeting.meeting is not None and meeting.meeting.room is not None
    assert meeting.meeting.room[1] in attendees  # the booked room, an attendee the gateway leaves alone
