"""In-memory state of an emulated Microsoft 365 tenant, and every mail operation on it.

The HTTP layer (``app.py``) maps Graph requests onto the methods here; test helpers call them directly. One
re-entrant lock guards all state, because the ASGI app may run in a uvicorn thread while a test reads.

Mailbox model (learn.microsoft.com/graph/api/resources/mailfolder): a folder tree under ``msgfolderroot``
with the well-known folders; messages live in exactly one folder. Each message has two ids: a REST id that
changes when the message moves, and an immutable id that does not
(learn.microsoft.com/graph/outlook-immutable-id).
Lookups accept either; answers use the one the request prefers (``Prefer: IdType="ImmutableId"``).

Delta state machine (learn.microsoft.com/graph/delta-query-messages)::

    initial GET .../messages/delta          -> round R snapshot (entries up to change number S)
         | page: value[...] + @odata.nextLink (?$skiptoken=<signed {R, offset}>)
         v
    last page: value[...] + @odata.deltaLink (?$deltatoken=<signed {folder, S, options}>)
         | later GET deltaLink -> new round: changes with change number in (S, now]
         v                       (created / updated / {"id", "@removed": {"reason": "deleted"}})
    token forged, from another folder, or expired (``expire_delta_tokens``) -> 410 syncStateNotFound

Every change to a folder's content appends (change number, kind, immutable id, REST id) to that folder's log;
a round coalesces the log per message. Tokens are zlib-compressed JSON, base64url, with an HMAC-SHA256 tag
under a per-tenant random key, so a client can neither read meaning into them nor forge them.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
import zlib
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Literal

from graph_dpg.sandbox.graph.contacts import new_contact
from graph_dpg.sandbox.graph.faults import FaultInjector
from graph_dpg.sandbox.graph.mime import MimeTooDeep, build_mime, html_to_text, parse_mime_base64
from graph_dpg.sandbox.graph.odata import (
    Expand,
    ODataError,
    canonical_ext_id,
    compile_filter,
    filter_properties,
    parse_datetime,
)
from graph_dpg.sandbox.graph.permissions import GATEWAY_ROLES, AppGrant
from graph_dpg.sandbox.graph.smime import MESSAGE_CLASS_TAG, stored_form
from graph_dpg.sandbox.latency import InjectedLatency

if TYPE_CHECKING:
    from graph_dpg.sandbox.graph.subscriptions import SubscriptionHub

# learn.microsoft.com/graph/api/resources/mailfolder ("Well-known folder names"): name -> (display, hidden).
WELL_KNOWN_FOLDERS: dict[str, tuple[str, bool]] = {
    "inbox": ("Inbox", False),
    "drafts": ("Drafts", False),
    "sentitems": ("Sent Items", False),
    "deleteditems": ("Deleted Items", False),
    "outbox": ("Outbox", False),
    "junkemail": ("Junk Email", False),
    "archive": ("Archive", False),
    "conversationhistory": ("Conversation History", False),
    "syncissues": ("Sync Issues", True),
    "conflicts": ("Conflicts", True),
    "localfailures": ("Local Failures", True),
    "serverfailures": ("Server Failures", True),
    "clutter": ("Clutter", True),
    "scheduled": ("Scheduled", True),
    "searchfolders": ("Finder", True),
    "recoverableitemsdeletions": ("Deletions", True),
}
#: At most this many distinct (method, endpoint kind, status) keys are counted; the rest pool as
#: ("*", "other", 0). The kinds are fixed, so only odd methods or statuses could reach it.
REQUEST_COUNT_KEYS = 512
_SYNC_ISSUES_CHILDREN = ("conflicts", "localfailures", "serverfailures")

# learn.microsoft.com/graph/api/resources/outlookcategory: preset0..preset24 plus none.
CATEGORY_COLORS = frozenset({"none", *(f"preset{i}" for i in range(25))})
# The six categories a new Outlook mailbox starts with.
_DEFAULT_CATEGORIES = (
    ("Red category", "preset0"),
    ("Orange category", "preset1"),
    ("Yellow category", "preset3"),
    ("Green category", "preset4"),
    ("Blue category", "preset7"),
    ("Purple category", "preset8"),
)

# learn.microsoft.com/graph/api/resources/message (v1.0 properties); id is always returned.
MESSAGE_PROPERTIES = (
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "internetMessageId",
    "subject",
    "bodyPreview",
    "importance",
    "parentFolderId",
    "conversationId",
    "conversationIndex",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "isRead",
    "isDraft",
    "webLink",
    "inferenceClassification",
    "body",
    "sender",
    "from",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "flag",
)
_SELECT_ONLY = ("internetMessageHeaders", "uniqueBody")
#: The properties an eventMessage adds to message (api-reference/v1.0/resources/eventmessage.md), and
#: those an eventMessageRequest adds (resources/eventmessagerequest.md). Returned on a GET without $select;
#: the `event` navigation only on $expand=microsoft.graph.eventMessage/event (api/eventmessage-get.md).
EVENT_MESSAGE_PROPERTIES = (
    "meetingMessageType",
    "startDateTime",
    "endDateTime",
    "location",
    "type",
    "recurrence",
    "isOutOfDate",
    "isAllDay",
    "isDelegated",
)
EVENT_MESSAGE_REQUEST_PROPERTIES = (
    "previousStartDateTime",
    "previousEndDateTime",
    "previousLocation",
    "responseRequested",
    "allowNewTimeProposals",
)
MESSAGE_TYPE = "#microsoft.graph.message"
EVENT_MESSAGE_TYPE = "#microsoft.graph.eventMessage"
EVENT_MESSAGE_REQUEST_TYPE = "#microsoft.graph.eventMessageRequest"
#: The meeting message classes ([MS-OXOCAL] 2.2.6.1 / 2.2.6.2 / 2.2.1.x of the message classes).
MEETING_REQUEST_CLASS = "IPM.Schedule.Meeting.Request"
MEETING_CANCELED_CLASS = "IPM.Schedule.Meeting.Canceled"
_EVENT_NAVIGATION = "microsoft.graph.eventmessage/event"
_SELECTABLE = {p.lower(): p for p in ("id", *MESSAGE_PROPERTIES, *_SELECT_ONLY)}
# "Updatable only if isDraft = true" (learn.microsoft.com/graph/api/message-update).
_DRAFT_ONLY = {
    "subject",
    "body",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "from",
    "sender",
    "internetMessageId",
    "internetMessageHeaders",
}
_ALWAYS_UPDATABLE = {
    "categories",
    "isRead",
    "flag",
    "importance",
    "inferenceClassification",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "singleValueExtendedProperties",
    "multiValueExtendedProperties",
}

# MAPI property tags honoured at creation (MS-OXCMSG 2.2.1.6 PidTagMessageFlags; PidTagMessageDeliveryTime;
# PidTagClientSubmitTime; PidTagInternetMessageId). Flags are read-only after the first save.
_TAG_FLAGS = canonical_ext_id("Integer 0x0E07")
_TAG_DELIVERY = canonical_ext_id("SystemTime 0x0E06")
_TAG_SUBMIT = canonical_ext_id("SystemTime 0x0039")
_TAG_MESSAGE_ID = canonical_ext_id("String 0x1035")
_TAG_IN_REPLY_TO = canonical_ext_id("String 0x1042")
_TAG_REFERENCES = canonical_ext_id("String 0x1039")  # MS-OXOMSG 2.2.1.2 PidTagInternetReferences
#: PidTagMessageClass ([MS-OXCMSG] 2.2.1.3): every message has one; "IPM.Note" unless set.
_TAG_MESSAGE_CLASS = canonical_ext_id(MESSAGE_CLASS_TAG)
_MF_READ = 0x01
_MF_UNSENT = 0x08
_MF_HASATTACH = 0x10

MAX_UPLOAD_SIZE = 150 * 1024 * 1024  # learn.microsoft.com/graph/outlook-large-attachments ("up to 150 MB")
#: api-reference/v1.0/api/attachment-createuploadsession.md: "Use this approach to attach a file if the file
#: size is between 3 MB and 150 MB"; smaller files are POSTed to /attachments.
MIN_UPLOAD_SIZE = 3 * 1024 * 1024
#: concepts/delta-query-messages.md ("Use query parameters in a delta query for messages"): what a delta
#: request may carry besides the state tokens.
DELTA_QUERY_OPTIONS = frozenset({"$select", "$top", "$expand", "$filter", "$orderby", "changetype"})
#: A mailbox's maximum message size unless set otherwise (``GraphTenant.set_max_message_size``): "By default,
#: this message size limit is 35 MB", which admins can raise up to 150 MB (the TIP in
#: api-reference/v1.0/api/attachment-createuploadsession.md, microsoft-graph-docs-contrib). Exchange's MB are
#: binary (Set-Mailbox -MaxReceiveSize 35MB is a ByteQuantifiedSize).
DEFAULT_MAX_MESSAGE_SIZE = 35 * 1024 * 1024


class GraphApiError(Exception):
    """A Graph error answer: ``{"error": {"code", "message", "innerError"}}`` with an HTTP status."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def not_found() -> GraphApiError:
    # learn.microsoft.com/graph/errors; Exchange's text for a missing item.
    return GraphApiError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def quota_exceeded() -> GraphApiError:
    """A write to a mailbox over its quota. The status is Graph's for a used-up storage quota (507
    Insufficient Storage, learn.microsoft.com/graph/errors); the code and text are Exchange's
    (ErrorQuotaExceeded, learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode),
    as Graph passes them through (github.com/microsoftgraph/microsoft-graph-docs/issues/2927). No Graph
    page names the pair together: pairing them is an inference. Exchange stops both receiving and sending
    at the ProhibitSendReceiveQuota (MS-OXCSTOR 2.2.2.1.1.3, PidTagProhibitReceiveQuota: "before no
    further mail will be delivered")."""
    return GraphApiError(507, "ErrorQuotaExceeded", "Mailbox has exceeded maximum mailbox size.")


def message_too_large() -> GraphApiError:
    """An attachment (or a message with its attachments) that would make the message bigger than the
    mailbox's maximum message size. Code and text as Graph answered them in
    github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/2561 (an upload session refused part-way:
    "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size."); the status 400 as in
    github.com/motze92/office365-mail/issues/39 (POST .../messages/{id}/attachments → 400 Bad Request
    with that code). That the same status answers a refused upload-session chunk and a create with inline
    attachments is an inference."""
    return GraphApiError(400, "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")


def encoded_length(size: int) -> int:
    """Bytes of ``size`` bytes in base64 (4 per 3, rounded up)."""
    return 4 * ((size + 2) // 3)


def counted_size(msg: Message, pending: int = 0) -> int:
    """How the emulator measures a message against the mailbox's maximum message size: as it would travel
    in MIME, every attachment base64-encoded, plus body and subject as UTF-8; ``pending`` raw bytes of an
    attachment still being uploaded count the same way.

    Inference, on the strict side: Exchange's limits apply to the encoded message, base64 making it about a
    third bigger than its files ("Message size limits in Exchange Server", learn.microsoft.com/exchange/
    mail-flow/message-size-limits; github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/2561 shows
    the refusal coming part-way through an upload). No Microsoft page says how Graph counts an item it stores;
    counting the encoded size can only refuse earlier than Exchange, never later."""
    body = msg.props.get("body") or {}
    text = str(body.get("content") or "") + str(msg.props.get("subject") or "")
    files = sum(encoded_length(len(a.data)) for a in msg.attachments)
    return len(text.encode("utf-8")) + files + (encoded_length(pending) if pending else 0)


def malformed_id() -> GraphApiError:
    return GraphApiError(400, "ErrorInvalidIdMalformed", "Id is malformed.")


def bad_request(message: str, code: str = "BadRequest") -> GraphApiError:
    return GraphApiError(400, code, message)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _new_rest_id() -> str:
    return "AAMkA" + _b64(secrets.token_bytes(33)) + "AAA="


def _new_immutable_id() -> str:
    return "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A" + _b64(secrets.token_bytes(30)) + "AAA="


def _new_folder_id() -> str:
    return "AQMkA" + _b64(secrets.token_bytes(30)) + "AAAA=="


def _etag(msg: Message) -> str:
    return _b64(hashlib.sha256(f"{msg.imm_id}{msg.version}".encode()).digest()[:12])


def looks_like_id(text: str) -> bool:
    """Exchange ids are base64 (URL-safe alphabet in REST); anything else is ``ErrorInvalidIdMalformed``."""
    if len(text) < 16 or not text.startswith("A"):
        return False
    return all(c.isalnum() or c in "-_=+/" for c in text)


@dataclass
class Attachment:
    id: str
    name: str
    content_type: str
    data: bytes
    is_inline: bool = False
    content_id: str | None = None
    last_modified: str = ""

    def view(self, with_content: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "@odata.mediaContentType": self.content_type,
            "id": self.id,
            "lastModifiedDateTime": self.last_modified,
            "name": self.name,
            "contentType": self.content_type,
            "size": len(self.data),
            "isInline": self.is_inline,
            "contentId": self.content_id,
            "contentLocation": None,
        }
        if with_content:
            out["contentBytes"] = base64.b64encode(self.data).decode()
        return out


@dataclass
class Message:
    imm_id: str
    rest_id: str
    folder_id: str
    props: dict[str, Any]
    ext: dict[str, tuple[str, str]] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    version: int = 1
    #: "#microsoft.graph.message", or a derived type (eventMessage, eventMessageRequest) for meeting mail.
    odata_type: str = MESSAGE_TYPE
    #: The event an eventMessage's `event` navigation leads to (attendees, iCalUId, organizer), or None.
    event: dict[str, Any] | None = None

    @property
    def derived_properties(self) -> tuple[str, ...]:
        if self.odata_type == EVENT_MESSAGE_REQUEST_TYPE:
            return (*EVENT_MESSAGE_PROPERTIES, *EVENT_MESSAGE_REQUEST_PROPERTIES)
        if self.odata_type == EVENT_MESSAGE_TYPE:
            return EVENT_MESSAGE_PROPERTIES
        return ()


@dataclass
class Folder:
    id: str
    display_name: str
    parent_id: str
    well_known: str | None = None
    hidden: bool = False
    log: list[tuple[int, str, str, str]] = field(default_factory=list)


@dataclass
class Mailbox:
    id: str
    upn: str
    display_name: str
    accessible: bool = True
    full: bool = False  # over its quota: refuses new items and sending (see GraphTenant.set_full)
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE  # see GraphTenant.set_max_message_size
    aliases: set[str] = field(default_factory=set)
    folders: dict[str, Folder] = field(default_factory=dict)
    well_known: dict[str, str] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    rest_index: dict[str, str] = field(default_factory=dict)
    categories: list[dict[str, str]] = field(default_factory=list)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # see contacts.py
    #: The Inbox's messageRules as Graph returns them (resources/messagerule.md).
    rules: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    window_start: float = 0.0
    window_count: int = 0
    burst_start: float = 0.0
    burst_count: int = 0
    upload_window_start: float = 0.0
    upload_bytes: int = 0


@dataclass
class UploadSession:
    id: str
    mailbox_id: str
    message_id: str
    name: str
    size: int
    content_type: str
    is_inline: bool
    content_id: str | None
    expires: float
    data: bytearray = field(default_factory=bytearray)


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the emulator saw it (``endpoint`` is a kind such as ``messages.delta``)."""

    method: str
    path: str
    mailbox: str | None
    endpoint: str
    status: int
    at: float
    duration: float
    in_batch: bool = False


@dataclass
class _DeltaRound:
    mailbox_id: str
    folder_id: str
    entries: list[tuple[str, str, str]]
    to_seq: int
    options: dict[str, Any]
    epoch: int


Recipient = str | tuple[str, str]
AttachmentSpec = tuple[str, str, bytes]


def recipient_json(value: Recipient) -> dict[str, Any]:
    name, address = (value, value) if isinstance(value, str) else value
    return {"emailAddress": {"name": name, "address": address}}


class GraphTenant:
    """An emulated tenant: mailboxes, folders, messages, categories, tokens, throttling and fault state."""

    def __init__(
        self,
        token: str | Iterable[str] = "sandbox-token",  # noqa: S107 - the sandbox's well-known fake token
        *,
        max_concurrency: int = 4,
        concurrency_scope: str = "mailbox",
        roles: Iterable[str] = GATEWAY_ROLES,
        request_budget: int = 10_000,
        budget_window: float = 600.0,
        upload_budget: int = 150 * 1024 * 1024,
        upload_window: float = 300.0,
        max_request_bytes: int = 4 * 1024 * 1024,
        latency: float = 0.0,
        injected_latency: InjectedLatency | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        default_categories: bool = True,
        request_log_limit: int | None = 500_000,
    ) -> None:
        self.tokens: set[str] = {token} if isinstance(token, str) else set(token)
        # How an expired/unknown delta token is refused: concepts/delta-query-overview.md allows 410 Gone or
        # another 4xx whose code is syncStateNotFound; tests set e.g. (400, "SyncStateNotFound").
        self.sync_state_status = 410
        self.sync_state_code = "syncStateNotFound"
        # Mailbox id -> addresses it may send as besides its own (Exchange "Send As"/"Send on Behalf";
        # concepts/outlook-send-mail-from-other-user.md).
        self._send_as: dict[str, set[str]] = {}
        # What each token's app may do (roles, management scope): see permissions.py. By default exactly
        # the permissions graph_dpg's permission table requires, for every mailbox (Mailbox.accessible
        # still takes single mailboxes out of every app's reach).
        self.grants: dict[str, AppGrant] = {t: AppGrant.of(roles) for t in self.tokens}
        self._default_grant = AppGrant.of(roles)
        # learn.microsoft.com/graph/throttling-limits ("Outlook service limits"): per app and mailbox,
        # 10,000 requests per 10 minutes and 4 concurrent requests.
        self.max_concurrency = max_concurrency
        # Which reading of the concurrency limit is enforced. "mailbox": max_concurrency requests in flight
        # per app and mailbox (concepts/throttling-limits.md at commit e62a3c1d, "Outlook service limits ...
        # evaluated for each app ID and mailbox combination": 4 concurrent requests). "app": max_concurrency
        # per app across all mailboxes (the same page at commit 01351749, "Limits per app ID: Outlook can
        # execute up to 4 concurrent requests ... regardless of whether the requests all access the same
        # mailbox, or access different mailboxes").
        if concurrency_scope not in ("mailbox", "app"):
            raise ValueError("concurrency_scope is 'mailbox' or 'app'")
        self.concurrency_scope = concurrency_scope
        self._app_in_flight: Counter[str] = Counter()
        self.request_budget = request_budget
        self.budget_window = budget_window
        #: A shorter request count beside the 10 minutes: at most ``burst_budget`` requests per
        #: ``burst_window`` seconds per app and mailbox. No page documents one (inference
        #: graph.request-rate-window in graph_dpg/diagnostics/inferences.py assumes there is none); None
        #: (default): the 10,000 per 10 minutes are the only request count. Same 429 as that limit's.
        self.burst_budget: int | None = None
        self.burst_window = 60.0
        # Same page: 150 MB upload (PATCH, POST, PUT) per 5 minutes per app and mailbox.
        self.upload_budget = upload_budget
        self.upload_window = upload_window
        self.max_request_bytes = max_request_bytes
        self.latency = latency
        #: A benchmark aid, not an emulated behaviour (sandbox/latency.py): a delay drawn per HTTP request
        #: (a ``$batch`` is one request), held like Graph's own processing time, i.e. inside the
        #: concurrency slot. None (default): no delay beyond ``latency``.
        self.injected_latency = injected_latency
        self.default_categories = default_categories
        # Behaviours no public document states: the gateway's inferences, listed with their reasons in
        # graph_dpg/diagnostics/inferences.py and checked against a real tenant by `graph-dpg doctor --probe`.
        # The defaults are the inferred behaviour (inference, not a documented one); the other values show
        # what a contradicting tenant would do, so that the probe's verdict can be tested.
        #: PidTagMessageFlags (Integer 0x0E07) honoured on create (users confirm it in
        #: microsoft-graph-docs-contrib issue 2790); False: ignored, the item stays a draft.
        self.honour_message_flags_on_create = True
        #: internetMessageId / String 0x1035 given on create are kept; False: Exchange assigns its own.
        self.keep_internet_message_id_on_create = True
        #: An item created with PidTagInReplyToId naming a message of the mailbox joins that message's
        #: conversation (same conversationId); False: it starts a conversation of its own.
        self.thread_created_items_by_in_reply_to = True
        #: createUploadSession on a non-draft message works; False: 400 ErrorInvalidOperation.
        self.upload_session_on_non_draft = True
        #: The final upload PUT's Location: "attachments('<id>')", "Attachments('<id>')" (the docs' spelling,
        #: api-reference/v1.0/api/attachment-createuploadsession.md), or "none" (no Location header).
        self.upload_location_form: Literal["attachments", "Attachments", "none"] = "Attachments"
        #: Status of a POST masterCategories with an existing displayName (409 or 400).
        self.duplicate_category_status: Literal[409, 400] = 409
        #: Delta accepts the changeType query option (documented in message-delta.md for v1.0 messages);
        #: False: the initial delta request with changeType answers 400.
        self.delta_accepts_change_type = True
        #: An item created through the API (not a draft) has no internetMessageHeaders (inference, by
        #: analogy with Sent Items copies: microsoft-graph-docs issue 2716); True: it reads back with the
        #: transport headers a received message has.
        self.internet_headers_on_api_items = False
        #: A display name used as a folder id answers 400 ErrorInvalidIdMalformed (inference: Graph's
        #: answer to malformed ids; no page says it for names); "not-found": 404 ErrorItemNotFound.
        self.display_name_as_folder_id: Literal["malformed", "not-found"] = "malformed"
        #: The smallest size createUploadSession accepts: 3 MiB (inference: the docs say "3 MB");
        #: 3_000_000 shows the decimal reading.
        self.min_upload_session_bytes = MIN_UPLOAD_SIZE
        #: ``$value`` of an S/MIME item gives the MIME bytes it was created or sent with (inference: issue
        #: 4585 says ``$value`` gives the MIME, not that the bytes are kept); False: Exchange rebuilds the
        #: MIME from the stored item (the smime.p7m as an attachment of a new multipart).
        self.smime_value_as_sent = True
        #: sendMail with MIME keeps the Message-ID header as the sent item's internetMessageId (inference);
        #: False: Exchange assigns its own.
        self.keep_mime_message_id_on_send = True
        #: A subscription to a mailbox's messages is allowed by a grant of RBAC for Applications (a management
        #: scope, no tenant-wide Entra consent) like any other mail call (inference); True: the notification
        #: service asks for an Entra consent, and a scoped grant's POST /subscriptions answers 403.
        self.subscriptions_need_entra_consent = False
        #: The copy of a sent mail placed in Sent Items raises a "created" notification on a subscription to
        #: that folder (inference); False: items in Sent Items raise none (polling alone finds them).
        self.notify_sent_items = True
        self.faults = FaultInjector(seed)
        self.clock = clock
        self.tenant_id = str(uuid.uuid4())
        self._lock = threading.RLock()
        self._key = secrets.token_bytes(32)
        self._seq = 0
        self._epoch = 0
        self._mailboxes: dict[str, Mailbox] = {}
        self._by_address: dict[str, str] = {}
        self._rounds: OrderedDict[str, _DeltaRound] = OrderedDict()
        self._uploads: dict[str, UploadSession] = {}
        self._outbound: list[dict[str, Any]] = []
        self._requests: deque[LoggedRequest] = deque(maxlen=request_log_limit)
        # Requests counted by (method, endpoint kind, status) for as long as the tenant lives, unlike the
        # log, whose oldest entries give way: what a benchmark divides by letters sent. Endpoint kinds are
        # the routes' fixed names; the key count is still capped (REQUEST_COUNT_KEYS), the rest pooled.
        self._request_counts: Counter[tuple[str, str, int]] = Counter()
        self._member_counts: Counter[tuple[str, str, int]] = Counter()  # the part made inside a $batch
        #: Called (under the lock) with (mailbox, folder id, "created"/"updated"/"removed", message) for
        #: every change the delta log records: the subscriptions' notifications (subscriptions.py).
        self.change_listeners: list[Callable[[Mailbox, str, str, Message], None]] = []
        self._subscriptions: SubscriptionHub | None = None

    @property
    def subscriptions(self) -> SubscriptionHub:
        """The tenant's change-notification subscriptions (``subscriptions.SubscriptionHub``)."""
        with self._lock:
            if self._subscriptions is None:
                from graph_dpg.sandbox.graph.subscriptions import SubscriptionHub

                self._subscriptions = SubscriptionHub(self)
            return self._subscriptions

    # ------------------------------------------------------------------ locking, clock, logs

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._requests.append(entry)
            key = (entry.method, entry.endpoint, entry.status)
            if key not in self._request_counts and len(self._request_counts) >= REQUEST_COUNT_KEYS - 1:
                key = ("*", "other", 0)
            self._request_counts[key] += 1
            if entry.in_batch:
                self._member_counts[key] += 1

    def request_counts(self, *, include_batch_members: bool = True) -> dict[tuple[str, str, int], int]:
        """Requests since the tenant was made (or the log cleared), by (method, endpoint kind, status).
        Not bounded by ``request_log_limit``. A ``$batch`` counts once as ``batch`` and each member once
        under its own kind; ``include_batch_members=False`` leaves the members out, so the total is the
        HTTP round trips."""
        with self._lock:
            counts = dict(self._request_counts)
            if not include_batch_members:
                for key, n in self._member_counts.items():
                    counts[key] = counts.get(key, 0) - n
                counts = {k: v for k, v in counts.items() if v > 0}
            return counts

    @property
    def request_log(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._requests)

    def count_requests(
        self,
        *,
        mailbox: str | None = None,
        endpoint: str | None = None,
        method: str | None = None,
        status: int | None = None,
    ) -> int:
        with self._lock:
            if mailbox is not None:
                found = self.find_mailbox(mailbox)
                mailbox = found.upn if found else mailbox
            return sum(
                1
                for r in self._requests
                if (mailbox is None or (r.mailbox or "") == mailbox.lower())
                and (endpoint is None or r.endpoint == endpoint)
                and (method is None or r.method == method.upper())
                and (status is None or r.status == status)
            )

    def clear_request_log(self) -> None:
        with self._lock:
            self._requests.clear()
            self._request_counts.clear()
            self._member_counts.clear()

    @property
    def outbound_log(self) -> list[dict[str, Any]]:
        """Mail sent to addresses outside the tenant: one entry per message with its external recipients."""
        with self._lock:
            return [dict(e) for e in self._outbound]

    # ------------------------------------------------------------------ mailboxes

    def add_mailbox(
        self, upn: str, display_name: str = "", accessible: bool = True, aliases: Sequence[str] = ()
    ) -> str:
        with self._lock:
            if upn.lower() in self._by_address:
                raise ValueError(f"mailbox {upn} exists")
            mb = Mailbox(str(uuid.uuid4()), upn, display_name or upn.split("@")[0], accessible)
            mb.aliases = {a.lower() for a in aliases}
            root = Folder(_new_folder_id(), "Top of Information Store", "", "msgfolderroot")
            mb.folders[root.id] = root
            mb.well_known["msgfolderroot"] = root.id
            for name, (display, hidden) in WELL_KNOWN_FOLDERS.items():
                parent = mb.well_known["syncissues"] if name in _SYNC_ISSUES_CHILDREN else root.id
                folder = Folder(_new_folder_id(), display, parent, name, hidden)
                mb.folders[folder.id] = folder
                mb.well_known[name] = folder.id
            if self.default_categories:
                mb.categories = [
                    {"id": str(uuid.uuid4()), "displayName": n, "color": c} for n, c in _DEFAULT_CATEGORIES
                ]
            self._mailboxes[mb.id] = mb
            for address in {upn.lower(), *mb.aliases}:
                self._by_address[address] = mb.id
            return mb.id

    def grant(
        self,
        token: str,
        roles: Iterable[str] = GATEWAY_ROLES,
        mailboxes: Iterable[str] | None = None,
        *,
        app_id: str = "graph-dpg",
    ) -> None:
        """Accept ``token`` for an app with these application ``roles``, limited to ``mailboxes``
        (addresses or ids; None: every mailbox), replacing what the token had (see permissions.py)."""
        with self._lock:
            self.tokens.add(token)
            self.grants[token] = AppGrant.of(roles, mailboxes, app_id)

    def grant_for(self, token: str) -> AppGrant:
        """The grant of an accepted token (one added to ``tokens`` directly gets the tenant's default)."""
        with self._lock:
            return self.grants.get(token, self._default_grant)

    def set_accessible(self, mailbox: str, accessible: bool) -> None:
        with self._lock:
            self.mailbox(mailbox).accessible = accessible

    def set_full(self, mailbox: str, full: bool = True) -> None:
        """The mailbox is over its "prohibit send and receive" quota (or back under it): requests that
        would add to it answer 507 ``ErrorQuotaExceeded`` (see ``quota_exceeded``); reading, moving and
        deleting still work (deleting is how room is made)."""
        with self._lock:
            self.mailbox(mailbox).full = full

    def set_max_message_size(self, mailbox: str, size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        """The mailbox's maximum message size in bytes (what an admin sets with Set-Mailbox -MaxReceiveSize;
        default 35 MB): a create, attachment or upload that would make a message bigger (``counted_size``)
        answers 400 ``ErrorMessageSizeExceeded`` (see ``message_too_large``)."""
        with self._lock:
            self.mailbox(mailbox).max_message_size = size

    @staticmethod
    def _check_size(mb: Mailbox, msg: Message, pending: int = 0) -> None:
        if counted_size(msg, pending) > mb.max_message_size:
            raise message_too_large()

    def mailbox(self, key: str) -> Mailbox:
        """Resolve a mailbox by id (GUID) or UPN/alias; ``ErrorInvalidUser`` 404 when unknown."""
        with self._lock:
            mb = self._mailboxes.get(key) or self._mailboxes.get(self._by_address.get(key.lower(), ""))
            if mb is None:
                # learn.microsoft.com/graph/errors; Exchange's answer for an unknown user in a mail URL.
                raise GraphApiError(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
            return mb

    def find_mailbox(self, key: str) -> Mailbox | None:
        try:
            return self.mailbox(key)
        except GraphApiError:
            return None

    def mailboxes(self) -> list[Mailbox]:
        with self._lock:
            return list(self._mailboxes.values())

    def user_view(self, mb: Mailbox) -> dict[str, Any]:
        return {
            "businessPhones": [],
            "displayName": mb.display_name,
            "givenName": None,
            "jobTitle": None,
            "mail": mb.upn,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": None,
            "surname": None,
            "userPrincipalName": mb.upn,
            "id": mb.id,
        }

    # ------------------------------------------------------------------ throttling

    def acquire(self, mb: Mailbox, upload_bytes: int = 0, app_id: str = "graph-dpg") -> GraphApiError | None:
        """Count a request against the mailbox's budgets and concurrency; return the 429 to send, if any."""
        with self._lock:
            now = self.clock()
            if upload_bytes:
                if now - mb.upload_window_start >= self.upload_window:
                    mb.upload_window_start, mb.upload_bytes = now, 0
                mb.upload_bytes += upload_bytes
                if mb.upload_bytes > self.upload_budget:
                    wait = max(1, int(mb.upload_window_start + self.upload_window - now + 0.999))
                    # Exchange's text for this limit (github.com/O365/python-o365/issues/500).
                    return GraphApiError(
                        429,
                        "ApplicationThrottled",
                        "Application is over its IncomingBytes limit.",
                        {"Retry-After": str(wait)},
                    )
            if now - mb.window_start >= self.budget_window:
                mb.window_start, mb.window_count = now, 0
            mb.window_count += 1
            over = mb.window_count > self.request_budget
            if self.burst_budget is not None and not over:
                if now - mb.burst_start >= self.burst_window:
                    mb.burst_start, mb.burst_count = now, 0
                mb.burst_count += 1
                if mb.burst_count > self.burst_budget:
                    wait = max(1, int(mb.burst_start + self.burst_window - now + 0.999))
                    return GraphApiError(
                        429,
                        "ApplicationThrottled",
                        "Application is over its MailboxRequestRate limit.",
                        {"Retry-After": str(wait)},
                    )
            if over:
                wait = max(1, int(mb.window_start + self.budget_window - now + 0.999))
                return GraphApiError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxRequestRate limit.",
                    {"Retry-After": str(wait)},
                )
            if self.concurrency_scope == "app":
                if self._app_in_flight[app_id] >= self.max_concurrency:
                    # No Graph page quotes the answer to the per-app reading; the code and text are the
                    # per-mailbox ones (inference).
                    return GraphApiError(
                        429,
                        "ApplicationThrottled",
                        "Application is over its MailboxConcurrency limit.",
                        {"Retry-After": "1"},
                    )
            elif mb.in_flight >= self.max_concurrency:
                # Text as Exchange sends it (github.com/magodo/terraform-provider-outlook/issues/21).
                return GraphApiError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    {"Retry-After": "1"},
                )
            mb.in_flight += 1
            self._app_in_flight[app_id] += 1
            return None

    def release(self, mb: Mailbox, app_id: str = "graph-dpg") -> None:
        with self._lock:
            mb.in_flight = max(0, mb.in_flight - 1)
            self._app_in_flight[app_id] = max(0, self._app_in_flight[app_id] - 1)

    @property
    def concurrency_reading(self) -> Literal["per-mailbox", "per-app"]:
        """``concurrency_scope`` in the words of ``doctor --probe``'s inference list: "per-mailbox" (per app
        and mailbox, throttling-limits.md today) or "per-app" (across all mailboxes, the page's other
        reading)."""
        return "per-app" if self.concurrency_scope == "app" else "per-mailbox"

    @concurrency_reading.setter
    def concurrency_reading(self, value: Literal["per-mailbox", "per-app"]) -> None:
        if value not in ("per-mailbox", "per-app"):
            raise ValueError("concurrency_reading is 'per-mailbox' or 'per-app'")
        self.concurrency_scope = "app" if value == "per-app" else "mailbox"

    @property
    def app_in_flight(self) -> dict[str, int]:
        """Requests in flight per app (all mailboxes), for tests."""
        with self._lock:
            return {k: v for k, v in self._app_in_flight.items() if v}

    # ------------------------------------------------------------------ folders

    def folder(self, mb: Mailbox, key: str) -> Folder:
        with self._lock:
            fid = mb.well_known.get(key.lower()) or key
            folder = mb.folders.get(fid)
            if folder is not None:
                return folder
            if not looks_like_id(key):
                if self.display_name_as_folder_id == "not-found":
                    raise not_found()
                raise malformed_id()
            raise not_found()

    def folder_id(self, mailbox: str, name: str) -> str:
        with self._lock:
            mb = self.mailbox(mailbox)
            return self.folder(mb, name).id

    def folder_view(self, mb: Mailbox, folder: Folder) -> dict[str, Any]:
        with self._lock:
            msgs = [m for m in mb.messages.values() if m.folder_id == folder.id]
            return {
                "id": folder.id,
                "displayName": folder.display_name,
                "parentFolderId": folder.parent_id or None,
                "childFolderCount": sum(1 for f in mb.folders.values() if f.parent_id == folder.id),
                "unreadItemCount": sum(1 for m in msgs if not m.props.get("isRead")),
                "totalItemCount": len(msgs),
                "sizeInBytes": sum(len(json.dumps(m.props)) for m in msgs),
                "isHidden": folder.hidden,
            }

    def child_folders(self, mb: Mailbox, parent: Folder, include_hidden: bool = False) -> list[Folder]:
        with self._lock:
            return [
                f
                for f in mb.folders.values()
                if f.parent_id == parent.id and (include_hidden or not f.hidden)
            ]

    def create_folder(
        self, mb: Mailbox | str, parent: Folder | str, display_name: str, hidden: bool = False
    ) -> Folder:
        with self._lock:
            box = mb if isinstance(mb, Mailbox) else self.mailbox(mb)
            par = parent if isinstance(parent, Folder) else self.folder(box, parent)
            if not display_name:
                raise bad_request("The displayName property is required.", "ErrorInvalidRequest")
            for sibling in self.child_folders(box, par, include_hidden=True):
                if sibling.display_name.lower() == display_name.lower():
                    # Exchange refuses two sibling folders with one name.
                    raise GraphApiError(
                        409, "ErrorFolderExists", "A folder with the specified name already exists."
                    )
            folder = Folder(_new_folder_id(), display_name, par.id, None, hidden)
            box.folders[folder.id] = folder
            return folder

    # ------------------------------------------------------------------ messages: lookup and views

    def permanently_delete_folder(self, mb: Mailbox, folder: Folder) -> None:
        """The folder, its child folders and all their items leave the mailbox
        (learn.microsoft.com/graph/api/mailfolder-permanentdelete); well-known folders cannot."""
        with self._lock:
            if folder.well_known:
                raise GraphApiError(
                    403, "ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted."
                )
            doomed = {folder.id}
            grown = True
            while grown:
                more = {f.id for f in mb.folders.values() if f.parent_id in doomed} - doomed
                grown = bool(more)
                doomed |= more
            for msg in [m for m in mb.messages.values() if m.folder_id in doomed]:
                mb.messages.pop(msg.imm_id, None)
                mb.rest_index.pop(msg.rest_id, None)
            for folder_id in doomed:
                mb.folders.pop(folder_id, None)

    def get_message(self, mb: Mailbox, key: str) -> Message:
        with self._lock:
            msg = mb.messages.get(key) or mb.messages.get(mb.rest_index.get(key, ""))
            if msg is not None:
                return msg
            if not looks_like_id(key):
                raise malformed_id()
            raise not_found()

    def message_view(
        self,
        mb: Mailbox,
        msg: Message,
        *,
        immutable: bool,
        select: list[str] | None = None,
        expand: Sequence[Expand] = (),
        body_text: bool = False,
        for_filter: bool = False,
    ) -> dict[str, Any]:
        if for_filter:
            return self._filter_view(msg)
        with self._lock:
            p = msg.props
            if select is None:
                wanted: tuple[str, ...] = (*MESSAGE_PROPERTIES, *msg.derived_properties)
            else:
                wanted_list = []
                for name in select:
                    canon = _SELECTABLE.get(name.lower())
                    if canon is None:
                        raise bad_request(
                            f"Could not find a property named '{name}' on type 'microsoft.graph.message'.",
                            "RequestBroker--ParseUri",
                        )
                    wanted_list.append(canon)
                wanted = tuple(wanted_list)
            out: dict[str, Any] = {
                "@odata.etag": f'W/"CQAAABYAAA{_etag(msg)}"',
                "id": msg.imm_id if immutable else msg.rest_id,
            }
            if msg.odata_type != MESSAGE_TYPE:
                # An instance of a derived type names its type (eventmessage-get.md, both examples).
                out = {"@odata.type": msg.odata_type, **out}
            for key in wanted:
                if key == "id":
                    continue
                if key == "hasAttachments":
                    out[key] = any(not a.is_inline for a in msg.attachments)
                elif key == "parentFolderId":
                    out[key] = msg.folder_id
                elif key == "changeKey":
                    out[key] = f"CQAAABYAAA{msg.version:08d}"
                elif key == "bodyPreview":
                    body = p.get("body") or {}
                    text = str(body.get("content") or "")
                    text = html_to_text(text) if str(body.get("contentType")).lower() == "html" else text
                    out[key] = " ".join(text.split())[:255]
                elif key == "webLink":
                    out[key] = (
                        f"https://outlook.office365.com/owa/?ItemID={msg.rest_id}&exvsurl=1&viewmodel=ReadMessageItem"
                    )
                elif key in ("body", "uniqueBody"):
                    body = dict(p.get("body") or {})
                    if body_text and body.get("contentType") == "html":
                        body = {
                            "contentType": "text",
                            "content": html_to_text(str(body.get("content") or "")),
                        }
                    out[key] = body
                elif key == "internetMessageHeaders":
                    headers = self._headers_view(msg)
                    if headers is not None:
                        out[key] = headers
                elif key in ("from", "sender") and p.get(key) is None:
                    continue
                elif key == "importance" and isinstance(p.get(key), str):
                    # An enum member reads back in its schema spelling: "Low" → "low" (user-post-messages.md,
                    # example 1).
                    out[key] = str(p[key]).lower()
                elif key in _RECIPIENT_KEYS:
                    out[key] = self._named_recipients(p.get(key))
                else:
                    out[key] = p.get(key)
            for exp in expand:
                name = exp.name.lower()
                if name == _EVENT_NAVIGATION:
                    if not msg.derived_properties:
                        raise bad_request(
                            "Could not find a property named 'event' on type 'microsoft.graph.message'.",
                            "RequestBroker--ParseUri",
                        )
                    out["event"] = dict(msg.event) if msg.event is not None else None
                elif name == "attachments":
                    out["attachments"] = [a.view() for a in msg.attachments]
                elif name == "singlevalueextendedproperties":
                    flt = exp.options.get("$filter")
                    props = [{"id": v[0], "value": v[1]} for v in msg.ext.values()]
                    # PidTagMessageFlags is computed by the store, so it can be read back like Exchange does.
                    flags = (_MF_READ if p.get("isRead") else 0) | (_MF_UNSENT if p.get("isDraft") else 0)
                    if any(not a.is_inline for a in msg.attachments):
                        flags |= _MF_HASATTACH
                    props.append({"id": "Integer 0xe07", "value": str(flags)})
                    # PidTagInternetMessageId ([MS-OXOMSG]) is the MAPI property behind internetMessageId;
                    # that Graph reads it back under both names is an inference.
                    if p.get("internetMessageId") and _TAG_MESSAGE_ID not in msg.ext:
                        props.append({"id": "String 0x1035", "value": str(p["internetMessageId"])})
                    if _TAG_MESSAGE_CLASS not in msg.ext:
                        props.append({"id": "String 0x1a", "value": "IPM.Note"})
                    if flt:
                        try:
                            pred = compile_filter(flt)
                        except ODataError as exc:
                            raise bad_request(str(exc)) from exc
                        props = [pr for pr in props if pred(pr)]
                    out["singleValueExtendedProperties"] = props
                else:
                    raise bad_request(
                        f"Could not find a property named '{exp.name}' on type 'microsoft.graph.message'.",
                        "RequestBroker--ParseUri",
                    )
            return out

    def _named_recipients(self, value: Any) -> Any:
        """Recipients as Graph reads them back: each ``emailAddress`` with a ``name`` - the mailbox's display
        name for an address of the tenant (user-post-messages.md, example 1: "Adele Vance"), the address
        itself otherwise (message-move.md: "name": "fannyd@contoso.com")."""
        if isinstance(value, list):
            return [self._named_recipients(r) for r in value]
        if not isinstance(value, dict) or not isinstance(value.get("emailAddress"), dict):
            return value
        email = value["emailAddress"]
        if email.get("name"):
            return value
        address = str(email.get("address") or "")
        uid = self._by_address.get(address.lower())
        name = self._mailboxes[uid].display_name if uid in self._mailboxes else address
        return {**value, "emailAddress": {**email, "name": name}}

    def _headers_view(self, msg: Message) -> list[dict[str, str]] | None:
        """``internetMessageHeaders`` as Graph returns them: a sent or received item carries its transport
        headers followed by the custom ``x-`` ones; a draft only the custom ones
        (learn.microsoft.com/graph/api/resources/internetmessageheader)."""
        p = msg.props
        custom: list[dict[str, str]] = list(p.get("internetMessageHeaders") or [])
        if p.get("isDraft"):
            return custom
        if not p.get("_transport") and not self.internet_headers_on_api_items:
            # Only a message that came in by mail transport has internet headers: the copy in Sent Items
            # and an item created through the API have none, even when $select-ed (the property is left
            # out; github.com/microsoftgraph/microsoft-graph-docs/issues/2716, a Microsoft engineer:
            # "internet headers just do not exist on the copy in Sent Items";
            # github.com/OfficeDev/office-js/issues/5413).
            return None

        def addresses(key: str) -> str:
            value = p.get(key) or []
            recipients = [value] if isinstance(value, dict) else value
            return ", ".join(str((r.get("emailAddress") or {}).get("address") or "") for r in recipients if r)

        sent = parse_datetime(str(p.get("sentDateTime") or p.get("createdDateTime")))
        std = [
            ("Received", f"from emulator.local by graph-emulator; {format_datetime(sent)}"),
            ("Content-Type", "multipart/mixed" if msg.attachments else "text/html; charset=utf-8"),
            ("Date", format_datetime(sent)),
            ("From", addresses("from") if p.get("from") else ""),
            ("To", addresses("toRecipients")),
            ("Cc", addresses("ccRecipients")),
            ("Subject", str(p.get("subject") or "")),
            ("Message-ID", str(p.get("internetMessageId") or "")),
            ("In-Reply-To", str(p.get("_inReplyTo") or "")),
            ("References", str(p.get("_references") or "")),
            ("MIME-Version", "1.0"),
        ]
        return [{"name": n, "value": v} for n, v in std if v] + custom

    def _filter_view(self, msg: Message) -> dict[str, Any]:
        """What ``$filter`` sees: the stored properties plus computed ones and extended properties."""
        view = dict(msg.props)
        view.update(
            {
                "id": msg.imm_id,
                "parentFolderId": msg.folder_id,
                "hasAttachments": any(not a.is_inline for a in msg.attachments),
                "singleValueExtendedProperties": [{"id": k, "value": v[1]} for k, v in msg.ext.items()],
            }
        )
        return view

    def query_messages(
        self,
        mb: Mailbox,
        folder: Folder | None,
        *,
        filter_text: str | None = None,
        orderby: str | None = None,
    ) -> list[Message]:
        with self._lock:
            if folder is None:
                # /users/{id}/messages covers the mail folders, not the Recoverable Items dumpster.
                dumpster = mb.well_known["recoverableitemsdeletions"]
                msgs = [m for m in mb.messages.values() if m.folder_id != dumpster]
            else:
                msgs = [m for m in mb.messages.values() if m.folder_id == folder.id]
            if filter_text:
                try:
                    pred = compile_filter(filter_text)
                except ODataError as exc:
                    raise bad_request(str(exc)) from exc
                msgs = [m for m in msgs if pred(self.message_view(mb, m, immutable=True, for_filter=True))]
            if filter_text and orderby:
                _check_filter_orderby(filter_text, orderby)
            key, _, direction = (orderby or "receivedDateTime desc").strip().partition(" ")
            canon = _SELECTABLE.get(key.strip().lower())
            if canon is None:
                raise bad_request(
                    f"Could not find a property named '{key}' on type 'microsoft.graph.message'."
                )
            msgs.sort(
                key=lambda m: (str(m.props.get(canon) or ""), m.props.get("_seq", 0)),
                reverse=direction.strip().lower() != "asc",
            )
            return msgs

    # ------------------------------------------------------------------ messages: changes

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _log(self, mb: Mailbox, folder_id: str, kind: str, msg: Message) -> None:
        mb.folders[folder_id].log.append((self._next_seq(), kind, msg.imm_id, msg.rest_id))
        for listener in self.change_listeners:
            listener(mb, folder_id, kind, msg)

    def _touch(self, msg: Message) -> None:
        msg.version += 1
        msg.props["lastModifiedDateTime"] = self.now_iso()

    def _validate_headers(self, headers: Any) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        for header in _objects(headers, "internetMessageHeaders"):
            name = str(header.get("name", ""))
            # learn.microsoft.com/graph/api/user-sendmail (example 2): custom headers must start with x-.
            if not name.lower().startswith("x-"):
                raise bad_request(
                    f"The internet message header name '{name}' should start with 'x-' or 'X-'.",
                    "InvalidInternetMessageHeader",
                )
            out.append({"name": name, "value": str(header.get("value", ""))})
        return out

    def _attachments_from_json(self, items: Any) -> list[Attachment]:
        out: list[Attachment] = []
        for item in _objects(items, "attachments"):
            out.append(self._attachment_from_json(item))
        return out

    def _attachment_from_json(self, item: Mapping[str, Any]) -> Attachment:
        kind = str(item.get("@odata.type", "#microsoft.graph.fileAttachment"))
        if kind.lower() != "#microsoft.graph.fileattachment":
            raise bad_request(
                f"The emulator supports only #microsoft.graph.fileAttachment, not '{kind}'.",
                "ErrorInvalidRequest",
            )
        try:
            data = base64.b64decode(str(item.get("contentBytes") or ""), validate=True)
        except ValueError as exc:
            raise bad_request(
                "The contentBytes property is not valid base64.", "ErrorInvalidRequest"
            ) from exc
        name = str(item.get("name") or "")
        if not name:
            raise bad_request("The name property is required for an attachment.", "ErrorInvalidRequest")
        return Attachment(
            id=_new_rest_id(),
            name=name,
            content_type=str(item.get("contentType") or "application/octet-stream"),
            data=data,
            is_inline=bool(item.get("isInline", False)),
            content_id=item.get("contentId"),
            last_modified=self.now_iso(),
        )

    def _apply_ext(self, msg: Message, items: Any) -> None:
        for item in _objects(items, "singleValueExtendedProperties"):
            pid = str(item.get("id", ""))
            value = item.get("value")
            if not pid or value is None:
                raise bad_request("An extended property needs an id and a value.", "ErrorInvalidRequest")
            msg.ext[canonical_ext_id(pid)] = (pid, str(value))

    def create_message(
        self,
        mb: Mailbox,
        folder: Folder,
        data: Mapping[str, Any],
        *,
        allow_non_draft: bool = True,
    ) -> Message:
        """``POST .../mailFolders/{id}/messages``: a draft unless PidTagMessageFlags says otherwise.

        learn.microsoft.com/graph/api/mailfolder-post-messages; the 0x0E07 flag handling follows MS-OXCMSG
        2.2.1.6 (mfUnsent marks a draft; flags are settable only before the first save).
        """
        with self._lock:
            allowed = set(MESSAGE_PROPERTIES) | {
                "internetMessageHeaders",
                "attachments",
                "singleValueExtendedProperties",
                "multiValueExtendedProperties",
                "uniqueBody",
            }
            for key in data:
                if key not in allowed and not key.startswith("@odata"):
                    raise bad_request(
                        f"The property '{key}' does not exist on type 'microsoft.graph.message'. Make sure "
                        "to only use property names that are defined by the type or mark the type as open "
                        "type.",
                        "RequestBodyRead",
                    )
            for key in ("toRecipients", "ccRecipients", "bccRecipients", "replyTo"):
                _check_recipients(data.get(key), key, many=True)
            for key in ("from", "sender"):
                _check_recipients(data.get(key), key, many=False)
            _check_shapes(data)
            now = self.now_iso()
            props: dict[str, Any] = {
                "createdDateTime": now,
                "lastModifiedDateTime": now,
                "categories": _strings(data.get("categories"), "categories"),
                "receivedDateTime": now,
                "sentDateTime": now,
                "internetMessageId": data.get("internetMessageId")
                or f"<{uuid.uuid4().hex.upper()}@{mb.upn.split('@')[-1]}>",
                "subject": data.get("subject") or "",
                "importance": data.get("importance") or "normal",
                "conversationId": data.get("conversationId") or "AAQkA" + _b64(secrets.token_bytes(24)) + "=",
                "conversationIndex": base64.b64encode(secrets.token_bytes(22)).decode(),
                "isDeliveryReceiptRequested": bool(data.get("isDeliveryReceiptRequested", False)),
                "isReadReceiptRequested": bool(data.get("isReadReceiptRequested", False)),
                "isRead": True,
                "isDraft": True,
                "inferenceClassification": data.get("inferenceClassification") or "focused",
                "body": dict(data.get("body") or {"contentType": "text", "content": ""}),
                "sender": data.get("sender") or data.get("from"),
                "from": data.get("from") or data.get("sender"),
                "toRecipients": list(data.get("toRecipients") or []),
                "ccRecipients": list(data.get("ccRecipients") or []),
                "bccRecipients": list(data.get("bccRecipients") or []),
                "replyTo": list(data.get("replyTo") or []),
                "flag": dict(data.get("flag") or {"flagStatus": "notFlagged"}),
                "internetMessageHeaders": self._validate_headers(data.get("internetMessageHeaders")),
            }
            body = props["body"]
            body["contentType"] = str(body.get("contentType") or "text").lower()
            msg = Message(_new_immutable_id(), _new_rest_id(), folder.id, props)
            self._apply_ext(msg, data.get("singleValueExtendedProperties"))
            flags = msg.ext.pop(_TAG_FLAGS, None)
            if flags is not None and allow_non_draft and self.honour_message_flags_on_create:
                try:
                    value = int(flags[1], 0)
                except ValueError as exc:
                    raise bad_request(
                        "Integer 0x0E07 needs an integer value.", "ErrorInvalidRequest"
                    ) from exc
                props["isDraft"] = bool(value & _MF_UNSENT)
                props["isRead"] = bool(value & _MF_READ)
            for tag, prop in ((_TAG_DELIVERY, "receivedDateTime"), (_TAG_SUBMIT, "sentDateTime")):
                if tag in msg.ext:
                    try:
                        props[prop] = parse_datetime(msg.ext.pop(tag)[1]).strftime("%Y-%m-%dT%H:%M:%SZ")
                    except ValueError as exc:
                        raise bad_request(
                            f"{prop} extended property is not a date.", "ErrorInvalidRequest"
                        ) from exc
            if _TAG_MESSAGE_ID in msg.ext:
                props["internetMessageId"] = msg.ext.pop(_TAG_MESSAGE_ID)[1]
            # MS-OXCMAIL 2.2.3.2.x maps the In-Reply-To and References headers to PidTagInReplyToId and
            # PidTagInternetReferences; an item created with them shows them as its headers.
            if _TAG_IN_REPLY_TO in msg.ext:
                props["_inReplyTo"] = msg.ext[_TAG_IN_REPLY_TO][1]
            if _TAG_REFERENCES in msg.ext:
                props["_references"] = msg.ext[_TAG_REFERENCES][1]
            if props.get("_inReplyTo") and self.thread_created_items_by_in_reply_to:
                # Inference (graph.thread-created-items): the same conversation as the message it answers.
                answered = next(
                    (
                        m
                        for m in mb.messages.values()
                        if m.props.get("internetMessageId") == props["_inReplyTo"]
                    ),
                    None,
                )
                if answered is not None and not data.get("conversationId"):
                    props["conversationId"] = answered.props.get("conversationId")
            if not self.keep_internet_message_id_on_create:
                props["internetMessageId"] = f"<{uuid.uuid4().hex.upper()}@{mb.upn.split('@')[-1]}>"
            if "isRead" in data:
                props["isRead"] = bool(data["isRead"])
            msg.attachments = self._attachments_from_json(data.get("attachments"))
            self._check_size(mb, msg)  # nothing is created when the message is too big
            return self._register(mb, msg)

    def _register(self, mb: Mailbox, msg: Message) -> Message:
        """A new message enters a mailbox: delta sequence, both id indexes, and the delta log."""
        msg.props["_seq"] = self._next_seq()
        mb.messages[msg.imm_id] = msg
        mb.rest_index[msg.rest_id] = msg.imm_id
        self._log(mb, msg.folder_id, "created", msg)
        return msg

    def update_message(self, mb: Mailbox, msg: Message, data: Mapping[str, Any]) -> Message:
        """``PATCH .../messages/{id}`` (learn.microsoft.com/graph/api/message-update)."""
        with self._lock:
            for key in data:
                if key.startswith("@odata"):
                    continue
                if key not in _ALWAYS_UPDATABLE and key not in _DRAFT_ONLY:
                    raise bad_request(
                        f"The property '{key}' does not exist on type 'microsoft.graph.message' "
                        "or is read-only.",
                        "RequestBodyRead",
                    )
                if key in _DRAFT_ONLY and not msg.props.get("isDraft"):
                    raise bad_request(
                        "Property can not be updated in sent message.",
                        "ErrorInvalidPropertyUpdateSentMessage",
                    )
            _check_shapes(data)
            for key, value in data.items():
                if key.startswith("@odata") or key == "multiValueExtendedProperties":
                    continue
                if key == "singleValueExtendedProperties":
                    before = msg.ext.get(_TAG_FLAGS)
                    self._apply_ext(msg, value)
                    # PidTagMessageFlags is read-only after the first save (MS-OXCMSG 2.2.1.6).
                    msg.ext.pop(_TAG_FLAGS, None)
                    if before is not None:
                        msg.ext[_TAG_FLAGS] = before
                elif key == "internetMessageHeaders":
                    msg.props[key] = self._validate_headers(value)
                elif key == "categories":
                    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                        raise bad_request("categories must be a collection of strings.", "RequestBodyRead")
                    msg.props[key] = list(value)
                else:
                    msg.props[key] = value
            self._touch(msg)
            self._log(mb, msg.folder_id, "updated", msg)
            return msg

    def move_message(self, mb: Mailbox, msg: Message, dest: Folder, *, copy: bool = False) -> Message:
        """``POST .../move`` and ``.../copy`` (learn.microsoft.com/graph/api/message-move): 201 + the item.

        A move gives the message a new REST id; the immutable id stays
        (learn.microsoft.com/graph/outlook-immutable-id).
        """
        with self._lock:
            if copy:
                clone = Message(
                    _new_immutable_id(),
                    _new_rest_id(),
                    dest.id,
                    json.loads(json.dumps(msg.props)),
                    dict(msg.ext),
                    _copied_attachments(msg.attachments),
                )
                return self._register(mb, clone)
            if dest.id == msg.folder_id:
                return msg
            self._log(mb, msg.folder_id, "removed", msg)
            del mb.rest_index[msg.rest_id]
            msg.rest_id = _new_rest_id()
            mb.rest_index[msg.rest_id] = msg.imm_id
            msg.folder_id = dest.id
            self._touch(msg)
            self._log(mb, dest.id, "created", msg)
            return msg

    def delete_message(self, mb: Mailbox, msg: Message) -> None:
        """``DELETE .../messages/{id}`` (learn.microsoft.com/graph/api/message-delete): 204.

        Exchange soft-deletes: the item leaves its folder (delta reports ``@removed``) for the hidden
        Recoverable Items "Deletions" folder, not for Deleted Items (github.com/microsoftgraph/
        msgraph-sdk-powershell/issues/3265: "it can be recovered from recoverable items"); deleting it there
        fails with ErrorCannotDeleteObject
        (github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/7764).
        """
        with self._lock:
            dumpster = self.folder(mb, "recoverableitemsdeletions")
            if msg.folder_id == dumpster.id:
                raise bad_request("Object cannot be deleted.", "ErrorCannotDeleteObject")
            self.move_message(mb, msg, dumpster)

    # ------------------------------------------------------------------ attachments

    def add_attachment(self, mb: Mailbox, msg: Message, item: Mapping[str, Any]) -> Attachment:
        with self._lock:
            att = self._attachment_from_json(item)
            msg.attachments.append(att)
            try:
                self._check_size(mb, msg)
            except GraphApiError:
                msg.attachments.remove(att)
                raise
            self._touch(msg)
            self._log(mb, msg.folder_id, "updated", msg)
            return att

    def get_attachment(self, msg: Message, key: str) -> Attachment:
        with self._lock:
            for att in msg.attachments:
                if att.id == key:
                    return att
            if not looks_like_id(key):
                raise malformed_id()
            raise not_found()

    def delete_attachment(self, mb: Mailbox, msg: Message, att: Attachment) -> None:
        with self._lock:
            msg.attachments.remove(att)
            self._touch(msg)
            self._log(mb, msg.folder_id, "updated", msg)

    def create_upload_session(self, mb: Mailbox, msg: Message, item: Mapping[str, Any]) -> UploadSession:
        """learn.microsoft.com/graph/api/attachment-createuploadsession: ``AttachmentItem`` (name, size)."""
        with self._lock:
            if str(item.get("attachmentType", "file")).lower() != "file":
                raise bad_request(
                    "The emulator supports upload sessions for file attachments only.", "ErrorInvalidRequest"
                )
            name = str(item.get("name") or "")
            try:
                size = int(item.get("size", -1))
            except (TypeError, ValueError):
                size = -1
            if not name or size < 0:
                raise bad_request("AttachmentItem needs a name and a size.", "ErrorInvalidRequest")
            if size < self.min_upload_session_bytes:
                # api-reference/v1.0/api/attachment-createuploadsession.md: between 3 MB and 150 MB; below,
                # POST the attachment. The code: concepts/outlook-large-attachments.md, "Errors". Where "3 MB"
                # lies (3 MiB here) is an inference (min_upload_session_bytes).
                raise bad_request(
                    "The attachment size is less than the minimum size of 3 MB for an upload session.",
                    "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
                )
            if size > MAX_UPLOAD_SIZE:
                raise bad_request(
                    "The attachment size exceeds the maximum of 150 MB.", "ErrorAttachmentSizeLimitExceeded"
                )
            if not self.upload_session_on_non_draft and not msg.props.get("isDraft"):
                # Inference (see upload_session_on_non_draft): the contradicting tenant's answer.
                raise bad_request(
                    "An upload session can only be created for a draft message.", "ErrorInvalidOperation"
                )
            session = UploadSession(
                id=_b64(secrets.token_bytes(18)),
                mailbox_id=mb.id,
                message_id=msg.imm_id,
                name=name,
                size=size,
                content_type=str(item.get("contentType") or "application/octet-stream"),
                is_inline=bool(item.get("isInline", False)),
                content_id=item.get("contentId"),
                expires=self.clock() + 6 * 3600,
            )
            self._uploads[session.id] = session
            return session

    def upload_token(self, session_id: str) -> str:
        return _b64(hmac.new(self._key, f"upload:{session_id}".encode(), hashlib.sha256).digest()[:18])

    def upload_session(self, session_id: str, token: str) -> UploadSession:
        with self._lock:
            session = self._uploads.get(session_id)
            if session is None or not hmac.compare_digest(token, self.upload_token(session_id)):
                raise GraphApiError(404, "ErrorItemNotFound", "The upload session was not found.")
            if self.clock() > session.expires:
                self._uploads.pop(session_id, None)
                raise GraphApiError(404, "ErrorItemNotFound", "The upload session has expired.")
            return session

    def cancel_upload(self, session: UploadSession) -> None:
        """Drop an upload session and what it received (concepts/outlook-large-attachments.md, "Cancel")."""
        with self._lock:
            self._uploads.pop(session.id, None)

    def upload_chunk(
        self, session: UploadSession, start: int, end: int, total: int, data: bytes
    ) -> Attachment | None:
        """Append one ranged chunk; returns the attachment when the last byte arrived."""
        with self._lock:
            if (
                total != session.size
                or start != len(session.data)
                or end - start + 1 != len(data)
                or end >= total
            ):
                raise GraphApiError(
                    416,
                    "InvalidRange",
                    f"The Content-Range does not match the next expected range {len(session.data)}-.",
                )
            mb = self._mailboxes[session.mailbox_id]
            msg = mb.messages.get(session.message_id)
            if msg is None:
                self._uploads.pop(session.id, None)
                raise not_found()
            if counted_size(msg, len(session.data) + len(data)) > mb.max_message_size:
                # Refused part-way, when the bytes arrive (issue 2561 above: "after 39 MB" of 43); the
                # session is gone with it (inference: the issue does not say whether it could be resumed).
                self._uploads.pop(session.id, None)
                raise message_too_large()
            session.data.extend(data)
            if len(session.data) < session.size:
                return None
            self._uploads.pop(session.id, None)
            att = Attachment(
                _new_rest_id(),
                session.name,
                session.content_type,
                bytes(session.data),
                session.is_inline,
                session.content_id,
                self.now_iso(),
            )
            msg.attachments.append(att)
            self._touch(msg)
            self._log(mb, msg.folder_id, "updated", msg)
            return att

    # ------------------------------------------------------------------ sending and delivery

    def _deliver(self, sender: Mailbox, msg: Message) -> None:
        """Route a sent message: tenant recipients get a copy in their inbox, others the outbound log."""
        recipients = [
            *(msg.props.get("toRecipients") or []),
            *(msg.props.get("ccRecipients") or []),
            *(msg.props.get("bccRecipients") or []),
        ]
        external: list[str] = []
        seen: set[str] = set()
        for r in recipients:
            address = str((r.get("emailAddress") or {}).get("address") or "")
            low = address.lower()
            if not address or low in seen:
                continue
            seen.add(low)
            target_id = self._by_address.get(low)
            if target_id is None:
                external.append(address)
                continue
            target = self._mailboxes[target_id]
            props = json.loads(json.dumps(msg.props))
            props.update(
                {
                    "isDraft": False,
                    "isRead": False,
                    "categories": [],
                    "receivedDateTime": self.now_iso(),
                    "bccRecipients": [],
                    "flag": {"flagStatus": "notFlagged"},
                    "_transport": True,
                }
            )
            copy = Message(
                _new_immutable_id(),
                _new_rest_id(),
                target.well_known["inbox"],
                props,
                {k: v for k, v in msg.ext.items() if k == _TAG_MESSAGE_CLASS},  # S/MIME stays S/MIME
                _copied_attachments(msg.attachments),
            )
            self._register(target, copy)
        if external:
            self._outbound.append(
                {
                    "from": sender.upn,
                    "to": external,
                    "subject": msg.props.get("subject"),
                    "internetMessageId": msg.props.get("internetMessageId"),
                    "at": self.now_iso(),
                    "message": self._helper_view(sender, msg),
                }
            )

    @staticmethod
    def _require_recipients(message: Mapping[str, Any]) -> None:
        if not (message.get("toRecipients") or message.get("ccRecipients") or message.get("bccRecipients")):
            raise bad_request(
                "At least one recipient is required, but none were found.", "ErrorInvalidRecipients"
            )
        for key in ("toRecipients", "ccRecipients", "bccRecipients"):
            for r in message.get(key) or []:
                address = str((r.get("emailAddress") or {}).get("address") or "")
                if "@" not in address.strip("@"):
                    raise bad_request(
                        f"At least one recipient isn't valid: '{address}'.", "ErrorInvalidRecipients"
                    )

    def grant_send_as(self, mailbox: str, address: str) -> None:
        """Let ``mailbox`` send with ``from`` = ``address`` (Exchange Send As / Send on Behalf)."""
        with self._lock:
            self._send_as.setdefault(self.mailbox(mailbox).id, set()).add(address.lower())

    def _check_send_as(self, mb: Mailbox, message: Mapping[str, Any]) -> None:
        """``from`` must be the mailbox itself (its address or an alias) or one it has Send As / Send on
        Behalf for; else 403 ``ErrorSendAsDenied`` (concepts/outlook-send-mail-from-other-user.md, example
        2, with this status, code and message). Applying the same rule to ``/send`` of a draft is an
        inference: the page shows sendMail, both submit through the same Exchange check."""
        sender = message.get("from")
        if not isinstance(sender, dict):
            return
        address = str((sender.get("emailAddress") or {}).get("address") or "").lower()
        if not address or address in {mb.upn.lower(), *mb.aliases, *self._send_as.get(mb.id, set())}:
            return
        raise GraphApiError(
            403,
            "ErrorSendAsDenied",
            "The user account which was used to submit this request does not have the right to send mail "
            "on behalf of the specified sending account. Cannot submit message.",
        )

    def _stamp_sent(self, mb: Mailbox, msg: Message) -> None:
        now = self.now_iso()
        me = {"emailAddress": {"name": mb.display_name, "address": mb.upn}}
        msg.props.update({"isDraft": False, "isRead": True, "sentDateTime": now, "receivedDateTime": now})
        msg.props["from"] = msg.props.get("from") or me
        msg.props["sender"] = msg.props.get("sender") or msg.props["from"]

    def send_mail(self, mb: Mailbox, message: Mapping[str, Any], save_to_sent_items: bool = True) -> Message:
        """``POST /users/{id}/sendMail`` (learn.microsoft.com/graph/api/user-sendmail).

        202, copy in Sent Items
        unless ``saveToSentItems`` is false."""
        with self._lock:
            self._require_recipients(message)
            self._check_send_as(mb, message)
            data = {k: v for k, v in message.items() if k != "singleValueExtendedProperties"}
            sent = self.create_message(mb, self.folder(mb, "sentitems"), data, allow_non_draft=False)
            self._apply_ext(sent, message.get("singleValueExtendedProperties"))
            self._stamp_sent(mb, sent)
            self._deliver(mb, sent)
            if not save_to_sent_items:
                mb.messages.pop(sent.imm_id, None)
                mb.rest_index.pop(sent.rest_id, None)
                self._log(mb, sent.folder_id, "removed", sent)
            return sent

    @staticmethod
    def _message_from_mime(payload: bytes) -> tuple[dict[str, Any], bytes, bool]:
        """Base64 MIME as Graph takes it (text/plain body of ``sendMail`` or ``POST .../messages``) → the
        message resource, the raw MIME, and whether it is S/MIME. S/MIME is sent only as MIME
        (concepts/outlook-send-mime-message.md) and stored as [MS-OXOSMIME] 2.1.3 describes
        (graph_dpg/sandbox/graph/smime.py)."""
        try:
            message, attachments = parse_mime_base64(payload)
        except MimeTooDeep as exc:
            # The code Exchange gives MIME it cannot convert (EWS ResponseCodeType
            # ErrorMimeContentConversionFailed); the nesting limit is an inference (mime.MAX_MIME_DEPTH).
            raise bad_request(str(exc), "ErrorMimeContentConversionFailed") from exc
        except ValueError as exc:
            raise bad_request(
                "Invalid base64 string for MIME content.", "ErrorMimeContentInvalidBase64String"
            ) from exc
        raw = base64.b64decode(b"".join(payload.split()))
        smime = stored_form(raw)
        if smime is not None:
            message["body"] = smime.body
            attachments = [smime.attachment]
            message["singleValueExtendedProperties"] = [
                {"id": MESSAGE_CLASS_TAG, "value": smime.message_class}
            ]
        message["attachments"] = [
            {"name": n, "contentType": c, "contentBytes": base64.b64encode(d).decode()}
            for n, c, d in attachments
        ]
        return message, raw, smime is not None

    def send_mime(self, mb: Mailbox, payload: bytes, save_to_sent_items: bool = True) -> Message:
        message, raw, smime = self._message_from_mime(payload)
        if not self.keep_mime_message_id_on_send:
            message.pop("internetMessageId", None)
        sent = self.send_mail(mb, message, save_to_sent_items)
        if smime:
            self._keep_mime(mb, sent, raw)
        return sent

    def create_mime_message(self, mb: Mailbox, folder: Folder, payload: bytes) -> Message:
        """``POST .../messages`` with base64 MIME as text/plain: a draft made from the MIME
        (concepts/outlook-send-mime-message.md, "Create a message draft"), S/MIME stored as sent."""
        message, raw, smime = self._message_from_mime(payload)
        msg = self.create_message(mb, folder, message)
        if smime:
            msg.props["_mime"] = base64.b64encode(raw).decode()
        return msg

    def _keep_mime(self, mb: Mailbox, msg: Message, raw: bytes) -> None:
        """An S/MIME message keeps the MIME it came as: ``$value`` returns it byte for byte (a signature
        covers those bytes; Graph cannot rebuild them, microsoft-graph-docs issue 4585). Recipients'
        copies made by transport get it too."""
        encoded = base64.b64encode(raw).decode()
        msg.props["_mime"] = encoded
        imid = msg.props.get("internetMessageId")
        for other in self._mailboxes.values():
            for copy in other.messages.values():
                if copy.props.get("internetMessageId") == imid and _TAG_MESSAGE_CLASS in copy.ext:
                    copy.props["_mime"] = encoded

    def deliver_mime(
        self,
        mailbox: str,
        raw: bytes,
        *,
        folder: str = "inbox",
        received_at: datetime | None = None,
        sent: bool = False,
    ) -> str:
        """Put a message that arrived (or, with ``sent``, was sent) as MIME into a folder, stored as Exchange
        stores it: an S/MIME message per [MS-OXOSMIME] 2.1.3.1 / 2.1.3.2 (message class ``String 0x001A``,
        the one ``smime.p7m`` attachment, no body when encrypted or opaque-signed, ``$value`` the MIME as
        it came); any other message with its body and attachments. Returns the immutable id."""
        try:
            message, attachments = parse_mime_base64(base64.b64encode(raw))
        except ValueError as exc:  # only MimeTooDeep: base64 of bytes always decodes
            raise bad_request(str(exc), "ErrorMimeContentConversionFailed") from exc
        smime = stored_form(raw)
        with self._lock:
            mb = self.mailbox(mailbox)
            when = (received_at or datetime.fromtimestamp(self.clock(), UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
            ext = [
                {"id": "Integer 0x0E07", "value": "1" if sent else "0"},
                {"id": "SystemTime 0x0E06", "value": when},
                {"id": "SystemTime 0x0039", "value": when},
            ]
            if smime is not None:
                message["body"] = smime.body
                attachments = [smime.attachment]
                ext.append({"id": MESSAGE_CLASS_TAG, "value": smime.message_class})
            message["attachments"] = [
                {"name": n, "contentType": c, "contentBytes": base64.b64encode(d).decode()}
                for n, c, d in attachments
            ]
            message["singleValueExtendedProperties"] = ext
            if not message.get("from"):
                message.pop("from", None)
            msg = self.create_message(mb, self.folder(mb, "sentitems" if sent else folder), message)
            if not sent:
                msg.props["_transport"] = True  # arrived by mail transport: it has internet headers
            if smime is not None:
                msg.props["_mime"] = base64.b64encode(raw).decode()
            return msg.imm_id

    def send_draft(self, mb: Mailbox, msg: Message) -> None:
        """``POST .../messages/{id}/send`` (learn.microsoft.com/graph/api/message-send).

        202; the draft moves to
        Sent Items."""
        with self._lock:
            if not msg.props.get("isDraft"):
                raise bad_request("The item is not a draft and cannot be sent.", "ErrorInvalidOperation")
            self._require_recipients(msg.props)
            self._check_send_as(mb, msg.props)
            self._stamp_sent(mb, msg)
            self.move_message(mb, msg, self.folder(mb, "sentitems"))
            self._deliver(mb, msg)

    def create_reply(
        self, mb: Mailbox, msg: Message, data: Mapping[str, Any], reply_all: bool = False
    ) -> Message:
        """``POST .../createReply`` / ``createReplyAll`` (learn.microsoft.com/graph/api/message-createreply):
        a draft in Drafts addressed to the original sender, same conversation."""
        with self._lock:
            original = msg.props
            to = list(original.get("replyTo") or []) or [original.get("from") or original.get("sender")]
            to = [r for r in to if r]
            cc: list[Any] = []
            if reply_all:
                me = {mb.upn.lower(), *mb.aliases}
                to += [
                    r
                    for r in original.get("toRecipients") or []
                    if str((r.get("emailAddress") or {}).get("address", "")).lower() not in me
                ]
                cc = [
                    r
                    for r in original.get("ccRecipients") or []
                    if str((r.get("emailAddress") or {}).get("address", "")).lower() not in me
                ]
            comment = str(data.get("comment") or "")
            quoted = str((original.get("body") or {}).get("content") or "")
            subject = str(original.get("subject") or "")
            draft = {
                "subject": subject if subject.lower().startswith("re:") else f"RE: {subject}",
                "toRecipients": to,
                "ccRecipients": cc,
                "conversationId": original.get("conversationId"),
                "body": {
                    "contentType": "html",
                    "content": f"<html><body>{comment}<hr>{quoted}</body></html>",
                },
                "internetMessageHeaders": [],
            }
            extra = dict(data.get("message") or {})
            headers = extra.pop("internetMessageHeaders", None)
            draft.update(extra)
            reply = self.create_message(mb, self.folder(mb, "drafts"), draft, allow_non_draft=False)
            reply.props["internetMessageHeaders"] = self._validate_headers(headers)
            reply.props["_inReplyTo"] = original.get("internetMessageId")
            if original.get("internetMessageId"):
                # MS-OXOMSG 2.2.1.1 PidTagInReplyToId (String 0x1042): the answered message's Message-ID,
                # set by Exchange/Outlook on a reply and kept on the item in Sent Items.
                reply.ext[_TAG_IN_REPLY_TO] = ("String 0x1042", str(original["internetMessageId"]))
            return reply

    # ------------------------------------------------------------------ contacts

    def add_contact(
        self, mailbox: str, display_name: str, emails: Iterable[str], certificates: Iterable[bytes] = ()
    ) -> str:
        """A contact in ``mailbox`` with the raw PidTagUserX509Certificate values ``certificates``, as
        Outlook stores a contact's certificates (contacts.py); returns its id."""
        contact = new_contact(display_name, emails, certificates)
        with self._lock:
            self.mailbox(mailbox).contacts[contact["id"]] = contact
        return str(contact["id"])

    # ------------------------------------------------------------------ master categories

    def add_category(self, mb: Mailbox, display_name: str, color: str = "none") -> dict[str, str]:
        """learn.microsoft.com/graph/api/outlookuser-post-mastercategories: unique name, preset0..24."""
        with self._lock:
            if not display_name:
                raise bad_request("The displayName property is required.", "ErrorInvalidRequest")
            self._check_color(color)
            if any(c["displayName"].lower() == display_name.lower() for c in mb.categories):
                raise GraphApiError(
                    self.duplicate_category_status,
                    "ErrorDuplicateCategory",
                    f"A category with the name '{display_name}' already exists.",
                )
            cat = {"id": str(uuid.uuid4()), "displayName": display_name, "color": color}
            mb.categories.append(cat)
            return dict(cat)

    @staticmethod
    def _check_color(color: Any) -> None:
        if not isinstance(color, str) or color.lower() not in CATEGORY_COLORS:
            raise bad_request(
                f"Cannot convert the literal '{color}' to the expected type 'microsoft.graph.categoryColor'.",
                "RequestBodyRead",
            )

    def category(self, mb: Mailbox, key: str) -> dict[str, str]:
        with self._lock:
            for cat in mb.categories:
                if cat["id"] == key:
                    return cat
            raise not_found()

    def update_category(self, mb: Mailbox, key: str, data: Mapping[str, Any]) -> dict[str, str]:
        """Only ``color`` is writable; ``displayName`` cannot change (resources/outlookcategory)."""
        with self._lock:
            cat = self.category(mb, key)
            for prop, value in data.items():
                if prop == "color":
                    self._check_color(value)
                elif prop == "displayName" and value == cat["displayName"]:
                    continue
                elif prop == "displayName":
                    raise bad_request(
                        "The displayName of a category cannot be changed.", "ErrorInvalidRequest"
                    )
                elif not prop.startswith("@odata") and prop != "id":
                    raise bad_request(f"The property '{prop}' cannot be updated.", "RequestBodyRead")
            if "color" in data:
                cat["color"] = str(data["color"])
            return dict(cat)

    def delete_category(self, mb: Mailbox, key: str) -> None:
        with self._lock:
            mb.categories.remove(self.category(mb, key))

    def add_message_rule(
        self,
        mailbox: str,
        name: str,
        *,
        conditions: Mapping[str, Any] | None = None,
        actions: Mapping[str, Any] | None = None,
        exceptions: Mapping[str, Any] | None = None,
        sequence: int | None = None,
        enabled: bool = True,
    ) -> dict[str, Any]:
        """Give the mailbox an inbox rule as the owner would create it in Outlook (messagerule.md;
        ``moveToFolder`` takes a folder id, messageruleactions.md)."""
        with self._lock:
            mb = self.mailbox(mailbox)
            rule = {
                "id": _b64(secrets.token_bytes(12)) + "=",
                "displayName": name,
                "sequence": sequence if sequence is not None else len(mb.rules) + 1,
                "isEnabled": enabled,
                "hasError": False,
                "isReadOnly": False,
                "conditions": dict(conditions or {}),
                "actions": dict(actions or {}),
                "exceptions": dict(exceptions) if exceptions else None,
            }
            mb.rules.append(rule)
            return dict(rule)

    def message_rules(self, mailbox: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self.mailbox(mailbox).rules]

    def master_categories(self, mailbox: str) -> list[dict[str, str]]:
        with self._lock:
            return [dict(c) for c in self.mailbox(mailbox).categories]

    # ------------------------------------------------------------------ delta

    def _sign(self, payload: Mapping[str, Any]) -> str:
        raw = zlib.compress(json.dumps(payload, separators=(",", ":")).encode())
        tag = hmac.new(self._key, raw, hashlib.sha256).digest()[:16]
        return _b64(raw) + "." + _b64(tag)

    def _unsign(self, token: str) -> dict[str, Any] | None:
        try:
            body, _, tag = token.partition(".")
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            want = hmac.new(self._key, raw, hashlib.sha256).digest()[:16]
            if not hmac.compare_digest(_b64(want), tag):
                return None
            value = json.loads(zlib.decompress(raw))
        except (ValueError, zlib.error):
            return None
        return value if isinstance(value, dict) else None

    def expire_delta_tokens(self) -> None:
        """Invalidate every outstanding nextLink/deltaLink: the next use answers 410 ``syncStateNotFound``."""
        with self._lock:
            self._epoch += 1
            self._rounds.clear()

    def sync_state_error(self, location: str | None = None) -> GraphApiError:
        # learn.microsoft.com/graph/delta-query-overview ("Synchronization reset"): 410 Gone, may carry a
        # Location header to restart from; error code syncStateNotFound. Graph may also answer another 4xx
        # with that code (same page), hence ``sync_state_status``/``sync_state_code``.
        headers = {"Location": location} if location and self.sync_state_status == 410 else None
        return GraphApiError(
            self.sync_state_status,
            self.sync_state_code,
            "The sync state is not found or has expired. Restart the synchronization without a state token.",
            headers,
        )

    def _coalesce(
        self, mb: Mailbox, folder: Folder, from_seq: int, to_seq: int, change_type: str | None
    ) -> list[tuple[str, str, str]]:
        firsts: dict[str, str] = {}
        lasts: dict[str, tuple[int, str, str]] = {}
        order: list[str] = []
        # The log is append-only in change-number order, so an idle round costs a binary search.
        start_at = bisect.bisect_right(folder.log, from_seq, key=lambda e: e[0])
        for seq, kind, imm, rest in folder.log[start_at:]:
            if seq > to_seq:
                break
            if imm not in firsts:
                firsts[imm] = kind
                order.append(imm)
            lasts[imm] = (seq, kind, rest)
        entries: list[tuple[str, str, str]] = []
        for imm in sorted(order, key=lambda i: lasts[i][0]):
            first, (_, last, rest) = firsts[imm], lasts[imm]
            if last == "removed":
                if first == "created" or from_seq == 0:
                    continue
                kind = "deleted"
            else:
                kind = "created" if first in ("created", "removed") or from_seq == 0 else "updated"
            if change_type and kind not in {c.strip().lower() for c in change_type.split(",")}:
                continue
            entries.append((kind, imm, rest))
        return entries

    def delta(
        self,
        mb: Mailbox,
        folder: Folder,
        query: Mapping[str, str],
        *,
        page_size: int | None,
        immutable: bool,
        link_base: str,
        body_text: bool = False,
    ) -> dict[str, Any]:
        """One page of ``GET .../mailFolders/{id}/messages/delta``.

        learn.microsoft.com/graph/api/message-delta; learn.microsoft.com/graph/delta-query-messages.
        """
        from graph_dpg.sandbox.graph.odata import parse_expand, parse_select

        with self._lock:
            offset = 0
            if "$skiptoken" in query:
                state = self._unsign(query["$skiptoken"])
                rnd = self._rounds.get(str(state.get("r"))) if state else None
                if (
                    state is None
                    or rnd is None
                    or state.get("e") != self._epoch
                    or rnd.folder_id != folder.id
                ):
                    raise self.sync_state_error()
                round_id, offset = str(state["r"]), int(state.get("o", 0))
            else:
                if "$deltatoken" in query:
                    state = self._unsign(query["$deltatoken"])
                    if (
                        state is None
                        or state.get("e") != self._epoch
                        or state.get("m") != mb.id
                        or state.get("f") != folder.id
                    ):
                        raise self.sync_state_error()
                    from_seq = int(state["s"])
                    options = dict(state["o"])
                else:
                    _check_delta_query(query)
                    from_seq = 0
                    options = {
                        "select": query.get("$select"),
                        "expand": query.get("$expand"),
                        "changeType": query.get("changeType"),
                        "filter": query.get("$filter"),
                        "top": query.get("$top"),
                    }
                    if options["changeType"] is not None and not self.delta_accepts_change_type:
                        raise bad_request("The query option 'changeType' is not supported.")
                    flt = options["filter"]
                    if flt and not _is_received_filter(flt):
                        # learn.microsoft.com/graph/delta-query-messages: only receivedDateTime ge|gt.
                        raise bad_request("The only supported $filter on delta is receivedDateTime ge|gt.")
                to_seq = self._seq
                entries = self._coalesce(mb, folder, from_seq, to_seq, options.get("changeType"))
                round_id = _b64(secrets.token_bytes(12))
                self._rounds[round_id] = _DeltaRound(mb.id, folder.id, entries, to_seq, options, self._epoch)
                while len(self._rounds) > 2000:
                    self._rounds.popitem(last=False)
            rnd = self._rounds[round_id]
            opts = rnd.options
            size = page_size or (int(opts["top"]) if opts.get("top") else 10)
            select = parse_select(opts.get("select"))
            expand = parse_expand(opts["expand"]) if opts.get("expand") else []
            pred = compile_filter(opts["filter"]) if opts.get("filter") else None
            values: list[dict[str, Any]] = []
            i = offset
            while i < len(rnd.entries) and len(values) < size:
                kind, imm, rest = rnd.entries[i]
                i += 1
                if kind == "deleted":
                    values.append(
                        {
                            "@odata.type": "#microsoft.graph.message",
                            "id": imm if immutable else rest,
                            "@removed": {"reason": "deleted"},
                        }
                    )
                    continue
                msg = mb.messages.get(imm)
                if msg is None or msg.folder_id != folder.id:
                    continue
                if pred is not None and not pred(self.message_view(mb, msg, immutable=True, for_filter=True)):
                    continue
                view = self.message_view(
                    mb, msg, immutable=immutable, select=select, expand=expand, body_text=body_text
                )
                values.append({"@odata.type": msg.odata_type, **view})
            page: dict[str, Any] = {"value": values}
            if i < len(rnd.entries):
                page["@odata.nextLink"] = (
                    f"{link_base}?$skiptoken={self._sign({'r': round_id, 'o': i, 'e': self._epoch})}"
                )
            else:
                token = self._sign({"m": mb.id, "f": folder.id, "s": rnd.to_seq, "o": opts, "e": self._epoch})
                page["@odata.deltaLink"] = f"{link_base}?$deltatoken={token}"
                self._rounds.pop(round_id, None)
            return page

    # ------------------------------------------------------------------ test helpers

    def put_sent_message(
        self,
        mailbox: str,
        subject: str,
        body_html: str,
        to: Sequence[Recipient] = (),
        cc: Sequence[Recipient] = (),
        attachments: Sequence[AttachmentSpec] = (),
        internet_message_id: str | None = None,
        from_: Recipient | None = None,
        *,
        bcc: Sequence[Recipient] = (),
        headers: Mapping[str, str] | None = None,
        folder: str = "sentitems",
        sent_at: datetime | None = None,
    ) -> str:
        """Put a message into Sent Items as Outlook leaves it after sending; returns its immutable id."""
        with self._lock:
            mb = self.mailbox(mailbox)
            sender = recipient_json(from_) if from_ else recipient_json((mb.display_name, mb.upn))
            when = (sent_at or datetime.fromtimestamp(self.clock(), UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
            data: dict[str, Any] = {
                "subject": subject,
                "body": {"contentType": "html", "content": body_html},
                "toRecipients": [recipient_json(r) for r in to],
                "ccRecipients": [recipient_json(r) for r in cc],
                "bccRecipients": [recipient_json(r) for r in bcc],
                "from": sender,
                "sender": recipient_json((mb.display_name, mb.upn)),
                "internetMessageHeaders": [{"name": k, "value": v} for k, v in (headers or {}).items()],
                "attachments": [
                    {"name": n, "contentType": c, "contentBytes": base64.b64encode(d).decode()}
                    for n, c, d in attachments
                ],
                "singleValueExtendedProperties": [
                    {"id": "Integer 0x0E07", "value": "1"},
                    {"id": "SystemTime 0x0E06", "value": when},
                    {"id": "SystemTime 0x0039", "value": when},
                ],
            }
            if internet_message_id:
                data["internetMessageId"] = internet_message_id
            else:
                data["internetMessageId"] = f"<{uuid.uuid4().hex.upper()}@{mb.upn.split('@')[-1]}>"
            return self.create_message(mb, self.folder(mb, folder), data).imm_id

    def put_sent_meeting(
        self,
        mailbox: str,
        subject: str,
        body_html: str,
        to: Sequence[Recipient],
        *,
        start: str,
        end: str,
        time_zone: str = "UTC",
        location: str = "",
        room: Recipient | None = None,
        resources: Sequence[Recipient] = (),
        cancelled: bool = False,
        previous_start: str | None = None,
        previous_end: str | None = None,
        ical_uid: str | None = None,
        recurrence: Mapping[str, Any] | None = None,
    ) -> str:
        """Put a meeting request (or, ``cancelled``, a cancellation) into Sent Items as Outlook leaves it
        when the organiser sends it: an eventMessageRequest / eventMessage with the meeting's fields, the
        message class, and the organiser's event behind ``event`` (attendees with ``type``
        required/resource; resources/attendee.md). A room booked as the location is an attendee of type
        resource and the location's ``locationEmailAddress`` (resources/location.md). Returns the id."""
        with self._lock:
            mb = self.mailbox(mailbox)
            all_resources = [*([room] if room else []), *resources]
            msg_id = self.put_sent_message(
                mailbox, subject, body_html, to=[*to, *all_resources], from_=(mb.display_name, mb.upn)
            )
            msg = mb.messages[msg_id]
            msg.odata_type = EVENT_MESSAGE_TYPE if cancelled else EVENT_MESSAGE_REQUEST_TYPE
            place: dict[str, Any] = {"displayName": location, "locationType": "default"}
            if room is not None:
                named = recipient_json(room)["emailAddress"]
                place = {
                    "displayName": location or named["name"],
                    "locationType": "conferenceRoom",
                    "locationEmailAddress": named["address"],
                }
            zoned = {"startDateTime": {"dateTime": start, "timeZone": time_zone}}
            zoned["endDateTime"] = {"dateTime": end, "timeZone": time_zone}
            msg.props.update(
                {
                    "meetingMessageType": "meetingCancelled" if cancelled else "meetingRequest",
                    **zoned,
                    "location": place,
                    "type": "seriesMaster" if recurrence else "singleInstance",
                    "recurrence": dict(recurrence) if recurrence else None,
                    "isOutOfDate": False,
                    "isAllDay": False,
                    "isDelegated": False,
                }
            )
            if not cancelled:
                msg.props.update(
                    {
                        "previousStartDateTime": (
                            {"dateTime": previous_start, "timeZone": time_zone} if previous_start else None
                        ),
                        "previousEndDateTime": (
                            {"dateTime": previous_end, "timeZone": time_zone} if previous_end else None
                        ),
                        "previousLocation": None,
                        "responseRequested": True,
                        "allowNewTimeProposals": True,
                    }
                )
            klass = MEETING_CANCELED_CLASS if cancelled else MEETING_REQUEST_CLASS
            msg.ext[_TAG_MESSAGE_CLASS] = ("String 0x001A", klass)
            attendees = [
                {
                    "type": "required",
                    "status": {"response": "none"},
                    "emailAddress": recipient_json(r)["emailAddress"],
                }
                for r in to
            ] + [
                {
                    "type": "resource",
                    "status": {"response": "none"},
                    "emailAddress": recipient_json(r)["emailAddress"],
                }
                for r in all_resources
            ]
            msg.event = {
                "id": _new_immutable_id(),
                "iCalUId": ical_uid or "040000008200E00074C5B7101A82E008" + uuid.uuid4().hex.upper(),
                "subject": subject,
                "isCancelled": cancelled,
                "isOrganizer": True,
                "type": msg.props["type"],
                "start": zoned["startDateTime"],
                "end": zoned["endDateTime"],
                "location": place,
                "locations": [place] if location or room else [],
                "recurrence": msg.props["recurrence"],
                "attendees": attendees,
                "organizer": recipient_json((mb.display_name, mb.upn)),
            }
            return msg_id

    def deliver_to_inbox(
        self,
        mailbox: str,
        subject: str,
        body_html: str,
        from_: Recipient = ("Sender", "sender@example.org"),
        to: Sequence[Recipient] | None = None,
        cc: Sequence[Recipient] = (),
        attachments: Sequence[AttachmentSpec] = (),
        internet_message_id: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        folder: str = "inbox",
        is_read: bool = False,
        received_at: datetime | None = None,
    ) -> str:
        """Put a received (non-draft) message into a folder (default Inbox); returns its immutable id."""
        with self._lock:
            mb = self.mailbox(mailbox)
            when = (received_at or datetime.fromtimestamp(self.clock(), UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
            data: dict[str, Any] = {
                "subject": subject,
                "body": {"contentType": "html", "content": body_html},
                "from": recipient_json(from_),
                "toRecipients": [
                    recipient_json(r) for r in (to if to is not None else [(mb.display_name, mb.upn)])
                ],
                "ccRecipients": [recipient_json(r) for r in cc],
                "internetMessageHeaders": [{"name": k, "value": v} for k, v in (headers or {}).items()],
                "attachments": [
                    {"name": n, "contentType": c, "contentBytes": base64.b64encode(d).decode()}
                    for n, c, d in attachments
                ],
                "singleValueExtendedProperties": [
                    {"id": "Integer 0x0E07", "value": "1" if is_read else "0"},
                    {"id": "SystemTime 0x0E06", "value": when},
                    {"id": "SystemTime 0x0039", "value": when},
                ],
            }
            if internet_message_id:
                data["internetMessageId"] = internet_message_id
            msg = self.create_message(mb, self.folder(mb, folder), data)
            msg.props["_transport"] = True  # arrived by mail transport: it has internet headers
            return msg.imm_id

    def messages(self, mailbox: str, folder: str = "inbox") -> list[dict[str, Any]]:
        """Graph JSON of every message in a folder (newest first), with attachments and ext. properties."""
        with self._lock:
            mb = self.mailbox(mailbox)
            return [self._helper_view(mb, m) for m in self.query_messages(mb, self.folder(mb, folder))]

    def message(self, mailbox: str, message_id: str) -> dict[str, Any]:
        with self._lock:
            mb = self.mailbox(mailbox)
            return self._helper_view(mb, self.get_message(mb, message_id))

    def _helper_view(self, mb: Mailbox, msg: Message) -> dict[str, Any]:
        view = self.message_view(mb, msg, immutable=True, select=None, expand=[Expand("attachments", {})])
        headers = self._headers_view(msg)
        if headers is not None:
            view["internetMessageHeaders"] = headers
        view["singleValueExtendedProperties"] = [{"id": v[0], "value": v[1]} for v in msg.ext.values()]
        view["restId"] = msg.rest_id
        # A deep copy: callers (tests) must not be able to change the tenant's state through it.
        copied: dict[str, Any] = json.loads(json.dumps(view))
        return copied

    def mime(self, mailbox: str, message_id: str) -> bytes:
        with self._lock:
            mb = self.mailbox(mailbox)
            return self.mime_of(mb, self.get_message(mb, message_id))

    def mime_of(self, mb: Mailbox, msg: Message) -> bytes:
        with self._lock:
            if msg.props.get("_mime") and self.smime_value_as_sent:
                return base64.b64decode(msg.props["_mime"])  # S/MIME: as it came (see _keep_mime)
            view = self.message_view(mb, msg, immutable=True)
            view["internetMessageHeaders"] = msg.props.get("internetMessageHeaders") or []
            if msg.props.get("_inReplyTo"):
                view["internetMessageHeaders"] = [
                    *view["internetMessageHeaders"],
                    {"name": "In-Reply-To", "value": msg.props["_inReplyTo"]},
                ]
            if msg.props.get("_references"):
                view["internetMessageHeaders"] = [
                    *view["internetMessageHeaders"],
                    {"name": "References", "value": msg.props["_references"]},
                ]
            atts = [(a.name, a.content_type, a.data, a.is_inline, a.content_id) for a in msg.attachments]
            return build_mime(view, atts)


def _objects(value: Any, key: str) -> list[Mapping[str, Any]]:
    """A JSON collection of objects, or 400 ``RequestBodyRead`` as OData deserialisation answers."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise bad_request(
            f"Cannot read the value of '{key}': expected a collection of objects.", "RequestBodyRead"
        )
    return value


def _strings(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(
            f"Cannot read the value of '{key}': expected a collection of strings.", "RequestBodyRead"
        )
    return list(value)


_RECIPIENT_KEYS = frozenset({"toRecipients", "ccRecipients", "bccRecipients", "replyTo", "from", "sender"})


def _check_recipients(value: Any, key: str, *, many: bool) -> None:
    """Recipients are ``{"emailAddress": {"address", "name"}}`` objects (resources/recipient); other shapes
    fail OData deserialisation with 400 ``RequestBodyRead``."""
    if value is None:
        return
    items = value if many else [value]
    if many and not isinstance(value, list):
        items = [None]
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("emailAddress"), dict):
            raise bad_request(
                f"Cannot read the value of '{key}': expected microsoft.graph.recipient objects.",
                "RequestBodyRead",
            )


def _copied_attachments(attachments: Sequence[Attachment]) -> list[Attachment]:
    """Attachments of a copied message get ids of their own, as in Exchange."""
    return [
        Attachment(_new_rest_id(), a.name, a.content_type, a.data, a.is_inline, a.content_id, a.last_modified)
        for a in attachments
    ]


def _check_item_body(value: Any, key: str) -> None:
    """A body is an itemBody object ``{"contentType": "text"|"html", "content": str}`` (resources/itembody);
    anything else fails OData deserialisation with 400 ``RequestBodyRead`` (tests/integration/graph_emulator/
    test_fuzz.py sends such bodies)."""
    if value is None:
        return
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("content", ""), str)
        or str(value.get("contentType", "text")).lower() not in ("text", "html")
    ):
        raise bad_request(
            f"Cannot read the value of '{key}': expected a microsoft.graph.itemBody object.",
            "RequestBodyRead",
        )


_BOOL_PROPS = {"isRead", "isDraft", "isDeliveryReceiptRequested", "isReadReceiptRequested"}
_STRING_PROPS = {"subject", "internetMessageId", "conversationId", "inferenceClassification"}
_IMPORTANCE = {"low", "normal", "high"}


def _check_shapes(data: Mapping[str, Any]) -> None:
    """Property values of the wrong JSON type fail OData deserialisation with 400 ``RequestBodyRead``
    (learn.microsoft.com/graph/api/resources/message lists each property's type); the fuzz test sends them."""
    for key, value in data.items():
        if value is None:
            continue
        if key in ("toRecipients", "ccRecipients", "bccRecipients", "replyTo"):
            _check_recipients(value, key, many=True)
        elif key in ("from", "sender"):
            _check_recipients(value, key, many=False)
        elif key in ("body", "uniqueBody"):
            _check_item_body(value, key)
        elif key == "flag":
            ok = isinstance(value, dict) and all(
                isinstance(v, str | dict | type(None)) for v in value.values()
            )
            if not ok:
                raise bad_request(
                    "Cannot read the value of 'flag': expected a microsoft.graph.followupFlag object.",
                    "RequestBodyRead",
                )
        elif key == "importance":
            if not isinstance(value, str) or value.lower() not in _IMPORTANCE:
                raise bad_request(
                    f"Cannot convert the literal '{value}' to the expected type "
                    "'microsoft.graph.importance'.",
                    "RequestBodyRead",
                )
        elif key in _BOOL_PROPS and not isinstance(value, bool):
            raise bad_request(
                f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'.", "RequestBodyRead"
            )
        elif key in _STRING_PROPS and not isinstance(value, str):
            raise bad_request(
                f"Cannot convert the value of '{key}' to the expected type 'Edm.String'.", "RequestBodyRead"
            )


def _check_filter_orderby(filter_text: str, orderby: str) -> None:
    """learn.microsoft.com/graph/api/user-list-messages ("Using filter and orderby in the same query"): the
    $orderby properties must open the $filter, in the same order, else 400 ``InefficientFilter``."""
    ordered = [part.strip().split(" ")[0].lower() for part in orderby.split(",") if part.strip()]
    in_filter = [p.lower() for p in filter_properties(filter_text)]
    if in_filter[: len(ordered)] != ordered:
        raise bad_request(
            "The restriction or sort order is too complex for this operation.", "InefficientFilter"
        )


def _is_received_filter(text: str) -> bool:
    low = " ".join(text.split()).lower()
    return low.startswith(("receiveddatetime ge ", "receiveddatetime gt "))


def _check_delta_query(query: Mapping[str, str]) -> None:
    """The first request of a message delta round may carry only ``$select``, ``$top``, ``$expand``,
    ``$filter`` on receivedDateTime (ge|gt), ``$orderby=receivedDateTime desc`` and the custom option
    ``changeType`` (created|updated|deleted); anything else is refused with 400 (concepts/
    delta-query-messages.md, "Use query parameters in a delta query for messages"; "There is no support for
    $search"). The error codes are Graph's generic ones for a bad query (inference: the page names none)."""
    for key, value in query.items():
        low = key.lower()
        if low not in DELTA_QUERY_OPTIONS:
            raise bad_request(
                f"The query parameter '{key}' is not supported with change tracking.", "BadRequest"
            )
        if low == "$orderby" and " ".join(value.split()).lower() != "receiveddatetime desc":
            raise bad_request("The only supported $orderby on delta is receivedDateTime desc.", "BadRequest")
        if low == "changetype":
            kinds = {c.strip().lower() for c in value.split(",")}
            if not kinds or not kinds <= {"created", "updated", "deleted"}:
                raise bad_request(f"Invalid changeType '{value}'.", "BadRequest")
        if low == "$top" and (not value.isdigit() or int(value) < 1):
            raise bad_request("Invalid $top value.", "BadRequest")
