"""Every word a case worker reads on delivered Digital Post (issue 17, "Banners and the inbound overview"):
Danish and English, what happened and whom to tell, codes only in the one support line; the configuration
fix goes to IT (the monitoring mailbox's alert)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from inbound_memos import CITIZEN, CP_BYG, CP_UNKNOWN, ORG_CVR, citizen_memo

from graph_dpg import memo as m
from graph_dpg.bootstrap.rules import inbound_settings
from graph_dpg.config import load_gateway_text
from graph_dpg.core.errors import Finding
from graph_dpg.domain import receipts
from graph_dpg.domain.html_text import MAIL_STYLE, html_to_text
from graph_dpg.domain.inbound_view import (
    SUPPORT_STYLE,
    Banner,
    ViewOptions,
    foreign_banner,
    invalid_banner,
    render_invalid_mail,
    render_memo_mail,
    render_memo_part,
    render_unshown_mail,
    split_banners,
    undeliverable_banner,
    unmapped_banner,
    unshown_banner,
)
from graph_dpg.domain.local_time import format_local_datetime, local_time
from graph_dpg.domain.routing import ContactPointRoute, InboundSettings, memo_item, memo_route, plain_reasons
from graph_dpg.domain.rules import RoutingRule, RuleAction, RuleCondition, evaluate_rules
from graph_dpg.domain.split import SplitPlan
from graph_dpg.domain.texts import Text, text
from graph_dpg.services.alerts import unmapped_contact_point_alert

LANGUAGES = ("da", "en")
UUID = "11111111-2222-4333-8444-555555555555"
LXML = (
    "Element '{https://DigitalPost.dk/MeMo-1}MessageHeader': Missing child element(s). Expected is "
    "( {https://DigitalPost.dk/MeMo-1}label )."
)
#: What must not reach a case worker outside the support line: finding codes in brackets, ISO/UTC
#: timestamps, URIs (namespaces), YAML keys, a regular expression.
RAW = [
    re.compile(r"\[[a-z]+[.-][a-z.-]+\]"),
    re.compile(r"\d{4}-\d{2}-\d{2}"),
    re.compile(r"\bUTC\b"),
    re.compile(r"https?://", re.IGNORECASE),
    re.compile(r"contact_points|mailbox:\s|rules:", re.IGNORECASE),
]
#: Ids the overview table may show as the memo's fields, but a banner's sentences never.
MEMO_ID = re.compile(r"messageUUID|[0-9a-f]{8}-[0-9a-f]{4}-", re.IGNORECASE)


def assert_plain(words: str, *, allowed: str = "") -> None:
    shown = words.replace(allowed, "") if allowed else words
    for pattern in RAW:
        assert not pattern.search(shown), (pattern.pattern, shown)


def banner_words(banner: Banner, language: str) -> tuple[str, str]:
    """(everything but the support line, the support line); the support line is the last line."""
    support = [line for line in banner.lines if line.startswith(text(Text.INB_SUPPORT, language, code=""))]
    assert len(support) <= 1
    assert not support or banner.lines[-1] == support[0]
    rest = " ".join([banner.title, *(line for line in banner.lines if line not in support)])
    assert not MEMO_ID.search(rest), rest
    return rest, support[0] if support else ""


# ------------------------------------------------------------------------------- unmapped contact point


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("cp", "name", "known"),
    [(CP_UNKNOWN, None, False), (CP_UNKNOWN, "Skoler", True), (None, None, False)],
    ids=["unknown", "mailbox-null", "no-contact-point"],
)
def test_unmapped_banner_says_what_happened_and_whom_to_tell(
    language: str, cp: str | None, name: str | None, known: bool
) -> None:
    banner = unmapped_banner(cp, name, known, language)
    words, support = banner_words(banner, language)
    assert "((" not in banner.title and "))" not in banner.title and "(" not in banner.title
    assert_plain(words)
    assert cp is None or (cp not in words and cp in support)  # the id only in the support line
    told = {"da": "it-afdeling", "en": "IT department"}[language]
    assert told in words  # whom to tell
    main = {"da": "hovedpostkassen", "en": "main mailbox"}[language]
    assert main in words  # what happened
    if name:
        assert name in banner.title


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("known", [False, True], ids=["unknown", "mailbox-null"])
def test_unmapped_alert_gives_it_the_exact_configuration_fix(language: str, known: bool) -> None:
    alert = unmapped_contact_point_alert(
        CP_UNKNOWN, "Skoler" if known else None, known, "post@kommune.dk", UUID, language
    )
    placeholder = text(Text.INB_PLACEHOLDER_MAILBOX, language)
    assert alert.code.splitlines() == [
        "contact_points:",
        f"  - id: {CP_UNKNOWN}",
        f'    name: "{"Skoler" if known else text(Text.INB_PLACEHOLDER_NAME, language)}"',
        f"    mailbox: {placeholder}",
    ]
    said = " ".join(alert.lines)
    assert CP_UNKNOWN in said and "post@kommune.dk" in said and UUID in said
    assert ("mailbox: null" in said) is known


# ------------------------------------------------------------------------------- invalid memo


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("receipt_sent", [True, False], ids=["answered", "forwarded-smtp"])
def test_invalid_banner_says_in_words_what_is_wrong_and_what_happens(
    language: str, receipt_sent: bool
) -> None:
    findings = [Finding("xsd", LXML, "/Message/MessageHeader"), Finding("id.cpr", "not a CPR 0101701234")]
    banner = invalid_banner(findings, language, receipt_sent=receipt_sent, memo_uuid=UUID)
    words, support = banner_words(banner, language)
    assert_plain(words)
    assert "{" not in words and "MessageHeader" not in words and "Missing child" not in words
    assert text(Text.INB_INVALID_FORMAT, language) in words
    assert text(Text.INB_INVALID_IDS, language) in words
    told = Text.INB_INVALID_TOLD if receipt_sent else Text.INB_INVALID_NOT_TOLD
    assert text(told, language) in words
    assert "xsd" in support and "id.cpr" in support and UUID in support


@pytest.mark.parametrize("language", LANGUAGES)
def test_invalid_memo_mail_has_a_sender_and_the_technical_detail_attached(language: str) -> None:
    raw = b"<memo:Message xmlns:memo='https://DigitalPost.dk/MeMo-1'>broken 0101701234"
    findings = [Finding("xml.well-formed", f"not well-formed near 0101701234: {LXML}")]
    view = render_invalid_mail(
        raw, UUID, findings, target_mailbox="post@kommune.dk", options=ViewOptions(language=language)
    )
    mail = view.mail
    assert mail.sender is not None and mail.sender.address == "post@kommune.dk"
    assert mail.sender.name == text(Text.GATEWAY_SENDER_NAME, language)
    names = [a.name for a in mail.attachments]
    details_name = text(Text.INB_INVALID_DETAILS_NAME, language)
    assert names == [f"{UUID}.memo.xml", details_name]
    details = mail.attachments[1].content or b""
    assert b"MeMo-1" in details and b"0101701234" not in details and b"010170-xxxx" in details
    assert b"INVALID" in details
    words, support = banner_words(view.banners[0], language)
    assert_plain(words)
    body = html_to_text(mail.body)
    assert "MeMo-1}" not in body and "xml.well-formed" in support
    assert MAIL_STYLE in mail.body


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_invalid_but_readable_memo_is_from_its_sender_via_digital_post(language: str) -> None:
    _, xml = citizen_memo()
    message = m.parse(xml)
    view = render_invalid_mail(
        xml,
        message.header.message_uuid,
        [Finding("notification.length", "too long")],
        target_mailbox="post@kommune.dk",
        message=message,
        options=ViewOptions(language=language),
    )
    assert view.mail.sender is not None
    assert view.mail.sender.name == text(Text.INB_INVALID_SENDER, language, name="Anders And")
    assert view.mail.sender.address == "post@kommune.dk"  # no gateway address: no MeMo reply to it
    assert view.mail.attachments[-1].name == text(Text.INB_INVALID_DETAILS_NAME, language)
    words, _ = banner_words(view.banners[0], language)
    assert text(Text.INB_INVALID_CONTENT, language) in words
    assert text(Text.INB_INVALID_PARTLY, language, details=view.mail.attachments[-1].name) in words
    assert text(Text.INB_NOTE_INVALID, language) in html_to_text(view.mail.body)


# ------------------------------------------------------------------------------- the overview


def test_dates_are_danish_local_time_in_the_mailbox_language() -> None:
    winter = datetime(2026, 12, 3, 13, 5, tzinfo=UTC)  # CET, UTC+1
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # CEST, UTC+2
    assert format_local_datetime(winter, "da") == "3. december 2026 kl. 14.05"
    assert format_local_datetime(winter, "en") == "3 December 2026, 14:05"
    assert format_local_datetime(summer, "da") == "1. juli 2026 kl. 14.00"
    assert format_local_datetime(datetime(2026, 12, 31, 23, 30), "da") == "1. januar 2027 kl. 00.30"
    assert format_local_datetime(None, "da") == ""
    assert local_time(winter) == "03.12.2026 14:05"  # the compact shape (receipts), the same conversion
    assert local_time(datetime(2026, 7, 1, 12, 0)) == "01.07.2026 14:00"  # naive: UTC


SETTINGS = InboundSettings(
    organisation_cvr=ORG_CVR,
    organisation_name="Sandbox Kommune",
    main_mailbox="post@kommune.dk",
    monitoring_mailbox="drift@kommune.dk",
    contact_points={CP_BYG: ContactPointRoute(CP_BYG, "Byggesager", "byg@kommune.dk")},
)
REGEX_RULE = RoutingRule(
    "fakturaer",
    (RuleCondition.make("subject", "regex", r"^(faktura|rykker)\s+nr\.?\s*\d+"),),
    RuleAction(categories=("Faktura",)),
)
KLE_RULE = RoutingRule(
    "byggesager",
    (RuleCondition.make("memo:kle", "equals", "02.00.00"), RuleCondition.make("body", "exists")),
    RuleAction(deliver_mailbox="byg@kommune.dk"),
)
DESCRIBED = RoutingRule(
    "sager",
    (RuleCondition.make("memo:case_id", "regex", r"SAG-\d{4}-\d+"),),
    RuleAction(),
    description="Breve om en sag i ESDH",
)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_overview_speaks_in_words(language: str) -> None:
    _, xml = citizen_memo(label="Faktura nr. 17", reply_by_datetime=datetime(2026, 12, 24, 11, 0, tzinfo=UTC))
    message = m.parse(xml)
    settings = InboundSettings(**{**SETTINGS.__dict__, "language": language})
    decision = evaluate_rules((REGEX_RULE, KLE_RULE, DESCRIBED), memo_item(message, xml))
    assert decision.matched_rules == ("fakturaer", "byggesager", "sager")
    route = memo_route(settings, message, decision)
    view = render_memo_mail(
        message,
        xml,
        target_mailbox=route.mailbox,
        reply_from=None,
        rule_reasons=route.reasons,
        routing_note=route.note or None,
        contact_point_name="Byggesager",
        options=ViewOptions(language=language),
    )
    body = html_to_text(view.mail.body)
    rows = dict(view.overview)
    created = text(Text.VIEW_CREATED, language)
    assert rows[created] == {"da": "20. november 2026 kl. 10.30", "en": "20 November 2026, 10:30"}[language]
    by = {"da": "24. december 2026 kl. 12.00", "en": "24 December 2026, 12:00"}[language]
    assert by in rows[text(Text.VIEW_REPLY, language)]
    assert text(Text.VIEW_RULE, language) in body and "Routing" not in body
    assert "faktura|rykker" not in body and r"\d" not in body  # never a regex
    for reason in plain_reasons(decision, language):
        assert reason in body
    assert "fakturaer" in body and text(Text.INB_FIELD_SUBJECT, language) in body
    assert "Breve om en sag i ESDH" in body
    assert_plain(body.replace(CITIZEN, ""))
    assert f'<div style="{MAIL_STYLE}">' in view.mail.body


def test_the_overview_has_the_typography_of_the_receipts() -> None:
    assert receipts._STYLE is MAIL_STYLE  # one style for all mails


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_rule_without_description_is_told_by_its_conditions(language: str) -> None:
    words = plain_reasons(evaluate_rules((KLE_RULE,), memo_item(*_parsed())), language)
    field_words = text(Text.INB_FIELD_KLE, language)
    assert words == [
        text(
            Text.INB_RULE_REASON,
            language,
            name="byggesager",
            description=text(Text.INB_OP_EQUALS, language, field=field_words, value="02.00.00")
            + text(Text.INB_RULE_AND, language)
            + text(Text.INB_OP_EXISTS, language, field=text(Text.INB_FIELD_BODY, language)),
        )
    ]
    assert_plain(words[0])


def _parsed() -> tuple[m.MemoMessage, bytes]:
    _, xml = citizen_memo()
    return m.parse(xml), xml


# ------------------------------------------------------------------------------- the other banners


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_undeliverable_and_unshown_banners_keep_errors_in_the_support_line(language: str) -> None:
    error = "Graph 403 ErrorAccessDenied: https://graph.microsoft.com/v1.0/users/x 0101701234"
    for banner in (
        undeliverable_banner("byg@kommune.dk", "inbox", error, language),
        unshown_banner("OverflowError: date value out of range", UUID, language),
    ):
        words, support = banner_words(banner, language)
        assert_plain(words)
        assert "Error" not in words and "RBAC" not in words and support
        assert "0101701234" not in support
    _, support = banner_words(undeliverable_banner("byg@kommune.dk", "inbox", error, language), language)
    assert "ErrorAccessDenied" in support and "010170-xxxx" in support


def test_a_rule_description_in_the_gateway_file_reaches_the_mail() -> None:
    config = load_gateway_text(
        f"""
organisation: {{cvr: "{ORG_CVR}", name: Sandbox Kommune}}
main_mailbox: post@kommune.dk
monitoring_mailbox: it@kommune.dk
rules:
  - name: Sager
    description: Breve om en sag i ESDH
    conditions: [{{field: "memo:case_id", op: regex, value: 'SAG-\\d+'}}]
    actions: {{categories: [Sag]}}
"""
    )
    [rule] = inbound_settings(config).rules
    assert rule.description == "Breve om en sag i ESDH"
    message, xml = _parsed()
    assert plain_reasons(evaluate_rules((rule,), memo_item(message, xml)), "da") == [
        "Reglen »Sager«: Breve om en sag i ESDH."
    ]


# ------------------------------------------------------------------------------- memo ids: the support line only

MB = 1024 * 1024


def _big_memo() -> m.MemoMessage:
    """A memo with four files, for split and oversized banners."""
    message, _ = _parsed()
    body = message.body
    assert body is not None
    files = tuple(m.File("application/pdf", f"bilag{i}.pdf", "da", b"%PDF" + bytes(i)) for i in range(4))
    main = m.Document("main", files, label="Brev")
    return m.MemoMessage(message.header, m.MessageBody(body.created_datetime, main), message.version)


def _said_once_in_support(banners: list[Banner], language: str, memo_uuid: str) -> None:
    supports = []
    for banner in banners:
        words, support = banner_words(banner, language)
        assert_plain(words)
        supports.append(support)
    assert sum(memo_uuid in s for s in supports) == 1, supports


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_foreign_organisation_banner_names_the_memo_only_in_the_support_line(language: str) -> None:
    banner = foreign_banner("12345678", ORG_CVR, language, UUID)
    _said_once_in_support([banner], language, UUID)
    words, _ = banner_words(banner, language)
    assert {"da": "it-afdeling", "en": "IT department"}[language] in words


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    "plan",
    [
        SplitPlan(10 * MB, ((0, 1), (2, 3))),
        SplitPlan(10 * MB, ((0, 1), (2,)), oversized=(3,)),
        SplitPlan(10 * MB, ((0, 1, 2),), oversized=(3,)),
    ],
    ids=["split", "split-and-oversized", "oversized"],
)
def test_split_and_oversized_banners_name_the_memo_only_in_the_support_line(
    language: str, plan: SplitPlan
) -> None:
    message = _big_memo()
    memo_uuid = message.header.message_uuid
    _said_once_in_support(split_banners(message, plan, language), language, memo_uuid)
    if plan.total > 1:
        part = render_memo_part(
            message, plan, 2, target_mailbox="byg@kommune.dk", reply_from=None, options=ViewOptions(language)
        )
        assert memo_uuid not in part.subject
        body = html_to_text(part.body)
        support = text(Text.INB_SUPPORT, language, code=f"messageUUID {memo_uuid}")
        assert support in body and f"{SUPPORT_STYLE}'>{support}" in part.body  # small, as the receipts'
        rest = body.replace(support, "")
        assert_plain(rest)
        assert rest.count(memo_uuid) == 1  # the overview table's row, nowhere else


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("too_big", [None, 1 * MB], ids=["attached", "too-big"])
def test_invalid_and_unshown_mails_keep_the_memo_id_out_of_the_subject_and_the_sentences(
    language: str, too_big: int | None
) -> None:
    opts = ViewOptions(language=language)
    invalid = render_invalid_mail(
        b"<broken",
        UUID,
        [Finding("xml.well-formed", "broken")],
        target_mailbox="post@kommune.dk",
        options=opts,
        too_big=too_big,
    )
    unshown = render_unshown_mail(
        b"<x/>", UUID, "OverflowError", target_mailbox="post@kommune.dk", options=opts, too_big=too_big
    )
    assert invalid.mail.subject == text(Text.VIEW_INVALID_SUBJECT, language)
    assert unshown.mail.subject == text(Text.VIEW_UNSHOWN_SUBJECT, language)
    for view in (invalid, unshown):
        [banner] = view.banners
        words, support = banner_words(banner, language)
        assert_plain(words)
        assert UUID in support
        if too_big is not None:
            assert (
                text(Text.BANNER_XML_NOT_ATTACHED, language, limit="1,0 MB" if language == "da" else "1.0 MB")
                in words
            )
    details = invalid.mail.attachments[-1]
    assert details.name == text(Text.INB_INVALID_DETAILS_NAME, language) and UUID.encode() in (
        details.content or b""
    )
