"""The Datafordeler emulator (token endpoint with mutual TLS, CPR custom GraphQL services) for the sandbox
and the tests. Imports nothing of the gateway."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from graph_dpg.sandbox.datafordeler.app import TOKEN_PATH, create_data_app, create_token_app
from graph_dpg.sandbox.datafordeler.server import RunningApp, serve_app
from graph_dpg.sandbox.datafordeler.state import SANDBOX_CLIENT_ID, UNKNOWN_CPR, DatafordelerState

__all__ = [
    "SANDBOX_CLIENT_ID",
    "UNKNOWN_CPR",
    "DatafordelerState",
    "RunningDatafordeler",
    "running_datafordeler",
]


@dataclass(frozen=True)
class RunningDatafordeler:
    state: DatafordelerState
    token_url: str
    graphql_base_url: str


@contextmanager
def running_datafordeler(
    *, server_cert: Path, server_key: Path, ca_cert: Path, state: DatafordelerState | None = None
) -> Iterator[RunningDatafordeler]:
    """Both endpoints on 127.0.0.1: the token endpoint requires a client certificate issued by ``ca_cert``
    (the sandbox CA the NgDP emulator uses), the data endpoint plain TLS with a bearer token."""
    state = state or DatafordelerState()
    token: RunningApp = serve_app(
        create_token_app(state),
        certfile=server_cert,
        keyfile=server_key,
        ca_certs=ca_cert,
        name="datafordeler-token-emulator",
    )
    try:
        with serve_app(
            create_data_app(state), certfile=server_cert, keyfile=server_key, name="datafordeler-emulator"
        ) as data:
            yield RunningDatafordeler(state, token.url + TOKEN_PATH, data.url)
    finally:
        token.stop()
