"""A gateway wired by the composition root to both emulators in-process (no sockets) and SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph_dpg.bootstrap import Gateway, build_gateway
from graph_dpg.config import GatewayConfig, Settings, load_gateway_text, load_settings
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.runtime import Runtime, RuntimeOptions
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.ngdp import NgdpState

GATEWAY_YAML = """
organisation: {cvr: "12345674", name: Testby Kommune}
main_mailbox: post@testby.dk
monitoring_mailbox: drift@testby.dk
function_mailboxes:
  - {address: a@testby.dk, cvrs: ["12345674"]}
  - {address: b@testby.dk, cvrs: ["12345674"]}
"""
CPR = "0101801234"


class CertNgdp:
    """The in-process NgDP client with a certificate expiry the test chooses."""

    def __init__(self, inner: Any, not_after: datetime | None) -> None:
        self._inner = inner
        self.not_after = not_after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def certificate_not_after(self) -> datetime | None:
        return self.not_after

    def certificate_days_left(self) -> int | None:
        from datetime import UTC

        return (self.not_after - datetime.now(UTC)).days if self.not_after else None


@dataclass
class Rig:
    tenant: GraphTenant
    state: NgdpState
    settings: Settings
    config: GatewayConfig
    gateway: Gateway
    runtime: Runtime
    ngdp: CertNgdp

    def send(self, mailbox: str = "a@testby.dk", to: str = f"{CPR}@12345674.ngdp.digital-post.dk") -> str:
        return self.tenant.put_sent_message(mailbox, "Hej", "<p>Hej</p>", to=[("", to)])


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(*, db: str | None = None, replica: str = "r1", options: RuntimeOptions | None = None) -> Rig:
        tenant = GraphTenant()
        config = load_gateway_text(GATEWAY_YAML)
        for address in config.mailboxes:
            tenant.add_mailbox(address)
        state = NgdpState(organisation_cvr="12345674")
        state.register(cpr=CPR)
        settings = load_settings(
            env_file=None,
            graph_base_url="http://localhost/v1.0",
            database_url=db or f"sqlite:///{tmp_path / 'state.db'}",
            replica_id=replica,
            lease_seconds=10,
            outbound_poll_seconds=1,
            poll_jitter_seconds=0,
            max_backoff_seconds=60,
        )
        ngdp = CertNgdp(in_process_client(state), None)
        gateway = build_gateway(
            settings,
            config,
            graph_transport=httpx.ASGITransport(app=create_app(tenant)),
            ngdp_client=ngdp,
        )
        runtime = Runtime(gateway, options or RuntimeOptions(start_http=False, backoff_base_s=5.0))
        rig = Rig(tenant, state, settings, config, gateway, runtime, ngdp)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.runtime.stop()
        await rig.gateway.aclose()
