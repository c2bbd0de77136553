"""Secure mail (S/MIME) as the rest of the gateway sees it: what a message is, what opening it found.

Pure: no cryptography here. The adapter ``graph_dpg.adapters.smime`` decrypts and verifies and answers in
these types, so services, receipts and banners can speak about secure mail without importing it.

- :func:`smime_kind` tells from a MIME entity's content type (and file name) whether it is S/MIME, and which
  shape (RFC 8551 section 3: application/pkcs7-mime with smime-type enveloped-data, authEnveloped-data or
  signed-data; multipart/signed with protocol application/pkcs7-signature; a bare ``smime.p7m``).
- :class:`Signer` reads an OCES3 (and OCES2) certificate subject: organisation name, CVR, UUID and whether
  it is an organisation or a personal/employee certificate (docs/facts/smime.md, "OCES3 subjects").
- :class:`SignatureCheck`, :class:`Layer` and :class:`OpenedMessage` are what opening found, outermost
  layer first.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

#: Outlook / Exchange message classes ([MS-OXOSMIME] 2.1.3.1 and 2.1.3.2).
MESSAGE_CLASS_SMIME = "IPM.Note.SMIME"
MESSAGE_CLASS_SMIME_MULTIPART_SIGNED = "IPM.Note.SMIME.MultipartSigned"


class SmimeKind(enum.Enum):
    """The S/MIME shape of one MIME entity."""

    ENVELOPED = "enveloped-data"  # application/pkcs7-mime; smime-type=enveloped-data (or authEnveloped-data)
    SIGNED_OPAQUE = "signed-data"  # application/pkcs7-mime; smime-type=signed-data
    SIGNED_DETACHED = "multipart-signed"  # multipart/signed; protocol="application/pkcs7-signature"
    UNKNOWN_P7M = "p7m"  # application/pkcs7-mime without smime-type, or an .p7m file: look inside


_PKCS7_MIME = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
_PKCS7_SIGNATURE = frozenset({"application/pkcs7-signature", "application/x-pkcs7-signature"})


def smime_kind(content_type: str, params: Mapping[str, str], filename: str | None = None) -> SmimeKind | None:
    """The S/MIME shape of an entity from its content type (lower case ``type/subtype``), its parameters
    and its file name; None when it is not S/MIME. A file called ``*.p7m`` sent as
    application/octet-stream (some clients do) counts as S/MIME whose kind is read from the CMS inside."""
    ctype = content_type.lower()
    lowered = {key.lower(): value for key, value in params.items()}
    if ctype in _PKCS7_MIME:
        smime_type = lowered.get("smime-type", "").strip().lower()
        if smime_type in ("enveloped-data", "authenveloped-data"):
            return SmimeKind.ENVELOPED
        if smime_type == "signed-data":
            return SmimeKind.SIGNED_OPAQUE
        return SmimeKind.UNKNOWN_P7M
    if ctype == "multipart/signed":
        protocol = lowered.get("protocol", "").strip().lower()
        return SmimeKind.SIGNED_DETACHED if protocol in _PKCS7_SIGNATURE else None
    if filename and filename.lower().endswith(".p7m") and ctype == "application/octet-stream":
        return SmimeKind.UNKNOWN_P7M
    return None


class CertificateHolder(enum.Enum):
    """Whom an OCES certificate was issued to (docs/facts/smime.md, "OCES3 subjects")."""

    ORGANISATION = (
        "organisation"  # virksomhedscertifikat / systemcertifikat: UI:DK-O:..., OCES2 CVR:..-UID:..
    )
    EMPLOYEE = "employee"  # medarbejdercertifikat (MitID Erhverv user): UI:DK-E:..., OCES2 CVR:..-RID:..
    PERSON = "person"  # personal certificate: OCES2 PID:..., OCES3 UI:DK-P:... (inference)
    UNKNOWN = "unknown"  # not an OCES subject


_OCES3_SERIAL = re.compile(r"UI:DK-([OEP]):G:([0-9a-fA-F-]{36})")
_OCES2_SERIAL = re.compile(r"CVR:(\d{8})-(UID|RID|FID):(\S+)")
_OCES2_PERSON = re.compile(r"PID:(\S+)")
_NTR_DK = re.compile(r"NTRDK-(\d{8})")
_OCES2_ORG_CVR = re.compile(r"//\s*CVR:(\d{8})\s*$")
_HOLDER = {
    "O": CertificateHolder.ORGANISATION,
    "E": CertificateHolder.EMPLOYEE,
    "P": CertificateHolder.PERSON,
}


@dataclass(frozen=True)
class Signer:
    """Who a certificate names: common name, organisation, CVR, the OCES UUID (or OCES2 id) and the kind
    of holder. ``subject`` is the whole subject as RFC 4514 text, for the support line."""

    subject: str
    common_name: str | None = None
    organisation: str | None = None
    cvr: str | None = None
    uuid: str | None = None
    email: str | None = None
    holder: CertificateHolder = CertificateHolder.UNKNOWN

    @classmethod
    def from_subject(
        cls,
        subject: str,
        *,
        common_name: str | None = None,
        organisation: str | None = None,
        serial_number: str | None = None,
        organization_identifier: str | None = None,
        email: str | None = None,
    ) -> Signer:
        """Interpret the subject's attributes (serialNumber 2.5.4.5, organizationIdentifier 2.5.4.97)."""
        cvr: str | None = None
        uuid: str | None = None
        holder = CertificateHolder.UNKNOWN
        serial = (serial_number or "").strip()
        if match := _OCES3_SERIAL.fullmatch(serial):
            holder, uuid = _HOLDER[match.group(1)], match.group(2).lower()
        elif match := _OCES2_SERIAL.fullmatch(serial):
            cvr, uuid = match.group(1), match.group(3)
            holder = CertificateHolder.EMPLOYEE if match.group(2) == "RID" else CertificateHolder.ORGANISATION
        elif match := _OCES2_PERSON.fullmatch(serial):
            holder, uuid = CertificateHolder.PERSON, match.group(1)
        if organization_identifier and (match := _NTR_DK.fullmatch(organization_identifier.strip())):
            cvr = match.group(1)
        if cvr is None and organisation and (match := _OCES2_ORG_CVR.search(organisation)):
            cvr = match.group(1)
        return cls(
            subject=subject,
            common_name=common_name,
            organisation=organisation,
            cvr=cvr,
            uuid=uuid,
            email=email,
            holder=holder,
        )

    def describe(self) -> str:
        """One line: ``Name (organisation, CVR 12345678, UUID ...)``."""
        name = self.organisation or self.common_name or self.subject
        bits = [self.holder.value] if self.holder is not CertificateHolder.UNKNOWN else []
        if self.common_name and self.common_name != name:
            bits.insert(0, self.common_name)
        if self.cvr:
            bits.append(f"CVR {self.cvr}")
        if self.uuid:
            bits.append(f"UUID {self.uuid}")
        if self.email:
            bits.append(self.email)
        return f"{name} ({', '.join(bits)})" if bits else name


class Verdict(enum.Enum):
    """What a signature check concluded. Only VALID lets a signature count as good."""

    VALID = "valid"  # the signature matches the content and its chain ends in a trust anchor, in date
    INVALID = "invalid"  # the signature or the content digest does not match (tampered), or cannot be checked
    UNTRUSTED = "untrusted"  # the signature matches, but no chain to a configured trust anchor
    EXPIRED = "expired"  # the signature matches and the chain is trusted, but not valid at the time checked


@dataclass(frozen=True)
class SignatureCheck:
    """One SignerInfo's result; ``reason`` says why when the verdict is not VALID (English, for logs and
    the command line; banners translate the verdict through the catalogue)."""

    verdict: Verdict
    signer: Signer | None
    reason: str = ""
    digest_algorithm: str = ""
    signature_algorithm: str = ""
    signing_time: datetime | None = None
    checked_at: datetime | None = None


@dataclass(frozen=True)
class Layer:
    """One S/MIME layer, outermost first: ``encrypted`` (to ``recipient``, with ``algorithm``) or
    ``signed`` (``detached`` for multipart/signed, with one check per SignerInfo)."""

    kind: str  # "encrypted" | "signed"
    algorithm: str = ""
    recipient: Signer | None = None
    recipient_fingerprint: str = ""
    detached: bool = False
    signatures: tuple[SignatureCheck, ...] = ()


@dataclass(frozen=True)
class OpenedMessage:
    """The readable MIME entity inside every layer (``content``: bytes, never written to disk), the layers
    found on the way in, and whether the input was a whole message or a bare .p7m."""

    content: bytes
    layers: tuple[Layer, ...] = field(default_factory=tuple)

    @property
    def encrypted(self) -> bool:
        return any(layer.kind == "encrypted" for layer in self.layers)

    @property
    def signatures(self) -> tuple[SignatureCheck, ...]:
        return tuple(check for layer in self.layers for check in layer.signatures)

    @property
    def signed(self) -> bool:
        return any(layer.kind == "signed" for layer in self.layers)

    @property
    def all_signatures_valid(self) -> bool:
        """True when every signature is VALID (and vacuously for an unsigned message)."""
        return all(check.verdict is Verdict.VALID for check in self.signatures)
