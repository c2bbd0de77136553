"""$batch, as concepts/json-batching.md says: at most 20 requests; id required, unique, "Not case-sensitive";
dependsOn "an array of strings that references the id of a different individual request"; a request
whose dependency failed answers 424; a malformed batch answers 400. Preceding-only references: OData JSON
Format 4.01, section 19.1 (which the page says Graph implements). The old "Simplified dependencies" known
issue (a request may depend on one other only) is no longer on the page and is not enforced.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import FUNC


def get(mid: str, **extra: Any) -> dict[str, Any]:
    return {"id": mid, "method": "GET", "url": f"/users/{FUNC}/mailFolders/inbox", **extra}


async def batch(client: httpx.AsyncClient, requests: list[dict[str, Any]]) -> httpx.Response:
    return await client.post("/$batch", json={"requests": requests})


async def test_json_batching_md_twenty_requests_pass_twenty_one_are_400(client: httpx.AsyncClient) -> None:
    ok = await batch(client, [get(str(i)) for i in range(20)])
    assert ok.status_code == 200 and len(ok.json()["responses"]) == 20
    too_many = await batch(client, [get(str(i)) for i in range(21)])
    assert too_many.status_code == 400


async def test_json_batching_md_ids_are_unique_ignoring_case(client: httpx.AsyncClient) -> None:
    r = await batch(client, [get("a"), get("A")])
    assert r.status_code == 400
    assert r.json()["error"]["code"]


async def test_json_batching_md_depends_on_several_earlier_requests(client: httpx.AsyncClient) -> None:
    r = await batch(client, [get("1"), get("2", dependsOn=["1"]), get("3", dependsOn=["1", "2"])])
    assert r.status_code == 200
    assert {x["id"]: x["status"] for x in r.json()["responses"]} == {"1": 200, "2": 200, "3": 200}


async def test_json_batching_md_depends_on_matches_ids_ignoring_case(client: httpx.AsyncClient) -> None:
    r = await batch(client, [get("first"), get("second", dependsOn=["FIRST"])])
    assert r.status_code == 200


@pytest.mark.parametrize(
    "depends",
    [["9"], ["2"], "1", [1], ["x"]],
    ids=["unknown", "itself", "not-an-array", "not-strings", "unknown-2"],
)
async def test_json_batching_md_bad_depends_on_is_400(client: httpx.AsyncClient, depends: Any) -> None:
    r = await batch(client, [get("1"), get("2", dependsOn=depends)])
    assert r.status_code == 400


async def test_odata_json_batch_depends_on_a_later_request_is_400(client: httpx.AsyncClient) -> None:
    r = await batch(client, [get("1", dependsOn=["2"]), get("2")])
    assert r.status_code == 400


async def test_json_batching_md_failed_dependency_is_424(client: httpx.AsyncClient) -> None:
    bad = {"id": "1", "method": "GET", "url": f"/users/{FUNC}/messages/AAMkAGdoesnotexist0000000000000="}
    r = await batch(client, [bad, get("2", dependsOn=["1"])])
    statuses = {x["id"]: x["status"] for x in r.json()["responses"]}
    assert statuses == {"1": 404, "2": 424}


async def test_json_batching_md_body_needs_content_type(client: httpx.AsyncClient) -> None:
    member = {"id": "1", "method": "POST", "url": f"/users/{FUNC}/messages", "body": {"subject": "x"}}
    assert (await batch(client, [member])).status_code == 400
    member["headers"] = {"Content-Type": "application/json"}
    r = await batch(client, [member])
    assert r.status_code == 200 and r.json()["responses"][0]["status"] == 201
