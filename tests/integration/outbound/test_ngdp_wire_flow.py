"""The outbound service on NgDP's wire items: HTML pre-check (ValidateAsync) before the first send, a lost
answer reconciled instead of reported as a refusal (SendMemoAsync + QueryEventsAsync), business receipts in
bulk (BulkFetchReceiptsAsync). Graph and NgDP emulators, the real store; the HTML refusal also on the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.ports.digital_post import HtmlVerdict
from tests.fakes import FakeDigitalPost

from .harness import CITIZEN, CITIZEN2, Harness, make_harness

GW = "ngdp.digital-post.dk"


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = await make_harness(db_url)
    async with harness.mailbox:
        yield harness
    harness.store.close()


def calls(h: Harness, method: str, fragment: str) -> list[int]:
    return [i for i, (m, p, _) in enumerate(h.ngdp.request_log) if m == method and fragment in p]


async def test_an_html_letter_is_checked_strictly_before_its_first_send(h: Harness) -> None:
    h.send("Afgørelse", [f"{CITIZEN}@29189846.{GW}"], body="<p>Kære borger</p>")
    await h.cycle()
    assert h.accepted_recipients() == [CITIZEN]
    [(name, policy, approved)] = h.ngdp.html_validations
    assert (name, policy, approved) == ("Afgørelse.html", "STRICT", True)
    [check] = calls(h, "POST", "/validations")
    assert check < calls(h, "POST", "/memos")[0]


async def test_a_mass_delivery_checks_its_shared_html_once(h: Harness) -> None:
    h.send(
        "Til alle",
        [f"masseforsendelse-2@29189846.{GW}"],
        attachments=[("masseforsendelse.txt", "text/plain", f"{CITIZEN}\n{CITIZEN2}\n".encode())],
    )
    await h.cycle()
    assert h.accepted_recipients() == sorted([CITIZEN, CITIZEN2])
    assert len(h.ngdp.html_validations) == 1  # the letters share the template's HTML: checked once


async def test_refused_html_is_answered_in_danish_and_nothing_is_sent(h: Harness) -> None:
    fake = FakeDigitalPost()
    fake.html_verdicts["Brev.html"] = HtmlVerdict(
        False,
        "REJECTED",
        "rejected",
        (
            {
                "field": "img@src",
                "code": "EXTERNAL_REFERENCE",
                "message": "external resources are not allowed",
            },
        ),
    )
    h.service.ngdp = fake
    mid = h.send("Brev", [f"{CITIZEN}@29189846.{GW}"])
    await h.cycle()
    assert fake.send_attempts == [] and fake.html_checked == ["Brev.html"]
    [receipt] = h.receipts()
    body = receipt["body"]["content"]
    assert "Digital Post godkender ikke brevets tekst som HTML" in body
    assert "external resources are not allowed" in body
    assert h.categories(mid) == ["Digital Post: Fejl"]


@pytest.mark.parametrize("shape", ["400-opaque", "400-field-errors", "409", "422", "400-code"])
async def test_a_lost_answer_then_a_400_is_reconciled_not_reported_as_refused(h: Harness, shape: str) -> None:
    h.ngdp.duplicate_answer = shape  # type: ignore[assignment]
    h.ngdp.hang_seconds = 0.01
    h.service.ngdp = in_process_client(h.ngdp, max_send_attempts=1)
    h.ngdp.faults.script("send", "timeout_after_accept")  # NgDP stores it; the answer is lost
    mid = h.send("Brev", [f"{CITIZEN}@29189846.{GW}"])
    await h.cycle(3)
    assert h.accepted_recipients() == [CITIZEN]
    assert h.ngdp.duplicate_count == 1
    assert h.ngdp.rejected == []
    [receipt] = h.receipts()
    assert receipt["subject"] == "DPG kvittering: Brev"
    assert h.categories(mid) == ["Digital Post: Sendt"]


async def test_business_receipts_come_in_bulk(h: Harness) -> None:
    for n in range(3):
        h.send(f"Brev {n}", [f"{CITIZEN}@29189846.{GW}"])
    await h.cycle()
    assert await h.service.pull_business_receipts() == 3
    assert calls(h, "GET", "/receipts-bulk") and not [
        p
        for m, p, _ in h.ngdp.request_log
        if m == "GET" and p.startswith("/apis/v1/receipts/") and p != "/apis/v1/receipts/"
    ]
    assert len(h.ngdp.deleted_receipts) == 3
    assert await h.service.pull_business_receipts() == 0
