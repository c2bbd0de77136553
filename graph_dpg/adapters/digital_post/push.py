"""Receiver for NgDP REST PUSH: memos and business receipts delivered to our HTTPS endpoints.

Wire format (docs/facts/ngdp.md, "Receiving by push" and "Receipts", from Digitaliseringsstyrelsen's .NET
reference systems, ``RecipientSystemMemoEndpointController`` / ``SenderSystemEndpointController``):

    POST /memos      multipart/form-data, form field ``file``; the part's filename is the memo UUID
                     (the reference does ``new Guid(fileName)``). Missing part → 400 "MeMo is not present in
                     request". Also served at ``/recipient-system`` (the reference route).
    POST /receipts   application/json ``Receipt`` (transmissionId, messageUUID, receiptStatus, ...).
                     Also served at ``/sender-system/receipt`` (the reference route).

Delivery guarantee: the handler awaits the ``PushSink`` (which commits to the database) before answering
200. If the sink fails the answer is 503, so NgDP keeps the item and delivers it again; the sink must
therefore be idempotent per memo UUID / receipt.

Authentication (:mod:`graph_dpg.adapters.digital_post.push_auth`): NgDP's TLS client certificate as
forwarded by Container Apps' ingress (``X-Forwarded-Client-Cert``) and/or NgDP's source address, plus an
optional shared secret (``Authorization: Bearer`` or the password of ``Basic``, compared in constant time).
NgDP itself presents no secret (its ``MailSystem`` has no field for one): a secret alone is accepted only by
the sandbox. A refused push is answered 401 (no or wrong credential) or 403 (address not allowed) and
stores nothing.
"""

from __future__ import annotations

import json
import logging
import re
import uuid

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from graph_dpg.adapters.digital_post.push_auth import PushAuth
from graph_dpg.adapters.digital_post.wire import WireFormatError, receipt_from_json
from graph_dpg.ports.digital_post import PushSink

log = logging.getLogger(__name__)

MAX_MEMO_BYTES = 150 * 1024 * 1024  # NgDP's own ceiling is 99.5 MB per message (retsinformation bek. §3)
#: A business receipt is a JSON object of a few hundred bytes; reading stops beyond this.
MAX_RECEIPT_BYTES = 1024 * 1024
_XML_SUFFIX = re.compile(r"\.xml$", re.IGNORECASE)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": str(status), "message": message}, status_code=status)


def _memo_uuid(filename: str | None) -> str | None:
    if not filename:
        return None
    try:
        return str(uuid.UUID(_XML_SUFFIX.sub("", filename.strip())))
    except ValueError:
        return None


def create_push_app(sink: PushSink, auth: PushAuth | str) -> Starlette:
    """ASGI app for NgDP REST PUSH, guarded by ``auth``.

    A plain string is the sandbox's shared secret alone (``PushAuth(token=..., token_only_allowed=True)``).
    Raises ValueError when the policy identifies nobody (:meth:`PushAuth.problems`).
    """
    if isinstance(auth, str):
        auth = PushAuth(token=auth.encode(), token_only_allowed=True)
    problems = auth.problems()
    if problems:
        raise ValueError("; ".join(problems))
    policy = auth

    def _refused(request: Request) -> Response | None:
        refusal = policy.check(request.headers, request.client.host if request.client else None)
        if refusal is None:
            return None
        log.warning("ngdp push refused (%d): %s", refusal.status, refusal.reason)
        return _error(refusal.status, "Unauthorized" if refusal.status == 401 else "Forbidden")

    async def receive_memo(request: Request) -> Response:
        refused = _refused(request)
        if refused is not None:
            return refused
        try:
            form = await request.form(max_files=1, max_fields=10)
        except Exception:  # malformed multipart: python-multipart raises several types
            log.warning("ngdp push: unreadable multipart body")
            return _error(400, "MeMo is not present in request")
        try:
            part = form.get("file")
            if not isinstance(part, UploadFile):
                return _error(400, "MeMo is not present in request")
            memo_uuid = _memo_uuid(part.filename)
            if memo_uuid is None:
                return _error(400, "the file name of the MeMo part is not a UUID")
            data = await part.read(MAX_MEMO_BYTES + 1)
            if len(data) > MAX_MEMO_BYTES:
                return _error(413, "MeMo too large")
            if not data:
                return _error(400, "MeMo is not present in request")
        finally:
            await form.close()
        try:
            await sink.store_pushed_memo(memo_uuid, data)
        except Exception:
            # 5xx so NgDP redelivers; the cause is logged once here (without the body).
            log.exception("ngdp push: storing memo %s failed", memo_uuid)
            return _error(503, "could not store the memo; deliver again later")
        log.info("ngdp push: memo %s stored (%d bytes)", memo_uuid, len(data))
        return Response(status_code=200)

    async def receive_receipt(request: Request) -> Response:
        refused = _refused(request)
        if refused is not None:
            return refused
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_RECEIPT_BYTES:
                return _error(413, "Receipt too large")
        try:
            receipt = receipt_from_json(json.loads(body))
        except (ValueError, WireFormatError) as exc:
            return _error(400, f"Receipt not readable: {exc}")
        except RecursionError:
            # Deeply nested JSON exhausts the decoder's stack; it was an unhandled 500, redelivered forever.
            return _error(400, "Receipt not readable: nested too deeply")
        try:
            await sink.store_pushed_receipt(receipt)
        except Exception:
            log.exception("ngdp push: storing receipt for memo %s failed", receipt.message_uuid)
            return _error(503, "could not store the receipt; deliver again later")
        log.info("ngdp push: receipt %s for memo %s stored", receipt.receipt_status, receipt.message_uuid)
        return Response(status_code=200)

    routes = [
        Route(path, receive_memo, methods=["POST"]) for path in ("/memos", "/memos/", "/recipient-system")
    ] + [
        Route(path, receive_receipt, methods=["POST"])
        for path in ("/receipts", "/receipts/", "/sender-system/receipt")
    ]
    return Starlette(routes=routes)
