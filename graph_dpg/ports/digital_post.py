"""Port to Næste generation Digital Post (NgDP) and the value types that cross it.

Services talk to NgDP only through :class:`DigitalPostPort` (implemented by
``graph_dpg.adapters.digital_post.NgdpClient`` over REST v1, and faked in tests) and receive pushed
memos/receipts through :class:`PushSink` (implemented by the SQL store).

Errors (``graph_dpg.core.errors``, ``service="ngdp"``) every implementation raises:

* ``RejectedError``      400: NgDP refused the content; ``details`` is NgDP's ErrorMessage verbatim
                          (``code``, ``message``, ``fieldErrors[]``) for the sender's error receipt.
* ``AuthError``          401/403 or a TLS client-certificate refusal: configuration, alert, never hammer.
* ``NotFoundError``      404 on a memo/receipt id.
* ``TransientError``     503, connect errors: nothing happened, retry later with backoff.
* ``AmbiguousOutcomeError`` a send may or may not have been accepted (timeout/reset after the body was
                          sent, and retries with the same messageUUID could not settle it). Retrying with the
                          same messageUUID later is safe: a duplicate answer counts as success.

Receipt statuses (NgDP ``Receipt.receiptStatus``, docs/facts/ngdp.md, "Receipts"): ``RECEIVED`` is NgDP's
answer to an accepted POST (inference), ``COMPLETED`` the positive business receipt, ``INVALID`` /
``NOT_ALLOWED`` the negative ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

ReceiptStatus = Literal["NOT_ALLOWED", "INVALID", "RECEIVED", "COMPLETED"]
RECEIPT_STATUSES: frozenset[str] = frozenset({"NOT_ALLOWED", "INVALID", "RECEIVED", "COMPLETED"})

PublicRegistrationStatus = Literal["REGISTERED", "EXEMPT", "CLOSED"]


@dataclass(frozen=True)
class SendResult:
    """Outcome of ``send_memo``: NgDP has the memo (exactly once, keyed by ``message_uuid``).

    ``duplicate`` is True when NgDP answered that it already had this messageUUID (a retry after an
    ambiguous outcome); ``transmission_id`` is then unknown unless NgDP repeated it.
    """

    transmission_id: str | None
    message_uuid: str
    receipt_status: str
    duplicate: bool = False


@dataclass(frozen=True)
class BusinessReceipt:
    """An NgDP ``Receipt`` (forretningskvittering), pulled or pushed.

    ``id`` is the receipt's resource id for pulled receipts (``receipts/{id}``); pushed receipts carry
    none, so it is their ``transmissionId`` (or ``messageUUID``) there. ``raw`` is the JSON as received.
    """

    id: str
    transmission_id: str | None
    message_uuid: str
    receipt_status: str
    error_code: str | None = None
    error_message: str | None = None
    timestamp: datetime | None = None
    message_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Contact:
    """A citizen or company in NgDP's contact registry (``GET contacts/``, docs/facts/ngdp.md, "Contacts")."""

    id: str
    type: str  # CITIZEN | COMPANY
    registration_status: str | None  # mailboxSubscription.registrationStatus, e.g. AUTOMATIC_REGISTRATION
    public_registration_status: str | None  # REGISTERED | EXEMPT | CLOSED
    cvr_number: str | None = None
    has_cpr: bool = False  # the CPR itself is deliberately not kept: callers already know it
    nem_sms: bool = False

    @property
    def reachable(self) -> bool:
        """True when ordinary (non-mandatory) Digital Post can be delivered."""
        return self.public_registration_status == "REGISTERED"


@dataclass(frozen=True)
class ContactPointInfo:
    """An NgDP contact point with the limits for memos sent to it (docs/facts/ngdp.md, "Contact points")."""

    id: str
    name: str
    memo_size_threshold_mb: float | None
    allowed_number_of_attachments: int | None
    active: bool = True


@dataclass(frozen=True)
class HtmlVerdict:
    """NgDP's verdict on an HTML document (``POST validations/``): ``code`` states approved or rejected
    (OpenAPI ValidateAsync); ``message`` and ``field_errors`` say why, as NgDP wrote them."""

    approved: bool
    code: str | None = None
    message: str | None = None
    field_errors: tuple[Mapping[str, Any], ...] = ()


@runtime_checkable
class DigitalPostPort(Protocol):
    """Everything the services need from NgDP."""

    async def send_memo(self, message_uuid: str, xml: bytes, *, possibly_sent: bool = False) -> SendResult:
        """``possibly_sent``: an earlier attempt for this messageUUID may have reached NgDP (its answer was
        lost); a following 400 is then settled by asking NgDP, not taken as a refusal."""
        ...

    async def validate_html(self, file_name: str, html: bytes) -> HtmlVerdict: ...

    async def list_receipts(self) -> list[str]: ...

    async def fetch_receipts(self, limit: int | None = None) -> list[BusinessReceipt]:
        """Every waiting business receipt in bulk (not deleted; ``delete_receipt`` each once recorded);
        with ``limit``, the first pages only, up to about that many (memory bounded: a mass delivery of
        100,000 letters has 100,000 receipts waiting)."""
        ...

    async def get_receipt(self, receipt_id: str) -> BusinessReceipt: ...

    async def delete_receipt(self, receipt_id: str) -> None: ...

    async def list_memos(self) -> list[str]: ...

    async def get_memo(self, memo_id: str) -> bytes: ...

    async def send_memo_receipt(
        self,
        memo_id: str,
        status: ReceiptStatus,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None: ...

    async def delete_memo(self, memo_id: str) -> None: ...

    async def lookup_contact(self, *, cpr: str | None = None, cvr: str | None = None) -> Contact | None: ...

    async def list_contact_points(self, organisation_id: str | None = None) -> list[ContactPointInfo]: ...

    def certificate_days_left(self) -> int | None: ...


@runtime_checkable
class PushSink(Protocol):
    """Durable storage for what NgDP pushes to us. Return only once it is committed: the push receiver
    answers 200 after these return, and NgDP stops redelivering after a 200."""

    async def store_pushed_memo(self, memo_uuid: str, xml: bytes) -> None: ...

    async def store_pushed_receipt(self, receipt: BusinessReceipt) -> None: ...
