"""The composition root wires secure mail from the settings: GRAPH_DPG_SMIME_CERTIFICATES (a PKCS#12 file and
a PEM file with key and certificate, during a rollover both at once; one password from
GRAPH_DPG_SMIME_CERTIFICATE_PASSWORD) and GRAPH_DPG_SMIME_TRUST_ANCHORS (PEM). Built by ``build_gateway``
on the Graph and NgDP emulators in-process; the messages are made with ``openssl cms``."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from graph_dpg.bootstrap import Gateway, build_gateway
from graph_dpg.config import load_gateway_text, load_settings
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.ngdp import NgdpState
from tests.smime_pki import P12_PASSWORD, Pki, make_pki, openssl

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")

GATEWAY_YAML = """
organisation: {cvr: "12345674", name: Testby Kommune}
main_mailbox: post@testby.dk
monitoring_mailbox: drift@testby.dk
function_mailboxes:
  - {address: a@testby.dk, cvrs: ["12345674"]}
"""
CPR = "0101801234"
MAIN = "post@testby.dk"
SENDER = "a@testby.dk"
TEXT = "Hej fra Byg og Miljø."


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@asynccontextmanager
async def _wire(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Gateway, GraphTenant, NgdpState]]:
    monkeypatch.setenv("GRAPH_DPG_SMIME_CERTIFICATES", f"{pki.org.p12},{pki.org2.both}")
    monkeypatch.setenv("GRAPH_DPG_SMIME_CERTIFICATE_PASSWORD", P12_PASSWORD)
    monkeypatch.setenv("GRAPH_DPG_SMIME_TRUST_ANCHORS", str(pki.ca.pem))
    settings = load_settings(
        env_file=None, graph_base_url="http://localhost/v1.0", database_url=f"sqlite:///{tmp_path / 's.db'}"
    )
    assert settings.smime_certificates == [pki.org.p12, pki.org2.both]
    config = load_gateway_text(GATEWAY_YAML)
    tenant = GraphTenant()
    for address in config.mailboxes:
        tenant.add_mailbox(address)
    state = NgdpState(organisation_cvr="12345674")
    state.register(cpr=CPR)
    gateway = build_gateway(
        settings,
        config,
        graph_transport=httpx.ASGITransport(app=create_app(tenant)),
        ngdp_client=in_process_client(state),
    )
    try:
        yield gateway, tenant, state
    finally:
        await gateway.aclose()


@pytest.fixture
async def wired(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Gateway, GraphTenant, NgdpState]]:
    async with _wire(pki, tmp_path, monkeypatch) as rig:
        yield rig


def _body(tmp_path: Path) -> Path:
    path = tmp_path / "body.txt"
    path.write_bytes(f"Content-Type: text/plain; charset=utf-8\r\n\r\n{TEXT}\r\n".encode())
    return path


@pytest.mark.parametrize("key", ["org", "org2"], ids=["pkcs12", "pem"])
async def test_configured_certificates_decrypt_an_incoming_secure_mail_end_to_end(
    wired: tuple[Gateway, GraphTenant, NgdpState], pki: Pki, tmp_path: Path, key: str
) -> None:
    gateway, tenant, _ = wired
    signer = pki.org2
    signed = tmp_path / "signed.eml"
    signed.write_bytes(
        openssl(
            "cms",
            "-sign",
            "-nodetach",
            "-in",
            _body(tmp_path),
            "-signer",
            signer.pem,
            "-inkey",
            signer.key_pem,
        )
    )
    recipient = getattr(pki, key)
    raw = openssl(
        "cms", "-encrypt", "-aes256", "-in", signed, "-recip", recipient.pem,
        "-from", "byg@myndighed.dk", "-to", MAIN, "-subject", "Sikker mail",
    )  # fmt: skip
    tenant.deliver_mime(MAIN, raw)

    stats = await gateway.inbound.run_once(pull=False)

    assert stats.errors == []
    [copy] = [m for m in tenant.messages(MAIN, "inbox") if "Sikker mail (S/MIME)" in m["body"]["content"]]
    body = copy["body"]["content"]
    assert TEXT in body
    assert "Krypteret til certifikatet: Testkommune" in body
    assert "signaturen er gyldig" in body  # the configured trust anchor is used


async def test_the_outbound_service_built_there_unwraps_a_signed_mail_in_sent_items(
    wired: tuple[Gateway, GraphTenant, NgdpState], pki: Pki, tmp_path: Path
) -> None:
    gateway, tenant, state = wired
    raw = openssl(
        "cms", "-sign", "-in", _body(tmp_path), "-signer", pki.org2.pem, "-inkey", pki.org2.key_pem,
        "-from", SENDER, "-to", f"{CPR}@12345674.ngdp.digital-post.dk", "-subject", "Signeret brev",
    )  # fmt: skip
    tenant.deliver_mime(SENDER, raw, folder="sentitems", sent=True)

    await gateway.outbound.run_once()

    [memo] = state.accepted
    assert memo.summary.recipient_id == CPR
    [receipt] = [m for m in tenant.messages(SENDER, "inbox") if m["subject"].startswith("DPG ")]
    assert "signaturen er gyldig" in receipt["body"]["content"]


async def test_the_organisation_only_setting_reaches_the_opener(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPH_DPG_SMIME_ORGANISATION_ONLY", "true")
    async with _wire(pki, tmp_path, monkeypatch) as (gateway, tenant, state):
        raw = openssl(
            "cms", "-sign", "-in", _body(tmp_path), "-signer", pki.employee.pem, "-inkey", pki.employee.key_pem,
            "-from", SENDER, "-to", f"{CPR}@12345674.ngdp.digital-post.dk", "-subject", "Medarbejdersigneret",
        )  # fmt: skip
        tenant.deliver_mime(SENDER, raw, folder="sentitems", sent=True)

        await gateway.outbound.run_once()

        assert len(state.accepted) == 1  # the letter carries no signature: sent, and the receipt says so
        [receipt] = [m for m in tenant.messages(SENDER, "inbox") if m["subject"].startswith("DPG ")]
        assert "signaturen accepteres ikke" in receipt["body"]["content"]
