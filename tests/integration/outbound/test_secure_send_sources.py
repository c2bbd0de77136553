"""Secure mail whose recipient certificate is found in the other sources than the directory of files: the
function mailbox's contacts (where Outlook keeps them, PidTagUserX509Certificate [MS-OXOABK] 2.2.4.36,
read through Graph as ``BinaryArray 0x3A70``) and an LDAP certificate directory (ldap3's MOCK_SYNC).
What was sent is opened with ``openssl cms -decrypt`` as the independent counterpart."""

from __future__ import annotations

import shutil
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from graph_dpg.sandbox.graph.permissions import GATEWAY_ROLES
from graph_dpg.services.alerts import AlertService, certificate_source_key
from graph_dpg.services.outbound import OutboundService
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


# ------------------------------------------------- a failing source alerted to the monitoring mailbox
MONITOR = "it-drift@kommune.dk"


class _Clock(datetime):
    """``OutboundService(now=...)``: the lookup time the test moves, a day at a time."""

    at = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)

    @classmethod
    def now(cls, tz: Any = None) -> _Clock:  # type: ignore[override]
        return cls.fromtimestamp(cls.at.timestamp(), tz)


def _with_alerts(h: Harness, monitor: str = MONITOR) -> AlertService:
    alerts = AlertService(h.mailbox, h.store, monitoring_mailbox=monitor, language="da")
    s = h.service
    h.service = OutboundService(
        h.mailbox, s.ngdp, h.store, s.settings, secure_send=s.secure_send, alerts=alerts, now=_Clock
    )
    return alerts


def _alerts(h: Harness) -> list[dict[str, Any]]:
    return h.tenant.messages(MONITOR, "inbox")


async def test_a_failing_source_is_alerted_to_it_once_a_day_in_danish(h: Harness) -> None:
    # Until now a source that failed (here Graph 403 without Contacts.Read) was only logged: IT hears of it
    # in the monitoring mailbox, once per source and day (key alert:certificate-source:{kind}:{day}).
    h.tenant.add_mailbox(MONITOR, "IT-drift")
    _with_alerts(h)
    _Clock.at = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    h.tenant.grant(TOKEN, GATEWAY_ROLES - {"Contacts.Read"})
    for n in range(3):
        h.send(f"Kilde nede {n}", [WRAPPED], body=f"<p>{SECRET}</p>")
        await h.cycle()
    assert len(h.receipts()) == 3  # each case worker still gets the error receipt
    [alert] = _alerts(h)
    assert alert["subject"] == (
        "Digital Post Gateway: funktionspostkassens kontakter kan ikke læses (certifikater til sikker mail)"
    )
    body = alert["body"]["content"]
    assert "Certifikatkilde til sikker mail fejler" in body and MAILBOX in body
    assert "Contacts.Read" in body and "403" in body  # the technical reason and the fix, for IT
    assert "højst én gang i døgnet" in body
    assert ADDRESS not in body and SECRET not in body  # not the recipient, never the content

    _Clock.at += timedelta(days=1)  # the next day: alerted again, still once
    for n in range(2):
        h.send(f"Kilde stadig nede {n}", [WRAPPED], body=f"<p>{SECRET}</p>")
        await h.cycle()
    assert len(_alerts(h)) == 2


async def test_an_alert_that_cannot_be_written_never_stops_the_mail_and_stays_planned(
    h: Harness, third: Party, pki: Pki
) -> None:
    h.tenant.grant(TOKEN, GATEWAY_ROLES - {"Contacts.Read"})
    alerts = _with_alerts(h, monitor="findes-ikke@kommune.dk")  # Graph answers 404 for the mailbox
    _Clock.at = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    conn = mock_ldap(h.ldap)  # type: ignore[attr-defined]
    conn.strategy.add_entry(
        "cn=tredjekommune,o=certifikater",
        {"mail": ADDRESS, "userCertificate;binary": [third.cert.public_bytes(Encoding.DER)]},
    )
    h.send("Kilde nede, LDAP svarer", [WRAPPED], body=f"<p>{SECRET}</p>")
    await h.cycle()
    [sealed] = _sent(h)  # LDAP had the certificate: sent, whatever became of the alert
    _decrypts_for(third, sealed, pki)
    key = certificate_source_key("contacts", _Clock.at.date())
    assert not await alerts.is_done(key)  # left planned: the next send_pending mails it
    effect = h.store.get_effect(str(key))
    assert effect is not None and "Contacts.Read" in " ".join(effect.payload["lines"])  # type: ignore[arg-type]
