"""The expiry alert use case on in-memory fakes of its ports: thresholds, supersession, crash recovery, the
alert's words in both languages, and alerts an earlier version planned."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from graph_dpg.core.errors import AuthError
from graph_dpg.domain.mail import MailMessage
from graph_dpg.ports.store import EffectState
from graph_dpg.services.alerts import ALERT_PROPERTY, AlertService, expiry_alert
from graph_dpg.services.expiry import ExpiryAlerts
from tests.fakes import FakeEffects, FakeMailbox, Stored

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MONITORING = "drift@testby.dk"


def alerts_for(
    not_after: datetime, effects: FakeEffects, mail: FakeMailbox, language: str = "en"
) -> ExpiryAlerts:
    alerts = AlertService(mail, effects, monitoring_mailbox=MONITORING, language=language)
    return ExpiryAlerts(alerts, lambda: [("NgDP OCES3 certificate", not_after)])


def inbox(mail: FakeMailbox) -> list[Stored]:
    return mail.in_folder(MONITORING, "inbox")


def only_id(mail: FakeMailbox) -> str:
    [message_id] = mail.messages
    return message_id


async def sent(alerts: ExpiryAlerts, now: datetime) -> list[str]:
    return [what async for what in alerts.run(now)]


async def test_an_alert_supersedes_the_larger_thresholds_it_covers() -> None:
    effects, mail = FakeEffects(), FakeMailbox()
    alerts = alerts_for(NOW + timedelta(days=5, hours=1), effects, mail)
    assert await sent(alerts, NOW) == ["NgDP OCES3 certificate"]
    assert [m.message.subject for m in inbox(mail)] == [
        "Digital Post gateway: NgDP OCES3 certificate expires in 5 day(s)"
    ]
    base = "alert:expiry:NgDP OCES3 certificate:2026-01-06"
    assert effects.rows[f"{base}:7"].result == {"message_id": only_id(mail)}
    assert effects.rows[f"{base}:14"].result == {"superseded_by": 7}
    assert effects.rows[f"{base}:30"].result == {"superseded_by": 7}
    assert await sent(alerts, NOW + timedelta(days=1)) == []  # nothing new below 7 days
    assert len(inbox(mail)) == 1


async def test_a_mail_created_before_a_crash_is_found_not_sent_again() -> None:
    effects, mail = FakeEffects(), FakeMailbox()
    key = "alert:expiry:NgDP OCES3 certificate:2026-01-21:30"
    # The previous process planned the alert and created the mail, then died before completing the effect.
    planned = expiry_alert("NgDP OCES3 certificate", date(2026, 1, 21), 20, "en")
    effects.plan_effect(key, planned.to_json())
    mail.put(MONITORING, "inbox", MailMessage(subject="earlier copy"), properties={ALERT_PROPERTY: key})
    alerts = alerts_for(NOW + timedelta(days=20, hours=1), effects, mail)
    assert await sent(alerts, NOW) == ["NgDP OCES3 certificate"]
    assert len(inbox(mail)) == 1
    assert effects.rows[key].state is EffectState.DONE
    assert effects.rows[key].result == {"message_id": only_id(mail), "reused": True}


async def test_far_from_expiry_nothing_is_planned() -> None:
    effects, mail = FakeEffects(), FakeMailbox()
    assert await sent(alerts_for(NOW + timedelta(days=31), effects, mail), NOW) == []
    assert effects.rows == {} and inbox(mail) == []


async def test_the_alert_says_what_expires_when_in_the_gateways_language() -> None:
    effects, mail = FakeEffects(), FakeMailbox()
    alerts = alerts_for(NOW + timedelta(days=13, hours=1), effects, mail, language="da")
    assert await sent(alerts, NOW) == ["NgDP OCES3 certificate"]
    [stored] = inbox(mail)
    message, props = stored.message, stored.properties
    assert message.subject == "Digital Post-gateway: NgDP OCES3-certifikatet udløber om 13 dag(e)"
    assert "NgDP OCES3-certifikatet til Digital Post-gatewayen udløber den 2026-01-14" in message.body
    assert props == {ALERT_PROPERTY: "alert:expiry:NgDP OCES3 certificate:2026-01-14:14"}
    english = expiry_alert("Graph app certificate", date(2026, 1, 14), 13, "en")
    assert english.subject == "Digital Post gateway: Graph app certificate expires in 13 day(s)"
    assert english.lines[0].startswith(
        "The Graph app certificate of the Digital Post gateway expires on 2026-01-14"
    )


async def test_an_alert_planned_by_the_previous_version_is_still_mailed() -> None:
    effects, mail = FakeEffects(), FakeMailbox()
    key = "alert:expiry:NgDP OCES3 certificate:2026-01-21:30"
    # The previous version stored only what expires and the days left; its mail was never written.
    effects.plan_effect(key, {"what": "NgDP OCES3 certificate", "days": 20})
    alerts = alerts_for(NOW + timedelta(days=20, hours=1), effects, mail)
    assert await sent(alerts, NOW) == ["NgDP OCES3 certificate"]
    [stored] = inbox(mail)
    message = stored.message
    assert message.subject == "Digital Post gateway: NgDP OCES3 certificate expires in 20 day(s)"
    assert "expires on 2026-01-21" in message.body
    assert effects.rows[key].result == {"message_id": only_id(mail)}


async def test_a_failed_write_is_raised_and_the_alert_stays_planned() -> None:
    effects, mail = FakeEffects(), FakeMailbox()

    mail.fail_next("create_message", AuthError("403 from Graph", service="graph"))
    alerts = alerts_for(NOW + timedelta(days=20, hours=1), effects, mail)
    with pytest.raises(AuthError, match="403"):
        await sent(alerts, NOW)
    key = "alert:expiry:NgDP OCES3 certificate:2026-01-21:30"
    assert effects.rows[key].state is EffectState.PLANNED
