"""One contract, two Digital Posts: the in-memory fake the service tests use, and the real NgDP client on
the NgDP emulator (in-process). The same assertions run against both, so the fake keeps the answers the
services rely on: duplicates are successes, repeated deletes and receipts are harmless, gone is gone."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from graph_dpg.core.errors import NotFoundError
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.ports.digital_post import DigitalPostPort
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.sandbox.ngdp.samples import sample_memo
from tests.fakes import FakeDigitalPost

CPR = "0101900000"


@dataclass
class Ngdp:
    port: DigitalPostPort
    hold_memo: Callable[[str, bytes], None]  # a memo NgDP holds for the organisation
    hold_receipt: Callable[[str, str], str]  # (messageUUID, status) → the receipt's id


@pytest.fixture(params=["fake", "emulator"])
async def ngdp(request: pytest.FixtureRequest) -> AsyncIterator[Ngdp]:
    if request.param == "fake":
        fake = FakeDigitalPost()
        yield Ngdp(fake, fake.hold_memo, lambda u, s: fake.hold_receipt(u, s))
        return
    state = NgdpState()
    state.register(cpr=CPR)

    def hold_memo(memo_id: str, xml: bytes) -> None:
        assert state.queue_inbound_memo(xml) == memo_id

    def hold_receipt(message_uuid: str, status: str) -> str:
        return state.queue_receipt({"messageUUID": message_uuid, "receiptStatus": status})

    client = in_process_client(state)
    try:
        yield Ngdp(client, hold_memo, hold_receipt)
    finally:
        await client.aclose()


def memo() -> tuple[str, bytes]:
    uid = str(uuid.uuid4())
    return uid, sample_memo(message_uuid=uid, recipient_id=CPR)


async def test_a_memo_sent_again_is_a_duplicate_not_an_error(ngdp: Ngdp) -> None:
    uid, xml = memo()
    first = await ngdp.port.send_memo(uid, xml)
    assert (first.message_uuid, first.duplicate, first.receipt_status) == (uid, False, "RECEIVED")
    assert first.transmission_id
    again = await ngdp.port.send_memo(uid, xml)
    assert (again.message_uuid, again.duplicate) == (uid, True)


async def test_a_held_memo_is_fetched_answered_once_and_deleted_once(ngdp: Ngdp) -> None:
    uid, xml = memo()
    ngdp.hold_memo(uid, xml)
    assert uid in await ngdp.port.list_memos()
    assert await ngdp.port.get_memo(uid) == xml
    await ngdp.port.send_memo_receipt(uid, "COMPLETED")
    await ngdp.port.send_memo_receipt(uid, "COMPLETED")  # a retry after a lost answer is harmless
    await ngdp.port.delete_memo(uid)
    await ngdp.port.delete_memo(uid)  # so is a second delete
    assert uid not in await ngdp.port.list_memos()
    with pytest.raises(NotFoundError):
        await ngdp.port.get_memo(uid)
    with pytest.raises(NotFoundError):
        await ngdp.port.send_memo_receipt(uid, "COMPLETED")


async def test_a_business_receipt_is_read_and_deleted_once(ngdp: Ngdp) -> None:
    uid = str(uuid.uuid4())
    rid = ngdp.hold_receipt(uid, "INVALID")
    assert rid in await ngdp.port.list_receipts()
    receipt = await ngdp.port.get_receipt(rid)
    assert (receipt.message_uuid, receipt.receipt_status) == (uid, "INVALID")
    assert receipt.raw["messageUUID"] == uid
    await ngdp.port.delete_receipt(rid)
    await ngdp.port.delete_receipt(rid)
    assert rid not in await ngdp.port.list_receipts()
    with pytest.raises(NotFoundError):
        await ngdp.port.get_receipt(rid)


async def test_receipts_in_bulk_carry_their_ids_and_stay_until_deleted(ngdp: Ngdp) -> None:
    uid = str(uuid.uuid4())
    rid = ngdp.hold_receipt(uid, "COMPLETED")
    [receipt] = [r for r in await ngdp.port.fetch_receipts() if r.message_uuid == uid]
    assert (receipt.id, receipt.receipt_status) == (rid, "COMPLETED")
    assert rid in [r.id for r in await ngdp.port.fetch_receipts()]  # fetching deletes nothing
    await ngdp.port.delete_receipt(rid)
    assert rid not in [r.id for r in await ngdp.port.fetch_receipts()]


async def test_plain_html_is_approved(ngdp: Ngdp) -> None:
    verdict = await ngdp.port.validate_html("brev.html", b"<html><body><p>Hej</p></body></html>")
    assert verdict.approved
