"""The console's routing page: a dry run of the routing rules against a pasted message, and the contact
point → mailbox mapping as configured beside the contact points NgDP lists for the organisation.

The dry run uses the rule engine of the running gateway and of ``graph-dpg rules test``
(``domain.rules.evaluate_rules`` over an ``InboundItem``, the rules of the gateway file, the rules the gateway
disabled at run time skipped as they are when it routes). Nothing is sent, stored or logged: the pasted text
only lives for the request; CPR numbers are masked in what is shown. The evaluation is CPU work with its own
time budget per rule: call :meth:`RulesConsole.dry_run` through ``services.blocking.blocking``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Literal

from graph_dpg.core.errors import GraphDpgError
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.domain.routing import InboundSettings, plain_reasons
from graph_dpg.domain.rules import InboundItem, evaluate_rules
from graph_dpg.ports.digital_post import ContactPointInfo

log = logging.getLogger(__name__)

MAX_SENDER = 320
MAX_SUBJECT = 1000
MAX_BODY = 48 * 1024
#: How long the page waits for NgDP's list of contact points before showing the mapping without it.
NGDP_WAIT_S = 10.0

Kind = Literal["memo", "mail"]


@dataclass(frozen=True)
class DryRun:
    kind: Kind
    rule: str | None  # the rule that chose the mailbox
    mailbox: str | None
    folder: str | None
    categories: tuple[str, ...]
    mark_read: bool
    archive_to: tuple[str, ...]
    reasons: tuple[str, ...]  # why each matching rule acted, in words (CPR masked)
    trace: tuple[str, ...]  # every rule in evaluation order, its conditions held or not (CPR masked)
    matched: bool


@dataclass(frozen=True)
class ContactPointRow:
    id: str
    name: str | None  # as the gateway file names it (None: not in the gateway file)
    mailbox: str | None  # None: explicitly unmapped or not configured → the main mailbox, with a banner
    folder: str | None
    at_ngdp: bool | None  # None: NgDP was not asked or did not answer
    ngdp_name: str | None = None
    active: bool | None = None


@dataclass(frozen=True)
class ContactPoints:
    rows: tuple[ContactPointRow, ...]
    main_mailbox: str
    ngdp_error: str | None  # why NgDP's list is missing (None: listed, or no NgDP client here)


class RulesConsole:
    def __init__(
        self,
        settings: InboundSettings,
        *,
        disabled: Callable[[], Collection[str]] | None = None,
        ngdp_contact_points: Callable[[], Awaitable[list[ContactPointInfo]]] | None = None,
    ) -> None:
        self.settings = settings
        self._disabled = disabled
        self._ngdp = ngdp_contact_points

    def dry_run(self, kind: Kind, sender: str, subject: str, body: str) -> DryRun:
        """Which rule would route this message, and why (blocking: rules are CPU work)."""
        from_ = tuple(v for v in (sender.strip()[:MAX_SENDER],) if v)
        item = InboundItem(kind=kind, subject=subject[:MAX_SUBJECT], body=body[:MAX_BODY], from_=from_)
        disabled = self._disabled() if self._disabled is not None else ()
        decision = evaluate_rules(
            self.settings.rules, item, disabled=disabled, timeout=self.settings.rule_timeout_seconds
        )
        folder = decision.deliver_folder or (
            self.settings.delivery_folder if decision.deliver_mailbox else None
        )
        return DryRun(
            kind=kind,
            rule=decision.deliver_rule,
            mailbox=decision.deliver_mailbox,
            folder=folder,
            categories=tuple(self.settings.category(c) for c in decision.categories),
            mark_read=decision.mark_read,
            archive_to=decision.archive_to,
            reasons=tuple(mask_cprs(r) for r in plain_reasons(decision, self.settings.language)),
            trace=tuple(mask_cprs(line) for line in decision.explain()),
            matched=bool(decision.matched),
        )

    async def contact_points(self) -> ContactPoints:
        """The gateway file's mapping beside NgDP's list (each contact point once, ours first)."""
        listed: dict[str, ContactPointInfo] | None = None
        error: str | None = None
        if self._ngdp is not None:
            try:
                listed = {p.id: p for p in await asyncio.wait_for(self._ngdp(), NGDP_WAIT_S)}
            except (GraphDpgError, TimeoutError, OSError) as exc:
                log.warning("console: NgDP contact points not listed: %s", type(exc).__name__)
                error = type(exc).__name__
        rows: list[ContactPointRow] = []
        for cp in self.settings.contact_points.values():
            info = listed.get(cp.id) if listed is not None else None
            rows.append(
                ContactPointRow(
                    cp.id,
                    cp.name,
                    cp.mailbox,
                    cp.folder,
                    None if listed is None else info is not None,
                    info.name if info else None,
                    info.active if info else None,
                )
            )
        for info in (listed or {}).values():
            if info.id not in self.settings.contact_points:
                rows.append(ContactPointRow(info.id, None, None, None, True, info.name, info.active))
        return ContactPoints(tuple(rows[:1000]), self.settings.main_mailbox, error)
