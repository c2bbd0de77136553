"""``check-config`` in process: the OCES3 certificate is loaded as the NgDP client loads it (PEM or
PKCS#12), wrong passwords and expired certificates are problems, days left are shown."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from graph_dpg.commands.config import check_config
from graph_dpg.sandbox.ngdp.certs import CertificateAuthority

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "gateway.yaml"
P12_PASSWORD = "p12-Kodeord-7"
APP_SECRET = "app-secret-value-42"


def configure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, certificate: Path, password: str | None
) -> None:
    app_cert = tmp_path / "app.pem"
    app_cert.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {
        "GRAPH_DPG_CREDENTIAL_KIND": "client_secret",
        "GRAPH_DPG_TENANT_ID": "contoso.onmicrosoft.com",
        "GRAPH_DPG_CLIENT_ID": "8f1b3c6e-7d2a-4b9c-9e0f-1a2b3c4d5e6f",
        "GRAPH_DPG_CLIENT_SECRET": APP_SECRET,
        "GRAPH_DPG_NGDP_SYSTEM_ID": "system-1",
        "GRAPH_DPG_NGDP_API_TOKEN": APP_SECRET,
        "GRAPH_DPG_NGDP_CERTIFICATE_PATH": str(certificate),
    }
    if password is not None:
        env["GRAPH_DPG_NGDP_CERTIFICATE_PASSWORD"] = password
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def run() -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = check_config(str(EXAMPLE), None, out, err)
    assert APP_SECRET not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def authority() -> CertificateAuthority:
    return CertificateAuthority()


def test_pkcs12_with_the_right_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, authority: CertificateAuthority
) -> None:
    client = authority.issue_client(tmp_path, days=400, p12_password=P12_PASSWORD)
    configure(monkeypatch, tmp_path, client.p12, P12_PASSWORD)
    code, out, err = run()
    assert code == 0, err
    assert "NgDP certificate: " in out and "Sandbox Kommune" in out
    assert "(399 days left)" in out or "(400 days left)" in out
    assert "renew" not in out
    assert P12_PASSWORD not in out


def test_pkcs12_with_a_wrong_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, authority: CertificateAuthority
) -> None:
    client = authority.issue_client(tmp_path, p12_password=P12_PASSWORD)
    configure(monkeypatch, tmp_path, client.p12, "wrong-password")
    code, _, err = run()
    assert code == 2
    assert "GRAPH_DPG_NGDP_CERTIFICATE_PATH: " in err
    assert "wrong password" in err
    assert "wrong-password" not in err


def test_pem_with_the_key_in_the_same_file_and_a_renewal_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, authority: CertificateAuthority
) -> None:
    client = authority.issue_client(tmp_path, days=10)
    combined = tmp_path / "oces3.pem"
    combined.write_bytes(client.cert.read_bytes() + client.key.read_bytes())
    configure(monkeypatch, tmp_path, combined, None)
    code, out, err = run()
    assert code == 0, err
    assert "days left) - renew it now" in out


def test_pem_without_a_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, authority: CertificateAuthority
) -> None:
    client = authority.issue_client(tmp_path)
    configure(monkeypatch, tmp_path, client.cert, None)
    code, _, err = run()
    assert code == 2
    assert "GRAPH_DPG_NGDP_CERTIFICATE_PATH: the NgDP private key cannot be loaded" in err


def test_expired_certificate_is_a_problem(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, authority: CertificateAuthority
) -> None:
    client = authority.issue_client(tmp_path, days=0, p12_password=P12_PASSWORD)
    configure(monkeypatch, tmp_path, client.p12, P12_PASSWORD)
    code, _, err = run()
    assert code == 2
    assert f"GRAPH_DPG_NGDP_CERTIFICATE_PATH: the certificate expired on {client.not_after:%Y-%m-%d}" in err


def test_sandbox_needs_no_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPH_DPG_NGDP_SYSTEM_ID", "system-1")
    monkeypatch.setenv("GRAPH_DPG_NGDP_API_TOKEN", APP_SECRET)
    code, out, err = run()
    assert code == 0, err
    assert "NgDP certificate" not in out


def test_sandbox_without_ngdp_credentials_is_invalid_as_run_would_find() -> None:
    code, out, err = run()
    assert code == 2 and out == ""
    assert "GRAPH_DPG_NGDP_SYSTEM_ID: required to talk to NgDP" in err
