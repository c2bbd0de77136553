"""In-memory state of the NgDP emulator (thread-safe: the server runs in its own thread, tests assert from
theirs).

Lifecycle of a sent memo::

    POST memos/ ──validation fails──► 400 ErrorMessage, nothing stored (``rejected`` records it)
        │        ──messageUUID known──► duplicate answer, ``duplicate_count`` += 1, nothing stored
        └─accepted─► ``accepted`` += AcceptedMemo; 201 Receipt(receiptStatus=RECEIVED)
                     └► business receipt queued for pull (``receipts/``):
                          recipient REGISTERED                    → COMPLETED
                          recipient EXEMPT and memo mandatory     → COMPLETED
                          recipient EXEMPT, not mandatory         → NOT_ALLOWED
                          recipient CLOSED                        → NOT_ALLOWED
                          recipient unknown to the registry       → INVALID
    (the status mapping is an inference: NgDP does not publish the meaning of NOT_ALLOWED/INVALID,
    docs/facts/ngdp.md, "Receipts"). With ``recipient_check="sync"`` the negative cases are refused at POST
    time with 400 instead (``RECIPIENT_NOT_ALLOWED`` / ``RECIPIENT_NOT_FOUND``).

Inbound memos (the gateway as recipient system)::

    queue_inbound_memo(xml) → listed by GET memos/ → GET memos/{id} → POST memos/{id}/receipt (recorded in
    ``inbound_receipts``) → DELETE memos/{id} (recorded in ``deleted_inbound``; no longer listed)
    or, REST PUSH: ``NgdpPusher.push_memos()`` → 200 from the gateway → ``pushed_inbound``; else stays queued
"""

from __future__ import annotations

import random
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from graph_dpg.sandbox.latency import InjectedLatency
from graph_dpg.sandbox.ngdp.memo_check import MemoSummary, summarize

RegistrationStatus = Literal["REGISTERED", "EXEMPT", "CLOSED"]
FaultKind = Literal["503", "slow", "reset", "timeout_after_accept"]
# How the emulator answers a messageUUID it already has. NgDP does not publish it (docs/facts/ngdp.md,
# "Idempotency"); each is a plausible shape [inference]:
#   "409"               409 with an ErrorMessage (code DUPLICATE_MESSAGE_UUID)
#   "400-code"          400, ErrorMessage code DUPLICATE_MESSAGE_UUID, no field errors
#   "400-field-errors"  400, a generic code (VALIDATION_FAILED) and a fieldError on messageUUID saying so
#   "422"               422 (listed by the OpenAPI for POST memos/{id}/receipt, not for POST memos/)
#   "400-opaque"        400 with a generic code and no word of a duplicate: only reconciliation tells
DuplicateAnswer = Literal["409", "400-code", "400-field-errors", "422", "400-opaque"]
DUPLICATE_ANSWERS: tuple[DuplicateAnswer, ...] = ("409", "400-code", "400-field-errors", "422", "400-opaque")

#: Environment variables that set the emulator's two documented settings for ``graph-dpg sandbox`` and
#: ``python -m graph_dpg.sandbox.ngdp`` (docs/sandbox.md, "NgDP emulator settings"); flags override them.
DUPLICATE_ANSWER_ENV = "GRAPH_DPG_SANDBOX_NGDP_DUPLICATE_ANSWER"
VALIDATE_MEMOS_ENV = "GRAPH_DPG_SANDBOX_NGDP_VALIDATE_MEMOS"


def settings_from_env(environ: Mapping[str, str]) -> tuple[DuplicateAnswer, bool]:
    """(duplicate_answer, validate_memos) from the environment; defaults "400-code" and on. A value that
    is not one of the choices raises ``ValueError`` naming the variable."""
    shape = environ.get(DUPLICATE_ANSWER_ENV, "").strip() or "400-code"
    if shape not in DUPLICATE_ANSWERS:
        raise ValueError(f"{DUPLICATE_ANSWER_ENV}={shape!r}: one of {', '.join(DUPLICATE_ANSWERS)}")
    flag = environ.get(VALIDATE_MEMOS_ENV, "").strip().lower() or "true"
    if flag not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ValueError(f"{VALIDATE_MEMOS_ENV}={flag!r}: true or false")
    return shape, flag in ("1", "true", "yes", "on")


Endpoint = Literal["send", "receipts", "memos", "contacts", "contact-points", "*"]

# NgDP's registrationStatus behind each public status (OpenAPI enum values; docs/facts/ngdp.md, "Contacts").
_REGISTRATION_DETAIL = {
    "REGISTERED": "AUTOMATIC_REGISTRATION",
    "EXEMPT": "EXEMPT_OTHER_REASON",
    "CLOSED": "EXEMPT_LEFT_THE_COUNTRY",
}

# Public senders may send 99.5 MB with 10 attachments (bek. om størrelse på filer i Digital Post §3,
# retsinformation id=183321); used when the recipient names no contact point.
DEFAULT_SIZE_MB = 99.5
DEFAULT_ATTACHMENTS = 10


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Organisation:
    id: str
    cvr: str
    name: str
    mandatory_post_allowed: bool = False
    legal_notification_allowed: bool = False


@dataclass
class System:
    id: str
    api_token: str
    organisation_id: str
    roles: frozenset[str] = frozenset({"SENDER", "RECIPIENT"})
    active: bool = True


@dataclass
class RegistryEntry:
    id: str
    type: str  # CITIZEN | COMPANY
    number: str
    status: RegistrationStatus
    nem_sms: bool = False


@dataclass
class ContactPoint:
    id: str
    name: str
    memo_size_threshold_mb: float
    allowed_number_of_attachments: int
    organisation_id: str
    active: bool = True
    visible: bool = True


@dataclass(frozen=True)
class AcceptedMemo:
    message_uuid: str
    xml: bytes
    summary: MemoSummary
    accepted_at: datetime
    transmission_id: str
    system_id: str


@dataclass(frozen=True)
class RejectedMemo:
    message_uuid: str
    status: int
    error: dict[str, Any]
    at: datetime


@dataclass
class InboundMemo:
    id: str
    xml: bytes
    queued_at: datetime
    receipts: list[dict[str, Any]] = field(default_factory=list)
    fetched: int = 0
    deleted: bool = False
    forwarded: bool = False  # sent by the SMTP forwarder: not listed for pull, its receipt still taken


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    delay: float = 0.0  # "slow": seconds before answering; "timeout_after_accept": seconds before the hang-up


@dataclass
class _Rate:
    fault: Fault
    rate: float
    endpoint: Endpoint


class FaultPlan:
    """Which request gets which fault: scripted faults first (in order, per endpoint), then random ones at
    configured rates from a seeded RNG so a failing test replays identically."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        # S311: reproducible fault injection, not cryptography.
        self._rng = random.Random(seed)  # noqa: S311
        self._scripts: dict[str, deque[Fault | None]] = {}
        self._rates: list[_Rate] = []
        self.injected: list[tuple[str, FaultKind]] = []

    def script(self, endpoint: Endpoint, *faults: Fault | FaultKind | None) -> None:
        """Queue faults for the next requests to ``endpoint``; ``None`` lets one request through."""
        with self._lock:
            queue = self._scripts.setdefault(endpoint, deque())
            for f in faults:
                queue.append(Fault(f) if isinstance(f, str) else f)

    def set_rate(self, kind: FaultKind, rate: float, *, endpoint: Endpoint = "*", delay: float = 0.0) -> None:
        with self._lock:
            self._rates = [r for r in self._rates if not (r.fault.kind == kind and r.endpoint == endpoint)]
            if rate > 0:
                self._rates.append(_Rate(Fault(kind, delay), rate, endpoint))

    def clear(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._rates.clear()

    def next_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            for key in (endpoint, "*"):
                queue = self._scripts.get(key)
                if queue:
                    fault = queue.popleft()
                    if fault is not None:
                        self.injected.append((endpoint, fault.kind))
                    return fault
            for rate in self._rates:
                if rate.endpoint in (endpoint, "*") and self._rng.random() < rate.rate:
                    self.injected.append((endpoint, rate.fault.kind))
                    return rate.fault
        return None


class NgdpState:
    """Everything the emulated NgDP knows. One organisation with one system is created up front (what a
    sandbox needs); add more with ``add_organisation``/``add_system``.

    ``validate_memos`` (default on): every posted MeMo goes through the emulator's own validator
    (``memo_check.validate_memo``: xmlschema + its own business rules, ~10-100x slower than the gateway's
    libxml2). Only throughput benchmarks switch it off, and they print that they did."""

    def __init__(
        self,
        *,
        organisation_cvr: str = "29189846",
        organisation_name: str = "Sandbox Kommune",
        system_id: str | None = None,
        api_token: str | None = None,
        mandatory_post_allowed: bool = True,
        legal_notification_allowed: bool = True,
        recipient_check: Literal["receipt", "sync"] = "receipt",
        validate_memos: bool = True,
        seed: int = 0,
        hang_seconds: float = 5.0,
        duplicate_answer: DuplicateAnswer = "400-code",
        send_latency: InjectedLatency | None = None,
    ) -> None:
        self._lock = threading.RLock()
        #: A benchmark aid, not an emulated behaviour (sandbox/latency.py): each send (POST memos/) waits a
        #: time drawn from this range before it is handled. None (default): no delay.
        self.send_latency = send_latency
        if duplicate_answer not in DUPLICATE_ANSWERS:
            raise ValueError(f"duplicate_answer must be one of {DUPLICATE_ANSWERS}")
        self.duplicate_answer: DuplicateAnswer = duplicate_answer
        # The event log (GET events/): one entry per memo taken in or refused [inference: which events
        # NgDP writes; the tags are the OpenAPI's EventLogEventTag values].
        self._events: list[dict[str, Any]] = []
        self.html_validations: list[tuple[str, str, bool]] = []  # (fileName, policy, approved)
        self.recipient_check = recipient_check
        self.validate_memos = validate_memos
        self.hang_seconds = hang_seconds
        self.faults = FaultPlan(seed)
        self.organisations: dict[str, Organisation] = {}
        self.systems: dict[str, System] = {}
        self.registry: dict[tuple[str, str], RegistryEntry] = {}
        self.contact_points: dict[str, ContactPoint] = {}
        self._accepted: dict[str, AcceptedMemo] = {}
        self._rejected: list[RejectedMemo] = []
        self.duplicate_count = 0
        self._receipts: dict[str, dict[str, Any]] = {}
        self.deleted_receipts: list[str] = []
        self._inbound: dict[str, InboundMemo] = {}
        self.deleted_inbound: list[str] = []
        self.pushed_inbound: list[str] = []
        self.request_log: list[tuple[str, str, int]] = []
        org = self.add_organisation(
            organisation_cvr,
            organisation_name,
            mandatory_post_allowed=mandatory_post_allowed,
            legal_notification_allowed=legal_notification_allowed,
        )
        self.organisation_id = org.id
        system = self.add_system(org.id, system_id=system_id, api_token=api_token)
        self.system_id = system.id
        self.api_token = system.api_token

    # ------------------------------------------------------------------ set-up

    def add_organisation(
        self,
        cvr: str,
        name: str,
        *,
        mandatory_post_allowed: bool = False,
        legal_notification_allowed: bool = False,
        organisation_id: str | None = None,
    ) -> Organisation:
        org = Organisation(
            organisation_id or str(uuid.uuid4()),
            cvr,
            name,
            mandatory_post_allowed,
            legal_notification_allowed,
        )
        with self._lock:
            self.organisations[org.id] = org
        return org

    def add_system(
        self,
        organisation_id: str,
        *,
        system_id: str | None = None,
        api_token: str | None = None,
        roles: frozenset[str] = frozenset({"SENDER", "RECIPIENT"}),
        active: bool = True,
    ) -> System:
        system = System(
            system_id or str(uuid.uuid4()),
            api_token or str(uuid.uuid4()),
            organisation_id,
            roles,
            active,
        )
        with self._lock:
            self.systems[system.id] = system
        return system

    def register(
        self, *, cpr: str | None = None, cvr: str | None = None, status: RegistrationStatus = "REGISTERED"
    ) -> RegistryEntry:
        if (cpr is None) == (cvr is None):
            raise ValueError("give exactly one of cpr= or cvr=")
        kind, number = ("CITIZEN", cpr) if cpr is not None else ("COMPANY", cvr)
        assert number is not None
        entry = RegistryEntry(str(uuid.uuid4()), kind, number.replace("-", ""), status)
        with self._lock:
            self.registry[(kind, entry.number)] = entry
        return entry

    def add_contact_point(
        self,
        id: str,
        name: str,
        memo_size_threshold_mb: float = DEFAULT_SIZE_MB,
        allowed_number_of_attachments: int = DEFAULT_ATTACHMENTS,
        *,
        organisation_id: str | None = None,
        active: bool = True,
        visible: bool = True,
    ) -> ContactPoint:
        point = ContactPoint(
            id.lower(),
            name,
            memo_size_threshold_mb,
            allowed_number_of_attachments,
            organisation_id or self.organisation_id,
            active,
            visible,
        )
        with self._lock:
            self.contact_points[point.id] = point
        return point

    # ------------------------------------------------------------------ lookups used by the app

    def authenticate(self, system_id: str, token: str) -> System | None:
        with self._lock:
            system = self.systems.get(system_id)
        if system is None or not secrets.compare_digest(system.api_token.encode(), token.encode()):
            return None
        return system

    def organisation_of(self, system: System) -> Organisation:
        with self._lock:
            return self.organisations[system.organisation_id]

    def lookup(self, kind: str, number: str) -> RegistryEntry | None:
        with self._lock:
            return self.registry.get((kind, number))

    def contact_point(self, point_id: str) -> ContactPoint | None:
        with self._lock:
            return self.contact_points.get(point_id.lower())

    def contact_points_of(self, organisation_id: str | None) -> list[ContactPoint]:
        with self._lock:
            return [
                p
                for p in self.contact_points.values()
                if organisation_id is None or p.organisation_id == organisation_id
            ]

    def registration_detail(self, status: str) -> str:
        return _REGISTRATION_DETAIL.get(status, "CREATED_AWAITING_REGISTRATION")

    def log_request(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.request_log.append((method, path, status))

    # ------------------------------------------------------------------ sending

    def find_accepted(self, message_uuid: str) -> AcceptedMemo | None:
        with self._lock:
            return self._accepted.get(message_uuid.lower())

    def note_duplicate(self) -> None:
        with self._lock:
            self.duplicate_count += 1

    def note_rejected(self, message_uuid: str, status: int, error: dict[str, Any]) -> None:
        with self._lock:
            self._rejected.append(RejectedMemo(message_uuid, status, error, now_utc()))
            self._log_event("MEMO_SEND_VALIDATION_FAILED", message_uuid)

    def log_event(self, tag: str, message_uuid: str) -> None:
        """Write one event to the log as if NgDP had (a scenario's busy log: more events naming a
        messageUUID than one page of ``events/`` holds)."""
        with self._lock:
            self._log_event(tag, message_uuid)

    def _log_event(self, tag: str, message_uuid: str) -> None:
        at = iso(now_utc())
        self._events.append(
            {
                "id": str(uuid.uuid4()),
                "eventId": str(uuid.uuid4()),
                "eventTag": tag,
                "eventTime": at,
                "created": at,
                "type": "MEMO",
                "eventProperties": {"messageUUID": message_uuid},
            }
        )

    def events(self, any_value: str | None) -> list[dict[str, Any]]:
        """The event log, filtered like ``any`` (a value matching any field) [inference]."""
        with self._lock:
            found = list(self._events)
        if any_value:
            wanted = {v.strip().lower() for v in any_value.split(",") if v.strip()}
            found = [
                e
                for e in found
                if wanted & {str(v).lower() for v in (*e.values(), *e["eventProperties"].values())}
            ]
        return found

    def business_status(self, summary: MemoSummary) -> tuple[str, str | None, str | None]:
        """(receiptStatus, errorCode, errorMessage) of the business receipt for an accepted memo."""
        kind = "CITIZEN" if summary.recipient_id_type == "CPR" else "COMPANY"
        entry = self.lookup(kind, summary.recipient_id)
        if entry is None:
            return "INVALID", "RECIPIENT_NOT_FOUND", "The recipient is not known in the contact registry"
        if entry.status == "REGISTERED" or (entry.status == "EXEMPT" and summary.mandatory):
            return "COMPLETED", None, None
        if entry.status == "EXEMPT":
            return "NOT_ALLOWED", "RECIPIENT_EXEMPT", "The recipient is exempt from Digital Post"
        return "NOT_ALLOWED", "RECIPIENT_MAILBOX_CLOSED", "The recipient's mailbox is closed"

    def accept(self, xml: bytes, summary: MemoSummary, system: System) -> AcceptedMemo | None:
        """Record an accepted memo and queue its business receipt. None if the UUID was already accepted
        (a concurrent duplicate that passed the earlier check)."""
        key = summary.message_uuid.lower()
        with self._lock:
            if key in self._accepted:
                self.duplicate_count += 1
                return None
            memo = AcceptedMemo(key, xml, summary, now_utc(), str(uuid.uuid4()), system.id)
            self._accepted[key] = memo
            self._log_event("MEMO_SEND_RECEIVED", summary.message_uuid)
            status, code, message = self.business_status(summary)
            receipt: dict[str, Any] = {
                "transmissionId": memo.transmission_id,
                "messageUUID": summary.message_uuid,
                "messageId": summary.message_id,
                "timeStamp": iso(now_utc()),
                "receiptStatus": status,
                "errorCode": code,
                "errorMessage": message,
            }
            self._receipts[str(uuid.uuid4())] = receipt
            return memo

    @property
    def accepted(self) -> list[AcceptedMemo]:
        with self._lock:
            return list(self._accepted.values())

    @property
    def rejected(self) -> list[RejectedMemo]:
        with self._lock:
            return list(self._rejected)

    def accepted_count(self, message_uuid: str) -> int:
        """1 if NgDP holds this memo, 0 if not — the exactly-once assertion."""
        return 1 if self.find_accepted(message_uuid) is not None else 0

    # ------------------------------------------------------------------ receipts (pull)

    def receipt_ids(self) -> list[str]:
        with self._lock:
            return list(self._receipts)

    def receipts_with_ids(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return [(rid, dict(r)) for rid, r in self._receipts.items()]

    def receipt(self, receipt_id: str) -> dict[str, Any] | None:
        with self._lock:
            r = self._receipts.get(receipt_id)
            return dict(r) if r is not None else None

    def delete_receipt(self, receipt_id: str) -> bool:
        with self._lock:
            if self._receipts.pop(receipt_id, None) is None:
                return False
            self.deleted_receipts.append(receipt_id)
            return True

    def queue_receipt(self, receipt: dict[str, Any]) -> str:
        """Put an arbitrary receipt up for pull (e.g. a late INVALID from a viewing client)."""
        receipt_id = str(uuid.uuid4())
        with self._lock:
            self._receipts[receipt_id] = dict(receipt)
        return receipt_id

    # ------------------------------------------------------------------ inbound memos

    def queue_inbound_memo(self, xml: bytes) -> str:
        """Queue a MeMo (1.1 or 1.2) for the gateway to fetch; returns its id (= messageUUID)."""
        memo_id = summarize(xml).message_uuid or str(uuid.uuid4())
        with self._lock:
            self._inbound[memo_id] = InboundMemo(memo_id, xml, now_utc())
        return memo_id

    def inbound_ids(self) -> list[str]:
        with self._lock:
            return [m.id for m in self._inbound.values() if not m.deleted and not m.forwarded]

    def inbound(self, memo_id: str) -> InboundMemo | None:
        with self._lock:
            memo = self._inbound.get(memo_id.lower())
            return memo if memo is not None and not memo.deleted else None

    def fetch_inbound(self, memo_id: str) -> bytes | None:
        with self._lock:
            memo = self.inbound(memo_id)
            if memo is None:
                return None
            memo.fetched += 1
            return memo.xml

    def record_inbound_receipt(self, memo_id: str, receipt: dict[str, Any]) -> bool:
        with self._lock:
            memo = self.inbound(memo_id)
            if memo is None:
                return False
            memo.receipts.append(dict(receipt))
            return True

    def delete_inbound(self, memo_id: str) -> bool:
        with self._lock:
            memo = self.inbound(memo_id)
            if memo is None:
                return False
            memo.deleted = True
            self.deleted_inbound.append(memo.id)
            return True

    def queue_forwarded_memo(self, xml: bytes) -> str:
        """A memo for an SMTP recipient system: held (its business receipt is taken at ``memos/{id}/receipt``,
        inference) but never listed for pull; the forwarder mails it. Returns its id (= messageUUID)."""
        memo_id = self.queue_inbound_memo(xml)
        with self._lock:
            self._inbound[memo_id].forwarded = True
        return memo_id

    def mark_pushed(self, memo_id: str) -> None:
        """REST PUSH delivered the memo (the recipient answered 200): it leaves the queue."""
        with self._lock:
            memo = self.inbound(memo_id)
            if memo is not None:
                memo.deleted = True
                self.pushed_inbound.append(memo.id)

    def inbound_receipts(self, memo_id: str) -> list[dict[str, Any]]:
        with self._lock:
            memo = self._inbound.get(memo_id.lower())
            return [dict(r) for r in memo.receipts] if memo is not None else []
