"""``python -m graph_dpg check-config`` as an admin runs it: summary and exit 0, or every problem and exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "gateway.yaml"
SECRET = "Hemmeligt-Token-123"
#: `run` cannot build its NgDP client without them, so check-config requires them too (one validation).
NGDP = {"GRAPH_DPG_NGDP_SYSTEM_ID": "system-1", "GRAPH_DPG_NGDP_API_TOKEN": SECRET}


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("GRAPH_DPG_")}
    clean.update({"PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"})
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "graph_dpg", "check-config", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean,
        timeout=60,
        check=False,
    )


def test_example_is_valid_and_summarised(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLE, tmp_path / "examples" / "gateway.yaml")
    proc = run("examples/gateway.yaml", cwd=tmp_path, env={"GRAPH_DPG_PUSH_TOKEN": SECRET, **NGDP})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Organisation: Eksempel Kommune (CVR 12345674)" in out
    assert "jobcenter@eksempel-kommune.dk" in out
    assert "may send as: contact point dcf4153e-fd50-450f-8622-4dddd1f55da7 (Jobcenter)" in out
    assert "Contact points (5, 1 unmapped):" in out
    assert "UNMAPPED -> main mailbox digitalpost@eksempel-kommune.dk" in out
    assert "'Digital Post: I kø' preset3 (yellow)" in out
    assert "Rules (5, 4 enabled)" in out
    assert "GRAPH_DPG_PUSH_TOKEN" in out and "**********" in out
    assert SECRET not in out + proc.stderr
    assert out.rstrip().endswith("OK: examples/gateway.yaml and the settings are valid.")


def test_gateway_file_from_settings_when_no_argument(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"GRAPH_DPG_GATEWAY_FILE={EXAMPLE}\n", encoding="utf-8")
    proc = run(cwd=tmp_path, env=NGDP)
    assert proc.returncode == 0, proc.stderr
    assert f"Gateway file: {EXAMPLE}" in proc.stdout


def test_broken_configuration_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('cvr: "12345674"', 'cvr: "12345678"', 1)  # fails modulus 11
    text = text.replace("color: preset15", "color: crimson")
    text = text.replace("value: '^27\\.'", "value: '^27\\.('")
    text = text.replace(
        "mailbox: oekonomi@eksempel-kommune.dk\n      archive_to", "mailbox: okonomi@x.dk\n      archive_to"
    )
    text = text.replace("priority: 30", "priority: tredive")
    broken.write_text(text, encoding="utf-8")
    env_file = tmp_path / "settings.env"
    env_file.write_text(
        f"GRAPH_DPG_CREDENTIAL_KIND=client_secret\nGRAPH_DPG_NGDP_API_TOKEN={SECRET}\nGRAPH_DPG_HTTP_PORT=0\n",
        encoding="utf-8",
    )
    proc = run(str(broken), "--env-file", str(env_file), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0] == f"The configuration has {len(lines) - 1} problem(s):"
    problems = [line.strip() for line in lines[1:]]
    assert problems[0].startswith(
        f"{env_file}:3: GRAPH_DPG_HTTP_PORT: Input should be greater than or equal to 1"
    )
    assert any(p.startswith("GRAPH_DPG_CLIENT_SECRET: required when") for p in problems)
    gateway = [p for p in problems if p.startswith(f"{broken}:")]
    fields = [p.split(": ")[1] for p in gateway]
    assert fields == [
        "organisation.cvr",
        "categories.failed.color",
        "rules[1].conditions[0].value",
        "rules[2].priority",
        "rules[3].actions.deliver_to.mailbox",
    ]
    assert SECRET not in proc.stdout + proc.stderr


def test_settings_problems_are_reported_even_with_a_good_file(tmp_path: Path) -> None:
    proc = run(
        str(EXAMPLE),
        cwd=tmp_path,
        env={"GRAPH_DPG_CREDENTIAL_KIND": "certificate", "GRAPH_DPG_CLIENT_SECRET": SECRET},
    )
    assert proc.returncode == 2
    assert (
        "GRAPH_DPG_CLIENT_CERTIFICATE_PATH: required when GRAPH_DPG_CREDENTIAL_KIND=certificate"
        in proc.stderr
    )
    assert "GRAPH_DPG_TENANT_ID: required" in proc.stderr
    assert SECRET not in proc.stderr


def test_missing_files_exit_2(tmp_path: Path) -> None:
    proc = run(str(tmp_path / "nope.yaml"), "--env-file", str(tmp_path / "none.env"), cwd=tmp_path)
    assert proc.returncode == 2
    assert f"{tmp_path / 'none.env'}: settings file not found" in proc.stderr
    assert f"{tmp_path / 'nope.yaml'}: file not found" in proc.stderr


def test_a_regex_that_can_backtrack_catastrophically_is_a_warning_naming_the_rule(tmp_path: Path) -> None:
    risky = tmp_path / "gateway.yaml"
    text = EXAMPLE.read_text(encoding="utf-8").replace("value: '^27\\.'", "value: '^(27\\.\\d+)+$'")
    assert text != EXAMPLE.read_text(encoding="utf-8")
    risky.write_text(text, encoding="utf-8")
    proc = run(str(risky), cwd=tmp_path, env=NGDP)
    assert proc.returncode == 0, proc.stderr  # a warning, not a problem
    warning = next(line.strip() for line in proc.stdout.splitlines() if "backtrack" in line)
    assert warning.startswith("rule 'Beskæftigelse (KLE 27) til Jobcenter' conditions[0]: the regex")
    assert "a repetition (+) inside a repetition (+)" in warning
    assert "Warnings (1):" in proc.stdout
    assert proc.stdout.rstrip().endswith("are valid, with 1 warning(s) above.")
