"""NgDP REST v1 client: the ``DigitalPostPort`` over httpx with mutual TLS.

Endpoints (relative to ``{base}`` = ``https://api.digitalpost.dk/apis/v1`` in production,
``https://api.test.digitalpost.dk/apis/v1`` in test; docs/facts/ngdp.md, "Environments"):

    POST   memos/?memo-message-uuid={uuid}   MeMo XML (application/xml) → 201 Receipt | 400 ErrorMessage
    POST   validations/?fileName=&policy=STRICT   HTML pre-check → 201 ErrorMessage (code approved/rejected)
    GET    events/?any={uuid}&page=&size=    EventLogSearchResult, paged (reconciliation after a lost answer)
    GET    receipts-bulk/?page=&size=        ReceiptSearchResult (receipts[] with their ids)
    GET    receipts/?page=&size=             PagingResultUUID
    GET    receipts/{id}?delete=false        Receipt (deleted separately, after it is recorded)
    DELETE receipts/{id}                     204
    GET    memos/?page=&size=                PagingResultUUID of inbound memos
    GET    memos/{id}  (Accept: application/xml)  MeMo XML (200, or 206)
    POST   memos/{id}/receipt                Receipt JSON (business receipt for an inbound memo)
    DELETE memos/{id}                        204
    GET    contacts/?cprNumber=|cvrNumber=   ContactSearchResult
    GET    organisations/{orgId}/contact-points/?visibility=ALL  (or contact-points/ without an organisation)
           ContactPointSearchResult, paged by currentPage/totalPages/next

Every request carries ``Authorization: Basic base64(systemId:apiToken)`` and goes over HTTP/1.1 with the
OCES3 client certificate (docs/facts/ngdp.md, "Authentication").

Sending state machine (one ``send_memo`` call; the messageUUID is the idempotency key, so every attempt
re-posts the same XML under the same ``memo-message-uuid``)::

    attempt ──201──────────────────────────────► SendResult(duplicate=False)
       │    ──409, 400/422 naming a duplicate──► SendResult(duplicate=True)     (NgDP already had it)
       │    ──400/422 after a lost answer──────► reconciliation (GET events/): has it → duplicate=True;
       │                                          has not → RejectedError; cannot tell → Ambiguous
       │    ──400──────────────────────────────► RejectedError (ErrorMessage verbatim in .details)
       │    ──401/403, TLS verification failure► AuthError (no retry: configuration)
       │    ──connect error / 429 / 502-504────► nothing happened  ─┐
       │    ──timeout/reset after sending, 500─► ambiguous         ─┤ backoff, next attempt
       └──────────────────────────────────────────────────────────┘
    attempts exhausted: AmbiguousOutcomeError if any attempt was ambiguous, else TransientError.

TLS: a server certificate we cannot verify, or a TLS alert refusing our certificate, is an ``AuthError``.
Servers often drop the connection without the alert reaching us (asyncio's TLS server does, and a reset
discards it); that looks like any network failure and is treated as one (transient / ambiguous).

NgDP's answer to a repeated messageUUID is not publicly documented (docs/facts/ngdp.md, "Idempotency"):
every plausible shape counts as "already accepted" (``is_duplicate_answer``) [inference]; a lost answer
(timeout/reset after sending, 500), in this call or an earlier one (``possibly_sent``), makes a following
400 a question for NgDP's event log rather than a refusal. The sandbox emulator answers in each shape
(``NgdpState.duplicate_answer``).

Logging never includes bodies (MeMo XML carries CPR numbers) nor the ``cprNumber`` query parameter.
"""

from __future__ import annotations

import asyncio
import base64
import json as jsonlib
import logging
import os
import random
import re
import ssl
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import httpx

from graph_dpg.adapters.digital_post.tls import (
    ClientIdentity,
    client_ssl_context,
    load_certificate_file,
    load_pem,
    load_pkcs12,
)
from graph_dpg.adapters.digital_post.wire import (
    WireFormatError,
    contact_points_from_json,
    contacts_from_search,
    error_message_from_json,
    memo_event_page_from_json,
    paging_ids,
    receipt_from_json,
    receipts_from_bulk,
)
from graph_dpg.adapters.http.aiohttp_transport import (
    AiohttpTransport,
    ClientDefaults,
    TransportKind,
    direct_transport,
    network_transport,
)
from graph_dpg.core.backoff import Backoff
from graph_dpg.core.errors import (
    AmbiguousOutcomeError,
    AuthError,
    ConfigError,
    NotFoundError,
    PermanentError,
    RejectedError,
    RemoteError,
    ThrottledError,
    TransientError,
)
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.ports.digital_post import (
    RECEIPT_STATUSES,
    BusinessReceipt,
    Contact,
    ContactPointInfo,
    HtmlVerdict,
    ReceiptStatus,
    SendResult,
)

log = logging.getLogger(__name__)

SERVICE = "ngdp"
PAGE_SIZE = 1000  # the size sjkp/digitalpost uses for GET memos/
_MAX_PAGES = 10_000
# Reconciliation reads NgDP's event log a page at a time (QueryEventsAsync: ``page`` zero-based, ``size``)
# up to this many pages; a log longer than that for one messageUUID cannot be read to the end, and the
# outcome stays open (AmbiguousOutcomeError) rather than being guessed.
EVENT_PAGE_SIZE = 100
EVENT_MAX_PAGES = 20
_DUPLICATE_CODE = re.compile(r"DUPLICATE|ALREADY", re.IGNORECASE)
# A field error names the duplicate when it is about the messageUUID and says so [inference].
_UUID_FIELD = re.compile(r"message-?uuid", re.IGNORECASE)
_DUPLICATE_WORDS = re.compile(r"DUPLICATE|ALREADY|EXISTS|UNIQUE", re.IGNORECASE)
# The OpenAPI's EventLog tags (EventLogEventTag) that say NgDP took the memo in; MEMO_SEND_VALIDATION_FAILED
# and MEMO_TRANSFORMATION_FAILED say it did not.
_ACCEPTED_EVENT_TAGS = frozenset(
    {
        "MEMO_SEND_RECEIVED",
        "MEMO_SEND_VALIDATED",
        "MEMO_SEND_VALIDATED_AWAITING_DELAY",
        "MEMO_SEND_SENT",
        "MEMO_SEND_SENT_TO_RECIPIENT_SYSTEM",
        "MEMO_SEND_READY_FOR_FETCH",
        "MEMO_SEND_FETCHED_BY_RECIPIENT_SYSTEM",
        "MEMO_AVAILABLE_TO_RECIPIENT",
    }
)
# The namespace of the transmissionId of a business receipt the gateway posts for an inbound memo: uuid5 of
# the memo's UUID, so every retry of the same receipt carries the same id without storing it.
RECEIPT_TRANSMISSION_NAMESPACE = uuid.UUID("6c1f0f3e-5d1a-5b8e-9a43-0d6b2b1f8e21")


def is_duplicate_answer(status: int, error: Mapping[str, Any] | None) -> bool:
    """Does NgDP's answer say it already has this messageUUID? Not documented (docs/facts/ngdp.md,
    "Idempotency"), so every plausible shape counts [inference]: 409; a 400 or 422 whose ``code`` names a
    duplicate; a 400 or 422 with a ``fieldErrors`` entry on the messageUUID whose code or message does."""
    if status == 409:
        return True
    if status not in (400, 422) or not error:
        return False
    if _DUPLICATE_CODE.search(str(error.get("code") or "")):
        return True
    for fe in error.get("fieldErrors") or []:
        if not isinstance(fe, Mapping):
            continue
        if _UUID_FIELD.search(str(fe.get("field") or "")) and _DUPLICATE_WORDS.search(
            f"{fe.get('code') or ''} {fe.get('message') or ''}"
        ):
            return True
    return False


# OpenSSL alert reasons that mean "the server refused our client certificate" or "we refused the server's":
# configuration problems, not transient ones.
_TLS_AUTH_REASONS = (
    "CERTIFICATE_REQUIRED",
    "BAD_CERTIFICATE",
    "UNKNOWN_CA",
    "CERTIFICATE_EXPIRED",
    "CERTIFICATE_REVOKED",
    "CERTIFICATE_UNKNOWN",
    "UNSUPPORTED_CERTIFICATE",
    "ACCESS_DENIED",
    "CERTIFICATE_VERIFY_FAILED",
)


class _CprQueryFilter(logging.Filter):
    """httpx logs every request URL at INFO; ``contacts/?cprNumber=`` would put a CPR number in the log."""

    _pattern = re.compile(r"(cprNumber=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "cprNumber=" in message:
            record.msg = mask_cprs(self._pattern.sub(r"\1xxxxxxxxxx", message))
            record.args = None
        return True


def _install_cpr_filter() -> None:
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _CprQueryFilter) for f in httpx_logger.filters):
        httpx_logger.addFilter(_CprQueryFilter())


def _tls_refusal(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            reason = str(getattr(current, "reason", "") or current)
            if any(r in reason.upper() for r in _TLS_AUTH_REASONS):
                return current
        current = current.__cause__ or current.__context__
    return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):  # RecursionError: JSON nested beyond the decoder's stack
        return None


class NgdpClient:
    """``DigitalPostPort`` implementation. Construct from plain values (the composition root maps
    ``Settings`` onto these parameters); close with ``aclose()`` or use ``async with``.

    Certificates: ``certificate_file`` (+ ``certificate_password``), one file in PEM or PKCS#12 as the
    settings carry it (format detected from the content); or explicitly ``pkcs12_file`` (+
    ``pkcs12_password``) or ``cert_file`` (+ ``key_file``, ``key_password``). ``ca_bundle`` overrides the
    system trust store (sandbox, tests). ``transport`` is the httpx transport seam: tests pass
    ``httpx.ASGITransport``/``MockTransport``; TLS settings are then unused. Without it the requests go
    over ``http_transport``: "aiohttp" (adapters/http/aiohttp_transport.py, the default) or "httpx"
    (httpx's own), both with the same mutual-TLS context.

    From ``Settings``: ``NgdpClient(s.ngdp_base_url, s.ngdp_system_id, token, certificate_file=
    s.ngdp_certificate_path, certificate_password=..., ca_bundle=s.ngdp_ca_bundle,
    read_timeout=s.ngdp_timeout_seconds, write_timeout=s.ngdp_timeout_seconds)``.
    """

    def __init__(
        self,
        base_url: str,
        system_id: str,
        api_token: str,
        *,
        certificate_file: str | os.PathLike[str] | None = None,
        certificate_password: str | None = None,
        cert_file: str | os.PathLike[str] | None = None,
        key_file: str | os.PathLike[str] | None = None,
        key_password: str | None = None,
        pkcs12_file: str | os.PathLike[str] | None = None,
        pkcs12_password: str | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        organisation_id: str | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        write_timeout: float = 120.0,
        pool_timeout: float = 30.0,
        max_send_attempts: int = 5,
        max_attempts: int = 3,
        event_page_size: int = EVENT_PAGE_SIZE,
        event_max_pages: int = EVENT_MAX_PAGES,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        http_transport: TransportKind = "aiohttp",
        seed: int | None = None,
    ) -> None:
        if not system_id or not api_token:
            raise ConfigError("NgDP system id and API token are both required")
        if sum(x is not None for x in (certificate_file, pkcs12_file, cert_file)) > 1:
            raise ConfigError("give the NgDP certificate once: certificate_file, pkcs12_file or cert_file")
        self.organisation_id = organisation_id
        self._max_send_attempts = max(1, max_send_attempts)
        self._max_attempts = max(1, max_attempts)
        self._event_page_size = max(1, event_page_size)
        self._event_max_pages = max(1, event_max_pages)
        # Equal jitter: each wait is between half and all of the exponential ceiling.
        self._retry = Backoff(backoff_base, backoff_max, jitter=0.5)
        # S311: jitter only; nothing secret depends on it.
        self._rng = random.Random(seed)  # noqa: S311
        self._identity: ClientIdentity | None = None
        if certificate_file is not None:
            self._identity = load_certificate_file(certificate_file, certificate_password)
        elif pkcs12_file is not None:
            self._identity = load_pkcs12(pkcs12_file, pkcs12_password)
        elif cert_file is not None:
            self._identity = load_pem(cert_file, key_file, key_password)

        credentials = base64.b64encode(f"{system_id}:{api_token}".encode()).decode("ascii")
        headers = {"Authorization": f"Basic {credentials}", "Accept": "application/json"}
        timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=write_timeout, pool=pool_timeout
        )
        base = base_url.rstrip("/") + "/"
        self._base = base
        #: Requests straight to our aiohttp transport, past the httpx client (``_send``); None: the client.
        self._direct: AiohttpTransport | None = None
        if transport is not None:
            self._http = httpx.AsyncClient(
                base_url=base, headers=headers, timeout=timeout, transport=transport
            )
        else:
            verify = client_ssl_context(self._identity, ca_bundle)
            # ``verify`` stays on the client as well: a proxy from the environment is an httpx mount that
            # builds its own transport from it.
            network = network_transport(http_transport, ssl_context=verify)
            self._http = httpx.AsyncClient(
                base_url=base,
                headers=headers,
                timeout=timeout,
                verify=verify,
                transport=network,
                http1=True,
                http2=False,
            )
            # None when a proxy from the environment is mounted for NgDP's origin (never reaches ours).
            self._direct = direct_transport(self._http, base)
            if self._direct is not None:
                self._defaults = ClientDefaults(self._http)
        _install_cpr_filter()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ monitoring

    def certificate_days_left(self) -> int | None:
        return self._identity.days_left() if self._identity is not None else None

    def certificate_not_after(self) -> datetime | None:
        return self._identity.not_valid_after if self._identity is not None else None

    # ------------------------------------------------------------------ plumbing

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        return self._retry.delay(attempt, retry_after=retry_after, rng=self._rng)

    def _map_status(self, response: httpx.Response, what: str) -> RemoteError:
        status = response.status_code
        body = _json(response)
        error = error_message_from_json(body)
        code = str(error.get("code")) if error and error.get("code") is not None else None
        text = str(error.get("message")) if error and error.get("message") else f"{what}: HTTP {status}"
        details: dict[str, object] = dict(error) if error else {}
        if status == 400:
            return RejectedError(text, SERVICE, status, code, details)
        if status in (401, 403):
            return AuthError(
                f"{what}: NgDP refused the system's credentials (HTTP {status}); check system id, API token"
                " and certificate",
                SERVICE,
                status,
                code,
                details,
            )
        if status == 404:
            return NotFoundError(text, SERVICE, status, code, details)
        if status == 429:
            return ThrottledError(text, SERVICE, status, code, details, retry_after=_retry_after(response))
        if status >= 500:
            return TransientError(text, SERVICE, status, code, details, retry_after=_retry_after(response))
        return PermanentError(text, SERVICE, status, code, details)

    def _map_transport(self, exc: httpx.TransportError, what: str, *, body_sent_matters: bool) -> RemoteError:
        refusal = _tls_refusal(exc)
        if refusal is not None:
            return AuthError(
                f"{what}: TLS refused ({refusal.reason or refusal}); check the OCES3 certificate", SERVICE
            )
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return TransientError(f"{what}: cannot connect to NgDP ({type(exc).__name__})", SERVICE)
        if body_sent_matters:
            return AmbiguousOutcomeError(
                f"{what}: no answer after the request was sent ({type(exc).__name__})", SERVICE
            )
        return TransientError(f"{what}: transport failure ({type(exc).__name__})", SERVICE)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
        json: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request, as ``self._http.request`` would send it. Over our aiohttp transport it goes to
        ``AiohttpTransport.fetch`` directly (the same session with the mutual-TLS context, pool slots,
        timeouts and httpx exception mapping, so ``_map_transport`` and ``_tls_refusal`` see what they saw),
        without ``httpx.AsyncClient.send``'s Request model, URL re-parsing and cookie jar: ~0.25 ms CPU less
        per ``POST memos/`` of a 3 kB MeMo over mutual TLS to a loopback server (0.59 → 0.33 ms, server
        included, medians of 4 × 300; issue 18). The URL and
        JSON body are made as the client makes them: ``httpx.URL(base + path, params=params)`` (the client
        appends a relative path to its base URL's path and merges ``params`` the same way) and httpx's
        ``encode_json`` (compact separators, UTF-8, no NaN) with ``Content-Type: application/json`` unless
        ``headers`` name one. No cookies are sent or kept on that path (the client's jar would have echoed a
        ``Set-Cookie``); NgDP authenticates by the Basic header and the client certificate
        (docs/facts/ngdp.md, "Authentication")."""
        direct = self._direct
        if direct is None:
            return await self._http.request(
                method, path, params=params, content=content, json=json, headers=headers
            )
        url = str(httpx.URL(self._base + path, params=params))
        sent = dict(headers or {})
        if json is not None:
            content = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            if not any(k.lower() == "content-type" for k in sent):
                sent["Content-Type"] = "application/json"
        defaults = self._defaults
        return await direct.fetch(method, url, defaults.merged(sent), content, defaults.timeouts)

    async def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: object = None,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """Idempotent requests (GET/DELETE, the memo receipt POST): bounded retries on transient failures."""
        last: RemoteError | None = None
        for attempt in range(1, self._max_attempts + 1):
            retry_after: float | None = None
            try:
                response = await self._send(method, path, params=params, json=json, headers=headers)
            except httpx.TransportError as exc:
                last = self._map_transport(exc, what, body_sent_matters=False)
                if isinstance(last, AuthError):
                    raise last from exc
            else:
                if response.status_code in ok:
                    return response
                mapped = self._map_status(response, what)
                if not isinstance(mapped, TransientError):
                    raise mapped
                last, retry_after = mapped, mapped.retry_after
            log.warning(
                "ngdp %s failed (attempt %d/%d): %s", what, attempt, self._max_attempts, mask_cprs(str(last))
            )
            if attempt < self._max_attempts:
                await asyncio.sleep(self._backoff(attempt, retry_after))
        assert last is not None
        raise last

    async def _paged_ids(self, path: str, what: str) -> list[str]:
        ids: list[str] = []
        page = 0
        while page < _MAX_PAGES:
            response = await self._request("GET", path, what, params={"page": page, "size": PAGE_SIZE})
            try:
                content, pages = paging_ids(_json(response))
            except WireFormatError as exc:
                raise PermanentError(f"{what}: {exc}", SERVICE, response.status_code) from exc
            ids.extend(content)
            page += 1
            if not content or page >= pages:
                break
        return ids

    # ------------------------------------------------------------------ sending

    async def send_memo(self, message_uuid: str, xml: bytes, *, possibly_sent: bool = False) -> SendResult:
        """Send one MeMo. ``possibly_sent``: an earlier call for this messageUUID ended without knowing
        whether NgDP took it (the caller's record); a later 400 is then settled by reconciliation."""
        ambiguous = possibly_sent
        last: RemoteError | None = None
        for attempt in range(1, self._max_send_attempts + 1):
            retry_after: float | None = None
            try:
                response = await self._post_memo(message_uuid, xml)
            except httpx.TransportError as exc:
                last = self._map_transport(exc, "send memo", body_sent_matters=True)
                if isinstance(last, AuthError):
                    raise last from exc
                ambiguous = ambiguous or isinstance(last, AmbiguousOutcomeError)
            else:
                result = await self._send_outcome(message_uuid, response, after_ambiguity=ambiguous)
                if isinstance(result, SendResult):
                    log.info(
                        "ngdp memo %s accepted (status %s, duplicate=%s, attempt %d)",
                        message_uuid,
                        result.receipt_status,
                        result.duplicate,
                        attempt,
                    )
                    return result
                if not isinstance(result, TransientError):
                    # NgDP's message text may echo rejected values (a recipient's CPR).
                    log.warning("ngdp memo %s not accepted: %s", message_uuid, mask_cprs(str(result)))
                    raise result
                if isinstance(result, AmbiguousOutcomeError) and result.status in (400, 422):
                    # Reconciliation could not tell: another POST would get the same 400.
                    raise result
                last, retry_after = result, result.retry_after
                # A 500 may come after NgDP stored the memo.
                ambiguous = ambiguous or response.status_code == 500
            log.warning(
                "ngdp memo %s send attempt %d/%d failed: %s",
                message_uuid,
                attempt,
                self._max_send_attempts,
                mask_cprs(str(last)),
            )
            if attempt < self._max_send_attempts:
                await asyncio.sleep(self._backoff(attempt, retry_after))
        assert last is not None
        if ambiguous:
            raise AmbiguousOutcomeError(
                f"send memo {message_uuid}: outcome unknown after {self._max_send_attempts} attempts"
                f" ({last.message}); retry later with the same messageUUID",
                SERVICE,
                last.status,
                last.code,
            )
        raise last

    async def _send_outcome(
        self, message_uuid: str, response: httpx.Response, *, after_ambiguity: bool
    ) -> SendResult | RemoteError:
        status = response.status_code
        if status in (200, 201):
            body = _json(response)
            if not isinstance(body, Mapping):
                return SendResult(None, message_uuid, "RECEIVED", duplicate=False)
            return SendResult(
                transmission_id=str(body["transmissionId"]) if body.get("transmissionId") else None,
                message_uuid=str(body.get("messageUUID") or message_uuid),
                receipt_status=str(body.get("receiptStatus") or "RECEIVED"),
                duplicate=False,
            )
        error = error_message_from_json(_json(response))
        if is_duplicate_answer(status, error):
            if not after_ambiguity:
                # Not a retry of ours: an earlier run sent it (crash before recording). Still exactly once.
                code = (error or {}).get("code") or status
                log.info("ngdp memo %s was already accepted earlier (code %s)", message_uuid, code)
            return SendResult(None, message_uuid, "RECEIVED", duplicate=True)
        mapped = self._map_status(response, f"send memo {message_uuid}")
        if status in (400, 422) and after_ambiguity:
            # After an attempt whose answer was lost, a 400 may be NgDP's (undocumented) answer to a
            # messageUUID it already has: ask NgDP instead of telling the case worker "refused".
            known = await self.memo_known(message_uuid)
            if known is True:
                log.info("ngdp memo %s: HTTP %d after a lost answer; NgDP has it", message_uuid, status)
                return SendResult(None, message_uuid, "RECEIVED", duplicate=True)
            if known is None:
                return AmbiguousOutcomeError(
                    f"send memo {message_uuid}: HTTP {status} after an attempt whose answer was lost, and"
                    " NgDP's event log could not tell whether it has the memo; retry later",
                    SERVICE,
                    status,
                    mapped.code,
                    mapped.details,
                )
        return mapped

    async def memo_known(self, message_uuid: str) -> bool | None:
        """Reconciliation: does NgDP hold the memo we sent as ``message_uuid``? Read from the event log
        (OpenAPI QueryEventsAsync, ``GET events/?any=<uuid>&page=&size=``, ``page`` zero-based as
        sjkp/digitalpost DigitalPostClient.cs documents it; ``EventLogSearchResult.events[].eventTag``,
        paged by ``currentPage``/``totalPages``/``next``), page by page until an event says NgDP took it
        in, the log ends, or ``event_max_pages`` pages were read.
        True: an event says NgDP took it in (``MEMO_SEND_RECEIVED`` …); False: the whole log was read and
        none does; None: the log could not be read (no privilege, NgDP unavailable) or not to its end.
        That the memo's UUID is one of the values ``any`` matches is an inference."""
        page: int | None = 0
        read = 0
        try:
            while page is not None:
                if read >= self._event_max_pages:
                    log.warning(
                        "ngdp memo %s: event log longer than %d pages; outcome left open",
                        message_uuid,
                        self._event_max_pages,
                    )
                    return None
                response = await self._request(
                    "GET",
                    "events/",
                    f"reconcile memo {message_uuid}",
                    params={"any": message_uuid, "page": page, "size": self._event_page_size},
                )
                tags, where = memo_event_page_from_json(_json(response), message_uuid)
                read += 1
                if any(tag in _ACCEPTED_EVENT_TAGS for tag in tags):
                    return True
                following = where.next_page()
                # The next page by number; an answer that does not move on ends the walk.
                page = following if following is not None and following > page else None
        except (RemoteError, WireFormatError) as exc:
            log.warning("ngdp memo %s: event log not readable: %s", message_uuid, mask_cprs(str(exc)))
            return None
        return False

    async def validate_html(self, file_name: str, html: bytes) -> HtmlVerdict:
        """NgDP's pre-check of an HTML document (OpenAPI ValidateAsync, ``POST validations/?fileName=
        &policy=STRICT``, ``Content-Type: text/html``): "ErrorMessage object is used as response entity
        and the code will state approved or rejected" (201; 400)."""
        what = f"validate {file_name}"
        last: RemoteError | None = None
        for attempt in range(1, self._max_attempts + 1):
            retry_after: float | None = None
            try:
                response = await self._send(
                    "POST",
                    "validations/",
                    params={"fileName": file_name, "policy": "STRICT"},
                    content=html,
                    headers={"Content-Type": "text/html"},
                )
            except httpx.TransportError as exc:
                # Validating changes nothing at NgDP: a lost answer is simply asked again.
                last = self._map_transport(exc, what, body_sent_matters=False)
                if isinstance(last, AuthError):
                    raise last from exc
            else:
                error = error_message_from_json(_json(response)) or {}
                code = str(error.get("code") or "")
                if response.status_code in (200, 201):
                    return HtmlVerdict(
                        approved="REJECT" not in code.upper(),
                        code=code or None,
                        message=_opt(error.get("message")),
                        field_errors=_field_errors(error),
                    )
                if response.status_code == 400:
                    return HtmlVerdict(False, code or None, _opt(error.get("message")), _field_errors(error))
                mapped = self._map_status(response, what)
                if not isinstance(mapped, TransientError):
                    raise mapped
                last, retry_after = mapped, mapped.retry_after
            if attempt < self._max_attempts:
                await asyncio.sleep(self._backoff(attempt, retry_after))
        assert last is not None
        raise last

    async def _post_memo(self, message_uuid: str, xml: bytes) -> httpx.Response:
        """One ``POST memos/?memo-message-uuid=`` (SendMemoAsync) with the MeMo as the body."""
        return await self._send(
            "POST",
            "memos/",
            params={"memo-message-uuid": message_uuid},
            content=xml,
            headers={"Content-Type": "application/xml"},
        )

    async def post_memo_raw(self, message_uuid: str, xml: bytes) -> tuple[int, Any]:
        """One ``POST memos/``, no retries, NgDP's answer as given: (HTTP status, JSON body or None).

        For ``graph-dpg doctor --probe --ngdp-test``, which classifies the answer itself; the gateway sends
        with :meth:`send_memo`. A transport failure raises like ``send_memo`` does."""
        try:
            response = await self._post_memo(message_uuid, xml)
        except httpx.TransportError as exc:
            raise self._map_transport(exc, "send memo", body_sent_matters=True) from exc
        return response.status_code, _json(response)

    # ------------------------------------------------------------------ business receipts (sender side)

    async def list_receipts(self) -> list[str]:
        return await self._paged_ids("receipts/", "list receipts")

    async def fetch_receipts(self, limit: int | None = None) -> list[BusinessReceipt]:
        """Every waiting receipt, a page at a time (OpenAPI BulkFetchReceiptsAsync: ``GET receipts-bulk/
        ?page=&size=`` → ``ReceiptSearchResult``), instead of one ``GET receipts/{id}`` each. Nothing is
        deleted: each is deleted with ``delete_receipt`` once recorded. With ``limit``: no further page
        once that many are read."""
        receipts: list[BusinessReceipt] = []
        page: int | None = 0
        pages = 0
        while page is not None and pages < _MAX_PAGES and (limit is None or len(receipts) < limit):
            response = await self._request(
                "GET", "receipts-bulk/", "fetch receipts", params={"page": page, "size": PAGE_SIZE}
            )
            try:
                batch, where = receipts_from_bulk(_json(response))
            except WireFormatError as exc:
                raise PermanentError(f"fetch receipts: {exc}", SERVICE, response.status_code) from exc
            receipts.extend(batch)
            pages += 1
            page = where.next_page() if batch else None
        return receipts

    async def get_receipt(self, receipt_id: str) -> BusinessReceipt:
        # delete=false: the receipt is deleted only after the store has recorded it (docs/facts/ngdp.md,
        # "Receipts"). NgDP's OpenAPI 1.68.0 (FetchReceiptAsync) answers a Receipt with 200 or 201.
        response = await self._request(
            "GET",
            f"receipts/{receipt_id}",
            f"get receipt {receipt_id}",
            params={"delete": "false"},
            ok=(200, 201),
        )
        try:
            return receipt_from_json(_json(response), receipt_id=receipt_id)
        except WireFormatError as exc:
            raise PermanentError(f"get receipt {receipt_id}: {exc}", SERVICE, response.status_code) from exc

    async def delete_receipt(self, receipt_id: str) -> None:
        try:
            await self._request(
                "DELETE", f"receipts/{receipt_id}", f"delete receipt {receipt_id}", ok=(200, 204)
            )
        except NotFoundError:
            # Already gone (an earlier run deleted it before crashing): the goal is reached.
            log.info("ngdp receipt %s was already deleted", receipt_id)

    # ------------------------------------------------------------------ inbound memos (recipient side)

    async def list_memos(self) -> list[str]:
        return await self._paged_ids("memos/", "list memos")

    async def get_memo(self, memo_id: str) -> bytes:
        response = await self._request(
            "GET",
            f"memos/{memo_id}",
            f"get memo {memo_id}",
            headers={"Accept": "application/xml"},
            ok=(200, 206),
        )
        return response.content

    async def send_memo_receipt(
        self,
        memo_id: str,
        status: ReceiptStatus,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        if status not in RECEIPT_STATUSES:
            raise ValueError(f"unknown receipt status {status!r}")
        # The Receipt schema (OpenAPI CreateReceiptAsync) as Digitaliseringsstyrelsen's reference
        # recipient system fills it: TransmissionId, MessageUuid, TimeStamp, ReceiptStatus. Its
        # transmissionId is a fresh GUID; ours is uuid5 of the memo's UUID, the same on every retry of this
        # receipt (a crash between POST and record re-sends the same receipt, not a second one).
        body: dict[str, object] = {
            "transmissionId": receipt_transmission_id(memo_id),
            "receiptStatus": status,
            "timeStamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        if _is_uuid(memo_id):
            # The schema types messageUUID as a uuid; a memo id that is none (a hostile memo NgDP should
            # never have passed on) is named by the path alone.
            body["messageUUID"] = memo_id
        if error_code is not None:
            body["errorCode"] = error_code
        if error_message is not None:
            body["errorMessage"] = error_message
        try:
            await self._request(
                "POST", f"memos/{memo_id}/receipt", f"memo receipt {memo_id}", json=body, ok=(200, 201, 204)
            )
        except PermanentError as exc:
            # OpenAPI lists 409 for this endpoint; the natural reading is "a receipt exists already", which
            # is what a retry after a lost answer produces [inference].
            if exc.status != 409:
                raise
            log.info("ngdp memo %s already had a business receipt", memo_id)

    async def delete_memo(self, memo_id: str) -> None:
        try:
            await self._request("DELETE", f"memos/{memo_id}", f"delete memo {memo_id}", ok=(200, 204))
        except NotFoundError:
            log.info("ngdp memo %s was already deleted", memo_id)

    # ------------------------------------------------------------------ registry

    async def lookup_contact(self, *, cpr: str | None = None, cvr: str | None = None) -> Contact | None:
        if (cpr is None) == (cvr is None):
            raise ValueError("give exactly one of cpr= or cvr=")
        params: dict[str, str | int] = {"cprNumber": cpr} if cpr is not None else {"cvrNumber": str(cvr)}
        response = await self._request("GET", "contacts/", "contact lookup", params=params)
        try:
            contacts = contacts_from_search(_json(response))
        except WireFormatError as exc:
            raise PermanentError(f"contact lookup: {exc}", SERVICE, response.status_code) from exc
        return contacts[0] if contacts else None

    async def list_contact_points(self, organisation_id: str | None = None) -> list[ContactPointInfo]:
        """Every contact point with its limits: OpenAPI QueryContactPointsAsync (``GET organisations/
        {organisationId}/contact-points/?visibility=ALL``: hidden ones receive memos too) or, without an
        organisation, QueryAllContactPointsAsync (``GET contact-points/``, which has no ``visibility``);
        both answer a ``ContactPointSearchResult`` paged by ``currentPage``/``totalPages``/``next``."""
        org = organisation_id or self.organisation_id
        path = f"organisations/{org}/contact-points/" if org else "contact-points/"
        items: list[ContactPointInfo] = []
        page: int | None = 0
        pages = 0
        while page is not None and pages < _MAX_PAGES:
            params: dict[str, str | int] = {"page": page, "size": PAGE_SIZE}
            if org:
                params["visibility"] = "ALL"
            response = await self._request("GET", path, "list contact points", params=params)
            try:
                batch, where = contact_points_from_json(_json(response))
            except WireFormatError as exc:
                raise PermanentError(f"list contact points: {exc}", SERVICE, response.status_code) from exc
            items.extend(batch)
            pages += 1
            page = where.next_page() if batch else None
        return items


def receipt_transmission_id(memo_uuid: str) -> str:
    """The transmissionId of the gateway's business receipt for inbound memo ``memo_uuid``: stable across
    retries and processes (uuid5), unique per memo."""
    return str(uuid.uuid5(RECEIPT_TRANSMISSION_NAMESPACE, memo_uuid.strip().lower()))


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _opt(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _field_errors(error: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    return tuple(fe for fe in error.get("fieldErrors") or [] if isinstance(fe, Mapping))
