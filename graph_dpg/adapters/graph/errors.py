"""Translate Graph failures (HTTP responses, transport errors, SDK ODataError) into graph_dpg.core.errors.

Graph error bodies are OData errors ``{"error": {"code": "...", "message": "...", "innerError": {...}}}``
(learn.microsoft.com/graph/errors). Mapping, by status first, then by code:

    429                     → ThrottledError(retry_after from Retry-After, seconds, may be fractional)
    507 | ErrorQuotaExceeded | QuotaExceededException
                            → MailboxFullError (the mailbox is over its quota; see below)
    500/502/503/504         → TransientError (retry_after when the server sent one)
    401/403                 → AuthError (configuration: consent, RBAC scope, access policy)
    404                     → NotFoundError
    410 | syncStateNotFound | resyncRequired → SyncStateExpiredError (delta token expired)
    ErrorMessageSizeExceeded → MessageTooLargeError (the message would exceed the mailbox's maximum
                              message size; Graph answers 400, docs/facts/graph.md, "Message size limit")
    400/413/415/422         → RejectedError (the content was refused; details = the error body)
    other 4xx (409, 412...) → PermanentError
    timeouts, resets        → TransientError; AmbiguousOutcomeError for non-idempotent requests whose
                              body may have reached Graph

A full mailbox: Graph's error table lists 507 Insufficient Storage, "The maximum storage quota has been
reached." (learn.microsoft.com/graph/errors). The code in the body is Exchange's: ``ErrorQuotaExceeded``
("The mailbox quota has been exceeded", learn.microsoft.com/exchange/client-developer/web-service-reference/
responsecode), which Graph passes through (github.com/microsoftgraph/microsoft-graph-docs/issues/2927,
/3935), and ``QuotaExceededException`` "Target mailbox quota exceeded." with 507 (same repository, issue
6546). Neither page pairs the status with the codes, so the code counts whatever the status.
"""

from __future__ import annotations

import json
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from graph_dpg.core.errors import (
    AmbiguousOutcomeError,
    AuthError,
    MailboxFullError,
    MessageTooLargeError,
    NotFoundError,
    PermanentError,
    RejectedError,
    RemoteError,
    SyncStateExpiredError,
    ThrottledError,
    TransientError,
)

SERVICE = "graph"
_SYNC_EXPIRED_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})
_QUOTA_CODES = frozenset({"errorquotaexceeded", "quotaexceededexception"})
_SIZE_CODES = frozenset({"errormessagesizeexceeded"})
_REJECTED_STATUSES = frozenset({400, 413, 415, 422})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds (Graph sends fractions like ``2.128``,
    learn.microsoft.com/graph/throttling) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(when.tzinfo)).total_seconds())


#: Graph's error bodies are small JSON objects; a bigger body is kept as text, not parsed.
_MAX_ERROR_JSON_BYTES = 1024 * 1024


def _error_body(content: bytes) -> tuple[str | None, str, dict[str, Any]]:
    try:
        body = json.loads(content) if content and len(content) <= _MAX_ERROR_JSON_BYTES else None
    except (ValueError, RecursionError):  # RecursionError: JSON nested beyond the decoder's stack
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = err.get("code")
        message = err.get("message") or ""
        return (str(code) if code else None), str(message), body
    text = content[:500].decode("utf-8", "replace") if content else ""
    return None, text, ({"text": text} if text else {})


def error_for_status(
    status: int,
    content: bytes = b"",
    headers: httpx.Headers | None = None,
    *,
    what: str = "",
) -> RemoteError:
    """The domain error for a non-2xx Graph response."""
    code, message, details = _error_body(content)
    message = f"{what}: {message}" if what and message else (message or what or f"HTTP {status}")
    retry_after = parse_retry_after(headers.get("retry-after") if headers is not None else None)
    kw: dict[str, Any] = {"service": SERVICE, "status": status, "code": code, "details": details}
    if status == 410 or (code or "").lower() in _SYNC_EXPIRED_CODES:
        return SyncStateExpiredError(message, **kw)
    if status == 429:
        return ThrottledError(message, retry_after=retry_after, **kw)
    if status == 507 or (code or "").lower() in _QUOTA_CODES:
        return MailboxFullError(message, retry_after=retry_after, **kw)
    if status >= 500:
        return TransientError(message, retry_after=retry_after, **kw)
    if status in (401, 403):
        return AuthError(message, **kw)
    if status == 404:
        return NotFoundError(message, **kw)
    if (code or "").lower() in _SIZE_CODES and 400 <= status < 500:
        return MessageTooLargeError(message, **kw)
    if status in _REJECTED_STATUSES:
        return RejectedError(message, **kw)
    return PermanentError(message, **kw)


def error_for_response(response: httpx.Response, *, what: str = "") -> RemoteError:
    return error_for_status(response.status_code, response.content, response.headers, what=what)


def error_for_transport(exc: httpx.TransportError, method: str, *, what: str = "") -> TransientError:
    """Timeouts and connection failures. A request that may have been delivered and is not idempotent
    (POST/PATCH after the connection was made) is ambiguous: the caller must retry idempotently."""
    message = f"{what}: {type(exc).__name__}: {exc}" if what else f"{type(exc).__name__}: {exc}"
    delivered_maybe = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    if delivered_maybe and method.upper() not in _IDEMPOTENT_METHODS:
        return AmbiguousOutcomeError(message, service=SERVICE)
    return TransientError(message, service=SERVICE)


def error_for_odata(exc: Exception, *, what: str = "") -> RemoteError:
    """Translate the SDK's ``ODataError`` (raised on its model path) without importing the SDK here."""
    status = getattr(exc, "response_status_code", None) or 0
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None)
    message = getattr(err, "message", None) or str(exc)
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers_obj = getattr(exc, "response_headers", None)
    headers = httpx.Headers()
    if headers_obj is not None:
        # kiota's ResponseHeaders map a name to a set of values.
        try:
            for name, values in dict(headers_obj.get_all()).items():
                for value in values:
                    headers[name] = value
        except (AttributeError, TypeError):
            headers = httpx.Headers()
    return error_for_status(int(status), body, headers, what=what)
