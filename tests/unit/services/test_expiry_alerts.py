"""The expiry alert use case on in-memory fakes of its ports: thresholds, supersession, crash recovery, the
alert's words in both languages, and alerts an earlier version planned."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from graph_dpg.core.errors import AuthError
from graph_dpg.domain.mail import MailMessage
from graph_dpg.ports.store import Effect, EffectState
from graph_dpg.services.alerts import ALERT_PROPERTY, AlertService, expiry_alert
from graph_dpg.services.expiry import ExpiryAlerts

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MONITORING = "drift@testby.dk"


class MemoryEffects:
    def __init__(self) -> None:
        self.effects: dict[str, Effect] = {}

    def plan_effect(self, key: str, payload: Mapping[str, object]) -> bool:
        if key in self.effects:
            return False
        self.effects[key] = Effect(key, dict(payload), EffectState.PLANNED, None, NOW, None)
        return True

    def get_effect(self, key: str) -> Effect | None:
        return self.effects.get(key)

    def pending_effects(self, limit: int = 100, prefix: str | None = None) -> list[Effect]:
        return [e for e in self.effects.values() if e.state is EffectState.PLANNED][:limit]

    def complete_effect(self, key: str, result: Mapping[str, object] | None = None) -> bool:
        effect = self.effects[key]
        if effect.state is EffectState.DONE:
            return False
        self.effects[key] = Effect(key, effect.payload, EffectState.DONE, result, effect.created_at, NOW)
        return True


@dataclass
class AlertInbox:
    """The two mailbox calls the use case makes, on a list of (message, properties)."""

    mails: list[tuple[MailMessage, dict[str, str]]] = field(default_factory=list)

    async def find_by_extended_property(self, mailbox: str, folder: str, name: str, value: str) -> list[str]:
        assert (mailbox, folder) == (MONITORING, "inbox")
        return [f"m{i}" for i, (_, props) in enumerate(self.mails) if props.get(name) == value]

    async def create_message(
        self,
        mailbox: str,
        folder: str,
        message: MailMessage,
        *,
        received: bool = True,
        extended_properties: Mapping[str, str] = {},
    ) -> str:
        assert (mailbox, folder) == (MONITORING, "inbox")
        self.mails.append((message, dict(extended_properties)))
        return f"m{len(self.mails) - 1}"


def alerts_for(
    not_after: datetime, effects: MemoryEffects, inbox: AlertInbox, language: str = "en"
) -> ExpiryAlerts:
    # AlertInbox has only the two MailboxPort methods the use case calls.
    mailbox: Any = inbox
    alerts = AlertService(mailbox, effects, monitoring_mailbox=MONITORING, language=language)
    return ExpiryAlerts(alerts, lambda: [("NgDP OCES3 certificate", not_after)])


async def sent(alerts: ExpiryAlerts, now: datetime) -> list[str]:
    return [what async for what in alerts.run(now)]


async def test_an_alert_supersedes_the_larger_thresholds_it_covers() -> None:
    effects, inbox = MemoryEffects(), AlertInbox()
    alerts = alerts_for(NOW + timedelta(days=5, hours=1), effects, inbox)
    assert await sent(alerts, NOW) == ["NgDP OCES3 certificate"]
    assert [m.subject for m, _ in inbox.mails] == [
        "Digital Post gateway: NgDP OCES3 certificate expires in 5 day(s)"
    ]
    base = "alert:expiry:NgDP OCES3 certificate:2026-01-06"
    assert effects.effects[f"{base}:7"].result == {"message_id": "m0"}
    assert effects.effects[f"{base}:14"].result == {"superseded_by": 7}
    assert effects.effects[f"{base}:30"].result == {"superseded_by": 7}
    assert await sent(alerts, NOW + timedelta(days=1)) == []  # nothing new below 7 days
    assert len(inbox.mails) == 1


async def test_a_mail_created_before_a_crash_is_found_not_sent_again() -> None:
    effects, inbox = MemoryEffects(), AlertInbox()
    key = "alert:expiry:NgDP OCES3 certificate:2026-01-21:30"
    # The previous process planned the alert and created the mail, then died before completing the effect.
    planned = expiry_alert("NgDP OCES3 certificate", date(2026, 1, 21), 20, "en")
    effects.plan_effect(key, planned.to_json())
    inbox.mails.append((MailMessage(subject="earlier copy"), {ALERT_PROPERTY: key}))
    alerts = alerts_for(NOW + timedelta(days=20, hours=1), effects, inbox)
    assert await sent(alerts, NOW) == ["NgDP OCES3 certificate"]
    assert len(inbox.mails) == 1
    assert effects.effects[key].state is EffectState.DONE
    assert effects.effects[key].result == {"message_id": "m0", "reused": True}


async def test_far_from_expiry_nothing_is_planned() -> None:
    effects, inbox = MemoryEffects(), AlertInbox()
    assert await sent(alerts_for(NOW + timedelta(days=31), effects, inbox), NOW) == []
    assert effects.effects == {} and inbox.mails == []


async def test_the_alert_says_what_expires_when_in_the_gateways_language() -> None:
    effects, inbox = MemoryEffects(), AlertInbox()
    alerts = alerts_for(NOW + timedelta(days=13, hours=1), effects, inbox, language="da")
    assert await sent(alerts, NOW) == ["NgDP OCES3 certificate"]
    [(mail, props)] = inbox.mails
    assert mail.subject == "Digital Post-gateway: NgDP OCES3-certifikatet udløber om 13 dag(e)"
    assert "NgDP OCES3-certifikatet til Digital Post-gatewayen udløber den 2026-01-14" in mail.body
    assert props == {ALERT_PROPERTY: "alert:expiry:NgDP OCES3 certificate:2026-01-14:14"}
    english = expiry_alert("Graph app certificate", date(2026, 1, 14), 13, "en")
    assert english.subject == "Digital Post gateway: Graph app certificate expires in 13 day(s)"
    assert english.lines[0].startswith(
        "The Graph app certificate of the Digital Post gateway expires on 2026-01-14"
    )


async def test_an_alert_planned_by_the_previous_version_is_still_mailed() -> None:
    effects, inbox = MemoryEffects(), AlertInbox()
    key = "alert:expiry:NgDP OCES3 certificate:2026-01-21:30"
    # The previous version stored only what expires and the days left; its mail was never written.
    effects.plan_effect(key, {"what": "NgDP OCES3 certificate", "days": 20})
    alerts = alerts_for(NOW + timedelta(days=20, hours=1), effects, inbox)
    assert await sent(alerts, NOW) == ["NgDP OCES3 certificate"]
    [(mail, _)] = inbox.mails
    assert mail.subject == "Digital Post gateway: NgDP OCES3 certificate expires in 20 day(s)"
    assert "expires on 2026-01-21" in mail.body
    assert effects.effects[key].result == {"message_id": "m0"}


async def test_a_failed_write_is_raised_and_the_alert_stays_planned() -> None:
    effects, inbox = MemoryEffects(), AlertInbox()

    async def refuse(*args: object, **kw: object) -> str:
        raise AuthError("403 from Graph", service="graph")

    inbox.create_message = refuse  # type: ignore[method-assign]
    alerts = alerts_for(NOW + timedelta(days=20, hours=1), effects, inbox)
    with pytest.raises(AuthError, match="403"):
        await sent(alerts, NOW)
    key = "alert:expiry:NgDP OCES3 certificate:2026-01-21:30"
    assert effects.effects[key].state is EffectState.PLANNED
