"""Receipts stay under Graph's 4 MB request limit, whatever they report (the Graph emulator enforces it).

An error receipt listing 40,000 findings was a 4.4 MB body: Graph answered 413, the receipt effect failed
on every cycle and the sender never learned why nothing was sent. Now the body shows the first findings and
the rest are attached; an attachment of 3 MB or more goes through an upload session. The same for a mass
delivery with thousands of failed recipients and long refusals.
"""

from __future__ import annotations

from pathlib import Path

from graph_dpg.core.errors import Finding, RejectedError
from graph_dpg.domain.receipts import (
    FAILURE_DETAILS_NAME,
    FINDINGS_NAME,
    MAX_FINDINGS_IN_BODY,
    JobCategory,
)
from graph_dpg.ports.store import JobState
from graph_dpg.services.outbound import OutboundService, job_id_for
from tests.fakes import FakeDigitalPost

from .harness import MAILBOX, Harness, make_harness

GW = "29189846.ngdp.digital-post.dk"


def upload_sessions(h: Harness) -> int:
    return sum(r.endpoint == "attachments.createUploadSession" for r in h.tenant.request_log)


async def test_an_error_receipt_with_40000_findings_is_written_once(tmp_path: Path) -> None:
    h = await make_harness(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        mid = h.send("Masseforsendelse med fejl", [f"masseforsendelse-40000@{GW}"])
        findings = [
            Finding(
                "mass.identifier",
                f"'31{i:08d}': no date",
                f"masseforsendelse.txt:{i + 1}",
                params={"line": i + 1, "value": f"31{i:08d}"},
            )
            for i in range(40_000)
        ]
        async with h.mailbox:
            [mb] = [m for m in h.service.settings.mailboxes if m.address == MAILBOX]
            assert await h.service.poll(mb) == 1
            job = h.store.get_job(job_id_for(MAILBOX, mid))
            assert job is not None
            # What planning records for a refused mail: the state with its receipt and category effects.
            plans = h.service._effect_plans(job, JobCategory.FAILED, findings=findings)
            h.store.set_job_state(job.id, JobState.REJECTED, "40,000 findings", effects=plans)
            assert await h.service.run_effects() == 2
            assert await h.service.run_effects() == 0  # nothing left to retry

        [receipt] = h.receipts()
        assert receipt["subject"] == "DPG fejlkvittering: Masseforsendelse med fejl"
        body = receipt["body"]["content"]
        assert len(body.encode()) < 100_000
        assert body.count("<li>") == MAX_FINDINGS_IN_BODY
        assert f"de første {MAX_FINDINGS_IN_BODY} af 40000 punkter" in body and FINDINGS_NAME in body
        listed = h.attachment_text(receipt, FINDINGS_NAME).splitlines()
        assert listed[0] == "Ret følgende og send mailen igen:"
        assert len(listed) == 1 + 40_000 + 2  # the heading, the findings, a blank line, the support line
        assert listed[-3].startswith("Linje 40000 i masseforsendelse.txt: 310003-xxxx")
        assert listed[-1] == "Support: mass.identifier"
        assert len(h.attachment_text(receipt, FINDINGS_NAME).encode()) > 3 * 1024 * 1024
        assert upload_sessions(h) == 1  # the 3.6 MB list went through an upload session
        assert not [r for r in h.tenant.request_log if r.status == 413]
        assert h.categories(mid) == ["Digital Post: Fejl"]
        assert h.store.pending_effects() == []
    finally:
        h.store.close()


def _cprs(n: int) -> list[str]:
    return [f"{1 + i // 400:02d}01{70 + (i // 100) % 4:02d}{i % 100:04d}" for i in range(n)]


async def test_a_mass_delivery_with_thousands_of_refused_recipients_gets_one_small_receipt(
    tmp_path: Path,
) -> None:
    # Enough refusals for lists of 3 MB or more, each row's refusal clipped to MAX_SUPPORT_CHARS (~750 bytes).
    n = 4_500
    h = await make_harness(f"sqlite:///{tmp_path / 'state.db'}")
    ngdp = FakeDigitalPost()
    refusal = {
        "code": "RECIPIENT_NOT_FOUND",
        "message": "The recipient is not known in the contact registry. " * 25,  # ~1.3 KB, as verbose as NgDP
    }
    ngdp.fail_next("send_memo", RejectedError("refused", "ngdp", 400, "RECIPIENT_NOT_FOUND", refusal), n)
    service = OutboundService(h.mailbox, ngdp, h.store, h.service.settings)
    try:
        mid = h.send(
            "Varsel til alle",
            [f"masseforsendelse-{n}@{GW}"],
            attachments=[("masseforsendelse.txt", "text/plain", "\n".join(_cprs(n)).encode())],
        )
        async with h.mailbox:
            stats = await service.run_once()
            assert (stats.planned, stats.send_rejected, stats.errors) == (1, n, [])
            assert await service.run_effects() == 0

        [receipt] = h.receipts()
        assert receipt["subject"] == "DPG kvittering med fejl: Varsel til alle"
        body = receipt["body"]["content"]
        assert len(body.encode()) < 100_000
        assert f"Modtagere: {n}. Fejlet: {n}." in body
        for name in ("modtagere.csv", FAILURE_DETAILS_NAME):
            lines = h.attachment_text(receipt, name).splitlines()
            assert len(lines) == 1 + n, name
            assert len(h.attachment_text(receipt, name).encode()) > 3 * 1024 * 1024
        assert upload_sessions(h) == 2
        assert not [r for r in h.tenant.request_log if r.status == 413]
        assert h.categories(mid) == ["Digital Post: Fejl"]
        assert ngdp.accepted == {}
    finally:
        h.store.close()
