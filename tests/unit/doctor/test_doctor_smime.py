"""``doctor``: the organisation's S/MIME certificates, one line per certificate (files and Key Vault, the
latter through the emulator over HTTPS), which one signs, and a clear fix when Key Vault refuses access
(403 → the role "Key Vault Secrets User"; learn.microsoft.com/azure/key-vault/general/rest-error-codes,
learn.microsoft.com/azure/key-vault/general/rbac-guide)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from graph_dpg.adapters.graph import StaticTokenCredential
from graph_dpg.adapters.smime.keyvault import KeyVaultCertificates
from graph_dpg.config import load_gateway_file, load_settings
from graph_dpg.demo.scenario import DEMO_GATEWAY
from graph_dpg.diagnostics.doctor import Doctor, Status
from graph_dpg.sandbox.keyvault import RunningVault, VaultState
from tests import keyvault_support
from tests.keyvault_support import KV_TOKEN, pfx_b64
from tests.smime_pki import Pki, make_pki

# The Key Vault tests' shared fixtures (the emulator over HTTPS with its certificate).
tls, vault_token = keyvault_support.tls, keyvault_support.vault_token
vault_state, vault = keyvault_support.vault_state, keyvault_support.vault


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


async def check(vault: RunningVault, tls: tuple[Path, Path, Path], names: str, **settings: Any) -> Any:
    values: dict[str, Any] = {
        "credential_kind": "sandbox",
        "keyvault_url": vault.url,
        "smime_keyvault_certificates": names,
        **settings,
    }
    loaded = load_settings(env_file=None, **values)
    source = KeyVaultCertificates(
        vault.url,
        StaticTokenCredential(KV_TOKEN),
        loaded.smime_keyvault_certificates,
        connection_verify=str(tls[2]),
    )
    doctor = Doctor(loaded, load_gateway_file(DEMO_GATEWAY), keyvault=source)
    try:
        return await doctor.check_smime_certificates()
    finally:
        await source.aclose()
        await doctor.aclose()


async def test_a_line_per_key_vault_certificate_and_which_one_signs(
    vault_state: VaultState, vault: RunningVault, tls: tuple[Path, Path, Path], pki: Pki
) -> None:
    vault_state.set_secret("smime-a", pfx_b64(pki.org), content_type="application/x-pkcs12")
    vault_state.set_secret("smime-b", pfx_b64(pki.expired), content_type="application/x-pkcs12")

    result = await check(vault, tls, "smime-a,smime-b", smime_certificates=str(pki.org2.both))

    assert result.status is Status.OK
    lines = result.detail.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(str(pki.org2.both))
    assert lines[1].startswith("Key Vault smime-a/") and "Testkommune" in lines[1]
    assert lines[2].startswith("Key Vault smime-b/") and "(expired)" in lines[2]
    until = pki.org.cert.not_valid_after_utc.strftime("%Y-%m-%d")
    assert f"valid until {until}" in lines[1]
    # org and org2 expire together; the file is listed first and wins the tie: exactly one line signs.
    assert sum(line.endswith("; signs") for line in lines) == 1 and "signs" not in lines[2]


async def test_access_denied_names_the_role_to_grant(
    vault_state: VaultState, vault: RunningVault, tls: tuple[Path, Path, Path], pki: Pki
) -> None:
    vault_state.set_secret("smime-a", pfx_b64(pki.org), content_type="application/x-pkcs12")
    vault_state.forbidden = True

    result = await check(vault, tls, "smime-a")

    assert result.status is Status.FAIL
    assert "403" in result.detail
    assert "grant the gateway's identity 'Key Vault Secrets User' on the vault" in (result.fix or "")


async def test_a_missing_certificate_is_named(vault: RunningVault, tls: tuple[Path, Path, Path]) -> None:
    result = await check(vault, tls, "nope")
    assert result.status is Status.FAIL and "nope" in result.detail and "404" in result.detail


async def test_only_expired_certificates_fail_because_nothing_can_sign(
    vault_state: VaultState, vault: RunningVault, tls: tuple[Path, Path, Path], pki: Pki
) -> None:
    vault_state.set_secret("old", pfx_b64(pki.expired), content_type="application/x-pkcs12")
    result = await check(vault, tls, "old")
    assert result.status is Status.FAIL and "cannot be signed" in result.detail
    assert datetime.now(UTC) - pki.expired.cert.not_valid_after_utc < timedelta(days=2)
