"""BulkFetchReceiptsAsync (``GET receipts-bulk/``), QueryContactPointsAsync / QueryAllContactPointsAsync
(``ContactPointSearchResult``), CreateReceiptAsync (``POST memos/{id}/receipt`` with a ``Receipt``) and
ValidateAsync (``POST validations/``): NgDP OpenAPI 1.68.0 as generated in github sjkp/digitalpost
``src/digitalpost/DigitalPostClient.cs``; the real client against the emulator, in-process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from graph_dpg.adapters.digital_post import NgdpClient
from graph_dpg.adapters.digital_post.client import receipt_transmission_id
from graph_dpg.core.errors import NotFoundError
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.sandbox.ngdp import NgdpState, create_app
from graph_dpg.sandbox.ngdp.samples import sample_memo

CPR = "0101900000"


@pytest.fixture
def state() -> NgdpState:
    s = NgdpState()
    s.register(cpr=CPR)
    return s


@pytest.fixture
async def client(state: NgdpState) -> AsyncIterator[NgdpClient]:
    c = in_process_client(state)
    try:
        yield c
    finally:
        await c.aclose()


def raw(state: NgdpState) -> httpx.AsyncClient:
    """A plain HTTP client on the emulator with the system's credentials, to read the wire itself."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(state)),
        base_url="http://ngdp.sandbox/apis/v1/",
        auth=(state.system_id, state.api_token),
    )


# ------------------------------------------------------------------ receipts-bulk/


async def test_bulk_fetch_receipts_async_answers_a_receipt_search_result(state: NgdpState) -> None:
    ids = [
        state.queue_receipt({"messageUUID": str(uuid.uuid4()), "receiptStatus": "COMPLETED"})
        for _ in range(3)
    ]
    async with raw(state) as http:
        page = (await http.get("receipts-bulk/", params={"page": 1, "size": 2})).json()
    assert set(page) == {"currentPage", "totalPages", "elementsOnPage", "totalElements", "receipts"}
    assert (page["currentPage"], page["totalPages"], page["elementsOnPage"], page["totalElements"]) == (
        1,
        2,
        1,
        3,
    )
    assert [r["id"] for r in page["receipts"]] == ids[2:]  # BulkReceipt: the Receipt plus its id


async def test_bulk_fetch_receipts_async_pages_and_deletes_nothing(
    state: NgdpState, client: NgdpClient
) -> None:
    queued = {
        state.queue_receipt({"messageUUID": str(uuid.uuid4()), "receiptStatus": "COMPLETED"})
        for _ in range(2500)
    }
    got = await client.fetch_receipts()
    assert {r.id for r in got} == queued
    assert set(state.receipt_ids()) == queued  # "Returns a list of receipts": nothing deleted
    bulk_gets = [p for m, p, _ in state.request_log if m == "GET" and "receipts" in p]
    assert len(bulk_gets) == 3  # 2,500 receipts in pages of 1,000, not 2,500 GET receipts/{id}
    await client.delete_receipt(got[0].id)
    assert got[0].id not in state.receipt_ids()


# ------------------------------------------------------------------ contact points


async def test_query_contact_points_async_answers_a_contact_point_search_result(state: NgdpState) -> None:
    for n in range(3):
        state.add_contact_point(str(uuid.uuid4()), f"Punkt {n}", visible=n != 1)
    async with raw(state) as http:
        path = f"organisations/{state.organisation_id}/contact-points/"
        first = (await http.get(path, params={"page": 0, "size": 1, "visibility": "ALL"})).json()
        last = (await http.get(path, params={"page": 2, "size": 1, "visibility": "ALL"})).json()
        visible = (await http.get(path, params={"size": 10})).json()
        bad = await http.get(path, params={"visibility": "SOME"})
    keys = {"currentPage", "next", "totalPages", "elementsOnPage", "totalElements", "contactPoints"}
    assert set(first) == keys and "content" not in first
    assert (first["currentPage"], first["totalPages"], first["totalElements"]) == (0, 3, 3)
    assert first["next"] and last["next"] is None
    assert visible["totalElements"] == 2  # the default leaves hidden ones out [inference]
    assert bad.status_code == 400  # "Valid types: VISIBLE, HIDDEN, ALL."


async def test_query_contact_points_async_the_client_reads_every_page_hidden_ones_included(
    state: NgdpState, client: NgdpClient
) -> None:
    made = {state.add_contact_point(str(uuid.uuid4()), f"P{n}", visible=n % 2 == 0).id for n in range(1203)}
    points = await client.list_contact_points()
    assert {p.id for p in points} == made
    cp_gets = [p for m, p, _ in state.request_log if m == "GET" and "contact-points" in p]
    assert len(cp_gets) == 2


async def test_query_all_contact_points_async_without_an_organisation(state: NgdpState) -> None:
    state.add_contact_point(str(uuid.uuid4()), "Skjult", visible=False)
    async with in_process_client(state) as c:
        c.organisation_id = None  # a system that knows no organisation id: contact-points/
        points = await c.list_contact_points()
    assert state.request_log[-1][1] == "/apis/v1/contact-points/"
    assert [p.name for p in points] == ["Skjult"]


# ------------------------------------------------------------------ memos/{id}/receipt


async def test_create_receipt_async_carries_a_transmission_id_stable_across_retries(
    state: NgdpState, client: NgdpClient
) -> None:
    xml = sample_memo(recipient_id=CPR)
    memo_id = state.queue_inbound_memo(xml)
    await client.send_memo_receipt(memo_id, "COMPLETED")
    await client.send_memo_receipt(memo_id, "COMPLETED")  # a retry: 409 at NgDP, fine here
    (receipt,) = state.inbound_receipts(memo_id)
    assert (
        receipt["transmissionId"]
        == receipt_transmission_id(memo_id)
        == receipt_transmission_id(memo_id.upper())
    )
    assert uuid.UUID(receipt["transmissionId"]).version == 5
    assert receipt["messageUUID"] == memo_id and receipt["receiptStatus"] == "COMPLETED"
    assert receipt["timeStamp"].endswith("Z")
    other = state.queue_inbound_memo(sample_memo(recipient_id=CPR))
    assert receipt_transmission_id(other) != receipt["transmissionId"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"receiptStatus": "DONE"}, "receiptStatus"),
        ({"receiptStatus": "COMPLETED", "transmissionId": "not-a-uuid"}, "transmissionId"),
        ({"receiptStatus": "COMPLETED", "messageUUID": str(uuid.uuid4())}, "messageUUID"),
        ({"receiptStatus": "COMPLETED", "timeStamp": "yesterday"}, "timeStamp"),
        ({"receiptStatus": "COMPLETED", "status": "x"}, "status"),
    ],
)
async def test_create_receipt_async_the_emulator_checks_the_receipt_schema(
    state: NgdpState, body: dict[str, str], field: str
) -> None:
    memo_id = state.queue_inbound_memo(sample_memo(recipient_id=CPR))
    async with raw(state) as http:
        answer = await http.post(f"memos/{memo_id}/receipt", json=body)
    assert answer.status_code == 400
    assert field in [fe["field"] for fe in answer.json()["fieldErrors"]]
    assert state.inbound_receipts(memo_id) == []


async def test_create_receipt_async_for_an_unknown_memo_is_not_found(client: NgdpClient) -> None:
    with pytest.raises(NotFoundError):
        await client.send_memo_receipt(str(uuid.uuid4()), "COMPLETED")


# ------------------------------------------------------------------ validations/


@pytest.mark.parametrize(
    ("html", "approved", "code"),
    [
        (b"<html><body><p>Hej</p><a href='https://borger.dk'>link</a></body></html>", True, None),
        (b"<p>Hej</p><img src='data:image/png;base64,AAAA'>", True, None),
        (b"<p>Hej</p><script>alert(1)</script>", False, "FORBIDDEN_ELEMENT"),
        (b"<p onclick='x()'>Hej</p>", False, "SCRIPT"),
        (b"<a href='javascript:x()'>Hej</a>", False, "SCRIPT"),
        (b"<img src='https://tracker.example/pixel.gif'>", False, "EXTERNAL_REFERENCE"),
        (b"<link rel='stylesheet' href='https://cdn.example/a.css'>", False, "EXTERNAL_REFERENCE"),
        (b"<style>body{background:url(https://x.example/b.png)}</style>", False, "EXTERNAL_REFERENCE"),
        (b"<form><input name='cpr'></form>", False, "FORBIDDEN_ELEMENT"),
    ],
)
async def test_validate_async_strict(
    state: NgdpState, client: NgdpClient, html: bytes, approved: bool, code: str | None
) -> None:
    verdict = await client.validate_html("brev.html", html)
    assert verdict.approved is approved
    assert verdict.code == ("APPROVED" if approved else "REJECTED")
    if code is not None:
        assert code in [fe["code"] for fe in verdict.field_errors]
    assert state.html_validations[-1] == ("brev.html", "STRICT", approved)


async def test_validate_async_lenient_allows_external_images_but_never_scripts(state: NgdpState) -> None:
    async with raw(state) as http:
        img = await http.post(
            "validations/",
            params={"fileName": "a.html", "policy": "LENIENT"},
            content=b"<img src='https://x.example/a.png'>",
            headers={"Content-Type": "text/html"},
        )
        script = await http.post(
            "validations/",
            params={"fileName": "a.html"},
            content=b"<script></script>",
            headers={"Content-Type": "text/html"},
        )
        pdf = await http.post(
            "validations/",
            params={"fileName": "a.pdf"},
            content=b"%PDF",
            headers={"Content-Type": "application/pdf"},
        )
    assert (img.status_code, img.json()["code"]) == (201, "APPROVED")
    assert (script.status_code, script.json()["code"]) == (201, "REJECTED")
    assert pdf.status_code == 400  # "Currently only text/html validation is supported"
