"""`graph-dpg doctor` as an admin runs it: `python -m graph_dpg doctor --sandbox` (all green, a real
process); then the doctor command in this process (the full CLI imports every command module, seconds per
run) against emulators on 127.0.0.1 set up with mistakes (the right ✗ lines and fixes, exit 1; --fix
repairs what it may), and with unusable settings (exit 2)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph_dpg.adapters.store import create_store
from graph_dpg.commands import doctor as doctor_command
from graph_dpg.commands.doctor import seed
from graph_dpg.config import load_gateway_file
from graph_dpg.demo.ngdp import start_ngdp_sandbox
from graph_dpg.demo.scenario import DEMO_GATEWAY
from graph_dpg.sandbox.graph import GraphTenant, serve
from graph_dpg.sandbox.ngdp import NgdpState

REPO = Path(__file__).resolve().parents[2]
JOBCENTER = "jobcenter@sandby.dk"
ROGUE_CP = "5b0f3c1e-9d2a-4e8b-a7c6-1f2e3d4c5b6a"


def doctor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("GRAPH_DPG_")}
    env = {**base, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "graph_dpg", "doctor", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def main(argv: list[str]) -> int:
    """The doctor command alone, parsed and run as the CLI does."""
    parser = argparse.ArgumentParser(prog="graph-dpg")
    doctor_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["doctor", *argv])
    code: int = args.func(args)
    return code


@pytest.fixture(autouse=True)
def _no_graph_dpg_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith("GRAPH_DPG_"):
            monkeypatch.delenv(key)


def test_doctor_is_registered_in_the_cli() -> None:
    from graph_dpg.cli import COMMANDS

    assert COMMANDS["doctor"] == "graph_dpg.commands.doctor"


def lines(out: str, prefix: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(prefix)]


def test_sandbox_is_all_green(tmp_path: Path) -> None:
    proc = doctor("--sandbox", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert lines(out, "✗") == [] and lines(out, "!") == [] and lines(out, "-") == []
    for name in ("settings", "gateway file", "graph token", "ngdp certificate", "ngdp", "contact points"):
        assert lines(out, f"✓ {name}:"), name
    assert lines(out, f"✓ mailbox {JOBCENTER}: function: reachable; polled folders: sentitems, inbox")
    assert lines(out, "✓ database: sqlite:///")
    # The sandbox grants exactly the permission table's required rows; each is probed per mailbox.
    assert lines(
        out, f"✓ permissions {JOBCENTER}: Mail.ReadWrite, MailboxSettings.ReadWrite, Contacts.Read granted"
    )
    # The sandbox authenticates NgDP's push as production does: its certificate, forwarded by the ingress.
    assert lines(
        out,
        "✓ ngdp push: push accepted on: client certificate from 1 issuer(s) with subject"
        " O=Digitaliseringsstyrelsen, SERIALNUMBER=CVR:34051178-FID:sandbox via X-Forwarded-Client-Cert",
    )
    # 26: the demo gateway file's SMTP recipient system mailbox (digitalpost-smtp@) adds its own checks
    assert lines(out, "✓ mailbox digitalpost-smtp@sandby.dk: function: reachable; polled folders: inbox")
    # 7 more: the inbox rules of each of the 7 mailboxes (rules the gateway cannot honour are warned about)
    assert lines(out, f"✓ inbox rules {JOBCENTER}: no enabled inbox rules")
    assert out.rstrip().endswith("33 ok, 0 warning(s), 0 failed, 0 skipped")


@pytest.fixture
def broken_tenant(tmp_path: Path) -> Iterator[tuple[Path, GraphTenant]]:
    """The demo organisation on emulators on 127.0.0.1, with three mistakes: Jobcenter outside the app's
    scope, a category missing in Borgerservice, a contact point at NgDP that the gateway file lacks."""
    config = load_gateway_file(DEMO_GATEWAY)
    tenant = GraphTenant()
    for address in config.mailboxes:
        tenant.add_mailbox(address)
    state = NgdpState(organisation_cvr=config.organisation.cvr, organisation_name=config.organisation.name)
    for cp in config.contact_points:
        state.add_contact_point(cp.id, cp.name)
    seed(tenant, state, config)
    tenant.set_accessible(JOBCENTER, False)
    box = tenant.mailbox("borgerservice@sandby.dk")
    sent = next(c for c in box.categories if c["displayName"] == "Digital Post: Sendt")
    tenant.delete_category(box, sent["id"])
    state.add_contact_point(ROGUE_CP, "Skoleafdelingen")
    database = f"sqlite:///{tmp_path / 'graph-dpg.db'}"
    create_store(database).close()
    ngdp = start_ngdp_sandbox(tmp_path / "pki", state=state, tls=True)
    assert ngdp.pki is not None
    try:
        with serve(tenant) as graph_url:
            (tmp_path / ".env").write_text(
                "GRAPH_DPG_CREDENTIAL_KIND=sandbox\n"
                f"GRAPH_DPG_GRAPH_BASE_URL={graph_url}\n"
                f"GRAPH_DPG_NGDP_BASE_URL={ngdp.base_url}\n"
                f"GRAPH_DPG_NGDP_SYSTEM_ID={state.system_id}\n"
                f"GRAPH_DPG_NGDP_API_TOKEN={state.api_token}\n"
                f"GRAPH_DPG_NGDP_CERTIFICATE_PATH={ngdp.pki.client.p12}\n"
                f"GRAPH_DPG_NGDP_CERTIFICATE_PASSWORD={ngdp.pki.client.p12_password}\n"
                f"GRAPH_DPG_NGDP_CA_BUNDLE={ngdp.pki.ca_cert}\n"
                f"GRAPH_DPG_DATABASE_URL={database}\n"
                f"GRAPH_DPG_GATEWAY_FILE={DEMO_GATEWAY}\n",
                encoding="utf-8",
            )
            yield tmp_path, tenant
    finally:
        ngdp.stop()


def test_broken_set_up_reports_each_mistake_and_fix_repairs_categories(
    broken_tenant: tuple[Path, GraphTenant],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    workdir, tenant = broken_tenant
    monkeypatch.chdir(workdir)  # the admin's .env in the current directory
    assert main([]) == 1
    out = capsys.readouterr().out.splitlines()
    failed = [line for line in out if line.startswith("✗")]
    assert failed == [
        "✗ mailbox jobcenter@sandby.dk: function: the app may not access this mailbox "
        "(403 ErrorAccessDenied: Access to OData is disabled.)",
        "✗ permissions jobcenter@sandby.dk: the mailbox is outside the app's management scope: every call "
        "is refused (403 ErrorAccessDenied: Access to OData is disabled.)",
        "✗ categories borgerservice@sandby.dk: missing from the master category list: Digital Post: Sendt",
        f"✗ contact points: in NgDP but not in the gateway file: {ROGUE_CP} (Skoleafdelingen)",
    ]
    # Every ✗ line is followed by its fix.
    for line in failed:
        assert out[out.index(line) + 1].startswith("    fix: ")
    assert "- categories jobcenter@sandby.dk: the mailbox is not reachable" in out
    assert any(line.startswith("✓ graph token:") for line in out)
    assert any(line.startswith("✓ ngdp: ") for line in out)

    assert main(["--fix"]) == 1  # --fix never touches permissions or the contact point mapping
    assert "✓ categories borgerservice@sandby.dk: 7 categories present; created Digital Post: Sendt" in (
        capsys.readouterr().out.splitlines()
    )
    names = {c["displayName"] for c in tenant.master_categories("borgerservice@sandby.dk")}
    assert "Digital Post: Sendt" in names


def test_unusable_settings_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.env"
    bad.write_text("GRAPH_DPG_CREDENTIAL_KIND=certificate\n", encoding="utf-8")
    assert main(["--env-file", str(bad), "--gateway-file", str(DEMO_GATEWAY)]) == 2
    out = capsys.readouterr().out
    assert out.startswith("✗ settings: ")
    assert "GRAPH_DPG_CLIENT_CERTIFICATE_PATH: required when GRAPH_DPG_CREDENTIAL_KIND=certificate" in out
    assert "✓ gateway file: " in out
    assert out.rstrip().endswith("the configuration is unusable; fix it first (exit 2)")
