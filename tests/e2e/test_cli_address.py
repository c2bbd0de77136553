"""`python -m graph_dpg address explain` as a user runs it: JSON lines, exit codes 0/1/2, CPR masking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CP = "dfebd0ca-e211-47e4-af3a-f0d3344f018e"
CP_RECIPIENT = "bdcc201c-600c-4254-92c4-bab15dc075b5"
VALID_CPR = f"0102031234-reply.{CP_RECIPIENT}@35833684.ngdp.digital-post.dk"
PLACEHOLDER_CPR = "1234567890@35833684.ngdp.digital-post.dk"
PLACEHOLDER_CVR = f"87654321@{CP}.mitdk.digital-post.dk"
MASS = "masseforsendelse-250@35833684.ngdp.digital-post.dk"
BROKEN = "0102031234@35833684.sms.digital-post.dk"


def run(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run(
        [sys.executable, "-m", "graph_dpg", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    return proc.returncode, lines, proc.stdout + proc.stderr


def test_all_valid_exit_0_and_cpr_masked() -> None:
    code, lines, output = run("address", "explain", VALID_CPR, MASS)
    assert code == 0
    assert len(lines) == 2
    first, mass = lines
    assert first == {
        "address": f"010203-xxxx-reply.{CP_RECIPIENT}@35833684.ngdp.digital-post.dk",
        "valid": True,
        "channel": "ngdp",
        "sender_kind": "cvr",
        "sender_id": "35833684",
        "recipient_kind": "cpr",
        "recipient_id": "010203-xxxx",
        "reply": True,
        "recipient_contact_point": CP_RECIPIENT,
        "is_mass": False,
        "mass_count": None,
        "domain": "digital-post.dk",
        "canonical": f"010203-xxxx-reply.{CP_RECIPIENT}@35833684.ngdp.digital-post.dk",
        "findings": [],
    }
    assert mass["is_mass"] is True
    assert mass["mass_count"] == 250
    assert mass["recipient_kind"] is None
    assert "0102031234" not in output


def test_show_cpr_prints_it_in_clear() -> None:
    code, lines, _ = run("address", "explain", "--show-cpr", VALID_CPR)
    assert code == 0
    assert lines[0]["recipient_id"] == "0102031234"
    assert lines[0]["address"] == VALID_CPR


def test_placeholders_parse_but_fail_validation_exit_1() -> None:
    code, lines, output = run("address", "explain", PLACEHOLDER_CPR, PLACEHOLDER_CVR, VALID_CPR)
    assert code == 1
    cpr, cvr, ok = lines
    assert cpr["valid"] is False
    assert cpr["recipient_id"] == "123456-xxxx"
    assert [(f["path"], f["rule"], f["severity"]) for f in cpr["findings"]] == [
        ("recipient", "cpr.date", "error")
    ]
    assert cvr["sender_kind"] == "contact_point"
    assert cvr["sender_id"] == CP
    assert [f["rule"] for f in cvr["findings"]] == ["cvr.modulus11"]
    assert ok["valid"] is True
    assert "1234567890" not in output


def test_any_unparsable_address_gives_exit_2_and_the_others_are_still_explained() -> None:
    code, lines, _ = run("address", "explain", PLACEHOLDER_CPR, BROKEN, VALID_CPR)
    assert code == 2
    assert [line["valid"] for line in lines] == [False, False, True]
    assert lines[1] == {
        "address": "010203-xxxx@35833684.sms.digital-post.dk",
        "valid": False,
        "error": "unknown channel 'sms' (expected one of ngdp, mitdk, eboks)",
    }


def test_look_alike_digit_is_named() -> None:
    code, lines, _ = run("address", "explain", "０102031234@35833684.ngdp.digital-post.dk")
    assert code == 2
    assert "U+FF10 FULLWIDTH DIGIT ZERO" in lines[0]["error"]


def test_custom_gateway_domain() -> None:
    address = "0102031234@35833684.eboks.dp.kommune.dk"
    code, lines, _ = run("address", "explain", "--gateway-domain", "dp.kommune.dk", address)
    assert code == 0
    assert lines[0]["domain"] == "dp.kommune.dk"
    code, lines, _ = run("address", "explain", address)
    assert code == 2
    assert "not the gateway domain 'digital-post.dk'" in lines[0]["error"]


def test_bad_gateway_domain_option_exit_2() -> None:
    code, lines, output = run("address", "explain", "--gateway-domain", "not a domain", VALID_CPR)
    assert code == 2
    assert lines == []
    assert "invalid gateway domain" in output


def test_missing_address_is_a_usage_error() -> None:
    code, _, output = run("address", "explain")
    assert code == 2
    assert "ADDRESS" in output
