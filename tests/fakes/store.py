"""The store ports in memory: what the SQL store answers, without a database.

:class:`FakeEffects` is the ``Effects`` segment alone (for the effect book and the alerts);
:class:`FakeStore` is every segment a service takes (``OutboundStore``, ``InboundStore``) plus the
operators' reads (``OutboxReports``, ``RuleAdmin``). Both follow the state machines of
``graph_dpg.ports.store`` as the SQL adapter enforces them: the same conditional transitions, the same
``StoreError`` for an unknown row or an illegal transition, CPR masking where the adapter masks on
write, JSON round trips where it stores JSON, and the same orderings. ``tests/integration/store/
test_store_contract.py`` runs one set of assertions against a fake and the SQL store, so the two cannot
drift apart. Leases and housekeeping are not faked: the lease tests run on SQLite.

Timestamps come from ``clock`` (real UTC time by default, as the services' retry times are) and never
repeat, so "oldest first" is the order of the calls.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from graph_dpg.core.errors import StoreError
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.ports.store import (
    ATTEMPT_NOTED,
    JOB_TERMINAL,
    AuditEntry,
    BusinessReceipt,
    DeliveredMemo,
    DisabledRule,
    Effect,
    EffectPlan,
    EffectState,
    InboundMemo,
    InboundSource,
    InboundState,
    JobFinish,
    JobState,
    JobStatuses,
    OutboundJob,
    OutboxEntry,
    OutboxState,
    PlannedMemo,
    ReceivedMemo,
    SendOutcome,
)

_JOB_PREDECESSORS: dict[JobState, tuple[JobState, ...]] = {
    JobState.NEW: (),
    JobState.PLANNED: (JobState.NEW,),
    JobState.SENDING: (JobState.PLANNED,),
    JobState.DONE: (JobState.SENDING, JobState.PLANNED),
    JobState.REJECTED: (JobState.NEW, JobState.PLANNED),
    JobState.FAILED: (JobState.NEW, JobState.PLANNED, JobState.SENDING),
}

_INBOUND_PREDECESSORS: dict[InboundState, tuple[InboundState, ...]] = {
    InboundState.RECEIVED: (),
    InboundState.DELIVERED: (InboundState.RECEIVED,),
    InboundState.ACKNOWLEDGED: (InboundState.DELIVERED,),
    InboundState.DELETED: (InboundState.DELIVERED, InboundState.ACKNOWLEDGED),
}

#: A later-arriving RECEIVED never overwrites a final receipt status (unknown statuses rank as final).
_RECEIPT_RANK = {"RECEIVED": 1, "COMPLETED": 2, "INVALID": 2, "NOT_ALLOWED": 2}


def _json_safe(value: Mapping[str, object]) -> dict[str, object]:
    """What a JSON column gives back: tuples as lists, datetimes and other values as text."""
    loaded: dict[str, object] = json.loads(json.dumps(dict(value), default=str))
    return loaded


def _mask_json(value: object) -> object:
    if isinstance(value, str):
        return mask_cprs(value)
    if isinstance(value, Mapping):
        return {mask_cprs(str(k)): _mask_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_json(v) for v in value]
    return value


class Clock:
    """UTC timestamps from ``source`` that never repeat (a tie would make "oldest first" arbitrary)."""

    def __init__(self, source: Callable[[], datetime] | None = None) -> None:
        self._source = source or (lambda: datetime.now(UTC))
        self._last: datetime | None = None

    def __call__(self) -> datetime:
        now = self._source()
        if self._last is not None and now <= self._last:
            now = self._last + timedelta(microseconds=1)
        self._last = now
        return now


class FakeEffects:
    """The ``Effects`` port: plan once, complete once, pending by key prefix, oldest first.

    ``fail_next(method, error)`` makes the next call of ``method`` raise ``error`` before it changes
    anything, as a lost database connection would (here and in :class:`FakeStore`)."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.now = Clock(clock)
        self.rows: dict[str, Effect] = {}
        self.owners: dict[str, str] = {}  # effect key -> the function mailbox whose lease runs it
        self.failures: dict[str, list[BaseException]] = {}

    def fail_next(self, method: str, error: BaseException, times: int = 1) -> None:
        if method.startswith("_") or not callable(getattr(self, method, None)):
            raise AttributeError(f"the store has no method {method!r}")
        self.failures.setdefault(method, []).extend([error] * times)

    def _maybe_fail(self, method: str) -> None:
        queued = self.failures.get(method)
        if queued:
            raise queued.pop(0)

    def plan_effect(self, key: str, payload: Mapping[str, object], mailbox: str | None = None) -> bool:
        self._maybe_fail("plan_effect")
        if key in self.rows:
            return False
        if mailbox:
            self.owners[key] = mailbox.lower()
        self.rows[key] = Effect(key, _json_safe(payload), EffectState.PLANNED, None, self.now(), None)
        return True

    def get_effect(self, key: str) -> Effect | None:
        self._maybe_fail("get_effect")
        return self.rows.get(key)

    def get_effects(self, keys: Collection[str]) -> dict[str, Effect]:
        self._maybe_fail("get_effects")
        return {k: self.rows[k] for k in keys if k in self.rows}

    def pending_effects(
        self,
        limit: int = 100,
        prefix: str | None = None,
        *,
        mailboxes: Collection[str] | None = None,
        unowned: bool = False,
        known: Collection[str] = (),
    ) -> list[Effect]:
        self._maybe_fail("pending_effects")
        planned = self._planned([prefix or ""], mailboxes, unowned, known)
        return sorted(planned, key=lambda e: (e.created_at, e.key))[:limit]

    def has_pending_effects(
        self,
        prefixes: Sequence[str],
        *,
        mailboxes: Collection[str] | None = None,
        unowned: bool = False,
        known: Collection[str] = (),
    ) -> bool:
        self._maybe_fail("has_pending_effects")
        return bool(self._planned(prefixes, mailboxes, unowned, known))

    def _planned(
        self,
        prefixes: Sequence[str],
        mailboxes: Collection[str] | None,
        unowned: bool,
        known: Collection[str],
    ) -> list[Effect]:
        wanted = None if mailboxes is None else {m.lower() for m in mailboxes}
        configured = {m.lower() for m in known}

        def owned(key: str) -> bool:
            owner = self.owners.get(key)
            orphan = owner is None or (bool(configured) and owner not in configured)
            if wanted is None:
                return orphan or not unowned
            return owner in wanted or (unowned and orphan)

        return [
            e
            for e in self.rows.values()
            if e.state is EffectState.PLANNED and e.key.startswith(tuple(prefixes)) and owned(e.key)
        ]

    def note_effect_attempt(self, key: str) -> bool:
        self._maybe_fail("note_effect_attempt")
        effect = self.rows.get(key)
        if effect is None or effect.state is not EffectState.PLANNED or effect.result is not None:
            return False
        self.rows[key] = replace(effect, result=dict(ATTEMPT_NOTED))
        return True

    def note_effect_attempts(self, keys: Collection[str]) -> set[str]:
        self._maybe_fail("note_effect_attempts")
        first: set[str] = set()
        for key in sorted(set(keys)):
            effect = self.rows.get(key)
            if effect is not None and effect.state is EffectState.PLANNED and effect.result is None:
                self.rows[key] = replace(effect, result=dict(ATTEMPT_NOTED))
                first.add(key)
        return first

    def complete_effects(
        self, completions: Sequence[tuple[str, Mapping[str, object] | None, AuditEntry | None]]
    ) -> set[str]:
        self._maybe_fail("complete_effects")  # before any change: the transaction is all or nothing
        done: set[str] = set()
        for key, result, audit in completions:
            if self._complete(key, result):
                done.add(key)
                self._append_audit(audit)
        return done

    def complete_effect(
        self, key: str, result: Mapping[str, object] | None = None, *, audit: AuditEntry | None = None
    ) -> bool:
        self._maybe_fail("complete_effect")
        effect = self.rows.get(key)
        if effect is None:
            raise StoreError(f"unknown effect {key!r}")
        if not self._complete(key, result):
            return False
        self._append_audit(audit)
        return True

    def _complete(self, key: str, result: Mapping[str, object] | None) -> bool:
        """Planned -> done (a state change's ``settle``, and ``complete_effect``); False otherwise."""
        effect = self.rows.get(key)
        if effect is None or effect.state is EffectState.DONE:
            return False
        self.rows[key] = replace(
            effect,
            state=EffectState.DONE,
            result=None if result is None else _json_safe(result),
            completed_at=self.now(),
        )
        return True

    def _plan_all(self, effects: Sequence[EffectPlan]) -> None:
        """A state change's ``effects``, in its (all-or-nothing) step: ``plan_effect`` without its failure.
        They share one timestamp, as the rows of one SQL transaction do (then "oldest first" is by key)."""
        now = self.now()
        for e in effects:
            if e.key not in self.rows:
                if e.mailbox:
                    self.owners[e.key] = e.mailbox.lower()
                self.rows[e.key] = Effect(e.key, _json_safe(e.payload), EffectState.PLANNED, None, now, None)

    def _append_audit(self, entry: AuditEntry | None) -> None:
        """Overridden by FakeStore, which keeps an audit trail (the effects alone keep none)."""


@dataclass(frozen=True)
class AuditEvent:
    ts: datetime
    replica: str
    actor: str
    action: str
    subject: str
    details: Mapping[str, object]


@dataclass
class _Receipt:
    receipt: BusinessReceipt
    processed_at: datetime | None = None
    claimed_by: str | None = None
    claimed_until: datetime | None = None


@dataclass
class _Rule:
    disabled: bool = False
    reason: str | None = None
    disabled_at: datetime | None = None
    hits: int = 0


class FakeStore(FakeEffects):
    """Every store segment a service takes, in memory (see the module docstring).

    ``fail_next(method, error)`` as in :class:`FakeEffects`; ``audit_events`` is the audit trail (an
    operator reads the table; no service reads it back)."""

    def __init__(self, clock: Callable[[], datetime] | None = None, *, replica: str = "fake-replica") -> None:
        super().__init__(clock)
        self.replica = replica
        self.source_messages: set[tuple[str, str, str]] = set()  # (mailbox, "id" | "imid", value)
        self.delta_links: dict[tuple[str, str], str] = {}
        self.jobs: dict[str, OutboundJob] = {}
        self.cancelled: set[str] = set()
        self.outbox: dict[int, OutboxEntry] = {}  # by row id, with the XML
        self.receipts: dict[str, _Receipt] = {}
        self.inbound: dict[str, InboundMemo] = {}
        self.inbound_xml: dict[str, bytes] = {}
        self.inbound_claims: dict[str, tuple[str, datetime]] = {}  # memo -> (owner, until)
        self.audit_events: list[AuditEvent] = []
        self.rules: dict[str, _Rule] = {}
        self._outbox_ids = itertools.count(1)

    # ------------------------------------------------------------------ source messages, delta links

    def claim_source_message(self, mailbox: str, message_id: str, internet_message_id: str | None) -> bool:
        self._maybe_fail("claim_source_message")
        keys = {(mailbox, "id", message_id)}
        if internet_message_id:
            keys.add((mailbox, "imid", internet_message_id))
        if keys & self.source_messages:
            return False
        self.source_messages |= keys
        return True

    def get_delta_link(self, mailbox: str, folder: str) -> str | None:
        self._maybe_fail("get_delta_link")
        return self.delta_links.get((mailbox, folder))

    def set_delta_link(self, mailbox: str, folder: str, delta_link: str) -> None:
        self._maybe_fail("set_delta_link")
        self.delta_links[(mailbox, folder)] = delta_link

    # ------------------------------------------------------------------ outbound jobs and the outbox

    def _job_clash(self, job: OutboundJob) -> bool:
        return job.id in self.jobs or any(
            (j.mailbox, j.message_id) == (job.mailbox, job.message_id) for j in self.jobs.values()
        )

    def _insert_job(self, job: OutboundJob, state: JobState) -> None:
        now = self.now()
        self.jobs[job.id] = replace(
            job,
            internet_message_id=job.internet_message_id or None,
            subject=mask_cprs(job.subject),
            state=state,
            created_at=now,
            updated_at=now,
            warnings=tuple(job.warnings),
        )

    def create_job(self, job: OutboundJob, *, audit: AuditEntry | None = None) -> bool:
        self._maybe_fail("create_job")
        if self._job_clash(job):
            return False
        self._insert_job(job, job.state)
        self._append_audit(audit)
        return True

    def plan_job(
        self,
        job: OutboundJob,
        memos: Iterable[PlannedMemo],
        *,
        audit: AuditEntry | None = None,
        effects: Sequence[EffectPlan] = (),
    ) -> bool:
        self._maybe_fail("plan_job")
        return self._plan_job(job, memos, audit, effects)

    def _plan_job(
        self,
        job: OutboundJob,
        memos: Iterable[PlannedMemo],
        audit: AuditEntry | None,
        effects: Sequence[EffectPlan],
    ) -> bool:
        current = self.jobs.get(job.id)
        insert = not self._job_clash(job)
        if not insert and (current is None or current.state is not JobState.NEW):
            return False  # past "new": planned before, and its messageUUIDs stay the ones it has
        memos = list(memos)  # read once (a generator, as the service passes it); nothing written if it fails
        uuids = [m.message_uuid for m in memos]
        taken = {e.message_uuid for e in self.outbox.values()}
        if len(set(uuids)) != len(uuids) or taken.intersection(uuids):
            # The messageUUID is unique: the whole transaction (job and rows) is rolled back.
            raise StoreError(f"plan job: duplicate messageUUID in job {job.id!r}")
        if insert:
            self._insert_job(job, JobState.PLANNED)
        elif current is not None:
            self.jobs[job.id] = replace(
                current, state=JobState.PLANNED, updated_at=self.now(), warnings=tuple(job.warnings)
            )
        now = self.now()
        for m in memos:
            row_id = next(self._outbox_ids)
            self.outbox[row_id] = OutboxEntry(
                id=row_id,
                job_id=job.id,
                message_uuid=m.message_uuid,
                recipient_kind=m.recipient_kind,
                recipient_id=m.recipient_id,
                recipient_contact_point=m.recipient_contact_point,
                memo_ref=m.memo_ref,
                memo_xml=m.memo_xml,
                created_at=now,
                updated_at=now,
                line=m.line,
            )
        self._plan_all(effects)
        self._append_audit(audit)
        return True

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
        self._maybe_fail("set_job_state")
        current = self.jobs.get(job_id)
        if current is None:
            raise StoreError(f"unknown outbound job {job_id!r}")
        if current.state not in (*_JOB_PREDECESSORS[state], state):
            raise StoreError(f"outbound job {job_id!r}: illegal transition {current.state} -> {state.value}")
        self.jobs[job_id] = replace(current, state=state, error=error, updated_at=self.now())
        self._plan_all(effects)
        for key, result in (settle or {}).items():
            self._complete(key, result)
        self._append_audit(audit)

    def record_job_retry(self, job_id: str, error: str, not_before: datetime) -> int:
        self._maybe_fail("record_job_retry")
        current = self.jobs.get(job_id)
        if current is None:
            raise StoreError(f"unknown outbound job {job_id!r}")
        if current.state in JOB_TERMINAL:
            return current.attempts
        self.jobs[job_id] = replace(
            current,
            attempts=current.attempts + 1,
            error=mask_cprs(error),
            not_before=not_before,
            updated_at=self.now(),
        )
        return current.attempts + 1

    def get_job(self, job_id: str) -> OutboundJob | None:
        self._maybe_fail("get_job")
        return self.jobs.get(job_id)

    def get_jobs(self, job_ids: Collection[str]) -> dict[str, OutboundJob]:
        self._maybe_fail("get_jobs")
        return {i: self.jobs[i] for i in set(job_ids) if i in self.jobs}

    def find_job(self, mailbox: str, message_id: str) -> OutboundJob | None:
        self._maybe_fail("find_job")
        return next(
            (j for j in self.jobs.values() if (j.mailbox, j.message_id) == (mailbox, message_id)), None
        )

    def jobs_in_state(
        self, states: Sequence[JobState], limit: int = 100, *, mailboxes: Collection[str] | None = None
    ) -> list[OutboundJob]:
        self._maybe_fail("jobs_in_state")
        wanted = None if mailboxes is None else {m.lower() for m in mailboxes}
        found = [
            j
            for j in self.jobs.values()
            if j.state in states and (wanted is None or j.mailbox.lower() in wanted)
        ]
        return sorted(found, key=lambda j: (j.updated_at or self.now(), j.id))[:limit]

    def has_jobs_in_state(self, states: Sequence[JobState], *, mailboxes: Collection[str]) -> bool:
        self._maybe_fail("has_jobs_in_state")
        wanted = {m.lower() for m in mailboxes}
        return any(j.state in states and j.mailbox.lower() in wanted for j in self.jobs.values())

    @staticmethod
    def _shown(entry: OutboxEntry, with_xml: bool) -> OutboxEntry:
        return entry if with_xml else replace(entry, memo_xml=None)

    def next_pending(self, job_id: str | None, limit: int = 100, *, after_id: int = 0) -> list[OutboxEntry]:
        self._maybe_fail("next_pending")
        now = self.now()
        due = [
            e
            for e in self.outbox.values()
            if e.state is OutboxState.PENDING
            and e.id > after_id
            and (e.not_before is None or e.not_before <= now)
            and (job_id is None or e.job_id == job_id)
        ]
        return sorted(due, key=lambda e: e.id)[:limit]

    def mark_in_flight(self, message_uuids: Sequence[str], *, sending: str | None = None) -> int:
        self._maybe_fail("mark_in_flight")
        now = self.now()
        job = self.jobs.get(sending or "")
        if job is not None and job.state is JobState.PLANNED:
            self.jobs[job.id] = replace(job, state=JobState.SENDING, updated_at=now)
        wanted = set(message_uuids)
        marked = 0
        for row_id, e in list(self.outbox.items()):
            if e.message_uuid in wanted and e.state is OutboxState.PENDING and e.in_flight_at is None:
                self.outbox[row_id] = replace(e, in_flight_at=now)
                marked += 1
        return marked

    def create_jobs(self, jobs: Sequence[tuple[OutboundJob, AuditEntry | None]]) -> list[bool]:
        self._maybe_fail("create_jobs")
        created: list[bool] = []
        for job, audit in jobs:
            new = not self._job_clash(job)
            if new:
                self._insert_job(job, job.state)
                self._append_audit(audit)
            created.append(new)
        return created

    def claim_pending(
        self, job_id: str, limit: int = 100, *, after_id: int = 0, sending: bool = False
    ) -> tuple[bool, list[OutboxEntry]]:
        self._maybe_fail("claim_pending")
        return self._claim_pending(job_id, limit, after_id, sending)

    def plan_and_claim(
        self,
        job: OutboundJob,
        memos: Iterable[PlannedMemo],
        *,
        audit: AuditEntry | None = None,
        effects: Sequence[EffectPlan] = (),
        claim: int,
    ) -> tuple[bool, bool, list[OutboxEntry]]:
        self._maybe_fail("plan_and_claim")
        if not self._plan_job(job, memos, audit, effects):
            return False, False, []
        cancelled, rows = self._claim_pending(job.id, claim, 0, True)
        return True, cancelled, rows

    def _claim_pending(
        self, job_id: str, limit: int, after_id: int, sending: bool
    ) -> tuple[bool, list[OutboxEntry]]:
        if job_id in self.cancelled:
            return True, []
        now = self.now()
        rows = sorted(
            (
                e
                for e in self.outbox.values()
                if e.job_id == job_id
                and e.state is OutboxState.PENDING
                and e.id > after_id
                and (e.not_before is None or e.not_before <= now)
            ),
            key=lambda e: e.id,
        )[:limit]
        if not rows:
            return False, []
        job = self.jobs.get(job_id)
        if sending and job is not None and job.state is JobState.PLANNED:
            self.jobs[job_id] = replace(job, state=JobState.SENDING, updated_at=now)
        for e in rows:
            if e.in_flight_at is None:
                self.outbox[e.id] = replace(e, in_flight_at=now)
        return False, rows  # as they were before the mark

    def finish_sending(
        self,
        job_id: str,
        outcomes: Sequence[SendOutcome],
        finish: Callable[[JobStatuses], JobFinish],
    ) -> tuple[dict[tuple[OutboxState, str | None], int], bool]:
        self._maybe_fail("finish_sending")
        saved = dict(self.outbox)
        self._record_send_results(outcomes)
        statuses = self._job_statuses(job_id)
        if any(state is OutboxState.PENDING for state, _ in statuses):
            return statuses, False
        try:
            done = finish(statuses)
        except BaseException:
            self.outbox = saved  # one transaction: nothing recorded
            raise
        current = self.jobs.get(job_id)
        if current is None or current.state not in (*_JOB_PREDECESSORS[JobState.DONE], JobState.DONE):
            return statuses, False
        self.jobs[job_id] = replace(current, state=JobState.DONE, error=None, updated_at=self.now())
        self._plan_all(done.effects)
        for key, result in (done.settle or {}).items():
            self._complete(key, result)
        self._append_audit(done.audit)
        return statuses, True

    def record_send_results(self, outcomes: Sequence[SendOutcome]) -> int:
        self._maybe_fail("record_send_results")
        return self._record_send_results(outcomes)

    def _record_send_results(self, outcomes: Sequence[SendOutcome]) -> int:
        now = self.now()
        by_uuid = {e.message_uuid: e for e in self.outbox.values()}
        changed = 0
        for o in outcomes:
            row = by_uuid.get(o.message_uuid)
            if row is None or row.state is not OutboxState.PENDING:
                continue  # an outcome for a row that left pending changes nothing
            error = mask_cprs(o.error or "")
            if o.state is None:
                row = replace(row, attempts=row.attempts + 1, last_error=error, not_before=o.retry_at)
            elif o.state is OutboxState.ACCEPTED:
                status = row.receipt_status if row.receipt_status is not None else o.receipt_status
                row = replace(row, state=o.state, transmission_id=o.transmission_id, receipt_status=status)
            elif o.state is OutboxState.REJECTED:
                row = replace(row, state=o.state, last_error=error, attempts=row.attempts + 1)
            else:
                row = replace(row, state=o.state, last_error=error)
            self.outbox[row.id] = by_uuid[o.message_uuid] = replace(row, updated_at=now)
            changed += 1
        return changed

    def find_by_message_uuid(self, message_uuid: str, *, with_xml: bool = False) -> OutboxEntry | None:
        self._maybe_fail("find_by_message_uuid")
        row = next((e for e in self.outbox.values() if e.message_uuid == message_uuid), None)
        return None if row is None else self._shown(row, with_xml)

    def jobs_of_messages(self, message_uuids: Collection[str]) -> dict[str, str]:
        self._maybe_fail("jobs_of_messages")
        wanted = set(message_uuids)
        return {e.message_uuid: e.job_id for e in self.outbox.values() if e.message_uuid in wanted}

    def job_statuses(self, job_id: str) -> dict[tuple[OutboxState, str | None], int]:
        self._maybe_fail("job_statuses")
        return self._job_statuses(job_id)

    def _job_statuses(self, job_id: str) -> dict[tuple[OutboxState, str | None], int]:
        counts: dict[tuple[OutboxState, str | None], int] = {}
        for e in self.outbox.values():
            if e.job_id == job_id:
                counts[(e.state, e.receipt_status)] = counts.get((e.state, e.receipt_status), 0) + 1
        return counts

    def jobs_statuses(self, job_ids: Collection[str]) -> dict[str, dict[tuple[OutboxState, str | None], int]]:
        self._maybe_fail("jobs_statuses")
        wanted = set(job_ids)
        found: dict[str, dict[tuple[OutboxState, str | None], int]] = {}
        for e in self.outbox.values():
            if e.job_id in wanted:
                counts = found.setdefault(e.job_id, {})
                counts[(e.state, e.receipt_status)] = counts.get((e.state, e.receipt_status), 0) + 1
        return found

    def outbox_of_jobs(self, job_ids: Collection[str]) -> dict[str, list[OutboxEntry]]:
        self._maybe_fail("outbox_of_jobs")
        wanted = set(job_ids)
        found: dict[str, list[OutboxEntry]] = {}
        for e in sorted((e for e in self.outbox.values() if e.job_id in wanted), key=lambda e: e.id):
            found.setdefault(e.job_id, []).append(self._shown(e, False))
        return found

    def list_outbox(self, job_id: str, *, after_id: int = 0, limit: int = 1000) -> list[OutboxEntry]:
        self._maybe_fail("list_outbox")
        rows = sorted(
            (e for e in self.outbox.values() if e.job_id == job_id and e.id > after_id), key=lambda e: e.id
        )
        return [self._shown(e, False) for e in rows[:limit]]

    def _counts(self, job_id: str | None) -> dict[OutboxState, int]:
        counts = dict.fromkeys(OutboxState, 0)
        for e in self.outbox.values():
            if job_id is None or e.job_id == job_id:
                counts[e.state] += 1
        return counts

    def job_progress(self, job_id: str) -> dict[OutboxState, int]:
        self._maybe_fail("job_progress")
        return self._counts(job_id)

    def outbox_counts(self) -> dict[OutboxState, int]:
        self._maybe_fail("outbox_counts")
        return self._counts(None)

    # ------------------------------------------------------------------ operators' cancellations

    def cancellation_requested(self, job_id: str) -> bool:
        """An operator's cancellation (``ports.console``); set one with ``cancelled.add(job_id)``."""
        self._maybe_fail("cancellation_requested")
        return job_id in self.cancelled

    # ------------------------------------------------------------------ business receipts

    def record_receipt(self, receipt_id: str, receipt: Mapping[str, object]) -> bool:
        self._maybe_fail("record_receipt")
        return self._record_receipt(receipt_id, receipt)

    def record_receipts(self, receipts: Sequence[tuple[str, Mapping[str, object]]]) -> int:
        self._maybe_fail("record_receipts")
        return sum(self._record_receipt(rid, receipt) for rid, receipt in receipts)

    def _record_receipt(self, receipt_id: str, receipt: Mapping[str, object]) -> bool:
        if receipt_id in self.receipts:
            return False
        uuid, status = receipt.get("messageUUID"), receipt.get("receiptStatus")
        message_uuid = str(uuid) if uuid else None
        receipt_status = str(status) if status else None
        payload = _mask_json(_json_safe(receipt))
        assert isinstance(payload, dict)
        now = self.now()
        self.receipts[receipt_id] = _Receipt(
            BusinessReceipt(receipt_id, message_uuid, receipt_status, payload, now, processed=False)
        )
        if message_uuid and receipt_status:
            row = next((e for e in self.outbox.values() if e.message_uuid == message_uuid), None)
            rank = _RECEIPT_RANK.get(receipt_status, 2)
            if row is not None and rank >= _RECEIPT_RANK.get(row.receipt_status or "", 0):
                self.outbox[row.id] = replace(row, receipt_status=receipt_status, updated_at=now)
        return True

    def unprocessed_receipts(self, limit: int = 100) -> list[BusinessReceipt]:
        self._maybe_fail("unprocessed_receipts")
        waiting = [r.receipt for r in self.receipts.values() if not r.receipt.processed]
        return sorted(waiting, key=lambda r: (r.received_at, r.receipt_id))[:limit]

    def claim_receipts(self, owner: str, ttl_s: float, limit: int = 100) -> list[BusinessReceipt]:
        self._maybe_fail("claim_receipts")
        now = self.now()
        free = [
            r
            for r in self.receipts.values()
            if not r.receipt.processed and (r.claimed_until is None or r.claimed_until <= now)
        ]
        chosen = sorted(free, key=lambda r: (r.receipt.received_at, r.receipt.receipt_id))[: max(0, limit)]
        for r in chosen:
            r.claimed_by, r.claimed_until = owner, now + timedelta(seconds=ttl_s)
        return [r.receipt for r in chosen]

    def mark_receipt_processed(self, receipt_id: str) -> None:
        self._maybe_fail("mark_receipt_processed")
        self._mark_processed([receipt_id])

    def mark_receipts_processed(
        self, receipt_ids: Sequence[str], *, effects: Sequence[EffectPlan] = ()
    ) -> None:
        self._maybe_fail("mark_receipts_processed")
        missing = [r for r in receipt_ids if r not in self.receipts]
        if missing:
            raise StoreError(f"unknown receipt {missing[0]!r}")
        self._plan_all(effects)
        self._mark_processed(receipt_ids)

    def _mark_processed(self, receipt_ids: Sequence[str]) -> None:
        for receipt_id in receipt_ids:
            row = self.receipts.get(receipt_id)
            if row is None:
                raise StoreError(f"unknown receipt {receipt_id!r}")
            if not row.receipt.processed:
                row.receipt = replace(row.receipt, processed=True)
                row.processed_at = self.now()

    # ------------------------------------------------------------------ inbound memos

    def store_inbound_memo(
        self, memo_uuid: str, source: InboundSource, xml: bytes, *, audit: AuditEntry | None = None
    ) -> bool:
        self._maybe_fail("store_inbound_memo")
        if memo_uuid in self.inbound:
            return False
        now = self.now()
        self.inbound[memo_uuid] = InboundMemo(
            memo_uuid=memo_uuid,
            source=InboundSource(source),
            state=InboundState.RECEIVED,
            size=len(xml),
            target_mailbox=None,
            created_message_id=None,
            attempts=0,
            error=None,
            received_at=now,
            updated_at=now,
        )
        self.inbound_xml[memo_uuid] = bytes(xml)
        self._append_audit(audit)
        return True

    def get_inbound(self, memo_uuid: str) -> InboundMemo | None:
        self._maybe_fail("get_inbound")
        return self.inbound.get(memo_uuid)

    def get_inbound_many(self, memo_uuids: Collection[str]) -> dict[str, InboundMemo]:
        self._maybe_fail("get_inbound_many")
        return {m: self.inbound[m] for m in memo_uuids if m in self.inbound}

    def load_inbound_xml(self, memo_uuid: str) -> bytes | None:
        self._maybe_fail("load_inbound_xml")
        return self.inbound_xml.get(memo_uuid)

    def _memo(self, memo_uuid: str) -> InboundMemo:
        row = self.inbound.get(memo_uuid)
        if row is None:
            raise StoreError(f"unknown inbound memo {memo_uuid!r}")
        return row

    def record_inbound_route(
        self, memo_uuid: str, route: Mapping[str, object], *, replace: bool = False
    ) -> bool:
        self._maybe_fail("record_inbound_route")
        row = self._memo(memo_uuid)
        if row.route is not None and not replace:
            return False
        self.inbound[memo_uuid] = dataclasses.replace(row, route=_json_safe(route))
        return True

    def inbound_in_state(self, state: InboundState, limit: int = 100) -> list[InboundMemo]:
        self._maybe_fail("inbound_in_state")
        found = [m for m in self.inbound.values() if m.state is state]
        return sorted(found, key=lambda m: (m.received_at, m.memo_uuid))[:limit]

    def claim_inbound(
        self,
        owner: str,
        state: InboundState,
        ttl_s: float,
        limit: int = 100,
        *,
        source: InboundSource | None = None,
    ) -> list[InboundMemo]:
        self._maybe_fail("claim_inbound")
        now = self.now()
        free = [
            m
            for m in self.inbound.values()
            if m.state is state
            and (source is None or m.source is source)
            and (m.memo_uuid not in self.inbound_claims or self.inbound_claims[m.memo_uuid][1] <= now)
        ]
        chosen = sorted(free, key=lambda m: (m.received_at, m.memo_uuid))[: max(0, limit)]
        for m in chosen:
            self.inbound_claims[m.memo_uuid] = (owner, now + timedelta(seconds=ttl_s))
        return chosen

    def mark_delivered_many(
        self, delivered: Sequence[DeliveredMemo], *, release: str | None = None
    ) -> set[str]:
        self._maybe_fail("mark_delivered_many")
        done: set[str] = set()
        for d in delivered:
            row = self.inbound.get(d.memo_uuid)
            if row is None or row.state not in _INBOUND_PREDECESSORS[InboundState.DELIVERED]:
                continue
            row = self._advance_inbound(d.memo_uuid, InboundState.DELIVERED)
            self.inbound[d.memo_uuid] = replace(
                row, target_mailbox=d.target_mailbox, created_message_id=d.created_message_id
            )
            self._release_with(d.memo_uuid, release)
            self._append_audit(d.audit)
            done.add(d.memo_uuid)
        return done

    def mark_deleted_many(
        self, deleted: Mapping[str, AuditEntry | None], *, release: str | None = None
    ) -> set[str]:
        self._maybe_fail("mark_deleted_many")
        done: set[str] = set()
        for memo_uuid, audit in deleted.items():
            row = self.inbound.get(memo_uuid)
            if row is None or row.state not in _INBOUND_PREDECESSORS[InboundState.DELETED]:
                continue
            self._advance_inbound(memo_uuid, InboundState.DELETED)
            self._release_with(memo_uuid, release)
            self._append_audit(audit)
            done.add(memo_uuid)
        return done

    def store_inbound_memos(self, received: Sequence[ReceivedMemo]) -> set[str]:
        self._maybe_fail("store_inbound_memos")
        stored: set[str] = set()
        for memo in received:
            if memo.memo_uuid in self.inbound:
                continue
            now = self.now()
            self.inbound[memo.memo_uuid] = InboundMemo(
                memo_uuid=memo.memo_uuid,
                source=InboundSource(memo.source),
                state=InboundState.RECEIVED,
                size=len(memo.xml),
                target_mailbox=None,
                created_message_id=None,
                attempts=0,
                error=None,
                received_at=now,
                updated_at=now,
            )
            self.inbound_xml[memo.memo_uuid] = bytes(memo.xml)
            self._append_audit(memo.audit)
            stored.add(memo.memo_uuid)
        return stored

    def has_claimable_inbound(self, wanted: Sequence[tuple[InboundState, InboundSource | None]]) -> bool:
        self._maybe_fail("has_claimable_inbound")
        now = self.now()
        return any(
            m.state is state
            and (source is None or m.source is source)
            and (m.memo_uuid not in self.inbound_claims or self.inbound_claims[m.memo_uuid][1] <= now)
            for m in self.inbound.values()
            for state, source in wanted
        )

    def renew_inbound_claims(self, owner: str, memo_uuids: Collection[str], ttl_s: float) -> set[str]:
        self._maybe_fail("renew_inbound_claims")
        until = self.now() + timedelta(seconds=ttl_s)
        held = {m for m in memo_uuids if self.inbound_claims.get(m, ("", until))[0] == owner}
        for m in held:
            self.inbound_claims[m] = (owner, until)
        return held

    def release_inbound(self, owner: str, memo_uuids: Collection[str]) -> None:
        self._maybe_fail("release_inbound")
        for m in memo_uuids:
            if self.inbound_claims.get(m, ("", None))[0] == owner:
                del self.inbound_claims[m]

    def _advance_inbound(self, memo_uuid: str, state: InboundState) -> InboundMemo:
        row = self._memo(memo_uuid)
        if row.state not in (*_INBOUND_PREDECESSORS[state], state):
            raise StoreError(f"inbound memo {memo_uuid!r}: illegal transition {row.state} -> {state.value}")
        self.inbound[memo_uuid] = row = replace(row, state=state, updated_at=self.now(), error=None)
        return row

    def _release_with(self, memo_uuid: str, owner: str | None) -> None:
        """A state change's ``release``: the owner's claim ends with it (another's is kept)."""
        if owner is not None and self.inbound_claims.get(memo_uuid, ("", None))[0] == owner:
            del self.inbound_claims[memo_uuid]

    def mark_delivered(
        self,
        memo_uuid: str,
        target_mailbox: str,
        created_message_id: str,
        *,
        audit: AuditEntry | None = None,
        release: str | None = None,
    ) -> None:
        self._maybe_fail("mark_delivered")
        row = self._advance_inbound(memo_uuid, InboundState.DELIVERED)
        self.inbound[memo_uuid] = replace(
            row, target_mailbox=target_mailbox, created_message_id=created_message_id
        )
        self._release_with(memo_uuid, release)
        self._append_audit(audit)

    def mark_acknowledged(
        self, memo_uuid: str, *, audit: AuditEntry | None = None, release: str | None = None
    ) -> None:
        self._maybe_fail("mark_acknowledged")
        self._advance_inbound(memo_uuid, InboundState.ACKNOWLEDGED)
        self._release_with(memo_uuid, release)
        self._append_audit(audit)

    def mark_deleted(
        self, memo_uuid: str, *, audit: AuditEntry | None = None, release: str | None = None
    ) -> None:
        self._maybe_fail("mark_deleted")
        self._advance_inbound(memo_uuid, InboundState.DELETED)
        self._release_with(memo_uuid, release)
        self._append_audit(audit)

    def record_inbound_error(self, memo_uuid: str, error: str) -> None:
        self._maybe_fail("record_inbound_error")
        row = self._memo(memo_uuid)
        self.inbound[memo_uuid] = replace(
            row, attempts=row.attempts + 1, error=mask_cprs(error), updated_at=self.now()
        )

    # ------------------------------------------------------------------ audit

    def audit(
        self,
        action: str,
        subject: str,
        *,
        actor: str = "gateway",
        details: Mapping[str, object] | None = None,
    ) -> None:
        self._maybe_fail("audit")
        self._append_audit(AuditEntry(action, subject, details, actor))

    def _append_audit(self, entry: AuditEntry | None) -> None:
        """The audit row of a store call (with the state change it records, like the SQL store)."""
        if entry is None:
            return
        masked = _mask_json(_json_safe(entry.details or {}))
        assert isinstance(masked, dict)
        self.audit_events.append(
            AuditEvent(
                self.now(),
                mask_cprs(self.replica),
                mask_cprs(entry.actor),
                mask_cprs(entry.action),
                mask_cprs(entry.subject),
                masked,
            )
        )

    def audited(self, action: str) -> list[AuditEvent]:
        return [e for e in self.audit_events if e.action == action]

    # ------------------------------------------------------------------ rule state

    def disable_rule(self, name: str, reason: str) -> bool:
        self._maybe_fail("disable_rule")
        row = self.rules.setdefault(name, _Rule())
        if row.disabled:
            return False
        row.disabled, row.reason, row.disabled_at = True, mask_cprs(reason), self.now()
        return True

    def enable_rule(self, name: str) -> None:
        self._maybe_fail("enable_rule")
        row = self.rules.get(name)
        if row is not None:
            row.disabled, row.reason, row.disabled_at = False, None, None

    def disabled_rules(self) -> dict[str, DisabledRule]:
        self._maybe_fail("disabled_rules")
        return {
            name: DisabledRule(name, row.reason or "", row.disabled_at)
            for name, row in sorted(self.rules.items())
            if row.disabled and row.disabled_at is not None
        }

    def increment_rule_hits(self, name: str, n: int = 1) -> None:
        self._maybe_fail("increment_rule_hits")
        self.rules.setdefault(name, _Rule()).hits += n

    def rule_hits(self) -> dict[str, int]:
        self._maybe_fail("rule_hits")
        return {name: row.hits for name, row in self.rules.items()}
