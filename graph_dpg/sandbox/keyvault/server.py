"""Serve a ``VaultState`` over HTTPS on loopback (uvicorn in a background thread).

HTTPS because the Azure SDK refuses to send a bearer token over plain http (azure-core's
BearerTokenCredentialPolicy: "Bearer token authentication is not permitted for non-TLS protected (non-https)
URLs"); the certificate is the caller's (tests make one with ``trustme`` and pass its CA to the client).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn

from graph_dpg.sandbox.keyvault.app import create_app
from graph_dpg.sandbox.keyvault.state import VaultState


class RunningVault:
    """A started emulator: ``url`` is the vault URL (``https://127.0.0.1:PORT``)."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, port: int) -> None:
        self._server = server
        self._thread = thread
        self.port = port
        self.url = f"https://127.0.0.1:{port}"

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout / 2)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout / 2)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(
    state: VaultState,
    *,
    certfile: str | os.PathLike[str],
    keyfile: str | os.PathLike[str],
    port: int = 0,
    startup_timeout: float = 10.0,
) -> RunningVault:
    """Start the emulator on 127.0.0.1 (``port=0``: a free port) and return once it accepts connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        create_app(state),
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
        http="h11",
        ssl_certfile=os.fspath(certfile),
        ssl_keyfile=os.fspath(keyfile),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="keyvault-emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the Key Vault emulator did not start")
        time.sleep(0.01)
    return RunningVault(server, thread, sock.getsockname()[1])
