"""Issue 18, an inbound memo's first delivery attempt writes without looking its marker up, and every later
attempt looks it up as before (``services.inbound.memos._Attempt``); the claimed batch's delivered and deleted
marks are committed at once (``_record_delivered``, ``_record_deleted``). Crash points: after the create and
before the mark, a claim taken over by another replica after a noted attempt, between the parts of a split
memo, and after NgDP's delete before its record. Each memo is delivered, answered and recorded once.

Real GraphMailbox on the Graph emulator, real NgDP client on the NgDP emulator, real store (SQLite, or
PostgreSQL when the test database is given; tests/conftest.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from graph_dpg.adapters.store.schema import inbound_memos
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.domain.mail import MailMessage
from graph_dpg.ports.store import InboundState
from graph_dpg.services.inbound import MEMO_PROPERTY, InboundService, InboundStats
from graph_dpg.services.inbound.memos import MEMO_PART_PROPERTY, _XmlCache
from graph_dpg.services.inbound.shared import ARCHIVE_PROPERTY
from tests.store_rows import audit_rows

from .harness import ARCHIVE, BYG, Harness, make_harness
from .test_inbound_split import LIMIT, MB, big_memo, files_by_mail

from inbound_memos import CP_BYG, citizen_memo  # isort: skip


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = make_harness(db_url, mailbox_max_message_bytes={BYG: LIMIT})
    harness.tenant.set_max_message_size(BYG, LIMIT)
    async with harness.mailbox:
        yield harness
    harness.store.close()


class Watched:
    """The mailbox, counting marker lookups (by property name) and creates; the process 'dies'
    (SystemExit, which passes every boundary) right after the ``crash_after``-th create."""

    def __init__(self, inner: Any, crash_after: int | None = None) -> None:
        self.inner = inner
        self.crash_after = crash_after
        self.lookups: Counter[str] = Counter()
        self.created = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def find_by_extended_property(self, mailbox: str, folder: str, name: str, value: str) -> list[str]:
        self.lookups[name] += 1
        found: list[str] = await self.inner.find_by_extended_property(mailbox, folder, name, value)
        return found

    async def create_message(self, mailbox: str, folder: str, message: MailMessage, **kw: Any) -> str:
        created: str = await self.inner.create_message(mailbox, folder, message, **kw)
        self.created += 1
        if self.created == self.crash_after:
            raise SystemExit("simulated crash after create_message")
        return created


def service(h: Harness, mailbox: Any, owner: str) -> InboundService:
    return InboundService(mailbox, in_process_client(h.ngdp), h.store, h.settings, claim_owner=owner)


def carrying(h: Harness, mailbox: str, prop: str) -> Counter[str]:
    """How many messages in ``mailbox``'s inbox carry each value of the marker ``prop``."""
    found: Counter[str] = Counter()
    for message in h.messages(mailbox):
        for p in message.get("singleValueExtendedProperties", []):
            if p["id"].endswith(f"Name {prop}"):
                found[p["value"]] += 1
    return found


def events(h: Harness, action: str) -> Counter[str]:
    return Counter(row["subject"] for row in audit_rows(h.store, action=action))


async def test_a_first_delivery_writes_the_mail_and_its_archive_copy_without_a_lookup(h: Harness) -> None:
    uids = []
    for n in range(3):
        # "byggesag" in the subject: the rule that delivers to BYG and archives a copy (harness.py).
        uid, xml = citizen_memo(label=f"Byggesag {n}", contact_point=CP_BYG)
        h.ngdp.queue_inbound_memo(xml)
        uids.append(uid)
    watched = Watched(h.mailbox)

    stats = await service(h, watched, "replica-a").run_once()

    assert (stats.delivered, stats.acknowledged, stats.deleted, stats.errors) == (3, 3, 3, [])
    assert watched.lookups == Counter()  # each memo's route was recorded by this attempt: nothing to find
    assert carrying(h, BYG, MEMO_PROPERTY) == Counter(dict.fromkeys(uids, 1))
    assert carrying(h, ARCHIVE, ARCHIVE_PROPERTY) == Counter(dict.fromkeys(uids, 1))
    assert events(h, "inbound.memo.delivered") == Counter(dict.fromkeys(uids, 1))
    assert events(h, "inbound.memo.acknowledged") == Counter(dict.fromkeys(uids, 1))


async def test_a_crash_after_the_create_before_the_mark_delivers_once(h: Harness) -> None:
    uid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    h.ngdp.queue_inbound_memo(xml)
    first = Watched(h.mailbox, crash_after=1)
    with pytest.raises(SystemExit):
        await service(h, first, "replica-a").run_once()
    assert first.lookups == Counter()  # the first attempt wrote without looking
    row = h.store.get_inbound(uid)
    assert row is not None and row.state is InboundState.RECEIVED and row.route is not None
    assert carrying(h, BYG, MEMO_PROPERTY) == Counter({uid: 1})

    again = Watched(h.mailbox)
    stats = await service(h, again, "replica-a").run_once()  # the restart

    assert (stats.delivered, stats.acknowledged, stats.deleted, stats.errors) == (1, 1, 1, [])
    assert again.lookups[MEMO_PROPERTY] == 1 and again.created == 0  # found by its marker
    assert carrying(h, BYG, MEMO_PROPERTY) == Counter({uid: 1})
    assert events(h, "inbound.memo.delivered") == Counter({uid: 1})
    assert len(h.ngdp.inbound_receipts(uid)) == 1
    row = h.store.get_inbound(uid)
    assert row is not None and row.state is InboundState.DELETED
    assert row.created_message_id == h.messages(BYG)[0]["id"]


@pytest.mark.parametrize("created_before_the_crash", [True, False])
async def test_a_claim_taken_over_after_a_noted_attempt_looks_the_marker_up_and_delivers_once(
    h: Harness, created_before_the_crash: bool
) -> None:
    uid, xml = citizen_memo(label="Byggesag om carport", contact_point=CP_BYG)
    h.ngdp.queue_inbound_memo(xml)
    dying = Watched(h.mailbox, crash_after=1)
    if not created_before_the_crash:

        async def dies_before_writing(*args: Any, **kw: Any) -> str:
            raise SystemExit("simulated crash before create_message")

        dying.create_message = dies_before_writing  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        await service(h, dying, "replica-a").run_once()
    row = h.store.get_inbound(uid)
    assert row is not None and row.state is InboundState.RECEIVED and row.route is not None  # noted
    assert carrying(h, BYG, MEMO_PROPERTY) == Counter({uid: 1} if created_before_the_crash else {})
    with h.store.engine.begin() as conn:  # replica-a died holding the claim; the claim expired since
        conn.execute(
            update(inbound_memos)
            .where(inbound_memos.c.memo_uuid == uid)
            .values(claimed_by="replica-a", claimed_until=datetime.now(UTC) - timedelta(seconds=1))
        )

    survivor = Watched(h.mailbox)
    stats = await service(h, survivor, "replica-b").run_once(pull=False)

    assert (stats.delivered, stats.acknowledged, stats.deleted, stats.errors) == (1, 1, 1, [])
    assert survivor.lookups[MEMO_PROPERTY] == 1  # an attempt after a noted one looks
    assert survivor.lookups[ARCHIVE_PROPERTY] == 1  # and so does its archive copy
    assert survivor.created == (1 if created_before_the_crash else 2)
    assert carrying(h, BYG, MEMO_PROPERTY) == Counter({uid: 1})
    assert carrying(h, ARCHIVE, ARCHIVE_PROPERTY) == Counter({uid: 1})
    assert events(h, "inbound.memo.delivered") == Counter({uid: 1})
    assert [r["receiptStatus"] for r in h.ngdp.inbound_receipts(uid)] == ["COMPLETED"]


async def test_a_split_memo_writes_each_part_once_without_lookups_and_after_a_crash_with_them(
    h: Harness,
) -> None:
    uid, xml, names = big_memo([3 * MB // 2] * 8, label="Tegninger uden opslag")
    h.ngdp.queue_inbound_memo(xml)
    first = Watched(h.mailbox)
    stats = await service(h, first, "replica-a").run_once()
    assert (stats.delivered, stats.errors) == (1, [])
    assert first.lookups == Counter() and first.created == 4
    delivered = [name for files in files_by_mail(h, BYG).values() for name in files]
    assert sorted(n for n in delivered if n.startswith("tegning-")) == sorted(names)  # each once
    assert events(h, "inbound.memo.delivered") == Counter({uid: 1})

    uid2, xml2, names2 = big_memo([3 * MB // 2] * 8, label="Tegninger efter nedbrud, igen")
    h.ngdp.queue_inbound_memo(xml2)
    crashing = Watched(h.mailbox, crash_after=2)
    with pytest.raises(SystemExit):
        await service(h, crashing, "replica-a").run_once()
    assert crashing.lookups == Counter()
    again = Watched(h.mailbox)
    stats = await service(h, again, "replica-a").run_once()
    assert (stats.delivered, stats.errors) == (1, [])
    # Part 1 is recorded done (its effect): not looked for; part 2 was written but not recorded: found by
    # its marker; parts 3 and 4 are looked for (an attempt after a noted one), then written.
    assert again.lookups == Counter({MEMO_PART_PROPERTY: 3}) and again.created == 2
    delivered = [name for files in files_by_mail(h, BYG).values() for name in files]
    assert sorted(n for n in delivered if n.startswith("tegning-")) == sorted(names + names2)
    assert len(h.messages(BYG)) == 8
    assert events(h, "inbound.memo.delivered") == Counter({uid: 1, uid2: 1})


async def test_a_crash_after_the_delete_at_ngdp_before_its_record_answers_and_deletes_once(
    h: Harness,
) -> None:
    uids = []
    for n in range(3):
        uid, xml = citizen_memo(label=f"Sag {n}", contact_point=CP_BYG)
        h.ngdp.queue_inbound_memo(xml)
        uids.append(uid)
    crashing = service(h, h.mailbox, "replica-a")
    crashing.memos.store = _DiesRecordingDeletes(h.store)  # type: ignore[assignment]
    with pytest.raises(SystemExit):
        await crashing.run_once()
    assert h.ngdp.inbound_ids() == []  # answered and deleted at NgDP, the record lost
    for uid in uids:
        row = h.store.get_inbound(uid)
        assert row is not None and row.state is InboundState.DELIVERED
        assert len(h.ngdp.inbound_receipts(uid)) == 1
    assert events(h, "inbound.memo.acknowledged") == Counter()

    stats = await service(h, h.mailbox, "replica-b").run_once(pull=False)

    # The receipt again (NgDP: 404, the memo is gone: counted as answered), the DELETE again (404: done).
    assert (stats.acknowledged, stats.deleted, stats.errors) == (3, 3, [])
    assert events(h, "inbound.memo.acknowledged") == Counter(dict.fromkeys(uids, 1))
    for uid in uids:
        assert len(h.ngdp.inbound_receipts(uid)) == 1
        row = h.store.get_inbound(uid)
        assert row is not None and row.state is InboundState.DELETED
    assert carrying(h, BYG, MEMO_PROPERTY) == Counter(dict.fromkeys(uids, 1))


class _DiesRecordingDeletes:
    """The store, but the process dies when it is about to record the batch's deletes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def mark_deleted_many(self, *args: Any, **kw: Any) -> set[str]:
        raise SystemExit("simulated crash before the deletes were recorded")


def test_the_xml_cache_is_bounded_by_count_and_bytes() -> None:
    cache = _XmlCache(max_items=3, max_bytes=100)
    for n in range(5):
        cache.put(f"m{n}", b"x" * 10)
    assert len(cache) == 3 and cache.get("m0") is None and cache.get("m4") == b"x" * 10
    cache.put("big", b"y" * 90)  # evicts the oldest until the bytes fit
    assert cache.get("big") is not None and len(cache) == 2 and cache.get("m3") is None
    cache.put("huge", b"z" * 101)  # larger than the whole cache: not kept
    assert cache.get("huge") is None and cache.get("big") is not None
    cache.discard("big")
    cache.discard("big")
    assert len(cache) == 1
    cache.put("m4", b"w" * 5)  # replaced, counted once
    assert cache.get("m4") == b"w" * 5 and len(cache) == 1


async def test_delivery_on_a_replica_that_did_not_pull_loads_the_xml(h: Harness) -> None:
    uid, xml = citizen_memo(label="Carport", contact_point=CP_BYG)
    h.ngdp.queue_inbound_memo(xml)
    await service(h, h.mailbox, "replica-a").memos.pull(InboundStats())
    other = service(h, h.mailbox, "replica-b")
    stats = await other.run_once(pull=False)
    assert (stats.delivered, stats.errors) == (1, [])
    assert carrying(h, BYG, MEMO_PROPERTY) == Counter({uid: 1})
