"""What the console asks about letters, and the actions it takes on them.

:class:`Letters` is the narrow interface the pages use; :class:`StoreLetters` answers it from the store.
The `graph-dpg letters` CLI (issue 19, branch wt-i19cli) answers the same questions in
``services.letters.LettersService`` (async, with an ``Actor`` and its role). At merge, :class:`StoreLetters`
gives way to a thin adapter over that service: search → ``LettersService.search(Query(text, state=,
since=))``, letter → ``timeline``, deliveries → ``mass_deliveries(active_only=True)``, retry → ``retry``
(which also makes a linked new letter for a refused recipient), cancel → ``cancel``, reveal_cpr →
``reveal_cpr``; the store methods added here for it (``SqlStore.search_jobs``, ``requeue_failed``,
``receipts_for``, ``audit_events_for``) then go.

Every method blocks (database): the pages call them through ``services.blocking.blocking``. Every list is
bounded. Actions are audited with the signed-in person as actor and are idempotent: a second retry of a
recipient already pending, or a second cancel, changes nothing and says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from graph_dpg.domain.conversion import mask_recipient
from graph_dpg.domain.texts import Text
from graph_dpg.ports.store import (
    BusinessReceipt,
    JobState,
    OutboundJob,
    OutboxEntry,
    OutboxState,
    SendOutcome,
)

MAX_RESULTS = 100
MAX_RECIPIENTS_SHOWN = 200
ACTIVE_STATES = (JobState.NEW, JobState.PLANNED, JobState.SENDING)


@dataclass(frozen=True)
class Progress:
    total: int
    pending: int
    accepted: int
    rejected: int
    failed: int

    @property
    def done(self) -> int:
        return self.total - self.pending

    def as_json(self) -> dict[str, int]:
        return {
            "total": self.total,
            "done": self.done,
            "pending": self.pending,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "failed": self.failed,
        }


@dataclass(frozen=True)
class LetterRow:
    id: str
    mailbox: str
    subject: str  # stored CPR-masked
    state: JobState
    created_at: datetime | None


@dataclass(frozen=True)
class Recipient:
    message_uuid: str
    shown: str  # CPR masked (ddmmyy-xxxx), CVR as it is
    kind: str
    state: OutboxState
    attempts: int
    error: str | None
    receipt_status: str | None
    updated_at: datetime | None

    @property
    def can_retry(self) -> bool:
        return self.state is OutboxState.FAILED

    @property
    def can_reveal(self) -> bool:
        return self.kind == "cpr"


@dataclass(frozen=True)
class Event:
    at: datetime | None
    text: Text
    values: Mapping[str, object] = field(default_factory=dict)
    replica: str | None = None


@dataclass(frozen=True)
class LetterView:
    letter: LetterRow
    error: str | None
    progress: Progress
    recipients: tuple[Recipient, ...]
    events: tuple[Event, ...]

    @property
    def cancellable(self) -> bool:
        return self.letter.state in ACTIVE_STATES and self.progress.pending > 0


class Letters(Protocol):
    def search(
        self, text: str, *, state: JobState | None = None, since: datetime | None = None
    ) -> list[LetterRow]: ...

    def letter(self, ident: str) -> LetterView | None:
        """A letter by its job id or one of its messageUUIDs."""
        ...

    def progress(self, job_id: str) -> Progress | None: ...

    def deliveries(self) -> list[tuple[LetterRow, Progress]]:
        """Letters still being sent (mass deliveries first: most recipients)."""
        ...

    def retry(self, message_uuid: str, actor: str) -> bool:
        """A recipient given up after transient failures is sent again with the same messageUUID."""
        ...

    def cancel(self, job_id: str, actor: str, reason: str) -> int:
        """The recipients not yet sent fail with ``reason``; returns how many (what was sent stays sent)."""
        ...

    def reveal_cpr(self, message_uuid: str, actor: str) -> str | None:
        """The recipient's CPR number (audited), None when there is none."""
        ...


class ConsoleStore(Protocol):
    """The store's parts StoreLetters reads and writes (``adapters.store.SqlStore`` has them)."""

    def search_jobs(
        self, text: str, *, state: JobState | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[OutboundJob]: ...

    def get_job(self, job_id: str) -> OutboundJob | None: ...

    def find_by_message_uuid(self, message_uuid: str, *, with_xml: bool = False) -> OutboxEntry | None: ...

    def list_outbox(self, job_id: str, *, after_id: int = 0, limit: int = 1000) -> list[OutboxEntry]: ...

    def job_progress(self, job_id: str) -> dict[OutboxState, int]: ...

    def jobs_in_state(self, states: Sequence[JobState], limit: int = 100) -> list[OutboundJob]: ...

    def record_send_results(self, outcomes: Sequence[SendOutcome]) -> int: ...

    def requeue_failed(self, message_uuid: str) -> bool: ...

    def receipts_for(self, message_uuids: Sequence[str]) -> list[BusinessReceipt]: ...

    def audit_events_for(self, subject: str, limit: int = 200) -> list[dict[str, object]]: ...

    def audit(
        self,
        action: str,
        subject: str,
        *,
        actor: str = "gateway",
        details: Mapping[str, object] | None = None,
    ) -> None: ...


def _row(job: OutboundJob) -> LetterRow:
    return LetterRow(job.id, job.mailbox, job.subject, job.state, job.created_at)


def _progress(counts: Mapping[OutboxState, int]) -> Progress:
    def n(state: OutboxState) -> int:
        return int(counts.get(state, 0))

    pending, accepted = n(OutboxState.PENDING), n(OutboxState.ACCEPTED)
    rejected, failed = n(OutboxState.REJECTED), n(OutboxState.FAILED)
    return Progress(pending + accepted + rejected + failed, pending, accepted, rejected, failed)


_ROW_EVENT = {
    OutboxState.ACCEPTED: Text.CONSOLE_EVENT_ACCEPTED,
    OutboxState.PENDING: Text.CONSOLE_EVENT_PENDING,
    OutboxState.REJECTED: Text.CONSOLE_EVENT_REJECTED,
    OutboxState.FAILED: Text.CONSOLE_EVENT_FAILED,
}


class StoreLetters:
    """:class:`Letters` from the store (see the module docstring)."""

    def __init__(self, store: ConsoleStore) -> None:
        self._store = store

    def search(
        self, text: str, *, state: JobState | None = None, since: datetime | None = None
    ) -> list[LetterRow]:
        return [
            _row(j) for j in self._store.search_jobs(text[:200], state=state, since=since, limit=MAX_RESULTS)
        ]

    def _job(self, ident: str) -> OutboundJob | None:
        job = self._store.get_job(ident)
        if job is None:
            entry = self._store.find_by_message_uuid(ident)
            if entry is not None:
                job = self._store.get_job(entry.job_id)
        return job

    def letter(self, ident: str) -> LetterView | None:
        job = self._job(ident[:200])
        if job is None:
            return None
        rows = self._store.list_outbox(job.id, limit=MAX_RECIPIENTS_SHOWN)
        recipients = tuple(
            Recipient(
                r.message_uuid,
                mask_recipient(r.recipient_kind, r.recipient_id),
                r.recipient_kind,
                r.state,
                r.attempts,
                r.last_error,
                r.receipt_status,
                r.updated_at,
            )
            for r in rows
        )
        shown = {r.message_uuid: r.shown for r in recipients}
        events: list[Event] = [Event(job.created_at, Text.CONSOLE_EVENT_SEEN, {"mailbox": job.mailbox})]
        for r in recipients:
            first = next(x for x in rows if x.message_uuid == r.message_uuid)
            events.append(Event(first.created_at, Text.CONSOLE_EVENT_PLANNED, {"recipient": r.shown}))
            events.append(
                Event(
                    r.updated_at,
                    _ROW_EVENT[r.state],
                    {"recipient": r.shown, "reason": r.error or "-", "attempts": r.attempts},
                )
            )
        for receipt in self._store.receipts_for([r.message_uuid for r in recipients]):
            events.append(
                Event(
                    receipt.received_at,
                    Text.CONSOLE_EVENT_RECEIPT,
                    {
                        "recipient": shown.get(receipt.message_uuid or "", "-"),
                        "status": receipt.receipt_status or "-",
                    },
                )
            )
        for audit in self._store.audit_events_for(job.id):
            ts = audit.get("ts")
            events.append(
                Event(
                    ts if isinstance(ts, datetime) else None,
                    Text.CONSOLE_EVENT_ACTION,
                    {"actor": audit.get("actor", ""), "action": audit.get("action", "")},
                    str(audit.get("replica") or "") or None,
                )
            )
        events.append(Event(job.updated_at, Text.CONSOLE_EVENT_STATE, {"state": job.state.value}))
        events.sort(key=lambda e: (e.at is None, e.at or datetime.min))
        return LetterView(
            _row(job), job.error, _progress(self._store.job_progress(job.id)), recipients, tuple(events)
        )

    def progress(self, job_id: str) -> Progress | None:
        if self._store.get_job(job_id[:200]) is None:
            return None
        return _progress(self._store.job_progress(job_id))

    def deliveries(self) -> list[tuple[LetterRow, Progress]]:
        jobs = self._store.jobs_in_state(list(ACTIVE_STATES), limit=MAX_RESULTS)
        found = [(_row(j), _progress(self._store.job_progress(j.id))) for j in jobs]
        found.sort(key=lambda pair: -pair[1].total)
        return found

    def retry(self, message_uuid: str, actor: str) -> bool:
        entry = self._store.find_by_message_uuid(message_uuid[:200])
        if entry is None or not self._store.requeue_failed(entry.message_uuid):
            return False
        self._store.audit(
            "console.retry", entry.job_id, actor=actor, details={"message_uuid": entry.message_uuid}
        )
        return True

    def cancel(self, job_id: str, actor: str, reason: str) -> int:
        job = self._store.get_job(job_id[:200])
        if job is None or job.state not in ACTIVE_STATES:
            return 0
        cancelled = 0
        after = 0
        while True:
            rows = self._store.list_outbox(job.id, after_id=after, limit=1000)
            if not rows:
                break
            after = rows[-1].id
            # A row whose POST may have started (in flight) is left to its answer: it may already be sent.
            outcomes = [
                SendOutcome(r.message_uuid, OutboxState.FAILED, error=reason)
                for r in rows
                if r.state is OutboxState.PENDING and r.in_flight_at is None
            ]
            if outcomes:
                cancelled += self._store.record_send_results(outcomes)
        if cancelled:
            self._store.audit("console.cancel", job.id, actor=actor, details={"cancelled": cancelled})
        return cancelled

    def reveal_cpr(self, message_uuid: str, actor: str) -> str | None:
        entry = self._store.find_by_message_uuid(message_uuid[:200])
        if entry is None or entry.recipient_kind != "cpr":
            return None
        # Audited before it is shown: a reveal the trail does not know of never happens.
        self._store.audit(
            "console.reveal_cpr", entry.job_id, actor=actor, details={"message_uuid": entry.message_uuid}
        )
        return entry.recipient_id
