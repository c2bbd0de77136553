"""The mailbox owners' Outlook inbox rules, read through Graph and cached per mailbox with a TTL.

Pure matching is in :mod:`graph_dpg.domain.inbox_rules`; this reads the rules (``InboxRulesPort``), keeps
them ``ttl_seconds`` per mailbox (a rule changed in Outlook takes effect within that time), and turns a
failure to read them into "no rules" for that time, logged once: a mailbox whose rules cannot be read
still gets its post, as before the feature.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from graph_dpg.core.errors import GraphDpgError
from graph_dpg.domain.inbox_rules import InboxRule, RuleOutcome, apply_rules
from graph_dpg.domain.mail import MailMessage
from graph_dpg.ports.mailbox import InboxRulesPort

log = logging.getLogger(__name__)

#: How long a mailbox's rules are used before they are read again.
DEFAULT_TTL_SECONDS = 300.0


@dataclass
class InboxRuleCache:
    port: InboxRulesPort
    ttl_seconds: float = DEFAULT_TTL_SECONDS
    clock: Callable[[], float] = time.monotonic
    _rules: dict[str, tuple[float, list[InboxRule]]] = field(default_factory=dict, init=False)

    async def rules(self, mailbox: str) -> list[InboxRule]:
        key = mailbox.casefold()
        now = self.clock()
        cached = self._rules.get(key)
        if cached is not None and now - cached[0] < self.ttl_seconds:
            return cached[1]
        try:
            rules = await self.port.list_inbox_rules(mailbox)
        except GraphDpgError as exc:
            log.warning("inbox rules of %s cannot be read, delivering without them: %s", mailbox, exc)
            rules = []
        self._rules[key] = (now, rules)
        return rules

    async def outcome(self, mailbox: str, mail: MailMessage, body_text: str) -> RuleOutcome:
        """What ``mailbox``'s rules do to ``mail`` (logged when a rule acts)."""
        outcome = apply_rules(await self.rules(mailbox), mail, body_text, mail.importance or "normal")
        if outcome.rules:
            log.info(
                "inbox rules of %s applied to a delivered mail: %s (%s)",
                mailbox,
                ", ".join(outcome.rules),
                ", ".join(outcome.actions),
            )
        return outcome
