"""Inbound: Digital Post (NgDP pull and push) and secure mail → the right mailbox, readable, nothing lost.

State machine of one memo (rows in the store; ``services.ports.store``)::

    NgDP list ──get_memo──► store_inbound_memo ──► RECEIVED     (push: the receiver stores it alike)
    RECEIVED  ──route (decided once, kept with the memo)──► create message (unless found by its
              extended property) ──► DELIVERED
    DELIVERED ──receipt COMPLETED | INVALID──► ACKNOWLEDGED ──DELETE memos/{id} (pull only)──► DELETED
    RECEIVED  ──N permanent failures at the target (AuthError/PermanentError)──► route replaced once by the
              main mailbox + a banner naming the target and the error (kept with the memo, too)

Why nothing is lost and nothing is delivered twice:

- the memo is stored (durable) before anything else; NgDP keeps it until we delete it, after delivery;
- the route (mailbox, folder, rules that matched, banner) is recorded once with the memo before the
  message is created, so a rerun after a crash delivers to the same place even if rules changed meanwhile
  (e.g. a rule got disabled) and rule hits are counted once;
- the delivered message carries the named extended property ``DpgInboundMemo`` = memo id; before creating,
  the folder is searched for it, so a crash between "created" and ``mark_delivered`` reuses the message;
- the receipt is sent only in DELIVERED, the delete only after ACKNOWLEDGED; NgDP's "receipt exists" (409)
  and "already deleted" (404) answers count as success (the client translates them), so repeats are safe.

Pushed memos: NgDP's push is acknowledged by the business receipt alone (there is nothing to delete:
NgDP stops redelivering once the receiver answered 200), so they end in ACKNOWLEDGED. A 404 on their
receipt means NgDP no longer holds the memo; it is logged and counted as acknowledged.

Invalid memos (unreadable, unsafe XML, XSD/business-rule findings) are still delivered, to the main
mailbox with an explanation banner and the raw XML attached, and answered with an INVALID receipt.

Secure mail: every new mail in the inbox sources (main inbox first; delta link persisted after the
round) is planned as an effect ``mailroute:{internetMessageId}`` - the key is the Message-ID, so a copy
the gateway makes into another routed folder is never routed again - and claimed as a source message.
Executing the effect evaluates the rules on the whole mail: no match leaves it where it is; a target in
the same mailbox moves it (plus the rules' categories); a target in another mailbox gets a copy created
there (found again by its ``DpgRoutedMail`` property after a crash) and the original stays (or is moved
to ``routed_folder`` when configured); ``archive_to`` gets a copy too. Mails the gateway delivered itself
(Message-ID ``<memo-...@graph-dpg.invalid>``, or From a gateway address) are skipped. Business receipts
that arrive as mail (e.g. the receipt mails of the outbound service in a routed inbox) take this path,
so rules can file the successful ones away. ``mark_read`` applies to created messages only (the mailbox
port has no "mark as read" for moved ones).

Rule timeouts: a rule that exceeds ``rule_timeout_seconds`` on an item is disabled at once (persisted with
``disable_rule``, survives restarts), logged, audited, and an alert mail is created in the monitoring
mailbox's inbox as the effect ``rulealert:{rule}:{disabled_at}`` (found by ``DpgAlert`` after a crash).

No database lock is held across a Graph or NgDP call: every store call is its own short transaction.
One replica at a time runs ``run_once`` (the poller holds the ``inbound`` lease around it): the
idempotency above covers crashes and restarts, not two replicas racing on the same memo.

Every error text kept in stats, logs or the store is CPR-masked (Graph and NgDP may echo a gateway
address, whose local part can be a CPR number).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from graph_dpg.core.errors import (
    AuthError,
    Finding,
    GraphDpgError,
    NotFoundError,
    PermanentError,
)
from graph_dpg.domain.addresses import is_gateway_address
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.domain.inbound_view import (
    ViewOptions,
    findings_json,
    memo_uuid_from_message_id,
    render_invalid_mail,
    render_memo_mail,
)
from graph_dpg.domain.mail import EmailAddress, MailMessage
from graph_dpg.domain.routing import (
    ContactPointRoute,
    InboundRoute,
    InboundSettings,
    ParsedMemo,
    attached_memo,
    gateway_reply_address,
    invalid_route,
    mail_item,
    memo_route,
    memo_rule_item,
    parse_inbound,
    route_banner,
)
from graph_dpg.domain.rules import InboundItem, RoutingDecision, RuleTrace, evaluate_rules
from graph_dpg.memo.model import MemoMessage
from graph_dpg.ports.digital_post import DigitalPostPort
from graph_dpg.ports.mailbox import MailboxPort
from graph_dpg.ports.store import InboundMemo, InboundSource, InboundState, StatePort
from graph_dpg.services.alerts import AlertService, rule_disabled_alert
from graph_dpg.services.effects import (
    EffectBook,
    EffectKey,
    EffectKind,
    Marker,
    PlannedEffect,
    find_or_create,
)

log = logging.getLogger(__name__)

__all__ = ["ContactPointRoute", "InboundService", "InboundSettings", "InboundStats"]

#: Named extended properties (the project's property set; see the Graph adapter).
MEMO_PROPERTY = "DpgInboundMemo"
ROUTED_PROPERTY = "DpgRoutedMail"
ARCHIVE_PROPERTY = "DpgArchivedCopy"

#: Earlier versions kept a memo's route, and its fallback, as effects under these keys.
_LEGACY_ROUTE_PREFIX = "inbound:"
_LEGACY_FALLBACK_PREFIX = "inbound-fallback:"


@dataclass
class InboundStats:
    """What one ``run_once`` did (for logs, metrics and the sandbox report)."""

    pulled: int = 0
    delivered: int = 0
    invalid: int = 0
    unmapped: int = 0
    fallbacks: int = 0
    acknowledged: int = 0
    deleted: int = 0
    mail_seen: int = 0
    mail_routed: int = 0
    rules_disabled: list[str] = field(default_factory=list)
    alerts: int = 0
    errors: list[str] = field(default_factory=list)


class InboundService:
    def __init__(
        self,
        mailbox: MailboxPort,
        ngdp: DigitalPostPort,
        store: StatePort,
        settings: InboundSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mail = mailbox
        self.ngdp = ngdp
        self.store = store
        self.settings = settings
        self._clock = clock
        self._disabled: set[str] = set()
        self._refused: set[str] = set()  # mailboxes that answered AuthError in this cycle
        self._categories_ready: dict[str, set[str]] = {}  # mailbox → category names known to exist
        self.effects = EffectBook(store)
        self.alerts = AlertService(
            mailbox, store, monitoring_mailbox=settings.monitoring_mailbox, language=settings.language
        )

    # ------------------------------------------------------------------ one full cycle
    async def run_once(self, *, pull: bool = True, mail: bool = True) -> InboundStats:
        stats = InboundStats()
        disabled = self.store.disabled_rules()
        self._disabled = set(disabled)
        for name, entry in disabled.items():
            # Idempotent: covers a crash between disable_rule and planning its alert in an earlier run.
            self._plan_alert(name, entry.disabled_at.isoformat(), entry.reason)
        if pull:
            try:
                await self.pull(stats)
            except AuthError as exc:
                stats.errors.append(mask_cprs(f"pull: {exc}"))
                log.error(
                    "inbound pull stopped: authentication failed at %s: %s", exc.service, mask_cprs(str(exc))
                )
            except GraphDpgError as exc:
                stats.errors.append(mask_cprs(f"pull: {exc}"))
                log.warning("inbound pull failed: %s", mask_cprs(str(exc)))
        await self.deliver_pending(stats)
        await self.acknowledge_pending(stats)
        if mail:
            await self.poll_mail(stats)
            await self.route_pending_mail(stats)
        await self.send_alerts(stats)
        return stats

    # ------------------------------------------------------------------ (a) NgDP pull
    async def pull(self, stats: InboundStats) -> None:
        """Fetch every memo NgDP holds for us and store it durably (nothing else happens before)."""
        for memo_id in await self.ngdp.list_memos():
            if self.store.get_inbound(memo_id) is not None:
                continue  # stored earlier; delivery/acknowledgement continue from its state
            xml = await self.ngdp.get_memo(memo_id)
            if self.store.store_inbound_memo(memo_id, InboundSource.PULL, xml):
                stats.pulled += 1
                self.store.audit(
                    "inbound.memo.received", memo_id, details={"size": len(xml), "source": "pull"}
                )

    # ------------------------------------------------------------------ (b) deliver
    async def deliver_pending(self, stats: InboundStats) -> None:
        self._refused = set()
        for row in self.store.inbound_in_state(InboundState.RECEIVED, limit=self.settings.batch_size):
            try:
                await self.deliver(row, stats)
            except GraphDpgError as exc:
                self.store.record_inbound_error(row.memo_uuid, str(exc))
                stats.errors.append(mask_cprs(f"memo {row.memo_uuid}: {exc}"))
                log.warning("inbound memo %s not delivered yet: %s", row.memo_uuid, mask_cprs(str(exc)))
                if isinstance(exc, AuthError | PermanentError):
                    self._fall_back(row, exc)

    def _fall_back(self, row: InboundMemo, exc: GraphDpgError) -> None:
        """After repeated permanent failures (e.g. the target mailbox is outside the app's RBAC scope, or a
        rule names a folder that cannot be created) deliver to the main mailbox with a banner that says
        why, instead of keeping the memo at NgDP forever. Recorded once, as its own effect."""
        if row.attempts + 1 < self.settings.fallback_after_attempts:
            return
        current = self.store.get_inbound(row.memo_uuid)
        route = self._recorded_route(current) if current is not None else None
        if route is None or route.undeliverable is not None:
            return
        if route.mailbox.lower() == self.settings.main_mailbox.lower():
            return
        fallback = route.fall_back(self.settings, str(exc))
        if self.store.record_inbound_route(row.memo_uuid, fallback.to_json(), replace=True):
            log.error(
                "inbound memo %s could not be delivered to %s (%s); delivering to the main mailbox",
                row.memo_uuid,
                route.mailbox,
                mask_cprs(str(exc)),
            )
            self.store.audit(
                "inbound.memo.fallback",
                row.memo_uuid,
                details={"failed_mailbox": route.mailbox, "error": str(exc)[:500]},
            )

    def _recorded_route(self, row: InboundMemo) -> InboundRoute | None:
        """The route recorded with the memo. A memo an earlier version routed has its route (or fallback)
        in an effect: it is moved to the memo's row here, and the effects are marked done."""
        if row.route is not None:
            return InboundRoute.from_json(row.route)
        keys = (_LEGACY_FALLBACK_PREFIX + row.memo_uuid, _LEGACY_ROUTE_PREFIX + row.memo_uuid)
        legacy = [e for e in (self.store.get_effect(k) for k in keys) if e is not None]
        if not legacy:
            return None
        self.store.record_inbound_route(row.memo_uuid, legacy[0].payload)
        for effect in legacy:
            self.store.complete_effect(effect.key, {"moved": "inbound_memos.route"})
        return InboundRoute.from_json(legacy[0].payload)

    async def deliver(self, row: InboundMemo, stats: InboundStats) -> str:
        """Deliver one stored memo; returns the created (or found) message id."""
        memo_uuid = row.memo_uuid
        xml = self.store.load_inbound_xml(memo_uuid)
        if xml is None:
            raise GraphDpgError(f"inbound memo {memo_uuid} has no stored XML")
        parsed = parse_inbound(xml)
        route = self._recorded_route(row)
        if route is None:
            decided = await self._plan_route(memo_uuid, parsed, xml, stats)
            if self.store.record_inbound_route(memo_uuid, decided.to_json()):
                for name in decided.rules:
                    self.store.increment_rule_hits(name)
            current = self.store.get_inbound(memo_uuid)
            recorded = self._recorded_route(current) if current is not None else None
            route = recorded if recorded is not None else decided
        target = route.mailbox or self.settings.main_mailbox
        folder = route.folder or self.settings.delivery_folder
        if target.lower() in self._refused:
            raise AuthError(f"mailbox {target} refused access earlier in this cycle", service="graph")

        async def build() -> MailMessage:
            mail = self._render(memo_uuid, parsed, xml, route, target)
            await self._ensure_categories(target, mail.categories)
            return mail

        try:
            folder_id = await self.mail.ensure_folder(target, folder)
            marker = Marker(MEMO_PROPERTY, memo_uuid)
            message_id = (await find_or_create(self.mail, target, folder_id, marker, build)).message_id
        except AuthError:
            # Usually one mailbox outside the app's RBAC scope: skip it for this cycle, keep the others going.
            self._refused.add(target.lower())
            raise
        for archive in route.archive_to:
            await self._archive_copy(archive, memo_uuid, parsed, xml, route)
        self.store.mark_delivered(memo_uuid, target, message_id)
        self.store.audit(
            "inbound.memo.delivered",
            memo_uuid,
            details={
                "mailbox": target,
                "folder": folder,
                "valid": parsed.valid,
                "rules": list(route.rules),
                "banner": route.banner,
            },
        )
        stats.delivered += 1
        if not parsed.valid:
            stats.invalid += 1
        if route.banner == "unmapped":
            stats.unmapped += 1
        if route.banner == "undeliverable":
            stats.fallbacks += 1
        return message_id

    async def _plan_route(
        self, memo_uuid: str, parsed: ParsedMemo, xml: bytes, stats: InboundStats
    ) -> InboundRoute:
        if not parsed.valid:
            return invalid_route(self.settings, parsed.errors)
        message = parsed.message
        assert message is not None
        decision = await self._decide(memo_rule_item(self.settings, message, xml), f"memo {memo_uuid}", stats)
        return memo_route(self.settings, message, decision)

    def _reply_address(self, message: MemoMessage, mailbox: str) -> str | None:
        return gateway_reply_address(self.settings, message, mailbox)

    def _render(
        self, memo_uuid: str, parsed: ParsedMemo, xml: bytes, route: InboundRoute, target: str
    ) -> MailMessage:
        s = self.settings
        opts = ViewOptions(language=s.language, mask_cpr=s.mask_cpr)
        categories = list(route.categories)
        if not parsed.valid:
            return render_invalid_mail(
                xml,
                memo_uuid,
                parsed.errors,
                target_mailbox=target,
                message=parsed.message,
                categories=categories,
                options=opts,
            ).mail
        message = parsed.message
        assert message is not None
        cp_id = route.contact_point
        known = s.contact_points.get(cp_id) if cp_id else None
        banner = route_banner(s, route)
        banners = [banner] if banner is not None else []
        address = self._reply_address(message, target)
        reply_from = EmailAddress(address, message.header.sender.label) if address else None
        return render_memo_mail(
            message,
            xml,
            target_mailbox=target,
            reply_from=reply_from,
            banners=banners,
            rule_reasons=list(route.reasons),
            routing_note=route.note or None,
            categories=categories,
            contact_point_name=known.name if known else None,
            options=opts,
            mark_read=route.mark_read,
        ).mail

    async def _archive_copy(
        self, archive: str, memo_uuid: str, parsed: ParsedMemo, xml: bytes, route: InboundRoute
    ) -> None:
        async def build() -> MailMessage:
            mail = self._render(memo_uuid, parsed, xml, route, archive)
            # A second copy with the same Message-ID would confuse reply threading; the archive is for
            # reading.
            mail.internet_message_id = None
            return mail

        folder_id = await self.mail.ensure_folder(archive, "inbox")
        await find_or_create(self.mail, archive, folder_id, Marker(ARCHIVE_PROPERTY, memo_uuid), build)

    async def _ensure_categories(self, mailbox: str, names: Sequence[str]) -> None:
        """Categories must exist in the mailbox's master list to show their colour: create missing ones
        (the Digital Post ones with their configured colours, rule categories without colour)."""
        ready = self._categories_ready.setdefault(mailbox.lower(), set())
        base = [self.settings.category(k) for k in ("inbound", "warning")]
        missing = [n for n in dict.fromkeys([*base, *names]) if n not in ready]
        if not missing:
            return
        colours = dict(self.settings.categories.values())
        await self.mail.ensure_master_categories(mailbox, {n: colours.get(n, "none") for n in missing})
        ready.update(missing)

    # ------------------------------------------------------------------ (c) acknowledge
    async def acknowledge_pending(self, stats: InboundStats) -> None:
        for row in self.store.inbound_in_state(InboundState.DELIVERED, limit=self.settings.batch_size):
            try:
                await self._acknowledge(row)
                stats.acknowledged += 1
                if row.source is InboundSource.PULL:
                    await self._delete(row)
                    stats.deleted += 1
            except GraphDpgError as exc:
                self.store.record_inbound_error(row.memo_uuid, str(exc))
                stats.errors.append(mask_cprs(f"memo {row.memo_uuid}: {exc}"))
                log.warning("inbound memo %s not acknowledged yet: %s", row.memo_uuid, mask_cprs(str(exc)))
                if isinstance(exc, AuthError):
                    return
        for row in self.store.inbound_in_state(InboundState.ACKNOWLEDGED, limit=self.settings.batch_size):
            if row.source is not InboundSource.PULL:
                continue
            try:
                await self._delete(row)
                stats.deleted += 1
            except GraphDpgError as exc:
                self.store.record_inbound_error(row.memo_uuid, str(exc))
                stats.errors.append(mask_cprs(f"memo {row.memo_uuid}: {exc}"))

    async def _acknowledge(self, row: InboundMemo) -> None:
        route = self._recorded_route(row)
        valid = route.valid if route is not None else True
        errors = [Finding("memo", e) for e in route.errors] if route is not None else []
        try:
            if valid:
                await self.ngdp.send_memo_receipt(row.memo_uuid, "COMPLETED")
            else:
                await self.ngdp.send_memo_receipt(
                    row.memo_uuid, "INVALID", "INVALID_MEMO", findings_json(errors)[:1000]
                )
        except NotFoundError:
            # NgDP no longer holds the memo (a pushed one, or deleted meanwhile): nothing left to answer.
            log.info("ngdp memo %s unknown at receipt time; counted as acknowledged", row.memo_uuid)
        self.store.mark_acknowledged(row.memo_uuid)
        self.store.audit(
            "inbound.memo.acknowledged",
            row.memo_uuid,
            details={"status": "COMPLETED" if valid else "INVALID"},
        )

    async def _delete(self, row: InboundMemo) -> None:
        await self.ngdp.delete_memo(row.memo_uuid)  # 404 (already deleted) counts as done in the client
        self.store.mark_deleted(row.memo_uuid)

    # ------------------------------------------------------------------ (d) secure mail
    def _is_ours(self, msg: MailMessage) -> bool:
        if memo_uuid_from_message_id(msg.internet_message_id) is not None:
            return True
        sender = msg.sender.address if msg.sender else ""
        return bool(sender) and is_gateway_address(sender, self.settings.gateway_domain)

    async def poll_mail(self, stats: InboundStats) -> None:
        for mailbox, folder in self.settings.sources():
            try:
                await self._poll_source(mailbox, folder, stats)
            except GraphDpgError as exc:
                stats.errors.append(mask_cprs(f"poll {mailbox}/{folder}: {exc}"))
                log.warning("inbound poll of %s/%s failed: %s", mailbox, folder, mask_cprs(str(exc)))

    async def _poll_source(self, mailbox: str, folder: str, stats: InboundStats) -> None:
        link = self.store.get_delta_link(mailbox, folder)
        delta = await self.mail.read_delta(mailbox, folder, link)
        for msg in delta.messages:
            if msg.is_draft or msg.id is None or self._is_ours(msg):
                continue
            ident = (msg.internet_message_id or f"{mailbox}|{msg.id}").strip().lower()
            payload = {"mailbox": mailbox, "folder": folder, "message_id": msg.id, "imid": ident}
            if self.effects.plan(EffectKey.mail_route(ident), payload):
                stats.mail_seen += 1
            self.store.claim_source_message(mailbox, msg.id, msg.internet_message_id)
        # Only now: a crash before this line replays the round, and planning ignores what it has.
        self.store.set_delta_link(mailbox, folder, delta.delta_link)

    async def route_pending_mail(self, stats: InboundStats) -> None:
        subjects: dict[EffectKey, str] = {}  # for the audit trail, CPR-masked

        async def route(effect: PlannedEffect) -> Mapping[str, object]:
            p = effect.payload
            mailbox, message_id = str(p.get("mailbox", "")), str(p.get("message_id", ""))
            try:
                msg = await self.mail.get_message(mailbox, message_id)
            except NotFoundError:
                return {"skipped": "message gone"}
            decision = await self._decide(mail_item(msg, attached_memo(msg)), f"mail in {mailbox}", stats)
            result = await self._apply_mail_route(effect.key, mailbox, msg, decision)
            for name in decision.matched_rules:
                self.store.increment_rule_hits(name)
            subjects[effect.key] = mask_cprs(msg.subject)[:200]
            return result

        def failed(effect: PlannedEffect, exc: GraphDpgError) -> None:
            mailbox, message_id = effect.payload.get("mailbox", ""), effect.payload.get("message_id", "")
            stats.errors.append(mask_cprs(f"route {mailbox}/{message_id}: {exc}"))
            log.warning("secure mail %s in %s not routed yet: %s", message_id, mailbox, mask_cprs(str(exc)))

        done = await self.effects.run_pending(
            EffectKind.MAIL_ROUTE, action=route, limit=self.settings.batch_size, on_error=failed
        )
        for effect, result in done:
            if result.get("routed"):
                stats.mail_routed += 1
                self.store.audit("inbound.mail.routed", subjects[effect.key], details=dict(result))

    async def _apply_mail_route(
        self, key: EffectKey, mailbox: str, msg: MailMessage, decision: RoutingDecision
    ) -> dict[str, object]:
        if not decision.matched:
            return {"routed": False}
        assert msg.id is not None
        categories = list(dict.fromkeys([*msg.categories, *decision.categories]))
        target = decision.deliver_mailbox
        folder = decision.deliver_folder or self.settings.delivery_folder
        result: dict[str, object] = {"routed": True, "rules": list(decision.matched_rules)}
        if target is None or target.lower() == mailbox.lower():
            if categories != msg.categories:
                await self._ensure_categories(mailbox, categories)
                await self.mail.set_categories(mailbox, msg.id, categories)
            if target is not None:
                folder_id = await self.mail.ensure_folder(mailbox, folder)
                if msg.folder_id != folder_id:
                    await self.mail.move(mailbox, msg.id, folder_id)
                result.update(mailbox=mailbox, folder=folder, action="moved")
            else:
                result.update(mailbox=mailbox, action="categorised")
        else:
            copy = replace(msg, categories=categories, is_read=decision.mark_read, id=None, folder_id=None)
            created = await self._copy_once(target, folder, copy, ROUTED_PROPERTY, key)
            result.update(mailbox=target, folder=folder, action="copied", message_id=created)
            if self.settings.routed_folder:
                folder_id = await self.mail.ensure_folder(mailbox, self.settings.routed_folder)
                await self.mail.move(mailbox, msg.id, folder_id)
        for archive in decision.archive_to:
            copy = replace(msg, categories=categories, id=None, folder_id=None, internet_message_id=None)
            await self._copy_once(archive, "inbox", copy, ARCHIVE_PROPERTY, key)
        if decision.archive_to:
            result["archived"] = list(decision.archive_to)
        return result

    async def _copy_once(
        self, mailbox: str, folder: str, mail: MailMessage, prop: str, key: EffectKey
    ) -> str:
        async def build() -> MailMessage:
            await self._ensure_categories(mailbox, mail.categories)
            return mail

        folder_id = await self.mail.ensure_folder(mailbox, folder)
        written = await find_or_create(self.mail, mailbox, folder_id, Marker(prop, str(key)), build)
        return written.message_id

    # ------------------------------------------------------------------ rules and their safeguard
    async def _decide(self, item: InboundItem, context: str, stats: InboundStats) -> RoutingDecision:
        # In a worker thread: a slow rule (up to its time budget) must not stall the event loop, which
        # also serves the NgDP push receiver and health checks; regex releases the GIL while matching.
        decision = await asyncio.to_thread(
            evaluate_rules,
            self.settings.rules,
            item,
            disabled=frozenset(self._disabled),
            timeout=self.settings.rule_timeout_seconds,
            clock=self._clock,
        )
        for trace in decision.timed_out:
            self._disable(trace, context, stats)
        if decision.timed_out:
            await self.send_alerts(stats)  # "mailed at once", not at the end of the cycle
        return decision

    def _disable(self, trace: RuleTrace, context: str, stats: InboundStats) -> None:
        name = trace.rule.name
        self._disabled.add(name)
        reason = (
            f"evaluation took longer than {self.settings.rule_timeout_seconds:g} s "
            f"({trace.elapsed:.1f} s, on {context}); disabled automatically"
        )
        if not self.store.disable_rule(name, reason):
            return
        stats.rules_disabled.append(name)
        log.error("routing rule %r disabled: %s", name, reason)
        self.store.audit("inbound.rule.disabled", name, details={"reason": reason})
        entry = self.store.disabled_rules().get(name)
        self._plan_alert(name, entry.disabled_at.isoformat() if entry is not None else "", reason)

    def _plan_alert(self, name: str, stamp: str, reason: str) -> None:
        alert = rule_disabled_alert(name, reason, self.settings.language)
        self.alerts.plan(EffectKey.rule_alert(name, stamp), alert)

    async def send_alerts(self, stats: InboundStats) -> None:
        sent = await self.alerts.send_pending()
        stats.alerts += sent.sent
        stats.errors.extend(sent.errors)
