"""The Digital Post port in memory: NgDP as the client presents it to the services.

That is NgDP after the client's translations (``graph_dpg.adapters.digital_post``): a memo sent again with
a messageUUID NgDP already has is a success with ``duplicate=True``; deleting a receipt or a memo that is
gone, and a second business receipt for a memo, are no-ops; a receipt for a memo NgDP does not hold is
``NotFoundError``. Errors are those of ``graph_dpg.core.errors`` with ``service="ngdp"``.

Faults: ``fail_next(method, error)`` makes the next call raise before it does anything (e.g. a
``RejectedError`` with NgDP's ErrorMessage in ``details``, or a ``TransientError``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from graph_dpg.core.errors import NotFoundError
from graph_dpg.ports.digital_post import (
    BusinessReceipt,
    Contact,
    ContactPointInfo,
    HtmlVerdict,
    ReceiptStatus,
    SendResult,
)


@dataclass(frozen=True)
class MemoReceipt:
    """A business receipt the gateway sent for a memo it received."""

    memo_id: str
    status: str
    error_code: str | None = None
    error_message: str | None = None


@dataclass
class FakeDigitalPost:
    """Every call of ``DigitalPostPort`` on NgDP's state kept in memory (see the module docstring)."""

    accepted: dict[str, bytes] = field(default_factory=dict)  # messageUUID → MeMo we sent
    receipts: dict[str, BusinessReceipt] = field(default_factory=dict)  # receipts waiting for us
    memos: dict[str, bytes] = field(default_factory=dict)  # memos waiting for us
    memo_receipts: dict[str, MemoReceipt] = field(default_factory=dict)  # the receipts we sent, by memo
    contacts: dict[str, Contact] = field(default_factory=dict)  # by CPR or CVR
    contact_points: list[ContactPointInfo] = field(default_factory=list)
    days_left: int | None = None
    send_attempts: list[str] = field(default_factory=list)  # every messageUUID sent, failed tries included
    failures: dict[str, list[BaseException]] = field(default_factory=dict)
    html_verdicts: dict[str, HtmlVerdict] = field(default_factory=dict)  # by file name; else approved
    html_checked: list[str] = field(default_factory=list)  # every file name validate_html was asked about
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # ------------------------------------------------------------------ test helpers

    def fail_next(self, method: str, error: BaseException, times: int = 1) -> None:
        if not callable(getattr(self, method, None)):
            raise AttributeError(f"the Digital Post port has no method {method!r}")
        self.failures.setdefault(method, []).extend([error] * times)

    def hold_memo(self, memo_id: str, xml: bytes) -> None:
        """A memo NgDP holds for the organisation until it is deleted."""
        self.memos[memo_id] = xml

    def hold_receipt(
        self, message_uuid: str, status: str, *, receipt_id: str | None = None, **raw: str
    ) -> str:
        """A business receipt NgDP holds for the organisation (about one of its MeMos); its id."""
        rid = receipt_id or f"R-{next(self._ids)}"
        body: dict[str, str] = {"messageUUID": message_uuid, "receiptStatus": status, **raw}
        self.receipts[rid] = BusinessReceipt(
            id=rid,
            transmission_id=raw.get("transmissionId"),
            message_uuid=message_uuid,
            receipt_status=status,
            error_code=raw.get("errorCode"),
            error_message=raw.get("errorMessage"),
            raw=body,
        )
        return rid

    # ------------------------------------------------------------------ the port

    async def send_memo(self, message_uuid: str, xml: bytes, *, possibly_sent: bool = False) -> SendResult:
        self.send_attempts.append(message_uuid)
        self._enter("send_memo")
        if message_uuid in self.accepted:
            return SendResult(None, message_uuid, "RECEIVED", duplicate=True)
        self.accepted[message_uuid] = xml
        return SendResult(f"T-{next(self._ids)}", message_uuid, "RECEIVED")

    async def validate_html(self, file_name: str, html: bytes) -> HtmlVerdict:
        self._enter("validate_html")
        self.html_checked.append(file_name)
        return self.html_verdicts.get(file_name, HtmlVerdict(True, "APPROVED"))

    async def list_receipts(self) -> list[str]:
        self._enter("list_receipts")
        return list(self.receipts)

    async def fetch_receipts(self, limit: int | None = None) -> list[BusinessReceipt]:
        self._enter("fetch_receipts")
        return list(self.receipts.values())[:limit]

    async def get_receipt(self, receipt_id: str) -> BusinessReceipt:
        self._enter("get_receipt")
        if receipt_id not in self.receipts:
            raise NotFoundError(f"receipt {receipt_id} not found", "ngdp", 404)
        return self.receipts[receipt_id]

    async def delete_receipt(self, receipt_id: str) -> None:
        self._enter("delete_receipt")
        self.receipts.pop(receipt_id, None)

    async def list_memos(self) -> list[str]:
        self._enter("list_memos")
        return list(self.memos)

    async def get_memo(self, memo_id: str) -> bytes:
        self._enter("get_memo")
        if memo_id not in self.memos:
            raise NotFoundError(f"memo {memo_id} not found", "ngdp", 404)
        return self.memos[memo_id]

    async def send_memo_receipt(
        self,
        memo_id: str,
        status: ReceiptStatus,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        self._enter("send_memo_receipt")
        if memo_id not in self.memos:
            raise NotFoundError(f"memo {memo_id} not found", "ngdp", 404)
        self.memo_receipts.setdefault(memo_id, MemoReceipt(memo_id, status, error_code, error_message))

    async def delete_memo(self, memo_id: str) -> None:
        self._enter("delete_memo")
        self.memos.pop(memo_id, None)

    async def lookup_contact(self, *, cpr: str | None = None, cvr: str | None = None) -> Contact | None:
        self._enter("lookup_contact")
        if (cpr is None) == (cvr is None):
            raise ValueError("give exactly one of cpr= or cvr=")
        return self.contacts.get(cpr or cvr or "")

    async def list_contact_points(self, organisation_id: str | None = None) -> list[ContactPointInfo]:
        self._enter("list_contact_points")
        return list(self.contact_points)

    def certificate_days_left(self) -> int | None:
        return self.days_left

    def _enter(self, method: str) -> None:
        queued = self.failures.get(method)
        if queued:
            raise queued.pop(0)
