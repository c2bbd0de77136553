"""Outbound secure mail (S/MIME) end to end on the Graph emulator: a case worker's signed mail in Sent Items
is unwrapped before conversion, so the letter is made of the signed content and the receipt notes the
signature; mail encrypted to the recipient gets an error receipt. Real GraphMailbox, NgDP client and store
(SQLite and PostgreSQL); the messages are made with ``openssl cms`` (the independent counterpart) and
stored as Exchange stores them ([MS-OXOSMIME] 2.1.3.1 opaque/encrypted ``IPM.Note.SMIME``, 2.1.3.2
clear-signed ``IPM.Note.SMIME.MultipartSigned``)."""

from __future__ import annotations

import base64
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from graph_dpg.adapters.smime import SmimeOpener, load_decryption_keys, load_trust_anchors
from graph_dpg.memo import parse
from graph_dpg.services.outbound import OutboundService
from tests.smime_pki import P12_PASSWORD, Pki, make_pki, openssl

from .harness import CITIZEN, MAILBOX, PDF, Harness, make_harness

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")

GW = "ngdp.digital-post.dk"
TEXT = "Kære borger, hermed afgørelsen om boligstøtte."


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def h(db_url: str, pki: Pki) -> AsyncIterator[Harness]:
    harness = await make_harness(db_url)
    keys = load_decryption_keys([pki.org.p12], P12_PASSWORD)
    harness.service = OutboundService(
        harness.mailbox,
        harness.service.ngdp,
        harness.store,
        harness.service.settings,
        secure=SmimeOpener(keys, load_trust_anchors([pki.ca.pem])),
    )
    async with harness.mailbox:
        yield harness
    harness.store.close()


def letter_file(tmp_path: Path) -> Path:
    """The signed content: a text body and a PDF, as Outlook writes a mail with an attachment."""
    path = tmp_path / "letter.eml"
    path.write_bytes(
        b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + TEXT.encode()
        + b"\r\n--b1\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="afgorelse.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(PDF).replace(b"\n", b"\r\n")
        + b"--b1--\r\n"
    )
    return path


def envelope(subject: str) -> tuple[str, ...]:
    return ("-from", MAILBOX, "-to", f"{CITIZEN}@29189846.{GW}", "-subject", subject)


def sign(pki: Pki, content: Path, subject: str, *extra: str) -> bytes:
    signer = pki.employee  # a case worker's own (MitID Erhverv employee) certificate
    return openssl(
        "cms",
        "-sign",
        "-in",
        content,
        "-signer",
        signer.pem,
        "-inkey",
        signer.key_pem,
        *extra,
        *envelope(subject),
    )


@pytest.mark.parametrize("form", ["clear", "opaque"])
async def test_signed_mail_becomes_a_letter_of_the_signed_content_and_the_receipt_notes_the_signature(
    h: Harness, pki: Pki, tmp_path: Path, form: str
) -> None:
    subject = f"Afgørelse om boligstøtte ({form})"
    raw = sign(pki, letter_file(tmp_path), subject, *(("-nodetach",) if form == "opaque" else ()))
    mid = h.tenant.deliver_mime(MAILBOX, raw, folder="sentitems", sent=True)
    stored = h.tenant.message(MAILBOX, mid)
    assert [a["name"] for a in stored["attachments"]] == ["smime.p7m"]  # as Exchange shows it

    await h.cycle()

    [memo] = h.ngdp.accepted
    parsed = parse(memo.xml)
    assert parsed.header.label == subject
    assert parsed.header.recipient.recipient_id == CITIZEN
    assert parsed.body is not None
    names = [f.filename for d in parsed.body.documents() for f in d.files]
    assert "afgorelse.pdf" in names and not any(n.endswith(".p7m") for n in names)
    main_text = b"".join(f.content for f in parsed.body.main_document.files).decode("utf-8", "replace")
    assert TEXT in main_text
    [receipt] = h.receipts()
    body = receipt["body"]["content"]
    assert receipt["subject"].startswith("DPG kvittering")
    assert "Mailen var signeret (S/MIME) af Testkommune" in body and "Anne Hansen" in body
    assert "signaturen er gyldig" in body
    assert h.categories(mid) == ["Digital Post: Sendt"]


async def test_untrusted_signature_is_sent_and_the_receipt_says_untrusted(
    h: Harness, pki: Pki, tmp_path: Path
) -> None:
    raw = openssl(
        "cms",
        "-sign",
        "-in",
        letter_file(tmp_path),
        "-signer",
        pki.stranger.pem,
        "-inkey",
        pki.stranger.key_pem,
        *envelope("Brev fra fremmed certifikat"),
    )
    h.tenant.deliver_mime(MAILBOX, raw, folder="sentitems", sent=True)

    await h.cycle()

    assert len(h.ngdp.accepted) == 1
    [receipt] = h.receipts()
    assert "signaturen er ikke betroet" in receipt["body"]["content"]


async def test_tampered_signed_mail_gets_an_error_receipt_and_nothing_is_sent(
    h: Harness, pki: Pki, tmp_path: Path
) -> None:
    raw = sign(pki, letter_file(tmp_path), "Ændret efter signering")
    tampered = raw.replace(b"hermed afg", b"hermed AFG")
    assert tampered != raw
    mid = h.tenant.deliver_mime(MAILBOX, tampered, folder="sentitems", sent=True)

    await h.cycle()

    assert h.ngdp.accepted == []
    [receipt] = h.receipts()
    assert "Mailens signatur (S/MIME) holder ikke" in receipt["body"]["content"]
    assert h.categories(mid) == ["Digital Post: Fejl"]


async def test_mail_encrypted_to_the_recipient_gets_an_error_receipt_saying_send_it_unencrypted(
    h: Harness, pki: Pki, tmp_path: Path
) -> None:
    subject = "Krypteret til modtageren"
    raw = openssl(
        "cms",
        "-encrypt",
        "-aes256",
        "-in",
        letter_file(tmp_path),
        "-recip",
        pki.stranger.pem,
        *envelope(subject),
    )
    mid = h.tenant.deliver_mime(MAILBOX, raw, folder="sentitems", sent=True)

    await h.cycle(2)  # a second round answers no more

    assert h.ngdp.accepted == []
    [receipt] = h.receipts()
    body = receipt["body"]["content"]
    assert receipt["subject"].startswith("DPG fejlkvittering")
    assert "krypteret (S/MIME), og gatewayen kan ikke læse den" in body
    assert "Send mailen igen uden kryptering til Digital Post-adressen" in body
    assert body.count("uden kryptering") == 1  # said once
    assert h.categories(mid) == ["Digital Post: Fejl"]


async def test_signed_mail_without_an_opener_is_refused_not_sent_as_a_p7m(
    h: Harness, pki: Pki, tmp_path: Path
) -> None:
    h.service = OutboundService(h.mailbox, h.service.ngdp, h.store, h.service.settings)
    mid = h.tenant.deliver_mime(
        MAILBOX, sign(pki, letter_file(tmp_path), "Uden åbner", "-nodetach"), folder="sentitems", sent=True
    )

    await h.cycle()

    assert h.ngdp.accepted == []
    [receipt] = h.receipts()
    assert "sikker mail (S/MIME), som gatewayen ikke kan åbne" in receipt["body"]["content"]
    assert h.categories(mid) == ["Digital Post: Fejl"]
