"""An outbound gateway wired to both emulators in-process: the real GraphMailbox (msgraph-sdk pipeline) on the
Graph emulator, the real NgdpClient on the NgDP emulator, and the real SqlStore."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.adapters.store import create_store
from graph_dpg.adapters.store.sql import SqlStore
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.domain.policies import DEFAULT_POLICIES
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.services.outbound import FunctionMailbox, OutboundService, OutboundSettings

TOKEN = "sandbox-token"
ORG_CVR = "29189846"  # the NgDP emulator's default organisation
ORG_NAME = "Sandbox Kommune"
MAILBOX = "borgerservice@kommune.dk"
OTHER_MAILBOX = "jobcenter@kommune.dk"
SENDER_CP = "dfebd0ca-e211-47e4-af3a-f0d3344f018e"
RECIPIENT_CP = "bdcc201c-600c-4254-92c4-bab15dc075b5"
CITIZEN = "0101701234"
CITIZEN2 = "0202802345"
COMPANY = "35833684"
UNREGISTERED = "0303903456"
CATEGORIES = {
    "queued": ("Digital Post: I kø", "preset3"),
    "sent": ("Digital Post: Sendt", "preset7"),
    "receipted": ("Digital Post: Kvitteret", "preset4"),
    "failed": ("Digital Post: Fejl", "preset0"),
    "receipt": ("Digital Post: Kvittering", "preset8"),
}
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def settings(**overrides: Any) -> OutboundSettings:
    values: dict[str, Any] = {
        "organisation_cvr": ORG_CVR,
        "organisation_name": ORG_NAME,
        "mailboxes": (
            FunctionMailbox(MAILBOX, frozenset({ORG_CVR}), frozenset({SENDER_CP})),
            FunctionMailbox(OTHER_MAILBOX, frozenset(), frozenset()),
        ),
        "policies": DEFAULT_POLICIES,
        "categories": CATEGORIES,
        "internal_domains": frozenset({"kommune.dk"}),
        "send_concurrency": 4,
        "retry_base_seconds": 0.0,
        "retry_max_seconds": 0.0,
    }
    values.update(overrides)
    return OutboundSettings(**values)


@dataclass
class Harness:
    tenant: GraphTenant
    ngdp: NgdpState
    store: SqlStore
    service: OutboundService
    mailbox: GraphMailbox

    def send(self, subject: str, to: list[str], body: str = "<p>Kære borger</p>", **kw: Any) -> str:
        """Put a mail into the function mailbox's Sent Items as Outlook would after sending it."""
        mailbox = kw.pop("mailbox", MAILBOX)
        return self.tenant.put_sent_message(mailbox, subject, body, to=[("", a) for a in to], **kw)

    async def cycle(self, n: int = 1) -> None:
        for _ in range(n):
            await self.service.run_once()

    def receipts(self, mailbox: str = MAILBOX) -> list[dict[str, Any]]:
        return [m for m in self.tenant.messages(mailbox, "inbox") if m["subject"].startswith("DPG ")]

    def categories(self, message_id: str, mailbox: str = MAILBOX) -> list[str]:
        return list(self.tenant.message(mailbox, message_id)["categories"])

    def accepted_recipients(self) -> list[str]:
        return sorted(m.summary.recipient_id for m in self.ngdp.accepted)

    @staticmethod
    def attachment_text(message: dict[str, Any], name: str) -> str:
        att = next(a for a in message["attachments"] if a["name"] == name)
        return base64.b64decode(att["contentBytes"]).decode("utf-8-sig")


async def make_harness(db_url: str, **overrides: Any) -> Harness:
    tenant = GraphTenant(TOKEN)
    tenant.add_mailbox(MAILBOX, "Borgerservice")
    tenant.add_mailbox(OTHER_MAILBOX, "Jobcenter")
    ngdp = NgdpState(organisation_cvr=ORG_CVR, organisation_name=ORG_NAME)
    for cpr in (CITIZEN, CITIZEN2):
        ngdp.register(cpr=cpr)
    ngdp.register(cvr=COMPANY)
    ngdp.add_contact_point(RECIPIENT_CP, "Modtager")
    store = create_store(db_url)
    mailbox = GraphMailbox(
        StaticTokenCredential(TOKEN),
        "http://127.0.0.1/v1.0",
        transport=httpx.ASGITransport(app=create_app(tenant)),
        retry=RetryPolicy.fast(),
    )
    service = OutboundService(mailbox, in_process_client(ngdp), store, settings(**overrides))
    return Harness(tenant, ngdp, store, service, mailbox)
