"""The NgDP REST PUSH receiver: authenticated, and 200 only after the sink has stored the item."""

from __future__ import annotations

import asyncio
import base64
import uuid

import httpx
import pytest

from graph_dpg.adapters.digital_post import create_push_app
from graph_dpg.ports.digital_post import BusinessReceipt, PushSink

SECRET = "s3cret-push-token"
MEMO = b'<?xml version="1.0"?><memo:Message xmlns:memo="https://DigitalPost.dk/MeMo-1" memoVersion="1.2"/>'


class MemorySink:
    """In-memory PushSink; ``fail`` makes every store raise, ``gate`` holds stores until it is set."""

    def __init__(self) -> None:
        self.memos: dict[str, bytes] = {}
        self.receipts: list[BusinessReceipt] = []
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def _maybe_wait_or_fail(self) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise OSError("database is down")

    async def store_pushed_memo(self, memo_uuid: str, xml: bytes) -> None:
        await self._maybe_wait_or_fail()
        self.memos[memo_uuid] = xml

    async def store_pushed_receipt(self, receipt: BusinessReceipt) -> None:
        await self._maybe_wait_or_fail()
        self.receipts.append(receipt)


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
async def http(sink: MemorySink) -> httpx.AsyncClient:
    app = create_push_app(sink, SECRET)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://gateway.example")


def bearer(token: str = SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_memory_sink_is_a_push_sink(sink: MemorySink) -> None:
    assert isinstance(sink, PushSink)


async def test_memo_is_stored_under_its_file_name_uuid(http: httpx.AsyncClient, sink: MemorySink) -> None:
    memo_uuid = str(uuid.uuid4())
    response = await http.post(
        "/memos", files={"file": (memo_uuid, MEMO, "application/xml")}, headers=bearer()
    )
    assert response.status_code == 200
    assert sink.memos == {memo_uuid: MEMO}


async def test_reference_route_and_xml_suffix_are_accepted(http: httpx.AsyncClient, sink: MemorySink) -> None:
    memo_uuid = str(uuid.uuid4())
    response = await http.post(
        "/recipient-system", files={"file": (f"{memo_uuid.upper()}.xml", MEMO)}, headers=basic("ngdp", SECRET)
    )
    assert response.status_code == 200
    assert list(sink.memos) == [memo_uuid]


async def test_200_only_after_the_sink_returned(http: httpx.AsyncClient, sink: MemorySink) -> None:
    sink.gate = asyncio.Event()
    memo_uuid = str(uuid.uuid4())
    task = asyncio.create_task(http.post("/memos", files={"file": (memo_uuid, MEMO)}, headers=bearer()))
    await asyncio.sleep(0.05)
    assert not task.done()  # the receiver is waiting for durable storage
    assert sink.memos == {}
    sink.gate.set()
    response = await task
    assert response.status_code == 200
    assert memo_uuid in sink.memos


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {SECRET}x"},
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Basic " + base64.b64encode(SECRET.encode()).decode()},  # no ':'
        {"Authorization": f"Token {SECRET}"},
    ],
)
async def test_unauthenticated_requests_are_refused(
    http: httpx.AsyncClient, sink: MemorySink, headers: dict[str, str]
) -> None:
    memo = await http.post("/memos", files={"file": (str(uuid.uuid4()), MEMO)}, headers=headers)
    receipt = await http.post(
        "/receipts", json={"messageUUID": str(uuid.uuid4()), "receiptStatus": "COMPLETED"}, headers=headers
    )
    assert (memo.status_code, receipt.status_code) == (401, 401)
    assert sink.memos == {}
    assert sink.receipts == []


async def test_wrong_basic_password_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/memos", files={"file": (str(uuid.uuid4()), MEMO)}, headers=basic("ngdp", "nope")
    )
    assert response.status_code == 401


async def test_missing_file_part_is_400(http: httpx.AsyncClient, sink: MemorySink) -> None:
    response = await http.post("/memos", files={"other": ("x", MEMO)}, headers=bearer())
    assert response.status_code == 400
    assert response.json()["message"] == "MeMo is not present in request"
    response = await http.post("/memos", data={"file": "not a file"}, headers=bearer())
    assert response.status_code == 400
    response = await http.post(
        "/memos", content=MEMO, headers={**bearer(), "Content-Type": "application/xml"}
    )
    assert response.status_code == 400
    assert sink.memos == {}


async def test_file_name_must_be_a_uuid(http: httpx.AsyncClient, sink: MemorySink) -> None:
    response = await http.post("/memos", files={"file": ("memo.xml", MEMO)}, headers=bearer())
    assert response.status_code == 400
    assert sink.memos == {}


async def test_sink_failure_is_5xx_so_ngdp_redelivers(http: httpx.AsyncClient, sink: MemorySink) -> None:
    sink.fail = True
    memo_uuid = str(uuid.uuid4())
    response = await http.post("/memos", files={"file": (memo_uuid, MEMO)}, headers=bearer())
    assert response.status_code == 503
    receipt = await http.post(
        "/receipts", json={"messageUUID": memo_uuid, "receiptStatus": "COMPLETED"}, headers=bearer()
    )
    assert receipt.status_code == 503
    sink.fail = False
    again = await http.post("/memos", files={"file": (memo_uuid, MEMO)}, headers=bearer())
    assert again.status_code == 200
    assert sink.memos == {memo_uuid: MEMO}


async def test_receipt_is_parsed_and_stored(http: httpx.AsyncClient, sink: MemorySink) -> None:
    body = {
        "transmissionId": str(uuid.uuid4()),
        "messageUUID": str(uuid.uuid4()),
        "messageId": "MSG-1",
        "errorCode": "RECIPIENT_EXEMPT",
        "errorMessage": "Modtager er fritaget",
        "timeStamp": "2026-11-22T10:00:00.123Z",
        "receiptStatus": "NOT_ALLOWED",
    }
    response = await http.post("/sender-system/receipt", json=body, headers=bearer())
    assert response.status_code == 200
    (receipt,) = sink.receipts
    assert receipt.message_uuid == body["messageUUID"]
    assert receipt.transmission_id == body["transmissionId"]
    assert receipt.id == body["transmissionId"]
    assert receipt.receipt_status == "NOT_ALLOWED"
    assert (receipt.error_code, receipt.error_message) == ("RECIPIENT_EXEMPT", "Modtager er fritaget")
    assert receipt.timestamp is not None and receipt.timestamp.year == 2026
    assert receipt.raw == body


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"messageUUID": "x"}', b'{"receiptStatus": "COMPLETED"}']
)
async def test_unreadable_receipt_is_400(http: httpx.AsyncClient, sink: MemorySink, body: bytes) -> None:
    response = await http.post(
        "/receipts", content=body, headers={**bearer(), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert sink.receipts == []


def test_empty_secret_is_refused(sink: MemorySink) -> None:
    with pytest.raises(ValueError, match="secret"):
        create_push_app(sink, "")
