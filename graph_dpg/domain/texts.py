"""The message catalogue: every sentence the gateway writes for a person to read, in Danish and English.

Receipt mails, the delivered mail's overview and banners, routing notes, alert mails and the default
category names all take their words from here, so the words are changed in this one place. Code composes
the pieces (tables, lists, HTML structure); the catalogue holds the words.

Each :class:`Text` key has one :class:`Entry` with a Danish and an English template. Placeholders are
named (``{label}``, ``{days}``) and the same in both languages, so a caller never depends on the language
(a test checks both). :func:`text` fills a template in the language asked for; any language other than
English gets Danish, the gateway's default.

Entries whose key ends in ``_HTML`` hold HTML markup: values put into them must be escaped by the caller.
Every other entry is plain text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from string import Formatter
from types import MappingProxyType
from typing import Literal

Language = Literal["da", "en"]
LANGUAGES: tuple[Language, ...] = ("da", "en")
DEFAULT_LANGUAGE: Language = "da"


class Text(StrEnum):
    """The key of one catalogue entry."""

    # -- receipt mails (outbound): subject, body, table, attachments
    RECEIPT_SUBJECT_OK = "receipt.subject.ok"
    RECEIPT_SUBJECT_PARTIAL = "receipt.subject.partial"
    RECEIPT_SUBJECT_ERROR = "receipt.subject.error"
    RECEIPT_NO_SUBJECT = "receipt.no_subject"
    RECEIPT_INTRO_HTML = "receipt.intro"
    RECEIPT_ERROR_INTRO_HTML = "receipt.error_intro"
    RECEIPT_FIX = "receipt.fix"
    RECEIPT_SUMMARY = "receipt.summary"
    RECEIPT_WARNINGS = "receipt.warnings"
    RECEIPT_DETAILS_ATTACHED = "receipt.details_attached"
    RECEIPT_ALL_ATTACHED = "receipt.all_attached"
    RECEIPT_FINDINGS_ATTACHED = "receipt.findings_attached"
    RECEIPT_COL_LINE = "receipt.col.line"
    RECEIPT_COL_RECIPIENT = "receipt.col.recipient"
    RECEIPT_COL_STATUS = "receipt.col.status"
    RECEIPT_COL_UUID = "receipt.col.uuid"
    RECEIPT_COL_DETAIL = "receipt.col.detail"
    RECEIPT_COL_REASON = "receipt.col.reason"
    RECEIPT_COL_SUPPORT = "receipt.col.support"
    RECEIPT_LIST_NAME = "receipt.list.name"
    RECEIPT_LIST_CUT = "receipt.list.cut"
    RECEIPT_FAILURES_HEADING = "receipt.failures.heading"
    RECEIPT_FAILURES_FIRST = "receipt.failures.first"
    RECEIPT_REASON_REFUSED = "receipt.reason.refused"
    RECEIPT_REASON_NOT_SENT = "receipt.reason.not_sent"
    RECEIPT_STATUS_PENDING = "receipt.status.pending"
    RECEIPT_STATUS_ACCEPTED = "receipt.status.accepted"
    RECEIPT_STATUS_COMPLETED = "receipt.status.completed"
    RECEIPT_STATUS_RECEIVED = "receipt.status.received"
    RECEIPT_STATUS_REJECTED = "receipt.status.rejected"
    RECEIPT_STATUS_FAILED = "receipt.status.failed"
    NGDP_RECEIPT_NOT_ALLOWED = "receipt.ngdp.not_allowed"
    NGDP_RECEIPT_INVALID = "receipt.ngdp.invalid"
    NGDP_RECEIPT_UNKNOWN = "receipt.ngdp.unknown"
    RECEIPT_FAILURE_INTERNAL = "receipt.failure.internal"
    RECEIPT_FAILURE_GAVE_UP = "receipt.failure.gave_up"
    RECEIPT_FAILURE_RECEIPT = "receipt.failure.receipt"
    RECEIPT_SEND_AGAIN = "receipt.failure.send_again"
    RECEIPT_SEND_AGAIN_FAILED = "receipt.failure.send_again_failed"
    RECEIPT_SUPPORT_REFERENCE = "receipt.failure.reference"
    RECEIPT_ROW_NOT_SENT = "receipt.failure.row"
    RECEIPT_ROW_HTML_REJECTED = "receipt.failure.html"
    RECEIPT_SENT_AT = "receipt.sent_at"
    RECEIPT_SUBJECT_UPDATE = "receipt.update.subject"
    RECEIPT_UPDATE_INTRO_HTML = "receipt.update.intro"
    RECEIPT_UPDATE_REJECTED = "receipt.update.rejected"
    RECEIPT_UPDATE_MORE = "receipt.update.more"
    RECEIPT_UPDATE_NOW = "receipt.update.now"
    RECEIPT_RECIPIENT_EXEMPT = "receipt.recipient.exempt"
    RECEIPT_RECIPIENT_UNKNOWN = "receipt.recipient.unknown"

    # -- findings: one sentence per Finding rule code (key "finding.<rule>"), what is wrong and what to do
    FINDING_POLICY_COUNT = "finding.policy.count"
    FINDING_RECIPIENT_EXEMPT = "finding.recipient.exempt"
    FINDING_RECIPIENT_UNKNOWN = "finding.recipient.unknown"
    FINDING_POLICY_SIZE = "finding.policy.size"
    FINDING_POLICY_TYPE_UNCHECKED = "finding.policy.type.unchecked"
    FINDING_POLICY_EMPTY = "finding.policy.empty"
    FINDING_POLICY_TYPE_EXECUTABLE = "finding.policy.type.executable"
    FINDING_POLICY_TYPE_ACTIVE_CONTENT = "finding.policy.type.active-content"
    FINDING_POLICY_TYPE_EXTENSION = "finding.policy.type.extension"
    FINDING_POLICY_TYPE_EXPANSION = "finding.policy.type.expansion"
    FINDING_POLICY_TYPE_UNIDENTIFIED = "finding.policy.type.unidentified"
    FINDING_POLICY_TYPE_CONTENT = "finding.policy.type.content"
    FINDING_FILENAME_FORBIDDEN_CHARS = "finding.filename.forbidden-chars"
    FINDING_FILENAME_BIDI_CONTROLS = "finding.filename.bidi-controls"
    FINDING_FILENAME_EMPTY = "finding.filename.empty"
    FINDING_ATTACHMENTS_LOOKALIKE = "finding.attachments.lookalike"
    FINDING_ATTACHMENTS_AMBIGUOUS = "finding.attachments.ambiguous"
    FINDING_ADDRESS_NONE = "finding.address.none"
    FINDING_ADDRESS_GRAMMAR = "finding.address.grammar"
    FINDING_ADDRESS_REPLY_MERGED = "finding.address.reply-merged"
    FINDING_ADDRESS_DUPLICATE = "finding.address.duplicate"
    FINDING_CPR_FORMAT = "finding.cpr.format"
    FINDING_CPR_DATE = "finding.cpr.date"
    FINDING_CVR_FORMAT = "finding.cvr.format"
    FINDING_CVR_MODULUS11 = "finding.cvr.modulus11"
    FINDING_SENDER_MAILBOX = "finding.sender.mailbox"
    FINDING_SENDER_CVR = "finding.sender.cvr"
    FINDING_SENDER_CONTACT_POINT = "finding.sender.contact_point"
    FINDING_MEMOHEADER_JSON = "finding.memoheader.json"
    FINDING_MEMOHEADER_SIZE = "finding.memoheader.size"
    FINDING_MEMOHEADER_SHAPE = "finding.memoheader.shape"
    FINDING_MEMOHEADER_UNKNOWN = "finding.memoheader.unknown"
    FINDING_MEMOHEADER_TYPE = "finding.memoheader.type"
    FINDING_MEMOHEADER_KLE = "finding.memoheader.kle"
    FINDING_MEMOHEADER_CONTACTPOINT = "finding.memoheader.contactpoint"
    FINDING_MEMOHEADER_LEAK = "finding.memoheader.leak"
    FINDING_MEMOHEADER_REPLY_BY = "finding.memoheader.reply_by"
    FINDING_MEMOHEADER_MANDATORY = "finding.memoheader.mandatory"
    FINDING_MEMOHEADER_LEGAL = "finding.memoheader.legal"
    FINDING_MASS_ALONE = "finding.mass.alone"
    FINDING_MASS_FILE = "finding.mass.file"
    FINDING_MASS_FILE_WITHOUT_MASS = "finding.mass.file-without-mass"
    FINDING_MASS_TOO_MANY = "finding.mass.too-many"
    FINDING_MASS_MORE = "finding.mass.more"
    FINDING_MASS_EMPTY = "finding.mass.empty"
    FINDING_MASS_LINE = "finding.mass.line"
    FINDING_MASS_IDENTIFIER = "finding.mass.identifier"
    FINDING_MASS_DUPLICATE = "finding.mass.duplicate"
    FINDING_MASS_COUNT = "finding.mass.count"
    FINDING_HTML_SIZE = "finding.html.size"
    FINDING_HTML_DEPTH = "finding.html.depth"
    FINDING_HTML_MISSING_IMAGE = "finding.html.missing-image"
    FINDING_SIZE_MEMO = "finding.size.memo"
    FINDING_CONTACT_POINT_ATTACHMENTS = "finding.contact_point.attachments"
    FINDING_CONTACT_POINT_SIZE = "finding.contact_point.size"
    FINDING_MEMO_BUILD = "finding.memo.build"
    FINDING_REPLY_MASS = "finding.reply.mass"
    FINDING_REPLY_UNKNOWN = "finding.reply.unknown"
    FINDING_REPLY_NOT_ALLOWED = "finding.reply.not_allowed"
    FINDING_REPLY_DEADLINE = "finding.reply.deadline"
    FINDING_FILENAME_FORBIDDEN_CHARACTERS = "finding.filename.forbidden-characters"
    FINDING_ENTRYPOINT_HTTPS = "finding.entrypoint.https"
    FINDING_NOTIFICATION_LENGTH = "finding.notification.length"
    FINDING_NOTIFICATION_REQUIRED = "finding.notification.required"
    FINDING_NOTIFICATION_PERSONAL_DATA = "finding.notification.personal-data"
    FINDING_BODY_REQUIRED = "finding.body.required"
    FINDING_ID_TYPE = "finding.id.type"
    FINDING_ID_CPR = "finding.id.cpr"
    FINDING_ID_CVR = "finding.id.cvr"
    FINDING_MANDATORY_NOT_ALLOWED = "finding.mandatory.not-allowed"
    FINDING_LEGAL_NOTIFICATION_NOT_ALLOWED = "finding.legal-notification.not-allowed"
    FINDING_UUID_V4 = "finding.uuid.v4"
    FINDING_XSD = "finding.xsd"
    FINDING_XML_WELL_FORMED = "finding.xml.well-formed"
    FINDING_MEMO_MESSAGE = "finding.memo.message"
    FINDING_MEMO = "finding.memo"
    FINDING_MEMO_UNREADABLE = "finding.memo.unreadable"
    FINDING_XML_UNSAFE = "finding.xml.unsafe"
    FINDING_INPUT = "finding.input"
    FINDING_ERROR = "finding.error"
    FINDING_WARNING = "finding.warning"
    RECEIPT_SUPPORT_LINE = "receipt.support_line"

    # -- the mail an inbound memo is delivered as: overview table, routing section, main document
    VIEW_OVERVIEW = "view.overview"
    VIEW_SENDER = "view.sender"
    VIEW_SENDER_CVR_NAME = "view.sender_cvr_name"
    VIEW_RECIPIENT = "view.recipient"
    VIEW_CONTACT_POINT = "view.contact_point"
    VIEW_SENDER_CONTACT_POINT = "view.sender_contact_point"
    VIEW_LABEL = "view.label"
    VIEW_CREATED = "view.created"
    VIEW_REPLY = "view.reply"
    VIEW_REPLY_BY = "view.reply_by"
    VIEW_LEGAL = "view.legal"
    VIEW_MANDATORY = "view.mandatory"
    VIEW_CASE = "view.case"
    VIEW_KLE = "view.kle"
    VIEW_FORM = "view.form"
    VIEW_ABOUT_CPR = "view.about_cpr"
    VIEW_ABOUT_CVR = "view.about_cvr"
    VIEW_POST_TYPE = "view.post_type"
    VIEW_NOTIFICATION = "view.notification"
    VIEW_MESSAGE_UUID = "view.message_uuid"
    VIEW_MESSAGE_ID = "view.message_id"
    VIEW_FORWARDED = "view.forwarded"
    VIEW_MEMO_VERSION = "view.memo_version"
    VIEW_YES = "view.yes"
    VIEW_NO = "view.no"
    VIEW_RULE = "view.rule"
    VIEW_RULE_NONE = "view.rule_none"
    VIEW_MAIN_ATTACHED = "view.main_attached"
    VIEW_NO_MAIN = "view.no_main"
    VIEW_INVALID_SUBJECT = "view.invalid_subject"
    VIEW_UNSHOWN_SUBJECT = "view.unshown_subject"
    VIEW_XML_KEPT = "view.xml_kept"
    VIEW_UNNAMED_FILE = "view.unnamed_file"

    # -- banners on delivered memos
    BANNER_FOREIGN_TITLE = "banner.foreign.title"
    BANNER_FOREIGN_WHAT = "banner.foreign.what"
    BANNER_FOREIGN_ACTION = "banner.foreign.action"
    BANNER_UNDELIVERABLE_TITLE = "banner.undeliverable.title"
    BANNER_UNDELIVERABLE_TRIED = "banner.undeliverable.tried"
    BANNER_UNDELIVERABLE_CHECK = "banner.undeliverable.check"
    BANNER_UNSHOWN_TITLE = "banner.unshown.title"
    BANNER_UNSHOWN_WHY = "banner.unshown.why"
    BANNER_UNSHOWN_RAW = "banner.unshown.raw"
    BANNER_UNSHOWN_SUPPORT = "banner.unshown.support"
    BANNER_MAILBOX_FULL = "banner.mailbox_full"
    # -- a memo too big for one mail: split into parts, or a file left out (domain.split)
    VIEW_PART_SUBJECT = "view.part_subject"
    VIEW_PART_NO_FILES = "view.part_no_files"
    BANNER_SPLIT_TITLE = "banner.split.title"
    BANNER_SPLIT_WHY = "banner.split.why"
    BANNER_SPLIT_PART = "banner.split.part"
    BANNER_SPLIT_ACTION = "banner.split.action"
    BANNER_PART_TITLE = "banner.part.title"
    BANNER_PART_LETTER = "banner.part.letter"
    BANNER_PART_HERE = "banner.part.here"
    BANNER_SPLIT_MAY_GROW = "banner.split.may_grow"
    BANNER_PART_LAST = "banner.part.last"
    BANNER_PART_CORRECTED = "banner.part.corrected"
    BANNER_OVERSIZED_TITLE = "banner.oversized.title"
    BANNER_OVERSIZED_FILE = "banner.oversized.file"
    BANNER_OVERSIZED_ACTION = "banner.oversized.action"
    BANNER_XML_NOT_ATTACHED = "banner.xml_not_attached"

    # -- how a memo's target was chosen when no rule decided (shown in the routing section)
    ROUTE_NOTE_CONTACT_POINT = "route.note.contact_point"
    ROUTE_NOTE_MAIN_MAILBOX = "route.note.main_mailbox"
    ROUTE_NOTE_FOREIGN = "route.note.foreign"

    # -- the gateway as the sender of the mails it writes
    GATEWAY_SENDER_NAME = "gateway.sender_name"

    # -- alert: a routing rule was disabled
    RULE_ALERT_SUBJECT = "alert.rule.subject"
    RULE_ALERT_TITLE = "alert.rule.title"
    RULE_ALERT_DISABLED = "alert.rule.disabled"
    RULE_ALERT_OTHERS_ROUTE = "alert.rule.others_route"
    RULE_ALERT_FIX = "alert.rule.fix"
    RULE_TIMEOUT_REASON = "alert.rule.timeout_reason"
    RULE_CONTEXT_MEMO = "alert.rule.context.memo"
    RULE_CONTEXT_MAIL = "alert.rule.context.mail"

    # -- alert: a certificate expires
    EXPIRY_SUBJECT = "alert.expiry.subject"
    EXPIRY_TITLE = "alert.expiry.title"
    EXPIRY_TEXT = "alert.expiry.text"
    CERT_SOURCE_ALERT_SUBJECT = "alert.certificate_source.subject"
    CERT_SOURCE_ALERT_TITLE = "alert.certificate_source.title"
    CERT_SOURCE_ALERT_TEXT = "alert.certificate_source.text"
    CERT_SOURCE_ALERT_REASON = "alert.certificate_source.reason"
    CERT_SOURCE_ALERT_ONCE = "alert.certificate_source.once"
    CERT_SOURCE_FILE = "alert.certificate_source.file"
    CERT_SOURCE_CONTACTS = "alert.certificate_source.contacts"
    CERT_SOURCE_LDAP = "alert.certificate_source.ldap"
    CERT_SOURCE_FIX_FILE = "alert.certificate_source.fix_file"
    CERT_SOURCE_FIX_CONTACTS = "alert.certificate_source.fix_contacts"
    CERT_SOURCE_FIX_LDAP = "alert.certificate_source.fix_ldap"
    MAILBOX_FULL_SUBJECT = "alert.mailbox_full.subject"
    MAILBOX_FULL_TITLE = "alert.mailbox_full.title"
    MAILBOX_FULL_TEXT = "alert.mailbox_full.text"
    MAILBOX_FULL_FALLBACK = "alert.mailbox_full.fallback"
    MAILBOX_FULL_MAIN = "alert.mailbox_full.main"
    MAILBOX_FULL_FIX = "alert.mailbox_full.fix"
    OVERSIZED_ALERT_SUBJECT = "alert.oversized.subject"
    OVERSIZED_ALERT_TITLE = "alert.oversized.title"
    OVERSIZED_ALERT_TEXT = "alert.oversized.text"
    OVERSIZED_ALERT_FIX = "alert.oversized.fix"
    OVERSIZED_ALERT_RAW = "alert.oversized.raw"
    CREDENTIAL_NGDP_CERTIFICATE = "credential.ngdp_certificate"
    CREDENTIAL_GRAPH_APP_CERTIFICATE = "credential.graph_app_certificate"
    CREDENTIAL_SMIME_CERTIFICATE = "credential.smime_certificate"

    # -- the state categories' default names (the gateway file may rename them)
    CATEGORY_QUEUED = "category.queued"
    CATEGORY_SENT = "category.sent"
    CATEGORY_RECEIPTED = "category.receipted"
    CATEGORY_FAILED = "category.failed"
    CATEGORY_INBOUND = "category.inbound"
    CATEGORY_WARNING = "category.warning"
    CATEGORY_RECEIPT = "category.receipt"

    # -- secure mail (S/MIME) received: the overview and the banners of mail that cannot be read
    SMIME_OVERVIEW_TITLE = "smime.overview.title"
    SMIME_ENCRYPTED_TO = "smime.encrypted_to"
    SMIME_NOT_ENCRYPTED = "smime.not_encrypted"
    SMIME_SIGNED_BY = "smime.signed_by"
    SMIME_NOT_SIGNED = "smime.not_signed"
    SMIME_UNKNOWN_SIGNER = "smime.unknown_signer"
    SMIME_HOLDER_ORGANISATION = "smime.holder.organisation"
    SMIME_HOLDER_EMPLOYEE = "smime.holder.employee"
    SMIME_HOLDER_PERSON = "smime.holder.person"
    SMIME_VERDICT_VALID = "smime.verdict.valid"
    SMIME_VERDICT_INVALID = "smime.verdict.invalid"
    SMIME_VERDICT_UNTRUSTED = "smime.verdict.untrusted"
    SMIME_VERDICT_EXPIRED = "smime.verdict.expired"
    SMIME_VERDICT_REFUSED = "smime.verdict.refused"
    SMIME_ORIGINAL_ATTACHED = "smime.original_attached"
    SMIME_FAILED_TITLE = "smime.failed.title"
    SMIME_FAILED_NO_KEY = "smime.failed.no_key"
    SMIME_FAILED_UNSUPPORTED = "smime.failed.unsupported"
    SMIME_FAILED_DAMAGED = "smime.failed.damaged"
    SMIME_FAILED_SIGNATURE = "smime.failed.signature"
    SMIME_FAILED_WHAT_TO_DO_KEY = "smime.failed.todo_key"
    SMIME_FAILED_WHAT_TO_DO_SENDER = "smime.failed.todo_sender"
    SMIME_FAILED_SUPPORT = "smime.failed.support"
    SMIME_ALERT_SUBJECT = "smime.alert.subject"
    SMIME_ALERT_TEXT = "smime.alert.text"
    FORWARDED_LARGE_TITLE = "forwarded.large.title"
    FORWARDED_LARGE_TEXT = "forwarded.large.text"
    FORWARDED_LARGE_WHAT_TO_DO = "forwarded.large.what_to_do"
    FORWARDED_UNREADABLE_TITLE = "forwarded.unreadable.title"
    FORWARDED_UNREADABLE_TEXT = "forwarded.unreadable.text"
    FORWARDED_UNREADABLE_WHAT_TO_DO = "forwarded.unreadable.what_to_do"
    SMIME_OUT_SIGNED = "smime.out.signed"
    SMIME_OUT_ENCRYPTED = "smime.out.encrypted"
    SMIME_OUT_DAMAGED = "smime.out.damaged"
    SMIME_OUT_INVALID = "smime.out.invalid"
    SECURE_SEND_MIXED = "securesend.mixed"
    SECURE_SEND_BAD_ADDRESS = "securesend.bad_address"
    SECURE_SEND_BCC = "securesend.bcc"
    SECURE_SEND_NO_CERTIFICATE = "securesend.no_certificate"
    SECURE_SEND_NOT_CONFIGURED = "securesend.not_configured"
    SECURE_SEND_SENT = "securesend.sent"
    SECURE_SEND_SOURCE_FAILED = "securesend.source_failed"
    SECURE_SEND_FROM_FILE = "securesend.from_file"
    SECURE_SEND_FROM_CONTACTS = "securesend.from_contacts"
    SECURE_SEND_FROM_LDAP = "securesend.from_ldap"

    # -- inbound words (issue 17): banners, the overview's dates and rules, routed secure mail
    INB_SUPPORT = "inbound.support"
    INB_UNMAPPED_NONE_TITLE = "inbound.unmapped.none.title"
    INB_UNMAPPED_NONE_WHAT = "inbound.unmapped.none.what"
    INB_UNMAPPED_NONE_ACTION = "inbound.unmapped.none.action"
    INB_UNMAPPED_TITLE = "inbound.unmapped.title"
    INB_UNMAPPED_UNKNOWN_TITLE = "inbound.unmapped.unknown_title"
    INB_UNMAPPED_WHAT = "inbound.unmapped.what"
    INB_UNMAPPED_ACTION = "inbound.unmapped.action"
    INB_UNMAPPED_ALERT_SUBJECT = "inbound.unmapped.alert.subject"
    INB_UNMAPPED_ALERT_TITLE = "inbound.unmapped.alert.title"
    INB_UNMAPPED_ALERT_UNKNOWN = "inbound.unmapped.alert.unknown"
    INB_UNMAPPED_ALERT_NULL = "inbound.unmapped.alert.null"
    INB_UNMAPPED_ALERT_FIX = "inbound.unmapped.alert.fix"
    INB_PLACEHOLDER_MAILBOX = "inbound.placeholder.mailbox"
    INB_PLACEHOLDER_NAME = "inbound.placeholder.name"
    INB_INVALID_TITLE = "inbound.invalid.title"
    INB_INVALID_UNREADABLE = "inbound.invalid.unreadable"
    INB_INVALID_UNSAFE = "inbound.invalid.unsafe"
    INB_INVALID_FORMAT = "inbound.invalid.format"
    INB_INVALID_IDS = "inbound.invalid.ids"
    INB_INVALID_CONTENT = "inbound.invalid.content"
    INB_INVALID_TOLD = "inbound.invalid.told"
    INB_INVALID_NOT_TOLD = "inbound.invalid.not_told"
    INB_INVALID_PARTLY = "inbound.invalid.partly"
    INB_INVALID_RAW = "inbound.invalid.raw"
    INB_INVALID_DETAILS_NAME = "inbound.invalid.details_name"
    INB_INVALID_DETAILS_HEAD = "inbound.invalid.details_head"
    INB_INVALID_DETAILS_RECEIPT = "inbound.invalid.details_receipt"
    INB_INVALID_DETAILS_NO_RECEIPT = "inbound.invalid.details_no_receipt"
    INB_INVALID_SENDER = "inbound.invalid.sender"
    INB_NOTE_INVALID = "inbound.note.invalid"
    INB_DATETIME = "inbound.datetime"
    INB_MONTHS = "inbound.months"
    INB_RULE_REASON = "inbound.rule.reason"
    INB_RULE_AND = "inbound.rule.and"
    INB_RULE_OR = "inbound.rule.or"
    INB_OP_EQUALS = "inbound.op.equals"
    INB_OP_CONTAINS = "inbound.op.contains"
    INB_OP_REGEX = "inbound.op.regex"
    INB_OP_EXISTS = "inbound.op.exists"
    INB_FIELD_FROM = "inbound.field.from"
    INB_FIELD_ORIGINAL_FROM = "inbound.field.original_from"
    INB_FIELD_TO = "inbound.field.to"
    INB_FIELD_RECIPIENTS = "inbound.field.recipients"
    INB_FIELD_SUBJECT = "inbound.field.subject"
    INB_FIELD_BODY = "inbound.field.body"
    INB_FIELD_ATTACHMENT_NAME = "inbound.field.attachment_name"
    INB_FIELD_ATTACHMENT_CONTENT = "inbound.field.attachment_content"
    INB_FIELD_HEADER = "inbound.field.header"
    INB_FIELD_SENDER_ID = "inbound.field.sender_id"
    INB_FIELD_SENDER_ID_TYPE = "inbound.field.sender_id_type"
    INB_FIELD_RECIPIENT_ID = "inbound.field.recipient_id"
    INB_FIELD_RECIPIENT_CONTACT_POINT = "inbound.field.recipient_contact_point"
    INB_FIELD_SENDER_CONTACT_POINT = "inbound.field.sender_contact_point"
    INB_FIELD_KLE = "inbound.field.kle"
    INB_FIELD_CASE_ID = "inbound.field.case_id"
    INB_FIELD_MESSAGE_TYPE = "inbound.field.message_type"
    INB_FIELD_LABEL = "inbound.field.label"
    INB_FIELD_MESSAGE_UUID = "inbound.field.message_uuid"
    INB_FIELD_LEGAL_NOTIFICATION = "inbound.field.legal_notification"
    INB_FIELD_MANDATORY = "inbound.field.mandatory"
    INB_FIELD_POST_TYPE = "inbound.field.post_type"
    INB_FIELD_OTHER = "inbound.field.other"
    INB_ROUTED_CATEGORY = "inbound.routed.category"
    # -- meeting invitations sent as letters (domain/meetings.py)
    MEETING_SUBJECT_UPDATED = "meeting.subject.updated"
    MEETING_SUBJECT_CANCELLED = "meeting.subject.cancelled"
    MEETING_LEAD_INVITATION = "meeting.lead.invitation"
    MEETING_LEAD_UPDATED = "meeting.lead.updated"
    MEETING_LEAD_PREVIOUS = "meeting.lead.previous"
    MEETING_LEAD_CANCELLED = "meeting.lead.cancelled"
    MEETING_LEAD_RECURRING = "meeting.lead.recurring"
    MEETING_PLACE = "meeting.place"
    MEETING_NO_PLACE = "meeting.no_place"
    MEETING_WHEN = "meeting.when"
    MEETING_WHEN_DAYS = "meeting.when.days"
    MEETING_WHEN_ALL_DAY = "meeting.when.all_day"
    MEETING_BAD_TIME = "meeting.bad_time"
    MEETING_RECURRING_NOTE = "meeting.recurring_note"
    # -- Outlook inbox rules applied to delivered mail (domain/inbox_rules.py)
    INBOX_RULE_APPLIED = "inboxrule.applied"
    # -- the admin console and `graph-dpg letters` (services/letters.py)
    RECEIPT_ROW_CANCELLED = "receipt.failure.cancelled"
    CONSOLE_NOTE_INBOUND_NO_CPR = "console.note.inbound_no_cpr"
    CONSOLE_NOTE_INBOUND_NO_SUBJECT = "console.note.inbound_no_subject"
    CONSOLE_STEP_SEEN = "console.step.seen"
    CONSOLE_STEP_PLANNED = "console.step.planned"
    CONSOLE_STEP_ROW_PLANNED = "console.step.row_planned"
    CONSOLE_STEP_SENT = "console.step.sent"
    CONSOLE_STEP_ACCEPTED = "console.step.accepted"
    CONSOLE_STEP_ROW_REFUSED = "console.step.row_refused"
    CONSOLE_STEP_ROW_FAILED = "console.step.row_failed"
    CONSOLE_STEP_RECEIPT = "console.step.receipt"
    CONSOLE_STEP_REPLACED = "console.step.replaced"
    CONSOLE_STEP_DONE = "console.step.done"
    CONSOLE_STEP_REJECTED = "console.step.rejected"
    CONSOLE_STEP_FAILED = "console.step.failed"
    CONSOLE_STEP_SECURE_SENT = "console.step.secure_sent"
    CONSOLE_STEP_RECEIPT_MAIL = "console.step.receipt_mail"
    CONSOLE_STEP_RECEIPT_MAIL_PLANNED = "console.step.receipt_mail_planned"
    CONSOLE_STEP_CATEGORY = "console.step.category"
    CONSOLE_STEP_CANCELLED = "console.step.cancelled"
    CONSOLE_STEP_RETRIED = "console.step.retried"
    CONSOLE_STEP_RECEIPT_RESENT = "console.step.receipt_resent"
    CONSOLE_STEP_CPR_REVEALED = "console.step.cpr_revealed"
    CONSOLE_REASON_REFUSED = "console.reason.refused"
    CONSOLE_REASON_FAILED = "console.reason.failed"
    CONSOLE_REASON_CANCELLED = "console.reason.cancelled"
    CONSOLE_MEMO_STORED = "console.memo.stored"
    CONSOLE_MEMO_TEMPLATE = "console.memo.template"
    CONSOLE_MEMO_NOT_KEPT = "console.memo.not_kept"
    CONSOLE_REFUSED_ROLE = "console.refused.role"
    CONSOLE_REFUSED_NOTHING_TO_RETRY = "console.refused.nothing_to_retry"
    CONSOLE_REFUSED_CANCELLING = "console.refused.cancelling"
    CONSOLE_REFUSED_IN_PROGRESS = "console.refused.in_progress"
    CONSOLE_REFUSED_MEMO_GONE = "console.refused.memo_gone"
    CONSOLE_REFUSED_FINISHED = "console.refused.finished"
    CONSOLE_REFUSED_NOT_FINISHED = "console.refused.not_finished"
    CONSOLE_REFUSED_SECURE_SENT = "console.refused.secure_sent"
    CONSOLE_REFUSED_NO_RECEIPT = "console.refused.no_receipt"
    CONSOLE_DONE_RETRIED = "console.done.retried"
    CONSOLE_DONE_ALREADY_RETRIED = "console.done.already_retried"
    CONSOLE_DONE_CANCELLED = "console.done.cancelled"
    CONSOLE_DONE_ALREADY_CANCELLED = "console.done.already_cancelled"
    CONSOLE_DONE_RESENT = "console.done.resent"
    CONSOLE_DONE_ALREADY_RESENDING = "console.done.already_resending"
    # -- the admin console (runtime/console/)
    CONSOLE_TITLE = "console.title"
    CONSOLE_SKIP = "console.skip"
    CONSOLE_LANG_OTHER = "console.lang_other"
    CONSOLE_NAV_SEARCH = "console.nav.search"
    CONSOLE_NAV_DELIVERIES = "console.nav.deliveries"
    CONSOLE_SIGNED_IN_AS = "console.signed_in_as"
    CONSOLE_ROLE_ADMIN = "console.role.admin"
    CONSOLE_ROLE_READER = "console.role.reader"
    CONSOLE_SIGN_OUT = "console.sign_out"
    CONSOLE_SIGN_IN = "console.sign_in"
    CONSOLE_SIGN_IN_INTRO = "console.sign_in.intro"
    CONSOLE_SIGN_IN_FAILED = "console.sign_in.failed"
    CONSOLE_SIGN_IN_TOO_MANY = "console.sign_in.too_many"
    CONSOLE_NO_ROLE = "console.no_role"
    CONSOLE_FORBIDDEN = "console.forbidden"
    CONSOLE_CSRF = "console.csrf"
    CONSOLE_SEARCH_TITLE = "console.search.title"
    CONSOLE_SEARCH_LABEL = "console.search.label"
    CONSOLE_SEARCH_STATE = "console.search.state"
    CONSOLE_SEARCH_ANY = "console.search.any"
    CONSOLE_SEARCH_SINCE = "console.search.since"
    CONSOLE_SEARCH_BUTTON = "console.search.button"
    CONSOLE_SEARCH_NONE = "console.search.none"
    CONSOLE_SEARCH_CAPPED = "console.search.capped"
    CONSOLE_COL_CREATED = "console.col.created"
    CONSOLE_COL_MAILBOX = "console.col.mailbox"
    CONSOLE_COL_SUBJECT = "console.col.subject"
    CONSOLE_COL_STATE = "console.col.state"
    CONSOLE_COL_RECIPIENTS = "console.col.recipients"
    CONSOLE_COL_RECIPIENT = "console.col.recipient"
    CONSOLE_COL_EVENT = "console.col.event"
    CONSOLE_COL_ACTIONS = "console.col.actions"
    CONSOLE_COL_PROGRESS = "console.col.progress"
    CONSOLE_STATE_NEW = "console.state.new"
    CONSOLE_STATE_PLANNED = "console.state.planned"
    CONSOLE_STATE_SENDING = "console.state.sending"
    CONSOLE_STATE_DONE = "console.state.done"
    CONSOLE_STATE_REJECTED = "console.state.rejected"
    CONSOLE_STATE_FAILED = "console.state.failed"
    CONSOLE_STATE_PENDING = "console.state.pending"
    CONSOLE_STATE_ACCEPTED = "console.state.accepted"
    CONSOLE_LETTER_TITLE = "console.letter.title"
    CONSOLE_LETTER_NOT_FOUND = "console.letter.not_found"
    CONSOLE_ACTION_RETRY = "console.action.retry"
    CONSOLE_ACTION_CANCEL = "console.action.cancel"
    CONSOLE_ACTION_REVEAL = "console.action.reveal"
    CONSOLE_DONE_REVEAL = "console.done.reveal"
    CONSOLE_ACTION_RESEND = "console.action.resend"
    CONSOLE_NAV_ROUTING = "console.nav_routing"
    CONSOLE_ROUTING_TITLE = "console.routing_title"
    CONSOLE_ROUTING_INTRO = "console.routing_intro"
    CONSOLE_ROUTING_KIND = "console.routing_kind"
    CONSOLE_ROUTING_KIND_MEMO = "console.routing_kind_memo"
    CONSOLE_ROUTING_KIND_MAIL = "console.routing_kind_mail"
    CONSOLE_ROUTING_SENDER = "console.routing_sender"
    CONSOLE_ROUTING_BODY = "console.routing_body"
    CONSOLE_ROUTING_BUTTON = "console.routing_button"
    CONSOLE_ROUTING_OUTCOME = "console.routing_outcome"
    CONSOLE_ROUTING_BY_RULE = "console.routing_by_rule"
    CONSOLE_ROUTING_NO_RULE_MEMO = "console.routing_no_rule_memo"
    CONSOLE_ROUTING_NO_RULE_MAIL = "console.routing_no_rule_mail"
    CONSOLE_ROUTING_CATEGORIES = "console.routing_categories"
    CONSOLE_ROUTING_TRACE = "console.routing_trace"
    CONSOLE_ROUTING_POINTS = "console.routing_points"
    CONSOLE_ROUTING_POINT = "console.routing_point"
    CONSOLE_ROUTING_UNMAPPED = "console.routing_unmapped"
    CONSOLE_ROUTING_AT_NGDP = "console.routing_at_ngdp"
    CONSOLE_ROUTING_INACTIVE = "console.routing_inactive"
    CONSOLE_ROUTING_NOT_AT_NGDP = "console.routing_not_at_ngdp"
    CONSOLE_ROUTING_NGDP_UNANSWERED = "console.routing_ngdp_unanswered"
    CONSOLE_CANCELLED = "console.cancelled"
    CONSOLE_REPLACED_BY = "console.replaced_by"
    CONSOLE_REPLACES = "console.replaces"
    CONSOLE_RECIPIENTS_CAPPED = "console.recipients_capped"
    CONSOLE_DELIVERIES_TITLE = "console.deliveries.title"
    CONSOLE_DELIVERIES_NONE = "console.deliveries.none"
    CONSOLE_PROGRESS = "console.progress"
    CONSOLE_NOT_FOUND = "console.not_found"
    CONSOLE_UNAVAILABLE = "console.unavailable"
    CONSOLE_OPS_CREDENTIALS = "console.ops.credentials"
    CONSOLE_OPS_NO_CREDENTIALS = "console.ops.no_credentials"
    CONSOLE_CRED_EXPIRES = "console.cred.expires"
    CONSOLE_CRED_EXPIRED = "console.cred.expired"
    CONSOLE_NAV_INBOUND = "console.nav.inbound"
    CONSOLE_NAV_OPERATIONS = "console.nav.operations"
    CONSOLE_OPS_TITLE = "console.ops.title"
    CONSOLE_OPS_REPLICAS = "console.ops.replicas"
    CONSOLE_OPS_NO_REPLICAS = "console.ops.no_replicas"
    CONSOLE_OPS_BACKLOG = "console.ops.backlog"
    CONSOLE_OPS_INBOUND_WAITING = "console.ops.inbound_waiting"
    CONSOLE_OPS_RULES = "console.ops.rules"
    CONSOLE_OPS_NO_RULES = "console.ops.no_rules"
    CONSOLE_COL_RULE = "console.col.rule"
    CONSOLE_COL_HITS = "console.col.hits"
    CONSOLE_COL_COUNT = "console.col.count"
    CONSOLE_COL_CONTACT_POINT = "console.col.contact_point"
    CONSOLE_COL_ROUTE = "console.col.route"
    CONSOLE_COL_RECEIVED = "console.col.received"
    CONSOLE_RULE_ACTIVE = "console.rule.active"
    CONSOLE_RULE_DISABLED = "console.rule.disabled"
    CONSOLE_INBOUND_TITLE = "console.inbound.title"
    CONSOLE_INBOUND_UNMAPPED = "console.inbound.unmapped"
    CONSOLE_INBOUND_UNMAPPED_NONE = "console.inbound.unmapped_none"
    CONSOLE_INBOUND_NONE = "console.inbound.none"
    CONSOLE_ROUTE_RULE = "console.route.rule"
    CONSOLE_ROUTE_BANNER = "console.route.banner"
    CONSOLE_INSTATE_RECEIVED = "console.instate.received"
    CONSOLE_INSTATE_DELIVERED = "console.instate.delivered"
    CONSOLE_INSTATE_ACKNOWLEDGED = "console.instate.acknowledged"
    CONSOLE_INSTATE_DELETED = "console.instate.deleted"


@dataclass(frozen=True)
class Entry:
    """One text in both languages."""

    da: str
    en: str

    def template(self, language: str) -> str:
        return self.en if language == "en" else self.da


_T = Text

CATALOGUE: Mapping[Text, Entry] = MappingProxyType(
    {
        # ------------------------------------------------------------------------------- receipt mails
        _T.RECEIPT_SUBJECT_OK: Entry("DPG kvittering: {label}", "DPG receipt: {label}"),
        _T.RECEIPT_SUBJECT_PARTIAL: Entry(
            "DPG kvittering med fejl: {label}", "DPG receipt with errors: {label}"
        ),
        _T.RECEIPT_SUBJECT_ERROR: Entry("DPG fejlkvittering: {label}", "DPG error receipt: {label}"),
        _T.RECEIPT_NO_SUBJECT: Entry("(uden emne)", "(no subject)"),
        # Every receipt points to its original: the subject (in the intro) and when it was sent (local time).
        _T.RECEIPT_SENT_AT: Entry("Du sendte mailen {sent}.", "You sent the mail on {sent}."),
        # A later business receipt that changes the outcome: one updated receipt per batch of changes,
        # in the same conversation as the first receipt; it says what changed, then the whole delivery.
        _T.RECEIPT_SUBJECT_UPDATE: Entry("DPG opdateret kvittering: {label}", "DPG updated receipt: {label}"),
        _T.RECEIPT_UPDATE_INTRO_HTML: Entry(
            "<b>Opdateret kvittering</b> for din mail <b>{label}</b>. "
            "Siden den første kvittering har Digital Post meldt dette:",
            "<b>Updated receipt</b> for your mail <b>{label}</b>. "
            "Since the first receipt, Digital Post has reported this:",
        ),
        _T.RECEIPT_UPDATE_REJECTED: Entry(
            "Brevet til {recipient} er nu afvist: {reason}",
            "The letter to {recipient} has now been refused: {reason}",
        ),
        _T.RECEIPT_UPDATE_MORE: Entry(
            "De øvrige breve, der nu er afvist ({more}), står med status i listen nedenfor.",
            "The other letters now refused ({more}) are listed with their status below.",
        ),
        _T.RECEIPT_UPDATE_NOW: Entry("Sådan står forsendelsen nu:", "This is where the delivery stands now:"),
        _T.RECEIPT_INTRO_HTML: Entry(
            "Digital Post-forsendelsen af din mail <b>{label}</b> er behandlet.",
            "The Digital Post delivery of your mail <b>{label}</b> has been processed.",
        ),
        _T.RECEIPT_ERROR_INTRO_HTML: Entry(
            "Din mail <b>{label}</b> er <b>ikke</b> sendt som Digital Post. "
            "Intet er sendt til nogen modtager.",
            "Your mail <b>{label}</b> was <b>not</b> sent as Digital Post. "
            "Nothing was sent to any recipient.",
        ),
        _T.RECEIPT_FIX: Entry(
            "Ret følgende og send mailen igen:", "Please fix the following and send the mail again:"
        ),
        # {counts}: "Fejlet: 2. Kvitteret: 198. …", built from the status words below, so the counts use
        # the words of the Status column and each count is the number of rows that show its word.
        _T.RECEIPT_SUMMARY: Entry("Modtagere: {total}. {counts}.", "Recipients: {total}. {counts}."),
        _T.RECEIPT_WARNINGS: Entry("Bemærk:", "Please note:"),
        _T.RECEIPT_DETAILS_ATTACHED: Entry(
            "Detaljer om de fejlede afsendelser står i den vedhæftede fil {name}.",
            "Details of the failed deliveries are in the attached file {name}.",
        ),
        _T.RECEIPT_ALL_ATTACHED: Entry(
            "Den fulde liste over modtagere står i den vedhæftede fil {name}.",
            "The full list of recipients is in the attached file {name}.",
        ),
        _T.RECEIPT_FINDINGS_ATTACHED: Entry(
            "Her står de første {shown} af {total} punkter; alle står i den vedhæftede fil {name}.",
            "The first {shown} of {total} items are listed here; "
            "all of them are in the attached file {name}.",
        ),
        _T.RECEIPT_COL_LINE: Entry("Linje", "Line"),
        _T.RECEIPT_COL_RECIPIENT: Entry("Modtager", "Recipient"),
        _T.RECEIPT_COL_STATUS: Entry("Status", "Status"),
        _T.RECEIPT_COL_UUID: Entry("messageUUID", "messageUUID"),
        _T.RECEIPT_COL_DETAIL: Entry("Detaljer", "Details"),
        _T.RECEIPT_COL_REASON: Entry("Årsag", "Reason"),
        _T.RECEIPT_COL_SUPPORT: Entry("Til it-support", "For IT support"),
        # The attached list of every recipient of a large receipt (a CSV file that opens in Excel).
        _T.RECEIPT_LIST_NAME: Entry("modtagere.csv", "recipients.csv"),
        _T.RECEIPT_LIST_CUT: Entry(
            "Listen i {name} er kortet ned til de første {shown} af {total} modtagere (de fejlede står "
            "først), så kvitteringen ikke bliver for stor til at blive leveret.",
            "The list in {name} is cut to the first {shown} of {total} recipients (the failed ones come "
            "first), so that the receipt is not too large to be delivered.",
        ),
        _T.RECEIPT_FAILURES_HEADING: Entry("Fejlede modtagere:", "Failed recipients:"),
        _T.RECEIPT_FAILURES_FIRST: Entry(
            "De første {shown} af {total} fejlede modtagere:",
            "The first {shown} of {total} failed recipients:",
        ),
        # Why one recipient failed, when the gateway only has NgDP's or the network's own (English,
        # technical) words: those go in the support column; this is what the case worker reads.
        _T.RECEIPT_REASON_REFUSED: Entry(
            "Digital Post afviste brevet til denne modtager, og det er ikke leveret. Tjek CPR- eller "
            "CVR-nummeret; er det rigtigt, så send brevet med almindelig post, eller kontakt it-support.",
            "Digital Post refused the letter for this recipient, and it was not delivered. Check the CPR "
            "or CVR number; if it is right, send the letter by physical post, or contact IT support.",
        ),
        _T.RECEIPT_REASON_NOT_SENT: Entry(
            "Brevet kunne ikke sendes til denne modtager, fordi Digital Post ikke svarede eller svarede "
            "med en fejl. Send brevet igen til modtageren; sker det igen, så kontakt it-support.",
            "The letter could not be sent to this recipient because Digital Post did not answer or "
            "answered with an error. Send the letter to the recipient again; if it happens again, "
            "contact IT support.",
        ),
        # One vocabulary: a recipient's status word is the word of the state category the original shows
        # ("Digital Post: I kø", "Sendt", "Kvitteret", "Fejlet"; a test keeps them equal). The detail column
        # says why a recipient failed.
        _T.RECEIPT_STATUS_PENDING: Entry("I kø", "Queued"),
        _T.RECEIPT_STATUS_ACCEPTED: Entry("Sendt", "Sent"),
        _T.RECEIPT_STATUS_COMPLETED: Entry("Kvitteret", "Receipted"),
        _T.RECEIPT_STATUS_RECEIVED: Entry("Kvitteret", "Receipted"),
        _T.RECEIPT_STATUS_REJECTED: Entry("Fejlet", "Failed"),
        _T.RECEIPT_STATUS_FAILED: Entry("Fejlet", "Failed"),
        # NgDP's business receipt statuses in words, with what to do (docs/facts/ngdp.md, "Receipts").
        _T.NGDP_RECEIPT_NOT_ALLOWED: Entry(
            "Digital Post må ikke levere brevet til modtageren (fx er modtageren fritaget for Digital Post). "
            "Send brevet med almindelig post.",
            "Digital Post may not deliver the letter to this recipient (for instance, the recipient is "
            "exempt from Digital Post). Send the letter by physical post.",
        ),
        _T.NGDP_RECEIPT_INVALID: Entry(
            "Digital Post afviste brevet som ugyldigt, efter at det var modtaget. Tjek brevet og de "
            "vedhæftede filer, og send det igen; sker det igen, så kontakt it-support.",
            "Digital Post refused the letter as invalid after receiving it. Check the letter and its "
            "attachments and send it again; if it happens again, contact IT support.",
        ),
        _T.NGDP_RECEIPT_UNKNOWN: Entry(
            "Digital Post svarede med en kvittering, som gatewayen ikke kender. Kontakt it-support.",
            "Digital Post answered with a receipt the gateway does not know. Contact IT support.",
        ),
        _T.RECEIPT_FAILURE_INTERNAL: Entry(
            "En uventet fejl i gatewayen stoppede behandlingen af mailen.",
            "An unexpected error in the gateway stopped the processing of this mail.",
        ),
        _T.RECEIPT_FAILURE_GAVE_UP: Entry(
            "Gatewayen kunne ikke gøre mailen færdig og har opgivet den efter {attempts} forsøg. "
            "Seneste fejl: {error}",
            "The gateway could not finish this mail and gave up after {attempts} attempt(s). "
            "Last error: {error}",
        ),
        _T.RECEIPT_FAILURE_RECEIPT: Entry(
            "Kvitteringen kunne ikke skrives som normalt på grund af en uventet fejl i gatewayen. "
            "Listen nedenfor viser, hvad der er sendt.",
            "The receipt could not be written as usual because of an unexpected error in the gateway. "
            "The list below shows what was sent.",
        ),
        _T.RECEIPT_SEND_AGAIN: Entry(
            "Send mailen igen. Sker det igen, så kontakt jeres it-support og oplys referencen nedenfor.",
            "Please send the mail again. If this happens again, contact your IT support and give them "
            "the reference below.",
        ),
        _T.RECEIPT_SEND_AGAIN_FAILED: Entry(
            "Send mailen igen, men kun til de modtagere, der står som Fejlet: de øvrige har fået brevet. "
            "Sker det igen, så kontakt jeres it-support og oplys referencen nedenfor.",
            "Please send the mail again, but only to the recipients marked Failed: the others got the "
            "letter. If this happens again, contact your IT support and give them the reference below.",
        ),
        _T.RECEIPT_SUPPORT_REFERENCE: Entry(
            "Reference til it-support: {reference}", "Reference for IT support: {reference}"
        ),
        _T.RECEIPT_ROW_NOT_SENT: Entry(
            "Ikke sendt: intern fejl (reference {reference})",
            "Not sent: internal error (reference {reference})",
        ),
        _T.RECEIPT_ROW_HTML_REJECTED: Entry(
            "Ikke sendt: Digital Post godkender ikke brevets tekst som HTML ({problems}). Fjern scripts,"
            " formularer og indhold, der hentes fra internettet (billeder og typografiark via links; indsæt"
            " billeder direkte i mailen i stedet), eller vedhæft brevet som PDF, og send mailen igen.",
            "Not sent: Digital Post does not accept the letter's text as HTML ({problems}). Remove scripts,"
            " forms and content fetched from the internet (images and style sheets by link; paste images"
            " into the mail instead), or attach the letter as a PDF, and send the mail again.",
        ),
        _T.RECEIPT_RECIPIENT_EXEMPT: Entry(
            "Modtageren er fritaget for Digital Post, så brevet kan ikke leveres digitalt. Send det med "
            "almindelig post.",
            "The recipient is exempt from Digital Post, so the letter cannot be delivered digitally. Send "
            "it by physical post.",
        ),
        _T.RECEIPT_RECIPIENT_UNKNOWN: Entry(
            "Digital Post kender ikke modtageren. Tjek nummeret; er det rigtigt, så send brevet med "
            "almindelig post.",
            "Digital Post does not know the recipient. Check the number; if it is right, send the letter by "
            "physical post.",
        ),
        # ------------------------------------------------------------------------------- findings
        _T.FINDING_RECIPIENT_EXEMPT: Entry(
            "Modtageren {recipient} (linje {line}) er fritaget for Digital Post og fik derfor ikke brevet. "
            "Send det med almindelig post.",
            "The recipient {recipient} (line {line}) is exempt from Digital Post and was therefore not sent "
            "the letter. Send it by physical post.",
        ),
        _T.FINDING_RECIPIENT_UNKNOWN: Entry(
            "Digital Post kender ikke modtageren {recipient} (linje {line}), som derfor ikke fik brevet. "
            "Tjek nummeret; er det rigtigt, så send brevet med almindelig post.",
            "Digital Post does not know the recipient {recipient} (line {line}), who was therefore not sent "
            "the letter. Check the number; if it is right, send the letter by physical post.",
        ),
        _T.FINDING_POLICY_COUNT: Entry(
            (
                "Mailen har {count} vedhæftede filer, men Digital Post modtager højst {limit}. Saml "
                "filerne i færre filer (fx én PDF), og send mailen igen."
            ),
            (
                "The mail has {count} attachments, but Digital Post accepts at most {limit}. Combine them "
                "into fewer files (for example one PDF) and send the mail again."
            ),
        ),
        _T.FINDING_POLICY_SIZE: Entry(
            (
                "De vedhæftede filer fylder i alt {size_mb} MB, men Digital Post modtager højst "
                "{limit_mb} MB pr. brev. Gør filerne mindre, eller send dem i flere breve, og send mailen "
                "igen."
            ),
            (
                "The attachments total {size_mb} MB, but Digital Post accepts at most {limit_mb} MB per "
                "letter. Make the files smaller or send them in several letters, and send the mail again."
            ),
        ),
        _T.FINDING_POLICY_TYPE_UNCHECKED: Entry(
            ("Filen {file} kunne ikke kontrolleres. Send mailen igen; sker det igen, så kontakt it-support."),
            (
                "The file {file} could not be checked. Send the mail again; if it happens again, contact "
                "IT support."
            ),
        ),
        _T.FINDING_POLICY_EMPTY: Entry(
            ("Filen {file} er tom. Vedhæft den rigtige fil, og send mailen igen."),
            ("The file {file} is empty. Attach the right file and send the mail again."),
        ),
        _T.FINDING_POLICY_TYPE_EXECUTABLE: Entry(
            (
                "Filen {file} er et program eller et script, og den slags filer kan ikke sendes med "
                "Digital Post. Fjern filen, og send mailen igen."
            ),
            (
                "The file {file} is a program or a script, and such files cannot be sent by Digital Post. "
                "Remove the file and send the mail again."
            ),
        ),
        _T.FINDING_POLICY_TYPE_ACTIVE_CONTENT: Entry(
            (
                "Filen {file} indeholder scripts. Gem den som PDF, vedhæft PDF-filen i stedet, og send "
                "mailen igen."
            ),
            (
                "The file {file} contains scripts. Save it as a PDF, attach the PDF instead and send the "
                "mail again."
            ),
        ),
        _T.FINDING_POLICY_TYPE_EXTENSION: Entry(
            (
                "Filen {file} er af en type, som Digital Post ikke modtager. Gem den som PDF (eller en "
                "anden tilladt type: {accepted}), og send mailen igen."
            ),
            (
                "The file {file} is of a type Digital Post does not accept. Save it as a PDF (or another "
                "accepted type: {accepted}) and send the mail again."
            ),
        ),
        _T.FINDING_POLICY_TYPE_EXPANSION: Entry(
            (
                "Filen {file} kunne ikke kontrolleres, fordi den pakker sig ud til alt for meget indhold. "
                "Send indholdet som PDF, og send mailen igen."
            ),
            (
                "The file {file} could not be checked because it unpacks to far too much content. Send "
                "the content as a PDF and send the mail again."
            ),
        ),
        _T.FINDING_POLICY_TYPE_UNIDENTIFIED: Entry(
            (
                "Indholdet af filen {file} kunne ikke genkendes. Åbn filen, gem den igen (fx som PDF), og "
                "send mailen igen."
            ),
            (
                "The content of the file {file} could not be recognised. Open the file, save it again "
                "(for example as a PDF) and send the mail again."
            ),
        ),
        _T.FINDING_POLICY_TYPE_CONTENT: Entry(
            (
                "Filen {file} har endelsen .{extension}, men indholdet er en anden slags fil. Gem filen i "
                "det rigtige format, og send mailen igen."
            ),
            (
                "The file {file} ends in .{extension}, but its content is another kind of file. Save the "
                "file in the right format and send the mail again."
            ),
        ),
        _T.FINDING_FILENAME_FORBIDDEN_CHARS: Entry(
            (
                "Filnavnet {file} indeholdt tegn, der ikke må stå i et filnavn; filen er sendt med navnet "
                "{renamed}."
            ),
            (
                "The file name {file} contained characters a file name may not have; the file was sent as "
                "{renamed}."
            ),
        ),
        _T.FINDING_FILENAME_BIDI_CONTROLS: Entry(
            (
                "Filnavnet {file} indeholdt usynlige tegn, der ændrer, hvordan navnet vises; filen er "
                "sendt med navnet {renamed}."
            ),
            (
                "The file name {file} contained invisible characters that change how the name is shown; "
                "the file was sent as {renamed}."
            ),
        ),
        _T.FINDING_FILENAME_EMPTY: Entry(
            ("En vedhæftet fil havde intet brugbart navn; den er sendt med navnet {renamed}."),
            ("An attachment had no usable name; it was sent as {renamed}."),
        ),
        _T.FINDING_ATTACHMENTS_LOOKALIKE: Entry(
            (
                "Filen {file} ligner {special}, men hedder ikke præcis sådan. Omdøb den til {special} "
                "(eller giv den et helt andet navn, hvis det er en almindelig bilagsfil), og send mailen "
                "igen."
            ),
            (
                "The file {file} looks like {special} but is not named exactly that. Rename it {special} "
                "(or give it another name if it is an ordinary attachment) and send the mail again."
            ),
        ),
        _T.FINDING_ATTACHMENTS_AMBIGUOUS: Entry(
            ("Der er {count} vedhæftede filer med navnet {special}. Vedhæft kun én, og send mailen igen."),
            ("There are {count} attachments named {special}. Attach only one and send the mail again."),
        ),
        _T.FINDING_ADDRESS_NONE: Entry(
            (
                "Mailen har ingen Digital Post-modtager. Skriv modtagerens Digital Post-adresse (CPR- "
                "eller CVR-nummer), og send mailen igen."
            ),
            (
                "The mail has no Digital Post recipient. Write the recipient's Digital Post address (CPR "
                "or CVR number) and send the mail again."
            ),
        ),
        _T.FINDING_ADDRESS_GRAMMAR: Entry(
            (
                "Adressen {recipient} er ikke en gyldig Digital Post-adresse: modtageren skal være et "
                "CPR-nummer (10 cifre) eller et CVR-nummer (8 cifre). Ret adressen, og send mailen igen."
            ),
            (
                "The address {recipient} is not a valid Digital Post address: the recipient must be a CPR "
                "number (10 digits) or a CVR number (8 digits). Correct the address and send the mail "
                "again."
            ),
        ),
        _T.FINDING_ADDRESS_REPLY_MERGED: Entry(
            (
                "{recipient} står både med og uden -reply; der er sendt ét brev, og modtageren kan svare "
                "på det."
            ),
            (
                "{recipient} is written both with and without -reply; one letter was sent, and the "
                "recipient can reply to it."
            ),
        ),
        _T.FINDING_ADDRESS_DUPLICATE: Entry(
            ("{recipient} står {count} gange (Til, Cc, Bcc eller stavet forskelligt); der er sendt ét brev."),
            (
                "{recipient} is written {count} times (To, Cc, Bcc or spelled differently); one letter "
                "was sent."
            ),
        ),
        _T.FINDING_CPR_FORMAT: Entry(
            (
                "{recipient}: CPR-nummeret er ikke gyldigt. Et CPR-nummer har 10 cifre (DDMMÅÅ-XXXX). Ret "
                "adressen, og send mailen igen."
            ),
            (
                "{recipient}: the CPR number is not valid. A CPR number has 10 digits (DDMMYY-XXXX). "
                "Correct the address and send the mail again."
            ),
        ),
        _T.FINDING_CPR_DATE: Entry(
            (
                "{recipient}: de første seks cifre i CPR-nummeret er ikke en dato (DDMMÅÅ). Ret "
                "CPR-nummeret, og send mailen igen."
            ),
            (
                "{recipient}: the first six digits of the CPR number are not a date (DDMMYY). Correct the "
                "CPR number and send the mail again."
            ),
        ),
        _T.FINDING_CVR_FORMAT: Entry(
            (
                "{recipient}: CVR-nummeret er ikke gyldigt. Et CVR-nummer har 8 cifre. Ret adressen, og "
                "send mailen igen."
            ),
            (
                "{recipient}: the CVR number is not valid. A CVR number has 8 digits. Correct the address "
                "and send the mail again."
            ),
        ),
        _T.FINDING_CVR_MODULUS11: Entry(
            (
                "{recipient}: CVR-nummeret findes ikke (kontrolcifret passer ikke). Tjek nummeret i "
                "CVR-registret, ret adressen, og send mailen igen."
            ),
            (
                "{recipient}: the CVR number does not exist (its check digit is wrong). Look the number "
                "up in the CVR register, correct the address and send the mail again."
            ),
        ),
        _T.FINDING_SENDER_MAILBOX: Entry(
            (
                "Postkassen {mailbox} er ikke sat op til at sende Digital Post. Send fra en "
                "funktionspostkasse, der er koblet til Digital Post, eller bed it om at tilføje "
                "postkassen."
            ),
            (
                "The mailbox {mailbox} is not set up to send Digital Post. Send from a function mailbox "
                "connected to Digital Post, or ask IT to add this mailbox."
            ),
        ),
        _T.FINDING_SENDER_CVR: Entry(
            (
                "Postkassen {mailbox} må ikke sende som CVR {cvr}. Fjern CVR-nummeret fra adressen, eller "
                "bed it om at give postkassen lov."
            ),
            (
                "The mailbox {mailbox} may not send as CVR {cvr}. Remove the CVR number from the address, "
                "or ask IT to allow the mailbox."
            ),
        ),
        _T.FINDING_SENDER_CONTACT_POINT: Entry(
            (
                "Postkassen {mailbox} må ikke sende som kontaktpunktet {contact_point}. Fjern "
                "kontaktpunktet fra adressen, eller bed it om at give postkassen lov."
            ),
            (
                "The mailbox {mailbox} may not send as the contact point {contact_point}. Remove the "
                "contact point from the address, or ask IT to allow the mailbox."
            ),
        ),
        _T.FINDING_MEMOHEADER_JSON: Entry(
            ("Filen {file} kan ikke læses som JSON. Ret filen (eller fjern den), og send mailen igen."),
            (
                "The file {file} cannot be read as JSON. Correct the file (or remove it) and send the "
                "mail again."
            ),
        ),
        _T.FINDING_MEMOHEADER_SIZE: Entry(
            (
                "Filen {file} er for stor til at være en brevhovedfil. Fjern det overflødige indhold, og "
                "send mailen igen."
            ),
            (
                "The file {file} is too large to be a header file. Remove what does not belong there and "
                "send the mail again."
            ),
        ),
        _T.FINDING_MEMOHEADER_SHAPE: Entry(
            (
                "Filen {file} skal indeholde ét JSON-objekt med felter og værdier. Ret filen, og send "
                "mailen igen."
            ),
            (
                "The file {file} must hold one JSON object of fields and values. Correct the file and "
                "send the mail again."
            ),
        ),
        _T.FINDING_MEMOHEADER_UNKNOWN: Entry(
            ("Feltet {field} i {file} kendes ikke. Ret stavemåden, eller fjern feltet, og send mailen igen."),
            (
                "The field {field} in {file} is unknown. Correct its spelling or remove it, and send the "
                "mail again."
            ),
        ),
        _T.FINDING_MEMOHEADER_TYPE: Entry(
            (
                "Feltet {field} i {file} har en værdi af forkert type (ja/nej-felter: true eller false; "
                "datoer: ÅÅÅÅ-MM-DD; tidspunkter med tidszone, fx 2026-05-01T12:00:00Z; øvrige felter: "
                "tekst). Ret feltet, og send mailen igen."
            ),
            (
                "The field {field} in {file} has a value of the wrong type (yes/no fields: true or false; "
                "dates: YYYY-MM-DD; times with a time zone, e.g. 2026-05-01T12:00:00Z; other fields: "
                "text). Correct the field and send the mail again."
            ),
        ),
        _T.FINDING_MEMOHEADER_KLE: Entry(
            (
                "Feltet {field} i {file} skal være et KLE-nummer som 27, 27.15 eller 27.15.02. Ret "
                "feltet, og send mailen igen."
            ),
            (
                "The field {field} in {file} must be a KLE number like 27, 27.15 or 27.15.02. Correct the "
                "field and send the mail again."
            ),
        ),
        _T.FINDING_MEMOHEADER_CONTACTPOINT: Entry(
            (
                "Feltet {field} i {file} skal være et kontaktpunkts id (et UUID). Ret feltet, og send "
                "mailen igen."
            ),
            (
                "The field {field} in {file} must be a contact point's id (a UUID). Correct the field and "
                "send the mail again."
            ),
        ),
        _T.FINDING_MEMOHEADER_LEAK: Entry(
            (
                "Filen {file} må kun sendes til Digital Post-modtagere eller interne postkasser, men "
                "mailen går også til {external}. Fjern de eksterne modtagere, og send mailen igen."
            ),
            (
                "The file {file} may only be sent to Digital Post recipients or internal mailboxes, but "
                "the mail also goes to {external}. Remove the external recipients and send the mail "
                "again."
            ),
        ),
        _T.FINDING_MEMOHEADER_REPLY_BY: Entry(
            ("Svarfristen i MemoHeader.json ({when}) er ikke i fremtiden. Ret datoen, og send mailen igen."),
            (
                "The reply deadline in MemoHeader.json ({when}) is not in the future. Correct the date "
                "and send the mail again."
            ),
        ),
        _T.FINDING_MEMOHEADER_MANDATORY: Entry(
            (
                "Organisationen må ikke sende obligatorisk post. Fjern feltet mandatory fra "
                "MemoHeader.json, og send mailen igen."
            ),
            (
                "The organisation may not send mandatory post. Remove the field mandatory from "
                "MemoHeader.json and send the mail again."
            ),
        ),
        _T.FINDING_MEMOHEADER_LEGAL: Entry(
            (
                "Organisationen må ikke sende post med retsvirkning (forkyndelse). Fjern feltet "
                "legalNotification fra MemoHeader.json, og send mailen igen."
            ),
            (
                "The organisation may not send legal notifications. Remove the field legalNotification "
                "from MemoHeader.json and send the mail again."
            ),
        ),
        _T.FINDING_MASS_ALONE: Entry(
            (
                "En masseforsendelse skal være mailens eneste Digital Post-modtager. Send de øvrige breve "
                "i en anden mail."
            ),
            (
                "A mass delivery must be the mail's only Digital Post recipient. Send the other letters "
                "in another mail."
            ),
        ),
        _T.FINDING_MASS_FILE: Entry(
            (
                "Vedhæft filen masseforsendelse.txt med ét CPR- eller CVR-nummer pr. linje, og send "
                "mailen igen."
            ),
            (
                "Attach the file masseforsendelse.txt with one CPR or CVR number per line and send the "
                "mail again."
            ),
        ),
        _T.FINDING_MASS_FILE_WITHOUT_MASS: Entry(
            (
                "Filen masseforsendelse.txt bruges kun, når mailen sendes til en "
                "masseforsendelse-adresse; her ville alle modtagere få alle numrene i filen. Fjern filen, "
                "eller send til masseforsendelse-adressen, og send mailen igen."
            ),
            (
                "The file masseforsendelse.txt is only read when the mail goes to a masseforsendelse "
                "address; here every recipient would get every number in it. Remove the file or send to "
                "the masseforsendelse address, and send the mail again."
            ),
        ),
        _T.FINDING_MASS_TOO_MANY: Entry(
            (
                "Filen masseforsendelse.txt har flere end {limit} modtagere, som er det højeste antal i "
                "én masseforsendelse. Del listen i flere forsendelser."
            ),
            (
                "The file masseforsendelse.txt has more than {limit} recipients, the most one mass "
                "delivery can have. Split the list into several deliveries."
            ),
        ),
        _T.FINDING_MASS_MORE: Entry(
            ("{count} linjer mere i masseforsendelse.txt har fejl som dem ovenfor."),
            ("{count} more lines in masseforsendelse.txt have problems like the ones above."),
        ),
        _T.FINDING_MASS_EMPTY: Entry(
            (
                "Filen masseforsendelse.txt indeholder ingen modtagere. Skriv ét CPR- eller CVR-nummer "
                "pr. linje, og send mailen igen."
            ),
            (
                "The file masseforsendelse.txt lists no recipients. Write one CPR or CVR number per line "
                "and send the mail again."
            ),
        ),
        _T.FINDING_MASS_LINE: Entry(
            (
                "Linje {line} i masseforsendelse.txt ({value}) er hverken et CPR-nummer (10 cifre) eller "
                "et CVR-nummer (8 cifre). Ret eller slet linjen, og send mailen igen."
            ),
            (
                "Line {line} of masseforsendelse.txt ({value}) is neither a CPR number (10 digits) nor a "
                "CVR number (8 digits). Correct or delete the line and send the mail again."
            ),
        ),
        _T.FINDING_MASS_IDENTIFIER: Entry(
            (
                "Linje {line} i masseforsendelse.txt: {value} er ikke et gyldigt CPR- eller CVR-nummer "
                "(datoen eller kontrolcifret passer ikke). Ret eller slet linjen, og send mailen igen."
            ),
            (
                "Line {line} of masseforsendelse.txt: {value} is not a valid CPR or CVR number (its date "
                "or check digit is wrong). Correct or delete the line and send the mail again."
            ),
        ),
        _T.FINDING_MASS_DUPLICATE: Entry(
            (
                "Linje {line} i masseforsendelse.txt: {value} står også på linje {first}. Slet den ene "
                "linje, ret antallet i adressen, og send mailen igen."
            ),
            (
                "Line {line} of masseforsendelse.txt: {value} is also on line {first}. Delete one of the "
                "lines, correct the count in the address and send the mail again."
            ),
        ),
        _T.FINDING_MASS_COUNT: Entry(
            (
                "Adressen angiver {announced} modtagere, men masseforsendelse.txt har {entries}. Ret "
                "tallet i adressen (masseforsendelse-{entries}), og send mailen igen."
            ),
            (
                "The address announces {announced} recipients, but masseforsendelse.txt has {entries}. "
                "Correct the number in the address (masseforsendelse-{entries}) and send the mail again."
            ),
        ),
        _T.FINDING_HTML_SIZE: Entry(
            (
                "Mailens tekst er for lang til at blive lavet om til et brev. Vedhæft et langt brev som "
                "PDF, og send mailen igen."
            ),
            (
                "The mail's text is too long to be made into a letter. Attach a long letter as a PDF and "
                "send the mail again."
            ),
        ),
        _T.FINDING_HTML_DEPTH: Entry(
            (
                "Mailens tekst havde så mange lag af formatering, at noget af formateringen er fjernet; "
                "teksten er sendt uændret."
            ),
            (
                "The mail's text had so many layers of formatting that some of the formatting was "
                "removed; the text itself was sent unchanged."
            ),
        ),
        _T.FINDING_HTML_MISSING_IMAGE: Entry(
            (
                "Mailens tekst viser {count} billede(r), som ikke er vedhæftet som PNG, JPEG eller GIF; "
                "brevet viser dem som manglende billeder."
            ),
            (
                "The mail's text shows {count} image(s) that are not attached as PNG, JPEG or GIF; the "
                "letter shows them as missing images."
            ),
        ),
        _T.FINDING_SIZE_MEMO: Entry(
            (
                "Brevet ville fylde {size_mb} MB, men Digital Post modtager højst {limit_mb} MB. Gør de "
                "vedhæftede filer mindre, og send mailen igen."
            ),
            (
                "The letter would be {size_mb} MB, but Digital Post accepts at most {limit_mb} MB. Make "
                "the attachments smaller and send the mail again."
            ),
        ),
        _T.FINDING_CONTACT_POINT_ATTACHMENTS: Entry(
            (
                "Modtagerens kontaktpunkt modtager højst {limit} vedhæftede filer, og mailen har {count}. "
                "Saml filerne i færre filer, og send mailen igen."
            ),
            (
                "The recipient's contact point accepts at most {limit} attachments, and the mail has "
                "{count}. Combine them into fewer files and send the mail again."
            ),
        ),
        _T.FINDING_CONTACT_POINT_SIZE: Entry(
            (
                "Modtagerens kontaktpunkt modtager breve på højst {limit_mb} MB, og dette fylder "
                "{size_mb} MB. Gør de vedhæftede filer mindre, og send mailen igen."
            ),
            (
                "The recipient's contact point accepts letters of at most {limit_mb} MB, and this one is "
                "{size_mb} MB. Make the attachments smaller and send the mail again."
            ),
        ),
        _T.FINDING_MEMO_BUILD: Entry(
            (
                "Mailen kunne ikke laves om til et Digital Post-brev (fx på grund af usynlige tegn i "
                "emnet eller i et filnavn). Ret emnet og filnavnene, og send mailen igen; sker det igen, "
                "så kontakt it-support."
            ),
            (
                "The mail could not be made into a Digital Post letter (for example because of invisible "
                "characters in the subject or a file name). Correct the subject and file names and send "
                "the mail again; if it happens again, contact IT support."
            ),
        ),
        _T.FINDING_REPLY_MASS: Entry(
            ("Et svar kan ikke være en masseforsendelse. Skriv en ny mail til masseforsendelsen."),
            ("A reply cannot be a mass delivery. Write a new mail to the mass delivery."),
        ),
        _T.FINDING_REPLY_UNKNOWN: Entry(
            (
                "Den meddelelse, du svarer på, gemmer gatewayen ikke længere; dit svar er sendt som en ny "
                "meddelelse."
            ),
            ("The gateway no longer keeps the message you answered; your reply was sent as a new message."),
        ),
        _T.FINDING_REPLY_NOT_ALLOWED: Entry(
            (
                "Meddelelsen, du svarer på ({label}), tillader ikke svar. Skriv en ny mail til modtageren "
                "i stedet."
            ),
            (
                "The message you answered ({label}) does not allow replies. Write a new mail to the "
                "recipient instead."
            ),
        ),
        _T.FINDING_REPLY_DEADLINE: Entry(
            (
                "Svarfristen for meddelelsen, du svarer på, udløb {when}. Skriv en ny mail til modtageren "
                "i stedet."
            ),
            (
                "The reply deadline of the message you answered passed on {when}. Write a new mail to the "
                "recipient instead."
            ),
        ),
        _T.FINDING_FILENAME_FORBIDDEN_CHARACTERS: Entry(
            (
                "Et filnavn i brevet indeholder tegn, som Digital Post ikke tillader. Omdøb filen, og "
                "send mailen igen."
            ),
            (
                "A file name in the letter contains characters Digital Post does not allow. Rename the "
                "file and send the mail again."
            ),
        ),
        _T.FINDING_ENTRYPOINT_HTTPS: Entry(
            ("Et link i brevet skal begynde med https://. Ret linket, og send mailen igen."),
            ("A link in the letter must begin with https://. Correct the link and send the mail again."),
        ),
        _T.FINDING_NOTIFICATION_LENGTH: Entry(
            ("Notifikationsteksten er for lang. Forkort den i MemoHeader.json, og send mailen igen."),
            ("The notification text is too long. Shorten it in MemoHeader.json and send the mail again."),
        ),
        _T.FINDING_NOTIFICATION_REQUIRED: Entry(
            (
                "En SMS-besked skal have en SMS-tekst (notification i MemoHeader.json). Tilføj teksten, "
                "og send mailen igen."
            ),
            (
                "An SMS message needs its text (notification in MemoHeader.json). Add the text and send "
                "the mail again."
            ),
        ),
        _T.FINDING_NOTIFICATION_PERSONAL_DATA: Entry(
            (
                "Notifikationsteksten må ikke indeholde CPR-numre eller andre personoplysninger. Ret "
                "teksten, og send mailen igen."
            ),
            (
                "The notification text must not contain CPR numbers or other personal data. Correct the "
                "text and send the mail again."
            ),
        ),
        _T.FINDING_BODY_REQUIRED: Entry(
            ("Brevet har intet indhold. Skriv teksten i mailen eller vedhæft brevet, og send mailen igen."),
            (
                "The letter has no content. Write the text in the mail or attach the letter, and send the "
                "mail again."
            ),
        ),
        _T.FINDING_ID_TYPE: Entry(
            ("Modtageren skal angives med et CPR- eller et CVR-nummer. Ret adressen, og send mailen igen."),
            (
                "The recipient must be given by a CPR or a CVR number. Correct the address and send the "
                "mail again."
            ),
        ),
        _T.FINDING_ID_CPR: Entry(
            ("Et CPR-nummer i brevet er ikke gyldigt. Ret nummeret, og send mailen igen."),
            ("A CPR number in the letter is not valid. Correct the number and send the mail again."),
        ),
        _T.FINDING_ID_CVR: Entry(
            ("Et CVR-nummer i brevet er ikke gyldigt. Ret nummeret, og send mailen igen."),
            ("A CVR number in the letter is not valid. Correct the number and send the mail again."),
        ),
        _T.FINDING_MANDATORY_NOT_ALLOWED: Entry(
            (
                "Organisationen må ikke sende obligatorisk post. Fjern feltet mandatory fra "
                "MemoHeader.json, og send mailen igen."
            ),
            (
                "The organisation may not send mandatory post. Remove the field mandatory from "
                "MemoHeader.json and send the mail again."
            ),
        ),
        _T.FINDING_LEGAL_NOTIFICATION_NOT_ALLOWED: Entry(
            (
                "Organisationen må ikke sende post med retsvirkning (forkyndelse). Fjern feltet "
                "legalNotification fra MemoHeader.json, og send mailen igen."
            ),
            (
                "The organisation may not send legal notifications. Remove the field legalNotification "
                "from MemoHeader.json and send the mail again."
            ),
        ),
        _T.FINDING_UUID_V4: Entry(
            ("Brevet fik et ugyldigt id. Send mailen igen; sker det igen, så kontakt it-support."),
            ("The letter got an invalid id. Send the mail again; if it happens again, contact IT support."),
        ),
        _T.FINDING_XSD: Entry(
            (
                "Brevet kunne ikke bygges som en gyldig Digital Post-meddelelse. Tjek felterne i "
                "MemoHeader.json, og send mailen igen; sker det igen, så kontakt it-support."
            ),
            (
                "The letter could not be built as a valid Digital Post message. Check the fields in "
                "MemoHeader.json and send the mail again; if it happens again, contact IT support."
            ),
        ),
        _T.FINDING_XML_WELL_FORMED: Entry(
            (
                "Brevet kunne ikke bygges som en gyldig Digital Post-meddelelse. Send mailen igen; sker "
                "det igen, så kontakt it-support."
            ),
            (
                "The letter could not be built as a valid Digital Post message. Send the mail again; if "
                "it happens again, contact IT support."
            ),
        ),
        _T.FINDING_MEMO_MESSAGE: Entry(
            (
                "Brevet kunne ikke bygges som en gyldig Digital Post-meddelelse. Send mailen igen; sker "
                "det igen, så kontakt it-support."
            ),
            (
                "The letter could not be built as a valid Digital Post message. Send the mail again; if "
                "it happens again, contact IT support."
            ),
        ),
        _T.FINDING_MEMO: Entry(
            ("Digital Post-meddelelsen kunne ikke læses som en gyldig meddelelse."),
            ("The Digital Post message could not be read as a valid message."),
        ),
        _T.FINDING_MEMO_UNREADABLE: Entry(
            ("Digital Post-meddelelsen kunne ikke læses."),
            ("The Digital Post message could not be read."),
        ),
        _T.FINDING_XML_UNSAFE: Entry(
            ("Digital Post-meddelelsen indeholder XML, som gatewayen af sikkerhedshensyn ikke læser."),
            ("The Digital Post message contains XML the gateway does not read, for safety."),
        ),
        _T.FINDING_INPUT: Entry(
            ("Mailen kunne ikke læses. Send den igen; sker det igen, så kontakt it-support."),
            ("The mail could not be read. Send it again; if it happens again, contact IT support."),
        ),
        _T.FINDING_ERROR: Entry(
            ("Mailen kunne ikke sendes som Digital Post. Kontakt it-support og oplys koden nederst."),
            (
                "The mail could not be sent as Digital Post. Contact IT support and give them the code at "
                "the bottom."
            ),
        ),
        _T.FINDING_WARNING: Entry(
            ("Der er en bemærkning til mailen; it-support kan se den ud fra koden nederst."),
            ("There is a note about the mail; IT support can look it up from the code at the bottom."),
        ),
        _T.RECEIPT_SUPPORT_LINE: Entry("Support: {codes}", "Support: {codes}"),
        # ------------------------------------------------------------------------------- delivered memo
        _T.VIEW_OVERVIEW: Entry("Digital Post – oversigt", "Digital Post – overview"),
        _T.VIEW_SENDER: Entry("Afsender", "Sender"),
        _T.VIEW_SENDER_CVR_NAME: Entry("Afsenderens navn i CVR", "Sender's name in the CVR register"),
        _T.VIEW_RECIPIENT: Entry("Modtager", "Recipient"),
        _T.VIEW_CONTACT_POINT: Entry("Kontaktpunkt", "Contact point"),
        _T.VIEW_SENDER_CONTACT_POINT: Entry("Afsenders kontaktpunkt", "Sender contact point"),
        _T.VIEW_LABEL: Entry("Titel", "Title"),
        _T.VIEW_CREATED: Entry("Oprettet", "Created"),
        _T.VIEW_REPLY: Entry("Svar tilladt", "Reply allowed"),
        _T.VIEW_REPLY_BY: Entry("senest", "by"),
        _T.VIEW_LEGAL: Entry("Retsvirkning", "Legal notification"),
        _T.VIEW_MANDATORY: Entry("Obligatorisk", "Mandatory"),
        _T.VIEW_CASE: Entry("Sag", "Case"),
        _T.VIEW_KLE: Entry("KLE", "KLE"),
        _T.VIEW_FORM: Entry("FORM", "FORM"),
        _T.VIEW_ABOUT_CPR: Entry("Vedrører (CPR)", "Concerns (CPR)"),
        _T.VIEW_ABOUT_CVR: Entry("Vedrører (CVR)", "Concerns (CVR)"),
        _T.VIEW_POST_TYPE: Entry("Posttype", "Post type"),
        _T.VIEW_NOTIFICATION: Entry("Notifikation", "Notification"),
        _T.VIEW_MESSAGE_UUID: Entry("messageUUID", "messageUUID"),
        _T.VIEW_MESSAGE_ID: Entry("messageID", "messageID"),
        _T.VIEW_FORWARDED: Entry("Videresendt fra", "Forwarded from"),
        _T.VIEW_MEMO_VERSION: Entry("MeMo-version", "MeMo version"),
        _T.VIEW_YES: Entry("ja", "yes"),
        _T.VIEW_NO: Entry("nej", "no"),
        _T.VIEW_RULE: Entry("Hvorfor brevet er lagt her", "Why the letter is here"),
        _T.VIEW_RULE_NONE: Entry(
            "Ingen regel fordelte brevet.",
            "No rule routed the letter.",
        ),
        _T.VIEW_MAIN_ATTACHED: Entry(
            "Hoveddokumentet er vedhæftet ({name}).", "The main document is attached ({name})."
        ),
        _T.VIEW_NO_MAIN: Entry("Meddelelsen har intet hoveddokument.", "The message has no main document."),
        _T.VIEW_INVALID_SUBJECT: Entry("Ugyldig Digital Post-meddelelse", "Invalid Digital Post message"),
        _T.VIEW_UNSHOWN_SUBJECT: Entry(
            "Digital Post-meddelelse, der ikke kunne vises",
            "Digital Post message that could not be shown",
        ),
        _T.VIEW_XML_KEPT: Entry(
            "MeMo-XML'en er for stor til at blive vedhæftet; gatewayen gemmer den (svar virker).",
            "The MeMo XML is too large to attach; the gateway keeps it (replies work).",
        ),
        _T.VIEW_UNNAMED_FILE: Entry("fil", "file"),
        # ------------------------------------------------------------------------------- banners
        _T.BANNER_FOREIGN_TITLE: Entry(
            "Meddelelsen er adresseret til en anden organisation (CVR {cvr})",
            "The memo is addressed to another organisation (CVR {cvr})",
        ),
        _T.BANNER_FOREIGN_WHAT: Entry(
            "Digital Post leverede den til os, men modtageren er CVR {cvr}, ikke vores CVR {ours}. "
            "Den er lagt i hovedpostkassen og ikke fordelt efter regler eller kontaktpunkter.",
            "Digital Post delivered it to us, but its recipient is CVR {cvr}, not our CVR {ours}. "
            "It was put in the main mailbox and not routed by rules or contact points.",
        ),
        _T.BANNER_FOREIGN_ACTION: Entry(
            "Behandl den ikke som vores post. Bed jeres it-afdeling om at kontakte Digital Post-supporten "
            "med linjen nederst, så meddelelsen kommer til den rette modtager.",
            "Do not handle it as our post. Ask your IT department to contact Digital Post support with the "
            "line at the bottom, so that the memo reaches its right recipient.",
        ),
        _T.BANNER_UNDELIVERABLE_TITLE: Entry(
            "Kunne ikke leveres i {mailbox} ({folder})", "Could not be delivered to {mailbox} ({folder})"
        ),
        _T.BANNER_UNDELIVERABLE_TRIED: Entry(
            "Gatewayen har prøvet at levere brevet dér flere gange uden held, så det er lagt her i "
            "hovedpostkassen i stedet.",
            "The gateway tried several times to deliver the letter there without success, so it was put "
            "here in the main mailbox instead.",
        ),
        _T.BANNER_UNDELIVERABLE_CHECK: Entry(
            "Send brevet videre til {mailbox}, og bed jeres it-afdeling (gatewayens administrator) om at "
            "se på postkassen; årsagen står i linjen nedenfor.",
            "Please pass the letter on to {mailbox} and ask your IT department (the gateway's "
            "administrator) to look at the mailbox; the cause is in the line below.",
        ),
        _T.BANNER_UNSHOWN_TITLE: Entry(
            "Denne Digital Post-meddelelse kunne ikke vises", "This Digital Post message could not be shown"
        ),
        _T.BANNER_UNSHOWN_WHY: Entry(
            "Gatewayen stødte på en uventet fejl, da den skulle læse, fordele eller vise brevet.",
            "The gateway met an unexpected error while reading, routing or showing the letter.",
        ),
        _T.BANNER_UNSHOWN_RAW: Entry(
            "Den oprindelige MeMo-XML er vedhæftet uændret, så intet er gået tabt; den er leveret her i "
            "hovedpostkassen uden routingregler.",
            "The original MeMo XML is attached unchanged, so nothing is lost; it was delivered here to the "
            "main mailbox without routing rules.",
        ),
        _T.BANNER_UNSHOWN_SUPPORT: Entry(
            "Kontakt jeres it-support, hvis indholdet ikke kan læses, og oplys linjen nedenfor.",
            "If the content cannot be read, contact your IT support and give them the line below.",
        ),
        _T.BANNER_MAILBOX_FULL: Entry(
            "postkassen er fuld (kvoten i Exchange Online er opbrugt)",
            "the mailbox is full (its Exchange Online quota is used up)",
        ),
        _T.VIEW_PART_SUBJECT: Entry("{label} (del {part} af {total})", "{label} (part {part} of {total})"),
        _T.VIEW_PART_NO_FILES: Entry("kun brevet", "the letter only"),
        _T.BANNER_SPLIT_TITLE: Entry(
            "Brevet er delt i {total} mails", "This letter was split into {total} mails"
        ),
        _T.BANNER_SPLIT_WHY: Entry(
            "Postkassen modtager højst {limit} pr. mail, og brevets filer fylder mere. De følgende mails "
            'har samme emne med "del 2 af {total}" osv.',
            "The mailbox accepts at most {limit} per mail, and the letter's files take more. The following "
            'mails have the same subject with "part 2 of {total}" etc.',
        ),
        _T.BANNER_SPLIT_PART: Entry("Del {part} af {total}: {files}", "Part {part} of {total}: {files}"),
        _T.BANNER_SPLIT_ACTION: Entry(
            "Behandl og journalisér alle {total} mails som ét brev, og svar fra denne mail.",
            "Handle and file all {total} mails as one letter, and reply from this mail.",
        ),
        _T.BANNER_PART_TITLE: Entry(
            'Del {part} af {total} af brevet "{label}"', 'Part {part} of {total} of the letter "{label}"'
        ),
        _T.BANNER_PART_LETTER: Entry(
            'Selve brevet og oversigten er i del 1 (emne "{subject}"); svar fra den mail.',
            'The letter itself and its overview are in part 1 (subject "{subject}"); reply from that mail.',
        ),
        _T.BANNER_PART_HERE: Entry("Denne mail indeholder: {files}", "This mail holds: {files}"),
        _T.BANNER_SPLIT_MAY_GROW: Entry(
            "Afviser postkassen en af de følgende mails som for stor, fordeles de resterende filer på flere "
            "mails end nævnt her. Den sidste mail siger altid, at den er den sidste, og har den endelige "
            "oversigt.",
            "Should the mailbox refuse one of the following mails as too big, the remaining files are spread "
            "over more mails than listed here. The last mail always says that it is the last one and holds "
            "the final overview.",
        ),
        _T.BANNER_PART_LAST: Entry(
            "Dette er den sidste mail af brevet; oversigten herunder er den endelige.",
            "This is the last mail of the letter; the overview below is the final one.",
        ),
        _T.BANNER_PART_CORRECTED: Entry(
            "Rettet oversigt: Del 1 nævner {announced} mails, men postkassen afviste en mail som for stor, "
            "og de resterende filer er fordelt på ny. Brevet er nu {total} mails; oversigten herunder "
            "gælder, ikke den i del 1.",
            "Corrected overview: part 1 lists {announced} mails, but the mailbox refused a mail as too big "
            "and the remaining files were spread anew. The letter is now {total} mails; the overview below "
            "applies, not the one in part 1.",
        ),
        _T.BANNER_OVERSIZED_TITLE: Entry(
            "Filer, som er for store til postkassen, er ikke vedhæftet",
            "Files too big for the mailbox are not attached",
        ),
        _T.BANNER_OVERSIZED_FILE: Entry(
            "{name} ({size}) er større end postkassens grænse på {limit}.",
            "{name} ({size}) is bigger than the mailbox's limit of {limit}.",
        ),
        _T.BANNER_OVERSIZED_ACTION: Entry(
            "Gatewayen har gemt hele brevet, og IT har fået besked. Har du brug for filen, så bed jeres "
            "it-afdeling om den, og oplys linjen nederst.",
            "The gateway keeps the whole letter and IT has been told. If you need the file, ask your IT "
            "department for it and give them the line at the bottom.",
        ),
        _T.BANNER_XML_NOT_ATTACHED: Entry(
            "MeMo-XML'en og filerne er for store til postkassen (højst {limit} pr. mail) og er ikke "
            "vedhæftet. Gatewayen har gemt dem; har du brug for dem, så bed jeres it-afdeling om dem, og "
            "oplys linjen nederst.",
            "The MeMo XML and its files are too big for the mailbox (at most {limit} per mail) and are not "
            "attached. The gateway keeps them; if you need them, ask your IT department for them and give "
            "them the line at the bottom.",
        ),
        # ------------------------------------------------------------------------------- routing notes
        _T.ROUTE_NOTE_CONTACT_POINT: Entry(
            "Brevet er sendt til kontaktpunktet {name}, hvis post lægges i {mailbox}.",
            "The letter was sent to the contact point {name}, whose post goes to {mailbox}.",
        ),
        _T.ROUTE_NOTE_FOREIGN: Entry(
            "Brevet er adresseret til en anden organisation (CVR {cvr}), så det er lagt i hovedpostkassen "
            "uden at bruge regler eller kontaktpunkter.",
            "The letter is addressed to another organisation (CVR {cvr}), so it was put in the main mailbox "
            "without applying rules or contact points.",
        ),
        _T.ROUTE_NOTE_MAIN_MAILBOX: Entry(
            "Ingen regel fordeler brevet, og dets kontaktpunkt har ingen postkasse, så det er lagt i "
            "hovedpostkassen.",
            "No rule routes the letter and its contact point has no mailbox, so it was put in the main "
            "mailbox.",
        ),
        # ------------------------------------------------------------------------------- sender
        _T.GATEWAY_SENDER_NAME: Entry("Digital Post Gateway", "Digital Post Gateway"),
        # ------------------------------------------------------------------------------- rule alert
        _T.RULE_ALERT_SUBJECT: Entry(
            "Digital Post Gateway: routingreglen '{rule}' er slået fra",
            "Digital Post Gateway: routing rule '{rule}' was disabled",
        ),
        _T.RULE_ALERT_TITLE: Entry("Routingregel slået fra", "Routing rule disabled"),
        _T.RULE_ALERT_DISABLED: Entry(
            "Routingreglen '{rule}' er slået fra automatisk: {reason}.",
            "The routing rule '{rule}' was disabled automatically: {reason}.",
        ),
        _T.RULE_ALERT_OTHERS_ROUTE: Entry(
            "Post, som reglen ville have ramt, routes af de øvrige regler og kontaktpunkt-opsætningen.",
            "Items it would have matched are routed by the other rules and the contact point mapping.",
        ),
        _T.RULE_ALERT_FIX: Entry(
            "Ret reglen (ofte et regulært udtryk, der backtracker) i gateway-filen, og slå den til igen.",
            "Fix the rule (often a regular expression that backtracks) in the gateway file, "
            "then enable it again.",
        ),
        _T.RULE_TIMEOUT_REASON: Entry(
            "evalueringen tog længere end {budget:g} s ({elapsed:.1f} s, på {context}); slået fra automatisk",
            "evaluation took longer than {budget:g} s ({elapsed:.1f} s, on {context}); "
            "disabled automatically",
        ),
        _T.RULE_CONTEXT_MEMO: Entry("meddelelse {uuid}", "memo {uuid}"),
        _T.RULE_CONTEXT_MAIL: Entry("mail i {mailbox}", "mail in {mailbox}"),
        # ------------------------------------------------------------------------------- expiry alert
        _T.EXPIRY_SUBJECT: Entry(
            "Digital Post-gateway: {what} udløber om {days} dag(e)",
            "Digital Post gateway: {what} expires in {days} day(s)",
        ),
        _T.EXPIRY_TITLE: Entry("Certifikat udløber snart", "Certificate expires soon"),
        _T.EXPIRY_TEXT: Entry(
            "{what} til Digital Post-gatewayen udløber den {date} ({days} dag(e) tilbage). Forny det, og "
            "opdatér gatewayens konfiguration inden da; når det er udløbet, kan gatewayen ikke længere "
            "sende eller modtage Digital Post.",
            "The {what} of the Digital Post gateway expires on {date} ({days} day(s) left). Renew it and "
            "update the gateway's configuration before then; after it expires the gateway can no longer "
            "send or receive Digital Post.",
        ),
        # ------------------------------------------------------------ a failing certificate source
        _T.CERT_SOURCE_ALERT_SUBJECT: Entry(
            "Digital Post Gateway: {source} kan ikke læses (certifikater til sikker mail)",
            "Digital Post Gateway: {source} cannot be read (certificates for secure mail)",
        ),
        _T.CERT_SOURCE_ALERT_TITLE: Entry(
            "Certifikatkilde til sikker mail fejler", "A certificate source for secure mail fails"
        ),
        _T.CERT_SOURCE_ALERT_TEXT: Entry(
            "Gatewayen kunne ikke slå modtagernes certifikater op i {source}, da den skulle sende sikker mail"
            " fra {mailbox}. Sikker mail til en modtager, hvis certifikat ikke findes i en anden kilde,"
            " sendes ikke; afsenderen får en fejlkvittering, der beder om at sende igen senere.",
            "The gateway could not look up the recipients' certificates in {source} when sending secure mail"
            " from {mailbox}. Secure mail to a recipient whose certificate is in no other source is not sent;"
            " the sender gets an error receipt asking to send again later.",
        ),
        _T.CERT_SOURCE_ALERT_REASON: Entry("Teknisk årsag: {reason}", "Technical reason: {reason}"),
        _T.CERT_SOURCE_ALERT_ONCE: Entry(
            "Denne besked sendes højst én gang i døgnet for hver kilde; gatewayens log viser hver fejl.",
            "This message is sent at most once a day per source; the gateway's log shows every failure.",
        ),
        _T.CERT_SOURCE_FILE: Entry("certifikatmappen", "the certificate folder"),
        _T.CERT_SOURCE_CONTACTS: Entry("funktionspostkassens kontakter", "the function mailbox's contacts"),
        _T.CERT_SOURCE_LDAP: Entry("LDAP-certifikatkataloget", "the LDAP certificate directory"),
        _T.CERT_SOURCE_FIX_FILE: Entry(
            "Kontrollér, at mappen i GRAPH_DPG_SMIME_RECIPIENT_CERT_DIR findes og kan læses af gatewayen.",
            "Check that the folder in GRAPH_DPG_SMIME_RECIPIENT_CERT_DIR exists and the gateway can read it.",
        ),
        _T.CERT_SOURCE_FIX_CONTACTS: Entry(
            "Kontrollér, at appen har tilladelsen Contacts.Read til postkassen (graph-dpg doctor tjekker"
            " det), og at Microsoft Graph svarer.",
            "Check that the app holds Contacts.Read for the mailbox (graph-dpg doctor checks it) and that"
            " Microsoft Graph answers.",
        ),
        _T.CERT_SOURCE_FIX_LDAP: Entry(
            "Kontrollér, at LDAP-serveren i GRAPH_DPG_SMIME_LDAP_URL kan nås fra gatewayen, og at bind-DN og"
            " adgangskode (GRAPH_DPG_SMIME_LDAP_BIND_DN, GRAPH_DPG_SMIME_LDAP_PASSWORD) er rigtige.",
            "Check that the LDAP server in GRAPH_DPG_SMIME_LDAP_URL can be reached from the gateway and that"
            " the bind DN and password (GRAPH_DPG_SMIME_LDAP_BIND_DN, GRAPH_DPG_SMIME_LDAP_PASSWORD) are"
            " right.",
        ),
        # ------------------------------------------------------------------------------- mailbox full
        _T.MAILBOX_FULL_SUBJECT: Entry(
            "Digital Post Gateway: postkassen {mailbox} er fuld",
            "Digital Post Gateway: mailbox {mailbox} is full",
        ),
        _T.MAILBOX_FULL_TITLE: Entry("Postkasse fuld", "Mailbox full"),
        _T.MAILBOX_FULL_TEXT: Entry(
            "Digital Post til {mailbox} kan ikke leveres, fordi postkassen er fuld: Exchange Online svarer, "
            "at dens kvote er opbrugt.",
            "Digital Post for {mailbox} cannot be delivered because the mailbox is full: Exchange Online "
            "answers that its quota is used up.",
        ),
        _T.MAILBOX_FULL_FALLBACK: Entry(
            "Gatewayen prøver igen. Post, der stadig ikke kan leveres {minutes} minutter efter, at den kom, "
            "leveres i hovedpostkassen {main} i stedet, med en bemærkning om hvorfor. Intet går tabt.",
            "The gateway keeps trying. Post that still cannot be delivered {minutes} minutes after it came "
            "is delivered to the main mailbox {main} instead, with a note saying why. Nothing is lost.",
        ),
        _T.MAILBOX_FULL_MAIN: Entry(
            "Det er hovedpostkassen: gatewayen prøver igen, indtil der er plads. NgDP beholder posten "
            "så længe, så intet går tabt.",
            "It is the main mailbox: the gateway keeps trying until there is room. NgDP keeps the post "
            "meanwhile, so nothing is lost.",
        ),
        _T.MAILBOX_FULL_FIX: Entry(
            "Ryd op i postkassen (også Slettet post) eller forøg dens kvote.",
            "Clean up the mailbox (Deleted Items too) or raise its quota.",
        ),
        _T.OVERSIZED_ALERT_SUBJECT: Entry(
            "Digital Post Gateway: fil for stor til postkassen {mailbox}",
            "Digital Post Gateway: file too big for the mailbox {mailbox}",
        ),
        _T.OVERSIZED_ALERT_TITLE: Entry("Fil for stor til postkassen", "File too big for the mailbox"),
        _T.OVERSIZED_ALERT_TEXT: Entry(
            "Brevet {uuid} er leveret til {mailbox} uden {files}: postkassen modtager højst {limit} "
            "pr. mail.",
            "The letter {uuid} was delivered to {mailbox} without {files}: the mailbox accepts at most "
            "{limit} per mail.",
        ),
        _T.OVERSIZED_ALERT_RAW: Entry(
            "Brevet {uuid} er leveret til {mailbox} uden sin MeMo-XML og sine filer ({size}): det kunne "
            "ikke vises som brev, og postkassen modtager højst {limit} pr. mail.",
            "The letter {uuid} was delivered to {mailbox} without its MeMo XML and files ({size}): it could "
            "not be shown as a letter, and the mailbox accepts at most {limit} per mail.",
        ),
        _T.OVERSIZED_ALERT_FIX: Entry(
            "Sagsbehandleren er bedt om at kontakte jer. Gatewayen gemmer brevet i 30 dage efter "
            "kvitteringen; skriv dets filer til en mappe med: graph-dpg memo export --memo-uuid {uuid} "
            "--out MAPPE. Hæv eventuelt postkassens maksimale beskedstørrelse (højst 150 MB) til "
            "fremtidige breve.",
            "The case worker was asked to contact you. The gateway keeps the letter for 30 days after the "
            "receipt; write its files to a folder with: graph-dpg memo export --memo-uuid {uuid} --out DIR. "
            "Consider raising the mailbox's maximum message size (at most 150 MB) for future letters.",
        ),
        _T.CREDENTIAL_NGDP_CERTIFICATE: Entry("NgDP OCES3-certifikatet", "NgDP OCES3 certificate"),
        _T.CREDENTIAL_GRAPH_APP_CERTIFICATE: Entry("Graph-appens certifikat", "Graph app certificate"),
        _T.CREDENTIAL_SMIME_CERTIFICATE: Entry(
            "organisationens S/MIME-certifikat (sikker mail)",
            "organisation's S/MIME certificate (secure mail)",
        ),
        # ------------------------------------------------------------------------------- categories
        _T.CATEGORY_QUEUED: Entry("Digital Post: I kø", "Digital Post: Queued"),
        _T.CATEGORY_SENT: Entry("Digital Post: Sendt", "Digital Post: Sent"),
        _T.CATEGORY_RECEIPTED: Entry("Digital Post: Kvitteret", "Digital Post: Receipted"),
        _T.CATEGORY_FAILED: Entry("Digital Post: Fejlet", "Digital Post: Failed"),
        _T.CATEGORY_INBOUND: Entry("Digital Post: Modtaget", "Digital Post: Received"),
        _T.CATEGORY_WARNING: Entry("Digital Post: Advarsel", "Digital Post: Warning"),
        # On the gateway's receipt mails themselves (not a state: the original shows the state).
        _T.CATEGORY_RECEIPT: Entry("Digital Post: Kvittering", "Digital Post: Receipt"),
        # ------------------------------------------------------------------------------- secure mail in
        _T.SMIME_OVERVIEW_TITLE: Entry("Sikker mail (S/MIME)", "Secure mail (S/MIME)"),
        _T.SMIME_ENCRYPTED_TO: Entry(
            "Krypteret til certifikatet: {certificate}", "Encrypted to the certificate: {certificate}"
        ),
        _T.SMIME_NOT_ENCRYPTED: Entry("Ikke krypteret.", "Not encrypted."),
        _T.SMIME_SIGNED_BY: Entry("Signeret af: {signer} – {verdict}", "Signed by: {signer} – {verdict}"),
        _T.SMIME_NOT_SIGNED: Entry("Ikke signeret.", "Not signed."),
        _T.SMIME_UNKNOWN_SIGNER: Entry("ukendt afsender", "unknown signer"),
        # The kind of certificate (domain.smime.CertificateHolder; docs/facts/smime.md, "OCES3 subjects").
        _T.SMIME_HOLDER_ORGANISATION: Entry("organisationscertifikat", "organisation certificate"),
        _T.SMIME_HOLDER_EMPLOYEE: Entry("medarbejdercertifikat", "employee certificate"),
        _T.SMIME_HOLDER_PERSON: Entry("personligt certifikat", "personal certificate"),
        _T.SMIME_VERDICT_VALID: Entry("signaturen er gyldig", "the signature is valid"),
        _T.SMIME_VERDICT_INVALID: Entry(
            "signaturen er ugyldig: indholdet er ændret efter signeringen",
            "the signature is invalid: the content was changed after signing",
        ),
        _T.SMIME_VERDICT_UNTRUSTED: Entry(
            "signaturen er ikke betroet: certifikatet er ikke udstedt af en godkendt udsteder",
            "the signature is not trusted: the certificate is not issued by an accepted issuer",
        ),
        _T.SMIME_VERDICT_EXPIRED: Entry(
            "signaturen er udløbet: certifikatet var ikke gyldigt, da mailen blev modtaget",
            "the signature has expired: the certificate was not valid when the mail was received",
        ),
        _T.SMIME_VERDICT_REFUSED: Entry(
            "signaturen accepteres ikke: den er ikke lavet med et organisationscertifikat (men fx et "
            "personligt certifikat eller et medarbejdercertifikat), og organisationen accepterer kun "
            "organisationscertifikater",
            "the signature is not accepted: it was not made with an organisation certificate (but e.g. a "
            "personal or employee certificate), and the organisation accepts organisation certificates only",
        ),
        _T.SMIME_ORIGINAL_ATTACHED: Entry(
            "Den oprindelige sikre mail er vedhæftet (smime.p7m).",
            "The original secure mail is attached (smime.p7m).",
        ),
        _T.SMIME_FAILED_TITLE: Entry(
            "Sikker mail kunne ikke læses eller kontrolleres", "Secure mail could not be read or checked"
        ),
        _T.SMIME_FAILED_NO_KEY: Entry(
            "Mailen er krypteret til et certifikat, som gatewayen ikke har nøglen til.",
            "The mail is encrypted to a certificate whose key the gateway does not hold.",
        ),
        _T.SMIME_FAILED_UNSUPPORTED: Entry(
            "Mailen er krypteret eller signeret med en metode, som gatewayen ikke understøtter.",
            "The mail is encrypted or signed with a method the gateway does not support.",
        ),
        _T.SMIME_FAILED_DAMAGED: Entry(
            "Den sikre mail er beskadiget eller ufuldstændig og kan ikke åbnes.",
            "The secure mail is damaged or incomplete and cannot be opened.",
        ),
        _T.SMIME_FAILED_SIGNATURE: Entry(
            "Signaturen holder ikke: indholdet er ændret efter signeringen, eller signaturen er forfalsket. "
            "Stol ikke på indholdet.",
            "The signature does not hold: the content was changed after signing, or the signature is "
            "forged. Do not trust the content.",
        ),
        _T.SMIME_FAILED_WHAT_TO_DO_KEY: Entry(
            "Bed IT om at kontrollere, at organisationens gældende certifikat er sat op i gatewayen, og bed "
            "afsenderen sende mailen igen, krypteret til det certifikat.",
            "Ask IT to check that the organisation's current certificate is configured in the gateway, and "
            "ask the sender to send the mail again, encrypted to that certificate.",
        ),
        _T.SMIME_FAILED_WHAT_TO_DO_SENDER: Entry(
            "Kontakt afsenderen ad en anden vej og bed om at få mailen sendt igen.",
            "Contact the sender another way and ask for the mail to be sent again.",
        ),
        _T.SMIME_FAILED_SUPPORT: Entry("Til support: {code}", "For support: {code}"),
        _T.SMIME_ALERT_SUBJECT: Entry(
            "Digital Post Gateway: sikker mail kunne ikke læses ({mailbox})",
            "Digital Post Gateway: secure mail could not be read ({mailbox})",
        ),
        _T.SMIME_ALERT_TEXT: Entry(
            "En sikker mail i {mailbox} kunne ikke læses eller kontrolleres. Den er lagt i {main} med en "
            "forklaring.",
            "A secure mail in {mailbox} could not be read or checked. It was put into {main} with an "
            "explanation.",
        ),
        # ------------------------------------------------- Digital Post forwarded as secure e-mail (SMTP)
        _T.FORWARDED_LARGE_TITLE: Entry(
            "Et stort brev venter i Digital Post", "A large letter is waiting in Digital Post"
        ),
        _T.FORWARDED_LARGE_TEXT: Entry(
            "Digital Post har modtaget et brev, som er for stort til at blive videresendt som sikker e-mail "
            "(over 10 MB). Brevet er ikke kommet med her – det ligger stadig i organisationens digitale "
            "postkasse.",
            "Digital Post received a letter too large to be forwarded as secure e-mail (over 10 MB). The "
            "letter is not included here – it is still in the organisation's Digital Post mailbox.",
        ),
        _T.FORWARDED_LARGE_WHAT_TO_DO: Entry(
            "Log på Digital Post for virksomheder via Virk, åbn brevet dér og gem det i sagen. Kontakt IT, "
            "hvis du ikke har adgang til postkassen.",
            "Log on to Digital Post for businesses via Virk, open the letter there and file it with the "
            "case. Contact IT if you have no access to the mailbox.",
        ),
        _T.FORWARDED_UNREADABLE_TITLE: Entry(
            "Digital Post kunne ikke læses", "The Digital Post could not be read"
        ),
        _T.FORWARDED_UNREADABLE_TEXT: Entry(
            "Denne sikre e-mail er videresendt fra Digital Post, men brevet i den er beskadiget eller har "
            "en form, gatewayen ikke kan læse. Det er ikke leveret som Digital Post; mailen er vedhæftet "
            "uændret.",
            "This secure e-mail was forwarded from Digital Post, but the letter in it is damaged or in a "
            "form the gateway cannot read. It has not been delivered as Digital Post; the mail is "
            "attached unchanged.",
        ),
        _T.FORWARDED_UNREADABLE_WHAT_TO_DO: Entry(
            "Log på Digital Post for virksomheder via Virk og læs brevet dér. IT er underrettet.",
            "Log on to Digital Post for businesses via Virk and read the letter there. IT has been notified.",
        ),
        # ------------------------------------------------------------------------------ secure mail out
        _T.SMIME_OUT_SIGNED: Entry(
            "Mailen var signeret (S/MIME) af {signer} – {verdict}. Brevet er lavet af det signerede "
            "indhold; selve signaturen sendes ikke med til Digital Post.",
            "The mail was signed (S/MIME) by {signer} – {verdict}. The letter was made from the signed "
            "content; the signature itself is not sent to Digital Post.",
        ),
        _T.SMIME_OUT_ENCRYPTED: Entry(
            "Mailen er krypteret (S/MIME), og gatewayen kan ikke læse den, så intet er sendt. Send mailen "
            "igen uden kryptering til Digital Post-adressen; Digital Post er i forvejen en sikker kanal.",
            "The mail is encrypted (S/MIME) and the gateway cannot read it, so nothing was sent. Send the "
            "mail again unencrypted to the Digital Post address; Digital Post is a secure channel already.",
        ),
        _T.SMIME_OUT_DAMAGED: Entry(
            "Mailen er sikker mail (S/MIME), som gatewayen ikke kan åbne, så intet er sendt. Send mailen "
            "igen uden kryptering og signering til Digital Post-adressen.",
            "The mail is secure mail (S/MIME) the gateway cannot open, so nothing was sent. Send the mail "
            "again unencrypted and unsigned to the Digital Post address.",
        ),
        _T.SMIME_OUT_INVALID: Entry(
            "Mailens signatur (S/MIME) holder ikke: indholdet er ændret efter signeringen, så intet er "
            "sendt. Send mailen igen til Digital Post-adressen.",
            "The mail's signature (S/MIME) does not hold: the content was changed after signing, so "
            "nothing was sent. Send the mail again to the Digital Post address.",
        ),
        # ------------------------------------------------------------------------- secure mail to others
        _T.SECURE_SEND_MIXED: Entry(
            "Mailen er skrevet til sikker mail og også til {address}. Sikker mail skal sendes som en "
            "mail for sig, kun til sikkermail-adresser, så intet er sendt som sikker mail.",
            "The mail is written to secure mail and also to {address}. Secure mail must be a mail of its "
            "own, to secure-mail addresses only, so nothing was sent as secure mail.",
        ),
        _T.SECURE_SEND_BAD_ADDRESS: Entry(
            "{address} er ikke en gyldig sikkermail-adresse ({reason}), så intet er sendt. Skriv modtagerens "
            "adresse med = i stedet for @, fx post=kommune.dk@{domain}.",
            "{address} is not a valid secure-mail address ({reason}), so nothing was sent. Write the "
            "recipient's address with = instead of @, e.g. post=kommune.dk@{domain}.",
        ),
        _T.SECURE_SEND_BCC: Entry(
            "Sikker mail kan ikke sendes som Bcc ({address}): alle modtagere kan se hinanden. Intet er "
            "sendt; send mailen igen med modtagerne i Til eller Cc.",
            "Secure mail cannot be sent as Bcc ({address}): every recipient can see the others. Nothing "
            "was sent; send the mail again with the recipients in To or Cc.",
        ),
        _T.SECURE_SEND_NO_CERTIFICATE: Entry(
            "Der findes intet gyldigt certifikat til {recipient}, så intet er sendt: sikker mail sendes kun "
            "krypteret. Bed modtageren om deres certifikat, og bed IT om at lægge det ind i gatewayen.",
            "There is no valid certificate for {recipient}, so nothing was sent: secure mail is only sent "
            "encrypted. Ask the recipient for their certificate and ask IT to add it to the gateway.",
        ),
        _T.SECURE_SEND_NOT_CONFIGURED: Entry(
            "Gatewayen er ikke sat op til at sende sikker mail (organisationens certifikat eller "
            "modtagercertifikaterne mangler), så intet er sendt. Kontakt IT.",
            "The gateway is not set up to send secure mail (the organisation's certificate or the "
            "recipients' certificates are missing), so nothing was sent. Contact IT.",
        ),
        _T.SECURE_SEND_SENT: Entry(
            "sendt som sikker mail: signeret af organisationen og krypteret til certifikatet {subject} "
            "(gyldigt til {until}, fundet {source})",
            "sent as secure mail: signed by the organisation and encrypted to the certificate {subject} "
            "(valid until {until}, found {source})",
        ),
        _T.SECURE_SEND_SOURCE_FAILED: Entry(
            "Der blev ikke fundet noget gyldigt certifikat til {recipient}, men et af de steder, gatewayen "
            "henter certifikater fra, kunne ikke læses lige nu. Intet er sendt: sikker mail sendes kun "
            "krypteret. Prøv igen senere; IT har fået besked om fejlen.",
            "No valid certificate was found for {recipient}, but one of the places the gateway reads "
            "certificates from could not be read just now. Nothing was sent: secure mail is only sent "
            "encrypted. Try again later; IT has been told about the error.",
        ),
        _T.SECURE_SEND_FROM_FILE: Entry(
            "i gatewayens certifikatmappe", "in the gateway's certificate folder"
        ),
        _T.SECURE_SEND_FROM_CONTACTS: Entry("i postkassens kontakter", "in the mailbox's contacts"),
        _T.SECURE_SEND_FROM_LDAP: Entry(
            "i certifikatkataloget (LDAP)", "in the certificate directory (LDAP)"
        ),
        # ------------------------------------------------- inbound words (issue 17): banners, overview
        _T.INB_SUPPORT: Entry("Til it-support: {code}", "For IT support: {code}"),
        _T.INB_UNMAPPED_NONE_TITLE: Entry(
            "Brevet er ikke sendt til en bestemt afdeling", "The letter is not addressed to a department"
        ),
        _T.INB_UNMAPPED_NONE_WHAT: Entry(
            "Afsenderen har ikke angivet, hvilken afdeling brevet er til, og ingen regel i gatewayen "
            "fordeler det. Derfor er det lagt her i hovedpostkassen.",
            "The sender did not say which department the letter is for, and no rule in the gateway routes "
            "it. So it was put here in the main mailbox.",
        ),
        _T.INB_UNMAPPED_NONE_ACTION: Entry(
            "Send brevet videre til den rette afdeling. Kommer den slags breve tit, så bed jeres "
            "it-afdeling (gatewayens administrator) om at lave en regel, der fordeler dem.",
            "Please pass the letter on to the right department. If such letters come often, ask your IT "
            "department (the gateway's administrator) to add a rule that routes them.",
        ),
        _T.INB_UNMAPPED_TITLE: Entry(
            "Brevet er sendt til kontaktpunktet {name}, som ikke har en postkasse",
            "The letter was sent to the contact point {name}, which has no mailbox",
        ),
        _T.INB_UNMAPPED_UNKNOWN_TITLE: Entry(
            "Brevet er sendt til et kontaktpunkt, som gatewayen ikke kender",
            "The letter was sent to a contact point the gateway does not know",
        ),
        _T.INB_UNMAPPED_WHAT: Entry(
            "Gatewayen ved ikke, hvilken funktionspostkasse post til dette kontaktpunkt skal i, så brevet "
            "er lagt her i hovedpostkassen.",
            "The gateway does not know which function mailbox the post for this contact point goes to, so "
            "the letter was put here in the main mailbox.",
        ),
        _T.INB_UNMAPPED_ACTION: Entry(
            "Send brevet videre til den rette afdeling. Gatewayens administrator (jeres it-afdeling) har "
            "fået besked og kan sørge for, at post til kontaktpunktet fremover kommer det rigtige sted hen.",
            "Please pass the letter on to the right department. The gateway's administrator (your IT "
            "department) has been told and can make sure that post for this contact point reaches the right "
            "place from now on.",
        ),
        _T.INB_UNMAPPED_ALERT_SUBJECT: Entry(
            "Digital Post Gateway: kontaktpunktet {contact_point} har ingen postkasse",
            "Digital Post Gateway: contact point {contact_point} has no mailbox",
        ),
        _T.INB_UNMAPPED_ALERT_TITLE: Entry("Kontaktpunkt uden postkasse", "Contact point without a mailbox"),
        _T.INB_UNMAPPED_ALERT_UNKNOWN: Entry(
            "Digital Post leverer post til kontaktpunktet {id}, som gateway-filen ikke nævner. Posten "
            "lægges i hovedpostkassen {main} med en bemærkning til sagsbehandleren (første brev: "
            "messageUUID {uuid}).",
            "Digital Post delivers post for the contact point {id}, which the gateway file does not list. "
            "The post goes to the main mailbox {main} with a note to the case worker (first letter: "
            "messageUUID {uuid}).",
        ),
        _T.INB_UNMAPPED_ALERT_NULL: Entry(
            "Gateway-filen nævner kontaktpunktet {id} ({name}) uden postkasse (mailbox: null). Posten til "
            "det lægges i hovedpostkassen {main} med en bemærkning til sagsbehandleren (første brev: "
            "messageUUID {uuid}).",
            "The gateway file lists the contact point {id} ({name}) without a mailbox (mailbox: null). Its "
            "post goes to the main mailbox {main} with a note to the case worker (first letter: "
            "messageUUID {uuid}).",
        ),
        _T.INB_UNMAPPED_ALERT_FIX: Entry(
            "Ret gateway-filen som herunder (skriv funktionspostkassens adresse i stedet for pladsholderen), "
            "kontrollér den med graph-dpg check-config, og genstart gatewayen. Denne besked sendes én gang "
            "pr. kontaktpunkt.",
            "Change the gateway file as below (put the function mailbox's address in place of the "
            "placeholder), check it with graph-dpg check-config and restart the gateway. This message is "
            "sent once per contact point.",
        ),
        _T.INB_PLACEHOLDER_MAILBOX: Entry("<funktionspostkasse@kommune.dk>", "<function-mailbox@example.dk>"),
        _T.INB_PLACEHOLDER_NAME: Entry("<navn på afdelingen>", "<name of the department>"),
        _T.INB_INVALID_TITLE: Entry(
            "Brevet er ikke lavet korrekt af afsenderens system",
            "The letter was not made correctly by the sender's system",
        ),
        _T.INB_INVALID_UNREADABLE: Entry(
            "Filen kan ikke læses som et Digital Post-brev: den er beskadiget eller i et forkert format.",
            "The file cannot be read as a Digital Post letter: it is damaged or in a wrong format.",
        ),
        _T.INB_INVALID_UNSAFE: Entry(
            "Filen indeholder konstruktioner, som gatewayen af sikkerhedshensyn ikke læser.",
            "The file contains constructs that the gateway does not read, for security reasons.",
        ),
        _T.INB_INVALID_FORMAT: Entry(
            "Brevet følger ikke Digital Posts format: oplysninger mangler eller er udfyldt forkert.",
            "The letter does not follow the Digital Post format: details are missing or filled in wrongly.",
        ),
        _T.INB_INVALID_IDS: Entry(
            "Et CPR- eller CVR-nummer i brevet er ugyldigt.",
            "A CPR or CVR number in the letter is not valid.",
        ),
        _T.INB_INVALID_CONTENT: Entry(
            "Brevets indhold overholder ikke Digital Posts regler (fx filnavne, notifikationstekst eller et "
            "manglende hoveddokument).",
            "The letter's content breaks the rules of Digital Post (e.g. file names, the notification text "
            "or a missing main document).",
        ),
        _T.INB_INVALID_TOLD: Entry(
            "Gatewayen melder brevet tilbage til Digital Post som ugyldigt, så afsenderen kan se, at det "
            "ikke er modtaget korrekt. Kontakt afsenderen, hvis du har brug for et brev, der kan læses, "
            "eller hvis der er en frist.",
            "The gateway reports the letter back to Digital Post as invalid, so that the sender can see it "
            "was not received correctly. Contact the sender if you need a readable letter or if there is "
            "a deadline.",
        ),
        _T.INB_INVALID_NOT_TOLD: Entry(
            "Brevet kom som videresendt Digital Post (e-mail), så Digital Post får ikke besked om, at det er "
            "ugyldigt. Kontakt afsenderen, hvis du har brug for et brev, der kan læses, eller hvis der er "
            "en frist.",
            "The letter came as forwarded Digital Post (e-mail), so Digital Post is not told that it is "
            "invalid. Contact the sender if you need a readable letter or if there is a deadline.",
        ),
        _T.INB_INVALID_PARTLY: Entry(
            "Det, der kunne læses af brevet, står herunder. Den oprindelige fil og de tekniske detaljer "
            "({details}) er vedhæftet.",
            "What could be read of the letter is shown below. The original file and the technical details "
            "({details}) are attached.",
        ),
        _T.INB_INVALID_RAW: Entry(
            "Brevet kan ikke vises. Den oprindelige fil og de tekniske detaljer ({details}) er vedhæftet; "
            "bed jeres it-afdeling om hjælp, hvis I skal bruge indholdet.",
            "The letter cannot be shown. The original file and the technical details ({details}) are "
            "attached; ask your IT department for help if you need its content.",
        ),
        _T.INB_INVALID_DETAILS_NAME: Entry("tekniske-detaljer.txt", "technical-details.txt"),
        _T.INB_INVALID_DETAILS_HEAD: Entry(
            "Tekniske detaljer om det ugyldige Digital Post-brev (messageUUID {uuid}). Fejl fundet ved "
            "kontrollen af MeMo-XML'en:",
            "Technical details of the invalid Digital Post letter (messageUUID {uuid}). Findings of the "
            "check of the MeMo XML:",
        ),
        _T.INB_INVALID_DETAILS_RECEIPT: Entry(
            "Svar til NgDP: forretningskvittering INVALID med fejlkoden INVALID_MEMO.",
            "Answer to NgDP: business receipt INVALID with the error code INVALID_MEMO.",
        ),
        _T.INB_INVALID_DETAILS_NO_RECEIPT: Entry(
            "Svar til NgDP: ingen (brevet kom via NgDP's SMTP-modtagersystem uden REST-kvittering).",
            "Answer to NgDP: none (the letter came by NgDP's SMTP recipient system without a REST receipt).",
        ),
        _T.INB_INVALID_SENDER: Entry("{name} via Digital Post", "{name} via Digital Post"),
        _T.INB_NOTE_INVALID: Entry(
            "Breve, der ikke er lavet korrekt, lægges altid i hovedpostkassen; reglerne bruges ikke på dem.",
            "Letters that were not made correctly always go to the main mailbox; the rules are not applied.",
        ),
        _T.INB_DATETIME: Entry(
            "{day}. {month} {year} kl. {hour}.{minute}", "{day} {month} {year}, {hour}:{minute}"
        ),
        _T.INB_MONTHS: Entry(
            "januar februar marts april maj juni juli august september oktober november december",
            "January February March April May June July August September October November December",
        ),
        _T.INB_RULE_REASON: Entry("Reglen »{name}«: {description}.", "The rule “{name}”: {description}."),
        _T.INB_RULE_AND: Entry(" og ", " and "),
        _T.INB_RULE_OR: Entry(" eller ", " or "),
        _T.INB_OP_EQUALS: Entry("{field} er »{value}«", "{field} is “{value}”"),
        _T.INB_OP_CONTAINS: Entry("{field} indeholder »{value}«", "{field} contains “{value}”"),
        _T.INB_OP_REGEX: Entry("{field} passer med reglens mønster", "{field} fits the rule's pattern"),
        _T.INB_OP_EXISTS: Entry("{field} er udfyldt", "{field} is filled in"),
        _T.INB_FIELD_FROM: Entry("afsenderen", "the sender"),
        _T.INB_FIELD_ORIGINAL_FROM: Entry("den oprindelige afsender", "the original sender"),
        _T.INB_FIELD_TO: Entry("modtageren", "the recipient"),
        _T.INB_FIELD_RECIPIENTS: Entry("en modtager", "a recipient"),
        _T.INB_FIELD_SUBJECT: Entry("emnet", "the subject"),
        _T.INB_FIELD_BODY: Entry("teksten", "the text"),
        _T.INB_FIELD_ATTACHMENT_NAME: Entry("navnet på et bilag", "the name of an attachment"),
        _T.INB_FIELD_ATTACHMENT_CONTENT: Entry("indholdet af et bilag", "the content of an attachment"),
        _T.INB_FIELD_HEADER: Entry("mailens felt {name}", "the mail's field {name}"),
        _T.INB_FIELD_SENDER_ID: Entry("afsenderens CPR/CVR-nummer", "the sender's CPR/CVR number"),
        _T.INB_FIELD_SENDER_ID_TYPE: Entry("afsendertypen (CPR/CVR)", "the kind of sender (CPR/CVR)"),
        _T.INB_FIELD_RECIPIENT_ID: Entry("modtagerens CPR/CVR-nummer", "the recipient's CPR/CVR number"),
        _T.INB_FIELD_RECIPIENT_CONTACT_POINT: Entry(
            "modtagerens kontaktpunkt", "the recipient contact point"
        ),
        _T.INB_FIELD_SENDER_CONTACT_POINT: Entry("afsenderens kontaktpunkt", "the sender's contact point"),
        _T.INB_FIELD_KLE: Entry("KLE-emnet", "the KLE subject"),
        _T.INB_FIELD_CASE_ID: Entry("sagsnummeret", "the case number"),
        _T.INB_FIELD_MESSAGE_TYPE: Entry("brevtypen", "the kind of letter"),
        _T.INB_FIELD_LABEL: Entry("brevets titel", "the letter's title"),
        _T.INB_FIELD_MESSAGE_UUID: Entry("brevets id", "the letter's id"),
        _T.INB_FIELD_LEGAL_NOTIFICATION: Entry("retsvirkning", "legal notification"),
        _T.INB_FIELD_MANDATORY: Entry("obligatorisk", "mandatory"),
        _T.INB_FIELD_POST_TYPE: Entry("posttypen", "the post type"),
        _T.INB_FIELD_OTHER: Entry("et felt i brevet", "a field of the letter"),
        _T.INB_ROUTED_CATEGORY: Entry(
            "Sikker mail: Videresendt til {mailbox}", "Secure mail: Forwarded to {mailbox}"
        ),
        # ------------------------------------------------------- meeting invitations sent as letters
        _T.MEETING_SUBJECT_UPDATED: Entry("Ændret aftale: {subject}", "Changed appointment: {subject}"),
        _T.MEETING_SUBJECT_CANCELLED: Entry("Aflyst aftale: {subject}", "Cancelled appointment: {subject}"),
        _T.MEETING_LEAD_INVITATION: Entry(
            "Du er inviteret til en aftale {when}. Du kan lægge aftalen i din kalender fra brevet.",
            "You are invited to an appointment {when}. You can add it to your calendar from the letter.",
        ),
        _T.MEETING_LEAD_UPDATED: Entry(
            "Aftalen er ændret. Den gælder nu {when}. Du kan lægge den ændrede aftale i din kalender fra "
            "brevet.",
            "The appointment has changed. It is now {when}. You can add the changed appointment to your "
            "calendar from the letter.",
        ),
        _T.MEETING_LEAD_PREVIOUS: Entry("Før ændringen: {when}.", "Before the change: {when}."),
        _T.MEETING_LEAD_CANCELLED: Entry(
            "Aftalen {when} er aflyst. Har du lagt den i din kalender, kan du slette den.",
            "The appointment {when} is cancelled. If you added it to your calendar, you can delete it.",
        ),
        _T.MEETING_LEAD_RECURRING: Entry(
            "Du er inviteret til en tilbagevendende aftale, første gang {when}. Tidspunkterne står i brevet.",
            "You are invited to a recurring appointment, the first time {when}. The times are in the letter.",
        ),
        _T.MEETING_PLACE: Entry("Sted: {location}.", "Place: {location}."),
        _T.MEETING_NO_PLACE: Entry("Se brevet", "See the letter"),
        _T.MEETING_WHEN: Entry("{date} kl. {start}-{end}", "on {date}, {start}-{end} Danish time"),
        _T.MEETING_WHEN_DAYS: Entry(
            "fra {date} kl. {start} til {end_date} kl. {end}",
            "from {date} {start} to {end_date} {end} Danish time",
        ),
        _T.MEETING_WHEN_ALL_DAY: Entry("{date} (hele dagen)", "on {date} (all day)"),
        _T.MEETING_BAD_TIME: Entry(
            "Mødeinvitationens tidspunkt kan ikke læses (tidszone {zone}), så intet er sendt. Send "
            "invitationen igen med en almindelig tidszone, fx (UTC+01:00) København.",
            "The meeting invitation's time cannot be read (time zone {zone}), so nothing was sent. Send the "
            "invitation again with a common time zone, e.g. (UTC+01:00) Copenhagen.",
        ),
        _T.MEETING_RECURRING_NOTE: Entry(
            "Invitationen er til en tilbagevendende aftale: brevet nævner første gang, men borgeren kan ikke "
            "lægge serien i sin kalender fra brevet.",
            "The invitation is for a recurring appointment: the letter names the first time, but the "
            "citizen cannot add the series to their calendar from the letter.",
        ),
        # ------------------------------------------------------- Outlook inbox rules on delivered mail
        _T.INBOX_RULE_APPLIED: Entry(
            "Postkassens indbakkeregel “{rule}” er brugt på brevet: {actions}.",
            "The mailbox's inbox rule “{rule}” was applied to the letter: {actions}.",
        ),
        # ------------------------------------------------------- the admin console (services/letters.py)
        _T.RECEIPT_ROW_CANCELLED: Entry(
            "Ikke sendt: masseforsendelsen blev annulleret (reference {reference})",
            "Not sent: the mass delivery was cancelled (reference {reference})",
        ),
        _T.CONSOLE_NOTE_INBOUND_NO_CPR: Entry(
            "Indgående post kan ikke søges på CPR-nummer (gatewayen gemmer det kun inde i selve brevet);"
            " kun udgående breve er søgt.",
            "Inbound post cannot be searched by CPR number (the gateway keeps it only inside the letter"
            " itself); only outgoing letters were searched.",
        ),
        _T.CONSOLE_NOTE_INBOUND_NO_SUBJECT: Entry(
            "Indgående post kan ikke søges på emne; søg på brevets UUID, postkasse, tilstand eller dato.",
            "Inbound post cannot be searched by subject; search by the memo's UUID, mailbox, state or date.",
        ),
        _T.CONSOLE_STEP_SEEN: Entry(
            "Set i Sendt post",
            "Seen in Sent Items",
        ),
        _T.CONSOLE_STEP_PLANNED: Entry(
            "Planlagt: {memos} brev(e) til Digital Post",
            "Planned: {memos} letter(s) to Digital Post",
        ),
        _T.CONSOLE_STEP_ROW_PLANNED: Entry(
            "Planlagt",
            "Planned",
        ),
        _T.CONSOLE_STEP_SENT: Entry(
            "Sendt til Digital Post",
            "Sent to Digital Post",
        ),
        _T.CONSOLE_STEP_ACCEPTED: Entry(
            "Modtaget af Digital Post (transmission {transmission})",
            "Accepted by Digital Post (transmission {transmission})",
        ),
        _T.CONSOLE_STEP_ROW_REFUSED: Entry(
            "Afvist af Digital Post",
            "Refused by Digital Post",
        ),
        _T.CONSOLE_STEP_ROW_FAILED: Entry(
            "Kunne ikke sendes",
            "Could not be sent",
        ),
        _T.CONSOLE_STEP_RECEIPT: Entry(
            "Kvittering fra Digital Post: {status}",
            "Business receipt from Digital Post: {status}",
        ),
        _T.CONSOLE_STEP_REPLACED: Entry(
            "Sendt igen som nyt brev {new}",
            "Sent again as a new letter {new}",
        ),
        _T.CONSOLE_STEP_DONE: Entry(
            "Færdig: alle breve er sendt eller har fået et svar",
            "Finished: every letter was sent or has an answer",
        ),
        _T.CONSOLE_STEP_REJECTED: Entry(
            "Afvist før afsendelse: mailen kunne ikke blive til et brev",
            "Refused before sending: the mail could not be made into a letter",
        ),
        _T.CONSOLE_STEP_FAILED: Entry(
            "Opgivet: gatewayen holdt op med at prøve",
            "Given up: the gateway stopped trying",
        ),
        _T.CONSOLE_STEP_SECURE_SENT: Entry(
            "Sendt som sikker mail",
            "Sent as secure mail",
        ),
        _T.CONSOLE_STEP_RECEIPT_MAIL: Entry(
            "Kvitteringsmail lagt i postkassen",
            "Receipt mail put in the mailbox",
        ),
        _T.CONSOLE_STEP_RECEIPT_MAIL_PLANNED: Entry(
            "Kvitteringsmail venter på at blive skrevet",
            "Receipt mail waiting to be written",
        ),
        _T.CONSOLE_STEP_CATEGORY: Entry(
            "Kategori sat på den oprindelige mail: {category}",
            "Category set on the original mail: {category}",
        ),
        _T.CONSOLE_STEP_CANCELLED: Entry(
            "Annulleret af {actor}",
            "Cancelled by {actor}",
        ),
        _T.CONSOLE_STEP_RETRIED: Entry(
            "Sendt igen af {actor}",
            "Retried by {actor}",
        ),
        _T.CONSOLE_STEP_RECEIPT_RESENT: Entry(
            "Kvitteringsmail bestilt igen af {actor}",
            "Receipt mail requested again by {actor}",
        ),
        _T.CONSOLE_STEP_CPR_REVEALED: Entry(
            "CPR-nummer vist til {actor}",
            "CPR number shown to {actor}",
        ),
        _T.CONSOLE_REASON_REFUSED: Entry(
            "Digital Post afviste brevet: {detail}",
            "Digital Post refused the letter: {detail}",
        ),
        _T.CONSOLE_REASON_FAILED: Entry(
            "Afsendelsen mislykkedes: {detail}",
            "Sending failed: {detail}",
        ),
        _T.CONSOLE_REASON_CANCELLED: Entry(
            "Ikke sendt, fordi forsendelsen blev annulleret.",
            "Not sent because the delivery was cancelled.",
        ),
        _T.CONSOLE_MEMO_STORED: Entry(
            "Brevet (MeMo) som det blev sendt; CPR-numre er skjult.",
            "The letter (MeMo) as it was sent; CPR numbers are hidden.",
        ),
        _T.CONSOLE_MEMO_TEMPLATE: Entry(
            "Brevet (MeMo) dannet igen fra masseforsendelsens skabelon, som da det blev sendt; CPR-numre"
            " er skjult.",
            "The letter (MeMo) made again from the mass delivery's template, as when it was sent; CPR"
            " numbers are hidden.",
        ),
        _T.CONSOLE_MEMO_NOT_KEPT: Entry(
            "Brevet (MeMo) er ikke gemt længere: det slettes, når opbevaringstiden er gået.",
            "The letter (MeMo) is no longer kept: it is deleted when the retention period has passed.",
        ),
        _T.CONSOLE_REFUSED_ROLE: Entry(
            "Kun en administrator (rollen Gateway.Admin) må gøre dette. Bed en administrator om det.",
            "Only an administrator (role Gateway.Admin) may do this. Ask an administrator.",
        ),
        _T.CONSOLE_REFUSED_NOTHING_TO_RETRY: Entry(
            "Der er intet at sende igen: ingen af brevene er fejlet eller afvist.",
            "There is nothing to retry: none of the letters failed or was refused.",
        ),
        _T.CONSOLE_REFUSED_IN_PROGRESS: Entry(
            "Brevet er ved at blive sendt, så der er intet at sende igen endnu. Se igen, når det er færdigt.",
            "The letter is being sent, so there is nothing to retry yet. Look again when it has finished.",
        ),
        _T.CONSOLE_REFUSED_CANCELLING: Entry(
            "Annulleringen er ved at blive gennemført. Prøv igen om et øjeblik.",
            "The cancellation is being carried out. Try again in a moment.",
        ),
        _T.CONSOLE_REFUSED_MEMO_GONE: Entry(
            "Brevet kan ikke sendes igen, fordi det ikke er gemt længere. Bed afsenderen sende mailen igen.",
            "The letter cannot be sent again because it is no longer kept. Ask the sender to send the"
            " mail again.",
        ),
        _T.CONSOLE_REFUSED_FINISHED: Entry(
            "Forsendelsen er allerede færdig, så der er intet at annullere.",
            "The delivery has already finished, so there is nothing to cancel.",
        ),
        _T.CONSOLE_REFUSED_SECURE_SENT: Entry(
            "Den sikre mail er allerede sendt til alle modtagere, så den kan ikke annulleres.",
            "The secure mail has already been sent to every recipient, so it cannot be cancelled.",
        ),
        _T.CONSOLE_REFUSED_NOT_FINISHED: Entry(
            "Forsendelsen er ikke færdig endnu; kvitteringsmailen kommer, når den er.",
            "The delivery has not finished yet; the receipt mail comes when it has.",
        ),
        _T.CONSOLE_REFUSED_NO_RECEIPT: Entry(
            "Der er ingen kvitteringsmail til denne mail (den blev lukket uden brev).",
            "There is no receipt mail for this mail (it was closed without a letter).",
        ),
        _T.CONSOLE_DONE_RETRIED: Entry(
            "Sendes igen: {same} med samme messageUUID, {new} som nye breve; {missing} kunne ikke sendes"
            " igen (brevet er ikke gemt).",
            "Being retried: {same} with the same messageUUID, {new} as new letters; {missing} could not"
            " be retried (the letter is not kept).",
        ),
        _T.CONSOLE_DONE_ALREADY_RETRIED: Entry(
            "Brevet er allerede sendt igen.",
            "The letter has already been retried.",
        ),
        _T.CONSOLE_DONE_CANCELLED: Entry(
            "Annulleret: det, der er sendt, forbliver sendt; resten sendes ikke.",
            "Cancelled: what was sent stays sent; the rest is not sent.",
        ),
        _T.CONSOLE_DONE_ALREADY_CANCELLED: Entry(
            "Forsendelsen er allerede annulleret.",
            "The delivery is already cancelled.",
        ),
        _T.CONSOLE_DONE_RESENT: Entry(
            "Kvitteringsmailen skrives igen i afsenderens postkasse.",
            "The receipt mail is being written again in the sender's mailbox.",
        ),
        _T.CONSOLE_DONE_ALREADY_RESENDING: Entry(
            "Kvitteringsmailen er allerede bestilt igen og bliver skrevet om lidt.",
            "The receipt mail has already been requested again and will be written shortly.",
        ),
        # ---------------------------------------------------------------------- the admin console
        _T.CONSOLE_TITLE: Entry("DPG-konsol", "DPG console"),
        _T.CONSOLE_SKIP: Entry("Spring til indholdet", "Skip to content"),
        _T.CONSOLE_LANG_OTHER: Entry("English", "Dansk"),
        _T.CONSOLE_NAV_SEARCH: Entry("Søg breve", "Search letters"),
        _T.CONSOLE_NAV_DELIVERIES: Entry("Masseforsendelser", "Mass deliveries"),
        _T.CONSOLE_SIGNED_IN_AS: Entry("Logget ind som {name} ({role})", "Signed in as {name} ({role})"),
        _T.CONSOLE_ROLE_ADMIN: Entry("administrator", "administrator"),
        _T.CONSOLE_ROLE_READER: Entry("læser", "reader"),
        _T.CONSOLE_SIGN_OUT: Entry("Log ud", "Sign out"),
        _T.CONSOLE_SIGN_IN: Entry("Log ind med Microsoft", "Sign in with Microsoft"),
        _T.CONSOLE_SIGN_IN_INTRO: Entry(
            "Konsollen viser, hvad der er sket med gatewayens breve. Log ind med din arbejdskonto.",
            "The console shows what happened to the gateway's letters. Sign in with your work account.",
        ),
        _T.CONSOLE_SIGN_IN_FAILED: Entry(
            "Login mislykkedes. Prøv igen; sker det igen, så kontakt IT.",
            "Sign-in failed. Try again; if it happens again, contact IT.",
        ),
        _T.CONSOLE_SIGN_IN_TOO_MANY: Entry(
            "For mange loginforsøg fra din adresse. Vent et minut, og prøv igen.",
            "Too many sign-in attempts from your address. Wait a minute and try again.",
        ),
        _T.CONSOLE_NO_ROLE: Entry(
            "Din konto har ingen rolle i konsollen. Bed IT om at tildele dig rollen Gateway.Reader eller "
            "Gateway.Admin.",
            "Your account has no role in the console. Ask IT to assign you the Gateway.Reader or "
            "Gateway.Admin role.",
        ),
        _T.CONSOLE_FORBIDDEN: Entry(
            "Kun administratorer (rollen Gateway.Admin) må gøre dette. Bed en administrator om hjælp.",
            "Only administrators (the Gateway.Admin role) may do this. Ask an administrator for help.",
        ),
        _T.CONSOLE_CSRF: Entry(
            "Formularen er udløbet eller kom ikke fra konsollen, så intet er gjort. Genindlæs siden, og "
            "prøv igen.",
            "The form has expired or did not come from the console, so nothing was done. Reload the page "
            "and try again.",
        ),
        _T.CONSOLE_SEARCH_TITLE: Entry("Søg breve", "Search letters"),
        _T.CONSOLE_SEARCH_LABEL: Entry(
            "Postkasse, emne, messageUUID eller CPR-nummer", "Mailbox, subject, messageUUID or CPR number"
        ),
        _T.CONSOLE_SEARCH_STATE: Entry("Tilstand", "State"),
        _T.CONSOLE_SEARCH_ANY: Entry("Alle", "Any"),
        _T.CONSOLE_SEARCH_SINCE: Entry("Oprettet fra (dato)", "Created from (date)"),
        _T.CONSOLE_SEARCH_BUTTON: Entry("Søg", "Search"),
        _T.CONSOLE_SEARCH_NONE: Entry("Ingen breve passer til søgningen.", "No letters match the search."),
        _T.CONSOLE_SEARCH_CAPPED: Entry(
            "Viser de første {n} breve; gør søgningen snævrere for at se flere.",
            "Showing the first {n} letters; narrow the search to see more.",
        ),
        _T.CONSOLE_COL_CREATED: Entry("Oprettet", "Created"),
        _T.CONSOLE_COL_MAILBOX: Entry("Postkasse", "Mailbox"),
        _T.CONSOLE_COL_SUBJECT: Entry("Emne", "Subject"),
        _T.CONSOLE_COL_STATE: Entry("Tilstand", "State"),
        _T.CONSOLE_COL_RECIPIENTS: Entry("Modtagere", "Recipients"),
        _T.CONSOLE_COL_RECIPIENT: Entry("Modtager", "Recipient"),
        _T.CONSOLE_COL_EVENT: Entry("Hændelse", "Event"),
        _T.CONSOLE_COL_ACTIONS: Entry("Handlinger", "Actions"),
        _T.CONSOLE_COL_PROGRESS: Entry("Fremdrift", "Progress"),
        _T.CONSOLE_STATE_NEW: Entry("ny", "new"),
        _T.CONSOLE_STATE_PLANNED: Entry("planlagt", "planned"),
        _T.CONSOLE_STATE_SENDING: Entry("sendes", "sending"),
        _T.CONSOLE_STATE_DONE: Entry("færdig", "done"),
        _T.CONSOLE_STATE_REJECTED: Entry("afvist", "refused"),
        _T.CONSOLE_STATE_FAILED: Entry("fejlet", "failed"),
        _T.CONSOLE_STATE_PENDING: Entry("venter", "waiting"),
        _T.CONSOLE_STATE_ACCEPTED: Entry("modtaget af NgDP", "accepted by NgDP"),
        _T.CONSOLE_LETTER_TITLE: Entry("Brev: {subject}", "Letter: {subject}"),
        _T.CONSOLE_LETTER_NOT_FOUND: Entry(
            "Brevet findes ikke. Tjek id'et, eller søg efter brevet.",
            "The letter does not exist. Check the id or search for the letter.",
        ),
        _T.CONSOLE_ACTION_RETRY: Entry("Prøv igen", "Retry"),
        _T.CONSOLE_ACTION_CANCEL: Entry("Annullér det, der ikke er sendt", "Cancel what is not sent"),
        _T.CONSOLE_ACTION_REVEAL: Entry("Vis CPR-nummer", "Reveal CPR number"),
        _T.CONSOLE_NAV_ROUTING: Entry("Routing", "Routing"),
        _T.CONSOLE_ROUTING_TITLE: Entry("Routing: prøv reglerne", "Routing: try the rules"),
        _T.CONSOLE_ROUTING_INTRO: Entry(
            "Indsæt en besked og se, hvilken regel der ville sende den hvorhen og hvorfor."
            " Intet sendes eller gemmes.",
            "Paste a message to see which rule would route it where, and why. Nothing is sent or kept.",
        ),
        _T.CONSOLE_ROUTING_KIND: Entry("Slags", "Kind"),
        _T.CONSOLE_ROUTING_KIND_MEMO: Entry("Digital Post (MeMo)", "Digital Post (MeMo)"),
        _T.CONSOLE_ROUTING_KIND_MAIL: Entry("Sikker mail", "Secure mail"),
        _T.CONSOLE_ROUTING_SENDER: Entry("Afsender", "Sender"),
        _T.CONSOLE_ROUTING_BODY: Entry("Tekst", "Body text"),
        _T.CONSOLE_ROUTING_BUTTON: Entry("Prøv reglerne", "Try the rules"),
        _T.CONSOLE_ROUTING_OUTCOME: Entry("Resultat", "Outcome"),
        _T.CONSOLE_ROUTING_BY_RULE: Entry(
            "Reglen “{rule}” ville levere den i {mailbox} / {folder}.",
            "The rule “{rule}” would deliver it to {mailbox} / {folder}.",
        ),
        _T.CONSOLE_ROUTING_NO_RULE_MEMO: Entry(
            "Ingen regel vælger en postkasse: posten leveres efter kontaktpunktet (se tabellen nedenfor).",
            "No rule chooses a mailbox: the post is delivered by its contact point (see the table below).",
        ),
        _T.CONSOLE_ROUTING_NO_RULE_MAIL: Entry(
            "Ingen regel vælger en postkasse: mailen bliver, hvor den kom ind.",
            "No rule chooses a mailbox: the mail stays where it arrived.",
        ),
        _T.CONSOLE_ROUTING_CATEGORIES: Entry("Kategorier: {categories}", "Categories: {categories}"),
        _T.CONSOLE_ROUTING_TRACE: Entry("Alle regler i rækkefølge", "Every rule in order"),
        _T.CONSOLE_ROUTING_POINTS: Entry("Kontaktpunkter og postkasser", "Contact points and mailboxes"),
        _T.CONSOLE_ROUTING_POINT: Entry("Kontaktpunkt", "Contact point"),
        _T.CONSOLE_ROUTING_UNMAPPED: Entry(
            "ingen postkasse: leveres i {mailbox} med en advarsel",
            "no mailbox: delivered to {mailbox} with a warning",
        ),
        _T.CONSOLE_ROUTING_AT_NGDP: Entry("kendt af NgDP", "known to NgDP"),
        _T.CONSOLE_ROUTING_INACTIVE: Entry("ikke aktivt", "not active"),
        _T.CONSOLE_ROUTING_NOT_AT_NGDP: Entry(
            "ikke på NgDP's liste: ret gateway-filen eller opret det i NgDP",
            "not on NgDP's list: correct the gateway file or create it in NgDP",
        ),
        _T.CONSOLE_ROUTING_NGDP_UNANSWERED: Entry(
            "NgDP svarede ikke på listen over kontaktpunkter; tabellen viser kun gateway-filen."
            " Prøv igen om lidt.",
            "NgDP did not answer with its list of contact points; the table shows the gateway file only."
            " Try again shortly.",
        ),
        _T.CONSOLE_ACTION_RESEND: Entry("Send kvitteringsmailen igen", "Send the receipt mail again"),
        _T.CONSOLE_CANCELLED: Entry("annulleret", "cancelled"),
        _T.CONSOLE_REPLACED_BY: Entry(
            "Afvist; sendt igen som nyt brev {uuid}", "Refused; sent again as the new letter {uuid}"
        ),
        _T.CONSOLE_REPLACES: Entry(
            "Sendt i stedet for det afviste brev {uuid}", "Sent in place of the refused letter {uuid}"
        ),
        _T.CONSOLE_RECIPIENTS_CAPPED: Entry(
            "Viser {n} af {total} modtagere (de fejlede og afviste først). Søg på et CPR-nummer eller en"
            " messageUUID for at finde en bestemt.",
            "Showing {n} of {total} recipients (failed and refused first). Search for a CPR number or a"
            " messageUUID to find a particular one.",
        ),
        _T.CONSOLE_DONE_REVEAL: Entry(
            "CPR-nummeret for {uuid}: {cpr}. Visningen er skrevet i revisionssporet.",
            "The CPR number for {uuid}: {cpr}. Revealing it was written to the audit trail.",
        ),
        _T.CONSOLE_DELIVERIES_TITLE: Entry("Masseforsendelser i gang", "Mass deliveries in progress"),
        _T.CONSOLE_DELIVERIES_NONE: Entry(
            "Ingen masseforsendelser er i gang.", "No mass deliveries are in progress."
        ),
        _T.CONSOLE_PROGRESS: Entry(
            "{done} af {total} afsluttet ({accepted} modtaget, {failed} fejlet)",
            "{done} of {total} ended ({accepted} accepted, {failed} failed)",
        ),
        _T.CONSOLE_NOT_FOUND: Entry("Siden findes ikke.", "The page does not exist."),
        _T.CONSOLE_UNAVAILABLE: Entry(
            "Gatewayens database svarer ikke lige nu, så siden kan ikke vises. Prøv igen om lidt; varer det "
            "ved, så kontakt IT.",
            "The gateway's database is not answering right now, so the page cannot be shown. Try again "
            "shortly; if it goes on, contact IT.",
        ),
        _T.CONSOLE_OPS_CREDENTIALS: Entry("Certifikater og deres udløb", "Certificates and their expiry"),
        _T.CONSOLE_OPS_NO_CREDENTIALS: Entry(
            "Gatewayen bruger ingen certifikater, hvis udløb den kender.",
            "The gateway uses no certificate whose expiry it knows.",
        ),
        _T.CONSOLE_CRED_EXPIRES: Entry("udløber {when} (om {days} dage)", "expires {when} (in {days} days)"),
        _T.CONSOLE_CRED_EXPIRED: Entry("udløb {when}: forny det nu", "expired {when}: renew it now"),
        _T.CONSOLE_NAV_INBOUND: Entry("Indgående post", "Inbound post"),
        _T.CONSOLE_NAV_OPERATIONS: Entry("Drift", "Operations"),
        _T.CONSOLE_OPS_TITLE: Entry("Drift", "Operations"),
        _T.CONSOLE_OPS_REPLICAS: Entry(
            "Kørende replikaer (meldt sig inden for 2 minutter)",
            "Running replicas (reported within 2 minutes)",
        ),
        _T.CONSOLE_OPS_NO_REPLICAS: Entry(
            "Ingen replika har meldt sig inden for 2 minutter. Tjek, at gatewayen kører.",
            "No replica has reported within 2 minutes. Check that the gateway is running.",
        ),
        _T.CONSOLE_OPS_BACKLOG: Entry("Udgående breve efter tilstand", "Outgoing letters by state"),
        _T.CONSOLE_OPS_INBOUND_WAITING: Entry(
            "Indgående post, der venter på levering: {n}", "Inbound post waiting for delivery: {n}"
        ),
        _T.CONSOLE_OPS_RULES: Entry("Routingregler", "Routing rules"),
        _T.CONSOLE_OPS_NO_RULES: Entry(
            "Ingen regel er ramt eller slået fra endnu.", "No rule has been hit or disabled yet."
        ),
        _T.CONSOLE_COL_RULE: Entry("Regel", "Rule"),
        _T.CONSOLE_COL_HITS: Entry("Antal træf", "Hits"),
        _T.CONSOLE_COL_COUNT: Entry("Antal", "Count"),
        _T.CONSOLE_COL_CONTACT_POINT: Entry("Kontaktpunkt", "Contact point"),
        _T.CONSOLE_COL_ROUTE: Entry("Routing", "Routing"),
        _T.CONSOLE_COL_RECEIVED: Entry("Modtaget", "Received"),
        _T.CONSOLE_RULE_ACTIVE: Entry("aktiv", "active"),
        _T.CONSOLE_RULE_DISABLED: Entry("slået fra {when}: {reason}", "disabled {when}: {reason}"),
        _T.CONSOLE_INBOUND_TITLE: Entry("Indgående post og routing", "Inbound post and routing"),
        _T.CONSOLE_INBOUND_UNMAPPED: Entry(
            "Kontaktpunkter uden postkasse", "Contact points without a mailbox"
        ),
        _T.CONSOLE_INBOUND_UNMAPPED_NONE: Entry(
            "Alle kontaktpunkter i den viste post har en postkasse.",
            "Every contact point in the post shown has a mailbox.",
        ),
        _T.CONSOLE_INBOUND_NONE: Entry("Ingen indgående post endnu.", "No inbound post yet."),
        _T.CONSOLE_ROUTE_RULE: Entry(
            "Reglen “{rule}” valgte postkassen: {reasons}", "The rule “{rule}” chose the mailbox: {reasons}"
        ),
        _T.CONSOLE_ROUTE_BANNER: Entry(
            "Mailen har en advarsel ({banner})", "The mail carries a warning ({banner})"
        ),
        _T.CONSOLE_INSTATE_RECEIVED: Entry("modtaget", "received"),
        _T.CONSOLE_INSTATE_DELIVERED: Entry("leveret", "delivered"),
        _T.CONSOLE_INSTATE_ACKNOWLEDGED: Entry("kvitteret over for NgDP", "acknowledged to NgDP"),
        _T.CONSOLE_INSTATE_DELETED: Entry("slettet hos NgDP", "deleted at NgDP"),
    }
)


def text(key: Text, language: str, /, **values: object) -> str:
    """The entry ``key`` in ``language`` (English for ``"en"``, else Danish) with its placeholders filled.

    A placeholder without a value raises ``KeyError``: a sentence is never sent half-filled.
    """
    return CATALOGUE[key].template(language).format_map(values)


def placeholders(template: str) -> frozenset[str]:
    """The names of the placeholders in ``template`` (``{days}`` and ``{days:d}`` both name ``days``)."""
    return frozenset(name for _, name, _, _ in Formatter().parse(template) if name is not None)
