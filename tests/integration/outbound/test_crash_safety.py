"""Crash safety (issue 6): SIGKILL the gateway at random points while it works through a batch of outgoing
mails, including a mass delivery of a few hundred recipients; restart; repeat. At the end NgDP has accepted
every MeMo exactly once, every original has exactly one receipt mail and the right category, and nothing
else was sent. Some recipients are exempt from Digital Post (NgDP accepts, then answers NOT_ALLOWED): their
originals get at most one updated receipt per batch of business receipts, each refusal told, none lost
(issue 17). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from graph_dpg.sandbox.graph import GraphTenant
from graph_dpg.sandbox.graph import serve as serve_graph
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.sandbox.ngdp import serve as serve_ngdp

from .harness import MAILBOX, ORG_CVR, ORG_NAME, OTHER_MAILBOX, TOKEN

WORKER = Path(__file__).with_name("crash_worker.py")
GW = "ngdp.digital-post.dk"
SINGLES = 10
MASS = 200
KILLS = 5
RECEIPTED = "Digital Post: Kvitteret"
FAILED = "Digital Post: Fejl"
EXEMPT_IN_MASS = 3


def _citizens(n: int, year: str) -> list[str]:
    return [f"{1 + i // 100:02d}01{year}{i % 100:04d}" for i in range(n)]


@pytest.mark.slow
def test_sigkill_anywhere_loses_and_duplicates_nothing(db_url: str, tmp_path: Path) -> None:
    rng = random.Random(20261122)
    tenant = GraphTenant(TOKEN)
    tenant.add_mailbox(MAILBOX, "Borgerservice")
    tenant.add_mailbox(OTHER_MAILBOX, "Jobcenter")
    ngdp = NgdpState(organisation_cvr=ORG_CVR, organisation_name=ORG_NAME)
    singles = _citizens(SINGLES, "70")
    mass = _citizens(MASS, "80")
    exempt = [singles[-1], *mass[-EXEMPT_IN_MASS:]]  # NgDP accepts their letters, then NOT_ALLOWED
    for cpr in singles + mass:
        ngdp.register(cpr=cpr, status="EXEMPT" if cpr in exempt else "REGISTERED")
    originals = [
        tenant.put_sent_message(MAILBOX, f"Brev {i}", f"<p>Brev {i}</p>", to=[("", f"{cpr}@{ORG_CVR}.{GW}")])
        for i, cpr in enumerate(singles)
    ]
    originals.append(
        tenant.put_sent_message(
            MAILBOX,
            "Masse",
            "<p>Til alle</p>",
            to=[("", f"masseforsendelse-{MASS}@{ORG_CVR}.{GW}")],
            attachments=[("masseforsendelse.txt", "text/plain", "\n".join(mass).encode())],
        )
    )
    expected = dict.fromkeys(originals[: SINGLES - 1], RECEIPTED)
    expected |= {originals[SINGLES - 1]: FAILED, originals[SINGLES]: FAILED}
    refused = tenant.put_sent_message(
        OTHER_MAILBOX, "Uden ret", "<p>x</p>", to=[("", f"{singles[0]}@{ORG_CVR}.{GW}")]
    )

    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    kills = 0
    with serve_graph(tenant) as graph_url, serve_ngdp(ngdp, None) as ngdp_server:
        args = [
            sys.executable,
            str(WORKER),
            graph_url,
            ngdp_server.base_url,
            ngdp.system_id,
            ngdp.api_token,
            db_url,
        ]

        def done() -> bool:
            receipts = [m for m in tenant.messages(MAILBOX, "inbox") if m["subject"].startswith("DPG ")]
            final = all(tenant.message(MAILBOX, mid)["categories"] == [c] for mid, c in expected.items())
            told = sum(r["body"]["content"].count("er nu afvist") for r in receipts)
            return (
                len(ngdp.accepted) >= SINGLES + MASS
                and len(receipts) >= len(originals)
                and final
                and told > 0
            )

        # Kill at random moments: start-up (imports, first delta) takes a few seconds on this machine,
        # so the window covers planning, sending and receipt writing.
        for _ in range(KILLS):
            proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(3.0, 9.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            kills += 1
        # Then one run to the end, stopped politely.
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not done():
            time.sleep(0.5)
        time.sleep(1.0)  # a last cycle, which must change nothing
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        if not done():
            receipts = [
                m["subject"] for m in tenant.messages(MAILBOX, "inbox") if m["subject"].startswith("DPG ")
            ]
            cats = [tenant.message(MAILBOX, mid)["categories"] for mid in originals]
            pytest.fail(
                f"not finished after {kills} kills: {len(ngdp.accepted)} accepted, receipts {sorted(receipts)}, "
                f"categories {cats}, receipts left at NgDP {len(ngdp.receipt_ids())}\n{err.decode()[-3000:]}"
            )
        assert b"Error" not in err, err.decode()[-3000:]

    accepted = Counter(m.summary.recipient_id for m in ngdp.accepted)
    assert sorted(accepted) == sorted(singles + mass)
    assert set(accepted.values()) == {1}  # one MeMo per recipient, however often NgDP was asked
    receipts = [m for m in tenant.messages(MAILBOX, "inbox") if m["subject"].startswith("DPG ")]
    updates = [r for r in receipts if r["subject"].startswith("DPG opdateret kvittering: ")]
    firsts = [r for r in receipts if r not in updates]
    last = f"Brev {SINGLES - 1}"
    # One receipt per send: the first receipt of each original exactly once (it says "with errors" when
    # it was written after the refusal came), then updates only for the two with an exempt recipient.
    assert sorted(r["subject"].replace(" med fejl", "") for r in firsts) == sorted(
        [f"DPG kvittering: Brev {i}" for i in range(SINGLES)] + ["DPG kvittering: Masse"]
    )
    assert {u["subject"] for u in updates} <= {
        f"DPG opdateret kvittering: {last}",
        "DPG opdateret kvittering: Masse",
    }
    assert len(updates) <= 1 + EXEMPT_IN_MASS  # at most one per batch of business receipts
    # Every refusal is told (in the first receipt or an update), with its reason in words.
    masked = {f"{cpr[:6]}-xxxx" for cpr in exempt}
    for cpr in masked:
        told = [
            r
            for r in receipts
            if cpr in r["body"]["content"]
            and any(
                reason in r["body"]["content"]
                # NgDP's NOT_ALLOWED in words, or the registration's own (the contacts/ lookup).
                for reason in ("Digital Post må ikke", "Modtageren er fritaget for Digital Post")
            )
        ]
        assert told, cpr
    for update in updates:
        first = next(f for f in firsts if f["subject"].endswith(update["subject"].rpartition(": ")[2]))
        assert update["conversationId"] == first["conversationId"]  # threaded to the first receipt
    # COMPLETED everywhere else: those originals end "receipted"; the two with a refusal "failed".
    for mid, category in expected.items():
        assert tenant.message(MAILBOX, mid)["categories"] == [category]
    assert ngdp.deleted_receipts  # pulled receipts were deleted at NgDP once recorded
    [error_receipt] = [m for m in tenant.messages(OTHER_MAILBOX, "inbox") if m["subject"].startswith("DPG ")]
    assert error_receipt["subject"] == "DPG fejlkvittering: Uden ret"
    assert tenant.message(OTHER_MAILBOX, refused)["categories"] == ["Digital Post: Fejl"]
    assert tenant.outbound_log == []  # nothing left the tenant
    assert kills == KILLS
