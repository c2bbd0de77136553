"""Certificate expiry: one alert mail in the monitoring mailbox per threshold (30/14/7 days) before the NgDP
OCES3 certificate or the Graph app certificate expires.

Each alert goes through :class:`~graph_dpg.services.alerts.AlertService` under the key
``alert:expiry:{what}:{expiry date}:{threshold}``: planned once, mailed once (a crash in between neither
loses the alert nor sends it twice). An alert also settles the larger thresholds it supersedes, so a
certificate first noticed 5 days before it expires gets one mail, not three.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from graph_dpg.core.errors import GraphDpgError
from graph_dpg.services.alerts import AlertService, expiry_alert
from graph_dpg.services.blocking import blocking
from graph_dpg.services.effects import EffectKey, EffectKind

log = logging.getLogger(__name__)

EXPIRY_THRESHOLDS_DAYS: tuple[int, ...] = (30, 14, 7)


def expiry_key(what: str, not_after: datetime, threshold: int) -> EffectKey:
    """The alert for ``what`` (expiring at ``not_after``) crossing ``threshold`` days."""
    return EffectKey(EffectKind.ALERT, f"expiry:{what}:{not_after.date().isoformat()}:{threshold}")


class ExpiryAlerts:
    """The expiry alert use case: what expires when (``credentials``) → alert mails, each sent once."""

    def __init__(self, alerts: AlertService, credentials: Callable[[], list[tuple[str, datetime]]]) -> None:
        self.alerts = alerts
        self.credentials = credentials

    async def run(self, now: datetime) -> AsyncIterator[str]:
        """Alert for every credential past a threshold; yields what each alert mailed was about.

        A :class:`~graph_dpg.core.errors.GraphDpgError` writing one of these alerts is raised after the
        others are done (the caller backs off and retries; the alert stays planned until then).
        """
        planned: list[tuple[str, int, EffectKey]] = []
        for what, not_after in await blocking(self.credentials):
            days = (not_after - now).days
            crossed = [t for t in EXPIRY_THRESHOLDS_DAYS if days <= t]
            if not crossed:
                continue
            threshold = min(crossed)
            key = expiry_key(what, not_after, threshold)
            if await self.alerts.is_done(key):
                continue
            alert = expiry_alert(what, not_after.date(), days, self.alerts.language)
            await self.alerts.plan(key, alert)
            # Larger thresholds already passed are covered by this (more urgent) alert.
            for other in crossed:
                if other != threshold:
                    covered = expiry_key(what, not_after, other)
                    await self.alerts.settle(covered, {"superseded_by": threshold})
            planned.append((what, days, key))
        if not planned:
            return
        report = await self.alerts.send_pending()
        failure: GraphDpgError | None = None
        for what, days, key in planned:
            if key in report.done:
                log.warning("%s expires in %d day(s): monitoring mailbox alerted", what, days)
                yield what
            elif failure is None:
                failure = report.failures.get(key)
        if failure is not None:
            raise failure
