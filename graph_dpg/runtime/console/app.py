"""The admin console's web app, mounted by the gateway's HTTP app at ``/console`` (runtime/http.py).

    GET  /console/                     search letters (mailbox, subject, id, messageUUID, CPR)
    GET  /console/letters/{id}         a letter's timeline, its recipients and the actions on them
    GET  /console/deliveries           letters being sent, with live progress
    GET  /console/inbound              inbound memos with their routing decision; unmapped contact points
    GET  /console/operations           replicas, backlogs, routing rules with hits and disabled reasons
    GET  /console/routing              contact point → mailbox as configured beside NgDP's contact points
    POST /console/routing              dry run of the routing rules against a pasted message (nothing kept)
    GET  /console/api/progress/{id}    progress as JSON (for the live update; 401 without sign-in)
    POST /console/letters/{id}/retry   admin: send again what failed (same messageUUID) or was refused (a
                                       new letter, linked); ``message_uuid`` in the form: that one only
    POST /console/letters/{id}/cancel  admin: cancel what is not yet sent
    POST /console/letters/{id}/resend  admin: write a finished letter's receipt mail again
    POST /console/letters/{id}/reveal  admin: show a recipient's CPR number (audited)
    GET  /console/signin               the sign-in page: /console/auth/start → Entra ID →
                                       /console/auth/callback
    POST /console/signout

Rules every response keeps: no page or data without a session (pages redirect to sign-in, data and
actions answer 401); a session without a console role gets 403; every POST carries the session's CSRF
token (else 403, nothing done); the admin actions need ``Gateway.Admin`` (else 403); every response has
the security headers below; the callback is rate-limited per client address. Server-rendered (Jinja2);
every read and action goes through the letters service (``services.letters``, the engine of
``graph-dpg letters``) as the signed-in person, who is audited with ``via="console"``. The live progress is
a 40-line script of our own (static/console.js) polling the JSON endpoint, chosen
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
from graph_dpg.domain.secure_send import SECURE_CHANNEL
from graph_dpg.domain.texts import Text, text
from graph_dpg.ports.store import JOB_TERMINAL, JobState
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
from graph_dpg.runtime.console.letters import MAX_RESULTS, LettersFactory, actor_of, progress_view
from graph_dpg.runtime.console.operations import Operations
from graph_dpg.runtime.console.rules import MAX_BODY, Kind, RulesConsole
from graph_dpg.services.blocking import blocking
from graph_dpg.services.letters import ActionRefused, ActionResult, LetterNotFound, Query

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
    letters: LettersFactory,
    *,
    operations: Operations | None = None,
    routing: RulesConsole | None = None,
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

    def refused(request: Request, session: Session, exc: ActionRefused) -> Response:
        return render(request, "message.html", session, 409, message_words=exc.words(language(request)))

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

    async def action_session(
        request: Request, *, admin: bool, limit: int = MAX_FORM_BYTES
    ) -> tuple[Session, dict[str, str]] | Response:
        """The session of a POST, its CSRF token checked, and its form (bounded)."""
        session = session_of(request)
        if session is None:
            return JSONResponse({"error": "sign-in required"}, status_code=401)
        if not await _small_body(request, limit):
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
        rows = []
        if searched:
            query = Query(
                q, state=state.value if state else None, since=since, kind="letters", limit=MAX_RESULTS
            )
            found = await letters(language(request)).search(query, actor_of(session.user))
            rows = found.letters
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
            capped=len(rows) >= MAX_RESULTS,
        )

    async def letter_page(request: Request, cpr: tuple[str, str] | None = None) -> Response:
        session = page_session(request)
        if not isinstance(session, Session):
            return session
        lang = language(request)
        try:
            view = await letters(lang).timeline(request.path_params["ident"][:200], actor_of(session.user))
        except LetterNotFound:
            return message(request, session, Text.CONSOLE_LETTER_NOT_FOUND, 404)
        state = view.job.state
        cancelled = view.cancellation is not None and view.cancellation.active
        return render(
            request,
            "letter.html",
            session,
            view=view,
            job=view.job,
            progress=progress_view(view.progress),
            # A secure mail has no recipient rows: unfinished, it is still to be sent (services.letters).
            cancellable=state in _UNFINISHED
            and not cancelled
            and (view.progress.get("pending", 0) > 0 or view.job.channel == SECURE_CHANNEL),
            resendable=state in JOB_TERMINAL,
            replaced_by={r.message_uuid: r.replaced_by for r in view.recipients if r.replaced_by},
            notice=_notice(request.query_params, lang),
            cpr=cpr,
        )

    async def letter(request: Request) -> Response:
        return await letter_page(request)

    async def deliveries(request: Request) -> Response:
        session = page_session(request)
        if not isinstance(session, Session):
            return session
        found = await letters(language(request)).mass_deliveries(
            actor_of(session.user), active_only=True, limit=MAX_RESULTS
        )
        rows = [(d.job, progress_view(d.progress)) for d in found]
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

    async def routing_page(request: Request) -> Response:
        if request.method == "POST":
            checked = await action_session(request, admin=False, limit=MAX_BODY + MAX_FORM_BYTES)
            if not isinstance(checked, tuple):
                return checked
            session, form = checked
        else:
            page = page_session(request)
            if not isinstance(page, Session):
                return page
            session, form = page, {}
        if routing is None:
            return message(request, session, Text.CONSOLE_NOT_FOUND, 404)
        kind: Kind = "mail" if form.get("kind") == "mail" else "memo"
        sender, subject, body = form.get("sender", ""), form.get("subject", ""), form.get("body", "")
        result = None
        if request.method == "POST":
            result = await blocking(routing.dry_run, kind, sender, subject, body)
        return render(
            request,
            "routing.html",
            session,
            kind=kind,
            sender=sender,
            subject=subject,
            body=body,
            result=result,
            points=await routing.contact_points(),
        )

    async def progress(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            return JSONResponse({"error": "sign-in required"}, status_code=401)
        if not session.user.is_reader:
            return JSONResponse({"error": "no console role"}, status_code=403)
        try:
            found = await letters(options.language).progress(
                request.path_params["ident"][:200], actor_of(session.user)
            )
        except LetterNotFound:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse(progress_view(found))

    # ---------------------------------------------------------------------------------------- actions

    async def act(request: Request, action: str) -> Response:
        """An admin action on a letter (or, with ``message_uuid`` in the form, on one of its MeMos for a
        retry), done by the service as the signed-in person; then back to the letter (POST-redirect-GET)."""
        checked = await action_session(request, admin=True)
        if not isinstance(checked, tuple):
            return checked
        session, form = checked
        service, actor = letters(language(request)), actor_of(session.user)
        ident = request.path_params["ident"][:200]
        try:
            if action == "retry":
                result = await service.retry(form.get("message_uuid", "")[:200] or ident, actor)
            elif action == "cancel":
                result = await service.cancel(ident, actor)
            else:
                result = await service.resend_receipt(ident, actor)
        except LetterNotFound:
            return message(request, session, Text.CONSOLE_LETTER_NOT_FOUND, 404)
        except ActionRefused as exc:
            return refused(request, session, exc)
        return _back(request, result)

    async def retry(request: Request) -> Response:
        return await act(request, "retry")

    async def cancel(request: Request) -> Response:
        return await act(request, "cancel")

    async def resend(request: Request) -> Response:
        return await act(request, "resend_receipt")

    async def reveal(request: Request) -> Response:
        checked = await action_session(request, admin=True)
        if not isinstance(checked, tuple):
            return checked
        session, form = checked
        uuid = form.get("message_uuid", "")[:200]
        try:
            number = await letters(language(request)).reveal_cpr(uuid, actor_of(session.user))
        except LetterNotFound:
            return message(request, session, Text.CONSOLE_LETTER_NOT_FOUND, 404)
        except ActionRefused as exc:
            return refused(request, session, exc)
        return await letter_page(request, cpr=(uuid, number))

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
            Route("/letters/{ident}/resend", resend, methods=["POST"]),
            Route("/letters/{ident}/reveal", reveal, methods=["POST"]),
            Route("/deliveries", deliveries, methods=["GET"]),
            Route("/inbound", inbound_page, methods=["GET"]),
            Route("/operations", operations_page, methods=["GET"]),
            Route("/routing", routing_page, methods=["GET", "POST"]),
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


_UNFINISHED = (JobState.NEW, JobState.PLANNED, JobState.SENDING)
#: What an action's result says, by (action, changed): the page words it in the reader's language.
_NOTICES = {
    ("retry", True): Text.CONSOLE_DONE_RETRIED,
    ("retry", False): Text.CONSOLE_DONE_ALREADY_RETRIED,
    ("cancel", True): Text.CONSOLE_DONE_CANCELLED,
    ("cancel", False): Text.CONSOLE_DONE_ALREADY_CANCELLED,
    ("resend_receipt", True): Text.CONSOLE_DONE_RESENT,
    ("resend_receipt", False): Text.CONSOLE_DONE_ALREADY_RESENDING,
}


def _back(request: Request, result: ActionResult) -> Response:
    """Back to the letter (the job: a retried MeMo's id may now name another row), the result in the URL
    as an action name and counts only (nothing a crafted link could make the page say)."""
    done = {
        "done": result.action,
        "changed": int(result.changed),
        "same": len(result.retried),
        "new": len(result.replaced),
        "missing": len(result.missing),
    }
    ident = quote(result.job_id, safe="")
    return RedirectResponse(f"/console/letters/{ident}?{urlencode(done)}", status_code=303)


def _notice(params: Any, lang: str) -> str | None:
    key = _NOTICES.get((params.get("done", ""), params.get("changed") == "1"))
    if key is None:
        return None

    def count(name: str) -> int:
        value = str(params.get(name, "0"))[:9]
        return int(value) if value.isdigit() else 0

    return text(key, lang, same=count("same"), new=count("new"), missing=count("missing"))


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
