"""MIME (RFC 5322) rendering and parsing for the Graph emulator.

``GET /users/{id}/messages/{id}/$value`` returns the message as MIME
(learn.microsoft.com/graph/outlook-get-mime-message); ``sendMail`` with ``Content-Type: text/plain`` takes
base64 MIME (learn.microsoft.com/graph/outlook-send-mime-message).
Both are built with the standard library's ``email`` package so the output parses with any RFC 5322 reader.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses
from typing import Any


def html_to_text(content: str) -> str:
    text = re.sub(r"(?is)<(script|style).*?</\1>", "", content)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[ \t]+", " ", html.unescape(text)).strip()


def _address(recipient: Mapping[str, Any] | None) -> Address | None:
    if not recipient:
        return None
    email = recipient.get("emailAddress") or {}
    addr = str(email.get("address") or "")
    if "@" not in addr:
        return Address(
            display_name=str(email.get("name") or ""), username=addr or "unknown", domain="invalid"
        )
    user, _, domain = addr.rpartition("@")
    return Address(display_name=str(email.get("name") or ""), username=user, domain=domain)


def _addresses(recipients: list[Mapping[str, Any]] | None) -> list[Address]:
    return [a for a in (_address(r) for r in recipients or []) if a is not None]


def build_mime(view: Mapping[str, Any], attachments: list[tuple[str, str, bytes, bool, str | None]]) -> bytes:
    """Render a message (its full Graph JSON view) and its file attachments as RFC 5322 bytes."""
    msg = EmailMessage(policy=policy.SMTP)
    sender = _address(view.get("from") or view.get("sender"))
    if sender is not None:
        msg["From"] = sender
    if (real_sender := _address(view.get("sender"))) is not None and real_sender != sender:
        msg["Sender"] = real_sender
    for header, key in (("To", "toRecipients"), ("Cc", "ccRecipients"), ("Reply-To", "replyTo")):
        addrs = _addresses(view.get(key))
        if addrs:
            msg[header] = addrs
    msg["Subject"] = str(view.get("subject") or "")
    when = view.get("sentDateTime") or view.get("createdDateTime")
    if when:
        msg["Date"] = format_datetime(datetime.fromisoformat(str(when).replace("Z", "+00:00")))
    if view.get("internetMessageId"):
        msg["Message-ID"] = str(view["internetMessageId"])
    for header in view.get("internetMessageHeaders") or []:
        name = str(header.get("name", ""))
        if name and name.lower() not in {"from", "to", "cc", "subject", "date", "message-id", "mime-version"}:
            msg[name] = str(header.get("value", ""))
    body = view.get("body") or {}
    content = str(body.get("content") or "")
    if str(body.get("contentType", "html")).lower() == "html":
        msg.set_content(html_to_text(content), subtype="plain", charset="utf-8")
        msg.add_alternative(content, subtype="html", charset="utf-8")
    else:
        msg.set_content(content, subtype="plain", charset="utf-8")
    for name, content_type, data, is_inline, content_id in attachments:
        maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
        msg.add_attachment(
            data,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=name,
            disposition="inline" if is_inline else "attachment",
            cid=f"<{content_id}>" if content_id else None,
        )
    return msg.as_bytes()


def _recipients(value: str | None) -> list[dict[str, Any]]:
    return (
        [{"emailAddress": {"name": n, "address": a}} for n, a in getaddresses([value]) if a] if value else []
    )


#: Deepest MIME nesting the emulator reads. Inference: Microsoft publishes no nesting limit for MIME sent or
#: received through Exchange Online; real mail nests a few levels (a clear-signed forward of a signed mail is
#: 4-5), so 100 is generous, and a deeper message gets the 400 Exchange gives MIME it cannot convert.
MAX_MIME_DEPTH = 100


class MimeTooDeep(ValueError):
    """The MIME nests deeper than :data:`MAX_MIME_DEPTH` (or than the stdlib parser can follow)."""


def parse_bounded(raw: bytes) -> EmailMessage:
    """Parse MIME with the nesting bounded: the standard library's parser recurses once per multipart level
    (a clear-signed mail nested 2,000 deep raised RecursionError out of the emulator); the depth is
    measured without recursion afterwards."""
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except RecursionError:
        raise MimeTooDeep("the MIME message nests too deeply to be read") from None
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_MIME_DEPTH:
            raise MimeTooDeep(f"the MIME message nests more than {MAX_MIME_DEPTH} levels deep")
        children = part.get_payload() if part.is_multipart() else None
        if isinstance(children, list):
            stack.extend((child, depth + 1) for child in children if isinstance(child, Message))
    assert isinstance(msg, EmailMessage)
    return msg


def parse_mime_base64(payload: bytes) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
    """Turn base64 MIME (as posted to sendMail) into Graph message JSON and its attachments.

    Raises ``ValueError`` for bodies that are not base64, as Graph answers with
    ``ErrorMimeContentInvalidBase64String`` (learn.microsoft.com/graph/outlook-send-mime-message, "Errors").
    """
    raw = base64.b64decode(b"".join(payload.split()), validate=True)
    msg = parse_bounded(raw)
    body_part = msg.get_body(preferencelist=("html", "plain"))
    body: dict[str, Any] = {"contentType": "text", "content": ""}
    if body_part is not None:
        body = {
            "contentType": "html" if body_part.get_content_subtype() == "html" else "text",
            "content": body_part.get_content(),
        }
    attachments: list[tuple[str, str, bytes]] = []
    for part in msg.iter_attachments():
        payload_bytes = part.get_payload(decode=True)
        data = payload_bytes if isinstance(payload_bytes, bytes) else b""
        attachments.append((part.get_filename() or "attachment", part.get_content_type(), data))
    message: dict[str, Any] = {
        "subject": str(msg.get("Subject", "")),
        "body": body,
        "toRecipients": _recipients(msg.get("To")),
        "ccRecipients": _recipients(msg.get("Cc")),
        "bccRecipients": _recipients(msg.get("Bcc")),
        "internetMessageHeaders": [
            {"name": k, "value": str(v)} for k, v in msg.items() if k.lower().startswith("x-")
        ],
    }
    if msg.get("From"):
        sender = _recipients(msg.get("From"))
        if sender:
            message["from"] = sender[0]
    if msg.get("Message-ID"):
        message["internetMessageId"] = str(msg["Message-ID"]).strip()
    return message, attachments
