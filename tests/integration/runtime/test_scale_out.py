"""Scale-out: three `graph-dpg run` processes share one PostgreSQL schema, one Graph emulator and one NgDP
emulator (both served over loopback sockets by this test process); one replica is SIGKILLed mid-run.

Checked: every MeMo accepted by NgDP exactly once and every source mail handled once (one job, one receipt
mail); no mailbox polled (Graph delta) by two replicas at the same time, judged from the emulator's own
request timings and the ``X-Graph-Dpg-Replica`` header the composition root sends to loopback Graph
endpoints; the killed replica's mailboxes taken over and the work spread across the survivors.

Scale: 30 function mailboxes, each with one single mail and one mass delivery of 65 recipients: 60 source
mails and 1,980 MeMo messages. Scaled from "a few thousand" so the test stays within about two minutes on a
shared machine: the limit is the emulators (served by this one process). Receipt mails and categories are
written by whichever replica holds their mailbox's lease (issue 18), so the take-over moves them too.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from graph_dpg.adapters.store import create_store
from graph_dpg.bootstrap import REPLICA_HEADER
from graph_dpg.demo.ngdp import start_ngdp_sandbox
from graph_dpg.demo.scenario import mass_recipients
from graph_dpg.ports.store import JOB_TERMINAL, JobState
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.services.outbound import RECEIPT_PROPERTY
from tests.store_rows import lease_owners

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MAILBOXES = [f"fp{i:02d}@scale.dk" for i in range(30)]
SINGLES = 1
MASS = 65
CVR = "12345674"
REPLICAS = ("r1", "r2", "r3")


@dataclass
class Call:
    replica: str
    mailbox: str
    path: str
    start: float
    end: float


class Recorder:
    """ASGI middleware: who (replica header) asked what of which mailbox, and when it started/ended."""

    def __init__(self, app: Any, tenant: GraphTenant) -> None:
        self.app = app
        self.tenant = tenant
        self.calls: list[Call] = []
        self.lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        path = scope["path"]
        parts = path.split("/")
        key = parts[3].replace("%40", "@") if len(parts) > 3 and parts[2] == "users" else ""
        found = self.tenant.find_mailbox(key) if key else None  # delta links may name the user by id
        mailbox = found.upn.lower() if found is not None else key.lower()
        start = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            with self.lock:
                self.calls.append(
                    Call(headers.get(REPLICA_HEADER.lower(), "?"), mailbox, path, start, time.monotonic())
                )


@dataclass
class Served:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


def serve_app(app: Any) -> Served:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "emulator did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return Served(f"http://127.0.0.1:{port}/v1.0", server, thread)


def gateway_yaml() -> str:
    boxes = "\n".join(f'  - {{address: {mb}, cvrs: ["{CVR}"]}}' for mb in MAILBOXES)
    return (
        f'organisation: {{cvr: "{CVR}", name: Skalerby Kommune}}\n'
        "main_mailbox: post@scale.dk\nmonitoring_mailbox: drift@scale.dk\n"
        f"function_mailboxes:\n{boxes}\n"
    )


@pytest.fixture
def emulators() -> Iterator[tuple[GraphTenant, Recorder, str, NgdpState, str]]:
    tenant = GraphTenant()
    for mb in ["post@scale.dk", "drift@scale.dk", *MAILBOXES]:
        tenant.add_mailbox(mb)
    recorder = Recorder(create_app(tenant), tenant)
    graph = serve_app(recorder)
    state = NgdpState(organisation_cvr=CVR, organisation_name="Skalerby Kommune")
    import tempfile

    ngdp = start_ngdp_sandbox(tempfile.mkdtemp(prefix="scale-pki-"), state=state, tls=False)
    try:
        yield tenant, recorder, graph.url, state, ngdp.base_url
    finally:
        ngdp.stop()
        graph.server.should_exit = True
        graph.thread.join(timeout=10)


def seed_mail(tenant: GraphTenant, state: NgdpState) -> int:
    """Sent Items of every mailbox; returns the number of MeMo messages that should reach NgDP."""
    expected = 0
    for index, mb in enumerate(MAILBOXES):
        people = mass_recipients(index + 1, MASS + SINGLES)
        for cpr in people:
            state.register(cpr=cpr)
        for n in range(SINGLES):
            tenant.put_sent_message(
                mb,
                f"Brev {n} fra {mb}",
                "<p>Hej</p>",
                to=[("", f"{people[MASS + n]}@{CVR}.ngdp.digital-post.dk")],
            )
        tenant.put_sent_message(
            mb,
            f"Masseforsendelse fra {mb}",
            "<p>Til alle</p>",
            to=[("", f"masseforsendelse-{MASS}@{CVR}.ngdp.digital-post.dk")],
            attachments=[("masseforsendelse.txt", "text/plain", ("\n".join(people[:MASS]) + "\n").encode())],
        )
        expected += SINGLES + MASS
    return expected


def start_replica(name: str, workdir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (workdir / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "graph_dpg", "run", "--gateway-file", str(workdir / "gateway.yaml")],
        cwd=workdir,
        env={**env, "GRAPH_DPG_REPLICA_ID": name, "GRAPH_DPG_HTTP_PORT": str(_free_port())},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_three_replicas_one_killed(
    postgres_url: str,
    tmp_path: Path,
    emulators: tuple[GraphTenant, Recorder, str, NgdpState, str],
) -> None:
    tenant, recorder, graph_url, state, ngdp_url = emulators
    (tmp_path / "gateway.yaml").write_text(gateway_yaml(), encoding="utf-8")
    expected = seed_mail(tenant, state)
    create_store(postgres_url).close()  # migrate once up front (replicas would serialise on the lock anyway)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPH_DPG_")}
    env.update(
        {
            "GRAPH_DPG_CREDENTIAL_KIND": "sandbox",
            "GRAPH_DPG_GRAPH_BASE_URL": graph_url,
            "GRAPH_DPG_NGDP_BASE_URL": ngdp_url,
            "GRAPH_DPG_NGDP_SYSTEM_ID": state.system_id,
            "GRAPH_DPG_NGDP_API_TOKEN": state.api_token,
            "GRAPH_DPG_DATABASE_URL": postgres_url,
            "GRAPH_DPG_LEASE_SECONDS": "10",
            "GRAPH_DPG_OUTBOUND_POLL_SECONDS": "1",
            "GRAPH_DPG_RECEIPTS_POLL_SECONDS": "2",
            "GRAPH_DPG_INBOUND_POLL_SECONDS": "5",
            "GRAPH_DPG_POLL_JITTER_SECONDS": "0.3",
            "GRAPH_DPG_LOG_FORMAT": "json",
            "GRAPH_DPG_LOG_LEVEL": "INFO",
        }
    )
    procs = {name: start_replica(name, tmp_path, env) for name in REPLICAS}
    store = create_store(postgres_url, migrate=False)
    resources = [f"outbound:{mb}:sentitems" for mb in MAILBOXES]
    victim = ""
    killed_at: float | None = None
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            accepted = len(state.accepted)
            if killed_at is None and accepted >= expected // 3:
                # The replica holding the most mailboxes right now: the kill must hurt.
                owners = list(lease_owners(store, resources).values())
                victim = max(REPLICAS, key=owners.count)
                procs[victim].send_signal(signal.SIGKILL)
                procs[victim].wait(timeout=10)
                killed_at = time.monotonic()
            jobs = store.jobs_in_state(list(JobState), limit=10_000)
            done = len(jobs) == len(MAILBOXES) * (SINGLES + 1) and all(j.state in JOB_TERMINAL for j in jobs)
            effects_left = store.pending_effects(limit=1, prefix="receipt:") or store.pending_effects(
                limit=1, prefix="categories:"
            )
            if killed_at is not None and done and accepted == expected and not effects_left:
                break
            for name, proc in procs.items():
                assert name == victim or proc.poll() is None, _tail(tmp_path / f"{name}.log")
            time.sleep(0.5)
        else:
            jobs = store.jobs_in_state(list(JobState), limit=10_000)
            states = {st.value: sum(1 for j in jobs if j.state is st) for st in JobState}
            effects = len(store.pending_effects(limit=10_000, prefix="receipt:")) + len(
                store.pending_effects(limit=10_000, prefix="categories:")
            )
            pytest.fail(
                f"not finished: {len(state.accepted)}/{expected} accepted; jobs {states}; "
                f"{effects} outbound effects pending"
                + "".join(_tail(tmp_path / f"{r}.log", 10) for r in REPLICAS)
            )
        survivors = [r for r in REPLICAS if r != victim]
        for name in survivors:
            procs[name].send_signal(signal.SIGTERM)
        for name in survivors:
            assert procs[name].wait(timeout=40) == 0, _tail(tmp_path / f"{name}.log")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        store.close()

    assert killed_at is not None
    # --- exactly once: NgDP holds every MeMo once; each source mail has one job and one receipt mail
    assert len(state.accepted) == expected
    assert {m.summary.recipient_id for m in state.accepted} == {
        cpr for i in range(len(MAILBOXES)) for cpr in mass_recipients(i + 1, MASS + SINGLES)
    }
    # The outbound service records send outcomes per batch (one transaction): what the victim had sent but
    # not yet recorded is re-sent by the survivor with the same messageUUIDs, NgDP answers "duplicate"
    # (success) and keeps one copy. So duplicates are bounded by the victim's unrecorded batches.
    assert state.duplicate_count < expected // 2
    check = create_store(postgres_url, migrate=False)
    try:
        jobs = check.jobs_in_state(list(JobState), limit=10_000)
        assert len(jobs) == len(MAILBOXES) * (SINGLES + 1)
        assert {j.state for j in jobs} == {JobState.DONE}
        assert check.live_replicas(3600) == [victim]  # the survivors left cleanly; the victim never did
        final_owners = lease_owners(check, [f"outbound:{mb}:sentitems" for mb in MAILBOXES])
        assert set(final_owners.values()) <= {None, victim}
    finally:
        check.close()
    for mb in MAILBOXES:
        markers = [
            p["value"]
            for m in tenant.messages(mb, "inbox")
            for p in m["singleValueExtendedProperties"]
            if p["id"].endswith(RECEIPT_PROPERTY)
        ]
        assert len(markers) == SINGLES + 1 and len(set(markers)) == len(markers), (mb, markers)

    # --- no mailbox polled by two replicas at the same time
    polls = [c for c in recorder.calls if "/delta" in c.path and c.mailbox in MAILBOXES]
    assert {c.replica for c in polls} == set(REPLICAS)
    by_mailbox: dict[str, list[Call]] = defaultdict(list)
    for c in polls:
        by_mailbox[c.mailbox].append(c)
    for mb, calls in by_mailbox.items():
        calls.sort(key=lambda c: c.start)
        for a, b in itertools.pairwise(calls):
            if a.replica != b.replica:
                assert b.start >= a.end, f"{mb}: {a.replica} and {b.replica} polled at the same time"

    # --- the victim's mailboxes were taken over and the survivors share the work afterwards
    victim_boxes = {c.mailbox for c in polls if c.replica == victim}
    after = [c for c in polls if c.start > killed_at]
    assert victim_boxes <= {c.mailbox for c in after}
    per_survivor = {r: {c.mailbox for c in after if c.replica == r} for r in REPLICAS if r != victim}
    assert all(len(boxes) >= 5 for boxes in per_survivor.values()), per_survivor
    report = {r: len(b) for r, b in per_survivor.items()}
    print(
        json.dumps(
            {
                "expected_memos": expected,
                "victim": victim,
                "victim_mailboxes": len(victim_boxes),
                "after_kill": report,
                "duplicates": state.duplicate_count,
            }
        )
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n" + "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
