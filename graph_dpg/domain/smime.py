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

import email.message
import email.parser
import email.policy
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from graph_dpg.core.errors import LimitExceededError
from graph_dpg.domain.inbound_view import Banner, BannerKind
from graph_dpg.domain.mail import Attachment, MailMessage
from graph_dpg.domain.texts import Text, text

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


#: The kind of certificate in words case workers read (domain/texts.py); UNKNOWN says nothing.
_HOLDER_TEXT: Mapping[CertificateHolder, Text] = {
    CertificateHolder.ORGANISATION: Text.SMIME_HOLDER_ORGANISATION,
    CertificateHolder.EMPLOYEE: Text.SMIME_HOLDER_EMPLOYEE,
    CertificateHolder.PERSON: Text.SMIME_HOLDER_PERSON,
}

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

    def describe(self, language: str) -> str:
        """One line in ``language`` (the catalogue's: ``"da"`` for receipts and overviews, ``"en"`` for the
        command line): ``Name (organisationscertifikat, CVR 12345678, UUID ...)``."""
        name = self.organisation or self.common_name or self.subject
        holder = _HOLDER_TEXT.get(self.holder)
        bits = [text(holder, language)] if holder is not None else []
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
    # Valid as such, but the kind of certificate is not accepted: a personal or employee certificate when
    # only organisation certificates are (seed 001; ``accept_only_organisation_certificates``).
    REFUSED = "refused"


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


def accept_only_organisation_certificates(opened: OpenedMessage) -> OpenedMessage:
    """``opened`` with every VALID signature whose certificate is not an organisation certificate
    (``Signer.holder``: employee, personal, or no OCES subject at all) turned into ``Verdict.REFUSED``
    with the reason. The setting that refuses personal and employee certificates (seed 001; how the kinds
    are told apart: docs/facts/smime.md, "OCES3 subjects"). Other verdicts say "not accepted" already."""
    layers: list[Layer] = []
    for layer in opened.layers:
        checks = tuple(_refused_unless_organisation(check) for check in layer.signatures)
        layers.append(replace(layer, signatures=checks))
    return replace(opened, layers=tuple(layers))


def _refused_unless_organisation(check: SignatureCheck) -> SignatureCheck:
    holder = check.signer.holder if check.signer else CertificateHolder.UNKNOWN
    if check.verdict is not Verdict.VALID or holder is CertificateHolder.ORGANISATION:
        return check
    kind = {
        CertificateHolder.EMPLOYEE: "an employee certificate",
        CertificateHolder.PERSON: "a personal certificate",
    }.get(holder, "not an OCES certificate")
    reason = f"{kind}; only organisation certificates are accepted (GRAPH_DPG_SMIME_ORGANISATION_ONLY)"
    return replace(check, verdict=Verdict.REFUSED, reason=reason)


# ------------------------------------------------------------------------------------- secure mail read

#: PidTagMessageClass as Graph names the extended property ([MS-OXCMSG] 2.2.1.3; microsoft-graph-docs
#: issue 4585). The Graph adapter files it under this key whatever spelling Exchange answers with.
MESSAGE_CLASS_PROPERTY = "String 0x001A"
#: The one attachment Exchange gives an S/MIME message ([MS-OXOSMIME] 2.1.3.1.1, 2.1.3.2.1).
SMIME_ATTACHMENT = "smime.p7m"
#: The most MIME parts read from a decrypted message (the hostile corpus has 1,000; beyond: refused).
MAX_MIME_PARTS = 1000
#: The deepest MIME nesting read (real mail nests a handful of levels; deeper is refused as damaged).
MAX_MIME_DEPTH = 64


def is_smime_mail(message: MailMessage) -> bool:
    """True when Exchange shows ``message`` as S/MIME: its message class (``IPM.Note.SMIME*``), or, when
    the class was not read, its one attachment ``smime.p7m`` (application/pkcs7-mime or multipart/signed,
    [MS-OXOSMIME] 2.1.3)."""
    klass = message.extended_properties.get(MESSAGE_CLASS_PROPERTY, "")
    if klass.lower().startswith(MESSAGE_CLASS_SMIME.lower()):
        return True
    if len(message.attachments) != 1:
        return False
    att = message.attachments[0]
    ctype = att.content_type.split(";")[0].strip().lower()
    if ctype == "multipart/signed":
        return True
    return smime_kind(ctype, {}, att.name) is not None or att.name.lower() == SMIME_ATTACHMENT


@dataclass(frozen=True)
class ReadableContent:
    """The decrypted (or signed) MIME entity as a mail shows it: its body and its attachments."""

    body: str
    body_type: str  # "html" | "text"
    attachments: tuple[Attachment, ...]


def _check_shape(root: email.message.Message) -> None:
    """LimitExceededError beyond :data:`MAX_MIME_PARTS` parts or :data:`MAX_MIME_DEPTH` levels, counted
    without recursion: the standard library's parser, ``walk`` and header parsing recurse once per level;
    a multipart nested 2,000 deep (the hostile corpus) ran out of stack there and the mail got no answer."""
    pending: list[tuple[email.message.Message, int]] = [(root, 1)]
    parts = 0
    while pending:
        part, depth = pending.pop()
        parts += 1
        if parts > MAX_MIME_PARTS:
            raise LimitExceededError(f"more than {MAX_MIME_PARTS} MIME parts", "parts")
        if depth > MAX_MIME_DEPTH:
            raise LimitExceededError(f"MIME nested more than {MAX_MIME_DEPTH} levels deep", "depth")
        if part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                pending.extend(
                    (child, depth + 1) for child in children if isinstance(child, email.message.Message)
                )


def readable_content(entity: bytes) -> ReadableContent:
    """Body (HTML preferred) and attachments of a MIME entity (RFC 2045/2046), at most
    :data:`MAX_MIME_PARTS` parts and :data:`MAX_MIME_DEPTH` levels (LimitExceededError beyond)."""
    try:
        parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(entity)
    except RecursionError as exc:  # the standard library's parser recurses once per MIME level
        raise LimitExceededError(f"MIME nested more than {MAX_MIME_DEPTH} levels deep", "depth") from exc
    _check_shape(parsed)
    body_part = parsed.get_body(preferencelist=("html", "plain"))
    body, body_type = "", "text"
    if body_part is not None:
        try:
            body = str(body_part.get_content())
        except (LookupError, ValueError):
            raw = body_part.get_payload(decode=True)
            body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
        body_type = "html" if body_part.get_content_subtype() == "html" else "text"
    attachments: list[Attachment] = []
    for part in parsed.iter_attachments():
        payload = part.get_payload(decode=True)
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            payload = first.as_bytes() if isinstance(first, email.message.Message) else b""
        data = payload if isinstance(payload, bytes) else b""
        cid = str(part.get("Content-ID", "")).strip().strip("<>") or None
        attachments.append(
            Attachment(
                name=part.get_filename() or "attachment",
                content_type=part.get_content_type(),
                content=data,
                size=len(data),
                is_inline=part.get_content_disposition() == "inline",
                content_id=cid,
            )
        )
    return ReadableContent(body, body_type, tuple(attachments))


_VERDICT_TEXT = {
    Verdict.VALID: Text.SMIME_VERDICT_VALID,
    Verdict.INVALID: Text.SMIME_VERDICT_INVALID,
    Verdict.UNTRUSTED: Text.SMIME_VERDICT_UNTRUSTED,
    Verdict.EXPIRED: Text.SMIME_VERDICT_EXPIRED,
    Verdict.REFUSED: Text.SMIME_VERDICT_REFUSED,
}


def verdict_text(verdict: Verdict, language: str = "da") -> str:
    """A signature's verdict in the catalogue's words."""
    return text(_VERDICT_TEXT[verdict], language)


def secure_overview(opened: OpenedMessage, language: str = "da") -> Banner:
    """What the delivered mail's overview says: encrypted to which certificate, signed by whom (organisation,
    CVR or UUID), and each signature's verdict. A warning unless every signature is valid."""
    lines: list[str] = []
    encrypted = [layer for layer in opened.layers if layer.kind == "encrypted"]
    for layer in encrypted:
        who = layer.recipient.describe(language) if layer.recipient else layer.recipient_fingerprint
        lines.append(text(Text.SMIME_ENCRYPTED_TO, language, certificate=f"{who} [{layer.algorithm}]"))
    if not encrypted:
        lines.append(text(Text.SMIME_NOT_ENCRYPTED, language))
    for check in opened.signatures:
        signer = (
            check.signer.describe(language) if check.signer else text(Text.SMIME_UNKNOWN_SIGNER, language)
        )
        verdict = text(_VERDICT_TEXT[check.verdict], language)
        lines.append(text(Text.SMIME_SIGNED_BY, language, signer=signer, verdict=verdict))
    if not opened.signed:
        lines.append(text(Text.SMIME_NOT_SIGNED, language))
    lines.append(text(Text.SMIME_ORIGINAL_ATTACHED, language))
    kind: BannerKind = "info" if opened.all_signatures_valid else "invalid"
    return Banner(kind, text(Text.SMIME_OVERVIEW_TITLE, language), tuple(lines))


_FAILURE_TEXT = {
    "no-key": (Text.SMIME_FAILED_NO_KEY, Text.SMIME_FAILED_WHAT_TO_DO_KEY),
    "unsupported": (Text.SMIME_FAILED_UNSUPPORTED, Text.SMIME_FAILED_WHAT_TO_DO_SENDER),
    "damaged": (Text.SMIME_FAILED_DAMAGED, Text.SMIME_FAILED_WHAT_TO_DO_SENDER),
    "signature": (Text.SMIME_FAILED_SIGNATURE, Text.SMIME_FAILED_WHAT_TO_DO_SENDER),
}


def secure_failure_banner(reason: str, detail: str, language: str = "da") -> Banner:
    """The banner of a secure mail that cannot be decrypted (``reason`` "no-key", "unsupported",
    "damaged") or whose signature fails ("signature"): why, what to do, and a support line with the code."""
    why, todo = _FAILURE_TEXT.get(reason, _FAILURE_TEXT["damaged"])
    code = f"smime:{reason}" + (f" ({detail})" if detail else "")
    lines = (text(why, language), text(todo, language), text(Text.SMIME_FAILED_SUPPORT, language, code=code))
    return Banner("invalid", text(Text.SMIME_FAILED_TITLE, language), lines)
