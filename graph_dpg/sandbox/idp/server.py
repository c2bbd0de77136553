"""Serve an ``IdpState`` over HTTPS on loopback (uvicorn in a background thread), like the Key Vault emulator.

HTTPS because msal refuses an authority that is not an https URL (msal.authority: "an https url with
hostname and a minimum of one segment in a path"); the certificate is the caller's (the sandbox CA's server
certificate).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn

from graph_dpg.sandbox.idp.app import IdpState, create_app


class RunningIdp:
    """A started emulator: ``authority`` is what msal is given (``https://127.0.0.1:PORT/{tenant}``)."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, port: int, state: IdpState) -> None:
        self._server = server
        self._thread = thread
        self.port = port
        self.state = state
        self.url = f"https://127.0.0.1:{port}"
        self.authority = f"{self.url}/{state.tenant}"

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
    state: IdpState,
    *,
    certfile: str | os.PathLike[str],
    keyfile: str | os.PathLike[str],
    port: int = 0,
    startup_timeout: float = 10.0,
) -> RunningIdp:
    """Start the emulator on 127.0.0.1 (``port=0``: a free port) and return once it accepts connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    state.base_url = f"https://127.0.0.1:{sock.getsockname()[1]}"
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
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="idp-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the identity provider emulator did not start")
        time.sleep(0.01)
    return RunningIdp(server, thread, sock.getsockname()[1], state)
