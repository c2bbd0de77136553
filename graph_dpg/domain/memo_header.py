"""MemoHeader.json / MemoHeaderInfo.json: MeMo header fields carried as mail attachments.

See docs/product.md, "MemoHeader.json".

Outlook tools and line-of-business systems attach a small JSON document whose fields override the defaults
the gateway derives from the mail (label from the subject, no notification, not mandatory, ...). Keys are
matched case-insensitively; both MeMo element names (``legalNotification``) and snake_case are accepted.
Unknown keys are reported, never silently ignored, so a typo does not change what a citizen receives.

The same files are a leak risk: they describe Digital Post, so a mail carrying them must only go to Digital
Post recipients or to mailboxes inside the organisation (``leak_findings``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from graph_dpg.core.errors import Finding

HEADER_FILE_NAMES = frozenset({"memoheader.json", "memoheaderinfo.json"})
_MAX_BYTES = 256 * 1024


def is_header_file(name: str) -> bool:
    return name.strip().lower() in HEADER_FILE_NAMES


@dataclass(frozen=True)
class HeaderOverrides:
    label: str | None = None
    notification: str | None = None
    additional_notification: str | None = None
    message_id: str | None = None
    message_code: str | None = None
    post_type: str | None = None
    reply: bool | None = None
    reply_by: datetime | None = None
    do_not_deliver_until: date | None = None
    mandatory: bool | None = None
    legal_notification: bool | None = None
    case_id: str | None = None
    case_system: str | None = None
    kle: str | None = None
    recipient_contact_point: str | None = None
    sender_label: str | None = None
    attention_person: str | None = None
    additional_content: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def merged(self, other: HeaderOverrides) -> HeaderOverrides:
        """Fields set in ``other`` win (MemoHeader.json is read after MemoHeaderInfo.json)."""
        values = dict(vars(self))
        for k, v in vars(other).items():
            if v not in (None, ()):
                values[k] = v
        return HeaderOverrides(**values)


_ALIASES: dict[str, str] = {
    "label": "label",
    "title": "label",
    "subject": "label",
    "notification": "notification",
    "additionalnotification": "additional_notification",
    "messageid": "message_id",
    "messagecode": "message_code",
    "posttype": "post_type",
    "reply": "reply",
    "replybydatetime": "reply_by",
    "replyby": "reply_by",
    "donotdeliveruntildate": "do_not_deliver_until",
    "mandatory": "mandatory",
    "legalnotification": "legal_notification",
    "caseid": "case_id",
    "casesystem": "case_system",
    "kle": "kle",
    "subjectkey": "kle",
    "recipientcontactpoint": "recipient_contact_point",
    "contactpointid": "recipient_contact_point",
    "senderlabel": "sender_label",
    "attentionperson": "attention_person",
    "additionalcontentdata": "additional_content",
}
_BOOL_FIELDS = {"reply", "mandatory", "legal_notification"}
_KLE_RE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2})?)?$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _key(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {
        "true",
        "false",
        "ja",
        "nej",
        "yes",
        "no",
        "1",
        "0",
    }:
        return value.strip().lower() in {"true", "ja", "yes", "1"}
    return None


def parse_header_file(name: str, data: bytes) -> tuple[HeaderOverrides, list[Finding]]:
    """Parse one MemoHeader*.json attachment into overrides plus findings (errors stop sending)."""
    path = name
    if len(data) > _MAX_BYTES:
        return HeaderOverrides(), [Finding("memoheader.size", f"larger than {_MAX_BYTES // 1024} KB", path)]
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return HeaderOverrides(), [Finding("memoheader.json", f"not valid UTF-8 JSON: {exc}", path)]
    except RecursionError:
        # "[[[[...]]]]" a few thousand deep fits in the size limit and exhausts the JSON decoder's stack.
        return HeaderOverrides(), [Finding("memoheader.json", "nested too deeply to be a header file", path)]
    if isinstance(doc, dict) and len(doc) == 1 and _key(next(iter(doc))) in {"memoheader", "messageheader"}:
        doc = next(iter(doc.values()))
    if not isinstance(doc, dict):
        return HeaderOverrides(), [Finding("memoheader.shape", "must be a JSON object", path)]
    values: dict[str, object] = {}
    findings: list[Finding] = []
    for raw_key, value in doc.items():
        field_name = _ALIASES.get(_key(str(raw_key)))
        where = f"{path}:{raw_key}"
        if field_name is None:
            findings.append(Finding("memoheader.unknown", f"unknown field '{raw_key}'", where))
            continue
        if value is None:
            continue
        if field_name in _BOOL_FIELDS:
            b = _as_bool(value)
            if b is None:
                findings.append(Finding("memoheader.type", "must be true or false", where))
            else:
                values[field_name] = b
        elif field_name == "reply_by":
            try:
                dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                findings.append(Finding("memoheader.type", "must be an ISO 8601 date-time", where))
                continue
            if dt.tzinfo is None:
                findings.append(Finding("memoheader.type", "needs a time zone (e.g. Z)", where))
                continue
            values[field_name] = dt
        elif field_name == "do_not_deliver_until":
            try:
                values[field_name] = date.fromisoformat(str(value))
            except ValueError:
                findings.append(Finding("memoheader.type", "must be a date YYYY-MM-DD", where))
        elif field_name == "additional_content":
            pairs = _pairs(value)
            if pairs is None:
                findings.append(
                    Finding("memoheader.type", "must be an object or a list of {name, value}", where)
                )
            else:
                values[field_name] = pairs
        elif isinstance(value, dict | list):
            # str() would turn {"a": 1} into the letter's title "{'a': 1}".
            findings.append(Finding("memoheader.type", "must be text, not a JSON object or list", where))
        else:
            text = str(value).strip()
            if field_name == "kle" and not _KLE_RE.match(text):
                findings.append(Finding("memoheader.kle", "KLE must look like 27, 27.15 or 27.15.02", where))
                continue
            if field_name == "recipient_contact_point" and not _UUID_RE.match(text):
                findings.append(Finding("memoheader.contactpoint", "contact point must be a UUID", where))
                continue
            values[field_name] = text
    return HeaderOverrides(**values), findings  # type: ignore[arg-type]


def _pairs(value: object) -> tuple[tuple[str, str], ...] | None:
    if isinstance(value, Mapping):
        return tuple((str(k), str(v)) for k, v in value.items())
    if isinstance(value, list):
        out = []
        for item in value:
            if not isinstance(item, Mapping) or "name" not in item or "value" not in item:
                return None
            out.append((str(item["name"]), str(item["value"])))
        return tuple(out)
    return None


def leak_findings(
    attachment_names: Iterable[str],
    recipients: Iterable[str],
    *,
    is_digital_post: Iterable[bool],
    internal_domains: Iterable[str],
) -> list[Finding]:
    """A mail with MemoHeader*.json may only go to Digital Post addresses or internal mailboxes."""
    header_files = [n for n in attachment_names if is_header_file(n)]
    if not header_files:
        return []
    domains = {d.lower().lstrip("@") for d in internal_domains}
    leaks = []
    for address, dp in zip(recipients, is_digital_post, strict=True):
        domain = address.rsplit("@", 1)[-1].lower()
        if not dp and domain not in domains:
            leaks.append(address)
    if not leaks:
        return []
    return [
        Finding(
            "memoheader.leak",
            f"{', '.join(header_files)} may only be sent to Digital Post recipients or internal mailboxes; "
            f"external recipient(s): {', '.join(sorted(set(leaks)))}",
            "recipients",
        )
    ]
