"""graph-dpg memo validate FILE..., memo show FILE and memo export --memo-uuid UUID --out DIR.

validate prints one line per file, in argument order:

    FILE: valid (MeMo 1.2)
    FILE: valid (MeMo 1.2), 1 warning: /Message/MessageHeader/label: ... [notification.personal-data]
    FILE: INVALID (MeMo 1.1), 2 errors: <path>: <message> [<rule>]; <path>: ...
    FILE: UNSAFE: XML with a DOCTYPE/DTD is refused
    FILE: UNREADABLE: no such file

Exit code: 0 when every file is valid (warnings allowed), 1 otherwise, 2 for bad options or when a file
cannot be read (missing, a directory, bigger than 160 MB). Whatever the bytes, each file gets its line:
binary content, invalid UTF-8 or XML nested too deep are INVALID (malformed XML), never a traceback.

A file is judged as MeMo: the gateway's own stricter limits are warnings here, not errors. The XSD
allows a notification of up to 160 characters; the gateway keeps the notifications it builds to 150,
so a longer one is valid, with a warning.

show prints a readable summary of the central fields (header, parties, content data, documents and
actions); exit 0, or 2 with the reason on stderr when the file cannot be read or is not a readable MeMo. CPR
numbers are masked (010203-xxxx) everywhere in both commands' output unless --show-cpr is given.

export --memo-uuid UUID --out DIR writes the files of a received memo, as the gateway stored it, to DIR: each
file decoded under its own name (made safe with the NgDP file-name rules, core/filenames.py, and unique in
DIR), plus the memo itself as UUID.memo.xml. It is for IT when a file was too big for the case worker's
mailbox (the alert names this command). The memo comes from the state database named by the settings
(GRAPH_DPG_DATABASE_URL / --env-file) unless --database-url is given; the gateway keeps it for 30 days
after its receipt (runtime.scheduler.RETENTION). Nothing is overwritten: when a name is taken in DIR,
nothing is written. Prints one line per file written (name and size, CPR numbers masked); exit 0, 1 when
the memo is not in the database (unknown, or cleaned up) or a file could not be decoded (the others are
written), 2 when the database cannot be opened, DIR is not a directory or a name is taken.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from graph_dpg import memo
from graph_dpg.commands import command
from graph_dpg.commands.inputs import UnreadableInput, read_input
from graph_dpg.core.errors import Finding, GraphDpgError, MemoError, UnsafeXmlError
from graph_dpg.core.filenames import sanitize_filename
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.memo.rules import NOTIFICATION_MAX_LENGTH, RULE_NOTIFICATION_LENGTH

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("memo", help="validate and inspect MeMo (Digital Post) XML files")
    sub = parser.add_subparsers(dest="memo_command", metavar="SUBCOMMAND", required=True)

    validate = command(sub, "validate", "XSD + business-rule validation; one line per file", __doc__)
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument(
        "--mandatory-allowed",
        action="store_true",
        help="the sending organisation may send mandatory post (mandatoryPostAllowed)",
    )
    validate.add_argument(
        "--legal-notification-allowed",
        action="store_true",
        help="the sending organisation may send legal notifications (legalNotificationAllowed)",
    )
    validate.add_argument("--show-cpr", action="store_true", help="print CPR numbers in clear")
    validate.set_defaults(func=run_validate)

    show = sub.add_parser("show", help="readable summary of one MeMo file")
    show.add_argument("file", metavar="FILE")
    show.add_argument("--show-cpr", action="store_true", help="print CPR numbers in clear")
    show.set_defaults(func=run_show)

    export = command(
        sub, "export", "write a received memo's files from the state database to a folder", __doc__
    )
    export.add_argument("--memo-uuid", required=True, metavar="UUID", help="the memo's messageUUID")
    export.add_argument("--out", required=True, metavar="DIR", help="folder to write to (created if missing)")
    export.add_argument("--env-file", metavar="F", default=".env", help="settings file (default: .env)")
    export.add_argument("--database-url", metavar="URL", help="state database (default: from the settings)")
    export.set_defaults(func=run_export)


def _masker(show_cpr: bool) -> Callable[[str], str]:
    return (lambda text: text) if show_cpr else mask_cprs


def _describe(findings: Iterable[Finding]) -> str:
    return "; ".join(str(finding) for finding in findings)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _judged_as_memo(finding: Finding, message: memo.MemoMessage | None) -> Finding:
    """The gateway's own notification cap is a warning for a file: MeMo itself allows more (the XSD
    reports a notification beyond its own limit separately, as an error)."""
    if finding.rule != RULE_NOTIFICATION_LENGTH or message is None:
        return finding
    length = len(message.header.notification or "")
    return dataclasses.replace(
        finding,
        severity="warning",
        message=(
            f"notification has {length} characters; the gateway itself keeps the notifications it "
            f"builds to {NOTIFICATION_MAX_LENGTH}"
        ),
    )


def validate_line(
    path: str, data: bytes, *, mandatory_allowed: bool, legal_notification_allowed: bool
) -> tuple[bool, str]:
    """(valid, the line to print before masking) for one file's bytes."""
    try:
        message, found = memo.parse_and_validate(
            data, mandatory_allowed=mandatory_allowed, legal_notification_allowed=legal_notification_allowed
        )
    except UnsafeXmlError as exc:
        return False, f"{path}: UNSAFE: {exc}"
    findings = [_judged_as_memo(finding, message) for finding in found]
    version = f" (MeMo {message.version})" if message is not None else ""
    errors = [finding for finding in findings if finding.severity == "error"]
    warnings = [finding for finding in findings if finding.severity != "error"]
    if errors:
        return (
            False,
            f"{path}: INVALID{version}, {_plural(len(errors), 'error')}: {_describe(errors + warnings)}",
        )
    if warnings:
        return True, f"{path}: valid{version}, {_plural(len(warnings), 'warning')}: {_describe(warnings)}"
    return True, f"{path}: valid{version}"


def run_validate(args: argparse.Namespace) -> int:
    mask = _masker(args.show_cpr)
    all_valid = all_read = True
    for path in args.files:
        try:
            data = read_input(path)
        except UnreadableInput as exc:
            print(mask(f"{path}: UNREADABLE: {exc}"))
            all_read = False
            continue
        valid, line = validate_line(
            path,
            data,
            mandatory_allowed=args.mandatory_allowed,
            legal_notification_allowed=args.legal_notification_allowed,
        )
        all_valid = all_valid and valid
        print(mask(line.replace("\n", " ")))
    if not all_read:
        return EXIT_UNREADABLE
    return EXIT_OK if all_valid else EXIT_INVALID


def _size(count: int) -> str:
    if count < 10_000:
        return f"{count} B"
    if count < 10_000_000:
        return f"{count / 1000:.0f} kB"
    return f"{count / 1_000_000:.1f} MB"


def _party(kind: str, party_id: str, id_type: str, label: str | None) -> str:
    name = f" {label!r}" if label else ""
    return f"{kind}: {id_type} {party_id}{name}"


def summary_lines(message: memo.MemoMessage) -> list[str]:
    """The summary printed by ``memo show`` (CPR numbers still in clear: the caller masks)."""
    header = message.header
    lines = [
        f"MeMo {message.version} {header.message_type}",
        f"messageUUID: {header.message_uuid}",
    ]
    if header.message_id:
        lines.append(f"messageID: {header.message_id}")
    lines.append(f"label: {header.label}")
    for name, value in (
        ("messageCode", header.message_code),
        ("notification", header.notification),
        ("additionalNotification", header.additional_notification),
        ("postType", header.post_type),
    ):
        if value:
            lines.append(f"{name}: {value}")
    flags = [
        f"reply={'yes' if header.reply else 'no'}",
        f"mandatory={'yes' if header.mandatory else 'no'}",
        f"legalNotification={'yes' if header.legal_notification else 'no'}",
    ]
    if header.reply_by_datetime is not None:
        flags.append(f"replyBy={memo.format_datetime(header.reply_by_datetime)}")
    if header.do_not_deliver_until_date is not None:
        flags.append(f"doNotDeliverUntil={header.do_not_deliver_until_date.isoformat()}")
    lines.append("flags: " + ", ".join(flags))

    sender, recipient = header.sender, header.recipient
    lines.append(_party("sender", sender.sender_id, sender.id_type, sender.label))
    if sender.contact_point is not None:
        lines.append(
            f"  contact point: {sender.contact_point.contact_point_id} {sender.contact_point.label or ''}"
        )
    if sender.representative is not None:
        rep = sender.representative
        lines.append(
            f"  representative: {rep.id_type or ''} {rep.representative_id or ''} {rep.label or ''}".rstrip()
        )
    lines.append(_party("recipient", recipient.recipient_id, recipient.id_type, recipient.label))
    if recipient.contact_point is not None:
        cp = recipient.contact_point
        lines.append(f"  contact point: {cp.contact_point_id} {cp.label or ''}".rstrip())
        lines.extend(f"    {info.label}: {info.value}" for info in cp.contact_info)

    content = header.content_data
    if content is not None:
        if content.cpr_data is not None:
            lines.append(
                f"about person: {content.cpr_data.cpr_number} {content.cpr_data.name or ''}".rstrip()
            )
        if content.cvr_data is not None:
            lines.append(
                f"about company: {content.cvr_data.cvr_number} {content.cvr_data.company_name or ''}".rstrip()
            )
        if content.case_id is not None:
            lines.append(f"case: {content.case_id.case_id} ({content.case_id.case_system})")
        if content.kle_data is not None:
            lines.append(f"KLE: {content.kle_data.subject_key} {content.kle_data.label}")
        lines.extend(
            f"content data: {item.content_data_name} = {item.content_data_value}"
            for item in content.additional_content_data
        )
    if header.forward_data is not None:
        fwd = header.forward_data
        lines.append(f"forwarded: original {fwd.message_uuid} from {fwd.original_sender}")
    for reply in header.reply_data:
        target = f" in reply to {reply.reply_uuid}" if reply.reply_uuid else ""
        lines.append(f"reply data: messageUUID {reply.message_uuid}{target}")

    body = message.body
    if body is None:
        lines.append("no message body")
    else:
        lines.append(f"created: {memo.format_datetime(body.created_datetime)}")
        lines.extend(_document_lines(body))
    extras = _count_extras(message)
    if extras:
        lines.append(f"unmodelled elements kept verbatim: {extras}")
    return lines


def _document_lines(body: memo.MessageBody) -> list[str]:
    lines: list[str] = []
    for document in body.documents():
        title = f" {document.label!r}" if document.label else ""
        lines.append(f"{document.kind} document{title}:")
        for file in document.files:
            lines.append(f"  {file.filename} ({file.encoding_format}, {file.language}, {_size(file.size)})")
        for action in document.actions:
            target = ""
            if action.entry_point is not None:
                target = f" -> {action.entry_point.url}"
            elif action.reservation is not None:
                target = f" -> reservation {action.reservation.abstract!r}"
            lines.append(f"  action {action.action_code}: {action.label}{target}")
    return lines


def _count_extras(value: Any) -> int:
    if isinstance(value, tuple):
        return sum(_count_extras(item) for item in value)
    extra = getattr(value, "extra", None)
    if extra is None:
        return 0
    count = len(extra)
    for name in getattr(value, "__slots__", ()):
        if name != "extra":
            count += _count_extras(getattr(value, name))
    return count


def run_show(args: argparse.Namespace) -> int:
    mask = _masker(args.show_cpr)
    try:
        data = read_input(args.file)
        message = memo.parse(data)
    except UnreadableInput as exc:
        print(mask(f"{args.file}: UNREADABLE: {exc}"), file=sys.stderr)
        return EXIT_UNREADABLE
    except UnsafeXmlError as exc:
        print(mask(f"{args.file}: UNSAFE: {exc}"), file=sys.stderr)
        return EXIT_UNREADABLE
    except MemoError as exc:
        print(mask(f"{args.file}: not a readable MeMo message: {exc}"), file=sys.stderr)
        return EXIT_UNREADABLE
    for line in summary_lines(message):
        print(mask(line))
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    return memo_export(args, sys.stdout, sys.stderr)


def _unique_name(name: str, taken: set[str]) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    candidate, n = name, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
    taken.add(candidate.lower())
    return candidate


def export_names(message: memo.MemoMessage | None, memo_uuid: str) -> list[str]:
    """The names the memo's files get on disk, in order (then the memo's own XML): safe by the NgDP
    file-name rules (no path separators, no control characters, never empty or dots only), unique."""
    taken: set[str] = set()
    names = []
    for f in message.files() if message is not None else []:
        safe, _ = sanitize_filename(f.filename or "")
        names.append(_unique_name(safe, taken))
    xml_name, _ = sanitize_filename(f"{memo_uuid}.memo.xml")
    names.append(_unique_name(xml_name, taken))
    return names


def memo_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from graph_dpg.adapters.store import create_store
    from graph_dpg.config import load_settings

    uuid = str(args.memo_uuid).strip()
    folder = Path(args.out)
    if folder.exists() and not folder.is_dir():
        print(f"{folder}: not a directory", file=err)
        return EXIT_UNREADABLE
    try:
        url = args.database_url
        if url is None:
            env = args.env_file if Path(args.env_file).is_file() else None
            url = load_settings(env).database_url
        store = create_store(url)
    except GraphDpgError as exc:
        print(mask_cprs(f"cannot open the state database: {exc}"), file=err)
        for problem in getattr(exc, "problems", ()):
            print(mask_cprs(f"  {problem}"), file=err)
        return EXIT_UNREADABLE
    try:
        xml = store.load_inbound_xml(uuid)
    finally:
        store.close()
    if xml is None:
        print(
            f"memo {uuid} is not in the state database (unknown, or removed after the retention period)",
            file=err,
        )
        return EXIT_INVALID
    message: memo.MemoMessage | None
    try:
        message = memo.parse(xml)
    except (MemoError, UnsafeXmlError) as exc:
        message = None
        print(mask_cprs(f"memo {uuid} cannot be read as MeMo ({exc}); writing its XML only"), file=err)
    names = export_names(message, uuid)
    taken = [name for name in names if (folder / name).exists()]
    if taken:
        print(f"{folder}: already holds {', '.join(mask_cprs(n) for n in taken)}; nothing written", file=err)
        return EXIT_UNREADABLE
    folder.mkdir(parents=True, exist_ok=True)
    failed = 0
    files = message.files() if message is not None else []
    for f, name in zip([*files, None], names, strict=True):
        try:
            content = xml if f is None else f.content
        except MemoError as exc:  # content that is not base64 after all
            failed += 1
            print(mask_cprs(f"{name}: not written, the file's content cannot be decoded ({exc})"), file=err)
            continue
        with (folder / name).open("xb") as handle:  # "x": never overwrite, even in a race
            handle.write(content)
        print(mask_cprs(f"{folder / name}: {_size(len(content))}"), file=out)
    return EXIT_INVALID if failed else EXIT_OK
