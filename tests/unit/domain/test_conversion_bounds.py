"""plan_outbound on inputs that are ambiguous or only look right: one letter per recipient, special files
once and named exactly, inline images that really are shown, hostile parts as findings."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import pytest

from graph_dpg.domain.conversion import OutboundContext, Plan, plan_outbound
from graph_dpg.domain.mail import Attachment, EmailAddress, MailMessage
from graph_dpg.domain.policies import DEFAULT_POLICIES
from graph_dpg.memo import parse

ORG = "29189846"
CP = "dfebd0ca-e211-47e4-af3a-f0d3344f018e"
GW = "ngdp.digital-post.dk"
CPR = "0101701234"
CPR2 = "0201701234"
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
PDF = b"%PDF-1.4\n%%EOF\n"
EXE = b"MZ" + b"\x00" * 64


def ctx() -> OutboundContext:
    return OutboundContext(
        organisation_cvr=ORG,
        organisation_name="Kommunen",
        gateway_domain="digital-post.dk",
        mailbox_address="post@k.dk",
        mailbox_configured=True,
        allowed_cvrs=frozenset({ORG}),
        allowed_sender_contact_points=frozenset(),
        policies=DEFAULT_POLICIES,
        internal_domains=frozenset({"k.dk"}),
        created=NOW,
    )


def plan(
    to: list[str],
    *,
    cc: list[str] = (),  # type: ignore[assignment]
    bcc: list[str] = (),  # type: ignore[assignment]
    body: str = "<p>Hej</p>",
    attachments: list[Attachment] = (),  # type: ignore[assignment]
) -> Plan:
    msg = MailMessage(
        subject="Brev",
        body=body,
        to=[EmailAddress(a) for a in to],
        cc=[EmailAddress(a) for a in cc],
        bcc=[EmailAddress(a) for a in bcc],
        attachments=list(attachments),
    )
    return plan_outbound(msg, ctx())


def _rules(p: Plan, severity: str = "error") -> list[str]:
    return [f.rule for f in p.findings if f.severity == severity]


# --- one letter per recipient ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "cc", "bcc"),
    [
        ([f"{CPR}@{ORG}.{GW}"], [f"{CPR}@{ORG}.{GW}"], []),
        ([f"{CPR}@{ORG}.{GW}"], [], [f"{CPR}@{ORG}.{GW}"]),
        ([f"{CPR}@{ORG}.{GW}", f"010170-1234@{ORG}.{GW}"], [], []),
        ([f"{CPR}@{ORG}.{GW}"], [f"{CPR}@{ORG}.{GW.upper()}"], [f"010170-1234@{ORG}.{GW}"]),
    ],
)
def test_the_same_recipient_written_twice_gets_one_letter(
    to: list[str], cc: list[str], bcc: list[str]
) -> None:
    p = plan(to, cc=cc, bcc=bcc)
    assert p.errors == []
    assert [m.recipient_id for m in p.memos] == [CPR]
    assert _rules(p, "warning") == ["address.duplicate"]
    assert "010170-xxxx" in p.warnings[0].message and CPR not in p.warnings[0].message


def test_copies_that_differ_only_in_reply_give_one_replyable_letter() -> None:
    p = plan([f"{CPR}@{ORG}.{GW}"], cc=[f"{CPR}-reply@{ORG}.{GW}"])
    assert p.errors == []
    assert len(p.memos) == 1
    assert parse(p.memos[0].memo_xml or b"").header.reply is True
    assert _rules(p, "warning") == ["address.reply-merged"]
    assert "can reply" in p.warnings[0].message


@pytest.mark.parametrize(
    "other",
    [
        f"{CPR2}@{ORG}.{GW}",  # another person
        f"{CPR}@{ORG}.mitdk.digital-post.dk",  # another channel
        f"{CPR}.{CP}@{ORG}.{GW}",  # a recipient contact point
    ],
)
def test_different_recipients_keep_their_own_letters(other: str) -> None:
    p = plan([f"{CPR}@{ORG}.{GW}", other])
    assert p.errors == [] and len(p.memos) == 2
    assert _rules(p, "warning") == []


def test_the_same_mass_address_twice_is_one_mass_delivery() -> None:
    mass = f"masseforsendelse-2@{ORG}.{GW}"
    attachments = [Attachment("masseforsendelse.txt", "text/plain", f"{CPR}\n{CPR2}\n".encode())]
    p = plan([mass], cc=[mass], attachments=attachments)
    assert p.errors == [] and len(p.memos) == 2
    assert _rules(p, "warning") == ["address.duplicate"]


# --- special files ----------------------------------------------------------------------------------

MASS = f"masseforsendelse-1@{ORG}.{GW}"


@pytest.mark.parametrize(
    ("to", "names"),
    [
        (MASS, ["masseforsendelse.txt", "Masseforsendelse.TXT"]),
        (MASS, ["body.pdf", " body.pdf"]),
        (f"{CPR}@{ORG}.{GW}", ["MemoHeader.json", "memoheader.json"]),
    ],
)
def test_two_special_files_of_one_kind_are_refused_naming_both(to: str, names: list[str]) -> None:
    content = {"masseforsendelse.txt": CPR.encode(), "body.pdf": PDF, "memoheader.json": b"{}"}
    attachments = [Attachment(n, "", content[n.strip().lower()]) for n in names]
    if to == MASS and "masseforsendelse.txt" not in [n.strip().lower() for n in names]:
        attachments.append(Attachment("masseforsendelse.txt", "text/plain", CPR.encode()))
    p = plan([to], attachments=attachments)
    assert "attachments.ambiguous" in _rules(p)
    [finding] = [f for f in p.errors if f.rule == "attachments.ambiguous"]
    assert all(repr(n) in finding.message for n in names)
    assert p.memos == []


def test_memoheaderinfo_and_memoheader_together_are_not_a_clash() -> None:
    attachments = [
        Attachment("MemoHeaderInfo.json", "", b'{"label": "Info"}'),
        Attachment("MemoHeader.json", "", b'{"label": "Header"}'),
    ]
    p = plan([f"{CPR}@{ORG}.{GW}"], attachments=attachments)
    assert p.errors == []
    assert parse(p.memos[0].memo_xml or b"").header.label == "Header"


@pytest.mark.parametrize(
    "name",
    ["masseforsendelse\u200b.txt", "ｍasseforsendelse.txt", "masse\u00adforsendelse.txt", "body\u202e.pdf"],
)
def test_a_name_that_only_looks_like_a_special_file_is_refused(name: str) -> None:
    attachments = [Attachment("masseforsendelse.txt", "text/plain", CPR.encode()), Attachment(name, "", PDF)]
    p = plan([MASS], attachments=attachments)
    assert "attachments.lookalike" in _rules(p)
    assert p.memos == []


def test_a_recipient_list_on_an_ordinary_letter_is_refused() -> None:
    attachments = [Attachment("masseforsendelse.txt", "text/plain", f"{CPR}\n{CPR2}\n".encode())]
    p = plan([f"{CPR}@{ORG}.{GW}"], attachments=attachments)
    assert _rules(p) == ["mass.file-without-mass"]
    assert p.memos == []


def test_body_pdf_on_an_ordinary_letter_is_an_ordinary_attachment() -> None:
    p = plan([f"{CPR}@{ORG}.{GW}"], attachments=[Attachment("body.pdf", "", PDF)])
    assert p.errors == []
    assert "body.pdf" in [f.filename for f in parse(p.memos[0].memo_xml or b"").files()]


# --- inline images -----------------------------------------------------------------------------------


def _pdfs(n: int) -> list[Attachment]:
    return [Attachment(f"bilag{i}.pdf", "application/pdf", PDF) for i in range(n)]


def test_images_the_body_shows_are_embedded_and_do_not_count() -> None:
    images = [
        Attachment(f"logo{i}.png", "image/png", PNG, is_inline=True, content_id=f"<l{i}>") for i in range(3)
    ]
    body = "<p>" + "".join(f'<img src="cid:l{i}">' for i in range(3)) + "</p>"
    p = plan([f"{CPR}@{ORG}.{GW}"], body=body, attachments=_pdfs(10) + images)
    assert p.errors == []
    memo = parse(p.memos[0].memo_xml or b"")
    assert len(memo.files()) == 12  # html + txt + 10 PDFs; the images are inside the HTML
    assert memo.files()[0].content.count(b'src="data:image/png;base64,') == 3


def test_inline_images_the_body_does_not_show_count_as_attachments() -> None:
    images = [
        Attachment(f"logo{i}.png", "image/png", PNG, is_inline=True, content_id=f"<l{i}>") for i in range(3)
    ]
    p = plan([f"{CPR}@{ORG}.{GW}"], body="<p>ingen billeder</p>", attachments=_pdfs(10) + images)
    assert _rules(p) == ["policy.count"]
    assert "13 attachments" in p.errors[0].message


@pytest.mark.parametrize(
    "body",
    [
        '<p><!-- <img src="cid:l0"> --></p>',  # only in a comment: nobody sees it
        '<script>x = "<img src=cid:l0>"</script>',
        "<p>cid:l0 as text</p>",
        '<p><img src="cid:l0x"></p>',  # another Content-ID that merely starts the same
    ],
)
def test_a_cid_that_is_not_an_image_in_the_sanitised_body_does_not_hide_an_attachment(body: str) -> None:
    image = Attachment("logo.png", "image/png", PNG, is_inline=True, content_id="<l0>")
    p = plan([f"{CPR}@{ORG}.{GW}"], body=body, attachments=[*_pdfs(10), image])
    assert _rules(p) == ["policy.count"]


def test_a_program_posing_as_an_inline_image_is_refused() -> None:
    fake = Attachment("logo.png", "image/png", EXE, is_inline=True, content_id="<l0>")
    p = plan([f"{CPR}@{ORG}.{GW}"], body='<img src="cid:l0">', attachments=[fake])
    assert _rules(p) == ["policy.type.executable"]


# --- hostile parts -----------------------------------------------------------------------------------


def test_a_deep_body_is_sent_flattened_with_a_warning() -> None:
    p = plan([f"{CPR}@{ORG}.{GW}"], body="<div>" * 45_000 + "dybt" + "</div>" * 45_000)
    assert p.errors == [] and len(p.memos) == 1
    assert _rules(p, "warning") == ["html.depth"]
    assert b"dybt" in parse(p.memos[0].memo_xml or b"").files()[0].content


def test_a_huge_body_is_refused() -> None:
    p = plan([f"{CPR}@{ORG}.{GW}"], body="<p>" + "x" * 2_100_000 + "</p>")
    assert _rules(p) == ["html.size"]


def _zip(mimetype: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("mimetype", mimetype)
    return buffer.getvalue()


def test_a_zip_bomb_and_a_damaged_docx_are_refused_not_raised() -> None:
    bomb = _zip(b"\0" * 20_000_000)
    damaged = bytearray(_zip(b"application/vnd.oasis.opendocument.text" * 20))
    start = damaged.index(b"mimetype") + len("mimetype")
    damaged[start : start + 20] = b"\xff" * 20
    attachments = [Attachment("a.odt", "", bomb), Attachment("b.odt", "", bytes(damaged))]
    p = plan([f"{CPR}@{ORG}.{GW}"], attachments=attachments)
    assert _rules(p) == ["policy.type.expansion", "policy.type.unidentified"]


def test_a_reply_deadline_beyond_the_calendar_is_refused_not_raised() -> None:
    header = Attachment("MemoHeader.json", "", b'{"replyByDateTime": "9999-12-31T23:59:59-14:00"}')
    p = plan([f"{CPR}-reply@{ORG}.{GW}"], attachments=[header])
    assert _rules(p) == ["memoheader.type"]


def test_an_image_reference_nothing_fills_is_a_warning() -> None:
    image = Attachment("logo.png", "image/png", PNG, is_inline=True, content_id="<l0>")
    pdf_with_cid = Attachment("kort.pdf", "application/pdf", PDF, content_id="<kort>")
    body = '<p><img src="cid:l0"><img src="cid:kort"><img src="cid:ukendt"></p>'
    p = plan([f"{CPR}@{ORG}.{GW}"], body=body, attachments=[image, pdf_with_cid])
    assert p.errors == [] and _rules(p, "warning") == ["html.missing-image"]
    assert "2 image(s)" in p.warnings[0].message
    assert "'cid:kort'" in p.warnings[0].message and "'cid:ukendt'" in p.warnings[0].message
    files = [f.filename for f in parse(p.memos[0].memo_xml or b"").files()]
    assert "kort.pdf" in files and "logo.png" not in files  # the PDF is sent as a file, the logo embedded
