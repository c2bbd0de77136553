"""CPR numbers never appear in clear in a log line or in the audit table (issue 10, security review).

The real outbound service on both emulators (harness of the outbound integration tests) with logging at
DEBUG through ``configure_logging``: single mails to citizens, a reply with contact points, a mass delivery,
a refused mail (bad CPR date), a recipient NgDP refuses at once, an unregistered recipient whose business
receipt fails, and transient NgDP faults that are retried. Then the inbound service delivers a memo from a
citizen. Every captured line and every audit event is searched for each CPR of the test data, with and
without the dash.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from tests.store_rows import audit_rows

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from inbound.harness import make_harness as make_inbound_harness
from outbound.harness import CITIZEN, CITIZEN2, RECIPIENT_CP, SENDER_CP, UNREGISTERED, make_harness

from inbound_memos import citizen_memo  # isort: skip  (on sys.path via the inbound harness)

GW = "ngdp.digital-post.dk"
MASS = [f"{d:02d}0385{s:04d}" for d in range(1, 11) for s in range(3)]
BAD_DATE = "3102851234"
REFUSED_AT_ONCE = "1503851234"
ABOUT = "2412901234"  # a CPR named inside a memo's content data


def all_cprs() -> list[str]:
    return [CITIZEN, CITIZEN2, UNREGISTERED, BAD_DATE, REFUSED_AT_ONCE, ABOUT, *MASS]


def leaks(text: str) -> list[str]:
    return [c for c in all_cprs() if c in text or f"{c[:6]}-{c[6:]}" in text]


@pytest.mark.parametrize("captured_log", ["json"], indirect=True)  # the renderer does not matter here
async def test_no_cpr_in_clear_in_outbound_and_inbound_logs_or_audit(
    captured_log: io.StringIO, tmp_path: Path
) -> None:
    h = await make_harness(f"sqlite:///{tmp_path / 'out.db'}")
    async with h.mailbox:
        h.send("Afgørelse", [f"{CITIZEN}@29189846.{GW}", f"{CITIZEN2}@29189846.{GW}"])
        h.send("Svar ønskes", [f"{CITIZEN}-reply.{RECIPIENT_CP}@{SENDER_CP}.{GW}"])
        h.send(
            "Masse",
            [f"masseforsendelse-{len(MASS)}@29189846.{GW}"],
            attachments=[("masseforsendelse.txt", "text/plain", "\r\n".join(MASS).encode())],
        )
        h.send("Forkert dato", [f"{BAD_DATE}@29189846.{GW}"])
        h.send(
            "Forkert antal",
            [f"masseforsendelse-2@29189846.{GW}"],
            attachments=[
                ("masseforsendelse.txt", "text/plain", f"{CITIZEN}\n{BAD_DATE}\n{CITIZEN}\n".encode())
            ],
        )
        h.send("Uregistreret", [f"{UNREGISTERED}@29189846.{GW}"])
        h.ngdp.faults.script("send", "503", "reset")
        await h.cycle(3)
        h.ngdp.recipient_check = "sync"  # refused with 400 at once, NgDP's error text goes to the receipt
        h.send("Afvist", [f"{REFUSED_AT_ONCE}@29189846.{GW}"])
        await h.cycle(2)
        await h.service.pull_business_receipts()
        await h.service.apply_business_receipts()
        await h.service.run_effects()
        # httpx logs every request URL, and a contact lookup carries the CPR in its query string.
        assert await h.service.ngdp.lookup_contact(cpr=CITIZEN) is not None
        assert len(h.ngdp.accepted) >= 3 + len(MASS)  # the traffic really happened
        audit = audit_rows(h.store)
        receipts = h.receipts()
    h.store.close()

    inbound = make_inbound_harness(f"sqlite:///{tmp_path / 'in.db'}")
    async with inbound.mailbox:
        _, xml = citizen_memo(label="Fra borger", contact_point=None, about_cpr=ABOUT)
        inbound.ngdp.queue_inbound_memo(xml)
        stats = await inbound.service().run_once()
        assert stats.delivered == 1
        audit += audit_rows(inbound.store)
    inbound.store.close()

    lines = captured_log.getvalue().splitlines()
    assert len(lines) > 50
    assert any("send attempt 1/5 failed" in line for line in lines)  # the service's own records are here
    assert [line for line in lines if leaks(line)] == []
    assert any("cprNumber=xxxxxxxxxx" in line for line in lines)  # logged, and masked
    assert len(audit) > 10
    assert [e for e in audit if leaks(json.dumps(e, default=str, ensure_ascii=False))] == []
    assert len(receipts) >= 6
    assert [r["subject"] for r in receipts if leaks(json.dumps(r, ensure_ascii=False))] == []


async def test_an_item_given_up_is_logged_once_with_its_traceback_and_without_a_cpr(
    captured_log: io.StringIO,
) -> None:
    """The failure boundary logs the exception that ended an item with its traceback; the CPR number in
    the exception's text, in the frames' source lines and in the mail's subject is masked there too."""
    from tests.unit.services.test_outbound_edges import CITIZEN as CPR
    from tests.unit.services.test_outbound_edges import rig

    r = rig()
    r.send(f"Sag om {CPR}", CPR)
    r.mail.fail_next("get_message", ValueError(f"cannot read the attachment about {CPR}"))
    await r.service.run_once()

    text = captured_log.getvalue()
    assert text.count("given up after an unexpected error") == 1
    assert "Traceback (most recent call last)" in text and "ValueError" in text
    assert f"about {CPR[:6]}-xxxx" in text  # the text is there, masked
    assert CPR not in text and f"{CPR[:6]}-{CPR[6:]}" not in text
