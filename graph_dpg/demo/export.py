"""``graph-dpg sandbox --export DIR``: every mail the gateway wrote or delivered during the demo, as ``.eml``
and as a standalone ``.html`` page, so anyone can look at them (docs/sandbox.md, "Exported mails").

Which mails: every message in the emulated tenant that was not there when the scenario had been injected
(:func:`snapshot` before, :func:`collect` after) - receipts and their updates, delivered post and its
follow-up parts, archive copies, secure mail the gateway opened or routed, secure mail it sent, alerts to
the monitoring mailbox. Each is mapped to the scenario item it belongs to by the marker the gateway put on
it (the receipt's job, the memo's id, the secure mail's internetMessageId) and named
``<scenario item>-<n>-<kind>`` (alerts: ``monitoring-<n>-alert``).

The files hold decrypted content (an opened secure mail, a letter's text): this is the sandbox's demo data,
and the export is the one place the gateway writes such content to disk (docs/sandbox.md says so).

The ``.eml`` is built with the standard library's ``email`` package from the emulator's stored message
(subject, from, to, cc, date, HTML body, attachments; inline images as ``multipart/related``). The ``.html``
is a complete document (``<!doctype html>``, ``<meta charset="utf-8">``) with a header block like Outlook's
reading pane (from, to, date, categories, attachments) above the body; inline images become ``data:`` URIs.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from graph_dpg.demo.scenario import Scenario
from graph_dpg.sandbox.graph import GraphTenant
from graph_dpg.services.alerts import ALERT_PROPERTY
from graph_dpg.services.inbound.memos import MEMO_PART_PROPERTY, MEMO_PROPERTY
from graph_dpg.services.inbound.shared import ARCHIVE_PROPERTY
from graph_dpg.services.outbound import RECEIPT_PROPERTY

MONITORING = "monitoring"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ExportedMail:
    item: str  # the scenario item's name, "monitoring" for alerts, "gateway" when no item is known
    kind: str  # receipt, receipt-update, post, post-part, archive-copy, secure-mail, alert, mail
    mailbox: str
    message: dict[str, Any]  # the emulator's Graph JSON view (with attachments and extended properties)


def snapshot(tenant: GraphTenant) -> set[tuple[str, str]]:
    """Every (mailbox, message id) in the tenant now: what the gateway did not write."""
    return {(upn, message_id) for upn, message_id in _all_messages(tenant)}


def _all_messages(tenant: GraphTenant) -> list[tuple[str, str]]:
    with tenant.lock:
        return [(mb.upn, message_id) for mb in tenant.mailboxes() for message_id in mb.messages]


def collect(
    tenant: GraphTenant,
    scenario: Scenario,
    before: set[tuple[str, str]],
    *,
    jobs: Mapping[str, str],
    memos: Mapping[str, str],
    inbox: Mapping[str, tuple[str, str]],
    monitoring_mailbox: str,
) -> list[ExportedMail]:
    """The mails written since ``before``, each with its item and kind, in scenario order then time order.

    ``jobs``: the gateway's job id → outgoing item name; ``memos``: memo id → inbound item name; ``inbox``:
    inbox mail item name → (mailbox, internetMessageId), as the player recorded them."""
    by_imid = {imid: name for name, (_, imid) in inbox.items()}
    outgoing = {(m.mailbox.lower(), m.subject): m.name for m in scenario.outbound}
    found: list[ExportedMail] = []
    for upn, message_id in _all_messages(tenant):
        if (upn, message_id) in before:
            continue
        message = tenant.message(upn, message_id)
        item, kind = _classify(upn, message, jobs, memos, by_imid, outgoing, monitoring_mailbox)
        found.append(ExportedMail(item, kind, upn, message))
    order = [m.name for m in scenario.outbound] + [m.name for m in scenario.inbound]
    order += [m.name for m in scenario.inbox_mails]
    rank = {name: i for i, name in enumerate(order)}
    found.sort(key=lambda m: (rank.get(m.item, len(order)), m.item, _created(m.message), m.kind))
    # The first receipt of a send is "receipt"; any later one for the same send is its update.
    seen: set[str] = set()
    ordered: list[ExportedMail] = []
    for mail in found:
        if mail.kind == "receipt":
            key = _marker(mail.message, RECEIPT_PROPERTY).split(":")[1]
            if key in seen:
                mail = ExportedMail(mail.item, "receipt-update", mail.mailbox, mail.message)
            seen.add(key)
        ordered.append(mail)
    return ordered


def _classify(
    upn: str,
    message: dict[str, Any],
    jobs: Mapping[str, str],
    memos: Mapping[str, str],
    by_imid: Mapping[str, str],
    outgoing: Mapping[tuple[str, str], str],
    monitoring_mailbox: str,
) -> tuple[str, str]:
    receipt = _marker(message, RECEIPT_PROPERTY)
    if receipt:
        # "receipt:<job id>" or "receipt:<job id>:<what>" (the effect's key, services/outbound.py)
        parts = receipt.split(":")
        return jobs.get(parts[1] if len(parts) > 1 else "", "gateway"), "receipt"
    if _marker(message, ALERT_PROPERTY) or upn.lower() == monitoring_mailbox.lower():
        return MONITORING, "alert"
    if memo := _marker(message, MEMO_PROPERTY):
        return memos.get(memo, "gateway"), "post"
    if part := _marker(message, MEMO_PART_PROPERTY):
        return memos.get(part.rsplit(":", 1)[0], "gateway"), "post-part"
    if archived := _marker(message, ARCHIVE_PROPERTY):
        return memos.get(archived, "gateway"), "archive-copy"
    imid = message.get("internetMessageId")
    if imid in by_imid:
        return by_imid[str(imid)], "secure-mail"
    sender = ((message.get("from") or {}).get("emailAddress") or {}).get("address") or upn
    subject = str(message.get("subject") or "")
    for (mailbox, original), name in outgoing.items():
        if mailbox in (upn.lower(), str(sender).lower()) and original and original in subject:
            return name, "secure-mail"
    return "gateway", "mail"


def _marker(message: Mapping[str, Any], name: str) -> str:
    for prop in message.get("singleValueExtendedProperties") or []:
        if str(prop.get("id", "")).rsplit(" ", 1)[-1] == name:
            return str(prop.get("value") or "")
    return ""


def _created(message: Mapping[str, Any]) -> str:
    return str(message.get("createdDateTime") or message.get("receivedDateTime") or "")


def write_export(directory: Path, mails: Iterable[ExportedMail]) -> list[Path]:
    """Write ``<item>-<n>-<kind>.eml`` and ``.html`` per mail (``n`` counts within the item, from 1); the
    directory is created if missing. The paths written, ``.eml`` and ``.html`` alternately."""
    directory.mkdir(parents=True, exist_ok=True)
    counters: dict[str, int] = {}
    written: list[Path] = []
    for mail in mails:
        counters[mail.item] = counters.get(mail.item, 0) + 1
        stem = f"{_safe(mail.item)}-{counters[mail.item]}-{mail.kind}"
        eml = directory / f"{stem}.eml"
        eml.write_bytes(to_eml(mail.message))
        page = directory / f"{stem}.html"
        page.write_text(to_html(mail.message, mailbox=mail.mailbox), encoding="utf-8")
        written += [eml, page]
    return written


def _safe(name: str) -> str:
    return _UNSAFE.sub("-", name).strip("-") or "mail"


def _address(recipient: Mapping[str, Any] | None) -> str:
    email = (recipient or {}).get("emailAddress") or {}
    return formataddr((str(email.get("name") or ""), str(email.get("address") or "")))


def _addresses(message: Mapping[str, Any], key: str) -> list[str]:
    return [_address(r) for r in message.get(key) or [] if r]


def _shown(recipient: Mapping[str, Any] | None) -> str:
    """``Name <address>`` as a reading pane shows it (no RFC 2047 encoding: the page is UTF-8)."""
    email = (recipient or {}).get("emailAddress") or {}
    name, address = str(email.get("name") or ""), str(email.get("address") or "")
    return f"{name} <{address}>" if name else address


def _shown_all(message: Mapping[str, Any], key: str) -> list[str]:
    return [_shown(r) for r in message.get(key) or [] if r]


def to_eml(message: Mapping[str, Any]) -> bytes:
    """The message as RFC 5322 MIME (the email package), from the emulator's stored message."""
    eml = EmailMessage()
    eml["Subject"] = str(message.get("subject") or "")
    if message.get("from"):
        eml["From"] = _address(message["from"])
    for key, header in (("toRecipients", "To"), ("ccRecipients", "Cc")):
        if values := _addresses(message, key):
            eml[header] = ", ".join(values)
    eml["Date"] = format_datetime(_datetime(message))
    eml["Message-ID"] = str(message.get("internetMessageId") or make_msgid(domain="sandbox.local"))
    if message.get("categories"):
        eml["Keywords"] = ", ".join(message["categories"])
    body = message.get("body") or {}
    content = str(body.get("content") or "")
    if str(body.get("contentType", "html")).lower() == "html":
        eml.set_content(content, subtype="html", cte="quoted-printable")
    else:
        eml.set_content(content, cte="quoted-printable")
    attachments = message.get("attachments") or []
    for att in attachments:
        if att.get("isInline") and att.get("contentId"):
            maintype, subtype = _content_type(att)
            eml.add_related(
                _bytes(att), maintype, subtype, cid=f"<{att['contentId']}>", filename=att.get("name")
            )
    for att in attachments:
        if not (att.get("isInline") and att.get("contentId")):
            maintype, subtype = _content_type(att)
            eml.add_attachment(_bytes(att), maintype, subtype, filename=str(att.get("name") or "attachment"))
    return eml.as_bytes(policy=SMTP)


def _content_type(att: Mapping[str, Any]) -> tuple[str, str]:
    kind = str(att.get("contentType") or "application/octet-stream").split(";")[0].strip().lower()
    maintype, _, subtype = kind.partition("/")
    return (maintype, subtype) if maintype and subtype else ("application", "octet-stream")


def _bytes(att: Mapping[str, Any]) -> bytes:
    return base64.b64decode(str(att.get("contentBytes") or ""))


def _datetime(message: Mapping[str, Any]) -> datetime:
    text = str(
        message.get("sentDateTime") or message.get("receivedDateTime") or message.get("createdDateTime")
    )
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)


_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.IGNORECASE | re.DOTALL)
_STYLES = re.compile(r"<style[^>]*>.*?</style>", re.IGNORECASE | re.DOTALL)

_PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  body {{ margin: 0; background: #f3f2f1; font-family: "Segoe UI", "Helvetica Neue", Arial, sans-serif; }}
  .pane {{ max-width: 820px; margin: 0 auto; background: #fff; min-height: 100vh; }}
  .head {{ padding: 16px 20px 10px; border-bottom: 1px solid #edebe9; font-size: 13px; color: #323130; }}
  .head h1 {{ font-size: 20px; font-weight: 600; margin: 0 0 10px; }}
  .head dl {{ display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 0; }}
  .head dt {{ color: #605e5c; }} .head dd {{ margin: 0; }}
  .cat {{ display: inline-block; padding: 0 6px; margin-right: 4px; border-radius: 2px;
          background: #deecf9; }}
  .mail {{ padding: 16px 20px; }}
</style>
{styles}
</head>
<body>
<div class="pane">
<div class="head">
<h1>{title}</h1>
<dl>{rows}</dl>
</div>
<div class="mail">
{body}
</div>
</div>
</body>
</html>
"""


def to_html(message: Mapping[str, Any], *, mailbox: str = "") -> str:
    """A complete HTML page: a reading-pane header (from, to, date, categories, attachments) and the body as
    Outlook shows it; inline images as ``data:`` URIs so the page stands alone."""
    subject = str(message.get("subject") or "")
    body = message.get("body") or {}
    content = str(body.get("content") or "")
    styles = ""
    if str(body.get("contentType", "html")).lower() == "html":
        styles = "\n".join(_STYLES.findall(content))
        inner = _BODY.search(content)
        shown = inner.group(1) if inner is not None else content
        for att in message.get("attachments") or []:
            if att.get("contentId"):
                uri = f"data:{att.get('contentType')};base64,{att.get('contentBytes') or ''}"
                shown = shown.replace(f"cid:{att['contentId']}", uri)
    else:
        shown = f"<pre>{html.escape(content)}</pre>"
    rows: list[tuple[str, str]] = []
    if message.get("from"):
        rows.append(("Fra", html.escape(_shown(message["from"]))))
    if to := _shown_all(message, "toRecipients"):
        rows.append(("Til", html.escape(", ".join(to))))
    if cc := _shown_all(message, "ccRecipients"):
        rows.append(("Cc", html.escape(", ".join(cc))))
    rows.append(("Dato", html.escape(_local(_datetime(message)))))
    if mailbox:
        rows.append(("Postkasse", html.escape(mailbox)))
    if categories := message.get("categories"):
        rows.append(("Kategorier", "".join(f'<span class="cat">{html.escape(c)}</span>' for c in categories)))
    files = [a for a in message.get("attachments") or [] if not a.get("isInline")]
    if files:
        listed = ", ".join(f"{html.escape(str(a.get('name')))} ({_size(a)})" for a in files)
        rows.append(("Vedhæftet", listed))
    return _PAGE.format(
        lang="da",
        title=html.escape(subject),
        styles=styles,
        rows="".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows),
        body=shown,
    )


def _local(moment: datetime) -> str:
    """Danish local time as Outlook in Denmark shows it; UTC where the system has no time zone data."""
    try:
        return moment.astimezone(ZoneInfo("Europe/Copenhagen")).strftime("%d-%m-%Y %H:%M")
    except ZoneInfoNotFoundError:
        return moment.astimezone(UTC).strftime("%d-%m-%Y %H:%M UTC")


def _size(att: Mapping[str, Any]) -> str:
    size = int(att.get("size") or len(_bytes(att)))
    return f"{size} B" if size < 1024 else f"{size / 1024:.0f} kB"
