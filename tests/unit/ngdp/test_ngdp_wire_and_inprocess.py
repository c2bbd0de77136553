"""NgDP wire parsers (property tests) and the client against the emulator in-process (httpx transport seam)."""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph_dpg.adapters.digital_post import NgdpClient
from graph_dpg.adapters.digital_post.client import _CprQueryFilter, _tls_refusal
from graph_dpg.adapters.digital_post.wire import (
    WireFormatError,
    contact_points_from_json,
    contacts_from_search,
    paging_ids,
    receipt_from_json,
)
from graph_dpg.core.errors import (
    AmbiguousOutcomeError,
    AuthError,
    NotFoundError,
    PermanentError,
    RejectedError,
    ThrottledError,
)
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.sandbox.ngdp.memo_check import MemoSummaryError, summarize
from graph_dpg.sandbox.ngdp.samples import sample_memo

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)
receipt_like = st.fixed_dictionaries(
    {},
    optional={
        "messageUUID": json_values,
        "receiptStatus": json_values,
        "transmissionId": json_values,
        "timeStamp": json_values,
        "errorCode": json_values,
    },
)


@settings(max_examples=settings.default.max_examples * 3 // 5)
@given(st.one_of(json_values, receipt_like))
def test_receipt_parser_only_raises_its_own_error(data: object) -> None:
    try:
        receipt = receipt_from_json(data)
    except WireFormatError:
        return
    assert receipt.message_uuid and receipt.receipt_status


@settings(max_examples=settings.default.max_examples * 3 // 5)
@given(json_values)
def test_listing_parsers_only_raise_their_own_error(data: object) -> None:
    for parse in (paging_ids, contact_points_from_json, contacts_from_search):
        with contextlib.suppress(WireFormatError):
            parse(data)


def test_paging_result_shape() -> None:
    assert paging_ids({"content": ["a", "b"], "number": 0, "totalPages": 3}) == (["a", "b"], 3)
    assert paging_ids(["a"]) == (["a"], 1)


def test_cpr_query_is_masked_in_httpx_log_lines() -> None:
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        'HTTP Request: %s %s "%s"',
        ("GET", "https://x/contacts/?cprNumber=0101900000", "200"),
        None,
    )
    _CprQueryFilter().filter(record)
    assert "0101900000" not in record.getMessage()
    assert "cprNumber=xxxxxxxxxx" in record.getMessage()


def test_tls_alert_in_the_cause_chain_is_recognised() -> None:
    alert = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required")
    wrapped = httpx.ReadError("")
    wrapped.__cause__ = alert
    assert _tls_refusal(wrapped) is alert
    assert _tls_refusal(httpx.ReadError("connection reset")) is None


def test_summary_refuses_dtd_and_non_memo() -> None:
    with pytest.raises(MemoSummaryError):
        summarize(b'<!DOCTYPE x [<!ENTITY a "b">]><memo:Message xmlns:memo="https://DigitalPost.dk/MeMo-1"/>')
    with pytest.raises(MemoSummaryError):
        summarize(b"<other/>")
    with pytest.raises(MemoSummaryError):
        summarize(b"not xml")


def test_summary_reads_the_routing_fields() -> None:
    uid = str(uuid.uuid4())
    xml = sample_memo(
        message_uuid=uid,
        recipient_contact_point="241D39F6-998E-4929-B198-CCACBBF4B330",
        attachments=2,
        mandatory=True,
    )
    s = summarize(xml)
    assert (s.message_uuid, s.sender_id, s.recipient_id_type) == (uid, "29189846", "CPR")
    assert s.recipient_contact_point == "241D39F6-998E-4929-B198-CCACBBF4B330"
    assert (s.additional_documents, s.mandatory, len(s.files)) == (2, True, 3)
    assert s.files[1].size == len(b"%PDF-1.4 ") + 16


# ---------------------------------------------------------------- in-process client <-> emulator


@pytest.fixture
def state() -> NgdpState:
    s = NgdpState(validate_memos=False)
    s.register(cpr="0101900000")
    return s


@pytest.fixture
async def client(state: NgdpState) -> AsyncIterator[NgdpClient]:
    c = in_process_client(state)
    yield c
    await c.aclose()


async def test_in_process_reset_is_retried_to_exactly_one(client: NgdpClient, state: NgdpState) -> None:
    state.faults.script("send", "reset", "503")
    uid = str(uuid.uuid4())
    result = await client.send_memo(uid, sample_memo(message_uuid=uid))
    assert result.duplicate is False
    assert state.accepted_count(uid) == 1
    assert [kind for _, kind in state.faults.injected] == ["reset", "503"]


async def test_in_process_timeout_after_accept(client: NgdpClient, state: NgdpState) -> None:
    state.hang_seconds = 0.0
    state.faults.script("send", "timeout_after_accept")
    uid = str(uuid.uuid4())
    result = await client.send_memo(uid, sample_memo(message_uuid=uid))
    assert result.duplicate is True
    assert len(state.accepted) == 1


async def test_basic_header_identifies_the_system(state: NgdpState) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={"content": [], "totalPages": 0})

    async with NgdpClient(
        "https://ngdp.test/apis/v1", "sys-1", "tok-2", transport=httpx.MockTransport(handler)
    ) as c:
        assert await c.list_memos() == []
    assert seen == ["Basic c3lzLTE6dG9rLTI="]  # base64("sys-1:tok-2")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"code": "X", "message": "bad", "fieldErrors": []}, RejectedError),
        (401, {}, AuthError),
        (403, {}, AuthError),
        (404, {}, NotFoundError),
        (422, {}, PermanentError),
    ],
)
async def test_status_mapping_for_sends(status: int, body: dict[str, object], error: type[Exception]) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, json=body)

    async with NgdpClient("https://ngdp.test/apis/v1", "s", "t", transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(error):
            await c.send_memo(str(uuid.uuid4()), b"<x/>")
    assert len(calls) == 1


async def test_409_or_duplicate_code_is_success_and_500_is_ambiguous() -> None:
    answers = iter(
        [
            httpx.Response(409, json={"code": "CONFLICT"}),
            httpx.Response(400, json={"code": "MEMO_ALREADY_RECEIVED", "message": "dup"}),
            httpx.Response(500),
            httpx.Response(500),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["memo-message-uuid"]
        assert request.headers["Content-Type"] == "application/xml"
        return next(answers)

    async with NgdpClient(
        "https://ngdp.test/apis/v1",
        "s",
        "t",
        transport=httpx.MockTransport(handler),
        max_send_attempts=2,
        backoff_base=0.001,
    ) as c:
        assert (await c.send_memo(str(uuid.uuid4()), b"<x/>")).duplicate is True
        assert (await c.send_memo(str(uuid.uuid4()), b"<x/>")).duplicate is True
        with pytest.raises(AmbiguousOutcomeError):
            await c.send_memo(str(uuid.uuid4()), b"<x/>")


async def test_429_honours_retry_after_then_gives_up() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "0"}, json={"code": "TOO_MANY"})

    async with NgdpClient(
        "https://ngdp.test/apis/v1", "s", "t", transport=httpx.MockTransport(handler), max_attempts=2
    ) as c:
        with pytest.raises(ThrottledError) as caught:
            await c.list_receipts()
    assert caught.value.retry_after == 0.0


async def test_memo_receipt_body(state: NgdpState) -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200)

    async with NgdpClient("https://ngdp.test/apis/v1", "s", "t", transport=httpx.MockTransport(handler)) as c:
        memo_id = "8c2ea15d-61fb-4ba9-9366-42f8b194c114"
        await c.send_memo_receipt(memo_id, "INVALID", error_code="E1", error_message="broken")
        await c.send_memo_receipt("not-a-uuid", "COMPLETED")
        with pytest.raises(ValueError, match="status"):
            await c.send_memo_receipt(memo_id, "BOGUS")  # type: ignore[arg-type]
    body, odd = bodies
    assert body["messageUUID"] == memo_id
    assert uuid.UUID(str(body["transmissionId"])).version == 5  # the reference system's four fields and more
    assert "messageUUID" not in odd  # the schema types it as a uuid: the path alone names such a memo
    assert (body["receiptStatus"], body["errorCode"], body["errorMessage"]) == ("INVALID", "E1", "broken")
    assert str(body["timeStamp"]).endswith("Z")


async def test_cpr_echoed_by_ngdp_is_masked_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"code": "RECIPIENT", "message": "recipient 0101900000 is unknown"})

    async with NgdpClient("https://ngdp.test/apis/v1", "s", "t", transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(RejectedError) as caught:
            await c.send_memo(str(uuid.uuid4()), b"<x/>")
    assert caught.value.details["message"] == "recipient 0101900000 is unknown"  # verbatim for the receipt
    assert "0101900000" not in caplog.text
    assert "010190-xxxx" in caplog.text


@pytest.mark.parametrize("status", [200, 201])
async def test_a_receipt_is_read_from_200_and_201(status: int) -> None:
    """NgDP's OpenAPI 1.68.0 (FetchReceiptAsync in sjkp/digitalpost's generated client) documents both."""
    message_uuid = str(uuid.uuid4())

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/receipts/r-1") and request.url.params["delete"] == "false"
        return httpx.Response(status, json={"messageUUID": message_uuid, "receiptStatus": "COMPLETED"})

    async with NgdpClient("https://ngdp.test/apis/v1", "s", "t", transport=httpx.MockTransport(handler)) as c:
        receipt = await c.get_receipt("r-1")
    assert (receipt.id, receipt.message_uuid, receipt.receipt_status) == ("r-1", message_uuid, "COMPLETED")
