"""Reading recipient certificates out of the shapes contacts and LDAP directories store them in.

* PidTagUserX509Certificate (``BinaryArray 0x3A70``, PtypMultipleBinary), where Outlook keeps the certificates
  of a contact ([MS-OXOCNTC] refers to [MS-OXOABK] 2.2.4.36): each value is either a DER SignedData (its
  first byte is 0x30) carrying the user's certificates, or a list of TAG/LENGTH/DATA security settings (two
  little-endian 16-bit words, LENGTH counting the whole setting) in which the SignCertificate setting
  (TAG 0x0008, [MS-OXOABK] 2.2.4.36.9) holds one DER X.509 certificate. Other settings (hashes, capabilities)
  are ignored, as the specification says for unknown tags. A value starting with 0x30 that is not
  SignedData but a bare X.509 certificate is accepted too (inference: what other tools write; harmless).
* LDAP ``userCertificate;binary`` (RFC 4523 2.1: one DER certificate per value) and ``userSMIMECertificate``
  (RFC 2798 2.8: a PKCS#7 SignedData whose certificates are the user's; [MS-OXLDAP] 2.2.5.2 also allows the
  [MS-OXOABK] format).

Every certificate must name the address it is used for (subjectAltName rfc822Name or the subject's
emailAddress, RFC 8550 3) and be valid at the lookup time; others are dropped. Bounded: at most
``MAX_CERTIFICATE_BYTES`` per value and ``MAX_VALUES`` values are read.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Iterable
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyasn1.codec.der.decoder import decode as der_decode
from pyasn1.codec.der.encoder import encode as der_encode
from pyasn1.error import PyAsn1Error
from pyasn1_modules import rfc5652

from graph_dpg.adapters.smime.cms import signer_of
from graph_dpg.adapters.smime.directory import certificate_addresses
from graph_dpg.domain.smime import CertificateHolder
from graph_dpg.ports.secure_send import RecipientCertificate

log = logging.getLogger(__name__)

#: The most bytes one stored value may have (a certificate is a few kB; a SignedData with a chain, tens).
MAX_CERTIFICATE_BYTES = 64_000
#: The most values read per contact or directory entry.
MAX_VALUES = 20
#: [MS-OXOABK] 2.2.4.36.9 SignCertificate.
TAG_SIGN_CERTIFICATE = 0x0008


def certificates_from_user_x509(value: bytes) -> list[bytes]:
    """The DER certificates in one PidTagUserX509Certificate value (see the module docstring); [] when it
    holds none or cannot be read."""
    if not value or len(value) > MAX_CERTIFICATE_BYTES:
        return []
    if value[0] == 0x30:
        return certificates_from_pkcs7(value) or _bare_certificate(value)
    found: list[bytes] = []
    offset = 0
    while offset + 4 <= len(value):
        tag, length = struct.unpack_from("<HH", value, offset)
        if length < 4 or offset + length > len(value):
            break  # damaged: what was read so far counts
        if tag == TAG_SIGN_CERTIFICATE and length > 4:
            found.append(value[offset + 4 : offset + length])
        offset += length
    return found


def certificates_from_pkcs7(value: bytes) -> list[bytes]:
    """The certificates of a DER ContentInfo holding SignedData (RFC 5652 5.1; RFC 2798's
    userSMIMECertificate); [] when it is something else."""
    if len(value) > MAX_CERTIFICATE_BYTES:
        return []
    try:
        info, _ = der_decode(value, asn1Spec=rfc5652.ContentInfo())
        if info["contentType"] != rfc5652.id_signedData:
            return []
        signed, _ = der_decode(info["content"], asn1Spec=rfc5652.SignedData())
        out: list[bytes] = []
        if signed["certificates"].isValue:
            for choice in signed["certificates"]:
                if choice.getName() == "certificate":
                    out.append(der_encode(choice["certificate"]))
        return out[:MAX_VALUES]
    except (PyAsn1Error, ValueError, TypeError):
        return []


def _bare_certificate(value: bytes) -> list[bytes]:
    try:
        x509.load_der_x509_certificate(value)
    except ValueError:
        return []
    return [value]


def recipient_certificates(
    ders: Iterable[bytes], address: str, at: datetime, *, kind: str, source: str
) -> list[RecipientCertificate]:
    """The certificates among ``ders`` that name ``address`` and are valid at ``at``, as the port's type."""
    wanted = address.strip().lower()
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    out: list[RecipientCertificate] = []
    seen: set[str] = set()
    for der in list(ders)[:MAX_VALUES]:
        if len(der) > MAX_CERTIFICATE_BYTES:
            continue
        try:
            cert = x509.load_der_x509_certificate(der)
            der = cert.public_bytes(Encoding.DER)
            not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
            subject = cert.subject.rfc4514_string()
        except ValueError:
            log.info("recipient certificates (%s): a value that is no certificate, skipped", kind)
            continue
        if wanted not in certificate_addresses(cert):
            log.info("recipient certificates (%s): %s does not name the address, skipped", kind, subject)
            continue
        if not (not_before <= at <= not_after):
            continue
        fingerprint = hashlib.sha256(der).hexdigest()
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        out.append(
            RecipientCertificate(
                der=der,
                subject=subject,
                not_after=not_after,
                fingerprint=fingerprint,
                source=source,
                kind=kind,
                not_before=not_before,
            )
        )
    return out


def certificate_holder(der: bytes) -> CertificateHolder:
    """Organisation, employee or person, by the subject's serialNumber (docs/facts/smime.md, "OCES3
    subjects"); UNKNOWN for a certificate that is no OCES certificate or cannot be read."""
    try:
        return signer_of(x509.load_der_x509_certificate(der)).holder
    except ValueError:
        return CertificateHolder.UNKNOWN
