"""MeMo → Outlook mail: banner, overview table (masked), all files, MeMo XML, Message-ID/Reply-To contract."""

from __future__ import annotations

import pytest
from inbound_memos import CITIZEN, CITIZEN_CP, CP_BYG, CP_UNKNOWN, ORG_CVR, PDF, citizen_memo

from graph_dpg import memo as m
from graph_dpg.core.errors import Finding
from graph_dpg.domain.addresses import parse_address
from graph_dpg.domain.inbound_view import (
    ViewOptions,
    memo_internet_message_id,
    memo_uuid_from_message_id,
    render_invalid_mail,
    render_memo_mail,
    reply_address,
    unmapped_banner,
)
from graph_dpg.domain.mail import EmailAddress


def _render(xml: bytes, **kw: object):  # type: ignore[no-untyped-def]
    message = m.parse(xml)
    address = reply_address(message, ORG_CVR, "digital-post.dk")
    assert address is not None
    return render_memo_mail(
        message,
        xml,
        target_mailbox="byg@kommune.dk",
        reply_from=EmailAddress(address, message.header.sender.label),
        **kw,  # type: ignore[arg-type]
    )


def test_message_id_and_reply_address_contract() -> None:
    uid, xml = citizen_memo(sender_cp=CITIZEN_CP)
    message = m.parse(xml)
    assert memo_internet_message_id(uid.upper()) == f"<memo-{uid}@graph-dpg.invalid>"
    assert memo_uuid_from_message_id(f"<memo-{uid}@graph-dpg.invalid>") == uid
    assert memo_uuid_from_message_id("<abc@kommune.dk>") is None
    via_cvr = reply_address(message, ORG_CVR, "digital-post.dk")
    assert via_cvr == f"{CITIZEN}.{CITIZEN_CP}@{ORG_CVR}.ngdp.digital-post.dk"
    via_cp = reply_address(message, CP_BYG, "gw.example.dk")
    assert via_cp == f"{CITIZEN}.{CITIZEN_CP}@{CP_BYG}.ngdp.gw.example.dk"
    parsed = parse_address(via_cp, "gw.example.dk")
    assert (parsed.recipient_id, parsed.reply, parsed.sender_kind) == (CITIZEN, False, "contact_point")
    view = _render(xml)
    assert view.mail.internet_message_id == f"<memo-{uid}@graph-dpg.invalid>"
    assert view.mail.sender == EmailAddress(via_cvr, "Anders And")
    assert view.mail.reply_to == [view.mail.sender]
    assert view.mail.subject == "Spørgsmål om byggetilladelse"


def test_overview_table_masks_cpr_and_lists_central_fields() -> None:
    uid, xml = citizen_memo(about_cpr="0202802345", legal_notification=True)
    view = _render(xml, contact_point_name="Byggesager", rule_reasons=["byg: memo:kle equals '02.00.00'"])
    rows = dict(view.overview)
    assert rows["Afsender"] == "Anders And (CPR 010170-xxxx)"
    assert rows["Modtager"] == f"Sandbox Kommune (CVR {ORG_CVR})"
    assert rows["Kontaktpunkt"] == f"Byggesager ({CP_BYG})"
    assert rows["Svar tilladt"] == "ja"
    assert rows["Retsvirkning"] == "ja"
    assert rows["Obligatorisk"] == "nej"
    assert rows["Sag"] == "SAG-2024-17 (ESDH)"
    assert rows["KLE"] == "02.00.00 Byggeri"
    assert rows["Vedrører (CPR)"] == "Anders And (CPR 020280-xxxx)"
    assert rows["messageUUID"] == uid
    assert rows["Oprettet"] == "20. november 2026 kl. 10.30"  # Danish local time (CET)
    body = view.mail.body
    assert CITIZEN not in body and "0202802345" not in body
    assert "byg: memo:kle equals" in body
    assert "<script>" not in body and "Hej kommune" in body  # sanitised main document inline
    assert "dpg-banner" not in body


def test_cpr_shown_only_when_asked() -> None:
    _, xml = citizen_memo()
    view = _render(xml, options=ViewOptions(mask_cpr=False))
    assert dict(view.overview)["Afsender"] == f"Anders And (CPR {CITIZEN})"


def test_every_file_and_the_memo_xml_are_attached() -> None:
    uid, xml = citizen_memo(attachments=3, body_html=None)
    view = _render(xml)
    names = [a.name for a in view.mail.attachments]
    assert names == ["brev.pdf", "bilag-1.pdf", "bilag-2.pdf", "bilag-3.pdf", f"{uid}.memo.xml"]
    assert view.mail.attachments[0].content == PDF
    assert view.mail.attachments[-1].content == xml
    assert "vedhæftet (brev.pdf)" in view.mail.body


def test_duplicate_file_names_are_made_unique() -> None:
    _, xml = citizen_memo(attachments=0)
    message = m.parse(xml)
    body = message.body
    assert body is not None
    twice = m.Document("additional", (m.File("application/pdf", "brev.html", "da", PDF),))
    message = m.MemoMessage(
        message.header, m.MessageBody(body.created_datetime, body.main_document, (twice,))
    )
    view = render_memo_mail(message, xml, target_mailbox="x@kommune.dk", reply_from=None)
    assert [a.name for a in view.mail.attachments][:2] == ["brev.html", "brev (2).html"]


def test_files_without_a_name_get_the_word_for_file_in_the_mail_language() -> None:
    _, xml = citizen_memo(attachments=0)
    message = m.parse(xml)
    body = message.body
    assert body is not None
    unnamed = m.Document(
        "additional", (m.File("application/pdf", "", "da", PDF), m.File("application/pdf", "", "da", PDF))
    )
    message = m.MemoMessage(
        message.header, m.MessageBody(body.created_datetime, body.main_document, (unnamed,))
    )
    danish = render_memo_mail(message, xml, target_mailbox="x@kommune.dk", reply_from=None)
    assert [a.name for a in danish.mail.attachments][1:3] == ["fil", "fil (2)"]
    english = render_memo_mail(
        message, xml, target_mailbox="x@kommune.dk", reply_from=None, options=ViewOptions(language="en")
    )
    assert [a.name for a in english.mail.attachments][1:3] == ["file", "file (2)"]


def test_unmapped_banner_names_contact_point_and_what_to_configure() -> None:
    _, xml = citizen_memo(contact_point=CP_UNKNOWN)
    banner = unmapped_banner(CP_UNKNOWN, None, known=False)
    view = _render(xml, banners=[banner], categories=["Digital Post: Modtaget", "Digital Post: Advarsel"])
    body = view.mail.body
    assert body.index("dpg-banner") < body.index("dpg-overview")  # the banner is at the top
    # the contact point only in the support line; no configuration for case workers (IT gets an alert)
    assert banner.lines[-1] == f"Til it-support: contact point {CP_UNKNOWN}"
    assert "contact_points" not in body and "gateway-filen" not in body
    assert view.mail.categories == ["Digital Post: Modtaget", "Digital Post: Advarsel"]
    known = unmapped_banner(CP_UNKNOWN, "Skoler", known=True, language="en")
    assert known.title == "The letter was sent to the contact point Skoler, which has no mailbox"
    assert "mailbox: null" not in " ".join(known.lines)


def test_invalid_memo_mail_explains_and_keeps_the_xml() -> None:
    raw = b"<memo:Message xmlns:memo='https://DigitalPost.dk/MeMo-1'>broken 0101701234"
    findings = [Finding("xml.well-formed", "not well-formed near 0101701234")]
    view = render_invalid_mail(
        raw, "11111111-2222-4333-8444-555555555555", findings, target_mailbox="post@kommune.dk"
    )
    assert view.banners[0].kind == "invalid"
    assert "0101701234" not in view.mail.body and "not well-formed" not in view.mail.body
    assert view.mail.attachments[0].content == raw
    details = view.mail.attachments[1].content or b""  # the technical detail, CPR-masked
    assert b"010170-xxxx" in details and b"0101701234" not in details
    assert view.mail.internet_message_id == "<memo-11111111-2222-4333-8444-555555555555@graph-dpg.invalid>"
    assert "Ugyldig" in view.mail.subject


def test_a_huge_main_document_is_attached_not_inlined() -> None:
    big = "<p>" + "x" * 1_200_000 + "</p>"
    _, xml = citizen_memo(body_html=big, attachments=0)
    view = _render(xml)
    assert len(view.mail.body) < 100_000
    assert "vedhæftet (brev.html)" in view.mail.body
    assert view.mail.attachments[0].name == "brev.html"


def test_a_huge_memo_xml_is_kept_by_the_gateway_not_attached_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    import graph_dpg.domain.inbound_view as view_module

    uid, xml = citizen_memo(attachments=1)
    monkeypatch.setattr(view_module, "MEMO_XML_ATTACH_LIMIT", len(xml) - 1)
    view = _render(xml)
    assert f"{uid}.memo.xml" not in [a.name for a in view.mail.attachments]
    assert "for stor til at blive vedhæftet" in view.mail.body
