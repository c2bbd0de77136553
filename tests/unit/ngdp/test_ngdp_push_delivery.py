"""Emulated NgDP REST PUSH into the gateway's push receiver: nothing lost when storage fails for a while."""

from __future__ import annotations

import uuid

import httpx

from graph_dpg.adapters.digital_post import create_push_app
from graph_dpg.ports.digital_post import BusinessReceipt
from graph_dpg.sandbox.ngdp import NgdpPusher, NgdpState
from graph_dpg.sandbox.ngdp.samples import sample_memo

TOKEN = "push-secret"


class FlakySink:
    def __init__(self) -> None:
        self.memos: dict[str, bytes] = {}
        self.receipts: list[BusinessReceipt] = []
        self.failures_left = 0

    def _fail_now(self) -> bool:
        if self.failures_left > 0:
            self.failures_left -= 1
            return True
        return False

    async def store_pushed_memo(self, memo_uuid: str, xml: bytes) -> None:
        if self._fail_now():
            raise RuntimeError("disk full")
        self.memos[memo_uuid] = xml

    async def store_pushed_receipt(self, receipt: BusinessReceipt) -> None:
        if self._fail_now():
            raise RuntimeError("disk full")
        self.receipts.append(receipt)


def pusher(state: NgdpState, sink: FlakySink, token: str = TOKEN) -> NgdpPusher:
    app = create_push_app(sink, TOKEN)
    return NgdpPusher(
        state,
        memo_url="https://gw.test/memos",
        receipt_url="https://gw.test/receipts",
        token=token,
        transport=httpx.ASGITransport(app=app),
    )


async def test_memos_are_redelivered_until_stored() -> None:
    state, sink = NgdpState(validate_memos=False), FlakySink()
    ids = [state.queue_inbound_memo(sample_memo(version=v)) for v in ("1.1", "1.2", "1.2")]
    sink.failures_left = 2
    p = pusher(state, sink)
    first = await p.push_memos()
    assert sorted(first.values()) == [200, 503, 503]
    assert len(sink.memos) == 1
    second = await p.push_memos()
    assert set(second.values()) == {200}
    assert len(second) == 2  # only the ones not yet delivered
    assert set(sink.memos) == set(ids)
    assert sorted(state.pushed_inbound) == sorted(ids)
    assert state.inbound_ids() == []
    assert await p.push_memos() == {}
    await p.aclose()


async def test_receipts_are_pushed_and_leave_the_queue_on_200() -> None:
    state, sink = NgdpState(validate_memos=False), FlakySink()
    message_uuid = str(uuid.uuid4())
    rid = state.queue_receipt({"messageUUID": message_uuid, "receiptStatus": "COMPLETED", "errorCode": None})
    sink.failures_left = 1
    p = pusher(state, sink)
    assert await p.push_receipts() == {rid: 503}
    assert state.receipt_ids() == [rid]
    assert await p.push_receipts() == {rid: 200}
    assert [r.message_uuid for r in sink.receipts] == [message_uuid]
    assert state.deleted_receipts == [rid]
    await p.aclose()


async def test_wrong_token_keeps_everything_queued() -> None:
    state, sink = NgdpState(validate_memos=False), FlakySink()
    memo_id = state.queue_inbound_memo(sample_memo())
    p = pusher(state, sink, token="wrong")
    assert await p.push_memos() == {memo_id: 401}
    assert state.inbound_ids() == [memo_id]
    assert sink.memos == {}
    await p.aclose()
