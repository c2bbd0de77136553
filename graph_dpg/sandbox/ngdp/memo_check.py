"""What the NgDP emulator needs to know about a posted MeMo, read safely, and its own MeMo validation.

The summary is read with a hardened lxml parser (no DTD, no entity expansion, no network) so the emulator
can route and check a message even when it is too broken for full validation.

Validation (:func:`validate_memo`) is the emulator's own, independent of the gateway's MeMo library
(``graph_dpg.memo``): an error in the gateway's codec or validator must be caught here, not repeated.

* XSD: the pure-Python ``xmlschema`` package (XSD 1.0, maintained by SISSA, no lxml/libxml2 underneath)
  against the official MeMo schema files. Those files are read as *data* from the package directory
  ``graph_dpg/memo/xsd`` (by file path under the installed ``graph_dpg`` package, so no gateway module is
  imported); they are byte-for-byte copies of Digitaliseringsstyrelsen's published XSDs (its PROVENANCE.md,
  checked by tests/unit/memo against shared/memo/xsd), never edited by the gateway.
* The document is bounded before parsing (``MAX_VALIDATED_BYTES``), refused with any DOCTYPE, and read by
  ``xmlschema.XMLResource`` with ``defuse="always"`` (its SafeXMLParser: entity declarations refused) and
  ``allow="none"`` (no file or URL is ever opened while validating a document).
* Business rules, written here from their sources (not from the gateway's rules module):
  - ``uuid.v4``: ``messageUUID`` is a canonical RFC 4122 version-4 UUID (NgDP's OpenAPI types
    ``memo-message-uuid`` as a UUID; version 4: inference, what every reference sender generates);
  - ``id.type``/``id.cpr``/``id.cvr``: sender, recipient and representative ``idType`` is CPR or CVR with
    10 resp. 8 digits, also ``grd:cprNumber``/``grd:cvrNumber`` in ContentData (DIGI MeMo 1.1 change list;
    docs/facts/identifiers.md);
  - ``body.required``: a DIGITALPOST message has a MessageBody (its MainDocument is the letter; MeMo
    specification); ``notification.required``: a NEMSMS message carries the SMS text in ``notification``;
  - ``notification.length``: at most 150 characters (NemSMS documentation; the 1.1 XSD says 160, see
    docs/facts/memo.md "Notification length": inference which one NgDP enforces);
  - ``filename.forbidden-characters`` and ``entrypoint.https``: digitaliser.dk "Øget validering af filnavne
    og URI i Actions" (docs/facts/ngdp.md, "File names", "Action URLs");
  - ``mandatory.not-allowed``/``legal-notification.not-allowed``: the organisation's permissions
    (NgDP OpenAPI ``Organisation.mandatoryPostAllowed``/``legalNotificationAllowed``).

xmlschema is ~two orders of magnitude slower than libxml2 (``bench/memo_validator_bench.py``): it stays on in
tests and the sandbox; ``NgdpState(validate_memos=False)`` switches it off for throughput benchmarks, which
say so in their output.
"""

from __future__ import annotations

import io
import re
import threading
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import xmlschema
from lxml import etree

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


@dataclass(frozen=True)
class Problem:
    """One reason the emulator refuses a MeMo; becomes a ``fieldErrors`` entry (field = path, code = rule)."""

    rule: str
    message: str
    path: str = "/"


#: NgDP's ceiling is 99.5 MB per message (docs/facts/ngdp.md, "Sizes and attachment counts"); nothing
#: larger is parsed at all.
MAX_VALIDATED_BYTES = 100 * 1024 * 1024
_VERSIONS = {"1.1": "MeMo_core.xsd", "1.2": "Version1.2/MeMo_core.xsd"}
_XS_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_XML_WS = " \t\r\n"
#: digitaliser.dk, "Øget validering af filnavne og URI i Actions" (docs/facts/ngdp.md, "File names").
_FILENAME_FORBIDDEN = re.compile(
    "[" + re.escape('<>:"/\\|?*\r\n') + "\u00a0\u2000-\u200a\u2028\u205f\u2060\u3000" + "]"
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}")
_ID_DIGITS = {"CPR": re.compile(r"[0-9]{10}"), "CVR": re.compile(r"[0-9]{8}")}
NOTIFICATION_MAX = 150
_GRD = "{https://data.gov.dk/model/core/}"


def _xsd_dir() -> Path:
    """The official MeMo XSDs shipped in the package, located as data (``graph_dpg.memo`` is not imported)."""
    return Path(str(resources.files("graph_dpg").joinpath("memo", "xsd")))


_schema_lock = threading.Lock()


@cache
def _schema_unlocked(version: str) -> xmlschema.XMLSchema10:
    # allow="local": the 1.2 core imports its satellites from "../" (the 1.1 folder); no URL is ever fetched.
    return xmlschema.XMLSchema10(str(_xsd_dir() / _VERSIONS[version]), allow="local", defuse="always")


def schema(version: str) -> xmlschema.XMLSchema10:
    """The compiled schema of MeMo ``version`` ("1.1" or "1.2"), built once per process."""
    with _schema_lock:
        return _schema_unlocked(version)


def _localname(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _path(xs_path: str | None) -> str:
    if not xs_path:
        return "/"
    return re.sub(r"(?<=/)[^/:\[\]]+:", "", xs_path)


def validate_memo(xml: bytes, *, mandatory_allowed: bool, legal_notification_allowed: bool) -> list[Problem]:
    """Every reason NgDP would refuse ``xml`` (XSD first, then business rules); empty when it is valid."""
    if len(xml) > MAX_VALIDATED_BYTES:
        return [Problem("size", f"the MeMo is larger than {MAX_VALIDATED_BYTES} bytes")]
    # A DOCTYPE (and with it any entity trick) is refused before xmlschema sees the bytes: MeMo has no DTD.
    try:
        probe = etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as exc:
        return [Problem("xml.well-formed", f"not well-formed XML: {exc}")]
    if probe.getroottree().docinfo.doctype:
        return [Problem("xml.unsafe", "DTDs are not allowed in MeMo messages")]
    try:
        resource = xmlschema.XMLResource(io.BytesIO(xml), allow="none", defuse="always")
    except (xmlschema.XMLResourceError, SyntaxError, ValueError) as exc:  # ParseError is a SyntaxError
        return [Problem("xml.unsafe", f"refused by the safe XML reader: {exc}")]
    root = resource.root
    if root.tag != f"{_M}Message":
        return [Problem("memo.message", f"the root element is {root.tag!r}, not memo:Message")]
    raw = root.get("memoVersion")
    version = (raw or "").strip(_XML_WS)
    if raw is None or not _XS_DECIMAL.fullmatch(version):
        return [Problem("memo.message", f"memoVersion {raw!r} is not a decimal")]
    version = _normalise_version(version)
    if version not in _VERSIONS:
        return [Problem("memo.message", f"memoVersion {raw!r} is not 1.1 or 1.2")]
    problems = [
        Problem("xsd", error.reason or str(error), _path(error.path))
        for error in schema(version).iter_errors(resource)
    ]
    problems += _rules(root, mandatory_allowed=mandatory_allowed, legal_allowed=legal_notification_allowed)
    return problems


def _normalise_version(text: str) -> str:
    sign = text[0] if text[0] in "+-" else ""
    digits = text[len(sign) :]
    whole, _, fraction = digits.partition(".")
    whole, fraction = whole.lstrip("0") or "0", fraction.rstrip("0")
    return f"{'-' if sign == '-' else ''}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def _et_text(element: Any, path: str) -> str | None:
    node = element.find(path) if element is not None else None
    return None if node is None or node.text is None else str(node.text).strip(_XML_WS)


def _rules(root: Any, *, mandatory_allowed: bool, legal_allowed: bool) -> list[Problem]:
    out: list[Problem] = []
    hp = "/Message/MessageHeader"
    header = root.find(f"{_M}MessageHeader")
    if header is None:
        return out  # the XSD already said so
    message_uuid = _et_text(header, f"{_M}messageUUID") or ""
    if not _UUID.fullmatch(message_uuid):
        out.append(
            Problem("uuid.v4", f"messageUUID {message_uuid!r} is not a UUID version 4", f"{hp}/messageUUID")
        )
    notification = _et_text(header, f"{_M}notification")
    if notification is not None and len(notification) > NOTIFICATION_MAX:
        out.append(
            Problem(
                "notification.length",
                f"notification is longer than {NOTIFICATION_MAX} characters",
                f"{hp}/notification",
            )
        )
    message_type = _et_text(header, f"{_M}messageType")
    if message_type == "NEMSMS" and not notification:
        out.append(
            Problem("notification.required", "a NEMSMS message needs the SMS text in notification", hp)
        )
    body = root.find(f"{_M}MessageBody")
    if message_type == "DIGITALPOST" and body is None:
        out.append(Problem("body.required", "a DIGITALPOST message needs a MessageBody", "/Message"))
    if _true(_et_text(header, f"{_M}mandatory")) and not mandatory_allowed:
        out.append(
            Problem(
                "mandatory.not-allowed", "the organisation may not send mandatory post", f"{hp}/mandatory"
            )
        )
    if _true(_et_text(header, f"{_M}legalNotification")) and not legal_allowed:
        out.append(
            Problem(
                "legal-notification.not-allowed",
                "the organisation may not send legal notifications",
                f"{hp}/legalNotification",
            )
        )
    for parent, id_element in (
        ("Sender", "senderID"),
        ("Recipient", "recipientID"),
        ("Sender/Representative", "representativeID"),
    ):
        element = header.find("/".join(f"{_M}{p}" for p in parent.split("/")))
        if element is None:
            continue
        id_type = _et_text(element, f"{_M}idType")
        if parent.endswith("Representative") and id_type is None:
            continue
        if id_type not in _ID_DIGITS:
            out.append(
                Problem("id.type", f"idType {id_type!r} is neither CPR nor CVR", f"{hp}/{parent}/idType")
            )
            continue
        _digits(out, id_type, _et_text(element, f"{_M}{id_element}"), f"{hp}/{parent}/{id_element}")
    content = header.find(f"{_M}ContentData")
    if content is not None:
        for kind, data, number in (("CPR", "CPRdata", "cprNumber"), ("CVR", "CVRdata", "cvrNumber")):
            holder = content.find(f"{_GRD}{data}")
            if holder is not None:
                _digits(out, kind, _et_text(holder, f"{_GRD}{number}"), f"{hp}/ContentData/{data}/{number}")
    if body is not None:
        for document in body:
            kind = _localname(document.tag)
            for file_element in document.findall(f"{_M}File"):
                raw_name = file_element.findtext(f"{_M}filename") or ""
                if _FILENAME_FORBIDDEN.search(raw_name):
                    out.append(
                        Problem(
                            "filename.forbidden-characters",
                            f"file name {raw_name!r} contains characters NgDP refuses",
                            f"/Message/MessageBody/{kind}/File/filename",
                        )
                    )
            for action in document.findall(f"{_M}Action"):
                url = _et_text(action, f"{_M}EntryPoint/{_M}url")
                if url is not None and not re.match(r"https://[^/?#\s]", url, re.IGNORECASE):
                    out.append(
                        Problem(
                            "entrypoint.https",
                            f"action URL {url!r} is not an absolute https:// URL",
                            f"/Message/MessageBody/{kind}/Action/EntryPoint/url",
                        )
                    )
    return out


def _true(value: str | None) -> bool:
    return value in ("true", "1")


def _digits(out: list[Problem], kind: str, value: str | None, path: str) -> None:
    if value is None or not _ID_DIGITS[kind].fullmatch(value):
        out.append(
            Problem(
                f"id.{kind.lower()}",
                f"{kind} must be {10 if kind == 'CPR' else 8} digits; got {value!r}",
                path,
            )
        )
