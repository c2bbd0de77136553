"""Contacts of a mailbox, as far as Graph serves them for S/MIME certificates.

A contact has an id, a display name, e-mail addresses and its multi-value extended properties; Outlook keeps
a contact's certificates in PidTagUserX509Certificate, which Graph names ``BinaryArray 0x3A70`` and returns
base64 per value ([MS-OXOABK] 2.2.4.36; api-reference/v1.0/api/multivaluelegacyextendedproperty-get.md).

Served: ``GET /users/{m}/contacts`` (user-list-contacts.md) with ``$filter=emailAddresses/any(a:a/address eq
'...')`` - the only filter the page allows on addresses; any other ``$filter`` is refused with 400 - and
``$top`` (default 10, Graph's page size for Outlook collections) and ``$select``; ``GET /users/{m}/contacts/
{id}`` (contact-get.md) with ``$expand=multiValueExtendedProperties($filter=id eq '...')``. The address
comparison ignores case (inference: Exchange compares SMTP addresses case-insensitively).
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

USER_X509_CERTIFICATE = "BinaryArray 0x3A70"

_ADDRESS_FILTER = re.compile(
    r"^\s*emailAddresses/any\(\s*(\w+)\s*:\s*\1/address\s+eq\s+'((?:[^']|'')*)'\s*\)\s*$", re.IGNORECASE
)
_EXPAND_ID = re.compile(r"^\s*id\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)


def new_contact(
    display_name: str, emails: Iterable[str], certificates: Iterable[bytes] = ()
) -> dict[str, Any]:
    """A stored contact; ``certificates`` are the raw PidTagUserX509Certificate values."""
    values = [base64.b64encode(c).decode("ascii") for c in certificates]
    props = [{"id": USER_X509_CERTIFICATE, "value": values}] if values else []
    return {
        "id": "contact-" + uuid.uuid4().hex,
        "displayName": display_name,
        "emailAddresses": [{"name": display_name, "address": e} for e in emails],
        "multiValueExtendedProperties": props,
    }


class ContactQueryError(ValueError):
    """A query the emulator (like Graph) does not accept."""


def list_contacts(contacts: Iterable[Mapping[str, Any]], query: Mapping[str, str]) -> list[dict[str, Any]]:
    items = list(contacts)
    filter_text = query.get("$filter")
    if filter_text:
        match = _ADDRESS_FILTER.match(filter_text)
        if match is None:
            raise ContactQueryError(f"Invalid filter clause: {filter_text}")
        wanted = match.group(2).replace("''", "'").lower()
        items = [
            c for c in items if any(str(e.get("address", "")).lower() == wanted for e in c["emailAddresses"])
        ]
    try:
        top = int(query.get("$top") or 10)
    except ValueError as exc:
        raise ContactQueryError("Invalid $top value.") from exc
    return [view(c, query) for c in items[: max(0, top)]]


def view(contact: Mapping[str, Any], query: Mapping[str, str]) -> dict[str, Any]:
    """The contact as Graph shows it: $select'ed fields (id always), and multiValueExtendedProperties only
    when expanded, filtered by id."""
    select = [s.strip() for s in (query.get("$select") or "").split(",") if s.strip()]
    base = {k: v for k, v in contact.items() if k != "multiValueExtendedProperties"}
    out = {k: v for k, v in base.items() if not select or k == "id" or k in select}
    expand = query.get("$expand") or ""
    if expand:
        match = re.match(
            r"^\s*multiValueExtendedProperties\s*(?:\(\s*\$filter=(.*)\))?\s*$", expand, re.I | re.S
        )
        if match is None:
            raise ContactQueryError(f"Invalid $expand clause '{expand}'.")
        wanted: str | None = None
        if match.group(1):
            id_match = _EXPAND_ID.match(match.group(1))
            if id_match is None:
                raise ContactQueryError(f"Invalid filter clause: {match.group(1)}")
            wanted = id_match.group(1).replace("''", "'").lower()
        out["multiValueExtendedProperties"] = [
            dict(p)
            for p in contact["multiValueExtendedProperties"]
            if wanted is None or str(p["id"]).lower() == wanted
        ]
    return out
