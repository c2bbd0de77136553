"""Regressions found by bench/chaos.py: Graph answers 504 after the change took effect (the emulator's
``Fault(after=True)``). A create must not be repeated blindly by the SDK's retry handler; the caller's
look-up by marker property then finds the one message that exists."""

from __future__ import annotations

import httpx
import pytest

from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.core.errors import TransientError
from graph_dpg.domain.mail import MailMessage
from graph_dpg.sandbox.graph import GraphTenant, create_app, unavailable
from graph_dpg.sandbox.graph.faults import Fault

TOKEN = "sandbox-token"
BOX = "post@kommune.dk"
MARKER = "DpgChaosMarker"


def _mailbox(tenant: GraphTenant) -> GraphMailbox:
    return GraphMailbox(
        StaticTokenCredential(TOKEN),
        "http://127.0.0.1/v1.0",
        transport=httpx.ASGITransport(app=create_app(tenant)),
        retry=RetryPolicy.fast(),
    )


@pytest.fixture
def tenant() -> GraphTenant:
    t = GraphTenant(TOKEN)
    t.add_mailbox(BOX, "Post")
    return t


async def test_create_after_504_that_took_effect_makes_one_message(tenant: GraphTenant) -> None:
    tenant.faults.script(
        "POST", r"/messages$", Fault(status=504, code="GatewayTimeout", message="Gateway Timeout", after=True)
    )
    async with _mailbox(tenant) as mbx:
        with pytest.raises(TransientError):
            await mbx.create_message(
                BOX, "inbox", MailMessage(subject="Kvittering"), extended_properties={MARKER: "k1"}
            )
        # What the services do before creating again: look the item up by its marker.
        found = await mbx.find_by_extended_property(BOX, "inbox", MARKER, "k1")
    assert len(found) == 1
    assert [m["subject"] for m in tenant.messages(BOX, "inbox")] == ["Kvittering"]


async def test_create_after_503_is_still_retried_by_the_sdk(tenant: GraphTenant) -> None:
    # 503 is a refusal before the work: repeating the POST is safe and saves a whole cycle.
    tenant.faults.script("POST", r"/messages$", unavailable())
    async with _mailbox(tenant) as mbx:
        message_id = await mbx.create_message(BOX, "inbox", MailMessage(subject="Brev"))
    assert [m["id"] for m in tenant.messages(BOX, "inbox")] == [message_id]
