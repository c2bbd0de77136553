"""SendMemoAsync (``POST memos/?memo-message-uuid=``, NgDP OpenAPI 1.68.0 as generated in github
sjkp/digitalpost ``src/digitalpost/DigitalPostClient.cs``): the real client against the emulator.

NgDP's answer to a messageUUID it already has is not published (docs/facts/ngdp.md, "Idempotency"), so the
emulator answers it in every plausible shape (``NgdpState.duplicate_answer``, each an inference) and every
test here runs all of them. After an attempt whose answer was lost, a 400 is settled by reconciliation
through the event log (QueryEventsAsync, ``GET events/``), never reported as a refusal of a delivered letter.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from graph_dpg.adapters.digital_post import NgdpClient
from graph_dpg.adapters.digital_post.client import is_duplicate_answer
from graph_dpg.core.errors import AmbiguousOutcomeError, RejectedError
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.sandbox.ngdp.samples import sample_memo
from graph_dpg.sandbox.ngdp.state import DUPLICATE_ANSWERS

CPR = "0101900000"


def memo(**kw: object) -> tuple[str, bytes]:
    uid = str(uuid.uuid4())
    kw.setdefault("recipient_id", CPR)
    return uid, sample_memo(message_uuid=uid, **kw)  # type: ignore[arg-type]


@pytest.fixture(params=DUPLICATE_ANSWERS)
def state(request: pytest.FixtureRequest) -> NgdpState:
    s = NgdpState(duplicate_answer=request.param, hang_seconds=0.01)
    s.register(cpr=CPR)
    return s


@pytest.fixture
async def client(state: NgdpState) -> AsyncIterator[NgdpClient]:
    c = in_process_client(state, max_send_attempts=3)
    try:
        yield c
    finally:
        await c.aclose()


def posts(state: NgdpState) -> list[int]:
    return [code for method, path, code in state.request_log if method == "POST" and path.endswith("/memos/")]


async def test_send_memo_async_the_same_uuid_twice_is_one_memo_in_every_duplicate_shape(
    state: NgdpState, client: NgdpClient
) -> None:
    """A later run sending again (crash before recording): 409, 400/422 naming the duplicate, or (for an
    opaque 400) the caller's record that it may have sent it, all end in "NgDP has it", stored once."""
    uid, xml = memo()
    first = await client.send_memo(uid, xml)
    assert (first.duplicate, first.receipt_status) == (False, "RECEIVED")
    again = await client.send_memo(uid, xml, possibly_sent=True)
    assert (again.message_uuid, again.duplicate) == (uid, True)
    assert state.accepted_count(uid) == 1
    assert state.duplicate_count == 1


async def test_send_memo_async_answer_lost_then_retried_is_delivered_not_refused(
    state: NgdpState, client: NgdpClient
) -> None:
    """timeout_after_accept: NgDP stored the memo, the answer never came; the retry meets the duplicate
    answer, whatever its shape, and the letter counts as delivered."""
    uid, xml = memo()
    state.faults.script("send", "timeout_after_accept")
    result = await client.send_memo(uid, xml)
    assert (result.message_uuid, result.duplicate) == (uid, True)
    assert state.accepted_count(uid) == 1
    assert posts(state)[0] == 0 and len(posts(state)) == 2  # the lost answer, then the duplicate


async def test_send_memo_async_a_validation_400_stays_a_refusal(state: NgdpState, client: NgdpClient) -> None:
    uid, xml = memo(sender_cvr="12345674")  # not the system's organisation
    with pytest.raises(RejectedError) as caught:
        await client.send_memo(uid, xml)
    assert caught.value.code == "SENDER_NOT_ALLOWED"
    assert state.accepted_count(uid) == 0


async def test_send_memo_async_a_400_after_a_lost_answer_is_reconciled_by_query_events(
    state: NgdpState, client: NgdpClient
) -> None:
    """possibly_sent and a refusal NgDP's event log confirms (MEMO_SEND_VALIDATION_FAILED, no
    MEMO_SEND_RECEIVED): the refusal stands; it is asked, not assumed."""
    uid, xml = memo(sender_cvr="12345674")
    with pytest.raises(RejectedError):
        await client.send_memo(uid, xml, possibly_sent=True)
    assert any(m == "GET" and p.endswith("/events/") for m, p, _ in state.request_log)


async def test_query_events_async_unreadable_leaves_the_outcome_open_not_refused() -> None:
    """When the event log cannot be read (here: 503), an opaque 400 after a lost answer is
    AmbiguousOutcomeError (retried later), never RejectedError."""
    state = NgdpState(duplicate_answer="400-opaque")
    state.register(cpr=CPR)
    uid, xml = memo()
    async with in_process_client(state, max_attempts=1) as client:
        await client.send_memo(uid, xml)
        state.faults.script("other", "503")  # events/ is "other" to the fault plan
        with pytest.raises(AmbiguousOutcomeError):
            await client.send_memo(uid, xml, possibly_sent=True)
        # once the log answers again, the same call settles it: NgDP has the memo
        again = await client.send_memo(uid, xml, possibly_sent=True)
    assert again.duplicate and state.accepted_count(uid) == 1


@pytest.mark.parametrize(
    ("status", "error", "duplicate"),
    [
        (409, None, True),
        (400, {"code": "DUPLICATE_MESSAGE_UUID"}, True),
        (422, {"code": "MEMO_ALREADY_RECEIVED"}, True),
        (400, {"code": "X", "fieldErrors": [{"field": "messageUUID", "message": "already exists"}]}, True),
        (400, {"code": "X", "fieldErrors": [{"field": "memo-message-uuid", "code": "Unique"}]}, True),
        # a messageUUID that is wrong, not repeated, is a refusal
        (400, {"code": "X", "fieldErrors": [{"field": "memo-message-uuid", "code": "MISMATCH"}]}, False),
        (400, {"code": "X", "fieldErrors": [{"field": "label", "message": "already too long"}]}, False),
        (400, {"code": "MEMO_VALIDATION_FAILED"}, False),
        (503, {"code": "DUPLICATE"}, False),
    ],
)
def test_send_memo_async_duplicate_shapes_are_told_from_refusals(
    status: int, error: dict[str, object] | None, duplicate: bool
) -> None:
    assert is_duplicate_answer(status, error) is duplicate


async def test_query_events_async_is_read_page_by_page_until_the_memo_is_found() -> None:
    """QueryEventsAsync takes ``page`` (zero-based) and ``size`` and answers an ``EventLogSearchResult``
    with ``currentPage``/``totalPages`` (sjkp/digitalpost DigitalPostClient.cs): a memo whose accepting
    event is not on the first page is still found, by reading on."""
    state = NgdpState(duplicate_answer="400-opaque")
    state.register(cpr=CPR)
    uid, xml = memo()
    for _ in range(250):  # a busy log: events naming the UUID before the one that says NgDP has it
        state.log_event("MEMO_SEND_VALIDATION_FAILED", uid)
    async with in_process_client(state, max_attempts=1, event_page_size=100) as client:
        await client.send_memo(uid, xml)
        again = await client.send_memo(uid, xml, possibly_sent=True)
    assert again.duplicate and state.accepted_count(uid) == 1
    pages = [p for m, p, _ in state.request_log if m == "GET" and p.endswith("/events/")]
    assert len(pages) == 3  # 250 + the memo's own events: the accepting one is on page 2


async def test_query_events_async_paging_is_bounded_and_then_leaves_the_outcome_open() -> None:
    """A log longer than the client reads (``event_max_pages``) is not guessed at: an opaque 400 after a
    lost answer stays AmbiguousOutcomeError (retried later), neither refused nor taken as delivered."""
    state = NgdpState(duplicate_answer="400-opaque")
    state.register(cpr=CPR)
    uid, xml = memo()
    for _ in range(50):
        state.log_event("MEMO_SEND_VALIDATION_FAILED", uid)
    async with in_process_client(state, max_attempts=1, event_page_size=10, event_max_pages=3) as client:
        await client.send_memo(uid, xml)
        with pytest.raises(AmbiguousOutcomeError):
            await client.send_memo(uid, xml, possibly_sent=True)
    pages = [p for m, p, _ in state.request_log if m == "GET" and p.endswith("/events/")]
    assert len(pages) == 3
