"""DPG receipts: what the gateway writes back into the sending function mailbox (docs/product.md,
"Receipts").

A receipt mail lists every recipient of one outgoing mail with its status, in Danish by default or English.
Failed recipients come first, each with its line in ``masseforsendelse.txt`` (mass delivery) and the reason in
words; NgDP's or the network's own words for it go in a support column or line at the end. The summary counts
recipients by the same status words the rows show. Beyond ``MAX_INLINE_RECIPIENTS`` recipients (a few dozen)
the body holds the counts and the first failures, and the full list goes into an attached CSV file
(``modtagere.csv``/``recipients.csv``); failure details are in ``NgDPKvitteringsDetaljerMedFejl.txt`` (the
name the release notes use) whenever the body does not list every failure.

Receipts stay small, whatever the mail they answer: Graph refuses a request over 4 MB, and a receipt it
refuses would be written again and again while the sender never learns why nothing was sent. So the body
shows at most ``MAX_FINDINGS_IN_BODY`` findings (and as many warnings), ``MAX_INLINE_RECIPIENTS`` recipients
and ``MAX_TEXT_IN_BODY`` characters of any one finding or detail; everything else goes into the attached
files, which the Graph adapter uploads through an upload session when they are 3 MB or more. The body is
then at most a few hundred KB (an error receipt with 40,000 findings: a 7 KB body and a 4.7 MB attached
list, where the body alone used to be 5.3 MB). The recipient lists are bounded too: a row's support text is
clipped to ``MAX_SUPPORT_CHARS`` and a list file to ``MAX_LIST_BYTES`` (cut at a row, failures first, and
the body says so), so that the two lists of the largest mass delivery stay below Exchange Online's default
35 MB message size limit (see ``MAX_LIST_BYTES``); 10,000 recipients always fit whole.

CPR numbers never appear in clear in anything generated here (masked ``DDMMYY-xxxx``); the sender identifies
a recipient by the masked number, the line in ``masseforsendelse.txt`` and the messageUUID.

The state of the original message is shown with Outlook categories; ``category_for`` maps a job state to the
semantic category key, whose display name and colour come from the gateway file.
"""

from __future__ import annotations

import csv
import html
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from graph_dpg.core.errors import Finding
from graph_dpg.domain.finding_text import finding_sentence, support_codes, support_line
from graph_dpg.domain.html_text import MAIL_STYLE
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.domain.local_time import local_time
from graph_dpg.domain.texts import CATALOGUE, LANGUAGES, Text, text

FAILURE_DETAILS_NAME = "NgDPKvitteringsDetaljerMedFejl.txt"
FINDINGS_NAME = "DPGFejlOgBemaerkninger.txt"
#: "A few dozen": up to this many recipients the body lists them all; beyond, it lists the failures (the
#: first ``MAX_FAILURES_IN_BODY``) and every recipient is in the attached CSV (``recipients_csv_name``).
MAX_INLINE_RECIPIENTS = 30
MAX_FAILURES_IN_BODY = 10
#: Characters of one row's support text (NgDP's or the network's words) in an attached list. NgDP's error
#: answers run to a few KB; a failed row is then at most about 900 bytes, so 10,000 of them are 9 MB.
MAX_SUPPORT_CHARS = 500
#: Bytes of one attached recipient list (the CSV, the failure details). Both lists together, base64-encoded
#: in the mail (4/3), stay below Exchange Online's default maximum message size of 35 MB (the limit the
#: settings and the Graph emulator use; Graph's upload session itself takes up to 150 MB): 2 x 10 MB x 4/3
#: = 26.7 MB. 10,000 recipients fit whole even when every one failed (see ``MAX_SUPPORT_CHARS``).
MAX_LIST_BYTES = 10 * 1024 * 1024
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


@dataclass(frozen=True, slots=True)
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


_STYLE = MAIL_STYLE  # one typography for every mail the gateway writes
_CELL = "border:1px solid #bbb;padding:3px 6px;text-align:left"


def _columns(language: str) -> list[str]:
    """The column headings of the body's table: line, recipient, status, messageUUID, details."""
    keys = (
        Text.RECEIPT_COL_LINE,
        Text.RECEIPT_COL_RECIPIENT,
        Text.RECEIPT_COL_STATUS,
        Text.RECEIPT_COL_UUID,
        Text.RECEIPT_COL_DETAIL,
    )
    return [text(k, language) for k in keys]


def _list_columns(language: str) -> list[str]:
    """The column headings of the attached lists: line, recipient, status, reason, messageUUID, support."""
    keys = (
        Text.RECEIPT_COL_LINE,
        Text.RECEIPT_COL_RECIPIENT,
        Text.RECEIPT_COL_STATUS,
        Text.RECEIPT_COL_REASON,
        Text.RECEIPT_COL_UUID,
        Text.RECEIPT_COL_SUPPORT,
    )
    return [text(k, language) for k in keys]


_NGDP_STATUS_TEXT = {"NOT_ALLOWED": Text.NGDP_RECEIPT_NOT_ALLOWED, "INVALID": Text.NGDP_RECEIPT_INVALID}

#: Recorded errors that are already a catalogue sentence (the gateway wrote them in the mailbox's language):
#: the fixed beginning of each template, in every language.
_WORDED_PREFIXES = tuple(
    CATALOGUE[key].template(language).split("{", 1)[0]
    for key in (
        Text.RECEIPT_ROW_NOT_SENT,
        Text.RECEIPT_ROW_HTML_REJECTED,
        Text.RECEIPT_RECIPIENT_EXEMPT,  # the recipient's registration in words (services/names.py)
        Text.RECEIPT_RECIPIENT_UNKNOWN,
    )
    for language in LANGUAGES
)


def recipients_csv_name(language: str) -> str:
    """The attached list of every recipient: ``modtagere.csv`` or ``recipients.csv``."""
    return text(Text.RECEIPT_LIST_NAME, language)


def _reason(row: RecipientLine, language: str) -> tuple[str, str]:
    """Why a recipient failed in words (what happened and what to do), and the support text for IT (NgDP's
    status or error, the network's error; "" when there is none). A recipient that did not fail: its detail
    as recorded (a secure-mail note, for instance), nothing for support."""
    if row.ngdp_status:
        if row.detail.startswith(_WORDED_PREFIXES):  # the recipient's registration, asked after the refusal
            return row.detail, row.ngdp_status
        return text(
            _NGDP_STATUS_TEXT.get(row.ngdp_status, Text.NGDP_RECEIPT_UNKNOWN), language
        ), row.ngdp_status
    if not row.status.is_failure:
        return mask_cprs(row.detail), ""
    # Masked before it is clipped: a CPR that reaches into the first MAX_SUPPORT_CHARS characters lies
    # whole in the first MAX_SUPPORT_CHARS + 20, and a refusal of many KB is not scanned for each row.
    head = mask_cprs(row.detail[: MAX_SUPPORT_CHARS + 20])
    if head.startswith(_WORDED_PREFIXES):
        return mask_cprs(row.detail), ""  # written by the gateway from the catalogue: the reason itself
    support = _one_line(head)
    if len(support) > MAX_SUPPORT_CHARS or len(row.detail) > MAX_SUPPORT_CHARS + 20:
        support = support[: MAX_SUPPORT_CHARS - 1] + "…"
    key = (
        Text.RECEIPT_REASON_REFUSED
        if row.status is RecipientStatus.REJECTED
        else Text.RECEIPT_REASON_NOT_SENT
    )
    return text(key, language), support


def _detail(row: RecipientLine, language: str) -> str:
    """What the body's detail column says: the reason in words."""
    return _reason(row, language)[0]


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


def _list_row(r: RecipientLine, language: str) -> list[str]:
    reason, support = _reason(r, language)
    return [
        "" if r.line is None else str(r.line),
        r.recipient,
        text(_STATUS_TEXT[r.status], language),
        _one_line(reason),
        r.message_uuid,
        support,
    ]


#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection"): such a cell gets a leading
#: apostrophe, which Excel and LibreOffice show as text and do not evaluate.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _bounded(lines: Iterable[bytes], header: bytes) -> tuple[bytes, int]:
    """The header and as many whole rows as fit in ``MAX_LIST_BYTES``; how many rows that is."""
    out, size, n = [header], len(header), 0
    for line in lines:
        if size + len(line) > MAX_LIST_BYTES:
            break
        out.append(line)
        size += len(line)
        n += 1
    return b"".join(out), n


def _csv_file(rows: Sequence[RecipientLine], language: str) -> tuple[bytes, int]:
    """Every recipient as CSV (RFC 4180: comma-separated, fields with a comma, quote or line break quoted,
    CRLF line ends), one row per recipient under a header in the receipt's language; how many rows fit.

    UTF-8 with a byte-order mark: Excel, which case workers open a CSV with by a double click, reads a CSV
    without one in the machine's ANSI code page and shows "Ã¦" for "æ"; with it, it reads UTF-8."""

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def encoded(cells: Sequence[str]) -> bytes:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(c) for c in cells])
        return buffer.getvalue().encode("utf-8")

    data, n = _bounded((encoded(_list_row(r, language)) for r in rows), encoded(_list_columns(language)))
    return b"\xef\xbb\xbf" + data, n


def _text_file(rows: Sequence[RecipientLine], language: str) -> tuple[bytes, int]:
    """The failed recipients, tab-separated, one line each: line in masseforsendelse.txt, recipient (masked),
    status, reason in words, messageUUID, support text; how many rows fit."""
    lines = (("\t".join(_list_row(r, language)) + "\r\n").encode("utf-8") for r in rows)
    # UTF-8 with BOM so Notepad and Excel show æøå correctly.
    data, n = _bounded(lines, ("\t".join(_list_columns(language)) + "\r\n").encode("utf-8"))
    return b"\xef\xbb\xbf" + data, n


def _summary(rows: Sequence[RecipientLine], language: str) -> str:
    """The counts by status word (the words of the Status column and the state categories, failures first):
    each is the number of rows that show that word, and they add up to the total; a word no row shows is
    left out."""
    words = Counter(text(_STATUS_TEXT[r.status], language) for r in rows)
    order = (
        RecipientStatus.FAILED,
        RecipientStatus.COMPLETED,
        RecipientStatus.ACCEPTED,
        RecipientStatus.PENDING,
    )
    # Only the words some row shows: "Modtagere: 1. Sendt: 1." rather than a row of zeros to read past.
    shown = (text(_STATUS_TEXT[s], language) for s in order)
    counts = ". ".join(f"{w}: {words[w]}" for w in shown if words[w])
    return text(Text.RECEIPT_SUMMARY, language, total=len(rows), counts=counts)


def _row_support(rows: Sequence[RecipientLine], language: str) -> list[str]:
    """The support texts of the rows the body shows (NgDP's or the network's own words), each once, a
    few and short: the whole of each is in the attached lists. NgDP's receipt status is not repeated here:
    its sentence names it."""
    seen: dict[str, None] = {}
    for r in rows:
        support = _reason(r, language)[1] if not r.ngdp_status else ""
        if support:
            seen.setdefault(support if len(support) <= 200 else support[:199] + "…")
            if len(seen) == 5:
                break
    return list(seen)


def _recipients(
    rows: Sequence[RecipientLine], language: str
) -> tuple[list[str], list[tuple[str, bytes]], list[str]]:
    """The body's recipient part (failures first), its attachments and the support texts it shows.

    Up to ``MAX_INLINE_RECIPIENTS`` recipients: the table of all of them. Beyond: the first failures and the
    full list as CSV. The failure details file whenever the body does not show every failure."""
    rows = sorted(rows, key=lambda r: not r.status.is_failure)
    failures = [r for r in rows if r.status.is_failure]
    with_lines = any(r.line is not None for r in rows)
    parts: list[str] = []
    attachments: list[tuple[str, bytes]] = []
    if len(rows) <= MAX_INLINE_RECIPIENTS:
        parts.append(_table(rows, language, with_lines))
        shown = rows
    else:
        shown = failures[:MAX_FAILURES_IN_BODY]
        if failures:
            heading = (
                text(Text.RECEIPT_FAILURES_HEADING, language)
                if len(shown) == len(failures)
                else text(Text.RECEIPT_FAILURES_FIRST, language, shown=len(shown), total=len(failures))
            )
            parts.append(f"<p>{html.escape(heading)}</p>" + _table(shown, language, with_lines))
        name = recipients_csv_name(language)
        data, listed = _csv_file(rows, language)
        parts.append("<p>" + html.escape(text(Text.RECEIPT_ALL_ATTACHED, language, name=name)) + "</p>")
        if listed < len(rows):
            cut = text(Text.RECEIPT_LIST_CUT, language, name=name, shown=listed, total=len(rows))
            parts.append(f"<p>{html.escape(cut)}</p>")
        attachments.append((name, data))
    if len(failures) > MAX_FAILURES_IN_BODY or (failures and len(rows) > MAX_INLINE_RECIPIENTS):
        data, listed = _text_file(failures, language)
        told = text(Text.RECEIPT_DETAILS_ATTACHED, language, name=FAILURE_DETAILS_NAME)
        parts.append(f"<p>{html.escape(told)}</p>")
        if listed < len(failures):
            cut = text(
                Text.RECEIPT_LIST_CUT, language, name=FAILURE_DETAILS_NAME, shown=listed, total=len(failures)
            )
            parts.append(f"<p>{html.escape(cut)}</p>")
        attachments.append((FAILURE_DETAILS_NAME, data))
    return parts, attachments, _row_support(shown, language)


def _clip(value: str) -> str:
    return value if len(value) <= MAX_TEXT_IN_BODY else value[: MAX_TEXT_IN_BODY - 1] + "…"


def _items(findings: Sequence[Finding], language: str) -> str:
    """The first ``MAX_FINDINGS_IN_BODY`` findings as list items: the catalogue's sentence for each, in
    ``language`` (CPR-masked, each clipped)."""
    shown = findings[:MAX_FINDINGS_IN_BODY]
    return "".join(f"<li>{html.escape(_clip(finding_sentence(f, language)))}</li>" for f in shown)


def _notes(findings: Sequence[Finding], language: str) -> str:
    return f"<p>{text(Text.RECEIPT_WARNINGS, language)}</p><ul>{_items(findings, language)}</ul>"


def _support(findings: Sequence[Finding], language: str, extra: Sequence[str] = ()) -> str:
    """The one small line at the end that names the rule codes (and ``extra``: the support texts of the
    recipients the body shows), for IT support."""
    codes = [*support_codes(findings), *extra]
    line = text(Text.RECEIPT_SUPPORT_LINE, language, codes=", ".join(codes)) if codes else ""
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
    failed = sum(r.status.is_failure for r in rows)
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
        "<p>" + html.escape(_summary(rows, language)) + "</p>",
    ]
    if warnings:
        parts.append(_notes(warnings, language))
    told, attached = _findings_attached((), warnings, language)
    parts.append(told)
    listed, listed_files, support = _recipients(rows, language)
    parts += listed
    parts.append(_support(warnings, language, support))
    parts.append("</div>")
    return ReceiptMail(subject, "".join(parts), (*attached, *listed_files))


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
        parts.append("<p>" + text(Text.RECEIPT_INTRO_HTML, language, label=html.escape(safe)) + "</p>")
        parts.append(_sent(sent_at, language))
        parts.append(f"<p>{html.escape(_summary(rows, language))}</p>")
    parts.append(f"<p>{html.escape(mask_cprs(what))}</p>")
    if todo is not None:
        parts.append(f"<p>{html.escape(text(todo, language))}</p>")
    support: list[str] = []
    if sent:
        listed, attachments, support = _recipients(rows, language)
        parts += listed
    reference_line = text(Text.RECEIPT_SUPPORT_REFERENCE, language, reference=mask_cprs(reference))
    parts.append(f"<p>{html.escape(reference_line)}</p>")
    parts.append(_support((), language, support))
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
