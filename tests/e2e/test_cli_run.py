"""``graph-dpg run`` before it is configured: it explains where to start, agrees with ``check-config``
(one validation, graph_dpg/commands/validation.py) and writes nothing before the configuration is valid."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "gateway.yaml"


def cli(command: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("GRAPH_DPG_")}
    clean.update({"PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"})
    return subprocess.run(
        [sys.executable, "-m", "graph_dpg", command, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean,
        timeout=60,
        check=False,
    )


def test_nothing_configured_explains_where_to_start_and_writes_nothing(tmp_path: Path) -> None:
    proc = cli("run", cwd=tmp_path)
    assert proc.returncode == 2
    assert "gateway.yaml: file not found" in proc.stderr
    assert "No gateway file at gateway.yaml. Where to start:" in proc.stderr
    assert "graph-dpg sandbox" in proc.stderr
    assert "examples/gateway.yaml" in proc.stderr
    assert "docs/sandbox.md" in proc.stderr and ".env.example" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_ngdp_credentials_run_and_check_config_agree_and_nothing_is_written(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "gateway.yaml")
    ran = cli("run", cwd=tmp_path)
    checked = cli("check-config", cwd=tmp_path)
    assert ran.returncode == checked.returncode == 2
    assert ran.stderr == checked.stderr
    assert "GRAPH_DPG_NGDP_SYSTEM_ID: required to talk to NgDP" in ran.stderr
    assert "GRAPH_DPG_NGDP_API_TOKEN: required to talk to NgDP" in ran.stderr
    assert "Where to start" not in ran.stderr  # the gateway file exists: no beginner's guide
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gateway.yaml"]  # no graph-dpg.db


def test_a_bad_database_directory_is_not_created(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "gateway.yaml")
    (tmp_path / ".env").write_text(
        "GRAPH_DPG_DATABASE_URL=sqlite:///./state/gateway.db\nGRAPH_DPG_HTTP_PORT=0\n", encoding="utf-8"
    )
    proc = cli("run", cwd=tmp_path)
    assert proc.returncode == 2
    assert ".env:2: GRAPH_DPG_HTTP_PORT" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "gateway.yaml"]
