"""graph-dpg doctor --probe against the Graph emulator (in-process) and the NgDP emulator (mutual TLS):
the emulator's default behaviour is the gateway's inferences (every row matches, exit 0); each setting that
shows the other behaviour makes its row contradict (exit 1); a probe that cannot run exits 2. Every run
leaves the mailbox as it found it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from graph_dpg.diagnostics import inferences as inf
from graph_dpg.diagnostics.probe import (
    EXIT_CONTRADICTED,
    EXIT_COULD_NOT_RUN,
    EXIT_OK,
    ProbeReport,
    Verdict,
    probe,
)
from graph_dpg.sandbox.graph import create_app
from tests.unit.doctor.conftest import DoctorEnv

GRAPH_ROWS = [i.id for i in inf.inferences_for("graph") if i.gate == "probe"]


async def run_probe(env: DoctorEnv, **options: Any) -> ProbeReport:
    options.setdefault("graph_transport", httpx.ASGITransport(app=create_app(env.tenant)))
    return await probe(env.settings, env.config, **options)


def probe_leftovers(env: DoctorEnv, mailbox: str) -> list[str]:
    """Probe folders, probe categories and probe messages anywhere but in Recoverable Items (where
    Exchange's DELETE puts items, as the emulator does)."""
    box = env.tenant.mailbox(mailbox)
    folders = [f.display_name for f in box.folders.values() if "probe" in f.display_name]
    categories = [c["displayName"] for c in env.tenant.master_categories(mailbox) if "probe" in c["displayName"]]
    dumpster = env.tenant.folder(box, "recoverableitemsdeletions").id
    messages = [
        m.props["subject"] for m in box.messages.values() if "probe" in m.props["subject"] and m.folder_id != dumpster
    ]
    return folders + categories + messages


async def test_default_emulator_matches_every_inference_and_cleans_up(env: DoctorEnv) -> None:
    report = await run_probe(env)
    by_id = {r.id: r for r in report.rows}
    assert [r for r in report.rows if r.id in GRAPH_ROWS and r.verdict is not Verdict.MATCHES] == []
    assert by_id[inf.NON_DRAFT_CREATE].observed == "isDraft=false"
    assert "attachments('…')" in by_id[inf.UPLOAD_LOCATION].observed
    assert "409" in by_id[inf.DUPLICATE_CATEGORY].observed
    assert by_id[inf.CONCURRENCY].verdict is Verdict.SKIPPED
    assert report.exit_code() == EXIT_OK
    assert probe_leftovers(env, env.config.main_mailbox) == []
    assert report.cleanup_problems == []
