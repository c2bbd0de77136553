"""validate: XSD findings with element paths, each business rule (valid + invalid), ensure_valid."""

from __future__ import annotations

import dataclasses
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from memo_factories import make_body, make_message, rules

from graph_dpg import memo
from graph_dpg.memo import rules as memo_rules
from graph_dpg.memo.schema import base64_problem, validate_tree


def _validate(message: memo.MemoMessage, **kwargs: bool) -> list[memo.Finding]:
    return memo.validate(memo.build(message), **kwargs)


def test_factory_message_is_valid() -> None:
    assert _validate(make_message()) == []
    assert _validate(make_message("1.1")) == []


# --- XSD -----------------------------------------------------------------------------------------------------


def test_xsd_finding_names_the_element_path() -> None:
    findings = _validate(make_message(label="x" * 257))
    assert [(f.rule, f.path) for f in findings] == [("xsd", "/Message/MessageHeader/label")]
    assert "maxLength" in findings[0].message or "length" in findings[0].message


def test_xsd_order_matters() -> None:
    data = memo.build(make_message())
    swapped = data.replace(
        b"<memo:messageType>DIGITALPOST</memo:messageType><memo:messageUUID>8c2ea15d-61fb-4ba9-9366-42f8b194c114"
        b"</memo:messageUUID>",
        b"<memo:messageUUID>8c2ea15d-61fb-4ba9-9366-42f8b194c114</memo:messageUUID>"
        b"<memo:messageType>DIGITALPOST</memo:messageType>",
    )
    assert swapped != data
    findings = memo.validate_schema(swapped)
    assert findings and findings[0].path.startswith("/Message/MessageHeader/")


def test_xsd_paths_index_repeated_siblings() -> None:
    extra = memo.Document(kind="additional", files=(memo.File("application/pdf", "a.pdf", "da", b"x"),))
    bad = memo.Document(kind="additional", files=(memo.File("application/pdf", "b.pdf", "dan", b"x"),))
    findings = _validate(make_message(body=make_body(extra, bad)))
    assert [(f.rule, f.path) for f in findings] == [
        ("xsd", "/Message/MessageBody/AdditionalDocument[2]/File/language")
    ]


def test_uuid_v1_fails_the_xsd_and_the_rule() -> None:
    findings = _validate(make_message(message_uuid="8c2ea15d-61fb-1ba9-9366-42f8b194c114"))
    assert rules(findings) == ["xsd", memo_rules.RULE_UUID_V4]
    assert {f.path for f in findings} == {"/Message/MessageHeader/messageUUID"}


def test_non_utc_timestamp_fails_the_xsd() -> None:
    data = memo.build(make_message()).replace(b"2026-01-02T03:04:05Z", b"2026-01-02T04:04:05+01:00")
    assert [(f.rule, f.path) for f in memo.validate(data)] == [
        ("xsd", "/Message/MessageBody/createdDateTime")
    ]


def test_malformed_and_foreign_documents_are_findings_not_exceptions() -> None:
    assert rules(memo.validate(b"<a><b></a>")) == ["xml.well-formed"]
    assert rules(memo.validate(b"not xml at all")) == ["xml.well-formed"]
    foreign = memo.build(make_message()).replace(b"https://DigitalPost.dk/MeMo-1", b"urn:other")
    findings = memo.validate(foreign)
    assert rules(findings) == ["memo.message"]
    assert "not a MeMo message" in findings[0].message


def test_missing_required_element_is_an_xsd_finding_and_no_model() -> None:
    data = memo.build(make_message()).replace(b"<memo:label>Afg\xc3\xb8relse</memo:label>", b"")
    message, findings = memo.parse_and_validate(data)
    assert message is None
    assert rules(findings) == ["xsd"]


# --- base64: our fast check agrees with libxml2 ------------------------------------------------------------


def _libxml2_accepts_base64(text: str) -> bool:
    data = memo.build(make_message())
    tree = etree.fromstring(data)
    content = tree.find(".//{https://DigitalPost.dk/MeMo-1}content")
    assert content is not None
    content.text = text
    return validate_tree(tree, "1.2") == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        "QQ==",
        "QUI=",
        "QUJD",
        "QUJDRA==",
        "QR==",
        "QUJ=",
        "QU=D",
        "=QUJ",
        "Q===",
        "QQ=",
        "Q Q = =",
        "QQ==\n",
        " QUJD ",
        "QU JD",
        "QUJD\r\nRA==",
        "ab*d",
        "QQ==QQ==",
        "æøå=",
        "QU\tJD",
    ],
)
def test_fast_base64_check_matches_libxml2_on_edge_cases(text: str) -> None:
    assert (base64_problem(text.encode()) is None) == _libxml2_accepts_base64(text)


@settings(max_examples=settings.default.max_examples * 3 // 2)
@given(st.text(alphabet=string.ascii_letters[:6] + "Qgw+/= \n", max_size=14))
def test_fast_base64_check_matches_libxml2(text: str) -> None:
    assert (base64_problem(text.encode()) is None) == _libxml2_accepts_base64(text)


def test_invalid_base64_payload_is_reported_with_its_path() -> None:
    data = memo.build(make_message()).replace(b"JVBERi0xLjcgdGVzdA==", b"JVBERi0xLjcgdGVzdA=")
    findings = memo.validate(data)
    assert [(f.rule, f.path) for f in findings] == [("xsd", "/Message/MessageBody/MainDocument/File/content")]
    assert "base64Binary" in findings[0].message


# --- business rules: one valid and one invalid case each ---------------------------------------------------


def _with_file(filename: str) -> memo.MemoMessage:
    return make_message(body=make_body(files=(memo.File("application/pdf", filename, "da", b"%PDF"),)))


@pytest.mark.parametrize("name", ["Afgørelse (endelig) 2026-01-02.pdf", "smiley 😀.pdf", "a.b.c.pdf"])
def test_filename_valid(name: str) -> None:
    assert _validate(_with_file(name)) == []


@pytest.mark.parametrize(
    "name",
    [
        "a<b.pdf",
        "a>b.pdf",
        "a:b.pdf",
        'a"b.pdf',
        "a/b.pdf",
        "a\\b.pdf",
        "a|b.pdf",
        "a?b.pdf",
        "a*b.pdf",
        "a\u00a0b.pdf",
        "a\u2003b.pdf",
        "a\u200ab.pdf",
        "a\u2028b.pdf",
        "a\u205fb.pdf",
        "a\u2060b.pdf",
        "a\u3000b.pdf",
        "a\rb.pdf",
        "a\nb.pdf",
    ],
)
def test_filename_with_forbidden_character(name: str) -> None:
    findings = _validate(_with_file(name))
    assert [(f.rule, f.path) for f in findings] == [
        (memo_rules.RULE_FILENAME, "/Message/MessageBody/MainDocument/File/filename")
    ]


def test_filename_rule_uses_the_canonical_set() -> None:
    from graph_dpg.core.filenames import FORBIDDEN_FILENAME_CHARS

    assert memo.FORBIDDEN_FILENAME_CHARS is FORBIDDEN_FILENAME_CHARS
    assert all(memo.forbidden_filename_characters(f"a{c}b") == [c] for c in FORBIDDEN_FILENAME_CHARS)


def _with_action(url: str) -> memo.MemoMessage:
    action = memo.Action(label="Svar", action_code="SELVBETJENING", entry_point=memo.EntryPoint(url))
    body = make_body()
    main = dataclasses.replace(body.main_document, actions=(action, action))
    return make_message(body=dataclasses.replace(body, main_document=main))


def test_https_entry_point_valid() -> None:
    assert _validate(_with_action("https://www.borger.dk/svar?id=1")) == []
    assert _validate(_with_action("HTTPS://WWW.BORGER.DK/")) == []


@pytest.mark.parametrize(
    "url", ["http://www.borger.dk", "ftp://x.dk/a", "www.borger.dk", "https://", "/relative"]
)
def test_entry_point_must_be_absolute_https(url: str) -> None:
    findings = [f for f in _validate(_with_action(url)) if f.rule != "xsd"]
    assert [(f.rule, f.path) for f in findings] == [
        (memo_rules.RULE_ENTRYPOINT_HTTPS, "/Message/MessageBody/MainDocument/Action[1]/EntryPoint/url"),
        (memo_rules.RULE_ENTRYPOINT_HTTPS, "/Message/MessageBody/MainDocument/Action[2]/EntryPoint/url"),
    ]


def test_notification_length() -> None:
    limit = memo.NOTIFICATION_MAX_LENGTH
    assert _validate(make_message(notification="x" * limit)) == []
    findings = _validate(make_message(notification="x" * (limit + 1)))
    assert [(f.rule, f.path) for f in findings] == [
        (memo_rules.RULE_NOTIFICATION_LENGTH, "/Message/MessageHeader/notification")
    ]
    # Beyond the XSD's 160 both the schema and the rule report it.
    assert rules(_validate(make_message(notification="x" * 161))) == [
        "xsd",
        memo_rules.RULE_NOTIFICATION_LENGTH,
    ]


def test_nemsms_needs_notification_and_digitalpost_needs_body() -> None:
    sms = dataclasses.replace(make_message(message_type="NEMSMS", notification="Du har post"), body=None)
    assert _validate(sms) == []
    silent = dataclasses.replace(make_message(message_type="NEMSMS"), body=None)
    assert rules(_validate(silent)) == [memo_rules.RULE_NOTIFICATION_REQUIRED]
    bodiless = dataclasses.replace(make_message(), body=None)
    assert [(f.rule, f.path) for f in _validate(bodiless)] == [(memo_rules.RULE_BODY_REQUIRED, "/Message")]


@pytest.mark.parametrize(
    ("id_type", "value", "ok"),
    [
        ("CPR", "2211771212", True),
        ("CPR", "221177-1212", False),
        ("CPR", "221177121", False),
        ("CPR", "２２１１７７１２１２", False),
        ("CVR", "29189846", True),
        ("CVR", "2918984", False),
        ("CVR", "DK29189846", False),
    ],
)
def test_recipient_id_digits_per_id_type(id_type: str, value: str, ok: bool) -> None:
    findings = _validate(make_message(recipient=memo.Recipient(recipient_id=value, id_type=id_type)))
    expected = [] if ok else [(f"id.{id_type.lower()}", "/Message/MessageHeader/Recipient/recipientID")]
    assert [(f.rule, f.path) for f in findings] == expected


def test_sender_id_type_and_digits() -> None:
    cpr_sender = memo.Sender(sender_id="2211771212", id_type="CPR", label="Borger")
    assert _validate(make_message(sender=cpr_sender)) == []
    wrong = memo.Sender(sender_id="22117712", id_type="CPR", label="Borger")
    assert [(f.rule, f.path) for f in _validate(make_message(sender=wrong))] == [
        (memo_rules.RULE_ID_CPR, "/Message/MessageHeader/Sender/senderID")
    ]
    unknown = memo.Sender(sender_id="12345678", id_type="MyndighedsID", label="X")
    assert [(f.rule, f.path) for f in _validate(make_message(sender=unknown))] == [
        (memo_rules.RULE_ID_TYPE, "/Message/MessageHeader/Sender/idType")
    ]


def test_representative_and_content_data_ids() -> None:
    sender = memo.Sender(
        sender_id="29189846",
        id_type="CVR",
        label="Kommunen",
        representative=memo.Representative(representative_id="123", id_type="CVR"),
    )
    content = memo.ContentData(cpr_data=memo.CPRData("2512169996"), cvr_data=memo.CVRData("1234567"))
    findings = _validate(make_message(sender=sender, content_data=content))
    assert [(f.rule, f.path) for f in findings] == [
        (memo_rules.RULE_ID_CVR, "/Message/MessageHeader/Sender/Representative/representativeID"),
        (memo_rules.RULE_ID_CVR, "/Message/MessageHeader/ContentData/CVRdata/cvrNumber"),
    ]
    ok_sender = dataclasses.replace(sender, representative=memo.Representative(label="Advokat uden id"))
    assert _validate(make_message(sender=ok_sender)) == []


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_mandatory_only_when_allowed(version: str) -> None:
    message = make_message(version, mandatory=True)
    assert [(f.rule, f.path) for f in _validate(message)] == [
        (memo_rules.RULE_MANDATORY, "/Message/MessageHeader/mandatory")
    ]
    assert _validate(message, mandatory_allowed=True) == []
    assert _validate(make_message(version, mandatory=False)) == []


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_legal_notification_only_when_allowed(version: str) -> None:
    message = make_message(version, legal_notification=True)
    assert [(f.rule, f.path) for f in _validate(message)] == [
        (memo_rules.RULE_LEGAL_NOTIFICATION, "/Message/MessageHeader/legalNotification")
    ]
    assert _validate(message, legal_notification_allowed=True) == []


def test_message_uuid_must_be_canonical_v4() -> None:
    assert memo.check_rules(make_message(message_uuid=memo.new_message_uuid())) == []
    for bad in ("8c2ea15d61fb4ba9936642f8b194c114", "{8c2ea15d-61fb-4ba9-9366-42f8b194c114}", "nope"):
        assert rules(memo.check_rules(make_message(message_uuid=bad))) == [memo_rules.RULE_UUID_V4]


def test_cpr_in_subject_is_a_warning_only() -> None:
    findings = _validate(make_message(label="Vedr. 221177-1212"))
    assert [(f.rule, f.severity) for f in findings] == [
        (memo_rules.RULE_NOTIFICATION_PERSONAL_DATA, "warning")
    ]
    assert memo.ensure_valid(memo.build(make_message(label="Vedr. 221177-1212"))) == findings
    assert _validate(make_message(label="Sag 2026-1234567")) == []


def test_ensure_valid_raises_with_every_finding() -> None:
    message = make_message(mandatory=True, legal_notification=True, notification="x" * 151)
    with pytest.raises(memo.MemoValidationError) as caught:
        memo.ensure_valid(memo.build(message))
    assert rules(caught.value.findings) == [
        memo_rules.RULE_NOTIFICATION_LENGTH,
        memo_rules.RULE_MANDATORY,
        memo_rules.RULE_LEGAL_NOTIFICATION,
    ]
    assert isinstance(caught.value, memo.MemoError)
    with pytest.raises(memo.MemoValidationError) as caught:
        memo.ensure_valid(memo.build(message), mandatory_allowed=True, legal_notification_allowed=True)
    assert rules(caught.value.findings) == [memo_rules.RULE_NOTIFICATION_LENGTH]


def test_parse_and_validate_returns_the_model() -> None:
    data = memo.build(make_message())
    message, findings = memo.parse_and_validate(data)
    assert findings == []
    assert message == memo.parse(data)


def test_concurrent_validation_keeps_findings_apart() -> None:
    from concurrent.futures import ThreadPoolExecutor

    good = memo.build(make_message())
    bad = memo.build(make_message(label="x" * 300))

    def check(index: int) -> bool:
        data = bad if index % 2 else good
        findings = memo.validate(data)
        return findings == [] if index % 2 == 0 else rules(findings) == ["xsd"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(check, range(200)))
