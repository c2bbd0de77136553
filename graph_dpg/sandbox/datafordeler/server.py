"""Serve an emulator's ASGI app on a real loopback socket (uvicorn in a background thread), over TLS and,
when ``ca_certs`` is given, with mutual TLS (``ssl.CERT_REQUIRED``: a client without a certificate issued
by that CA is refused during the handshake). Used by the Datafordeler and CVR emulators."""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from types import TracebackType
from typing import Any, Self

import uvicorn


class RunningApp:
    def __init__(self, server: uvicorn.Server, thread: threading.Thread, port: int, scheme: str) -> None:
        self._server = server
        self._thread = thread
        self.port = port
        self.url = f"{scheme}://127.0.0.1:{port}"

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
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    kwargs: dict[str, Any] = {}
    if certfile is not None:
        kwargs = {"ssl_certfile": os.fspath(certfile), "ssl_keyfile": os.fspath(keyfile or certfile)}
        if ca_certs is not None:
            kwargs |= {"ssl_ca_certs": os.fspath(ca_certs), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
        http="h11",
        **kwargs,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the {name} did not start")
        time.sleep(0.01)
    return RunningApp(server, thread, port, "https" if certfile is not None else "http")
