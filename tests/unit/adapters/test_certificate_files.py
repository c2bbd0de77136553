"""One reader for certificate files (PEM or PKCS#12): the format rule, key + chain, expiry, and the errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from graph_dpg.adapters.certificates import (
    CertificateBundle,
    certificate_not_after,
    is_pem,
    load_certificate_file,
    load_pem,
    load_pkcs12,
)
from graph_dpg.adapters.digital_post.tls import load_certificate_file as load_ngdp_identity
from graph_dpg.core.errors import ConfigError
from graph_dpg.sandbox.ngdp.certs import CertificateAuthority, ClientCert

PASSWORD = "p12-Kodeord-7"


@pytest.fixture(scope="module")
def authority() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture
def client(authority: CertificateAuthority, tmp_path: Path) -> ClientCert:
    return authority.issue_client(tmp_path, days=90, p12_password=PASSWORD)


def public_key_der(bundle: CertificateBundle) -> bytes:
    return bundle.key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def combined_pem(client: ClientCert, tmp_path: Path) -> Path:
    """Certificate and key in one PEM file, after the "Bag Attributes" text openssl puts before them."""
    path = tmp_path / "combined.pem"
    path.write_bytes(
        b"Bag Attributes\n    friendlyName: client\n" + client.cert.read_bytes() + client.key.read_bytes()
    )
    return path


def test_pem_and_pkcs12_of_one_certificate_load_the_same_key_and_leaf(
    client: ClientCert, authority: CertificateAuthority, tmp_path: Path
) -> None:
    from_pem = load_certificate_file(combined_pem(client, tmp_path), None, label="test")
    from_p12 = load_certificate_file(client.p12, PASSWORD, label="test")
    assert from_pem.certificate == from_p12.certificate
    assert public_key_der(from_pem) == public_key_der(from_p12)
    assert from_pem.not_valid_after == from_p12.not_valid_after == client.not_after
    # The PKCS#12 bundle carries the CA after the leaf.
    assert from_p12.chain == (from_p12.certificate, authority.cert)
    assert from_pem.chain == (from_pem.certificate,)


def test_the_format_rule_looks_for_the_pem_armour_near_the_start(client: ClientCert, tmp_path: Path) -> None:
    assert is_pem(combined_pem(client, tmp_path).read_bytes())
    assert not is_pem(client.p12.read_bytes())
    assert not is_pem(b"x" * 65536 + b"-----BEGIN CERTIFICATE-----")


def test_certificate_and_key_in_two_pem_files(client: ClientCert) -> None:
    bundle = load_pem(client.cert, client.key, label="test")
    assert bundle.not_valid_after == client.not_after


def test_an_unencrypted_pem_key_loads_with_the_password_the_other_files_share(
    client: ClientCert, tmp_path: Path
) -> None:
    # S/MIME during a rollover: one password for a PKCS#12 file and a PEM file whose key has none.
    from_pem = load_certificate_file(combined_pem(client, tmp_path), PASSWORD, label="test")
    assert public_key_der(from_pem) == public_key_der(load_certificate_file(client.p12, PASSWORD, label="t"))


def test_wrong_pkcs12_password_names_the_file(client: ClientCert) -> None:
    with pytest.raises(ConfigError, match=r"the NgDP PKCS#12 file .* cannot be opened \(wrong password"):
        load_pkcs12(client.p12, "wrong", label="NgDP")


def test_pem_without_its_key_is_refused(client: ClientCert) -> None:
    with pytest.raises(ConfigError, match="the NgDP private key cannot be loaded"):
        load_certificate_file(client.cert, None, label="NgDP")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the NgDP certificate '.*absent\.p12'"):
        load_certificate_file(tmp_path / "absent.p12", None, label="NgDP")


def test_expiry_needs_no_key_for_pem_and_the_password_for_pkcs12(client: ClientCert, tmp_path: Path) -> None:
    assert certificate_not_after(client.cert, None) == client.not_after
    assert certificate_not_after(client.p12, PASSWORD) == client.not_after
    assert certificate_not_after(client.p12, "wrong") is None
    assert certificate_not_after(tmp_path / "absent.pem", None) is None


def test_the_ngdp_identity_is_built_from_the_same_reader(client: ClientCert) -> None:
    identity = load_ngdp_identity(client.p12, PASSWORD)
    assert identity.not_valid_after == client.not_after
    assert "Sandbox Kommune" in identity.subject()
