"""The store as the admin console and ``graph-dpg letters`` see it: search, a letter's history, and the
operators' actions (retry, cancel, resend a receipt mail), each one short transaction like every store call.

Transitions added to the outbound state machines of ``graph_dpg.ports.store`` (operators only)::

    outbox row    failed --> pending            (``reopen_failed``: a transport failure retried with the
                                                 same messageUUID; attempts 0, in_flight_at kept)
    outbox row    (absent) --> pending          (``add_replacements``: a new letter, new messageUUID, for a
                                                 refused one; linked to it in ``letter_links``)
    outbound job  done | failed --> sending     (either of the two above, so the worker sends it again)
    cancellation  (absent) --> requested --> lifted   (``request_cancellation`` / ``lift_cancellation``;
                                                 a lifted one is requested again by the next cancel)

The outbound worker honours a requested cancellation between two batches (``cancellation_requested``;
``claim_pending`` asks it before it reads and marks the next batch): what was sent stays sent; every row
still pending is failed, never sent. A secure-mail job (no outbox rows) asks before its one sendMail: not
sent yet, it ends ``done`` with every recipient "not sent".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from graph_dpg.ports.store import (
    Audit,
    BusinessReceipt,
    Cancellations,
    Effect,
    Effects,
    InboundMemo,
    OutboundJob,
    Outbox,
    OutboxEntry,
    PlannedMemo,
)


@dataclass(frozen=True)
class LetterFilter:
    """Letters (outbound jobs) to find; every field given must match. ``cpr``: ten digits, compared with the
    recipient ids the outbox keeps (in clear, to send); ``subject``: a part of the (CPR-masked) subject,
    case-insensitive. ``message_uuid`` finds the job of that MeMo; ``since``/``until`` bound
    ``created_at``."""

    job_id: str | None = None
    message_uuid: str | None = None
    mailbox: str | None = None
    subject: str | None = None
    cpr: str | None = None
    state: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50


@dataclass(frozen=True)
class InboundFilter:
    """Inbound memos to find: by memo UUID, the mailbox it went to, its state and when it was received."""

    memo_uuid: str | None = None
    mailbox: str | None = None
    state: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50


@dataclass(frozen=True)
class LetterMatch:
    """A found job; ``row`` is the outbox row that matched (a messageUUID or CPR search), else None."""

    job: OutboundJob
    row: OutboxEntry | None = None


@dataclass(frozen=True)
class AuditRecord:
    ts: datetime
    replica: str
    actor: str
    action: str
    subject: str
    details: Mapping[str, object]


@dataclass(frozen=True)
class Cancellation:
    job_id: str
    actor: str
    via: str
    requested_at: datetime
    lifted_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.lifted_at is None


@dataclass(frozen=True)
class LetterLink:
    """A new letter (``new_uuid``) sent in place of a refused one (``original_uuid``) of the same job."""

    original_uuid: str
    new_uuid: str
    job_id: str
    actor: str
    created_at: datetime


class ConsoleStore(Outbox, Effects, Audit, Cancellations, Protocol):
    """What ``services.letters`` asks of the store."""

    def search_letters(self, query: LetterFilter) -> list[LetterMatch]:
        """Newest first, at most ``query.limit``."""
        ...

    def problem_rows(self, job_id: str, *, after_id: int = 0, limit: int = 1000) -> list[OutboxEntry]:
        """The job's rows that failed or were refused (NgDP 400, or a business receipt INVALID /
        NOT_ALLOWED), without XML, in id order; page with ``after_id``."""
        ...

    def search_inbound(self, query: InboundFilter) -> list[InboundMemo]:
        """Newest first, at most ``query.limit``."""
        ...

    def get_inbound(self, memo_uuid: str) -> InboundMemo | None: ...

    def job_audit(self, job_id: str, since: datetime, limit: int = 500) -> list[AuditRecord]:
        """Audit events naming the job (``details.job``) from ``since`` on, oldest first."""
        ...

    def job_effects(self, job_id: str) -> list[Effect]:
        """The job's receipt-mail and category effects (``receipt:{job}…``, ``categories:{job}:…``)."""
        ...

    def receipts_of(self, message_uuid: str) -> list[BusinessReceipt]:
        """The business receipts recorded for one MeMo, oldest first (until housekeeping removes them)."""
        ...

    def reopen_failed(self, job_id: str, message_uuids: Sequence[str] | None = None) -> int:
        """Failed rows of the job (all, or those named) back to pending with the same messageUUID, attempts
        0 and no waiting time; the job back to ``sending`` if any was. ONE transaction; how many rows."""
        ...

    def add_replacements(
        self, job_id: str, replacements: Sequence[tuple[str, PlannedMemo]], actor: str
    ) -> int:
        """For each (original messageUUID, new MeMo): link them and add the new pending row, unless the
        original already has a replacement (a repeated retry adds nothing); the job back to ``sending``
        if anything was added. ONE transaction; how many were added."""
        ...

    def letter_links(self, job_id: str) -> list[LetterLink]: ...

    def request_cancellation(self, job_id: str, actor: str, via: str) -> bool:
        """True if this call requested it (new, or a lifted one requested again)."""
        ...

    def lift_cancellation(self, job_id: str) -> bool: ...

    def cancellation(self, job_id: str) -> Cancellation | None: ...

    def mass_deliveries(self, *, active_only: bool = False, limit: int = 50) -> list[OutboundJob]:
        """Jobs with more than one MeMo, newest first (``active_only``: not finished yet)."""
        ...
