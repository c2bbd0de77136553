"""Which organisation certificate signs during a rollover (issue 16: files and Key Vault alike): the one
valid now with the latest notAfter, ties broken by the latest notBefore; never an expired or not-yet-valid
one. Also the keyring's swap of the Key Vault set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from graph_dpg.adapters.certificates import CertificateBundle
from graph_dpg.adapters.smime import OrganisationCertificate, OrganisationKeyring, choose_signing
from graph_dpg.core.errors import TransientError

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
_KEY = ec.generate_private_key(ec.SECP256R1())


def cert(name: str, *, start_days: int, end_days: int) -> OrganisationCertificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    built = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + timedelta(days=start_days))
        .not_valid_after(NOW + timedelta(days=end_days))
        .sign(_KEY, hashes.SHA256())
    )
    return OrganisationCertificate(f"file:{name}", CertificateBundle(_KEY, (built,)))


def test_the_certificate_that_lasts_longest_signs_whatever_the_configured_order() -> None:
    old = cert("old", start_days=-300, end_days=60)
    new = cert("new", start_days=-5, end_days=1000)
    assert choose_signing([old, new], NOW) is new
    assert choose_signing([new, old], NOW) is new


def test_an_expired_certificate_never_signs_even_as_the_only_one() -> None:
    expired = cert("expired", start_days=-400, end_days=-1)
    assert choose_signing([expired], NOW) is None
    valid = cert("valid", start_days=-10, end_days=10)
    assert choose_signing([expired, valid], NOW) is valid


def test_a_certificate_not_valid_yet_does_not_sign_before_its_notbefore() -> None:
    current = cert("current", start_days=-100, end_days=30)
    future = cert("future", start_days=2, end_days=800)  # renewed early, valid from the day after tomorrow
    assert choose_signing([current, future], NOW) is current
    assert choose_signing([current, future], NOW + timedelta(days=3)) is future


def test_equal_notafter_is_decided_by_the_latest_notbefore_then_by_order() -> None:
    earlier = cert("earlier", start_days=-200, end_days=100)
    later = cert("later", start_days=-2, end_days=100)
    assert choose_signing([earlier, later], NOW) is later
    twin_a = cert("a", start_days=-2, end_days=100)
    twin_b = cert("b", start_days=-2, end_days=100)
    assert choose_signing([twin_a, twin_b], NOW) is twin_a


def test_the_keyring_signer_raises_transient_when_nothing_is_valid() -> None:
    ring = OrganisationKeyring([cert("expired", start_days=-400, end_days=-1)])
    with pytest.raises(TransientError) as caught:
        ring.signer(NOW)
    assert caught.value.code == "NoSigningCertificate"


def test_the_keyring_swaps_the_vault_set_whole_and_drops_duplicates_of_files() -> None:
    file_cert = cert("file", start_days=-10, end_days=100)
    ring = OrganisationKeyring([file_cert], vault_configured=True)
    assert ring.awaiting_vault
    vault_new = cert("vault", start_days=-1, end_days=400)
    duplicate = OrganisationCertificate("keyvault:same/1", file_cert.bundle)
    ring.replace_vault([vault_new, duplicate])
    assert not ring.awaiting_vault
    assert [c.source for c in ring.certificates] == ["file:file", "file:vault"]
    assert len(ring.decryption_keys()) == 2
    assert ring.signing_certificate(NOW) is vault_new
    ring.replace_vault([])
    assert [c.source for c in ring.certificates] == ["file:file"]
