"""`graph-dpg address explain --lookup` shows the names the registers give the recipient and the CVR
sender (issue 20), from the settings, here pointed at the Datafordeler and CVR emulators."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph_dpg.cli import main
from graph_dpg.demo.names import NameSandbox, name_sandbox
from graph_dpg.sandbox.ngdp import generate_test_pki


@pytest.fixture
def names_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NameSandbox]:
    pki = generate_test_pki(tmp_path / "pki")
    with name_sandbox(pki) as sandbox:
        for key, value in sandbox.settings.items():
            monkeypatch.setenv(f"GRAPH_DPG_{key.upper()}", str(value))
        monkeypatch.chdir(tmp_path)
        yield sandbox


def test_names_of_recipient_and_sender(names_env: NameSandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "address",
            "explain",
            "--lookup",
            "0101708881@12345674.ngdp.digital-post.dk",
            "0202804442-reply@13748136.ngdp.digital-post.dk",
            "masseforsendelse-2@12345674.ngdp.digital-post.dk",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    first, second, mass = (json.loads(line) for line in out.out.splitlines())
    assert (first["recipient_name"], first["recipient_name_status"]) == ("Jens Hansen", "active")
    assert (first["sender_name"], first["sender_name_status"]) == ("Eksempel Handel ApS", "active")
    assert (second["recipient_name"], second["recipient_name_status"]) == (None, "protected")
    assert (second["sender_name"], second["sender_name_status"]) == (None, "inactive")
    assert mass["recipient_name_status"] is None
    assert "0101708881" not in out.out and "0202804442" not in out.out


def test_without_lookup_no_name_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["address", "explain", "0101708881@12345674.ngdp.digital-post.dk"]) == 0
    assert "recipient_name" not in json.loads(capsys.readouterr().out)
