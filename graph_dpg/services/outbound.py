"""Outbound: mail in a function mailbox's outgoing folder → one MeMo per Digital Post recipient → NgDP.

State machine of one source mail (rows in the store; see ``graph_dpg.ports.store``)::

    Sent Items ──poll (delta)──► job NEW ──plan──► PLANNED ──send──► SENDING ──all rows final──► DONE
                                   │                                   │
                                   └──validation fails──► REJECTED     └── rows: pending → accepted |
                                                                          rejected (NgDP 400) | failed
    DONE / REJECTED ──► effects: receipt mail + state category, each planned durably and done once
    business receipts (pulled) ──► outbox rows get COMPLETED / INVALID / ... ──► category, failure mail

Why it is crash-safe:
- the delta link is saved only after every gateway mail of the round has its job row, so a crash replays
  the round and ``create_jobs`` (unique on mailbox + immutable id) ignores what it already has;
- every messageUUID is generated and stored (``plan_and_claim``, one transaction) before the first send, and a
  retry reuses it, so NgDP sees each MeMo once (its duplicate answer counts as success);
- receipt mails and categories are effects: planned in the store, then done, then marked done; a crash
  between "done" and "marked" repeats the action, which first looks for its own earlier result (the
  receipt mail carries an extended property naming the job), so the outcome still happens once.

No database lock is held across a Graph or NgDP call: every store call is its own short transaction,
made in a worker thread (``services.blocking``), so a wait for the database never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from graph_dpg.core.backoff import Backoff
from graph_dpg.core.errors import (
    AuthError,
    ContentError,
    Finding,
    GraphDpgError,
    InputError,
    NotFoundError,
    RejectedError,
    RemoteError,
    SecureMailError,
    StoreError,
    TransientError,
)
from graph_dpg.core.fair import FairSlots
from graph_dpg.domain.addresses import Channel, is_gateway_domain
from graph_dpg.domain.conversion import (
    OutboundContext,
    Plan,
    plan_outbound,
    render_from_template,
    replied_memo_uuid,
    secure_refusal,
    unwrap_secure,
)
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.domain.mail import Attachment, EmailAddress, Header, MailMessage
from graph_dpg.domain.names import Registration
from graph_dpg.domain.policies import ChannelPolicy
from graph_dpg.domain.receipts import (
    MAX_FINDINGS_IN_BODY,
    JobCategory,
    ReceiptMail,
    RecipientLine,
    RecipientStatus,
    category_for,
    render_error_receipt,
    render_failure_receipt,
    render_receipt,
)
from graph_dpg.domain.secure_send import (
    SECURE_CHANNEL,
    is_secure_send,
    plan_secure_send,
    readdress,
    recipient_set_digest,
    secure_message_id,
)
from graph_dpg.domain.smime import SmimeKind, is_smime_mail, readable_content, smime_kind
from graph_dpg.domain.texts import Text, text
from graph_dpg.memo import MemoMessage, parse
from graph_dpg.ports.digital_post import ContactPointInfo, DigitalPostPort
from graph_dpg.ports.mailbox import MailboxPort
from graph_dpg.ports.names import NameLookup
from graph_dpg.ports.secure_mail import SecureMailOpener
from graph_dpg.ports.secure_send import RecipientCertificate, RecipientCertificateLookup, SecureMailSealer
from graph_dpg.ports.store import (
    JOB_TERMINAL,
    AuditEntry,
    EffectPlan,
    EffectState,
    JobFinish,
    JobState,
    JobStatuses,
    OutboundJob,
    OutboundStore,
    OutboxEntry,
    OutboxState,
    PlannedMemo,
    SendOutcome,
)
from graph_dpg.services.alerts import AlertService, certificate_source_alert, certificate_source_key
from graph_dpg.services.blocking import blocking
from graph_dpg.services.boundary import ItemFailures, Stage, describe
from graph_dpg.services.cpu import CpuPool, shared_pool
from graph_dpg.services.delta_links import DeltaLinkCache
from graph_dpg.services.effects import Completed, EffectBook, EffectKey, EffectKind, Marker, PlannedEffect
from graph_dpg.services.names import NAMED_RECIPIENTS_MAX, annotate_recipient_lines, precheck_mass_plan

log = logging.getLogger(__name__)

#: Business receipts read, recorded and deleted at a time (``pull_business_receipts``), and at most how
#: many such rounds one pull makes (10,000 x 1,000: beyond any queue the organisation can have).
RECEIPT_BATCH = 1000
_MAX_RECEIPT_ROUNDS = 10_000
#: Named extended property on receipt mails: the job they report on (finds an earlier copy after a crash).
RECEIPT_PROPERTY = "DpgReceiptFor"
#: In a receipt effect's payload: planned by a version that notes every attempt at it before writing
#: (``EffectBook.first_attempt``), so a first noted attempt need not look for an earlier copy.
NOTES_ATTEMPTS = "notes_attempts"
_JOB_NAMESPACE = uuid.UUID("6f0b7c52-3c1e-4b8e-9a57-1d0f3f6b2a10")
#: The semantic category every receipt mail carries (name and colour from the gateway file).
RECEIPT_CATEGORY = "receipt"
#: Updated receipts of one job the gateway looks for before planning the next (each is one batch of
#: business receipts that changed the outcome; a job with more gets no further update, only categories).
MAX_RECEIPT_UPDATES = 500
# MeMo rows sent per round of one job (one mark-in-flight and one record-results transaction each).
_SEND_BATCH = 200


def receipt_message_id(key: EffectKey) -> str:
    """The Internet Message-ID a receipt mail is created with (from its effect key): its updates name it in
    In-Reply-To and References, which puts them in its conversation."""
    return f"<receipt-{uuid.uuid5(_JOB_NAMESPACE, str(key))}@graph-dpg.invalid>"


@dataclass(frozen=True)
class FunctionMailbox:
    address: str
    cvrs: frozenset[str] = frozenset()
    sender_contact_points: frozenset[str] = frozenset()
    outgoing_folder: str = "sentitems"


#: Where a recipient certificate was found, in the case worker's words (the receipt line).
_SOURCE_TEXTS = {
    "file": Text.SECURE_SEND_FROM_FILE,
    "contacts": Text.SECURE_SEND_FROM_CONTACTS,
    "ldap": Text.SECURE_SEND_FROM_LDAP,
}


@dataclass(frozen=True)
class SecureSender:
    """What sending secure mail to external recipients needs: their certificates and the sealer (the
    organisation's signing certificate). Without it such mail gets an error receipt."""

    certificates: RecipientCertificateLookup  # files, contacts, LDAP (adapters.smime.sources)
    sealer: SecureMailSealer


@dataclass(frozen=True)
class OutboundSettings:
    organisation_cvr: str
    organisation_name: str
    mailboxes: tuple[FunctionMailbox, ...]
    policies: Mapping[Channel, ChannelPolicy]
    categories: Mapping[str, tuple[str, str]]  # semantic key → (display name, presetN colour)
    gateway_domain: str = "digital-post.dk"
    internal_domains: frozenset[str] = frozenset()
    language: str = "da"
    memo_version: str = "1.2"
    mandatory_allowed: bool = False
    legal_notification_allowed: bool = False
    send_concurrency: int = 8
    max_attempts: int = 8  # transient failures of one mail or MeMo before it is given up with an answer
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 900.0
    give_up_after_seconds: float = (
        6 * 3600.0
    )  # a mail or MeMo still failing this long after it came is given up
    receipt_folder: str = "inbox"
    recipient_precheck: bool = False  # mass delivery: leave exempt/unknown recipients out (services.names)

    def mailbox(self, address: str) -> FunctionMailbox | None:
        wanted = address.lower()
        return next((m for m in self.mailboxes if m.address.lower() == wanted), None)

    def category_name(self, key: str) -> str:
        return self.categories[key][0] if key in self.categories else key


@dataclass
class CycleStats:
    """What one ``run_once`` did (for logs, metrics and the sandbox report)."""

    new_jobs: int = 0
    planned: int = 0
    rejected: int = 0
    sent: int = 0
    send_rejected: int = 0
    send_failed: int = 0
    retried: int = 0
    jobs_done: int = 0
    jobs_failed: int = 0  # given up with an error receipt (an unexpected error, or out of attempts)
    jobs_closed: int = 0  # closed without a letter or receipt: the mail was deleted before it was read
    effects_done: int = 0
    receipts: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: CycleStats) -> None:
        """Add ``other``'s counts and errors to these."""
        for name in (f.name for f in fields(self)):
            mine = getattr(self, name)
            if isinstance(mine, list):
                mine.extend(getattr(other, name))
            else:
                setattr(self, name, mine + getattr(other, name))


def job_id_for(mailbox: str, message_id: str) -> str:
    """Deterministic: the same source mail always maps to the same job, across replicas and restarts."""
    return str(uuid.uuid5(_JOB_NAMESPACE, f"{mailbox.lower()}|{message_id}"))


class OutboundService:
    #: Jobs read per state and pass (of the mailboxes asked for only; see process_jobs).
    job_page = 1000

    def __init__(
        self,
        mailbox: MailboxPort,
        ngdp: DigitalPostPort,
        store: OutboundStore,
        settings: OutboundSettings,
        *,
        now: type[datetime] = datetime,
        cpu: CpuPool | None = None,
        failures: ItemFailures | None = None,
        secure: SecureMailOpener | None = None,
        secure_send: SecureSender | None = None,
        names: NameLookup | None = None,
        alerts: AlertService | None = None,
    ) -> None:
        self.mail = mailbox
        # The monitoring mailbox: told once a day of a recipient certificate source that fails.
        self.alerts = alerts
        # Names in small receipts and the registration pre-check (issue 20; services/names.py).
        self.names = names
        self._registrations: dict[str, Registration] = {}
        # Opens a case worker's signed mail (S/MIME) before conversion; without it such mail is refused.
        self.secure = secure
        # Signs and encrypts mail to <name>=<domain>@sikkermail.<gateway-domain> (external recipients).
        self.secure_send = secure_send
        self.ngdp = ngdp
        self.store = store
        self.settings = settings
        self._now = now
        self.cpu = cpu or shared_pool()  # planning, MeMo parsing and receipt rendering run there
        self.failures = failures if failures is not None else ItemFailures()
        # Shared by every mailbox's sends, handed out round robin by mailbox (core.fair): a mass delivery's
        # batch of 200 never queues ahead of another mailbox's single letter (issue 18).
        self._send_slots = FairSlots(settings.send_concurrency)
        self._templates: dict[str, bytes] = {}
        self._template_read = asyncio.Lock()
        self.effects = EffectBook(store, failures=self.failures, stage=Stage.OUTBOUND_EFFECT)
        # Each polled folder's delta link, kept while this replica polls it (the runtime forgets a folder's
        # when its lease lapses).
        self.delta_links = DeltaLinkCache(store)
        self._categories_ready: set[str] = set()
        self._contact_point_limits: dict[str, tuple[float | None, int | None]] = {}
        # NgDP's verdict on an HTML main document, by its digest: a mass delivery's letters share one.
        self._html_verdicts: dict[str, str | None] = {}

    # ------------------------------------------------------------------ one full cycle
    async def run_once(self, mailboxes: Iterable[str] | None = None) -> CycleStats:
        """Poll the given (default: all) function mailboxes, advance their jobs, write pending effects."""
        stats = CycleStats()
        wanted = [m for m in self.settings.mailboxes if mailboxes is None or m.address in set(mailboxes)]
        for mb in wanted:
            try:
                stats.new_jobs += await self.poll(mb)
            except GraphDpgError as exc:
                stats.errors.append(f"poll {mb.address}: {exc}")
                log.warning("outbound poll failed for %s: %s", mb.address, exc)
        try:
            await self.process_jobs({m.address.lower() for m in wanted}, stats)
        except AuthError as exc:
            stats.errors.append(f"outbound stopped: {exc}")
            log.error("outbound stopped: authentication failed at %s: %s", exc.service, exc)
        stats.effects_done += await self.run_effects()
        return stats

    # ------------------------------------------------------------------ 1. find new gateway mail
    async def poll(self, mb: FunctionMailbox) -> int:
        link = await self.delta_links.get(mb.address, mb.outgoing_folder)
        delta = await self.mail.read_delta(mb.address, mb.outgoing_folder, link)
        jobs: list[tuple[OutboundJob, AuditEntry | None]] = []
        for msg in delta.messages:
            if msg.is_draft or msg.id is None:
                continue
            try:
                job = self._job_for(mb, msg, msg.id)
            except (
                Exception
            ) as exc:  # one summary nobody foresaw must not stop this round and every later one
                self.failures.crashed(Stage.OUTBOUND_POLL, f"{mb.address} {msg.id}", exc)
                continue
            if job is None:
                continue
            created_audit = AuditEntry(
                "outbound.job.created", job.subject, details={"job": job.id, "mailbox": mb.address}
            )
            jobs.append((job, created_audit))
        # The round's jobs in one transaction (issue 18).
        created = sum(await blocking(self.store.create_jobs, jobs)) if jobs else 0
        # Only now: a crash before this line replays the round, and create_jobs ignores what it has.
        await self.delta_links.put(mb.address, mb.outgoing_folder, delta)
        return created

    async def has_unfinished_jobs(self, mailboxes: Collection[str]) -> bool:
        """Whether :meth:`process_jobs` has anything to look at for ``mailboxes``: one indexed read, so an
        idle poll does not read each unfinished state's page (issue 18)."""
        return await blocking(
            self.store.has_jobs_in_state,
            [JobState.NEW, JobState.PLANNED, JobState.SENDING],
            mailboxes=mailboxes,
        )

    async def has_pending_effects(self, *, mailboxes: Collection[str], unowned: bool) -> bool:
        """Whether :meth:`run_effects` with these owners has anything to do (one indexed read)."""
        return await blocking(
            self.store.has_pending_effects,
            [f"{EffectKind.RECEIPT.value}:", f"{EffectKind.CATEGORY.value}:"],
            mailboxes=mailboxes,
            unowned=unowned,
            known=[m.address for m in self.settings.mailboxes] if unowned else (),
        )

    def _job_for(self, mb: FunctionMailbox, msg: MailMessage, message_id: str) -> OutboundJob | None:
        """The job for a mail in the outgoing folder; None when it is not addressed to the gateway."""
        gateway = [
            r for r in msg.all_recipients if is_gateway_domain(r.address, self.settings.gateway_domain)
        ]
        if not gateway:
            return None
        return OutboundJob(
            id=job_id_for(mb.address, message_id),
            mailbox=mb.address,
            message_id=message_id,
            internet_message_id=msg.internet_message_id,
            # PostgreSQL text cannot hold NUL: one such subject made every poll of the mailbox fail.
            subject=mask_cprs(msg.subject.replace("\x00", ""))[:500],
            sent_at=msg.sent_at,
            channel=(
                SECURE_CHANNEL
                if is_secure_send(msg, self.settings.gateway_domain)
                else _channel_of(gateway[0].address)
            ),
        )

    # ------------------------------------------------------------------ 2./3. plan, send, finish
    async def process_jobs(
        self,
        mailboxes: set[str],
        stats: CycleStats,
        *,
        keep_going: Callable[[], bool] = lambda: True,
        on_job: Callable[[OutboundJob, CycleStats], None] | None = None,
    ) -> None:
        """Plan and send the unfinished jobs of ``mailboxes`` (lower-case addresses).

        Each job's counts are added to ``stats`` and handed to ``on_job`` (the runtime counts them per
        channel). ``keep_going`` is asked before each job; False stops the pass (shutdown, a lost lease).
        An :class:`AuthError` is raised at once: credentials or certificate are wrong, and every other job
        would fail the same way. Any other failure of a job is settled by :meth:`_settle` (the failure
        boundary of one job), and the pass goes on with the next job.
        """
        states = (JobState.NEW, JobState.PLANNED, JobState.SENDING)
        # Only these mailboxes' jobs, in SQL: a page of another mailbox's thousands of jobs must not hide
        # this one's single letter (fairness between mailboxes, issue 18). Every unfinished state in one
        # read first (issue 18: one transaction instead of three): while that page holds all of them and
        # every job the passes advance ends finished, it is what each state's read would find; otherwise
        # each later pass reads its state again (a job left planned or sending is advanced again there).
        snapshot = await blocking(
            self.store.jobs_in_state, list(states), limit=self.job_page, mailboxes=mailboxes
        )
        exact = len(snapshot) < self.job_page
        for state in states:
            if exact:
                page = [j for j in snapshot if j.state is state]
            else:
                page = await blocking(
                    self.store.jobs_in_state, [state], limit=self.job_page, mailboxes=mailboxes
                )
            for job in page:
                if job.mailbox.lower() not in mailboxes or not self._due(job):
                    continue
                if not keep_going():
                    return
                one = CycleStats()
                try:
                    await self.advance(job, one)
                except AuthError:
                    raise
                except Exception as exc:  # the boundary of one job: see _settle
                    await self._settle(job, exc, one)
                finally:
                    stats.add(one)
                    if on_job is not None:
                        on_job(job, one)
                    if not (one.jobs_done or one.rejected or one.jobs_failed or one.jobs_closed):
                        exact = False  # it may be in a later state now: that pass reads the store

    def _due(self, job: OutboundJob) -> bool:
        """False while a job waits out the backoff after a transient failure."""
        return job.not_before is None or job.not_before <= self._now.now(UTC)

    def _too_old(self, since: datetime | None) -> bool:
        if since is None:
            return False
        return (self._now.now(UTC) - since).total_seconds() >= self.settings.give_up_after_seconds

    # ------------------------------------------------------------------ the failure boundary of one job
    async def _settle(self, job: OutboundJob, exc: Exception, stats: CycleStats) -> None:
        """What a failure of ``job`` means for it; every outcome but a database failure is final or bounded:

        - the database failed (``StoreError``): not this job's fault; the next pass tries again;
        - the mail is gone (404 while reading it to plan): closed with an audit record and no letter;
        - untrusted input the planning refused by raising (``InputError``): rejected with an error receipt;
        - a transient failure (``TransientError``): retried with the shared backoff, given up with an
          error receipt once ``max_attempts`` or ``give_up_after_seconds`` are used up;
        - any other remote failure (retrying gives the same answer): given up with an error receipt;
        - anything else (a bug, an input nobody foresaw): logged with its traceback, counted, and given up
          with an "internal error" receipt naming a reference; MeMo messages not sent yet are not sent.
        """
        try:
            if isinstance(exc, StoreError):
                stats.errors.append(mask_cprs(f"job {job.id}: {exc}"))
                log.warning("outbound job %s not advanced: %s", job.id, mask_cprs(str(exc)))
                return
            current = await blocking(self.store.get_job, job.id) or job
            if current.state in JOB_TERMINAL:
                # Finished before the failure (e.g. in its audit record): nothing left to answer.
                self.failures.crashed(Stage.OUTBOUND_SEND, job.id, exc)
                return
            stage = Stage.OUTBOUND_PLAN if current.state is JobState.NEW else Stage.OUTBOUND_SEND
            if (
                isinstance(exc, NotFoundError)
                and stage is Stage.OUTBOUND_PLAN
                and exc.code != "ErrorInvalidUser"
            ):
                await self._close_vanished(current, exc, stats)
            elif isinstance(exc, InputError) and stage is Stage.OUTBOUND_PLAN:
                shown = mask_cprs(str(exc))[:1000]
                finding = Finding("input", shown, params={"support": shown})  # the detail is for IT
                await self._reject(current, [finding], [finding], stats)
            elif isinstance(exc, TransientError):
                await self._retry_or_give_up(current, exc, stage, stats)
            elif isinstance(exc, RemoteError):
                shown = describe(exc)
                self.failures.gave_up(stage, job.id, shown)
                await self._give_up(current, stage, stats, reason="gave_up", error=shown)
            else:
                shown = self.failures.crashed(stage, job.id, exc)
                await self._give_up(current, stage, stats, reason="internal", error=shown)
        except GraphDpgError as again:  # e.g. the database went away meanwhile: the next pass tries again
            stats.errors.append(mask_cprs(f"job {job.id}: {again}"))
            log.warning(
                "outbound job %s: its failure could not be recorded yet: %s", job.id, mask_cprs(str(again))
            )

    async def _retry_or_give_up(
        self, job: OutboundJob, exc: TransientError, stage: Stage, stats: CycleStats
    ) -> None:
        s = self.settings
        attempts = job.attempts + 1
        if attempts >= s.max_attempts or self._too_old(job.created_at):
            shown = describe(exc)
            self.failures.gave_up(stage, job.id, f"{attempts} attempt(s); last: {shown}")
            await self._give_up(job, stage, stats, reason="gave_up", error=shown, attempts=attempts)
            return
        delay = Backoff(s.retry_base_seconds, s.retry_max_seconds).delay(
            attempts, retry_after=exc.retry_after
        )
        not_before = self._now.now(UTC) + timedelta(seconds=delay)
        await blocking(self.store.record_job_retry, job.id, mask_cprs(str(exc))[:4000], not_before)
        stats.errors.append(mask_cprs(f"job {job.id}: {exc}"))
        log.warning(
            "outbound job %s not advanced (attempt %d of %d, next in %.0f s): %s",
            job.id,
            attempts,
            s.max_attempts,
            delay,
            mask_cprs(str(exc)),
        )

    async def _give_up(
        self,
        job: OutboundJob,
        stage: Stage,
        stats: CycleStats,
        *,
        reason: str,
        error: str,
        attempts: int | None = None,
    ) -> None:
        """End ``job`` in FAILED with a receipt that says what happened, what to do and a reference (the
        job id, which the log line and the audit record carry too). Effects first, state last."""
        reference = job.id
        if stage is Stage.OUTBOUND_SEND:
            stats.send_failed += await self._fail_pending(job, reference)
        receipt = EffectPlan(
            str(EffectKey.receipt(job.id)),
            {
                "job": job.id,
                "kind": "failure",
                "reason": reason,
                "error": error,
                "attempts": attempts if attempts is not None else job.attempts + 1,
                "reference": reference,
            },
            job.mailbox,
        )
        record = mask_cprs(f"{reason}: {error} (reference {reference})")[:4000]
        # The effects with the state, in one transaction (issue 18): they exist exactly when it does.
        await blocking(
            self.store.set_job_state,
            job.id,
            JobState.FAILED,
            record,
            audit=AuditEntry(
                "outbound.job.failed",
                job.subject,
                details={"job": job.id, "stage": stage.value, "reason": reason, "error": error},
            ),
            effects=[receipt, self._category_plan(job, JobCategory.FAILED)],
            settle=_superseded_queue(job),
        )
        self._templates.pop(job.id, None)
        stats.jobs_failed += 1
        stats.errors.append(mask_cprs(f"job {job.id}: {error}"))

    async def _fail_pending(
        self, job: OutboundJob, reference: str, why: Text = Text.RECEIPT_ROW_NOT_SENT
    ) -> int:
        """Every MeMo of ``job`` not sent yet is failed (and never sent); how many."""
        note = text(why, self.settings.language, reference=reference)
        failed, after = 0, 0
        while True:
            page = await blocking(self.store.list_outbox, job.id, after_id=after, limit=5000)
            if not page:
                return failed
            outcomes = [
                SendOutcome(e.message_uuid, OutboxState.FAILED, error=note)
                for e in page
                if e.state is OutboxState.PENDING
            ]
            if outcomes:
                failed += await blocking(self.store.record_send_results, outcomes)
            after = page[-1].id

    async def _close_vanished(self, job: OutboundJob, exc: NotFoundError, stats: CycleStats) -> None:
        """The mail was deleted between the delta round and reading it: nothing was sent, and there is
        nothing to show a category on. Closed with an audit record; no letter, no receipt."""
        await blocking(self.store.set_job_state, job.id, JobState.FAILED, _VANISHED)
        await blocking(
            self.store.audit,
            "outbound.job.vanished",
            job.subject,
            details={"job": job.id, "mailbox": job.mailbox, "error": mask_cprs(str(exc))[:500]},
        )
        log.info("outbound job %s closed: %s", job.id, _VANISHED)
        stats.jobs_closed += 1

    async def advance(self, job: OutboundJob, stats: CycleStats) -> None:
        first: _Claim | None = None
        if job.channel == SECURE_CHANNEL and job.state is JobState.PLANNED:
            # a crash between planned and done: finish it (idempotent)
            job, first = await self._plan(job, stats)
        if job.state is JobState.NEW:
            job, first = await self._plan(job, stats)
        if job.state in (JobState.PLANNED, JobState.SENDING) and await self._send(job, stats, first):
            stats.jobs_done += 1

    async def _plan(self, job: OutboundJob, stats: CycleStats) -> tuple[OutboundJob, _Claim | None]:
        """Plan the job (or send it, a secure mail, or reject it); the job as it is now and, when this
        call planned it, the first page of its sends claimed in the plan's transaction (``_send`` starts
        from it: ``advance`` sends a job as soon as it is planned)."""
        mb = self.settings.mailbox(job.mailbox)
        msg = await self.mail.get_message(job.mailbox, job.message_id)
        if is_secure_send(msg, self.settings.gateway_domain):
            return await self._send_secure(job, msg, stats), None
        plan = await self._make_plan(msg, mb)
        if plan.errors:
            await self._reject(job, plan.findings, plan.errors, stats)
            return job, None
        if self.settings.recipient_precheck and plan.more is not None:
            plan.materialise()  # the pre-check asks NgDP about every recipient and keeps the list
            plan.total = len(plan.memos)
        if self.settings.recipient_precheck and await precheck_mass_plan(self.ngdp, plan) and plan.errors:
            await self._reject(job, plan.findings, plan.errors, stats)  # nobody could receive it
            return job, None
        total = plan.total if plan.more is not None else len(plan.memos)
        # A mass delivery's rows are read from its recipient list while the store writes them (one
        # transaction, streamed in chunks): 100,000 recipients are never in memory at once (issue 18).
        memos = (
            PlannedMemo(
                m.message_uuid,
                m.recipient_kind,
                m.recipient_id,
                m.recipient_contact_point,
                m.memo_xml,
                m.template_uuid,
                m.line,
            )
            for m in plan.all_memos()
        )
        # The "queued" category is planned with the plan, in its transaction (issue 18), so it exists exactly
        # when the plan does. The notes for the receipt go with the plan.
        # Each warning as its finding's JSON, so the receipt words it per language (older jobs: text).
        with_notes = replace(job, warnings=tuple(json.dumps(_finding_dict(w)) for w in plan.warnings))
        planned = AuditEntry("outbound.job.planned", job.subject, details={"job": job.id, "memos": total})
        queued = self._category_plan(job, JobCategory.QUEUED)
        # The first page of the sends is claimed (cancellation check, rows, in-flight mark, planned ->
        # sending) in the plan's transaction, as claim_pending would in its own (issue 18): the mark still
        # commits before any POST, and a crash before a POST re-sends with possibly_sent.
        done, cancelled, rows = await blocking(
            self.store.plan_and_claim, with_notes, memos, audit=planned, effects=[queued], claim=_SEND_BATCH
        )
        if done:
            stats.planned += 1
            # What the store now holds (this replica holds the mailbox's lease: nobody else advances the
            # job), so it is not read back (issue 18).
            state = JobState.SENDING if rows else JobState.PLANNED
            return replace(with_notes, state=state), _Claim(cancelled, rows)
        updated = await blocking(self.store.get_job, job.id)
        return (updated if updated is not None else job), None

    async def _reject(
        self, job: OutboundJob, findings: Sequence[Finding], errors: Sequence[Finding], stats: CycleStats
    ) -> None:
        """Refuse the mail with an error receipt listing ``findings`` (``errors`` are why)."""
        reasons = "; ".join(str(f) for f in errors)
        # The effects and the audit record with the state, in one transaction (issue 18).
        rejected = AuditEntry(
            "outbound.job.rejected",
            job.subject,
            # The first findings and the count: the audit row stays small like the receipt.
            details={
                "job": job.id,
                "findings": [str(f) for f in errors[:MAX_FINDINGS_IN_BODY]],
                "findings_total": len(errors),
            },
        )
        await blocking(
            self.store.set_job_state,
            job.id,
            JobState.REJECTED,
            mask_cprs(reasons)[:4000],
            audit=rejected,
            effects=self._effect_plans(job, JobCategory.FAILED, findings=findings),
            settle=_superseded_queue(job),
        )
        stats.rejected += 1

    async def _make_plan(self, msg: MailMessage, mb: FunctionMailbox | None) -> Plan:
        s = self.settings
        ctx = OutboundContext(
            organisation_cvr=s.organisation_cvr,
            organisation_name=s.organisation_name,
            gateway_domain=s.gateway_domain,
            mailbox_address=mb.address if mb else (msg.mailbox or ""),
            mailbox_configured=mb is not None,
            allowed_cvrs=mb.cvrs if mb else frozenset(),
            allowed_sender_contact_points=mb.sender_contact_points if mb else frozenset(),
            policies=s.policies,
            internal_domains=s.internal_domains | ({mb.address.rsplit("@", 1)[-1].lower()} if mb else set()),
            memo_version=s.memo_version,
            mandatory_allowed=s.mandatory_allowed,
            legal_notification_allowed=s.legal_notification_allowed,
            created=self._now.now(UTC),
            contact_point_limits=self._contact_point_limits,
        )
        notes: list[Finding] = []
        if self.secure is not None and is_smime_mail(msg) and msg.id is not None:
            opened = await self._unwrap(mb.address if mb else (msg.mailbox or ""), msg)
            if isinstance(opened, Finding):
                return Plan(findings=[opened])
            msg, notes = opened
            if any(n.severity == "error" for n in notes):
                return Plan(findings=notes)
        reply_uuid = replied_memo_uuid(msg)
        replying_to = None
        if reply_uuid is not None:
            xml = await blocking(self.store.load_inbound_xml, reply_uuid)
            replying_to = await self.cpu.run(_parse_or_none, xml)
        plan = await self.cpu.run(
            plan_outbound, msg, ctx, replying_to=replying_to, replying_to_uuid=reply_uuid, stream_mass=True
        )
        plan.findings[:0] = notes
        return plan

    async def _unwrap(self, mailbox: str, msg: MailMessage) -> tuple[MailMessage, list[Finding]] | Finding:
        """A signed mail in Sent Items as the letter is made of (``conversion.unwrap_secure``), read as
        MIME (``$value``) and opened in the CPU pool; a Finding (error) when it cannot be read: encrypted
        to the recipient (no key of ours), unsupported or damaged. Decrypted content stays in memory."""
        assert self.secure is not None
        assert msg.id is not None
        lang = self.settings.language
        mime = await self.mail.get_mime(mailbox, msg.id)
        try:
            opened = await self.cpu.run(self.secure.open, mime, msg.sent_at or msg.received_at)
            content = await self.cpu.run(readable_content, opened.content)
        except SecureMailError as exc:
            log.info("outbound secure mail %s cannot be opened: %s", msg.id, exc.reason)
            return secure_refusal(exc.reason, lang)
        except ContentError as exc:  # not MIME, or beyond a bound
            log.info("outbound secure mail %s cannot be read: %s", msg.id, type(exc).__name__)
            return secure_refusal("damaged", lang)
        return await self.cpu.run(unwrap_secure, msg, opened, content, lang)

    async def _send_secure(self, job: OutboundJob, msg: MailMessage, stats: CycleStats) -> OutboundJob:
        """A mail to secure-mail addresses: signed, encrypted to every recipient's certificate and sent as
        MIME through sendMail, once per mail and recipient set; or an error receipt, and nothing sent.

        Crash safety: the send is the effect ``securesend:{job}:{recipient set}``, planned before it is
        done; the MIME carries a Message-ID made from the same two, so a repeated attempt first looks for
        the copy Exchange kept in Sent Items and does not send again when it is there. Nothing leaves
        unencrypted: the only send is of what the sealer returned, checked to be enveloped-data."""
        lang = self.settings.language
        gateway = self.settings.gateway_domain
        plan = await self.cpu.run(plan_secure_send, msg, gateway, lang)
        if plan.errors:
            await self._reject(job, plan.findings, plan.errors, stats)
            return job
        key = EffectKey(EffectKind.SECURE_SEND, f"{job.id}:{recipient_set_digest(plan.targets)}")
        message_id = secure_message_id(job.id, plan.targets, gateway)
        if await blocking(self.store.cancellation_requested, job.id) and not await self._secure_sent(
            job, key, message_id
        ):
            return await self._cancel_secure(job, plan.targets, stats)
        sender = self.secure_send
        if sender is None:
            refusal = Finding("securemail.not_configured", text(Text.SECURE_SEND_NOT_CONFIGURED, lang))
            await self._reject(job, [refusal], [refusal], stats)
            return job
        at = self._now.now(UTC)
        chosen: dict[str, RecipientCertificate] = {}
        missing: list[Finding] = []
        for target in plan.targets:
            found = await sender.certificates.lookup(target, at, mailbox=job.mailbox)
            if found.failures:
                await self._alert_source_failures(job.mailbox, found.failures, at)
            if not found.certificates and found.failures:
                # The case worker hears that a source could not be read; IT gets the reason.
                log.warning(
                    "secure mail %s: no certificate for %s and a source failed: %s",
                    job.id,
                    target,
                    "; ".join(found.failures),
                )
                missing.append(
                    Finding(
                        "securemail.source_failed",
                        text(Text.SECURE_SEND_SOURCE_FAILED, lang, recipient=target),
                    )
                )
                continue
            if not found.certificates:
                missing.append(
                    Finding(
                        "securemail.no_certificate",
                        text(Text.SECURE_SEND_NO_CERTIFICATE, lang, recipient=target),
                    )
                )
                continue
            # The one valid longest: a renewed certificate next to the old one wins.
            chosen[target] = max(found.certificates, key=lambda c: c.not_after)
        if missing:
            await self._reject(job, missing, missing, stats)
            return job
        await self._plan_category(job, JobCategory.QUEUED)
        await self.effects.plan(key, {"job": job.id, "targets": list(plan.targets), "message_id": message_id})
        if not await self.effects.is_done(key):
            earlier = await self.mail.find_by_internet_message_id(job.mailbox, "sentitems", message_id)
            if not earlier:
                mime = await self.mail.get_mime(job.mailbox, job.message_id)
                plain = await self.cpu.run(readdress, mime, plan.to, plan.cc, message_id)
                sealed = await self.cpu.run(sender.sealer.seal, plain, list(chosen.values()), at)
                if not _is_enveloped(sealed):  # never: the sealer encrypts; but nothing leaves in clear
                    raise SecureMailError("the sealed message is not encrypted")
                await self.mail.send_mime(job.mailbox, sealed)
            await self.effects.complete(key, {"message_id": message_id, "reused": bool(earlier)})
            await blocking(
                self.store.audit,
                "outbound.securemail.sent",
                job.subject,
                details={
                    "job": job.id,
                    "recipients": list(plan.targets),
                    "certificates": [c.fingerprint for c in chosen.values()],
                    "sources": [c.kind for c in chosen.values()],
                    "reused": bool(earlier),
                },
            )
        lines = [
            {
                "recipient": target,
                "detail": text(
                    Text.SECURE_SEND_SENT,
                    lang,
                    subject=cert.subject,
                    until=cert.not_after.date().isoformat(),
                    source=text(_SOURCE_TEXTS.get(cert.kind, Text.SECURE_SEND_FROM_FILE), lang),
                ),
                "source": cert.kind,
                "fingerprint": cert.fingerprint,
            }
            for target, cert in chosen.items()
        ]
        # Effects first, state last (see _plan).
        await self.effects.plan(
            EffectKey.receipt(job.id), {"job": job.id, "kind": "secure", "lines": lines}, mailbox=job.mailbox
        )
        await self._plan_category(job, JobCategory.SENT)
        # new -> planned -> done (the store's transitions); a crash in between comes back here (advance).
        await blocking(self.store.set_job_state, job.id, JobState.PLANNED)
        await blocking(self.store.set_job_state, job.id, JobState.DONE)
        stats.sent += len(chosen)
        stats.jobs_done += 1
        updated = await blocking(self.store.get_job, job.id)
        return updated if updated is not None else job

    async def _alert_source_failures(self, mailbox: str, failures: Sequence[str], at: datetime) -> None:
        """Tell the monitoring mailbox that a recipient certificate source failed (``"kind: reason"``, as
        ``CertificateLookup.failures`` has them): once per source and day (UTC), mailed at once. Until now
        only the log said so. An alert that cannot be written never stops the mail being sent."""
        if self.alerts is None:
            return
        for failure in dict.fromkeys(failures):
            kind, _, reason = failure.partition(": ")
            key = certificate_source_key(kind, at.date())
            alert = certificate_source_alert(kind, mailbox, reason, self.settings.language)
            try:
                if await self.alerts.plan(key, alert):
                    log.error("recipient certificate source %s failed: monitoring mailbox alerted", kind)
                    await self.alerts.send_now(key)
            except GraphDpgError as exc:
                log.warning("alert %s not planned yet: %s", key, mask_cprs(str(exc)))
            except Exception as exc:  # the alert's failure boundary: the mail goes on
                self.failures.crashed(Stage.ALERT, str(key), exc)

    async def _secure_sent(self, job: OutboundJob, key: EffectKey, message_id: str) -> bool:
        """Whether the secure mail of ``key`` has left: its send recorded as done, or, when a send was
        planned but not recorded (a crash right after sendMail), its copy in Sent Items found by its
        Message-ID. A send never planned never happened (the effect is planned before the send)."""
        effect = await self.effects.get(key)
        if effect is None:
            return False
        if await self.effects.is_done(key):
            return True
        return bool(await self.mail.find_by_internet_message_id(job.mailbox, "sentitems", message_id))

    async def _cancel_secure(
        self, job: OutboundJob, targets: Sequence[str], stats: CycleStats
    ) -> OutboundJob:
        """A secure mail cancelled by an operator (services.letters) before it was sent: nothing is sent,
        and the job ends as a cancelled MeMo job does (``_send``): ``done``, every recipient "not sent"
        with the same words in the receipt mail, the "failed" category and an ``outbound.job.done``
        audit record counting them as failed."""
        note = text(Text.RECEIPT_ROW_CANCELLED, self.settings.language, reference=job.id)
        lines = [{"recipient": t, "detail": note, "status": RecipientStatus.FAILED.value} for t in targets]
        # Effects first, state last (see _plan).
        await self.effects.plan(
            EffectKey.receipt(job.id), {"job": job.id, "kind": "secure", "lines": lines}, mailbox=job.mailbox
        )
        await self._plan_category(job, JobCategory.FAILED)
        await blocking(self.store.set_job_state, job.id, JobState.PLANNED)
        await blocking(
            self.store.set_job_state,
            job.id,
            JobState.DONE,
            audit=AuditEntry(
                "outbound.job.done",
                job.subject,
                details={"job": job.id, OutboxState.FAILED.value: len(targets)},
            ),
        )
        log.info("secure mail %s cancelled before it was sent", job.id)
        stats.send_failed += len(targets)
        stats.jobs_done += 1
        updated = await blocking(self.store.get_job, job.id)
        return updated if updated is not None else job

    async def _send(self, job: OutboundJob, stats: CycleStats, first: _Claim | None = None) -> bool:
        """Send the job's pending rows; True if it set the job DONE (no row left pending). ``first``: the
        first page, claimed already (``plan_and_claim``); else it is claimed here."""
        # planned -> sending with the first batch's in-flight mark, in its transaction (issue 18).
        sending = job.state is JobState.PLANNED
        # The rows are read in pages by a cursor (never all at once), and a batch's results are recorded
        # while the next batch is sent (issue 18): the sends do not wait for that transaction. The next
        # batch is claimed (read and marked) before the recording starts (the store runs one transaction at
        # a time), and the cursor keeps it from reading the rows whose results are still being recorded.
        # A crash before a recording commits re-sends those rows with the same messageUUIDs, marked in
        # flight. The last batch's results are recorded with the job's end (finish_sending, below).
        after = 0
        unrecorded: list[SendOutcome] = []
        try:
            while True:
                # The operator's cancellation, the next page and its in-flight mark: one transaction
                # (claim_pending), committed before the POSTs. A crash between a POST and the record of
                # its result leaves the mark, and the retry then sends with possibly_sent.
                if first is not None:
                    (cancelled, rows), first = first, None
                else:
                    cancelled, rows = await blocking(
                        self.store.claim_pending, job.id, limit=_SEND_BATCH, after_id=after, sending=sending
                    )
                if cancelled:
                    # Cancelled by an operator (services.letters): what was sent stays sent, the rest is not.
                    if unrecorded:
                        await blocking(self.store.record_send_results, unrecorded)
                        unrecorded = []
                    stats.send_failed += await self._fail_pending(job, job.id, Text.RECEIPT_ROW_CANCELLED)
                    break
                if not rows:
                    break
                after = rows[-1].id
                sending = False
                mailbox = job.mailbox.lower()
                earlier, unrecorded = unrecorded, []
                record = self.store.record_send_results
                recording = asyncio.ensure_future(blocking(record, earlier)) if earlier else None
                try:
                    results = await asyncio.gather(
                        *(self._send_one(row, mailbox) for row in rows), return_exceptions=True
                    )
                finally:
                    if recording is not None:
                        await recording
                unrecorded = [r for r in results if isinstance(r, SendOutcome)]
                for o in unrecorded:
                    if o.state is OutboxState.ACCEPTED:
                        stats.sent += 1
                    elif o.state is OutboxState.REJECTED:
                        stats.send_rejected += 1
                    elif o.state is OutboxState.FAILED:
                        stats.send_failed += 1
                    else:
                        stats.retried += 1
                failed = [r for r in results if isinstance(r, BaseException)]
                if failed:
                    await blocking(self.store.record_send_results, unrecorded)
                    unrecorded = []
                    raise failed[0]
                if any(o.state is None for o in unrecorded):
                    break  # the rest waits for its retry time; other jobs go on meanwhile
                if len(rows) < _SEND_BATCH:
                    break  # a short batch held every due row: asking again would find none (two reads saved)
        except BaseException:
            if unrecorded:
                await blocking(self.store.record_send_results, unrecorded)
            raise
        # The last results, one read of the counts for the progress and the category (however many rows),
        # and, with no row left pending, DONE with its receipt and category planned: one transaction
        # (issue 18). The "queued" category, not shown yet, is superseded by then (what running it would
        # record).
        statuses, done = await blocking(self.store.finish_sending, job.id, unrecorded, self._finish(job))
        if done:
            self._templates.pop(job.id, None)
            return True
        if not any(state is OutboxState.PENDING for state, _ in statuses):
            # What set_job_state said of it: the job left sending meanwhile, or is gone.
            raise StoreError(f"outbound job {job.id!r}: not set done (it is no longer being sent)")
        return False

    def _finish(self, job: OutboundJob) -> Callable[[JobStatuses], JobFinish]:
        """What a finished job's DONE writes, from its counts: a pure function (finish_sending runs it in
        its transaction)."""

        def finish(statuses: JobStatuses) -> JobFinish:
            progress = dict.fromkeys(OutboxState, 0)
            for (state, _), n in statuses.items():
                progress[state] += n
            done = AuditEntry(
                "outbound.job.done",
                job.subject,
                details={"job": job.id, **{k.value: v for k, v in progress.items()}},
            )
            return JobFinish(done, self._effect_plans(job, _outcome_of(statuses)[0]), _superseded_queue(job))

        return finish

    async def _send_one(self, row: OutboxEntry, mailbox: str = "") -> SendOutcome:
        """Send one MeMo; the outcome is recorded by the caller with the rest of its batch.

        Before the first send of a MeMo whose main document is HTML, NgDP pre-checks it (``POST
        validations/?policy=STRICT``); a refusal is the recipient line's answer, in words saying what to
        change. After an attempt that may have reached NgDP, the send says so (``possibly_sent``): a 400
        is then settled by asking NgDP whether it has the memo, not reported as a refusal; that includes
        a POST whose outcome a crash kept from being recorded (``in_flight_at`` set, no attempt counted)."""
        xml = row.memo_xml if row.memo_xml is not None else await self._render(row)
        checking = row.attempts == 0 or (row.last_error or "").startswith(_HTML_CHECK)
        async with self._send_slots.slot(mailbox):
            try:
                if checking:
                    refusal = await self._html_refusal(row, xml)
                    if refusal is not None:
                        return SendOutcome(row.message_uuid, OutboxState.REJECTED, error=refusal)
            except AuthError:
                raise
            except TransientError as exc:
                return self._transient(row, exc, prefix=_HTML_CHECK)
            except RemoteError as exc:
                return SendOutcome(row.message_uuid, OutboxState.FAILED, error=mask_cprs(str(exc)))
            try:
                possibly_sent = not checking or row.in_flight_at is not None
                result = await self.ngdp.send_memo(row.message_uuid, xml, possibly_sent=possibly_sent)
            except RejectedError as exc:
                detail = json.dumps(exc.details, ensure_ascii=False) if exc.details else exc.message
                return SendOutcome(row.message_uuid, OutboxState.REJECTED, error=mask_cprs(detail))
            except AuthError:
                # Configuration, not this message: the caller stops the job; the row stays pending.
                raise
            except TransientError as exc:
                return self._transient(row, exc)
            except RemoteError as exc:
                return SendOutcome(row.message_uuid, OutboxState.FAILED, error=mask_cprs(str(exc)))
        return SendOutcome(
            row.message_uuid,
            OutboxState.ACCEPTED,
            transmission_id=result.transmission_id,
            receipt_status=result.receipt_status,
        )

    def _transient(self, row: OutboxEntry, exc: TransientError, prefix: str = "") -> SendOutcome:
        error = prefix + mask_cprs(str(exc))
        if row.attempts + 1 >= self.settings.max_attempts or self._too_old(row.created_at):
            return SendOutcome(row.message_uuid, OutboxState.FAILED, error=error)
        return SendOutcome(row.message_uuid, None, error=error, retry_at=self._retry_at(row.attempts))

    async def _html_refusal(self, row: OutboxEntry, xml: bytes) -> str | None:
        """NgDP's refusal of the MeMo's HTML main document as the case worker reads it, or None (approved,
        or the main document is not HTML). A mass delivery's letters share their template's main document:
        it is read and checked once."""
        shared = f"template:{row.memo_ref}" if row.memo_xml is None and row.memo_ref else None
        if shared is not None and shared in self._html_verdicts:
            return self._html_verdicts[shared]
        refusal = await self._html_verdict(xml)
        if shared is not None:
            self._html_verdicts[shared] = refusal
        return refusal

    async def _html_verdict(self, xml: bytes) -> str | None:
        memo = await self.cpu.run(parse, xml)
        files = memo.body.main_document.files if memo.body is not None else ()
        html = next((f for f in files if f.encoding_format.lower() == "text/html"), None)
        if html is None:
            return None
        digest = hashlib.sha256(html.content).hexdigest()
        if digest not in self._html_verdicts:
            verdict = await self.ngdp.validate_html(html.filename, html.content)
            problems = "; ".join(
                dict.fromkeys(
                    mask_cprs(str(fe.get("message") or fe.get("code") or ""))
                    for fe in verdict.field_errors
                    if fe.get("message") or fe.get("code")
                )
            )
            refusal = (
                None
                if verdict.approved
                else text(
                    Text.RECEIPT_ROW_HTML_REJECTED,
                    self.settings.language,
                    problems=(problems or mask_cprs(verdict.message or verdict.code or "?"))[:500],
                )
            )
            if len(self._html_verdicts) >= 1000:
                self._html_verdicts.clear()
            self._html_verdicts[digest] = refusal
        return self._html_verdicts[digest]

    async def _render(self, row: OutboxEntry) -> bytes:
        """Mass-delivery rows store no XML: the job's first MeMo is the template, re-addressed per row."""
        # The rows of a batch are rendered concurrently: the first reads the template, the others wait
        # for it instead of each reading it again.
        async with self._template_read:
            template = self._templates.get(row.job_id)
            if template is None:
                ref = await blocking(self.store.find_by_message_uuid, row.memo_ref or "", with_xml=True)
                if ref is None or ref.memo_xml is None:
                    raise GraphDpgError(f"template MeMo {row.memo_ref} of job {row.job_id} is missing")
                template = ref.memo_xml
                self._templates[row.job_id] = template
        return await self.cpu.run(
            render_from_template, template, row.message_uuid, row.recipient_kind, row.recipient_id
        )

    def _retry_at(self, attempts: int) -> datetime:
        backoff = Backoff(self.settings.retry_base_seconds, self.settings.retry_max_seconds)
        return self._now.now(UTC) + timedelta(seconds=backoff.delay(attempts + 1))

    # ------------------------------------------------------------------ 4. receipts and categories
    async def _recipient_lines(
        self, job_id: str, rows: list[OutboxEntry] | None = None
    ) -> list[RecipientLine]:
        """The job's recipients as its receipt shows them, read a page of rows at a time (a mass delivery's
        100,000 are never one read). ``rows``: every row of the job, read already (``_EffectPage``)."""
        if rows is not None:
            shown = [_line(e) for e in rows]
            return await self._annotated(shown, rows) if 0 < len(rows) <= NAMED_RECIPIENTS_MAX else shown
        lines: list[RecipientLine] = []
        after = 0
        page_size = 5000
        while True:
            page = await blocking(self.store.list_outbox, job_id, after_id=after, limit=page_size)
            if not page:
                return lines
            lines.extend(_line(e) for e in page)
            if after == 0 and len(page) <= NAMED_RECIPIENTS_MAX:
                lines = await self._annotated(lines, page)
            if len(page) < page_size:
                return lines  # a short page is the last: no transaction to read an empty one
            after = page[-1].id

    async def _annotated(self, lines: list[RecipientLine], rows: list[OutboxEntry]) -> list[RecipientLine]:
        return await annotate_recipient_lines(
            lines,
            rows,
            names=self.names,
            digital_post=self.ngdp,
            language=self.settings.language,
            registrations=self._registrations,
        )

    async def _job_category(
        self, job_id: str, planned: JobCategory | None = None, page: _EffectPage | None = None
    ) -> JobCategory:
        """The job's category from its rows' outcomes. ``page``: its counts as read for the page of
        effects (``_EffectPage``), used when they give ``planned``, the category the effect was planned
        for; else they are read again (and kept for the page's later effects).

        Why counts older than the effect's run may be used when they give ``planned``: a finished job's
        outcome only moves forward (sent → receipted → failed; a late RECEIVED never overwrites a final
        receipt status: ``Receipts.record_receipt``), and a business receipt that moves it is recorded,
        then applied, and applying it plans the category of the outcome then
        (``apply_business_receipts``), under that category's key. A move after the page's read is to a
        category other than ``planned``, so its key is another effect's: one not yet done, which shows
        it when it runs (reading again, as its category is not what the page's counts give). Counts
        that do not give ``planned`` may be older than the effect's planning, so they are read again,
        as every category effect read them before issue 18."""
        known = page.statuses.get(job_id) if page is not None else None
        if known is not None and planned is not None:
            category = _outcome_of(known)[0]
            if category is planned:
                return category
        fresh = await blocking(self.store.job_statuses, job_id)
        if page is not None:
            page.statuses[job_id] = fresh
        return _outcome_of(fresh)[0]

    def _effect_plans(
        self, job: OutboundJob, category: JobCategory, findings: Sequence[Finding] = ()
    ) -> list[EffectPlan]:
        """The receipt and the category of a finished job, planned with its final state."""
        receipt = EffectPlan(
            str(EffectKey.receipt(job.id)),
            {
                "job": job.id,
                "kind": "error" if findings else "receipt",
                "findings": [_finding_dict(f) for f in findings],
                NOTES_ATTEMPTS: True,
            },
            job.mailbox,
        )
        return [receipt, self._category_plan(job, category)]

    @staticmethod
    def _category_plan(job: OutboundJob, category: JobCategory) -> EffectPlan:
        return EffectPlan(
            str(EffectKey.category(job.id, category.value)),
            {"job": job.id, "category": category.value},
            job.mailbox,
        )

    async def _plan_category(self, job: OutboundJob, category: JobCategory) -> None:
        plan = self._category_plan(job, category)
        await self.effects.plan(EffectKey.category(job.id, category.value), plan.payload, mailbox=job.mailbox)

    async def run_effects(
        self,
        limit: int = 200,
        *,
        mailboxes: Collection[str] | None = None,
        unowned: bool = False,
        keep_going: Callable[[], bool] = lambda: True,
    ) -> int:
        """Write the pending receipt mails and categories (oldest first); returns how many were done.

        ``mailboxes``: only the effects of these function mailboxes (the runtime passes those whose lease
        it holds); ``unowned``: also (or, without ``mailboxes``, only) those owned by no mailbox. Default:
        every effect (one process, no leases). "Owned by no mailbox" includes a mailbox no longer
        configured, so its planned effects are still carried out.

        Issue 18 (cost of one mail): the page's store work is done in a few transactions, not several per
        effect. Before the first effect runs, ``_read_effect_page`` reads the page's jobs, their outcomes
        and the rows of its small receipt jobs, and notes the first attempts of its receipts; the effects'
        completions are committed ``_EFFECT_COMMIT_BATCH`` at a time (``EffectBook.run_pending``: a crash
        before such a commit repeats those effects, each of which finds its own earlier result: a receipt
        mail by its marker, a category already shown is read and not written)."""
        page = _EffectPage()

        async def read_page(effects: list[PlannedEffect]) -> None:
            await self._read_effect_page(page, effects)

        async def run(effect: PlannedEffect) -> Mapping[str, object] | Completed | None:
            return await self._run_effect(effect, page.jobs.get(_job_of(effect)), page)

        done = await self.effects.run_pending(
            EffectKind.RECEIPT,
            EffectKind.CATEGORY,
            action=run,
            limit=limit,
            mailboxes=mailboxes,
            unowned=unowned,
            known=[m.address for m in self.settings.mailboxes] if unowned else (),
            keep_going=keep_going,
            prepare=read_page,
            batch=_EFFECT_COMMIT_BATCH,
        )
        return len(done)

    async def _read_effect_page(self, page: _EffectPage, effects: list[PlannedEffect]) -> None:
        """Read what the page of ``effects`` needs before the first runs, one transaction each (issue 18):
        its jobs, the outcomes of the finished ones (rows counted by state and receipt status), the first
        attempts of its receipts noted, and every row of each receipt job with few rows.

        Read before the effects run, each may be older than its effect's run; why that is safe:
        - a job's state only moves forward, and what an effect does depends on it being finished
          (``_write_category``), which a finished job stays; a receipt uses what planning fixed (subject,
          warnings, mailbox);
        - outcomes: see ``_job_category`` (used only when they give the category planned);
        - rows: a finished job has all its rows, and only their business receipt status changes. One
          recorded after the read is applied after it too, and applying a refusal to a finished job plans
          an updated receipt (``_plan_update``), which reads the rows when it runs and tells what the first
          did not report (``reported``), as when the refusal comes after the receipt was written. Updated
          receipts read their rows themselves: a refusal missing from theirs would be lost;
        - attempts noted that never happen (the run stops before them) only cost those receipts' next
          attempts their marker lookup (``EffectBook.first_attempts``)."""
        page.jobs.update(await blocking(self.store.get_jobs, {_job_of(e) for e in effects}))
        finished = sorted(j.id for j in page.jobs.values() if j.state in JOB_TERMINAL)
        if finished:
            found = await blocking(self.store.jobs_statuses, finished)
            page.statuses.update({job_id: found.get(job_id, {}) for job_id in finished})
        receipts = [
            e
            for e in effects
            if e.key.kind is EffectKind.RECEIPT
            and e.key.update_generation is None
            and _job_of(e) in page.jobs
        ]
        noted = [e.key for e in receipts if e.payload.get(NOTES_ATTEMPTS)]
        if noted:
            page.first = await self.effects.first_attempts(noted)
        # The rows of receipts that show them (not an error receipt's or a secure mail's), bounded per job
        # and per page: a mass delivery's are read a page at a time when its receipt is written.
        sizes: dict[str, int] = {}
        room = _PAGE_ROWS
        for e in receipts:
            job_id = _job_of(e)
            counts = page.statuses.get(job_id)
            if counts is None or job_id in sizes or e.payload.get("kind") in ("error", "secure"):
                continue
            n = sum(counts.values())
            if n <= min(_PAGE_ROWS_PER_JOB, room):
                sizes[job_id] = n
                room -= n
        wanted = [job_id for job_id, n in sizes.items() if n]
        found_rows = await blocking(self.store.outbox_of_jobs, wanted) if wanted else {}
        for job_id, n in sizes.items():
            rows = found_rows.get(job_id, [])
            if len(rows) == n:  # else (changed since counted) read when its receipt is written
                page.rows[job_id] = rows

    async def _run_effect(
        self, effect: PlannedEffect, job: OutboundJob | None = None, page: _EffectPage | None = None
    ) -> Mapping[str, object] | Completed | None:
        """Carry out one receipt or category effect; ``job``: its job as read for the page (else read);
        ``page``: what was read for the page of effects (``_EffectPage``)."""
        if job is None:
            job = await blocking(self.store.get_job, _job_of(effect))
        if job is None:
            return {"skipped": "job gone"}
        if effect.key.kind is EffectKind.RECEIPT:
            try:
                if effect.key.update_generation is not None:
                    return await self._write_update(job, effect)
                return await self._write_receipt(job, effect.key, effect.payload, page=page)
            except GraphDpgError:
                raise
            except Exception as exc:
                if effect.payload.get("kind") == "failure":
                    raise  # the plainest receipt there is: the effect book closes it as failed
                # The receipt could not be written as planned (a bug, or a finding nobody foresaw): the
                # sender still gets an answer, the plain "internal error" one.
                shown = self.failures.crashed(Stage.OUTBOUND_EFFECT, str(effect.key), exc)
                plain = {"job": job.id, "kind": "failure", "reason": "receipt", "error": shown}
                return await self._write_receipt(job, effect.key, {**plain, "reference": job.id}, page=page)
        return await self._write_category(job, JobCategory(str(effect.payload["category"])), page)

    async def _write_receipt(
        self,
        job: OutboundJob,
        key: EffectKey,
        payload: Mapping[str, object],
        *,
        update: _Update | None = None,
        page: _EffectPage | None = None,
    ) -> Completed:
        """Write one receipt mail (found by its marker if an earlier attempt wrote it). Its result records
        the recipients it showed as refused by a business receipt (``reported``), which the next updated
        receipt compares with, and its Internet Message-ID, which updates are threaded to. ``page``: what
        was read for its page of effects (``_EffectPage``: the job's rows, its first attempt noted)."""
        shown: list[RecipientLine] = []
        lang = self.settings.language
        rows = page.rows.get(job.id) if page is not None and update is None else None

        async def build() -> MailMessage:
            sent_at = job.sent_at
            if update is not None:
                shown.extend(update.lines)
                mail = await self.cpu.run(
                    render_receipt,
                    job.subject,
                    update.lines,
                    language=lang,
                    sent_at=sent_at,
                    changed=update.changed,
                )
            elif payload.get("kind") == "failure":
                mail = await self._failure_receipt(job, payload, shown, rows)
            elif payload.get("kind") == "error":
                findings = payload.get("findings")
                mail = await self.cpu.run(_error_receipt, job.subject, findings, lang, sent_at)
            elif payload.get("kind") == "secure":
                secure_lines = [_secure_line(d) for d in _as_list(payload.get("lines"))]
                mail = await self.cpu.run(
                    render_receipt, job.subject, secure_lines, language=lang, sent_at=sent_at
                )
            else:
                legacy = not job.warnings and not job.warnings_kept
                noted = await self._legacy_warnings(job.id) if legacy else job.warnings
                warnings = [_stored_warning(w) for w in noted]
                shown.extend(await self._recipient_lines(job.id, rows))
                mail = await self.cpu.run(
                    render_receipt, job.subject, shown, language=lang, warnings=warnings, sent_at=sent_at
                )
            await self._ensure_categories(job.mailbox)
            threading = [] if update is None or not update.thread else [update.thread]
            return MailMessage(
                subject=mail.subject,
                body=mail.html,
                body_type="html",
                sender=EmailAddress(job.mailbox, text(Text.GATEWAY_SENDER_NAME, lang)),
                to=[EmailAddress(job.mailbox)],
                attachments=[Attachment(n, "text/plain", c, size=len(c)) for n, c in mail.attachments],
                headers=[h for t in threading for h in (Header("In-Reply-To", t), Header("References", t))],
                categories=[self.settings.category_name(RECEIPT_CATEGORY)],
                internet_message_id=message_id,
            )

        # The marker is the effect's key, unique per receipt mail: an earlier copy (a crash after the
        # create) is found by it. Its first attempt, noted as such in the store before anything is
        # written, has no earlier copy to look for (issue 18: one Graph round trip less per letter);
        # receipts planned before attempts were noted are always looked for. With a page, the attempt was
        # noted with the page's others before the first ran (``_read_effect_page``), and the answer is used
        # once: a second try in this run (the plain receipt after a failed one) looks.
        message_id = receipt_message_id(key)
        marker = Marker(RECEIPT_PROPERTY, str(key))
        if not payload.get(NOTES_ATTEMPTS):
            first = False
        elif page is not None:
            first = page.take_first(key)
        else:
            first = await self.effects.first_attempt(key)
        written = await marker.find_or_create(
            self.mail, job.mailbox, self.settings.receipt_folder, build, first_attempt=first
        )
        # The audit record is written with the effect's completion, in its transaction (issue 18): once per
        # receipt mail, also when an attempt that crashed before completing it had created the mail.
        details: dict[str, object] = {"job": job.id, "message_id": written.message_id}
        if written.created:
            reported = sorted(r.message_uuid for r in shown if r.ngdp_status)
        else:
            # Written by an earlier attempt, which may have shown less than is recorded now: only what an
            # earlier mail surely showed counts as told (an update may then repeat a refusal, never lose one).
            reported = sorted(update.reported) if update is not None else []
            details["reused"] = True
        return Completed(
            {**written.result(), "internet_message_id": message_id, "reported": reported},
            AuditEntry("outbound.receipt.written", job.subject, details=details),
        )

    async def _write_update(
        self, job: OutboundJob, effect: PlannedEffect
    ) -> Mapping[str, object] | Completed | None:
        """An updated receipt: the recipients a business receipt refused since the last receipt mail of
        the job, and the whole delivery as it stands, threaded to the first receipt. Nothing is written
        when nothing changed since (e.g. the first receipt was written after the business receipt came)."""
        generation = effect.key.update_generation or 1
        first = EffectKey.receipt(job.id)
        previous_key = first if generation <= 1 else EffectKey.receipt_update(job.id, generation - 1)
        previous = await self.effects.get(previous_key)
        if previous is not None and previous.state is EffectState.PLANNED:
            return None  # the mail before this one first: this one says what changed since
        reported = {str(u) for u in _as_list((previous.result or {}).get("reported"))} if previous else set()
        lines = await self._recipient_lines(job.id)
        changed = [r for r in lines if r.ngdp_status and r.message_uuid not in reported]
        if not changed:
            return {"skipped": "nothing changed", "reported": sorted(reported)}
        thread = await self._thread_of(job, first if previous_key == first else None)
        update = _Update(lines, changed, frozenset(reported), thread)
        return await self._write_receipt(job, effect.key, effect.payload, update=update)

    async def _thread_of(self, job: OutboundJob, first_key: EffectKey | None) -> str | None:
        """The Internet Message-ID of the job's first receipt mail (None: there is none to thread to)."""
        first = await self.effects.get(first_key or EffectKey.receipt(job.id))
        result = first.result if first is not None and first.state is EffectState.DONE else None
        if not result or not result.get("message_id"):
            return None
        # Read back rather than trusted as created: receipts of earlier versions have Exchange's Message-ID
        # (and graph.internet-message-id is an inference). Updates are rare: one read each.
        try:
            found = await self.mail.get_message(job.mailbox, str(result["message_id"]))
        except NotFoundError:
            return None  # deleted meanwhile: the update stands alone
        return found.internet_message_id or (str(result.get("internet_message_id") or "") or None)

    async def _ensure_categories(self, mailbox: str) -> None:
        """First use in this process: the master list must hold our categories with their colours."""
        if mailbox.lower() not in self._categories_ready:
            await self.mail.ensure_master_categories(mailbox, dict(self.settings.categories.values()))
            self._categories_ready.add(mailbox.lower())

    async def _failure_receipt(
        self,
        job: OutboundJob,
        payload: Mapping[str, object],
        shown: list[RecipientLine],
        rows: list[OutboxEntry] | None = None,
    ) -> ReceiptMail:
        """The receipt of a job given up (``_give_up``), in the words of the catalogue."""
        lang = self.settings.language
        if payload.get("reason") == "gave_up":
            what = text(
                Text.RECEIPT_FAILURE_GAVE_UP,
                lang,
                attempts=payload.get("attempts") or 1,
                error=str(payload.get("error") or ""),
            )
        elif payload.get("reason") == "receipt":
            what = text(Text.RECEIPT_FAILURE_RECEIPT, lang)
        else:
            what = text(Text.RECEIPT_FAILURE_INTERNAL, lang)
        reference = str(payload.get("reference") or job.id)
        shown.extend(await self._recipient_lines(job.id, rows))
        return render_failure_receipt(job.subject, what, reference, shown, language=lang, sent_at=job.sent_at)

    async def _legacy_warnings(self, job_id: str) -> tuple[str, ...]:
        """Earlier versions kept a job's warnings as an effect ``warnings:{job}``; it is done once read."""
        effect = await blocking(self.store.get_effect, f"{_LEGACY_WARNINGS}{job_id}")
        if effect is None:
            return ()
        if effect.state is EffectState.PLANNED:
            await blocking(self.store.complete_effect, effect.key, {"noted": True})
        return tuple(str(w) for w in _as_list(effect.payload.get("warnings")))

    async def _write_category(
        self, job: OutboundJob, planned: JobCategory, page: _EffectPage | None = None
    ) -> dict[str, object] | None:
        """Show the job's state category on its original. The category is computed now, from the job's
        state and its recipients' recorded outcomes, not taken from when it was planned: a business
        receipt recorded in between is then never lost, whatever the order (see ``_current_category``;
        ``page``: the outcomes read for the page of effects, see ``_job_category``)."""
        if planned is JobCategory.QUEUED:
            if job.state in JOB_TERMINAL:
                # Planned before the crash that delayed it; the job's final category has been planned since.
                return {"skipped": "superseded"}
            category = JobCategory.QUEUED
        elif job.state not in JOB_TERMINAL:
            # Planned just before the job's final state is recorded (effects first, state last): wait for it,
            # or this would show the category of a job that is not finished.
            return None
        else:
            category = await self._current_category(job, planned, page)
        await self._ensure_categories(job.mailbox)
        names = {key: self.settings.category_name(key) for key in (c.value for c in JobCategory)}
        mine = set(names.values())
        current = await self.mail.get_categories(job.mailbox, job.message_id)
        keep = [c for c in current if c not in mine]
        wanted = [*keep, names[category.value]]
        # Already shown (a replay, or an earlier effect of the job saw this state already): no write.
        if list(dict.fromkeys(wanted)) != current:
            await self.mail.set_categories(job.mailbox, job.message_id, wanted)
        return {"categories": wanted, "category": category.value}

    async def _current_category(
        self, job: OutboundJob, planned: JobCategory | None = None, page: _EffectPage | None = None
    ) -> JobCategory:
        """The final category of a finished job, from what is recorded now.

        Why every order converges: a category effect is planned whenever the category may have changed
        (when the job finishes, and when a business receipt is applied to a finished job) and shows the
        category as it is when applied. Receipts recorded before the job finished are in the outcomes by
        the time its final category is applied (that waits for the final state). For a finished job the
        category only moves forward (sent → receipted → failed), so an effect planned for a category that
        was already shown by an earlier one is rightly a no-op."""
        if job.state is JobState.DONE and job.channel == SECURE_CHANNEL:
            # Sent by sendMail (no business receipt follows), or cancelled before: as its receipt says.
            receipt = await self.effects.get(EffectKey.receipt(job.id))
            lines = [_secure_line(d) for d in _as_list(receipt.payload.get("lines"))] if receipt else []
            return category_for(lines) if lines else JobCategory.SENT
        if job.state is JobState.DONE:
            return await self._job_category(job.id, planned, page)
        return JobCategory.FAILED  # rejected before sending, or given up

    async def ensure_categories(self) -> None:
        wanted = dict(self.settings.categories.values())
        for mb in self.settings.mailboxes:
            await self.mail.ensure_master_categories(mb.address, wanted)

    async def refresh_contact_points(self) -> int:
        """Read every contact point's limits from NgDP (the runtime refreshes them periodically)."""
        points = await self.ngdp.list_contact_points()
        self.use_contact_points(points)
        return len(points)

    def use_contact_points(self, points: Sequence[ContactPointInfo]) -> None:
        """Plan with these contact points' limits from now on (every replica plans, so each keeps a copy)."""
        self._contact_point_limits = {
            p.id.lower(): (p.memo_size_threshold_mb, p.allowed_number_of_attachments)
            for p in points
            if p.active
        }

    # ------------------------------------------------------------------ 5. business receipts
    async def pull_business_receipts(self) -> int:
        """Fetch NgDP's business receipts, record them durably, then delete them at NgDP."""
        count = 0
        # receipts-bulk/ (OpenAPI BulkFetchReceiptsAsync): the waiting receipts in a few requests, not one
        # GET per receipt; a first page at a time, recorded and deleted before the next is read (a mass
        # delivery leaves 100,000 waiting: never all in memory, issue 18). What is deleted leaves the
        # queue, so the next read starts from the front again; a read returning the same receipts as the
        # one before (their deletion had no effect) ends the pull.
        previous: list[str] = []
        for _ in range(_MAX_RECEIPT_ROUNDS):
            batch = await self.ngdp.fetch_receipts(limit=RECEIPT_BATCH)
            ids = [r.id for r in batch]
            if not batch or ids == previous:
                break
            previous = ids
            recorded = [
                (
                    receipt.id,
                    dict(receipt.raw)
                    or {
                        "messageUUID": receipt.message_uuid,
                        "receiptStatus": receipt.receipt_status,
                        "transmissionId": receipt.transmission_id,
                        "errorCode": receipt.error_code,
                        "errorMessage": receipt.error_message,
                    },
                )
                for receipt in batch
            ]
            # The whole batch in one transaction (issue 18), and only then deleted at NgDP: a crash in
            # between leaves them queued there, and recording them again is a no-op.
            await blocking(self.store.record_receipts, recorded)
            for receipt_id, _ in recorded:
                await self.ngdp.delete_receipt(receipt_id)  # only after it is safely recorded
                count += 1
        return count

    async def apply_business_receipts(
        self, limit: int = 1000, *, claim_as: str | None = None, claim_s: float = 60.0
    ) -> int:
        """Reflect recorded receipts in the jobs' categories (and a failure receipt mail).

        ``claim_as``: a replica's name; the batch is then claimed for ``claim_s`` seconds (any replica
        applies receipts, each its own batch: issue 18). Without it, every unprocessed receipt is read (one
        process). Applying is idempotent (below), so a claim that expires mid-batch, or a replica dying
        mid-batch, costs a repeat, never a loss or a double."""
        # Crash order: the jobs' categories are planned in the transaction that marks the receipts processed
        # (issue 18: one for the batch), and updated receipts before it. A crash before it applies the same
        # receipts again (planning is find-or-create, so nothing doubles); marking before planning lost the
        # category of every job whose receipt was marked but not yet planned.
        # One updated receipt per job and batch, whatever the number of refusals in it (see _plan_update).
        touched: dict[str, bool] = {}  # job → a receipt of this batch refuses one of its letters
        if claim_as is not None:
            receipts = await blocking(self.store.claim_receipts, claim_as, claim_s, limit)
        else:
            receipts = await blocking(self.store.unprocessed_receipts, limit=limit)
        if not receipts:
            return 0
        uuids = {r.message_uuid for r in receipts if r.message_uuid}
        job_of = await blocking(self.store.jobs_of_messages, uuids) if uuids else {}
        for r in receipts:
            job_id = job_of.get(r.message_uuid or "")
            if job_id is not None:
                refused = (r.receipt_status or "") in _RECEIPT_FAILURES
                touched[job_id] = touched.get(job_id, False) or refused
        jobs = await blocking(self.store.get_jobs, set(touched)) if touched else {}
        # The finished jobs' category, and whether a business receipt refused one of their letters: both
        # depend only on which statuses occur, so they are read as counts by state and receipt status
        # (100,000 lines are never held for them), for the batch's jobs in one read (issue 18), after
        # the receipts were recorded.
        finished = [job_id for job_id in touched if (j := jobs.get(job_id)) and j.state in JOB_TERMINAL]
        outcomes = await blocking(self.store.jobs_statuses, finished) if finished else {}
        categories: list[EffectPlan] = []
        for job_id, refused in touched.items():
            job = jobs.get(job_id)
            if job is None or job.state not in JOB_TERMINAL:
                continue  # its first receipt, written once it is finished, shows these receipts
            category, any_refused = _outcome_of(outcomes.get(job_id, {}))
            categories.append(self._category_plan(job, category))
            if refused and any_refused:
                await self._plan_update(job)
        await blocking(
            self.store.mark_receipts_processed, [r.receipt_id for r in receipts], effects=categories
        )
        return len(receipts)

    async def _plan_update(self, job: OutboundJob) -> None:
        """Plan the job's next updated receipt, unless one is still planned (it will show these changes
        too: several business receipts before it is written make one update). Generations are numbered,
        so a replay of the same receipts after a crash finds the one it planned; one planned after the
        previous was written and with nothing new to say is closed without a mail (``_write_update``)."""
        for generation in range(1, MAX_RECEIPT_UPDATES + 1):
            key = EffectKey.receipt_update(job.id, generation)
            found = await self.effects.get(key)
            if found is None:
                await self.effects.plan(key, {"job": job.id, "kind": "update"}, mailbox=job.mailbox)
                return
            if found.state is EffectState.PLANNED:
                return
        log.warning("outbound job %s: %d updated receipts; no further one", job.id, MAX_RECEIPT_UPDATES)


class _Claim(NamedTuple):
    """A page of a job's sends claimed in the store (``claim_pending``, ``plan_and_claim``): whether an
    operator cancelled the job (nothing claimed then), and the rows as they were before their in-flight
    mark."""

    cancelled: bool
    rows: list[OutboxEntry]


@dataclass(frozen=True)
class _Update:
    """What an updated receipt shows: every recipient as recorded now, those newly refused, the refusals
    earlier mails told, and the Message-ID of the first receipt (its thread)."""

    lines: list[RecipientLine]
    changed: list[RecipientLine]
    reported: frozenset[str]
    thread: str | None


#: Completions of receipt and category effects committed in one transaction (``EffectBook.run_pending``'s
#: ``batch``, issue 18); a crash before such a commit repeats at most this many effects' actions, each of
#: which finds its own earlier result.
_EFFECT_COMMIT_BATCH = 50
#: A receipt job's rows are read with its page of effects (``_read_effect_page``) if it has at most this
#: many (a single letter's one), and at most ``_PAGE_ROWS`` for the page; a bigger job's are read a page at
#: a time when its receipt is written.
_PAGE_ROWS_PER_JOB = NAMED_RECIPIENTS_MAX
_PAGE_ROWS = 2000


@dataclass
class _EffectPage:
    """What was read for a page of receipt and category effects before the first ran
    (``OutboundService._read_effect_page``), by job id; and the receipts whose attempt was noted as the
    first (``EffectBook.first_attempts``), each answer good for one attempt (``take_first``)."""

    jobs: dict[str, OutboundJob] = field(default_factory=dict)
    statuses: dict[str, dict[tuple[OutboxState, str | None], int]] = field(default_factory=dict)
    rows: dict[str, list[OutboxEntry]] = field(default_factory=dict)
    first: set[EffectKey] = field(default_factory=set)

    def take_first(self, key: EffectKey) -> bool:
        """Whether this attempt at ``key`` is its first noted one; False from then on in this page."""
        if key in self.first:
            self.first.discard(key)
            return True
        return False


def _error_receipt(subject: str, findings: object, language: str, sent_at: datetime | None) -> ReceiptMail:
    """The error receipt from the findings as the effect's payload keeps them."""
    found = [_finding_from(d) for d in _as_list(findings)]
    return render_error_receipt(subject, found, language=language, sent_at=sent_at)


def _parse_or_none(xml: bytes | None) -> MemoMessage | None:
    if xml is None:
        return None
    try:
        return parse(xml)
    except GraphDpgError:
        return None


#: What is recorded for a job whose mail was deleted before the gateway read it.
_VANISHED = "the mail was deleted from the mailbox before the gateway read it: nothing was sent"

#: Earlier versions kept a job's planning warnings as an effect under this key prefix.
_LEGACY_WARNINGS = "warnings:"


def _is_enveloped(mime: bytes) -> bool:
    """Is the whole message S/MIME enveloped-data (what the sealer must return before anything is sent)?"""
    parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(mime)
    params = {str(k): str(v) for k, v in parsed.get_params(header="content-type", failobj=[])[1:]}
    return smime_kind(parsed.get_content_type(), params) is SmimeKind.ENVELOPED


def _secure_line(d: object) -> RecipientLine:
    """One recipient of a secure mail's receipt: sent (accepted), or not sent (``status`` failed: the mail
    was cancelled); lines planned before ``status`` existed were all sent."""
    data = d if isinstance(d, Mapping) else {}
    try:
        status = RecipientStatus(str(data.get("status", RecipientStatus.ACCEPTED.value)))
    except ValueError:
        status = RecipientStatus.ACCEPTED
    return RecipientLine(str(data.get("recipient", "")), status, detail=str(data.get("detail", "")))


def _channel_of(address: str) -> str:
    host = address.rsplit("@", 1)[-1].lower()
    for ch in Channel:
        if f".{ch.value}." in f".{host}":
            return ch.value
    return Channel.NGDP.value


_RECEIPT_FAILURES = {"INVALID", "NOT_ALLOWED"}

#: The recorded error of a row whose HTML pre-check failed transiently: the pre-check is asked again, and
#: the row counts as not sent yet.
_HTML_CHECK = "html-check: "


def _status(state: OutboxState, receipt_status: str | None) -> tuple[RecipientStatus, str]:
    """A recipient's status from its row's state and business receipt status, and the receipt status
    that refused it ("" if none did)."""
    if state is OutboxState.PENDING:
        return RecipientStatus.PENDING, ""
    if state is OutboxState.REJECTED:
        return RecipientStatus.REJECTED, ""
    if state is OutboxState.FAILED:
        return RecipientStatus.FAILED, ""
    if receipt_status in _RECEIPT_FAILURES:
        return RecipientStatus.REJECTED, receipt_status or ""
    if receipt_status == "COMPLETED":
        return RecipientStatus.COMPLETED, ""
    return RecipientStatus.ACCEPTED, ""


def _outcome_of(statuses: Mapping[tuple[OutboxState, str | None], int]) -> tuple[JobCategory, bool]:
    """A job's category and whether a business receipt refused one of its letters, from its rows counted
    by state and receipt status (``Outbox.job_statuses``)."""
    seen = [_status(state, receipt) for (state, receipt), n in statuses.items() if n]
    return category_for([RecipientLine("", s) for s, _ in seen]), any(refused for _, refused in seen)


def _job_of(effect: PlannedEffect) -> str:
    return str(effect.payload.get("job", ""))


def _superseded_queue(job: OutboundJob) -> dict[str, Mapping[str, object]]:
    """For a job's final state change: its "queued" category, if still planned, is done as superseded
    (what ``_write_category`` records for it once the job is finished), so it costs no later run."""
    return {str(EffectKey.category(job.id, JobCategory.QUEUED.value)): {"skipped": "superseded"}}


def _line(e: OutboxEntry) -> RecipientLine:
    from graph_dpg.domain.identifiers import mask_cpr

    shown = mask_cpr(e.recipient_id) if e.recipient_kind == "cpr" else e.recipient_id
    status, ngdp_status = _status(e.state, e.receipt_status)
    detail = "" if ngdp_status else (_error_text(e.last_error) if e.last_error else "")
    return RecipientLine(shown, status, e.message_uuid, detail, line=e.line, ngdp_status=ngdp_status)


#: NgDP's error answers are small; a longer recorded error is shown as it is, not parsed.
_MAX_ERROR_JSON_CHARS = 64_000


def _error_text(raw: str) -> str:
    """NgDP's ErrorMessage JSON → one readable line (code: message; field errors)."""
    if len(raw) > _MAX_ERROR_JSON_CHARS:
        return raw[:1000]
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested beyond the decoder's stack
        return raw
    if not isinstance(doc, dict):
        return raw
    parts = [f"{doc.get('code', '')}: {doc.get('message', '')}".strip(": ")]
    for fe in doc.get("fieldErrors") or []:
        if isinstance(fe, dict):
            parts.append(f"{fe.get('field', '')} {fe.get('message', '')}".strip())
    return "; ".join(p for p in parts if p)


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def _finding_dict(f: Finding) -> dict[str, object]:
    params = {str(k): v if isinstance(v, int) else str(v) for k, v in f.params.items()}
    return {"rule": f.rule, "message": f.message, "path": f.path, "severity": f.severity, "params": params}


def _finding_from(d: object) -> Finding:
    if isinstance(d, Mapping):
        raw = d.get("params")
        params = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}
        return Finding(
            str(d.get("rule", "")),
            str(d.get("message", "")),
            str(d.get("path", "")),
            str(d.get("severity", "error")),
            params=params,
        )
    return Finding("error", str(d))


def _stored_warning(stored: str) -> Finding:
    """A job's warning as recorded: its finding's JSON, or (jobs planned by earlier versions) its text."""
    if stored.startswith("{"):
        try:
            doc = json.loads(stored)
        except ValueError:
            doc = None
        if isinstance(doc, Mapping):
            return replace(_finding_from(doc), severity="warning")
    return Finding("warning", stored, severity="warning")
