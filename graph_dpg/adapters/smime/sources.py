"""The chain of recipient certificate sources, with a cache: ``ports.secure_send.RecipientCertificateLookup``.

Sources are asked in order - files (``directory``), the sending function mailbox's contacts (``contacts``),
an LDAP directory (``ldap``) - and the first that has a valid certificate for the address answers. Blocking
sources (files, LDAP) run in a worker thread (``asyncio.to_thread``), never on the event loop.

Every source's answer is cached per address (and, for contacts, per mailbox) until the earliest of its
certificates' expiry (notAfter) and ``ttl_seconds``; an empty answer for ``negative_ttl_seconds``; a failure
is not cached, so the next mail asks again. A cached certificate is checked against the lookup time again
(expired and not-yet-valid ones never count). The clock is the lookup time the caller passes, so tests
move it instead of waiting.

A source that fails (LDAP down, Graph 403 without Contacts.Read) does not stop the others: its technical
reason is logged for IT and returned in ``CertificateLookup.failures``, so the service can tell the case
worker "a certificate source could not be read" without the technical words.

With ``organisation_only`` (GRAPH_DPG_SMIME_ORGANISATION_ONLY) a certificate that is not an organisation
certificate (OCES3 ``UI:DK-E``/``UI:DK-P``, OCES2 RID/PID, or no OCES subject; docs/facts/smime.md) is
refused whichever source found it, and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from graph_dpg.adapters.smime.recipients import certificate_holder
from graph_dpg.core.errors import GraphDpgError
from graph_dpg.domain.smime import CertificateHolder
from graph_dpg.ports.secure_send import (
    CertificateLookup,
    RecipientCertificate,
    RecipientCertificates,
)

log = logging.getLogger(__name__)

#: The most cached answers (addresses x sources); the oldest is dropped beyond.
MAX_CACHE_ENTRIES = 10_000

Find = Callable[[str, datetime, str], Awaitable[list[RecipientCertificate]]]


@dataclass(frozen=True)
class Source:
    """One source: its kind (for receipts and logs), how to ask it, and whether its answer depends on
    the sending mailbox (contacts)."""

    kind: str
    find: Find
    per_mailbox: bool = False


def blocking_source(source: RecipientCertificates, kind: str) -> Source:
    """A synchronous source (files, LDAP) asked in a worker thread."""

    async def find(address: str, at: datetime, mailbox: str) -> list[RecipientCertificate]:
        return await asyncio.to_thread(source.lookup, address, at)

    return Source(kind, find)


class _Contacts(Protocol):
    async def lookup(self, address: str, at: datetime, *, mailbox: str) -> list[RecipientCertificate]: ...


def mailbox_source(source: _Contacts, kind: str) -> Source:
    """An async source that reads the sending mailbox (contacts)."""

    async def find(address: str, at: datetime, mailbox: str) -> list[RecipientCertificate]:
        return await source.lookup(address, at, mailbox=mailbox)

    return Source(kind, find, per_mailbox=True)


@dataclass(frozen=True)
class _Cached:
    certificates: tuple[RecipientCertificate, ...]
    until: datetime


class CertificateSources:
    """See the module docstring."""

    def __init__(
        self,
        sources: Sequence[Source],
        *,
        ttl_seconds: float = 3600.0,
        negative_ttl_seconds: float = 300.0,
        organisation_only: bool = False,
    ) -> None:
        self.sources = tuple(sources)
        self._ttl = timedelta(seconds=ttl_seconds)
        self._negative = timedelta(seconds=negative_ttl_seconds)
        self._organisation_only = organisation_only
        self._cache: dict[tuple[str, str, str], _Cached] = {}
        self.asked: dict[str, int] = {s.kind: 0 for s in self.sources}  # for tests and diagnostics

    async def lookup(self, address: str, at: datetime, *, mailbox: str) -> CertificateLookup:
        wanted = address.strip().lower()
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        failures: list[str] = []
        for source in self.sources:
            key = (source.kind, mailbox.lower() if source.per_mailbox else "", wanted)
            cached = self._cache.get(key)
            if cached is not None and at < cached.until:
                found = list(cached.certificates)
            else:
                self.asked[source.kind] = self.asked.get(source.kind, 0) + 1
                try:
                    found = await source.find(wanted, at, mailbox)
                except (GraphDpgError, OSError) as exc:
                    reason = f"{source.kind}: {exc}"
                    log.warning("recipient certificates: source %s failed: %s", source.kind, exc)
                    failures.append(reason)
                    continue
                self._remember(key, found, at)
            usable = [c for c in found if _valid(c, at) and self._accepted(c)]
            if usable:
                return CertificateLookup(usable, failures)
        return CertificateLookup([], failures)

    def _remember(self, key: tuple[str, str, str], found: list[RecipientCertificate], at: datetime) -> None:
        # A found certificate is kept until it expires or the TTL ends, an empty answer briefly.
        until = min([at + self._ttl, *(c.not_after for c in found)]) if found else at + self._negative
        self._cache.pop(key, None)
        self._cache[key] = _Cached(tuple(found), until)
        while len(self._cache) > MAX_CACHE_ENTRIES:
            self._cache.pop(next(iter(self._cache)))

    def _accepted(self, cert: RecipientCertificate) -> bool:
        if not self._organisation_only:
            return True
        holder = certificate_holder(cert.der)
        if holder is CertificateHolder.ORGANISATION:
            return True
        log.warning(
            "recipient certificates: %s from %s refused: %s, only organisation certificates are accepted "
            "(GRAPH_DPG_SMIME_ORGANISATION_ONLY)",
            cert.subject,
            cert.kind,
            holder.value,
        )
        return False


def _valid(cert: RecipientCertificate, at: datetime) -> bool:
    return (cert.not_before is None or cert.not_before <= at) and at <= cert.not_after
