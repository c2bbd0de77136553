"""Alerts to the monitoring mailbox: planned once per key, mailed once, never lost.

An alert is an effect (``services.effects``): :meth:`AlertService.plan` records it durably under its key
(planning the same key again is a no-op, so a condition that persists is alerted once), and
:meth:`AlertService.send_pending` creates the mail in the monitoring mailbox's inbox. The mail carries the
named extended property :data:`ALERT_PROPERTY` = the key, so a crash between creating it and recording it
finds the mail instead of writing a second one.

The alert's text is stored with it (:class:`Alert` as JSON), so whoever plans it decides the words and
the sender of the mail only needs the monitoring mailbox.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from graph_dpg.core.errors import GraphDpgError
from graph_dpg.domain.html_text import wrap_document
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.domain.inbound_view import Banner, render_banner
from graph_dpg.domain.mail import EmailAddress, MailMessage
from graph_dpg.ports.mailbox import MailboxPort
from graph_dpg.ports.store import Effects
from graph_dpg.services.effects import EffectBook, EffectKey, EffectKind, Marker, PlannedEffect

log = logging.getLogger(__name__)

#: Named extended property on alert mails: the alert's effect key.
ALERT_PROPERTY = "DpgAlert"
#: The effect kinds that are alerts.
ALERT_KINDS: tuple[EffectKind, ...] = (EffectKind.RULE_ALERT, EffectKind.ALERT)


@dataclass(frozen=True)
class Alert:
    """What an alert mail says: a subject, a banner (title and lines) and an optional closing line."""

    subject: str
    title: str
    lines: tuple[str, ...] = ()
    detail: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "title": self.title,
            "lines": list(self.lines),
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Alert | None:
        """The stored alert; None when ``data`` is not one (e.g. an alert another component writes itself)."""
        subject, title, lines = data.get("subject"), data.get("title"), data.get("lines")
        if not isinstance(subject, str) or not isinstance(title, str):
            return None
        shown = tuple(str(x) for x in lines) if isinstance(lines, list | tuple) else ()
        return cls(subject, title, shown, str(data.get("detail") or ""))


def rule_disabled_alert(rule: str, reason: str, language: str = "da") -> Alert:
    """The alert sent when a routing rule exceeded its time budget and was disabled."""
    if language == "en":
        return Alert(
            subject=f"Digital Post Gateway: routing rule '{rule}' was disabled",
            title="Routing rule disabled",
            lines=(
                f"The routing rule '{rule}' was disabled automatically: {reason}.",
                "Items it would have matched are routed by the other rules and the contact point mapping.",
                "Fix the rule (often a regular expression that backtracks) in the gateway file, "
                "then enable it again.",
            ),
            detail=rule,
        )
    return Alert(
        subject=f"Digital Post Gateway: routingreglen '{rule}' er slået fra",
        title="Routingregel slået fra",
        lines=(
            f"Routingreglen '{rule}' er slået fra automatisk: {reason}.",
            "Post, som reglen ville have ramt, routes af de øvrige regler og kontaktpunkt-opsætningen.",
            "Ret reglen (ofte et regulært udtryk, der backtracker) i gateway-filen, og slå den til igen.",
        ),
        detail=rule,
    )


@dataclass
class AlertRound:
    """What one :meth:`AlertService.send_pending` did."""

    sent: int = 0
    errors: list[str] = field(default_factory=list)  # CPR-masked


class AlertService:
    def __init__(
        self, mailbox: MailboxPort, effects: Effects, *, monitoring_mailbox: str, language: str = "da"
    ) -> None:
        self._mail = mailbox
        self._effects = EffectBook(effects)
        self.monitoring_mailbox = monitoring_mailbox
        self.language = language

    async def plan(self, key: EffectKey, alert: Alert) -> bool:
        """Plan the alert ``key`` once; True if it is new. ``key`` must be of an alert kind."""
        if key.kind not in ALERT_KINDS:
            raise ValueError(f"{key} is not an alert")
        return await self._effects.plan(key, alert.to_json())

    async def is_done(self, key: EffectKey) -> bool:
        return await self._effects.is_done(key)

    async def settle(self, key: EffectKey, result: Mapping[str, object]) -> None:
        """Record the alert ``key`` as done without a mail (e.g. a more urgent alert covers it)."""
        await self._effects.settle(key, {}, result)

    async def send_pending(self, limit: int = 100) -> AlertRound:
        """Mail every planned alert (oldest first); one that fails stays planned for the next call."""
        report = AlertRound()

        def failed(effect: PlannedEffect, exc: GraphDpgError) -> None:
            report.errors.append(mask_cprs(f"alert {effect.key}: {exc}"))
            log.warning("alert %s not written yet: %s", effect.key, mask_cprs(str(exc)))

        done = await self._effects.run_pending(*ALERT_KINDS, action=self._send, limit=limit, on_error=failed)
        report.sent = len(done)
        return report

    async def _send(self, effect: PlannedEffect) -> Mapping[str, object] | None:
        alert = self._alert(effect.payload)
        if alert is None:
            return None  # not an alert this service writes; left to whoever planned it

        async def build() -> MailMessage:
            return self.render(alert)

        marker = Marker(ALERT_PROPERTY, str(effect.key))
        written = await marker.find_or_create(self._mail, self.monitoring_mailbox, "inbox", build)
        return written.result()

    def _alert(self, payload: Mapping[str, object]) -> Alert | None:
        alert = Alert.from_json(payload)
        if alert is None and isinstance(payload.get("rule"), str):
            # Planned by an earlier version, which stored only the rule and the reason.
            return rule_disabled_alert(str(payload["rule"]), str(payload.get("reason", "")), self.language)
        return alert

    def render(self, alert: Alert) -> MailMessage:
        banner = render_banner(Banner("invalid", alert.title, tuple(mask_cprs(x) for x in alert.lines)))
        detail = f"<p>{html.escape(alert.detail)}</p>" if alert.detail else ""
        monitor = self.monitoring_mailbox
        return MailMessage(
            subject=alert.subject,
            body=wrap_document(banner + detail, alert.subject, self.language),
            body_type="html",
            sender=EmailAddress(monitor, "Digital Post Gateway"),
            to=[EmailAddress(monitor)],
        )
