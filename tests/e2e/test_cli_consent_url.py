"""`python -m graph_dpg consent-url` as an admin runs it: the URL, the guidance, exit code 2 on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

REPO = Path(__file__).resolve().parents[2]
TENANT = "contoso.onmicrosoft.com"
CLIENT = "11111111-2222-3333-4444-555555555555"


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("GRAPH_DPG_")}
    proc_env = {**base, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "graph_dpg", "consent-url", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=proc_env,
        timeout=60,
        check=False,
    )


def test_url_only_from_options(tmp_path: Path) -> None:
    proc = run("--tenant", TENANT, "--client-id", CLIENT, "--state", "s1", "--url-only", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        f"https://login.microsoftonline.com/{TENANT}/adminconsent"
        f"?client_id={CLIENT}&redirect_uri=https%3A%2F%2Flocalhost&state=s1\n"
    )


def test_guidance_from_settings_in_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"GRAPH_DPG_TENANT_ID={TENANT}\nGRAPH_DPG_CLIENT_ID={CLIENT}\n")
    proc = run("--redirect-uri", "https://admin.contoso.dk/consented", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Mail.ReadWrite             e2a3a72e-5f79-4c64-b1b1-878b674786c9" in out
    assert "Mail.Send                  b633e1c5-b582-4048-a93e-9f11b44c7e96" in out  # secure mail (sendMail)
    assert "MailboxSettings.ReadWrite  6931bccd-447a-43d1-b442-00a195474933" in out
    assert "RBAC for Applications" in out
    assert "do NOT open the consent URL" in out
    url = next(line.strip() for line in out.splitlines() if line.strip().startswith("https://login."))
    parts = urlsplit(url)
    assert parts.path == f"/{TENANT}/adminconsent"
    query = parse_qs(parts.query)
    assert query["client_id"] == [CLIENT]
    assert query["redirect_uri"] == ["https://admin.contoso.dk/consented"]
    assert len(query["state"][0]) >= 16


def test_missing_settings_exit_2_and_say_what_to_set(tmp_path: Path) -> None:
    proc = run(cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "GRAPH_DPG_TENANT_ID" in proc.stderr
    assert "--client-id" in proc.stderr
    assert "Traceback" not in proc.stderr
