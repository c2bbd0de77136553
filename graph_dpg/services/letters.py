"""Where is my letter? Search, timeline and the operators' actions (admin console, ``graph-dpg letters``).

Public interface (the web console and the CLI call only this; every method is async, store calls run in a
worker thread through ``services.blocking``)::

    actor = Actor(name="cli:alice", role=Role.ADMIN, via="cli")   # or the signed-in user, via="console"
    svc = LettersService(store, language="da")                     # store: ports.console.ConsoleStore
    svc = LettersService(store, language="da", names=name_lookup)  # + names in search hits (issue 20)

    await svc.search(Query(text="...", mailbox=..., state=..., since=..., until=..., kind="all"), actor)
        -> SearchResult(letters=[LetterHit], inbound=[InboundHit], notes=[str])
           QUERY text: a UUID (job id, messageUUID or inbound memo UUID), a CPR number (ddmmyy-xxxx or ten
           digits: matched against the outbox's recipients, shown masked) or a CVR number (eight digits),
           an address with "@" (mailbox), else a part of the subject
    await svc.timeline(ident, actor) -> Timeline          ident: a job id or a messageUUID (focus on it)
           Timeline.steps: [Step(at, kind, words, replica, message_uuid, reason)] oldest first
           Timeline.recipients: [RecipientView] (first 200; CPR masked), .progress, .cancellation
    await svc.memo_as_sent(message_uuid, actor) -> MemoAsSent(kept, xml (CPR-masked) | None, words)
    await svc.mass_deliveries(actor, active_only=False, limit=50) -> [MassDelivery(job, progress, cancelled)]
    await svc.progress(ident, actor) -> {outbox state: count}   (the console's live progress)
    await svc.inbound(memo_uuid, actor) -> InboundHit
    -- admin only (Role.ADMIN; a reader gets ActionRefused(Text.CONSOLE_REFUSED_ROLE)); each audited when
    -- it changed something (a reveal: every time)
    -- ("console.letter.retried" | "console.letter.cancelled" | "console.receipt.resent" |
    -- "console.cpr.revealed", actor, details: job, message_uuid(s), via, role) and idempotent:
    await svc.retry(ident, actor) -> ActionResult(changed, job_id, retried=[uuid], replaced={old: new}, words)
           failed (transport) rows: the same messageUUID again; refused rows (NgDP 400, or business
           receipt INVALID / NOT_ALLOWED): a new letter, new messageUUID, linked to the first
    await svc.cancel(ident, actor) -> ActionResult        an unfinished job; the worker fails the rest
    await svc.resend_receipt(ident, actor) -> ActionResult a finished job's receipt mail, written again
    await svc.reveal_cpr(message_uuid, actor) -> str       the recipient's CPR/CVR in clear
    Errors: LetterNotFound (nothing has that id), ActionRefused(reason: Text, values) — both GraphDpgError;
    ``ActionRefused.words(language)`` is the sentence to show.

State names (shown as they are): job new | planned | sending | done | rejected | failed; recipient (outbox
row) pending | accepted | rejected | failed, with NgDP's receipt status RECEIVED | COMPLETED | INVALID |
NOT_ALLOWED; inbound received | delivered | acknowledged | deleted. docs/console.md explains them.
"""

from __future__ import annotations

import enum
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from graph_dpg.core.errors import Finding, GraphDpgError, IdentifierError
from graph_dpg.domain.conversion import render_from_template
from graph_dpg.domain.finding_text import finding_sentence
from graph_dpg.domain.identifiers import mask_cpr, mask_cprs
from graph_dpg.domain.names import NameKind
from graph_dpg.domain.secure_send import SECURE_CHANNEL
from graph_dpg.domain.texts import Text, text
from graph_dpg.ports.console import (
    AuditRecord,
    Cancellation,
    ConsoleStore,
    InboundFilter,
    LetterFilter,
    LetterLink,
    LetterMatch,
)
from graph_dpg.ports.names import NameLookup
from graph_dpg.ports.store import (
    JOB_TERMINAL,
    Effect,
    EffectState,
    InboundMemo,
    JobState,
    OutboundJob,
    OutboxEntry,
    OutboxState,
    PlannedMemo,
)
from graph_dpg.services.blocking import blocking
from graph_dpg.services.cpu import CpuPool, shared_pool


class Role(enum.StrEnum):
    """The app roles of the gateway's registration (the console's token), and what the CLI runs as."""

    READER = "Gateway.Reader"
    ADMIN = "Gateway.Admin"


@dataclass(frozen=True)
class Actor:
    """Who asks: ``name`` as audited (the signed-in user, or ``cli:<os user>``), the role, and ``via``."""

    name: str
    role: Role
    via: Literal["cli", "console"] = "console"


class LetterNotFound(GraphDpgError):
    """No letter, MeMo or inbound memo has this id."""


class ActionRefused(GraphDpgError):
    """The action is not allowed (role) or not possible (the letter's state); ``words`` says why."""

    def __init__(self, reason: Text, **values: object) -> None:
        super().__init__(text(reason, "en", **values))
        self.reason = reason
        self.values = values

    def words(self, language: str) -> str:
        return text(self.reason, language, **self.values)


Kind = Literal["letters", "inbound", "all"]


@dataclass(frozen=True)
class Query:
    text: str = ""
    mailbox: str | None = None
    state: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    kind: Kind = "all"
    limit: int = 50


@dataclass(frozen=True)
class LetterHit:
    job_id: str
    mailbox: str
    subject: str  # CPR-masked (stored so)
    channel: str
    state: str
    created_at: datetime | None
    updated_at: datetime | None
    progress: Mapping[str, int]
    cancelled: bool = False
    message_uuid: str | None = None  # the MeMo that matched (messageUUID or CPR search)
    recipient: str | None = None  # its recipient, masked
    recipient_state: str | None = None
    #: The recipient's name where a name register is configured and the person/company is active; never
    #: for a protected person (``NameLookup.name_of`` answers None then). Shown, never logged.
    recipient_name: str | None = None

    @property
    def recipient_label(self) -> str | None:
        """``Jens Hansen (010170-xxxx)``, or the masked number alone."""
        if self.recipient is None:
            return None
        return f"{self.recipient_name} ({self.recipient})" if self.recipient_name else self.recipient


@dataclass(frozen=True)
class InboundHit:
    memo_uuid: str
    source: str
    state: str
    mailbox: str | None
    received_at: datetime
    updated_at: datetime
    attempts: int
    error: str | None
    route: Mapping[str, object] | None


@dataclass(frozen=True)
class SearchResult:
    letters: list[LetterHit] = field(default_factory=list)
    inbound: list[InboundHit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the search could not do, in words


@dataclass(frozen=True)
class Step:
    at: datetime | None
    kind: str  # seen | planned | sent | accepted | receipt | done | rejected | failed | receipt_mail |
    # category | cancel_requested | retried | replaced | receipt_resent | cpr_revealed | other
    words: str
    replica: str | None = None
    message_uuid: str | None = None
    actor: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RecipientView:
    message_uuid: str
    recipient: str  # CPR masked; CVR as it is
    kind: str
    state: str
    receipt_status: str | None
    attempts: int
    sent_at: datetime | None
    reason: str | None  # in words, where it failed
    replaced_by: str | None = None
    replaces: str | None = None
    retry: str | None = None  # "same" (transport) | "new" (refused) | None (nothing to retry)


@dataclass(frozen=True)
class Timeline:
    job: OutboundJob
    steps: list[Step]
    recipients: list[RecipientView]
    recipients_total: int
    progress: Mapping[str, int]
    cancellation: Cancellation | None
    focus: str | None = None  # the messageUUID asked for


@dataclass(frozen=True)
class MemoAsSent:
    message_uuid: str
    kept: Literal["stored", "template", "no"]
    xml: bytes | None  # CPR numbers masked; at most _MAX_MEMO_SHOWN bytes
    words: str
    truncated: bool = False  # the MeMo is longer than what is shown (its files are base64 in it)


@dataclass(frozen=True)
class MassDelivery:
    job: OutboundJob
    progress: Mapping[str, int]
    cancelled: bool


@dataclass(frozen=True)
class ActionResult:
    action: str  # retry | cancel | resend_receipt
    job_id: str
    changed: bool  # False: it had been done already (idempotent repeat) — nothing new happened
    words: str
    retried: list[str] = field(default_factory=list)
    replaced: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # refused, but the MeMo is no longer kept


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CPR = re.compile(r"^\d{6}-?\d{4}$")
_CVR = re.compile(r"^\d{8}$")  # a company recipient: searched like a CPR number, shown as it is
#: NgDP business receipt statuses that refuse the letter for good: retried as a new letter.
_REFUSED_RECEIPTS = frozenset({"INVALID", "NOT_ALLOWED"})
_UNFINISHED = (JobState.NEW, JobState.PLANNED, JobState.SENDING)
_SHOWN_RECIPIENTS = 200
_RETRY_PAGE = 1000
_RESEND_PREFIX = ":resend:"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The most of a MeMo shown (a MeMo with its files can be ~140 MB; the header and letter come first).
_MAX_MEMO_SHOWN = 4 * 1024 * 1024


def _progress(counts: Mapping[OutboxState, int]) -> dict[str, int]:
    return {s.value: int(counts.get(s, 0)) for s in OutboxState}


def _shown(kind: str, recipient_id: str) -> str:
    return mask_cpr(recipient_id) if kind == "cpr" else recipient_id


def _retry_kind(row: OutboxEntry) -> str | None:
    if row.state is OutboxState.FAILED:
        return "same"
    if row.state is OutboxState.REJECTED or (
        row.state is OutboxState.ACCEPTED and row.receipt_status in _REFUSED_RECEIPTS
    ):
        return "new"
    return None


class LettersService:
    def __init__(
        self,
        store: ConsoleStore,
        *,
        language: str = "da",
        cpu: CpuPool | None = None,
        names: NameLookup | None = None,
    ) -> None:
        self.store = store
        self.language = language
        self.cpu = cpu or shared_pool()
        self.names = names

    def _t(self, key: Text, **values: object) -> str:
        return text(key, self.language, **values)

    # ------------------------------------------------------------------ search
    async def search(self, query: Query, actor: Actor) -> SearchResult:
        words = query.text.strip()
        notes: list[str] = []
        lf = LetterFilter(
            mailbox=query.mailbox,
            state=query.state,
            since=query.since,
            until=query.until,
            limit=max(1, min(query.limit, 500)),
        )
        inf = InboundFilter(
            mailbox=query.mailbox, state=query.state, since=query.since, until=query.until, limit=lf.limit
        )
        letters_too, inbound_too = query.kind in ("letters", "all"), query.kind in ("inbound", "all")
        matches: list[LetterMatch] = []
        memos: list[InboundMemo] = []
        if _UUID.match(words):
            ident = words.lower()
            if letters_too:
                matches = await blocking(self.store.search_letters, _with(lf, job_id=ident))
                matches += await blocking(self.store.search_letters, _with(lf, message_uuid=ident))
            if inbound_too:
                memos = await blocking(self.store.search_inbound, _with_inbound(inf, memo_uuid=ident))
        elif _CPR.match(words) or _CVR.match(words):
            if letters_too:
                matches = await blocking(self.store.search_letters, _with(lf, cpr=words.replace("-", "")))
            if inbound_too:
                notes.append(self._t(Text.CONSOLE_NOTE_INBOUND_NO_CPR))
        elif "@" in words:
            if letters_too:
                matches = await blocking(self.store.search_letters, _with(lf, mailbox=words))
            if inbound_too:
                memos = await blocking(self.store.search_inbound, _with_inbound(inf, mailbox=words))
        else:
            if letters_too:
                matches = await blocking(
                    self.store.search_letters, _with(lf, subject=mask_cprs(words) or None)
                )
            if inbound_too and not words:
                memos = await blocking(self.store.search_inbound, inf)
            elif inbound_too:
                notes.append(self._t(Text.CONSOLE_NOTE_INBOUND_NO_SUBJECT))
        hits = [await self._hit(m) for m in matches]
        return SearchResult(letters=hits, inbound=[_inbound_hit(m) for m in memos], notes=notes)

    async def _hit(self, match: LetterMatch) -> LetterHit:
        job = match.job
        counts = await blocking(self.store.job_progress, job.id)
        cancel = await blocking(self.store.cancellation, job.id)
        row = match.row
        name = await self._name(row.recipient_kind, row.recipient_id) if row else None
        return LetterHit(
            job_id=job.id,
            mailbox=job.mailbox,
            subject=job.subject,
            channel=job.channel,
            state=job.state.value,
            created_at=job.created_at,
            updated_at=job.updated_at,
            progress=_progress(counts),
            cancelled=cancel is not None and cancel.active,
            message_uuid=row.message_uuid if row else None,
            recipient=_shown(row.recipient_kind, row.recipient_id) if row else None,
            recipient_state=row.state.value if row else None,
            recipient_name=name,
        )

    async def _name(self, kind: str, number: str) -> str | None:
        """The recipient's name for a search hit, when a register for its kind is configured (None for a
        protected person, an unknown number, or a failed lookup: the hit is shown without it)."""
        register: NameKind | None = "cpr" if kind == "cpr" else "cvr" if kind == "cvr" else None
        if self.names is None or register is None or not self.names.enabled(register):
            return None
        try:
            return await self.names.name_of(number)
        except IdentifierError:
            return None

    async def inbound(self, memo_uuid: str, actor: Actor) -> InboundHit:
        memo = await blocking(self.store.get_inbound, memo_uuid.strip().lower())
        if memo is None:
            raise LetterNotFound(memo_uuid)
        return _inbound_hit(memo)

    # ------------------------------------------------------------------ resolving an id
    async def _resolve(self, ident: str) -> tuple[OutboundJob, OutboxEntry | None]:
        """The job of ``ident`` (a job id or a messageUUID) and, for a messageUUID, its row."""
        key = ident.strip().lower()
        if not key or len(key) > 64:
            raise LetterNotFound(ident)
        job = await blocking(self.store.get_job, key)
        if job is not None:
            return job, None
        row = await blocking(self.store.find_by_message_uuid, key)
        if row is not None:
            job = await blocking(self.store.get_job, row.job_id)
            if job is not None:
                return job, row
        raise LetterNotFound(ident)

    # ------------------------------------------------------------------ timeline
    async def timeline(self, ident: str, actor: Actor) -> Timeline:
        job, focus = await self._resolve(ident)
        since = (job.created_at or _EPOCH) - timedelta(hours=1)
        audit = await blocking(self.store.job_audit, job.id, since)
        effects = await blocking(self.store.job_effects, job.id)
        links = await blocking(self.store.letter_links, job.id)
        counts = await blocking(self.store.job_progress, job.id)
        cancel = await blocking(self.store.cancellation, job.id)
        replaced_by = {lk.original_uuid: lk.new_uuid for lk in links}
        replaces = {lk.new_uuid: lk.original_uuid for lk in links}
        # The recipients that need someone first (failed, refused), then the others in order.
        rows = await blocking(self.store.problem_rows, job.id, limit=_SHOWN_RECIPIENTS)
        if len(rows) < _SHOWN_RECIPIENTS:
            listed = {r.message_uuid for r in rows}
            rest = await blocking(self.store.list_outbox, job.id, limit=_SHOWN_RECIPIENTS)
            rows += [r for r in rest if r.message_uuid not in listed][: _SHOWN_RECIPIENTS - len(rows)]
        if focus is not None and all(r.message_uuid != focus.message_uuid for r in rows):
            rows = [focus, *rows[: _SHOWN_RECIPIENTS - 1]]
        receipt = next((e for e in effects if e.key == f"receipt:{job.id}"), None)
        steps = self._job_steps(job, audit, receipt.payload if receipt else {})
        detailed = [focus] if focus is not None else (rows if len(rows) <= 20 else [])
        for row in detailed:
            steps += await self._row_steps(row, replaced_by.get(row.message_uuid))
        steps += self._effect_steps(job, effects, audit)
        steps.sort(key=lambda s: (s.at is None, s.at or _EPOCH))
        recipients = [
            RecipientView(
                message_uuid=r.message_uuid,
                recipient=_shown(r.recipient_kind, r.recipient_id),
                kind=r.recipient_kind,
                state=r.state.value,
                receipt_status=r.receipt_status,
                attempts=r.attempts,
                sent_at=r.in_flight_at,
                reason=self._row_reason(r, cancelled=cancel is not None),
                replaced_by=replaced_by.get(r.message_uuid),
                replaces=replaces.get(r.message_uuid),
                retry=None if r.message_uuid in replaced_by else _retry_kind(r),
            )
            for r in rows
        ]
        return Timeline(
            job=job,
            steps=steps,
            recipients=recipients,
            recipients_total=sum(counts.values()),
            progress=_progress(counts),
            cancellation=cancel,
            focus=focus.message_uuid if focus else None,
        )

    def _job_steps(
        self, job: OutboundJob, audit: Sequence[AuditRecord], receipt: Mapping[str, object]
    ) -> list[Step]:
        steps: list[Step] = []
        seen = False
        for ev in audit:
            who = ev.actor if ev.action.startswith("console.") else None
            kind, words = self._audit_words(job, ev)
            if kind == "seen":
                seen = True
            steps.append(
                Step(
                    ev.ts,
                    kind,
                    words,
                    replica=ev.replica,
                    actor=who,
                    message_uuid=_str(ev.details.get("message_uuid")),
                    reason=self._job_reason(job, receipt) if kind in ("rejected", "failed") else None,
                )
            )
        if not seen:
            steps.append(Step(job.created_at, "seen", self._t(Text.CONSOLE_STEP_SEEN)))
        return steps

    def _audit_words(self, job: OutboundJob, ev: AuditRecord) -> tuple[str, str]:
        d = ev.details
        action = ev.action
        if action == "outbound.job.created":
            return "seen", self._t(Text.CONSOLE_STEP_SEEN)
        if action == "outbound.job.planned":
            return "planned", self._t(Text.CONSOLE_STEP_PLANNED, memos=d.get("memos", "?"))
        if action == "outbound.job.done":
            return "done", self._t(Text.CONSOLE_STEP_DONE)
        if action == "outbound.job.rejected":
            return "rejected", self._t(Text.CONSOLE_STEP_REJECTED)
        if action in ("outbound.job.failed", "outbound.job.vanished"):
            return "failed", self._t(Text.CONSOLE_STEP_FAILED)
        if action == "outbound.securemail.sent":
            return "sent", self._t(Text.CONSOLE_STEP_SECURE_SENT)
        if action == "outbound.receipt.written":
            return "receipt_mail", self._t(Text.CONSOLE_STEP_RECEIPT_MAIL)
        if action == "console.letter.cancelled":
            return "cancel_requested", self._t(Text.CONSOLE_STEP_CANCELLED, actor=ev.actor)
        if action == "console.letter.retried":
            return "retried", self._t(Text.CONSOLE_STEP_RETRIED, actor=ev.actor)
        if action == "console.receipt.resent":
            return "receipt_resent", self._t(Text.CONSOLE_STEP_RECEIPT_RESENT, actor=ev.actor)
        if action == "console.cpr.revealed":
            return "cpr_revealed", self._t(Text.CONSOLE_STEP_CPR_REVEALED, actor=ev.actor)
        return "other", action

    def _job_reason(self, job: OutboundJob, receipt: Mapping[str, object]) -> str | None:
        """Why the job was rejected or given up, in the words its receipt mail used (the receipt effect's
        payload); the recorded error text where the payload does not say (a mail that vanished)."""
        if receipt.get("kind") == "error":
            found = [_finding(d) for d in _as_list(receipt.get("findings"))]
            worded = [finding_sentence(f, self.language) for f in found if f.severity != "warning"]
            if worded:
                return " ".join(worded[:5])[:2000]
        if receipt.get("kind") == "failure":
            why = receipt.get("reason")
            if why == "gave_up":
                attempts = receipt.get("attempts") or 1
                error = mask_cprs(str(receipt.get("error") or ""))[:500]
                return self._t(Text.RECEIPT_FAILURE_GAVE_UP, attempts=attempts, error=error)
            if why == "receipt":
                return self._t(Text.RECEIPT_FAILURE_RECEIPT)
            return self._t(Text.RECEIPT_FAILURE_INTERNAL)
        return mask_cprs(job.error)[:1000] if job.error else None

    async def _row_steps(self, row: OutboxEntry, replaced_by: str | None) -> list[Step]:
        uid = row.message_uuid
        steps = [Step(row.created_at, "planned", self._t(Text.CONSOLE_STEP_ROW_PLANNED), message_uuid=uid)]
        if row.in_flight_at is not None:
            steps.append(Step(row.in_flight_at, "sent", self._t(Text.CONSOLE_STEP_SENT), message_uuid=uid))
        receipts = await blocking(self.store.receipts_of, uid)
        if row.state is OutboxState.ACCEPTED:
            # The store keeps no separate time of NgDP's answer: the row's last change is it until a
            # business receipt changes the row again.
            at = row.updated_at if not receipts else None
            steps.append(
                Step(
                    at,
                    "accepted",
                    self._t(Text.CONSOLE_STEP_ACCEPTED, transmission=row.transmission_id or "-"),
                    message_uuid=uid,
                )
            )
        elif row.state in (OutboxState.REJECTED, OutboxState.FAILED):
            kind = "rejected" if row.state is OutboxState.REJECTED else "failed"
            words = Text.CONSOLE_STEP_ROW_REFUSED if kind == "rejected" else Text.CONSOLE_STEP_ROW_FAILED
            steps.append(
                Step(row.updated_at, kind, self._t(words), message_uuid=uid, reason=self._row_reason(row))
            )
        for rc in receipts:
            status = rc.receipt_status or "?"
            reason = self._receipt_reason(status, rc.payload) if status in _REFUSED_RECEIPTS else None
            steps.append(
                Step(
                    rc.received_at,
                    "receipt",
                    self._t(Text.CONSOLE_STEP_RECEIPT, status=status),
                    message_uuid=uid,
                    reason=reason,
                )
            )
        if replaced_by is not None:
            steps.append(
                Step(None, "replaced", self._t(Text.CONSOLE_STEP_REPLACED, new=replaced_by), message_uuid=uid)
            )
        return steps

    def _effect_steps(
        self, job: OutboundJob, effects: Sequence[Effect], audit: Sequence[AuditRecord]
    ) -> list[Step]:
        steps: list[Step] = []
        written = {str(a.details.get("message_id")) for a in audit if a.action == "outbound.receipt.written"}
        for e in effects:
            key, state, at, result = e.key, e.state, e.completed_at, e.result or {}
            if key.startswith(f"categories:{job.id}:"):
                if (
                    state is not EffectState.DONE
                    or not isinstance(result, Mapping)
                    or "categories" not in result
                ):
                    continue
                steps.append(
                    Step(
                        at,
                        "category",
                        self._t(Text.CONSOLE_STEP_CATEGORY, category=str(result.get("category", ""))),
                    )
                )
            elif key.startswith(f"receipt:{job.id}") and state is EffectState.DONE:
                # Audited when written by this version (outbound.receipt.written); earlier ones only here.
                if isinstance(result, Mapping) and str(result.get("message_id")) in written:
                    continue
                steps.append(Step(at, "receipt_mail", self._t(Text.CONSOLE_STEP_RECEIPT_MAIL)))
            elif key.startswith(f"receipt:{job.id}") and state is EffectState.PLANNED:
                steps.append(Step(None, "receipt_mail", self._t(Text.CONSOLE_STEP_RECEIPT_MAIL_PLANNED)))
        return steps

    def _row_reason(self, row: OutboxEntry, cancelled: bool = False) -> str | None:
        if cancelled and row.state is OutboxState.FAILED and row.in_flight_at is None:
            return self._t(Text.CONSOLE_REASON_CANCELLED)
        if row.state is OutboxState.REJECTED:
            return self._t(Text.CONSOLE_REASON_REFUSED, detail=_error_line(row.last_error or ""))
        if row.state is OutboxState.FAILED:
            return self._t(Text.CONSOLE_REASON_FAILED, detail=_error_line(row.last_error or ""))
        if row.state is OutboxState.ACCEPTED and row.receipt_status in _REFUSED_RECEIPTS:
            return self._receipt_reason(row.receipt_status or "", {})
        return None

    def _receipt_reason(self, status: str, payload: Mapping[str, object]) -> str:
        base = self._t(
            Text.NGDP_RECEIPT_NOT_ALLOWED if status == "NOT_ALLOWED" else Text.NGDP_RECEIPT_INVALID
        )
        code = payload.get("errorCode") or payload.get("errorMessage")
        return f"{base} ({mask_cprs(str(code))[:200]})" if code else base

    # ------------------------------------------------------------------ the MeMo as sent
    async def memo_as_sent(self, message_uuid: str, actor: Actor) -> MemoAsSent:
        row = await blocking(self.store.find_by_message_uuid, message_uuid.strip().lower(), with_xml=True)
        if row is None:
            raise LetterNotFound(message_uuid)
        if row.memo_xml is not None:
            xml = await self.cpu.run(_masked_xml, row.memo_xml)
            words = self._t(Text.CONSOLE_MEMO_STORED)
            return MemoAsSent(row.message_uuid, "stored", xml, words, len(row.memo_xml) > _MAX_MEMO_SHOWN)
        if row.memo_ref:
            template = await blocking(self.store.find_by_message_uuid, row.memo_ref, with_xml=True)
            if template is not None and template.memo_xml is not None:
                rendered = await self.cpu.run(
                    render_from_template,
                    template.memo_xml,
                    row.message_uuid,
                    row.recipient_kind,
                    row.recipient_id,
                )
                xml = await self.cpu.run(_masked_xml, rendered)
                words = self._t(Text.CONSOLE_MEMO_TEMPLATE)
                return MemoAsSent(row.message_uuid, "template", xml, words, len(rendered) > _MAX_MEMO_SHOWN)
        return MemoAsSent(row.message_uuid, "no", None, self._t(Text.CONSOLE_MEMO_NOT_KEPT))

    # ------------------------------------------------------------------ mass deliveries
    async def mass_deliveries(
        self, actor: Actor, *, active_only: bool = False, limit: int = 50
    ) -> list[MassDelivery]:
        jobs = await blocking(
            self.store.mass_deliveries, active_only=active_only, limit=max(1, min(limit, 500))
        )
        out: list[MassDelivery] = []
        for job in jobs:
            counts = await blocking(self.store.job_progress, job.id)
            cancel = await blocking(self.store.cancellation, job.id)
            out.append(MassDelivery(job, _progress(counts), cancel is not None and cancel.active))
        return out

    async def progress(self, ident: str, actor: Actor) -> dict[str, int]:
        """A letter's recipients by outbox state (the console's live progress)."""
        job, _ = await self._resolve(ident)
        return _progress(await blocking(self.store.job_progress, job.id))

    # ------------------------------------------------------------------ actions (admin)
    def _admin(self, actor: Actor) -> None:
        if actor.role is not Role.ADMIN:
            raise ActionRefused(Text.CONSOLE_REFUSED_ROLE)

    async def _audit(self, action: str, job: OutboundJob, actor: Actor, **details: object) -> None:
        await blocking(
            self.store.audit,
            action,
            job.subject,
            actor=actor.name,
            details={"job": job.id, "via": actor.via, "role": actor.role.value, **details},
        )

    async def retry(self, ident: str, actor: Actor) -> ActionResult:
        """Retry the failed recipients of a job, or the one MeMo named: a transport failure with the same
        messageUUID (NgDP's idempotency key: had it arrived after all, NgDP answers a duplicate), a refusal
        as a new letter with a new messageUUID, linked to the refused one."""
        self._admin(actor)
        job, focus = await self._resolve(ident)
        if job.state in (JobState.NEW, JobState.REJECTED):
            raise ActionRefused(Text.CONSOLE_REFUSED_NOTHING_TO_RETRY)
        cancel = await blocking(self.store.cancellation, job.id)
        links = {lk.original_uuid: lk.new_uuid for lk in await blocking(self.store.letter_links, job.id)}
        rows = [focus] if focus is not None else await self._all_rows(job.id)
        same = [r.message_uuid for r in rows if r.message_uuid not in links and _retry_kind(r) == "same"]
        refused = [r for r in rows if r.message_uuid not in links and _retry_kind(r) == "new"]
        if not same and not refused:
            # Asked again (or another operator was quicker): what is being retried is the answer. A
            # recipient pending without any retry is simply still being sent.
            since = (job.created_at or _EPOCH) - timedelta(hours=1)
            retried_before = any(
                a.action == "console.letter.retried"
                for a in await blocking(self.store.job_audit, job.id, since)
            )
            if focus is not None:
                pending = focus.state is OutboxState.PENDING
                earlier = {k: v for k, v in links.items() if k == focus.message_uuid}
            else:
                pending = (await blocking(self.store.job_progress, job.id)).get(OutboxState.PENDING, 0) > 0
                earlier = links
            if pending and not retried_before and not earlier:
                raise ActionRefused(Text.CONSOLE_REFUSED_IN_PROGRESS)
            if earlier or pending:
                words = self._t(Text.CONSOLE_DONE_ALREADY_RETRIED)
                return ActionResult("retry", job.id, False, words, replaced=earlier)
            raise ActionRefused(Text.CONSOLE_REFUSED_NOTHING_TO_RETRY)
        if cancel is not None and cancel.active:
            counts = await blocking(self.store.job_progress, job.id)
            if counts.get(OutboxState.PENDING, 0):
                raise ActionRefused(Text.CONSOLE_REFUSED_CANCELLING)
            await blocking(self.store.lift_cancellation, job.id)
        replacements: list[tuple[str, PlannedMemo]] = []
        missing: list[str] = []
        for row in refused:
            planned = await self._replacement(row)
            if planned is None:
                missing.append(row.message_uuid)
            else:
                replacements.append((row.message_uuid, planned))
        if missing and not same and not replacements:
            raise ActionRefused(Text.CONSOLE_REFUSED_MEMO_GONE)
        named = same if focus is not None else None  # a whole job: every failed row, in one statement
        reopened = await blocking(self.store.reopen_failed, job.id, named) if same else 0
        retried = same if reopened else []
        added = 0
        for start in range(0, len(replacements), _RETRY_PAGE):
            chunk = replacements[start : start + _RETRY_PAGE]
            added += await blocking(self.store.add_replacements, job.id, chunk, actor.name)
        links = {lk.original_uuid: lk.new_uuid for lk in await blocking(self.store.letter_links, job.id)}
        replaced = {old: links[old] for old, _ in replacements if old in links}
        changed = bool(retried) or added > 0
        if changed:
            await self._audit(
                "console.letter.retried",
                job,
                actor,
                message_uuid=focus.message_uuid if focus else None,
                same_uuid=retried[:100],
                same_uuid_total=len(retried),
                new_letters=[{"original": k, "new": v} for k, v in list(replaced.items())[:100]],
                new_letters_total=len(replaced),
            )
        words = self._t(Text.CONSOLE_DONE_RETRIED, same=len(retried), new=len(replaced), missing=len(missing))
        return ActionResult(
            "retry", job.id, changed, words, retried=list(retried), replaced=replaced, missing=missing
        )

    async def _all_rows(self, job_id: str) -> list[OutboxEntry]:
        """The job's failed and refused rows, all of them, a page at a time."""
        rows: list[OutboxEntry] = []
        after = 0
        while True:
            page = await blocking(self.store.problem_rows, job_id, after_id=after, limit=5000)
            if not page:
                break
            rows.extend(page)
            after = page[-1].id
        return rows

    async def _replacement(self, row: OutboxEntry) -> PlannedMemo | None:
        """The new letter for a refused one: the same MeMo with a new messageUUID (a mass delivery's row
        is rendered from its template when sent, as the first was); None if the MeMo is no longer kept."""
        new_uuid = str(uuid.uuid4())
        if row.memo_xml is None:
            full = await blocking(self.store.find_by_message_uuid, row.message_uuid, with_xml=True)
            row = full or row
        if row.memo_xml is not None:
            xml = await self.cpu.run(
                render_from_template, row.memo_xml, new_uuid, row.recipient_kind, row.recipient_id
            )
            return PlannedMemo(
                new_uuid, row.recipient_kind, row.recipient_id, row.recipient_contact_point, xml, None
            )
        if row.memo_ref:
            return PlannedMemo(
                new_uuid,
                row.recipient_kind,
                row.recipient_id,
                row.recipient_contact_point,
                None,
                row.memo_ref,
            )
        return None

    async def cancel(self, ident: str, actor: Actor) -> ActionResult:
        """Cancel an unfinished job: what was sent stays sent; the worker fails the rest, never sending it.
        A secure mail (S/MIME) not sent yet is not sent at all; one already sent is refused as such."""
        self._admin(actor)
        job, _ = await self._resolve(ident)
        current = await blocking(self.store.cancellation, job.id)
        if current is not None and current.active:
            return ActionResult("cancel", job.id, False, self._t(Text.CONSOLE_DONE_ALREADY_CANCELLED))
        if job.channel == SECURE_CHANNEL and await self._secure_sent(job):
            # A secure mail leaves in one sendMail to all its recipients: once sent there is no rest to stop.
            raise ActionRefused(Text.CONSOLE_REFUSED_SECURE_SENT)
        if job.state not in _UNFINISHED:
            raise ActionRefused(Text.CONSOLE_REFUSED_FINISHED)
        changed = await blocking(self.store.request_cancellation, job.id, actor.name, actor.via)
        if changed:
            counts = await blocking(self.store.job_progress, job.id)
            await self._audit("console.letter.cancelled", job, actor, progress=_progress(counts))
        return ActionResult(
            "cancel",
            job.id,
            changed,
            self._t(Text.CONSOLE_DONE_CANCELLED if changed else Text.CONSOLE_DONE_ALREADY_CANCELLED),
        )

    async def _secure_sent(self, job: OutboundJob) -> bool:
        """Whether the outbound worker recorded the secure mail as sent (``outbound.securemail.sent``)."""
        since = (job.created_at or _EPOCH) - timedelta(hours=1)
        audit = await blocking(self.store.job_audit, job.id, since)
        return any(a.action == "outbound.securemail.sent" for a in audit)

    async def resend_receipt(self, ident: str, actor: Actor) -> ActionResult:
        """Write a finished job's receipt mail again (the outbound worker writes it, as an effect)."""
        self._admin(actor)
        job, _ = await self._resolve(ident)
        if job.state not in JOB_TERMINAL:
            raise ActionRefused(Text.CONSOLE_REFUSED_NOT_FINISHED)
        first = await blocking(self.store.get_effect, f"receipt:{job.id}")
        if first is None:
            raise ActionRefused(Text.CONSOLE_REFUSED_NO_RECEIPT)
        resends = [
            e
            for e in await blocking(self.store.job_effects, job.id)
            if e.key.startswith(f"receipt:{job.id}{_RESEND_PREFIX}")
        ]
        if any(e.state is EffectState.PLANNED for e in resends):
            return ActionResult("resend_receipt", job.id, False, self._t(Text.CONSOLE_DONE_ALREADY_RESENDING))
        key = f"receipt:{job.id}{_RESEND_PREFIX}{len(resends) + 1}"
        payload = {**dict(first.payload), "job": job.id, "resent_by": actor.name}
        # Run by the replica holding the job's mailbox, like its first receipt (issue 18).
        changed = await blocking(self.store.plan_effect, key, payload, job.mailbox)
        if changed:
            await self._audit("console.receipt.resent", job, actor, effect=key)
        return ActionResult("resend_receipt", job.id, changed, self._t(Text.CONSOLE_DONE_RESENT))

    async def reveal_cpr(self, message_uuid: str, actor: Actor) -> str:
        """The recipient id of one MeMo in clear (admin only; audited every time: each look discloses)."""
        self._admin(actor)
        job, row = await self._resolve(message_uuid)
        if row is None:
            raise LetterNotFound(message_uuid)
        await self._audit("console.cpr.revealed", job, actor, message_uuid=row.message_uuid)
        return row.recipient_id


def _with(f: LetterFilter, **values: object) -> LetterFilter:
    return replace(f, **values)  # type: ignore[arg-type]


def _with_inbound(f: InboundFilter, **values: object) -> InboundFilter:
    return replace(f, **values)  # type: ignore[arg-type]


def _inbound_hit(m: InboundMemo) -> InboundHit:
    return InboundHit(
        memo_uuid=m.memo_uuid,
        source=m.source.value,
        state=m.state.value,
        mailbox=m.target_mailbox,
        received_at=m.received_at,
        updated_at=m.updated_at,
        attempts=m.attempts,
        error=mask_cprs(m.error) if m.error else None,
        route=m.route,
    )


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def _finding(d: object) -> Finding:
    """A finding as a receipt effect's payload keeps it (``outbound._finding_dict``)."""
    if not isinstance(d, Mapping):
        return Finding("error", str(d))
    raw = d.get("params")
    params = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}
    return Finding(
        str(d.get("rule", "")),
        str(d.get("message", "")),
        str(d.get("path", "")),
        str(d.get("severity", "error")),
        params=params,
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _masked_xml(xml: bytes) -> bytes:
    return mask_cprs(xml[:_MAX_MEMO_SHOWN].decode("utf-8", errors="replace")).encode("utf-8")


def _error_line(raw: str) -> str:
    """A recorded error (NgDP's ErrorMessage JSON, or text) as one short line."""
    line = raw
    if raw.startswith("{") and len(raw) < 64_000:
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            doc = None
        if isinstance(doc, dict):
            parts = [f"{doc.get('code', '')}: {doc.get('message', '')}".strip(": ")]
            for fe in doc.get("fieldErrors") or []:
                if isinstance(fe, dict):
                    parts.append(f"{fe.get('field', '')} {fe.get('message', '')}".strip())
            line = "; ".join(p for p in parts if p)
    return mask_cprs(line)[:500] or "-"


__all__ = [
    "ActionRefused",
    "ActionResult",
    "Actor",
    "InboundHit",
    "LetterHit",
    "LetterLink",
    "LetterNotFound",
    "LettersService",
    "MassDelivery",
    "MemoAsSent",
    "Query",
    "RecipientView",
    "Role",
    "SearchResult",
    "Step",
    "Timeline",
]
