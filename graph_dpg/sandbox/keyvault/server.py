"""Serve a ``VaultState`` over HTTPS on loopback (uvicorn in a background thread, ``sandbox.loopback``).

HTTPS because the Azure SDK refuses to send a bearer token over plain http (azure-core's
BearerTokenCredentialPolicy: "Bearer token authentication is not permitted for non-TLS protected (non-https)
URLs"); the certificate is the caller's (tests make one with ``trustme`` and pass its CA to the client).
"""

from __future__ import annotations

import os
import threading

import uvicorn

from graph_dpg.sandbox.keyvault.app import create_app
from graph_dpg.sandbox.keyvault.state import VaultState
from graph_dpg.sandbox.loopback import LoopbackServer, start_on_loopback


class RunningVault(LoopbackServer):
    """A started emulator: ``url`` is the vault URL (``https://127.0.0.1:PORT``)."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, port: int) -> None:
        super().__init__(server, thread, port)
        self.url = f"https://127.0.0.1:{port}"


def serve(
    state: VaultState,
    *,
    certfile: str | os.PathLike[str],
    keyfile: str | os.PathLike[str],
    port: int = 0,
    startup_timeout: float = 10.0,
) -> RunningVault:
    """Start the emulator on 127.0.0.1 (``port=0``: a free port) and return once it accepts connections."""
    started = start_on_loopback(
        create_app(state),
        name="Key Vault emulator",
        port=port,
        startup_timeout=startup_timeout,
        ssl_certfile=os.fspath(certfile),
        ssl_keyfile=os.fspath(keyfile),
    )
    return RunningVault(*started)
