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

Parsers are lenient about absent optional fields (NgDP omits nulls) and strict about the ones the gateway
correlates on (``messageUUID``).
"""

from __future__ import annotations

from collections.abc import Mapping
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


def contact_points_from_json(data: object) -> tuple[list[ContactPointInfo], int]:
    """A contact-point listing → (items, total pages). The OpenAPI text seen does not pin whether the list
    is paged, so both a bare list and a paged object (``content``) are accepted [inference]."""
    if isinstance(data, list):
        items: object = data
        pages = 1
    elif isinstance(data, Mapping):
        items = data.get("content", data.get("contactPoints", []))
        total = data.get("totalPages")
        pages = total if isinstance(total, int) and total > 0 else 1
    else:
        raise WireFormatError("contact point listing is neither a list nor an object")
    if not isinstance(items, list):
        raise WireFormatError("contact point listing content is not a list")
    return [contact_point_from_json(x) for x in items if isinstance(x, Mapping)], pages


def error_message_from_json(data: object) -> dict[str, Any] | None:
    """Return NgDP's ``ErrorMessage`` verbatim when ``data`` is one, else None."""
    if isinstance(data, Mapping) and ("code" in data or "fieldErrors" in data):
        return dict(data)
    return None
