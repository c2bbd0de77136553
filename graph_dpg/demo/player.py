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
import base64
import os
import re
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
from cryptography.hazmat.primitives import serialization

from graph_dpg.bootstrap import Gateway
from graph_dpg.config import GatewayConfig, Settings, load_gateway_file, load_settings
from graph_dpg.demo.ngdp import NgdpSandbox, start_ngdp_sandbox
from graph_dpg.demo.scenario import DEMO_GATEWAY, InboxMail, OutboundMail, Scenario, mass_recipients
from graph_dpg.demo.smime import DemoPki, clear_signed, encrypted, opaque_signed, plain_mail
from graph_dpg.domain.html_text import html_to_text
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.domain.smime import Verdict, verdict_text
from graph_dpg.domain.texts import CATALOGUE, Text, placeholders
from graph_dpg.ports.store import JOB_TERMINAL, InboundState, JobState
from graph_dpg.runtime import Runtime
from graph_dpg.sandbox.graph import GraphTenant, serve
from graph_dpg.sandbox.idp import DEMO_USERS, IdpState, RunningIdp
from graph_dpg.sandbox.idp import serve as serve_idp
from graph_dpg.sandbox.ngdp import NgdpPusher, NgdpState
from graph_dpg.sandbox.ngdp.certs import NGDP_PUSH_CVR, NGDP_PUSH_ORGANISATION
from graph_dpg.sandbox.ngdp.forwarder import forward
from graph_dpg.sandbox.ngdp.samples import sample_memo
from graph_dpg.sandbox.ngdp.state import DuplicateAnswer
from graph_dpg.services.outbound import RECEIPT_PROPERTY

SANDBOX_SYSTEM_ID = "3f9c1b2e-7a6d-4c1e-9b8f-5d2a7e0c4b11"
# The address the simulated ingress reports for NgDP's pushes (a documentation address, RFC 5737).
SANDBOX_NGDP_PUSH_IP = "198.51.100.7"
SANDBOX_CONSOLE_TENANT = "sandbox-tenant"
SANDBOX_CONSOLE_CLIENT_ID = "0c6a4c52-6d1e-4f5b-9a53-5a1d1e0c0501"  # the sandbox's console app registration
MASS_FILE = "masseforsendelse.txt"
OUTBOUND_EFFECTS = ("receipt:", "categories:")
#: With change notifications on (sandbox_settings(notifications=True)): how often Sent Items is read anyway.
SANDBOX_SAFETY_NET_POLL_S = 30


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
    pki: DemoPki | None = None  # the secure-mail (S/MIME) certificates of the demo


@dataclass
class Played:
    """What was injected, to find it again in the report."""

    outbound: dict[str, tuple[str, str]] = field(default_factory=dict)  # name → (mailbox, message id)
    inbound: dict[str, str] = field(default_factory=dict)  # name → memo id at NgDP
    inbox: dict[str, tuple[str, str]] = field(default_factory=dict)  # name → (mailbox, internetMessageId)
    inbox_ids: dict[str, str] = field(default_factory=dict)  # name → the original's message id
    # name → memo id, for memos NgDP pushes (held in their own queue, so a pull cannot fetch them first)
    to_push: dict[str, str] = field(default_factory=dict)
    forwarded: dict[str, str] = field(default_factory=dict)  # name → memo id NgDP mailed as S/MIME
    pushed: dict[str, int] = field(default_factory=dict)  # memo id → HTTP status of NgDP's push
    push_queue: NgdpState | None = None


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


def start_console_idp(ngdp: NgdpSandbox, http_port: int) -> RunningIdp:
    """The emulated Entra ID the sandbox's console signs in with: HTTPS from the sandbox CA (the NgDP
    emulator's server certificate names 127.0.0.1), the console's redirect URI on ``http_port``."""
    assert ngdp.pki is not None
    state = IdpState(
        SANDBOX_CONSOLE_TENANT,
        SANDBOX_CONSOLE_CLIENT_ID,
        secrets.token_urlsafe(24),
        (console_redirect_uri(http_port),),
    )
    return serve_idp(state, certfile=ngdp.pki.server_cert, keyfile=ngdp.pki.server_key)


def console_redirect_uri(http_port: int) -> str:
    return f"http://127.0.0.1:{http_port}/console/auth/callback"


def demo_users_line() -> str:
    """``reader (Gateway.Reader), admin (Gateway.Admin)``: who the sandbox's sign-in page offers."""
    return ", ".join(f"{u.key} ({u.roles[-1]})" for u in DEMO_USERS.values())


def sandbox_settings(
    workdir: Path,
    graph_url: str,
    ngdp: NgdpSandbox,
    http_port: int,
    smime: DemoPki | None = None,
    *,
    console: RunningIdp | None = None,
    extra: dict[str, Any] | None = None,
    notifications: bool = False,
) -> Settings:
    """The gateway's settings for the sandbox. NgDP's pushes are authenticated as in production behind
    Container Apps' ingress (infra/): NgDP's client certificate in X-Forwarded-Client-Cert, checked
    against the sandbox CA and NgDP's subject, and its address in X-Forwarded-For against an allowlist;
    no shared secret. The receipts job still runs every second: it applies recorded receipts, pushed ones
    included, and pulls what a push has not delivered yet (a receipt recorded twice counts once).

    ``notifications``: Graph change notifications on, to the gateway's own HTTP server over loopback (the
    Graph emulator delivers to loopback only; docs/facts/graph.md, "Change notifications"): a new mail in
    Sent Items wakes its folder's poll at once, and the folders are otherwise read every
    ``SANDBOX_SAFETY_NET_POLL_S`` seconds (the production default is 300 s; shorter here so that a lost
    notification costs the demo seconds, not minutes: the sandbox's choice, not Graph behaviour)."""
    assert ngdp.pki is not None
    secure_mail: dict[str, Any] = {}
    if smime is not None:
        secure_mail = {
            "smime_certificates": [smime.organisation_pem],
            "smime_trust_anchors": [smime.ca_pem],
        }
        if smime.recipient_cert_dir is not None:
            secure_mail["smime_recipient_cert_dir"] = smime.recipient_cert_dir
    if console is not None:
        # The console on plain http over loopback: its cookies are not Secure there (bootstrap.console).
        secure_mail |= {
            "console_authority": console.authority,
            "console_client_id": console.state.client_id,
            "console_client_secret": console.state.client_secret,
            "console_redirect_uri": console_redirect_uri(http_port),
            "console_session_secret": secrets.token_urlsafe(32),
            "console_ca_bundle": ngdp.pki.ca_cert,
        }
    return load_settings(
        env_file=None,
        **secure_mail,
        **(extra or {}),  # e.g. the name registers' emulators (demo/names.py)
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
        **(
            {
                "notifications_url": f"http://127.0.0.1:{http_port}",
                "poll_interval_with_notifications_seconds": SANDBOX_SAFETY_NET_POLL_S,
            }
            if notifications
            else {}
        ),
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


def inject(scenario: Scenario, tenant: GraphTenant, state: NgdpState, pki: DemoPki | None = None) -> Played:
    played = Played()
    push_queue = NgdpState(system_id=state.system_id)
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
        if mail.signed is not None:
            played.outbound[mail.name] = (mail.mailbox, _put_signed(tenant, mail, files, _need(pki)))
            continue
        if mail.meeting is not None:
            m = mail.meeting
            played.outbound[mail.name] = (
                mail.mailbox,
                tenant.put_sent_meeting(
                    mail.mailbox,
                    mail.subject,
                    mail.body,
                    [("", a) for a in mail.to],
                    start=m.start,
                    end=m.end,
                    time_zone=m.time_zone,
                    location=m.location,
                    room=m.room,
                    ical_uid=f"sandbox-{mail.name}",
                ),
            )
            continue
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
        if memo.source == "push":
            played.inbound[memo.name] = played.to_push[memo.name] = push_queue.queue_inbound_memo(xml)
        elif memo.source == "smime-mail":
            # NgDP's SMTP recipient system: the memo mailed as S/MIME, encrypted to the organisation's
            # certificate (sandbox/ngdp/forwarder.py; its shapes are inference, docs/facts/ngdp.md)
            assert memo.mailbox is not None
            organisation = _need(pki).organisation.cert.public_bytes(serialization.Encoding.PEM)
            played.inbound[memo.name] = played.forwarded[memo.name] = forward(
                state, tenant.deliver_mime, xml, mailbox=memo.mailbox, recipient_pem=organisation
            )
        else:
            played.inbound[memo.name] = state.queue_inbound_memo(xml)
    played.push_queue = push_queue
    for inbox_mail in scenario.inbox_mails:
        files = [f for spec in inbox_mail.attachments for f in spec.files()]
        imid = f"<{secrets.token_hex(8)}@sandbox.local>"
        if inbox_mail.smime is not None:
            raw = _secure_inbox_mail(inbox_mail, files, imid, _need(pki))
            played.inbox_ids[inbox_mail.name] = tenant.deliver_mime(inbox_mail.mailbox, raw)
            played.inbox[inbox_mail.name] = (inbox_mail.mailbox, imid)
            continue
        played.inbox_ids[inbox_mail.name] = tenant.deliver_to_inbox(
            inbox_mail.mailbox,
            inbox_mail.subject,
            inbox_mail.body,
            from_=inbox_mail.from_,
            attachments=files,
            internet_message_id=imid,
        )
        played.inbox[inbox_mail.name] = (inbox_mail.mailbox, imid)
    return played


def _need(pki: DemoPki | None) -> DemoPki:
    if pki is None:
        raise ValueError("the scenario has S/MIME mails: play it with the demo PKI (sandbox_settings smime=)")
    return pki


def _put_signed(
    tenant: GraphTenant, mail: OutboundMail, files: list[tuple[str, str, bytes]], pki: DemoPki
) -> str:
    """The case worker's signed mail in Sent Items as Exchange keeps it ([MS-OXOSMIME] 2.1.3; the Graph
    emulator's deliver_mime stores S/MIME so)."""
    author = (f"{mail.mailbox.split('@')[0].capitalize()}", mail.mailbox)
    imid = f"<{secrets.token_hex(8)}@sandbox.local>"
    plain = plain_mail(author, [*mail.to, *mail.cc], mail.subject, html_to_text(mail.body), files, imid)
    signer = pki.case_worker
    raw = clear_signed(plain, signer) if mail.signed == "clear" else opaque_signed(plain, signer)
    return tenant.deliver_mime(mail.mailbox, raw, folder="sentitems", sent=True)


def _secure_inbox_mail(
    mail: InboxMail, files: list[tuple[str, str, bytes]], imid: str, pki: DemoPki
) -> bytes:
    assert mail.smime is not None
    plain = plain_mail(mail.from_, [mail.mailbox], mail.subject, html_to_text(mail.body), files, imid)
    signer = pki.party(mail.smime.sign) if mail.smime.sign is not None else None
    if mail.smime.encrypt_to is None:
        assert signer is not None
        return clear_signed(plain, signer)
    return encrypted(plain, pki.party(mail.smime.encrypt_to), signer)


async def push_memos(env: Environment, played: Played) -> None:
    """NgDP pushes the scenario's push memos to the gateway's push endpoint (REST PUSH; pusher.py). A memo
    the gateway did not take (not 200) stays in NgDP's push queue and is pushed again while waiting."""
    if not played.to_push or played.push_queue is None:
        return
    # As NgDP does it (and as ngdp_pusher below): its own client certificate through the simulated ingress.
    assert env.ngdp.pki is not None
    assert env.ngdp.pki.ngdp_push is not None
    push = env.ngdp.pki.ngdp_push
    pusher = NgdpPusher(
        played.push_queue,
        memo_url=f"{env.runtime.http_url}/ngdp/push/memos",
        receipt_url=f"{env.runtime.http_url}/ngdp/push/receipts",
        client_cert=(push.cert, push.key),
        forward_as_ingress=True,
        source_ip=SANDBOX_NGDP_PUSH_IP,
    )
    try:
        played.pushed.update(await pusher.push_memos())
    finally:
        await pusher.aclose()


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
    if env.gateway.inbound is not None:
        if played.push_queue is not None and played.push_queue.inbound_ids():
            waiting.append(f"{len(played.push_queue.inbound_ids())} memo(s) NgDP has yet to push")
        for name, memo_id in [*played.to_push.items(), *played.forwarded.items()]:
            row = store.get_inbound(memo_id)
            if row is None or row.state not in (InboundState.ACKNOWLEDGED, InboundState.DELETED):
                waiting.append(f"pushed memo {name}: {row.state.value if row else 'not stored yet'}")
        for name in played.inbox:
            if not _landed(env, played, name):
                waiting.append(f"inbox mail {name}: not routed yet")
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
        if played.push_queue is not None and played.push_queue.inbound_ids():
            await push_memos(env, played)  # NgDP redelivers what was not taken
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
            "signed": mail.signed,  # clear | opaque | null: the case worker signed it (S/MIME)
            "memos": [],
            "secure_mail": None,  # for secure mail to external recipients instead of memos
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
                            "categories": list(msg.get("categories") or []),
                            "conversation": msg.get("conversationId"),
                            "text": html_to_text(msg["body"]["content"]),
                            "attachments": [a["name"] for a in msg.get("attachments", [])],
                        }
                    )
        if job is not None and is_secure_mail(mail.to):
            entry["secure_mail"] = secure_mail_sent(tenant, mail, job.state.value)
            entry["secure_mail"]["sources"] = certificate_sources([r["text"] for r in entry["receipt_mails"]])
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
            # pull | push | smime-mail (forwarded by NgDP as S/MIME e-mail): how it reached the gateway
            "source": SOURCE_NAMES.get(stored.source.value, stored.source.value) if stored else memo.source,
            "memo_id": memo_id,
            "state": stored.state.value if stored else None,
            "mailbox": stored.target_mailbox if stored else None,
            "expect_mailbox": memo.expect_mailbox,
            "receipts_sent_to_ngdp": state.inbound_receipts(memo_id),
            "deleted_at_ngdp": memo_id in state.deleted_inbound,
        }
        if memo.name in played.to_push:
            # NgDP's push is answered by the HTTP status; nothing is left at NgDP to receipt or delete
            item["pushed_by_ngdp"] = played.pushed.get(memo_id) == 200
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
        source_mailbox = played.inbox[secure.name][0]
        landed = _landed(env, played, secure.name)
        inbox.append(
            {
                "name": secure.name,
                "description": secure.description,
                "from_mailbox": source_mailbox,
                "landed_in": [address for address, _ in landed],
                "categories": [c for _, msg in landed for c in msg.get("categories", [])],
                "smime": smime_view(landed) if secure.smime is not None else None,
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
        "notifications": notification_report(env),
        "outbound": outbound,
        "inbound": inbound,
        "inbox_mails": inbox,
        "master_categories": categories,
    }


def notification_report(env: Environment) -> dict[str, Any] | None:
    """Change notifications in this run (None when off): subscriptions made, notifications the Graph
    emulator delivered, and how many Sent Items polls a notification woke out of all of them."""
    if env.gateway.notifications is None:
        return None
    counters = env.runtime.counters
    delivered = [d for d in env.tenant.subscriptions.deliveries if d[0] == "notification"]
    return {
        "subscriptions": sum(counters.subscriptions.get(a, 0) for a in ("created", "recreated")),
        "delivered": sum(1 for _, _, status in delivered if status is not None and 200 <= status < 300),
        "woken_polls": counters.wakes,
        "polls": counters.outbound_polls,
        "safety_net_poll_s": env.settings.poll_interval_with_notifications_seconds,
    }


SOURCE_NAMES = {"pull": "pull", "push": "push", "mail": "smime-mail"}


def _landed(env: Environment, played: Played, name: str) -> list[tuple[str, dict[str, Any]]]:
    """Where the gateway put the inbox mail ``name``: every message with its internetMessageId in an
    organisation mailbox's inbox except the original (a routed copy, a readable copy, a banner)."""
    source_mailbox, imid = played.inbox[name]
    original = played.inbox_ids.get(name)
    return [
        (address, msg)
        for address in env.config.mailboxes
        for msg in env.tenant.messages(address, "inbox")
        if msg.get("internetMessageId") == imid
        and not (address == source_mailbox and (original is None or msg.get("id") == original))
    ]


def smime_view(landed: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """What the delivered mail's overview or banner says about its S/MIME (the catalogue's sentences,
    domain/texts.py, in either language): encrypted (to which certificate), signer and verdict, or why it
    could not be read (the support code ``smime:<reason>``)."""
    view: dict[str, Any] = {
        "encrypted": None,
        "encrypted_to": None,
        "signer": None,
        "verdict": None,
        "readable": None,
        "problem": None,  # the support code's reason (no-key, unsupported, damaged, signature)
        "banner": None,  # the banner's first paragraph when it could not be read or checked
    }
    if not landed:
        return view
    text = html_to_text(landed[0][1]["body"]["content"])
    for language in ("da", "en"):
        to = _match(Text.SMIME_ENCRYPTED_TO, language, text)
        if to is not None:
            view.update(encrypted=True, encrypted_to=to["certificate"].rsplit(" [", 1)[0])
        elif _match(Text.SMIME_NOT_ENCRYPTED, language, text) is not None:
            view["encrypted"] = False
        signed = _match(Text.SMIME_SIGNED_BY, language, text)
        if signed is not None:
            view["signer"] = signed["signer"]
            view["verdict"] = next(
                (v.value for v in Verdict if signed["verdict"].startswith(verdict_text(v, language))), None
            )
    problem = re.search(r"\bsmime:([a-z][a-z-]*)", text)
    if problem is not None:
        view.update(readable=False, problem=problem.group(1), banner=_banner(text))
        if problem.group(1) in ("no-key", "unsupported") and view["encrypted"] is None:
            view["encrypted"] = True
    else:
        view["readable"] = view["encrypted"] is not None
    return view


def _match(key: Text, language: str, text_: str) -> dict[str, str] | None:
    """The catalogue sentence ``key`` found in ``text_``, with its placeholders' values."""
    template = CATALOGUE[key].template(language)
    pattern = re.escape(template)
    for name in placeholders(template):
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^\n]+?)", 1)
    found = re.search(pattern + r"\s*$", text_, re.MULTILINE)
    return found.groupdict() if found is not None else None


def is_secure_mail(addresses: list[str]) -> bool:
    """The address grammar for secure mail to external recipients (issue 16): ``<local>=<domain>@sikkermail.
    <gateway-domain>`` wraps the real address."""
    return any(unwrap_secure_address(a) is not None for a in addresses)


def unwrap_secure_address(address: str) -> str | None:
    local, _, domain = address.rpartition("@")
    if not domain.lower().startswith("sikkermail.") or "=" not in local:
        return None
    user, _, host = local.rpartition("=")
    return f"{user}@{host}" if user and host else None


def secure_mail_sent(tenant: GraphTenant, mail: OutboundMail, job_state: str) -> dict[str, Any]:
    """What the Graph emulator saw leave the organisation for a secure-mail scene: the S/MIME messages sent
    (its outbound log: mail to addresses outside the tenant) to the unwrapped recipients with the scene's
    subject, and the certificates each was encrypted to (the CMS RecipientInfos of its smime.p7m)."""
    wanted = {u.lower() for a in [*mail.to, *mail.cc] if (u := unwrap_secure_address(a)) is not None}
    sent: list[dict[str, Any]] = []
    for logged in tenant.outbound_log:
        if logged["from"].lower() != mail.mailbox.lower() or logged.get("subject") != mail.subject:
            continue
        to = [a for a in logged["to"] if a.lower() in wanted]
        if not to:
            continue
        view = logged.get("message") or {}
        p7m = [a for a in view.get("attachments", []) if a.get("name") == "smime.p7m"]
        sent.append(
            {
                "to": to,
                "smime": bool(p7m),
                "certificates": recipient_certificates(p7m[0].get("contentBytes", "")) if p7m else [],
            }
        )
    reached = {a.lower() for s in sent if s["smime"] for a in s["to"]}
    outcome_ = (
        "sent"
        if wanted and wanted <= reached
        else "rejected"
        if job_state == JobState.REJECTED.value and not sent
        else "failed"
        if job_state in (JobState.DONE.value, JobState.FAILED.value)
        else "pending"
    )
    return {
        "recipients": sorted(wanted),
        "messages": sent,
        "certificates": sorted({c for s in sent for c in s["certificates"]}),
        "unencrypted": [a for s in sent if not s["smime"] for a in s["to"]],  # must stay empty
        "outcome": outcome_,
    }


#: Where the gateway found a recipient certificate (the receipt line's words) -> the source's kind.
_SOURCE_WORDS = {
    Text.SECURE_SEND_FROM_FILE: "file",
    Text.SECURE_SEND_FROM_CONTACTS: "contacts",
    Text.SECURE_SEND_FROM_LDAP: "ldap",
}


def certificate_sources(receipt_texts: list[str]) -> list[str]:
    """The sources (file | contacts | ldap) the receipts name for the certificates used, read back from
    the receipt lines (``securesend.sent``) in either language."""
    found: set[str] = set()
    for text_ in receipt_texts:
        for line in text_.splitlines():
            for language in ("da", "en"):
                sent = _match(Text.SECURE_SEND_SENT, language, line)
                if sent is None:
                    continue
                for key, kind in _SOURCE_WORDS.items():
                    if sent["source"].startswith(CATALOGUE[key].template(language)):
                        found.add(kind)
    return sorted(found)


def recipient_certificates(content_b64: str) -> list[str]:
    """``issuer / serial`` of each KeyTransRecipientInfo in an EnvelopedData (RFC 5652 6.2.1), read with
    pyasn1-modules' RFC 5652 types; what cannot be read is reported as such, never raised."""
    from pyasn1.codec.der.decoder import decode
    from pyasn1_modules import rfc5652

    try:
        data = base64.b64decode(content_b64)
        info, _ = decode(data, asn1Spec=rfc5652.ContentInfo())
        envelope, _ = decode(bytes(info["content"]), asn1Spec=rfc5652.EnvelopedData())
        found: list[str] = []
        for recipient in envelope["recipientInfos"]:
            if recipient.getName() != "ktri":
                found.append(recipient.getName())
                continue
            rid = recipient["ktri"]["rid"]
            if rid.getName() == "issuerAndSerialNumber":
                serial = int(rid["issuerAndSerialNumber"]["serialNumber"])
                found.append(f"serial {serial:x}")
            else:
                found.append(f"subjectKeyIdentifier {bytes(rid['subjectKeyIdentifier']).hex()}")
        return found
    except Exception as exc:  # a report never stops on what it shows
        return [f"unreadable: {type(exc).__name__}"]


def outcome(entry: dict[str, Any]) -> str:
    """sent | rejected | failed | pending, from what NgDP and the receipts said (for secure mail: from what
    left through Graph)."""
    state = entry["job_state"]
    if state == JobState.REJECTED.value:
        return "rejected"
    if state not in (JobState.DONE.value, JobState.FAILED.value):
        return "pending"
    if entry.get("secure_mail") is not None:
        return str(entry["secure_mail"]["outcome"])
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
                i["source"],
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
            ["memo", "source", "delivered to", "categories", "banner", "receipt", "expected"],
            rows,
        )
        rows = [
            [m["name"], _smime_summary(m["smime"]), ", ".join(m["landed_in"]) or "-", mark[m["as_expected"]]]
            for m in report["inbox_mails"]
        ]
        table("Secure mail (inbox routing)", ["mail", "S/MIME", "routed to", "expected"], rows)
    else:
        out.write(
            "\nInbound: the inbound service is not part of this build; inbound memos were not played.\n"
        )
    ngdp = report["ngdp"]
    out.write(
        f"\nNgDP emulator: {ngdp['accepted']} MeMo accepted, {ngdp['rejected']} refused, "
        f"{ngdp['duplicates']} duplicate(s); Graph emulator: {report['graph_requests']} requests.\n"
    )
    notes = report.get("notifications")
    if notes:
        out.write(
            f"Change notifications: {notes['subscriptions']} subscription(s), {notes['delivered']} "
            f"notification(s) delivered; {notes['woken_polls']} of {notes['polls']} Sent Items polls were "
            f"woken by a notification or a new subscription (the others: start-up and the safety net every "
            f"{notes['safety_net_poll_s']} s).\n"
        )
    if report["outstanding"]:
        out.write("NOT SETTLED: " + "; ".join(report["outstanding"]) + "\n")


def _smime_summary(view: dict[str, Any] | None) -> str:
    if view is None:
        return "-"
    if view["readable"] is False:
        return f"cannot open ({view['problem']})"
    bits = ["encrypted" if view["encrypted"] else "not encrypted"]
    if view["verdict"]:
        bits.append(f"signature {view['verdict']}")
    return ", ".join(bits)


def unexpected(report: dict[str, Any]) -> list[str]:
    names = [e["name"] for e in report["outbound"] if not e["as_expected"]]
    if report["inbound_service"]:
        names += [i["name"] for i in report["inbound"] if not i["as_expected"]]
        names += [m["name"] for m in report["inbox_mails"] if not m["as_expected"]]
    return names


def stdout_is_tty() -> bool:
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"
