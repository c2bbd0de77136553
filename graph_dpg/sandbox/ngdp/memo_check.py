"""What the NgDP emulator needs to know about a posted MeMo, read safely, plus the call into the MeMo
library for XSD + business-rule validation.

The summary is read with a hardened lxml parser (no DTD, no entity expansion, no network) so the emulator
can route and check a message even when it is too broken for the full MeMo model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from lxml import etree

from graph_dpg.core.errors import Finding, GraphDpgError
from graph_dpg.memo import validate

NS = "https://DigitalPost.dk/MeMo-1"
_M = f"{{{NS}}}"


class MemoSummaryError(ValueError):
    """The body is not a MeMo message the emulator can read at all."""


@dataclass(frozen=True)
class FileSummary:
    document: str  # MainDocument | AdditionalDocument | TechnicalDocument
    filename: str
    encoding_format: str
    size: int  # decoded bytes


@dataclass(frozen=True)
class MemoSummary:
    message_uuid: str
    message_type: str
    memo_version: str
    label: str
    message_id: str | None
    sender_id: str
    sender_id_type: str
    sender_contact_point: str | None
    recipient_id: str
    recipient_id_type: str
    recipient_contact_point: str | None
    mandatory: bool
    legal_notification: bool
    reply: bool
    additional_documents: int
    files: tuple[FileSummary, ...] = field(default_factory=tuple)
    size: int = 0  # the XML document in bytes


_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers are not thread-safe but are costly to build: one per thread.
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=True,  # 99.5 MB messages carry long base64 text nodes
            remove_blank_text=False,
        )
        _local.parser = parser
    return parser


def _text(parent: etree._Element | None, path: str) -> str | None:
    if parent is None:
        return None
    node = parent.find(path)
    if node is None or node.text is None:
        return None
    text: str = node.text
    return text.strip()


def _bool(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1")


def _decoded_size(text: str | None) -> int:
    """Size of the base64 payload without decoding it (whether it *is* base64 is the XSD's business)."""
    if not text:
        return 0
    length = len(text) - sum(text.count(ws) for ws in (" ", "\t", "\r", "\n"))
    padding = len(text.rstrip()) - len(text.rstrip().rstrip("="))
    return max(0, length * 3 // 4 - padding)


def summarize(xml: bytes) -> MemoSummary:
    try:
        root = etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as exc:
        raise MemoSummaryError(f"not well-formed XML: {exc}") from exc
    tree = root.getroottree()
    if tree.docinfo.doctype:
        raise MemoSummaryError("DTDs are not allowed in MeMo messages")
    if root.tag != f"{_M}Message":
        raise MemoSummaryError("the root element is not memo:Message")
    header = root.find(f"{_M}MessageHeader")
    if header is None:
        raise MemoSummaryError("memo:MessageHeader is missing")
    sender = header.find(f"{_M}Sender")
    recipient = header.find(f"{_M}Recipient")
    files: list[FileSummary] = []
    body = root.find(f"{_M}MessageBody")
    additional = 0
    if body is not None:
        for doc in body:
            kind = etree.QName(doc).localname
            if kind not in ("MainDocument", "AdditionalDocument", "TechnicalDocument"):
                continue
            if kind == "AdditionalDocument":
                additional += 1
            for file_el in doc.findall(f"{_M}File"):
                files.append(
                    FileSummary(
                        document=kind,
                        filename=_text(file_el, f"{_M}filename") or "",
                        encoding_format=_text(file_el, f"{_M}encodingFormat") or "",
                        size=_decoded_size(file_el.findtext(f"{_M}content")),
                    )
                )
    return MemoSummary(
        message_uuid=(_text(header, f"{_M}messageUUID") or "").lower(),
        message_type=_text(header, f"{_M}messageType") or "",
        memo_version=str(root.get("memoVersion") or ""),
        label=_text(header, f"{_M}label") or "",
        message_id=_text(header, f"{_M}messageID"),
        sender_id=_text(sender, f"{_M}senderID") or "",
        sender_id_type=(_text(sender, f"{_M}idType") or "").upper(),
        sender_contact_point=_text(sender, f"{_M}ContactPoint/{_M}contactPointID"),
        recipient_id=_text(recipient, f"{_M}recipientID") or "",
        recipient_id_type=(_text(recipient, f"{_M}idType") or "").upper(),
        recipient_contact_point=_text(recipient, f"{_M}ContactPoint/{_M}contactPointID"),
        mandatory=_bool(_text(header, f"{_M}mandatory")),
        legal_notification=_bool(_text(header, f"{_M}legalNotification")),
        reply=_bool(_text(header, f"{_M}reply")),
        additional_documents=additional,
        files=tuple(files),
        size=len(xml),
    )


def validate_memo(xml: bytes, *, mandatory_allowed: bool, legal_notification_allowed: bool) -> list[Finding]:
    """XSD + MeMo business rules, by the project's MeMo library (``graph_dpg.memo``)."""
    try:
        findings = validate(
            xml, mandatory_allowed=mandatory_allowed, legal_notification_allowed=legal_notification_allowed
        )
    except GraphDpgError as exc:
        # Unsafe or unparsable XML surfaces as an exception from the library; NgDP answers 400 either way.
        return [Finding(rule=type(exc).__name__, message=str(exc), path="/")]
    return [f for f in findings if f.severity == "error"]
