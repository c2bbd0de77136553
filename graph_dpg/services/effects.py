"""Effects: remote writes that must happen once in outcome, though a crash may repeat their attempt.

One way, used by every service that writes to a mailbox on the gateway's behalf::

    plan (durable: the key and what to do) ──► do it ──► complete (durable: what came of it)

A crash between "done" and "completed" repeats the action on the next run, so the action first looks for
its own earlier result: the message it creates carries a named extended property (a :class:`Marker`),
and :meth:`Marker.find_or_create` returns the message found by it instead of creating a second one. That gives
exactly-once outcomes over at-least-once attempts, which is all a crash-safe process can promise.

Keys are typed (:class:`EffectKey`: a kind and a subject). Their text, ``{kind}:{subject}``, is what the
store and the markers on created messages hold, the same text earlier versions wrote, so effects planned
before an upgrade are carried out after it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graph_dpg.core.errors import GraphDpgError
from graph_dpg.domain.mail import MailMessage
from graph_dpg.ports.mailbox import MailboxPort
from graph_dpg.ports.store import AuditEntry, Effect, Effects, EffectState
from graph_dpg.services.blocking import blocking
from graph_dpg.services.boundary import ItemFailures, Stage

log = logging.getLogger(__name__)


class EffectKind(enum.StrEnum):
    """What an effect does; the first part of its key."""

    # a receipt mail about an outbound job: receipt:{job}; its updates receipt:{job}:update:{generation}
    # (earlier versions: receipt:{job}:business, carried out as an update)
    RECEIPT = "receipt"
    CATEGORY = "categories"  # the state category on an outbound original: categories:{job}:{category}
    MAIL_ROUTE = "mailroute"  # route one secure mail: mailroute:{internet message id}
    RULE_ALERT = "rulealert"  # alert: a routing rule was disabled: rulealert:{rule}:{disabled at}
    ALERT = "alert"  # any other alert to the monitoring mailbox: alert:{what}
    MEMO_SPLIT = "memosplit"  # how a memo too big for one mail is split: memosplit:{memo}:{mailbox}:{version}
    MEMO_PART = "memopart"  # one mail of a split memo: memopart:{memo}:{mailbox}:{version}:{part}
    SECURE_SEND = "securesend"  # one secure mail sent: securesend:{job}:{recipient set digest}


@dataclass(frozen=True)
class EffectKey:
    kind: EffectKind
    subject: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.subject}"

    @property
    def prefix(self) -> str:
        return f"{self.kind.value}:"

    @classmethod
    def parse(cls, text: str) -> EffectKey | None:
        """The key stored as ``text``; None for a kind this version does not know."""
        kind, sep, subject = text.partition(":")
        known = next((k for k in EffectKind if k.value == kind), None)
        return cls(known, subject) if sep and known is not None else None

    @classmethod
    def receipt(cls, job_id: str, *, business: bool = False) -> EffectKey:
        """The receipt mail of a job; ``business``: the later one a failing business receipt calls for."""
        return cls(EffectKind.RECEIPT, f"{job_id}:business" if business else job_id)

    @classmethod
    def receipt_update(cls, job_id: str, generation: int) -> EffectKey:
        """The ``generation``-th updated receipt of a job (1, 2, ...): one per batch of business receipts
        that change the outcome after the first receipt."""
        return cls(EffectKind.RECEIPT, f"{job_id}:update:{generation}")

    @property
    def update_generation(self) -> int | None:
        """For an updated receipt's key, its generation (an earlier version's ``:business`` key counts as
        the first); None for any other key."""
        if self.kind is not EffectKind.RECEIPT:
            return None
        if self.subject.endswith(":business"):
            return 1
        _, sep, generation = self.subject.rpartition(":update:")
        return int(generation) if sep and generation.isdigit() else None

    @classmethod
    def category(cls, job_id: str, category: str) -> EffectKey:
        return cls(EffectKind.CATEGORY, f"{job_id}:{category}")


@dataclass(frozen=True)
class PlannedEffect:
    key: EffectKey
    payload: Mapping[str, object]
    created_at: datetime


@dataclass(frozen=True)
class Completed:
    """An action's result with the audit record of what it did, written in the transaction that completes
    the effect (issue 18: one commit, and the record exists exactly when the completion does)."""

    result: Mapping[str, object]
    audit: AuditEntry | None = None


#: What an effect's action returns: the result to record (with an audit record: :class:`Completed`), or
#: None to leave the effect planned for a later run (its preconditions do not hold yet).
Action = Callable[[PlannedEffect], Awaitable[Mapping[str, object] | Completed | None]]


class EffectBook:
    """Plan, list, run and complete effects, over the store's effects table (every store call in a
    worker thread, through :func:`~graph_dpg.services.blocking.blocking`).

    ``failures`` and ``stage``: where an effect whose action raised something unexpected is counted
    (``services.boundary``); without them it is still logged and closed."""

    def __init__(
        self, store: Effects, *, failures: ItemFailures | None = None, stage: Stage = Stage.OUTBOUND_EFFECT
    ) -> None:
        self._store = store
        self._failures = failures if failures is not None else ItemFailures()
        self._stage = stage
        # The flushes of the runs whose completions are held back (``run_pending`` with ``batch``): a read
        # of an effect through this book commits them first (see ``get``).
        self._held: list[Callable[[], Awaitable[None]]] = []

    async def plan(
        self, key: EffectKey, payload: Mapping[str, object], *, mailbox: str | None = None
    ) -> bool:
        """Record the intent once; True if it is new (planning it again is a no-op). ``mailbox``: the
        function mailbox whose outbound lease holder runs it (None: the housekeeping lease holder)."""
        if mailbox is None:
            return await blocking(self._store.plan_effect, str(key), payload)
        return await blocking(self._store.plan_effect, str(key), payload, mailbox)

    async def get(self, key: EffectKey) -> Effect | None:
        """The effect as stored. Completions a batched run (``run_pending`` with ``batch``) holds back are
        committed first, so a read through the book sees every action done so far as done (an updated
        receipt waits for the receipt before it to be DONE: ``OutboundService._write_update``)."""
        for flush in list(self._held):
            await flush()
        return await blocking(self._store.get_effect, str(key))

    async def is_done(self, key: EffectKey) -> bool:
        effect = await self.get(key)
        return effect is not None and effect.state is EffectState.DONE

    async def first_attempt(self, key: EffectKey) -> bool:
        """Note (durably, before anything is written) that an attempt at ``key`` starts; True if no attempt
        was noted before, so nothing of an earlier one can exist (``Marker.find_or_create`` may skip its
        lookup). Only for effects whose every attempt notes itself here: see ``Marker.find_or_create``."""
        return await blocking(self._store.note_effect_attempt, str(key))

    async def first_attempts(self, keys: Collection[EffectKey]) -> set[EffectKey]:
        """:meth:`first_attempt` of each of ``keys`` in one store transaction (a page of effects, before
        any of them runs); the keys whose attempt is the first noted. Each answer is good for ONE attempt:
        a caller that attempts a key twice in a run (e.g. a fallback after a failed first try, which may
        have written) passes the first only to the first. A noted attempt that never happens (the run
        stops before it) costs the next attempt its marker lookup, nothing more."""
        wanted = {str(k): k for k in keys}
        if not wanted:
            return set()
        first = await blocking(self._store.note_effect_attempts, list(wanted))
        return {wanted[k] for k in first if k in wanted}

    async def complete(
        self, key: EffectKey, result: Mapping[str, object] | None = None, *, audit: AuditEntry | None = None
    ) -> bool:
        if audit is None:
            return await blocking(self._store.complete_effect, str(key), result)
        return await blocking(self._store.complete_effect, str(key), result, audit=audit)

    async def settle(
        self, key: EffectKey, payload: Mapping[str, object], result: Mapping[str, object]
    ) -> None:
        """Record an effect as done without doing it (e.g. superseded by another one)."""
        await self.plan(key, payload)
        await self.complete(key, result)

    async def pending(
        self,
        *kinds: EffectKind,
        limit: int = 100,
        mailboxes: Collection[str] | None = None,
        unowned: bool = False,
        known: Collection[str] = (),
    ) -> list[PlannedEffect]:
        """Planned effects of these kinds, oldest first. Each kind is read by its own key prefix: effects
        of other kinds share the table, and a first page full of them must not starve these.
        ``mailboxes``/``unowned``: whose effects (``Effects.pending_effects``); default every one."""
        found: list[PlannedEffect] = []
        owners: dict[str, Any] = {}
        if mailboxes is not None or unowned:
            owners = {"mailboxes": mailboxes, "unowned": unowned}
        if known:
            owners["known"] = known
        for kind in kinds:
            page = await blocking(self._store.pending_effects, limit=limit, prefix=f"{kind.value}:", **owners)
            for effect in page:
                key = EffectKey.parse(effect.key)
                if key is not None and key.kind is kind:
                    found.append(PlannedEffect(key, effect.payload, effect.created_at))
        found.sort(key=lambda e: (e.created_at, str(e.key)))
        return found[:limit]

    async def run_pending(
        self,
        *kinds: EffectKind,
        action: Action,
        limit: int = 100,
        on_error: Callable[[PlannedEffect, GraphDpgError], None] | None = None,
        mailboxes: Collection[str] | None = None,
        unowned: bool = False,
        known: Collection[str] = (),
        keep_going: Callable[[], bool] = lambda: True,
        prepare: Callable[[list[PlannedEffect]], Awaitable[None]] | None = None,
        batch: int = 1,
    ) -> list[tuple[PlannedEffect, Mapping[str, object]]]:
        """Run ``action`` on each pending effect of ``kinds`` and complete it with the action's result.

        An error (``GraphDpgError``) leaves that effect planned for the next run and goes on with the
        others; so does an action that returns None. Any other exception is the failure boundary of the
        effect (``services.boundary``): logged once with its traceback, counted, and the effect completed
        as failed, so it is not tried again and again ahead of the others. Returns the effects completed,
        with their results (failed ones included: their result has ``failed``). ``mailboxes``/``unowned``
        choose whose effects (see :meth:`pending`); ``keep_going`` is asked before each effect: False stops
        the run (shutdown, or the lease the effects run under may have gone to another replica).
        ``prepare`` is given the page of pending effects before the first runs (e.g. to read what they
        are about in one go).

        ``batch``: completions (results and audit records) committed together, ``batch`` in one store
        transaction (issue 18: a transaction costs CPU, and a letter's receipt mail and two categories
        were three); 1, the default, commits each as it is done. Held back, a completion is committed
        when ``batch`` of them are, before any read of an effect through this book (:meth:`get`,
        :meth:`is_done`: an action that waits for another effect of the page to be DONE sees it done),
        and when the page ends. Only for actions
        idempotent in outcome, as every effect's must be: a crash (or a failed commit) before the batch's
        transaction leaves each of its effects planned though its action was done, so the next run does it
        again, exactly as after a crash between one action and its own completion, only for up to
        ``batch`` effects instead of one. Nothing is lost (the effects stay planned) and nothing happens
        twice in outcome (the action finds its own earlier result: a mail by its ``Marker``, a category
        already shown is not written again). An action that fails (``GraphDpgError``) or returns None adds
        nothing to the batch: its effect stays planned whatever happens to the others'. A run that ends by
        an exception (cancelled, a store error) commits nothing more: its held completions are redone.
        """
        done: list[tuple[PlannedEffect, Mapping[str, object]]] = []
        held: list[tuple[PlannedEffect, Completed]] = []

        async def flush() -> None:
            if not held:
                return
            taken = list(held)
            held.clear()  # before the await: a concurrent flush (a read through the book) takes none twice
            await blocking(self._store.complete_effects, [(str(e.key), c.result, c.audit) for e, c in taken])
            done.extend((e, c.result) for e, c in taken)

        page = await self.pending(*kinds, limit=limit, mailboxes=mailboxes, unowned=unowned, known=known)
        if page and prepare is not None:
            await prepare(page)
        if batch > 1:
            self._held.append(flush)
        try:
            for effect in page:
                if not keep_going():
                    break
                try:
                    result: Mapping[str, object] | Completed | None = await action(effect)
                except GraphDpgError as exc:
                    if on_error is not None:
                        on_error(effect, exc)
                    else:
                        log.warning("effect %s not done yet: %s", effect.key, exc)
                    continue
                except Exception as exc:
                    result = {"failed": self._failures.crashed(self._stage, str(effect.key), exc)}
                if result is None:
                    continue
                completed = result if isinstance(result, Completed) else Completed(result)
                if batch <= 1:
                    await self.complete(effect.key, completed.result, audit=completed.audit)
                    done.append((effect, completed.result))
                    continue
                held.append((effect, completed))
                if len(held) >= batch:
                    await flush()
        finally:
            if batch > 1:
                self._held.remove(flush)
        await flush()
        return done


@dataclass(frozen=True)
class Written:
    message_id: str
    created: bool  # False: found by its marker (an earlier attempt created it)

    def result(self) -> dict[str, object]:
        return (
            {"message_id": self.message_id}
            if self.created
            else {"message_id": self.message_id, "reused": True}
        )


@dataclass(frozen=True)
class Marker:
    """A named extended property (the project's property set) that identifies a message the gateway
    created, so a repeated attempt finds it instead of creating it again."""

    name: str
    value: str

    async def find_or_create(
        self,
        mail: MailboxPort,
        mailbox: str,
        folder: str,
        build: Callable[[], Awaitable[MailMessage]],
        *,
        first_attempt: bool = False,
    ) -> Written:
        """The message in ``folder`` that carries this marker; else ``build()`` one and create it there (as
        a received item, carrying the marker). ``folder`` is a folder id or a well-known name.

        ``first_attempt``: the caller knows no earlier attempt exists (``EffectBook.first_attempt``, or
        ``first_attempts`` for a page, noted this one as the first, durably, before it writes): the
        lookup, a Graph round trip, is left out. That holds only for an effect planned by a version that
        notes every attempt (an effect planned before it may have been attempted unnoted), so callers pass
        it for such effects alone."""
        if not first_attempt:
            found = await mail.find_by_extended_property(mailbox, folder, self.name, self.value)
            if found:
                return Written(found[0], created=False)
        message = await build()
        created = await mail.create_message(
            mailbox, folder, message, received=True, extended_properties={self.name: self.value}
        )
        return Written(created, created=True)
