"""Recipient certificates from the function mailbox's contacts, where Outlook keeps them.

Outlook stores the certificates of a contact (its "Certificates" page) in PidTagUserX509Certificate
(``0x3A70``, PtypMultipleBinary; [MS-OXOCNTC], [MS-OXOABK] 2.2.4.36), which Graph reads as the multi-value
extended property ``BinaryArray 0x3A70`` of the contact, base64 per value
(api-reference/v1.0/api/multivaluelegacyextendedproperty-get.md). The contact is found by its e-mail
addresses (user-list-contacts.md: ``$filter=emailAddresses/any(a:a/address eq '...')``), and a certificate
counts only when it also names the address itself (``adapters.smime.recipients``). Reading contacts needs
Contacts.Read (domain/permissions.py). Async: the Graph adapter implements
``ports.secure_send.ContactCertificateReader``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from graph_dpg.adapters.smime.recipients import (
    capped_values,
    certificates_from_user_x509,
    recipient_certificates,
)
from graph_dpg.ports.secure_send import ContactCertificateReader, RecipientCertificate


class ContactCertificates:
    """The certificates stored on the contacts of the sending function mailbox."""

    kind = "contacts"

    def __init__(self, reader: ContactCertificateReader) -> None:
        self._reader = reader

    async def lookup(self, address: str, at: datetime, *, mailbox: str) -> list[RecipientCertificate]:
        wanted = address.strip().lower()
        contacts = await self._reader.contact_certificates(mailbox, wanted)
        # Parsing certificates is CPU work: off the event loop.
        return await asyncio.to_thread(self._read, contacts, wanted, at)

    def _read(
        self, contacts: list[tuple[str, list[str], list[bytes]]], wanted: str, at: datetime
    ) -> list[RecipientCertificate]:
        found: list[RecipientCertificate] = []
        for name, emails, values in contacts:
            if wanted not in {e.strip().lower() for e in emails}:
                continue  # the filter is Graph's; the match is ours
            source = f"contact {name or wanted}"
            capped = capped_values(values, kind=self.kind, address=wanted, source=source)
            ders = [der for value in capped for der in certificates_from_user_x509(value)]
            found.extend(recipient_certificates(ders, wanted, at, kind=self.kind, source=source))
        return found
