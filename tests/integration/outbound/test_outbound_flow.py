"""Outbound end to end: Sent Items (Graph emulator) → MeMo (NgDP emulator) → receipt mail + categories.

Real adapters and the real store on SQLite and PostgreSQL (``db_url``); nothing mocked.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update

from graph_dpg.adapters.store import schema as t
from graph_dpg.memo import parse
from graph_dpg.ports.store import EffectState, JobState
from graph_dpg.services.outbound import CycleStats, OutboundService

from .harness import (
    CITIZEN,
    CITIZEN2,
    COMPANY,
    MAILBOX,
    OTHER_MAILBOX,
    PDF,
    RECIPIENT_CP,
    SENDER_CP,
    UNREGISTERED,
    Harness,
)

GW = "ngdp.digital-post.dk"


async def test_single_message_to_a_citizen_with_receipt_and_categories(h: Harness) -> None:
    mid = h.send("Afgørelse om boligstøtte", [f"{CITIZEN}@29189846.{GW}"], cc=[("", "kollega@kommune.dk")])
    await h.cycle()
    [memo] = h.ngdp.accepted
    parsed = parse(memo.xml)
    assert parsed.header.label == "Afgørelse om boligstøtte"
    assert parsed.header.recipient.recipient_id == CITIZEN
    assert parsed.header.sender.sender_id == "29189846"
    assert parsed.header.sender.label == "Sandbox Kommune"
    assert parsed.header.reply is False
    assert parsed.header.reply_data == ()
    [receipt] = h.receipts()
    assert receipt["subject"] == "DPG kvittering: Afgørelse om boligstøtte"
    assert "010170-xxxx" in receipt["body"]["content"]
    assert CITIZEN not in receipt["body"]["content"]
    assert receipt["isDraft"] is False
    assert h.categories(mid) == ["Digital Post: Sendt"]
    names = {c["displayName"] for c in h.tenant.master_categories(MAILBOX)}
    assert "Digital Post: Sendt" in names

    # Business receipts: pulled, recorded, deleted at NgDP, reflected in the category.
    assert await h.service.pull_business_receipts() == 1
    assert await h.service.apply_business_receipts() == 1
    await h.service.run_effects()
    assert h.categories(mid) == ["Digital Post: Kvitteret"]
    assert h.ngdp.deleted_receipts


async def test_nothing_happens_twice_across_cycles_and_restarts(h: Harness) -> None:
    h.send("Brev", [f"{CITIZEN}@29189846.{GW}", f"{CITIZEN2}@29189846.{GW}"])
    await h.cycle(3)
    restarted = OutboundService(h.mailbox, h.service.ngdp, h.store, h.service.settings)
    await restarted.run_once()
    h.tenant.expire_delta_tokens()  # a full resync replays every message of Sent Items
    await restarted.run_once()
    assert h.accepted_recipients() == sorted([CITIZEN, CITIZEN2])
    assert h.ngdp.duplicate_count == 0
    assert len(h.receipts()) == 1


async def test_reply_and_contact_points(h: Harness) -> None:
    h.send(
        "Svar ønskes",
        [f"{CITIZEN}-reply.{RECIPIENT_CP}@{SENDER_CP}.{GW}", f"{COMPANY}@29189846.{GW}"],
    )
    await h.cycle()
    memos = {m.summary.recipient_id: parse(m.xml) for m in h.ngdp.accepted}
    reply = memos[CITIZEN].header
    assert reply.reply is True
    assert reply.sender.contact_point is not None
    assert reply.sender.contact_point.contact_point_id == SENDER_CP
    assert reply.recipient.contact_point is not None
    assert reply.recipient.contact_point.contact_point_id == RECIPIENT_CP
    [ours] = reply.reply_data
    assert ours.message_uuid == reply.message_uuid
    assert ours.contact_point_id == SENDER_CP
    plain = memos[COMPANY].header
    assert plain.reply is False
    assert plain.recipient.id_type == "CVR"
    assert plain.sender.contact_point is None


async def test_danish_letters_survive_to_the_memo(h: Harness) -> None:
    h.send(
        "Æbler, øl og å",
        [f"{CITIZEN}@29189846.{GW}"],
        body="<p>Kære Søren Ærø – vi har modtaget din ansøgning om tilskud til ål.</p>",
        attachments=[
            ("Bilag æøå.pdf", "application/pdf", PDF),
            ("noter.txt", "text/plain", "Ærø".encode("cp1252")),
        ],
    )
    await h.cycle()
    [memo] = h.ngdp.accepted
    parsed = parse(memo.xml)
    assert parsed.header.label == "Æbler, øl og å"
    files = {f.filename: f for f in parsed.files()}
    assert "Bilag æøå.pdf" in files
    assert files["noter.txt"].content == "Ærø".encode()
    html = next(f for f in parsed.files() if f.encoding_format == "text/html").content.decode("utf-8")
    assert "Søren Ærø" in html
    assert "ål" in html


async def test_mass_delivery(h: Harness) -> None:
    cprs = [f"{d:02d}0170{s:04d}" for d in range(1, 26) for s in range(10)]
    h.send(
        "Masseudsendelse",
        [f"masseforsendelse-{len(cprs)}@29189846.{GW}"],
        attachments=[
            ("masseforsendelse.txt", "text/plain", ("\r\n".join(cprs) + "\r\n").encode()),
            ("body.pdf", "application/pdf", PDF),
        ],
    )
    await h.cycle()
    assert h.accepted_recipients() == sorted(cprs)
    first = parse(h.ngdp.accepted[0].xml)
    assert [f.filename for f in first.files()] == ["body.pdf"]
    assert len({m.message_uuid for m in h.ngdp.accepted}) == len(cprs)
    [receipt] = h.receipts()
    assert receipt["subject"] == "DPG kvittering: Masseudsendelse"
    names = [a["name"] for a in receipt["attachments"]]
    assert names == ["modtagere.csv"]


async def test_mass_delivery_count_mismatch_sends_nothing(h: Harness) -> None:
    mid = h.send(
        "Forkert antal",
        [f"masseforsendelse-3@29189846.{GW}"],
        attachments=[("masseforsendelse.txt", "text/plain", f"{CITIZEN}\n{CITIZEN2}\n".encode())],
    )
    await h.cycle()
    assert h.ngdp.accepted == []
    [receipt] = h.receipts()
    assert receipt["subject"] == "DPG fejlkvittering: Forkert antal"
    body = receipt["body"]["content"]
    assert "Adressen angiver 3 modtagere, men masseforsendelse.txt har 2" in body
    assert "masseforsendelse-2" in body and body.count("mass.count") == 1  # in the support line only
    assert h.categories(mid) == ["Digital Post: Fejl"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("eleven", "Mailen har 11 vedhæftede filer, men Digital Post modtager højst 10."),
        ("exe", "faktura.pdf&#x27; er et program eller et script"),
        ("unauthorised", "må ikke sende som CVR 29189846"),
        ("leak", "må kun sendes til Digital Post-modtagere eller interne postkasser"),
        ("bad_address", "de første seks cifre i CPR-nummeret er ikke en dato (DDMMÅÅ)"),
    ],
)
async def test_validation_failures_send_nothing_and_explain(h: Harness, case: str, expected: str) -> None:
    to = [f"{CITIZEN}@29189846.{GW}"]
    kw: dict[str, object] = {}
    mailbox = MAILBOX
    if case == "eleven":
        kw["attachments"] = [(f"bilag{i}.pdf", "application/pdf", PDF) for i in range(11)]
    elif case == "exe":
        kw["attachments"] = [("faktura.pdf", "application/pdf", b"MZ\x90\x00" + b"\x00" * 200)]
    elif case == "unauthorised":
        mailbox = OTHER_MAILBOX
    elif case == "leak":
        to.append("nogen@gmail.com")
        kw["attachments"] = [("MemoHeader.json", "application/json", b'{"label": "x"}')]
    elif case == "bad_address":
        to = [f"1234567890@29189846.{GW}"]
    h.send("Test", to, mailbox=mailbox, **kw)  # type: ignore[arg-type]
    await h.cycle()
    assert h.ngdp.accepted == []
    [receipt] = h.receipts(mailbox)
    assert receipt["subject"] == "DPG fejlkvittering: Test"
    assert expected in receipt["body"]["content"]


async def test_ngdp_rejection_reaches_the_receipt_verbatim(h: Harness) -> None:
    h.ngdp.add_contact_point(RECIPIENT_CP, "Lille kontaktpunkt", allowed_number_of_attachments=1)
    h.send(
        "To bilag",
        [f"{CITIZEN}.{RECIPIENT_CP}@29189846.{GW}", f"{CITIZEN2}@29189846.{GW}"],
        attachments=[("a.pdf", "application/pdf", PDF), ("b.pdf", "application/pdf", PDF)],
    )
    await h.cycle()
    assert h.accepted_recipients() == [CITIZEN2]
    [rejected] = h.ngdp.rejected
    [receipt] = h.receipts()
    assert receipt["subject"] == "DPG kvittering med fejl: To bilag"
    assert rejected.error["code"] in receipt["body"]["content"]


async def test_transient_faults_are_retried_with_the_same_uuid(h: Harness) -> None:
    h.ngdp.faults.script("send", "503", "reset", "timeout_after_accept")
    h.ngdp.hang_seconds = 0.05
    h.send("Ustabil forbindelse", [f"{CITIZEN}@29189846.{GW}"])
    await h.cycle(4)
    assert h.accepted_recipients() == [CITIZEN]
    assert len(h.receipts()) == 1


async def test_unregistered_recipient_gets_failed_category_after_business_receipt(h: Harness) -> None:
    mid = h.send("Til uregistreret", [f"{UNREGISTERED}@29189846.{GW}"])
    await h.cycle()
    await h.service.pull_business_receipts()
    await h.service.apply_business_receipts()
    await h.service.run_effects()
    assert h.categories(mid) == ["Digital Post: Fejl"]
    first, update = _first_then_updates(h)  # the send receipt, then one update for the business receipt
    assert first["subject"] == "DPG kvittering: Til uregistreret"
    assert update["subject"] == "DPG opdateret kvittering: Til uregistreret"
    # The business receipt's status in words with what to do, never the raw token (issue 17).
    assert "afviste brevet som ugyldigt" in update["body"]["content"]
    assert not any(
        "receipt:" in r["body"]["content"] or "INVALID" in r["body"]["content"] for r in (first, update)
    )


def _first_then_updates(h: Harness) -> list[dict[str, Any]]:
    return sorted(h.receipts(), key=lambda r: "opdateret" in r["subject"])


async def test_exempt_citizen_one_receipt_then_one_update_threaded_to_it(h: Harness) -> None:
    """Issue 17, "One receipt per send": NgDP accepts the letter (201), the business receipt NOT_ALLOWED
    comes later (the emulator: an exempt citizen, docs/facts/ngdp.md "Receipts"). The first receipt says
    "Sendt"; the update says it is one, what changed, agrees with its own rows, and is in the first's
    conversation (In-Reply-To / References: PidTagInReplyToId / PidTagInternetReferences, MS-OXOMSG)."""
    exempt = "2412901234"
    h.ngdp.register(cpr=exempt, status="EXEMPT")
    mid = h.send("Indkaldelse til samtale", [f"{exempt}@29189846.{GW}"])
    await h.cycle()
    [first] = h.receipts()
    assert "Modtagere: 1. Sendt: 1." in first["body"]["content"]
    for _ in range(2):  # the same receipts applied twice (a crash before they were marked): one update
        await h.service.pull_business_receipts()
        await h.service.apply_business_receipts()
        await h.service.run_effects()
    first_again, update = _first_then_updates(h)
    assert first_again["id"] == first["id"]
    assert update["subject"] == "DPG opdateret kvittering: Indkaldelse til samtale"
    body = update["body"]["content"]
    assert "<b>Opdateret kvittering</b>" in body
    assert "Brevet til 241290-xxxx er nu afvist: Modtageren er fritaget for Digital Post" in body
    assert "Modtagere: 1. Fejlet: 1." in body  # the counts agree with the one row
    assert "NOT_ALLOWED" not in body and exempt not in body
    assert update["conversationId"] == first["conversationId"]
    props = {
        p["id"]: p["value"] for p in h.tenant.message(MAILBOX, update["id"])["singleValueExtendedProperties"]
    }
    assert props["String 0x1042"] == props["String 0x1039"] == first["internetMessageId"]
    assert first["categories"] == update["categories"] == ["Digital Post: Kvittering"]
    colours = {c["displayName"]: c["color"] for c in h.tenant.master_categories(MAILBOX)}
    assert colours["Digital Post: Kvittering"] == "preset8"
    assert h.categories(mid) == ["Digital Post: Fejl"]
    # Nothing more to say: later cycles write nothing.
    await h.cycle()
    assert len(h.receipts()) == 2


async def test_mass_delivery_refusals_arriving_together_make_one_update(h: Harness) -> None:
    exempt = ["2412901234", "2512901234", "2612901234"]
    for cpr in exempt:
        h.ngdp.register(cpr=cpr, status="EXEMPT")
    cprs = [CITIZEN, CITIZEN2, *exempt]
    h.send(
        "Ny affaldsordning",
        [f"masseforsendelse-{len(cprs)}@29189846.{GW}"],
        attachments=[
            ("masseforsendelse.txt", "text/plain", ("\r\n".join(cprs) + "\r\n").encode()),
            ("body.pdf", "application/pdf", PDF),
        ],
    )
    await h.cycle()
    await h.service.pull_business_receipts()
    await h.service.apply_business_receipts()
    await h.service.run_effects()
    first, update = _first_then_updates(h)
    assert first["subject"] == "DPG kvittering: Ny affaldsordning"
    assert update["subject"] == "DPG opdateret kvittering: Ny affaldsordning"
    body = update["body"]["content"]
    assert body.count("er nu afvist") == 3
    assert "Modtagere: 5. Fejlet: 3. Kvitteret: 2." in body  # the counts agree with the rows
    assert update["conversationId"] == first["conversationId"]


async def test_a_refusal_known_before_the_first_receipt_makes_no_update(h: Harness) -> None:
    """The first receipt is written when the job is finished; a business receipt recorded before it is
    written is in it, and the update planned for it has nothing to add (the sandbox's order)."""
    exempt = "2412901234"
    h.ngdp.register(cpr=exempt, status="EXEMPT")
    h.send("Indkaldelse", [f"{exempt}@29189846.{GW}"])
    await h.service.poll(h.service.settings.mailboxes[0])
    await h.service.process_jobs({MAILBOX}, CycleStats())
    await h.service.pull_business_receipts()
    await h.service.apply_business_receipts()
    await h.service.run_effects()
    [receipt] = h.receipts()
    assert receipt["subject"] == "DPG kvittering med fejl: Indkaldelse"
    assert "Modtagere: 1. Fejlet: 1." in receipt["body"]["content"]
    assert (
        "Modtageren er fritaget for Digital Post, så brevet kan ikke leveres digitalt"
        in receipt["body"]["content"]
    )


async def test_receipt_with_many_failures_attaches_details(h: Harness) -> None:
    cprs = [f"{d:02d}0190{s:04d}" for d in range(1, 4) for s in range(5)]
    h.ngdp.recipient_check = "sync"  # unregistered recipients are refused with 400 at once
    h.send(
        "Mange fejl",
        [f"masseforsendelse-{len(cprs)}@29189846.{GW}"],
        attachments=[("masseforsendelse.txt", "text/plain", "\n".join(cprs).encode())],
    )
    await h.cycle()
    [receipt] = h.receipts()
    assert receipt["subject"] == "DPG kvittering med fejl: Mange fejl"
    details = Harness.attachment_text(receipt, "NgDPKvitteringsDetaljerMedFejl.txt")
    assert details.count("\r\n") == len(cprs) + 1
    assert "0101900000" not in details
    assert json.dumps(receipt).count("0101900000") == 0


async def test_contact_point_limits_from_ngdp_are_checked_before_sending(h: Harness) -> None:
    h.ngdp.add_contact_point(RECIPIENT_CP, "Lille kontaktpunkt", allowed_number_of_attachments=1)
    assert await h.service.refresh_contact_points() >= 1
    h.send(
        "To bilag",
        [f"{CITIZEN}.{RECIPIENT_CP}@29189846.{GW}"],
        attachments=[("a.pdf", "application/pdf", PDF), ("b.pdf", "application/pdf", PDF)],
    )
    await h.cycle()
    assert h.ngdp.accepted == []
    assert h.ngdp.rejected == []  # refused by the gateway, before NgDP had to
    [receipt] = h.receipts()
    assert receipt["subject"] == "DPG fejlkvittering: To bilag"
    assert "kontaktpunkt modtager højst 1 vedhæftede filer, og mailen har 2" in receipt["body"]["content"]


async def test_planning_warnings_reach_the_receipt_also_for_jobs_planned_before_an_upgrade(
    h: Harness,
) -> None:
    """Warnings go with the job's plan; the earlier version kept them as an effect ``warnings:{job}``."""
    h.send("Bilag", [f"{CITIZEN}@29189846.{GW}"], attachments=[("bilag|1.pdf", "application/pdf", PDF)])
    await h.cycle()
    [receipt] = h.receipts()
    assert (
        "Support: filename.forbidden-chars" in receipt["body"]["content"]
        and "filen er sendt med navnet &#x27;bilag-1.pdf&#x27;" in receipt["body"]["content"]
    )
    [job] = h.store.jobs_in_state([JobState.DONE])
    assert job.warnings and "bilag|1.pdf" in job.warnings[0]

    # As the earlier version left a job: planned and sent, its warnings kept as an effect, no receipt yet.
    mid = h.send(
        "Gammelt brev", [f"{CITIZEN2}@29189846.{GW}"], attachments=[("a|b.pdf", "application/pdf", PDF)]
    )
    mb = h.service.settings.mailbox(MAILBOX)
    assert mb is not None and await h.service.poll(mb) == 1
    await h.service.process_jobs({MAILBOX.lower()}, CycleStats())
    old = h.store.find_job(MAILBOX, mid)
    assert old is not None and old.state is JobState.DONE and old.warnings
    with h.store.engine.begin() as conn:
        conn.execute(update(t.outbound_jobs).where(t.outbound_jobs.c.id == old.id).values(warnings=None))
    h.store.plan_effect(f"warnings:{old.id}", {"job": old.id, "warnings": ["a|b.pdf: renamed (old note)"]})
    await h.service.run_effects()
    [old_receipt] = [r for r in h.receipts() if "Gammelt brev" in r["subject"]]
    assert "renamed (old note)" in old_receipt["body"]["content"]
    legacy = h.store.get_effect(f"warnings:{old.id}")
    assert legacy is not None and legacy.state is EffectState.DONE
