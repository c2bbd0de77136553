"""`graph-dpg doctor --probe` as an admin runs it, in this process, against emulators on 127.0.0.1 set up
from a .env: the table and the JSON, exit 0 when everything matches, 1 when a behaviour contradicts an
inference, 2 when the probe cannot run or the NgDP test settings point at production."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph_dpg.adapters.store import create_store
from graph_dpg.commands.doctor import seed
from graph_dpg.config import load_gateway_file
from graph_dpg.demo.ngdp import start_ngdp_sandbox
from graph_dpg.demo.scenario import DEMO_GATEWAY
from graph_dpg.sandbox.graph import GraphTenant, serve
from graph_dpg.sandbox.ngdp import NgdpState
from tests.e2e.test_cli_doctor import main

JOBCENTER = "jobcenter@sandby.dk"


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith(("GRAPH_DPG_", "NGDP_TEST_")):
            monkeypatch.delenv(key)


@pytest.fixture
def tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphTenant]:
    """The demo organisation set up on emulators on 127.0.0.1; the .env in the current directory names
    them, and NGDP_TEST_* name the NgDP emulator as the test environment."""
    config = load_gateway_file(DEMO_GATEWAY)
    graph = GraphTenant()
    for address in config.mailboxes:
        graph.add_mailbox(address)
    state = NgdpState(organisation_cvr=config.organisation.cvr, organisation_name=config.organisation.name)
    state.register(cvr=config.organisation.cvr)
    for cp in config.contact_points:
        state.add_contact_point(cp.id, cp.name)
    seed(graph, state, config)
    database = f"sqlite:///{tmp_path / 'graph-dpg.db'}"
    create_store(database).close()
    ngdp = start_ngdp_sandbox(tmp_path / "pki", state=state, tls=True)
    assert ngdp.pki is not None
    try:
        with serve(graph) as graph_url:
            (tmp_path / ".env").write_text(
                "GRAPH_DPG_CREDENTIAL_KIND=sandbox\n"
                f"GRAPH_DPG_GRAPH_BASE_URL={graph_url}\n"
                f"GRAPH_DPG_DATABASE_URL={database}\n"
                f"GRAPH_DPG_GATEWAY_FILE={DEMO_GATEWAY}\n"
                f"NGDP_TEST_BASE_URL={ngdp.base_url}\n"
                f"NGDP_TEST_SYSTEM_ID={state.system_id}\n"
                f"NGDP_TEST_API_TOKEN={state.api_token}\n"
                f"NGDP_TEST_CERTIFICATE_PATH={ngdp.pki.client.p12}\n"
                f"NGDP_TEST_CERTIFICATE_PASSWORD={ngdp.pki.client.p12_password}\n"
                f"NGDP_TEST_CA_BUNDLE={ngdp.pki.ca_cert}\n"
                "NGDP_TEST_RECEIPT_WAIT_SECONDS=5\n",
                encoding="utf-8",
            )
            monkeypatch.chdir(tmp_path)
            yield graph
    finally:
        ngdp.stop()


def test_probe_all_matching_prints_the_table_and_exits_0(
    tenant: GraphTenant, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--probe", "--ngdp-test"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("graph-dpg doctor --probe: mailbox digitalpost@sandby.dk, probe folder")
    assert "✓ graph.non-draft-create: matches" in out
    assert "    observed:  isDraft=false" in out
    assert "✓ ngdp.duplicate-uuid: matches" in out
    assert "- graph.concurrency: skipped" in out
    assert out[-1] == "14 match, 0 contradict, 0 not checked, 12 skipped (exit 0)"
    assert any(line.startswith("cleaned up: category 'graph-dpg probe ") for line in out)


def test_probe_contradiction_exits_1_and_names_the_row(
    tenant: GraphTenant, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant.honour_message_flags_on_create = False
    assert main(["--probe", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["exit_code"] == 1
    contradicted = [r for r in report["rows"] if r["verdict"] == "contradicts"]
    assert [(r["id"], r["observed"], r["matches"]) for r in contradicted] == [
        ("graph.non-draft-create", "isDraft=true", False)
    ]
    assert report["cleanup_problems"] == []


def test_probe_of_an_unreachable_mailbox_exits_2(
    tenant: GraphTenant, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant.set_accessible(JOBCENTER, False)
    assert main(["--probe", "--mailbox", JOBCENTER]) == 2
    out = capsys.readouterr().out
    assert f"could not run: mailbox {JOBCENTER} cannot be used: 403 ErrorAccessDenied" in out


def test_ngdp_test_settings_pointing_at_production_exit_2(
    tenant: GraphTenant, capsys: pytest.CaptureFixture[str]
) -> None:
    env = Path(".env")
    env.write_text(
        env.read_text(encoding="utf-8") + "NGDP_TEST_BASE_URL=https://api.digitalpost.dk/apis/v1\n",
        encoding="utf-8",
    )
    assert main(["--probe", "--ngdp-test"]) == 2
    out = capsys.readouterr().out
    assert "NGDP_TEST_BASE_URL: https://api.digitalpost.dk/apis/v1 is NgDP's production environment" in out
    assert tenant.count_requests(method="POST") == 0  # nothing was written anywhere


def test_probe_options_without_probe_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "--ngdp-test"]) == 2
    assert "--ngdp-test, --json only with --probe" in capsys.readouterr().err


def test_probe_with_unusable_settings_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.env"
    bad.write_text("GRAPH_DPG_CREDENTIAL_KIND=certificate\n", encoding="utf-8")
    assert main(["--probe", "--env-file", str(bad), "--gateway-file", str(DEMO_GATEWAY)]) == 2
    assert "the configuration is unusable" in capsys.readouterr().out
