"""Serve an emulator's ASGI app on a real loopback socket (uvicorn in a background thread): the one set-up
the Key Vault and NgDP emulators share. Part of the emulators, so it imports nothing of the gateway.

Only 127.0.0.1: the emulators have no real authentication and must never be reachable from another machine.
"""

from __future__ import annotations

import socket
import threading
import time
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, Self

import uvicorn


class Stoppable(ABC):
    """Something started that ``with`` stops when the block is left (its ``stop()``)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop it; safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class LoopbackServer(Stoppable):
    """A started emulator on ``127.0.0.1:port``; ``stop()`` or leaving ``with`` shuts it down."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, port: int) -> None:
        self._server = server
        self._thread = thread
        self.port = port

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout / 2)
        if self._thread.is_alive():
            # Hanging emulated requests (e.g. NgDP's timeout_after_accept) must not block the caller.
            self._server.force_exit = True
            self._thread.join(timeout / 2)


def start_on_loopback(
    app: Any, *, name: str, port: int = 0, startup_timeout: float = 10.0, **ssl: Any
) -> tuple[uvicorn.Server, threading.Thread, int]:
    """Start ``app`` on 127.0.0.1 (``port=0``: a free port) in a daemon thread called ``name`` and return
    once it accepts connections: (the server, its thread, the bound port). ``ssl``: uvicorn's ``ssl_*``
    options (HTTPS, mutual TLS)."""
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so, and without it
    # Nagle + delayed ACK add ~40 ms to every response written in two parts (headers, body).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
        http="h11",
        **ssl,
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
    return server, thread, sock.getsockname()[1]
