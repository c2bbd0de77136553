"""The composition root and the NgDP client pick the network transport from ``GRAPH_DPG_HTTP_TRANSPORT``
(aiohttp by default, httpx's own as the fallback), talk to the emulators over real loopback sockets with
either, and close what they opened."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph_dpg.adapters.digital_post import NgdpClient
from graph_dpg.adapters.http import AiohttpTransport
from graph_dpg.bootstrap import make_graph_mailbox
from graph_dpg.config import load_settings
from graph_dpg.sandbox.graph import GraphTenant
from graph_dpg.sandbox.graph import serve as serve_graph
from graph_dpg.sandbox.ngdp import NgdpState, TlsConfig, generate_test_pki
from graph_dpg.sandbox.ngdp import serve as serve_ngdp

KINDS = [("aiohttp", AiohttpTransport), ("httpx", httpx.AsyncHTTPTransport)]
MAILBOX = "post@testby.dk"


async def _close(closers: list[Any]) -> None:
    for closer in reversed(closers):
        result = closer()
        if hasattr(result, "__await__"):
            await result


def test_aiohttp_is_the_default() -> None:
    assert load_settings(env_file=None).http_transport == "aiohttp"


@pytest.mark.parametrize(("kind", "expected"), KINDS)
async def test_graph_mailbox_uses_the_configured_transport_and_closes_it(
    kind: str, expected: type[httpx.AsyncBaseTransport]
) -> None:
    tenant = GraphTenant()
    tenant.add_mailbox(MAILBOX)
    with serve_graph(tenant) as base_url:
        settings = load_settings(env_file=None, graph_base_url=base_url, http_transport=kind)
        closers: list[Any] = []
        mailbox = make_graph_mailbox(settings, closers)
        transports = [getattr(c, "__self__", None) for c in closers]
        made = [t for t in transports if isinstance(t, httpx.AsyncBaseTransport)]
        assert [type(t) for t in made] == [expected]
        # GraphSender's fast path (adapters/graph/sender.py) only over our aiohttp transport.
        assert mailbox._sender.fast is (kind == "aiohttp")
        await mailbox.check_mailbox(MAILBOX)
        await mailbox.check_mailbox(MAILBOX)
        await _close(closers)
    assert sum(tenant.request_counts().values()) == 2
    if isinstance(made[0], AiohttpTransport):
        # msgraph-core's transport wrapper does not pass aclose() on; the composition root closes ours.
        assert made[0]._session is None


@pytest.mark.parametrize(("kind", "expected"), KINDS)
async def test_ngdp_client_speaks_mutual_tls_over_either_transport(
    kind: str, expected: type[httpx.AsyncBaseTransport], tmp_path: Path
) -> None:
    pki = generate_test_pki(tmp_path)
    state = NgdpState(seed=7)
    running = serve_ngdp(state, TlsConfig(pki.server_cert, pki.server_key, pki.ca_cert))
    try:
        client = NgdpClient(
            running.base_url,
            state.system_id,
            state.api_token,
            cert_file=pki.client.cert,
            key_file=pki.client.key,
            ca_bundle=pki.ca_cert,
            organisation_id=state.organisation_id,
            http_transport=kind,  # type: ignore[arg-type]
        )
        transport = client._http._transport
        assert isinstance(transport, expected)
        assert (client._direct is not None) is (kind == "aiohttp")  # NgdpClient._send's direct path
        assert await client.list_receipts() == []
        await client.aclose()
    finally:
        threading.Thread(target=running.stop, daemon=True).start()
    assert len(state.request_log) == 1
    if isinstance(transport, AiohttpTransport):
        assert transport._session is None
