"""NgDP emulator: in-memory state, the REST v1 ASGI app, a loopback (m)TLS server and a throw-away PKI.

state = NgdpState()
state.register(cpr="0101801234")
with serve(state, TlsConfig(pki.server_cert, pki.server_key, pki.ca_cert)) as server:
    client = NgdpClient(server.base_url, state.system_id, state.api_token, ...)
"""

from graph_dpg.sandbox.ngdp.app import create_app
from graph_dpg.sandbox.ngdp.certs import CertificateAuthority, SandboxPki, generate_test_pki
from graph_dpg.sandbox.ngdp.pusher import NgdpPusher
from graph_dpg.sandbox.ngdp.sandbox import NgdpSandbox, in_process_client, start_ngdp_sandbox
from graph_dpg.sandbox.ngdp.server import RunningServer, TlsConfig, serve
from graph_dpg.sandbox.ngdp.state import AcceptedMemo, Fault, FaultPlan, NgdpState

__all__ = [
    "AcceptedMemo",
    "CertificateAuthority",
    "Fault",
    "FaultPlan",
    "NgdpPusher",
    "NgdpSandbox",
    "NgdpState",
    "RunningServer",
    "SandboxPki",
    "TlsConfig",
    "create_app",
    "generate_test_pki",
    "in_process_client",
    "serve",
    "start_ngdp_sandbox",
]
