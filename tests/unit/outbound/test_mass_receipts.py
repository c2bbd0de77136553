"""Mass receipts (issue 17): every failed recipient traceable to its line in masseforsendelse.txt, failures
first, counts that agree with the rows, reasons in words, and beyond a few dozen recipients the full list as
an attached CSV that Python's csv module (and Excel) reads back to the same rows."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace

import pytest

from graph_dpg.domain.receipts import (
    FAILURE_DETAILS_NAME,
    MAX_FAILURES_IN_BODY,
    MAX_INLINE_RECIPIENTS,
    MAX_LIST_BYTES,
    MAX_SUPPORT_CHARS,
    RecipientLine,
    RecipientStatus,
    render_receipt,
)
from graph_dpg.domain.texts import Text, text

S = RecipientStatus
CSV_NAME = {"da": "modtagere.csv", "en": "recipients.csv"}
HEADER = {
    "da": ["Linje", "Modtager", "Status", "Årsag", "messageUUID", "Til it-support"],
    "en": ["Line", "Recipient", "Status", "Reason", "messageUUID", "For IT support"],
}
STATUS_WORD = {
    "da": {
        S.PENDING: "I kø",
        S.ACCEPTED: "Sendt",
        S.COMPLETED: "Kvitteret",
        S.REJECTED: "Fejlet",
        S.FAILED: "Fejlet",
    },
    "en": {
        S.PENDING: "Queued",
        S.ACCEPTED: "Sent",
        S.COMPLETED: "Receipted",
        S.REJECTED: "Failed",
        S.FAILED: "Failed",
    },
}
REFUSAL = "RECIPIENT_NOT_FOUND: The recipient is not known"


def mass_rows(n: int, failing: dict[int, RecipientLine]) -> list[RecipientLine]:
    """``n`` recipients as planned (line order); masseforsendelse.txt had a blank line 10, so the lines
    after it are one more than the index. ``failing`` replaces the row at an index."""
    out = []
    for i in range(n):
        line = i + 1 if i < 9 else i + 2
        row = failing.get(i) or RecipientLine(
            f"{1 + i % 28:02d}0170-xxxx", S.COMPLETED if i % 2 else S.ACCEPTED, f"uuid-{i}", line=line
        )
        out.append(row if row.line is not None else replace(row, line=line))
    return out


def failing_rows() -> dict[int, RecipientLine]:
    return {
        4: RecipientLine("050170-xxxx", S.REJECTED, "uuid-4", ngdp_status="NOT_ALLOWED"),
        16: RecipientLine("170170-xxxx", S.REJECTED, "uuid-16", detail=REFUSAL),
        33: RecipientLine("060270-xxxx", S.FAILED, "uuid-33", detail="ngdp: 503 Service Unavailable"),
        38: RecipientLine("110270-xxxx", S.PENDING, "uuid-38"),
    }


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    content = data.decode("utf-8-sig")
    assert content.endswith("\r\n") and "\n" not in content.replace("\r\n", "")  # RFC 4180 line ends
    return list(csv.reader(io.StringIO(content, newline="")))


@pytest.mark.parametrize("language", ["da", "en"])
def test_a_mass_receipt_lists_failures_first_with_their_lines_and_reasons_in_words(language: str) -> None:
    rows = mass_rows(40, failing_rows())
    mail = render_receipt("Varsel", rows, language=language)
    assert [name for name, _ in mail.attachments] == [CSV_NAME[language], FAILURE_DETAILS_NAME]
    listed = read_csv(dict(mail.attachments)[CSV_NAME[language]])
    assert listed[0] == HEADER[language]
    words = STATUS_WORD[language]
    failed = words[S.REJECTED]
    not_allowed = text(Text.NGDP_RECEIPT_NOT_ALLOWED, language)
    refused = text(Text.RECEIPT_REASON_REFUSED, language)
    not_sent = text(Text.RECEIPT_REASON_NOT_SENT, language)
    # Failures first, in planned order, each with its line in masseforsendelse.txt (line 10 was blank).
    assert listed[1:4] == [
        ["5", "050170-xxxx", failed, not_allowed, "uuid-4", "NOT_ALLOWED"],
        ["18", "170170-xxxx", failed, refused, "uuid-16", REFUSAL],
        ["35", "060270-xxxx", failed, not_sent, "uuid-33", "ngdp: 503 Service Unavailable"],
    ]
    # The same rows as the receipt was given, every one once.
    in_order = [r for r in rows if r.status.is_failure] + [r for r in rows if not r.status.is_failure]
    expected = [[str(r.line), r.recipient, words[r.status], r.message_uuid] for r in in_order]
    assert [[*row[:3], row[4]] for row in listed[1:]] == expected

    # The summary counts with the Status column's words, and each count is the rows showing that word.
    summary = re.search(r"<p>((?:Modtagere|Recipients): 40\..*?)</p>", mail.html)
    assert summary is not None
    counts = dict(re.findall(r"([^.:]+): (\d+)", summary.group(1).split(". ", 1)[1]))
    column = [row[2] for row in listed[1:]]
    assert {w.strip(): int(n) for w, n in counts.items()} == {w: column.count(w) for w in words.values()}
    assert sum(int(n) for n in counts.values()) == 40
    assert counts[failed] == "3"

    # The body: the failures (no table of all 40), the CSV named; NgDP's words only in the support line.
    body = mail.html
    assert body.count("<tr>") == 1 + 3
    assert body.index("050170-xxxx") < body.index("170170-xxxx") < body.index("060270-xxxx")
    assert "<td" in body and '">18</td>' in body and '">35</td>' in body
    assert CSV_NAME[language] in body and "010170-xxxx" not in body
    assert body.count(REFUSAL) == 1 and body.index(REFUSAL) > body.rindex("</table>")
    assert "NOT_ALLOWED" not in body


@pytest.mark.parametrize("language", ["da", "en"])
def test_the_failure_details_file_has_one_line_per_failed_recipient(language: str) -> None:
    failing = {
        i: RecipientLine(f"{1 + i % 28:02d}0370-xxxx", S.REJECTED, f"bad-{i}", detail=REFUSAL)
        for i in range(3, 40, 3)
    }
    mail = render_receipt("Varsel", mass_rows(40, failing), language=language)
    data = dict(mail.attachments)[FAILURE_DETAILS_NAME]
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").split("\r\n")
    assert lines[-1] == "" and lines[0].split("\t") == HEADER[language]
    assert len(lines) == 1 + len(failing) + 1
    refused = text(Text.RECEIPT_REASON_REFUSED, language)
    for i, line in zip(sorted(failing), lines[1:-1], strict=True):
        assert line.split("\t") == [
            str(i + 2 if i >= 9 else i + 1),
            failing[i].recipient,
            STATUS_WORD[language][S.REJECTED],
            refused,
            f"bad-{i}",
            REFUSAL,
        ]
    # The body shows the first failures only, and says how many there are.
    shown = text(Text.RECEIPT_FAILURES_FIRST, language, shown=MAX_FAILURES_IN_BODY, total=len(failing))
    assert shown in mail.html and mail.html.count("<tr>") == 1 + MAX_FAILURES_IN_BODY


def test_up_to_a_few_dozen_recipients_are_listed_in_the_body_with_their_lines() -> None:
    rows = mass_rows(
        MAX_INLINE_RECIPIENTS, {2: RecipientLine("030170-xxxx", S.REJECTED, "u", detail=REFUSAL)}
    )
    mail = render_receipt("Varsel", rows)
    assert mail.attachments == ()
    assert mail.html.count("<tr>") == 1 + MAX_INLINE_RECIPIENTS
    cells = re.findall(r"<tr><td[^>]*>(\d*)</td><td[^>]*>([^<]*)</td>", mail.html)
    assert cells[0] == ("3", "030170-xxxx")  # the failure first, with its line
    assert [int(line) for line, _ in cells[1:]] == [r.line for r in rows if r.status is not S.REJECTED]
    assert "Modtagere: 30. Fejlet: 1. Kvitteret: 15. Sendt: 14." in mail.html


@pytest.mark.parametrize("language", ["da", "en"])
def test_the_csv_is_safe_from_formula_injection_and_quotes_what_it_must(language: str) -> None:
    hostile = {
        0: RecipientLine('=HYPERLINK("http://x","klik")', S.REJECTED, "u0", detail="=1+2"),
        1: RecipientLine("+4512345678", S.FAILED, "u1", detail='-2, "quoted"; and more'),
        2: RecipientLine("@SUM(A1)", S.FAILED, "u2", detail="\tTAB"),
        3: RecipientLine("-1", S.FAILED, "u3", detail="plain, with comma"),
    }
    mail = render_receipt("Varsel", mass_rows(35, hostile), language=language)
    listed = read_csv(dict(mail.attachments)[CSV_NAME[language]])
    assert [row[1] for row in listed[1:5]] == [
        '\'=HYPERLINK("http://x","klik")',
        "'+4512345678",
        "'@SUM(A1)",
        "'-1",
    ]
    assert [row[5] for row in listed[1:5]] == [
        "'=1+2",
        '\'-2, "quoted"; and more',
        " TAB",
        "plain, with comma",
    ]
    for row in listed:
        assert len(row) == 6 and not any(cell.startswith(("=", "+", "-", "@", "\t")) for cell in row)


def test_ten_thousand_failed_recipients_fit_whole_and_more_are_cut_at_a_row() -> None:
    """Every row as long as a row gets (NgDP's refusal of KBs clipped to MAX_SUPPORT_CHARS): the lists keep
    more than 10,000 of them whole, and cut the rest at a row, saying so in the body. About 1.3 s: the lists
    are bounded in bytes, so showing the bound takes that many rows."""
    long = "RECIPIENT_NOT_FOUND: " + "x" * 5_000
    many = [
        RecipientLine(f"{1 + i % 28:02d}0170-xxxx", S.REJECTED, f"{i:036d}", long, i + 1)
        for i in range(15_000)
    ]
    mail = render_receipt("Varsel", many)
    assert [name for name, _ in mail.attachments] == ["modtagere.csv", FAILURE_DETAILS_NAME]
    body = mail.html.replace("&#x27;", "'")
    for name, data in mail.attachments:
        assert len(data) <= 3 + MAX_LIST_BYTES, name  # the BOM and whole rows up to the bound
        rows = data.count(b"\r\n") - 1
        assert 10_000 < rows < 15_000, name
        assert data.endswith(
            f"{rows - 1:036d},{long[: MAX_SUPPORT_CHARS - 1]}…\r\n".encode()
        ) or data.endswith(f"{rows - 1:036d}\t{long[: MAX_SUPPORT_CHARS - 1]}…\r\n".encode())
        told = text(Text.RECEIPT_LIST_CUT, "da", name=name, shown=rows, total=15_000)
        assert told in body, name
    assert len(mail.html) < 30_000
