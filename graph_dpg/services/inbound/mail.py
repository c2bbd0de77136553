"""Mail routing: secure mail in the inbox sources → read → opened → routed by the same rules as memos.

Every new mail in the inbox sources (main inbox first; the delta link is persisted after the round) is
planned as an effect ``mailroute:{internetMessageId}`` - the key is the Message-ID, so a copy the gateway
makes into another routed folder is never routed again - and claimed as a source message. Carrying out
the effect takes three steps:

1. read: the whole message (body, headers, attachments);
2. open (:data:`MailOpener`): the step between reading a mail and routing it. :func:`open_readable`
   passes a mail through unchanged; the composition root wires ``services.inbound.secure`` instead, which
   decrypts and checks secure mail (S/MIME) and returns what the rules should read (a readable copy), or
   a failure banner: then the mail goes to the main mailbox and the monitoring mailbox is alerted once;
3. route: the rules evaluate the opened mail. No match leaves it where it is; a target in the same mailbox
   moves it (plus the rules' categories); a target in another mailbox gets a copy created there (found
   again by its ``DpgRoutedMail`` property after a crash) and the original gets a category naming the
   target (``routed_mark``) and is moved to ``routed_folder`` (setting ``routed_original=move``, the
   default, so nobody handles it twice) or stays in the inbox (``mark``); ``archive_to`` gets a copy too.

A mail the gateway creates in a mailbox (a copy routed to another mailbox, the readable copy of secure
mail) never passes Exchange's inbox rules, so the target mailbox owner's Outlook inbox rules
(``services.inbox_rules``, the same as for delivered memos) are applied to it as it is created: only when
it goes to the default delivery folder or the inbox (a gateway rule that names a folder has decided), and
never to a mail with a failure banner (as a memo with a banner). The rules that acted are recorded in the
routing effect's result (``inbox_rules``), and in the audit trail when the mail was routed.

Mails the gateway delivered itself (Message-ID ``<memo-...@graph-dpg.invalid>``, or From a gateway
address) are skipped. Business receipts that arrive as mail (e.g. the receipt mails of the outbound
service in a routed inbox) take this path, so rules can file the successful ones away. ``mark_read``
applies to created messages only (the mailbox port has no "mark as read" for moved ones).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from graph_dpg.core.errors import GraphDpgError, NotFoundError, StoreError
from graph_dpg.domain.addresses import is_gateway_address
from graph_dpg.domain.html_text import html_to_text
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.domain.inbound_view import Banner, memo_uuid_from_message_id
from graph_dpg.domain.mail import MailMessage
from graph_dpg.domain.routing import attached_memo, mail_item
from graph_dpg.domain.rules import InboundItem, RoutingDecision
from graph_dpg.domain.texts import Text, text
from graph_dpg.ports.store import MailStore
from graph_dpg.services.alerts import Alert, AlertService
from graph_dpg.services.blocking import blocking
from graph_dpg.services.boundary import ItemFailures, Stage, describe
from graph_dpg.services.delta_links import DeltaLinkCache
from graph_dpg.services.effects import EffectBook, EffectKey, EffectKind, Marker, PlannedEffect
from graph_dpg.services.inbound.shared import ARCHIVE_PROPERTY, InboundParts, InboundStats
from graph_dpg.services.inbox_rules import InboxRuleCache

log = logging.getLogger(__name__)

#: Named extended property on copies of routed mail: the routing effect's key.
ROUTED_PROPERTY = "DpgRoutedMail"


@dataclass(frozen=True)
class OpenedMail:
    """A mail as the rules read it and its copies carry it, after the opening step.

    ``readable_copy``: the opened mail differs from the one in the mailbox (secure mail, decrypted), whose
    body cannot be changed once received, so it is delivered as a copy wherever it goes (no match: into
    the inbox it came to). ``failure``: it could not be opened or its signature fails; it is not routed
    by the rules but delivered to the main mailbox with this banner (already in ``message``'s body), and
    the monitoring mailbox is alerted once."""

    message: MailMessage
    readable_copy: bool = False
    failure: Banner | None = None
    #: Digital Post forwarded by NgDP's SMTP recipient system, stored as this inbound memo (its UUID): the
    #: memo pipeline delivers it; the mail itself is not routed.
    forwarded_memo: str | None = None


class MailOpener(Protocol):
    """The step between reading a mail (in ``mailbox``) and routing it."""

    async def __call__(self, mailbox: str, message: MailMessage) -> OpenedMail: ...


async def open_readable(mailbox: str, message: MailMessage) -> OpenedMail:
    """The opening step for mail that is readable as it is: passed through unchanged."""
    return OpenedMail(message)


def _rule_item(msg: MailMessage) -> InboundItem:
    """What the rules see of a mail, with the fields of a MeMo attached to it."""
    return mail_item(msg, attached_memo(msg))


@dataclass
class MailRouter(InboundParts):
    store: MailStore
    open_mail: MailOpener = open_readable
    failures: ItemFailures = field(default_factory=ItemFailures)
    alerts: AlertService | None = None
    #: The mailbox owners' Outlook inbox rules, applied to the mail the gateway creates (None: not read).
    inbox_rules: InboxRuleCache | None = None

    def __post_init__(self) -> None:
        # A mail whose routing raises something nobody foresaw is closed as failed (the effect book's
        # boundary): it stays where it is, in the inbox a person reads, and the next mail is routed.
        self.effects = EffectBook(self.store, failures=self.failures, stage=Stage.INBOUND_MAIL)
        # Each source folder's delta link, kept while this replica polls the sources (the ``ngdp:memos``
        # lease holder; the runtime forgets them when that lease lapses).
        self.delta_links = DeltaLinkCache(self.store)

    async def run(self, stats: InboundStats) -> None:
        """One round: find new mail in every inbox source, then route what is planned."""
        await self.poll(stats)
        await self.route_pending(stats)

    # ------------------------------------------------------------------ find new mail
    def _is_ours(self, msg: MailMessage) -> bool:
        if memo_uuid_from_message_id(msg.internet_message_id) is not None:
            return True
        sender = msg.sender.address if msg.sender else ""
        return bool(sender) and is_gateway_address(sender, self.settings.gateway_domain)

    async def poll(self, stats: InboundStats) -> None:
        for mailbox, folder in self.settings.sources():
            try:
                await self._poll_source(mailbox, folder, stats)
            except GraphDpgError as exc:
                stats.errors.append(mask_cprs(f"poll {mailbox}/{folder}: {exc}"))
                log.warning("inbound poll of %s/%s failed: %s", mailbox, folder, mask_cprs(str(exc)))
            except Exception as exc:  # this source waits for the next cycle; the other sources go on
                shown = self.failures.crashed(Stage.INBOUND_MAIL, f"{mailbox}/{folder}", exc)
                stats.errors.append(mask_cprs(f"poll {mailbox}/{folder}: {shown}"))

    async def _poll_source(self, mailbox: str, folder: str, stats: InboundStats) -> None:
        link = await self.delta_links.get(mailbox, folder)
        delta = await self.mail.read_delta(mailbox, folder, link)
        for msg in delta.messages:
            if msg.is_draft or msg.id is None or self._is_ours(msg):
                continue
            ident = (msg.internet_message_id or f"{mailbox}|{msg.id}").strip().lower()
            payload = {"mailbox": mailbox, "folder": folder, "message_id": msg.id, "imid": ident}
            if await self.effects.plan(EffectKey(EffectKind.MAIL_ROUTE, ident), payload):
                stats.mail_seen += 1
            await blocking(self.store.claim_source_message, mailbox, msg.id, msg.internet_message_id)
        # Only now: a crash before this line replays the round, and planning ignores what it has.
        await self.delta_links.put(mailbox, folder, delta)

    # ------------------------------------------------------------------ read, open, route
    async def route_pending(self, stats: InboundStats) -> None:
        subjects: dict[EffectKey, str] = {}  # for the audit trail, CPR-masked

        async def route(effect: PlannedEffect) -> Mapping[str, object]:
            try:
                return await route_once(effect)
            except StoreError:
                raise  # the database, not this mail
            except GraphDpgError as exc:
                # Failing for longer than a memo would wait for its mailbox: the mail stays where it is,
                # in the inbox a person reads, and is not tried again.
                waited = (datetime.now(UTC) - effect.created_at).total_seconds()
                if waited < self.settings.fallback_after_seconds:
                    raise
                shown = describe(exc)
                self.failures.gave_up(Stage.INBOUND_MAIL, str(effect.key), shown)
                return {"routed": False, "gave_up": shown}

        async def route_once(effect: PlannedEffect) -> Mapping[str, object]:
            p = effect.payload
            mailbox, message_id = str(p.get("mailbox", "")), str(p.get("message_id", ""))
            try:
                read = await self.mail.get_message(mailbox, message_id)
            except NotFoundError:
                return {"skipped": "message gone"}
            opened = await self.open_mail(mailbox, read)
            msg = opened.message
            if opened.forwarded_memo is not None:
                await self._move_original(mailbox, read)
                return {"routed": False, "action": "forwarded-memo", "memo": opened.forwarded_memo}
            if opened.failure is not None:
                subjects[effect.key] = mask_cprs(msg.subject)[:200]
                return await self._deliver_failed(effect.key, mailbox, read, opened)
            context = text(Text.RULE_CONTEXT_MAIL, self.settings.language, mailbox=mailbox)
            item = await self.cpu.run(_rule_item, msg)
            decision = await self.rules.decide(item, context, stats)
            if opened.readable_copy:
                result = await self._apply_opened(effect.key, mailbox, read, msg, decision)
            else:
                result = await self._apply(effect.key, mailbox, msg, decision)
            await self.rules.count_hits(decision.matched_rules)
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
            if result.get("action") == "forwarded-memo":
                stats.forwarded += 1
            if result.get("routed"):
                stats.mail_routed += 1
                await blocking(
                    self.store.audit, "inbound.mail.routed", subjects[effect.key], details=dict(result)
                )

    async def _apply(
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
                await self.categories.ensure(mailbox, categories)
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
            copy, folder = await self._with_inbox_rules(target, folder, copy, result)
            created = await self._copy_once(target, folder, copy, ROUTED_PROPERTY, key)
            result.update(mailbox=target, folder=folder, action="copied", message_id=created)
            await self._mark_original(mailbox, msg, target)
            if self.settings.routed_folder:
                folder_id = await self.mail.ensure_folder(mailbox, self.settings.routed_folder)
                await self.mail.move(mailbox, msg.id, folder_id)
        for archive in decision.archive_to:
            copy = replace(msg, categories=categories, id=None, folder_id=None, internet_message_id=None)
            await self._copy_once(archive, "inbox", copy, ARCHIVE_PROPERTY, key)
        if decision.archive_to:
            result["archived"] = list(decision.archive_to)
        return result

    async def _apply_opened(
        self, key: EffectKey, mailbox: str, original: MailMessage, msg: MailMessage, decision: RoutingDecision
    ) -> dict[str, object]:
        """A readable copy of opened secure mail where the rules send it, or (no match) into the inbox of
        the mailbox it came to; the original stays (moved to ``routed_folder`` when configured)."""
        categories = list(dict.fromkeys([*msg.categories, *decision.categories]))
        target = decision.deliver_mailbox or mailbox
        if decision.deliver_mailbox:
            folder = decision.deliver_folder or self.settings.delivery_folder
        else:
            folder = decision.deliver_folder or "inbox"
        copy = replace(msg, categories=categories, is_read=decision.mark_read, id=None, folder_id=None)
        result: dict[str, object] = {"routed": decision.matched, "rules": list(decision.matched_rules)}
        copy, folder = await self._with_inbox_rules(target, folder, copy, result)
        created = await self._copy_once(target, folder, copy, ROUTED_PROPERTY, key)
        result.update(mailbox=target, folder=folder, action="opened", message_id=created)
        if target.lower() != mailbox.lower():
            await self._mark_original(mailbox, original, target)
        await self._move_original(mailbox, original)
        for archive in decision.archive_to:
            archived = replace(copy, id=None, folder_id=None, internet_message_id=None)
            await self._copy_once(archive, "inbox", archived, ARCHIVE_PROPERTY, key)
        if decision.archive_to:
            result["archived"] = list(decision.archive_to)
        return result

    async def _with_inbox_rules(
        self, target: str, folder: str, mail: MailMessage, result: dict[str, object]
    ) -> tuple[MailMessage, str]:
        """``mail`` about to be created in ``target``'s ``folder`` with what ``target``'s own Outlook inbox
        rules do to it (folder, categories, importance, read), as Exchange would on arrival; the rules that
        acted go into ``result``. Only for the default delivery folder or the inbox: a gateway rule that
        names another folder has decided."""
        arriving = {self.settings.delivery_folder.casefold(), "inbox"}
        if self.inbox_rules is None or folder.casefold() not in arriving:
            return mail, folder
        body = await self.cpu.run(html_to_text, mail.body) if mail.body_type == "html" else mail.body
        outcome = await self.inbox_rules.outcome(target, mail, body)
        if not outcome.rules:
            return mail, folder
        result["inbox_rules"] = list(outcome.rules)
        result["inbox_rule_actions"] = list(outcome.actions)
        changed = replace(
            mail,
            categories=list(dict.fromkeys([*mail.categories, *outcome.categories])),
            is_read=mail.is_read or outcome.mark_read,
            importance=outcome.importance or mail.importance,
        )
        return changed, outcome.folder_id or folder

    async def _deliver_failed(
        self, key: EffectKey, mailbox: str, original: MailMessage, opened: OpenedMail
    ) -> dict[str, object]:
        """Secure mail that cannot be opened or whose signature fails: into the main mailbox's inbox with its
        banner (and the warning category), never dropped; the monitoring mailbox alerted once."""
        assert opened.failure is not None
        main = self.settings.main_mailbox
        warning = self.settings.category("warning")
        categories = list(dict.fromkeys([*opened.message.categories, warning]))
        copy = replace(opened.message, categories=categories, is_read=False, id=None, folder_id=None)
        created = await self._copy_once(main, "inbox", copy, ROUTED_PROPERTY, key)
        await self._move_original(mailbox, original)
        if self.alerts is not None:
            language = self.settings.language
            alert = Alert(
                subject=text(Text.SMIME_ALERT_SUBJECT, language, mailbox=mailbox),
                title=opened.failure.title,
                lines=(
                    text(Text.SMIME_ALERT_TEXT, language, mailbox=mailbox, main=main),
                    *opened.failure.lines,
                ),
                detail=mask_cprs(original.subject)[:200],
            )
            await self.alerts.plan(EffectKey(EffectKind.ALERT, f"smime:{key.subject}"), alert)
        return {
            "routed": False,
            "secure_mail": "failed",
            "mailbox": main,
            "action": "banner",
            "message_id": created,
        }

    async def _mark_original(self, mailbox: str, original: MailMessage, target: str) -> None:
        """The original of a mail copied to ``target`` gets a category naming ``target``, so nobody in
        ``mailbox`` handles it a second time (``routed_mark``). A category, not a note in the mail: a
        received message's body cannot be changed (Graph message-update: body "only if isDraft")."""
        if not self.settings.routed_mark or original.id is None:
            return
        marked = text(Text.INB_ROUTED_CATEGORY, self.settings.language, mailbox=target)
        categories = list(dict.fromkeys([*original.categories, marked]))
        if categories != original.categories:
            await self.categories.ensure(mailbox, [marked])
            await self.mail.set_categories(mailbox, original.id, categories)

    async def _move_original(self, mailbox: str, original: MailMessage) -> None:
        if self.settings.routed_folder and original.id is not None:
            folder_id = await self.mail.ensure_folder(mailbox, self.settings.routed_folder)
            if original.folder_id != folder_id:
                await self.mail.move(mailbox, original.id, folder_id)

    async def _copy_once(
        self, mailbox: str, folder: str, mail: MailMessage, prop: str, key: EffectKey
    ) -> str:
        async def build() -> MailMessage:
            await self.categories.ensure(mailbox, mail.categories)
            return mail

        folder_id = await self.mail.ensure_folder(mailbox, folder)
        written = await Marker(prop, str(key)).find_or_create(self.mail, mailbox, folder_id, build)
        return written.message_id
