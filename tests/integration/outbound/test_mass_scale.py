"""Mass delivery at 10,000 recipients: planning, one template stored, resumable sending, progress, one receipt.

The wire to NgDP is exercised by the other outbound tests (real client ↔ emulator, mass deliveries of a few
hundred); here a recording fake of the NgDP port keeps 10,000 sends fast, so what is measured is the
service and the store (SQLite and PostgreSQL).
"""

from __future__ import annotations

import time

import pytest

from graph_dpg.core.errors import TransientError
from graph_dpg.memo import parse
from graph_dpg.ports.digital_post import SendResult
from graph_dpg.ports.store import OutboxState
from graph_dpg.services.outbound import OutboundService

from .harness import MAILBOX, PDF, Harness

N = 10_000


class RecordingNgdp:
    """Records every MeMo once by messageUUID; can fail the first K sends transiently."""

    def __init__(self, fail_first: int = 0) -> None:
        self.accepted: dict[str, bytes] = {}
        self.calls = 0
        self._fail = fail_first

    async def send_memo(self, message_uuid: str, xml: bytes, *, possibly_sent: bool = False) -> SendResult:
        self.calls += 1
        if self._fail > 0:
            self._fail -= 1
            raise TransientError("injected 503", service="ngdp", status=503)
        duplicate = message_uuid in self.accepted
        self.accepted.setdefault(message_uuid, xml)
        return SendResult("t-" + message_uuid, message_uuid, "RECEIVED", duplicate=duplicate)


@pytest.mark.slow
async def test_ten_thousand_recipients(h: Harness) -> None:
    cprs = [f"{1 + i // 400:02d}01{70 + (i // 100) % 4:02d}{i % 100:04d}" for i in range(N)]
    assert len(set(cprs)) == N
    fake = RecordingNgdp(fail_first=50)
    service = OutboundService(h.mailbox, fake, h.store, h.service.settings)  # type: ignore[arg-type]
    mid = h.send(
        "Masse 10.000",
        [f"masseforsendelse-{N}@29189846.ngdp.digital-post.dk"],
        attachments=[
            ("masseforsendelse.txt", "text/plain", "\n".join(cprs).encode()),
            ("body.pdf", "application/pdf", PDF),
        ],
    )
    started = time.perf_counter()
    await service.run_once()
    job = h.store.find_job(MAILBOX, mid)
    assert job is not None
    progress = h.store.job_progress(job.id)
    # A restarted service picks up whatever is left (here: nothing, the retries were due at once).
    while progress[OutboxState.PENDING]:
        await OutboundService(h.mailbox, fake, h.store, h.service.settings).run_once()  # type: ignore[arg-type]
        progress = h.store.job_progress(job.id)
    elapsed = time.perf_counter() - started
    print(f"\n{N} recipients sent in {elapsed:.1f} s ({N / elapsed:.0f} MeMo/s incl. planning)")

    assert progress[OutboxState.ACCEPTED] == N
    assert sorted(parse(x).header.recipient.recipient_id for x in fake.accepted.values()) == sorted(cprs)
    assert len(fake.accepted) == N  # each recipient one messageUUID
    assert fake.calls == N + 50  # the 50 transient failures were retried, nothing else twice
    [receipt] = h.receipts()
    assert receipt["subject"] == "DPG kvittering: Masse 10.000"
    listing = Harness.attachment_text(receipt, "modtagere.csv")
    assert listing.count("\r\n") == N + 1
    # Each recipient with its line in masseforsendelse.txt (the file has no blank lines: line i + 1).
    assert listing.split("\r\n")[1].startswith(f"1,{cprs[0][:6]}-xxxx,")
    assert listing.split("\r\n")[N].startswith(f"{N},{cprs[-1][:6]}-xxxx,")
    assert cprs[0] not in listing
    assert h.categories(mid) == ["Digital Post: Sendt"]
