"""The composition root and the runtime with the organisation's certificates in Key Vault: ``build_gateway``
reads GRAPH_DPG_KEYVAULT_URL / GRAPH_DPG_SMIME_KEYVAULT_CERTIFICATES with the gateway's own credential (the
sandbox token here), ``Runtime.refresh_keyvault`` (the ``smime_keyvault`` job) loads them and later picks up
a renewed version without a restart; incoming secure mail encrypted to either opens. Key Vault is the
emulator over HTTPS (graph_dpg/sandbox/keyvault), Graph and NgDP in-process; mail made with ``openssl cms``."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from graph_dpg.bootstrap import SANDBOX_GRAPH_TOKEN, Gateway, build_gateway
from graph_dpg.config import load_gateway_text, load_settings
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.runtime import Runtime, RuntimeOptions
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.keyvault import RunningVault, VaultState
from graph_dpg.sandbox.ngdp import NgdpState
from tests.keyvault_support import pfx_b64
from tests.smime_pki import Party, Pki, openssl

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")

GATEWAY_YAML = """
organisation: {cvr: "12345674", name: Testby Kommune}
main_mailbox: post@testby.dk
monitoring_mailbox: drift@testby.dk
function_mailboxes:
  - {address: a@testby.dk, cvrs: ["12345674"]}
"""
MAIN = "post@testby.dk"
TEXT = "Hej fra Byg og Miljø."


@pytest.fixture
def vault_token() -> str:
    return SANDBOX_GRAPH_TOKEN  # the sandbox credential's token: the same identity as Graph


@pytest.fixture
async def wired(
    vault: RunningVault, tls: tuple[Path, Path, Path], pki: Pki, tmp_path: Path
) -> AsyncIterator[tuple[Gateway, GraphTenant]]:
    settings = load_settings(
        env_file=None,
        graph_base_url="http://localhost/v1.0",
        database_url=f"sqlite:///{tmp_path / 's.db'}",
        keyvault_url=vault.url,
        smime_keyvault_certificates="smime-org",
        smime_trust_anchors=str(pki.ca.pem),
    )
    config = load_gateway_text(GATEWAY_YAML)
    tenant = GraphTenant()
    for address in config.mailboxes:
        tenant.add_mailbox(address)
    state = NgdpState(organisation_cvr="12345674")
    gateway = build_gateway(
        settings,
        config,
        graph_transport=httpx.ASGITransport(app=create_app(tenant)),
        ngdp_client=in_process_client(state),
        keyvault_connection_verify=str(tls[2]),
    )
    try:
        yield gateway, tenant
    finally:
        await gateway.aclose()


def deliver_encrypted(tenant: GraphTenant, to: Party, tmp_path: Path, subject: str) -> None:
    body = tmp_path / "body.txt"
    body.write_bytes(f"Content-Type: text/plain; charset=utf-8\r\n\r\n{TEXT}\r\n".encode())
    raw = openssl(
        "cms", "-encrypt", "-aes256", "-in", body, "-recip", to.pem,
        "-from", "byg@myndighed.dk", "-to", MAIN, "-subject", subject,
    )  # fmt: skip
    tenant.deliver_mime(MAIN, raw)


def opened(tenant: GraphTenant, subject: str) -> list[str]:
    return [
        m["body"]["content"]
        for m in tenant.messages(MAIN, "inbox")
        if m["subject"] == subject and "Sikker mail (S/MIME)" in m["body"]["content"]
    ]


async def test_keys_from_key_vault_open_mail_and_a_renewal_is_picked_up_without_restart(
    wired: tuple[Gateway, GraphTenant],
    vault_state: VaultState,
    pki: Pki,
    renewed: Party,
    tmp_path: Path,
) -> None:
    gateway, tenant = wired
    vault_state.set_secret("smime-org", pfx_b64(pki.org), content_type="application/x-pkcs12")
    runtime = Runtime(gateway, RuntimeOptions(start_http=False))
    assert gateway.keyring is not None and gateway.keyring.awaiting_vault

    await runtime.refresh_keyvault()

    deliver_encrypted(tenant, pki.org, tmp_path, "Sag 1")
    stats = await gateway.inbound.run_once(pull=False)  # type: ignore[union-attr]
    assert stats.errors == []
    [body] = opened(tenant, "Sag 1")
    assert TEXT in body and "Krypteret til certifikatet: Testkommune" in body

    vault_state.set_secret("smime-org", pfx_b64(renewed), content_type="application/x-pkcs12")
    await runtime.refresh_keyvault()

    assert gateway.keyring.signing_certificate(datetime.now(UTC)).certificate == renewed.cert  # type: ignore[union-attr]
    deliver_encrypted(tenant, renewed, tmp_path, "Sag 2")
    deliver_encrypted(tenant, pki.org, tmp_path, "Sag 3")  # last year's certificate still opens
    stats = await gateway.inbound.run_once(pull=False)  # type: ignore[union-attr]
    assert stats.errors == []
    assert TEXT in opened(tenant, "Sag 2")[0] and TEXT in opened(tenant, "Sag 3")[0]


async def test_an_unreachable_vault_keeps_the_last_good_keys(
    wired: tuple[Gateway, GraphTenant], vault_state: VaultState, pki: Pki, tmp_path: Path
) -> None:
    gateway, tenant = wired
    vault_state.set_secret("smime-org", pfx_b64(pki.org), content_type="application/x-pkcs12")
    runtime = Runtime(gateway, RuntimeOptions(start_http=False))
    await runtime.refresh_keyvault()
    vault_state.forbidden = True

    await runtime.refresh_keyvault()

    assert gateway.keyring is not None
    assert [c.certificate for c in gateway.keyring.certificates] == [pki.org.cert]
    assert runtime.tracker.state("smime keyvault").failing
    deliver_encrypted(tenant, pki.org, tmp_path, "Sag 4")
    stats = await gateway.inbound.run_once(pull=False)  # type: ignore[union-attr]
    assert stats.errors == [] and TEXT in opened(tenant, "Sag 4")[0]
