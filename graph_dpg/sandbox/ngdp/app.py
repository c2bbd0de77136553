"""The NgDP emulator as an ASGI app: REST v1 under ``/apis/v1`` with NgDP's wire formats.

Endpoints and shapes follow docs/facts/ngdp.md (NgDP OpenAPI 1.68.0 as generated into github sjkp/digitalpost
``DigitalPostClient.cs``; the real ``contacts/`` response in that repository's README):

    POST   /apis/v1/memos/?memo-message-uuid=   201 Receipt | 400 ErrorMessage | 401 | 403 | 503
    GET    /apis/v1/memos/                      PagingResultUUID of inbound memos
    GET    /apis/v1/memos/{id}                  MeMo XML (application/xml)
    POST   /apis/v1/memos/{id}/receipt          200; 404 unknown memo; 409 receipt exists
    DELETE /apis/v1/memos/{id}                  204; 404
    GET    /apis/v1/receipts/                   PagingResultUUID
    GET    /apis/v1/receipts/{id}?delete=       Receipt (deleted afterwards when delete=true)
    DELETE /apis/v1/receipts/{id}               204; 404
    GET    /apis/v1/receipts-bulk/?page=&size=  ReceiptSearchResult (BulkFetchReceiptsAsync)
    GET    /apis/v1/events/?any=                EventLogSearchResult (QueryEventsAsync)
    POST   /apis/v1/validations/?fileName=&policy=   201 ErrorMessage APPROVED|REJECTED (ValidateAsync)
    GET    /apis/v1/contacts/?cprNumber=|cvrNumber=   ContactSearchResult
    GET    /apis/v1/organisations/{orgId}/contact-points/?visibility=, /apis/v1/contact-points/
           ContactPointSearchResult (QueryContactPointsAsync, QueryAllContactPointsAsync)

Checks on ``POST memos/`` in this order, each failing with 400 + ErrorMessage
(``code``, ``message``, ``fieldErrors[{resource, field, code, message, rejectedValue}]``):
``memo-message-uuid`` present and equal to ``MessageHeader/messageUUID``; XML readable; the messageUUID not
already accepted (duplicate); XSD + MeMo business rules (``graph_dpg.memo.validate``, with the
organisation's mandatory/legal-notification permissions); the sender is the calling system's organisation
(``Sender`` idType CVR = its CVR); the recipient contact point exists and is active; the number of
AdditionalDocuments and the message size within that contact point's ``allowedNumberOfAttachments`` /
``memoSizeThresholdMB`` (1 MB = 1,048,576 bytes of the posted XML [inference]); in ``recipient_check="sync"``
mode the recipient registered (or exempt and the memo mandatory).

Inferences, since NgDP publishes none of these (docs/facts/ngdp.md, "What NgDP does not publish"): the
ErrorMessage ``code`` values; the duplicate answer, in the shape ``state.duplicate_answer`` names (409,
400 with a code, 400 with field errors, 422, an opaque 400; the OpenAPI lists only 400 for POST memos/),
nothing stored twice; the events written for a memo; the HTML validator's rules (``html_check``);
``receiptStatus`` ``RECEIVED`` in the 201 answer; the body of 503.

Fault injection (``state.faults``): ``503``; ``slow`` (delay, then the normal answer); ``reset`` (the TCP
connection is aborted before any answer — over uvicorn the socket transport is aborted, in-process an
``httpx.RemoteProtocolError`` is raised); ``timeout_after_accept`` (the request is processed and recorded,
the answer is swallowed, the connection hangs ``delay``/``state.hang_seconds`` and is then aborted).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from graph_dpg.sandbox.ngdp.html_check import check_html
from graph_dpg.sandbox.ngdp.memo_check import MemoSummaryError, summarize, validate_memo
from graph_dpg.sandbox.ngdp.state import (
    DEFAULT_ATTACHMENTS,
    DEFAULT_SIZE_MB,
    Fault,
    NgdpState,
    RegistryEntry,
    System,
    iso,
)

PREFIX = "/apis/v1"
MAX_BODY = 150 * 1024 * 1024
# Below this size parsing/validation runs on the event loop: a thread hop costs more than the work.
INLINE_BELOW = 256 * 1024
_RECEIPT_STATUSES = frozenset({"NOT_ALLOWED", "INVALID", "RECEIVED", "COMPLETED"})
# The Receipt schema's properties (OpenAPI 1.68.0, DigitalPostClient.cs class Receipt).
_RECEIPT_FIELDS = frozenset(
    {"transmissionId", "messageUUID", "messageId", "errorCode", "errorMessage", "timeStamp", "receiptStatus"}
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def field_error(
    field: str, code: str, message: str, rejected: object = None, resource: str = "memo"
) -> dict[str, Any]:
    return {"resource": resource, "field": field, "code": code, "message": message, "rejectedValue": rejected}


def error_message(
    status: int, code: str, message: str, field_errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "fieldErrors": field_errors or []}, status_code=status
    )


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _authenticate(state: NgdpState, request: Request, role: str) -> System:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    system = None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, ValueError):
            decoded = ""
        system_id, sep, token = decoded.partition(":")
        if sep:
            system = state.authenticate(system_id, token)
    if system is None:
        raise _Refused(
            error_message(401, "UNAUTHORIZED", "Full authentication is required to access this resource")
        )
    if not system.active or role not in system.roles:
        raise _Refused(error_message(403, "FORBIDDEN", f"The system is not allowed to act as {role}"))
    return system


def _page(request: Request, ids: list[str]) -> dict[str, Any]:
    try:
        page = max(0, int(request.query_params.get("page", "0")))
        size = max(1, min(1000, int(request.query_params.get("size", "20"))))
    except ValueError:
        page, size = 0, 20
    total_pages = math.ceil(len(ids) / size) if ids else 0
    content = ids[page * size : (page + 1) * size]
    return {
        "content": content,
        "number": page,
        "size": size,
        "totalElements": len(ids),
        "totalPages": total_pages,
        "previous": None,
        "next": None,
    }


def _page_args(request: Request) -> tuple[int, int, Response | None]:
    """``page`` (zero-based) and ``size`` as the OpenAPI's paged queries take them; 400 when not numbers."""
    try:
        page = int(request.query_params.get("page", "0"))
        size = int(request.query_params.get("size", "20"))
    except ValueError:
        return 0, 0, error_message(400, "INVALID_PARAMETER", "page and size must be integers")
    if page < 0 or size < 1:
        return 0, 0, error_message(400, "INVALID_PARAMETER", "page must be >= 0 and size >= 1")
    return page, min(size, 1000), None


def _duplicate_answer(state: NgdpState, message_uuid: str) -> JSONResponse:
    """The answer to a messageUUID already accepted, in the shape ``state.duplicate_answer`` names. NgDP
    does not publish it; every shape is an inference (state.DuplicateAnswer)."""
    shape = state.duplicate_answer
    text = "A memo with this messageUUID has already been received"
    if shape == "409":
        return error_message(409, "DUPLICATE_MESSAGE_UUID", text)
    if shape == "422":
        return error_message(422, "DUPLICATE_MESSAGE_UUID", text)
    if shape == "400-code":
        return error_message(400, "DUPLICATE_MESSAGE_UUID", text)
    if shape == "400-field-errors":
        return error_message(
            400,
            "VALIDATION_FAILED",
            "The request failed validation",
            [field_error("MessageHeader.messageUUID", "DUPLICATE", "already received", message_uuid)],
        )
    return error_message(400, "BAD_REQUEST", "The memo could not be accepted")


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _receipt_problems(receipt: object, memo_id: str) -> list[dict[str, Any]]:
    """The Receipt schema (OpenAPI CreateReceiptAsync body): transmissionId uuid, messageUUID uuid,
    messageId/errorCode/errorMessage strings, timeStamp date-time, receiptStatus one of the enum. The
    schema marks none required; the emulator requires receiptStatus (a receipt without one says nothing)
    and a messageUUID, when given, equal to the memo's id [inference]."""
    if not isinstance(receipt, dict):
        return [field_error("receipt", "INVALID", "must be a JSON object", None, resource="receipt")]
    problems: list[dict[str, Any]] = []

    def bad(name: str, message: str) -> None:
        problems.append(field_error(name, "INVALID", message, receipt.get(name), resource="receipt"))

    if receipt.get("receiptStatus") not in _RECEIPT_STATUSES:
        bad("receiptStatus", "must be one of NOT_ALLOWED, INVALID, RECEIVED, COMPLETED")
    for name in ("transmissionId", "messageUUID"):
        if receipt.get(name) is not None and not _is_uuid(receipt[name]):
            bad(name, "must be a UUID")
    given = receipt.get("messageUUID")
    if (
        given is not None
        and _is_uuid(given)
        and (not _is_uuid(memo_id) or uuid.UUID(str(given)) != uuid.UUID(memo_id))
    ):
        bad("messageUUID", "must be the memo's UUID")
    if receipt.get("timeStamp") is not None and not _is_datetime(receipt["timeStamp"]):
        bad("timeStamp", "must be a date-time")
    for name in ("messageId", "errorCode", "errorMessage"):
        if receipt.get(name) is not None and not isinstance(receipt[name], str):
            bad(name, "must be a string")
    for name in sorted(set(receipt) - _RECEIPT_FIELDS):
        bad(name, "is not a field of Receipt")
    return problems


def _contact_json(entry: RegistryEntry, state: NgdpState) -> dict[str, Any]:
    # Shape of the real response in github sjkp/digitalpost README (company example).
    data: dict[str, Any] = {
        "id": entry.id,
        "version": 1,
        "type": entry.type,
        "mailboxSubscription": {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailbox:{entry.id}")),
            "version": 1,
            "registrationStatus": state.registration_detail(entry.status),
            "publicRegistrationStatus": entry.status,
        },
        "eligibleForVoluntaryRegistration": False,
    }
    data["cprNumber" if entry.type == "CITIZEN" else "cvrNumber"] = entry.number
    if entry.nem_sms:
        data["nemSmsSubscription"] = {"id": str(uuid.uuid4())}
    return data


def create_app(state: NgdpState) -> ASGIApp:
    """The emulator app (wrapped in the fault injector). Serve it with ``serve()`` or an httpx transport."""

    async def send_memo(request: Request) -> Response:
        system = _authenticate(state, request, "SENDER")
        org = state.organisation_of(system)
        query_uuid = (request.query_params.get("memo-message-uuid") or "").strip().lower()
        if not query_uuid:
            return error_message(
                400,
                "MISSING_PARAMETER",
                "Required request parameter 'memo-message-uuid' is not present",
                [field_error("memo-message-uuid", "NotNull", "must not be null")],
            )
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ("application/xml", "text/xml"):
            return error_message(
                400,
                "UNSUPPORTED_CONTENT_TYPE",
                f"Content type '{content_type}' is not supported; send one MeMo as application/xml",
            )
        body = await request.body()
        if len(body) > MAX_BODY:
            return error_message(400, "MEMO_TOO_LARGE", "The request body is too large")
        inline = len(body) < INLINE_BELOW
        try:
            summary = summarize(body) if inline else await run_in_threadpool(summarize, body)
        except MemoSummaryError as exc:
            state.note_rejected(query_uuid, 400, {"code": "MEMO_NOT_READABLE"})
            return error_message(400, "MEMO_NOT_READABLE", f"The MeMo could not be read: {exc}")
        if summary.message_uuid != query_uuid:
            err = field_error(
                "memo-message-uuid",
                "MISMATCH",
                "must be the messageUUID of the MeMo's MessageHeader",
                request.query_params.get("memo-message-uuid"),
            )
            state.note_rejected(query_uuid, 400, {"code": "MESSAGE_UUID_MISMATCH"})
            return error_message(
                400,
                "MESSAGE_UUID_MISMATCH",
                "memo-message-uuid does not match MessageHeader/messageUUID",
                [err],
            )
        if state.find_accepted(summary.message_uuid) is not None:
            state.note_duplicate()
            return _duplicate_answer(state, summary.message_uuid)
        problems: list[dict[str, Any]] = []
        if state.validate_memos:
            flags = {
                "mandatory_allowed": org.mandatory_post_allowed,
                "legal_notification_allowed": org.legal_notification_allowed,
            }
            findings = (
                validate_memo(body, **flags)
                if inline
                else await run_in_threadpool(validate_memo, body, **flags)
            )
            problems = [field_error(f.path or "/", f.rule, f.message) for f in findings]
        if problems:
            answer = error_message(400, "MEMO_VALIDATION_FAILED", "The MeMo failed validation", problems)
            state.note_rejected(summary.message_uuid, 400, json.loads(bytes(answer.body)))
            return answer
        refusal = _ngdp_checks(state, org.cvr, summary)
        if refusal is not None:
            state.note_rejected(summary.message_uuid, 400, json.loads(bytes(refusal.body)))
            return refusal
        memo = state.accept(body, summary, system)
        if memo is None:
            return _duplicate_answer(state, summary.message_uuid)
        return JSONResponse(
            {
                "transmissionId": memo.transmission_id,
                "messageUUID": summary.message_uuid,
                "messageId": summary.message_id,
                "timeStamp": iso(memo.accepted_at),
                "receiptStatus": "RECEIVED",
            },
            status_code=201,
        )

    async def list_memos(request: Request) -> Response:
        _authenticate(state, request, "RECIPIENT")
        return JSONResponse(_page(request, state.inbound_ids()))

    async def get_memo(request: Request) -> Response:
        _authenticate(state, request, "RECIPIENT")
        xml = state.fetch_inbound(request.path_params["memo_id"])
        if xml is None:
            return error_message(404, "NOT_FOUND", "Memo not found")
        return Response(xml, media_type="application/xml")

    async def memo_receipt(request: Request) -> Response:
        _authenticate(state, request, "RECIPIENT")
        memo_id = request.path_params["memo_id"]
        memo = state.inbound(memo_id)
        if memo is None:
            return error_message(404, "NOT_FOUND", "Memo not found")
        try:
            receipt = json.loads(await request.body())
        except ValueError:
            return error_message(400, "INVALID_JSON", "The receipt is not JSON")
        problems = _receipt_problems(receipt, memo_id)
        if problems:
            return error_message(
                400, "INVALID_RECEIPT", "The receipt does not match the Receipt schema", problems
            )
        if memo.receipts:
            return error_message(409, "RECEIPT_ALREADY_EXISTS", "A business receipt exists for this memo")
        state.record_inbound_receipt(memo_id, receipt)
        return Response(status_code=200)

    async def delete_memo(request: Request) -> Response:
        _authenticate(state, request, "RECIPIENT")
        if not state.delete_inbound(request.path_params["memo_id"]):
            return error_message(404, "NOT_FOUND", "Memo not found")
        return Response(status_code=204)

    async def list_receipts(request: Request) -> Response:
        _authenticate(state, request, "SENDER")
        return JSONResponse(_page(request, state.receipt_ids()))

    async def get_receipt(request: Request) -> Response:
        _authenticate(state, request, "SENDER")
        receipt_id = request.path_params["receipt_id"]
        receipt = state.receipt(receipt_id)
        if receipt is None:
            return error_message(404, "NOT_FOUND", "Receipt not found")
        if request.query_params.get("delete", "false").lower() == "true":
            state.delete_receipt(receipt_id)
        return JSONResponse({k: v for k, v in receipt.items() if v is not None})

    async def bulk_receipts(request: Request) -> Response:
        # OpenAPI BulkFetchReceiptsAsync: GET receipts-bulk/ (query: ReceiptSearchCommand page, size) →
        # ReceiptSearchResult {currentPage, totalPages, elementsOnPage, totalElements, receipts[]}, each a
        # BulkReceipt (Receipt + id). It deletes nothing ("Returns a list of receipts").
        _authenticate(state, request, "SENDER")
        page, size, bad = _page_args(request)
        if bad is not None:
            return bad
        everything = state.receipts_with_ids()
        chosen = everything[page * size : (page + 1) * size]
        return JSONResponse(
            {
                "currentPage": page,
                "totalPages": math.ceil(len(everything) / size) if everything else 0,
                "elementsOnPage": len(chosen),
                "totalElements": len(everything),
                "receipts": [
                    {**{k: v for k, v in r.items() if v is not None}, "id": rid} for rid, r in chosen
                ],
            }
        )

    async def events(request: Request) -> Response:
        # OpenAPI QueryEventsAsync: GET events/ → EventLogSearchResult {events[], currentPage, totalPages,
        # elementsOnPage, totalElements}. Which events NgDP writes for a memo, and what ``any`` matches,
        # are inferences (state.events).
        _authenticate(state, request, "SENDER")
        page, size, bad = _page_args(request)
        if bad is not None:
            return bad
        found = state.events(request.query_params.get("any"))
        chosen = found[page * size : (page + 1) * size]
        return JSONResponse(
            {
                "events": chosen,
                "currentPage": page,
                "totalPages": math.ceil(len(found) / size) if found else 0,
                "elementsOnPage": len(chosen),
                "totalElements": len(found),
            }
        )

    async def validations(request: Request) -> Response:
        # OpenAPI ValidateAsync: POST validations/?fileName=&policy= with Content-Type text/html → 201
        # ErrorMessage whose code "will state approved or rejected"; 400 for a bad request. The codes
        # APPROVED/REJECTED and what is checked (html_check) are inferences.
        _authenticate(state, request, "SENDER")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "text/html":
            return error_message(
                400, "UNSUPPORTED_CONTENT_TYPE", "Currently only text/html validation is supported"
            )
        file_name = request.query_params.get("fileName") or ""
        policy = (request.query_params.get("policy") or "LENIENT").upper()
        if policy not in ("STRICT", "LENIENT"):
            return error_message(
                400,
                "INVALID_PARAMETER",
                "policy can be STRICT or LENIENT",
                [field_error("policy", "INVALID", "STRICT or LENIENT", policy, resource="validation")],
            )
        body = await request.body()
        if len(body) > MAX_BODY:
            return error_message(400, "TOO_LARGE", "The document is too large")
        problems = check_html(body, policy)
        state.html_validations.append((file_name, policy, not problems))
        if not problems:
            return JSONResponse({"code": "APPROVED", "message": "", "fieldErrors": []}, status_code=201)
        return JSONResponse(
            {
                "code": "REJECTED",
                "message": f"{file_name} does not follow the rules for HTML in Digital Post ({policy})",
                "fieldErrors": [
                    field_error(p.field, p.code, p.message, p.rejected, resource="html") for p in problems
                ],
            },
            status_code=201,
        )

    async def delete_receipt(request: Request) -> Response:
        _authenticate(state, request, "SENDER")
        if not state.delete_receipt(request.path_params["receipt_id"]):
            return error_message(404, "NOT_FOUND", "Receipt not found")
        return Response(status_code=204)

    async def contacts(request: Request) -> Response:
        _authenticate(state, request, "SENDER")
        cpr = request.query_params.get("cprNumber")
        cvr = request.query_params.get("cvrNumber")
        if cpr is not None:
            entries = [e for e in [state.lookup("CITIZEN", cpr.replace("-", ""))] if e is not None]
        elif cvr is not None:
            entries = [e for e in [state.lookup("COMPANY", cvr)] if e is not None]
        else:
            entries = []
        return JSONResponse(
            {
                "currentPage": 0,
                "next": None,
                "totalPages": 1 if entries else 0,
                "elementsOnPage": len(entries),
                "totalElements": len(entries),
                "contacts": [_contact_json(e, state) for e in entries],
            }
        )

    async def contact_points(request: Request) -> Response:
        # OpenAPI QueryContactPointsAsync (organisations/{organisationId}/contact-points/, with
        # ``visibility`` "Option to include/exclude hidden contact-points. Valid types: VISIBLE, HIDDEN,
        # ALL.") and QueryAllContactPointsAsync (contact-points/, no visibility) → ContactPointSearchResult
        # {currentPage, next, totalPages, elementsOnPage, totalElements, contactPoints[]}. The default
        # visibility (VISIBLE) and the form of ``next`` (the next page's query, null on the last) are
        # inferences.
        system = _authenticate(state, request, "SENDER")
        org_id = request.path_params.get("organisation_id")
        visibility = "ALL"
        if org_id is not None:
            if org_id not in state.organisations:
                return error_message(404, "NOT_FOUND", "Organisation not found")
            if org_id != system.organisation_id:
                return error_message(
                    403, "FORBIDDEN", "Not allowed to read another organisation's contact points"
                )
            visibility = (request.query_params.get("visibility") or "VISIBLE").upper()
            if visibility not in ("VISIBLE", "HIDDEN", "ALL"):
                return error_message(
                    400,
                    "INVALID_PARAMETER",
                    "visibility: valid types are VISIBLE, HIDDEN, ALL",
                    [field_error("visibility", "INVALID", "VISIBLE, HIDDEN or ALL", visibility)],
                )
        page, size, bad = _page_args(request)
        if bad is not None:
            return bad
        points = [
            p
            for p in state.contact_points_of(org_id)
            if visibility == "ALL" or p.visible == (visibility == "VISIBLE")
        ]
        chosen = points[page * size : (page + 1) * size]
        total_pages = math.ceil(len(points) / size) if points else 0
        following = page + 1 < total_pages
        return JSONResponse(
            {
                "currentPage": page,
                "next": f"?page={page + 1}&size={size}" if following else None,
                "totalPages": total_pages,
                "elementsOnPage": len(chosen),
                "totalElements": len(points),
                "contactPoints": [
                    {
                        "id": p.id,
                        "name": p.name,
                        "memoSizeThresholdMB": p.memo_size_threshold_mb,
                        "allowedNumberOfAttachments": p.allowed_number_of_attachments,
                        "active": p.active,
                        "visible": p.visible,
                        "organisationId": p.organisation_id,
                        "targets": ["CITIZEN", "COMPANY", "AUTHORITY"],
                    }
                    for p in chosen
                ],
            }
        )

    def both(path: str, endpoint: Callable[[Request], Awaitable[Response]], method: str) -> list[Route]:
        return [
            Route(PREFIX + path, _guarded(endpoint), methods=[method]),
            Route(PREFIX + path.rstrip("/"), _guarded(endpoint), methods=[method]),
        ]

    routes = [
        *both("/memos/", send_memo, "POST"),
        *both("/memos/", list_memos, "GET"),
        Route(PREFIX + "/memos/{memo_id}", _guarded(get_memo), methods=["GET"]),
        Route(PREFIX + "/memos/{memo_id}", _guarded(delete_memo), methods=["DELETE"]),
        *both("/memos/{memo_id}/receipt/", memo_receipt, "POST"),
        *both("/receipts/", list_receipts, "GET"),
        *both("/receipts-bulk/", bulk_receipts, "GET"),
        *both("/events/", events, "GET"),
        *both("/validations/", validations, "POST"),
        Route(PREFIX + "/receipts/{receipt_id}", _guarded(get_receipt), methods=["GET"]),
        Route(PREFIX + "/receipts/{receipt_id}", _guarded(delete_receipt), methods=["DELETE"]),
        *both("/contacts/", contacts, "GET"),
        *both("/contact-points/", contact_points, "GET"),
        *both("/organisations/{organisation_id}/contact-points/", contact_points, "GET"),
    ]
    return FaultInjector(Starlette(routes=routes), state)


def _guarded(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except _Refused as refused:
            return refused.response

    return run


def _ngdp_checks(state: NgdpState, org_cvr: str, summary: Any) -> JSONResponse | None:
    if summary.sender_id_type != "CVR" or summary.sender_id != org_cvr:
        return error_message(
            400,
            "SENDER_NOT_ALLOWED",
            "The sender is not the organisation of the calling system",
            [
                field_error(
                    "MessageHeader.Sender.senderID",
                    "SENDER_NOT_ALLOWED",
                    "must be the system's CVR",
                    summary.sender_id,
                )
            ],
        )
    size_mb, attachments = DEFAULT_SIZE_MB, DEFAULT_ATTACHMENTS
    if summary.recipient_contact_point:
        point = state.contact_point(summary.recipient_contact_point)
        if point is None or not point.active:
            return error_message(
                400,
                "CONTACT_POINT_NOT_FOUND",
                "The recipient contact point does not exist or is not active",
                [
                    field_error(
                        "MessageHeader.Recipient.ContactPoint.contactPointID",
                        "NOT_FOUND",
                        "unknown contact point",
                        summary.recipient_contact_point,
                    )
                ],
            )
        size_mb, attachments = point.memo_size_threshold_mb, point.allowed_number_of_attachments
    if summary.additional_documents > attachments:
        return error_message(
            400,
            "TOO_MANY_ATTACHMENTS",
            f"The memo has {summary.additional_documents} attachments; at most {attachments} are allowed",
            [
                field_error(
                    "MessageBody.AdditionalDocument",
                    "MAX_COUNT",
                    f"at most {attachments}",
                    summary.additional_documents,
                )
            ],
        )
    if summary.size > size_mb * 1024 * 1024:
        return error_message(
            400,
            "MEMO_TOO_LARGE",
            f"The memo is {summary.size / 1048576:.1f} MB; at most {size_mb} MB are allowed",
            [field_error("memo", "MAX_SIZE", f"at most {size_mb} MB", summary.size)],
        )
    if state.recipient_check == "sync":
        status, code, message = state.business_status(summary)
        if status != "COMPLETED":
            return error_message(
                400,
                "RECIPIENT_NOT_FOUND" if status == "INVALID" else "RECIPIENT_NOT_ALLOWED",
                message or "The recipient cannot receive Digital Post",
                [
                    field_error(
                        "MessageHeader.Recipient.recipientID", code or status, message or "", "**********"
                    )
                ],
            )
    return None


def _endpoint_of(method: str, path: str) -> str:
    rest = path[len(PREFIX) :] if path.startswith(PREFIX) else path
    if method == "POST" and rest.rstrip("/") == "/memos":
        return "send"
    for key in ("receipts", "memos", "contacts", "contact-points"):
        if rest.startswith(f"/{key}"):
            return key
    if "/contact-points" in rest:
        return "contact-points"
    return "other"


def _abort_transport(receive: Receive) -> bool:
    """Abort the client's TCP connection. Uvicorn's ``receive`` is a bound method of the request cycle,
    which holds the asyncio transport; aborting it is what a crashed or overloaded server looks like."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return False
    transport.abort()
    return True


class FaultInjector:
    """ASGI middleware: applies ``state.faults`` and keeps ``state.request_log``."""

    def __init__(self, app: ASGIApp, state: NgdpState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        endpoint = _endpoint_of(method, path)
        fault = self.state.faults.next_fault(endpoint)
        if endpoint == "send" and self.state.send_latency is not None:
            # A benchmark aid, not emulated behaviour: NgDP publishes no response times (sandbox/latency.py).
            await asyncio.sleep(self.state.send_latency.draw())
        status_seen: list[int] = []

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Logged before the answer leaves, so a test that got the answer sees the entry.
                status_seen.append(int(message["status"]))
                self.state.log_request(method, path, status_seen[0])
            await send(message)

        try:
            await self._dispatch(fault, scope, receive, logging_send)
        finally:
            if not status_seen:
                self.state.log_request(method, path, 0)

    async def _dispatch(self, fault: Fault | None, scope: Scope, receive: Receive, send: Send) -> None:
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.kind == "503":
            response = error_message(503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable (emulated)")
            await response(scope, receive, send)
            return
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            await self.app(scope, receive, send)
            return
        if fault.kind == "reset":
            await self._hang_up(receive)
            return

        # timeout_after_accept: do the work, lose the answer.
        async def swallow(message: Message) -> None:
            return None

        await self.app(scope, receive, swallow)
        await asyncio.sleep(fault.delay or self.state.hang_seconds)
        await self._hang_up(receive)

    async def _hang_up(self, receive: Receive) -> None:
        if _abort_transport(receive):
            # Let the server notice the lost connection before the app returns, so it does not try to
            # answer on a dead socket.
            await asyncio.sleep(0.05)
            return
        raise httpx.RemoteProtocolError("connection reset by the NgDP emulator")
