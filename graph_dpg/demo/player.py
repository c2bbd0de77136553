"""Play a scenario through the real gateway: both emulators on 127.0.0.1 (NgDP with mutual TLS from a
throw-away PKI), the demo organisation seeded, ``bootstrap.build_gateway`` + ``runtime.Runtime`` (the same
objects ``graph-dpg run`` uses, SQLite in the work directory), the scenario's mails and memos injected, and
the service left to run on its schedule until everything has settled. Then a report is built from what the
emulators saw (never from the gateway's own bookkeeping alone).

Settled means: every scenario mail has a finished job, no effect (receipt mail, category) is pending, NgDP
holds no business receipt for us, no recorded receipt is unapplied, and NgDP's inbound queue is empty —
twice in a row, one poll interval apart.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from graph_dpg.bootstrap import Gateway
from graph_dpg.config import GatewayConfig, Settings, load_gateway_file, load_settings
from graph_dpg.demo.ngdp import NgdpSandbox, start_ngdp_sandbox
from graph_dpg.demo.scenario import DEMO_GATEWAY, Scenario, mass_recipients
from graph_dpg.domain.html_text import html_to_text
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.ports.store import JOB_TERMINAL, JobState
from graph_dpg.runtime import Runtime
from graph_dpg.sandbox.graph import GraphTenant, serve
from graph_dpg.sandbox.ngdp import NgdpPusher, NgdpState
from graph_dpg.sandbox.ngdp.certs import NGDP_PUSH_CVR, NGDP_PUSH_ORGANISATION
from graph_dpg.sandbox.ngdp.samples import sample_memo
from graph_dpg.sandbox.ngdp.state import DuplicateAnswer
from graph_dpg.services.outbound import RECEIPT_PROPERTY

SANDBOX_SYSTEM_ID = "3f9c1b2e-7a6d-4c1e-9b8f-5d2a7e0c4b11"
# The address the simulated ingress reports for NgDP's pushes (a documentation address, RFC 5737).
SANDBOX_NGDP_PUSH_IP = "198.51.100.7"
MASS_FILE = "masseforsendelse.txt"
OUTBOUND_EFFECTS = ("receipt:", "categories:")


@dataclass
class Environment:
    """The running sandbox: emulators, the gateway and its runtime."""

    workdir: Path
    tenant: GraphTenant
    ngdp_state: NgdpState
    ngdp: NgdpSandbox
    graph_url: str
    settings: Settings
    config: GatewayConfig
    gateway: Gateway
    runtime: Runtime


@dataclass
class Played:
    """What was injected, to find it again in the report."""

    outbound: dict[str, tuple[str, str]] = field(default_factory=dict)  # name → (mailbox, message id)
    inbound: dict[str, str] = field(default_factory=dict)  # name → memo id at NgDP
    inbox: dict[str, tuple[str, str]] = field(default_factory=dict)  # name → (mailbox, internetMessageId)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def sandbox_environment(
    workdir: Path | None,
    gateway_file: Path = DEMO_GATEWAY,
    *,
    http_port: int | None = None,
    duplicate_answer: DuplicateAnswer = "400-code",
    validate_memos: bool = True,
) -> Iterator[tuple[Path, GraphTenant, str, NgdpState, NgdpSandbox, GatewayConfig]]:
    """Start both emulators for the organisation of ``gateway_file`` (mailboxes, NgDP organisation).
    ``duplicate_answer`` and ``validate_memos`` are the NgDP emulator's settings (docs/sandbox.md)."""
    with ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="graph-dpg-sandbox-")))
        workdir.mkdir(parents=True, exist_ok=True)
        config = load_gateway_file(gateway_file)
        tenant = GraphTenant()
        for address in config.mailboxes:
            tenant.add_mailbox(address)
        graph_url = stack.enter_context(serve(tenant))
        state = NgdpState(
            organisation_cvr=config.organisation.cvr,
            organisation_name=config.organisation.name,
            system_id=SANDBOX_SYSTEM_ID,
            api_token=secrets.token_urlsafe(24),
            mandatory_post_allowed=config.organisation.mandatory_allowed,
            legal_notification_allowed=config.organisation.legal_notification_allowed,
            duplicate_answer=duplicate_answer,
            validate_memos=validate_memos,
        )
        for cp in config.contact_points:
            state.add_contact_point(cp.id, cp.name)
        ngdp = start_ngdp_sandbox(workdir / "pki", state=state, tls=True)
        stack.callback(ngdp.stop)
        yield workdir, tenant, graph_url, state, ngdp, config


def sandbox_settings(workdir: Path, graph_url: str, ngdp: NgdpSandbox, http_port: int) -> Settings:
    """The gateway's settings for the sandbox. NgDP's pushes are authenticated as in production behind
    Container Apps' ingress (infra/): NgDP's client certificate in X-Forwarded-Client-Cert, checked
    against the sandbox CA and NgDP's subject, and its address in X-Forwarded-For against an allowlist;
    no shared secret. The receipts job still runs every second: it applies recorded receipts, pushed ones
    included, and pulls what a push has not delivered yet (a receipt recorded twice counts once)."""
    assert ngdp.pki is not None
    return load_settings(
        env_file=None,
        credential_kind="sandbox",
        graph_base_url=graph_url,
        ngdp_base_url=ngdp.base_url,
        ngdp_system_id=ngdp.state.system_id,
        ngdp_api_token=ngdp.state.api_token,
        ngdp_certificate_path=ngdp.pki.client.p12,
        ngdp_certificate_password=ngdp.pki.client.p12_password,
        ngdp_ca_bundle=ngdp.pki.ca_cert,
        database_url=f"sqlite:///{workdir / 'graph-dpg.db'}",
        outbound_poll_seconds=1,
        inbound_poll_seconds=1,
        receipts_poll_seconds=1,
        poll_jitter_seconds=0.2,
        max_backoff_seconds=5,
        http_host="127.0.0.1",
        http_port=http_port,
        push_forwarded_client_cert=True,
        push_client_ca_file=ngdp.pki.ca_cert,
        push_client_subject=f"O={NGDP_PUSH_ORGANISATION}, serialNumber=CVR:{NGDP_PUSH_CVR}-FID:sandbox",
        push_allowed_ips=SANDBOX_NGDP_PUSH_IP,
        push_proxy_hops=1,
        replica_id="sandbox",
        lease_seconds=10,
        log_format="console",
        log_level="WARNING",
    )


def ngdp_pusher(
    ngdp: NgdpSandbox, gateway_url: str, transport: httpx.AsyncBaseTransport | None = None
) -> NgdpPusher:
    """NgDP pushing to the gateway's push endpoints the way it would in production: with its own client
    certificate, through a simulated Container Apps ingress (X-Forwarded-Client-Cert, X-Forwarded-For)."""
    assert ngdp.pki is not None
    assert ngdp.pki.ngdp_push is not None
    push = ngdp.pki.ngdp_push
    return NgdpPusher(
        ngdp.state,
        memo_url=f"{gateway_url}/ngdp/push/memos",
        receipt_url=f"{gateway_url}/ngdp/push/receipts",
        client_cert=(push.cert, push.key),
        forward_as_ingress=True,
        source_ip=SANDBOX_NGDP_PUSH_IP,
        transport=transport,
    )


async def push_receipts_until(
    pusher: NgdpPusher, stop: asyncio.Event, statuses: dict[int, int], interval_s: float = 0.5
) -> None:
    """Push NgDP's waiting business receipts every ``interval_s`` until ``stop``; counts the answers by
    HTTP status in ``statuses`` (0: no answer). A refused receipt stays at NgDP and is pushed again."""
    while not stop.is_set():
        for status in (await pusher.push_receipts()).values():
            statuses[status] = statuses.get(status, 0) + 1
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


def seed(scenario: Scenario, state: NgdpState) -> None:
    for entry in scenario.registry:
        if entry.cpr is not None:
            state.register(cpr=entry.cpr, status=entry.status)
        else:
            state.register(cvr=entry.cvr, status=entry.status)
    for cp in scenario.ngdp_contact_points:
        state.add_contact_point(cp.id, cp.name, cp.memo_size_threshold_mb, cp.allowed_number_of_attachments)


def inject(scenario: Scenario, tenant: GraphTenant, state: NgdpState) -> Played:
    played = Played()
    for index, mail in enumerate(scenario.outbound):
        files: list[tuple[str, str, bytes]] = []
        for spec in mail.attachments:
            files.extend(spec.files())
        if mail.mass is not None:
            people = mass_recipients(index + 1, mail.mass.count)
            for n, cpr in enumerate(people):
                if n >= mail.mass.unregistered:
                    state.register(cpr=cpr)
            files.append((MASS_FILE, "text/plain", ("\n".join(people) + "\n").encode()))
        message_id = tenant.put_sent_message(
            mail.mailbox,
            mail.subject,
            mail.body,
            to=[("", a) for a in mail.to],
            cc=[("", a) for a in mail.cc],
            attachments=files,
        )
        played.outbound[mail.name] = (mail.mailbox, message_id)
    for memo in scenario.inbound:
        xml = memo.raw.encode() if memo.raw is not None else sample_memo(**(memo.memo or {}))
        played.inbound[memo.name] = state.queue_inbound_memo(xml)
    for inbox_mail in scenario.inbox_mails:
        files = [f for spec in inbox_mail.attachments for f in spec.files()]
        imid = f"<{secrets.token_hex(8)}@sandbox.local>"
        tenant.deliver_to_inbox(
            inbox_mail.mailbox,
            inbox_mail.subject,
            inbox_mail.body,
            from_=inbox_mail.from_,
            attachments=files,
            internet_message_id=imid,
        )
        played.inbox[inbox_mail.name] = (inbox_mail.mailbox, imid)
    return played


# ---------------------------------------------------------------------------------------------- waiting


def outstanding(env: Environment, played: Played) -> list[str]:
    """What keeps the scenario from being settled (empty when it is)."""
    store = env.gateway.store
    waiting: list[str] = []
    for name, (mailbox, message_id) in played.outbound.items():
        job = store.find_job(mailbox, message_id)
        if job is None or job.state not in JOB_TERMINAL:
            waiting.append(f"outbound {name}: {job.state.value if job else 'not seen yet'}")
    # Only the outbound effects: the inbound service's own (secure-mail routes, alerts) are not waited for.
    if any(store.pending_effects(limit=1, prefix=p) for p in OUTBOUND_EFFECTS):
        waiting.append("receipt mails / categories pending")
    if env.ngdp_state.receipt_ids():
        waiting.append("business receipts waiting at NgDP")
    if store.unprocessed_receipts(limit=1):
        waiting.append("business receipts not applied")
    if env.gateway.inbound is not None and env.ngdp_state.inbound_ids():
        waiting.append(f"{len(env.ngdp_state.inbound_ids())} inbound memo(s) at NgDP")
    return waiting


async def wait_settled(
    env: Environment,
    played: Played,
    timeout_s: float,
    progress: Callable[[Environment, Played], None] | None = None,
) -> list[str]:
    deadline = time.monotonic() + timeout_s
    calm = 0
    while time.monotonic() < deadline:
        if progress is not None:
            progress(env, played)
        left = await asyncio.to_thread(outstanding, env, played)
        calm = calm + 1 if not left else 0
        if calm >= 2:
            return []
        await asyncio.sleep(0.6 if left else 1.2)
    return await asyncio.to_thread(outstanding, env, played)


class MassProgress:
    """A progress line per mass delivery (a bar on a terminal, quarter steps otherwise).

    Progress is what the NgDP emulator has accepted of the job's planned messageUUIDs: the gateway records
    send outcomes per batch, so its own counters move in big steps.
    """

    def __init__(self, scenario: Scenario, out: TextIO) -> None:
        self.names = [m.name for m in scenario.outbound if m.mass is not None]
        self.out = out
        self.tty = out.isatty()
        self.shown: dict[str, int] = {}
        self.uuids: dict[str, list[str]] = {}

    def __call__(self, env: Environment, played: Played) -> None:
        for name in self.names:
            uuids = self.uuids.get(name) or self._planned(env, played, name)
            if not uuids:
                continue
            total = len(uuids)
            done = sum(1 for u in uuids if env.ngdp_state.find_accepted(u) is not None)
            step = done * 4 // total if not self.tty else done
            if self.shown.get(name) == step:
                continue
            self.shown[name] = step
            width = 30
            bar = "#" * (width * done // total) + "." * (width - width * done // total)
            end = "\r" if self.tty and done < total else "\n"
            self.out.write(f"  {name}: [{bar}] {done}/{total} accepted by NgDP{end}")
            self.out.flush()

    def _planned(self, env: Environment, played: Played, name: str) -> list[str]:
        mailbox, message_id = played.outbound[name]
        store = env.gateway.store
        job = store.find_job(mailbox, message_id)
        if job is None or job.state in (JobState.NEW, JobState.REJECTED):
            return []
        uuids: list[str] = []
        after = 0
        while rows := store.list_outbox(job.id, after_id=after, limit=1000):
            uuids += [r.message_uuid for r in rows]
            after = rows[-1].id
        self.uuids[name] = uuids
        return uuids


# ---------------------------------------------------------------------------------------------- report


def build_report(
    env: Environment, scenario: Scenario, played: Played, outstanding_: list[str]
) -> dict[str, Any]:
    store, tenant, state = env.gateway.store, env.tenant, env.ngdp_state
    outbound: list[dict[str, Any]] = []
    for mail in scenario.outbound:
        mailbox, message_id = played.outbound[mail.name]
        job = store.find_job(mailbox, message_id)
        original = tenant.message(mailbox, message_id)
        entry: dict[str, Any] = {
            "name": mail.name,
            "description": mail.description,
            "mailbox": mailbox,
            "subject": mail.subject,
            "to": mail.to,
            "expect": mail.expect,
            "job_state": job.state.value if job else None,
            "job_error": job.error if job else None,
            "categories": original.get("categories", []),
            "memos": [],
            "receipt_mails": [],
        }
        if job is not None:
            after = 0
            while True:
                rows = store.list_outbox(job.id, after_id=after, limit=1000)
                if not rows:
                    break
                after = rows[-1].id
                for row in rows:
                    accepted = state.find_accepted(row.message_uuid)
                    entry["memos"].append(
                        {
                            "message_uuid": row.message_uuid,
                            "recipient": f"{row.recipient_kind.upper()} {row.recipient_id}",
                            "recipient_contact_point": row.recipient_contact_point,
                            "state": row.state.value,
                            "receipt_status": row.receipt_status,
                            "error": row.last_error,
                            "accepted_by_ngdp": accepted is not None,
                            "xml": accepted.xml.decode("utf-8") if accepted is not None else None,
                        }
                    )
            for msg in tenant.messages(mailbox, "inbox"):
                props = {p["id"].rsplit(" ", 1)[-1]: p["value"] for p in msg["singleValueExtendedProperties"]}
                marker = props.get(RECEIPT_PROPERTY, "")
                if marker == f"receipt:{job.id}" or marker.startswith(f"receipt:{job.id}:"):
                    entry["receipt_mails"].append(
                        {
                            "subject": msg["subject"],
                            "text": html_to_text(msg["body"]["content"]),
                            "attachments": [a["name"] for a in msg.get("attachments", [])],
                        }
                    )
        entry["outcome"] = outcome(entry)
        entry["as_expected"] = mail.expect in ("any", entry["outcome"])
        outbound.append(entry)

    inbound: list[dict[str, Any]] = []
    for memo in scenario.inbound:
        memo_id = played.inbound[memo.name]
        stored = store.get_inbound(memo_id)
        item: dict[str, Any] = {
            "name": memo.name,
            "description": memo.description,
            "memo_id": memo_id,
            "state": stored.state.value if stored else None,
            "mailbox": stored.target_mailbox if stored else None,
            "expect_mailbox": memo.expect_mailbox,
            "receipts_sent_to_ngdp": state.inbound_receipts(memo_id),
            "deleted_at_ngdp": memo_id in state.deleted_inbound,
        }
        if stored is not None and stored.route is not None:
            # The inbound service records its routing decision (rules, banner kind) before delivering.
            item["route"] = dict(stored.route)
        if stored is not None and stored.target_mailbox and stored.created_message_id:
            delivered = tenant.message(stored.target_mailbox, stored.created_message_id)
            text = html_to_text(delivered["body"]["content"])
            item.update(
                subject=delivered["subject"],
                categories=delivered.get("categories", []),
                attachments=[a["name"] for a in delivered.get("attachments", [])],
                banner=_banner(text) if item.get("route", {}).get("banner") else None,
                text=text[:2000],
            )
        item["as_expected"] = memo.expect_mailbox is None or item["mailbox"] == memo.expect_mailbox
        inbound.append(item)

    inbox: list[dict[str, Any]] = []
    for secure in scenario.inbox_mails:
        source_mailbox, imid = played.inbox[secure.name]
        landed = [
            (address, msg)
            for address in env.config.mailboxes
            for msg in tenant.messages(address, "inbox")
            if msg.get("internetMessageId") == imid and address != source_mailbox
        ]
        inbox.append(
            {
                "name": secure.name,
                "description": secure.description,
                "from_mailbox": source_mailbox,
                "landed_in": [address for address, _ in landed],
                "categories": [c for _, msg in landed for c in msg.get("categories", [])],
                "expect_mailbox": secure.expect_mailbox,
                "as_expected": secure.expect_mailbox is None
                or secure.expect_mailbox in [address for address, _ in landed],
            }
        )

    categories = {address: tenant.master_categories(address) for address in env.config.mailboxes}
    return {
        "settled": not outstanding_,
        "outstanding": outstanding_,
        "inbound_service": env.gateway.inbound is not None,
        "urls": {"graph": env.graph_url, "ngdp": env.ngdp.base_url, "gateway": env.runtime.http_url},
        "ngdp": {
            "accepted": len(state.accepted),
            "rejected": len(state.rejected),
            "duplicates": state.duplicate_count,
            "receipts_left": len(state.receipt_ids()),
        },
        "graph_requests": len(tenant.request_log),
        "outbound": outbound,
        "inbound": inbound,
        "inbox_mails": inbox,
        "master_categories": categories,
    }


def outcome(entry: dict[str, Any]) -> str:
    """sent | rejected | failed | pending, from what NgDP and the receipts said."""
    state = entry["job_state"]
    if state == JobState.REJECTED.value:
        return "rejected"
    if state not in (JobState.DONE.value, JobState.FAILED.value):
        return "pending"
    memos = entry["memos"]
    bad = [m for m in memos if m["state"] != "accepted" or m["receipt_status"] in ("INVALID", "NOT_ALLOWED")]
    return "failed" if bad or state == JobState.FAILED.value else "sent"


def _banner(text: str) -> str:
    """The warning banner at the top of a delivered memo: its first paragraph."""
    return text.strip().split("\n", 1)[0]


# ---------------------------------------------------------------------------------------------- summary


def print_summary(report: dict[str, Any], out: TextIO) -> None:
    def table(title: str, header: list[str], rows: list[list[str]]) -> None:
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
        out.write(f"\n{title}\n")
        out.write("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "\n")
        out.write("  " + "  ".join("-" * w for w in widths) + "\n")
        for row in rows:
            out.write("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + "\n")

    mark = {True: "ok", False: "UNEXPECTED"}
    rows = []
    for e in report["outbound"]:
        accepted = sum(1 for m in e["memos"] if m["accepted_by_ngdp"])
        why = e["job_error"] or ""
        if not why and e["outcome"] == "failed":
            bad = [m for m in e["memos"] if m["receipt_status"] in ("INVALID", "NOT_ALLOWED")]
            why = f"{len(bad)} negative business receipt(s)" if bad else ""
        rows.append(
            [
                e["name"],
                e["outcome"],
                f"{accepted}/{len(e['memos'])}",
                str(len(e["receipt_mails"])),
                ", ".join(c.removeprefix("Digital Post: ") for c in e["categories"]),
                mask_cprs(why)[:60],
                mark[e["as_expected"]],
            ]
        )
    table(
        "Outbound (Outlook → Digital Post)",
        ["mail", "outcome", "MeMo accepted", "receipts", "categories", "why", "expected"],
        rows,
    )
    if report["inbound_service"]:
        rows = [
            [
                i["name"],
                i["mailbox"] or "-",
                ", ".join(i.get("categories", [])),
                "yes" if i.get("banner") else "",
                ", ".join(r.get("receiptStatus", r.get("status", "?")) for r in i["receipts_sent_to_ngdp"]),
                mark[i["as_expected"]],
            ]
            for i in report["inbound"]
        ]
        table(
            "Inbound (Digital Post → mailboxes)",
            ["memo", "delivered to", "categories", "banner", "receipt", "expected"],
            rows,
        )
        rows = [
            [m["name"], ", ".join(m["landed_in"]) or "-", mark[m["as_expected"]]]
            for m in report["inbox_mails"]
        ]
        table("Secure mail (inbox routing)", ["mail", "routed to", "expected"], rows)
    else:
        out.write(
            "\nInbound: the inbound service is not part of this build; inbound memos were not played.\n"
        )
    ngdp = report["ngdp"]
    out.write(
        f"\nNgDP emulator: {ngdp['accepted']} MeMo accepted, {ngdp['rejected']} refused, "
        f"{ngdp['duplicates']} duplicate(s); Graph emulator: {report['graph_requests']} requests.\n"
    )
    if report["outstanding"]:
        out.write("NOT SETTLED: " + "; ".join(report["outstanding"]) + "\n")


def unexpected(report: dict[str, Any]) -> list[str]:
    names = [e["name"] for e in report["outbound"] if not e["as_expected"]]
    if report["inbound_service"]:
        names += [i["name"] for i in report["inbound"] if not i["as_expected"]]
        names += [m["name"] for m in report["inbox_mails"] if not m["as_expected"]]
    return names


def stdout_is_tty() -> bool:
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"
