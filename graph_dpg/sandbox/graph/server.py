"""Serve a ``GraphTenant`` over a real loopback socket with uvicorn in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from graph_dpg.sandbox.graph.app import create_app
from graph_dpg.sandbox.graph.tenant import GraphTenant


@contextmanager
def serve(tenant: GraphTenant, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run the emulator until the block exits; yields the base URL ``http://HOST:PORT/v1.0``.

    ``port=0`` lets the OS pick a free port. Only loopback hosts are accepted: the emulator has no real
    authentication and must never be reachable from another machine.
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"the Graph emulator serves only on loopback, not on {host!r}")
    config = uvicorn.Config(create_app(tenant), host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="graph-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Graph emulator did not start")
        time.sleep(0.01)
    bound = port
    for srv in getattr(server, "servers", []):
        for sock in srv.sockets:
            bound = sock.getsockname()[1]
            break
    try:
        yield f"http://{host}:{bound}/v1.0"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
