"""Certificate expiry: one alert mail in the monitoring mailbox per threshold (30/14/7 days) before the NgDP
OCES3 certificate or the Graph app certificate expires.

Each alert is an effect keyed ``alert:expiry:{what}:{expiry date}:{threshold}``: planned, then the mail is
found by its ``DpgAlertKey`` property or created, then the effect is completed, so a crash in between
neither loses the alert nor sends it twice. An alert also completes the larger thresholds it supersedes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime

from graph_dpg.adapters.certificates import certificate_not_after
from graph_dpg.config import Settings
from graph_dpg.domain.mail import EmailAddress, MailMessage
from graph_dpg.ports.mailbox import MailboxPort
from graph_dpg.ports.store import Effects
from graph_dpg.services.blocking import blocking

log = logging.getLogger(__name__)

EXPIRY_THRESHOLDS_DAYS: tuple[int, ...] = (30, 14, 7)
#: Named extended property on alert mails: the alert's effect key (finds an earlier copy after a crash).
ALERT_PROPERTY = "DpgAlertKey"


class ExpiryAlerts:
    """The expiry alert use case: what expires when (``credentials``) → alert mails, each sent once."""

    def __init__(
        self,
        store: Effects,
        mailbox: MailboxPort,
        monitoring_mailbox: str,
        credentials: Callable[[], list[tuple[str, datetime]]],
    ) -> None:
        self.store = store
        self.mailbox = mailbox
        self.monitoring_mailbox = monitoring_mailbox
        self.credentials = credentials

    async def run(self, now: datetime) -> AsyncIterator[str]:
        """Alert for every credential past a threshold; yields what each alert sent was about.

        A :class:`~graph_dpg.core.errors.GraphDpgError` stops the pass (the caller backs off and retries).
        """
        for what, not_after in await blocking(self.credentials):
            days = (not_after - now).days
            crossed = [t for t in EXPIRY_THRESHOLDS_DAYS if days <= t]
            if not crossed:
                continue
            if await self.alert(what, not_after, days, min(crossed), crossed):
                yield what

    async def alert(
        self, what: str, not_after: datetime, days: int, threshold: int, crossed: Sequence[int]
    ) -> bool:
        """One alert mail for ``threshold``; False when it was sent before."""
        store = self.store
        base = f"alert:expiry:{what}:{not_after.date().isoformat()}"
        key = f"{base}:{threshold}"
        effect = await blocking(store.get_effect, key)
        if effect is not None and effect.state.value == "done":
            return False
        await blocking(store.plan_effect, key, {"what": what, "days": days})
        monitoring = self.monitoring_mailbox
        mail = self.mailbox
        # An earlier attempt may have created the mail and crashed before recording it: look first.
        existing = await mail.find_by_extended_property(monitoring, "inbox", ALERT_PROPERTY, key)
        if existing:
            result: dict[str, object] = {"message_id": existing[0], "reused": True}
        else:
            text = (
                f"The {what} of the Digital Post gateway expires on {not_after:%Y-%m-%d} "
                f"({max(days, 0)} day(s) left). Renew it and update the gateway's configuration before then; "
                "after it expires the gateway can no longer send or receive Digital Post."
            )
            message = MailMessage(
                subject=f"Digital Post gateway: {what} expires in {max(days, 0)} day(s)",
                body=f"<p>{text}</p>",
                body_type="html",
                sender=EmailAddress(monitoring, "Digital Post Gateway"),
                to=[EmailAddress(monitoring)],
                attachments=[],
                headers=[],
            )
            created = await mail.create_message(
                monitoring, "inbox", message, received=True, extended_properties={ALERT_PROPERTY: key}
            )
            result = {"message_id": created}
            log.warning("%s expires in %d day(s): monitoring mailbox alerted", what, days)
        await blocking(store.complete_effect, key, result)
        # Larger thresholds already passed are covered by this (more urgent) alert.
        for other in crossed:
            if other != threshold:
                other_key = f"{base}:{other}"
                await blocking(store.plan_effect, other_key, {"what": what, "days": days})
                await blocking(store.complete_effect, other_key, {"superseded_by": threshold})
        return True


def expiring_credentials(ngdp: object, settings: Settings) -> list[tuple[str, datetime]]:
    """The certificates this gateway process uses and when they expire: the NgDP client's (when it has
    one) and, with ``credential_kind=certificate``, the Graph app certificate file."""
    found: list[tuple[str, datetime]] = []
    not_after = getattr(ngdp, "certificate_not_after", None)
    if callable(not_after):
        value = not_after()
        if isinstance(value, datetime):
            found.append(("NgDP OCES3 certificate", value))
    path = settings.client_certificate_path
    if settings.credential_kind == "certificate" and path is not None:
        secret = settings.client_certificate_password
        app_not_after = certificate_not_after(path, secret.get_secret_value() if secret else None)
        if app_not_after is not None:
            found.append(("Graph app certificate", app_not_after))
    return found
