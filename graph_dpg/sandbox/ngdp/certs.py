"""A throw-away PKI for the NgDP sandbox and tests: a CA, a server certificate for 127.0.0.1/localhost and
client certificates shaped like OCES3 function certificates (organisation + CVR in the subject), as PEM
files and as a PKCS#12 bundle — the two forms the client accepts.

Nothing here is suitable for production; keys are unencrypted on disk except in the PKCS#12 file.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Subject of the emulated NgDP's push certificate (sandbox data; that NgDP pushes with a function
#: certificate of Digitaliseringsstyrelsen is an inference: the sources found do not say).
NGDP_PUSH_ORGANISATION = "Digitaliseringsstyrelsen"
NGDP_PUSH_CVR = "34051178"


@dataclass(frozen=True)
class ClientCert:
    cert: Path  # certificate PEM
    key: Path  # unencrypted key PEM
    p12: Path  # PKCS#12 with cert + key + CA
    p12_password: str
    not_after: datetime


@dataclass(frozen=True)
class SandboxPki:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client: ClientCert
    #: The certificate the emulated NgDP pushes with (a function certificate of "Digitaliseringsstyrelsen").
    ngdp_push: ClientCert | None = None


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


def _name(common_name: str, organisation: str | None = None, serial: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "DK")]
    if organisation:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    if serial:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attrs)


class CertificateAuthority:
    """An in-memory CA that issues server and client certificates into a directory."""

    def __init__(self, name: str = "graph-dpg sandbox CA") -> None:
        self.key = _key()
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    def write_ca(self, directory: Path, stem: str = "ca") -> tuple[Path, Path]:
        cert = directory / f"{stem}.pem"
        key = directory / f"{stem}.key"
        cert.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, self.key)
        return cert, key

    def _issue(
        self,
        subject: x509.Name,
        key: ec.EllipticCurvePrivateKey,
        usage: x509.ObjectIdentifier,
        *,
        days: int,
        sans: list[x509.GeneralName] | None = None,
        not_before: datetime | None = None,
    ) -> x509.Certificate:
        start = not_before or datetime.now(UTC) - timedelta(minutes=5)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def issue_server(self, directory: Path, stem: str = "server") -> tuple[Path, Path]:
        key = _key()
        cert = self._issue(
            _name("localhost"),
            key,
            ExtendedKeyUsageOID.SERVER_AUTH,
            days=30,
            sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        )
        cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key_path, key)
        return cert_path, key_path

    def issue_client(
        self,
        directory: Path,
        stem: str = "client",
        *,
        organisation: str = "Sandbox Kommune",
        cvr: str = "29189846",
        days: int = 365,
        p12_password: str = "sandbox",  # noqa: S107 - test PKI only
    ) -> ClientCert:
        key = _key()
        # OCES3 function certificates name the organisation and carry "CVR:<n>-FID:<id>"-style serials.
        cert = self._issue(
            _name(f"{organisation} NgDP system", organisation, f"CVR:{cvr}-FID:sandbox"),
            key,
            ExtendedKeyUsageOID.CLIENT_AUTH,
            days=days,
        )
        cert_path, key_path, p12_path = (
            directory / f"{stem}.pem",
            directory / f"{stem}.key",
            directory / f"{stem}.p12",
        )
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key_path, key)
        p12_path.write_bytes(
            pkcs12.serialize_key_and_certificates(
                stem.encode(),
                key,
                cert,
                [self.cert],
                serialization.BestAvailableEncryption(p12_password.encode()),
            )
        )
        p12_path.chmod(0o600)
        return ClientCert(cert_path, key_path, p12_path, p12_password, cert.not_valid_after_utc)


def generate_test_pki(directory: str | Path, *, client_days: int = 365) -> SandboxPki:
    """CA + server certificate (127.0.0.1, localhost) + the gateway's client certificate + the certificate the
    emulated NgDP pushes with, written to ``directory``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority()
    ca_cert, ca_key = ca.write_ca(out)
    server_cert, server_key = ca.issue_server(out)
    client = ca.issue_client(out, days=client_days)
    # Who NgDP is when it pushes (sandbox only; organisation and CVR as NgDP's operator, inference).
    push = ca.issue_client(out, "ngdp-push", organisation=NGDP_PUSH_ORGANISATION, cvr=NGDP_PUSH_CVR)
    return SandboxPki(ca_cert, ca_key, server_cert, server_key, client, push)
