"""Replays the request/response examples copied from Microsoft's docs (``graph_examples/*.json``, each with
its provenance) against the emulator and checks the documented shape: status, keys and value types.

The examples are app-agnostic: ``/me`` (delegated) is replayed as ``/users/{mailbox}`` (app-only), and the
docs' sample ids are replaced by ids of items the test creates. Nothing is fetched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph_dpg.sandbox.graph import GraphTenant

from .conftest import FUNC

EXAMPLES = Path(__file__).parent / "graph_examples"


def _example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    assert data["provenance"]["repo"] == "microsoftgraph/microsoft-graph-docs-contrib"
    assert data["provenance"]["path"] and data["provenance"]["licence"]
    return data


def _same_shape(documented: Any, actual: Any, where: str = "$") -> None:
    """Every documented key is present with a value of the same JSON type (lists: first item's shape)."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), where
        for key, value in documented.items():
            assert key in actual, f"{where}.{key} missing"
            _same_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(documented, list):
        assert isinstance(actual, list), where
        if documented and actual:
            _same_shape(documented[0], actual[0], f"{where}[0]")
    elif documented is not None:
        assert type(actual) is type(documented) or (
            isinstance(documented, int | float) and isinstance(actual, int | float)
        ), f"{where}: {type(actual).__name__} is not {type(documented).__name__}"


async def _replay(client: httpx.AsyncClient, example: dict[str, Any], ids: dict[str, str]) -> httpx.Response:
    req = example["request"]
    url = req["url"].replace("/me/", f"/users/{FUNC}/")
    for sample, real in ids.items():
        url = url.replace(sample, real)
    return await client.request(req["method"], url, headers=req.get("headers"), json=req.get("body"))


def test_every_example_file_is_replayed() -> None:
    replayed = {
        "message-delta-initial.json",
        "attachment-createuploadsession.json",
        "sendmail-send-as-denied.json",
        "json-batching.json",
    }
    assert {p.name for p in EXAMPLES.glob("*.json")} == replayed


async def test_example_message_delta_initial(tenant: GraphTenant, client: httpx.AsyncClient) -> None:
    """concepts/delta-query-messages.md, sample initial request and response."""
    ex = _example("message-delta-initial.json")
    for i in range(3):
        tenant.deliver_to_inbox(FUNC, f"Brev {i}", "<p>x</p>")
    r = await _replay(client, ex, {"AQMkADNkNAAAgEMAAAA": tenant.folder_id(FUNC, "inbox")})
    assert r.status_code == ex["response"]["status"]
    _same_shape(ex["response"]["body"], r.json())
    assert len(r.json()["value"]) == 2  # Prefer: odata.maxpagesize=2
    assert set(r.json()["value"][0]) <= {"@odata.type", "@odata.etag", "id", "subject", "sender", "isRead"}


async def test_example_attachment_createuploadsession(tenant: GraphTenant, client: httpx.AsyncClient) -> None:
    """api-reference/v1.0/api/attachment-createuploadsession.md, example 1."""
    ex = _example("attachment-createuploadsession.json")
    draft = (await client.post(f"/users/{FUNC}/messages", json={"subject": "x"})).json()["id"]
    r = await _replay(client, ex, {"AAMkADI5MAAIT3drCAAA=": draft})
    assert r.status_code == ex["response"]["status"]
    _same_shape(ex["response"]["body"], r.json())
    assert r.json()["nextExpectedRanges"] == ["0-"]


async def test_example_sendmail_send_as_denied(tenant: GraphTenant, client: httpx.AsyncClient) -> None:
    """concepts/outlook-send-mail-from-other-user.md, example 2 (also the error shape of concepts/errors.md)."""
    ex = _example("sendmail-send-as-denied.json")
    r = await _replay(client, ex, {})
    assert r.status_code == ex["response"]["status"]
    _same_shape(ex["response"]["body"], r.json())
    assert r.json()["error"]["code"] == ex["response"]["body"]["error"]["code"]
    assert r.json()["error"]["message"] == ex["response"]["body"]["error"]["message"]


async def test_example_json_batching(client: httpx.AsyncClient) -> None:
    """concepts/json-batching.md: the batch is 200 and answers every member by id with status, headers, body
    (the members themselves are not mail APIs and fail here, as some do in the documented response)."""
    ex = _example("json-batching.json")
    r = await _replay(client, ex, {})
    assert r.status_code == ex["response"]["status"]
    _same_shape(ex["response"]["body"], r.json())
    assert {m["id"] for m in r.json()["responses"]} == {m["id"] for m in ex["request"]["body"]["requests"]}
    assert all(m["status"] >= 400 for m in r.json()["responses"])


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_example_files_carry_provenance(name: str) -> None:
    _example(name)
