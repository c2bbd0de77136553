"""S/MIME messages as Exchange stores and Graph serves them ([MS-OXOSMIME] 2.1.3.1 and 2.1.3.2,
microsoft-graph-docs issue 4585, concepts/outlook-send-mime-message.md). The messages are made with
``openssl cms``, the independent counterpart."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import httpx
import pytest

from graph_dpg.sandbox.graph import GraphTenant
from tests.smime_pki import Pki, make_pki, openssl

from .conftest import FUNC, OTHER

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")

BODY = b"Content-Type: text/plain; charset=utf-8\r\n\r\nHej fra kommunen.\r\n"
ENVELOPE = ("-from", "Anne <anne@example.dk>", "-to", FUNC, "-subject", "Sikker post")
CLASS = "String 0x001A"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def body_file(pki: Pki) -> Path:
    path = pki.dir / "body.txt"
    path.write_bytes(BODY)
    return path


async def _read(client: httpx.AsyncClient, mid: str) -> dict:  # type: ignore[type-arg]
    r = await client.get(
        f"/users/{FUNC}/messages/{mid}",
        params={
            "$expand": f"attachments,singleValueExtendedProperties($filter=id eq '{CLASS}')",
            "$select": "subject,body,hasAttachments,from",
        },
    )
    assert r.status_code == 200, r.text
    data: dict = r.json()  # type: ignore[type-arg]
    return data


def _class(view: dict) -> str:  # type: ignore[type-arg]
    [prop] = view["singleValueExtendedProperties"]
    return str(prop["value"])


async def test_encrypted_mime_is_ipm_note_smime_without_body_with_one_smime_p7m_attachment_ms_oxosmime_2_1_3_1(
    client: httpx.AsyncClient, tenant: GraphTenant, pki: Pki, body_file: Path
) -> None:
    raw = openssl("cms", "-encrypt", "-in", body_file, "-aes256", "-recip", pki.org.pem, *ENVELOPE)
    mid = tenant.deliver_mime(FUNC, raw)
    view = await _read(client, mid)
    assert _class(view) == "IPM.Note.SMIME"
    assert view["subject"] == "Sikker post"
    assert view["body"]["content"] == ""
    [att] = view["attachments"]
    assert (att["name"], att["contentType"]) == ("smime.p7m", "application/pkcs7-mime")
    der = base64.b64decode(att["contentBytes"])
    assert der[:1] == b"\x30"  # the CMS object itself (DER), not its base64 text
    # $value gives the MIME as it came: it still decrypts with openssl.
    value = (await client.get(f"/users/{FUNC}/messages/{mid}/$value")).content
    assert value == raw
    key = pki.org.key_pem
    assert openssl("cms", "-decrypt", "-recip", pki.org.pem, "-inkey", key, input=value) == BODY


async def test_opaque_signed_mime_is_ipm_note_smime_too_ms_oxosmime_2_1_3_1(
    client: httpx.AsyncClient, tenant: GraphTenant, pki: Pki, body_file: Path
) -> None:
    raw = openssl(
        "cms", "-sign", "-nodetach", "-in", body_file, "-signer", pki.org.pem, "-inkey", pki.org.key_pem,
        *ENVELOPE,
    )  # fmt: skip
    view = await _read(client, tenant.deliver_mime(FUNC, raw))
    assert _class(view) == "IPM.Note.SMIME" and view["body"]["content"] == ""
    [att] = view["attachments"]
    assert (att["name"], att["contentType"]) == ("smime.p7m", "application/pkcs7-mime")


async def test_clear_signed_mime_promotes_the_body_and_keeps_the_whole_entity_ms_oxosmime_2_1_3_2(
    client: httpx.AsyncClient, tenant: GraphTenant, pki: Pki, body_file: Path
) -> None:
    raw = openssl(
        "cms", "-sign", "-in", body_file, "-signer", pki.org.pem, "-inkey", pki.org.key_pem, *ENVELOPE
    )
    mid = tenant.deliver_mime(FUNC, raw)
    view = await _read(client, mid)
    assert _class(view) == "IPM.Note.SMIME.MultipartSigned"
    assert "Hej fra kommunen." in view["body"]["content"]
    [att] = view["attachments"]
    assert (att["name"], att["contentType"]) == ("smime.p7m", "multipart/signed")
    entity = base64.b64decode(att["contentBytes"])
    assert entity.lower().startswith(b"content-type: multipart/signed")
    # The whole multipart/signed entity, byte for byte: it still verifies.
    openssl("cms", "-verify", "-CAfile", pki.ca.pem, "-purpose", "any", input=entity)
    value = (await client.get(f"/users/{FUNC}/messages/{mid}/$value")).content
    assert value == raw


async def test_plain_mail_has_message_class_ipm_note(client: httpx.AsyncClient, tenant: GraphTenant) -> None:
    """[MS-OXCMSG] 2.2.1.3: every message has PidTagMessageClass; an ordinary mail's is IPM.Note."""
    raw = b"From: a@example.dk\r\nTo: post@kommune.dk\r\nSubject: hej\r\n\r\nalmindelig post\r\n"
    view = await _read(client, tenant.deliver_mime(FUNC, raw))
    assert _class(view) == "IPM.Note"
    assert "almindelig post" in view["body"]["content"]


async def test_smime_sent_as_mime_reaches_a_tenant_recipient_as_smime(
    client: httpx.AsyncClient, tenant: GraphTenant, pki: Pki, body_file: Path
) -> None:
    """concepts/outlook-send-mime-message.md: S/MIME is sent as base64 MIME to sendMail."""
    raw = openssl(
        "cms", "-encrypt", "-in", body_file, "-aes256", "-recip", pki.org.pem,
        "-from", FUNC, "-to", OTHER, "-subject", "Til byg",
    )  # fmt: skip
    r = await client.post(
        f"/users/{FUNC}/sendMail", content=base64.b64encode(raw), headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 202, r.text
    [received] = tenant.messages(OTHER)
    assert [a["name"] for a in received["attachments"]] == ["smime.p7m"]
    assert {"id": CLASS, "value": "IPM.Note.SMIME"} in received["singleValueExtendedProperties"]
    assert tenant.mime(OTHER, received["id"]) == raw


async def test_a_draft_created_from_smime_mime_is_stored_as_smime_and_value_is_as_created(
    client: httpx.AsyncClient, tenant: GraphTenant, pki: Pki, body_file: Path
) -> None:
    """concepts/outlook-send-mime-message.md: POST .../messages with base64 MIME as text/plain creates a
    draft; stored as [MS-OXOSMIME] 2.1.3.1 says. ``$value`` as created is the inference
    graph.smime-value-as-sent (its other behaviour: ``smime_value_as_sent`` False rebuilds the MIME)."""
    raw = openssl("cms", "-encrypt", "-in", body_file, "-aes256", "-recip", pki.org.pem, *ENVELOPE)
    r = await client.post(
        f"/users/{FUNC}/mailFolders/drafts/messages",
        content=base64.b64encode(raw),
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 201, r.text
    mid = r.json()["id"]
    assert r.json()["isDraft"] is True
    view = await _read(client, mid)
    assert _class(view) == "IPM.Note.SMIME"
    assert [a["name"] for a in view["attachments"]] == ["smime.p7m"]
    assert (await client.get(f"/users/{FUNC}/messages/{mid}/$value")).content == raw

    tenant.smime_value_as_sent = False
    rebuilt = (await client.get(f"/users/{FUNC}/messages/{mid}/$value")).content
    assert rebuilt != raw and b"multipart/mixed" in rebuilt
