"""The emulator over a real loopback socket (uvicorn in a thread), as the demo and black-box tests use it."""

from __future__ import annotations

import httpx

from graph_dpg.sandbox.graph import GraphTenant, serve

from .conftest import FUNC, TOKEN


def test_serve_over_loopback(tenant: GraphTenant) -> None:
    tenant.put_sent_message(FUNC, "over tcp", "<p>x</p>", to=["x@example.org"])
    with serve(tenant) as base_url:
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1.0")
        headers = {"Authorization": f"Bearer {TOKEN}", "Prefer": "odata.maxpagesize=1"}
        with httpx.Client(headers=headers, timeout=10) as client:
            r = client.get(f"{base_url}/users/post%40kommune.dk/mailFolders/sentitems/messages/delta")
            assert r.status_code == 200
            page = r.json()
            assert page["value"][0]["subject"] == "over tcp"
            # Links point at the emulator's own socket address.
            assert page["@odata.deltaLink"].startswith(base_url)
            assert client.get(page["@odata.deltaLink"]).json()["value"] == []
    # Shut down: the port no longer answers.
    with httpx.Client(timeout=2) as client:
        try:
            client.get(f"{base_url}/users")
            raise AssertionError("server still running")
        except httpx.TransportError:
            pass
