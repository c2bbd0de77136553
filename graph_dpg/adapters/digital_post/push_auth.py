"""Who may push to the NgDP push endpoints: NgDP's TLS client certificate and/or its source address.

Why not a token: NgDP's ``MailSystem`` (OpenAPI, generated client github.com/sjkp/digitalpost
``src/digitalpost/DigitalPostClient.cs``) registers a push ``endpoint`` and ``receiptEndpoint`` (https URLs)
and nothing else for the way back: no header, secret or user name NgDP would present. A bearer token is
therefore only the sandbox's convention; towards real NgDP it would be refused forever. What NgDP can
present is its TLS client certificate (an OCES3 function certificate, the same kind every system uses
towards NgDP) and where it connects from (docs/facts/ngdp.md, "Receiving by push").

The gateway does not terminate TLS itself: in Azure it sits behind Container Apps' ingress (Envoy), which,
with ``clientCertificateMode`` ``accept``, passes a presented client certificate to the app in the
``X-Forwarded-Client-Cert`` header as a semicolon-separated list ``Hash=<SHA-256 thumbprint>;Cert="<PEM>";
Chain="<PEM>"`` (learn.microsoft.com/azure/container-apps/client-certificate-authorization, "Client
certificate mode and header format"; Envoy URL-encodes the PEM). Container Apps accepts any certificate,
self-signed too ("accepts client certificates ... when a trusted certificate authority (CA) issues them or
when they're self-signed"), so the app decides who it trusts:

* ``thumbprints``: SHA-256 thumbprints of the certificates NgDP pushes with (pinning; renew on rotation), or
* ``trust_anchors`` + ``subject``: the certificate chains (directly or through the forwarded ``Chain``) to a
  configured issuer and its subject carries every configured attribute (e.g. ``O=Digitaliseringsstyrelsen``
  and the ``serialNumber`` of NgDP's function certificate). Every OCES3 certificate chains to the same
  public CA, so a CA without a subject would admit every Danish organisation: refused as configuration.

The header is read only when ``forwarded_cert`` says the app sits behind that ingress; otherwise anyone
could write it. Which header value the ingress forwards when the client sent one itself is not documented
(inference: Envoy's default sanitises it); the gateway takes the last element (the one the nearest proxy
added) and recommends the address check as well.

``networks``: NgDP's source addresses. Behind ``proxy_hops`` proxies the client address is the
``proxy_hops``-th entry from the right of ``X-Forwarded-For`` (each proxy appends the address it saw; the
entries to its left are the client's own words); with 0 hops it is the socket's peer.

Every configured factor must hold (certificate and address and, when set, the shared secret). Without a
certificate or address check the policy is refused at start, except a shared secret alone for the sandbox.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

FORWARDED_CERT_HEADER = "x-forwarded-client-cert"
FORWARDED_FOR_HEADER = "x-forwarded-for"
#: A forwarded certificate header larger than this is refused unread (a leaf plus a few intermediates).
MAX_FORWARDED_CERT_CHARS = 64 * 1024
_MAX_CHAIN_DEPTH = 4

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Headers(Protocol):
    """What PushAuth reads of a request's headers (Starlette's ``Headers`` has it)."""

    def getlist(self, key: str) -> list[str]: ...


#: Subject attributes an admin may name in GRAPH_DPG_PUSH_CLIENT_SUBJECT (RFC 4514 short names + OCES's).
SUBJECT_ATTRIBUTES: dict[str, x509.ObjectIdentifier] = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "C": NameOID.COUNTRY_NAME,
    "L": NameOID.LOCALITY_NAME,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "ORGANIZATIONIDENTIFIER": NameOID.ORGANIZATION_IDENTIFIER,
}
_HEX = re.compile(r"[0-9a-f]{64}")


def normalise_thumbprint(text: str) -> str:
    """``AB:CD:...`` / ``ab cd ...`` / ``abcd...`` → 64 lower-case hex digits; ValueError otherwise."""
    value = re.sub(r"[\s:]", "", text).lower()
    if not _HEX.fullmatch(value):
        raise ValueError(f"{text!r} is not a SHA-256 thumbprint (64 hexadecimal digits)")
    return value


def parse_subject(text: str) -> tuple[tuple[str, str], ...]:
    """``O=Digitaliseringsstyrelsen, serialNumber=CVR:...`` → ((attribute, value), ...); ValueError if bad."""
    pairs: list[tuple[str, str]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        key = name.strip().upper()
        if not sep or not value.strip():
            raise ValueError(f"{part!r} is not ATTRIBUTE=value")
        if key not in SUBJECT_ATTRIBUTES:
            raise ValueError(f"{name.strip()!r} is not one of {', '.join(sorted(SUBJECT_ATTRIBUTES))}")
        pairs.append((key, value.strip()))
    if not pairs:
        raise ValueError("names no attribute")
    return tuple(pairs)


def thumbprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER encoding, lower-case hex (what Container Apps calls ``Hash``)."""
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


@dataclass(frozen=True)
class Refusal:
    """Why a push was refused: ``status`` for NgDP (401/403), ``reason`` for the log (no secrets)."""

    status: int
    reason: str


@dataclass(frozen=True)
class PushAuth:
    thumbprints: frozenset[str] = frozenset()
    trust_anchors: tuple[x509.Certificate, ...] = ()
    subject: tuple[tuple[str, str], ...] = ()
    forwarded_cert: bool = False
    networks: tuple[Network, ...] = ()
    proxy_hops: int = 0
    token: bytes | None = None
    token_only_allowed: bool = False
    clock: Callable[[], datetime] | None = field(default=None, compare=False)  # tests; None: the clock

    @property
    def checks_certificate(self) -> bool:
        return bool(self.thumbprints or self.trust_anchors)

    def problems(self) -> list[str]:
        """Why this policy must not be served (empty when it may). English, for IT."""
        out: list[str] = []
        if self.token is not None and not self.token:
            out.append("the push receiver needs a non-empty shared secret")
        if self.checks_certificate and not self.forwarded_cert:
            out.append(
                "a client certificate is configured but the gateway does not terminate TLS: it sees NgDP's "
                "certificate only in X-Forwarded-Client-Cert from Container Apps' ingress "
                "(set GRAPH_DPG_PUSH_FORWARDED_CLIENT_CERT=true when the app sits behind it)"
            )
        if self.trust_anchors and not self.subject:
            out.append(
                "an issuer CA without a subject would accept every certificate that CA issued "
                "(set GRAPH_DPG_PUSH_CLIENT_SUBJECT)"
            )
        if self.subject and not self.trust_anchors:
            out.append("a subject is only checked together with its issuer (GRAPH_DPG_PUSH_CLIENT_CA_FILE)")
        if not self.checks_certificate and not self.networks and not (self.token and self.token_only_allowed):
            out.append(
                "push is enabled but nothing identifies NgDP: NgDP presents no token (its MailSystem has "
                "no field for one); configure its client certificate (GRAPH_DPG_PUSH_CLIENT_THUMBPRINTS, "
                "or GRAPH_DPG_PUSH_CLIENT_CA_FILE + GRAPH_DPG_PUSH_CLIENT_SUBJECT) and/or its addresses "
                "(GRAPH_DPG_PUSH_ALLOWED_IPS)"
            )
        return out

    def describe(self) -> str:
        """One line for the doctor and the start-up log: what is checked (no secret values)."""
        parts = []
        if self.thumbprints:
            parts.append(f"client certificate pinned ({len(self.thumbprints)} SHA-256 thumbprint(s))")
        if self.trust_anchors:
            subject = ", ".join(f"{k}={v}" for k, v in self.subject)
            parts.append(
                f"client certificate from {len(self.trust_anchors)} issuer(s) with subject {subject}"
            )
        if self.checks_certificate:
            parts[-1] += " via X-Forwarded-Client-Cert"
        if self.networks:
            where = (
                "socket peer" if self.proxy_hops == 0 else f"X-Forwarded-For, {self.proxy_hops} proxy hop(s)"
            )
            parts.append(f"source address in {len(self.networks)} network(s) ({where})")
        if self.token:
            parts.append("shared secret" + ("" if parts else " (sandbox only)"))
        return "; ".join(parts) or "nothing"

    # ------------------------------------------------------------------ one request

    def check(self, headers: Headers, peer: str | None) -> Refusal | None:
        """None when the request may push; else the refusal."""
        if self.networks:
            refusal = self._check_address(headers, peer)
            if refusal is not None:
                return refusal
        if self.checks_certificate:
            refusal = self._check_certificate(headers)
            if refusal is not None:
                return refusal
        if self.token is not None and not _token_matches(_first(headers, "authorization"), self.token):
            return Refusal(401, "shared secret missing or wrong")
        return None

    def client_address(self, headers: Headers, peer: str | None) -> str | None:
        if self.proxy_hops == 0:
            return peer
        entries = [e.strip() for value in headers.getlist(FORWARDED_FOR_HEADER) for e in value.split(",")]
        entries = [e for e in entries if e]
        if len(entries) < self.proxy_hops:
            return None
        return entries[-self.proxy_hops]

    def _check_address(self, headers: Headers, peer: str | None) -> Refusal | None:
        text = self.client_address(headers, peer)
        if text is None:
            return Refusal(403, "source address unknown")
        try:
            address = ipaddress.ip_address(_strip_port(text))
        except ValueError:
            return Refusal(403, "source address unreadable")
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not any(address in network for network in self.networks):
            return Refusal(403, f"source address {address} not allowed")
        return None

    def _check_certificate(self, headers: Headers) -> Refusal | None:
        values = headers.getlist(FORWARDED_CERT_HEADER)
        if not values:
            return Refusal(401, "no client certificate")
        raw = ",".join(values)
        if len(raw) > MAX_FORWARDED_CERT_CHARS:
            return Refusal(401, "forwarded client certificate too large")
        try:
            leaf, chain = parse_forwarded_cert(raw)
        except ValueError as exc:
            return Refusal(401, f"forwarded client certificate unreadable: {exc}")
        now = self.clock() if self.clock is not None else datetime.now(UTC)
        if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
            return Refusal(401, "client certificate outside its validity period")
        seen = thumbprint(leaf)
        if seen in self.thumbprints:
            return None
        # The thumbprint of a refused certificate is public data; logging it lets IT pin a rotated one.
        if self.trust_anchors and _chains_to(leaf, chain, self.trust_anchors, now):
            if _subject_matches(leaf, self.subject):
                return None
            return Refusal(401, f"client certificate subject not allowed (SHA-256 {seen})")
        return Refusal(401, f"client certificate not trusted (SHA-256 {seen})")


def _first(headers: Headers, key: str) -> str:
    values = headers.getlist(key)
    return values[0] if values else ""


def _strip_port(text: str) -> str:
    if text.startswith("["):  # [v6]:port
        return text[1:].split("]", 1)[0]
    if text.count(":") == 1:  # v4:port
        return text.split(":", 1)[0]
    return text


def _token_matches(header: str, secret: bytes) -> bool:
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        presented = value.encode()
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        _, sep, password = decoded.partition(b":")
        if not sep:
            return False
        presented = password
    else:
        return False
    return hmac.compare_digest(presented, secret)


# ---------------------------------------------------------------------- X-Forwarded-Client-Cert


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            current.append(char)
            escaped = True
        elif char == '"':
            quoted = not quoted
            current.append(char)
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _certificates(value: str) -> list[x509.Certificate]:
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    text = unquote(text)  # Envoy URL-encodes the PEM; unquote (not unquote_plus): base64 has '+'
    if "-----BEGIN CERTIFICATE-----" in text:
        try:
            return list(x509.load_pem_x509_certificates(text.encode("ascii", "strict")))
        except (ValueError, UnicodeEncodeError) as exc:
            raise ValueError("not a PEM certificate") from exc
    try:
        return [x509.load_der_x509_certificate(base64.b64decode(text, validate=True))]
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not a certificate") from exc


def parse_forwarded_cert(header: str) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """(leaf, intermediates) from an ``X-Forwarded-Client-Cert`` value; ValueError when there is none.

    Elements are comma-separated (one per proxy, each appends its own at the end): the last one is read.
    Within it, ``Key=value`` pairs are separated by semicolons; ``Cert`` is the leaf and ``Chain`` the
    certificates above it (Envoy's ``Chain`` starts with the leaf again; it is dropped from the chain).
    The ``Hash`` value is not trusted: the thumbprint is computed from the certificate.
    """
    element = _split_outside_quotes(header, ",")[-1]
    fields: dict[str, str] = {}
    for pair in _split_outside_quotes(element, ";"):
        key, sep, value = pair.partition("=")
        if sep:
            fields[key.strip().lower()] = value
    if "cert" not in fields:
        raise ValueError("no Cert field")
    certificates = _certificates(fields["cert"])
    if len(certificates) != 1:
        raise ValueError("Cert must hold exactly one certificate")
    leaf = certificates[0]
    chain = _certificates(fields["chain"]) if fields.get("chain", "").strip('" ') else []
    return leaf, [c for c in chain if c != leaf][: _MAX_CHAIN_DEPTH * 2]


def _issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    if child.issuer != issuer.subject:
        return False
    try:
        child.verify_directly_issued_by(issuer)
    except Exception:  # InvalidSignature, unsupported key types: not issued by it
        return False
    return True


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _chains_to(
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    now: datetime,
) -> bool:
    current = leaf
    for _ in range(_MAX_CHAIN_DEPTH):
        if any(_issued_by(current, anchor) for anchor in anchors):
            return True
        step = next(
            (
                c
                for c in chain
                if _is_ca(c)
                and c.not_valid_before_utc <= now <= c.not_valid_after_utc
                and _issued_by(current, c)
            ),
            None,
        )
        if step is None:
            return False
        current = step
    return False


def _subject_matches(certificate: x509.Certificate, wanted: Sequence[tuple[str, str]]) -> bool:
    subject = certificate.subject
    for key, value in wanted:
        values = {str(a.value) for a in subject.get_attributes_for_oid(SUBJECT_ATTRIBUTES[key])}
        if value not in values:
            return False
    return True
