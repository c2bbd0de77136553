"""Issue 20 in the outbound flow: names in a small job's receipt ("Jens Hansen (010170-xxxx)"), a single
send NgDP refuses for its recipient explained from the contact registry in words, and the mass-delivery
pre-check (GRAPH_DPG_RECIPIENT_PRECHECK) leaving exempt and unknown recipients out, named in the receipt."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from graph_dpg.core.errors import TransientError
from graph_dpg.domain.names import NameKind, NameResult
from graph_dpg.memo import parse
from graph_dpg.services.names import NameService
from tests.integration.outbound.harness import CITIZEN, CITIZEN2, PDF, Harness, make_harness

GW = "ngdp.digital-post.dk"
EXEMPT = "0404656664"
UNREGISTERED = "0505901234"


class Register:
    def __init__(self, kind: NameKind, names: dict[str, str], failing: bool = False) -> None:
        self.kind = kind
        self.names = names
        self.failing = failing

    async def lookup(self, number: str) -> NameResult:
        if self.failing:
            raise TransientError("CPR lookup: the service failed", "datafordeler", 503)
        name = self.names.get(number)
        return (
            NameResult(self.kind, number, "active", name)
            if name
            else NameResult(self.kind, number, "unknown")
        )

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = await make_harness(db_url, recipient_precheck=True)
    harness.ngdp.register(cpr=EXEMPT, status="EXEMPT")
    async with harness.mailbox:
        yield harness
    harness.store.close()


async def test_receipt_names_the_recipient(h: Harness) -> None:
    h.service.names = NameService([Register("cpr", {CITIZEN: "Jens Hansen"})])
    h.send("Afgørelse", [f"{CITIZEN}@29189846.{GW}"])
    await h.cycle(2)
    [receipt] = h.receipts()
    body = receipt["body"]["content"]
    assert "Jens Hansen (010170-xxxx)" in body
    assert CITIZEN not in body


async def test_a_failed_lookup_never_blocks_sending(h: Harness) -> None:
    h.service.names = NameService([Register("cpr", {}, failing=True)])
    h.send("Afgørelse", [f"{CITIZEN}@29189846.{GW}"])
    await h.cycle(2)
    assert h.accepted_recipients() == [CITIZEN]
    body = h.receipts()[0]["body"]["content"]
    assert "010170-xxxx" in body and "Jens" not in body


async def test_single_send_refused_for_an_exempt_recipient_says_so_in_words(h: Harness) -> None:
    h.send("Brev", [f"{EXEMPT}@29189846.{GW}"])
    await h.cycle()
    await h.service.pull_business_receipts()  # NgDP's NOT_ALLOWED business receipt
    await h.service.apply_business_receipts()
    await h.cycle()
    body = " ".join(r["body"]["content"] for r in h.receipts())
    assert "Modtageren er fritaget for Digital Post, så brevet kan ikke leveres digitalt." in body


async def test_a_refusal_at_sending_is_explained_too(h: Harness) -> None:
    h.ngdp.recipient_check = "sync"  # NgDP refuses at POST with RECIPIENT_NOT_FOUND
    h.send("Brev", [f"{UNREGISTERED}@29189846.{GW}"])
    await h.cycle(2)
    body = " ".join(r["body"]["content"] for r in h.receipts())
    assert "Digital Post kender ikke modtageren. Tjek nummeret" in body


async def test_mass_precheck_leaves_exempt_and_unknown_out(h: Harness) -> None:
    cprs = [EXEMPT, CITIZEN, UNREGISTERED, CITIZEN2]  # the template row (line 1) is left out
    h.send(
        "Masseudsendelse",
        [f"masseforsendelse-{len(cprs)}@29189846.{GW}"],
        attachments=[
            ("masseforsendelse.txt", "text/plain", ("\r\n".join(cprs) + "\r\n").encode()),
            ("body.pdf", "application/pdf", PDF),
        ],
    )
    await h.cycle(2)
    assert h.accepted_recipients() == sorted([CITIZEN, CITIZEN2])
    for memo in h.ngdp.accepted:
        assert parse(memo.xml).header.recipient.recipient_id == memo.summary.recipient_id
    [receipt] = h.receipts()
    body = receipt["body"]["content"]
    assert "Modtageren 040465-xxxx (linje 1) er fritaget for Digital Post" in body
    assert "Digital Post kender ikke modtageren 050590-xxxx (linje 3)" in body
    assert EXEMPT not in body and UNREGISTERED not in body


async def test_mass_delivery_nobody_can_receive_is_refused(h: Harness) -> None:
    cprs = [EXEMPT, UNREGISTERED]
    h.send(
        "Masse",
        [f"masseforsendelse-2@29189846.{GW}"],
        attachments=[("masseforsendelse.txt", "text/plain", "\n".join(cprs).encode())],
    )
    await h.cycle(2)
    assert h.accepted_recipients() == []
    [receipt] = h.receipts()
    body = receipt["body"]["content"]
    assert "Modtageren 040465-xxxx (linje 1) er fritaget for Digital Post" in body
    assert "050590-xxxx (linje 2)" in body


async def test_without_the_setting_everyone_is_sent_to(db_url: str) -> None:
    harness = await make_harness(db_url)
    try:
        async with harness.mailbox:
            cprs = [CITIZEN, UNREGISTERED]
            harness.send(
                "Masse",
                [f"masseforsendelse-2@29189846.{GW}"],
                attachments=[("masseforsendelse.txt", "text/plain", "\n".join(cprs).encode())],
            )
            await harness.cycle()
            assert harness.accepted_recipients() == sorted(cprs)
    finally:
        harness.store.close()
