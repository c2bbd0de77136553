"""The composition root wires the Outlook inbox-rule cache from GRAPH_DPG_INBOX_RULES_TTL_SECONDS into both
delivering paths (memos, and secure mail / forwarded post). Built by ``build_gateway`` on the emulators."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from graph_dpg.bootstrap import build_gateway
from graph_dpg.config import load_gateway_text, load_settings
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.ngdp import NgdpState

GATEWAY_YAML = """
organisation: {cvr: "12345674", name: Testby Kommune}
main_mailbox: post@testby.dk
monitoring_mailbox: drift@testby.dk
"""


def test_the_default_ttl_is_five_minutes() -> None:
    assert load_settings(None).inbox_rules_ttl_seconds == 300


async def test_the_ttl_setting_reaches_both_delivering_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPH_DPG_INBOX_RULES_TTL_SECONDS", "42")
    settings = load_settings(
        env_file=None, graph_base_url="http://localhost/v1.0", database_url=f"sqlite:///{tmp_path / 's.db'}"
    )
    config = load_gateway_text(GATEWAY_YAML)
    tenant = GraphTenant()
    for address in config.mailboxes:
        tenant.add_mailbox(address)
    gateway = build_gateway(
        settings,
        config,
        graph_transport=httpx.ASGITransport(app=create_app(tenant)),
        ngdp_client=in_process_client(NgdpState(organisation_cvr="12345674")),
    )
    try:
        cache = gateway.inbound.memos.inbox_rules
        assert cache is not None and cache.ttl_seconds == 42
        assert gateway.inbound.secure_mail.inbox_rules is cache  # one cache: the rules read once per TTL
    finally:
        await gateway.aclose()
