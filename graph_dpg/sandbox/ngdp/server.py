"""Run the NgDP emulator on a real loopback socket (uvicorn in a background thread, ``sandbox.loopback``),
with mutual TLS when a ``TlsConfig`` is given: the server then requires a client certificate issued by
``ca_certs`` (``ssl.CERT_REQUIRED``), so a client without the right certificate is refused during the TLS
handshake.
"""

from __future__ import annotations

import os
import ssl
import threading
from dataclasses import dataclass

import uvicorn

from graph_dpg.sandbox.loopback import LoopbackServer, start_on_loopback
from graph_dpg.sandbox.ngdp.app import PREFIX, create_app
from graph_dpg.sandbox.ngdp.state import NgdpState


@dataclass(frozen=True)
class TlsConfig:
    certfile: str | os.PathLike[str]
    keyfile: str | os.PathLike[str]
    ca_certs: str | os.PathLike[str]  # CA whose client certificates are accepted
    require_client_cert: bool = True


class RunningServer(LoopbackServer):
    """A started emulator. ``base_url`` ends in ``/apis/v1``; ``stop()`` or leaving ``with`` shuts it down."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, port: int, scheme: str) -> None:
        super().__init__(server, thread, port)
        self.root_url = f"{scheme}://127.0.0.1:{port}"
        self.base_url = self.root_url + PREFIX


def serve(
    state: NgdpState, tls: TlsConfig | None = None, *, port: int = 0, startup_timeout: float = 10.0
) -> RunningServer:
    """Start the emulator on 127.0.0.1 (``port=0``: a free port) and return once it accepts connections."""
    options: dict[str, object] = {}
    if tls is not None:
        options = {
            "ssl_certfile": os.fspath(tls.certfile),
            "ssl_keyfile": os.fspath(tls.keyfile),
            "ssl_ca_certs": os.fspath(tls.ca_certs),
            "ssl_cert_reqs": ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_NONE,
        }
    server, thread, port = start_on_loopback(
        create_app(state), name="NgDP emulator", port=port, startup_timeout=startup_timeout, **options
    )
    return RunningServer(server, thread, port, "https" if tls is not None else "http")
