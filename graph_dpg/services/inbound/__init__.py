"""Inbound: Digital Post (NgDP pull and push) and secure mail → the right mailbox, readable, nothing lost.

Two pipelines share the routing rules (``domain.rules``, run by :class:`~.shared.RuleGuard` with its time
budget and alerts) and the categories they create:

- the memo pipeline (:mod:`.memos`): memos NgDP holds for us → stored → routed (the route is a
  ``domain.routing.InboundRoute``, decided once) → delivered as a readable mail → acknowledged/deleted;
- mail routing (:mod:`.mail`): secure mail in the inbox sources → read → opened (the step where secure
  mail will be decrypted and its signature checked) → routed by the same rules → moved or copied.

:class:`InboundService` runs one cycle of both (``run_once``), or only the memos' delivery and
acknowledgement (``deliver_claimed``).

Replicas (issue 18). ``run_once`` runs on one replica at a time, the holder of the ``ngdp:memos`` lease:
the NgDP pull (list, then get) and secure-mail routing stay singletons, because neither has a row to
claim before it starts (the pull learns of a memo from NgDP's list, and a secure mail is claimed in the
store only as it is routed; two replicas polling both would double every request for nothing), and both
are cheap next to delivery. The holder also mails the planned alerts. Delivering and acknowledging memos
(the expensive part: rendering, Graph writes, NgDP receipts) runs on every replica, through
``deliver_claimed`` (and inside ``run_once`` on the holder): each replica claims a few stored memos at a
time (``inbound_memos.claimed_by``/``claimed_until``, ``SKIP LOCKED`` on PostgreSQL), renews its claims
while it works on them, checks a memo is still its own right before delivering or answering it, and
releases it when the step is done. So a memo is worked on by one replica at a time, and the idempotency
described in :mod:`.memos` (route recorded once, the ``DpgInboundMemo`` marker, NgDP's 409/404 counted as
success) covers what is left: crashes, restarts, and a claim that expired under a replica that stalled.

No database lock is held across a Graph or NgDP call: every store call is its own short transaction,
made in a worker thread (``services.blocking``), so a wait for the database never stalls the event loop.

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
        claim_owner: str | None = None,
        claim_s: float = 120.0,
    ) -> None:
        """``claim_owner``: the name this process claims memos under (the replica's; default: a name of
        this service's own); ``claim_s``: how long a claim lasts unless renewed (it is renewed every third
        of it while the memo's step runs)."""
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
            claim_s=claim_s,
        )
        if claim_owner is not None:
            self.memos.claim_owner = claim_owner
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
        """The lease holder's cycle: pull, deliver/acknowledge what it claims, route secure mail (and
        deliver the Digital Post forwarded by mail it found), mail the planned alerts."""
        stats = InboundStats()
        await self.rules.refresh()
        await self.memos.run(stats, pull=pull)
        if mail:
            await self.secure_mail.run(stats)
            if stats.forwarded:  # Digital Post forwarded as secure e-mail: delivered in this cycle too
                await self.memos.run(stats, pull=False)
        await self.rules.send_alerts(stats)
        return stats

    async def deliver_claimed(self) -> InboundStats:
        """Every replica's part: deliver and acknowledge the stored memos it claims (no pull, no secure
        mail). Alerts are planned here, and mailed by the lease holder's ``run_once``."""
        stats = InboundStats()
        if not await self.memos.has_claimable():
            return stats  # an idle round: one read, not the rules' and each step's
        await self.rules.refresh()
        await self.memos.work_claimed(stats, alerts_now=False, checked=True)
        return stats

    def forget_delta_links(self) -> None:
        """The ``ngdp:memos`` lease lapsed: the secure-mail sources' delta links are read again from the
        store at the next poll (``services.delta_links``)."""
        self.secure_mail.delta_links.clear()
