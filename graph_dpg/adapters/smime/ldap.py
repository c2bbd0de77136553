"""Recipient certificates from an LDAP certificate directory (``GRAPH_DPG_SMIME_LDAP_*``), with ldap3.

One search per address under the base DN: ``(|(mail=<address>)...)`` over the configured attributes, the
address escaped with ``ldap3.utils.conv.escape_filter_chars`` (RFC 4515 3: ``*``, ``(``, ``)``, ``\\`` and
NUL are written as ``\\XX``), so an address can never widen the filter. Bounded: the server is asked for at
most ``size_limit`` entries within ``time_limit`` seconds, the socket waits at most ``timeout`` seconds, and
at most ``MAX_VALUES`` values of ``MAX_CERTIFICATE_BYTES`` each are read per entry, a longer value refused
alone with a logged, masked reason (``adapters.smime.recipients.capped_values``).

The certificate attribute: ``userCertificate;binary`` (RFC 4523 2.1, one DER certificate per value; the
default) or ``userSMIMECertificate`` (RFC 2798 2.8, PKCS#7 SignedData holding the certificates; [MS-OXLDAP]
2.2.5.2 also allows the [MS-OXOABK] format). Bind: anonymous, or simple bind with a DN and password.

Blocking (sockets): implements the synchronous ``ports.secure_send.RecipientCertificates`` and is called in
a worker thread by ``adapters.smime.sources``. Failures are ``core.errors.TransientError`` (service
"ldap"), so a directory that is down never stops the other sources.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from graph_dpg.adapters.smime.recipients import (
    capped_values,
    certificates_from_user_x509,
    recipient_certificates,
)
from graph_dpg.core.errors import TransientError
from graph_dpg.ports.secure_send import RecipientCertificate

log = logging.getLogger(__name__)

SERVICE = "ldap"


def search_filter(address: str, attributes: Sequence[str]) -> str:
    """The search filter for ``address`` over ``attributes``, the address escaped (RFC 4515)."""
    value = escape_filter_chars(address.strip())
    terms = [f"({attr}={value})" for attr in attributes]
    return terms[0] if len(terms) == 1 else "(|" + "".join(terms) + ")"


class LdapCertificates:
    """Recipient certificates found in an LDAP directory (see the module docstring)."""

    kind = "ldap"

    def __init__(
        self,
        connect: Callable[[], ldap3.Connection],
        base_dn: str,
        *,
        search_attributes: Sequence[str] = ("mail",),
        certificate_attribute: str = "userCertificate;binary",
        size_limit: int = 10,
        time_limit: int = 10,
    ) -> None:
        self._connect = connect
        self._base = base_dn
        self._search = tuple(search_attributes) or ("mail",)
        self._attr = certificate_attribute
        self._size = size_limit
        self._time = time_limit

    @classmethod
    def from_url(
        cls,
        url: str,
        base_dn: str,
        *,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> LdapCertificates:
        """A source that opens a new connection to ``url`` (ldap:// or ldaps://) for every search."""

        def connect() -> ldap3.Connection:
            server = ldap3.Server(url, connect_timeout=timeout, get_info=ldap3.NONE)
            return ldap3.Connection(
                server,
                user=user,
                password=password,
                authentication=ldap3.SIMPLE if user else ldap3.ANONYMOUS,
                receive_timeout=timeout,
                read_only=True,
                raise_exceptions=False,
            )

        return cls(connect, base_dn, time_limit=max(1, int(timeout)), **kwargs)

    def lookup(self, address: str, at: datetime) -> list[RecipientCertificate]:
        wanted = address.strip().lower()
        query = search_filter(wanted, self._search)
        try:
            conn = self._connect()
            try:
                if not conn.bind():
                    raise TransientError(f"LDAP bind refused: {_describe(conn)}", service=SERVICE)
                conn.search(
                    self._base,
                    query,
                    ldap3.SUBTREE,
                    attributes=[self._attr],
                    size_limit=self._size,
                    time_limit=self._time,
                )
                result = conn.result or {}
                # 0 success, 4 sizeLimitExceeded (what came is used), 32 noSuchObject (nothing there).
                if result.get("result") not in (0, 4, 32, None):
                    raise TransientError(f"LDAP search failed: {_describe(conn)}", service=SERVICE)
                entries = [e for e in (conn.response or []) if e.get("type") == "searchResEntry"]
            finally:
                conn.unbind()
        except LDAPException as exc:
            raise TransientError(f"LDAP unreachable: {type(exc).__name__}: {exc}", service=SERVICE) from exc
        found: list[RecipientCertificate] = []
        for entry in entries[: self._size]:
            raw = _values(entry.get("raw_attributes") or {}, self._attr)
            dn = str(entry.get("dn"))
            capped = capped_values(raw, kind=self.kind, address=wanted, source=dn)
            ders = [der for value in capped for der in self._certificates(value)]
            found.extend(recipient_certificates(ders, wanted, at, kind=self.kind, source=dn))
        return found

    def _certificates(self, value: bytes) -> list[bytes]:
        if self._attr.lower().startswith("usersmimecertificate"):
            return certificates_from_user_x509(value)  # PKCS#7 SignedData (or the [MS-OXOABK] form)
        return [value]


def _values(attributes: dict[str, Any], name: str) -> list[bytes]:
    """The raw values of ``name`` (attribute names are case-insensitive; ``;binary`` may be dropped)."""
    bare = name.lower().split(";")[0]
    for key, values in attributes.items():
        if key.lower() == name.lower() or key.lower().split(";")[0] == bare:
            return [bytes(v) for v in values if isinstance(v, bytes | bytearray)]
    return []


def _describe(conn: ldap3.Connection) -> str:
    result = conn.result or {}
    return f"{result.get('result')} {result.get('description')} {result.get('message') or ''}".strip()
