"""The expiry alert use case on in-memory fakes of its ports: thresholds, supersession, crash recovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from graph_dpg.domain.mail import MailMessage
from graph_dpg.ports.store import EffectState
from graph_dpg.runtime.expiry import ALERT_PROPERTY, ExpiryAlerts
from tests.fakes import FakeEffects, FakeMailbox, Stored

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MONITORING = "drift@testby.dk"


def alerts_for(not_after: datetime, effects: FakeEffects, mail: FakeMailbox) -> ExpiryAlerts:
    return ExpiryAlerts(effects, mail, MONITORING, lambda: [("NgDP OCES3 certificate", not_after)])


def inbox(mail: FakeMailbox) -> list[Stored]:
    return mail.in_folder(MONITORING, "inbox")


async def sent(alerts: ExpiryAlerts, now: datetime) -> list[str]:
    return [what async for what in alerts.run(now)]


async def test_an_alert_supersedes_the_larger_thresholds_it_covers() -> None:
    effects, mail = FakeEffects(), FakeMailbox()
    alerts = alerts_for(NOW + timedelta(days=5, hours=1), effects, mail)
    assert await sent(alerts, NOW) == ["NgDP OCES3 certificate"]
    [alert] = inbox(mail)
    assert alert.message.subject == "Digital Post gateway: NgDP OCES3 certificate expires in 5 day(s)"
    base = "alert:expiry:NgDP OCES3 certificate:2026-01-06"
    assert alert.properties == {ALERT_PROPERTY: f"{base}:7"}
    [message_id] = mail.messages
    assert effects.rows[f"{base}:7"].result == {"message_id": message_id}
    assert effects.rows[f"{base}:14"].result == {"superseded_by": 7}
    assert effects.rows[f"{base}:30"].result == {"superseded_by": 7}
    assert await sent(alerts, NOW + timedelta(days=1)) == []  # nothing new below 7 days
    assert len(inbox(mail)) == 1


async def test_a_mail_created_before_a_crash_is_found_not_sent_again() -> None:
    effects, mail = FakeEffects(), FakeMailbox()
    key = "alert:expiry:NgDP OCES3 certificate:2026-01-21:30"
    # The previous process planned the alert and created the mail, then died before completing the effect.
    effects.plan_effect(key, {"what": "NgDP OCES3 certificate", "days": 20})
    earlier = mail.put(
        MONITORING, "inbox", MailMessage(subject="earlier copy"), properties={ALERT_PROPERTY: key}
    )
    alerts = alerts_for(NOW + timedelta(days=20, hours=1), effects, mail)
    assert await sent(alerts, NOW) == ["NgDP OCES3 certificate"]
    assert len(inbox(mail)) == 1
    assert effects.rows[key].state is EffectState.DONE
    assert effects.rows[key].result == {"message_id": earlier, "reused": True}


async def test_far_from_expiry_nothing_is_planned() -> None:
    effects, mail = FakeEffects(), FakeMailbox()
    assert await sent(alerts_for(NOW + timedelta(days=31), effects, mail), NOW) == []
    assert effects.rows == {} and mail.messages == {}
