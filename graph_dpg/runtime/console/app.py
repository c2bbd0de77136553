"""The admin console's web app, mounted by the gateway's HTTP app at ``/console`` (runtime/http.py).

    GET  /console/                     search letters (mailbox, subject, id, messageUUID, CPR)
    GET  /console/letters/{id}         a letter's timeline, its recipients and the actions on them
    GET  /console/deliveries           letters being sent, with live progress
    GET  /console/inbound              inbound memos with their routing decision; unmapped contact points
    GET  /console/operations           replicas, backlogs, routing rules with hits and disabled reasons
    GET  /console/api/progress/{id}    progress as JSON (for the live update; 401 without sign-in)
    POST /console/letters/{id}/retry   admin: send a given-up recipient again (same messageUUID)
    POST /console/letters/{id}/cancel  admin: cancel what is not yet sent
    POST /console/letters/{id}/reveal  admin: show a recipient's CPR number (audited)
    GET  /console/signin               the sign-in page: /console/auth/start → Entra ID →
                                       /console/auth/callback
    POST /console/signout

Rules every response keeps: no page or data without a session (pages redirect to sign-in, data and
actions answer 401); a session without a console role gets 403; every POST carries the session's CSRF
token (else 403, nothing done); the admin actions need ``Gateway.Admin`` (else 403); every response has
the security headers below; the callback is rate-limited per client address. Server-rendered (Jinja2);
the live progress is a 40-line script of our own (static/console.js) polling the JSON endpoint, chosen
over vendoring htmx: nothing third-party to track, and it keeps the CSP at script-src 'self'.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph_dpg.bootstrap.console import ConsoleOptions
from graph_dpg.core.errors import GraphDpgError
from graph_dpg.domain.local_time import COPENHAGEN
from graph_dpg.domain.texts import Text, text
from graph_dpg.ports.store import JobState
from graph_dpg.runtime.console.auth import (
    FLOW_COOKIE,
    FLOW_SECONDS,
    SESSION_COOKIE,
    SESSION_SECONDS,
    MsalSignIn,
    RateLimiter,
    SealedCookies,
    Session,
    SignInFailed,
    SignInFlow,
    csrf_ok,
    user_from_claims,
)
from graph_dpg.runtime.console.letters import Letters
from graph_dpg.runtime.console.operations import Operations
from graph_dpg.services.blocking import blocking

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
LANG_COOKIE = "graph_dpg_console_lang"
MAX_FORM_BYTES = 8 * 1024
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response of the wrapped app (errors and static files included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in SECURITY_HEADERS}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = headers + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(COPENHAGEN).strftime("%Y-%m-%d %H:%M:%S")


def create_console_app(
    options: ConsoleOptions,
    letters: Letters,
    *,
    operations: Operations | None = None,
    sign_in: SignInFlow | None = None,
    limiter: RateLimiter | None = None,
    clock: Callable[[], float] = time.time,
) -> ASGIApp:
    """The console (see the module docstring), to be mounted at ``/console``."""
    cookies = SealedCookies(options.session_secret, clock=clock)
    flow_client: SignInFlow = sign_in or MsalSignIn(
        options.authority,
        options.client_id,
        options.client_secret,
        options.redirect_uri,
        ca_bundle=str(options.ca_bundle) if options.ca_bundle else None,
    )
    # 30 a minute per address: generous for an office behind one NAT address, a wall for a guessing loop.
    callback_limit = limiter if limiter is not None else RateLimiter(limit=30, window_s=60.0)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    secure = options.secure_cookies

    def language(request: Request) -> str:
        asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
        return asked if asked in ("da", "en") else options.language

    def session_of(request: Request) -> Session | None:
        return cookies.session(request.cookies.get(SESSION_COOKIE))

    def render(
        request: Request, name: str, session: Session | None, status: int = 200, **context: Any
    ) -> Response:
        lang = language(request)

        def t(key: str, **values: object) -> str:
            return text(Text[key], lang, **values)

        other = "en" if lang == "da" else "da"
        response = templates.TemplateResponse(
            request,
            name,
            {
                "t": t,
                "lang": lang,
                "other_lang_url": f"{request.url.path}?{urlencode({**request.query_params, 'lang': other})}",
                "session": session,
                "user": session.user if session else None,
                "when": _when,
                **context,
            },
            status_code=status,
        )
        if request.query_params.get("lang") in ("da", "en"):
            response.set_cookie(
                LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, secure=secure, samesite="lax"
            )
        return response

    def message(request: Request, session: Session | None, key: Text, status: int) -> Response:
        return render(request, "message.html", session, status, message_key=key.name)

    def to_sign_in(request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/console/signin?next={quote(target, safe='')}", status_code=303)

    def page_session(request: Request) -> Session | Response:
        session = session_of(request)
        if session is None:
            return to_sign_in(request)
        if not session.user.is_reader:
            return message(request, session, Text.CONSOLE_NO_ROLE, 403)
        return session

    async def action_session(request: Request, *, admin: bool) -> tuple[Session, dict[str, str]] | Response:
        """The session of a POST, its CSRF token checked, and its form (bounded)."""
        session = session_of(request)
        if session is None:
            return JSONResponse({"error": "sign-in required"}, status_code=401)
        if not await _small_body(request, MAX_FORM_BYTES):
            return Response(status_code=413)
        form = {k: str(v) for k, v in (await request.form(max_files=0, max_fields=20)).items()}
        if not csrf_ok(session, form.get("csrf")):
            return message(request, session, Text.CONSOLE_CSRF, 403)
        if not session.user.is_reader or (admin and not session.user.is_admin):
            return message(request, session, Text.CONSOLE_FORBIDDEN, 403)
        return session, form

    # ------------------------------------------------------------------------------------------ pages

    async def search(request: Request) -> Response:
        session = page_session(request)
        if not isinstance(session, Session):
            return session
        q = request.query_params.get("q", "")[:200]
        state_value = request.query_params.get("state", "")
        state = JobState(state_value) if state_value in {s.value for s in JobState} else None
        since: datetime | None = None
        try:
            since_value = request.query_params.get("since", "")
            if since_value:
                since = datetime.combine(date.fromisoformat(since_value), datetime.min.time(), COPENHAGEN)
        except ValueError:
            since = None
        searched = bool(q or state or since) or "q" in request.query_params
        rows = await blocking(letters.search, q, state=state, since=since) if searched else []
        return render(
            request,
            "search.html",
            session,
            q=q,
            state=state.value if state else "",
            since=since.date().isoformat() if since else "",
            states=[s.value for s in JobState],
            rows=rows,
            searched=searched,
            capped=len(rows) >= 100,
        )

    async def letter_page(
        request: Request, notice: str | None = None, cpr: tuple[str, str] | None = None
    ) -> Response:
        session = page_session(request)
        if not isinstance(session, Session):
            return session
        view = await blocking(letters.letter, request.path_params["ident"])
        if view is None:
            return message(request, session, Text.CONSOLE_LETTER_NOT_FOUND, 404)
        done = notice or request.query_params.get("done")
        count = request.query_params.get("n", "0")
        return render(
            request,
            "letter.html",
            session,
            view=view,
            done=done if done in _NOTICES else None,
            notice_key=_NOTICES.get(done or ""),
            count=int(count) if count.isdigit() else 0,
            cpr=cpr,
        )

    async def letter(request: Request) -> Response:
        return await letter_page(request)

    async def deliveries(request: Request) -> Response:
        session = page_session(request)
        if not isinstance(session, Session):
            return session
        rows = await blocking(letters.deliveries)
        return render(request, "deliveries.html", session, rows=rows)

    async def operations_page(request: Request) -> Response:
        session = page_session(request)
        if not isinstance(session, Session):
            return session
        if operations is None:
            return message(request, session, Text.CONSOLE_NOT_FOUND, 404)
        return render(request, "operations.html", session, view=await blocking(operations.overview))

    async def inbound_page(request: Request) -> Response:
        session = page_session(request)
        if not isinstance(session, Session):
            return session
        if operations is None:
            return message(request, session, Text.CONSOLE_NOT_FOUND, 404)
        return render(request, "inbound.html", session, view=await blocking(operations.inbound))

    async def progress(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            return JSONResponse({"error": "sign-in required"}, status_code=401)
        if not session.user.is_reader:
            return JSONResponse({"error": "no console role"}, status_code=403)
        found = await blocking(letters.progress, request.path_params["ident"])
        if found is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse(found.as_json())

    # ---------------------------------------------------------------------------------------- actions

    async def retry(request: Request) -> Response:
        checked = await action_session(request, admin=True)
        if not isinstance(checked, tuple):
            return checked
        session, form = checked
        done = await blocking(letters.retry, form.get("message_uuid", ""), session.user.actor)
        return _back(request, "retry" if done else "retry_none")

    async def cancel(request: Request) -> Response:
        checked = await action_session(request, admin=True)
        if not isinstance(checked, tuple):
            return checked
        session, _ = checked
        reason = text(Text.CONSOLE_CANCELLED_REASON, options.language, actor=session.user.username)
        n = await blocking(letters.cancel, request.path_params["ident"], session.user.actor, reason)
        return _back(request, "cancel" if n else "cancel_none", n)

    async def reveal(request: Request) -> Response:
        checked = await action_session(request, admin=True)
        if not isinstance(checked, tuple):
            return checked
        session, form = checked
        uuid = form.get("message_uuid", "")
        number = await blocking(letters.reveal_cpr, uuid, session.user.actor)
        return await letter_page(request, cpr=(uuid, number) if number else None)

    # ---------------------------------------------------------------------------------------- sign-in

    async def signin(request: Request) -> Response:
        session = session_of(request)
        if session is not None and session.user.is_reader:
            return RedirectResponse("/console/", status_code=303)
        failed = request.query_params.get("failed")
        key = {"1": Text.CONSOLE_SIGN_IN_FAILED, "rate": Text.CONSOLE_SIGN_IN_TOO_MANY}.get(failed or "")
        start = "/console/auth/start?" + urlencode({"next": _safe_next(request.query_params.get("next"))})
        return render(request, "signin.html", None, failed_key=key.name if key else None, start=start)

    async def auth_start(request: Request) -> Response:
        try:
            flow = await blocking(flow_client.begin)
        except (GraphDpgError, ValueError, OSError) as exc:
            log.warning("console sign-in could not start: %s", type(exc).__name__)
            return RedirectResponse("/console/signin?failed=1", status_code=303)
        auth_uri = str(flow.pop("auth_uri"))  # not needed back: keeps the cookie small
        flow["next"] = _safe_next(request.query_params.get("next"))
        response = RedirectResponse(auth_uri, status_code=303)
        response.set_cookie(
            FLOW_COOKIE,
            cookies.seal("flow", flow, FLOW_SECONDS),
            max_age=FLOW_SECONDS,
            path="/console/auth",
            httponly=True,
            secure=secure,
            samesite="lax",  # the callback is a top-level GET from the identity provider: Lax sends it
        )
        return response

    async def auth_callback(request: Request) -> Response:
        if not callback_limit.allow(client_address(request, options.proxy_hops)):
            return RedirectResponse("/console/signin?failed=rate", status_code=303)
        flow = cookies.open("flow", request.cookies.get(FLOW_COOKIE))
        if flow is None:
            return RedirectResponse("/console/signin?failed=1", status_code=303)
        params = {k: v[:4096] for k, v in list(request.query_params.items())[:20]}
        target = _safe_next(str(flow.pop("next", "") or ""))
        try:
            claims = await blocking(flow_client.finish, flow, params)
        except SignInFailed as exc:
            log.warning("console sign-in refused: %s", exc)
            return RedirectResponse("/console/signin?failed=1", status_code=303)
        user = user_from_claims(claims)
        sealed, _ = cookies.seal_session(user)
        log.info("console sign-in: %s with roles %s", user.oid, ",".join(user.roles) or "none")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            sealed,
            max_age=SESSION_SECONDS,
            path="/console",
            httponly=True,
            secure=secure,
            samesite="lax",
        )
        response.delete_cookie(FLOW_COOKIE, path="/console/auth")
        return response

    async def signout(request: Request) -> Response:
        checked = await action_session(request, admin=False)
        if not isinstance(checked, tuple) and checked.status_code != 403:
            return checked
        response = RedirectResponse("/console/signin", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/console")
        return response

    async def unavailable(request: Request, exc: Exception) -> Response:
        log.warning("console: %s", type(exc).__name__)  # the store's error names no CPR (core.errors)
        session = session_of(request)
        if session is None:
            return JSONResponse({"error": "sign-in required"}, status_code=401)
        return message(request, session, Text.CONSOLE_UNAVAILABLE, 503)

    async def not_found(request: Request, exc: Exception) -> Response:
        session = session_of(request)
        if session is None:
            return JSONResponse({"error": "sign-in required"}, status_code=401)
        return message(request, session, Text.CONSOLE_NOT_FOUND, 404)

    app = Starlette(
        routes=[
            Route("/", search, methods=["GET"]),
            Route("/letters/{ident}", letter, methods=["GET"]),
            Route("/letters/{ident}/retry", retry, methods=["POST"]),
            Route("/letters/{ident}/cancel", cancel, methods=["POST"]),
            Route("/letters/{ident}/reveal", reveal, methods=["POST"]),
            Route("/deliveries", deliveries, methods=["GET"]),
            Route("/inbound", inbound_page, methods=["GET"]),
            Route("/operations", operations_page, methods=["GET"]),
            Route("/api/progress/{ident}", progress, methods=["GET"]),
            Route("/signin", signin, methods=["GET"]),
            Route("/auth/start", auth_start, methods=["GET"]),
            Route("/auth/callback", auth_callback, methods=["GET"]),
            Route("/signout", signout, methods=["POST"]),
            Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
        ],
        exception_handlers={404: not_found, GraphDpgError: unavailable},
    )
    return SecurityHeaders(app)


_NOTICES = {
    "retry": Text.CONSOLE_DONE_RETRY.name,
    "retry_none": Text.CONSOLE_DONE_RETRY_NONE.name,
    "cancel": Text.CONSOLE_DONE_CANCEL.name,
    "cancel_none": Text.CONSOLE_DONE_CANCEL_NONE.name,
}


def _back(request: Request, done: str, n: int = 0) -> Response:
    ident = quote(request.path_params["ident"], safe="")
    return RedirectResponse(f"/console/letters/{ident}?{urlencode({'done': done, 'n': n})}", status_code=303)


async def _small_body(request: Request, limit: int) -> bool:
    """Read the body only up to ``limit`` bytes (then it is cached for ``request.form()``); False when it
    is larger: a big upload is refused without being held in memory."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return False
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return False
        chunks.append(chunk)
    request._body = b"".join(chunks)  # Starlette's own cache: form() reads it from here
    return True


def client_address(request: Request, proxy_hops: int) -> str:
    """The caller's address: the peer, or behind ``proxy_hops`` proxies the X-Forwarded-For entry the
    farthest trusted proxy appended (never what the client wrote to the left of it)."""
    peer = request.client.host if request.client else "unknown"
    if proxy_hops <= 0:
        return peer
    forwarded = [a.strip() for a in request.headers.get("x-forwarded-for", "")[:2048].split(",") if a.strip()]
    return forwarded[-proxy_hops] if len(forwarded) >= proxy_hops else peer


def _safe_next(target: str | None) -> str:
    """Only a path inside the console (no open redirect to another site)."""
    if target and target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/"
