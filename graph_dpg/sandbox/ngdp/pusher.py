"""NgDP's side of REST PUSH, for the sandbox and tests: deliver queued inbound memos and business receipts
to a recipient system's endpoints the way NgDP does (docs/facts/ngdp.md, "Receiving by push" and "Receipts":
memos as multipart/form-data with field ``file`` whose filename is the memo UUID; receipts as a JSON
``Receipt``).

An item leaves the emulator's queue only when the endpoint answered 200; any other answer or a transport
failure leaves it queued, so the next ``push_*`` call redelivers it — the behaviour that makes "store before
answering 200" on the receiving side sufficient for nothing to be lost.

How NgDP authenticates itself: NgDP's ``MailSystem`` (OpenAPI; github.com/sjkp/digitalpost
``src/digitalpost/DigitalPostClient.cs``) registers only the push URLs, no credential NgDP would present, so
the emulator invents none. It pushes the way a TLS client can: with its client certificate
(``client_cert``: certificate + key PEM). Either over TLS itself (``httpx`` ``cert=``, for an https endpoint),
or, with ``forward_as_ingress``, it plays Azure Container Apps' ingress in front of a plain-HTTP app as well:
it adds the ``X-Forwarded-Client-Cert`` header that ingress writes for a presented certificate,
``Hash=<SHA-256 of the DER>;Cert="<URL-encoded PEM>"`` (learn.microsoft.com/azure/container-apps/
client-certificate-authorization, "Client certificate mode and header format"; URL-encoding as Envoy does),
and ``X-Forwarded-For: <source_ip>`` (the address the ingress saw; learn.microsoft.com/azure/container-apps/
ingress-overview, "HTTP headers"). ``token`` (a Bearer secret) is the sandbox's own convention, not NgDP's.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from pathlib import Path
from urllib.parse import quote

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from graph_dpg.sandbox.ngdp.state import NgdpState

log = logging.getLogger(__name__)


class NgdpPusher:
    def __init__(
        self,
        state: NgdpState,
        *,
        memo_url: str,
        receipt_url: str,
        client_cert: tuple[str | Path, str | Path] | None = None,
        forward_as_ingress: bool = False,
        source_ip: str = "127.0.0.1",
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | str | bool = True,
        timeout: float = 10.0,
    ) -> None:
        self.state = state
        self.memo_url = memo_url
        self.receipt_url = receipt_url
        headers: dict[str, str] = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if forward_as_ingress:
            headers["X-Forwarded-For"] = source_ip
            if client_cert is not None:
                headers["X-Forwarded-Client-Cert"] = ingress_header(Path(client_cert[0]).read_bytes())
        if transport is not None:
            self._http = httpx.AsyncClient(headers=headers, transport=transport, timeout=timeout)
        else:
            cert = (
                None
                if client_cert is None or forward_as_ingress
                else (str(client_cert[0]), str(client_cert[1]))
            )
            self._http = httpx.AsyncClient(headers=headers, verify=verify, cert=cert, timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def push_memos(self) -> dict[str, int]:
        """Deliver every queued inbound memo once; returns memo id → HTTP status (0: transport failure)."""
        outcome: dict[str, int] = {}
        for memo_id in self.state.inbound_ids():
            memo = self.state.inbound(memo_id)
            if memo is None:
                continue
            try:
                response = await self._http.post(
                    self.memo_url, files={"file": (memo_id, memo.xml, "application/xml")}
                )
            except httpx.TransportError as exc:
                log.info("ngdp emulator: push of memo %s failed: %s", memo_id, type(exc).__name__)
                outcome[memo_id] = 0
                continue
            outcome[memo_id] = response.status_code
            if response.status_code == 200:
                self.state.mark_pushed(memo_id)
        return outcome

    async def push_receipts(self) -> dict[str, int]:
        """Deliver every queued business receipt once; returns receipt id → HTTP status."""
        outcome: dict[str, int] = {}
        for receipt_id in self.state.receipt_ids():
            receipt = self.state.receipt(receipt_id)
            if receipt is None:
                continue
            body = {k: v for k, v in receipt.items() if v is not None}
            try:
                response = await self._http.post(self.receipt_url, json=body)
            except httpx.TransportError as exc:
                log.info("ngdp emulator: push of receipt %s failed: %s", receipt_id, type(exc).__name__)
                outcome[receipt_id] = 0
                continue
            outcome[receipt_id] = response.status_code
            if response.status_code == 200:
                self.state.delete_receipt(receipt_id)
        return outcome


def ingress_header(certificate_pem: bytes) -> str:
    """``X-Forwarded-Client-Cert`` as Container Apps' ingress writes it for the PEM's first certificate."""
    certificate = x509.load_pem_x509_certificates(certificate_pem)[0]
    pem = certificate.public_bytes(Encoding.PEM).decode("ascii")
    digest = hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()
    return f'Hash={digest};Cert="{quote(pem, safe="")}"'
