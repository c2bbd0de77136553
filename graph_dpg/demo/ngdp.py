"""One call to get a running NgDP emulator with mutual TLS and the parameters for ``NgdpClient``: what the
sandbox demo and black-box tests need.

    sandbox = start_ngdp_sandbox(workdir)
    client = NgdpClient(**sandbox.client_kwargs())
    ...
    sandbox.stop()

For service tests without sockets, ``in_process_client(state)`` wires the real client to the emulator
through httpx's ASGI transport (connection-level faults then surface as ``httpx.RemoteProtocolError``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from graph_dpg.adapters.digital_post.client import NgdpClient
from graph_dpg.sandbox.loopback import Stoppable
from graph_dpg.sandbox.ngdp.app import create_app
from graph_dpg.sandbox.ngdp.certs import SandboxPki, generate_test_pki
from graph_dpg.sandbox.ngdp.server import RunningServer, TlsConfig, serve
from graph_dpg.sandbox.ngdp.state import NgdpState


@dataclass
class NgdpSandbox(Stoppable):
    state: NgdpState
    server: RunningServer
    pki: SandboxPki | None

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``graph_dpg.adapters.digital_post.NgdpClient``."""
        kwargs: dict[str, Any] = {
            "base_url": self.server.base_url,
            "system_id": self.state.system_id,
            "api_token": self.state.api_token,
            "organisation_id": self.state.organisation_id,
        }
        if self.pki is not None:
            kwargs.update(
                cert_file=self.pki.client.cert, key_file=self.pki.client.key, ca_bundle=self.pki.ca_cert
            )
        return kwargs

    def stop(self) -> None:
        self.server.stop()


def start_ngdp_sandbox(
    directory: str | os.PathLike[str], *, state: NgdpState | None = None, tls: bool = True, port: int = 0
) -> NgdpSandbox:
    """Generate a throw-away PKI in ``directory`` (when ``tls``) and serve ``state`` on 127.0.0.1."""
    state = state or NgdpState()
    pki = generate_test_pki(Path(directory)) if tls else None
    config = TlsConfig(pki.server_cert, pki.server_key, pki.ca_cert) if pki is not None else None
    return NgdpSandbox(state, serve(state, config, port=port), pki)


def in_process_client(state: NgdpState, **overrides: Any) -> NgdpClient:
    """The real ``NgdpClient`` talking to the emulator in-process (no TLS, no socket)."""
    params: dict[str, Any] = {"backoff_base": 0.001, "backoff_max": 0.01}
    params.update(overrides)
    return NgdpClient(
        "http://ngdp.sandbox/apis/v1",
        state.system_id,
        state.api_token,
        organisation_id=state.organisation_id,
        transport=httpx.ASGITransport(app=create_app(state)),
        **params,
    )
