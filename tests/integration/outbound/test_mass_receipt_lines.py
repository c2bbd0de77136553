"""A mass delivery of 40 recipients with some refused: the receipt traces each failed recipient to its line
in masseforsendelse.txt (planned, stored in the outbox on SQLite and PostgreSQL, read back for the receipt),
lists the failures first and attaches every recipient as modtagere.csv (issue 17)."""

from __future__ import annotations

import base64
import csv
import io
import re

from graph_dpg.domain.receipts import FAILURE_DETAILS_NAME
from graph_dpg.domain.texts import Text, text

from .harness import Harness

GW = "29189846.ngdp.digital-post.dk"


async def test_a_40_recipient_mass_delivery_with_refusals_gets_the_csv_with_lines(h: Harness) -> None:
    cprs = [f"{d:02d}0170{s:04d}" for d in range(1, 21) for s in range(2)]
    unknown = {cprs[6], cprs[25], cprs[39]}  # not in NgDP's registry: refused at POST (recipient_check sync)
    for cpr in set(cprs) - unknown:
        h.ngdp.register(cpr=cpr)
    h.ngdp.recipient_check = "sync"
    # What a sender writes: a heading-free list with a blank line and a dashed CPR in it.
    lines = [f"{c[:6]}-{c[6:]}" if i == 3 else c for i, c in enumerate(cprs)]
    content = "\r\n".join(lines[:10]) + "\r\n\r\n" + "\r\n".join(lines[10:]) + "\r\n"
    mid = h.send(
        "Varsel om vejarbejde",
        [f"masseforsendelse-{len(cprs)}@{GW}"],
        attachments=[("masseforsendelse.txt", "text/plain", content.encode())],
    )
    await h.cycle()
    line_of = {c: i + 1 if i < 10 else i + 2 for i, c in enumerate(cprs)}  # line 11 is blank

    [receipt] = h.receipts()
    assert receipt["subject"] == "DPG kvittering med fejl: Varsel om vejarbejde"
    names = [a["name"] for a in receipt["attachments"]]
    assert names == ["modtagere.csv", FAILURE_DETAILS_NAME]
    att = next(a for a in receipt["attachments"] if a["name"] == "modtagere.csv")
    data = base64.b64decode(att["contentBytes"])
    assert data.startswith(b"\xef\xbb\xbf")
    listed = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert listed[0] == ["Linje", "Modtager", "Status", "Årsag", "messageUUID", "Til it-support"]
    assert len(listed) == 1 + 40

    refused = text(Text.RECEIPT_REASON_REFUSED, "da")
    failed = [c for c in cprs if c in unknown]  # in the file's order
    assert [row[:4] for row in listed[1:4]] == [
        [str(line_of[c]), f"{c[:6]}-xxxx", "Fejlet", refused] for c in failed
    ]
    assert all(row[5].startswith("RECIPIENT_NOT_FOUND") for row in listed[1:4])
    # Every recipient once, with its own line; the rest were sent.
    assert sorted(int(row[0]) for row in listed[1:]) == sorted(line_of.values())
    assert {row[2] for row in listed[4:]} == {"Sendt"}
    by_line = {int(row[0]): row[1] for row in listed[1:]}
    assert all(by_line[line_of[c]] == f"{c[:6]}-xxxx" for c in cprs)
    assert not any(c in data.decode("utf-8-sig") for c in cprs)  # CPR numbers masked

    body = receipt["body"]["content"]
    assert "Modtagere: 40. Fejlet: 3. Sendt: 37." in body
    assert body.count("<tr>") == 1 + 3  # the failures, not all 40
    assert [int(n) for n in re.findall(r'<tr><td style="[^"]*">(\d+)</td>', body)] == [
        line_of[c] for c in failed
    ]
    details = Harness.attachment_text(receipt, FAILURE_DETAILS_NAME).split("\r\n")
    assert [d.split("\t")[0] for d in details[1:-1]] == [str(line_of[c]) for c in failed]
    assert h.categories(mid) == ["Digital Post: Fejl"]  # the harness's gateway file names it so
