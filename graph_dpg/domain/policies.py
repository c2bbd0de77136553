"""Attachment policies per Digital Post channel: count, type, file name, size.

See docs/product.md, "Validation before sending".

Everything here is a pure function returning :class:`Finding` values; the outbound service turns error
findings into an error receipt (nothing is sent) and warning findings into notes in the receipt (the value
was fixed, e.g. a file name).

Sources and decisions
---------------------
* Count: at most 10 attachments for NgDP, mit.dk and e-Boks (Bekendtgørelse om størrelse på filer i
  Digital Post §3; DPG release notes 6.13.22 for mit.dk and e-Boks; docs/facts/ngdp.md, "Sizes and
  attachment counts"). An image the body shows (its Content-ID referenced as ``cid:`` in the body, and
  its content really a PNG, JPEG or GIF) does not count: it goes inside the HTML main document. Every
  other attachment counts, also one Outlook flags ``isInline``: the flag alone would let any number of
  files past the count.
* Size: a public sender may send up to "99,5 MB" per message (same Bekendtgørelse §3). Whether MB means
  10^6 or 2^20 bytes is not stated; we use the smaller reading, 99,500,000 bytes of *decoded* payload, so
  we never send what NgDP could refuse. mit.dk/e-Boks publish no limit for private senders
  (docs/facts/ngdp.md, "mit.dk and e-Boks"):
  the same default applies; every value is configurable in the gateway file.
* Types: the official list ("Tilladte filtyper i Digital Post.pdf", DIGI) **could not be retrieved**
  (docs/facts/ngdp.md, "File types"). The default list is therefore deliberately conservative - common office,
  image and text documents that every viewing client renders - and configurable per channel:
  pdf, txt, csv, html/htm, xml, rtf, jpg/jpeg, png, gif, tif/tiff, doc/docx, xls/xlsx, ppt/pptx,
  odt/ods/odp. Not allowed by default: archives (zip, 7z, ...), e-mails (msg, eml: they nest arbitrary
  attachments), macro-enabled Office files (docm, xlsm, pptm, also when renamed), executables and scripts.
* A type is judged by extension AND content: :func:`sniff_type` reads magic numbers / container
  structure; the sniffed MIME type must be one the extension allows. Executables (MZ, ELF, Mach-O, Java
  class, shebang scripts) are refused whatever their name, and so are HTML/SVG documents with scripts.
  Zip containers are read through :class:`graph_dpg.core.bounded.BoundedZip` (bounded size and expansion
  ratio); one that is damaged or would expand beyond the bounds is "content not identified", refused.
* File names: NgDP rejects ``< > : " / \\ | ? *``, CR, LF and some Unicode spaces in ``File/filename``
  since 10 September 2025 (DIGI "Øget validering af filnavne og URI i Actions"; docs/facts/ngdp.md,
  "File names").
  :func:`sanitize_filename` replaces each run of them with ``-`` (as the ITK reference library does:
  ``a<<c.pdf`` → ``a-c.pdf``) and says what it changed.

Finding rules (stable ids; receipts may translate them): ``policy.count``, ``policy.size``,
``policy.empty``, ``policy.type.unchecked`` (content not fetched), ``policy.type.executable``,
``policy.type.active-content`` (scripts in HTML/SVG), ``policy.type.extension``, ``policy.type.content``,
``policy.type.unidentified`` (a damaged container), ``policy.type.expansion`` (a decompression bomb)
(errors); ``filename.forbidden-chars``, ``filename.bidi-controls``,
``filename.empty`` (warnings: the name was fixed).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from graph_dpg.core.bounded import BoundedZip
from graph_dpg.core.errors import ContentError, Finding, LimitExceededError
from graph_dpg.core.filenames import sanitize_filename
from graph_dpg.domain.addresses import Channel
from graph_dpg.domain.mail import Attachment

MAX_ATTACHMENTS = 10
MAX_MESSAGE_BYTES = 99_500_000


# Sniffed MIME types.
PDF = "application/pdf"
TEXT = "text/plain"
HTML = "text/html"
XML = "application/xml"
RTF = "application/rtf"
JPEG = "image/jpeg"
PNG = "image/png"
GIF = "image/gif"
TIFF = "image/tiff"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"
MSG = "application/vnd.ms-outlook"
OLE = "application/x-ole-storage"  # OLE2 container that is none of the above (e.g. .msi)
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
OOXML_MACRO = "application/vnd.ms-office.macroEnabled"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
ZIP = "application/zip"
JAR = "application/java-archive"
EXE = "application/x-msdownload"
ELF = "application/x-executable"
MACHO = "application/x-mach-binary"
JAVA_CLASS = "application/java-vm"
SCRIPT = "text/x-script"
SVG = "image/svg+xml"

EXECUTABLE_TYPES: frozenset[str] = frozenset({EXE, ELF, MACHO, JAVA_CLASS, SCRIPT, JAR})
# Every answer sniff_type can give (besides None); an allowed MIME type outside it can never match.
SNIFFED_TYPES: frozenset[str] = frozenset(
    {PDF, TEXT, HTML, XML, SVG, RTF, JPEG, PNG, GIF, TIFF, DOC, XLS, PPT, MSG, OLE, DOCX, XLSX, PPTX}
    | {OOXML_MACRO, ODT, ODS, ODP, ZIP}
    | EXECUTABLE_TYPES
)
# Names admins (and mail clients) commonly use for the same content; mapped to what sniff_type answers.
MIME_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "text/csv": TEXT,
        "text/xml": XML,
        "text/rtf": RTF,
        "image/jpg": JPEG,
        "image/pjpeg": JPEG,
        "application/x-pdf": PDF,
        "application/x-zip-compressed": ZIP,
    }
)

# The MIME type a MeMo ``File/encodingFormat`` names, by extension: the file type's canonical (IANA) name,
# not what sniffing reports (sniffing only checks the content matches the name). The official MeMo examples
# use ``application/pdf``, ``text/plain``, ``application/msword`` and ``text/xml`` (for a .xml file;
# shared/memo/examples, docs/facts/ngdp.md, "File types"). A fixed table, not Python's ``mimetypes`` default
# database, which reads the host's /etc/mime.types and so differs between machines.
CANONICAL_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "pdf": PDF,
        "txt": TEXT,
        "csv": "text/csv",  # RFC 7111
        "html": HTML,
        "htm": HTML,
        "xml": "text/xml",  # as in the official MeMo examples (TechnicalDocument)
        "rtf": RTF,
        "jpg": JPEG,
        "jpeg": JPEG,
        "png": PNG,
        "gif": GIF,
        "tif": TIFF,
        "tiff": TIFF,
        "doc": DOC,
        "docx": DOCX,
        "xls": XLS,
        "xlsx": XLSX,
        "ppt": PPT,
        "pptx": PPTX,
        "odt": ODT,
        "ods": ODS,
        "odp": ODP,
        "svg": SVG,
        "json": "application/json",
        "msg": MSG,
        "eml": "message/rfc822",
        "zip": ZIP,
    }
)


def canonical_type(filename: str) -> str | None:
    """The canonical MIME type for ``filename``'s extension (case-insensitive), None for an unknown one."""
    _, dot, ext = filename.rpartition(".")
    return CANONICAL_TYPES.get(ext.lower()) if dot else None


_TEXTUAL = frozenset({TEXT, HTML, XML})
DEFAULT_ALLOWED_TYPES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "pdf": frozenset({PDF}),
        "txt": _TEXTUAL,  # any text displays fine as text
        "csv": frozenset({TEXT}),
        "html": frozenset({HTML, TEXT}),
        "htm": frozenset({HTML, TEXT}),
        "xml": frozenset({XML}),
        "rtf": frozenset({RTF}),
        "jpg": frozenset({JPEG}),
        "jpeg": frozenset({JPEG}),
        "png": frozenset({PNG}),
        "gif": frozenset({GIF}),
        "tif": frozenset({TIFF}),
        "tiff": frozenset({TIFF}),
        "doc": frozenset({DOC}),
        "docx": frozenset({DOCX}),
        "xls": frozenset({XLS}),
        "xlsx": frozenset({XLSX}),
        "ppt": frozenset({PPT}),
        "pptx": frozenset({PPTX}),
        "odt": frozenset({ODT}),
        "ods": frozenset({ODS}),
        "odp": frozenset({ODP}),
    }
)


@dataclass(frozen=True)
class ChannelPolicy:
    """What one channel accepts. ``allowed_types`` maps a lower-case extension to the sniffed MIME types
    its content may have."""

    channel: Channel
    max_attachments: int = MAX_ATTACHMENTS
    allowed_types: Mapping[str, frozenset[str]] = field(default_factory=lambda: DEFAULT_ALLOWED_TYPES)
    max_message_bytes: int = MAX_MESSAGE_BYTES

    def __post_init__(self) -> None:
        if self.max_attachments < 0 or self.max_message_bytes < 0:
            raise ValueError("attachment count and message size limits cannot be negative")
        # Normalise once so lookups are exact: extensions lower-case without a dot, MIME aliases resolved.
        normalised = {
            ext.lower().lstrip("."): frozenset(MIME_ALIASES.get(m.lower(), m.lower()) for m in mimes)
            for ext, mimes in self.allowed_types.items()
        }
        object.__setattr__(self, "allowed_types", MappingProxyType(normalised))

    @property
    def allowed_extensions(self) -> list[str]:
        return sorted(self.allowed_types)

    @property
    def undetectable_types(self) -> list[str]:
        """Allowed MIME types that content sniffing never reports: such entries can never match
        (configuration checks should warn about them)."""
        return sorted({m for mimes in self.allowed_types.values() for m in mimes} - SNIFFED_TYPES)


DEFAULT_POLICIES: Mapping[Channel, ChannelPolicy] = MappingProxyType(
    {channel: ChannelPolicy(channel) for channel in Channel}
)


# --- content sniffing -------------------------------------------------------------------------------

_SNIFF_WINDOW = 8192
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
# Control bytes that do not occur in text (TAB, LF, FF, CR and ESC do).
_BINARY_BYTES = (
    frozenset(range(0x00, 0x09)) | {0x0B, 0x0E, 0x0F} | frozenset(range(0x10, 0x1B)) | {0x1C, 0x1D}
)
_ODF_TYPES = {
    b"application/vnd.oasis.opendocument.text": ODT,
    b"application/vnd.oasis.opendocument.spreadsheet": ODS,
    b"application/vnd.oasis.opendocument.presentation": ODP,
}


def extension_of(filename: str) -> str:
    """The lower-case extension without the dot ("" when there is none)."""
    base = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    return ext.lower() if dot and stem.strip(".") else ""


@dataclass(frozen=True)
class Sniffed:
    """What :func:`sniff` found: the MIME type, and why the content could not be identified when it could
    not (a damaged container, or one that would expand beyond the bounds: ``limit`` is True)."""

    mime: str | None
    problem: str | None = None
    limit: bool = False


def sniff_type(content: bytes, filename: str = "") -> str | None:
    """The MIME type the *content* has, or None when it is not recognised.

    ``filename`` is never trusted for the answer; it is accepted for callers' symmetry and future
    disambiguation only. Only the first few KB are inspected, except for zip containers whose central
    directory (at the end) names the parts. A damaged zip container is still "some zip" here; :func:`sniff`
    also says why it could not be identified.
    """
    return sniff(content).mime


def sniff(content: bytes) -> Sniffed:
    """:func:`sniff_type` with the reason when a container could not be read within the bounds."""
    head = content[:_SNIFF_WINDOW]
    if not head:
        return Sniffed(None)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(content)
    return Sniffed(_sniff_head(head, content))


def _sniff_head(head: bytes, content: bytes) -> str | None:
    if head.startswith(b"MZ"):
        return EXE
    if head.startswith(b"\x7fELF"):
        return ELF
    if head.startswith(_MACHO_MAGICS):
        return MACHO
    if head.startswith(b"\xca\xfe\xba\xbe"):  # Java class and Mach-O fat binary share it; both refused
        return JAVA_CLASS
    if b"%PDF-" in head[:1024]:  # PDF readers accept the header anywhere in the first 1024 bytes
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    if head.startswith(b"{\\rtf"):
        return RTF
    if head.startswith(_OLE_MAGIC):
        return _sniff_ole(content)
    return _sniff_text(head)


def _sniff_ole(content: bytes) -> str:
    # The directory entries name the streams in UTF-16LE; the stream that holds the document tells the
    # application. Good enough to tell a renamed .msi (no such stream) from a .doc.
    if "WordDocument".encode("utf-16-le") in content:
        return DOC
    if "Workbook".encode("utf-16-le") in content or "Book\x00".encode("utf-16-le") in content:
        return XLS
    if "PowerPoint Document".encode("utf-16-le") in content:
        return PPT
    if "__substg1.0_".encode("utf-16-le") in content:
        return MSG
    return OLE


# The OpenDocument ``mimetype`` member is one short line; [Content_Types].xml lists a few dozen parts.
_MIMETYPE_CAP = 1024
_CONTENT_TYPES_CAP = 1_000_000


def _sniff_zip(content: bytes) -> Sniffed:
    try:
        with BoundedZip(content) as archive:
            names = archive.names()
            lower = {n.lower() for n in names}
            if "[content_types].xml" in lower:
                return Sniffed(_sniff_ooxml(archive, names, lower))
            if "mimetype" in names:
                odf = _ODF_TYPES.get(archive.read("mimetype", _MIMETYPE_CAP).strip())
                if odf is not None:
                    return Sniffed(odf)
            if "meta-inf/manifest.mf" in lower or any(n.endswith(".class") for n in lower):
                return Sniffed(JAR)
    except LimitExceededError as exc:
        return Sniffed(ZIP, str(exc), limit=True)
    except ContentError as exc:
        # A damaged or encrypted container is still "some zip", but what it holds is not known.
        return Sniffed(ZIP, str(exc))
    return Sniffed(ZIP)


def _sniff_ooxml(archive: BoundedZip, names: list[str], lower: set[str]) -> str:
    content_types_name = next(n for n in names if n.lower() == "[content_types].xml")
    content_types = archive.read(content_types_name, _CONTENT_TYPES_CAP).lower()
    if b"macroenabled" in content_types or any(n.endswith("vbaproject.bin") for n in lower):
        return OOXML_MACRO
    if any(n.startswith("word/") for n in lower):
        return DOCX
    if any(n.startswith("xl/") for n in lower):
        return XLSX
    if any(n.startswith("ppt/") for n in lower):
        return PPTX
    return ZIP


def _sniff_text(head: bytes) -> str | None:
    text = _decode_text(head)
    if text is None:
        return None
    start = text.lstrip("\ufeff \t\r\n").lower()
    if start.startswith("#!"):
        return SCRIPT
    if start.startswith(("<!doctype html", "<html")) or ("<html" in start[:1024] and "</" in start):
        return HTML
    if start.startswith(("<svg", "<!doctype svg")) or (start.startswith("<?xml") and "<svg" in start):
        return SVG  # XML, but a browser runs its scripts
    if start.startswith("<?xml"):
        return XML
    return TEXT


def _decode_text(head: bytes) -> str | None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        # "replace": the sniff window may cut a surrogate pair in two.
        return head.decode("utf-16", errors="replace")
    if any(b in _BINARY_BYTES for b in head):
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a multi-byte character cut by the sniff window
            return head[: exc.start].decode("utf-8")
    # Legacy 8-bit text (windows-1252 / latin-1): no control bytes, so accept it as text.
    return head.decode("latin-1")


# --- checks ------------------------------------------------------------------------------------------


#: Image types a body may show inline (as a data: URI in the HTML main document).
EMBEDDABLE_IMAGES: frozenset[str] = frozenset({PNG, JPEG, GIF})


def content_id(attachment: Attachment) -> str | None:
    """The attachment's Content-ID without angle brackets (None when it has none)."""
    cid = (attachment.content_id or "").strip().strip("<>").strip()
    return cid or None


def embedded_image_type(attachment: Attachment, body_cids: Collection[str]) -> str | None:
    """The sniffed image type when the body shows this attachment (``cid:`` reference to its Content-ID)
    and it really is a PNG, JPEG or GIF; None when it is an ordinary attachment."""
    cid = content_id(attachment)
    if cid is None or cid not in body_cids or not attachment.content:
        return None
    mime = sniff_type(attachment.content)
    return mime if mime in EMBEDDABLE_IMAGES else None


def check_attachments(
    policy: ChannelPolicy, attachments: Sequence[Attachment], *, body_cids: Collection[str] = ()
) -> list[Finding]:
    """Every policy violation of a message's attachments (errors) plus file-name fixes (warnings).

    ``body_cids``: the Content-IDs the (sanitised) body shows as images; those images do not count towards
    the attachment limit (they still count towards the size and are still checked).
    """
    findings: list[Finding] = []
    counted = [a for a in attachments if embedded_image_type(a, body_cids) is None]
    if len(counted) > policy.max_attachments:
        findings.append(
            Finding(
                "policy.count",
                f"{len(counted)} attachments; {policy.channel.value} accepts at most "
                f"{policy.max_attachments}",
                path="attachments",
                params={"count": len(counted), "limit": policy.max_attachments},
            )
        )
    total = 0
    for index, attachment in enumerate(attachments):
        path = f"attachments[{index}]"
        total += attachment.length
        _, name_findings = sanitize_filename(attachment.name)
        own = [*name_findings, *_check_type(policy, attachment)]
        findings.extend(_named(_at(path, f), attachment.name) for f in own)
    if total > policy.max_message_bytes:
        findings.append(
            Finding(
                "policy.size",
                f"attachments total {total:,} bytes; {policy.channel.value} accepts at most "
                f"{policy.max_message_bytes:,} bytes per message",
                path="attachments",
                params={"size_mb": _mb(total), "limit_mb": _mb(policy.max_message_bytes)},
            )
        )
    return findings


def _printable(text: str) -> str:
    # The extension comes from the sender's file name: NUL or a bidi control in a finding cannot be stored
    # (PostgreSQL refuses NUL) or would display reordered.
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def _mb(size: int) -> str:
    """A size in MB (10^6 bytes) with one decimal, as people read it."""
    return f"{size / 1_000_000:.1f}"


def _named(finding: Finding, name: str) -> Finding:
    """The finding with the attachment's name as the sender sees it (and the accepted types) as params."""
    shown = repr(_printable(name))
    params = {"file": shown, **finding.params}
    return replace(finding, params=params)


def _at(path: str, finding: Finding) -> Finding:
    return replace(finding, path=path)


def _check_type(policy: ChannelPolicy, attachment: Attachment) -> list[Finding]:
    name = attachment.name
    ext = extension_of(name)
    if attachment.content is None:
        return [Finding("policy.type.unchecked", f"{name!r}: content was not available for the type check")]
    if not attachment.content:
        return [Finding("policy.empty", f"{name!r} is empty (0 bytes)")]
    result = sniff(attachment.content)
    sniffed = result.mime
    if sniffed in EXECUTABLE_TYPES:
        return [Finding("policy.type.executable", f"{name!r} is a program or script ({sniffed}); refused")]
    if sniffed in _MARKUP and _ACTIVE_CONTENT.search(_markup_bytes(attachment.content)):
        return [
            Finding(
                "policy.type.active-content",
                f"{name!r} contains scripts (script tag, javascript: link or event handler); "
                "send it as PDF instead",
            )
        ]
    if not ext:
        return [
            Finding(
                "policy.type.extension",
                f"{name!r} has no file extension",
                params={"accepted": ", ".join(policy.allowed_extensions)},
            )
        ]
    allowed = policy.allowed_types.get(ext)
    if allowed is None:
        return [
            Finding(
                "policy.type.extension",
                f"{name!r}: .{_printable(ext)} files are not accepted by {policy.channel.value} "
                f"(accepted: {', '.join(policy.allowed_extensions)})",
                params={"accepted": ", ".join(policy.allowed_extensions)},
            )
        ]
    if result.problem is not None:
        rule = "policy.type.expansion" if result.limit else "policy.type.unidentified"
        return [Finding(rule, f"{name!r}: the content could not be identified: {result.problem}")]
    if sniffed not in allowed:
        what = sniffed or "not a recognised document type"
        return [
            Finding(
                "policy.type.content",
                f"{name!r}: the content is {what}, which does not match the .{_printable(ext)} extension",
                params={"extension": _printable(ext)},
            )
        ]
    return []


_MARKUP = frozenset({HTML, SVG})
# Viewing clients render HTML/SVG; scripts in them are refused rather than silently stripped, because the
# attachment is the sender's document and must arrive unchanged or not at all.
_ACTIVE_CONTENT = re.compile(rb"<\s*script\b|javascript\s*:|<[^>]*\son[a-z]+\s*=", re.IGNORECASE)


def _markup_bytes(content: bytes) -> bytes:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return content.decode("utf-16", errors="replace").encode("utf-8")
    return content
