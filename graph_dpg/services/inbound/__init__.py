"""Inbound: Digital Post (NgDP pull and push) and secure mail → the right mailbox, readable, nothing lost.

Two pipelines share the routing rules (``domain.rules``, run by :class:`~.shared.RuleGuard` with its time
budget and alerts) and the categories they create:

- the memo pipeline (:mod:`.memos`): memos NgDP holds for us → stored → routed (the route is a
  ``domain.routing.InboundRoute``, decided once) → delivered as a readable mail → acknowledged/deleted;
- mail routing (:mod:`.mail`): secure mail in the inbox sources → read → opened (the step where secure
  mail will be decrypted and its signature checked) → routed by the same rules → moved or copied.

:class:`InboundService` runs one cycle of both (the runtime calls ``run_once`` under the inbound lease).

No database lock is held across a Graph or NgDP call: every store call is its own short transaction,
made in a worker thread (``services.blocking``), so a wait for the database never stalls the event loop.
One replica at a time runs ``run_once`` (the poller holds the ``inbound`` lease around it): the
idempotency described in the modules covers crashes and restarts, not two replicas racing on the same
memo.

Every error text kept in stats, logs or the store is CPR-masked (Graph and NgDP may echo a gateway
address, whose local part can be a CPR number).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from graph_dpg.domain.routing import ContactPointRoute, InboundSettings
from graph_dpg.ports.digital_post import DigitalPostPort
from graph_dpg.ports.mailbox import MailboxPort
from graph_dpg.ports.names import NameLookup
from graph_dpg.ports.store import InboundStore
from graph_dpg.services.alerts import ALERT_PROPERTY, AlertService
from graph_dpg.services.boundary import ItemFailures
from graph_dpg.services.cpu import CpuPool, shared_pool
from graph_dpg.services.inbound.mail import (
    ROUTED_PROPERTY,
    MailOpener,
    MailRouter,
    OpenedMail,
    open_readable,
)
from graph_dpg.services.inbound.memos import MEMO_PROPERTY, MemoPipeline
from graph_dpg.services.inbound.shared import (
    ARCHIVE_PROPERTY,
    InboundStats,
    MasterCategories,
    RuleGuard,
)
from graph_dpg.services.inbox_rules import InboxRuleCache

__all__ = [
    "ALERT_PROPERTY",
    "ARCHIVE_PROPERTY",
    "MEMO_PROPERTY",
    "ROUTED_PROPERTY",
    "ContactPointRoute",
    "InboundService",
    "InboundSettings",
    "InboundStats",
    "MailOpener",
    "OpenedMail",
    "open_readable",
]


class InboundService:
    """One inbound cycle: the memo pipeline, then mail routing, then the alerts still to send."""

    def __init__(
        self,
        mailbox: MailboxPort,
        ngdp: DigitalPostPort,
        store: InboundStore,
        settings: InboundSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        open_mail: MailOpener = open_readable,
        cpu: CpuPool | None = None,
        failures: ItemFailures | None = None,
        inbox_rules: InboxRuleCache | None = None,
        names: NameLookup | None = None,
    ) -> None:
        self.settings = settings
        cpu = cpu or shared_pool()  # parsing, validating, rendering and the rules run there
        self.failures = failures if failures is not None else ItemFailures()
        alerts = AlertService(
            mailbox,
            store,
            monitoring_mailbox=settings.monitoring_mailbox,
            language=settings.language,
            failures=self.failures,
        )
        self.rules = RuleGuard(store, settings, alerts, clock=clock, cpu=cpu)
        categories = MasterCategories(mailbox, settings)
        self.memos = MemoPipeline(
            mailbox,
            settings,
            self.rules,
            categories,
            ngdp=ngdp,
            store=store,
            alerts=alerts,
            failures=self.failures,
            cpu=cpu,
            inbox_rules=inbox_rules,
            names=names,
        )
        self.secure_mail = MailRouter(
            mailbox,
            settings,
            self.rules,
            categories,
            store=store,
            open_mail=open_mail,
            failures=self.failures,
            cpu=cpu,
            alerts=alerts,
            inbox_rules=inbox_rules,
        )

    async def run_once(self, *, pull: bool = True, mail: bool = True) -> InboundStats:
        stats = InboundStats()
        await self.rules.refresh()
        await self.memos.run(stats, pull=pull)
        if mail:
            await self.secure_mail.run(stats)
            if stats.forwarded:  # Digital Post forwarded as secure e-mail: delivered in this cycle too
                await self.memos.run(stats, pull=False)
        await self.rules.send_alerts(stats)
        return stats
