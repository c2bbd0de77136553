"""graph-dpg rules test --rules FILE MESSAGE: dry-run the routing rules against one message.

FILE is the gateway file; MESSAGE is a mail (.eml, RFC 5322) or a MeMo (.xml, 1.1 or 1.2). Prints,
for every rule in evaluation order, whether it matched, which conditions and exceptions held (with the
matched text), and then what the gateway would do: target mailbox and folder, categories, mark as read,
archive copies, the warning banner (unmapped contact point, invalid memo) and the NgDP receipt. Nothing is
sent or stored; disabled-at-run-time rules (kept in the database) are not consulted.

CPR numbers are masked in the output unless --show-cpr is given.

Exit code: 0 the dry run worked (whether or not a rule matched), 2 the file or message cannot be read:
missing, a directory, too big (160 MB), not a mail or MeMo (binary content, no header lines, a header that
is not UTF-8), or a mail beyond the MIME bounds (100 nested containers, 1,000 parts). A MeMo that is XML but
not a valid MeMo is explained as the gateway would handle it (delivered with a banner, INVALID receipt).

Also: graph-dpg rules status lists the rules in evaluation order with their hit counts and whether the
gateway disabled them automatically (a rule that took longer than its time budget); graph-dpg rules
enable NAME enables such a rule again after it has been fixed. Both read the state database named by
the settings (GRAPH_DPG_DATABASE_URL / --env-file) unless --database-url is given.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import re
import sys
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TextIO

from graph_dpg.adapters.store import create_store
from graph_dpg.adapters.store.sql import SqlStore
from graph_dpg.bootstrap.rules import inbound_settings
from graph_dpg.commands import command
from graph_dpg.commands.inputs import UnreadableInput, read_input
from graph_dpg.config import Settings, load_gateway_file, load_settings
from graph_dpg.core.errors import ConfigError, GraphDpgError
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.domain.inbound_view import invalid_banner
from graph_dpg.domain.mail import Attachment, EmailAddress, Header, MailMessage
from graph_dpg.domain.routing import (
    InboundSettings,
    attached_memo,
    invalid_route,
    mail_item,
    memo_route,
    memo_rule_item,
    parse_inbound,
    route_banner,
)
from graph_dpg.domain.rules import DEFAULT_RULE_TIMEOUT_SECONDS, evaluate_rules

EXIT_OK = 0
EXIT_NOT_DISABLED = 1
EXIT_UNREADABLE = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("rules", help="routing rules for inbound Digital Post and secure mail")
    sub = parser.add_subparsers(dest="rules_command", metavar="SUBCOMMAND", required=True)
    test = command(
        sub, "test", "dry-run the rules against a .eml or MeMo .xml and explain the outcome", __doc__
    )
    test.add_argument("--rules", required=True, metavar="FILE", help="the gateway file (YAML)")
    test.add_argument("message", metavar="MESSAGE", help="a mail (.eml) or a MeMo message (.xml)")
    test.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_RULE_TIMEOUT_SECONDS,
        help=f"time budget per rule in seconds (default {DEFAULT_RULE_TIMEOUT_SECONDS:g})",
    )
    test.add_argument("--show-cpr", action="store_true", help="print CPR numbers in clear (default: masked)")
    test.set_defaults(func=run_test)

    status = sub.add_parser("status", help="rules with hit counts and automatic disabling")
    _state_options(status)
    status.add_argument("--rules", metavar="FILE", help="the gateway file (default: the settings' one)")
    status.set_defaults(func=run_status)

    enable = sub.add_parser("enable", help="enable a rule the gateway disabled automatically")
    _state_options(enable)
    enable.add_argument("name", metavar="NAME", help="the rule's name")
    enable.set_defaults(func=run_enable)


def _state_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env-file", metavar="F", default=".env", help="settings file (default: .env)")
    parser.add_argument("--database-url", metavar="URL", help="state database (default: from the settings)")


def _open_state(args: argparse.Namespace, err: TextIO) -> tuple[SqlStore, Settings | None] | None:
    settings: Settings | None = None
    try:
        wants_gateway_file = hasattr(args, "rules") and args.rules is None
        if args.database_url is None or wants_gateway_file:
            env = args.env_file if Path(args.env_file).is_file() else None
            settings = load_settings(env)
        url = args.database_url or (settings.database_url if settings is not None else "")
        return create_store(url), settings
    except GraphDpgError as exc:
        print(f"cannot open the state database: {exc}", file=err)
        for problem in getattr(exc, "problems", ()):
            print(f"  {problem}", file=err)
        return None


def run_status(args: argparse.Namespace) -> int:
    return rules_status(args, sys.stdout, sys.stderr)


def rules_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    opened = _open_state(args, err)
    if opened is None:
        return EXIT_UNREADABLE
    store, settings = opened
    try:
        path = args.rules or (str(settings.gateway_file) if settings is not None else "gateway.yaml")
        try:
            rules = load_gateway_file(path).ordered_rules(include_disabled=True)
        except ConfigError as exc:
            print(f"{path}: {exc}", file=err)
            for problem in exc.problems:
                print(f"  {problem}", file=err)
            return EXIT_UNREADABLE
        disabled = store.disabled_rules()
        hits = store.rule_hits()
        for rule in rules:
            if rule.name in disabled:
                d = disabled[rule.name]
                state = f"DISABLED automatically {d.disabled_at:%Y-%m-%d %H:%M} UTC: {d.reason}"
            else:
                state = "enabled" if rule.enabled else "disabled in the gateway file"
            out.write(f"{rule.priority:>5}  {rule.name}  hits={hits.get(rule.name, 0)}  {state}\n")
        for name in sorted(set(disabled) - {r.name for r in rules}):
            out.write(f"    -  {name}  (not in the gateway file)  DISABLED: {disabled[name].reason}\n")
        return EXIT_OK
    finally:
        store.close()


def run_enable(args: argparse.Namespace) -> int:
    return rules_enable(args, sys.stdout, sys.stderr)


def rules_enable(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    opened = _open_state(args, err)
    if opened is None:
        return EXIT_UNREADABLE
    store, _ = opened
    try:
        if args.name not in store.disabled_rules():
            print(f"rule {args.name!r} is not disabled", file=err)
            return EXIT_NOT_DISABLED
        store.enable_rule(args.name)
        store.audit("inbound.rule.enabled", args.name, actor="cli")
        out.write(f"rule {args.name!r} enabled; it is evaluated again from the next cycle\n")
        return EXIT_OK
    finally:
        store.close()


def run_test(args: argparse.Namespace) -> int:
    return rules_test(args.rules, args.message, sys.stdout, sys.stderr, args.timeout, args.show_cpr)


def rules_test(
    rules_file: str,
    message_file: str,
    out: TextIO,
    err: TextIO,
    timeout: float = DEFAULT_RULE_TIMEOUT_SECONDS,
    show_cpr: bool = False,
) -> int:
    try:
        config = load_gateway_file(rules_file)
        settings = inbound_settings(config)
    except ConfigError as exc:
        print(f"{rules_file}: {exc}", file=err)
        for problem in exc.problems:
            print(f"  {problem}", file=err)
        return EXIT_UNREADABLE
    try:
        data = read_input(message_file)
        lines = _explain(_with_timeout(settings, timeout), message_file, data)
    except UnreadableInput as exc:
        print(f"{message_file}: {exc}", file=err)
        return EXIT_UNREADABLE
    text = "\n".join(lines) + "\n"
    out.write(text if show_cpr else mask_cprs(text))
    return EXIT_OK


def _with_timeout(settings: InboundSettings, timeout: float) -> InboundSettings:
    return replace(settings, rule_timeout_seconds=timeout)


def _looks_like_memo(name: str, data: bytes) -> bool:
    return name.lower().endswith(".xml") or b"DigitalPost.dk/MeMo-1" in data[:4096]


def _explain(settings: InboundSettings, name: str, data: bytes) -> list[str]:
    if _looks_like_memo(name, data):
        if b"\x00" in data[:4096] or not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
            raise UnreadableInput("not a MeMo message: the file is not XML")
        return _explain_memo(settings, data)
    return _explain_mail(settings, parse_eml(data))


def _rules_section(settings: InboundSettings, decision_lines: list[str]) -> list[str]:
    if not settings.rules:
        return ["Rules: none in the gateway file"]
    return ["Rules (evaluation order):", *(f"  {line}" for line in decision_lines)]


def _explain_memo(settings: InboundSettings, xml: bytes) -> list[str]:
    parsed = parse_inbound(xml)
    if not parsed.valid:
        route = invalid_route(settings, parsed.errors)
        explained = invalid_banner(parsed.errors, settings.language)
        return [
            "Message: MeMo (INVALID)",
            "Rules: not evaluated (invalid memos always go to the main mailbox)",
            "Outcome:",
            f"  deliver to: {route.mailbox} / {route.folder}",
            f"  categories: {', '.join(route.categories)}",
            f"  banner: {explained.title}",
            *(f"    {line}" for line in explained.lines),
            "  NgDP receipt: INVALID",
        ]
    message = parsed.message
    assert message is not None
    h = message.header
    decision = evaluate_rules(
        settings.rules,
        memo_rule_item(settings, message, xml),
        timeout=settings.rule_timeout_seconds,
    )
    route = memo_route(settings, message, decision)
    cp = h.recipient.contact_point.contact_point_id if h.recipient.contact_point else "(none)"
    lines = [
        f"Message: MeMo {message.version} {h.message_uuid}",
        f"  label: {h.label}",
        f"  sender: {h.sender.id_type} {h.sender.sender_id} ({h.sender.label})",
        f"  recipient contact point: {cp}",
        *_rules_section(settings, decision.explain()),
        "Outcome:",
    ]
    if decision.deliver_rule:
        how = f"rule {decision.deliver_rule!r}"
    elif route.banner == "unmapped":
        how = "no rule, no mapped contact point"
    else:
        how = "contact point mapping"
    lines.append(f"  deliver to: {route.mailbox} / {route.folder}  ({how})")
    lines.append(f"  categories: {', '.join(route.categories)}")
    lines.append(f"  mark as read: {'yes' if route.mark_read else 'no'}")
    if route.archive_to:
        lines.append(f"  archive copy: {', '.join(route.archive_to)}")
    banner = route_banner(settings, route)
    if banner is None:
        lines.append("  banner: none")
    else:
        lines.append(f"  banner: {banner.title}")
        lines.extend(f"    {line}" for line in banner.lines)
    for trace in decision.timed_out:
        lines.append(f"  rule {trace.rule.name!r} would be disabled (took longer than its time budget)")
    lines.append("  NgDP receipt: COMPLETED")
    return lines


def _explain_mail(settings: InboundSettings, mail: MailMessage) -> list[str]:
    memo = attached_memo(mail)
    decision = evaluate_rules(settings.rules, mail_item(mail, memo), timeout=settings.rule_timeout_seconds)
    sender = mail.sender.address if mail.sender else "(none)"
    lines = [
        "Message: mail",
        f"  subject: {mail.subject}",
        f"  from: {sender}",
        f"  attachments: {', '.join(a.name for a in mail.attachments) or '(none)'}",
    ]
    if memo is not None:
        lines.append(
            f"  attached MeMo: {memo.header.message_uuid} (its fields are available as memo:<field>)"
        )
    lines += [*_rules_section(settings, decision.explain()), "Outcome:"]
    source = settings.sources()[0][0]
    if not decision.matched:
        lines.append(f"  no rule matched: the mail stays where it arrived (e.g. {source} / inbox)")
        return lines
    target = decision.deliver_mailbox
    if target is None:
        lines.append("  stays where it arrived")
    elif target.lower() == source.lower():
        folder = decision.deliver_folder or settings.delivery_folder
        lines.append(f"  moved to: {target} / {folder}  (rule {decision.deliver_rule!r})")
    else:
        folder = decision.deliver_folder or settings.delivery_folder
        lines.append(f"  copied to: {target} / {folder}  (rule {decision.deliver_rule!r})")
    if decision.categories:
        lines.append(f"  categories added: {', '.join(decision.categories)}")
    lines.append(f"  mark as read: {'yes' if decision.mark_read else 'no'}")
    if decision.archive_to:
        lines.append(f"  archive copy: {', '.join(decision.archive_to)}")
    for trace in decision.timed_out:
        lines.append(f"  rule {trace.rule.name!r} would be disabled (took longer than its time budget)")
    return lines


def _addresses(value: object) -> list[EmailAddress]:
    addresses = getattr(value, "addresses", ())
    return [EmailAddress(a.addr_spec, a.display_name or "") for a in addresses]


#: Bounds for a mail (.eml): the MIME containers (multiparts, attached mails) it may nest, and its parts. The
#: email package parses nested containers recursively and every part costs time: 200,000 parts took 50 s.
MAX_MIME_CONTAINERS = 100
MAX_MIME_PARTS = 1000
_HEADER_FIELD = re.compile(rb"[!-9;-~]+[ \t]*:")
_KNOWN_FIELDS = frozenset(
    {
        b"from",
        b"sender",
        b"to",
        b"cc",
        b"subject",
        b"date",
        b"message-id",
        b"mime-version",
        b"received",
        b"return-path",
        b"content-type",
        b"reply-to",
        b"in-reply-to",
        b"references",
    }
)
_BOUNDARY = re.compile(rb"boundary\s*=\s*(?:\"([^\"\r\n]{1,200})\"|([^\s;\"]{1,200}))", re.IGNORECASE)
_ATTACHED_MAIL = re.compile(rb"content-type\s*:\s*message/", re.IGNORECASE)


def check_eml(data: bytes) -> None:
    """Refuse what is not a mail, or a mail beyond the bounds, before the email package parses it
    (:class:`UnreadableInput` says why): the header lines come first (RFC 5322), as UTF-8 (RFC 6532), and
    name at least one of the usual fields; at most ``MAX_MIME_CONTAINERS`` nested containers and
    ``MAX_MIME_PARTS`` parts."""
    end = min(i for i in (data.find(b"\r\n\r\n"), data.find(b"\n\n"), len(data)) if i >= 0)
    head = data[:end].rstrip(b"\r\n")
    if b"\x00" in head or not head:
        raise UnreadableInput("not a mail (.eml): binary content where the header lines should be")
    fields: set[bytes] = set()
    for number, raw in enumerate(head.replace(b"\r\n", b"\n").split(b"\n"), start=1):
        if raw[:1] in (b" ", b"\t") or (number == 1 and raw.startswith(b"From ")):  # folded; mbox From_
            continue  # a folded header line
        match = _HEADER_FIELD.match(raw)
        if match is None:
            raise UnreadableInput(
                f"not a mail (.eml): line {number} of the header is not a header field (Name: value)"
            )
        fields.add(match.group(0).rstrip(b": \t").lower())
    if not fields & _KNOWN_FIELDS:
        raise UnreadableInput("not a mail (.eml): none of From:, To:, Subject:, Date: ... in the header")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = head.count(b"\n", 0, exc.start) + 1
        raise UnreadableInput(f"not a mail (.eml): line {line} of the header is not UTF-8") from None
    boundaries = {a or b for a, b in _BOUNDARY.findall(data)}
    containers = len(boundaries) + len(_ATTACHED_MAIL.findall(data))
    if containers > MAX_MIME_CONTAINERS:
        raise UnreadableInput(
            f"refused: the mail nests more than {MAX_MIME_CONTAINERS} MIME containers (multiparts, "
            "attached mails)"
        )
    parts = sum(data.count(b"\n--" + boundary) for boundary in boundaries)
    if parts > MAX_MIME_PARTS:
        raise UnreadableInput(f"refused: the mail has more than {MAX_MIME_PARTS} MIME parts")


def parse_eml(data: bytes) -> MailMessage:
    """An RFC 5322 message as the gateway's mail value (body preferring HTML, attachments with content),
    within the bounds of :func:`check_eml` (:class:`UnreadableInput` otherwise)."""
    check_eml(data)
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    body_part = msg.get_body(preferencelist=("html", "plain"))
    body, body_type = "", "text"
    if body_part is not None:
        content = body_part.get_content()
        body = content if isinstance(content, str) else ""
        body_type = "html" if body_part.get_content_subtype() == "html" else "text"
    attachments: list[Attachment] = []
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else b""
        attachments.append(
            Attachment(part.get_filename() or "attachment", part.get_content_type(), raw, size=len(raw))
        )
    senders = _addresses(msg.get("From"))
    return MailMessage(
        subject=str(msg.get("Subject", "")),
        body=body,
        body_type=body_type,
        sender=senders[0] if senders else None,
        to=_addresses(msg.get("To")),
        cc=_addresses(msg.get("Cc")),
        reply_to=_addresses(msg.get("Reply-To")),
        attachments=attachments,
        headers=[Header(k, str(v)) for k, v in msg.items()],
        internet_message_id=str(msg.get("Message-ID", "")) or None,
    )
