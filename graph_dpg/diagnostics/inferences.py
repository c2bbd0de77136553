"""The behaviours the gateway relies on that no public Microsoft or NgDP document states: one list.

Each :class:`Inference` says what the gateway assumes, why it is an inference (what the sources do and do not
say), how ``graph-dpg doctor --probe`` checks it against a real tenant (or NgDP's test environment), and, for
Graph, which setting of the Graph emulator (``graph_dpg.sandbox.graph.GraphTenant``) shows the other
behaviour. ``docs/facts/graph.md`` and ``docs/facts/ngdp.md`` carry the section :func:`facts_section`
renders (a test checks they agree). Also home of the pure classification of NgDP's answer to a resend.

Pure: no I/O, nothing imported beyond the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Service = Literal["graph", "ngdp", "datafordeler", "cvr"]
#: Which option of ``graph-dpg doctor --probe`` runs a row: always, or only with the named flag; ``manual``:
#: no harmless probe exists, the row is reported skipped and its ``probe`` text is the manual check.
Gate = Literal["probe", "--probe-concurrency", "--ngdp-test", "manual"]

FACTS_HEADING = "## Inferences and how doctor --probe checks them"


@dataclass(frozen=True)
class Inference:
    id: str
    service: Service
    statement: str
    why: str  # the sources, and what they leave open
    probe: str  # what doctor --probe does to observe it
    gate: Gate = "probe"
    emulator_setting: str | None = None  # GraphTenant attribute that shows the other behaviour


NON_DRAFT_CREATE = "graph.non-draft-create"
INTERNET_MESSAGE_ID = "graph.internet-message-id"
UPLOAD_SESSION_NON_DRAFT = "graph.upload-session-non-draft"
UPLOAD_LOCATION = "graph.upload-location"
DUPLICATE_CATEGORY = "graph.duplicate-category"
DELTA_FOLDERS = "graph.delta-folders"
CONCURRENCY = "graph.concurrency"
API_ITEM_HEADERS = "graph.api-item-headers"
FOLDER_NAME_AS_ID = "graph.folder-name-as-id"
UPLOAD_SESSION_MINIMUM = "graph.upload-session-minimum"
SMIME_VALUE = "graph.smime-value-as-sent"
MIME_SEND_MESSAGE_ID = "graph.mime-send-message-id"
SUBSCRIPTION_RBAC = "graph.subscription-rbac"
SENT_ITEMS_NOTIFIED = "graph.sent-items-notified"
THREAD_CREATED_ITEMS = "graph.thread-created-items"
REQUEST_RATE = "graph.request-rate-window"
NGDP_SEND = "ngdp.send-answer"
NGDP_RECEIPT = "ngdp.business-receipt"
NGDP_DUPLICATE = "ngdp.duplicate-uuid"
NGDP_FORWARDED_SHAPES = "ngdp.forwarded-shapes"
NGDP_REPEATED_ACK = "ngdp.repeated-inbound-ack"
DATAFORDELER_OAUTH = "datafordeler.token-by-certificate"
DATAFORDELER_PERSON = "datafordeler.cpr-person-fields"
DATAFORDELER_STATUS = "datafordeler.cpr-status-codes"
CVR_HTTPS = "cvr.https"
CVR_CEASED = "cvr.ceased-status"

#: The manual check of every name-lookup row: one lookup of a number whose answer is known.
_LOOKUP_CHECK = (
    "manual: a lookup reads personal data, so the probe makes none by itself. Check: with the settings in "
    "place run `graph-dpg lookup NUMBER` for a number whose answer you know (the organisation's own CVR; "
    "for CPR a colleague's number, with consent) and compare."
)

INFERENCES: tuple[Inference, ...] = (
    Inference(
        NON_DRAFT_CREATE,
        "graph",
        "A message created in a folder with PidTagMessageFlags (`Integer 0x0E07`) = 1 (mfRead, mfUnsent "
        "clear) is a received, read item: Graph reads it back with `isDraft` false.",
        "`mailfolder-post-messages.md` says a created message is a draft; [MS-OXCMSG] 2.2.1.6 defines the "
        "flags, but no Graph page says Graph honours them on create. Users confirm it in "
        "microsoft-graph-docs-contrib issue 2790; public migration tools rely on it.",
        "creates a message in the probe folder exactly as the gateway files a memo "
        "(`GraphMailbox.create_message`, received item, read) and reads `isDraft` back.",
        emulator_setting="honour_message_flags_on_create",
    ),
    Inference(
        INTERNET_MESSAGE_ID,
        "graph",
        "`internetMessageId` and PidTagInternetMessageId (`String 0x1035`) written in the same create "
        "request are both kept: the item reads back with the given Message-ID in both.",
        "`message-update.md` documents `internetMessageId` as writable on drafts only; what a create that "
        "carries both the property and the MAPI tag does is not documented.",
        "the same created message: reads `internetMessageId` and expands `String 0x1035`.",
        emulator_setting="keep_internet_message_id_on_create",
    ),
    Inference(
        UPLOAD_SESSION_NON_DRAFT,
        "graph",
        "An upload session (`createUploadSession`, for attachments of 3 MB and more) works on a message "
        "that is not a draft.",
        "`concepts/outlook-large-attachments.md` shows upload sessions on drafts; it neither allows nor "
        "forbids them on received items, which is where the gateway files large memos.",
        "attaches a file of just over 3 MB to the non-draft probe message through an upload session "
        "(the gateway's `upload_attachment`) and lists the message's attachments.",
        emulator_setting="upload_session_on_non_draft",
    ),
    Inference(
        UPLOAD_LOCATION,
        "graph",
        "The last PUT of an upload session answers 201 with a `Location` header naming the attachment as "
        "`…/Attachments('<id>')` (in any case), from which the gateway reads the attachment id.",
        "`attachment-createuploadsession.md` shows one example of the header; no page defines its form.",
        "the same upload: reports the `Location` header and checks that the id read from it is the id "
        "of the attachment the message lists.",
        emulator_setting="upload_location_form",
    ),
    Inference(
        DUPLICATE_CATEGORY,
        "graph",
        "Creating a master category whose `displayName` exists already answers 409 (the gateway takes it "
        "as 'created meanwhile by another replica').",
        "`outlookuser-post-mastercategories.md` says the name must be unique but not what a duplicate is "
        "answered with.",
        "creates a probe category twice and reports the second answer; deletes the probe category.",
        emulator_setting="duplicate_category_status",
    ),
    Inference(
        DELTA_FOLDERS,
        "graph",
        "A delta query with the gateway's query options (`$select`, `changeType=created`, "
        "`Prefer: odata.maxpagesize`) works on every configured folder (outgoing and inbox folders, "
        "child folders included).",
        "`message-delta.md` documents delta per folder and the `changeType` option, but not for every kind "
        "of folder the gateway file may name.",
        "runs the initial delta request (first page) on each configured folder of every configured "
        "mailbox; reads only.",
        emulator_setting="delta_accepts_change_type",
    ),
    Inference(
        API_ITEM_HEADERS,
        "graph",
        "A message created through the API (not a draft) has no `internetMessageHeaders`: the gateway "
        "never reads reply references from headers but from PidTagInReplyToId.",
        "Graph returns no internet headers on the Sent Items copy (microsoft-graph-docs issue 2716, "
        "office-js issue 5413); for an item created through the API no page says either way.",
        "reads `internetMessageHeaders` of the probe message (the created, non-draft item).",
        emulator_setting="internet_headers_on_api_items",
    ),
    Inference(
        FOLDER_NAME_AS_ID,
        "graph",
        "A folder's display name used where Graph expects a folder id is answered 400 "
        "`ErrorInvalidIdMalformed` (not 404): so the gateway resolves names and paths to ids itself, and a "
        "404 on a stored id means 'folder gone' (resolve again), never 'name not understood'.",
        "`resources/mailfolder.md` allows ids and well-known names in the URL; the answer to anything else "
        "is not documented (ErrorInvalidIdMalformed is what users report for malformed ids).",
        "`GET mailFolders/<the probe folder's display name>` and reports the status and error code; reads "
        "only.",
        emulator_setting="display_name_as_folder_id",
    ),
    Inference(
        UPLOAD_SESSION_MINIMUM,
        "graph",
        "Graph refuses an upload session for a file under 3 MiB (3,145,728 bytes), so the gateway's line "
        "between a JSON attachment and an upload session (3 MiB) is Graph's.",
        "`attachment-createuploadsession.md` and `concepts/outlook-large-attachments.md` say '3 MB' without "
        "saying whether 3,000,000 or 3 MiB (`concepts/outlook-large-attachments.md`, Errors, names the "
        "refusal: ErrorAttachmentSizeShouldNotBeLessThanMinimumSize).",
        "asks for an upload session for 3,000,000 bytes on the probe message and reports the answer; if "
        "Graph accepts it, the probe cancels the session at once (DELETE on its upload URL), before any "
        "byte is sent.",
        emulator_setting="min_upload_session_bytes",
    ),
    Inference(
        CONCURRENCY,
        "graph",
        "Outlook's limit of 4 concurrent requests counts per app *and mailbox*: 4 parallel reads on one "
        "mailbox are not throttled, and mailboxes do not share the limit. So the gateway shares the 4 of "
        "each mailbox between its replicas and sets no app-wide cap by default "
        "(GRAPH_DPG_GRAPH_MAX_CONCURRENCY=0).",
        "`concepts/throttling-limits.md` has said both 'per app per mailbox' and 'per app' over time "
        "(issue 15). Exchange's 429 names the limit `MailboxConcurrency` ('Application is over its "
        "MailboxConcurrency limit', learn.microsoft.com/answers/questions/1660054 and 734143), which "
        "suggests a count per mailbox but is not a statement of it.",
        "parallel reads (GET inbox) on the probe mailbox, 2, 3, … up to 8 at a time, stopping at the first "
        "429; then 4 on it plus 1, 2, 3, 4 on a second mailbox, again stopping at the first 429. No "
        "retries.",
        gate="--probe-concurrency",
        emulator_setting="concurrency_reading",
    ),
    Inference(
        REQUEST_RATE,
        "graph",
        "Outlook's 10,000 requests per 10 minutes per app and mailbox are the only request count: no "
        "shorter limit refuses a burst inside them, so the gateway's at most 900 requests a minute per "
        "mailbox (fixed minutes, all replicas together: at most 9,900 in any 10 minutes) never meet 429 "
        "`MailboxRequestRate`.",
        "`concepts/throttling-limits.md` ('Outlook service limits') gives '10,000 API requests in a "
        "10-minute period' but not how the period is measured (sliding or fixed; the gateway's bound holds "
        "for both) nor whether a shorter count (a rate per second or minute) applies as well.",
        "manual: reaching the limit takes about 900 requests in a minute on one mailbox, which would take "
        "the budget of the gateway running on it. Check: during a mass delivery watch `/metrics`: "
        "`graph_dpg_graph_budget_waits_total` (the gateway waited at its own cap) may grow while "
        "`graph_dpg_graph_throttled_total` of that mailbox stays 0.",
        gate="manual",
        emulator_setting="burst_budget",
    ),
    Inference(
        SMIME_VALUE,
        "graph",
        "`GET /messages/{id}/$value` of an S/MIME item returns the MIME bytes it was created or sent with: "
        "for an encrypted one (`IPM.Note.SMIME`) an `application/pkcs7-mime` entity carrying the same CMS "
        "bytes, for a clear-signed one (`IPM.Note.SMIME.MultipartSigned`) a `multipart/signed` whose signed "
        "part is byte for byte the one that was signed, so the signature still verifies.",
        "`concepts/outlook-get-mime-message.md` says `$value` returns the message's MIME 'even though "
        "Outlook does not save messages in MIME format' (so in general it is rebuilt); [MS-OXOSMIME] "
        "2.1.3.1/2.1.3.2 say Exchange keeps S/MIME as one `smime.p7m` attachment; microsoft-graph-docs "
        "issue 4585 shows S/MIME read through `$value`. None says the bytes are the ones sent.",
        "creates two drafts from MIME in the probe folder (POST with a text/plain base64 body, "
        "`concepts/outlook-send-mime-message.md`; never sent): one encrypted, one clear-signed, each with a "
        "throw-away key made for the probe; reads `$value` of each and compares the CMS bytes and the "
        "signed part's bytes with those created.",
        emulator_setting="smime_value_as_sent",
    ),
    Inference(
        THREAD_CREATED_ITEMS,
        "graph",
        "A message created in a folder with PidTagInReplyToId (`String 0x1042`) and PidTagInternetReferences "
        "(`String 0x1039`) naming an earlier item's Message-ID is in that item's conversation: both read "
        "back with the same `conversationId` (an updated receipt is shown with the first receipt).",
        "`resources/message.md` documents `conversationId` as read-only and `message-createreply.md` puts a "
        "reply draft in its original's conversation, but a reply is a draft to be sent; [MS-OXOMSG] 2.2.1.1 "
        "and 2.2.1.2 define the two properties and [MS-OXCMAIL] maps them to the In-Reply-To and References "
        "headers, yet no document says Exchange threads an item created through Graph by them.",
        "creates two messages in the probe folder as the gateway files an updated receipt (received items, "
        "the second naming the first's Message-ID in both properties) and compares their `conversationId`.",
        emulator_setting="thread_created_items_by_in_reply_to",
    ),
    Inference(
        MIME_SEND_MESSAGE_ID,
        "graph",
        "sendMail with MIME keeps the `Message-ID` header the gateway set: the sent item's "
        "`internetMessageId` equals it, so the receipt and a reply to secure mail find the message.",
        "`api-reference/v1.0/api/user-sendmail.md` and `concepts/outlook-send-mime-message.md` describe "
        "sending MIME but not what happens to its `Message-ID`; `internetMessageId` is documented as set by "
        "the sender's system.",
        "manual: cannot be probed harmlessly - sendMail really sends (even to the mailbox itself the mail "
        "passes transport, lands in an inbox the gateway routes, and leaves a Sent Items copy), and a draft "
        "made from MIME does not show what sending does. Check: send one secure mail through the gateway "
        "in a test tenant and compare the Sent Items copy's `internetMessageId` with the `Message-ID` in "
        "its `$value`.",
        gate="manual",
        emulator_setting="keep_mime_message_id_on_send",
    ),
    Inference(
        SUBSCRIPTION_RBAC,
        "graph",
        "With Graph change notifications on, creating and renewing a subscription to a function mailbox's "
        "messages (`POST /subscriptions`, resource `users/{mailbox}/mailFolders('{id}')/messages`) is "
        "allowed by the app's RBAC for Applications grant (Application Mail.ReadWrite scoped to the "
        "function mailboxes), without a tenant-wide Entra consent, and refused for mailboxes outside the "
        "scope.",
        "`api-reference/includes/outlook-subscription-notes.md` asks for a read permission on the resource "
        "and `subscription-post-subscriptions.md` lists Mail.ReadBasic/Mail.Read as application "
        "permissions; learn.microsoft.com/exchange/permissions-exo/application-rbac lists which Graph "
        "calls its roles cover, but neither page says whether the change-notification service honours an "
        "Exchange-only grant (docs/facts/graph.md, 'Change notifications').",
        "manual: creating a subscription needs a public notification URL that answers Graph's validation "
        "handshake, which only a running gateway has. Check: run the gateway with "
        "GRAPH_DPG_NOTIFICATIONS_URL set; the log shows `graph subscription created` per function mailbox "
        "folder (a failure is logged with Graph's 403 and polling goes on), and `/metrics` counts "
        "`graph_dpg_graph_notifications_total` after a test mail is sent from a function mailbox.",
        gate="manual",
        emulator_setting="subscriptions_need_entra_consent",
    ),
    Inference(
        SENT_ITEMS_NOTIFIED,
        "graph",
        "The copy of a mail a case worker sends, saved in Sent Items, raises a `created` change "
        "notification on a subscription to that folder's messages, so it reaches NgDP without waiting for "
        "the poll.",
        "`concepts/change-notifications-delivery-webhooks.md` and `webhooks.md` describe `created` "
        "notifications for messages in a folder; no page says whether the Sent Items copy made by "
        "transport counts as created there. Polling (GRAPH_DPG_POLL_INTERVAL_WITH_NOTIFICATIONS_SECONDS) "
        "finds it anyway, later.",
        "manual: needs the running gateway's subscription. Check: send a test letter from a function "
        'mailbox and compare the `graph_dpg_graph_notifications_total{outcome="accepted"}` counter before '
        "and after (it grows by one while the letter is handled at once, not at the next poll).",
        gate="manual",
        emulator_setting="notify_sent_items",
    ),
    Inference(
        NGDP_SEND,
        "ngdp",
        "A memo NgDP accepts is answered 201 with a `Receipt` whose `receiptStatus` is `RECEIVED` "
        "(accepted, not yet delivered).",
        "The OpenAPI lists 201 with a `Receipt`; the meaning of `RECEIVED` is not published.",
        "sends one memo to the organisation's own CVR in NgDP's test environment with the gateway's client.",
        gate="--ngdp-test",
    ),
    Inference(
        NGDP_RECEIPT,
        "ngdp",
        "The business receipt of a sent memo can be pulled (`receipts/`, fetched with 200 or 201) and names "
        "the memo's `messageUUID`, by which the gateway correlates it.",
        "The OpenAPI lists 200 and 201 for fetching a receipt; that the receipt carries the sender's "
        "`messageUUID` and when it arrives are not published.",
        "polls `receipts/` (bounded wait) for the receipt of the probe memo, reads it and deletes it.",
        gate="--ngdp-test",
    ),
    Inference(
        NGDP_DUPLICATE,
        "ngdp",
        "A resend with a `messageUUID` NgDP already has is answered 409, or 400/422 with an "
        "`ErrorMessage` code naming a duplicate, or 400/422 with a `fieldErrors` entry on the messageUUID "
        "naming one: the gateway counts each as delivered (`is_duplicate_answer`). A 400 that says neither "
        "is not recognised as a duplicate.",
        "No public source says what NgDP answers to a repeated `messageUUID` (section Idempotency of "
        "docs/facts/ngdp.md).",
        "posts the probe memo again with the same `messageUUID` and classifies the raw answer: 409 / "
        "400 or 422 with a duplicate code / 400 or 422 with a duplicate fieldError on the messageUUID "
        "(all match) / other (contradicts).",
        gate="--ngdp-test",
    ),
    Inference(
        NGDP_FORWARDED_SHAPES,
        "ngdp",
        "Digital Post forwarded by an SMTP recipient system arrives as S/MIME encrypted to the "
        "organisation's certificate, carrying the MeMo XML as an inline part, an attachment or the whole "
        "entity, or (DP2) a metadata XML with the documents as attachments; a letter over 10 MB comes as a "
        "notice whose words say it is too large to forward (`graph_dpg/domain/forwarded_post.py`).",
        "The OpenAPI names `serviceProtocol` SMTP and Digitaliseringsstyrelsen's guide 'Videresend til egen "
        "e-mail' says forwarding is S/MIME encrypted; neither shows the MIME structure, the DP2 metadata "
        "names nor the notice's text (docs/facts/ngdp.md, 'Receiving by SMTP').",
        "manual: NgDP's test environment forwards only to a recipient system registered as SMTP, which the "
        "probe cannot set up. Check: register a test recipient system with `serviceProtocol` SMTP and the "
        "test certificate, send it a memo, and open the mail with `graph-dpg secure-mail open`; the gateway "
        "log names the shape found (`forwarded Digital Post in … (memo-part)`).",
        gate="manual",
    ),
    Inference(
        NGDP_REPEATED_ACK,
        "ngdp",
        "An inbound memo acknowledged again after a crash (its business receipt and delete were done at "
        "NgDP but not yet recorded by the gateway) is answered 409 to the repeated `POST memos/{id}/receipt` "
        "and 404 to the repeated `DELETE memos/{id}`; the gateway counts both as done "
        "(`NgdpClient.send_memo_receipt`, `delete_memo`). Since issue 18 the gateway records a claimed "
        "batch's deletions in one transaction, so a crash can leave up to 10 memos to acknowledge again.",
        "The OpenAPI lists 200, 400, 401, 403, 404, 409 and 422 for the receipt and 204, 409 and 422 for the "
        "delete, without saying when; what a repeat is answered is not published "
        "(docs/facts/ngdp.md, 'Receiving by pull').",
        "manual: the probe cannot receive a memo of its own in NgDP's test environment. Check: send a memo "
        "to the test recipient system, fetch it, then POST its receipt and DELETE it twice each with "
        "`curl` and the system's certificate; the second receipt should answer 409 and the second delete "
        "404. Any other answer: the memo stays acknowledged with the error recorded and its delete is "
        "retried; it is never delivered twice.",
        gate="manual",
    ),
)

NAME_INFERENCES: tuple[Inference, ...] = (
    Inference(
        DATAFORDELER_OAUTH,
        "datafordeler",
        "Datafordeler issues its OAuth token to a client-credentials POST (`grant_type=client_credentials`, "
        "`client_id`) to the token endpoint, the client authenticated by the OCES3 certificate in the TLS "
        "handshake (no secret), and answers `access_token` with `expires_in`; GraphQL calls carry it as "
        "`Authorization: Bearer`.",
        "Datafordeler's guide to Datafordeler Administration says an OCES3 certificate uploaded as 'OAuth "
        "certifikat' on an IT system calls the services like an OAuth shared secret (confluence.sdfi.dk "
        "pageId=193921084); the token endpoint's address and request shape were not found in public "
        "sources. The shape is OAuth 2.0's (RFC 6749 section 4.4, RFC 8705); the address is a setting.",
        _LOOKUP_CHECK,
        gate="manual",
    ),
    Inference(
        DATAFORDELER_PERSON,
        "datafordeler",
        "`CPRCustom_PublicSectorPerson` and `CPRCustom_PrivateSectorPerson` are filtered by `where: "
        "{personnummer: {eq: …}}` and answer `nodes[]` with `personnummer`, `status`, `navn{adresseringsnavn "
        "fornavne mellemnavn efternavn}` and `beskyttelse{beskyttelsestype virkningFra virkningTil}` (name "
        "and address protection as `NAVNE_OG_ADRESSEBESKYTTELSE`); a refusal comes as GraphQL `errors` "
        "with HTTP 200.",
        "The CPR GraphQL page names the services, entities and schema addresses "
        "(confluence.sdfi.dk/x/WYBGDg) "
        "but the custom schemas are only readable with access granted; the field names follow the CPR "
        "entities Person, Navn and Beskyttelse of CPR's entity-based GraphQL (confluence.sdfi.dk/x/zoKjDQ). "
        "The where/eq filter and `nodes` are Datafordeler's GraphQL conventions (confluence.sdfi.dk "
        "pageId=187105560).",
        _LOOKUP_CHECK,
        gate="manual",
    ),
    Inference(
        DATAFORDELER_STATUS,
        "datafordeler",
        "CPR's person status codes: 01, 03, 05, 07 are resident (active); 20 (no residence), 70 "
        "(disappeared), 80 (emigrated), 90 (dead) are inactive; 30 (annulled), 50 (deleted), 60 (changed "
        "number) are no current person (unknown).",
        "The codes are CPR's record description, which was not retrievable here; the private-sector REST "
        "page says only that persons with status 'nedlagt' are not returned and dead persons have no "
        "current address (confluence.sdfi.dk pageId=17138963).",
        _LOOKUP_CHECK,
        gate="manual",
    ),
    Inference(
        CVR_HTTPS,
        "cvr",
        "The CVR distribution search answers over https with the same Basic credentials as over http.",
        "Erhvervsstyrelsen's guide and public clients use `http://distribution.virk.dk/cvr-permanent/"
        "virksomhed/_search` (github openownership/register, data_availability.en.md, and public code); the "
        "gateway sends credentials over https only (`GRAPH_DPG_CVR_BASE_URL` refuses plain http off "
        "loopback).",
        _LOOKUP_CHECK,
        gate="manual",
    ),
    Inference(
        CVR_CEASED,
        "cvr",
        "A company has ceased when its current `livsforloeb` period has a `gyldigTil`, or when "
        "`virksomhedMetadata.sammensatStatus` (or the current `virksomhedsstatus`) begins with the Danish "
        "word for ceased, dissolved (also compulsorily) or deleted (docs/facts/cvr.md, 'Status'); 'Under "
        "konkurs' (in bankruptcy) is not ceased.",
        "Real answers show `livsforloeb[].periode.gyldigTil` and `virksomhedsstatus[]` (github Andreasbirch/"
        "Andreasbirch.github.io apps/HvemErEjeren/data.js, alexdor/regtic workers/vat-dk/cvr_parser.js); the "
        "list of `sammensatStatus` values is not published in the sources found.",
        _LOOKUP_CHECK,
        gate="manual",
    ),
)

INFERENCES = INFERENCES + NAME_INFERENCES

BY_ID: Mapping[str, Inference] = {i.id: i for i in INFERENCES}


def inferences_for(service: Service) -> tuple[Inference, ...]:
    return tuple(i for i in INFERENCES if i.service == service)


def facts_section(service: Service) -> str:
    """The docs/facts section for ``service``: heading, one paragraph, one entry per inference."""
    lines = [
        FACTS_HEADING,
        "",
        "Generated from `graph_dpg/diagnostics/inferences.py` (a test keeps the two equal). Each is a "
        "behaviour the gateway relies on that no public document states; `graph-dpg doctor --probe` "
        "observes it against the real service and reports inference → observed → matches.",
        "",
    ]
    for inf in inferences_for(service):
        gate = {"probe": "", "manual": " (manual check)"}.get(inf.gate, f" (only with `{inf.gate}`)")
        lines.append(f"- **{inf.id}**: {inf.statement}")
        lines.append(f"  - why an inference: {inf.why}")
        lines.append(f"  - probe{gate}: {inf.probe}")
        if inf.emulator_setting:
            lines.append(f"  - Graph emulator setting for the other behaviour: `{inf.emulator_setting}`")
    return "\n".join(lines) + "\n"


# =====================================================================================================
# NgDP's answer to a resend with the same messageUUID
# =====================================================================================================

DuplicateShape = Literal[
    "409", "400-duplicate-code", "422-duplicate-code", "400-field-errors", "422-field-errors", "other"
]
#: The shapes the gateway counts as "NgDP already has it": the same answers as the client's
#: ``graph_dpg.adapters.digital_post.client.is_duplicate_answer`` (a test keeps the two in step).
ACCEPTED_DUPLICATE_SHAPES: frozenset[str] = frozenset(
    {"409", "400-duplicate-code", "422-duplicate-code", "400-field-errors", "422-field-errors"}
)
_DUPLICATE_CODE = re.compile(r"DUPLICATE|ALREADY", re.IGNORECASE)
_UUID_FIELD = re.compile(r"message-?uuid", re.IGNORECASE)
_DUPLICATE_WORDS = re.compile(r"DUPLICATE|ALREADY|EXISTS|UNIQUE", re.IGNORECASE)


def classify_duplicate_answer(status: int, body: Any) -> DuplicateShape:
    """What NgDP's answer to a resend looks like: 409; 400 or 422 whose ErrorMessage ``code`` names a
    duplicate; 400 or 422 with a ``fieldErrors`` entry on the messageUUID that names one; anything else
    ("other": a 400 that says neither, a 201 - accepted twice -, a 5xx)."""
    if status == 409:
        return "409"
    if status not in (400, 422):
        return "other"
    error = body if isinstance(body, Mapping) else {}
    code = error.get("code")
    if isinstance(code, str) and _DUPLICATE_CODE.search(code):
        return "400-duplicate-code" if status == 400 else "422-duplicate-code"
    field_errors = error.get("fieldErrors")
    for fe in field_errors if isinstance(field_errors, list) else []:
        if not isinstance(fe, Mapping):
            continue
        words = f"{fe.get('code') or ''} {fe.get('message') or ''}"
        if _UUID_FIELD.search(str(fe.get("field") or "")) and _DUPLICATE_WORDS.search(words):
            return "400-field-errors" if status == 400 else "422-field-errors"
    return "other"
