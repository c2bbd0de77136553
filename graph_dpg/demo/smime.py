"""Secure mail (S/MIME) for the sandbox demo: a throw-away OCES3-like PKI in the work directory and the
scenario's S/MIME messages made from it.

The PKI: a sandbox root CA (the trust anchor the demo gateway is configured with), the organisation's
certificate with its key (what the gateway decrypts with: GRAPH_DPG_SMIME_CERTIFICATES), a case worker's
employee certificate (signs outbound letters), an authority's organisation certificate (the a-kasse's;
signs the secure mail it sends us; naming its address, it is written into the recipient-certificate
directory, so secure mail to it is encrypted to it) and another organisation's certificate (mail
encrypted to it cannot be opened here).
Subjects follow OCES3 (serialNumber ``UI:DK-O:G:<uuid>`` / ``UI:DK-E:G:<uuid>``, organizationIdentifier
``NTRDK-<cvr>``; docs/facts/smime.md, "OCES3 subjects"). The messages are made with the gateway's own
sealing code (adapters/smime, itself tested against ``openssl cms``): they are the demo's input, the
emulators never check them with it.
"""

from __future__ import annotations

import email.policy
import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from graph_dpg.adapters.smime.mime import (
    SigningKey,
    canonical,
    inner_entity,
    seal_message,
    signed_entity,
    split_head,
)

#: The authority's (the a-kasse's) secure-mail address, named in its certificate.
AUTHORITY_ADDRESS = "sikkerpost@a-kasse.dk"


@dataclass(frozen=True)
class Holder:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def signing(self) -> SigningKey:
        return SigningKey(self.key, (self.cert,))


@dataclass(frozen=True)
class DemoPki:
    ca_pem: Path  # the trust anchor (GRAPH_DPG_SMIME_TRUST_ANCHORS)
    organisation_pem: Path  # key + certificate (GRAPH_DPG_SMIME_CERTIFICATES)
    organisation: Holder
    case_worker: Holder
    authority: Holder
    other_organisation: Holder
    # GRAPH_DPG_SMIME_RECIPIENT_CERT_DIR: the authority's certificate, for secure mail to it
    recipient_cert_dir: Path | None = None

    def party(self, name: str) -> Holder:
        return {
            "organisation": self.organisation,
            "case-worker": self.case_worker,
            "authority": self.authority,
            "other-organisation": self.other_organisation,
        }[name]


def _name(cn: str, org: str, serial: str | None = None, cvr: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "DK")]
    if cvr:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRDK-{cvr}"))
    attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if serial:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _leaf(
    ca: Holder, subject: x509.Name, now: datetime, *, mail: bool = False, address: str | None = None
) -> Holder:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, True, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if address is not None:
        # RFC 8550 3: the address belongs in subjectAltName rfc822Name (how recipient certificates are found)
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False
        )
    if mail:
        eku = [ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return Holder(key, builder.sign(ca.key, hashes.SHA256()))


def make_demo_pki(directory: Path, organisation_name: str, organisation_cvr: str) -> DemoPki:
    """Generate the demo PKI; only the trust anchor and the organisation's key + certificate are written
    (into ``directory``, the sandbox's work directory): the gateway reads them as it would in production."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = _name("Sandbox OCES rod-CA", "Sandbox (ikke et rigtigt CA)")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca = Holder(ca_key, ca_cert)
    organisation = _leaf(
        ca,
        _name(
            f"{organisation_name} systemcertifikat",
            organisation_name,
            "UI:DK-O:G:5f1f2a8e-0d3b-4c47-9a51-2b7d3c9e6a10",
            organisation_cvr,
        ),
        now,
    )
    case_worker = _leaf(
        ca,
        _name("Sofie Sagsbehandler", organisation_name, "UI:DK-E:G:8c2d7a41-6b0e-4f5c-b1d3-97e5a0c4f2b8"),
        now,
        mail=True,
    )
    authority = _leaf(
        ca,
        _name(
            "Sandby A-kasse systemcertifikat",
            "Sandby A-kasse",
            "UI:DK-O:G:0a9e4c7d-3f21-4b8a-8d6e-c15b2f7a9e34",
            "29189846",
        ),
        now,
        address=AUTHORITY_ADDRESS,
    )
    other = _leaf(
        ca,
        _name(
            "Naboby Kommune systemcertifikat",
            "Naboby Kommune",
            "UI:DK-O:G:3b7c1e9f-2a4d-4e6b-9c08-d5f1a2b3c4e5",
            "87654321",
        ),
        now,
    )
    ca_pem = directory / "sandbox-ca.pem"
    ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    organisation_pem = directory / "organisation.pem"
    organisation_pem.write_bytes(
        organisation.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        + organisation.cert.public_bytes(serialization.Encoding.PEM)
    )
    recipients = directory / "recipients"
    recipients.mkdir(exist_ok=True)
    (recipients / "a-kasse.pem").write_bytes(authority.cert.public_bytes(serialization.Encoding.PEM))
    return DemoPki(ca_pem, organisation_pem, organisation, case_worker, authority, other, recipients)


def plain_mail(
    sender: tuple[str, str],
    to: list[str],
    subject: str,
    text: str,
    attachments: list[tuple[str, str, bytes]],
    message_id: str,
) -> bytes:
    """The mail before S/MIME, as a mail program writes it (text body, attachments)."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = email.utils.formataddr(sender)
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = message_id
    msg.set_content(text, charset="utf-8")
    for name, ctype, data in attachments:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=name)
    return msg.as_bytes()


def clear_signed(message: bytes, signer: Holder) -> bytes:
    """``message`` clear-signed (multipart/signed) as Outlook signs, the envelope header fields outside."""
    head, _ = split_head(canonical(message))
    outside = [
        line for line in _unfolded(head) if not line.lower().startswith((b"content-", b"mime-version"))
    ]
    entity = signed_entity(inner_entity(message), signer.signing, detached=True)
    return b"\r\n".join([*outside, b"MIME-Version: 1.0"]) + b"\r\n" + entity


def opaque_signed(message: bytes, signer: Holder) -> bytes:
    """``message`` opaque-signed (application/pkcs7-mime signed-data), the envelope header fields outside."""
    head, _ = split_head(canonical(message))
    outside = [
        line for line in _unfolded(head) if not line.lower().startswith((b"content-", b"mime-version"))
    ]
    entity = signed_entity(inner_entity(message), signer.signing, detached=False)
    return b"\r\n".join([*outside, b"MIME-Version: 1.0"]) + b"\r\n" + entity


def encrypted(message: bytes, to: Holder, signer: Holder | None) -> bytes:
    """``message`` signed by ``signer`` (opaque, when given) and encrypted to ``to``'s certificate."""
    return seal_message(message, [to.cert], signer.signing if signer is not None else None)


def _unfolded(head: bytes) -> list[bytes]:
    lines: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and lines:
            lines[-1] += b"\r\n" + line
        elif line:
            lines.append(line)
    return lines
