"""Ports of the state store: what the services may ask of durable state, split by use case.

The segments below (source messages, delta links, outbox, effects, ...) are small, and each service takes
a protocol composed of exactly the segments it calls (:class:`OutboundStore`, :class:`MemoStore`,
:class:`MailStore`, :class:`RuleStore`, :class:`InboundStore`; effects and alerts take :class:`Effects`,
the lease keeper the :class:`Leases` segment), so a service and its fake in tests depend only on what it
uses. :class:`StatePort` is every segment together, which is what ``graph_dpg.adapters.store.SqlStore``
implements; the composition root hands that one object to each service, and mypy checks it against each
service's protocol. Every method is one short database transaction: the store never holds a lock across
network I/O, so callers do the remote call *between* two store calls (plan → send → record).

State machines (the SQL adapter enforces the transitions; an illegal one raises ``StoreError``)::

    source message   (absent) --claim_source_message--> claimed            (never leaves)

    outbound job     new --> planned --> sending --> done        (done also <- planned: nothing to send)
                     rejected <- new | planned                  (validation failed; error receipt)
                     failed   <- new | planned | sending        (gave up; error text kept)
                     Setting the state a job already has is a no-op, so a step repeated after a
                     crash is harmless. A job that could not be advanced for a transient reason stays
                     where it is with attempts+1, the error text and a time before which it waits
                     (``record_job_retry``).

    outbox row       pending --> accepted   (NgDP 201; transmission id + receipt status kept)
                     pending --> rejected   (NgDP 400 ErrorMessage JSON in last_error)
                     pending --> failed     (gave up after transient errors)
                     pending --> pending    (transient failure: attempts+1, last_error, not before retry_at)
                     pending --> pending    (``mark_in_flight`` or ``claim_pending`` before the POSTs:
                                            in_flight_at, once)
                     The first four by ``record_send_results`` (or ``finish_sending``). Business receipts
                     set ``receipt_status`` (a late RECEIVED never overwrites a final status). An outcome
                     for a row that already left ``pending`` changes nothing.

    effect           (absent) --plan_effect--> planned --complete_effect--> done

    business receipt (absent) --record_receipt--> unprocessed --mark_receipt_processed--> processed

    inbound memo     (absent) --store--> received --> delivered --> acknowledged --> deleted
                     delivered --> deleted  (mail-sourced memos have nothing to acknowledge; a pulled
                                            memo's receipt and delete recorded together)
                     (failures stay in their state with attempts+1 and the error text)

    (an operator's retry and cancel add transitions: see ``graph_dpg.ports.console``)

    lease            free --acquire_some--> held(owner, expires_at) --release--> free
                     held --(expires_at passes, DB clock)--> takeable by any owner
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from graph_dpg.ports.leases import ReplicaLeases


class JobState(enum.StrEnum):
    NEW = "new"
    PLANNED = "planned"
    SENDING = "sending"
    DONE = "done"
    REJECTED = "rejected"
    FAILED = "failed"


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"


class EffectState(enum.StrEnum):
    PLANNED = "planned"
    DONE = "done"


#: The result a planned effect carries once an attempt at it was noted (``Effects.note_effect_attempt``).
ATTEMPT_NOTED: Mapping[str, object] = {"attempted": True}


class InboundState(enum.StrEnum):
    RECEIVED = "received"
    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"
    DELETED = "deleted"


class InboundSource(enum.StrEnum):
    PULL = "pull"
    PUSH = "push"
    MAIL = "mail"


JOB_TERMINAL: frozenset[JobState] = frozenset({JobState.DONE, JobState.REJECTED, JobState.FAILED})
OUTBOX_TERMINAL: frozenset[OutboxState] = frozenset(
    {OutboxState.ACCEPTED, OutboxState.REJECTED, OutboxState.FAILED}
)


@dataclass(frozen=True)
class OutboundJob:
    """One source mail in a function mailbox. ``subject`` is stored CPR-masked (it is only ever shown)."""

    id: str
    mailbox: str
    message_id: str
    internet_message_id: str | None
    subject: str
    channel: str
    state: JobState = JobState.NEW
    error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    warnings: tuple[str, ...] = ()  # planning's notes for the receipt mail, stored by ``plan_job``
    attempts: int = 0  # transient failures so far (``record_job_retry``)
    not_before: datetime | None = None  # not advanced again before this time (after a transient failure)
    sent_at: datetime | None = None  # when the case worker sent the mail (Graph sentDateTime)
    # False: planned by a version before migration 0003, which kept the warnings as an effect
    # ``warnings:{job}`` (the job's column is NULL); only then is that effect looked for.
    warnings_kept: bool = True


@dataclass(frozen=True)
class PlannedMemo:
    """One MeMo to send, as planned before the first attempt. ``recipient_id`` (CPR/CVR) is never logged."""

    message_uuid: str
    recipient_kind: str
    recipient_id: str = field(repr=False)
    recipient_contact_point: str | None = None
    memo_xml: bytes | None = field(default=None, repr=False)
    memo_ref: str | None = None
    line: int | None = None  # the recipient's line in masseforsendelse.txt (mass delivery only)


@dataclass(frozen=True)
class OutboxEntry:
    """A stored outbox row. ``memo_xml`` is only loaded where the caller needs to send it."""

    id: int
    job_id: str
    message_uuid: str
    recipient_kind: str
    recipient_id: str = field(repr=False)
    recipient_contact_point: str | None = None
    state: OutboxState = OutboxState.PENDING
    attempts: int = 0
    last_error: str | None = None
    transmission_id: str | None = None
    receipt_status: str | None = None
    memo_ref: str | None = None
    memo_xml: bytes | None = field(default=None, repr=False)
    not_before: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # When a POST of this row may first have started (``mark_in_flight``); None: never sent.
    in_flight_at: datetime | None = None
    line: int | None = None  # the recipient's line in masseforsendelse.txt (mass delivery only)


@dataclass(frozen=True)
class SendOutcome:
    """What one send attempt ended in, for ``record_send_results`` (one transaction for a whole batch).

    ``state`` None means a transient failure: the row stays pending (attempts+1, not before ``retry_at``).
    """

    message_uuid: str
    state: OutboxState | None
    transmission_id: str | None = None
    receipt_status: str | None = None
    error: str | None = None
    retry_at: datetime | None = None


@dataclass(frozen=True)
class Effect:
    key: str
    payload: Mapping[str, object]
    state: EffectState
    result: Mapping[str, object] | None
    created_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class BusinessReceipt:
    receipt_id: str
    message_uuid: str | None
    receipt_status: str | None
    payload: Mapping[str, object]
    received_at: datetime
    processed: bool


@dataclass(frozen=True)
class InboundMemo:
    """Metadata of a stored inbound memo; the XML itself comes from :meth:`InboundMemos.load_inbound_xml`.

    ``route`` is the JSON of the memo's route (``graph_dpg.domain.routing.InboundRoute``), None until
    :meth:`InboundMemos.record_inbound_route` wrote it."""

    memo_uuid: str
    source: InboundSource
    state: InboundState
    size: int
    target_mailbox: str | None
    created_message_id: str | None
    attempts: int
    error: str | None
    received_at: datetime
    updated_at: datetime
    route: Mapping[str, object] | None = None


@dataclass(frozen=True)
class ReceivedMemo:
    """One memo of a batch stored at once (:meth:`InboundMemos.store_inbound_memos`)."""

    memo_uuid: str
    source: InboundSource
    xml: bytes
    audit: AuditEntry | None = None


@dataclass(frozen=True)
class DeliveredMemo:
    """One memo of a batch recorded delivered at once (:meth:`InboundMemos.mark_delivered_many`): the
    mailbox it went to, the message created (or found) there, and the audit row of its delivery."""

    memo_uuid: str
    target_mailbox: str
    created_message_id: str
    audit: AuditEntry | None = None


@dataclass(frozen=True)
class AuditEntry:
    """An audit event written in the SAME transaction as the state change it records (a store method's
    ``audit`` argument): one commit instead of two, and the record exists exactly when the change does.
    Written only when the change is (a method returning False for "nothing to do" writes none); CPR-masked
    on write like :meth:`Audit.audit`."""

    action: str
    subject: str
    details: Mapping[str, object] | None = None
    actor: str = "gateway"


@dataclass(frozen=True)
class EffectPlan:
    """An effect planned in the transaction of a state change (a store method's ``effects`` argument): the
    arguments of :meth:`Effects.plan_effect`. Planning one that exists is a no-op, as there. Effects first,
    state last then holds by construction: the state and its effects commit together (issue 18)."""

    key: str
    payload: Mapping[str, object]
    mailbox: str | None = None


@dataclass(frozen=True)
class DisabledRule:
    name: str
    reason: str
    disabled_at: datetime


#: A job's outbox rows counted by (state, business receipt status), only the pairs that occur
#: (``Outbox.job_statuses``).
JobStatuses = Mapping[tuple[OutboxState, str | None], int]


@dataclass(frozen=True)
class JobFinish:
    """What ``Outbox.finish_sending`` writes with ``done`` when no row of the job is left pending: the
    arguments of :meth:`Outbox.set_job_state` for ``done``, computed by the caller from the job's counts."""

    audit: AuditEntry | None = None
    effects: Sequence[EffectPlan] = ()
    settle: Mapping[str, Mapping[str, object]] | None = None


class SourceMessages(Protocol):
    def claim_source_message(self, mailbox: str, message_id: str, internet_message_id: str | None) -> bool:
        """True only the first time (mailbox, message_id) — or (mailbox, internetMessageId) — is seen."""
        ...


class DeltaLinks(Protocol):
    def get_delta_link(self, mailbox: str, folder: str) -> str | None: ...

    def set_delta_link(self, mailbox: str, folder: str, delta_link: str) -> None: ...


class Outbox(Protocol):
    def create_job(self, job: OutboundJob, *, audit: AuditEntry | None = None) -> bool:
        """Insert the job (state ``new``) unless one exists for its id or (mailbox, message_id); ``audit``
        is written with it (only if inserted)."""
        ...

    def plan_job(
        self,
        job: OutboundJob,
        memos: Iterable[PlannedMemo],
        *,
        audit: AuditEntry | None = None,
        effects: Sequence[EffectPlan] = (),
    ) -> bool:
        """Insert/advance the job to ``planned`` (with ``job.warnings``) and all its outbox rows (and
        ``audit``, and ``effects`` planned) in ONE transaction.

        ``memos`` is read once, in order, while the rows are written (in chunks): a mass delivery's
        100,000 rows are streamed from its recipient list, never all in memory (issue 18). If reading it
        raises, nothing is written (the transaction is rolled back) and the error is raised.

        False (and nothing written) if the job is already past ``new``: a restart re-planning the
        same mail must not create a second set of messageUUIDs.
        """
        ...

    def set_job_state(
        self,
        job_id: str,
        state: JobState,
        error: str | None = None,
        *,
        audit: AuditEntry | None = None,
        effects: Sequence[EffectPlan] = (),
        settle: Mapping[str, Mapping[str, object]] | None = None,
    ) -> None:
        """Move the job to ``state`` (or keep it there), append ``audit``, plan ``effects`` and complete
        each effect of ``settle`` (key -> result) that is still planned, all in the same transaction (an
        unknown or already done effect of ``settle`` is left as it is). An illegal transition writes
        nothing."""
        ...

    def record_job_retry(self, job_id: str, error: str, not_before: datetime) -> int:
        """A transient failure of an unfinished job: attempts+1, the error text (CPR-masked) and the time
        before which it is not advanced again; its state stays. Returns the attempts now counted."""
        ...

    def get_job(self, job_id: str) -> OutboundJob | None: ...

    def get_jobs(self, job_ids: Collection[str]) -> dict[str, OutboundJob]:
        """The jobs of ``job_ids`` that exist, by id, read in one transaction."""
        ...

    def jobs_in_state(
        self, states: Sequence[JobState], limit: int = 100, *, mailboxes: Collection[str] | None = None
    ) -> list[OutboundJob]:
        """Jobs in these states, the oldest change first; ``mailboxes`` (any case): only theirs."""
        ...

    def has_jobs_in_state(self, states: Sequence[JobState], *, mailboxes: Collection[str]) -> bool:
        """Whether any job of ``mailboxes`` (any case) is in one of ``states`` (one cheap indexed read: an
        idle poll asks this instead of reading each state's page; issue 18)."""
        ...

    def next_pending(self, job_id: str | None, limit: int = 100, *, after_id: int = 0) -> list[OutboxEntry]:
        """Pending rows (with their XML) whose retry time has come, oldest first; only rows after
        ``after_id`` (a page cursor: the sender reads the next batch while the last one's results are
        still being recorded)."""
        ...

    def mark_in_flight(self, message_uuids: Sequence[str], *, sending: str | None = None) -> int:
        """Before the POSTs of a batch, in ONE transaction: these pending rows may reach NgDP now
        (``in_flight_at``, kept from the first time; never cleared). A crash before
        ``record_send_results`` leaves the mark, so the retry knows an earlier POST may have landed
        even though no attempt was counted. Returns how many rows were marked for the first time.
        ``sending``: a job moved from ``planned`` to ``sending`` in the same transaction (left as it is
        in any other state)."""
        ...

    def create_jobs(self, jobs: Sequence[tuple[OutboundJob, AuditEntry | None]]) -> list[bool]:
        """:meth:`create_job` for each (job, audit) pair, all in ONE transaction (a poll's delta round);
        per pair, whether its job was new. Idempotent like ``create_job``: a crash before the round's delta
        link is stored replays the round, and the jobs it already has are left as they are."""
        ...

    def claim_pending(
        self, job_id: str, limit: int = 100, *, after_id: int = 0, sending: bool = False
    ) -> tuple[bool, list[OutboxEntry]]:
        """The next batch of the job's sends, in ONE transaction: whether an operator cancelled the job
        (``Cancellations.cancellation_requested``; then nothing is read or marked and the rows are []),
        else :meth:`next_pending` of the job and :meth:`mark_in_flight` of those rows, with ``sending``
        moving the job from ``planned`` to ``sending`` when there is a row (left as it is in any other
        state). The rows are returned as they were before the mark (``in_flight_at`` None on a first
        send), so the sender knows which were possibly sent before. The mark commits before any POST."""
        ...

    def plan_and_claim(
        self,
        job: OutboundJob,
        memos: Iterable[PlannedMemo],
        *,
        audit: AuditEntry | None = None,
        effects: Sequence[EffectPlan] = (),
        claim: int,
    ) -> tuple[bool, bool, list[OutboxEntry]]:
        """:meth:`plan_job` and then :meth:`claim_pending` ``(job.id, claim, sending=True)`` in ONE
        transaction: for a job that is sent at once by whoever plans it (one commit, not two; issue 18).
        Returns (planned, cancelled, rows): ``planned`` as plan_job returns it (False: nothing written,
        nothing claimed, and (False, False, [])); ``cancelled`` and ``rows`` as claim_pending returns them
        (an operator's cancellation: nothing marked and no state move; else the first ``claim`` pending
        rows by id whose retry time has come, returned as they were before the mark, marked in flight,
        and the job moved to ``sending`` when there is one). The mark commits before any POST."""
        ...

    def finish_sending(
        self,
        job_id: str,
        outcomes: Sequence[SendOutcome],
        finish: Callable[[JobStatuses], JobFinish],
    ) -> tuple[dict[tuple[OutboxState, str | None], int], bool]:
        """The end of a job's send pass, in ONE transaction: :meth:`record_send_results` of ``outcomes``,
        then the job's :meth:`job_statuses`; when none of them is pending, the job is set ``done`` as
        :meth:`set_job_state` would, with what ``finish(statuses)`` returns (a pure function: it runs
        inside the transaction). Returns the statuses and whether the job is ``done`` now. A job whose
        state does not allow ``done`` (or that does not exist) keeps it, and the outcomes are recorded
        all the same (False)."""
        ...

    def record_send_results(self, outcomes: Sequence[SendOutcome]) -> int:
        """Record many send outcomes in ONE transaction (the outbox transitions in the module
        docstring); returns how many rows changed. A crash before the commit only means those
        rows are sent again with the same messageUUIDs, which NgDP answers as duplicates."""
        ...

    def find_by_message_uuid(self, message_uuid: str, *, with_xml: bool = False) -> OutboxEntry | None: ...

    def jobs_of_messages(self, message_uuids: Collection[str]) -> dict[str, str]:
        """messageUUID -> job id for the rows of ``message_uuids`` that exist (one transaction)."""
        ...

    def list_outbox(self, job_id: str, *, after_id: int = 0, limit: int = 1000) -> list[OutboxEntry]:
        """Every row of a job (without XML), for receipt mails; page with ``after_id``."""
        ...

    def job_progress(self, job_id: str) -> dict[OutboxState, int]:
        """Counts by state (every state present, zero included): mass-delivery progress."""
        ...

    def job_statuses(self, job_id: str) -> dict[tuple[OutboxState, str | None], int]:
        """The job's rows counted by state and business receipt status (only pairs that occur): what its
        category and progress depend on, in one read however many rows it has."""
        ...


class OutboxReports(Protocol):
    """What is read about the outbox from outside the outbound use case (metrics, the sandbox demo)."""

    def find_job(self, mailbox: str, message_id: str) -> OutboundJob | None: ...

    def outbox_counts(self) -> dict[OutboxState, int]:
        """Counts by state over all jobs (queue depth for /metrics)."""
        ...


class Effects(Protocol):
    def plan_effect(self, key: str, payload: Mapping[str, object], mailbox: str | None = None) -> bool:
        """Record the intent; True if new. E.g. ``receipt:{job_id}``, ``categories:{job_id}:{state}``.

        ``mailbox``: the function mailbox whose outbound lease holder runs it (None: the housekeeping
        lease holder does)."""
        ...

    def get_effect(self, key: str) -> Effect | None: ...

    def get_effects(self, keys: Collection[str]) -> dict[str, Effect]:
        """The effects of ``keys`` that exist, by key, in one transaction (whatever their state)."""
        ...

    def pending_effects(
        self,
        limit: int = 100,
        prefix: str | None = None,
        *,
        mailboxes: Collection[str] | None = None,
        unowned: bool = False,
        known: Collection[str] = (),
    ) -> list[Effect]:
        """Planned effects, oldest first. ``mailboxes``: only those owned by these function mailboxes
        (plus, with ``unowned``, those owned by none); ``unowned`` alone: only those owned by none. With
        ``known`` (the configured mailboxes), "owned by none" includes those of a mailbox not among them
        (removed from the gateway file), so no effect is left without a replica to run it."""
        ...

    def has_pending_effects(
        self,
        prefixes: Sequence[str],
        *,
        mailboxes: Collection[str] | None = None,
        unowned: bool = False,
        known: Collection[str] = (),
    ) -> bool:
        """Whether :meth:`pending_effects` would find any effect under one of ``prefixes`` (same owners)."""
        ...

    def complete_effect(
        self, key: str, result: Mapping[str, object] | None = None, *, audit: AuditEntry | None = None
    ) -> bool:
        """Planned -> done with ``result``; True if it was planned. ``audit`` is written with it (only
        then). ``StoreError`` for an unknown effect."""
        ...

    def note_effect_attempt(self, key: str) -> bool:
        """Record, durably, that an attempt at a planned effect starts. True only for the first noted
        attempt: no attempt was noted before, so none can have written anything (``Marker``'s lookup can
        be left out). False for a later attempt, an effect not planned, or one already done."""
        ...

    def note_effect_attempts(self, keys: Collection[str]) -> set[str]:
        """:meth:`note_effect_attempt` of each of ``keys`` in ONE transaction (a page of effects, before
        any of them runs); the keys whose attempt is the first noted (the others as False there)."""
        ...

    def complete_effects(
        self, completions: Sequence[tuple[str, Mapping[str, object] | None, AuditEntry | None]]
    ) -> set[str]:
        """:meth:`complete_effect` of each (key, result, audit record or None) in ONE transaction, each
        audit record written with its completion only; returns the keys that were planned (now done). An
        unknown key or one already done is left as it is (no ``StoreError``: one such key must not hold
        back the completion of the others)."""
        ...


class EffectSubjects(Protocol):
    """What a page of receipt and category effects reads about its jobs, one transaction for the page
    (issue 18: not one per effect)."""

    def jobs_statuses(self, job_ids: Collection[str]) -> dict[str, dict[tuple[OutboxState, str | None], int]]:
        """:meth:`Outbox.job_statuses` of each job, in one transaction (jobs without rows are left out)."""
        ...

    def outbox_of_jobs(self, job_ids: Collection[str]) -> dict[str, list[OutboxEntry]]:
        """Every row of each job (without XML), in id order, in one transaction (jobs without rows are
        left out). Unbounded: for jobs known to have few rows (their ``jobs_statuses`` counts); a mass
        delivery's rows are read a page at a time (:meth:`Outbox.list_outbox`)."""
        ...


class Receipts(Protocol):
    def record_receipt(self, receipt_id: str, receipt: Mapping[str, object]) -> bool:
        """Insert once per receipt id; links to the outbox row by ``messageUUID`` (sets receipt_status)."""
        ...

    def record_receipts(self, receipts: Sequence[tuple[str, Mapping[str, object]]]) -> int:
        """``record_receipt`` of each (receipt id, receipt) in ONE transaction; how many were new."""
        ...

    def unprocessed_receipts(self, limit: int = 100) -> list[BusinessReceipt]: ...

    def claim_receipts(self, owner: str, ttl_s: float, limit: int = 100) -> list[BusinessReceipt]:
        """Claim up to ``limit`` unprocessed receipts for ``ttl_s`` seconds, oldest first: those nobody
        claims, or whose claim expired (rows another replica is claiming this moment are skipped). Marking
        one processed ends its claim; one left unprocessed is claimable again once the claim expires."""
        ...

    def mark_receipt_processed(self, receipt_id: str) -> None: ...

    def mark_receipts_processed(
        self, receipt_ids: Sequence[str], *, effects: Sequence[EffectPlan] = ()
    ) -> None:
        """Plan ``effects`` and mark the receipts processed in ONE transaction (an unknown receipt:
        ``StoreError``, nothing written)."""
        ...


class InboundMemoXml(Protocol):
    def load_inbound_xml(self, memo_uuid: str) -> bytes | None:
        """The memo as it was received; None for an unknown memo (or one whose XML was cleaned up)."""
        ...


class InboundMemos(InboundMemoXml, Protocol):
    def store_inbound_memo(
        self, memo_uuid: str, source: InboundSource, xml: bytes, *, audit: AuditEntry | None = None
    ) -> bool:
        """Persist the raw memo before anything else happens to it; True if new (then with ``audit``)."""
        ...

    def get_inbound(self, memo_uuid: str) -> InboundMemo | None: ...

    def get_inbound_many(self, memo_uuids: Collection[str]) -> dict[str, InboundMemo]:
        """The stored memos among ``memo_uuids``, by id, in one transaction (unknown ones left out)."""
        ...

    def record_inbound_route(
        self, memo_uuid: str, route: Mapping[str, object], *, replace: bool = False
    ) -> bool:
        """Keep the memo's route (JSON). Without ``replace`` only the first call writes; True if it wrote."""
        ...

    def inbound_in_state(self, state: InboundState, limit: int = 100) -> list[InboundMemo]: ...

    def claim_inbound(
        self,
        owner: str,
        state: InboundState,
        ttl_s: float,
        limit: int = 100,
        *,
        source: InboundSource | None = None,
    ) -> list[InboundMemo]:
        """Claim up to ``limit`` memos in ``state`` (and from ``source``, if given) for ``ttl_s`` seconds,
        oldest first: those nobody claims, or whose claim expired (rows another replica is claiming this
        moment are skipped, not waited for). A state change does not end a claim: the holder releases it
        (:meth:`release_inbound`) once its step is over, or it expires (the holder died)."""
        ...

    def mark_delivered_many(
        self, delivered: Sequence[DeliveredMemo], *, release: str | None = None
    ) -> set[str]:
        """RECEIVED → DELIVERED for each of ``delivered``, with its audit row, in ONE transaction (issue 18:
        a claimed batch's marks committed at once); ``release`` as for :meth:`mark_delivered`. Returns the
        memos recorded; one in another state (DELIVERED already too: recorded by a replica that took its
        claim over, with its own audit row) or unknown is left as it is, without an audit row, and not
        returned (the others are recorded all the same)."""
        ...

    def mark_deleted_many(
        self, deleted: Mapping[str, AuditEntry | None], *, release: str | None = None
    ) -> set[str]:
        """DELIVERED or ACKNOWLEDGED → DELETED for each memo of ``deleted`` (memo → its audit row, e.g. the
        acknowledgement), in ONE transaction, as :meth:`mark_delivered_many` does (one DELETED already is
        skipped)."""
        ...

    def store_inbound_memos(self, received: Sequence[ReceivedMemo]) -> set[str]:
        """:meth:`store_inbound_memo` for each of ``received``, in ONE transaction (issue 18: a pull's
        fetched memos stored a batch at a time); returns the memos that were new (each then with its audit
        row; one stored before is left as it is)."""
        ...

    def has_claimable_inbound(self, wanted: Sequence[tuple[InboundState, InboundSource | None]]) -> bool:
        """Whether :meth:`claim_inbound` would claim anything for one of ``wanted`` (state, source or None
        for any): a memo in that state whose claim is free or expired."""
        ...

    def renew_inbound_claims(self, owner: str, memo_uuids: Collection[str], ttl_s: float) -> set[str]:
        """Extend ``owner``'s claims on ``memo_uuids`` to ``ttl_s`` seconds from now; returns the memos
        still ``owner``'s (a claim that expired is renewed as long as nobody claimed the memo since)."""
        ...

    def release_inbound(self, owner: str, memo_uuids: Collection[str]) -> None:
        """End ``owner``'s claims on ``memo_uuids`` (claims another replica took since are left alone)."""
        ...

    # ``release``: the owner whose claim on the memo ends with the state change, in the same transaction
    # (its step is done: any replica may take the next one); a claim another replica holds is left alone.

    def mark_delivered(
        self,
        memo_uuid: str,
        target_mailbox: str,
        created_message_id: str,
        *,
        audit: AuditEntry | None = None,
        release: str | None = None,
    ) -> None: ...

    def mark_acknowledged(
        self, memo_uuid: str, *, audit: AuditEntry | None = None, release: str | None = None
    ) -> None: ...

    def mark_deleted(
        self, memo_uuid: str, *, audit: AuditEntry | None = None, release: str | None = None
    ) -> None:
        """DELIVERED or ACKNOWLEDGED → DELETED. ``audit``: e.g. the acknowledgement, when the receipt and
        the delete at NgDP are recorded together (a delivered memo goes straight to DELETED)."""
        ...

    def record_inbound_error(self, memo_uuid: str, error: str) -> None: ...


class Audit(Protocol):
    def audit(
        self,
        action: str,
        subject: str,
        *,
        actor: str = "gateway",
        details: Mapping[str, object] | None = None,
    ) -> None:
        """Append an event; every text (and details' strings) is CPR-masked on write."""
        ...


@dataclass(frozen=True)
class SubscriptionRow:
    """The Graph change-notification subscription of one polled folder (``resource``: its lease name)."""

    resource: str
    subscription_id: str | None
    client_state: str
    expires_at: datetime | None
    need: str | None  # "reauthorize" / "recreate": asked for by a lifecycle notification


class Subscriptions(Protocol):
    def get_subscription(self, resource: str) -> SubscriptionRow | None: ...

    def find_subscription(self, subscription_id: str) -> SubscriptionRow | None:
        """The row of a Graph subscription id (None: not one of ours, or forgotten)."""
        ...

    def save_subscription(
        self, resource: str, subscription_id: str, client_state: str, expires_at: datetime
    ) -> None:
        """Record a created or renewed subscription (clears ``need``)."""
        ...

    def mark_subscription(self, subscription_id: str, need: str) -> str | None:
        """Set ``need`` on the row of ``subscription_id``; the row's resource, or None if unknown."""
        ...

    def forget_subscription(self, resource: str) -> None: ...


class Wakes(Protocol):
    def request_wake(self, resource: str, reason: str) -> None:
        """Ask the holder of ``resource`` to poll it now (idempotent: one row per resource)."""
        ...

    def take_wakes(self, resources: Sequence[str]) -> list[str]:
        """Remove and return the wakes of ``resources`` (those a replica holds and is free to poll)."""
        ...


class Leases(ReplicaLeases, Protocol):
    """The lease table: the calls of :class:`graph_dpg.ports.leases.ReplicaLeases`, defined there once."""


class RuleState(Protocol):
    def disable_rule(self, name: str, reason: str) -> bool:
        """Persist the disabling (survives restarts); True if it was not disabled yet."""
        ...

    def disabled_rules(self) -> dict[str, DisabledRule]: ...

    def increment_rule_hits(self, name: str, n: int = 1) -> None: ...


class RuleAdmin(Protocol):
    """What an operator does with the rules' state (``graph-dpg rules``)."""

    def enable_rule(self, name: str) -> None: ...

    def rule_hits(self) -> dict[str, int]: ...


class Housekeeping(Protocol):
    def cleanup(
        self,
        older_than: datetime,
        *,
        audit_older_than: datetime | None = None,
        source_messages_older_than: datetime | None = None,
    ) -> dict[str, int]: ...

    def ping(self) -> None:
        """Raise ``StoreError`` if the database is unreachable (for /readyz)."""
        ...


class Cancellations(Protocol):
    """Whether an operator cancelled a job (``graph_dpg.ports.console``); the outbound worker asks between
    two batches."""

    def cancellation_requested(self, job_id: str) -> bool: ...


class OutboundStore(
    Outbox, Receipts, InboundMemoXml, DeltaLinks, Effects, EffectSubjects, Audit, Cancellations, Protocol
):
    """What the outbound use case (``services.outbound``) asks of the store: its jobs and outbox, business
    receipts, the memo a reply answers, its delta links, the effects of receipt mails and categories, and
    the audit trail. (The bases are in an order that lets one protocol extend this and ``InboundStore``.)"""


class MemoStore(InboundMemos, Effects, Audit, Protocol):
    """What the memo pipeline (``services.inbound.memos``) asks of the store (``Effects`` only to read
    routes earlier versions kept)."""


class MailStore(DeltaLinks, SourceMessages, Effects, Audit, Protocol):
    """What mail routing (``services.inbound.mail``) asks of the store."""


class RuleStore(RuleState, Audit, Protocol):
    """What the routing rules' safeguard (``services.inbound.shared.RuleGuard``) asks of the store."""


class InboundStore(MemoStore, MailStore, RuleStore, Protocol):
    """What one inbound cycle (``services.inbound.InboundService``) asks of the store: its three parts'
    protocols together, which includes the ``Effects`` its alerts use."""


class StatePort(
    SourceMessages,
    DeltaLinks,
    Outbox,
    OutboxReports,
    Effects,
    EffectSubjects,
    Receipts,
    InboundMemos,
    Audit,
    Cancellations,
    Leases,
    RuleState,
    RuleAdmin,
    Housekeeping,
    Subscriptions,
    Wakes,
    Protocol,
):
    """Everything the store offers (the SQL adapter implements it); services take the narrower protocols."""
