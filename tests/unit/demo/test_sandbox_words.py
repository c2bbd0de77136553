"""The sandbox's words check (graph_dpg/demo/words.py; issue 17, "Evidence"): it finds English catalogue
sentences in a Danish mail, and raw finding codes or NgDP statuses outside the support line, in the
gateway's own text only; the Danish mails the gateway renders pass it, their English versions do not."""

from __future__ import annotations

from typing import Any

import pytest

from graph_dpg.core.errors import Finding
from graph_dpg.demo.words import check_mail, check_mails, english_sentences
from graph_dpg.domain.inbound_view import ViewOptions, render_invalid_mail
from graph_dpg.domain.receipts import render_error_receipt
from graph_dpg.domain.texts import Text, text

UUID = "11111111-2222-4333-8444-555555555555"


def mail(body: str, subject: str = "DPG kvittering: Brev") -> dict[str, Any]:
    return {"subject": subject, "body": {"contentType": "html", "content": body}}


def whats(message: dict[str, Any], *, alert: bool = False) -> list[tuple[str, str]]:
    return [(p.what, p.found) for p in check_mail("x", message, alert=alert)]


def test_a_code_or_status_is_a_problem_outside_the_support_line_only() -> None:
    support = text(Text.RECEIPT_SUPPORT_LINE, "da", codes="policy.count")
    clean = mail(f"<div><p>Mailen har for mange bilag.</p><p>{support}</p></div>")
    assert whats(clean) == []
    assert whats(mail("<div><p>Mailen har for mange bilag [policy.count].</p></div>")) == [
        ("code", "policy.count")
    ]
    assert whats(mail("<div><p>kvittering: NOT_ALLOWED</p></div>")) == [("status", "NOT_ALLOWED")]
    # a domain or an address is no code
    assert whats(mail("<div><p>Skriv til post@sandby.dk eller se sandby.dk.</p></div>")) == []


def test_an_english_catalogue_sentence_in_a_danish_mail_is_a_problem() -> None:
    english = text(Text.BANNER_UNSHOWN_WHY, "en")
    assert [w for w, _ in whats(mail(f"<div><p>{english}</p></div>"))] == ["english"]
    assert whats(mail(f"<div><p>{text(Text.BANNER_UNSHOWN_WHY, 'da')}</p></div>")) == []
    assert len(english_sentences()) > 100


def test_of_delivered_post_only_the_gateway_s_parts_are_read() -> None:
    english = text(Text.BANNER_UNSHOWN_WHY, "en")
    letter = f"<p>Dear citizen, your status is INVALID. {english}</p>"  # the sender's words: not ours
    ours = "<div class='dpg-banner'><p>Brevet er lagt i hovedpostkassen.</p></div>"
    assert whats(mail(ours + "<hr>" + letter, subject="Brev")) == []
    assert whats(mail(ours + letter, subject="Your claim is INVALID")) == []  # the sender's subject
    wrong = f"<div class='dpg-banner'><p>{english}</p><p>COMPLETED</p></div>"
    assert sorted(w for w, _ in whats(mail(wrong + letter, subject="Brev"))) == ["english", "status"]


def test_alerts_to_it_may_name_codes_but_speak_danish() -> None:
    body = (
        "<div><p>Kontaktpunktet mangler.</p><pre>contact_points:\n  - id: x</pre><p>id.cpr INVALID</p></div>"
    )
    assert whats(mail(body), alert=True) == []
    english = text(Text.INB_UNMAPPED_ALERT_FIX, "en")
    assert [w for w, _ in whats(mail(f"<div><p>{english}</p></div>"), alert=True)] == ["english"]


@pytest.mark.parametrize("language", ["da", "en"])
def test_the_gateway_s_own_danish_mails_pass_and_their_english_versions_do_not(language: str) -> None:
    findings = [
        Finding("policy.count", "11 attachments", params={"count": 11, "limit": 10}),
        Finding("xml.well-formed", "broken"),
    ]
    receipt = render_error_receipt("Alle bilag", findings[:1], language=language)
    invalid = render_invalid_mail(
        b"<broken", UUID, findings[1:], target_mailbox="post@kommune.dk", options=ViewOptions(language)
    ).mail
    mails = [
        ("receipt", mail(receipt.html, receipt.subject), False),
        ("invalid", mail(invalid.body, invalid.subject), False),
    ]
    words = check_mails(mails, "da")
    assert words["checked"] == 2
    assert words["passed"] is (language == "da"), words["problems"]
    if language == "en":
        assert {p["what"] for p in words["problems"]} == {"english"}
        assert {p["mail"] for p in words["problems"]} == {"receipt", "invalid"}


def test_an_english_gateway_is_not_checked() -> None:
    assert check_mails([("x", mail("<p>[policy.count]</p>"), False)], "en")["passed"] is True
