"""`graph-dpg doctor`'s "console" line: the console's sign-in settings complete, and the authority's OpenID
configuration answering (here the emulated Entra ID over TLS)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graph_dpg.config import load_gateway_file, load_settings
from graph_dpg.demo.scenario import DEMO_GATEWAY
from graph_dpg.diagnostics.doctor import CheckResult, Doctor, Status
from graph_dpg.sandbox.idp import IdpState, RunningIdp, serve
from tests.keyvault_support import tls_files

REDIRECT = "https://dpg.kommune.dk/console/auth/callback"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningIdp, Path]]:
    cert, key, ca = tls_files(tmp_path_factory.mktemp("doctor-idp"))
    with serve(IdpState("tenant-1", "client", "secret", (REDIRECT,)), certfile=cert, keyfile=key) as running:
        yield running, ca


async def _check(tmp_path: Path, **values: Any) -> CheckResult:
    cert = tmp_path / "oces3.pem"
    cert.write_text("placeholder")
    settings = load_settings(
        env_file=None,
        credential_kind="managed_identity",
        ngdp_system_id=str(uuid.uuid4()),
        ngdp_api_token="api-token",
        ngdp_certificate_path=cert,
        **values,
    )
    doctor = Doctor(settings, load_gateway_file(DEMO_GATEWAY))
    try:
        return await doctor.check_console()
    finally:
        await doctor.aclose()


def _console(authority: str, ca: Path) -> dict[str, Any]:
    return {
        "console_authority": authority,
        "console_client_id": "client",
        "console_client_secret": "secret",
        "console_redirect_uri": REDIRECT,
        "console_session_secret": "k" * 40,
        "console_ca_bundle": ca,
    }


async def test_a_complete_console_configuration_reaches_its_authority(tmp_path, idp) -> None:
    running, ca = idp
    result = await _check(tmp_path, **_console(running.authority, ca))
    assert result.status is Status.OK, result.detail
    assert f"issuer {running.authority}/v2.0" in result.detail


async def test_a_wrong_tenant_fails_with_what_the_authority_should_be(tmp_path, idp) -> None:
    running, ca = idp
    result = await _check(tmp_path, **_console(f"{running.url}/no-such-tenant", ca))
    assert result.status is Status.FAIL
    assert result.fix is not None
    assert "login.microsoftonline.com/<your tenant id>" in result.fix


async def test_a_partial_console_configuration_fails_naming_what_is_missing(tmp_path) -> None:
    result = await _check(tmp_path, console_client_id="client")
    assert result.status is Status.FAIL
    assert "GRAPH_DPG_CONSOLE_AUTHORITY is not set" in result.detail
