"""JSON the gateway did not write, everywhere it is parsed outside the domain: a body nested beyond the
decoder's stack (a RecursionError in ``json.loads``) or bigger than any such answer is refused or kept as
text, never an exception that escapes the adapter or the receipt."""

from __future__ import annotations

import uuid

import httpx
import pytest

from graph_dpg.adapters.digital_post import create_push_app
from graph_dpg.adapters.digital_post.client import NgdpClient
from graph_dpg.adapters.digital_post.push import MAX_RECEIPT_BYTES
from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.adapters.graph.errors import error_for_status
from graph_dpg.core.errors import PermanentError, RejectedError, TransientError
from graph_dpg.ports.digital_post import BusinessReceipt

NESTED = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
SECRET = "push-secret"


class Sink:
    def __init__(self) -> None:
        self.receipts: list[BusinessReceipt] = []

    async def store_pushed_memo(self, memo_uuid: str, xml: bytes) -> None:
        raise AssertionError("no memo is pushed here")

    async def store_pushed_receipt(self, receipt: BusinessReceipt) -> None:
        self.receipts.append(receipt)


@pytest.mark.parametrize(
    ("body", "status"),
    [(NESTED, 400), (b'{"messageUUID": "' + b"x" * MAX_RECEIPT_BYTES + b'"}', 413)],
    ids=["nested", "oversized"],
)
async def test_the_push_receiver_refuses_a_receipt_it_cannot_use(body: bytes, status: int) -> None:
    sink = Sink()
    app = create_push_app(sink, SECRET)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        response = await http.post(
            "/receipts",
            content=body,
            headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"},
        )
    assert response.status_code == status
    assert sink.receipts == []


@pytest.mark.parametrize("body", [NESTED, b'{"error": {"code": "' + b"x" * 2_000_000 + b'"}}'])
def test_a_graph_error_body_it_cannot_parse_is_kept_as_text(body: bytes) -> None:
    error = error_for_status(503, body)
    assert isinstance(error, TransientError)
    assert error.code is None
    assert error.message == body[:500].decode()


async def test_a_graph_answer_nested_too_deeply_is_a_permanent_error() -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=NESTED, headers={"Content-Type": "application/json"})
    )
    async with GraphMailbox(
        StaticTokenCredential("t"),
        "http://127.0.0.1:8999/v1.0/",
        transport=transport,
        retry=RetryPolicy.fast(),
    ) as mailbox:
        with pytest.raises(PermanentError, match="response is not JSON"):
            await mailbox.get_message("fn@kommune.dk", "id-1")


async def test_an_ngdp_refusal_nested_too_deeply_is_still_a_refusal() -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(400, content=NESTED, headers={"Content-Type": "application/json"})
    )
    async with NgdpClient("https://ngdp.test/apis/v1", "s", "t", transport=transport) as client:
        with pytest.raises(RejectedError) as exc:
            await client.send_memo(str(uuid.uuid4()), b"<x/>")
    assert exc.value.details == {}
