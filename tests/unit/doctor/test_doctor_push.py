"""`graph-dpg doctor`'s "ngdp push" line: words for IT when push is enabled but nothing identifies NgDP."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from graph_dpg.config import load_gateway_file, load_settings
from graph_dpg.demo.scenario import DEMO_GATEWAY
from graph_dpg.diagnostics.doctor import CheckResult, Doctor, Status

THUMB = "ab" * 32


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
        return await doctor.check_push()
    finally:
        await doctor.aclose()


async def test_push_with_only_a_token_fails_with_what_to_set(tmp_path: Path) -> None:
    result = await _check(tmp_path, push_token="a-secret-ngdp-never-sends")
    assert result.status is Status.FAIL
    assert "will not be served" in result.detail and "NgDP presents no token" in result.detail
    assert result.fix is not None
    for setting in ("GRAPH_DPG_PUSH_CLIENT_THUMBPRINTS", "GRAPH_DPG_PUSH_ALLOWED_IPS", "infra/README.md §6"):
        assert setting in result.fix
    assert "a-secret-ngdp-never-sends" not in result.detail + result.fix


async def test_certificate_and_address_are_ok(tmp_path: Path) -> None:
    result = await _check(
        tmp_path,
        push_client_thumbprints=THUMB,
        push_forwarded_client_cert=True,
        push_allowed_ips="198.51.100.0/28",
        push_proxy_hops=1,
    )
    assert result.status is Status.OK
    assert "1 SHA-256 thumbprint(s)" in result.detail and "1 proxy hop(s)" in result.detail


async def test_certificate_without_address_is_a_warning(tmp_path: Path) -> None:
    result = await _check(tmp_path, push_client_thumbprints=THUMB, push_forwarded_client_cert=True)
    assert result.status is Status.WARN
    assert result.fix is not None and "GRAPH_DPG_PUSH_ALLOWED_IPS" in result.fix


async def test_an_unreadable_ca_file_fails(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    result = await _check(
        tmp_path,
        push_client_ca_file=bad,
        push_client_subject="O=Digitaliseringsstyrelsen",
        push_forwarded_client_cert=True,
    )
    assert result.status is Status.FAIL
    assert "GRAPH_DPG_PUSH_CLIENT_CA_FILE" in result.detail
