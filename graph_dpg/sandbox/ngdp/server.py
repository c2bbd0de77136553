"""Run the NgDP emulator on a real loopback socket (uvicorn in a background thread), with mutual TLS when
a ``TlsConfig`` is given: the server then requires a client certificate issued by ``ca_certs``
(``ssl.CERT_REQUIRED``), so a client without the right certificate is refused during the TLS handshake.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import uvicorn

from graph_dpg.sandbox.ngdp.app import PREFIX, create_app
from graph_dpg.sandbox.ngdp.state import NgdpState


@dataclass(frozen=True)
class TlsConfig:
    certfile: str | os.PathLike[str]
    keyfile: str | os.PathLike[str]
    ca_certs: str | os.PathLike[str]  # CA whose client certificates are accepted
    require_client_cert: bool = True


class RunningServer:
    """A started emulator. ``base_url`` ends in ``/apis/v1``; ``stop()`` or leaving ``with`` shuts it down."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, port: int, scheme: str) -> None:
        self._server = server
        self._thread = thread
        self.port = port
        self.root_url = f"{scheme}://127.0.0.1:{port}"
        self.base_url = self.root_url + PREFIX

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout / 2)
        if self._thread.is_alive():
            # Hanging emulated requests (timeout_after_accept) must not block the test run.
            self._server.force_exit = True
            self._thread.join(timeout / 2)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(
    state: NgdpState, tls: TlsConfig | None = None, *, port: int = 0, startup_timeout: float = 10.0
) -> RunningServer:
    """Start the emulator on 127.0.0.1 (``port=0``: a free port) and return once it accepts connections."""
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so, and without it
    # Nagle + delayed ACK add ~40 ms to every response written in two parts (headers, body).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    actual_port = sock.getsockname()[1]
    kwargs: dict[str, object] = {}
    if tls is not None:
        kwargs = {
            "ssl_certfile": os.fspath(tls.certfile),
            "ssl_keyfile": os.fspath(tls.keyfile),
            "ssl_ca_certs": os.fspath(tls.ca_certs),
            "ssl_cert_reqs": ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_NONE,
        }
    config = uvicorn.Config(
        create_app(state),
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
        http="h11",
        **kwargs,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="ngdp-emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the NgDP emulator did not start")
        time.sleep(0.01)
    return RunningServer(server, thread, actual_port, "https" if tls is not None else "http")
