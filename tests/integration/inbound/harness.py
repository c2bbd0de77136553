"""An inbound gateway wired to both emulators in-process: the real GraphMailbox on the Graph emulator, the
real NgdpClient on the NgDP emulator, the real SqlStore, settings from a real gateway file."""

from __future__ import annotations

import base64
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.adapters.store import create_store
from graph_dpg.adapters.store.sql import SqlStore
from graph_dpg.bootstrap.rules import inbound_settings
from graph_dpg.config import load_gateway_text
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.services.inbound import InboundService, InboundSettings

# The memo builders live with the unit tests (one copy); both test trees use them.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "inbound"))
from inbound_memos import CP_BYG, CP_UNMAPPED, ORG_CVR

TOKEN = "sandbox-token"
MAIN = "post@kommune.dk"
BYG = "byg@kommune.dk"
JOB = "job@kommune.dk"
MONITOR = "it@kommune.dk"
ARCHIVE = "arkiv@kommune.dk"

GATEWAY_FILE = f"""
organisation: {{cvr: "{ORG_CVR}", name: Sandbox Kommune}}
main_mailbox: {MAIN}
monitoring_mailbox: {MONITOR}
archive_mailbox: {ARCHIVE}
function_mailboxes:
  - address: {BYG}
    sender_contact_points: [{CP_BYG}]
  - address: {JOB}
    cvrs: ["{ORG_CVR}"]
contact_points:
  - {{id: {CP_BYG}, name: Byggesager, mailbox: {BYG}}}
  - {{id: {CP_UNMAPPED}, name: Nedlagt enhed, mailbox: null}}
rules:
  - name: KLE 27 til Jobcenter
    priority: 10
    conditions: [{{field: "memo:kle", op: regex, value: '^27\\.'}}]
    actions: {{deliver_to: {{mailbox: {JOB}}}, categories: [Beskæftigelse]}}
  - name: Kvitteringer arkiveres
    priority: 20
    conditions: [{{field: subject, op: regex, value: '^DPG kvittering: '}}]
    exceptions: [{{field: subject, op: contains, value: fejl}}]
    actions: {{deliver_to: {{mailbox: {MAIN}, folder: Inbox/Kvitteringer}}, categories: [Kvittering]}}
  - name: Byggesager pr. mail
    priority: 30
    conditions: [{{field: subject, op: contains, value: byggesag}}]
    actions: {{deliver_to: {{mailbox: {BYG}}}, archive_to: {ARCHIVE}}}
"""

EVIL_RULE = """
  - name: Farligt mønster
    priority: 5
    conditions: [{field: body, op: regex, value: '(a+)+$'}]
    actions: {categories: [Aldrig]}
"""


def settings(extra_rules: str = "", **overrides: Any) -> InboundSettings:
    config = load_gateway_text(GATEWAY_FILE + extra_rules)
    s = inbound_settings(config)
    values = {**s.__dict__, **overrides}
    return InboundSettings(**values)


@dataclass
class Harness:
    tenant: GraphTenant
    ngdp: NgdpState
    store: SqlStore
    mailbox: GraphMailbox
    settings: InboundSettings

    def service(self, mailbox: Any = None) -> InboundService:
        """A fresh service (a restart): only the store and the remote state carry over."""
        return InboundService(
            mailbox or self.mailbox, in_process_client(self.ngdp), self.store, self.settings
        )

    def service_with(self, **options: Any) -> InboundService:
        """A fresh service with options (e.g. ``open_mail``)."""
        return InboundService(
            self.mailbox, in_process_client(self.ngdp), self.store, self.settings, **options
        )

    def secure_opening(self, pki: Any, *, organisation_only: bool = False) -> Any:
        """The S/MIME opening step with the test PKI's organisation key and CA (``tests.smime_pki.Pki``)."""
        from graph_dpg.adapters.smime import SmimeOpener, load_decryption_keys, load_trust_anchors
        from graph_dpg.services.inbound.secure import SecureMailOpening
        from tests.smime_pki import P12_PASSWORD

        keys = load_decryption_keys([pki.org.p12], P12_PASSWORD)
        opener = SmimeOpener(keys, load_trust_anchors([pki.ca.pem]), organisation_only=organisation_only)
        return SecureMailOpening(self.mailbox, opener)

    def messages(self, mailbox: str, folder: str = "inbox") -> list[dict[str, Any]]:
        return self.tenant.messages(mailbox, folder)

    def folder_messages(self, mailbox: str, path: str) -> list[dict[str, Any]]:
        mb = self.tenant.mailbox(mailbox)
        parent = self.tenant.folder(mb, path.split("/")[0].lower())
        for part in path.split("/")[1:]:
            parent = next(f for f in self.tenant.child_folders(mb, parent) if f.display_name == part)
        return self.tenant.messages(mailbox, parent.id)

    @staticmethod
    def attachment(message: dict[str, Any], name: str) -> bytes:
        att = next(a for a in message["attachments"] if a["name"] == name)
        return base64.b64decode(att["contentBytes"])


def make_harness(db_url: str, extra_rules: str = "", **overrides: Any) -> Harness:
    tenant = GraphTenant(TOKEN)
    for address, name in (
        (MAIN, "Digital Post"),
        (BYG, "Byg"),
        (JOB, "Jobcenter"),
        (MONITOR, "IT"),
        (ARCHIVE, "Arkiv"),
    ):
        tenant.add_mailbox(address, name)
    ngdp = NgdpState(organisation_cvr=ORG_CVR, organisation_name="Sandbox Kommune")
    store = create_store(db_url)
    mailbox = GraphMailbox(
        StaticTokenCredential(TOKEN),
        "http://127.0.0.1/v1.0",
        transport=httpx.ASGITransport(app=create_app(tenant)),
        retry=RetryPolicy.fast(),
    )
    return Harness(tenant, ngdp, store, mailbox, settings(extra_rules, **overrides))
