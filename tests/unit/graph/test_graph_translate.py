"""Graph message JSON ↔ MailMessage translation (pure functions, no I/O)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph_dpg.adapters.graph.translate import (
    PROPERTY_SET_GUID,
    encoded_size,
    message_from_json,
    message_to_json,
    odata_quote,
    parse_datetime,
    property_id,
)
from graph_dpg.domain.mail import Attachment, EmailAddress, Header, MailMessage

GRAPH_MESSAGE = {
    "@odata.etag": 'W/"CQAAABYAAAA"',
    "id": "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AAAA=",
    "subject": "Afgørelse om boligstøtte",
    "body": {"contentType": "html", "content": "<p>Hej æøå</p>"},
    "from": {"emailAddress": {"name": "Borgerservice", "address": "borgerservice@kommune.dk"}},
    "sender": {"emailAddress": {"name": "Someone", "address": "someone@kommune.dk"}},
    "toRecipients": [{"emailAddress": {"name": "", "address": "ngdp-cpr-0101012345@gw.kommune.dk"}}],
    "ccRecipients": [{"emailAddress": {"address": "cc@example.org"}}],
    "bccRecipients": [],
    "replyTo": [{"emailAddress": {"name": "Svar", "address": "svar@kommune.dk"}}],
    "internetMessageId": "<abc@kommune.dk>",
    "conversationId": "conv-1",
    "parentFolderId": "folder-1",
    "receivedDateTime": "2024-03-04T10:05:00Z",
    "sentDateTime": "2024-03-04T10:00:00.1234567Z",
    "categories": ["Digital Post: sendt"],
    "isRead": True,
    "isDraft": False,
    "hasAttachments": True,
    "internetMessageHeaders": [{"name": "Received", "value": "from x"}, {"name": "X-Kind", "value": "memo"}],
    "attachments": [
        {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "id": "att-1",
            "name": "brev.pdf",
            "contentType": "application/pdf",
            "size": 5,
            "isInline": False,
            "contentBytes": base64.b64encode(b"%PDF-").decode(),
        },
        {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "id": "att-2",
            "name": "big.bin",
            "contentType": "application/octet-stream",
            "size": 9_000_000,
            "isInline": False,
        },
    ],
    "singleValueExtendedProperties": [
        {"id": f"String {{{PROPERTY_SET_GUID}}} Name ProcessedBy", "value": "graph-dpg"},
        {"id": "Integer 0x0E07", "value": "1"},
    ],
}


def test_message_from_graph_json_maps_every_field() -> None:
    m = message_from_json(GRAPH_MESSAGE, mailbox="fn@kommune.dk")
    assert m.subject == "Afgørelse om boligstøtte"
    assert (m.body, m.body_type) == ("<p>Hej æøå</p>", "html")
    assert m.sender == EmailAddress("borgerservice@kommune.dk", "Borgerservice")  # "from", not "sender"
    assert [a.address for a in m.to] == ["ngdp-cpr-0101012345@gw.kommune.dk"]
    assert m.cc == [EmailAddress("cc@example.org")]
    assert m.reply_to == [EmailAddress("svar@kommune.dk", "Svar")]
    assert m.internet_message_id == "<abc@kommune.dk>"
    assert (m.conversation_id, m.folder_id, m.mailbox) == ("conv-1", "folder-1", "fn@kommune.dk")
    assert m.received_at == datetime(2024, 3, 4, 10, 5, tzinfo=UTC)
    assert m.sent_at == datetime(2024, 3, 4, 10, 0, 0, 123456, tzinfo=UTC)
    assert m.categories == ["Digital Post: sendt"]
    assert (m.is_read, m.is_draft, m.has_attachments) == (True, False, True)
    assert m.header("x-kind") == "memo"
    assert m.attachments[0].content == b"%PDF-"
    assert m.attachments[0].id == "att-1"
    assert m.attachments[1].content is None
    assert m.attachments[1].length == 9_000_000
    assert m.extended_properties == {"ProcessedBy": "graph-dpg", "Integer 0x0E07": "1"}


def test_sparse_delta_item_gives_defaults() -> None:
    m = message_from_json({"id": "x"})
    assert m.id == "x"
    assert m.sender is None
    assert m.to == []
    assert m.received_at is None
    assert m.body_type == "html"


def test_message_to_json_only_sends_x_headers_and_embeds_given_attachments() -> None:
    att = Attachment("a.txt", "text/plain", b"hello", content_id="cid1", is_inline=True)
    msg = MailMessage(
        subject="S",
        body="plain",
        body_type="text",
        sender=EmailAddress("fn@kommune.dk", "Fn"),
        to=[EmailAddress("a@b.dk")],
        bcc=[EmailAddress("c@d.dk", "C")],
        headers=[Header("Received", "x"), Header("X-Graph-Dpg", "1")],
        categories=["A"],
        attachments=[att],
    )
    data = message_to_json(msg, attachments=[att])
    assert data["body"] == {"contentType": "text", "content": "plain"}
    assert data["from"] == {"emailAddress": {"address": "fn@kommune.dk", "name": "Fn"}}
    assert data["toRecipients"] == [{"emailAddress": {"address": "a@b.dk"}}]
    assert data["bccRecipients"] == [{"emailAddress": {"address": "c@d.dk", "name": "C"}}]
    # Graph answers 400 InvalidInternetMessageHeader for names not starting with x-.
    assert data["internetMessageHeaders"] == [{"name": "X-Graph-Dpg", "value": "1"}]
    assert data["attachments"][0]["contentBytes"] == base64.b64encode(b"hello").decode()
    assert data["attachments"][0]["contentId"] == "cid1"
    assert "attachments" not in message_to_json(msg)


def test_property_id_uses_the_one_project_guid_and_refuses_quotes() -> None:
    assert property_id("ProcessedBy") == f"String {{{PROPERTY_SET_GUID}}} Name ProcessedBy"
    with pytest.raises(ValueError, match="invalid"):
        property_id("a'b")


def test_odata_quote_doubles_single_quotes() -> None:
    assert odata_quote("<o'brien@x>") == "'<o''brien@x>'"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-04T10:05:00Z", datetime(2024, 3, 4, 10, 5, tzinfo=UTC)),
        ("2024-03-04T10:05:00.9999999Z", datetime(2024, 3, 4, 10, 5, 0, 999999, tzinfo=UTC)),
        ("2024-03-04T10:05:00", datetime(2024, 3, 4, 10, 5, tzinfo=UTC)),
        ("not a date", None),
        (None, None),
    ],
)
def test_parse_datetime(text: str | None, expected: datetime | None) -> None:
    assert parse_datetime(text) == expected


def test_encoded_size_covers_base64_inflation() -> None:
    att = Attachment("x.bin", "application/octet-stream", b"\0" * 3_000_000)
    encoded = len(json.dumps({"contentBytes": base64.b64encode(att.content or b"").decode()}))
    assert encoded_size(att) >= encoded


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
_addr = st.builds(
    EmailAddress,
    address=st.emails(),
    name=_text,
)


@settings(max_examples=settings.default.max_examples * 3 // 5)
@given(
    subject=_text,
    body=_text,
    body_type=st.sampled_from(["html", "text"]),
    to=st.lists(_addr, max_size=3),
    cc=st.lists(_addr, max_size=2),
    content=st.lists(st.binary(max_size=64), max_size=3),
    categories=st.lists(_text.filter(bool), max_size=3),
)
def test_json_round_trip(
    subject: str,
    body: str,
    body_type: str,
    to: list[EmailAddress],
    cc: list[EmailAddress],
    content: list[bytes],
    categories: list[str],
) -> None:
    atts = [
        Attachment(f"f{i}.bin", "application/octet-stream", c, size=len(c)) for i, c in enumerate(content)
    ]
    msg = MailMessage(subject=subject, body=body, body_type=body_type, to=to, cc=cc, categories=categories)
    msg.attachments = atts
    wire = json.loads(json.dumps(message_to_json(msg, attachments=atts)))
    back = message_from_json(wire)
    assert (back.subject, back.body, back.body_type) == (subject, body, body_type)
    assert back.to == to
    assert back.cc == cc
    assert back.categories == categories
    assert [a.content for a in back.attachments] == content


_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=12,
)
_graph_keys = st.sampled_from(
    [
        "id",
        "subject",
        "body",
        "from",
        "sender",
        "toRecipients",
        "ccRecipients",
        "replyTo",
        "attachments",
        "internetMessageHeaders",
        "singleValueExtendedProperties",
        "categories",
        "receivedDateTime",
        "isRead",
        "internetMessageId",
        "parentFolderId",
    ]
)


@settings(max_examples=settings.default.max_examples * 3 // 2)
@given(st.dictionaries(_graph_keys, _json_value, max_size=8))
def test_message_from_json_never_crashes_on_odd_shapes(data: dict[str, object]) -> None:
    msg = message_from_json(data)
    assert isinstance(msg.subject, str)
    assert msg.id is None or isinstance(msg.id, str)
    assert all(isinstance(c, str) for c in msg.categories)
    assert all(a.content is None or isinstance(a.content, bytes) for a in msg.attachments)


def test_attachment_with_broken_base64_counts_as_not_loaded() -> None:
    m = message_from_json({"attachments": [{"id": "a", "name": "x", "contentBytes": "***"}]})
    assert m.attachments[0].content is None
