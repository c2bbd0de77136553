"""Digital Post forwarded by NgDP's SMTP recipient system (seed 000, "Videresend til egen e-mail"): what is
inside the decrypted S/MIME mail.

NgDP delivers to a recipient system with ``serviceProtocol`` SMTP as S/MIME e-mail encrypted to the
system's OCES3 certificate (OpenAPI ``MailSystem.serviceProtocol``; Digitaliseringsstyrelsen's guide
"Videresend til egen e-mail", /work/shared/seeds/000). No public source shows the MIME structure or the
headers of such a mail. The choices below are **inference**; docs/facts/ngdp.md ("Receiving by SMTP")
repeats them with the reasoning, and the NgDP emulator (``graph_dpg.sandbox.ngdp.forwarder``) produces
every variant:

- ``memo-part``: the MeMo XML is an inline body part (``application/xml`` or ``text/xml``) of a
  ``multipart/mixed`` next to a short text;
- ``memo-attachment``: the MeMo XML is an attachment (``Content-Disposition: attachment``, a ``.xml``
  file name, any content type, e.g. ``application/octet-stream``);
- ``memo-bare``: the decrypted entity *is* the MeMo XML (``application/xml``);
- ``dp2``: the older (DP2, e-Boks era) forwarding carried its own metadata XML plus the documents as
  attachments: the metadata becomes a MeMo here (sender, title, the documents as MainDocument and
  AdditionalDocuments), so the mail is delivered like any memo. The element names are not published;
  the reader accepts the plausible ones (:data:`_DP2_FIELDS`) in any namespace;
- ``large``: a letter bigger than forwarding takes (10 MB) is not forwarded; a notice that it waits in
  Digital Post comes instead. It is recognised by its words (:data:`_LARGE_NOTICE`), in Danish or English.
- ``unreadable``: the mail carries an XML part that should be the Digital Post but cannot be taken as
  such: not well-formed or unsafe XML (a DOCTYPE, entities), larger than :data:`MAX_XML_BYTES`, nested
  too deeply for the XML parser, a MeMo without a valid ``messageUUID``, or DP2 metadata without an id
  or without documents. ``reason`` says which (a support code); the mail is shown with a banner, never
  routed as ordinary mail and never lost.

Whatever is found is told by the root element, never by the file name alone: a part is a memo when its
root element is MeMo's ``Message`` (namespace :data:`MEMO_NS`). Everything else is ``none``: readable
secure mail, routed by the rules like any other. Pure: no I/O.
"""

from __future__ import annotations

import base64
import email.message
import email.parser
import email.policy
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from xml.sax.saxutils import escape

from graph_dpg.core.errors import InputError, LimitExceededError
from graph_dpg.domain.inbound_view import Banner
from graph_dpg.domain.smime import MAX_MIME_DEPTH, _check_shape
from graph_dpg.domain.texts import Text, text
from graph_dpg.memo.xmlsafe import parse_untrusted

MEMO_NS = "https://DigitalPost.dk/MeMo-1"
#: uuid5 namespace for a DP2 message id that is not a UUID itself (fixed, so a resent mail maps to the
#: same memo and is stored once).
DP2_NAMESPACE = uuid.UUID("7b1c5a52-3c44-4b8e-9a63-0b6c1f0d2e41")

ForwardedKind = Literal["memo", "large", "unreadable", "none"]
#: The largest XML part read as Digital Post: the push endpoint's bound on one MeMo
#: (``adapters.digital_post.push.MAX_MEMO_BYTES``; NgDP's own ceiling is 99.5 MB per message).
MAX_XML_BYTES = 150 * 1024 * 1024
#: At most this many characters of a DP2 metadata value are read (an id or a title is far shorter).
MAX_DP2_VALUE = 1000

#: The words of the "too large to forward" notice (inference: the notice's text is not published; the
#: guide says forwarding is limited, the 10 MB bound comes from the brief of issue 16).
_LARGE_NOTICE = re.compile(
    r"(for\s+stor|over\s+10\s*MB|st(\u00f8|oe)rre\s+end\s+10\s*MB|too\s+large|larger\s+than\s+10\s*MB)"
    r".{0,400}?(videresend|forward)"
    r"|(videresend|forward).{0,400}?(for\s+stor|10\s*MB|too\s+large)",
    re.IGNORECASE | re.DOTALL,
)

#: DP2 metadata: local element names (any namespace) read for each MeMo field (inference).
_DP2_FIELDS: dict[str, tuple[str, ...]] = {
    "id": ("MessageUUID", "MessageId", "MessageID", "DocumentId", "MeddelelseId", "ForsendelseId"),
    "title": ("Title", "Subject", "Label", "Titel", "Emne", "DokumentTitel"),
    "sender_name": ("SenderName", "AfsenderNavn", "Sender", "Afsender"),
    "sender_cvr": ("SenderCVR", "AfsenderCVR", "CVR", "SenderId", "AfsenderId"),
    "recipient": ("RecipientId", "ModtagerId", "RecipientCVR", "ModtagerCVR"),
}
_DP2_ROOTS = ("DigitalPostMeddelelse", "Meddelelse", "MessageMetadata", "Metadata", "Forsendelse", "Message")


@dataclass(frozen=True)
class ForwardedPost:
    """What a decrypted forwarded mail carries: ``memo`` (``xml``, its ``memo_uuid``, the ``shape``
    found), ``large`` (the notice that a letter waits in Digital Post), ``unreadable`` (``reason``: why
    the Digital Post in it cannot be read), or ``none``."""

    kind: ForwardedKind
    xml: bytes = b""
    memo_uuid: str = ""
    shape: str = ""
    reason: str = ""


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _root(data: bytes) -> Any | None:
    """The root element of ``data`` when it is well-formed, safe XML; else None."""
    if data.lstrip()[:1] != b"<" and not data.startswith(b"\xef\xbb\xbf"):
        return None
    try:
        return parse_untrusted(data)
    except (InputError, ValueError):
        return None
    except Exception:  # lxml's own syntax errors: not XML, so not a payload
        return None


def _memo_uuid(root: Any) -> str | None:
    for el in root.iter(f"{{{MEMO_NS}}}messageUUID"):
        text = (el.text or "").strip()
        try:
            return str(uuid.UUID(text))
        except ValueError:
            return None
    return None


def _payload(part: email.message.Message) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _leaves(root: email.message.Message) -> list[email.message.Message]:
    """Leaf parts in document order, without recursion (the shape was bounded by ``_check_shape``)."""
    out: list[email.message.Message] = []
    pending = [root]
    while pending:
        part = pending.pop(0)
        if part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                pending[0:0] = [c for c in children if isinstance(c, email.message.Message)]
        else:
            out.append(part)
    return out


def _text_of(part: email.message.Message) -> str:
    data = _payload(part)
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def find_forwarded_post(content: bytes, max_xml_bytes: int = MAX_XML_BYTES) -> ForwardedPost:
    """Find the Digital Post in a decrypted forwarded mail (the MIME entity inside every S/MIME layer).
    LimitExceededError beyond the bounds of ``domain.smime`` (parts, depth); an XML part larger than
    ``max_xml_bytes`` is not parsed (``unreadable``, reason ``size``)."""
    try:
        parsed = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(content)
    except RecursionError as exc:
        raise LimitExceededError(f"MIME nested more than {MAX_MIME_DEPTH} levels deep", "depth") from exc
    _check_shape(parsed)
    leaves = _leaves(parsed)
    xml_parts: list[tuple[email.message.Message, Any, bytes]] = []
    damaged = ""  # why an XML part could not be read (the first reason found)
    for part in leaves:
        ctype = part.get_content_type()
        name = (part.get_filename() or "").lower()
        if ctype in ("application/xml", "text/xml") or name.endswith(".xml"):
            data = _payload(part)
            if len(data) > max_xml_bytes:
                damaged = damaged or "size"
                continue
            root = _root(data)
            if root is not None:
                xml_parts.append((part, root, data))
            else:
                damaged = damaged or "xml"
    for part, root, data in xml_parts:
        if root.tag == f"{{{MEMO_NS}}}Message":
            found = _memo_uuid(root)
            if found is None:
                damaged = damaged or "memo-uuid"
                continue
            if part is parsed:
                shape = "memo-bare"
            elif part.get_content_disposition() == "attachment":
                shape = "memo-attachment"
            else:
                shape = "memo-part"
            return ForwardedPost("memo", data, found, shape)
    for part, root, _data in xml_parts:
        if _local(root.tag) in _DP2_ROOTS:
            memo = _dp2_memo(root, [p for p in leaves if p is not part and p.get_filename()])
            if memo is not None:
                return ForwardedPost("memo", memo[1], memo[0], "dp2")
            damaged = damaged or "dp2"
    if damaged:
        return ForwardedPost("unreadable", reason=damaged)
    texts = " ".join(_text_of(p) for p in leaves if p.get_content_maintype() == "text")
    subject = str(parsed.get("Subject", ""))
    if _LARGE_NOTICE.search(subject + " " + texts[:20_000]):
        return ForwardedPost("large")
    return ForwardedPost("none")


def _dp2_value(root: Any, field: str, limit: int | None = MAX_DP2_VALUE) -> str:
    """The first non-empty value of ``field``, cut at ``limit`` characters (the id whole: it is hashed)."""
    names = _DP2_FIELDS[field]
    for el in root.iter():
        if _local(el.tag) in names and el.text and el.text.strip():
            return str(el.text).strip()[:limit]
    return ""


def _dp2_memo(root: Any, documents: list[email.message.Message]) -> tuple[str, bytes] | None:
    """A MeMo 1.2 made from DP2 metadata and its documents, or None when there is no document or no id."""
    ident = _dp2_value(root, "id", limit=None)
    if not ident or not documents:
        return None
    try:
        given: uuid.UUID | None = uuid.UUID(ident)
    except ValueError:
        given = None
    if given is not None and given.version == 4:
        memo_uuid = str(given)
    else:  # MeMo wants a version-4 UUID: a stable one made from the DP2 id (so a resent mail is stored once)
        memo_uuid = str(uuid.UUID(bytes=uuid.uuid5(DP2_NAMESPACE, ident).bytes, version=4))
    title = _dp2_value(root, "title") or "Digital Post"
    sender_name = _dp2_value(root, "sender_name") or "Digital Post"
    number = re.sub(r"\D", "", _dp2_value(root, "sender_cvr"))
    sender_id, sender_type = (number, "CPR") if len(number) == 10 else (number, "CVR")
    if len(number) not in (8, 10):
        sender_id = "00000000"  # no sender id in the metadata: the letter is shown, a reply has no address
    recipient = re.sub(r"\D", "", _dp2_value(root, "recipient"))
    recipient_id = recipient if len(recipient) == 8 else "00000000"
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def file(part: email.message.Message) -> str:
        fmt = part.get_content_type()  # encodingFormat is the MIME type, as in MeMo's minimum example
        name = part.get_filename() or "dokument"
        content = base64.b64encode(_payload(part)).decode()
        return (
            f"<memo:File><memo:encodingFormat>{escape(fmt)}</memo:encodingFormat>"
            f"<memo:filename>{escape(name)}</memo:filename><memo:language>da</memo:language>"
            f"<memo:content>{content}</memo:content></memo:File>"
        )

    main, *rest = documents
    extra = "".join(
        f"<memo:AdditionalDocument><memo:label>{escape(p.get_filename() or 'Bilag')}</memo:label>"
        f"{file(p)}</memo:AdditionalDocument>"
        for p in rest
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<memo:Message xmlns:memo="{MEMO_NS}" memoVersion="1.2">'
        "<memo:MessageHeader><memo:messageType>DIGITALPOST</memo:messageType>"
        f"<memo:messageUUID>{memo_uuid}</memo:messageUUID>"
        f"<memo:label>{escape(title)}</memo:label>"
        f"<memo:Sender><memo:senderID>{sender_id}</memo:senderID><memo:idType>{sender_type}</memo:idType>"
        f"<memo:label>{escape(sender_name)}</memo:label></memo:Sender>"
        f"<memo:Recipient><memo:recipientID>{recipient_id}</memo:recipientID>"
        "<memo:idType>CVR</memo:idType></memo:Recipient>"
        "</memo:MessageHeader>"
        f"<memo:MessageBody><memo:createdDateTime>{created}</memo:createdDateTime>"
        f"<memo:MainDocument>{file(main)}</memo:MainDocument>"
        f"{extra}</memo:MessageBody></memo:Message>"
    )
    return memo_uuid, xml.encode("utf-8")


def large_notice_banner(language: str = "da") -> Banner:
    """The banner on the notice that a letter too large to forward waits in Digital Post: what happened,
    what to do, and the support code."""
    lines = (
        text(Text.FORWARDED_LARGE_TEXT, language),
        text(Text.FORWARDED_LARGE_WHAT_TO_DO, language),
        text(Text.SMIME_FAILED_SUPPORT, language, code="ngdp-smtp:too-large"),
    )
    return Banner("unmapped", text(Text.FORWARDED_LARGE_TITLE, language), lines)


def unreadable_banner(reason: str, language: str = "da") -> Banner:
    """The banner on a forwarded mail whose Digital Post cannot be read (``reason``: see
    :class:`ForwardedPost`): what happened, what to do, and the support code."""
    lines = (
        text(Text.FORWARDED_UNREADABLE_TEXT, language),
        text(Text.FORWARDED_UNREADABLE_WHAT_TO_DO, language),
        text(Text.SMIME_FAILED_SUPPORT, language, code=f"ngdp-smtp:unreadable:{reason}"),
    )
    return Banner("unmapped", text(Text.FORWARDED_UNREADABLE_TITLE, language), lines)
