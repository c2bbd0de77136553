"""Alerts to the monitoring mailbox: once per key, mailed once even across a crash, in the planned words."""

from __future__ import annotations

import pytest

from graph_dpg.core.errors import TransientError
from graph_dpg.domain.mail import MailMessage
from graph_dpg.services.alerts import ALERT_PROPERTY, Alert, AlertService, rule_disabled_alert
from graph_dpg.services.effects import EffectKey, EffectKind
from tests.fakes import FakeEffects, FakeMailbox

MONITOR = "it@kommune.dk"


def service(mail: FakeMailbox, effects: FakeEffects, language: str = "da") -> AlertService:
    return AlertService(mail, effects, monitoring_mailbox=MONITOR, language=language)


async def test_an_alert_is_planned_once_per_key_and_mailed_once() -> None:
    mail, effects = FakeMailbox(), FakeEffects()
    alerts = service(mail, effects)
    key = EffectKey(EffectKind.RULE_ALERT, "Farligt mønster:2026-01-01T00:00:00+00:00")
    alert = rule_disabled_alert("Farligt mønster", "evaluation took longer than 5 s (on mail 010203-1234)")
    assert await alerts.plan(key, alert) is True
    assert await alerts.plan(key, alert) is False  # the condition persists: still one alert
    first = await alerts.send_pending()
    again = await alerts.send_pending()
    assert (first.sent, first.errors, again.sent) == (1, [], 0)
    [stored] = mail.in_folder(MONITOR, "inbox")
    assert stored.properties == {ALERT_PROPERTY: str(key)}
    assert stored.message.subject == "Digital Post Gateway: routingreglen 'Farligt mønster' er slået fra"
    assert "Routingregel slået fra" in stored.message.body and "Farligt mønster" in stored.message.body
    assert "010203-1234" not in stored.message.body  # CPR-masked
    assert stored.message.sender is not None and stored.message.sender.address == MONITOR
    assert await alerts.is_done(key)


async def test_a_failed_send_stays_planned_and_a_crash_after_the_create_does_not_mail_twice() -> None:
    mail, effects = FakeMailbox(), FakeEffects()
    key = EffectKey(EffectKind.ALERT, "expiry:NgDP certificate:2027-01-01:14")
    await service(mail, effects).plan(key, Alert("Certifikatet udløber", "Certifikat", ("Om 14 dage",)))

    mail.fail_next("create_message", TransientError("graph 503"))
    report = await service(mail, effects).send_pending()
    assert report.sent == 0 and len(report.errors) == 1 and "graph 503" in report.errors[0]
    assert mail.messages == {}

    def die() -> None:
        raise SystemExit("killed after the create")

    mail.fail_after_create = die
    with pytest.raises(SystemExit):
        await service(mail, effects).send_pending()
    mail.fail_after_create = None
    report = await service(mail, effects).send_pending()  # the restart
    assert report.sent == 1 and len(mail.in_folder(MONITOR, "inbox")) == 1


async def test_settled_alerts_are_not_mailed_and_foreign_payloads_are_left_alone() -> None:
    mail, effects = FakeMailbox(), FakeEffects()
    alerts = service(mail, effects)
    covered = EffectKey(EffectKind.ALERT, "expiry:cert:2027-01-01:30")
    await alerts.settle(covered, {"superseded_by": 14})
    # An alert another component plans and writes itself (its own payload): not this service's to send.
    effects.plan_effect("alert:disk:2027-01-01", {"note": "written by the disk monitor"})
    report = await alerts.send_pending()
    assert report.sent == 0 and mail.messages == {}
    assert await alerts.is_done(covered)
    assert not await alerts.is_done(EffectKey(EffectKind.ALERT, "disk:2027-01-01"))
    with pytest.raises(ValueError, match="not an alert"):
        await alerts.plan(EffectKey.receipt("job-1"), Alert("x", "y"))


async def test_rule_alerts_planned_by_the_previous_version_are_still_mailed() -> None:
    mail, effects = FakeMailbox(), FakeEffects()
    effects.plan_effect("rulealert:Regel:2026-01-01T00:00:00+00:00", {"rule": "Regel", "reason": "too slow"})
    report = await service(mail, effects, language="en").send_pending()
    assert report.sent == 1
    [stored] = mail.in_folder(MONITOR, "inbox")
    message: MailMessage = stored.message
    assert message.subject == "Digital Post Gateway: routing rule 'Regel' was disabled"
    assert "too slow" in message.body


def test_alert_json_round_trips() -> None:
    alert = rule_disabled_alert("R", "slow", "en")
    assert Alert.from_json(alert.to_json()) == alert
    assert Alert.from_json({"what": "cert"}) is None
