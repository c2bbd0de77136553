"""What the memo pipeline and mail routing share: the cycle's stats, the master categories they create, and
the routing rules with their safeguard.

Rule timeouts: a rule that exceeds ``rule_timeout_seconds`` on an item is disabled at once (persisted with
``disable_rule``, survives restarts), logged, audited, and an alert mail is created in the monitoring
mailbox's inbox (``services.alerts``, key ``rulealert:{rule}:{disabled_at}``) right away, not at the end of
the cycle. Every cycle plans the alerts of all disabled rules again (a no-op for those already planned),
which covers a crash between disabling a rule and planning its alert.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from graph_dpg.domain.routing import InboundSettings
from graph_dpg.domain.rules import InboundItem, RoutingDecision, RuleTrace, evaluate_rules
from graph_dpg.domain.texts import Text, text
from graph_dpg.ports.mailbox import MailboxPort
from graph_dpg.ports.store import RuleStore
from graph_dpg.services.alerts import AlertService, rule_disabled_alert
from graph_dpg.services.blocking import blocking
from graph_dpg.services.cpu import CpuPool, shared_pool
from graph_dpg.services.effects import EffectKey, EffectKind

log = logging.getLogger(__name__)

#: Named extended property on archive copies (of memos and of routed mail): what they copy.
ARCHIVE_PROPERTY = "DpgArchivedCopy"


@dataclass
class InboundStats:
    """What one ``run_once`` did (for logs, metrics and the sandbox report)."""

    pulled: int = 0
    delivered: int = 0
    invalid: int = 0
    unmapped: int = 0
    fallbacks: int = 0
    unshown: int = 0  # delivered raw: something unexpected happened while reading, routing or showing it
    acknowledged: int = 0
    deleted: int = 0
    mail_seen: int = 0
    mail_routed: int = 0
    forwarded: int = 0  # memos found in Digital Post forwarded as S/MIME e-mail (stored for the pipeline)
    rules_disabled: list[str] = field(default_factory=list)
    alerts: int = 0
    errors: list[str] = field(default_factory=list)


#: The colours of categories the gateway names without one (the rules' categories, the routed-original
#: category): Outlook presets (outlookCategory resource, docs/facts/graph.md "Master categories") that the
#: default state categories do not use, picked by the name, so a category has the same colour everywhere.
RULE_CATEGORY_COLOURS: tuple[str, ...] = (
    "preset2",
    "preset6",
    "preset8",
    "preset9",
    "preset10",
    "preset19",
    "preset20",
    "preset22",
    "preset23",
)


def rule_category_colour(name: str) -> str:
    """The preset colour a category without a configured one gets (stable across processes)."""
    return RULE_CATEGORY_COLOURS[zlib.crc32(name.casefold().encode("utf-8")) % len(RULE_CATEGORY_COLOURS)]


class MasterCategories:
    """Categories must exist in a mailbox's master list to show their colour: create the missing ones
    (the Digital Post ones with their configured colours, any other, e.g. a rule's, with
    :func:`rule_category_colour`), once per mailbox and process."""

    def __init__(self, mailbox: MailboxPort, settings: InboundSettings) -> None:
        self._mail = mailbox
        self._settings = settings
        self._ready: dict[str, set[str]] = {}  # mailbox → category names known to exist

    async def ensure(self, mailbox: str, names: Sequence[str]) -> None:
        ready = self._ready.setdefault(mailbox.lower(), set())
        base = [self._settings.category(k) for k in ("inbound", "warning")]
        missing = [n for n in dict.fromkeys([*base, *names]) if n not in ready]
        if not missing:
            return
        colours = dict(self._settings.categories.values())
        wanted = {n: colours.get(n) or rule_category_colour(n) for n in missing}
        await self._mail.ensure_master_categories(mailbox, wanted)
        ready.update(missing)


class RuleGuard:
    """The routing rules as the inbound side runs them: off the event loop, within their time budget, a
    rule that exceeds it disabled and alerted (see the module docstring)."""

    def __init__(
        self,
        store: RuleStore,
        settings: InboundSettings,
        alerts: AlertService,
        *,
        clock: Callable[[], float] = time.monotonic,
        cpu: CpuPool | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._alerts = alerts
        self._clock = clock
        self._cpu = cpu or shared_pool()
        self._disabled: frozenset[str] = frozenset()

    async def refresh(self) -> None:
        """Read the rules disabled so far (also by other processes) and plan their alerts."""
        disabled = await blocking(self._store.disabled_rules)
        self._disabled = frozenset(disabled)
        for name, entry in disabled.items():
            # Idempotent: covers a crash between disable_rule and planning its alert in an earlier run.
            await self._plan_alert(name, entry.disabled_at.isoformat(), entry.reason)

    async def decide(
        self, item: InboundItem, context: str, stats: InboundStats, *, mail_alerts: bool = True
    ) -> RoutingDecision:
        """The rules' decision on ``item``; a rule that exceeds its time budget is disabled and its alert
        planned, and mailed at once unless ``mail_alerts`` is False (the alert is then mailed by whoever
        sends the planned alerts: the ``ngdp:memos`` lease holder)."""
        # In the CPU pool: a slow rule (up to its time budget) must not stall the event loop, which
        # also serves the NgDP push receiver and health checks; regex releases the GIL while matching.
        decision = await self._cpu.run(
            evaluate_rules,
            self._settings.rules,
            item,
            disabled=self._disabled,
            timeout=self._settings.rule_timeout_seconds,
            clock=self._clock,
        )
        for trace in decision.timed_out:
            await self._disable(trace, context, stats)
        if decision.timed_out and mail_alerts:
            await self.send_alerts(stats)  # "mailed at once", not at the end of the cycle
        return decision

    async def count_hits(self, names: Iterable[str]) -> None:
        for name in names:
            await blocking(self._store.increment_rule_hits, name)

    async def send_alerts(self, stats: InboundStats) -> None:
        sent = await self._alerts.send_pending()
        stats.alerts += sent.sent
        stats.errors.extend(sent.errors)

    async def _disable(self, trace: RuleTrace, context: str, stats: InboundStats) -> None:
        name = trace.rule.name
        self._disabled |= {name}
        budget, elapsed = self._settings.rule_timeout_seconds, trace.elapsed
        reason = text(
            Text.RULE_TIMEOUT_REASON, self._settings.language, budget=budget, elapsed=elapsed, context=context
        )
        if not await blocking(self._store.disable_rule, name, reason):
            return
        stats.rules_disabled.append(name)
        log.error("routing rule %r disabled: %s", name, reason)
        await blocking(self._store.audit, "inbound.rule.disabled", name, details={"reason": reason})
        entry = (await blocking(self._store.disabled_rules)).get(name)
        await self._plan_alert(name, entry.disabled_at.isoformat() if entry is not None else "", reason)

    async def _plan_alert(self, name: str, stamp: str, reason: str) -> None:
        alert = rule_disabled_alert(name, reason, self._settings.language)
        await self._alerts.plan(EffectKey(EffectKind.RULE_ALERT, f"{name}:{stamp}"), alert)


@dataclass
class InboundParts:
    """What the memo pipeline and mail routing both work with."""

    mail: MailboxPort
    settings: InboundSettings
    rules: RuleGuard
    categories: MasterCategories
    #: Where parsing, validating and rendering run (services.cpu), never on the event loop.
    cpu: CpuPool = field(default_factory=shared_pool, kw_only=True)
