"""Regression found by bench/chaos.py: a replica (re)started while PostgreSQL was restarting died with a
StoreError traceback from the migration in ``build_gateway``. ``graph-dpg run`` now waits for the database
with backoff (bounded), then gives up with one log line."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.engine import make_url

from graph_dpg.commands.run import build_when_database_answers
from graph_dpg.config import Settings, load_gateway_text, load_settings
from graph_dpg.core.errors import StoreError

GATEWAY = (
    'organisation: {cvr: "12345674", name: Testby}\nmain_mailbox: post@testby.dk\n'
    "monitoring_mailbox: drift@testby.dk\n"
)


def _settings(database_url: str) -> Settings:
    return load_settings(
        env_file=None,
        credential_kind="sandbox",
        graph_base_url="http://127.0.0.1:9/v1.0",
        ngdp_base_url="http://127.0.0.1:9/apis/v1",
        ngdp_system_id="3f9c1b2e-7a6d-4c1e-9b8f-5d2a7e0c4b11",
        ngdp_api_token="not-a-secret",
        database_url=database_url,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _OnWarning(logging.Handler):
    """Sets ``event`` when a warning is logged."""

    def __init__(self, event: threading.Event) -> None:
        super().__init__(logging.WARNING)
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        self.event.set()


@contextmanager
def late_proxy(port: int, target: tuple[str, int], up: threading.Event) -> Iterator[None]:
    """A TCP forwarder to ``target`` that starts listening on ``port`` only once ``up`` is set: a database
    that is down at first and then comes back."""
    stop = threading.Event()

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()

    def serve() -> None:
        up.wait()
        if stop.is_set():
            return
        with socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen()
            listener.settimeout(0.1)
            while not stop.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(target)
                threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
                threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        up.set()
        thread.join(timeout=5)


@pytest.mark.postgres
async def test_waits_until_the_database_answers(postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    real = make_url(postgres_url)
    port = _free_port()
    via_proxy = real.set(port=port).render_as_string(hide_password=False)
    # The database comes back when the gateway has said it is not reachable: ordered by that event, not
    # by a head start in seconds that a busy machine could overrun.
    up = threading.Event()
    watcher = _OnWarning(up)
    run_log = logging.getLogger("graph_dpg.run")
    run_log.addHandler(watcher)
    try:
        with late_proxy(port, (real.host or "127.0.0.1", real.port or 5432), up):
            with caplog.at_level(logging.WARNING, logger="graph_dpg.run"):
                gateway = await build_when_database_answers(
                    _settings(via_proxy), load_gateway_text(GATEWAY), patience_s=30
                )
            try:
                assert await asyncio.to_thread(gateway.store.live_replicas, 60) == []  # migrated, usable
            finally:
                await gateway.aclose()
    finally:
        run_log.removeHandler(watcher)
    assert any("database not reachable at start-up" in r.getMessage() for r in caplog.records)


async def test_gives_up_with_the_store_error_after_its_patience() -> None:
    nobody = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/test"
    with pytest.raises(StoreError):
        await build_when_database_answers(_settings(nobody), load_gateway_text(GATEWAY), patience_s=0.5)
