"""A memo bigger than its mailbox takes (issue 15): numbered, cross-referenced mails, each under the limit;
a crash between parts writes each part once; a file no mail can carry is named in a banner and alerted once;
a mailbox whose admin set less than the gateway was told refuses, and the gateway plans again.

Real GraphMailbox on the Graph emulator (whose per-mailbox maximum message size and its 400
ErrorMessageSizeExceeded are cited in graph_dpg/sandbox/graph/tenant.py), real NgDP client and store.
"""

from __future__ import annotations

import base64
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from graph_dpg import memo as m
from graph_dpg.domain.mail import MailMessage
from graph_dpg.ports.store import InboundState
from graph_dpg.sandbox.graph.tenant import counted_size

from .harness import ARCHIVE, BYG, MAIN, MONITOR, Harness, make_harness

from inbound_memos import CITIZEN, CP_BYG, ORG_CVR  # isort: skip

MB = 1024 * 1024
LIMIT = 5 * MB


def big_memo(sizes: list[int], label: str = "Byggeansøgning med tegninger") -> tuple[str, bytes, list[str]]:
    """A valid memo: a short HTML letter, then one PDF appendix per size (random bytes, seeded)."""
    rng = random.Random(sum(sizes))
    uid = uuid_for(label)
    names = [f"tegning-{i + 1}.pdf" for i in range(len(sizes))]
    message = m.MemoMessage(
        header=m.MessageHeader(
            message_type="DIGITALPOST",
            message_uuid=uid,
            label=label,
            sender=m.Sender(CITIZEN, "CPR", "Anders And"),
            recipient=m.Recipient(
                ORG_CVR, "CVR", label="Sandbox Kommune", contact_point=m.ContactPoint(CP_BYG)
            ),
            reply=True,
        ),
        body=m.MessageBody(
            created_datetime=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
            main_document=m.Document(
                "main", (m.File("text/html", "brev.html", "da", b"<p>Hermed tegningerne.</p>"),), label="Brev"
            ),
            additional_documents=tuple(
                m.Document(
                    "additional",
                    (m.File("application/pdf", name, "da", b"%PDF-1.4\n" + rng.randbytes(size - 9)),),
                    label=name,
                )
                for name, size in zip(names, sizes, strict=True)
            ),
        ),
    )
    return uid, m.build(message), names


def uuid_for(label: str) -> str:
    """A version-4 UUID (MeMo requires one) fixed by ``label``."""
    return str(uuid.UUID(int=random.Random(label).getrandbits(128), version=4))


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = make_harness(db_url, mailbox_max_message_bytes={BYG: LIMIT})
    harness.tenant.set_max_message_size(BYG, LIMIT)
    async with harness.mailbox:
        yield harness
    harness.store.close()


def stored_sizes(h: Harness, mailbox: str) -> list[int]:
    mb = h.tenant.mailbox(mailbox)
    inbox = h.tenant.folder(mb, "inbox").id
    return [counted_size(msg) for msg in mb.messages.values() if msg.folder_id == inbox]


def files_by_mail(h: Harness, mailbox: str) -> dict[str, list[str]]:
    return {mail["subject"]: [a["name"] for a in mail["attachments"]] for mail in h.messages(mailbox)}


async def test_a_12_mb_memo_in_a_5_mb_mailbox_is_four_cross_referenced_mails_each_under_the_limit(
    h: Harness,
) -> None:
    # 12 MB of files is 16 MB once base64-encoded, as Exchange counts a message: four mails of 5 MB at least
    uid, xml, names = big_memo([3 * MB // 2] * 8)
    h.ngdp.queue_inbound_memo(xml)
    stats = await h.service().run_once()
    assert (stats.delivered, stats.acknowledged, stats.errors) == (1, 1, [])
    label = "Byggeansøgning med tegninger"
    subjects = [f"{label} (del {k} af 4)" for k in range(1, 5)]
    by_subject = files_by_mail(h, BYG)
    assert sorted(by_subject) == sorted(subjects)
    assert by_subject[subjects[0]] == ["brev.html", names[0], names[1]]
    assert [by_subject[s] for s in subjects[1:]] == [names[2:4], names[4:6], names[6:8]]
    assert all(size <= LIMIT for size in stored_sizes(h, BYG))
    # every file arrived whole, once
    for mail in h.messages(BYG):
        for att in mail["attachments"]:
            if att["name"].startswith("tegning-"):
                index = names.index(att["name"])
                assert len(base64.b64decode(att["contentBytes"])) == 3 * MB // 2, index
    first = next(mail for mail in h.messages(BYG) if mail["subject"] == subjects[0])
    body = first["body"]["content"]
    assert "Brevet er delt i 4 mails" in body and "5,0 MB" in body
    assert f"Del 3 af 4: {names[4]}, {names[5]}" in body and uid in body
    assert first["internetMessageId"] == f"<memo-{uid}@graph-dpg.invalid>"  # replies go from part 1
    assert f"{uid}.memo.xml" not in by_subject[subjects[0]]  # 16 MB of XML fits no mail: the store keeps it
    third = next(mail for mail in h.messages(BYG) if mail["subject"] == subjects[2])
    assert "Del 3 af 4 af brevet" in third["body"]["content"]
    assert f"i del 1 (emne &quot;{subjects[0]}&quot;)" in third["body"]["content"]
    assert [r["receiptStatus"] for r in h.ngdp.inbound_receipts(uid)] == ["COMPLETED"]
    assert h.tenant.count_requests(mailbox=BYG, status=400) == 0  # planned right: nothing refused


class CrashAfterCreates:
    """The mailbox, but the process dies right after the ``after``-th message was created."""

    def __init__(self, inner: Any, after: int) -> None:
        self.inner = inner
        self.after = after
        self.created = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def create_message(self, mailbox: str, folder: str, message: MailMessage, **kw: Any) -> str:
        created: str = await self.inner.create_message(mailbox, folder, message, **kw)
        self.created += 1
        if self.created == self.after:
            raise SystemExit("crash between parts")
        return created


async def test_a_crash_between_parts_writes_each_part_once(h: Harness) -> None:
    uid, xml, names = big_memo([3 * MB // 2] * 8, label="Tegninger efter nedbrud")
    h.ngdp.queue_inbound_memo(xml)
    with pytest.raises(SystemExit):
        await h.service(CrashAfterCreates(h.mailbox, after=2)).run_once()
    assert len(h.messages(BYG)) == 2  # parts 1 and 2 written, the process died before recording part 2
    row = h.store.get_inbound(uid)
    assert row is not None and row.state is InboundState.RECEIVED
    stats = await h.service().run_once()
    assert (stats.delivered, stats.acknowledged, stats.errors) == (1, 1, [])
    delivered = [name for files in files_by_mail(h, BYG).values() for name in files]
    assert sorted(n for n in delivered if n.startswith("tegning-")) == sorted(names)  # each once
    assert len(h.messages(BYG)) == 4


async def test_a_file_too_big_for_any_mail_is_named_in_a_banner_and_alerted_once(h: Harness) -> None:
    uid, xml, names = big_memo([6 * MB, 200_000], label="Stor video")
    h.ngdp.queue_inbound_memo(xml)
    stats = await h.service().run_once()
    assert (stats.delivered, stats.acknowledged, stats.alerts, stats.errors) == (1, 1, 1, [])
    [mail] = h.messages(BYG)
    assert mail["subject"] == "Stor video"  # one mail: nothing to number
    assert [a["name"] for a in mail["attachments"]] == ["brev.html", names[1]]
    body = mail["body"]["content"]
    assert f"{names[0]} (6,0 MB) er større end postkassens grænse på 5,0 MB" in body
    assert "bed jeres it-afdeling om den, og oplys linjen nederst" in body
    assert f"Til it-support: messageUUID {uid}" in body  # the id only in the support line
    [alert] = h.messages(MONITOR)
    assert alert["subject"] == f"Digital Post Gateway: fil for stor til postkassen {BYG}"
    assert names[0] in alert["body"]["content"]
    assert f"graph-dpg memo export --memo-uuid {uid} --out MAPPE" in alert["body"]["content"]
    again = await h.service().run_once()
    assert again.alerts == 0 and len(h.messages(MONITOR)) == 1
    assert h.store.load_inbound_xml(uid) == xml  # the gateway keeps the memo with the file


async def test_a_mailbox_that_takes_less_than_configured_refuses_and_the_gateway_plans_again(
    db_url: str,
) -> None:
    h = make_harness(db_url)  # the gateway believes Exchange's default, 35 MB
    h.tenant.set_max_message_size(BYG, LIMIT)  # the admin set 5 MB
    async with h.mailbox:
        _, xml, names = big_memo([3 * MB // 2] * 4, label="Tegninger til lille postkasse")
        h.ngdp.queue_inbound_memo(xml)
        stats = await h.service().run_once()
        assert (stats.delivered, stats.acknowledged, stats.errors) == (1, 1, [])
        refusals = h.tenant.count_requests(mailbox=BYG, status=400)
        assert refusals >= 1  # refused, then planned smaller
        assert all(size <= LIMIT for size in stored_sizes(h, BYG))
        delivered = [name for files in files_by_mail(h, BYG).values() for name in files]
        assert sorted(n for n in delivered if n.startswith("tegning-")) == sorted(names)
        assert len(h.messages(BYG)) == len(files_by_mail(h, BYG)) >= 2
    h.store.close()


async def test_a_mailbox_that_refuses_even_the_smallest_mail_ends_in_the_fallback_not_a_loop(
    db_url: str,
) -> None:
    h = make_harness(db_url, fallback_after_attempts=1)
    h.tenant.set_max_message_size(BYG, 10_000)  # not even the letter fits
    async with h.mailbox:
        _, xml, _ = big_memo([200_000], label="Lille bilag")
        h.ngdp.queue_inbound_memo(xml)
        first = await h.service().run_once()
        assert first.delivered == 0 and "ErrorMessageSizeExceeded" in first.errors[0]
        second = await h.service().run_once()
        assert (second.delivered, second.fallbacks) == (1, 1)
        [mail] = h.messages(MAIN)
        assert f"Kunne ikke leveres i {BYG}" in mail["body"]["content"]
        assert h.messages(BYG) == []
    h.store.close()


async def test_the_archive_copy_of_a_split_memo_is_split_too_without_the_memos_message_id(
    db_url: str,
) -> None:
    h = make_harness(db_url, mailbox_max_message_bytes={BYG: LIMIT, ARCHIVE: LIMIT})
    for box in (BYG, ARCHIVE):
        h.tenant.set_max_message_size(box, LIMIT)
    async with h.mailbox:
        # "Byggesager pr. mail" (harness): subject contains "byggesag" → BYG, archive_to ARCHIVE
        uid, xml, names = big_memo([3 * MB // 2] * 4, label="Byggesag 9: tegninger")
        h.ngdp.queue_inbound_memo(xml)
        stats = await h.service().run_once()
        assert (stats.delivered, stats.errors) == (1, [])
        for box in (BYG, ARCHIVE):
            delivered = [name for files in files_by_mail(h, box).values() for name in files]
            assert sorted(n for n in delivered if n.startswith("tegning-")) == sorted(names), box
            assert all(size <= LIMIT for size in stored_sizes(h, box))
        ids = {mail["internetMessageId"] for mail in h.messages(ARCHIVE)}
        assert f"<memo-{uid}@graph-dpg.invalid>" not in ids
        again = await h.service().run_once()
        assert again.delivered == 0 and len(h.messages(ARCHIVE)) == len(h.messages(BYG)) == 2
    h.store.close()


async def test_an_invalid_memo_too_big_for_the_main_mailbox_is_delivered_without_its_xml_and_answered(
    db_url: str,
) -> None:
    h = make_harness(db_url, max_message_bytes=LIMIT)
    h.tenant.set_max_message_size(MAIN, LIMIT)
    async with h.mailbox:
        uid = uuid_for("ugyldig og stor")
        filler = base64.b64encode(random.Random(1).randbytes(4 * MB)).decode()
        broken = (
            '<memo:Message xmlns:memo="https://DigitalPost.dk/MeMo-1" memoVersion="1.2"><memo:MessageHeader>'
            f"<memo:messageType>DIGITALPOST</memo:messageType><memo:messageUUID>{uid}</memo:messageUUID>"
            f"</memo:MessageHeader><!-- {filler} --></memo:Message>"
        ).encode()
        h.ngdp.validate_memos = False
        h.ngdp.queue_inbound_memo(broken)
        stats = await h.service().run_once()
        assert (stats.delivered, stats.invalid, stats.acknowledged, stats.errors) == (1, 1, 1, [])
        mail = next(m for m in h.messages(MAIN) if m["subject"] == "Ugyldig Digital Post-meddelelse")
        # not the XML, only the small text file with the technical details
        assert [a["name"] for a in mail["attachments"]] == ["tekniske-detaljer.txt"]
        assert "bed jeres it-afdeling om dem, og oplys linjen nederst" in mail["body"]["content"]
        assert f"; messageUUID {uid}</p>" in mail["body"]["content"]  # the support line, last
        assert [r["receiptStatus"] for r in h.ngdp.inbound_receipts(uid)] == ["INVALID"]
        assert h.store.load_inbound_xml(uid) == broken
        # IT is told once, with the command that takes the memo out of the store
        assert stats.alerts == 1
        [alert] = h.messages(MONITOR)
        assert f"Brevet {uid} er leveret til {MAIN} uden sin MeMo-XML" in alert["body"]["content"]
        assert f"graph-dpg memo export --memo-uuid {uid}" in alert["body"]["content"]
        again = await h.service().run_once()
        assert again.alerts == 0 and len(h.messages(MONITOR)) == 1
    h.store.close()


async def test_a_part_refused_after_part_1_was_delivered_is_replanned_and_the_later_parts_correct_part_1(
    db_url: str,
) -> None:
    """Part 1 cannot be changed once it is in the mailbox (Graph updates body and subject only while
    isDraft: api-reference/v1.0/api/message-update.md): part 1 says N may grow, every part written after the
    re-plan says its overview replaces part 1's, and the last part says it is the last."""
    h = make_harness(db_url, mailbox_max_message_bytes={BYG: 10 * MB})  # the gateway believes 10 MB
    h.tenant.set_max_message_size(BYG, 8 * MB)  # the admin set 8 MB: part 1 (7 MB) fits, part 2 (8.4) not
    async with h.mailbox:
        label = "Tegninger, delt om"
        _, xml, names = big_memo([5 * MB, 2 * MB, 2 * MB, 2 * MB], label=label)
        h.ngdp.queue_inbound_memo(xml)
        stats = await h.service().run_once()
        assert (stats.delivered, stats.acknowledged, stats.errors) == (1, 1, [])
        assert h.tenant.count_requests(mailbox=BYG, status=400) >= 1  # part 2 was refused
        by_subject = files_by_mail(h, BYG)
        delivered = [name for files in by_subject.values() for name in files]
        assert sorted(n for n in delivered if n.startswith("tegning-")) == sorted(names)  # each once
        assert all(size <= 8 * MB for size in stored_sizes(h, BYG))
        total = len(by_subject)
        assert total > 2  # more mails than part 1 announced
        first_subject = f"{label} (del 1 af 2)"  # as written before the refusal
        assert by_subject[first_subject] == ["brev.html", names[0]]
        first = next(m for m in h.messages(BYG) if m["subject"] == first_subject)
        assert "Brevet er delt i 2 mails" in first["body"]["content"]
        assert "Den sidste mail siger altid, at den er den sidste" in first["body"]["content"]
        later = {
            k: next(m for m in h.messages(BYG) if m["subject"] == f"{label} (del {k} af {total})")
            for k in range(2, total + 1)
        }
        for k, mail in later.items():
            body = mail["body"]["content"]
            assert "Rettet oversigt: Del 1 nævner 2 mails" in body and f"Brevet er nu {total} mails" in body
            assert f"Del {total} af {total}: " in body  # the final layout
            assert f"i del 1 (emne &quot;{first_subject}&quot;)" in body  # part 1's real subject
            assert ("Dette er den sidste mail af brevet" in body) == (k == total)
    h.store.close()
