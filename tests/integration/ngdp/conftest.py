"""Client ↔ emulator over real TLS on 127.0.0.1, the server requiring a client certificate from a test CA."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from graph_dpg.adapters.digital_post import NgdpClient
from graph_dpg.sandbox.ngdp import NgdpState, RunningServer, SandboxPki, TlsConfig, generate_test_pki, serve


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPki:
    return generate_test_pki(tmp_path_factory.mktemp("ngdp-pki"))


@pytest.fixture
def state() -> NgdpState:
    """Overridden by test modules that need registrations."""
    return NgdpState(hang_seconds=0.5, seed=7)


@pytest.fixture
def server(state: NgdpState, pki: SandboxPki) -> Iterator[RunningServer]:
    running = serve(state, TlsConfig(pki.server_cert, pki.server_key, pki.ca_cert))
    yield running
    stop_in_background(running)


def stop_in_background(running: RunningServer) -> None:
    """Stop the emulator without waiting: uvicorn takes 0.1-1 s to wind down (its loop polls, and a
    hanging request gets a grace period), and no test depends on that; the next one starts meanwhile
    on a port of its own."""
    threading.Thread(target=running.stop, name="ngdp-emulator-stop", daemon=True).start()


ClientFactory = Callable[..., NgdpClient]


@pytest.fixture
async def make_client(
    server: RunningServer, state: NgdpState, pki: SandboxPki
) -> AsyncIterator[ClientFactory]:
    made: list[NgdpClient] = []

    def factory(**overrides: Any) -> NgdpClient:
        params: dict[str, Any] = {
            "cert_file": pki.client.cert,
            "key_file": pki.client.key,
            "ca_bundle": pki.ca_cert,
            "organisation_id": state.organisation_id,
            "read_timeout": 2.0,
            "backoff_base": 0.01,
            "backoff_max": 0.05,
            "seed": 1,
        }
        params.update(overrides)
        client = NgdpClient(
            params.pop("base_url", server.base_url),
            params.pop("system_id", state.system_id),
            params.pop("api_token", state.api_token),
            **params,
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.aclose()


@pytest.fixture
def client(make_client: ClientFactory) -> NgdpClient:
    return make_client()
