"""What the name-register adapters (Datafordeler, CVR) share: one bounded JSON request over httpx, and the
translation of its failures into ``graph_dpg.core.errors``.

401/403 and a TLS refusal → ``AuthError`` (configuration: credentials or certificate); 429 →
``ThrottledError``; 5xx, connection and timeout problems → ``TransientError``; any other status or an
answer that is not bounded JSON → ``PermanentError``. The request body may carry a CPR number: it is never
put into an error message (messages name the service and the status only).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from graph_dpg.core.bounded import JsonLimits, load_json
from graph_dpg.core.errors import (
    AuthError,
    ContentError,
    PermanentError,
    RemoteError,
    ThrottledError,
    TransientError,
)

#: An answer about one number is small; a larger one is refused before it is parsed.
ANSWER_LIMITS = JsonLimits(max_bytes=1024 * 1024, max_depth=40)


def _tls_refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def request_json(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    service: str,
    what: str,
    **kwargs: Any,
) -> Mapping[str, Any]:
    """Send one request and return its JSON object, or raise a ``RemoteError`` for ``service``."""
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        if _tls_refused(exc):
            raise AuthError(f"{what}: TLS refused; check the certificate", service) from exc
        raise TransientError(f"{what}: no answer ({type(exc).__name__})", service) from exc
    status = response.status_code
    if status in (401, 403):
        raise AuthError(f"{what}: refused the credentials", service, status)
    if status == 429:
        raise ThrottledError(f"{what}: throttled", service, status)
    if status >= 500:
        raise TransientError(f"{what}: the service failed", service, status)
    if status != 200:
        raise PermanentError(f"{what}: unexpected answer", service, status)
    try:
        body = load_json(response.content, ANSWER_LIMITS)
    except ContentError as exc:
        raise PermanentError(f"{what}: the answer is not readable JSON ({exc})", service, status) from exc
    if not isinstance(body, Mapping):
        raise PermanentError(f"{what}: the answer is not a JSON object", service, status)
    return body


def describe(exc: RemoteError) -> str:
    """A one-line reason for stderr and the log (no number, no name)."""
    return str(exc)
