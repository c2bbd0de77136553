"""Chaos run (issue 10): the real gateway (``python -m graph_dpg run`` processes) against the Graph and NgDP
emulators served by this process over loopback, on PostgreSQL, with a mixed workload and faults injected on
every seam. It ends with a table and exits 1 unless everything arrived exactly once.

    bench/chaos.py                    # default: ~75 s of chaos, then drain; about 2-3 minutes in all
    bench/chaos.py --minutes 10       # a longer run
    bench/chaos.py --keep             # keep the work directory (logs, .env, gateway file) for reading
    bench/chaos.py --replicas 3 --fault-rate 0.3 --kills 15 --mass 300 --seed 7   # the harsh setting

Set-up::

    this process ── Graph emulator (uvicorn thread, 127.0.0.1) ◄──┐
                 ── NgDP emulator (uvicorn thread, mutual TLS) ◄──┼── replica r1, r2 (`graph-dpg run`,
                 ── PostgreSQL, a schema of this run only    ◄──┘    .env + gateway.yaml in a temp dir,
                                                                     stdout/stderr to one log per start)

Workload, spread over the chaos window: single letters (CPR), ``-reply`` letters via a sender contact
point, letters to a company's recipient contact point (CVR.contact-point), mass deliveries of a few
hundred citizens (``masseforsendelse-N`` + ``masseforsendelse.txt``), inbound memos queued at NgDP (mapped,
unmapped and no contact point; MeMo 1.1 and 1.2; some with a CPR in the label), secure mails arriving in
the main mailbox (some routed by a rule to another mailbox) and the business receipts NgDP produces for
every accepted MeMo.

Faults during the window: Graph 429 (Retry-After) / 503 / 504 on ~10 % of requests, 504 *after* the
change took effect on some writes (an ambiguous outcome), slow answers, and Graph's own limit of 4
concurrent requests per mailbox; NgDP 503s, connection resets, slow answers and timeouts after the memo
was accepted; SIGKILL of a random replica, restarted a moment later; PostgreSQL restarted once (only for
the local cluster and as root; otherwise skipped with the reason printed). Then the faults stop and the run
waits for quiescence (every job finished, no effect pending, NgDP's queues empty), twice in a row.

Pass criteria (exit 0), judged from what the emulators hold, not from the gateway's own bookkeeping:
every planned outbound MeMo accepted by NgDP exactly once per planned recipient (duplicate sends answered
as duplicates are counted, not failures); every inbound memo delivered as exactly one message (across all
mailboxes) in the expected mailbox, acknowledged with a receipt and deleted at NgDP; every secure mail
routed once; every original mail with exactly one receipt mail per receipt key and exactly one state
category, no category listed twice, no master category created twice; every business receipt pulled; no
``Traceback`` and no ERROR/CRITICAL line in any gateway log; no CPR number of the test data in clear in
any log line; every replica stopped by SIGTERM exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from graph_dpg.adapters.store import create_store
from graph_dpg.demo.ngdp import start_ngdp_sandbox
from graph_dpg.demo.scenario import mass_recipients
from graph_dpg.ports.store import JOB_TERMINAL, EffectState, InboundState
from graph_dpg.sandbox.graph import GraphTenant, gateway_timeout, serve, slow, throttle, unavailable
from graph_dpg.sandbox.graph.faults import Fault
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.sandbox.ngdp.samples import sample_memo
from graph_dpg.services.inbound import MEMO_PROPERTY
from graph_dpg.services.outbound import RECEIPT_PROPERTY

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ORG_CVR = "12345674"
ORG_NAME = "Kaosby Kommune"
DOMAIN = "kaos.dk"
GW = "ngdp.digital-post.dk"
MAIN = f"digitalpost@{DOMAIN}"
MONITOR = f"it-drift@{DOMAIN}"
BORGER = f"borgerservice@{DOMAIN}"
JOB = f"jobcenter@{DOMAIN}"
OEKONOMI = f"oekonomi@{DOMAIN}"
MAILBOXES = (MAIN, MONITOR, BORGER, JOB, OEKONOMI)
CP_BORGER = "ff7b412a-ed38-41bd-84c5-8a1d7bc220af"
CP_JOB = "dcf4153e-fd50-450f-8622-4dddd1f55da7"
CP_GONE = "39b61988-3873-4083-bbb2-7fbe4b4d2127"
CP_COMPANY = "5a0b5e4c-3f0e-4b5e-9d52-0c1f6f1d2a01"  # a recipient company's contact point
STATE_CATEGORIES = {
    "Digital Post: I kø",
    "Digital Post: Sendt",
    "Digital Post: Kvitteret",
    "Digital Post: Fejlet",
}
RECEIPT_EFFECTS = ("receipt:", "categories:", "mailroute:")

GATEWAY_YAML = f"""\
organisation: {{cvr: "{ORG_CVR}", name: {ORG_NAME}, mandatory_allowed: true}}
gateway_domain: digital-post.dk
main_mailbox: {MAIN}
monitoring_mailbox: {MONITOR}
function_mailboxes:
  - address: {BORGER}
    cvrs: ["{ORG_CVR}"]
    sender_contact_points: [{CP_BORGER}]
  - address: {JOB}
    sender_contact_points: [{CP_JOB}]
  - address: {OEKONOMI}
    cvrs: ["{ORG_CVR}"]
contact_points:
  - {{id: {CP_BORGER}, name: Borgerservice, mailbox: {BORGER}}}
  - {{id: {CP_JOB}, name: Jobcenter, mailbox: {JOB}}}
  - {{id: {CP_GONE}, name: Nedlagt enhed, mailbox: null}}
rules:
  - name: Sikker mail fra a-kassen
    priority: 20
    conditions:
      - {{field: from, op: regex, value: '@a-kasse\\.dk$'}}
    actions:
      deliver_to: {{mailbox: {JOB}}}
      stop: true
"""

# Which mailbox an inbound memo to each recipient contact point must land in (None: no contact point).
INBOUND_TARGET = {CP_BORGER: BORGER, CP_JOB: JOB, CP_GONE: MAIN, None: MAIN}


def log_line(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ============================================================================ database


@contextlib.contextmanager
def isolated_schema(base_url: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema of this run, dropped afterwards (as tests/conftest.py)."""
    base = make_url(base_url)
    schema = f"chaos_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        for _ in range(10):
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                break
            except Exception:
                time.sleep(1)
        admin.dispose()


def pg_restart_problem(url: str) -> str | None:
    """Why PostgreSQL cannot be restarted by this run (None: it can)."""
    host = make_url(url).host or "localhost"
    if host not in ("127.0.0.1", "localhost", "::1"):
        return f"the database host {host} is not this machine"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not running as root"
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        return "no local pg_ctlcluster cluster (/etc/postgresql)"
    if len(os.listdir("/etc/postgresql")) != 1:
        return "more than one PostgreSQL version in /etc/postgresql"
    return None


def restart_postgres() -> float:
    version = os.listdir("/etc/postgresql")[0]
    started = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return time.monotonic() - started


# ============================================================================ test data


def valid_cvrs(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct CVR numbers that pass modulus 11 (weights 2,7,6,5,4,3,2,1)."""
    weights = (2, 7, 6, 5, 4, 3, 2)
    found: set[str] = set()
    while len(found) < n:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(6)]
        check = (-sum(w * d for w, d in zip(weights, digits, strict=True))) % 11
        if check < 10:
            found.add("".join(map(str, digits)) + str(check))
    return sorted(found)


@dataclass
class Original:
    """One mail a user 'sent' from Outlook (in Sent Items)."""

    kind: str
    mailbox: str
    message_id: str
    subject: str
    recipients: list[str]  # the CPR/CVR numbers that must each get exactly one MeMo
    category: str = "Digital Post: Kvitteret"  # the one state category it must end with
    reply: bool = False
    sender_contact_point: str | None = None
    recipient_contact_point: str | None = None


@dataclass
class Inbound:
    memo_id: str
    contact_point: str | None
    expect_mailbox: str


@dataclass
class SecureMail:
    imid: str
    routed_to: str | None  # None: no rule matches, it stays in the main mailbox


@dataclass
class Workload:
    originals: list[Original] = field(default_factory=list)
    inbound: list[Inbound] = field(default_factory=list)
    secure: list[SecureMail] = field(default_factory=list)
    cprs: set[str] = field(default_factory=set)


class Generator:
    """Creates the workload in the emulators, a little at a time."""

    def __init__(self, tenant: GraphTenant, ngdp: NgdpState, rng: random.Random) -> None:
        self.tenant = tenant
        self.ngdp = ngdp
        self.rng = rng
        self.people = iter(mass_recipients(7, 90_000))  # distinct, valid dates
        self.companies = iter(valid_cvrs(rng, 2_000))
        self.n = 0
        self.work = Workload()

    def citizen(self) -> str:
        cpr = next(self.people)
        self.ngdp.register(cpr=cpr)
        self.work.cprs.add(cpr)
        return cpr

    def _put(
        self,
        kind: str,
        mailbox: str,
        to: str,
        recipients: list[str],
        *,
        expect: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        self.n += 1
        subject = f"Kaos {kind} {self.n}"
        message_id = self.tenant.put_sent_message(
            mailbox, subject, f"<p>Kære modtager,</p><p>{kind} nr. {self.n} æøå.</p>", to=[("", to)], **kw
        )
        self.work.originals.append(Original(kind, mailbox, message_id, subject, recipients, **(expect or {})))

    def single(self) -> None:
        cpr = self.citizen()
        pdf = ("afgørelse.pdf", "application/pdf", b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
        self._put(
            "single", self.rng.choice([BORGER, OEKONOMI]), f"{cpr}@{ORG_CVR}.{GW}", [cpr], attachments=[pdf]
        )

    def unknown_citizen(self) -> None:
        """Accepted by NgDP, but the citizen is not in the registry: an INVALID business receipt."""
        cpr = next(self.people)
        self.work.cprs.add(cpr)
        failed = {"category": "Digital Post: Fejlet"}
        self._put("unknown", BORGER, f"{cpr}@{ORG_CVR}.{GW}", [cpr], expect=failed)

    def refused(self) -> None:
        """No valid CPR (1234567890 is no date): nothing is sent, an error receipt says why."""
        failed = {"category": "Digital Post: Fejlet"}
        self._put("refused", BORGER, f"1234567890@{ORG_CVR}.{GW}", [], expect=failed)

    def large(self) -> None:
        """A 3.5 MB attachment: read by the gateway in ranges, sent as one MeMo of ~5 MB."""
        cpr = self.citizen()
        pdf = b"%PDF-1.4\n" + bytes(self.rng.getrandbits(8) for _ in range(1024)) * 3500 + b"\n%%EOF\n"
        self._put(
            "large",
            OEKONOMI,
            f"{cpr}@{ORG_CVR}.{GW}",
            [cpr],
            attachments=[("bilag.pdf", "application/pdf", pdf)],
        )

    def reply(self) -> None:
        cpr = self.citizen()
        mailbox, cp = self.rng.choice([(BORGER, CP_BORGER), (JOB, CP_JOB)])
        expect = {"reply": True, "sender_contact_point": cp}
        self._put("reply", mailbox, f"{cpr}-reply@{cp}.{GW}", [cpr], expect=expect)

    def contact_point(self) -> None:
        cvr = next(self.companies)
        self.ngdp.register(cvr=cvr)
        expect = {"recipient_contact_point": CP_COMPANY}
        self._put("contact-point", OEKONOMI, f"{cvr}.{CP_COMPANY}@{ORG_CVR}.{GW}", [cvr], expect=expect)

    def mass(self, count: int) -> None:
        people = [self.citizen() for _ in range(count)]
        listing = ("masseforsendelse.txt", "text/plain", ("\r\n".join(people) + "\r\n").encode())
        self._put("mass", BORGER, f"masseforsendelse-{count}@{ORG_CVR}.{GW}", people, attachments=[listing])

    def inbound_memo(self) -> None:
        self.n += 1
        cp = self.rng.choice([CP_BORGER, CP_JOB, CP_GONE, None])
        label = f"Kaos indgående {self.n}"
        if self.n % 3 == 0:
            # Citizens put their CPR number in the subject; it must never reach a log line in clear.
            label += f" vedr. {self.citizen()}"
        xml = sample_memo(
            version=self.rng.choice(["1.1", "1.2"]),
            recipient_id=ORG_CVR,
            recipient_id_type="CVR",
            recipient_contact_point=cp,
            sender_cvr="29189846",
            sender_label="Byg & Anlæg A/S",
            label=label,
            attachments=self.rng.choice([0, 0, 1, 2]),
        )
        memo_id = self.ngdp.queue_inbound_memo(xml)
        self.work.inbound.append(Inbound(memo_id, cp, INBOUND_TARGET[cp]))

    def secure_mail(self) -> None:
        self.n += 1
        routed = self.rng.random() < 0.5
        sender = ("Karen Hansen", "karen@a-kasse.dk") if routed else ("Ole Olsen", "ole@example.org")
        imid = f"<kaos-{self.n}-{uuid.uuid4().hex[:8]}@{sender[1].split('@')[1]}>"
        self.tenant.deliver_to_inbox(
            MAIN,
            f"Sikker mail {self.n} om {self.citizen()}",
            "<p>Hermed dokumentation.</p>",
            from_=sender,
            internet_message_id=imid,
        )
        self.work.secure.append(SecureMail(imid, JOB if routed else None))


# ============================================================================ replicas


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Replica:
    name: str
    workdir: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)

    def start(self) -> None:
        path = self.workdir / f"{self.name}.{self.starts}.log"
        self.logs.append(path)
        self.starts += 1
        with path.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "graph_dpg", "run", "--gateway-file", "gateway.yaml"],
                cwd=self.workdir,
                env={**self.env, "GRAPH_DPG_REPLICA_ID": self.name, "GRAPH_DPG_HTTP_PORT": str(free_port())},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 60) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


def write_env(workdir: Path, values: dict[str, str]) -> None:
    lines = ["# written by bench/chaos.py for this run only"]
    lines += [f"{key}={value}" for key, value in values.items()]
    (workdir / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")


# ============================================================================ checks


@dataclass
class Check:
    name: str
    planned: int
    ok: int
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and self.ok == self.planned


def props(message: dict[str, Any]) -> dict[str, str]:
    return {p["id"].rsplit(" ", 1)[-1]: p["value"] for p in message.get("singleValueExtendedProperties", [])}


class Judge:
    def __init__(self, tenant: GraphTenant, ngdp: NgdpState, db_url: str, work: Workload) -> None:
        self.tenant = tenant
        self.ngdp = ngdp
        self.db_url = db_url
        self.work = work
        self._store: Any = None

    def store(self) -> Any:
        if self._store is None:
            self._store = create_store(self.db_url, migrate=False)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def outstanding(self) -> list[str]:
        """What keeps the run from being quiet (empty when it is). Database errors count as 'not yet'."""
        try:
            return self._outstanding()
        except Exception as exc:
            self.close()
            return [f"store unreachable ({type(exc).__name__})"]

    def _outstanding(self) -> list[str]:
        store = self.store()
        left: list[str] = []
        unfinished = 0
        for o in self.work.originals:
            job = store.find_job(o.mailbox, o.message_id)
            if job is None or job.state not in JOB_TERMINAL:
                unfinished += 1
        if unfinished:
            left.append(f"{unfinished} outbound job(s) unfinished")
        for prefix in RECEIPT_EFFECTS:
            pending = store.pending_effects(limit=1000, prefix=prefix)
            if pending:
                left.append(f"{len(pending)} {prefix.rstrip(':')} effect(s) pending")
        routed = 0
        for mail in self.work.secure:
            effect = store.get_effect(f"mailroute:{mail.imid}")
            if effect is None or effect.state is not EffectState.DONE:
                routed += 1
        if routed:
            left.append(f"{routed} secure mail(s) not routed")
        if self.ngdp.receipt_ids():
            left.append(f"{len(self.ngdp.receipt_ids())} business receipt(s) at NgDP")
        if store.unprocessed_receipts(limit=1):
            left.append("business receipts not applied")
        if self.ngdp.inbound_ids():
            left.append(f"{len(self.ngdp.inbound_ids())} inbound memo(s) at NgDP")
        not_deleted = 0
        for memo in self.work.inbound:
            stored = store.get_inbound(memo.memo_id)
            if stored is None or stored.state is not InboundState.DELETED:
                not_deleted += 1
        if not_deleted:
            left.append(f"{not_deleted} inbound memo(s) not finished in the store")
        return left

    # ------------------------------------------------------------------ final verdict

    def verdict(self) -> list[Check]:
        return [
            self.check_outbound(),
            self.check_receipt_mails(),
            self.check_categories(),
            self.check_business_receipts(),
            self.check_inbound(),
            self.check_secure(),
        ]

    def kind_rows(self) -> list[list[str]]:
        """One row per kind of outbound mail: what was planned and what the emulators hold at the end."""
        store = self.store()
        receipts: Counter[str] = Counter()
        for mailbox in MAILBOXES:
            for msg in self.tenant.messages(mailbox, "inbox"):
                marker = props(msg).get(RECEIPT_PROPERTY)
                if marker:
                    receipts[marker.split(":")[1]] += 1
        accepted = Counter(m.summary.recipient_id for m in self.ngdp.accepted)
        rows: list[list[str]] = []
        for kind in sorted({o.kind for o in self.work.originals}):
            mine = [o for o in self.work.originals if o.kind == kind]
            jobs = [store.find_job(o.mailbox, o.message_id) for o in mine]
            cats: Counter[str] = Counter()
            for o in mine:
                cats.update(self.tenant.message(o.mailbox, o.message_id).get("categories", []))
            rows.append(
                [
                    kind,
                    str(len(mine)),
                    str(sum(len(o.recipients) for o in mine)),
                    str(sum(accepted.get(r, 0) for o in mine for r in o.recipients)),
                    str(sum(receipts.get(j.id, 0) for j in jobs if j is not None)),
                    ", ".join(f"{c.removeprefix('Digital Post: ')} {n}" for c, n in sorted(cats.items())),
                ]
            )
        return rows

    def check_outbound(self) -> Check:
        planned: Counter[str] = Counter(r for o in self.work.originals for r in o.recipients)
        got = Counter(m.summary.recipient_id for m in self.ngdp.accepted)
        check = Check("outbound MeMo accepted once per recipient", sum(planned.values()), 0)
        for recipient, n in planned.items():
            if n != 1:
                check.problems.append(f"test data error: recipient planned {n} times")
            if got.get(recipient, 0) == 1:
                check.ok += 1
        missing = sum(1 for r in planned if got.get(r, 0) == 0)
        twice = sum(1 for r in planned if got.get(r, 0) > 1)
        extra = sum(1 for r in got if r not in planned)
        if missing:
            check.problems.append(f"{missing} planned MeMo never accepted (lost)")
        if twice:
            check.problems.append(f"{twice} recipient(s) got more than one MeMo")
        if extra:
            check.problems.append(f"{extra} MeMo to recipients nobody wrote to")
        by_recipient = {m.summary.recipient_id: m.summary for m in self.ngdp.accepted}
        wrong_content = 0
        for o in self.work.originals:
            for r in o.recipients:
                memo = by_recipient.get(r)
                if memo is None:
                    continue
                seen = (memo.label, memo.reply, memo.sender_contact_point, memo.recipient_contact_point)
                want = (o.subject, o.reply, o.sender_contact_point, o.recipient_contact_point)
                if seen != want:
                    wrong_content += 1
                    if wrong_content <= 3:
                        check.problems.append(
                            f"{o.subject}: MeMo (label, reply, sender cp, recipient cp) {seen}"
                        )
        if wrong_content > 3:
            check.problems.append(f"... {wrong_content - 3} more MeMo with wrong content")
        if self.ngdp.rejected:
            codes = Counter(r.error.get("code", r.status) for r in self.ngdp.rejected)
            check.problems.append(f"NgDP refused {len(self.ngdp.rejected)} MeMo: {dict(codes)}")
        return check

    def check_receipt_mails(self) -> Check:
        store = self.store()
        markers: dict[str, Counter[str]] = defaultdict(Counter)
        for mailbox in MAILBOXES:
            for msg in self.tenant.messages(mailbox, "inbox"):
                marker = props(msg).get(RECEIPT_PROPERTY)
                if marker:
                    job_id = marker.split(":")[1]
                    markers[job_id][marker] += 1
        check = Check("receipt mail written once per original", len(self.work.originals), 0)
        for o in self.work.originals:
            job = store.find_job(o.mailbox, o.message_id)
            if job is None:
                check.problems.append(f"{o.subject}: no job")
                continue
            mine = markers.get(job.id, Counter())
            doubles = {k: v for k, v in mine.items() if v > 1}
            if doubles:
                check.problems.append(f"{o.subject}: receipt mail written {max(doubles.values())} times")
            elif f"receipt:{job.id}" not in mine and not any(
                k.startswith(f"receipt:{job.id}:") for k in mine
            ):
                check.problems.append(f"{o.subject}: no receipt mail")
            else:
                check.ok += 1
        return check

    def check_categories(self) -> Check:
        check = Check("one state category per original", len(self.work.originals), 0)
        for o in self.work.originals:
            cats = list(self.tenant.message(o.mailbox, o.message_id).get("categories", []))
            states = [c for c in cats if c in STATE_CATEGORIES]
            if len(cats) != len(set(cats)):
                check.problems.append(f"{o.subject}: a category listed twice {cats}")
            elif states != [o.category]:
                check.problems.append(f"{o.subject}: categories {cats}")
            else:
                check.ok += 1
        for mailbox in MAILBOXES:
            names = Counter(c["displayName"].lower() for c in self.tenant.master_categories(mailbox))
            twice = [n for n, k in names.items() if k > 1]
            if twice:
                check.problems.append(f"{mailbox}: master categories created twice: {twice}")
        return check

    def check_business_receipts(self) -> Check:
        accepted = len(self.ngdp.accepted)
        check = Check("business receipts pulled and deleted", accepted, len(self.ngdp.deleted_receipts))
        if self.ngdp.receipt_ids():
            check.problems.append(f"{len(self.ngdp.receipt_ids())} receipt(s) left at NgDP")
        return check

    def check_inbound(self) -> Check:
        delivered: dict[str, list[str]] = defaultdict(list)
        for mailbox in MAILBOXES:
            for msg in self.tenant.messages(mailbox, "inbox"):
                marker = props(msg).get(MEMO_PROPERTY)
                if marker:
                    delivered[marker.lower()].append(mailbox)
        check = Check("inbound memo delivered once, acknowledged", len(self.work.inbound), 0)
        for memo in self.work.inbound:
            places = delivered.get(memo.memo_id.lower(), [])
            receipts = self.ngdp.inbound_receipts(memo.memo_id)
            wrong = []
            if len(places) != 1:
                wrong.append(f"delivered {len(places)} times {places}")
            elif places[0] != memo.expect_mailbox:
                wrong.append(f"delivered to {places[0]}, expected {memo.expect_mailbox}")
            if not receipts:
                wrong.append("no receipt sent to NgDP")
            elif len(receipts) > 1:
                wrong.append(f"{len(receipts)} receipts sent")
            if memo.memo_id not in self.ngdp.deleted_inbound:
                wrong.append("not deleted at NgDP")
            if wrong:
                check.problems.append(f"memo {memo.memo_id}: " + "; ".join(wrong))
            else:
                check.ok += 1
        return check

    def check_secure(self) -> Check:
        seen: dict[str, Counter[str]] = defaultdict(Counter)
        for mailbox in MAILBOXES:
            # A routed original leaves the main mailbox's inbox for the routed folder
            # (GRAPH_DPG_ROUTED_ORIGINAL, default move to "Videresendt"): it still counts once there.
            mb = self.tenant.mailbox(mailbox)
            folders = ["inbox", *(f.id for f in mb.folders.values() if f.display_name == "Videresendt")]
            for msg in (m for folder in folders for m in self.tenant.messages(mailbox, folder)):
                imid = msg.get("internetMessageId")
                if imid:
                    seen[imid][mailbox] += 1
        check = Check("secure mail routed once", len(self.work.secure), 0)
        for mail in self.work.secure:
            expected = Counter({MAIN: 1})
            if mail.routed_to is not None:
                expected[mail.routed_to] += 1
            if seen.get(mail.imid, Counter()) == expected:
                check.ok += 1
            else:
                check.problems.append(
                    f"{mail.imid}: {dict(seen.get(mail.imid, Counter()))}, expected {dict(expected)}"
                )
        return check


def scan_logs(paths: list[Path], cprs: set[str]) -> tuple[Check, Check, int]:
    """(unexpected-lines check, CPR check, line count) over every gateway log."""
    errors = Check("no Traceback / ERROR line in gateway logs", 0, 0)
    leaks = Check("no test CPR in clear in any log line", 0, 0)
    digits = re.compile(r"(?<!\d)(\d{6})-?(\d{4})(?!\d)")
    lines = 0
    shown_errors = 0
    for path in paths:
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
            lines += 1
            level = ""
            if raw.startswith("{"):
                with contextlib.suppress(ValueError):
                    level = str(json.loads(raw).get("level", ""))
            if "Traceback" in raw or level.lower() in ("error", "critical", "exception"):
                errors.planned += 1
                if shown_errors < 8:
                    errors.problems.append(f"{path.name}: {raw[:300]}")
                shown_errors += 1
            for a, b in digits.findall(raw):
                if a + b in cprs:
                    leaks.planned += 1
                    if len(leaks.problems) < 5:
                        leaks.problems.append(f"{path.name}: {raw[:300]}")
    if shown_errors > 8:
        errors.problems.append(f"... {shown_errors - 8} more")
    return errors, leaks, lines


# ============================================================================ the run


@dataclass
class Counters:
    kills: int = 0
    restarts: int = 0
    pg_restarts: int = 0
    pg_restart_seconds: float = 0.0
    pg_skipped: str | None = None
    delta_expiries: int = 0


def install_faults(tenant: GraphTenant, ngdp: NgdpState, rate: float) -> None:
    third = rate / 3
    tenant.faults.add_rate(third, throttle(1.0))
    tenant.faults.add_rate(third, unavailable())
    tenant.faults.add_rate(third, gateway_timeout())
    # The change happened, the answer says it did not: creating mail and setting categories must be
    # idempotent (learn.microsoft.com/graph/errors: 504 "the request may have been processed").
    tenant.faults.add_rate(
        rate / 5,
        Fault(status=504, code="GatewayTimeout", message="Gateway Timeout", after=True),
        method="POST",
    )
    tenant.faults.add_rate(
        rate / 5,
        Fault(status=504, code="GatewayTimeout", message="Gateway Timeout", after=True),
        method="PATCH",
    )
    tenant.faults.add_rate(rate / 4, slow(1.0))
    ngdp.faults.set_rate("503", rate / 2)
    ngdp.faults.set_rate("reset", rate / 4)
    ngdp.faults.set_rate("slow", rate / 4, delay=1.0)
    ngdp.faults.set_rate("timeout_after_accept", rate / 4, endpoint="send")


def clear_faults(tenant: GraphTenant, ngdp: NgdpState) -> None:
    tenant.faults.clear()
    ngdp.faults.clear()


class _NoClientDisconnect(logging.Filter):
    """The emulators run in this process: a replica SIGKILLed mid-upload makes uvicorn log the NgDP
    emulator's ``ClientDisconnect`` with a traceback. That is the kill working, not a finding."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return type(exc).__name__ != "ClientDisconnect"


def run(args: argparse.Namespace) -> int:
    logging.getLogger("uvicorn.error").addFilter(_NoClientDisconnect())
    rng = random.Random(args.seed)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="graph-dpg-chaos-"))
    db_base = args.database_url or os.environ.get("GRAPH_DPG_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    counters = Counters()
    counters.pg_skipped = "--no-pg-restart" if args.no_pg_restart else pg_restart_problem(db_base)
    tenant = GraphTenant()
    for address in MAILBOXES:
        tenant.add_mailbox(address)
    tenant.faults.seed(args.seed)
    ngdp = NgdpState(
        organisation_cvr=ORG_CVR,
        organisation_name=ORG_NAME,
        mandatory_post_allowed=True,
        legal_notification_allowed=False,
        seed=args.seed,
        hang_seconds=6.0,
    )
    for cp, name in ((CP_BORGER, "Borgerservice"), (CP_JOB, "Jobcenter"), (CP_GONE, "Nedlagt enhed")):
        ngdp.add_contact_point(cp, name)
    other = ngdp.add_organisation("29189846", "Byg & Anlæg A/S")
    ngdp.add_contact_point(CP_COMPANY, "Byg & Anlæg A/S, Tilbud", organisation_id=other.id)
    gen = Generator(tenant, ngdp, rng)
    replicas: list[Replica] = []
    judge: Judge | None = None
    ok = False
    log_line(f"work directory {workdir}")
    try:
        with (
            isolated_schema(db_base) as db_url,
            serve(tenant) as graph_url,
            start_ngdp_sandbox(workdir / "pki", state=ngdp, tls=True) as sandbox,
        ):
            assert sandbox.pki is not None
            create_store(db_url).close()  # migrate once before the replicas race for the lock
            (workdir / "gateway.yaml").write_text(GATEWAY_YAML, encoding="utf-8")
            write_env(
                workdir,
                {
                    "GRAPH_DPG_CREDENTIAL_KIND": "sandbox",
                    "GRAPH_DPG_GRAPH_BASE_URL": graph_url,
                    "GRAPH_DPG_NGDP_BASE_URL": sandbox.base_url,
                    "GRAPH_DPG_NGDP_SYSTEM_ID": ngdp.system_id,
                    "GRAPH_DPG_NGDP_API_TOKEN": ngdp.api_token,
                    "GRAPH_DPG_NGDP_CERTIFICATE_PATH": str(sandbox.pki.client.p12),
                    "GRAPH_DPG_NGDP_CERTIFICATE_PASSWORD": sandbox.pki.client.p12_password,
                    "GRAPH_DPG_NGDP_CA_BUNDLE": str(sandbox.pki.ca_cert),
                    "GRAPH_DPG_NGDP_TIMEOUT_SECONDS": "4",
                    "GRAPH_DPG_DATABASE_URL": db_url,
                    "GRAPH_DPG_LEASE_SECONDS": "10",
                    "GRAPH_DPG_OUTBOUND_POLL_SECONDS": "1",
                    "GRAPH_DPG_RECEIPTS_POLL_SECONDS": "2",
                    "GRAPH_DPG_INBOUND_POLL_SECONDS": "2",
                    "GRAPH_DPG_POLL_JITTER_SECONDS": "0.3",
                    "GRAPH_DPG_MAX_BACKOFF_SECONDS": "4",
                    "GRAPH_DPG_LOG_FORMAT": "json",
                    "GRAPH_DPG_LOG_LEVEL": "INFO",
                },
            )
            env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPH_DPG_")}
            replicas = [Replica(f"r{i + 1}", workdir, env) for i in range(args.replicas)]
            for replica in replicas:
                replica.start()
            judge = Judge(tenant, ngdp, db_url, gen.work)
            install_faults(tenant, ngdp, args.fault_rate)
            window = args.minutes * 60
            chaos_start = time.monotonic()
            log_line(
                f"{len(replicas)} replicas started; chaos for {window:.0f} s "
                f"(faults {args.fault_rate:.0%}, mass {args.mass} per mass delivery)"
            )
            mass_times = sorted(rng.uniform(0.1, 0.7) * window for _ in range(max(1, round(window / 40))))
            # --kills N: N kills at jittered, evenly spaced moments of the window; without it, one kill
            # every 12-25 s and one a few seconds after each mass delivery is put into Sent Items.
            kill_times = (
                [chaos_start + (i + rng.uniform(0.2, 0.8)) * window / args.kills for i in range(args.kills)]
                if args.kills is not None
                else []
            )
            next_kill = kill_times.pop(0) if kill_times else chaos_start + rng.uniform(8, 18)
            if args.kills == 0:
                next_kill = math.inf
            pg_at = chaos_start + window * 0.5
            expire_at = chaos_start + window * 0.3
            large_every = 30.0
            next_large = chaos_start + large_every / 2
            pg_thread: threading.Thread | None = None
            restart_at: dict[str, float] = {}
            tick = 0
            while (now := time.monotonic()) - chaos_start < window:
                elapsed = now - chaos_start
                tick += 1
                gen.single()
                gen.inbound_memo()
                if tick % 2 == 0:
                    gen.reply()
                    gen.secure_mail()
                if tick % 3 == 0:
                    gen.contact_point()
                if tick % 10 == 5:
                    gen.unknown_citizen()
                    gen.refused()
                while mass_times and elapsed >= mass_times[0]:
                    mass_times.pop(0)
                    gen.mass(args.mass)
                    log_line(f"mass delivery of {args.mass} put into Sent Items")
                    if args.kills is None:
                        next_kill = min(next_kill, now + rng.uniform(2.0, 5.0))
                if now >= next_kill:
                    victim = rng.choice([r for r in replicas if r.alive()] or replicas)
                    if victim.alive():
                        victim.kill()
                        counters.kills += 1
                        restart_at[victim.name] = now + rng.uniform(0.5, 3.0)
                        log_line(f"SIGKILL {victim.name}")
                    if args.kills is None:
                        next_kill = now + rng.uniform(12, 25)
                    else:
                        next_kill = kill_times.pop(0) if kill_times else math.inf
                for replica in replicas:
                    if replica.name in restart_at and now >= restart_at[replica.name]:
                        del restart_at[replica.name]
                        replica.start()
                        counters.restarts += 1
                        log_line(f"restarted {replica.name}")
                    elif not replica.alive() and replica.name not in restart_at:
                        # A replica that died on its own is a finding: restart it, the logs say why.
                        code = replica.proc.returncode if replica.proc else None
                        log_line(f"{replica.name} exited by itself (code {code})")
                        replica.start()
                        counters.restarts += 1
                if counters.delta_expiries == 0 and now >= expire_at:
                    # Graph drops sync state now and then (410 syncStateNotFound): every reader resyncs,
                    # and nothing it sees again may be handled twice.
                    tenant.expire_delta_tokens()
                    counters.delta_expiries += 1
                    log_line("Graph delta tokens expired")
                if now >= next_large:
                    gen.large()
                    next_large = now + large_every
                if pg_thread is None and counters.pg_skipped is None and now >= pg_at:
                    pg_thread = threading.Thread(target=_pg_restart, args=(counters,), daemon=True)
                    pg_thread.start()
                    log_line("restarting PostgreSQL")
                    # A replica that starts while the database is down must wait for it, not die.
                    victim = rng.choice([r for r in replicas if r.alive()] or replicas)
                    if victim.alive() and victim.name not in restart_at:
                        victim.kill()
                        counters.kills += 1
                        restart_at[victim.name] = now + 0.5
                        log_line(f"SIGKILL {victim.name} (restarts while PostgreSQL is down)")
                time.sleep(2.0)
            while mass_times:
                mass_times.pop(0)
                gen.mass(args.mass)
            if pg_thread is not None:
                pg_thread.join(timeout=120)
            for name in list(restart_at):
                next(r for r in replicas if r.name == name).start()
                counters.restarts += 1
            chaos_end = time.monotonic()
            log_line("chaos window over; faults off, waiting for quiescence")
            clear_faults(tenant, ngdp)
            left = wait_quiet(judge, replicas, args.drain_seconds)
            quiet_at = time.monotonic()
            stop_codes = {r.name: r.stop() for r in replicas}
            dump_emulators(workdir, tenant, ngdp)
            checks = judge.verdict()
            rows = judge.kind_rows()
            judge.close()
            log_paths = [p for r in replicas for p in r.logs]
            errors, leaks, lines = scan_logs(log_paths, gen.work.cprs)
            checks += [errors, leaks]
            stop = Check("replicas stop on SIGTERM with exit 0", len(replicas), 0)
            for name, code in stop_codes.items():
                if code == 0:
                    stop.ok += 1
                else:
                    stop.problems.append(f"{name} exit code {code}")
            checks.append(stop)
            if left:
                checks.append(
                    Check("quiescence reached", 1, 0, [f"after {args.drain_seconds} s: " + "; ".join(left)])
                )
            ok = print_report(
                args,
                gen.work,
                rows,
                checks,
                counters,
                tenant,
                ngdp,
                lines,
                chaos_start - started,
                chaos_end - chaos_start,
                quiet_at - chaos_end,
                time.monotonic() - started,
            )
    finally:
        if judge is not None:
            judge.close()
        for replica in replicas:
            if replica.alive():
                replica.stop(timeout=10)
    if args.keep or not ok:
        log_line(f"logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


def _pg_restart(counters: Counters) -> None:
    try:
        counters.pg_restart_seconds = restart_postgres()
        counters.pg_restarts += 1
        log_line(f"PostgreSQL restarted ({counters.pg_restart_seconds:.1f} s)")
    except (subprocess.SubprocessError, OSError) as exc:
        counters.pg_skipped = f"restart failed: {exc}"
        log_line(f"PostgreSQL restart failed: {exc}")


def dump_emulators(workdir: Path, tenant: GraphTenant, ngdp: NgdpState) -> None:
    """What the emulators saw, for reading a failure: requests, injected faults (JSON lines)."""
    with (workdir / "graph-requests.jsonl").open("w", encoding="utf-8") as out:
        for r in tenant.request_log:
            out.write(json.dumps(dataclasses.asdict(r)) + "\n")
    with (workdir / "graph-faults.jsonl").open("w", encoding="utf-8") as out:
        for method, path, fault in tenant.faults.injected:
            out.write(json.dumps({"method": method, "path": path, **dataclasses.asdict(fault)}) + "\n")
    with (workdir / "ngdp-requests.jsonl").open("w", encoding="utf-8") as out:
        for method, path, status in ngdp.request_log:
            out.write(json.dumps({"method": method, "path": path, "status": status}) + "\n")


def wait_quiet(judge: Judge, replicas: list[Replica], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    calm = 0
    last_report = 0.0
    left: list[str] = []
    while time.monotonic() < deadline:
        for replica in replicas:
            if not replica.alive():
                log_line(f"{replica.name} exited by itself during the drain; restarting")
                replica.start()
        left = judge.outstanding()
        calm = calm + 1 if not left else 0
        if calm >= 2:
            return []
        if left and time.monotonic() - last_report > 10:
            log_line("waiting: " + "; ".join(left))
            last_report = time.monotonic()
        time.sleep(1.0 if left else 2.5)
    return judge.outstanding()


def print_report(
    args: argparse.Namespace,
    work: Workload,
    rows: list[list[str]],
    checks: list[Check],
    counters: Counters,
    tenant: GraphTenant,
    ngdp: NgdpState,
    log_lines: int,
    setup_s: float,
    chaos_s: float,
    drain_s: float,
    total_s: float,
) -> bool:
    kinds = Counter(o.kind for o in work.originals)
    memos = sum(len(o.recipients) for o in work.originals)
    graph_faults = Counter(
        f"{f.status or 'slow'}{' after change' if f.after else ''}" for _, _, f in tenant.faults.injected
    )
    ngdp_faults = Counter(kind for _, kind in ngdp.faults.injected)
    throttled = sum(1 for r in tenant.request_log if getattr(r, "status", None) == 429) - graph_faults.get(
        "429", 0
    )
    print("\n== chaos run: workload")
    print(
        f"  outbound mails {len(work.originals)} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}); MeMo planned {memos}"
    )
    print(
        f"  inbound memos {len(work.inbound)}; secure mails {len(work.secure)}; "
        f"test CPR numbers {len(work.cprs)}"
    )
    header = ["kind", "mails", "MeMo planned", "MeMo accepted", "receipt mails", "categories at the end"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print("\n== faults injected")
    print(
        f"  Graph: {dict(sorted(graph_faults.items()))}; "
        f"429 from the 4-concurrency/budget limit: {max(throttled, 0)}"
    )
    print(f"  NgDP:  {dict(sorted(ngdp_faults.items()))}")
    pg = (
        f"restarted {counters.pg_restarts}x ({counters.pg_restart_seconds:.1f} s)"
        if counters.pg_restarts
        else f"not restarted ({counters.pg_skipped})"
    )
    print(
        f"  SIGKILL {counters.kills}, restarts {counters.restarts}, PostgreSQL {pg}, "
        f"Graph delta tokens expired {counters.delta_expiries}x"
    )
    print("\n== numbers")
    accepted = len(ngdp.accepted)
    print(
        f"  NgDP accepted {accepted}, duplicate sends {ngdp.duplicate_count}, refused {len(ngdp.rejected)}; "
        f"Graph requests {len(tenant.request_log)}; NgDP requests {len(ngdp.request_log)}; "
        f"log lines {log_lines}"
    )
    busy = chaos_s + drain_s
    print(
        f"  set-up {setup_s:.1f} s, chaos {chaos_s:.1f} s, drain {drain_s:.1f} s, total {total_s:.1f} s; "
        f"throughput {accepted / busy:.1f} MeMo/s, {len(tenant.request_log) / busy:.1f} Graph req/s "
        f"({args.replicas} replicas, 2 emulators in one process)"
    )
    print("\n== verdict")
    width = max(len(c.name) for c in checks)
    for c in checks:
        mark = "ok  " if c.passed else "FAIL"
        print(f"  {mark} {c.name.ljust(width)}  {c.ok}/{c.planned}")
        for p in c.problems[:10]:
            print(f"         {p}")
        if len(c.problems) > 10:
            print(f"         ... {len(c.problems) - 10} more")
    ok = all(c.passed for c in checks)
    print("\nCHAOS " + ("PASSED" if ok else "FAILED"), flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--minutes", type=float, default=1.25, help="length of the chaos window (default 1.25)"
    )
    parser.add_argument("--replicas", type=int, default=2, help="gateway processes (default 2)")
    parser.add_argument("--mass", type=int, default=150, help="recipients per mass delivery (default 150)")
    parser.add_argument("--fault-rate", type=float, default=0.10, help="Graph error rate (default 0.10)")
    parser.add_argument("--seed", type=int, default=20261122, help="seed of workload, faults and kills")
    parser.add_argument(
        "--kills",
        type=int,
        help="SIGKILL about this many replicas, spread evenly over the chaos window "
        "(default: one every 12-25 s and one after each mass delivery)",
    )
    parser.add_argument("--drain-seconds", type=float, default=150, help="how long to wait for quiescence")
    parser.add_argument("--database-url", help=f"PostgreSQL base URL (default {DEFAULT_POSTGRES_URL})")
    parser.add_argument("--no-pg-restart", action="store_true", help="do not restart PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    args = parser.parse_args(argv)
    if args.kills is not None and args.kills < 0:
        parser.error("--kills must be 0 or more")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
