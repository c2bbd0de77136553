"""The organisation's S/MIME signing certificate is among the credentials whose expiry alerts the
monitoring mailbox (30/14/7 days): the one that signs now, so a renewed certificate loaded from Key Vault
or a file silences the old one's alerts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from graph_dpg.adapters.certificates import CertificateBundle
from graph_dpg.adapters.smime import OrganisationCertificate, OrganisationKeyring
from graph_dpg.config import load_settings
from graph_dpg.runtime.credentials import expiring_credentials
from graph_dpg.services.alerts import SMIME_CERTIFICATE, expiry_alert

_KEY = ec.generate_private_key(ec.SECP256R1())


def cert(days_left: int) -> OrganisationCertificate:
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"org {days_left}")])
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days_left))
        .sign(_KEY, hashes.SHA256())
    )
    return OrganisationCertificate(f"keyvault:org/{days_left}", CertificateBundle(_KEY, (built,)))


def test_the_signing_certificate_expiry_is_watched_and_a_renewal_replaces_it() -> None:
    settings = load_settings(env_file=None)
    old = cert(10)
    ring = OrganisationKeyring(vault_configured=True)
    ring.replace_vault([old])
    assert (SMIME_CERTIFICATE, old.not_after) in expiring_credentials(None, settings, ring)

    renewed = cert(700)
    ring.replace_vault([renewed, old])
    found = dict(expiring_credentials(None, settings, ring))
    assert found[SMIME_CERTIFICATE] == renewed.not_after
    assert SMIME_CERTIFICATE not in dict(expiring_credentials(None, settings, OrganisationKeyring()))


def test_the_alert_names_the_certificate_in_danish_and_english() -> None:
    assert "S/MIME-certifikat" in expiry_alert(SMIME_CERTIFICATE, date(2027, 1, 1), 7, "da").subject
    assert "S/MIME certificate" in expiry_alert(SMIME_CERTIFICATE, date(2027, 1, 1), 7, "en").subject
