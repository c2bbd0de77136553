"""NgDP's side of REST PUSH, for the sandbox and tests: deliver queued inbound memos and business receipts
to a recipient system's endpoints the way NgDP does (docs/facts/ngdp.md, "Receiving by push" and "Receipts":
memos as multipart/form-data with field ``file`` whose filename is the memo UUID; receipts as a JSON
``Receipt``).

An item leaves the emulator's queue only when the endpoint answered 200; any other answer or a transport
failure leaves it queued, so the next ``push_*`` call redelivers it — the behaviour that makes "store before
answering 200" on the receiving side sufficient for nothing to be lost.

The credentials NgDP presents to push endpoints are not documented in the sources found; the pusher sends
the shared secret as ``Authorization: Bearer`` (what ``graph_dpg.adapters.digital_post.push`` accepts).
"""

from __future__ import annotations

import logging
import ssl

import httpx

from graph_dpg.sandbox.ngdp.state import NgdpState

log = logging.getLogger(__name__)


class NgdpPusher:
    def __init__(
        self,
        state: NgdpState,
        *,
        memo_url: str,
        receipt_url: str,
        token: str,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | str | bool = True,
        timeout: float = 10.0,
    ) -> None:
        self.state = state
        self.memo_url = memo_url
        self.receipt_url = receipt_url
        headers = {"Authorization": f"Bearer {token}"}
        if transport is not None:
            self._http = httpx.AsyncClient(headers=headers, transport=transport, timeout=timeout)
        else:
            self._http = httpx.AsyncClient(headers=headers, verify=verify, timeout=timeout)

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
