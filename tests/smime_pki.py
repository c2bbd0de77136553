"""A small PKI for the S/MIME tests, made with ``cryptography`` in a temporary directory: a test CA, an
organisation certificate with an OCES3 subject (and a second one, for rollover), an employee certificate,
a signer from an untrusted CA, an expired signer. Every file is PEM: ``<name>.pem`` (certificate),
``<name>.key`` (key), ``<name>.both.pem`` (key and certificate) and ``<name>.p12`` (password "secret")."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

P12_PASSWORD = "secret"


@dataclass
class Party:
    name: str
    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    dir: Path

    @property
    def pem(self) -> Path:
        return self.dir / f"{self.name}.pem"

    @property
    def key_pem(self) -> Path:
        return self.dir / f"{self.name}.key"

    @property
    def both(self) -> Path:
        return self.dir / f"{self.name}.both.pem"

    @property
    def p12(self) -> Path:
        return self.dir / f"{self.name}.p12"


def _name(cn: str, *, org: str | None = None, serial: str | None = None, cvr: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "DK")]
    if cvr:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRDK-{cvr}"))
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if serial:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _write(party: Party) -> Party:
    key_pem = party.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = party.cert.public_bytes(serialization.Encoding.PEM)
    party.pem.write_bytes(cert_pem)
    party.key_pem.write_bytes(key_pem)
    party.both.write_bytes(key_pem + cert_pem)
    party.p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            party.name.encode(),
            party.key,
            party.cert,
            None,
            serialization.BestAvailableEncryption(P12_PASSWORD.encode()),
        )
    )
    return party


@cache
def _pki_key(name: str) -> rsa.RSAPrivateKey:
    """The key of ``make_pki``'s party ``name``, made once per process: RSA key generation is most of the
    cost of a PKI, which some twenty test modules each make. The certificates are new every time; the
    parties of one PKI still have keys of their own, and ``make_leaf`` called alone makes a new key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_ca(directory: Path, name: str, now: datetime, *, key: rsa.RSAPrivateKey | None = None) -> Party:
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = _name(f"{name} OCES rod-CA", org="Den Danske Stat (test)")
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=3650))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write(Party(name, key, cert, directory))


def make_leaf(
    directory: Path,
    name: str,
    ca: Party,
    *,
    subject: x509.Name,
    not_before: datetime,
    not_after: datetime,
    eku: list[x509.ObjectIdentifier] | None = None,
    emails: tuple[str, ...] = (),
    key: rsa.RSAPrivateKey | None = None,
) -> Party:
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, True, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if emails:
        names = [x509.RFC822Name(e) for e in emails]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return _write(Party(name, key, builder.sign(ca.key, hashes.SHA256()), directory))


@dataclass
class Pki:
    dir: Path
    ca: Party
    org: Party  # organisation certificate, OCES3 subject
    org2: Party  # the next organisation certificate (rollover)
    employee: Party  # an employee (MitID Erhverv user) certificate
    stranger: Party  # signed by an untrusted CA
    expired: Party  # expired yesterday, trusted CA
    web: Party  # EKU serverAuth only: not for mail


def make_pki(directory: Path) -> Pki:
    now = datetime.now(UTC)
    ca = make_ca(directory, "ca", now, key=_pki_key("ca"))
    other_ca = make_ca(directory, "otherca", now, key=_pki_key("otherca"))
    valid = {"not_before": now - timedelta(days=30), "not_after": now + timedelta(days=365)}
    org = make_leaf(
        directory,
        "org",
        ca,
        key=_pki_key("org"),
        subject=_name(
            "Testkommune systemcertifikat",
            org="Testkommune",
            serial="UI:DK-O:G:c70b0207-162e-4d3d-a7f1-a19a8e07d99b",
            cvr="29189846",
        ),
        **valid,
    )
    org2 = make_leaf(
        directory,
        "org2",
        ca,
        key=_pki_key("org2"),
        subject=_name(
            "Testkommune systemcertifikat 2",
            org="Testkommune",
            serial="UI:DK-O:G:0b1b0207-162e-4d3d-a7f1-a19a8e07d99b",
            cvr="29189846",
        ),
        **valid,
    )
    employee = make_leaf(
        directory,
        "employee",
        ca,
        key=_pki_key("employee"),
        subject=_name(
            "Anne Hansen",
            org="Testkommune",
            serial="UI:DK-E:G:dc7f4a98-d4f9-4d77-84f9-ae83c4e0bf61",
            cvr="29189846",
        ),
        eku=[ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH],
        **valid,
    )
    stranger = make_leaf(
        directory,
        "stranger",
        other_ca,
        subject=_name("Stranger", org="Elsewhere"),
        key=_pki_key("stranger"),
        **valid,
    )
    expired = make_leaf(
        directory,
        "expired",
        ca,
        key=_pki_key("expired"),
        subject=_name("Old Org", org="Old Org", cvr="12345678"),
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=1),
    )
    web = make_leaf(
        directory,
        "web",
        ca,
        subject=_name("www"),
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
        key=_pki_key("web"),
        **valid,
    )
    return Pki(directory, ca, org, org2, employee, stranger, expired, web)


def openssl(*args: str | Path, input: bytes | None = None) -> bytes:
    """Run the openssl binary (the independent counterpart); its stdout, or AssertionError with stderr."""
    done = subprocess.run(["openssl", *map(str, args)], input=input, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def openssl_result(*args: str | Path, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], input=input, capture_output=True, check=False)
