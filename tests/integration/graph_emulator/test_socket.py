"""The emulator over a real loopback socket (uvicorn in a thread), as the demo and black-box tests use it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

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


def test_helpers_and_http_interleave_safely(tenant: GraphTenant) -> None:
    """A writer thread seeds mail while the delta reader pages over loopback: each message seen exactly once."""
    total = 150
    with serve(tenant) as base_url:

        def writer() -> None:
            for i in range(total):
                tenant.put_sent_message(FUNC, f"m{i}", "<p>x</p>", to=["x@example.org"])

        thread = threading.Thread(target=writer)
        headers = {"Authorization": f"Bearer {TOKEN}", "Prefer": 'odata.maxpagesize=7, IdType="ImmutableId"'}
        seen: list[str] = []
        with httpx.Client(headers=headers, timeout=10) as client:
            url = f"{base_url}/users/{FUNC}/mailFolders/sentitems/messages/delta?$select=subject"
            thread.start()
            deadline = time.monotonic() + 30
            while thread.is_alive() or len(seen) < total:
                assert time.monotonic() < deadline, f"only {len(seen)} of {total} seen"
                page = client.get(url).json()
                seen += [m["id"] for m in page["value"]]
                url = page.get("@odata.nextLink") or page["@odata.deltaLink"]
            thread.join()
    assert len(seen) == total == len(set(seen))


def test_module_entry_point_serves_until_stopped() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "graph_dpg.sandbox.graph",
            "--mailbox",
            "a@kommune.dk",
            "--token",
            "t0k",
            "--role",
            "all",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        base_url = line.split(" at ")[1].split(" ")[0]
        assert base_url.startswith("http://127.0.0.1:")
        r = httpx.get(f"{base_url}/users/a%40kommune.dk", headers={"Authorization": "Bearer t0k"}, timeout=5)
        assert r.json()["userPrincipalName"] == "a@kommune.dk"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
