"""Secrets never reach a log line, an exception text or the CLI's output (issue 10, security review).

Real code paths with secret values: settings loading (valid and invalid, and ``check-config``), the NgDP
client (Basic system credentials) against the NgDP emulator, and the Graph adapter (Bearer token) against
the Graph emulator, each also with a wrong credential so the error paths log too. Every captured line is
searched for the secrets and for the Authorization header values derived from them.
"""

from __future__ import annotations

import base64
import io
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from graph_dpg.adapters.digital_post.client import NgdpClient
from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.cli import main as cli_main
from graph_dpg.config import load_settings
from graph_dpg.core.errors import AuthError, ConfigError, GraphDpgError
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.sandbox.ngdp.app import create_app as create_ngdp_app

EXAMPLE_GATEWAY = Path(__file__).resolve().parents[2] / "examples" / "gateway.yaml"
CLIENT_SECRET = "cs~Sup3rS3cret.4f1a9e"
NGDP_TOKEN = "ngdp-T0ken-9c2e51d7"
PUSH_TOKEN = "push-Secr3t-77b0c3"
CERT_PASSWORD = "certpw-1b2c3d4e"
P12_PASSWORD = "p12pw-8d7e6f5a"
GRAPH_TOKEN = "eyJhbGciOiJub25lIn0.graph-bearer-5e6f7a"
SYSTEM_ID = "a8c2e3f4-1111-4222-8333-944455556666"
SECRETS = [CLIENT_SECRET, NGDP_TOKEN, PUSH_TOKEN, CERT_PASSWORD, P12_PASSWORD, GRAPH_TOKEN]


def forbidden() -> list[str]:
    """The secrets and every header value an HTTP client derives from them."""
    basic = [
        base64.b64encode(f"{SYSTEM_ID}:{t}".encode()).decode() for t in (NGDP_TOKEN, "wrong-" + NGDP_TOKEN)
    ]
    return [*SECRETS, "wrong-" + GRAPH_TOKEN, *basic, f"Bearer {GRAPH_TOKEN}"]


def assert_clean(*texts: str) -> None:
    for text in texts:
        for secret in forbidden():
            assert secret not in text, f"secret {secret[:6]}... found in: {text[:300]!r}"


def _pkcs12(password: str) -> bytes:
    """A self-signed OCES3 stand-in, protected by ``password`` (check-config opens it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sandbox Kommune - NgDP")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return pkcs12.serialize_key_and_certificates(
        b"oces3", key, cert, None, serialization.BestAvailableEncryption(password.encode())
    )


def _env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"GRAPH_DPG_{name.upper()}", value)


def test_settings_loading_and_check_config_show_no_secret(
    captured_log: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    certificate = tmp_path / "oces3.p12"
    certificate.write_bytes(_pkcs12(P12_PASSWORD))
    _env(
        monkeypatch,
        tenant_id="contoso.onmicrosoft.com",
        client_id="2f1b6a52-3c3d-4e4f-8a5b-6c7d8e9f0a1b",
        credential_kind="client_secret",
        client_secret=CLIENT_SECRET,
        ngdp_system_id=SYSTEM_ID,
        ngdp_api_token=NGDP_TOKEN,
        push_token=PUSH_TOKEN,
        client_certificate_password=CERT_PASSWORD,
        ngdp_certificate_password=P12_PASSWORD,
        ngdp_certificate_path=str(certificate),
    )
    settings = load_settings(env_file=None)
    assert settings.client_secret is not None
    assert settings.client_secret.get_secret_value() == CLIENT_SECRET  # the values did load
    log = logging.getLogger("graph_dpg.test")
    log.info("settings loaded: %s", settings)
    log.debug("summary %s", settings.summary())
    assert_clean(repr(settings), str(settings.summary()))

    code = cli_main(["check-config", str(EXAMPLE_GATEWAY)])
    out, err = capsys.readouterr()
    assert code in (0, 2)
    assert "GRAPH_DPG_CLIENT_SECRET" in out + err  # the summary names the setting ...
    assert_clean(out, err, captured_log.getvalue())  # ... but never shows its value

    # Invalid settings: the problems list every field, never a secret's value.
    _env(monkeypatch, credential_kind="certificate", ngdp_timeout_seconds="not-a-number")
    with pytest.raises(ConfigError) as exc:
        load_settings(env_file=None, client_secret=CLIENT_SECRET + "\x00")
    assert exc.value.problems
    assert_clean(str(exc.value), *exc.value.problems, captured_log.getvalue())


async def test_ngdp_client_logs_no_basic_credentials(captured_log: io.StringIO) -> None:
    state = NgdpState(system_id=SYSTEM_ID, api_token=NGDP_TOKEN)
    state.register(cpr="0101701234")
    async with in_process_client(state) as client:
        assert await client.list_memos() == []
        assert await client.lookup_contact(cpr="0101701234") is not None
        await client.list_receipts()
    wrong = NgdpClient(
        "http://ngdp.sandbox/apis/v1",
        SYSTEM_ID,
        "wrong-" + NGDP_TOKEN,
        transport=httpx.ASGITransport(app=create_ngdp_app(state)),
        backoff_base=0.001,
        backoff_max=0.01,
    )
    async with wrong:
        with pytest.raises(AuthError) as exc:
            await wrong.list_memos()
    assert "DEBUG" in captured_log.getvalue().upper()  # DEBUG records were written
    assert_clean(str(exc.value), repr(exc.value), captured_log.getvalue(), repr(wrong), str(vars(wrong)))


async def test_graph_mailbox_logs_no_bearer_token(captured_log: io.StringIO) -> None:
    tenant = GraphTenant(GRAPH_TOKEN)
    tenant.add_mailbox("post@kommune.dk", "Post")
    tenant.put_sent_message("post@kommune.dk", "Brev", "<p>x</p>", to=[("", "a@b.dk")])
    app = create_app(tenant)

    async def run(token: str) -> None:
        mailbox = GraphMailbox(
            StaticTokenCredential(token),
            "http://127.0.0.1/v1.0",
            transport=httpx.ASGITransport(app=app),
            retry=RetryPolicy.fast(),
        )
        async with mailbox:
            delta = await mailbox.read_delta("post@kommune.dk", "sentitems", None)
            assert delta.messages

    await run(GRAPH_TOKEN)
    assert_clean(repr(StaticTokenCredential(GRAPH_TOKEN)))
    with pytest.raises(GraphDpgError) as exc:
        await run("wrong-" + GRAPH_TOKEN)
    assert captured_log.getvalue()
    assert_clean(str(exc.value), repr(exc.value), captured_log.getvalue())
