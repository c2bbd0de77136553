"""The Key Vault reader's pure parts: configured names, a certificate secret's value by its content type
(application/x-pkcs12: base64 PFX without password; application/x-pem-file: PEM with the key;
learn.microsoft.com/azure/key-vault/certificates/about-certificates) and azure-core errors translated into
the project's (403 → AuthError with the role to grant; learn.microsoft.com/azure/key-vault/general/
rest-error-codes)."""

from __future__ import annotations

import base64

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from graph_dpg.adapters.smime.keyvault import CertificateName, certificate_from_secret, translate
from graph_dpg.core.errors import AuthError, ConfigError, TransientError

VAULT = "https://kv-test.vault.azure.net"


def _cert_and_key() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    from datetime import UTC, datetime, timedelta

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Testkommune")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert, key


CERT, KEY = _cert_and_key()


def test_names_and_pinned_versions_are_parsed() -> None:
    assert CertificateName.parse(" smime-org ") == CertificateName("smime-org")
    assert CertificateName.parse("smime-org/0f1e2d") == CertificateName("smime-org", "0f1e2d")
    with pytest.raises(ConfigError):
        CertificateName.parse("a/b/c")
    with pytest.raises(ConfigError):
        CertificateName.parse("/")


def test_a_pkcs12_secret_without_password_is_read() -> None:
    pfx = pkcs12.serialize_key_and_certificates(b"x", KEY, CERT, None, serialization.NoEncryption())
    loaded = certificate_from_secret(base64.b64encode(pfx).decode(), "application/x-pkcs12", "keyvault:a/1")
    assert loaded.certificate == CERT and loaded.source == "keyvault:a/1"


def test_a_pem_secret_with_the_key_is_read_and_the_content_type_may_be_missing() -> None:
    pem = KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + CERT.public_bytes(serialization.Encoding.PEM)
    assert certificate_from_secret(pem.decode(), "application/x-pem-file", "s").certificate == CERT
    assert certificate_from_secret(pem.decode(), None, "s").certificate == CERT


def test_values_that_are_not_certificates_are_config_errors_without_the_value() -> None:
    for value, content_type in (
        ("not base64 at all!", "application/x-pkcs12"),
        ("", None),
        ("x" * 300_000, None),
    ):
        with pytest.raises(ConfigError) as caught:
            certificate_from_secret(value, content_type, "keyvault:s/1")
        assert "keyvault:s/1" in str(caught.value) and "not base64" not in str(caught.value)


def _http_error(cls: type[HttpResponseError], status: int, code: str | None = None) -> HttpResponseError:
    error = cls(message=f"{status} {code}")
    error.status_code = status
    if code is not None:
        error.error = type("E", (), {"code": code})()  # type: ignore[assignment]
    return error


def test_errors_become_the_projects_with_the_fix_for_it() -> None:
    forbidden = translate(_http_error(HttpResponseError, 403, "Forbidden"), VAULT, "secret a")
    assert isinstance(forbidden, AuthError) and forbidden.status == 403 and forbidden.code == "Forbidden"
    assert "'Key Vault Secrets User'" in str(forbidden.details["fix"])
    missing = translate(_http_error(ResourceNotFoundError, 404, "SecretNotFound"), VAULT, "secret a")
    assert isinstance(missing, ConfigError) and "secret a" in str(missing)
    assert isinstance(translate(ClientAuthenticationError("no token"), VAULT, "secret a"), AuthError)
    assert isinstance(translate(ServiceRequestError("connection refused"), VAULT, "a"), TransientError)
    busy = translate(_http_error(HttpResponseError, 429), VAULT, "a")
    assert isinstance(busy, TransientError) and busy.status == 429
    assert isinstance(translate(_http_error(HttpResponseError, 400, "BadParameter"), VAULT, "a"), ConfigError)
