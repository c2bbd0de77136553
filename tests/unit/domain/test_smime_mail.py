"""The pure parts of reading secure mail: detection as Exchange shows it ([MS-OXOSMIME] 2.1.3), the readable
content of a decrypted entity (bounded), the overview and failure banners (Danish and English)."""

from __future__ import annotations

import pytest

from graph_dpg.core.errors import LimitExceededError
from graph_dpg.domain.mail import Attachment, MailMessage
from graph_dpg.domain.smime import (
    MAX_MIME_DEPTH,
    MAX_MIME_PARTS,
    MESSAGE_CLASS_PROPERTY,
    Layer,
    OpenedMessage,
    SignatureCheck,
    Signer,
    Verdict,
    accept_only_organisation_certificates,
    is_smime_mail,
    readable_content,
    secure_failure_banner,
    secure_overview,
)


def _p7m(ctype: str = "application/pkcs7-mime") -> Attachment:
    return Attachment("smime.p7m", ctype, b"\x30\x00")


def test_message_class_marks_smime_ms_oxosmime_2_1_3() -> None:
    msg = MailMessage(extended_properties={MESSAGE_CLASS_PROPERTY: "IPM.Note.SMIME.MultipartSigned"})
    assert is_smime_mail(msg)
    assert not is_smime_mail(MailMessage(extended_properties={MESSAGE_CLASS_PROPERTY: "IPM.Note"}))


@pytest.mark.parametrize("ctype", ["application/pkcs7-mime", "multipart/signed", "application/octet-stream"])
def test_the_one_smime_p7m_attachment_marks_smime_without_the_class(ctype: str) -> None:
    assert is_smime_mail(MailMessage(attachments=[_p7m(ctype)]))


def test_an_ordinary_attachment_or_two_attachments_are_not_smime() -> None:
    assert not is_smime_mail(MailMessage(attachments=[Attachment("brev.pdf", "application/pdf", b"%PDF")]))
    assert not is_smime_mail(MailMessage(attachments=[_p7m(), Attachment("a.txt", "text/plain", b"x")]))


def test_readable_content_prefers_html_and_lists_attachments() -> None:
    entity = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nHej\r\n--b\r\n"
        b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="t.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--b--\r\n"
    )
    content = readable_content(entity)
    assert content.body.strip() == "Hej" and content.body_type == "text"
    [att] = content.attachments
    assert (att.name, att.content_type, att.content) == ("t.pdf", "application/pdf", b"%PDF")


def test_more_than_1000_mime_parts_is_refused() -> None:
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(MAX_MIME_PARTS + 1))
    entity = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + b"--b--\r\n"
    with pytest.raises(LimitExceededError):
        readable_content(entity)


def _nested(depth: int) -> bytes:
    opening = b"".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode() for i in range(depth)
    )
    closing = b"".join(f"\r\n--b{i}--\r\n".encode() for i in reversed(range(depth)))
    return opening + b"Content-Type: text/plain\r\n\r\nbunden\r\n" + closing


def test_mime_nested_to_the_bound_is_read() -> None:
    assert readable_content(_nested(MAX_MIME_DEPTH - 1)).body.strip() == "bunden"


@pytest.mark.parametrize("depth", [MAX_MIME_DEPTH + 1, 300, 2000])
def test_mime_nested_deeper_than_the_bound_is_refused_not_a_recursion_error(depth: int) -> None:
    with pytest.raises(LimitExceededError, match="nested"):
        readable_content(_nested(depth))


def test_overview_names_certificate_signer_and_verdict_in_both_languages() -> None:
    org = Signer.from_subject(
        "CN=x", organisation="Testkommune", serial_number="UI:DK-O:G:c70b0207-162e-4d3d-a7f1-a19a8e07d99b"
    )
    opened = OpenedMessage(
        b"",
        (
            Layer("encrypted", algorithm="AES-256-CBC", recipient=org),
            Layer("signed", signatures=(SignatureCheck(Verdict.EXPIRED, org),)),
        ),
    )
    da = secure_overview(opened, "da")
    assert da.kind == "invalid"
    assert any("Krypteret til certifikatet: Testkommune" in line for line in da.lines)
    assert any("signaturen er udløbet" in line for line in da.lines)
    en = secure_overview(opened, "en")
    assert any("the signature has expired" in line for line in en.lines)


def test_failure_banner_says_why_what_to_do_and_the_support_code() -> None:
    banner = secure_failure_banner("no-key", "issuer CN=x serial 1", "da")
    assert "nøglen" in banner.lines[0] and "IT" in banner.lines[1]
    assert banner.lines[2] == "Til support: smime:no-key (issuer CN=x serial 1)"


def _check(verdict: Verdict, serial: str | None) -> SignatureCheck:
    return SignatureCheck(
        verdict, Signer.from_subject("CN=x", organisation="Testkommune", serial_number=serial)
    )


ORG_SERIAL = "UI:DK-O:G:c70b0207-162e-4d3d-a7f1-a19a8e07d99b"
EMPLOYEE_SERIAL = "UI:DK-E:G:dc7f4a98-d4f9-4d77-84f9-ae83c4e0bf61"


def test_organisation_only_refuses_a_valid_employee_or_personal_or_non_oces_signature_with_the_reason() -> (
    None
):
    checks = (
        _check(Verdict.VALID, ORG_SERIAL),
        _check(Verdict.VALID, EMPLOYEE_SERIAL),
        _check(Verdict.VALID, "PID:9208-2002-2-123456789012"),
        _check(Verdict.VALID, None),
        _check(Verdict.UNTRUSTED, EMPLOYEE_SERIAL),  # not accepted already, for its own reason
    )
    opened = accept_only_organisation_certificates(OpenedMessage(b"", (Layer("signed", signatures=checks),)))
    assert [c.verdict for c in opened.signatures] == [
        Verdict.VALID,
        Verdict.REFUSED,
        Verdict.REFUSED,
        Verdict.REFUSED,
        Verdict.UNTRUSTED,
    ]
    assert "an employee certificate" in opened.signatures[1].reason
    assert (
        "a personal certificate" in opened.signatures[2].reason
        and "not an OCES" in opened.signatures[3].reason
    )
    assert not opened.all_signatures_valid
    overview = secure_overview(opened)
    assert overview.kind == "invalid"
    assert sum("signaturen accepteres ikke" in line for line in overview.lines) == 3
