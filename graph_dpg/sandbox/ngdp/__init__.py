"""NgDP emulator: in-memory state, the REST v1 ASGI app, a loopback (m)TLS server and a throw-away PKI.

state = NgdpState()
state.register(cpr="0101801234")
with serve(state, TlsConfig(pki.server_cert, pki.server_key, pki.ca_cert)) as server:
    ...  # the gateway's NgdpClient is wired to it in graph_dpg.demo.ngdp
"""

from graph_dpg.sandbox.ngdp.app import create_app
from graph_dpg.sandbox.ngdp.certs import CertificateAuthority, SandboxPki, generate_test_pki
from graph_dpg.sandbox.ngdp.pusher import NgdpPusher
from graph_dpg.sandbox.ngdp.server import RunningServer, TlsConfig, serve
from graph_dpg.sandbox.ngdp.state import AcceptedMemo, Fault, FaultPlan, NgdpState

__all__ = [
    "AcceptedMemo",
    "CertificateAuthority",
    "Fault",
    "FaultPlan",
    "NgdpPusher",
    "NgdpState",
    "RunningServer",
    "SandboxPki",
    "TlsConfig",
    "create_app",
    "generate_test_pki",
    "serve",
]
