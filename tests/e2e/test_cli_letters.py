"""`graph-dpg letters` as IT runs it against the gateway's state database: search, show, retry, cancel, with
their exit codes (0 done, 1 not found or not allowed, 2 usage) and the audit trail naming the OS user."""

from __future__ import annotations

import asyncio
import getpass
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from graph_dpg.adapters.store import schema as t
from graph_dpg.adapters.store.sql import SqlStore
from graph_dpg.cli import main
from graph_dpg.ports.store import JobState, OutboxState

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from outbound.harness import CITIZEN, CITIZEN2, MAILBOX, PDF, make_harness  # noqa: E402

GW = "ngdp.digital-post.dk"


async def _populate(url: str) -> dict[str, str]:
    """A letter whose send failed (transport), a letter sent fine, and a mass delivery still queued."""
    h = await make_harness(url, max_attempts=1)
    async with h.mailbox:
        h.ngdp.faults.script("send", *["503"] * 5)
        h.send("Ustabil forbindelse", [f"{CITIZEN}@29189846.{GW}"])
        await h.cycle()
        h.send("Alt gik godt", [f"{CITIZEN2}@29189846.{GW}"])
        await h.cycle()
        cprs = [CITIZEN, CITIZEN2]
        h.send(
            "Masse i kø",
            [f"masseforsendelse-2@29189846.{GW}"],
            attachments=[
                ("masseforsendelse.txt", "text/plain", "\n".join(cprs).encode()),
                ("b.pdf", "application/pdf", PDF),
            ],
        )
        await h.service.poll(h.service.settings.mailboxes[0])  # seen, not yet planned
    jobs = {j.subject: j for j in h.store.jobs_in_state(list(JobState), limit=10)}
    failed = jobs["Ustabil forbindelse"]
    [row] = h.store.list_outbox(failed.id)
    assert row.state is OutboxState.FAILED
    h.store.close()
    return {
        "failed_job": failed.id,
        "failed_uuid": row.message_uuid,
        "ok_job": jobs["Alt gik godt"].id,
        "mass_job": jobs["Masse i kø"].id,
    }


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Made once (SQLite; the service tests run on both databases); each test gets a copy to change."""
    path = tmp_path_factory.mktemp("letters") / "state.db"
    return path, asyncio.run(_populate(f"sqlite:///{path}"))


@pytest.fixture
def state(populated: tuple[Path, dict[str, str]], tmp_path: Path) -> tuple[str, dict[str, str]]:
    source, ids = populated
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", tmp_path / f"state.db{suffix}")
    return f"sqlite:///{tmp_path / 'state.db'}", ids


def run(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    code = main(["letters", *args, "--database-url", url, "--language", "en"])
    out, err = capsys.readouterr()
    return code, out, err


def audit_rows(url: str, action: str) -> list[Any]:
    store = SqlStore(url)
    try:
        with store.engine.connect() as conn:
            return list(conn.execute(select(t.audit_events).where(t.audit_events.c.action == action)).all())
    finally:
        store.close()


def test_search_prints_a_table_or_json_and_masks_the_cpr(
    state: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url, ids = state
    code, out, _ = run(capsys, url, "search", "Ustabil")
    assert code == 0
    assert ids["failed_job"] in out and "LETTER" in out.splitlines()[0]
    code, out, _ = run(capsys, url, "search", CITIZEN, "--kind", "letters", "--json")
    assert code == 0
    found = json.loads(out)
    assert {h["job_id"] for h in found["letters"]} >= {ids["failed_job"]}
    assert CITIZEN not in out and "010170-xxxx" in out
    code, out, _ = run(capsys, url, "search", MAILBOX, "--state", "sending")
    assert code == 0 and "nothing found" in out


def test_show_a_letter_by_job_or_message_uuid_and_not_found(
    state: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url, ids = state
    code, out, _ = run(capsys, url, "show", ids["failed_job"])
    assert code == 0
    assert "Seen in Sent Items" in out and "Sending failed" in out and ids["failed_uuid"] in out
    code, out, _ = run(capsys, url, "show", ids["failed_uuid"], "--json")
    assert code == 0 and json.loads(out)["focus"] == ids["failed_uuid"]
    code, out, _ = run(capsys, url, "show", ids["failed_uuid"], "--memo")
    assert code == 0 and CITIZEN not in out and "memo:messageUUID" in out
    code, _, err = run(capsys, url, "show", "00000000-0000-0000-0000-000000000000")
    assert code == 1 and "not found" in err


def test_retry_is_done_once_and_audited_as_the_os_user(
    state: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url, ids = state
    code, out, _ = run(capsys, url, "retry", ids["failed_uuid"])
    assert code == 0 and ids["failed_uuid"] in out
    code, out, _ = run(capsys, url, "retry", ids["failed_uuid"], "--json")
    assert code == 0 and json.loads(out)["changed"] is False
    [event] = audit_rows(url, "console.letter.retried")
    assert event.actor == f"cli:{getpass.getuser()}" and event.details["via"] == "cli"
    code, _, err = run(capsys, url, "retry", ids["ok_job"])
    assert code == 1 and "nothing to retry" in err


def test_cancel_a_queued_mass_delivery_once_and_refuse_a_finished_letter(
    state: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url, ids = state
    code, out, _ = run(capsys, url, "cancel", ids["mass_job"])
    assert code == 0 and "Cancelled" in out
    code, out, _ = run(capsys, url, "cancel", ids["mass_job"])
    assert code == 0 and "already cancelled" in out
    assert len(audit_rows(url, "console.letter.cancelled")) == 1
    code, _, err = run(capsys, url, "cancel", ids["ok_job"])
    assert code == 1 and "already finished" in err


def test_usage_errors_exit_2(state: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url, _ = state
    with pytest.raises(SystemExit) as missing:
        main(["letters", "show"])
    assert missing.value.code == 2
    with pytest.raises(SystemExit) as bad_date:
        main(["letters", "search", "x", "--since", "yesterday", "--database-url", url])
    assert bad_date.value.code == 2
    code = main(["letters", "search", "x", "--database-url", "mysql://nope/x", "--language", "en"])
    assert code == 2
    capsys.readouterr()
