"""A configured tenant for the doctor: the Graph emulator in-process, the NgDP emulator over mutual TLS on
127.0.0.1, a migrated SQLite database; each test breaks one thing and looks at the doctor's verdict."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from graph_dpg.adapters.store import create_store
from graph_dpg.commands.doctor import seed
from graph_dpg.config import GatewayConfig, Settings, load_gateway_file, load_settings
from graph_dpg.demo.scenario import DEMO_GATEWAY
from graph_dpg.diagnostics.doctor import CheckResult, Doctor
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.ngdp import (
    CertificateAuthority,
    NgdpState,
    RunningServer,
    TlsConfig,
    serve,
)

GRAPH_URL = "http://127.0.0.1:9/v1.0"  # in-process: the ASGI transport never opens this port


@dataclass
class DoctorEnv:
    tmp: Path
    config: GatewayConfig
    tenant: GraphTenant
    state: NgdpState
    ca: CertificateAuthority
    ca_cert: Path
    server: RunningServer
    client_cert: Path
    database_url: str
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        values: dict[str, Any] = {
            "credential_kind": "sandbox",
            "graph_base_url": GRAPH_URL,
            "ngdp_base_url": self.server.base_url,
            "ngdp_system_id": self.state.system_id,
            "ngdp_api_token": self.state.api_token,
            "ngdp_certificate_path": self.client_cert,
            "ngdp_ca_bundle": self.ca_cert,
            "database_url": self.database_url,
            **self.overrides,
        }
        return load_settings(env_file=None, **values)

    def doctor(self, **kwargs: Any) -> Doctor:
        kwargs.setdefault("graph_transport", httpx.ASGITransport(app=create_app(self.tenant)))
        return Doctor(self.settings, self.config, **kwargs)

    async def run(self, **kwargs: Any) -> dict[str, CheckResult]:
        doctor = self.doctor(**kwargs)
        try:
            results = await doctor.run()
        finally:
            await doctor.aclose()
        return {r.name: r for r in results}

    def client_certificate(self, *, days: int = 365, not_before: datetime | None = None) -> Path:
        """A client certificate from the emulator's CA (PEM with its key); ``not_before`` in the past and
        a short ``days`` make an expired one."""
        key = ec.generate_private_key(ec.SECP256R1())
        start = not_before or datetime.now(UTC) - timedelta(minutes=5)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.config.organisation.name),
                x509.NameAttribute(NameOID.COMMON_NAME, "doctor test system"),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(self.ca.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.ca.key, hashes.SHA256())
        )
        path = self.tmp / f"client-{days}-{start:%Y%m%d%H%M%S}.pem"
        path.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return path


@contextmanager
def make_env(
    tmp: Path, config: GatewayConfig, *, absent: frozenset[str] = frozenset()
) -> Iterator[DoctorEnv]:
    """The tenant of ``config``, set up, except for the mailboxes in ``absent``."""
    tenant = GraphTenant()
    for address in config.mailboxes:
        if address not in absent:
            tenant.add_mailbox(address)
    state = NgdpState(organisation_cvr=config.organisation.cvr, organisation_name=config.organisation.name)
    for cp in config.contact_points:
        state.add_contact_point(cp.id, cp.name)
    seed(tenant, state, config)
    pki = tmp / "pki"
    pki.mkdir()
    ca = CertificateAuthority()
    ca_cert, _ = ca.write_ca(pki)
    server_cert, server_key = ca.issue_server(pki)
    database_url = f"sqlite:///{tmp / 'graph-dpg.db'}"
    create_store(database_url).close()
    server = serve(state, TlsConfig(server_cert, server_key, ca_cert))
    try:
        env = DoctorEnv(tmp, config, tenant, state, ca, ca_cert, server, tmp / "unset", database_url)
        env.client_cert = env.client_certificate()
        yield env
    finally:
        # Without waiting: uvicorn polls for the stop flag and takes 0.1-0.3 s to wind down, which no
        # test depends on; the next test starts meanwhile, on a port of its own.
        threading.Thread(target=server.stop, name="ngdp-emulator-stop", daemon=True).start()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DoctorEnv]:
    with make_env(tmp_path, load_gateway_file(DEMO_GATEWAY)) as made:
        yield made


def fake_jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"
