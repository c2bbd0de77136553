"""Secure mail whose recipient certificate is found in the other sources than the directory of files: the
function mailbox's contacts (where Outlook keeps them, PidTagUserX509Certificate [MS-OXOABK] 2.2.4.36,
read through Graph as ``BinaryArray 0x3A70``) and an LDAP certificate directory (ldap3's MOCK_SYNC).
What was sent is opened with ``openssl cms -decrypt`` as the independent counterpart."""

from __future__ import annotations

import shutil
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from graph_dpg.sandbox.graph.permissions import GATEWAY_ROLES
from tests.smime_pki import Party, Pki, openssl

from .harness import MAILBOX, TOKEN, Harness
from .test_secure_send import SECRET, _recipient, _sent, h, mock_ldap, parties, pki

__all__ = ["h", "parties", "pki"]  # fixtures

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")

ADDRESS = "post@tredjekommune.dk"
WRAPPED = "post=tredjekommune.dk@sikkermail.digital-post.dk"


def outlook_blob(party: Party) -> bytes:
    """A PidTagUserX509Certificate value as Outlook writes it: TAG/LENGTH/DATA settings, little-endian,
    with the certificate in SignCertificate (TAG 0x0008) after the version setting (TAG 0x0001)."""
    der = party.cert.public_bytes(Encoding.DER)
    version = struct.pack("<HHI", 0x0001, 8, 1)
    return version + struct.pack("<HH", 0x0008, 4 + len(der)) + der


@pytest.fixture
def third(pki: Pki, tmp_path: Path) -> Party:
    return _recipient(pki, tmp_path, "tredjekommune", ADDRESS)


def _decrypts_for(party: Party, sealed: bytes, pki: Pki) -> None:
    inner = openssl("cms", "-decrypt", "-recip", party.pem, "-inkey", party.key_pem, input=sealed)
    content = openssl("cms", "-verify", "-CAfile", pki.ca.pem, input=inner)
    assert SECRET.encode() in content


async def test_certificate_only_in_a_contact_of_the_function_mailbox_is_used_and_named_in_the_receipt(
    h: Harness, third: Party, pki: Pki
) -> None:
    h.tenant.add_contact(MAILBOX, "Tredje Kommune", [ADDRESS.upper()], [outlook_blob(third)])
    h.send("Via kontakten", [WRAPPED], body=f"<p>{SECRET}</p>")
    await h.cycle()
    [sealed] = _sent(h)
    _decrypts_for(third, sealed, pki)
    [receipt] = h.receipts()
    assert "fundet i postkassens kontakter" in receipt["body"]["content"]


async def test_certificate_only_in_ldap_is_used(h: Harness, third: Party, pki: Pki) -> None:
    conn = mock_ldap(h.ldap)  # type: ignore[attr-defined]
    conn.strategy.add_entry(
        "cn=tredjekommune,o=certifikater",
        {"mail": ADDRESS, "userCertificate;binary": [third.cert.public_bytes(Encoding.DER)]},
    )
    h.send("Via LDAP", [WRAPPED], body=f"<p>{SECRET}</p>")
    await h.cycle()
    [sealed] = _sent(h)
    _decrypts_for(third, sealed, pki)
    [receipt] = h.receipts()
    assert "fundet i certifikatkataloget (LDAP)" in receipt["body"]["content"]


async def test_a_contact_whose_certificate_names_another_address_is_not_used(
    h: Harness, pki: Pki, tmp_path: Path
) -> None:
    other = _recipient(pki, tmp_path, "andet", "andet@tredjekommune.dk")
    h.tenant.add_contact(MAILBOX, "Tredje Kommune", [ADDRESS], [outlook_blob(other)])
    h.send("Forkert certifikat", [WRAPPED], body=f"<p>{SECRET}</p>")
    await h.cycle()
    assert _sent(h) == []
    [receipt] = h.receipts()
    assert ADDRESS in receipt["body"]["content"]
    assert "intet gyldigt certifikat" in receipt["body"]["content"]


async def test_no_certificate_anywhere_is_an_error_receipt_naming_the_recipient(h: Harness) -> None:
    h.send("Ingen steder", [WRAPPED], body=f"<p>{SECRET}</p>")
    await h.cycle()
    assert _sent(h) == []
    assert h.tenant.outbound_log == []
    [receipt] = h.receipts()
    assert ADDRESS in receipt["body"]["content"]
    assert "intet gyldigt certifikat" in receipt["body"]["content"]


async def test_contacts_refused_403_and_nothing_found_the_receipt_says_a_source_could_not_be_read(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # The app lacks Contacts.Read: Graph answers 403 ErrorAccessDenied (emulator permissions.py).
    h.tenant.grant(TOKEN, GATEWAY_ROLES - {"Contacts.Read"})
    h.send("Kilde nede", [WRAPPED], body=f"<p>{SECRET}</p>")
    await h.cycle()
    assert _sent(h) == []
    [receipt] = h.receipts()
    content = receipt["body"]["content"]
    assert ADDRESS in content and "kunne ikke læses lige nu" in content
    assert "403" not in content and "ErrorAccessDenied" not in content  # IT words stay in the log
    assert any("contacts" in r.getMessage() and "403" in r.getMessage() for r in caplog.records)


async def test_contacts_refused_403_does_not_stop_ldap(h: Harness, third: Party, pki: Pki) -> None:
    h.tenant.grant(TOKEN, GATEWAY_ROLES - {"Contacts.Read"})
    conn = mock_ldap(h.ldap)  # type: ignore[attr-defined]
    conn.strategy.add_entry(
        "cn=tredjekommune,o=certifikater",
        {"mail": ADDRESS, "userCertificate;binary": [third.cert.public_bytes(Encoding.DER)]},
    )
    h.send("Kilde nede, LDAP svarer", [WRAPPED], body=f"<p>{SECRET}</p>")
    await h.cycle()
    [sealed] = _sent(h)
    _decrypts_for(third, sealed, pki)


async def test_an_expired_certificate_in_a_contact_is_ignored(h: Harness, pki: Pki, tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from tests.smime_pki import make_leaf

    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gammel")])
    old = make_leaf(
        tmp_path,
        "gammel",
        pki.ca,
        subject=name,
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=1),
        emails=(ADDRESS,),
    )
    h.tenant.add_contact(MAILBOX, "Tredje Kommune", [ADDRESS], [outlook_blob(old)])
    h.send("Udløbet", [WRAPPED], body=f"<p>{SECRET}</p>")
    await h.cycle()
    assert _sent(h) == []
    [receipt] = h.receipts()
    assert "intet gyldigt certifikat" in receipt["body"]["content"]
