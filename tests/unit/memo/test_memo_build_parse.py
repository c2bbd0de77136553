"""build and parse: wire format details, 1.1 vs 1.2, preservation of unmodelled content, errors."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from lxml import etree
from memo_factories import MESSAGE_UUID, make_body, make_message

from graph_dpg import memo
from graph_dpg.memo.namespaces import MEMO_NS

NS = {"memo": MEMO_NS}


def _tree(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def test_build_writes_utf8_declaration_memo_prefix_and_1_2_attributes() -> None:
    data = memo.build(make_message())
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<memo:Message xmlns:memo="')
    root = _tree(data)
    assert root.tag == f"{{{MEMO_NS}}}Message"
    assert root.prefix == "memo"
    assert dict(root.attrib) == {"memoVersion": "1.2"}
    assert "Afgørelse".encode() in data  # UTF-8, not character references
    assert root.find("memo:MessageHeader/memo:mandatory", NS) is None
    assert memo.validate_schema(data) == []


def test_build_1_1_adds_sch_version_and_required_flags() -> None:
    data = memo.build(make_message("1.1"))
    root = _tree(data)
    assert root.get("memoVersion") == "1.1"
    assert root.get("memoSchVersion") == "1.1.0"
    assert root.findtext("memo:MessageHeader/memo:mandatory", namespaces=NS) == "false"
    assert root.findtext("memo:MessageHeader/memo:legalNotification", namespaces=NS) == "false"
    assert memo.validate_schema(data) == []
    parsed = memo.parse(data)
    assert parsed.version == "1.1"
    assert parsed.header.mandatory is False


def test_version_argument_overrides_the_model_version() -> None:
    message = make_message("1.2")
    data = memo.build(message, version="1.1")
    assert memo.parse(data).version == "1.1"
    assert memo.validate_schema(data) == []
    with pytest.raises(memo.MemoError, match="unsupported MeMo version"):
        memo.build(message, version="1.3")


def test_representative_is_1_2_only() -> None:
    sender = memo.Sender(
        sender_id="29189846",
        id_type="CVR",
        label="Kommunen",
        representative=memo.Representative(representative_id="12345678", id_type="CVR", label="Advokat"),
    )
    message = make_message("1.2", sender=sender)
    data = memo.build(message)
    assert memo.validate_schema(data) == []
    assert memo.parse(data).header.sender.representative == sender.representative
    with pytest.raises(memo.MemoError, match=r"Representative exists only in MeMo 1\.2"):
        memo.build(message, version="1.1")


def test_1_2_element_in_a_1_1_document_is_kept_verbatim_not_modelled() -> None:
    sender = memo.Sender(
        sender_id="29189846",
        id_type="CVR",
        label="Kommunen",
        representative=memo.Representative(label="Advokat"),
    )
    data_12 = memo.build(make_message("1.2", sender=sender))
    data_11 = data_12.replace(b'memoVersion="1.2"', b'memoVersion="1.1" memoSchVersion="1.1.0"')
    parsed = memo.parse(data_11)
    assert parsed.header.sender.representative is None
    assert len(parsed.header.sender.extra) == 1
    assert b"Advokat" in parsed.header.sender.extra[0].xml
    rebuilt = memo.build(parsed)
    assert b"Advokat" in rebuilt
    # The XSD for 1.1 refuses it; nothing was silently dropped to make it pass.
    assert any("Representative" in finding.message for finding in memo.validate_schema(rebuilt))


def test_elements_follow_xsd_order() -> None:
    message = make_message(
        notification="Ny post",
        reply=True,
        reply_by_datetime=datetime(2026, 2, 1, tzinfo=UTC),
        do_not_deliver_until_date=date(2026, 1, 5),
        mandatory=False,
        legal_notification=False,
        post_type="MYNDIGHEDSPOST",
        message_id="ID-1",
        message_code="CODE",
        additional_notification="mere",
        content_data=memo.ContentData(case_id=memo.CaseID("SAG-1", "ESDH")),
        reply_data=(memo.ReplyData(message_uuid=MESSAGE_UUID),),
    )
    root = _tree(memo.build(message))
    header = root.find("memo:MessageHeader", NS)
    assert header is not None
    assert [etree.QName(child).localname for child in header] == [
        "messageType",
        "messageUUID",
        "messageID",
        "messageCode",
        "label",
        "notification",
        "additionalNotification",
        "reply",
        "replyByDateTime",
        "doNotDeliverUntilDate",
        "mandatory",
        "legalNotification",
        "postType",
        "Sender",
        "Recipient",
        "ContentData",
        "ReplyData",
    ]
    assert memo.validate_schema(etree.tostring(root)) == []


def test_timestamps_are_written_in_utc_with_z() -> None:
    cet = timezone(timedelta(hours=1))
    message = make_message(reply_by_datetime=datetime(2026, 3, 1, 13, 30, 15, 250000, tzinfo=cet))
    data = memo.build(message)
    assert b"<memo:replyByDateTime>2026-03-01T12:30:15.25Z</memo:replyByDateTime>" in data
    assert b"<memo:createdDateTime>2026-01-02T03:04:05Z</memo:createdDateTime>" in data
    parsed = memo.parse(data)
    assert parsed.header.reply_by_datetime == datetime(2026, 3, 1, 12, 30, 15, 250000, tzinfo=UTC)
    assert memo.validate_schema(data) == []


def test_naive_timestamp_is_refused() -> None:
    with pytest.raises(memo.MemoError, match="no time zone"):
        memo.build(make_message(reply_by_datetime=datetime(2026, 3, 1, 12)))


def test_parse_converts_offsets_to_utc_and_reads_xs_boolean_forms() -> None:
    data = memo.build(make_message(reply=True))
    data = data.replace(b"2026-01-02T03:04:05Z", b"2026-01-02T04:04:05+01:00")
    data = data.replace(b"<memo:reply>true</memo:reply>", b"<memo:reply> 1 </memo:reply>")
    parsed = memo.parse(data)
    assert parsed.body is not None
    assert parsed.body.created_datetime == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parsed.header.reply is True


@pytest.mark.parametrize(
    ("replace", "match"),
    [
        ((b"<memo:reply>true</memo:reply>", b"<memo:reply>yes</memo:reply>"), "invalid boolean"),
        ((b"2026-01-02T03:04:05Z", b"2026-01-02T03:04:05"), "no time zone"),
        ((b"2026-01-02T03:04:05Z", b"yesterday"), "invalid dateTime"),
        ((b"<memo:label>Afg\xc3\xb8relse</memo:label>", b""), "required element label is missing"),
    ],
)
def test_parse_rejects_unreadable_values(replace: tuple[bytes, bytes], match: str) -> None:
    data = memo.build(make_message(reply=True)).replace(*replace)
    with pytest.raises(memo.MemoError, match=match):
        memo.parse(data)


def test_text_is_escaped_and_round_trips_exactly() -> None:
    tricky = "A & B <c> \"d\" 'e'\r\nline2\tend ]]> æøå 😀"
    message = make_message(label=tricky[:256], notification="x & y")
    data = memo.build(message)
    assert memo.parse(data).header.label == tricky
    assert memo.validate_schema(data) == []


@pytest.mark.parametrize("bad", ["\x00", "\x1b", "\ufffe", "\ud800"])
def test_characters_xml_cannot_carry_are_refused(bad: str) -> None:
    with pytest.raises(memo.MemoError, match="XML cannot carry"):
        memo.build(make_message(label=f"a{bad}b"))


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("reply", "true", "expected bool"),
        ("label", 5, "expected text"),
        ("do_not_deliver_until_date", datetime(2026, 1, 1, tzinfo=UTC), "expected date"),
        ("reply_by_datetime", date(2026, 1, 1), "expected datetime"),
        ("sender", None, "Sender is required"),
    ],
)
def test_wrongly_typed_model_values_are_refused(field: str, value: object, match: str) -> None:
    with pytest.raises(memo.MemoError, match=match):
        memo.build(make_message(**{field: value}))


def test_file_content_is_base64_kept_lazily() -> None:
    payload = bytes(range(256)) * 10
    file = memo.File("application/pdf", "a.pdf", "da", payload)
    assert file.content_base64 == base64.b64encode(payload)
    assert file.content == payload
    assert file.size == len(payload)
    assert "content_base64" not in repr(file)
    same = memo.File("application/pdf", "a.pdf", "da", content_base64=base64.encodebytes(payload).decode())
    assert same.content == payload and same.size == len(payload)  # MIME line breaks are allowed
    assert same.content_base64 == base64.encodebytes(payload)  # kept as given
    assert dataclasses.replace(file, filename="b.pdf").content == payload
    with pytest.raises(memo.MemoError):
        memo.File("application/pdf", "a.pdf", "da")
    with pytest.raises(memo.MemoError, match="not valid base64"):
        _ = memo.File("text/plain", "x.txt", "da", content_base64=b"!!!!").content
    with pytest.raises(dataclasses.FrozenInstanceError):
        file.filename = "c.pdf"  # type: ignore[misc]


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 1000, 1001, 1002])
def test_file_size_matches_decoded_length(size: int) -> None:
    assert memo.File("text/plain", "x.txt", "da", b"x" * size).size == size


def test_payload_with_line_breaks_parses_to_canonical_base64() -> None:
    payload = bytes(range(200))
    data = memo.build(make_message())
    original = base64.b64encode(b"%PDF-1.7 test")
    wrapped = base64.encodebytes(payload)
    parsed = memo.parse(data.replace(original, wrapped))
    assert parsed.body is not None
    file = parsed.body.main_document.files[0]
    assert file.content == payload
    assert file.size == len(payload)
    assert file.content_base64 == wrapped
    assert memo.validate(memo.build(parsed)) == []


def test_unknown_elements_and_attributes_are_preserved() -> None:
    data = memo.build(make_message())
    data = data.replace(
        b"<memo:Recipient>",
        b'<memo:Recipient><x:custom xmlns:x="urn:x" a="1">kept <b/> &amp; here</x:custom>',
    )
    data = data.replace(
        b'memoVersion="1.2"',
        b'memoVersion="1.2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="a b"',
    )
    parsed = memo.parse(data)
    assert len(parsed.header.recipient.extra) == 1
    assert parsed.extra_attributes == (("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation", "a b"),)
    rebuilt = memo.build(parsed)
    again = memo.parse(rebuilt)
    assert again == parsed
    root = _tree(rebuilt)
    custom = root.find(".//{urn:x}custom")
    assert custom is not None and custom.get("a") == "1" and custom.text == "kept "
    assert root.get("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation") == "a b"


def test_duplicate_single_element_and_leaf_with_children_are_preserved() -> None:
    data = memo.build(make_message(message_id="ID-1"))
    data = data.replace(
        b"<memo:label>Afg\xc3\xb8relse</memo:label>",
        b"<memo:label>Afg\xc3\xb8relse</memo:label><memo:label>second</memo:label>",
    )
    data = data.replace(
        b"<memo:messageID>ID-1</memo:messageID>", b"<memo:messageID>ID-1<b/></memo:messageID>"
    )
    parsed = memo.parse(data)
    assert parsed.header.label == "Afgørelse"
    assert parsed.header.message_id is None
    kept = [etree.fromstring(raw.xml) for raw in parsed.header.extra]
    assert [(etree.QName(el).localname, el.text) for el in kept] == [
        ("messageID", "ID-1"),
        ("label", "second"),
    ]
    rebuilt = memo.build(parsed)
    assert b"second" in rebuilt and b"ID-1<b/>" in rebuilt
    assert memo.parse(rebuilt) == parsed


def test_misplaced_content_keeps_its_payload() -> None:
    data = memo.build(make_message())
    data = data.replace(b"</memo:Recipient>", b"<memo:content>QUJD</memo:content></memo:Recipient>")
    parsed = memo.parse(data)
    assert parsed.header.recipient.extra[0].xml.endswith(b">QUJD</memo:content>")
    _, findings = memo.parse_and_validate(data)
    assert any(f.path == "/Message/MessageHeader/Recipient/content" for f in findings)


def test_default_namespace_document_parses() -> None:
    data = memo.build(make_message())
    plain = data.replace(b"memo:", b"").replace(b"xmlns:memo=", b"xmlns=")
    assert b"<Message" in plain
    assert memo.parse(plain) == memo.parse(data)
    assert memo.validate_schema(plain) == []


def test_technical_document_cannot_carry_actions() -> None:
    technical = memo.Document(
        kind="technical",
        files=(memo.File("text/xml", "t.xml", "da", b"<x/>"),),
        actions=(
            memo.Action(label="Se", action_code="INFORMATION", entry_point=memo.EntryPoint("https://a.dk")),
        ),
    )
    body = dataclasses.replace(make_body(), technical_documents=(technical,))
    with pytest.raises(memo.MemoError, match="TechnicalDocument cannot carry actions"):
        memo.build(make_message(body=body))


def test_document_needs_a_file() -> None:
    body = dataclasses.replace(make_body(), main_document=memo.Document(kind="main", files=()))
    with pytest.raises(memo.MemoError, match="at least one is required"):
        memo.build(make_message(body=body))


def test_memo_version_is_read_as_a_decimal() -> None:
    data = memo.build(make_message()).replace(b'memoVersion="1.2"', b'memoVersion="1.20"')
    assert memo.parse(data).version == "1.2"
    for bad, match in (
        (b'memoVersion="2.0"', "unsupported memoVersion"),
        (b'memoVersion="x"', "not a decimal"),
    ):
        with pytest.raises(memo.MemoError, match=match):
            memo.parse(memo.build(make_message()).replace(b'memoVersion="1.2"', bad))
    with pytest.raises(memo.MemoError, match="no memoVersion"):
        memo.parse(memo.build(make_message()).replace(b' memoVersion="1.2"', b""))


def test_new_message_uuid_is_version_4() -> None:
    import uuid

    values = {memo.new_message_uuid() for _ in range(20)}
    assert len(values) == 20
    assert all(uuid.UUID(value).version == 4 and len(value) == 36 for value in values)
