"""Serve an emulator's ASGI app on a real loopback socket (``sandbox/loopback.py``), over TLS and, when
``ca_certs`` is given, with mutual TLS (``ssl.CERT_REQUIRED``: a client without a certificate issued by that
CA is refused during the handshake). Used by the Datafordeler and CVR emulators."""

from __future__ import annotations

import os
import ssl
from typing import Any

from graph_dpg.sandbox.loopback import LoopbackServer, start_on_loopback


class RunningApp(LoopbackServer):
    """A started emulator; ``url`` is its base address."""

    def __init__(self, started: LoopbackServer, scheme: str) -> None:
        super().__init__(started._server, started._thread, started.port)
        self.url = f"{scheme}://127.0.0.1:{self.port}"


def serve_app(
    app: Any,
    *,
    certfile: str | os.PathLike[str] | None = None,
    keyfile: str | os.PathLike[str] | None = None,
    ca_certs: str | os.PathLike[str] | None = None,
    name: str = "emulator",
    startup_timeout: float = 10.0,
) -> RunningApp:
    """Start ``app`` on 127.0.0.1 (a free port); https when ``certfile`` is given, mutual TLS with
    ``ca_certs``."""
    tls: dict[str, Any] = {}
    if certfile is not None:
        tls = {"ssl_certfile": os.fspath(certfile), "ssl_keyfile": os.fspath(keyfile or certfile)}
        if ca_certs is not None:
            tls |= {"ssl_ca_certs": os.fspath(ca_certs), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    server, thread, port = start_on_loopback(app, name=name, startup_timeout=startup_timeout, **tls)
    return RunningApp(LoopbackServer(server, thread, port), "https" if certfile is not None else "http")
