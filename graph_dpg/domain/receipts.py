"""DPG receipts: what the gateway writes back into the sending function mailbox (DESIGN §1.5).

A receipt mail lists every recipient of one outgoing mail with its status, in Danish by default or English.
When many recipients are involved the table would not fit a mail body sensibly, so the body then holds the
counts, the failures, and the full per-recipient list goes into attached text files; failure details are
always in ``NgDPKvitteringsDetaljerMedFejl.txt`` when there are many of them (the name the release notes use).

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
from enum import StrEnum
from typing import Any

from graph_dpg.core.errors import Finding
from graph_dpg.domain.identifiers import mask_cprs

FAILURE_DETAILS_NAME = "NgDPKvitteringsDetaljerMedFejl.txt"
ALL_RECIPIENTS_NAME = "NgDPKvitteringAlleModtagere.txt"
MAX_TABLE_ROWS = 200
MAX_FAILURES_IN_BODY = 10


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


@dataclass(frozen=True)
class ReceiptMail:
    subject: str
    html: str
    attachments: tuple[tuple[str, bytes], ...] = ()


_TEXT: dict[str, dict[str, Any]] = {
    "da": {
        "ok_subject": "DPG kvittering: {label}",
        "partial_subject": "DPG kvittering med fejl: {label}",
        "error_subject": "DPG fejlkvittering: {label}",
        "intro": "Digital Post-forsendelsen af din mail <b>{label}</b> er behandlet.",
        "error_intro": (
            "Din mail <b>{label}</b> er <b>ikke</b> sendt som Digital Post. "
            "Intet er sendt til nogen modtager."
        ),
        "fix": "Ret følgende og send mailen igen:",
        "summary": "Modtagere: {total}. Afsendt: {ok}. Fejlet: {failed}. Afventer: {pending}.",
        "col_recipient": "Modtager",
        "col_status": "Status",
        "col_uuid": "messageUUID",
        "col_detail": "Detaljer",
        "col_line": "Linje",
        "details_attached": "Detaljer om de fejlede afsendelser står i den vedhæftede fil {name}.",
        "all_attached": "Den fulde liste over modtagere står i den vedhæftede fil {name}.",
        "warnings": "Bemærk:",
        "status": {
            "pending": "Afventer",
            "accepted": "Afsendt",
            "completed": "Leveret",
            "received": "Modtaget",
            "rejected": "Afvist",
            "failed": "Fejlet",
        },
    },
    "en": {
        "ok_subject": "DPG receipt: {label}",
        "partial_subject": "DPG receipt with errors: {label}",
        "error_subject": "DPG error receipt: {label}",
        "intro": "The Digital Post delivery of your mail <b>{label}</b> has been processed.",
        "error_intro": (
            "Your mail <b>{label}</b> was <b>not</b> sent as Digital Post. Nothing was sent to any recipient."
        ),
        "fix": "Please fix the following and send the mail again:",
        "summary": "Recipients: {total}. Sent: {ok}. Failed: {failed}. Pending: {pending}.",
        "col_recipient": "Recipient",
        "col_status": "Status",
        "col_uuid": "messageUUID",
        "col_detail": "Details",
        "col_line": "Line",
        "details_attached": "Details of the failed deliveries are in the attached file {name}.",
        "all_attached": "The full list of recipients is in the attached file {name}.",
        "warnings": "Please note:",
        "status": {
            "pending": "Pending",
            "accepted": "Sent",
            "completed": "Delivered",
            "received": "Received",
            "rejected": "Rejected",
            "failed": "Failed",
        },
    },
}


def _t(language: str) -> dict[str, Any]:
    return _TEXT.get(language, _TEXT["da"])


def _safe_label(label: str) -> str:
    # The subject of the original mail may itself contain a CPR; receipts never repeat one in clear.
    cleaned = mask_cprs(label.strip()) or "(uden emne)"
    return cleaned if len(cleaned) <= 120 else cleaned[:117] + "..."


_STYLE = "font-family:Segoe UI,Arial,sans-serif;font-size:10.5pt"
_CELL = "border:1px solid #bbb;padding:3px 6px;text-align:left"


def _table(rows: Sequence[RecipientLine], t: dict[str, Any], with_lines: bool) -> str:
    status_names: dict[str, str] = t["status"]
    head = [t["col_recipient"], t["col_status"], t["col_uuid"], t["col_detail"]]
    if with_lines:
        head.insert(0, t["col_line"])
    out = [f'<table style="border-collapse:collapse;{_STYLE}"><tr>']
    out += [f'<th style="{_CELL};background:#eee">{html.escape(str(h))}</th>' for h in head]
    out.append("</tr>")
    for r in rows:
        cells = [r.recipient, status_names[r.status.value], r.message_uuid, mask_cprs(r.detail)]
        if with_lines:
            cells.insert(0, "" if r.line is None else str(r.line))
        colour = "#b00020" if r.status.is_failure else "#000"
        out.append(
            "<tr>" + "".join(f'<td style="{_CELL};color:{colour}">{html.escape(c)}</td>' for c in cells)
        )
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _text_file(rows: Sequence[RecipientLine], t: dict[str, Any]) -> bytes:
    status_names: dict[str, str] = t["status"]
    lines = [
        "\t".join(
            [
                str(t["col_line"]),
                str(t["col_recipient"]),
                str(t["col_status"]),
                "messageUUID",
                str(t["col_detail"]),
            ]
        )
    ]
    for r in rows:
        detail = mask_cprs(r.detail).replace("\t", " ").replace("\r", " ").replace("\n", " ")
        lines.append(
            "\t".join(
                [
                    "" if r.line is None else str(r.line),
                    r.recipient,
                    status_names[r.status.value],
                    r.message_uuid,
                    detail,
                ]
            )
        )
    # UTF-8 with BOM so Notepad and Excel show æøå correctly.
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def render_receipt(
    label: str, rows: Sequence[RecipientLine], *, language: str = "da", warnings: Sequence[Finding] = ()
) -> ReceiptMail:
    """The DPG receipt for a mail that was (at least partly) sent."""
    t = _t(language)
    counts = Counter(r.status for r in rows)
    failed = sum(n for s, n in counts.items() if s.is_failure)
    pending = counts[RecipientStatus.PENDING]
    ok = len(rows) - failed - pending
    safe = _safe_label(label)
    subject = str(t["partial_subject" if failed else "ok_subject"]).format(label=safe)
    parts = [f'<div style="{_STYLE}">', "<p>" + str(t["intro"]).format(label=html.escape(safe)) + "</p>"]
    parts.append(
        "<p>" + str(t["summary"]).format(total=len(rows), ok=ok, failed=failed, pending=pending) + "</p>"
    )
    if warnings:
        parts.append(
            f"<p>{t['warnings']}</p><ul>"
            + "".join(f"<li>{html.escape(mask_cprs(str(w)))}</li>" for w in warnings)
            + "</ul>"
        )
    with_lines = any(r.line is not None for r in rows)
    attachments: list[tuple[str, bytes]] = []
    failures = [r for r in rows if r.status.is_failure]
    if len(rows) <= MAX_TABLE_ROWS:
        parts.append(_table(rows, t, with_lines))
    else:
        parts.append(_table(failures[:MAX_FAILURES_IN_BODY], t, with_lines) if failures else "")
        parts.append("<p>" + str(t["all_attached"]).format(name=ALL_RECIPIENTS_NAME) + "</p>")
        attachments.append((ALL_RECIPIENTS_NAME, _text_file(rows, t)))
    if len(failures) > MAX_FAILURES_IN_BODY or (failures and len(rows) > MAX_TABLE_ROWS):
        parts.append("<p>" + str(t["details_attached"]).format(name=FAILURE_DETAILS_NAME) + "</p>")
        attachments.append((FAILURE_DETAILS_NAME, _text_file(failures, t)))
    parts.append("</div>")
    return ReceiptMail(subject, "".join(parts), tuple(attachments))


def render_error_receipt(label: str, findings: Sequence[Finding], *, language: str = "da") -> ReceiptMail:
    """The receipt for a mail that was refused before anything was sent: what to fix."""
    t = _t(language)
    safe = _safe_label(label)
    items = "".join(f"<li>{html.escape(mask_cprs(str(f)))}</li>" for f in findings if f.severity == "error")
    notes = [f for f in findings if f.severity != "error"]
    body = [
        f'<div style="{_STYLE}">',
        "<p>" + str(t["error_intro"]).format(label=html.escape(safe)) + "</p>",
        f"<p>{t['fix']}</p><ul>{items}</ul>",
    ]
    if notes:
        body.append(
            f"<p>{t['warnings']}</p><ul>"
            + "".join(f"<li>{html.escape(mask_cprs(str(n)))}</li>" for n in notes)
            + "</ul>"
        )
    body.append("</div>")
    return ReceiptMail(str(t["error_subject"]).format(label=safe), "".join(body))


def category_for(rows: Sequence[RecipientLine]) -> JobCategory:
    """The one state category the original message shows, derived from its recipients."""
    if any(r.status.is_failure for r in rows):
        return JobCategory.FAILED
    if not rows or any(r.status == RecipientStatus.PENDING for r in rows):
        return JobCategory.QUEUED
    if all(r.status in (RecipientStatus.COMPLETED, RecipientStatus.RECEIVED) for r in rows):
        return JobCategory.RECEIPTED
    return JobCategory.SENT
