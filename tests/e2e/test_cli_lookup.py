"""`python -m graph_dpg lookup` as a user runs it (issue 20): JSON lines, CPR masked, exit codes 0/1/2,
reasons on stderr; --sandbox starts the Datafordeler (mutual TLS token endpoint) and CVR emulators itself.
One sandbox run (~3-5 s: the gateway's imports and three TLS servers) covers every sample."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CPR_IN_CLEAR = re.compile(r"(?<!\d)\d{6}-?\d{4}(?!\d)")


def run(*args: str, cwd: Path = REPO) -> tuple[int, list[dict[str, Any]], str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPH_DPG_")}
    env |= {"PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run(
        [sys.executable, "-m", "graph_dpg", "lookup", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    return proc.returncode, lines, proc.stdout, proc.stderr


def test_sandbox_all_samples() -> None:
    code, lines, out, err = run("--sandbox", "--all-samples", "010170-8881")
    assert code == 0, err
    by_number = {(line["number"], line["name"], line["status"]) for line in lines}
    assert lines[0] == {"number": "010170-xxxx", "kind": "cpr", "name": "Jens Hansen", "status": "active"}
    assert ("020280-xxxx", None, "protected") in by_number
    assert ("030340-xxxx", None, "inactive") in by_number  # dead
    assert ("040465-xxxx", None, "inactive") in by_number  # emigrated
    assert ("050590-xxxx", None, "unknown") in by_number
    assert ("12345674", "Eksempel Handel ApS", "active") in by_number
    assert ("13748136", None, "inactive") in by_number  # ceased: never a name
    assert ("10000009", None, "unknown") in by_number
    assert {line["kind"] for line in lines} == {"cpr", "cvr"}
    assert all(set(line) == {"number", "kind", "name", "status"} for line in lines)
    assert not CPR_IN_CLEAR.search(out + err)


def test_not_configured_is_a_failed_lookup_exit_1(tmp_path: Path) -> None:
    code, lines, out, err = run("12345674", "0101708881", cwd=tmp_path)
    assert code == 1
    assert [(line["status"], line["name"]) for line in lines] == [("error", None), ("error", None)]
    assert "CVR lookup is not configured" in err
    assert "010170-xxxx: CPR lookup is not configured" in err
    assert "0101708881" not in out + err


def test_invalid_number_and_usage_exit_2(tmp_path: Path) -> None:
    code, lines, _, err = run("12345675", cwd=tmp_path)  # fails modulus 11
    assert (code, lines) == (2, [])
    assert "modulus-11" in err
    code, _, _, err = run("--all-samples", cwd=tmp_path)
    assert code == 2
    assert "only with --sandbox" in err
    code, _, _, err = run(cwd=tmp_path)
    assert code == 2
