"""`python -m graph_dpg rules test --rules FILE MESSAGE` as an admin runs it: explanations and outcomes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from graph_dpg.cli import main

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "unit" / "inbound"))
from inbound_memos import CITIZEN, CP_BYG, CP_UNKNOWN, citizen_memo  # noqa: E402

GATEWAY = f"""
organisation: {{cvr: "29189846", name: Sandbox Kommune}}
main_mailbox: post@kommune.dk
monitoring_mailbox: it@kommune.dk
function_mailboxes:
  - {{address: byg@kommune.dk, sender_contact_points: [{CP_BYG}]}}
  - {{address: job@kommune.dk}}
contact_points:
  - {{id: {CP_BYG}, name: Byggesager, mailbox: byg@kommune.dk}}
rules:
  - name: Beskæftigelse
    priority: 10
    conditions: [{{field: "memo:kle", op: regex, value: '^27\\.'}}]
    actions: {{deliver_to: {{mailbox: job@kommune.dk, folder: Inbox/KLE27}}, categories: [Job]}}
  - name: Kvitteringer
    priority: 20
    match: any
    conditions:
      - {{field: subject, op: contains, value: kvittering}}
      - {{field: attachment_content, op: contains, value: '"receiptStatus": "COMPLETED"'}}
    exceptions: [{{field: subject, op: contains, value: fejl}}]
    actions: {{deliver_to: {{mailbox: post@kommune.dk, folder: Inbox/Kvitteringer}}, mark_read: true}}
"""

EML = b"""From: NgDP <noreply@digitalpost.dk>
To: post@kommune.dk
Subject: Status 0101701234
Message-ID: <abc@digitalpost.dk>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain; charset=utf-8

Se vedhaeftet.
--b
Content-Type: application/json
Content-Disposition: attachment; filename="receipt.json"

{"receiptStatus": "COMPLETED"}
--b--
"""


def run(*args: str) -> tuple[int, str, str]:
    """In-process through the real argparse entry point (a subprocess per case costs seconds)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["rules", "test", *args])
    return code, out.getvalue(), err.getvalue()


def run_subprocess(*args: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run(
        [sys.executable, "-m", "graph_dpg", "rules", "test", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def gateway(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(GATEWAY, encoding="utf-8")
    return path


def test_memo_matched_by_a_rule(gateway: Path, tmp_path: Path) -> None:
    _, xml = citizen_memo(kle="27.10.00", label="Ledighed")
    memo = tmp_path / "in.xml"
    memo.write_bytes(xml)
    code, out, err = run_subprocess("--rules", str(gateway), str(memo))
    assert code == 0, err
    assert "rule 'Beskæftigelse' (priority 10): MATCHED" in out
    assert "✓ memo:kle regex '^27\\.' ['27.']" in out
    assert "deliver to: job@kommune.dk / Inbox/KLE27  (rule 'Beskæftigelse')" in out
    assert "categories: Digital Post: Modtaget, Job" in out
    assert "banner: none" in out
    assert "NgDP receipt: COMPLETED" in out
    assert CITIZEN not in out and "010170-xxxx" in out


def test_memo_to_an_unknown_contact_point_shows_the_banner(gateway: Path, tmp_path: Path) -> None:
    _, xml = citizen_memo(contact_point=CP_UNKNOWN, kle=None)
    memo = tmp_path / "in.xml"
    memo.write_bytes(xml)
    code, out, _ = run("--rules", str(gateway), str(memo))
    assert code == 0
    assert "deliver to: post@kommune.dk / inbox  (no rule, no mapped contact point)" in out
    assert "banner: Brevet er sendt til et kontaktpunkt, som gatewayen ikke kender" in out
    assert f"Til it-support: contact point {CP_UNKNOWN}" in out
    assert "Digital Post: Advarsel" in out


def test_invalid_memo(gateway: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<memo:Message xmlns:memo='https://DigitalPost.dk/MeMo-1'/>")
    code, out, _ = run("--rules", str(gateway), str(bad))
    assert code == 0
    assert "Message: MeMo (INVALID)" in out
    assert "NgDP receipt: INVALID" in out


def test_eml_with_json_attachment_and_exception(gateway: Path, tmp_path: Path) -> None:
    eml = tmp_path / "m.eml"
    eml.write_bytes(EML)
    code, out, _ = run("--rules", str(gateway), str(eml))
    assert code == 0
    assert "rule 'Kvitteringer' (priority 20): MATCHED (match any)" in out
    assert "✓ attachment_content contains" in out
    assert "moved to: post@kommune.dk / Inbox/Kvitteringer" in out
    assert "mark as read: yes" in out
    assert "0101701234" not in out and "--show-cpr" not in out
    _, clear, _ = run("--rules", str(gateway), str(eml), "--show-cpr")
    assert "0101701234" in clear

    eml.write_bytes(EML.replace(b"Subject: Status", b"Subject: fejl"))
    _, out, _ = run("--rules", str(gateway), str(eml))
    assert "cancelled by exception: subject contains 'fejl'" in out
    assert "no rule matched" in out


def test_unreadable_inputs_exit_2(gateway: Path, tmp_path: Path) -> None:
    code, _, err = run("--rules", str(gateway), str(tmp_path / "missing.eml"))
    assert code == 2 and "no such file" in err
    broken = tmp_path / "broken.yaml"
    broken.write_text("organisation: {}\n", encoding="utf-8")
    code, _, err = run("--rules", str(broken), str(tmp_path / "x.eml"))
    assert code == 2 and "broken.yaml" in err


def test_status_and_enable_of_an_automatically_disabled_rule(gateway: Path, tmp_path: Path) -> None:
    from graph_dpg.adapters.store import create_store

    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = create_store(url)
    store.disable_rule("Kvitteringer", "evaluation took longer than 5 s")
    store.increment_rule_hits("Beskæftigelse", 3)
    store.close()

    code, out, err = run_state("status", "--rules", str(gateway), "--database-url", url)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["10", "Beskæftigelse", "hits=3", "enabled"]
    assert "Kvitteringer  hits=0  DISABLED automatically" in lines[1]
    assert "took longer than 5 s" in lines[1]

    code, out, _ = run_state("enable", "Kvitteringer", "--database-url", url)
    assert code == 0 and "enabled" in out
    code, _, err = run_state("enable", "Kvitteringer", "--database-url", url)
    assert code == 1 and "is not disabled" in err
    _, out, _ = run_state("status", "--rules", str(gateway), "--database-url", url)
    assert "DISABLED" not in out


def run_state(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["rules", *args])
    return code, out.getvalue(), err.getvalue()
