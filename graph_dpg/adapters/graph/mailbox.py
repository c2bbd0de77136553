"""GraphMailbox: the :class:`~graph_dpg.ports.mailbox.MailboxPort` on msgraph-sdk.

Request paths come from the SDK's request builders (their URI templates and path parameters), expanded by
our own expander (uri.py), and are sent by our own sender on the plain httpx client (sender.py: auth,
retries honouring Retry-After, redirects, telemetry, as the SDK's pipeline did, ~1 ms of CPU less per
request; docs/facts/graph.md, "msgraph-sdk: what the adapter keeps"), or, over our aiohttp transport,
straight to aiohttp past the httpx client (sender.py, "The fast path"). Every response is read raw and
decoded with ``json.loads``: the SDK's model deserialisation costs ~9 ms per Message (docs/facts/graph.md,
"msgraph-sdk: deserialisation cost"), which would dominate polling.

Every request carries ``Prefer: IdType="ImmutableId"`` (ids survive folder moves, concepts/
outlook-immutable-id.md) and takes its place in the Graph budget (``budget.py``): a request from its
mailbox's count per minute and this replica's share of the mailbox's 4 concurrent requests (and of an
app-wide cap when one is set), shared by all replicas, retries included (docs/facts/graph.md, "Throttling").

Size rules (concepts/outlook-large-attachments.md, user-sendmail.md): a request body must stay under
4 MB; attachments up to 3 MB can be posted as JSON, larger ones (≤150 MB) go through
``createUploadSession`` + ranged PUTs of < 4 MB each. So a message is created/sent with as many
attachments embedded as fit under the request budget, and the rest are added afterwards; sending such a
message goes draft → attachments → ``/send``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from msgraph.graph_service_client import GraphServiceClient

from graph_dpg.adapters.graph.budget import BudgetLimits, GraphBudget
from graph_dpg.adapters.graph.client import GRAPH_BASE_URL, GRAPH_SCOPES, RetryPolicy, build_pipeline
from graph_dpg.adapters.graph.errors import (
    SERVICE,
    error_for_response,
    error_for_transport,
)
from graph_dpg.adapters.graph.sender import BearerToken, GraphSender
from graph_dpg.adapters.graph.translate import (
    DELETE_AFTER_SUBMIT,
    DELIVERY_TIME,
    EVENT_EXPAND,
    IN_REPLY_TO_PROPERTY,
    INTERNET_MESSAGE_ID,
    ITEM_ATTACHMENT,
    MESSAGE_FLAGS,
    REFERENCE_ATTACHMENT,
    SUBMIT_TIME,
    THREADING_PROPERTIES,
    attachment_from_json,
    attachment_to_json,
    encoded_size,
    format_datetime,
    inbox_rule_from_json,
    is_event_message,
    message_from_json,
    message_to_json,
    odata_quote,
    property_id,
)
from graph_dpg.adapters.graph.uri import expand as expand_template
from graph_dpg.adapters.graph.uri import query_string
from graph_dpg.core.errors import (
    AuthError,
    NotFoundError,
    PermanentError,
    RemoteError,
    SyncStateExpiredError,
    TransientError,
)
from graph_dpg.domain.inbox_rules import InboxRule
from graph_dpg.domain.mail import Attachment, MailMessage
from graph_dpg.domain.smime import MESSAGE_CLASS_PROPERTY
from graph_dpg.ports.mailbox import DEFAULT_DELTA_SELECT, DeltaRound
from graph_dpg.ports.subscriptions import CreatedSubscription

# Generated builder modules define deprecated per-builder configuration classes and warn at import time,
# although we use the generic RequestConfiguration (msgraph-sdk-python#812); the SDK imports them lazily.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"msgraph\.generated\.")

log = logging.getLogger(__name__)

IMMUTABLE_ID = 'IdType="ImmutableId"'
#: Graph refuses request bodies over 4 MB; keep a margin for headers/JSON envelope.
MAX_REQUEST_BYTES = 4 * 1024 * 1024 - 256 * 1024
#: Attachments below this go as JSON (POST /attachments, or embedded in a message); from it on through an
#: upload session, which Graph refuses for smaller files (attachment-createuploadsession.md: "between 3 MB
#: and 150 MB"; "smaller than 3 MB, do a POST").
MAX_JSON_ATTACHMENT = 3 * 1024 * 1024
#: Upload-session chunk: < 4 MB per PUT; a multiple of 320 KiB as Microsoft's upload samples use.
UPLOAD_CHUNK = 9 * 320 * 1024

#: Well-known folder names, usable instead of ids in any mailbox locale (resources/mailfolder.md).
WELL_KNOWN_FOLDERS = frozenset(
    {
        "archive",
        "clutter",
        "conflicts",
        "conversationhistory",
        "deleteditems",
        "drafts",
        "inbox",
        "junkemail",
        "localfailures",
        "msgfolderroot",
        "outbox",
        "recoverableitemsdeletions",
        "scheduled",
        "searchfolders",
        "sentitems",
        "serverfailures",
        "syncissues",
    }
)

#: How a folder given by path is remembered in the delta state the store keeps: ``folder=<id> <deltaLink>``
#: (the store's (mailbox, folder) → delta link row holds the resolved id with the link it belongs to).
_FOLDER_STATE = "folder="
#: Exchange folder ids are long base64 strings (well over 40 characters); display names rarely look so.
_FOLDER_ID = re.compile(r"^[A-Za-z0-9+/_=-]{40,}$")

FULL_SELECT: tuple[str, ...] = (*DEFAULT_DELTA_SELECT, "body", "internetMessageHeaders")
#: The answered message's Message-ID on a reply (PidTagInReplyToId): Sent Items need not keep In-Reply-To.
#: And the message class (PidTagMessageClass, ``String 0x001A``): IPM.Note.SMIME* marks secure mail
#: ([MS-OXOSMIME] 2.1.3, microsoft-graph-docs issue 4585).
_EXPANDED_IDS = f"id eq '{IN_REPLY_TO_PROPERTY}' or id eq '{MESSAGE_CLASS_PROPERTY}'"
FULL_EXPAND = f"singleValueExtendedProperties($filter={_EXPANDED_IDS})"
ATTACHMENT_META_SELECT = ("id", "name", "contentType", "size", "isInline")
#: PidTagUserX509Certificate, where Outlook keeps a contact's certificates ([MS-OXOABK] 2.2.4.36), as Graph
#: names a multi-value binary extended property (extended-properties-overview.md).
CONTACT_CERTIFICATES = "BinaryArray 0x3A70"
_QUERY_TEMPLATE = re.compile(r"\{\?[^}]*\}$")
_CID_REFERENCE = re.compile(r"[\"'(=\s]cid:", re.IGNORECASE)


@dataclass(frozen=True)
class UploadedAttachment:
    """The outcome of an upload session: the attachment id and the final ``Location`` header it came from."""

    id: str
    location: str


@dataclass(frozen=True)
class GraphCall:
    """One Graph request before it is sent: method, the expanded URL, and a body with its content type."""

    method: str
    url: str
    content: bytes | None = None
    content_type: str | None = None


def attachment_id_from_location(location: str) -> str:
    """The attachment id in the final upload PUT's ``Location``: ``.../Attachments('<id>')``, as the docs
    spell it (api-reference/v1.0/api/attachment-createuploadsession.md), matched in any case, or
    ``.../attachments/<id>``; "" when neither form is there."""
    found = re.search(r"attachments\('?([^')]+)'?\)", location, re.IGNORECASE) or re.search(
        r"attachments/([^/?]+)", location, re.IGNORECASE
    )
    return found.group(1) if found else ""


class GraphMailbox:
    """Mailbox access over Microsoft Graph (see the module docstring).

    ``credential`` is any async azure-identity credential (``credential_from``) or
    ``StaticTokenCredential`` for the sandbox. ``transport``/``http_client`` let tests route the real
    SDK pipeline to the emulator in-process (``httpx.ASGITransport``) or to a canned transport.
    Create and use one instance inside one long-lived event loop (its httpx pool and semaphores bind to
    it; msgraph-sdk-python#366), and ``aclose()`` it at the end.
    """

    def __init__(
        self,
        credential: AsyncTokenCredential,
        base_url: str = GRAPH_BASE_URL,
        *,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrency_per_mailbox: int = 4,
        max_concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | float | None = None,
        large_attachment_threshold: int = 512 * 1024,
        folder_recheck_rounds: int = 20,
        upload_chunk_size: int = UPLOAD_CHUNK,
        scopes: tuple[str, ...] = GRAPH_SCOPES,
        budget: GraphBudget | None = None,
    ) -> None:
        if max_concurrency_per_mailbox < 1:
            raise ValueError("max_concurrency_per_mailbox must be at least 1")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1 (or None: no cap across mailboxes)")
        if not 0 < upload_chunk_size < 4 * 1024 * 1024:
            raise ValueError("upload_chunk_size must be below 4 MB")
        self._retry = retry or RetryPolicy()
        self._credential = credential
        self._scopes = scopes
        self._pipe = build_pipeline(
            credential,
            base_url,
            http_client=http_client,
            transport=transport,
            retry=self._retry,
            timeout=timeout,
            scopes=scopes,
        )
        #: Where each request takes its place (adapters/graph/budget.py): the request count of its mailbox
        #: (shared by the replicas through the store, when the composition root gives a ledger), then this
        #: replica's share of the mailbox's concurrency, then of the app's (None: no app-wide cap). Taken in
        #: that order, so a request waiting for its mailbox holds no app-wide slot. Without ``budget``: the
        #: two caps of this process alone, requests not counted.
        self.budget = budget or GraphBudget(
            BudgetLimits(mailbox_concurrency=max_concurrency_per_mailbox, app_concurrency=max_concurrency)
        )
        #: Requests that waited for the next window of their mailbox's request budget (for /metrics).
        self.budget_waits: Counter[str] = self.budget.waited
        self._folders: dict[tuple[str, str], str] = {}
        #: Delta rounds left before a polled folder path is resolved again (renames are seen this way).
        self._folder_rounds: dict[tuple[str, str], int] = {}
        self.folder_recheck_rounds = max(1, folder_recheck_rounds)
        self.large_attachment_threshold = large_attachment_threshold
        self.upload_chunk_size = upload_chunk_size
        #: The hot path (sender.py): our own loop on the plain httpx client, not kiota's pipeline; every
        #: attempt (retries, a redirect's next hop, a claims challenge's second try) takes its own slot.
        self._http = self._pipe.http
        self.token = BearerToken(credential, scopes)
        self._sender = GraphSender(
            self._http,
            self._pipe.base_url,
            self.token,
            max_retries=self._retry.max_retries,
            base_delay=self._retry.base_delay,
            backoff_factor=self._retry.backoff_factor,
            jitter=self._retry.jitter,
            slot=self.budget.slot,  # what ``_slot`` does, without its own context-manager layer
        )
        #: Requests sent (every attempt) and calls that ended in a 429, per mailbox (for /metrics).
        self.requests: Counter[str] = self._sender.requests
        self.throttled: Counter[str] = Counter()

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def client(self) -> GraphServiceClient:
        """The underlying GraphServiceClient (same pipeline), for SDK-model calls off the hot path."""
        return self._pipe.client

    @property
    def base_url(self) -> str:
        return self._pipe.base_url

    async def aclose(self) -> None:
        if self._pipe.owns_http:
            await self._pipe.http.aclose()

    async def __aenter__(self) -> GraphMailbox:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- request plumbing ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _slot(self, mailbox: str, cost: int = 1) -> AsyncIterator[None]:
        """One request's place in the budget (see ``__init__``); ``cost``: the requests Graph counts for
        it, e.g. the members of a ``$batch`` (concepts/json-batching.md: each is throttled on its own)."""
        async with self.budget.slot(mailbox, cost):
            yield

    def _user(self, mailbox: str) -> Any:
        return self._pipe.client.users.by_user_id(mailbox)

    def _info(
        self,
        method: Method,
        builder: Any,
        suffix: str = "",
        *,
        query: Mapping[str, str | int | Sequence[str]] | None = None,
        body: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> GraphCall:
        """A request for ``builder``'s path (+ ``suffix``), with our own query and a JSON ``body`` (or raw
        ``content`` of ``content_type``). The path comes from the SDK's URI template, expanded by our own
        expander (uri.py; kiota's ``RequestInformation`` when a template needs more)."""
        template = _QUERY_TEMPLATE.sub("", str(builder.url_template)) + suffix
        params = {**builder.path_parameters, "baseurl": self._pipe.base_url}
        url = expand_template(template, params)
        if url is None:
            url = str(RequestInformation(method, template, params).url)
        if query:
            encoded = query_string(query)
            if encoded:
                url = f"{url}?{encoded}"
        if body is not None:
            content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            content_type = "application/json"
        return GraphCall(method.value, url, content, content_type)

    @staticmethod
    def _info_url(method: Method, url: str) -> GraphCall:
        """A request for an absolute URL Graph gave us (nextLink, deltaLink), used verbatim."""
        return GraphCall(method.value, url)

    async def _send(
        self,
        mailbox: str,
        call: GraphCall,
        *,
        what: str,
        prefer: Iterable[str] = (),
    ) -> httpx.Response:
        headers = {"Prefer": ", ".join([*prefer, IMMUTABLE_ID])}
        if call.content_type:
            headers["Content-Type"] = call.content_type
        try:
            sent = await self._sender.send(
                mailbox, call.method, call.url, headers=headers, content=call.content
            )
        except httpx.TransportError as exc:
            raise error_for_transport(exc, call.method, what=what) from exc
        except ClientAuthenticationError as exc:
            raise AuthError(f"{what}: cannot obtain a Graph token: {exc}", service=SERVICE) from exc
        except ServiceRequestError as exc:
            raise TransientError(f"{what}: token endpoint unreachable: {exc}", service=SERVICE) from exc
        response = sent.response
        if response.status_code >= 300:
            if response.status_code == 429:
                self.throttled[mailbox] += 1
            error = error_for_response(response, what=what)
            # Graph support asks for these two (learn.microsoft.com/graph/errors, "request-id").
            error.details.setdefault("client-request-id", sent.client_request_id)
            if "request-id" in response.headers:
                error.details.setdefault("request-id", response.headers["request-id"])
            log.info(
                "graph request failed",
                extra={
                    "mailbox": mailbox,
                    "method": call.method,
                    "status": response.status_code,
                    "code": error.code,
                    "client_request_id": sent.client_request_id,
                    "request_id": response.headers.get("request-id"),
                },
            )
            raise error
        return response

    async def _json(
        self, mailbox: str, info: GraphCall, *, what: str, prefer: Iterable[str] = ()
    ) -> dict[str, Any]:
        response = await self._send(mailbox, info, what=what, prefer=prefer)
        if not response.content:
            return {}
        try:
            data = json.loads(response.content)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested beyond the decoder's stack
            raise PermanentError(f"{what}: response is not JSON", service=SERVICE) from exc
        if not isinstance(data, dict):
            raise PermanentError(f"{what}: response is not a JSON object", service=SERVICE)
        return data

    async def _collect(
        self, mailbox: str, info: GraphCall, *, what: str, prefer: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """All items of a collection, following @odata.nextLink verbatim."""
        items: list[dict[str, Any]] = []
        while True:
            page = await self._json(mailbox, info, what=what, prefer=prefer)
            items.extend(v for v in page.get("value") or () if isinstance(v, dict))
            next_link = page.get("@odata.nextLink")
            if not isinstance(next_link, str) or not next_link:
                return items
            info = self._info_url(Method.GET, next_link)

    # -- reading ---------------------------------------------------------------------------------

    async def read_delta(
        self,
        mailbox: str,
        folder: str,
        delta_link: str | None,
        *,
        select: Sequence[str] = DEFAULT_DELTA_SELECT,
        page_size: int = 50,
    ) -> DeltaRound:
        """See the port. ``folder`` may be a well-known name, a folder id or a path such as
        ``"Inbox/Sikker mail"``: Graph takes only the first two in a URL (anything else answers 400
        ErrorInvalidIdMalformed), so a path is resolved to its id by listing child folders, remembered in
        the returned delta state (``folder=<id> <deltaLink>``), and resolved again when the id answers 404
        (folder deleted or recreated) and every ``folder_recheck_rounds`` rounds (renamed: the path now
        names another folder or none). A path that names no folder raises ``NotFoundError`` saying so."""
        if _direct_folder(folder):
            return await self._read_delta_at(mailbox, folder, delta_link, select, page_size)
        stored_id, link = _unwrap_state(delta_link)
        folder_id = await self._polled_folder_id(mailbox, folder)
        replaced = stored_id is not None and stored_id != folder_id
        if replaced:
            log.warning(
                "graph folder path now names another folder, full resync",
                extra={"mailbox": mailbox, "folder": folder},
            )
            link = None
        try:
            round_ = await self._read_delta_at(mailbox, folder_id, link, select, page_size)
        except NotFoundError:
            # The id is gone (the folder was deleted, perhaps recreated under the same path): resolve again.
            self._forget_folder(mailbox, folder)
            folder_id = await self._polled_folder_id(mailbox, folder)
            round_ = await self._read_delta_at(mailbox, folder_id, None, select, page_size)
            replaced = True
        round_.resynced = round_.resynced or replaced
        round_.delta_link = f"{_FOLDER_STATE}{folder_id} {round_.delta_link}"
        return round_

    async def _polled_folder_id(self, mailbox: str, path: str) -> str:
        key = (mailbox.casefold(), _path_key(path))
        left = self._folder_rounds.get(key, 0)
        if left <= 0:
            self._folders.pop(key, None)
        folder_id = await self._walk_folders(mailbox, path, create=False)
        if folder_id is None:
            self._folder_rounds.pop(key, None)
            raise NotFoundError(
                f"folder {path!r} does not exist in mailbox {mailbox} (renamed or deleted?): create it, fix "
                "the gateway file, or run `graph-dpg doctor --fix`",
                service=SERVICE,
                status=404,
                code="FolderNotFound",
            )
        self._folder_rounds[key] = (left - 1) if left > 0 else self.folder_recheck_rounds
        return folder_id

    def _forget_folder(self, mailbox: str, path: str) -> None:
        key = (mailbox.casefold(), _path_key(path))
        self._folders.pop(key, None)
        self._folder_rounds.pop(key, None)

    async def _read_delta_at(
        self,
        mailbox: str,
        folder: str,
        delta_link: str | None,
        select: Sequence[str],
        page_size: int,
    ) -> DeltaRound:
        try:
            return await self._delta_round(mailbox, folder, delta_link, select, page_size)
        except SyncStateExpiredError:
            if delta_link is None:
                raise
            # delta-query-overview: 410 Gone / syncStateNotFound → start over with a full sync.
            log.warning(
                "graph delta token expired, full resync", extra={"mailbox": mailbox, "folder": folder}
            )
            round_ = await self._delta_round(mailbox, folder, None, select, page_size)
            round_.resynced = True
            return round_

    async def _delta_round(
        self,
        mailbox: str,
        folder: str,
        delta_link: str | None,
        select: Sequence[str],
        page_size: int,
    ) -> DeltaRound:
        if delta_link:
            info = self._info_url(Method.GET, delta_link)
        else:
            info = self._delta_request(mailbox, folder, select)
        prefer = (f"odata.maxpagesize={int(page_size)}",)
        result = DeltaRound()
        what = f"delta {mailbox}/{folder}"
        while True:
            page = await self._json(mailbox, info, what=what, prefer=prefer)
            for item in page.get("value") or ():
                if not isinstance(item, dict):
                    continue
                if "@removed" in item:
                    if item.get("id"):
                        result.removed_ids.append(str(item["id"]))
                    continue
                result.messages.append(message_from_json(item, mailbox))
            next_link = page.get("@odata.nextLink")
            if isinstance(next_link, str) and next_link:
                info = self._info_url(Method.GET, next_link)
                continue
            final = page.get("@odata.deltaLink")
            if isinstance(final, str) and final:
                result.delta_link = final
                return result
            raise PermanentError(f"{what}: page has neither nextLink nor deltaLink", service=SERVICE)

    def _delta_request(self, mailbox: str, folder: str, select: Sequence[str]) -> GraphCall:
        """The initial delta request of a folder, with the gateway's query options (in the order of the
        SDK's template: ``$select`` before ``changeType``)."""
        builder = self._user(mailbox).mail_folders.by_mail_folder_id(folder).messages.delta
        query: dict[str, str | int | Sequence[str]] = {"$select": list(select), "changeType": "created"}
        return self._info(Method.GET, builder, query=query)

    async def get_message(self, mailbox: str, message_id: str) -> MailMessage:
        item = self._user(mailbox).messages.by_message_id(message_id)
        what = f"get message {mailbox}"
        data = await self._json(
            mailbox,
            self._info(Method.GET, item, query={"$select": FULL_SELECT, "$expand": FULL_EXPAND}),
            what=what,
        )
        if is_event_message(data):
            # A meeting request/update/cancellation: its meeting fields (startDateTime, location, ...)
            # belong to the derived type, so read the whole item with its event (attendees, iCalUId)
            # as eventmessage-get.md example 2 does, and keep the message-class property read above.
            event = await self._json(
                mailbox,
                self._info(Method.GET, item, query={"$expand": f"{EVENT_EXPAND},{FULL_EXPAND}"}),
                what=f"get meeting {mailbox}",
            )
            data = {**data, **event}
        message = message_from_json(data, mailbox)
        # hasAttachments ignores inline attachments; Graph's message resource says to look for cid:
        # references in the body instead (learn.microsoft.com/graph/api/resources/message, hasAttachments).
        if not message.has_attachments and not _CID_REFERENCE.search(message.body):
            return message
        metas = await self._collect(
            mailbox,
            self._info(Method.GET, item.attachments, query={"$select": ATTACHMENT_META_SELECT}),
            what=f"list attachments {mailbox}",
        )
        message.attachments = list(
            await asyncio.gather(*(self._attachment(mailbox, message_id, meta) for meta in metas))
        )
        return message

    async def list_inbox_rules(self, mailbox: str) -> list[InboxRule]:
        """``GET /users/{id}/mailFolders/inbox/messageRules`` (api-reference/v1.0/api/
        mailfolder-list-messagerules.md; application permission MailboxSettings.Read)."""
        rules = self._user(mailbox).mail_folders.by_mail_folder_id("inbox").message_rules
        items = await self._collect(
            mailbox, self._info(Method.GET, rules), what=f"list inbox rules {mailbox}"
        )
        return [inbox_rule_from_json(item) for item in items]

    async def get_categories(self, mailbox: str, message_id: str) -> list[str]:
        item = self._user(mailbox).messages.by_message_id(message_id)
        data = await self._json(
            mailbox,
            self._info(Method.GET, item, query={"$select": "categories"}),
            what=f"get categories {mailbox}",
        )
        return [str(c) for c in data.get("categories") or []]

    async def _attachment(self, mailbox: str, message_id: str, meta: Mapping[str, Any]) -> Attachment:
        att = attachment_from_json(meta)
        if att.content is not None or not att.id:
            return att  # content already embedded (server ignored $select) or nothing to fetch
        kind = str(meta.get("@odata.type") or "")
        builder = self._user(mailbox).messages.by_message_id(message_id).attachments.by_attachment_id(att.id)
        what = f"get attachment {mailbox}"
        if kind == REFERENCE_ATTACHMENT:
            return att  # a link to cloud storage: there is no content in the mailbox
        if kind == ITEM_ATTACHMENT or (att.size > self.large_attachment_threshold and not att.is_inline):
            # Raw bytes (MIME for an attached item): no 4/3 base64 inflation nor a JSON string in memory.
            raw = await self._send(mailbox, self._info(Method.GET, builder, "/%24value"), what=what)
            content = raw.content
            name, ctype = att.name, att.content_type
            if kind == ITEM_ATTACHMENT:
                ctype = "message/rfc822"
                if not name.lower().endswith(".eml"):
                    name = f"{name or 'message'}.eml"
            return Attachment(
                name=name,
                content_type=ctype,
                content=content,
                size=len(content),
                is_inline=att.is_inline,
                content_id=att.content_id,
                id=att.id,
            )
        # Small (or inline: contentId only comes with the JSON form): one JSON request with contentBytes.
        data = await self._json(mailbox, self._info(Method.GET, builder), what=what)
        return attachment_from_json(data)

    async def get_mime(self, mailbox: str, message_id: str) -> bytes:
        builder = self._user(mailbox).messages.by_message_id(message_id).content
        response = await self._send(mailbox, self._info(Method.GET, builder), what=f"get MIME {mailbox}")
        return response.content

    # -- writing ---------------------------------------------------------------------------------

    @staticmethod
    def _split_attachments(
        message: MailMessage, base: Mapping[str, Any]
    ) -> tuple[list[Attachment], list[Attachment]]:
        """Attachments that fit into the create/send request, and those to add afterwards."""
        budget = MAX_REQUEST_BYTES - len(json.dumps(base, ensure_ascii=False).encode("utf-8"))
        embedded: list[Attachment] = []
        later: list[Attachment] = []
        for att in message.attachments:
            cost = encoded_size(att)
            if att.length < MAX_JSON_ATTACHMENT and cost <= budget:
                embedded.append(att)
                budget -= cost
            else:
                later.append(att)
        return embedded, later

    async def create_message(
        self,
        mailbox: str,
        folder: str,
        message: MailMessage,
        *,
        received: bool = True,
        extended_properties: Mapping[str, str] = {},
    ) -> str:
        """See the port. The POST that creates the item is not idempotent: on AmbiguousOutcomeError look
        the message up (``find_by_extended_property`` with a marker passed here) before creating it again."""
        body = message_to_json(message)
        props = [{"id": property_id(k), "value": v} for k, v in extended_properties.items()]
        if received:
            now = datetime.now(UTC)
            delivered = message.received_at or now
            submitted = message.sent_at or delivered
            props += [
                # PidTagMessageFlags without mfUnsent: a received item, not a draft; mfRead (1) if read.
                {"id": MESSAGE_FLAGS, "value": "1" if message.is_read else "0"},
                {"id": DELIVERY_TIME, "value": format_datetime(delivered)},
                {"id": SUBMIT_TIME, "value": format_datetime(submitted)},
            ]
        if message.internet_message_id:
            # PidTagInternetMessageId too: the internetMessageId property is documented as writable on drafts
            # only, and delivered memos must keep theirs (replies name it in In-Reply-To).
            props.append({"id": INTERNET_MESSAGE_ID, "value": message.internet_message_id})
        for header in message.headers:
            # In-Reply-To / References (an updated receipt names the first one's Message-ID): as their MAPI
            # properties, the only way a created item carries them.
            threading = THREADING_PROPERTIES.get(header.name.lower())
            if threading is not None and header.value:
                props.append({"id": threading, "value": header.value})
        if props:
            body["singleValueExtendedProperties"] = props
        embedded, later = self._split_attachments(message, body)
        if embedded:
            body["attachments"] = [attachment_to_json(a) for a in embedded]
        builder = self._user(mailbox).mail_folders.by_mail_folder_id(folder).messages
        created = await self._json(
            mailbox, self._info(Method.POST, builder, body=body), what=f"create message {mailbox}/{folder}"
        )
        message_id = str(created.get("id") or "")
        if not message_id:
            raise PermanentError("create message: response carries no id", service=SERVICE)
        await self._attach_or_discard(mailbox, message_id, later)
        return message_id

    async def _attach_or_discard(self, mailbox: str, message_id: str, attachments: list[Attachment]) -> None:
        """Add the remaining attachments; if that fails, delete the incomplete message so a retry of the
        whole operation does not leave a half-filled twin behind."""
        try:
            for att in attachments:
                await self.add_attachment(mailbox, message_id, att)
        except BaseException:
            try:
                await self.delete_message(mailbox, message_id)
            except RemoteError as cleanup:
                log.warning(
                    "could not delete incomplete message", extra={"mailbox": mailbox, "error": str(cleanup)}
                )
            raise

    async def delete_message(self, mailbox: str, message_id: str) -> None:
        """Delete a message (moves it to Recoverable Items, as Graph's DELETE does)."""
        builder = self._user(mailbox).messages.by_message_id(message_id)
        await self._send(mailbox, self._info(Method.DELETE, builder), what=f"delete message {mailbox}")

    async def send_mail(self, mailbox: str, message: MailMessage, *, save_to_sent_items: bool = True) -> None:
        body = message_to_json(message)
        embedded, later = self._split_attachments(message, {"message": body})
        if embedded:
            body["attachments"] = [attachment_to_json(a) for a in embedded]
        user = self._user(mailbox)
        what = f"send mail {mailbox}"
        if not later:
            payload = {"message": body, "saveToSentItems": save_to_sent_items}
            await self._send(mailbox, self._info(Method.POST, user.send_mail, body=payload), what=what)
            return
        # Too big for one request: draft, attachments through upload sessions, then send the draft.
        if not save_to_sent_items:
            body["singleValueExtendedProperties"] = [{"id": DELETE_AFTER_SUBMIT, "value": "true"}]
        draft = await self._json(mailbox, self._info(Method.POST, user.messages, body=body), what=what)
        draft_id = str(draft.get("id") or "")
        if not draft_id:
            raise PermanentError(f"{what}: draft carries no id", service=SERVICE)
        await self._attach_or_discard(mailbox, draft_id, later)
        send = user.messages.by_message_id(draft_id).send
        await self._send(mailbox, self._info(Method.POST, send), what=what)

    async def send_mime(self, mailbox: str, mime: bytes) -> None:
        """``POST sendMail`` with the MIME base64-encoded as a text/plain body: the only way to send S/MIME
        (concepts/outlook-send-mime-message.md; user-sendmail.md "Request body", MIME format)."""
        builder = self._user(mailbox).send_mail
        info = self._info(Method.POST, builder, content=base64.b64encode(mime), content_type="text/plain")
        await self._send(mailbox, info, what=f"send MIME {mailbox}")

    async def create_mime_message(self, mailbox: str, folder_id: str, mime: bytes) -> str:
        """``POST mailFolders/{id}/messages`` with the MIME base64-encoded as a text/plain body: a draft
        made from MIME (concepts/outlook-send-mime-message.md, "Create a message draft"). Its id."""
        builder = self._user(mailbox).mail_folders.by_mail_folder_id(folder_id).messages
        info = self._info(Method.POST, builder, content=base64.b64encode(mime), content_type="text/plain")
        data = await self._json(mailbox, info, what=f"create MIME message {mailbox}")
        message_id = str(data.get("id") or "")
        if not message_id:
            raise PermanentError(f"create MIME message {mailbox}: no id in the answer", service=SERVICE)
        return message_id

    async def add_attachment(self, mailbox: str, message_id: str, attachment: Attachment) -> str:
        """Attach a file to an existing message (JSON below 3 MB, else an upload session). Returns its id."""
        attachments = self._user(mailbox).messages.by_message_id(message_id).attachments
        what = f"add attachment {mailbox}"
        if attachment.length < MAX_JSON_ATTACHMENT:
            data = await self._json(
                mailbox, self._info(Method.POST, attachments, body=attachment_to_json(attachment)), what=what
            )
            return str(data.get("id") or "")
        return (await self.upload_attachment(mailbox, message_id, attachment)).id

    async def upload_attachment(
        self, mailbox: str, message_id: str, attachment: Attachment
    ) -> UploadedAttachment:
        """Attach a file through an upload session (any size up to 150 MB; Graph wants it for 3 MB and
        more). Returns the attachment id read from the final ``Location`` header, and the header."""
        what = f"add attachment {mailbox}"
        content = attachment.content or b""
        item: dict[str, Any] = {
            "attachmentType": "file",
            "name": attachment.name,
            "size": len(content),
            "contentType": attachment.content_type,
            "isInline": attachment.is_inline,
        }
        if attachment.content_id:
            item["contentId"] = attachment.content_id
        upload_url = await self._open_upload_session(mailbox, message_id, item)
        total = len(content)
        location = ""
        for start in range(0, total, self.upload_chunk_size):
            chunk = content[start : start + self.upload_chunk_size]
            end = start + len(chunk) - 1
            response = await self._put_chunk(mailbox, upload_url, chunk, f"bytes {start}-{end}/{total}", what)
            location = response.headers.get("location", location)
        return UploadedAttachment(attachment_id_from_location(location), location)

    async def _put_chunk(
        self, mailbox: str, url: str, chunk: bytes, content_range: str, what: str
    ) -> httpx.Response:
        """One ranged PUT to a pre-authenticated upload URL.

        Sent on the plain httpx client, not through the sender (sender.py): Graph says not to send an
        Authorization header to the upload URL (concepts/outlook-large-attachments.md), which may be on
        another host. The sender, like kiota's RetryHandler, never retries octet-stream bodies; the chunk
        is in memory, so transient failures are retried here, honouring Retry-After.
        """
        what = f"{what} (chunk {content_range})"
        attempt = 0
        while True:
            request = self._http.build_request(
                "PUT",
                url,
                content=chunk,
                headers={"Content-Type": "application/octet-stream", "Content-Range": content_range},
            )
            try:
                async with self._slot(mailbox):
                    self.requests[mailbox] += 1
                    try:
                        response = await self._http.send(request)
                    except httpx.TransportError as exc:
                        raise error_for_transport(exc, "PUT", what=what) from exc
                if response.status_code >= 400:
                    if response.status_code == 429:
                        self.throttled[mailbox] += 1
                    raise error_for_response(response, what=what)
                return response
            except TransientError as exc:
                attempt += 1
                if attempt > self._retry.max_retries:
                    raise
                delay = exc.retry_after
                if delay is None:
                    delay = self._retry.base_delay + self._retry.backoff_factor * 2 ** (attempt - 1)
                await asyncio.sleep(delay)

    async def set_categories(self, mailbox: str, message_id: str, categories: Sequence[str]) -> None:
        # PATCH replaces the whole list (message-update): callers pass the complete set.
        builder = self._user(mailbox).messages.by_message_id(message_id)
        body = {"categories": list(dict.fromkeys(categories))}
        await self._send(
            mailbox, self._info(Method.PATCH, builder, body=body), what=f"set categories {mailbox}"
        )

    async def get_master_categories(self, mailbox: str) -> dict[str, str]:
        builder = self._user(mailbox).outlook.master_categories
        items = await self._collect(
            mailbox, self._info(Method.GET, builder), what=f"master categories {mailbox}"
        )
        return {str(c.get("displayName") or ""): str(c.get("color") or "none") for c in items}

    async def ensure_master_categories(self, mailbox: str, wanted: Mapping[str, str]) -> list[str]:
        builder = self._user(mailbox).outlook.master_categories
        what = f"master categories {mailbox}"
        existing = await self._collect(mailbox, self._info(Method.GET, builder), what=what)
        by_name = {str(c.get("displayName", "")).casefold(): c for c in existing}
        created: list[str] = []
        for name, color in wanted.items():
            current = by_name.get(name.casefold())
            if current is None:
                try:
                    await self._send(
                        mailbox,
                        self._info(Method.POST, builder, body={"displayName": name, "color": color}),
                        what=what,
                    )
                except PermanentError as exc:
                    if exc.status != 409:  # created meanwhile by another replica: fine
                        raise
                    continue
                created.append(name)
            elif current.get("color") != color and current.get("id"):
                # displayName cannot change, colour can (outlookcategory-update).
                item = builder.by_outlook_category_id(str(current["id"]))
                await self._send(mailbox, self._info(Method.PATCH, item, body={"color": color}), what=what)
        return created

    async def set_extended_property(self, mailbox: str, message_id: str, name: str, value: str) -> None:
        builder = self._user(mailbox).messages.by_message_id(message_id)
        body = {"singleValueExtendedProperties": [{"id": property_id(name), "value": value}]}
        await self._send(
            mailbox, self._info(Method.PATCH, builder, body=body), what=f"set property {name} {mailbox}"
        )

    async def _find(self, mailbox: str, folder: str, odata_filter: str, what: str) -> list[str]:
        builder = self._user(mailbox).mail_folders.by_mail_folder_id(folder).messages
        query: dict[str, str | int | Sequence[str]] = {"$filter": odata_filter, "$select": "id", "$top": 100}
        items = await self._collect(mailbox, self._info(Method.GET, builder, query=query), what=what)
        return [str(i["id"]) for i in items if i.get("id")]

    async def find_by_extended_property(self, mailbox: str, folder: str, name: str, value: str) -> list[str]:
        # extended-properties-overview.md: $filter=singleValueExtendedProperties/Any(ep: ep/id eq … and …)
        odata_filter = (
            f"singleValueExtendedProperties/Any(ep: ep/id eq {odata_quote(property_id(name))}"
            f" and ep/value eq {odata_quote(value)})"
        )
        return await self._find(mailbox, folder, odata_filter, f"find by property {name} {mailbox}/{folder}")

    async def find_by_internet_message_id(
        self, mailbox: str, folder: str, internet_message_id: str
    ) -> list[str]:
        odata_filter = f"internetMessageId eq {odata_quote(internet_message_id)}"
        return await self._find(
            mailbox, folder, odata_filter, f"find by internetMessageId {mailbox}/{folder}"
        )

    async def move(self, mailbox: str, message_id: str, destination_folder: str) -> str:
        builder = self._user(mailbox).messages.by_message_id(message_id).move
        data = await self._json(
            mailbox,
            self._info(Method.POST, builder, body={"destinationId": destination_folder}),
            what=f"move message {mailbox}",
        )
        return str(data.get("id") or message_id)

    async def ensure_folder(self, mailbox: str, path: str) -> str:
        if "/" not in path and _FOLDER_ID.match(path) and path.casefold() not in WELL_KNOWN_FOLDERS:
            return path  # already a folder id (an inbox rule's moveToFolder names one)
        folder_id = await self._walk_folders(mailbox, path, create=True)
        assert folder_id is not None
        return folder_id

    async def find_folder(self, mailbox: str, path: str) -> str | None:
        """The folder id of ``path`` or None, creating nothing (for ``graph-dpg doctor``)."""
        return await self._walk_folders(mailbox, path, create=False)

    async def _walk_folders(self, mailbox: str, path: str, *, create: bool) -> str | None:
        """Resolve ``"Inbox/Digital Post"``: a well-known name or top-level folder, then child folders by
        display name. Resolved paths are cached (folder ids never change, concepts/outlook-immutable-id)."""
        parts = [p.strip() for p in path.strip("/").split("/") if p.strip()]
        if not parts:
            raise ValueError("empty folder path")
        key = (mailbox.casefold(), _path_key(path))
        if key in self._folders:
            return self._folders[key]
        folders = self._user(mailbox).mail_folders
        what = f"folder {path!r} in {mailbox}"
        first = parts[0]
        parent_id: str | None
        if first.casefold() in WELL_KNOWN_FOLDERS:
            data = await self._json(
                mailbox,
                self._info(Method.GET, folders.by_mail_folder_id(first.casefold()), query={"$select": "id"}),
                what=what,
            )
            parent_id = str(data["id"])
        else:
            parent_id = await self._child_folder(mailbox, folders, first, what, create=create)
        for part in parts[1:]:
            if parent_id is None:
                return None
            parent_id = await self._child_folder(
                mailbox, folders.by_mail_folder_id(parent_id).child_folders, part, what, create=create
            )
        if parent_id is not None:
            self._folders[key] = parent_id
        return parent_id

    async def _child_folder(
        self, mailbox: str, collection: Any, name: str, what: str, *, create: bool = True
    ) -> str | None:
        """The id of the child folder ``name`` in ``collection`` (top-level or childFolders), created if
        missing and ``create``. Listed and matched here: Exchange folder names compare case-insensitively."""

        async def lookup() -> str | None:
            query: dict[str, str | int | Sequence[str]] = {"$select": ("id", "displayName"), "$top": 100}
            items = await self._collect(mailbox, self._info(Method.GET, collection, query=query), what=what)
            for item in items:
                if str(item.get("displayName", "")).casefold() == name.casefold() and item.get("id"):
                    return str(item["id"])
            return None

        found = await lookup()
        if found or not create:
            return found
        try:
            data = await self._json(
                mailbox, self._info(Method.POST, collection, body={"displayName": name}), what=what
            )
        except PermanentError as exc:
            if exc.status != 409:  # ErrorFolderExists: created concurrently
                raise
            found = await lookup()
            if found:
                return found
            raise
        return str(data["id"])

    # -- change-notification subscriptions (ports.subscriptions) ----------------------------------

    async def create_subscription(
        self,
        mailbox: str,
        folder: str,
        *,
        notification_url: str,
        lifecycle_url: str,
        client_state: str,
        expires_at: datetime,
    ) -> CreatedSubscription:
        """POST /subscriptions for messages in ``folder`` (a path is resolved to its id first). Sent with
        ``Prefer: IdType="ImmutableId"`` like every request, so notifications name immutable ids
        (concepts/outlook-immutable-id.md). Graph validates both URLs before it answers (handshake)."""
        folder_id = folder if _direct_folder(folder) else await self._polled_folder_id(mailbox, folder)
        body = {
            # Only new items: a mail sent (or moved) into the folder. Not "updated": the gateway's own
            # category writes on the folder's messages would wake their folder again.
            "changeType": "created",
            "notificationUrl": notification_url,
            "lifecycleNotificationUrl": lifecycle_url,
            "resource": f"users/{mailbox}/mailFolders({odata_quote(folder_id)})/messages",
            "expirationDateTime": format_datetime(expires_at),
            "clientState": client_state,
        }
        what = f"create subscription {mailbox}"
        data = await self._json(
            mailbox, self._info(Method.POST, self.client.subscriptions, body=body), what=what
        )
        return CreatedSubscription(str(data.get("id") or ""), _parse_expiry(data, expires_at, what))

    async def renew_subscription(self, mailbox: str, subscription_id: str, expires_at: datetime) -> datetime:
        builder = self.client.subscriptions.by_subscription_id(subscription_id)
        body = {"expirationDateTime": format_datetime(expires_at)}
        what = f"renew subscription {mailbox}"
        data = await self._json(mailbox, self._info(Method.PATCH, builder, body=body), what=what)
        return _parse_expiry(data, expires_at, what)

    async def delete_subscription(self, mailbox: str, subscription_id: str) -> None:
        builder = self.client.subscriptions.by_subscription_id(subscription_id)
        with contextlib.suppress(NotFoundError):
            await self._send(
                mailbox, self._info(Method.DELETE, builder), what=f"delete subscription {mailbox}"
            )

    async def token_roles(self) -> list[str]:
        """The app roles (``roles`` claim) of the access token the credential issues for Graph, e.g.
        ``["Mail.ReadWrite", "Mail.Send", "MailboxSettings.ReadWrite"]``; [] for a non-JWT token (sandbox).
        The payload is only read, not verified: Graph verifies it; this is for ``graph-dpg doctor``."""
        try:
            token = await self._credential.get_token(*self._scopes)
        except ClientAuthenticationError as exc:
            raise AuthError(f"cannot obtain a Graph token: {exc}", service=SERVICE) from exc
        except ServiceRequestError as exc:
            raise TransientError(f"token endpoint unreachable: {exc}", service=SERVICE) from exc
        parts = token.token.split(".")
        if len(parts) != 3:
            return []
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError:
            return []
        roles = claims.get("roles") if isinstance(claims, dict) else None
        return [str(r) for r in roles] if isinstance(roles, list) else []

    async def check_mailbox(self, mailbox: str) -> None:
        builder = self._user(mailbox).mail_folders.by_mail_folder_id("inbox")
        info = self._info(Method.GET, builder, query={"$select": "id"})
        await self._send(mailbox, info, what=f"check mailbox {mailbox}")

    # -- for graph-dpg doctor --probe (graph_dpg/diagnostics/probe.py) -------------------------------

    async def create_folder(self, mailbox: str, name: str) -> str:
        """Create a top-level folder ``name`` (under msgfolderroot); its id. 409 if it exists already."""
        folders = self._user(mailbox).mail_folders
        data = await self._json(
            mailbox,
            self._info(Method.POST, folders, body={"displayName": name}),
            what=f"create folder {name!r} in {mailbox}",
        )
        return str(data["id"])

    async def permanently_delete_folder(self, mailbox: str, folder_id: str) -> None:
        """Remove a folder and its items from the mailbox for good: not to Deleted Items, not to Recoverable
        Items (api-reference/v1.0/api/mailfolder-permanentdelete.md)."""
        builder = self._user(mailbox).mail_folders.by_mail_folder_id(folder_id).permanent_delete
        await self._send(mailbox, self._info(Method.POST, builder), what=f"delete folder {mailbox}")
        self._folders = {k: v for k, v in self._folders.items() if v != folder_id}

    async def read_message_fields(
        self, mailbox: str, message_id: str, select: Sequence[str], extended: Sequence[str] = ()
    ) -> dict[str, Any]:
        """The message's JSON as Graph gives it: ``select``ed properties, plus the single-value extended
        properties whose full Graph ids are in ``extended``, e.g. ``"String 0x1035"``
        (``$expand=singleValueExtendedProperties($filter=id eq …)``)."""
        query: dict[str, str | int | Sequence[str]] = {"$select": tuple(select)}
        if extended:
            clauses = " or ".join(f"id eq {odata_quote(x)}" for x in extended)
            query["$expand"] = f"singleValueExtendedProperties($filter={clauses})"
        builder = self._user(mailbox).messages.by_message_id(message_id)
        return await self._json(
            mailbox, self._info(Method.GET, builder, query=query), what=f"read message {mailbox}"
        )

    async def get_folder_raw(self, mailbox: str, folder: str) -> dict[str, Any]:
        """``GET mailFolders/{folder}`` with ``folder`` put in the URL as given (a name, too): the folder's
        JSON, or the error Graph answers."""
        builder = self._user(mailbox).mail_folders.by_mail_folder_id(folder)
        info = self._info(Method.GET, builder, query={"$select": "id,displayName"})
        return await self._json(mailbox, info, what=f"get folder {folder!r} in {mailbox}")

    async def create_upload_session(self, mailbox: str, message_id: str, name: str, size: int) -> str:
        """``createUploadSession`` for a file of ``size`` bytes; the session's ``uploadUrl``."""
        return await self._open_upload_session(
            mailbox, message_id, {"attachmentType": "file", "name": name, "size": size}
        )

    async def _open_upload_session(self, mailbox: str, message_id: str, item: dict[str, Any]) -> str:
        """POST ``createUploadSession`` with the ``AttachmentItem``; the session's ``uploadUrl``."""
        attachments = self._user(mailbox).messages.by_message_id(message_id).attachments
        what = f"add attachment {mailbox}"
        session = await self._json(
            mailbox,
            self._info(Method.POST, attachments.create_upload_session, body={"AttachmentItem": item}),
            what=f"{what} (upload session)",
        )
        upload_url = session.get("uploadUrl")
        if not isinstance(upload_url, str) or not upload_url:
            raise PermanentError(f"{what}: upload session without uploadUrl", service=SERVICE)
        return upload_url

    async def cancel_upload_session(self, mailbox: str, upload_url: str) -> None:
        """DELETE the pre-authenticated upload URL, without an Authorization header: 204
        (concepts/outlook-large-attachments.md, "Alternative: Cancel the upload session")."""
        what = f"cancel upload session {mailbox}"
        request = self._http.build_request("DELETE", upload_url)
        async with self._slot(mailbox):
            self.requests[mailbox] += 1
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                raise error_for_transport(exc, "DELETE", what=what) from exc
        if response.status_code >= 400:
            raise error_for_response(response, what=what)

    async def list_attachment_metas(self, mailbox: str, message_id: str) -> list[dict[str, Any]]:
        builder = self._user(mailbox).messages.by_message_id(message_id).attachments
        return await self._collect(
            mailbox,
            self._info(Method.GET, builder, query={"$select": ATTACHMENT_META_SELECT}),
            what=f"list attachments {mailbox}",
        )

    async def create_master_category(self, mailbox: str, name: str, color: str = "none") -> str:
        """POST one master category; its id. Errors are raised as they come (no 409 tolerance here)."""
        builder = self._user(mailbox).outlook.master_categories
        data = await self._json(
            mailbox,
            self._info(Method.POST, builder, body={"displayName": name, "color": color}),
            what=f"create category {mailbox}",
        )
        return str(data.get("id") or "")

    async def master_category_ids(self, mailbox: str, name: str) -> list[str]:
        """The ids of the master categories called ``name`` (case-insensitive)."""
        builder = self._user(mailbox).outlook.master_categories
        items = await self._collect(mailbox, self._info(Method.GET, builder), what=f"categories {mailbox}")
        return [
            str(c["id"])
            for c in items
            if str(c.get("displayName", "")).casefold() == name.casefold() and c.get("id")
        ]

    async def delete_master_category(self, mailbox: str, category_id: str) -> None:
        builder = self._user(mailbox).outlook.master_categories.by_outlook_category_id(category_id)
        await self._send(mailbox, self._info(Method.DELETE, builder), what=f"delete category {mailbox}")

    async def delta_first_page(
        self, mailbox: str, folder: str, *, select: Sequence[str] = DEFAULT_DELTA_SELECT, page_size: int = 50
    ) -> dict[str, Any]:
        """Only the first page of the initial delta request the gateway makes for ``folder`` (same query
        options), as Graph gives it. A folder path is resolved to its id first, as ``read_delta`` does."""
        folder_id = folder if _direct_folder(folder) else await self._polled_folder_id(mailbox, folder)
        info = self._delta_request(mailbox, folder_id, select)
        prefer = (f"odata.maxpagesize={int(page_size)}",)
        return await self._json(mailbox, info, what=f"delta {mailbox}/{folder}", prefer=prefer)

    async def contact_certificates(
        self, mailbox: str, address: str, *, limit: int = 10
    ) -> list[tuple[str, list[str], list[bytes]]]:
        """The contacts of ``mailbox`` with ``address`` (at most ``limit``): display name, e-mail addresses
        and the values of PidTagUserX509Certificate (``BinaryArray 0x3A70``), where Outlook keeps a
        contact's S/MIME certificates (docs/facts/smime.md). Found with ``$filter=emailAddresses/any(a:
        a/address eq '...')`` (user-list-contacts.md), then each read with ``$expand=
        multiValueExtendedProperties($filter=id eq 'BinaryArray 0x3A70')`` as the docs show it for one
        contact (multivaluelegacyextendedproperty-get.md). Needs Contacts.Read."""
        builder = self._user(mailbox).contacts
        what = f"contacts {mailbox}"
        query: dict[str, str | int | Sequence[str]] = {
            "$filter": f"emailAddresses/any(a:a/address eq {odata_quote(address)})",
            "$select": "id",
            "$top": limit,
        }
        page = await self._json(mailbox, self._info(Method.GET, builder, query=query), what=what)
        ids = [str(c["id"]) for c in page.get("value") or () if isinstance(c, dict) and c.get("id")]
        found: list[tuple[str, list[str], list[bytes]]] = []
        for contact_id in ids[:limit]:
            item = builder.by_contact_id(contact_id)
            expand = f"multiValueExtendedProperties($filter=id eq {odata_quote(CONTACT_CERTIFICATES)})"
            one = {"$select": "id,displayName,emailAddresses", "$expand": expand}
            data = await self._json(mailbox, self._info(Method.GET, item, query=one), what=what)
            emails = [
                str(e.get("address") or "") for e in data.get("emailAddresses") or () if isinstance(e, dict)
            ]
            values: list[bytes] = []
            for prop in data.get("multiValueExtendedProperties") or ():
                if (
                    not isinstance(prop, dict)
                    or str(prop.get("id", "")).lower() != CONTACT_CERTIFICATES.lower()
                ):
                    continue
                for value in prop.get("value") or ():
                    try:
                        values.append(base64.b64decode(str(value), validate=True))
                    except (ValueError, binascii.Error):
                        continue
            found.append((str(data.get("displayName") or ""), emails, values))
        return found

    async def probe_contacts_read(self, mailbox: str) -> None:
        """A call that needs Contacts.Read and changes nothing: ``GET contacts?$top=1``
        (user-list-contacts.md). For ``graph-dpg doctor``; raises AuthError (403) without the permission."""
        builder = self._user(mailbox).contacts
        query: dict[str, str | int | Sequence[str]] = {"$top": 1, "$select": "id"}
        await self._json(
            mailbox, self._info(Method.GET, builder, query=query), what=f"probe contacts {mailbox}"
        )

    async def probe_mail_write(self, mailbox: str) -> None:
        """A call that needs Mail.ReadWrite and changes nothing: ``PATCH`` the Inbox with an empty body
        (api-reference/v1.0/api/mailfolder-update.md: Mail.ReadWrite). For ``graph-dpg doctor``; raises
        AuthError (403) when the app lacks the permission on this mailbox."""
        builder = self._user(mailbox).mail_folders.by_mail_folder_id("inbox")
        await self._send(mailbox, self._info(Method.PATCH, builder, body={}), what=f"probe {mailbox}")

    async def probe_categories_write(self, mailbox: str) -> bool:
        """A call that needs MailboxSettings.ReadWrite and changes nothing: ``PATCH`` one master category
        with its own colour (outlookcategory-update.md). False when the list is empty: then only the read
        (MailboxSettings.Read, outlookuser-list-mastercategories.md) was checked."""
        builder = self._user(mailbox).outlook.master_categories
        what = f"probe categories {mailbox}"
        items = await self._collect(mailbox, self._info(Method.GET, builder), what=what)
        item = next((c for c in items if c.get("id") and c.get("color")), None)
        if item is None:
            return False
        target = builder.by_outlook_category_id(str(item["id"]))
        body = {"color": str(item["color"])}
        await self._send(mailbox, self._info(Method.PATCH, target, body=body), what=what)
        return True


def _path_key(path: str) -> str:
    return "/".join(p.strip().casefold() for p in path.strip("/").split("/") if p.strip())


def _direct_folder(folder: str) -> bool:
    """A well-known name or a folder id: usable in a Graph URL as it is (resources/mailfolder.md)."""
    return folder.casefold() in WELL_KNOWN_FOLDERS or bool(_FOLDER_ID.match(folder))


def _unwrap_state(state: str | None) -> tuple[str | None, str | None]:
    """(folder id, deltaLink) from a stored delta state; a bare link (older state) has no folder id."""
    if not state:
        return None, None
    if state.startswith(_FOLDER_STATE):
        folder_id, _, link = state[len(_FOLDER_STATE) :].partition(" ")
        return folder_id or None, link or None
    return None, state


def _parse_expiry(data: Mapping[str, Any], asked: datetime, what: str) -> datetime:
    """The subscription's ``expirationDateTime`` as Graph answered it (what we asked for if absent)."""
    raw = data.get("expirationDateTime")
    if not isinstance(raw, str) or not raw:
        return asked
    text = raw.strip().replace("Z", "+00:00")
    # Graph writes up to 7 fractional digits; Python reads at most 6.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise PermanentError(
            f"{what}: expirationDateTime {raw[:40]!r} is not a date", service=SERVICE
        ) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
