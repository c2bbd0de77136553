"""Seed 000: Digital Post forwarded by NgDP's SMTP recipient system as S/MIME e-mail, end to end on the
emulators (SQLite and PostgreSQL): the NgDP emulator's forwarder encrypts each shape with ``cryptography``
(not the gateway's code) into the Graph emulator's mailbox as Exchange stores S/MIME ([MS-OXOSMIME]
2.1.3.1); the real GraphMailbox, SqlStore and S/MIME opener (test PKI) read it; the memo pipeline
delivers it like a pulled memo. The shapes and the notice are inference (docs/facts/ngdp.md,
"Receiving by SMTP")."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

from graph_dpg.ports.store import InboundSource, InboundState
from graph_dpg.sandbox.ngdp.forwarder import SHAPES, Shape, forward, forwarded_mail
from graph_dpg.services.inbound import InboundService
from graph_dpg.services.inbound.forwarded import forwarded_opening
from tests.smime_pki import Pki, make_pki

from .harness import BYG, MAIN, MONITOR, Harness, make_harness

from inbound_memos import CP_BYG, citizen_memo  # isort: skip

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="the test PKI needs openssl")

SMTP = "sikkerpost@kommune.dk"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def harness(db_url: str, *, receipt: bool = True) -> Harness:
    h = make_harness(
        db_url,
        inbox_sources=((MAIN, "inbox"), (SMTP, "inbox")),
        forwarded_mailboxes=frozenset({SMTP}),
        forwarded_receipt=receipt,
    )
    h.tenant.add_mailbox(SMTP, "Sikker post fra Digital Post")
    return h


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness_ = harness(db_url)
    async with harness_.mailbox:
        yield harness_
    harness_.store.close()


def service(h: Harness, pki: Pki) -> InboundService:
    secure = h.secure_opening(pki)
    return h.service_with(open_mail=forwarded_opening(secure, h.store, frozenset({SMTP})))


def only(messages: list[dict[str, Any]], subject: str) -> dict[str, Any]:
    [found] = [m for m in messages if m["subject"] == subject]
    return found


@pytest.mark.parametrize("shape", [s for s in SHAPES if s != "large"])
async def test_each_shape_is_delivered_like_a_pulled_memo_and_answered(
    h: Harness, pki: Pki, shape: Shape
) -> None:
    label = f"Carport ({shape})"
    uid, xml = citizen_memo(label=label, contact_point=CP_BYG, body_html=None)
    forward(
        h.ngdp, h.tenant.deliver_mime, xml, mailbox=SMTP, recipient_pem=pki.org.pem.read_bytes(), shape=shape
    )

    stats = await service(h, pki).run_once(pull=False)

    assert stats.errors == [] and stats.forwarded == 1
    assert (stats.delivered, stats.acknowledged) == (1, 1)
    # The contact point's mailbox, as for a pulled memo; DP2 metadata names no contact point: the main one.
    target = MAIN if shape == "dp2" else BYG
    byg = only(h.messages(target), label)
    assert byg["internetMessageId"] == f"<memo-{uid}@graph-dpg.invalid>"  # replies find the MeMo
    names = [a["name"] for a in byg["attachments"]]
    assert "brev.pdf" in names and "bilag-1.pdf" in names
    kept = h.attachment(byg, f"{uid}.memo.xml")
    if shape == "dp2":  # made from DP2 metadata: the same letter, files and sender
        assert b"Carport" in kept and b"brev.pdf" in kept and b"<memo:senderID>0101701234<" in kept
    else:
        assert kept == xml
    row = h.store.get_inbound(uid)
    assert row is not None and row.source is InboundSource.MAIL and row.state is InboundState.ACKNOWLEDGED
    assert [r["receiptStatus"] for r in h.ngdp.inbound_receipts(uid)] == ["COMPLETED"]
    assert h.ngdp.inbound_ids() == []  # an SMTP system's memo is never offered for pull
    assert h.messages(MONITOR) == []

    again = await service(h, pki).run_once(pull=False)  # nothing delivered twice
    assert (again.forwarded, again.delivered, again.acknowledged) == (0, 0, 0)
    assert len([m for m in h.messages(target) if m["subject"] == label]) == 1


async def test_the_same_memo_forwarded_twice_is_delivered_once(h: Harness, pki: Pki) -> None:
    _uid, xml = citizen_memo(label="To gange", contact_point=CP_BYG)
    pem = pki.org.pem.read_bytes()
    h.tenant.deliver_mime(SMTP, forwarded_mail(xml, "memo-part", pem, SMTP))
    h.tenant.deliver_mime(SMTP, forwarded_mail(xml, "memo-attachment", pem, SMTP))

    stats = await service(h, pki).run_once(pull=False)

    assert stats.errors == [] and stats.forwarded == 2 and stats.delivered == 1
    assert len([m for m in h.messages(BYG) if m["subject"] == "To gange"]) == 1


async def test_smtp_only_system_sends_no_rest_receipt(db_url: str, pki: Pki) -> None:
    h = harness(db_url, receipt=False)
    async with h.mailbox:
        uid, xml = citizen_memo(label="Kun SMTP", contact_point=CP_BYG)
        forward(h.ngdp, h.tenant.deliver_mime, xml, mailbox=SMTP, recipient_pem=pki.org.pem.read_bytes())
        stats = await service(h, pki).run_once(pull=False)
        assert stats.errors == [] and stats.delivered == 1 and stats.acknowledged == 1
        assert only(h.messages(BYG), "Kun SMTP")
        assert h.ngdp.inbound_receipts(uid) == []
        row = h.store.get_inbound(uid)
        assert row is not None and row.state is InboundState.ACKNOWLEDGED
    h.store.close()


async def test_large_letter_notice_gets_a_banner_saying_what_to_do_and_one_alert(
    h: Harness, pki: Pki
) -> None:
    _, xml = citizen_memo(label="Stort bilag")
    forward(
        h.ngdp,
        h.tenant.deliver_mime,
        xml,
        mailbox=SMTP,
        recipient_pem=pki.org.pem.read_bytes(),
        shape="large",
    )

    stats = await service(h, pki).run_once(pull=False)
    await service(h, pki).run_once(pull=False)

    assert stats.errors == [] and stats.forwarded == 0 and stats.delivered == 0
    [notice] = [m for m in h.messages(MAIN) if "dpg-banner" in m["body"]["content"]]
    text = notice["body"]["content"]
    assert "Et stort brev venter i Digital Post" in text
    assert "Log på Digital Post for virksomheder via Virk" in text and "ngdp-smtp:too-large" in text
    assert "for stor til at blive videresendt" in text  # the notice itself, readable
    assert len(h.messages(MONITOR)) == 1


async def test_forwarded_mail_that_cannot_be_decrypted_gets_a_banner_and_one_alert(
    h: Harness, pki: Pki
) -> None:
    uid, xml = citizen_memo(label="Forkert certifikat", contact_point=CP_BYG)
    wrong = pki.stranger.pem.read_bytes()
    forward(h.ngdp, h.tenant.deliver_mime, xml, mailbox=SMTP, recipient_pem=wrong)

    stats = await service(h, pki).run_once(pull=False)
    await service(h, pki).run_once(pull=False)

    assert stats.errors == [] and stats.forwarded == 0
    [banner] = [m for m in h.messages(MAIN) if "dpg-banner" in m["body"]["content"]]
    assert "smime:no-key" in banner["body"]["content"]
    assert [a["name"] for a in banner["attachments"]] == ["smime.p7m"]  # nothing lost
    assert len(h.messages(MONITOR)) == 1
    assert h.store.get_inbound(uid) is None
