"""NgDP REST v1 JSON shapes → the port's value types.

Shapes (docs/facts/ngdp.md; from the NSwag client generated from NgDP's OpenAPI 1.68.0, github
sjkp/digitalpost ``src/digitalpost/DigitalPostClient.cs``, and its README's real ``contacts/`` response):

* ``Receipt``: ``transmissionId``, ``messageUUID``, ``messageId``, ``errorCode``, ``errorMessage``,
  ``timeStamp``, ``receiptStatus``.
* ``ErrorMessage``: ``code``, ``message``, ``fieldErrors[]`` (``resource``, ``field``, ``code``, ``message``,
  ``rejectedValue``).
* ``PagingResultUUID``: ``content[]`` (UUIDs), ``number``, ``size``, ``totalElements``, ``totalPages``.
* ``ContactSearchResult``: ``contacts[]`` with ``mailboxSubscription.registrationStatus`` and
  ``mailboxSubscription.publicRegistrationStatus``.
* ``ContactPoint``: ``id``, ``name``, ``memoSizeThresholdMB``, ``allowedNumberOfAttachments``, ``active``.
* ``ContactPointSearchResult``: ``currentPage``, ``next``, ``totalPages``, ``elementsOnPage``,
  ``totalElements``, ``contactPoints[]``.
* ``ReceiptSearchResult`` (``GET receipts-bulk/``): ``currentPage``, ``totalPages``, ``elementsOnPage``,
  ``totalElements``, ``receipts[]`` (``BulkReceipt`` = ``Receipt`` + ``id``).

Parsers are lenient about absent optional fields (NgDP omits nulls) and strict about the ones the gateway
correlates on (``messageUUID``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graph_dpg.ports.digital_post import BusinessReceipt, Contact, ContactPointInfo


class WireFormatError(ValueError):
    """NgDP sent JSON the gateway cannot interpret."""


def _opt_str(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def parse_timestamp(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def receipt_from_json(data: object, *, receipt_id: str | None = None) -> BusinessReceipt:
    if not isinstance(data, Mapping):
        raise WireFormatError("Receipt is not a JSON object")
    message_uuid = _opt_str(data.get("messageUUID"))
    status = _opt_str(data.get("receiptStatus"))
    if message_uuid is None or status is None:
        raise WireFormatError("Receipt lacks messageUUID or receiptStatus")
    transmission_id = _opt_str(data.get("transmissionId"))
    return BusinessReceipt(
        id=receipt_id or _opt_str(data.get("id")) or transmission_id or message_uuid,
        transmission_id=transmission_id,
        message_uuid=message_uuid,
        receipt_status=status,
        error_code=_opt_str(data.get("errorCode")),
        error_message=_opt_str(data.get("errorMessage")),
        timestamp=parse_timestamp(data.get("timeStamp")),
        message_id=_opt_str(data.get("messageId")),
        raw=dict(data),
    )


def paging_ids(data: object) -> tuple[list[str], int]:
    """``PagingResultUUID`` → (ids on this page, total pages). A bare JSON list is accepted as one page."""
    if isinstance(data, list):
        return [str(x) for x in data], 1
    if not isinstance(data, Mapping):
        raise WireFormatError("paging result is not a JSON object")
    content = data.get("content") or []
    if not isinstance(content, list):
        raise WireFormatError("paging result content is not a list")
    total_pages = data.get("totalPages")
    pages = total_pages if isinstance(total_pages, int) and total_pages > 0 else 1
    return [str(x) for x in content], pages


def contact_from_json(data: Mapping[str, Any]) -> Contact:
    sub = data.get("mailboxSubscription")
    sub = sub if isinstance(sub, Mapping) else {}
    nem_sms = data.get("nemSmsSubscription")
    return Contact(
        id=str(data.get("id", "")),
        type=str(data.get("type", "")),
        registration_status=_opt_str(sub.get("registrationStatus")),
        public_registration_status=_opt_str(sub.get("publicRegistrationStatus")),
        cvr_number=_opt_str(data.get("cvrNumber")),
        has_cpr=bool(data.get("cprNumber")),
        nem_sms=bool(nem_sms),
    )


def contacts_from_search(data: object) -> list[Contact]:
    if not isinstance(data, Mapping):
        raise WireFormatError("ContactSearchResult is not a JSON object")
    contacts = data.get("contacts") or []
    if not isinstance(contacts, list):
        raise WireFormatError("ContactSearchResult.contacts is not a list")
    return [contact_from_json(c) for c in contacts if isinstance(c, Mapping)]


def contact_point_from_json(data: Mapping[str, Any]) -> ContactPointInfo:
    size = data.get("memoSizeThresholdMB")
    count = data.get("allowedNumberOfAttachments")
    return ContactPointInfo(
        id=str(data.get("id", "")),
        name=str(data.get("name", "")),
        memo_size_threshold_mb=float(size) if isinstance(size, int | float) else None,
        allowed_number_of_attachments=int(count) if isinstance(count, int) else None,
        active=bool(data.get("active", True)),
    )


@dataclass(frozen=True)
class SearchPage:
    """One page of an NgDP ``*SearchResult`` (``ContactPointSearchResult``, ``ReceiptSearchResult``):
    ``currentPage`` (zero-based), ``totalPages``, and ``next`` (absent or null on the last page)."""

    current_page: int
    total_pages: int
    has_next: bool

    def next_page(self) -> int | None:
        """The page to ask for next, or None when this was the last one."""
        following = self.current_page + 1
        if following < self.total_pages or (self.has_next and self.total_pages <= 0):
            return following
        return None


def _search_page(data: Mapping[str, Any]) -> SearchPage:
    current = data.get("currentPage")
    total = data.get("totalPages")
    nxt = data.get("next")
    return SearchPage(
        current_page=current if isinstance(current, int) and current >= 0 else 0,
        total_pages=total if isinstance(total, int) and total >= 0 else 0,
        has_next=bool(nxt),
    )


def contact_points_from_json(data: object) -> tuple[list[ContactPointInfo], SearchPage]:
    """``ContactPointSearchResult`` (OpenAPI QueryContactPointsAsync / QueryAllContactPointsAsync):
    ``{currentPage, next, totalPages, elementsOnPage, totalElements, contactPoints[]}``."""
    if not isinstance(data, Mapping):
        raise WireFormatError("ContactPointSearchResult is not a JSON object")
    items = data.get("contactPoints")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise WireFormatError("ContactPointSearchResult.contactPoints is not a list")
    return [contact_point_from_json(x) for x in items if isinstance(x, Mapping)], _search_page(data)


def receipts_from_bulk(data: object) -> tuple[list[BusinessReceipt], SearchPage]:
    """``ReceiptSearchResult`` (OpenAPI BulkFetchReceiptsAsync, ``GET receipts-bulk/``):
    ``{currentPage, totalPages, elementsOnPage, totalElements, receipts[]}``; each ``BulkReceipt`` is a
    ``Receipt`` plus ``id``, the id ``receipts/{id}`` knows it by."""
    if not isinstance(data, Mapping):
        raise WireFormatError("ReceiptSearchResult is not a JSON object")
    items = data.get("receipts")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise WireFormatError("ReceiptSearchResult.receipts is not a list")
    receipts: list[BusinessReceipt] = []
    for item in items:
        if not isinstance(item, Mapping) or not _opt_str(item.get("id")):
            raise WireFormatError("a BulkReceipt lacks its id")
        receipts.append(receipt_from_json(item, receipt_id=str(item["id"])))
    return receipts, _search_page(data)


def memo_events_from_json(data: object, message_uuid: str) -> list[str]:
    """``EventLogSearchResult`` (OpenAPI QueryEventsAsync: ``events[]`` of ``EventLog``, each with an
    ``eventTag``) → the tags of the events that name ``message_uuid`` anywhere in their JSON (``any``
    searches every field, so the client checks what came back)."""
    return memo_event_page_from_json(data, message_uuid)[0]


def memo_event_page_from_json(data: object, message_uuid: str) -> tuple[list[str], SearchPage]:
    """:func:`memo_events_from_json` and where the page is: ``EventLogSearchResult`` is paged like the
    other search results (``currentPage`` zero-based, ``totalPages``, ``next``)."""
    if not isinstance(data, Mapping):
        raise WireFormatError("EventLogSearchResult is not a JSON object")
    events = data.get("events")
    if events is None:
        events = []
    if not isinstance(events, list):
        raise WireFormatError("EventLogSearchResult.events is not a list")
    wanted = message_uuid.strip().lower()
    tags: list[str] = []
    for event in events:
        if not isinstance(event, Mapping):
            continue
        if wanted in json.dumps(event, default=str).lower():
            tag = event.get("eventTag")
            if isinstance(tag, str):
                tags.append(tag)
    return tags, _search_page(data)


def error_message_from_json(data: object) -> dict[str, Any] | None:
    """Return NgDP's ``ErrorMessage`` verbatim when ``data`` is one, else None."""
    if isinstance(data, Mapping) and ("code" in data or "fieldErrors" in data):
        return dict(data)
    return None
