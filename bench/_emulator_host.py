"""An emulator in a process of its own for bench/scale_bench.py: the Graph or NgDP emulator served over
loopback, driven by the bench through a multiprocessing pipe (workload in, progress and request counts out).

Each host holds one emulator, so that the emulators' CPU is not the gateway processes' and not the bench's.
The injected latency is a benchmark aid, not emulated behaviour (graph_dpg/sandbox/latency.py).
"""

from __future__ import annotations

import os
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

CVR = "12345674"
GW = "ngdp.digital-post.dk"


def _serve_commands(conn: Connection, handlers: dict[str, Any]) -> None:
    while True:
        try:
            cmd, kwargs = conn.recv()
        except EOFError:
            return
        if cmd == "stop":
            conn.send((True, None))
            return
        try:
            conn.send((True, handlers[cmd](**kwargs)))
        except Exception as exc:  # the bench shows it; the host keeps serving
            conn.send((False, f"{type(exc).__name__}: {exc}"))


def graph_host(conn: Connection, mailboxes: list[str], latency: str, seed: int) -> None:
    from graph_dpg.sandbox.graph import GraphTenant, serve
    from graph_dpg.sandbox.latency import InjectedLatency

    tenant = GraphTenant(injected_latency=InjectedLatency.parse(latency, seed=seed), request_log_limit=1000)
    for address in mailboxes:
        tenant.add_mailbox(address)

    def put_letters(letters: list[tuple[str, str, str]]) -> int:
        for mailbox, cpr, subject in letters:
            tenant.put_sent_message(
                mailbox, subject, "<p>Kære borger,</p><p>Hermed brev.</p>", to=[("", f"{cpr}@{CVR}.{GW}")]
            )
        return len(letters)

    def put_mass(mailbox: str, cprs: list[str]) -> None:
        listing = ("masseforsendelse.txt", "text/plain", ("\r\n".join(cprs) + "\r\n").encode())
        tenant.put_sent_message(
            mailbox,
            f"Massebrev til {len(cprs)}",
            "<p>Kære borger,</p><p>Brev til mange.</p>",
            to=[("", f"masseforsendelse-{len(cprs)}@{CVR}.{GW}")],
            attachments=[listing],
        )

    def receipts(mailboxes: list[str]) -> dict[str, int]:
        """Receipt mails by their marker (``DpgReceiptFor``): how often each was written."""
        found: dict[str, int] = {}
        for address in mailboxes:
            for msg in tenant.messages(address, "inbox"):
                for prop in msg.get("singleValueExtendedProperties", []):
                    if prop["id"].rsplit(" ", 1)[-1] == "DpgReceiptFor":
                        found[prop["value"]] = found.get(prop["value"], 0) + 1
        return found

    def counts() -> dict[str, Any]:
        return {
            "all": {"|".join(map(str, k)): v for k, v in tenant.request_counts().items()},
            "round_trips": sum(tenant.request_counts(include_batch_members=False).values()),
            "subscriptions": len(tenant.subscriptions.list_views()),
        }

    with serve(tenant) as base_url:
        conn.send(base_url)
        _serve_commands(
            conn, {"put_letters": put_letters, "put_mass": put_mass, "counts": counts, "receipts": receipts}
        )


def ngdp_host(
    conn: Connection, workdir: str, latency: str, seed: int, cprs: list[str], validate: bool = False
) -> None:
    from graph_dpg.demo.ngdp import start_ngdp_sandbox
    from graph_dpg.sandbox.latency import InjectedLatency
    from graph_dpg.sandbox.ngdp import NgdpState
    from graph_dpg.sandbox.ngdp.samples import sample_memo

    state = NgdpState(
        organisation_cvr=CVR,
        organisation_name="Benchby Kommune",
        mandatory_post_allowed=True,
        # The emulator's own validator is ~10-100x slower than the gateway's and runs in this process:
        # off, as in the other throughput benchmarks (the table says so).
        validate_memos=validate,
        send_latency=InjectedLatency.parse(latency, seed=seed),
    )
    for cpr in cprs:
        state.register(cpr=cpr)
    state.add_organisation("29189846", "Byg & Anlæg A/S")  # the inbound memos' sender
    seen = {"accepted": 0}

    def queue_inbound(n: int, start: int) -> int:
        for i in range(start, start + n):
            xml = sample_memo(
                recipient_id=CVR,
                recipient_id_type="CVR",
                sender_cvr="29189846",
                sender_label="Byg & Anlæg A/S",
                label=f"Indgående {i}",
            )
            state.queue_inbound_memo(xml)
        return n

    def accepted_count() -> int:
        return len(state.accepted)

    def mass_check() -> dict[str, Any]:
        """What NgDP holds: accepted memos per recipient and per messageUUID, their times, duplicates."""
        accepted = state.accepted
        per_recipient: dict[str, int] = {}
        for m in accepted:
            per_recipient[m.summary.recipient_id] = per_recipient.get(m.summary.recipient_id, 0) + 1
        return {
            "accepted": len(accepted),
            "distinct_uuids": len({m.summary.message_uuid.lower() for m in accepted}),
            "recipients": len(per_recipient),
            "recipients_twice": sum(1 for v in per_recipient.values() if v > 1),
            "missing": sum(1 for c in cprs if c not in per_recipient),
            "times": sorted(m.accepted_at.timestamp() for m in accepted),
            "duplicate_answers": state.duplicate_count,
            "rejected": len(state.rejected),
        }

    def progress() -> dict[str, Any]:
        accepted = state.accepted
        new = accepted[seen["accepted"] :]
        seen["accepted"] = len(accepted)
        return {
            "accepted": [(m.summary.recipient_id, m.accepted_at.timestamp()) for m in new],
            "inbound_deleted": len(state.deleted_inbound),
            "rejected": len(state.rejected),
            "requests": len(state.request_log),
        }

    with start_ngdp_sandbox(Path(workdir) / "pki", state=state, tls=True) as sandbox:
        assert sandbox.pki is not None
        conn.send(
            {
                "base_url": sandbox.base_url,
                "system_id": state.system_id,
                "api_token": state.api_token,
                "p12": str(sandbox.pki.client.p12),
                "p12_password": sandbox.pki.client.p12_password,
                "ca": str(sandbox.pki.ca_cert),
                "pid": os.getpid(),
            }
        )
        _serve_commands(
            conn,
            {
                "queue_inbound": queue_inbound,
                "progress": progress,
                "accepted_count": accepted_count,
                "mass_check": mass_check,
            },
        )
