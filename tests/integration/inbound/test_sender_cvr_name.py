"""Issue 20 in the inbound overview: a memo from a company shows the company's current name from the CVR
register next to the name the sender wrote; a failed or unconfigured lookup shows nothing extra."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from graph_dpg.core.errors import TransientError
from graph_dpg.domain.names import NameKind, NameResult
from graph_dpg.sandbox.ngdp.samples import sample_memo
from graph_dpg.services.names import NameService

from .harness import BYG, MAIN, Harness, make_harness

from inbound_memos import CP_BYG, ORG_CVR  # isort: skip

COMPANY = "12345674"


class Register:
    kind: NameKind = "cvr"

    def __init__(self, failing: bool = False) -> None:
        self.failing = failing
        self.calls = 0

    async def lookup(self, number: str) -> NameResult:
        self.calls += 1
        if self.failing:
            raise TransientError("CVR lookup: the service failed", "cvr", 503)
        return NameResult("cvr", number, "active", "Eksempel Handel ApS")

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = make_harness(db_url)
    async with harness.mailbox:
        yield harness
    harness.store.close()


def company_memo() -> bytes:
    return sample_memo(
        sender_cvr=COMPANY,
        sender_label="Eksempel (skrevet af afsenderen)",
        recipient_id=ORG_CVR,
        recipient_id_type="CVR",
        recipient_contact_point=CP_BYG,
    )


def delivered_bodies(h: Harness) -> str:
    return " ".join(m["body"]["content"] for box in (MAIN, BYG) for m in h.messages(box))


async def test_overview_shows_the_cvr_name(h: Harness) -> None:
    register = Register()
    h.ngdp.queue_inbound_memo(company_memo())
    stats = await h.service_with(names=NameService([register])).run_once()
    assert stats.delivered == 1
    body = delivered_bodies(h)
    assert "Afsenderens navn i CVR" in body and "Eksempel Handel ApS" in body
    assert register.calls == 1


async def test_a_failed_lookup_delivers_without_it(h: Harness) -> None:
    h.ngdp.queue_inbound_memo(company_memo())
    stats = await h.service_with(names=NameService([Register(failing=True)])).run_once()
    assert (stats.delivered, stats.errors) == (1, [])
    assert "Afsenderens navn i CVR" not in delivered_bodies(h)
