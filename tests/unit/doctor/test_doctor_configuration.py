"""The first two checks (settings, gateway file) decide whether anything else can run; the printed lines."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from graph_dpg.commands.doctor import _Printer
from graph_dpg.config import load_gateway_file
from graph_dpg.demo.scenario import DEMO_GATEWAY
from graph_dpg.diagnostics.doctor import CheckResult, Status, load_configuration, mailbox_plan


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.upper().startswith("GRAPH_DPG_"):
            monkeypatch.delenv(key)


def test_valid_settings_and_gateway_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        f"GRAPH_DPG_GATEWAY_FILE={DEMO_GATEWAY}\n"
        "GRAPH_DPG_DATABASE_URL=postgresql+psycopg://gw:hunter2@db.example:5432/graph_dpg\n"
        "GRAPH_DPG_GRAPH_BASE_URL=http://127.0.0.1:8000/v1.0\n"
    )
    results, settings, config = load_configuration(env)
    assert settings is not None and config is not None
    assert [r.status for r in results] == [Status.OK, Status.OK]
    assert "postgresql+psycopg://gw:***@db.example:5432/graph_dpg" in results[0].detail
    assert "hunter2" not in results[0].detail
    assert "Sandby Kommune (CVR 12345674), 4 function mailbox(es), 3 contact point(s)" in results[1].detail


def test_sandbox_credential_against_real_graph_is_a_warning(tmp_path: Path) -> None:
    results, settings, _ = load_configuration(tmp_path / "none.env", DEMO_GATEWAY)
    assert settings is not None and settings.is_sandbox
    assert results[0].status is Status.WARN
    assert results[0].fix is not None and "--sandbox" in results[0].fix
    assert "the environment" in results[0].detail


def test_invalid_settings_are_listed_and_unusable(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "GRAPH_DPG_CREDENTIAL_KIND=client_secret\nGRAPH_DPG_CLIENT_SECRET=s3cr3t-value\nGRAPH_DPG_HTTP_PORT=99999\n"
        "GRAPH_DPG_TENNANT_ID=x\n"
    )
    results, settings, config = load_configuration(env, DEMO_GATEWAY)
    assert settings is None
    assert results[0].status is Status.FAIL
    detail = results[0].detail
    assert "GRAPH_DPG_TENANT_ID: required when GRAPH_DPG_CREDENTIAL_KIND=client_secret" in detail
    assert "GRAPH_DPG_HTTP_PORT" in detail
    assert "did you mean 'GRAPH_DPG_TENANT_ID'" in detail
    assert "s3cr3t-value" not in detail
    # The gateway file is still checked when it is named.
    assert config is not None and results[1].status is Status.OK


def test_named_env_file_must_exist(tmp_path: Path) -> None:
    results, settings, config = load_configuration(tmp_path / "missing.env", env_file_required=True)
    assert settings is None and config is None
    assert results[0].status is Status.FAIL and "file not found" in results[0].detail
    assert results[1].status is Status.SKIP


def test_gateway_file_problems_with_lines(tmp_path: Path) -> None:
    bad = tmp_path / "gateway.yaml"
    bad.write_text(
        DEMO_GATEWAY.read_text(encoding="utf-8").replace('cvr: "12345674"', 'cvr: "12345678"', 1),
        encoding="utf-8",
    )
    results, _, config = load_configuration(None, bad)
    assert config is None
    gateway = results[1]
    assert gateway.status is Status.FAIL
    assert f"{bad}:5: organisation.cvr:" in gateway.detail
    assert gateway.fix is not None and "graph-dpg check-config" in gateway.fix


def test_mailbox_plan_roles_and_polled_folders() -> None:
    plan = {p.address: p for p in mailbox_plan(load_gateway_file(Path("examples/gateway.yaml")))}
    main = plan["digitalpost@eksempel-kommune.dk"]
    assert main.roles == ("main",) and main.folders == ("inbox",)
    assert plan["it-drift@eksempel-kommune.dk"].folders == ()
    assert plan["jobcenter@eksempel-kommune.dk"].folders == ("sentitems", "inbox")
    assert plan["oekonomi@eksempel-kommune.dk"].folders == ("Digital Post/Udgående",)


def test_printer_lines_and_fix() -> None:
    out = io.StringIO()
    printer = _Printer(out)
    printer(CheckResult("database", Status.OK, "reachable"))
    printer(CheckResult("ngdp", Status.FAIL, "refused\nsecond line", "do this\nthen that"))
    printer(CheckResult("categories x", Status.SKIP, "the mailbox is not reachable", "not shown"))
    printer.summary(
        [
            CheckResult("a", Status.OK, ""),
            CheckResult("b", Status.WARN, ""),
            CheckResult("c", Status.FAIL, ""),
        ]
    )
    assert out.getvalue() == (
        "✓ database: reachable\n"
        "✗ ngdp: refused\n"
        "    second line\n"
        "    fix: do this\n"
        "         then that\n"
        "- categories x: the mailbox is not reachable\n"
        "1 ok, 1 warning(s), 1 failed, 0 skipped\n"
    )


def test_printer_falls_back_to_ascii() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    _Printer(out)(CheckResult("ngdp", Status.FAIL, "refused", "fix it"))
    out.flush()
    assert raw.getvalue().decode() == "[FAIL] ngdp: refused\n    fix: fix it\n"
