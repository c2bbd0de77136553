from dataclasses import replace
from datetime import UTC, datetime, timedelta

from graph_dpg.domain.conversion import (
    OutboundContext,
    delivered_message_id,
    plan_outbound,
    render_from_template,
    replied_memo_uuid,
    to_utf8_text,
)
from graph_dpg.domain.mail import Attachment, EmailAddress, Header, MailMessage
from graph_dpg.domain.policies import DEFAULT_POLICIES
from graph_dpg.memo import parse, validate
from graph_dpg.memo.model import ReplyData

ORG = "29189846"
SENDER_CP = "dfebd0ca-e211-47e4-af3a-f0d3344f018e"
CITIZEN = "0101701234"
GW = "ngdp.digital-post.dk"
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def ctx(**kw: object) -> OutboundContext:
    values: dict[str, object] = {
        "organisation_cvr": ORG,
        "organisation_name": "Kommunen",
        "gateway_domain": "digital-post.dk",
        "mailbox_address": "post@k.dk",
        "mailbox_configured": True,
        "allowed_cvrs": frozenset({ORG}),
        "allowed_sender_contact_points": frozenset({SENDER_CP}),
        "policies": DEFAULT_POLICIES,
        "internal_domains": frozenset({"k.dk"}),
        "created": NOW,
    }
    values.update(kw)
    return OutboundContext(**values)  # type: ignore[arg-type]


def mail(to: str, **kw: object) -> MailMessage:
    return MailMessage(
        subject=str(kw.pop("subject", "Brev")),
        body=str(kw.pop("body", "<p>Hej</p>")),
        to=[EmailAddress(to)],
        **kw,
    )  # type: ignore[arg-type]


def incoming(reply: bool, reply_by: datetime | None = None):
    """A memo as a citizen's authority would have sent it to us (replyable or not)."""
    plan = plan_outbound(mail(f"{CITIZEN}-reply@{SENDER_CP}.{GW}"), ctx())
    memo = parse(plan.memos[0].memo_xml or b"")
    header = replace(
        memo.header,
        reply=reply,
        reply_by_datetime=reply_by,
        reply_data=(
            ReplyData(
                message_uuid=memo.header.message_uuid,
                sender_id="12345674",
                contact_point_id="c0ffee00-0000-4000-8000-000000000001",
            ),
        ),
    )
    return replace(memo, header=header)


def test_reply_keeps_the_incoming_reply_data_and_appends_ours():
    original = incoming(reply=True)
    answer = mail(
        f"{CITIZEN}@{ORG}.{GW}",
        headers=[Header("In-Reply-To", delivered_message_id(original.header.message_uuid))],
    )
    uuid_ = replied_memo_uuid(answer)
    assert uuid_ == original.header.message_uuid.lower()
    plan = plan_outbound(answer, ctx(), replying_to=original, replying_to_uuid=uuid_)
    assert plan.errors == []
    memo = parse(plan.memos[0].memo_xml or b"")
    chain = memo.header.reply_data
    assert chain[0] == original.header.reply_data[0]
    assert chain[1].message_uuid == memo.header.message_uuid
    assert chain[1].reply_uuid == original.header.message_uuid
    assert validate(plan.memos[0].memo_xml or b"") == []


def test_reply_to_non_replyable_memo_is_refused():
    original = incoming(reply=False)
    answer = mail(f"{CITIZEN}@{ORG}.{GW}")
    plan = plan_outbound(answer, ctx(), replying_to=original, replying_to_uuid=original.header.message_uuid)
    assert [f.rule for f in plan.errors] == ["reply.not_allowed"]
    assert plan.memos == []


def test_reply_after_deadline_is_refused():
    original = incoming(reply=True, reply_by=NOW - timedelta(days=1))
    plan = plan_outbound(mail(f"{CITIZEN}@{ORG}.{GW}"), ctx(), replying_to=original, replying_to_uuid="x")
    assert [f.rule for f in plan.errors] == ["reply.deadline"]


def test_reply_to_a_memo_the_gateway_no_longer_has_is_sent_as_new_with_a_warning():
    plan = plan_outbound(mail(f"{CITIZEN}@{ORG}.{GW}"), ctx(), replying_to=None, replying_to_uuid="abc")
    assert plan.errors == []
    assert [f.rule for f in plan.warnings] == ["reply.unknown"]
    assert len(plan.memos) == 1


def test_references_header_is_used_when_in_reply_to_is_missing():
    m = mail(
        "x@y.dk",
        headers=[Header("References", "<a@b> <memo-8c2ea15d-61fb-4ba9-9366-42f8b194c114@graph-dpg.invalid>")],
    )
    assert replied_memo_uuid(m) == "8c2ea15d-61fb-4ba9-9366-42f8b194c114"
    assert replied_memo_uuid(mail("x@y.dk")) is None


def test_mass_template_is_re_addressed_per_recipient_and_stays_valid():
    lines = "\n".join(f"0{d}0170{s:04d}" for d in range(1, 4) for s in range(3)).encode()
    plan = plan_outbound(
        mail(
            f"masseforsendelse-9@{ORG}.{GW}",
            attachments=[Attachment("masseforsendelse.txt", "text/plain", lines)],
        ),
        ctx(),
    )
    assert plan.errors == []
    template, *rest = plan.memos
    assert template.memo_xml is not None
    assert all(m.memo_xml is None and m.template_uuid == template.message_uuid for m in rest)
    for m in rest:
        xml = render_from_template(template.memo_xml, m.message_uuid, m.recipient_kind, m.recipient_id)
        memo = parse(xml)
        assert memo.header.message_uuid == m.message_uuid
        assert memo.header.recipient.recipient_id == m.recipient_id
        assert validate(xml) == []
    company = render_from_template(template.memo_xml, rest[0].message_uuid, "cvr", "35833684")
    assert parse(company).header.recipient.id_type == "CVR"


def test_inline_images_are_embedded_and_not_sent_as_attachments():
    m = mail(
        f"{CITIZEN}@{ORG}.{GW}",
        body='<p>Logo:</p><img src="cid:logo1">',
        attachments=[Attachment("logo.png", "image/png", PNG, is_inline=True, content_id="<logo1>")],
    )
    plan = plan_outbound(m, ctx())
    memo = parse(plan.memos[0].memo_xml or b"")
    assert [f.filename for f in memo.files()] == ["Brev.html", "Brev.txt"]
    html = memo.files()[0].content.decode()
    assert 'src="data:image/png;base64,' in html


def test_forbidden_characters_in_file_names_are_replaced_with_a_warning():
    pdf = b"%PDF-1.4\n%%EOF\n"
    plan = plan_outbound(
        mail(f"{CITIZEN}@{ORG}.{GW}", attachments=[Attachment('a<b>:"c".pdf', "application/pdf", pdf)]), ctx()
    )
    assert plan.errors == []
    memo = parse(plan.memos[0].memo_xml or b"")
    assert memo.files()[-1].filename == "a-b-c-.pdf"
    assert any(f.rule.startswith("filename.") for f in plan.warnings)


def test_legacy_charsets_become_utf8():
    assert to_utf8_text("Ærø".encode("cp1252")) == "Ærø".encode()
    assert to_utf8_text(b"\xef\xbb\xbfabc") == b"abc"
    assert to_utf8_text("Ærø".encode("utf-16")) == "Ærø".encode()


def test_mandatory_needs_permission():
    m = mail(
        f"{CITIZEN}@{ORG}.{GW}",
        attachments=[Attachment("MemoHeader.json", "application/json", b'{"mandatory": true}')],
    )
    assert [f.rule for f in plan_outbound(m, ctx()).errors] == ["memoheader.mandatory"]
    ok = plan_outbound(m, ctx(mandatory_allowed=True))
    assert ok.errors == []
    assert parse(ok.memos[0].memo_xml or b"").header.mandatory is True


def test_reply_deadline_in_the_past_is_refused():
    header = b'{"replyByDateTime": "2020-01-01T12:00:00Z"}'
    m = mail(
        f"{CITIZEN}-reply@{ORG}.{GW}", attachments=[Attachment("MemoHeader.json", "application/json", header)]
    )
    assert [f.rule for f in plan_outbound(m, ctx()).errors] == ["memoheader.reply_by"]
    future = b'{"replyByDateTime": "2027-01-01T12:00:00Z"}'
    ok = plan_outbound(
        mail(
            f"{CITIZEN}-reply@{ORG}.{GW}",
            attachments=[Attachment("MemoHeader.json", "application/json", future)],
        ),
        ctx(),
    )
    assert ok.errors == []
    assert parse(ok.memos[0].memo_xml or b"").header.reply_by_datetime == datetime(2027, 1, 1, 12, tzinfo=UTC)
