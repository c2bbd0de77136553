"""Secure mail to external recipients, the pure part: who a mail in Sent Items goes to, and the MIME sent.

A case worker writes to ``<name>=<domain>@sikkermail.<gateway-domain>`` (``domain.secure_addresses``); the
outbound service reads the mail's MIME, and :func:`readdress` turns it into the message the recipients get:
To/Cc carry the real addresses, Bcc and the old Message-ID are dropped, and a Message-ID of the gateway's
(deterministic per mail and recipient set) lets a repeated attempt find the copy Exchange kept in Sent
Items. The service then signs and encrypts it (``ports.secure_send``) and sends it with sendMail.

No I/O here: headers are rewritten on bytes, the body is not touched.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from graph_dpg.core.errors import AddressError, Finding
from graph_dpg.domain.addresses import is_gateway_domain
from graph_dpg.domain.mail import MailMessage
from graph_dpg.domain.secure_addresses import is_secure_mail_address, parse_secure_address, secure_domain
from graph_dpg.domain.texts import Text, text

#: The job channel of a secure-mail job (metrics label, and how the service tells it from Digital Post).
SECURE_CHANNEL = "sikkermail"
_NAMESPACE = uuid.UUID("2d3f8a51-7c0e-4f6b-9a1d-5e2b8c4f0a77")
_DROPPED = frozenset({"to", "cc", "bcc", "message-id", "resent-to", "resent-cc", "resent-bcc"})


@dataclass(frozen=True)
class SecureSendPlan:
    to: tuple[str, ...] = ()  # real addresses, in the order written
    cc: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.lower() for a in (*self.to, *self.cc)))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


def is_secure_send(msg: MailMessage, gateway_domain: str) -> bool:
    """Is the mail addressed to at least one secure-mail address (and so a secure-mail job)?"""
    return any(is_secure_mail_address(r.address, gateway_domain) for r in msg.all_recipients)


def plan_secure_send(msg: MailMessage, gateway_domain: str, language: str = "da") -> SecureSendPlan:
    """The real recipients of a secure mail, or the findings why it cannot be sent.

    Every recipient must be a secure-mail address: a mail that also goes to Digital Post or to an ordinary
    address is refused (each kind must be its own mail, so nothing goes where the case worker did not mean
    it to, and the ordinary copy Exchange already sent could not have been encrypted)."""
    to: list[str] = []
    cc: list[str] = []
    findings: list[Finding] = []
    for r in msg.bcc:
        # The MIME sent names every recipient, and the encrypted mail names every recipient's certificate:
        # a blind copy cannot stay blind.
        findings.append(Finding("securemail.bcc", text(Text.SECURE_SEND_BCC, language, address=r.address)))
    for recipients, into in ((msg.to, to), (msg.cc, cc)):
        for r in recipients:
            if not is_secure_mail_address(r.address, gateway_domain):
                key = "gateway" if is_gateway_domain(r.address, gateway_domain) else "other"
                findings.append(
                    Finding(
                        f"securemail.mixed.{key}",
                        text(Text.SECURE_SEND_MIXED, language, address=r.address),
                    )
                )
                continue
            try:
                parsed = parse_secure_address(r.address, gateway_domain)
            except AddressError as exc:
                findings.append(
                    Finding(
                        "securemail.address",
                        text(
                            Text.SECURE_SEND_BAD_ADDRESS,
                            language,
                            address=r.address,
                            reason=exc.reason,
                            domain=secure_domain(gateway_domain),
                        ),
                    )
                )
                continue
            into.append(parsed.target)
    return SecureSendPlan(tuple(dict.fromkeys(to)), tuple(dict.fromkeys(cc)), tuple(findings))


def recipient_set_digest(targets: Sequence[str]) -> str:
    """Names the set of real recipients (order and case do not matter): part of the send's effect key."""
    joined = "\n".join(sorted({t.lower() for t in targets}))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:32]


def secure_message_id(job_id: str, targets: Sequence[str], gateway_domain: str) -> str:
    """The Message-ID of the sent secure mail: the same for the same mail and recipient set."""
    value = uuid.uuid5(_NAMESPACE, f"{job_id}|{recipient_set_digest(targets)}")
    return f"<{value}@{secure_domain(gateway_domain)}>"


_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:")


def readdress(mime: bytes, to: Sequence[str], cc: Sequence[str], message_id: str) -> bytes:
    """``mime`` with To/Cc set to the real recipients, Bcc/Resent-*/Message-ID dropped and ``message_id``
    set; every other header field and the body byte for byte (CRLF line ends in the header)."""
    text_ = mime.replace(b"\r\n", b"\n")
    head, sep, body = text_.partition(b"\n\n")
    if not sep:
        head, body = text_, b""
    fields: list[list[bytes]] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        elif line:
            fields.append([line])
    kept: list[bytes] = []
    for field in fields:
        match = _FIELD_NAME.match(field[0])
        if match and match.group(1).decode("ascii").lower() in _DROPPED:
            continue
        kept.extend(field)
    added = [b"To: " + ", ".join(to).encode("ascii")] if to else []
    if cc:
        added.append(b"Cc: " + ", ".join(cc).encode("ascii"))
    added.append(b"Message-ID: " + message_id.encode("ascii"))
    return b"\r\n".join([*added, *kept]) + b"\r\n\r\n" + body.replace(b"\n", b"\r\n")
