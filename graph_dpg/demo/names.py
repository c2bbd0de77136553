"""The name registers of the sandbox: the Datafordeler emulator (its token endpoint demanding a client
certificate of the sandbox CA, the one the NgDP emulator's mutual TLS uses) and the CVR search emulator,
with the settings that point the gateway at them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from graph_dpg.sandbox.cvr import SANDBOX_PASSWORD, SANDBOX_USER, CvrState, running_cvr
from graph_dpg.sandbox.datafordeler import SANDBOX_CLIENT_ID, DatafordelerState, running_datafordeler
from graph_dpg.sandbox.ngdp import SandboxPki


@dataclass(frozen=True)
class NameSandbox:
    datafordeler: DatafordelerState
    cvr: CvrState
    #: Settings fields (``load_settings(**settings)``) for both registers.
    settings: dict[str, Any]

    def sample_numbers(self) -> list[str]:
        """Every number the emulators hold, and one unknown number of each kind."""
        return [*self.datafordeler.sample_numbers(), *self.cvr.sample_numbers()]


@contextmanager
def name_sandbox(pki: SandboxPki) -> Iterator[NameSandbox]:
    with (
        running_datafordeler(
            server_cert=pki.server_cert, server_key=pki.server_key, ca_cert=pki.ca_cert
        ) as datafordeler,
        running_cvr(server_cert=pki.server_cert, server_key=pki.server_key) as cvr,
    ):
        settings: dict[str, Any] = {
            "datafordeler_token_url": datafordeler.token_url,
            "datafordeler_graphql_url": datafordeler.graphql_base_url,
            "datafordeler_client_id": SANDBOX_CLIENT_ID,
            "datafordeler_certificate_path": pki.client.p12,
            "datafordeler_certificate_password": pki.client.p12_password,
            "datafordeler_ca_bundle": pki.ca_cert,
            "cvr_base_url": cvr.base_url,
            "cvr_username": SANDBOX_USER,
            "cvr_password": SANDBOX_PASSWORD,
            "cvr_ca_bundle": pki.ca_cert,
        }
        yield NameSandbox(datafordeler.state, cvr.state, settings)
