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
``MAX_CERTIFICATE_BYTES`` per value and ``MAX_VALUES`` values are read. :func:`capped_values` is where the
contact and LDAP sources apply the bound: a value over it is refused alone, with a warning for IT that
names its size, the address and the contact or entry only masked (names are personal data), and the
other values of the same contact or entry are still read.
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


def capped_values(values: Iterable[bytes], *, kind: str, address: str, source: str) -> list[bytes]:
    """The stored values of one contact or directory entry that are read: each at most
    ``MAX_CERTIFICATE_BYTES`` long, at most ``MAX_VALUES`` of them. A longer value is refused with a logged
    reason (masked: see the module docstring); it never fails the others."""
    kept: list[bytes] = []
    for number, value in enumerate(values, 1):
        if len(kept) >= MAX_VALUES:
            log.warning(
                "recipient certificates (%s): %s in %s has more than %d values; the rest are not read",
                kind,
                masked_address(address),
                masked_source(source),
                MAX_VALUES,
            )
            break
        if len(value) > MAX_CERTIFICATE_BYTES:
            log.warning(
                "recipient certificates (%s): value %d for %s in %s is %d bytes, over the cap of %d;"
                " refused, the other values are read",
                kind,
                number,
                masked_address(address),
                masked_source(source),
                len(value),
                MAX_CERTIFICATE_BYTES,
            )
            continue
        kept.append(value)
    return kept


def masked_address(address: str) -> str:
    """``p***@nabokommune.dk``: the domain (an organisation) in clear, the local part (maybe a person's
    name) reduced to its first character."""
    local, at, domain = address.strip().partition("@")
    return f"{local[:1]}***{at}{domain}" if at else "***"


def masked_source(source: str) -> str:
    """A contact's display name or an entry's DN may name a person: logged as a short digest IT can match
    against the same digest of the name it suspects, never in clear."""
    return "ref " + hashlib.sha256(source.encode("utf-8", "replace")).hexdigest()[:12]


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
