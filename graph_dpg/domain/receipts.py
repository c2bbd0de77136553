"""DPG receipts: what the gateway writes back into the sending function mailbox (docs/product.md,
"Receipts").

A receipt mail lists every recipient of one outgoing mail with its status, in Danish by default or English.
When many recipients are involved the table would not fit a mail body sensibly, so the body then holds the
counts, the failures, and the full per-recipient list goes into attached text files; failure details are
always in ``NgDPKvitteringsDetaljerMedFejl.txt`` when there are many of them (the name the release notes use).

Receipts stay small, whatever the mail they answer: Graph refuses a request over 4 MB, and a receipt it
refuses would be written again and again while the sender never learns why nothing was sent. So the body
shows at most ``MAX_FINDINGS_IN_BODY`` findings (and as many warnings), ``MAX_TABLE_ROWS`` recipients and
``MAX_TEXT_IN_BODY`` characters of any one finding or detail; everything else goes into the attached text
files, which the Graph adapter uploads through an upload session when they are 3 MB or more. The body is
then at most a few hundred KB (an error receipt with 40,000 findings: a 7 KB body and a 4.7 MB attached
list, where the body alone used to be 5.3 MB).

CPR numbers never appear in clear in anything generated here (masked ``DDMMYY-xxxx``); the sender identifies
a recipient by the masked number, the line in ``masseforsendelse.txt`` and the messageUUID.

The state of the original message is shown with Outlook categories; ``category_for`` maps a job state to the
semantic category key, whose display name and colour come from the gateway file.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from graph_dpg.core.errors import Finding
from graph_dpg.domain.finding_text import finding_sentence, support_line
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.domain.local_time import local_time
from graph_dpg.domain.texts import Text, text

FAILURE_DETAILS_NAME = "NgDPKvitteringsDetaljerMedFejl.txt"
ALL_RECIPIENTS_NAME = "NgDPKvitteringAlleModtagere.txt"
FINDINGS_NAME = "DPGFejlOgBemaerkninger.txt"
MAX_TABLE_ROWS = 200
MAX_FAILURES_IN_BODY = 10
MAX_FINDINGS_IN_BODY = 50  # errors, and as many warnings; all of them in FINDINGS_NAME
MAX_TEXT_IN_BODY = 1000  # characters of one finding or recipient detail in the body
MAX_CHANGES_IN_BODY = 10  # recipients an updated receipt names one by one (all are in its table)


class RecipientStatus(StrEnum):
    PENDING = "pending"  # planned, not yet accepted by NgDP
    ACCEPTED = "accepted"  # NgDP answered 201
    COMPLETED = "completed"  # business receipt COMPLETED
    RECEIVED = "received"  # business receipt RECEIVED
    REJECTED = "rejected"  # NgDP answered 400, or the business receipt was INVALID / NOT_ALLOWED
    FAILED = "failed"  # gave up after retries (transport, auth)

    @property
    def is_failure(self) -> bool:
        return self in (RecipientStatus.REJECTED, RecipientStatus.FAILED)


class JobCategory(StrEnum):
    """Semantic category keys (names and colours are configured in the gateway file)."""

    QUEUED = "queued"
    SENT = "sent"
    RECEIPTED = "receipted"
    FAILED = "failed"


@dataclass(frozen=True)
class RecipientLine:
    recipient: str  # already masked for display, e.g. "010203-xxxx" or a CVR
    status: RecipientStatus
    message_uuid: str = ""
    detail: str = ""  # NgDP error text or business receipt text
    line: int | None = None  # line in masseforsendelse.txt
    ngdp_status: str = ""  # the business receipt's receiptStatus when it made the recipient fail


@dataclass(frozen=True)
class ReceiptMail:
    subject: str
    html: str
    attachments: tuple[tuple[str, bytes], ...] = ()


_STATUS_TEXT: dict[RecipientStatus, Text] = {
    RecipientStatus.PENDING: Text.RECEIPT_STATUS_PENDING,
    RecipientStatus.ACCEPTED: Text.RECEIPT_STATUS_ACCEPTED,
    RecipientStatus.COMPLETED: Text.RECEIPT_STATUS_COMPLETED,
    RecipientStatus.RECEIVED: Text.RECEIPT_STATUS_RECEIVED,
    RecipientStatus.REJECTED: Text.RECEIPT_STATUS_REJECTED,
    RecipientStatus.FAILED: Text.RECEIPT_STATUS_FAILED,
}


def _safe_label(label: str, language: str) -> str:
    # The subject of the original mail may itself contain a CPR; receipts never repeat one in clear.
    cleaned = mask_cprs(label.strip()) or text(Text.RECEIPT_NO_SUBJECT, language)
    return cleaned if len(cleaned) <= 120 else cleaned[:117] + "..."


_STYLE = "font-family:Segoe UI,Arial,sans-serif;font-size:10.5pt"
_CELL = "border:1px solid #bbb;padding:3px 6px;text-align:left"


def _columns(language: str) -> list[str]:
    """The column headings: line, recipient, status, messageUUID, details."""
    keys = (
        Text.RECEIPT_COL_LINE,
        Text.RECEIPT_COL_RECIPIENT,
        Text.RECEIPT_COL_STATUS,
        Text.RECEIPT_COL_UUID,
        Text.RECEIPT_COL_DETAIL,
    )
    return [text(k, language) for k in keys]


_NGDP_STATUS_TEXT = {"NOT_ALLOWED": Text.NGDP_RECEIPT_NOT_ALLOWED, "INVALID": Text.NGDP_RECEIPT_INVALID}


def _detail(row: RecipientLine, language: str) -> str:
    """What the detail column says: a failing business receipt in words, else NgDP's or our detail."""
    if row.ngdp_status:
        return text(_NGDP_STATUS_TEXT.get(row.ngdp_status, Text.NGDP_RECEIPT_UNKNOWN), language)
    return mask_cprs(row.detail)


def _table(rows: Sequence[RecipientLine], language: str, with_lines: bool) -> str:
    head = _columns(language)[0 if with_lines else 1 :]
    out = [f'<table style="border-collapse:collapse;{_STYLE}"><tr>']
    out += [f'<th style="{_CELL};background:#eee">{html.escape(h)}</th>' for h in head]
    out.append("</tr>")
    for r in rows:
        cells = [
            r.recipient,
            text(_STATUS_TEXT[r.status], language),
            r.message_uuid,
            _clip(_detail(r, language)),
        ]
        if with_lines:
            cells.insert(0, "" if r.line is None else str(r.line))
        colour = "#b00020" if r.status.is_failure else "#000"
        out.append(
            "<tr>" + "".join(f'<td style="{_CELL};color:{colour}">{html.escape(c)}</td>' for c in cells)
        )
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _text_file(rows: Sequence[RecipientLine], language: str) -> bytes:
    lines = ["\t".join(_columns(language))]
    for r in rows:
        detail = _one_line(_detail(r, language))
        lines.append(
            "\t".join(
                [
                    "" if r.line is None else str(r.line),
                    r.recipient,
                    text(_STATUS_TEXT[r.status], language),
                    r.message_uuid,
                    detail,
                ]
            )
        )
    # UTF-8 with BOM so Notepad and Excel show æøå correctly.
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def _clip(value: str) -> str:
    return value if len(value) <= MAX_TEXT_IN_BODY else value[: MAX_TEXT_IN_BODY - 1] + "…"


def _items(findings: Sequence[Finding], language: str) -> str:
    """The first ``MAX_FINDINGS_IN_BODY`` findings as list items: the catalogue's sentence for each, in
    ``language`` (CPR-masked, each clipped)."""
    shown = findings[:MAX_FINDINGS_IN_BODY]
    return "".join(f"<li>{html.escape(_clip(finding_sentence(f, language)))}</li>" for f in shown)


def _notes(findings: Sequence[Finding], language: str) -> str:
    return f"<p>{text(Text.RECEIPT_WARNINGS, language)}</p><ul>{_items(findings, language)}</ul>"


def _support(findings: Sequence[Finding], language: str) -> str:
    """The one small line at the end that names the rule codes, for IT support."""
    line = support_line(findings, language)
    return f'<p style="color:#767676;font-size:8pt">{html.escape(line)}</p>' if line else ""


def _findings_attached(
    errors: Sequence[Finding], notes: Sequence[Finding], language: str
) -> tuple[str, tuple[tuple[str, bytes], ...]]:
    """When the body cannot show every finding whole: the sentence that says so and the file with all."""
    everything = [*errors, *notes]
    fits = len(errors) <= MAX_FINDINGS_IN_BODY and len(notes) <= MAX_FINDINGS_IN_BODY
    if fits and all(len(finding_sentence(f, language)) <= MAX_TEXT_IN_BODY for f in everything):
        return "", ()
    shown = min(len(errors), MAX_FINDINGS_IN_BODY) + min(len(notes), MAX_FINDINGS_IN_BODY)
    sentence = text(
        Text.RECEIPT_FINDINGS_ATTACHED, language, shown=shown, total=len(everything), name=FINDINGS_NAME
    )
    lines: list[str] = []
    for heading, group in ((Text.RECEIPT_FIX, errors), (Text.RECEIPT_WARNINGS, notes)):
        if group:
            lines += [text(heading, language), *(_one_line(finding_sentence(f, language)) for f in group), ""]
    lines.append(support_line(everything, language))
    # UTF-8 with BOM so Notepad and Excel show æøå correctly.
    data = ("\ufeff" + "\r\n".join(lines)).encode("utf-8")
    return f"<p>{html.escape(sentence)}</p>", ((FINDINGS_NAME, data),)


def _sent(sent_at: datetime | None, language: str) -> str:
    """The line that points to the original beside its subject: when it was sent, in Danish local time."""
    if sent_at is None:
        return ""
    return "<p>" + html.escape(text(Text.RECEIPT_SENT_AT, language, sent=local_time(sent_at))) + "</p>"


def _changes(safe: str, changed: Sequence[RecipientLine], language: str) -> list[str]:
    """What an updated receipt opens with: that it is one, and each recipient whose outcome changed, in
    words (the reason says what to do)."""
    shown = changed[:MAX_CHANGES_IN_BODY]
    items = "".join(
        "<li>"
        + html.escape(
            _clip(
                text(
                    Text.RECEIPT_UPDATE_REJECTED,
                    language,
                    recipient=r.recipient,
                    reason=_detail(r, language),
                )
            )
        )
        + "</li>"
        for r in shown
    )
    parts = [
        "<p>" + text(Text.RECEIPT_UPDATE_INTRO_HTML, language, label=html.escape(safe)) + "</p>",
        f"<ul>{items}</ul>",
    ]
    if len(changed) > len(shown):
        more = text(Text.RECEIPT_UPDATE_MORE, language, more=len(changed) - len(shown))
        parts.append(f"<p>{html.escape(more)}</p>")
    parts.append(f"<p>{html.escape(text(Text.RECEIPT_UPDATE_NOW, language))}</p>")
    return parts


def _one_line(value: str) -> str:
    return value.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def render_receipt(
    label: str,
    rows: Sequence[RecipientLine],
    *,
    language: str = "da",
    warnings: Sequence[Finding] = (),
    sent_at: datetime | None = None,
    changed: Sequence[RecipientLine] | None = None,
) -> ReceiptMail:
    """The DPG receipt for a mail that was (at least partly) sent. Failed recipients are listed first, so
    the ones to act on are at the top of a long list (otherwise in the order they were planned).

    ``sent_at``: when the original was sent (shown in Danish local time). ``changed``: this is the updated
    receipt that a later business receipt calls for; it opens with what changed (these recipients, now
    refused), then shows the whole delivery as it stands, so its counts agree with its rows."""
    rows = sorted(rows, key=lambda r: not r.status.is_failure)
    counts = Counter(r.status for r in rows)
    failed = sum(n for s, n in counts.items() if s.is_failure)
    pending = counts[RecipientStatus.PENDING]
    ok = len(rows) - failed - pending
    safe = _safe_label(label, language)
    if changed is not None:
        subject = text(Text.RECEIPT_SUBJECT_UPDATE, language, label=safe)
        opening = _changes(safe, changed, language)
    else:
        subject_key = Text.RECEIPT_SUBJECT_PARTIAL if failed else Text.RECEIPT_SUBJECT_OK
        subject = text(subject_key, language, label=safe)
        opening = ["<p>" + text(Text.RECEIPT_INTRO_HTML, language, label=html.escape(safe)) + "</p>"]
    parts = [
        f'<div style="{_STYLE}">',
        *opening,
        _sent(sent_at, language),
        "<p>"
        + text(Text.RECEIPT_SUMMARY, language, total=len(rows), ok=ok, failed=failed, pending=pending)
        + "</p>",
    ]
    if warnings:
        parts.append(_notes(warnings, language))
    told, attached = _findings_attached((), warnings, language)
    parts.append(told)
    with_lines = any(r.line is not None for r in rows)
    attachments: list[tuple[str, bytes]] = list(attached)
    failures = [r for r in rows if r.status.is_failure]
    if len(rows) <= MAX_TABLE_ROWS:
        parts.append(_table(rows, language, with_lines))
    else:
        parts.append(_table(failures[:MAX_FAILURES_IN_BODY], language, with_lines) if failures else "")
        parts.append("<p>" + text(Text.RECEIPT_ALL_ATTACHED, language, name=ALL_RECIPIENTS_NAME) + "</p>")
        attachments.append((ALL_RECIPIENTS_NAME, _text_file(rows, language)))
    if len(failures) > MAX_FAILURES_IN_BODY or (failures and len(rows) > MAX_TABLE_ROWS):
        parts.append(
            "<p>" + text(Text.RECEIPT_DETAILS_ATTACHED, language, name=FAILURE_DETAILS_NAME) + "</p>"
        )
        attachments.append((FAILURE_DETAILS_NAME, _text_file(failures, language)))
    parts.append(_support(warnings, language))
    parts.append("</div>")
    return ReceiptMail(subject, "".join(parts), tuple(attachments))


def render_error_receipt(
    label: str, findings: Sequence[Finding], *, language: str = "da", sent_at: datetime | None = None
) -> ReceiptMail:
    """The receipt for a mail that was refused before anything was sent: what to fix (the first findings in
    the body, all of them attached when there are more: see the module docstring)."""
    safe = _safe_label(label, language)
    errors = [f for f in findings if f.severity == "error"]
    notes = [f for f in findings if f.severity != "error"]
    body = [
        f'<div style="{_STYLE}">',
        "<p>" + text(Text.RECEIPT_ERROR_INTRO_HTML, language, label=html.escape(safe)) + "</p>",
        _sent(sent_at, language),
        f"<p>{text(Text.RECEIPT_FIX, language)}</p><ul>{_items(errors, language)}</ul>",
    ]
    if notes:
        body.append(_notes(notes, language))
    told, attached = _findings_attached(errors, notes, language)
    body += [told, _support(findings, language), "</div>"]
    return ReceiptMail(text(Text.RECEIPT_SUBJECT_ERROR, language, label=safe), "".join(body), attached)


def render_failure_receipt(
    label: str,
    what: str,
    reference: str,
    rows: Sequence[RecipientLine] = (),
    *,
    language: str = "da",
    sent_at: datetime | None = None,
) -> ReceiptMail:
    """The receipt for a mail the gateway gave up on (an unexpected error, or transient failures beyond
    their limits), or whose usual receipt could not be written: what happened (``what``, a sentence of the
    catalogue), what to do, and the reference for IT support. ``rows`` are its recipients if any were
    planned; when some of them got the letter, the receipt lists them all, and asks for the failed ones
    only to be sent again."""
    safe = _safe_label(label, language)
    failures = [r for r in rows if r.status.is_failure]
    sent = [r for r in rows if not r.status.is_failure and r.status is not RecipientStatus.PENDING]
    parts = [f'<div style="{_STYLE}">']
    attachments: list[tuple[str, bytes]] = []
    todo: Text | None
    if not sent:
        subject, todo = Text.RECEIPT_SUBJECT_ERROR, Text.RECEIPT_SEND_AGAIN
        parts.append("<p>" + text(Text.RECEIPT_ERROR_INTRO_HTML, language, label=html.escape(safe)) + "</p>")
        parts.append(_sent(sent_at, language))
    else:
        subject = Text.RECEIPT_SUBJECT_PARTIAL if failures else Text.RECEIPT_SUBJECT_OK
        todo = Text.RECEIPT_SEND_AGAIN_FAILED if failures else None
        pending = len(rows) - len(sent) - len(failures)
        summary = text(
            Text.RECEIPT_SUMMARY,
            language,
            total=len(rows),
            ok=len(sent),
            failed=len(failures),
            pending=pending,
        )
        parts.append("<p>" + text(Text.RECEIPT_INTRO_HTML, language, label=html.escape(safe)) + "</p>")
        parts.append(_sent(sent_at, language))
        parts.append(f"<p>{summary}</p>")
    parts.append(f"<p>{html.escape(mask_cprs(what))}</p>")
    if todo is not None:
        parts.append(f"<p>{html.escape(text(todo, language))}</p>")
    if sent:
        with_lines = any(r.line is not None for r in rows)
        if len(rows) <= MAX_TABLE_ROWS:
            parts.append(_table(rows, language, with_lines))
        else:
            parts.append(_table(failures[:MAX_FAILURES_IN_BODY], language, with_lines))
            parts.append("<p>" + text(Text.RECEIPT_ALL_ATTACHED, language, name=ALL_RECIPIENTS_NAME) + "</p>")
            attachments.append((ALL_RECIPIENTS_NAME, _text_file(rows, language)))
    support = text(Text.RECEIPT_SUPPORT_REFERENCE, language, reference=mask_cprs(reference))
    parts.append(f"<p>{html.escape(support)}</p>")
    parts.append("</div>")
    return ReceiptMail(text(subject, language, label=safe), "".join(parts), tuple(attachments))


def _category_of_status(status: RecipientStatus) -> JobCategory:
    """The state category one recipient alone would give the original (its status word is that word)."""
    return category_for([RecipientLine("", status)])


def category_for(rows: Sequence[RecipientLine]) -> JobCategory:
    """The one state category the original message shows, derived from its recipients."""
    if any(r.status.is_failure for r in rows):
        return JobCategory.FAILED
    if not rows or any(r.status == RecipientStatus.PENDING for r in rows):
        return JobCategory.QUEUED
    if all(r.status in (RecipientStatus.COMPLETED, RecipientStatus.RECEIVED) for r in rows):
        return JobCategory.RECEIPTED
    return JobCategory.SENT
