"""How Exchange stores an S/MIME message that arrives as MIME, for the Graph emulator.

Its own small MIME handling with the standard library's ``email`` package (the emulator never uses the
gateway's S/MIME code). Sources, as the emulator follows them:

- [MS-OXOSMIME] 2.1.3.1 (opaque-signed and encrypted): the Message object has PidTagMessageClass
  ``IPM.Note.SMIME``, no body, and exactly one attachment whose content is the application/pkcs7-mime
  body (the CMS object), named ``smime.p7m``, with PidTagAttachMimeTag ``application/pkcs7-mime``.
- [MS-OXOSMIME] 2.1.3.2 (clear-signed): PidTagMessageClass ``IPM.Note.SMIME.MultipartSigned``, the body
  promoted from the first (signed) part, and exactly one attachment ``smime.p7m`` holding the whole
  multipart/signed MIME entity (its Content-Type header and body), PidTagAttachMimeTag
  ``multipart/signed``.
- microsoft-graph-docs issue 4585 ("S/MIME messages"): Graph shows these as stored: the message class via
  the extended property ``String 0x001A``, the single ``smime.p7m`` attachment, ``$value`` the MIME.
- concepts/outlook-send-mime-message.md (microsoftgraph/microsoft-graph-docs-contrib): S/MIME can only be
  sent as MIME; ``$value`` returns the MIME of the message (concepts/outlook-get-mime-message.md).
"""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser

#: PidTagMessageClass ([MS-OXCMSG] 2.2.1.3) as Graph names it in singleValueExtendedProperties.
MESSAGE_CLASS_TAG = "String 0x001A"
SMIME = "IPM.Note.SMIME"  # [MS-OXOSMIME] 2.1.3.1
SMIME_MULTIPART_SIGNED = "IPM.Note.SMIME.MultipartSigned"  # [MS-OXOSMIME] 2.1.3.2
ATTACHMENT_NAME = "smime.p7m"  # [MS-OXOSMIME] 2.1.3.1.1 / 2.1.3.2.1

_PKCS7_MIME = ("application/pkcs7-mime", "application/x-pkcs7-mime")
_PKCS7_SIGNATURE = ("application/pkcs7-signature", "application/x-pkcs7-signature")


@dataclass(frozen=True)
class StoredSmime:
    """What the store keeps of an S/MIME message besides its envelope headers."""

    message_class: str
    body: dict[str, str]
    attachment: tuple[str, str, bytes]  # name, content type, data


def _head_and_body(raw: bytes) -> tuple[bytes, bytes]:
    match = re.search(rb"\r?\n\r?\n", raw)
    if match is None:
        return raw, b""
    return raw[: match.start()], raw[match.end() :]


def _entity_bytes(raw: bytes) -> bytes:
    """The MIME entity of the whole message: its Content-* header fields and its body, as sent."""
    head, body = _head_and_body(raw)
    lines: list[bytes] = []
    keep = False
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t"):
            if keep:
                lines.append(line)
            continue
        keep = line.lower().startswith(b"content-")
        if keep:
            lines.append(line)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _promoted_body(part: Message) -> dict[str, str]:
    """The first part's text as the body ([MS-OXOSMIME] 2.1.3.2: the body comes from the signed content);
    HTML preferred over plain text as Exchange shows a multipart/alternative."""
    chosen: Message | None = None
    for sub in part.walk():
        if sub.is_multipart() or sub.get_content_disposition() == "attachment":
            continue
        if sub.get_content_type() == "text/html":
            chosen = sub
            break
        if sub.get_content_type() == "text/plain" and chosen is None:
            chosen = sub
    if chosen is None:
        return {"contentType": "text", "content": ""}
    payload = chosen.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    text = data.decode(chosen.get_content_charset() or "utf-8", "replace")
    return {"contentType": "html" if chosen.get_content_type() == "text/html" else "text", "content": text}


def stored_form(raw: bytes) -> StoredSmime | None:
    """The S/MIME form of a message delivered from MIME; None when it is not S/MIME (then it is stored as
    any message)."""
    msg = BytesParser(policy=email.policy.compat32).parsebytes(raw)
    ctype = msg.get_content_type()
    if ctype in _PKCS7_MIME:
        # 2.1.3.1: encrypted or opaque-signed, whatever the smime-type; no body; the CMS object attached.
        payload = msg.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        return StoredSmime(
            SMIME, {"contentType": "text", "content": ""}, (ATTACHMENT_NAME, "application/pkcs7-mime", data)
        )
    if ctype == "multipart/signed" and str(msg.get_param("protocol", "")).lower() in _PKCS7_SIGNATURE:
        parts = msg.get_payload()
        first = parts[0] if isinstance(parts, list) and parts else None
        body = _promoted_body(first) if isinstance(first, Message) else {"contentType": "text", "content": ""}
        # 2.1.3.2: one attachment holding the whole multipart/signed entity, byte for byte.
        return StoredSmime(
            SMIME_MULTIPART_SIGNED, body, (ATTACHMENT_NAME, "multipart/signed", _entity_bytes(raw))
        )
    return None
