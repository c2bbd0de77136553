"""The Graph emulator's HTTP face: a Starlette app serving ``/v1.0/...`` over a ``GraphTenant``.

Request pipeline (also applied to each member of a ``$batch``)::

    body > 4 MB ?                         -> 413 (the whole HTTP request)
    Authorization: Bearer <known token> ? -> else 401 InvalidAuthenticationToken
    route (segments are case-insensitive; ``users%40x`` and ``mailFolders('inbox')`` forms accepted)
    mailbox known ? accessible to the app ? -> 404 ErrorInvalidUser / 403 ErrorAccessDenied
    in the app's management scope ?        -> 403 ErrorAccessDenied "Access to OData is disabled."
    a role of the app allows the endpoint ? -> 403 ErrorAccessDenied "Access is denied. ..." (permissions.py)
    mailbox full and the request adds to it -> 507 ErrorQuotaExceeded
    budget and concurrency per mailbox   -> 429 ApplicationThrottled + Retry-After
    fault injection (before)             -> 429 / 503 / 504 / delay
    handler (synchronous, under the tenant lock)
    fault injection (after)              -> the change happened, the client sees an error
    request log entry (method, path, mailbox, endpoint kind, status, time)

Upload-session URLs (``/upload/{session}?authtoken=...``) skip the bearer check: Graph's upload URL is
pre-authenticated (learn.microsoft.com/graph/outlook-large-attachments, "Do not specify an Authorization
request header").
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from graph_dpg.sandbox.graph.contacts import ContactQueryError, list_contacts
from graph_dpg.sandbox.graph.contacts import view as contact_view
from graph_dpg.sandbox.graph.faults import Fault
from graph_dpg.sandbox.graph.odata import ODataError, Prefer, compile_filter, parse_expand, parse_select
from graph_dpg.sandbox.graph.permissions import AppGrant
from graph_dpg.sandbox.graph.subscriptions import SubscriptionError
from graph_dpg.sandbox.graph.tenant import (
    Folder,
    GraphApiError,
    GraphTenant,
    Mailbox,
    Message,
    bad_request,
    not_found,
    quota_exceeded,
)

log = logging.getLogger(__name__)

JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)
MAX_BATCH = 20  # learn.microsoft.com/graph/json-batching ("limited to 20 individual requests")
_ALL_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]
#: What a full mailbox refuses: new items, folders and attachments, and sending (``GraphTenant.set_full``).
_ADDS_TO_MAILBOX = frozenset(
    {
        "messages.create",
        "messages.copy",
        "messages.createReply",
        "messages.createReplyAll",
        "messages.send",
        "messages.reply",
        "messages.replyAll",
        "sendMail",
        "attachments.create",
        "attachments.createUploadSession",
        "attachments.upload",
        "mailFolders.create",
        "childFolders.create",
    }
)
_PAREN_SEG = re.compile(r"^([A-Za-z$]\w*)\('(.*)'\)$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@dataclass
class Req:
    method: str
    segments: list[str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    root: str
    in_batch: bool = False
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def base(self) -> str:
        return f"{self.root}/v1.0"

    @property
    def prefer(self) -> Prefer:
        return Prefer.parse([self.headers["prefer"]] if "prefer" in self.headers else [])

    @property
    def path(self) -> str:
        return "/" + "/".join(self.segments)

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            value = json.loads(self.body)
        except ValueError as exc:
            raise bad_request(
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload "
                "is of "
                "valid JSON format."
            ) from exc
        if not isinstance(value, dict):
            raise bad_request("The request body must be a JSON object.")
        return value


@dataclass
class Resp:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None


Handler = Callable[[Req, Mailbox | None], Resp]
AsyncHandler = Callable[[Req, AppGrant | None], Awaitable[Resp]]


@dataclass
class _Route:
    endpoint: str
    mailbox_key: str | None
    handler: Handler | None = None
    upload: bool = False
    async_handler: AsyncHandler | None = None  # not under the tenant lock (subscriptions: the handshake)


def error_body(err: GraphApiError, request_id: str, client_request_id: str) -> dict[str, Any]:
    # learn.microsoft.com/graph/errors ("Error resource type"): code, message, innerError with ids and date.
    return {
        "error": {
            "code": err.code,
            "message": err.message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }


def _split_segments(raw_path: str) -> list[str]:
    out: list[str] = []
    for part in raw_path.split("/"):
        if not part:
            continue
        seg = unquote(part)
        m = _PAREN_SEG.match(seg)
        if m:
            out.extend([m.group(1), m.group(2).replace("''", "'")])
        elif seg.endswith("()"):
            out.append(seg[:-2])
        else:
            out.append(seg)
    return out


def _quote(seg: str) -> str:
    return quote(seg, safe="@$=-_.~")


class GraphEmulator:
    """Routes and executes requests against one tenant."""

    def __init__(self, tenant: GraphTenant) -> None:
        self.tenant = tenant

    # ------------------------------------------------------------------ pipeline

    async def process(
        self, req: Req, *, authorized: bool = False, grant: AppGrant | None = None
    ) -> tuple[Resp, str, str | None]:
        """One request through the pipeline. ``authorized``: a ``$batch`` member, whose token was checked
        on the batch; ``grant`` is then the batch's (what the app may do)."""
        started = time.monotonic()
        at = time.time()
        endpoint = "unknown"
        mailbox_upn: str | None = None
        acquired: Mailbox | None = None
        acquired_app = "graph-dpg"
        try:
            try:
                try:
                    route: _Route | None = self._route(req)
                    route_error: GraphApiError | None = None
                except GraphApiError as exc:
                    route, route_error = None, exc
                if route is not None:
                    # Known before the auth check so that refused calls are logged against their mailbox.
                    endpoint = route.endpoint
                    found = self.tenant.find_mailbox(route.mailbox_key) if route.mailbox_key else None
                    mailbox_upn = found.upn.lower() if found else None
                if not authorized and not (route is not None and route.upload):
                    grant = self._check_auth(req)
                if route is None:
                    assert route_error is not None
                    raise route_error
                if grant is not None and route.endpoint.startswith("users."):
                    self._check_directory_permission(grant, route.endpoint)
                mb: Mailbox | None = None
                if route.mailbox_key is not None:
                    mb = self._mailbox(route)
                    mailbox_upn = mb.upn.lower()
                    if not mb.accessible and endpoint not in ("users.get",):
                        # learn.microsoft.com/graph/auth-limit-mailbox-access: a mailbox outside the app's
                        # RBAC scope / access policy answers 403 ErrorAccessDenied.
                        raise GraphApiError(403, "ErrorAccessDenied", "Access to OData is disabled.")
                    if grant is not None and not endpoint.startswith("users."):
                        self._check_mailbox_permission(grant, mb, endpoint)
                    if mb.full and endpoint in _ADDS_TO_MAILBOX:
                        raise quota_exceeded()  # see tenant.quota_exceeded for the source
                    uploaded = len(req.body) if req.method in ("POST", "PATCH", "PUT") else 0
                    app_id = grant.app_id if grant is not None else "graph-dpg"
                    throttled = self.tenant.acquire(mb, uploaded, app_id)
                    if throttled is not None:
                        raise throttled
                    acquired = mb
                    acquired_app = app_id
                fault = self.tenant.faults.pick(req.method, req.path, mailbox_upn)
                delay = self.tenant.latency + (fault.delay if fault else 0.0)
                injected = self.tenant.injected_latency
                if injected is not None and not req.in_batch:
                    delay += injected.draw()  # a benchmark aid, not emulated behaviour (sandbox/latency.py)
                if delay > 0:
                    await asyncio.sleep(delay)
                if fault is not None and fault.status is not None and not fault.after:
                    raise _fault_error(fault)
                if route.async_handler is not None:
                    resp = await route.async_handler(req, grant)
                elif route.handler is None:
                    resp = await self._batch(req, grant)
                else:
                    with self.tenant.lock:
                        resp = route.handler(req, mb)
                if fault is not None and fault.status is not None and fault.after:
                    raise _fault_error(fault)
            except ODataError as exc:
                raise bad_request(str(exc)) from exc
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                # Malformed input the handlers did not anticipate must still get a Graph-shaped answer,
                # never a hang or an HTML traceback; the log keeps the detail for whoever debugs it.
                log.warning("graph emulator: %s %s failed: %r", req.method, req.path, exc)
                raise GraphApiError(500, "InternalServerError", "An internal server error occurred.") from exc
        except GraphApiError as err:
            rid = req.request_id
            resp = Resp(
                err.status,
                error_body(err, rid, req.headers.get("client-request-id", rid)),
                dict(err.headers),
                JSON_TYPE,
            )
        finally:
            if acquired is not None:
                self.tenant.release(acquired, acquired_app)
        self.tenant.record(
            _log_entry(req, mailbox_upn, endpoint, resp.status, at, time.monotonic() - started)
        )
        return resp, endpoint, mailbox_upn

    def _mailbox(self, route: _Route) -> Mailbox:
        assert route.mailbox_key is not None
        try:
            return self.tenant.mailbox(route.mailbox_key)
        except GraphApiError:
            if route.endpoint != "users.get":
                raise
            # The directory (not Exchange) answers for /users/{id} (learn.microsoft.com/graph/errors).
            raise GraphApiError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{route.mailbox_key}' does not exist or one of its queried "
                "reference-property objects are not present.",
            ) from None

    def _check_auth(self, req: Req) -> AppGrant:
        auth = req.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if not auth:
            raise GraphApiError(401, "InvalidAuthenticationToken", "Access token is empty.")
        if scheme.lower() != "bearer" or token.strip() not in self.tenant.tokens:
            raise GraphApiError(401, "InvalidAuthenticationToken", "Access token validation failure.")
        return self.tenant.grant_for(token.strip())

    @staticmethod
    def _check_mailbox_permission(grant: AppGrant, mb: Mailbox, endpoint: str) -> None:
        """The app's management scope must hold the mailbox and one of its roles must allow the call
        (the endpoint's docs page, permissions.ENDPOINT_PERMISSIONS)."""
        if not grant.covers((mb.id, mb.upn, *mb.aliases)):
            # Outside the scope, as for a mailbox an access policy excludes:
            # concepts/auth-limit-mailbox-access.md ("Handling API errors").
            raise GraphApiError(403, "ErrorAccessDenied", "Access to OData is disabled.")
        if not grant.allows(endpoint):
            # Exchange's answer to an app without the permission (microsoftgraph/microsoft-graph-docs
            # issue 10880; aspnetcore-connect-sample issue 37, fixed by adding Mail.Read). Scope is checked
            # before the role (inference: both are 403 ErrorAccessDenied, only the text differs).
            raise GraphApiError(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )

    @staticmethod
    def _check_directory_permission(grant: AppGrant, endpoint: str) -> None:
        if not grant.allows(endpoint):
            # The directory's answer (not Exchange's) to an app without User.Read.All: microsoftgraph/
            # microsoft-graph-docs-contrib issue 8159; Azure-Samples/ms-identity-python-daemon issue 8.
            raise GraphApiError(
                403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
            )

    # ------------------------------------------------------------------ routing

    def _route(self, req: Req) -> _Route:
        seg = req.segments
        low = [s.lower() for s in seg]
        m = req.method
        if low[:1] == ["upload"] and len(seg) == 2 and m == "PUT":
            return _Route("attachments.upload", self._upload_mailbox(seg[1]), self._h_upload, upload=True)
        if low[:1] == ["upload"] and len(seg) == 2 and m == "DELETE":
            # concepts/outlook-large-attachments.md, "Alternative: Cancel the upload session": DELETE on the
            # same pre-authenticated URL, 204 No Content.
            return _Route(
                "attachments.upload", self._upload_mailbox(seg[1]), self._h_upload_cancel, upload=True
            )
        if low == ["$batch"] and m == "POST":
            return _Route("batch", None, None)
        if low[:1] == ["me"]:
            # App-only tokens have no signed-in user (learn.microsoft.com/graph/auth-v2-service).
            raise bad_request("/me request is only valid with delegated authentication flow.")
        if low[:1] == ["subscriptions"] and len(seg) <= 2:
            return self._route_subscriptions(req, seg[1] if len(seg) == 2 else None)
        if not low or low[0] != "users":
            raise bad_request(f"Resource not found for the segment '{seg[0] if seg else ''}'.")
        if len(seg) == 1:
            return self._need(m, "GET", _Route("users.list", None, self._h_users))
        user = seg[1]
        rest, lrest = seg[2:], low[2:]
        if not rest:
            return self._need(m, "GET", _Route("users.get", user, self._h_user))
        head = lrest[0]
        if head == "mailfolders":
            return self._route_folders(req, user, rest, lrest)
        if head == "messages":
            if len(rest) == 1:
                kind = {"GET": "messages.list", "POST": "messages.create"}.get(m)
                return self._need(m, ("GET", "POST"), _Route(kind or "", user, self._h_messages(None)))
            return self._route_message(req, user, rest[1], rest[2:], lrest[2:])
        if head == "sendmail" and len(rest) == 1:
            return self._need(m, "POST", _Route("sendMail", user, self._h_send_mail))
        if head == "contacts" and len(rest) in (1, 2):
            kind = "contacts.list" if len(rest) == 1 else "contacts.get"
            return self._need(
                m, "GET", _Route(kind, user, self._h_contacts(rest[1] if len(rest) == 2 else None))
            )
        if lrest[:2] == ["outlook", "mastercategories"]:
            if len(rest) == 2:
                kind = {"GET": "masterCategories.list", "POST": "masterCategories.create"}.get(m, "")
                return self._need(m, ("GET", "POST"), _Route(kind, user, self._h_categories(None)))
            if len(rest) == 3:
                kind = {
                    "GET": "masterCategories.get",
                    "PATCH": "masterCategories.update",
                    "DELETE": "masterCategories.delete",
                }.get(m, "")
                return self._need(
                    m, ("GET", "PATCH", "DELETE"), _Route(kind, user, self._h_categories(rest[2]))
                )
        raise bad_request(f"Resource not found for the segment '{rest[0]}'.")

    def _route_subscriptions(self, req: Req, sid: str | None) -> _Route:
        """/subscriptions (subscription-post-subscriptions.md, subscription-list.md) and /subscriptions/{id}
        (subscription-get.md, subscription-update.md, subscription-delete.md); rules in subscriptions.py."""
        m = req.method
        hub = self.tenant.subscriptions
        kind = {"GET": "get", "PATCH": "update", "DELETE": "delete"}.get(m, "")
        if sid is None:
            kind = {"GET": "list", "POST": "create"}.get(m, "")

        async def run(req: Req, grant: AppGrant | None) -> Resp:
            if grant is not None and kind != "create" and not grant.allows(f"subscriptions.{kind}"):
                raise GraphApiError(
                    403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
                )
            try:
                if sid is None and m == "POST":
                    immutable = "immutableid" in req.headers.get("prefer", "").replace('"', "").lower()
                    return self._json(req, await hub.create(req.json(), grant, immutable=immutable), 201)
                if sid is None:
                    return self._json(req, {"value": hub.list_views()})
                if m == "GET":
                    return self._json(req, hub.get(sid).view())
                if m == "PATCH":
                    return self._json(req, hub.update(sid, req.json()))
                hub.delete(sid)
                return Resp(204)
            except SubscriptionError as exc:
                raise GraphApiError(exc.status, exc.code, exc.message) from None

        route = _Route(f"subscriptions.{kind}", None, None, async_handler=run)
        return self._need(m, ("GET", "POST") if sid is None else ("GET", "PATCH", "DELETE"), route)

    @staticmethod
    def _need(method: str, allowed: str | tuple[str, ...], route: _Route) -> _Route:
        allowed_t = (allowed,) if isinstance(allowed, str) else allowed
        if method not in allowed_t:
            raise GraphApiError(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed here.")
        return route

    def _route_folders(self, req: Req, user: str, rest: list[str], lrest: list[str]) -> _Route:
        m = req.method
        if len(rest) == 1:
            kind = {"GET": "mailFolders.list", "POST": "mailFolders.create"}.get(m, "")
            return self._need(m, ("GET", "POST"), _Route(kind, user, self._h_folders([], list_children=True)))
        chain = [rest[1]]
        i = 2
        while i + 1 < len(rest) and lrest[i] == "childfolders":
            chain.append(rest[i + 1])
            i += 2
        tail, ltail = rest[i:], lrest[i:]
        if not tail:
            kind = {
                "GET": "mailFolders.get",
                "PATCH": "mailFolders.update",
                "DELETE": "mailFolders.delete",
            }.get(m, "")
            return self._need(m, ("GET", "PATCH", "DELETE"), _Route(kind, user, self._h_folder(chain)))
        if ltail == ["permanentdelete"]:
            return self._need(
                m, "POST", _Route("mailFolders.permanentDelete", user, self._h_folder_permanent_delete(chain))
            )
        if ltail == ["childfolders"]:
            kind = {"GET": "childFolders.list", "POST": "childFolders.create"}.get(m, "")
            return self._need(
                m, ("GET", "POST"), _Route(kind, user, self._h_folders(chain, list_children=False))
            )
        if ltail == ["messagerules"]:
            # Inbox rules live on the Inbox only (mailfolder-list-messagerules.md: "mailFolders/inbox").
            return self._need(m, "GET", _Route("messageRules.list", user, self._h_message_rules(chain)))
        if ltail[0] == "messages":
            if len(tail) == 1:
                kind = {"GET": "messages.list", "POST": "messages.create"}.get(m, "")
                return self._need(m, ("GET", "POST"), _Route(kind, user, self._h_messages(chain)))
            if ltail[1:] == ["delta"]:
                return self._need(m, "GET", _Route("messages.delta", user, self._h_delta(chain)))
            return self._route_message(req, user, tail[1], tail[2:], ltail[2:])
        raise bad_request(f"Resource not found for the segment '{tail[0]}'.")

    def _route_message(self, req: Req, user: str, mid: str, tail: list[str], ltail: list[str]) -> _Route:
        m = req.method
        if not tail:
            kind = {"GET": "messages.get", "PATCH": "messages.update", "DELETE": "messages.delete"}.get(m, "")
            return self._need(m, ("GET", "PATCH", "DELETE"), _Route(kind, user, self._h_message(mid)))
        action = ltail[0]
        if action == "$value" and len(tail) == 1:
            return self._need(m, "GET", _Route("messages.value", user, self._h_message_value(mid)))
        actions = {"move", "copy", "createreply", "createreplyall", "send", "reply", "replyall"}
        if action in actions and len(tail) == 1:
            return self._need(m, "POST", _Route(f"messages.{tail[0]}", user, self._h_action(mid, action)))
        if action == "attachments":
            if len(tail) == 1:
                kind = {"GET": "attachments.list", "POST": "attachments.create"}.get(m, "")
                return self._need(m, ("GET", "POST"), _Route(kind, user, self._h_attachments(mid)))
            if ltail[1:] == ["createuploadsession"]:
                return self._need(
                    m, "POST", _Route("attachments.createUploadSession", user, self._h_upload_session(mid))
                )
            if len(tail) == 2:
                kind = {"GET": "attachments.get", "DELETE": "attachments.delete"}.get(m, "")
                return self._need(
                    m, ("GET", "DELETE"), _Route(kind, user, self._h_attachment(mid, tail[1], False))
                )
            if len(tail) == 3 and ltail[2] == "$value":
                return self._need(
                    m, "GET", _Route("attachments.value", user, self._h_attachment(mid, tail[1], True))
                )
        raise bad_request(f"Resource not found for the segment '{tail[0]}'.")

    def _upload_mailbox(self, session_id: str) -> str | None:
        session = self.tenant._uploads.get(session_id)
        return session.mailbox_id if session else None

    # ------------------------------------------------------------------ helpers

    def _folder(self, mb: Mailbox, chain: list[str]) -> Folder:
        folder = self.tenant.folder(mb, chain[0])
        for child in chain[1:]:
            folder = self.tenant.folder(mb, child)
        return folder

    @staticmethod
    def _headers(req: Req, *, page_size: int | None = None) -> dict[str, str]:
        applied = []
        prefer = req.prefer
        if prefer.immutable_ids:
            applied.append('IdType="ImmutableId"')
        if page_size is not None:
            applied.append(f"odata.maxpagesize={page_size}")
        if prefer.body_text:
            applied.append('outlook.body-content-type="text"')
        return {"Preference-Applied": ", ".join(applied)} if applied else {}

    def _json(self, req: Req, body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Resp:
        hdrs = self._headers(req)
        hdrs.update(headers or {})
        return Resp(status, body, hdrs, JSON_TYPE)

    def _msg_json(self, req: Req, mb: Mailbox, msg: Message, context: str) -> dict[str, Any]:
        view = self.tenant.message_view(
            mb,
            msg,
            immutable=req.prefer.immutable_ids,
            select=parse_select(req.query.get("$select")),
            expand=parse_expand(req.query["$expand"]) if req.query.get("$expand") else [],
            body_text=req.prefer.body_text,
        )
        return {"@odata.context": f"{req.base}/$metadata#users('{quote(mb.upn)}')/{context}/$entity", **view}

    # ------------------------------------------------------------------ handlers: users and folders

    def _h_users(self, req: Req, _mb: Mailbox | None) -> Resp:
        return self._json(
            req,
            {
                "@odata.context": f"{req.base}/$metadata#users",
                "value": [self.tenant.user_view(mb) for mb in self.tenant.mailboxes()],
            },
        )

    def _h_user(self, req: Req, mb: Mailbox | None) -> Resp:
        """learn.microsoft.com/graph/api/user-get (the default property set)."""
        assert mb is not None
        return self._json(
            req, {"@odata.context": f"{req.base}/$metadata#users/$entity", **self.tenant.user_view(mb)}
        )

    def _h_folders(self, chain: list[str], *, list_children: bool) -> Handler:
        """learn.microsoft.com/graph/api/user-list-mailfolders, mailfolder-list-childfolders,
        user-post-mailfolders, mailfolder-post-childfolders (201 + the folder)."""

        def run(req: Req, mb: Mailbox | None) -> Resp:
            assert mb is not None
            parent = self._folder(mb, chain) if chain else self.tenant.folder(mb, "msgfolderroot")
            ctx = f"{req.base}/$metadata#users('{quote(mb.upn)}')/mailFolders"
            if req.method == "POST":
                data = req.json()
                folder = self.tenant.create_folder(
                    mb, parent, str(data.get("displayName") or ""), bool(data.get("isHidden", False))
                )
                return self._json(
                    req, {"@odata.context": f"{ctx}/$entity", **self.tenant.folder_view(mb, folder)}, 201
                )
            include_hidden = req.query.get("includeHiddenFolders", "").lower() == "true"
            folders = [
                self.tenant.folder_view(mb, f) for f in self.tenant.child_folders(mb, parent, include_hidden)
            ]
            if req.query.get("$filter"):
                # e.g. displayName eq 'X' (learn.microsoft.com/graph/api/mailfolder-list-childfolders)
                pred = compile_filter(req.query["$filter"])
                folders = [f for f in folders if pred(f)]
            select = parse_select(req.query.get("$select"))
            if select:
                folders = [{"id": f["id"], **{k: v for k, v in f.items() if k in select}} for f in folders]
            return self._page(req, folders, ctx)

        return run

    def _h_folder(self, chain: list[str]) -> Handler:
        """learn.microsoft.com/graph/api/mailfolder-get, mailfolder-update, mailfolder-delete (204)."""

        def run(req: Req, mb: Mailbox | None) -> Resp:
            assert mb is not None
            folder = self._folder(mb, chain)
            ctx = f"{req.base}/$metadata#users('{quote(mb.upn)}')/mailFolders/$entity"
            if req.method == "DELETE":
                if folder.well_known:
                    raise GraphApiError(
                        403, "ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted."
                    )
                for msg in [m for m in mb.messages.values() if m.folder_id == folder.id]:
                    self.tenant.delete_message(mb, msg)
                del mb.folders[folder.id]
                return Resp(204)
            if req.method == "PATCH":
                name = req.json().get("displayName")
                if isinstance(name, str) and name:
                    folder.display_name = name
            return self._json(req, {"@odata.context": ctx, **self.tenant.folder_view(mb, folder)})

        return run

    def _h_folder_permanent_delete(self, chain: list[str]) -> Handler:
        """learn.microsoft.com/graph/api/mailfolder-permanentdelete (v1.0): 204; the folder and its items
        leave the mailbox (not to Deleted Items, nor to Recoverable Items' Purges)."""

        def run(req: Req, mb: Mailbox | None) -> Resp:
            assert mb is not None
            self.tenant.permanently_delete_folder(mb, self._folder(mb, chain))
            return Resp(204)

        return run

    def _page(self, req: Req, items: list[dict[str, Any]], context: str, default_size: int = 10) -> Resp:
        """Server-side paging: default 10 items, ``$top`` 1..1000, ``@odata.nextLink`` with ``$skip``
        (learn.microsoft.com/graph/api/user-list-messages; learn.microsoft.com/graph/paging)."""
        try:
            top = int(req.query.get("$top", "0") or 0)
            skip = int(req.query.get("$skip", "0") or 0)
        except ValueError as exc:
            raise bad_request("Invalid $top or $skip value.") from exc
        size = top or req.prefer.max_page_size or default_size
        if size < 1 or size > 1000 or skip < 0:
            raise bad_request("The $top value must be between 1 and 1000.", "ErrorInvalidUrlQuery")
        body: dict[str, Any] = {"@odata.context": context}
        if req.query.get("$count", "").lower() == "true":
            body["@odata.count"] = len(items)
        body["value"] = items[skip : skip + size]
        if skip + size < len(items):
            query = dict(req.query)
            query["$skip"] = str(skip + size)
            if top:
                query["$top"] = str(top)
            path = "/".join(_quote(s) for s in req.segments)
            qs = urlencode(query, safe="$(),:/@='", quote_via=quote)
            body["@odata.nextLink"] = f"{req.base}/{path}?{qs}"
        return self._json(req, body)

    # ------------------------------------------------------------------ handlers: messages

    def _h_messages(self, chain: list[str] | None) -> Handler:
        """learn.microsoft.com/graph/api/user-list-messages, mailfolder-list-messages; POST:
        user-post-messages (a draft in Drafts) and mailfolder-post-messages (201 + the message)."""

        def run(req: Req, mb: Mailbox | None) -> Resp:
            assert mb is not None
            folder = self._folder(mb, chain) if chain else None
            if req.method == "POST":
                target = folder or self.tenant.folder(mb, "drafts")
                if req.headers.get("content-type", "").lower().startswith("text/plain"):
                    msg = self.tenant.create_mime_message(mb, target, req.body)  # MIME: a draft
                else:
                    msg = self.tenant.create_message(mb, target, req.json())
                return self._json(req, self._msg_json(req, mb, msg, "messages"), 201)
            msgs = self.tenant.query_messages(
                mb, folder, filter_text=req.query.get("$filter"), orderby=req.query.get("$orderby")
            )
            select = parse_select(req.query.get("$select"))
            expand = parse_expand(req.query["$expand"]) if req.query.get("$expand") else []
            views = [
                self.tenant.message_view(
                    mb,
                    m,
                    immutable=req.prefer.immutable_ids,
                    select=select,
                    expand=expand,
                    body_text=req.prefer.body_text,
                )
                for m in msgs
            ]
            where = f"mailFolders('{folder.id}')/messages" if folder else "messages"
            sel = f"({','.join(select)})" if select else ""
            return self._page(req, views, f"{req.base}/$metadata#users('{quote(mb.upn)}')/{where}{sel}")

        return run

    def _h_delta(self, chain: list[str]) -> Handler:
        def run(req: Req, mb: Mailbox | None) -> Resp:
            assert mb is not None
            folder = self._folder(mb, chain)
            user_seg = _quote(req.segments[1])
            link_base = f"{req.base}/users/{user_seg}/mailFolders/{_quote(folder.id)}/messages/delta"
            prefer = req.prefer
            try:
                page = self.tenant.delta(
                    mb,
                    folder,
                    req.query,
                    page_size=prefer.max_page_size,
                    immutable=prefer.immutable_ids,
                    link_base=link_base,
                    body_text=prefer.body_text,
                )
            except GraphApiError as err:
                if err.status == 410:
                    err.headers["Location"] = link_base
                raise
            body = {"@odata.context": f"{req.base}/$metadata#Collection(message)", **page}
            headers = self._headers(req, page_size=prefer.max_page_size)
            return Resp(200, body, headers, JSON_TYPE)

        return run

    def _h_message(self, mid: str) -> Handler:
        """learn.microsoft.com/graph/api/message-get, message-update (200 + message), message-delete (204)."""

        def run(req: Req, mb: Mailbox | None) -> Resp:
            assert mb is not None
            msg = self.tenant.get_message(mb, mid)
            if req.method == "DELETE":
                self.tenant.delete_message(mb, msg)
                return Resp(204)
            if req.method == "PATCH":
                self.tenant.update_message(mb, msg, req.json())
            return self._json(req, self._msg_json(req, mb, msg, "messages"))

        return run

    def _h_message_value(self, mid: str) -> Handler:
        def run(req: Req, mb: Mailbox | None) -> Resp:
            assert mb is not None
            msg = self.tenant.get_message(mb, mid)
            # learn.microsoft.com/graph/outlook-get-mime-message: the body is the MIME text.
            return Resp(200, self.tenant.mime_of(mb, msg), {}, "text/plain")

        return run

    def _h_action(self, mid: str, action: str) -> Handler:
        def run(req: Req, mb: Mailbox | None) -> Resp:
            assert mb is not None
            msg = self.tenant.get_message(mb, mid)
            data = req.json()
            if action in ("move", "copy"):
                dest_key = data.get("destinationId") or data.get("DestinationId")
                if not isinstance(dest_key, str) or not dest_key:
                    raise bad_request("The destinationId parameter is required.", "ErrorInvalidRequest")
                moved = self.tenant.move_message(
                    mb, msg, self.tenant.folder(mb, dest_key), copy=action == "copy"
                )
                # The action returns the message with its type annotation (api-reference/v1.0/api/
                # message-move.md and message-copy.md, response examples: "@odata.type").
                body = {
                    **self._msg_json(req, mb, moved, "messages"),
                    "@odata.type": "#microsoft.graph.message",
                }
                return self._json(req, body, 201)
            if action in ("createreply", "createreplyall"):
                reply = self.tenant.create_reply(mb, msg, data, reply_all=action == "createreplyall")
                return self._json(req, self._msg_json(req, mb, reply, "messages"), 201)
            if action in ("reply", "replyall"):
                reply = self.tenant.create_reply(mb, msg, data, reply_all=action == "replyall")
                self.tenant.send_draft(mb, reply)
                return Resp(202)
            self.tenant.send_draft(mb, msg)
            return Resp(202)

        return run

    def _h_send_mail(self, req: Req, mb: Mailbox | None) -> Resp:
        """learn.microsoft.com/graph/api/user-sendmail: 202 without a body; base64 MIME when text/plain."""
        assert mb is not None
        if req.headers.get("content-type", "").lower().startswith("text/plain"):
            self.tenant.send_mime(mb, req.body)
            return Resp(202)
        data = req.json()
        message = data.get("message") or data.get("Message")
        if not isinstance(message, dict):
            raise bad_request("The message parameter is required.", "ErrorInvalidRequest")
        save = data.get("saveToSentItems", data.get("SaveToSentItems", True))
        if isinstance(save, str):
            save = save.lower() != "false"
        self.tenant.send_mail(mb, message, bool(save))
        return Resp(202)

    # ------------------------------------------------------------------ handlers: attachments

    def _h_attachments(self, mid: str) -> Handler:
        """learn.microsoft.com/graph/api/message-list-attachments, message-post-attachments (201)."""

        def run(req: Req, mb: Mailbox | None) -> Resp:
            assert mb is not None
            msg = self.tenant.get_message(mb, mid)
            ctx = f"{req.base}/$metadata#users('{quote(mb.upn)}')/messages('{msg.rest_id}')/attachments"
            if req.method == "POST":
                att = self.tenant.add_attachment(mb, msg, req.json())
                return self._json(req, {"@odata.context": f"{ctx}/$entity", **att.view()}, 201)
            select = parse_select(req.query.get("$select"))
            return self._page(req, [_select_attachment(a.view(), select) for a in msg.attachments], ctx, 1000)

        return run

    def _h_attachment(self, mid: str, aid: str, raw: bool) -> Handler:
        def run(req: Req, mb: Mailbox | None) -> Resp:
            assert mb is not None
            msg = self.tenant.get_message(mb, mid)
            att = self.tenant.get_attachment(msg, aid)
            if req.method == "DELETE":
                self.tenant.delete_attachment(mb, msg, att)
                return Resp(204)
            if raw:
                # learn.microsoft.com/graph/api/attachment-get: $value of a file attachment is its raw bytes.
                return Resp(200, att.data, {}, att.content_type)
            ctx = (
                f"{req.base}/$metadata#users('{quote(mb.upn)}')/messages('{msg.rest_id}')/attachments/$entity"
            )
            return self._json(req, {"@odata.context": ctx, **att.view()})

        return run

    def _h_upload_session(self, mid: str) -> Handler:
        def run(req: Req, mb: Mailbox | None) -> Resp:
            assert mb is not None
            msg = self.tenant.get_message(mb, mid)
            data = req.json()
            item = data.get("AttachmentItem") or data.get("attachmentItem")
            if not isinstance(item, dict):
                raise bad_request("The AttachmentItem parameter is required.", "ErrorInvalidRequest")
            session = self.tenant.create_upload_session(mb, msg, item)
            url = f"{req.root}/upload/{session.id}?authtoken={self.tenant.upload_token(session.id)}"
            expires = datetime.fromtimestamp(session.expires, UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
            body = {
                "@odata.context": f"{req.base}/$metadata#microsoft.graph.uploadSession",
                "uploadUrl": url,
                "expirationDateTime": expires,
                "nextExpectedRanges": ["0-"],
            }
            return self._json(req, body, 201)

        return run

    def _h_upload_cancel(self, req: Req, _mb: Mailbox | None) -> Resp:
        session = self.tenant.upload_session(req.segments[1], req.query.get("authtoken", ""))
        self.tenant.cancel_upload(session)
        return Resp(204, None, {})

    def _h_upload(self, req: Req, _mb: Mailbox | None) -> Resp:
        session = self.tenant.upload_session(req.segments[1], req.query.get("authtoken", ""))
        m = _CONTENT_RANGE.match(req.headers.get("content-range", "").strip())
        if m is None:
            raise GraphApiError(
                400, "InvalidContentRange", "The Content-Range header is missing or malformed."
            )
        start, end, total = (int(g) for g in m.groups())
        att = self.tenant.upload_chunk(session, start, end, total, req.body)
        expires = datetime.fromtimestamp(session.expires, UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        if att is None:
            # concepts/outlook-large-attachments.md, "Example: First upload to the message": 200 with the
            # session's expiry (spelt "ExpirationDateTime" there) and the next byte to send, e.g. ["2097152"].
            return Resp(
                200,
                {
                    "@odata.context": f"{req.base}/$metadata#microsoft.graph.uploadSession",
                    "ExpirationDateTime": expires,
                    "nextExpectedRanges": [str(len(session.data))],
                },
                {},
                JSON_TYPE,
            )
        mb = self.tenant.mailbox(session.mailbox_id)
        msg = self.tenant.get_message(mb, session.message_id)
        form = self.tenant.upload_location_form  # see GraphTenant.upload_location_form
        if form == "none":
            return Resp(201, None, {})
        location = f"{req.base}/users('{mb.id}')/messages('{msg.rest_id}')/{form}('{att.id}')"
        return Resp(201, None, {"Location": location})

    # ------------------------------------------------------------------ handlers: categories

    def _h_message_rules(self, chain: list[str]) -> Handler:
        """api-reference/v1.0/api/mailfolder-list-messagerules.md: the Inbox's rules (resources/
        messagerule.md); another folder has none to list (an inference: the page names only the Inbox)."""

        def run(req: Req, mb: Mailbox | None) -> Resp:
            assert mb is not None
            folder = self.tenant.folder(mb, chain[0])
            inbox = self.tenant.folder(mb, "inbox")
            if len(chain) != 1 or folder.id != inbox.id:
                raise bad_request(
                    "Inbox rules are only supported on the Inbox folder.", "ErrorInvalidRequest"
                )
            ctx = f"{req.base}/$metadata#users('{quote(mb.upn)}')/mailFolders('inbox')/messageRules"
            return self._json(req, {"@odata.context": ctx, "value": self.tenant.message_rules(mb.upn)})

        return run

    def _h_categories(self, cid: str | None) -> Handler:
        """learn.microsoft.com/graph/api/outlookuser-list-mastercategories, outlookuser-post-mastercategories,
        outlookcategory-get, outlookcategory-update, outlookcategory-delete (204)."""

        def run(req: Req, mb: Mailbox | None) -> Resp:
            assert mb is not None
            ctx = f"{req.base}/$metadata#users('{quote(mb.upn)}')/outlook/masterCategories"
            if cid is None and req.method == "POST":
                data = req.json()
                cat = self.tenant.add_category(
                    mb, str(data.get("displayName") or ""), data.get("color", "none")
                )
                return self._json(req, {"@odata.context": f"{ctx}/$entity", **cat}, 201)
            if cid is None:
                return self._json(req, {"@odata.context": ctx, "value": [dict(c) for c in mb.categories]})
            if req.method == "DELETE":
                self.tenant.delete_category(mb, cid)
                return Resp(204)
            if req.method == "PATCH":
                cat = self.tenant.update_category(mb, cid, req.json())
            else:
                cat = dict(self.tenant.category(mb, cid))
            return self._json(req, {"@odata.context": f"{ctx}/$entity", **cat})

        return run

    def _h_contacts(self, cid: str | None) -> Handler:
        """user-list-contacts.md and contact-get.md with the certificate property (contacts.py)."""

        def run(req: Req, mb: Mailbox | None) -> Resp:
            assert mb is not None
            ctx = f"{req.base}/$metadata#users('{quote(mb.upn)}')/contacts"
            try:
                if cid is None:
                    items = list_contacts(list(mb.contacts.values()), req.query)
                    return self._json(req, {"@odata.context": ctx, "value": items})
                contact = mb.contacts.get(cid)
                if contact is None:
                    raise not_found()
                return self._json(
                    req, {"@odata.context": f"{ctx}/$entity", **contact_view(contact, req.query)}
                )
            except ContactQueryError as exc:
                raise bad_request(str(exc)) from None

        return run

    # ------------------------------------------------------------------ $batch

    async def _batch(self, req: Req, grant: AppGrant | None = None) -> Resp:
        """``POST /$batch`` (learn.microsoft.com/graph/json-batching).

        Up to 20 members, ``dependsOn`` ordering,
        424 for a member whose dependency failed, 200 for the batch itself."""
        data = req.json()
        members = data.get("requests")
        if not isinstance(members, list) or not members:
            raise bad_request("The batch request must contain a 'requests' array.", "BadRequest")
        if len(members) > MAX_BATCH:
            raise bad_request(f"The number of requests in the batch exceeds the limit of {MAX_BATCH}.")
        ids: list[str] = []
        for member in members:
            if (
                not isinstance(member, dict)
                or not member.get("id")
                or not member.get("method")
                or not member.get("url")
            ):
                raise bad_request("Each batch request needs id, method and url.")
            if "$batch" in str(member["url"]):
                raise bad_request("A batch request cannot contain another batch request.")
            # concepts/json-batching.md: id is "Not case-sensitive. Must be unique in the batch, otherwise,
            # the batch request fails with a 400 error code."
            if str(member["id"]).lower() in (i.lower() for i in ids):
                raise bad_request(f"Batch request ids must be unique: '{member['id']}'.")
            depends = member.get("dependsOn")
            # Same page: dependsOn "is an array of strings that references the id of a different individual
            # request"; OData JSON Format 4.01 section 19.1 (which Graph's $batch implements, same page):
            # the ids "MUST be values of ... preceding request objects".
            if depends is not None and (
                not isinstance(depends, list) or not all(isinstance(d, str) for d in depends)
            ):
                raise bad_request("dependsOn must be an array of request ids.")
            for dep in depends or []:
                if dep.lower() == str(member["id"]).lower():
                    raise bad_request(f"Request '{dep}' cannot depend on itself.")
                if dep.lower() not in (i.lower() for i in ids):
                    raise bad_request(f"dependsOn refers to unknown or later request '{dep}'.")
            if member.get("body") is not None and not any(
                k.lower() == "content-type" for k in (member.get("headers") or {})
            ):
                raise bad_request("A batch request with a body must have a Content-Type header.")
            ids.append(str(member["id"]))
        results: dict[str, dict[str, Any]] = {}
        sequential = any(m.get("dependsOn") for m in members)

        canonical = {i.lower(): i for i in ids}

        async def run_member(member: dict[str, Any]) -> None:
            mid = str(member["id"])
            for dep in member.get("dependsOn") or []:
                if not 200 <= int(results[canonical[dep.lower()]]["status"]) < 300:
                    results[mid] = {
                        "id": mid,
                        "status": 424,
                        "headers": {"Content-Type": "application/json"},
                        "body": error_body(
                            GraphApiError(424, "FailedDependency", "The dependent request failed."),
                            str(uuid.uuid4()),
                            str(uuid.uuid4()),
                        ),
                    }
                    return
            results[mid] = await self._run_member(req, member, grant)

        if sequential:
            for member in members:
                await run_member(member)
        else:
            # Graph hands Outlook at most 4 unordered members at a time
            # (learn.microsoft.com/graph/throttling-limits,
            # "Outlook service limits ... JSON batching").
            for i in range(0, len(members), 4):
                await asyncio.gather(*(run_member(m) for m in members[i : i + 4]))
        return Resp(200, {"responses": [results[i] for i in ids]}, {}, JSON_TYPE)

    async def _run_member(
        self, outer: Req, member: dict[str, Any], grant: AppGrant | None = None
    ) -> dict[str, Any]:
        url = str(member["url"])
        parts = urlsplit(url if url.startswith("/") else "/" + url)
        headers = {str(k).lower(): str(v) for k, v in (member.get("headers") or {}).items()}
        body = member.get("body")
        if body is None:
            raw = b""
        elif isinstance(body, str) and not headers.get("content-type", "").lower().startswith(
            "application/json"
        ):
            raw = body.encode()
        else:
            raw = json.dumps(body).encode()
        sub = Req(
            str(member["method"]).upper(),
            _split_segments(parts.path),
            dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers,
            raw,
            outer.root,
            in_batch=True,
        )
        resp, _, _ = await self.process(sub, authorized=True, grant=grant)
        out: dict[str, Any] = {"id": str(member["id"]), "status": resp.status}
        # Every member of the documented example response carries Cache-Control: no-cache
        # (concepts/json-batching.md, "Example JSON batch response").
        hdrs = {"Cache-Control": "no-cache", **resp.headers}
        if resp.content_type:
            hdrs["Content-Type"] = resp.content_type
        out["headers"] = hdrs
        if isinstance(resp.body, (bytes, bytearray)):
            # Non-JSON member bodies are base64 in the batch response
            # (learn.microsoft.com/graph/json-batching).
            out["body"] = base64.b64encode(bytes(resp.body)).decode()
        elif resp.body is not None:
            out["body"] = resp.body
        return out


_ATTACHMENT_PROPS = {
    p.lower(): p
    for p in (
        "id",
        "lastModifiedDateTime",
        "name",
        "contentType",
        "size",
        "isInline",
        "contentId",
        "contentLocation",
        "contentBytes",
    )
}


def _select_attachment(view: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    if select is None:
        return view
    out = {"@odata.type": view["@odata.type"], "@odata.mediaContentType": view["@odata.mediaContentType"]}
    out["id"] = view["id"]
    for name in select:
        canon = _ATTACHMENT_PROPS.get(name.lower())
        if canon is None:
            raise bad_request(
                f"Could not find a property named '{name}' on type 'microsoft.graph.attachment'.",
                "RequestBroker--ParseUri",
            )
        out[canon] = view[canon]
    return out


def _fault_error(fault: Fault) -> GraphApiError:
    headers = {"Retry-After": _fmt_retry(fault.retry_after)} if fault.retry_after is not None else {}
    codes = {429: "TooManyRequests", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
    status = fault.status or 500
    return GraphApiError(
        status,
        fault.code or codes.get(status, "InternalServerError"),
        fault.message or ("Please retry again later." if status == 429 else "The service is unavailable."),
        headers,
    )


def _fmt_retry(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _log_entry(req: Req, mailbox: str | None, endpoint: str, status: int, at: float, duration: float) -> Any:
    from graph_dpg.sandbox.graph.tenant import LoggedRequest

    return LoggedRequest(req.method, req.path, mailbox, endpoint, status, at, duration, req.in_batch)


def create_app(tenant: GraphTenant) -> Starlette:
    """The ASGI app for ``tenant``: ``/v1.0/...`` plus the pre-authenticated upload URLs."""
    emulator = GraphEmulator(tenant)

    async def handle(request: Request) -> Response:
        root = str(request.base_url).rstrip("/")
        rid = str(uuid.uuid4())
        crid = request.headers.get("client-request-id", rid)
        limit = tenant.max_request_bytes
        declared = request.headers.get("content-length")
        too_big = declared is not None and declared.isdigit() and int(declared) > limit
        body = b"" if too_big else await request.body()
        if too_big or len(body) > limit:
            # "The maximum request length supported is 4MB."
            # (github.com/microsoftgraph/microsoft-graph-docs/issues/85)
            err = GraphApiError(413, "BadRequest", "The maximum request length supported is 4MB.")
            return _to_response(Resp(413, error_body(err, rid, crid), {}, JSON_TYPE), rid, crid)
        raw_path = request.scope.get("raw_path")
        path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else quote(request.url.path)
        path = path.split("?", 1)[0]
        root_path = request.scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        if path.startswith("/v1.0"):
            path = path[len("/v1.0") :]
        req = Req(
            request.method,
            _split_segments(path),
            dict(parse_qsl(request.url.query, keep_blank_values=True)),
            _merge_headers(request.headers.items()),
            body,
            root,
            request_id=rid,
        )
        resp, _, _ = await emulator.process(req)
        return _to_response(resp, rid, crid)

    routes = [
        Route("/v1.0/{rest:path}", handle, methods=_ALL_METHODS),
        Route("/upload/{session}", handle, methods=["PUT", "DELETE"]),
    ]
    app = Starlette(routes=routes)
    app.state.tenant = tenant
    return app


def _merge_headers(items: Any) -> dict[str, str]:
    """Repeated headers (two ``Prefer`` lines) combine as one comma-separated value (RFC 9110 5.3)."""
    out: dict[str, str] = {}
    for key, value in items:
        k = str(key).lower()
        out[k] = f"{out[k]}, {value}" if k in out else str(value)
    return out


def _to_response(resp: Resp, rid: str, crid: str) -> Response:
    headers = {"request-id": rid, "client-request-id": crid, **resp.headers}
    if resp.body is None:
        return Response(status_code=resp.status, headers=headers)
    if isinstance(resp.body, (bytes, bytearray)):
        return Response(
            bytes(resp.body), status_code=resp.status, headers=headers, media_type=resp.content_type
        )
    payload = json.dumps(resp.body, ensure_ascii=False).encode()
    return Response(
        payload, status_code=resp.status, headers=headers, media_type=resp.content_type or JSON_TYPE
    )
