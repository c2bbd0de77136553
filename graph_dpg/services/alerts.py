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
from datetime import date

from graph_dpg.core.errors import GraphDpgError
from graph_dpg.domain.html_text import MAIL_STYLE, wrap_document
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.domain.inbound_view import Banner, render_banner, unmapped_fix
from graph_dpg.domain.mail import EmailAddress, MailMessage
from graph_dpg.domain.texts import Text, text
from graph_dpg.ports.mailbox import MailboxPort
from graph_dpg.ports.store import Effects, EffectState
from graph_dpg.services.blocking import blocking
from graph_dpg.services.boundary import ItemFailures, Stage
from graph_dpg.services.effects import EffectBook, EffectKey, EffectKind, Marker, PlannedEffect

log = logging.getLogger(__name__)

#: Named extended property on alert mails: the alert's effect key.
ALERT_PROPERTY = "DpgAlert"
#: The effect kinds that are alerts.
ALERT_KINDS: tuple[EffectKind, ...] = (EffectKind.RULE_ALERT, EffectKind.ALERT)
_ALERT_PREFIXES = tuple(f"{kind.value}:" for kind in ALERT_KINDS)


@dataclass(frozen=True)
class Alert:
    """What an alert mail says: a subject, a banner (title and lines), an optional closing line and an
    optional block of configuration to copy (``code``, shown as written)."""

    subject: str
    title: str
    lines: tuple[str, ...] = ()
    detail: str = ""
    code: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "title": self.title,
            "lines": list(self.lines),
            "detail": self.detail,
            "code": self.code,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Alert | None:
        """The stored alert; None when ``data`` is not one (e.g. an alert another component writes itself)."""
        subject, title, lines = data.get("subject"), data.get("title"), data.get("lines")
        if not isinstance(subject, str) or not isinstance(title, str):
            return None
        shown = tuple(str(x) for x in lines) if isinstance(lines, list | tuple) else ()
        return cls(subject, title, shown, str(data.get("detail") or ""), str(data.get("code") or ""))


def rule_disabled_alert(rule: str, reason: str, language: str = "da") -> Alert:
    """The alert sent when a routing rule exceeded its time budget and was disabled."""
    return Alert(
        subject=text(Text.RULE_ALERT_SUBJECT, language, rule=rule),
        title=text(Text.RULE_ALERT_TITLE, language),
        lines=(
            text(Text.RULE_ALERT_DISABLED, language, rule=rule, reason=reason),
            text(Text.RULE_ALERT_OTHERS_ROUTE, language),
            text(Text.RULE_ALERT_FIX, language),
        ),
        detail=rule,
    )


def mailbox_full_alert(
    mailbox: str, main_mailbox: str, fallback_after_s: float, language: str = "da"
) -> Alert:
    """The alert sent when Digital Post cannot be delivered to ``mailbox`` because it is full."""
    if mailbox.lower() == main_mailbox.lower():
        then = text(Text.MAILBOX_FULL_MAIN, language)
    else:
        minutes = max(1, round(fallback_after_s / 60))
        then = text(Text.MAILBOX_FULL_FALLBACK, language, minutes=minutes, main=main_mailbox)
    return Alert(
        subject=text(Text.MAILBOX_FULL_SUBJECT, language, mailbox=mailbox),
        title=text(Text.MAILBOX_FULL_TITLE, language),
        lines=(
            text(Text.MAILBOX_FULL_TEXT, language, mailbox=mailbox),
            then,
            text(Text.MAILBOX_FULL_FIX, language),
        ),
    )


def unmapped_contact_point_alert(
    contact_point_id: str,
    contact_point_name: str | None,
    known: bool,
    main_mailbox: str,
    memo_uuid: str,
    language: str = "da",
) -> Alert:
    """The alert sent once per contact point that has no mailbox (unknown to the gateway file, or listed
    with ``mailbox: null``): what happens to its post, and the gateway-file snippet that fixes it."""
    if known:
        what = text(
            Text.INB_UNMAPPED_ALERT_NULL,
            language,
            id=contact_point_id,
            name=contact_point_name or contact_point_id,
            main=main_mailbox,
            uuid=memo_uuid,
        )
    else:
        what = text(
            Text.INB_UNMAPPED_ALERT_UNKNOWN, language, id=contact_point_id, main=main_mailbox, uuid=memo_uuid
        )
    return Alert(
        subject=text(
            Text.INB_UNMAPPED_ALERT_SUBJECT, language, contact_point=contact_point_name or contact_point_id
        ),
        title=text(Text.INB_UNMAPPED_ALERT_TITLE, language),
        lines=(what, text(Text.INB_UNMAPPED_ALERT_FIX, language)),
        code=unmapped_fix(contact_point_id, contact_point_name, language),
    )


_SOURCE_NAMES: Mapping[str, tuple[Text, Text]] = {
    "file": (Text.CERT_SOURCE_FILE, Text.CERT_SOURCE_FIX_FILE),
    "contacts": (Text.CERT_SOURCE_CONTACTS, Text.CERT_SOURCE_FIX_CONTACTS),
    "ldap": (Text.CERT_SOURCE_LDAP, Text.CERT_SOURCE_FIX_LDAP),
}


def certificate_source_key(kind: str, day: date) -> EffectKey:
    """The alert that the recipient certificate source ``kind`` failed on ``day`` (UTC): one a day."""
    return EffectKey(EffectKind.ALERT, f"certificate-source:{kind}:{day.isoformat()}")


def certificate_source_alert(kind: str, mailbox: str, reason: str, language: str = "da") -> Alert:
    """The alert sent when a recipient certificate source (``file``, ``contacts``, ``ldap``: see
    ``adapters.smime.sources``) could not be asked while sending secure mail from ``mailbox``; ``reason``
    is the technical one, for IT."""
    name, fix = _SOURCE_NAMES.get(kind, (None, None))
    source = text(name, language) if name is not None else kind
    lines = [
        text(Text.CERT_SOURCE_ALERT_TEXT, language, source=source, mailbox=mailbox),
        text(Text.CERT_SOURCE_ALERT_REASON, language, reason=mask_cprs(reason)[:500]),
    ]
    if fix is not None:
        lines.append(text(fix, language))
    lines.append(text(Text.CERT_SOURCE_ALERT_ONCE, language))
    return Alert(
        subject=text(Text.CERT_SOURCE_ALERT_SUBJECT, language, source=source),
        title=text(Text.CERT_SOURCE_ALERT_TITLE, language),
        lines=tuple(lines),
    )


#: The certificates whose expiry is alerted, by the name their alert keys carry (the text earlier versions
#: wrote, so an alert planned before an upgrade is found after it), and the catalogue entry naming them.
NGDP_CERTIFICATE = "NgDP OCES3 certificate"
GRAPH_APP_CERTIFICATE = "Graph app certificate"
SMIME_CERTIFICATE = "S/MIME signing certificate"
_CREDENTIAL_TEXTS: Mapping[str, Text] = {
    NGDP_CERTIFICATE: Text.CREDENTIAL_NGDP_CERTIFICATE,
    GRAPH_APP_CERTIFICATE: Text.CREDENTIAL_GRAPH_APP_CERTIFICATE,
    SMIME_CERTIFICATE: Text.CREDENTIAL_SMIME_CERTIFICATE,
}


def expiry_alert(what: str, expires: date, days: int, language: str = "da") -> Alert:
    """The alert sent when the certificate ``what`` expires on ``expires``, ``days`` days from now."""
    known = _CREDENTIAL_TEXTS.get(what)
    name = text(known, language) if known is not None else what
    left = max(days, 0)
    return Alert(
        subject=text(Text.EXPIRY_SUBJECT, language, what=name, days=left),
        title=text(Text.EXPIRY_TITLE, language),
        lines=(text(Text.EXPIRY_TEXT, language, what=name, date=expires.isoformat(), days=left),),
    )


def _legacy_expiry_alert(key: EffectKey, payload: Mapping[str, object], language: str) -> Alert | None:
    """An expiry alert planned by an earlier version, which stored only what expires and the days left
    (the date is in its key: ``expiry:{what}:{date}:{threshold}``)."""
    what, days = payload.get("what"), payload.get("days")
    head, _, _threshold = key.subject.rpartition(":")
    prefix, _, stamp = head.rpartition(":")
    if not (isinstance(what, str) and isinstance(days, int) and prefix == f"expiry:{what}"):
        return None
    try:
        expires = date.fromisoformat(stamp)
    except ValueError:
        return None
    return expiry_alert(what, expires, days, language)


@dataclass
class AlertRound:
    """What one :meth:`AlertService.send_pending` did."""

    sent: int = 0
    errors: list[str] = field(default_factory=list)  # CPR-masked
    done: set[EffectKey] = field(default_factory=set)  # the alerts mailed (or found mailed) this round
    failures: dict[EffectKey, GraphDpgError] = field(default_factory=dict)  # left planned, and why


class AlertService:
    def __init__(
        self,
        mailbox: MailboxPort,
        effects: Effects,
        *,
        monitoring_mailbox: str,
        language: str = "da",
        failures: ItemFailures | None = None,
    ) -> None:
        self._mail = mailbox
        self._store = effects
        self._effects = EffectBook(effects, failures=failures, stage=Stage.ALERT)
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

    async def send_now(self, key: EffectKey) -> bool:
        """Mail the planned alert ``key`` now rather than with the next :meth:`send_pending` (which still
        mails it if this fails: it stays planned); True if it is mailed (or found mailed)."""
        effect = await self._effects.get(key)
        if effect is None or effect.state is EffectState.DONE:
            return effect is not None
        planned = PlannedEffect(key, effect.payload, effect.created_at)
        try:
            result = await self._send(planned)
        except GraphDpgError as exc:
            log.warning("alert %s not written yet: %s", key, mask_cprs(str(exc)))
            return False
        if result is None:
            return False
        await self._effects.complete(key, result)
        return True

    async def send_pending(self, limit: int = 100) -> AlertRound:
        """Mail every planned alert (oldest first); one that fails stays planned for the next call."""
        report = AlertRound()
        if not await blocking(self._store.has_pending_effects, _ALERT_PREFIXES):
            return report  # nothing planned: one read instead of one per alert kind (issue 18)

        def failed(effect: PlannedEffect, exc: GraphDpgError) -> None:
            report.errors.append(mask_cprs(f"alert {effect.key}: {exc}"))
            report.failures[effect.key] = exc
            log.warning("alert %s not written yet: %s", effect.key, mask_cprs(str(exc)))

        done = await self._effects.run_pending(*ALERT_KINDS, action=self._send, limit=limit, on_error=failed)
        mailed = [effect for effect, result in done if "failed" not in result]
        report.sent = len(mailed)
        report.done = {effect.key for effect in mailed}
        return report

    async def _send(self, effect: PlannedEffect) -> Mapping[str, object] | None:
        alert = self._alert(effect)
        if alert is None:
            return None  # not an alert this service writes; left to whoever planned it

        async def build() -> MailMessage:
            return self.render(alert)

        marker = Marker(ALERT_PROPERTY, str(effect.key))
        written = await marker.find_or_create(self._mail, self.monitoring_mailbox, "inbox", build)
        return written.result()

    def _alert(self, effect: PlannedEffect) -> Alert | None:
        payload = effect.payload
        alert = Alert.from_json(payload)
        if alert is None and isinstance(payload.get("rule"), str):
            # Planned by an earlier version, which stored only the rule and the reason.
            return rule_disabled_alert(str(payload["rule"]), str(payload.get("reason", "")), self.language)
        if alert is None and effect.key.kind is EffectKind.ALERT:
            return _legacy_expiry_alert(effect.key, payload, self.language)
        return alert

    def render(self, alert: Alert) -> MailMessage:
        banner = render_banner(Banner("invalid", alert.title, tuple(mask_cprs(x) for x in alert.lines)))
        detail = f"<p>{html.escape(alert.detail)}</p>" if alert.detail else ""
        code = (
            f"<pre style='background:#f3f2f1;padding:8px;font-family:Consolas,monospace'>"
            f"{html.escape(alert.code)}</pre>"
            if alert.code
            else ""
        )
        monitor = self.monitoring_mailbox
        body = f'<div style="{MAIL_STYLE}">{banner}{code}{detail}</div>'
        return MailMessage(
            subject=alert.subject,
            body=wrap_document(body, alert.subject, self.language),
            body_type="html",
            sender=EmailAddress(monitor, text(Text.GATEWAY_SENDER_NAME, self.language)),
            to=[EmailAddress(monitor)],
        )
