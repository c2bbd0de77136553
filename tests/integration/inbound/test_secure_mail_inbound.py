"""Inbound secure mail (S/MIME) end to end on the Graph emulator: the real GraphMailbox, the real SqlStore,
the real S/MIME opener with a test PKI; the messages are made with ``openssl cms`` (the independent
counterpart) and delivered as Exchange stores them ([MS-OXOSMIME] 2.1.3.1, 2.1.3.2)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from graph_dpg.services.inbound import InboundService
from tests.smime_pki import Pki, make_pki, openssl

from .harness import ARCHIVE, BYG, MAIN, MONITOR, Harness, make_harness

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")

TEXT = "Hej fra Testkommune, her er tegningerne."
BODY = f"Content-Type: text/plain; charset=utf-8\r\n\r\n{TEXT}\r\n".encode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = make_harness(db_url)
    async with harness.mailbox:
        yield harness
    harness.store.close()


def service(h: Harness, pki: Pki) -> InboundService:
    return h.service_with(open_mail=h.secure_opening(pki))


def envelope(subject: str) -> tuple[str, ...]:
    return ("-from", "Byg og Miljø <byg@myndighed.dk>", "-to", MAIN, "-subject", subject)


def signed(pki: Pki, body: Path, *extra: str) -> bytes:
    return openssl("cms", "-sign", "-in", body, "-signer", pki.org2.pem, "-inkey", pki.org2.key_pem, *extra)


@pytest.fixture
def body_file(tmp_path: Path) -> Path:
    path = tmp_path / "body.txt"
    path.write_bytes(BODY)
    return path


def only(messages: list[dict[str, Any]], subject: str) -> dict[str, Any]:
    [found] = [m for m in messages if m["subject"] == subject]
    return found


async def test_encrypted_and_signed_mail_is_opened_and_routed_by_the_rules(
    h: Harness, pki: Pki, body_file: Path, tmp_path: Path
) -> None:
    inner = tmp_path / "signed.eml"
    inner.write_bytes(signed(pki, body_file, "-nodetach"))
    subject = "Ny byggesag 12"  # the rule "Byggesager pr. mail" sends it to BYG and archives it
    raw = openssl("cms", "-encrypt", "-aes256", "-in", inner, "-recip", pki.org.pem, *envelope(subject))
    h.tenant.deliver_mime(MAIN, raw)

    stats = await service(h, pki).run_once(pull=False)

    assert stats.errors == [] and stats.mail_routed == 1
    copy = only(h.messages(BYG), subject)
    body = copy["body"]["content"]
    assert TEXT in body
    assert "Krypteret til certifikatet: Testkommune" in body and "CVR 29189846" in body
    assert "Signeret af: Testkommune" in body and "signaturen er gyldig" in body
    names = [a["name"] for a in copy["attachments"]]
    assert names == ["smime.p7m"]  # the original S/MIME stays attached
    assert h.attachment(copy, "smime.p7m")[:1] == b"\x30"
    assert only(h.messages(ARCHIVE), subject)
    assert h.messages(MONITOR) == []


async def test_clear_signed_mail_without_a_matching_rule_gets_a_readable_copy_in_its_inbox(
    h: Harness, pki: Pki, body_file: Path
) -> None:
    raw = signed(pki, body_file, *envelope("Til orientering"))
    h.tenant.deliver_mime(MAIN, raw)

    stats = await service(h, pki).run_once(pull=False)

    assert stats.errors == []
    copies = [m for m in h.messages(MAIN) if "Sikker mail (S/MIME)" in m["body"]["content"]]
    [copy] = copies
    assert TEXT in copy["body"]["content"] and "Ikke krypteret." in copy["body"]["content"]
    assert "signaturen er gyldig" in copy["body"]["content"]
    [att] = copy["attachments"]
    assert att["contentType"] == "multipart/signed"
    assert h.messages(MONITOR) == []


async def test_mail_encrypted_to_a_key_we_lack_gets_a_banner_in_the_main_mailbox_and_one_alert(
    h: Harness, pki: Pki, body_file: Path
) -> None:
    subject = "Ny byggesag 13"  # would match a rule: it must not be routed unread
    raw = openssl(
        "cms", "-encrypt", "-aes256", "-in", body_file, "-recip", pki.stranger.pem, *envelope(subject)
    )
    h.tenant.deliver_mime(MAIN, raw)

    stats = await service(h, pki).run_once(pull=False)
    await service(h, pki).run_once(pull=False)  # a second round alerts no more

    assert stats.errors == []
    assert [m for m in h.messages(BYG) if m["subject"] == subject] == []
    [banner] = [m for m in h.messages(MAIN) if "dpg-banner" in m["body"]["content"]]
    text = banner["body"]["content"]
    assert "gatewayen ikke har nøglen til" in text and "smime:no-key" in text
    assert "Digital Post: Advarsel" in banner["categories"]
    assert [a["name"] for a in banner["attachments"]] == ["smime.p7m"]
    [alert] = h.messages(MONITOR)
    assert "sikker mail kunne ikke læses" in alert["subject"]


async def test_tampered_signature_gets_a_banner_not_the_rules(h: Harness, pki: Pki, body_file: Path) -> None:
    subject = "Ny byggesag 14"
    raw = signed(pki, body_file, *envelope(subject))
    tampered = raw.replace(b"her er tegningerne", b"betal til konto 1")
    assert tampered != raw
    h.tenant.deliver_mime(MAIN, tampered)

    await service(h, pki).run_once(pull=False)

    assert [m for m in h.messages(BYG) if m["subject"] == subject] == []
    [banner] = [m for m in h.messages(MAIN) if "dpg-banner" in m["body"]["content"]]
    text = banner["body"]["content"]
    assert "Signaturen holder ikke" in text and "signaturen er ugyldig" in text
    assert len(h.messages(MONITOR)) == 1
